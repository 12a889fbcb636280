// http_request against a real HTTP server (cpp-httplib's) on 127.0.0.1: what
// goes out, what comes back, and each failure a user could meet.
#include "wallet/http_client.h"

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <thread>

#include "core/json.h"
#include "tests/test_util.h"

using namespace custos;
using namespace custos::wallet;

namespace {

// A server on 127.0.0.1 and a free port, running until the end of the scope.
class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
  }
  ~LocalServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  void start() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace

TEST_CASE("parse_gateway_url accepts http(s) URLs with host, port and base path") {
  auto plain = parse_gateway_url("http://127.0.0.1:8080");
  REQUIRE(plain.ok());
  CHECK(plain->scheme == "http");
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 8080);
  CHECK(plain->base_path == "");

  auto tls = parse_gateway_url("HTTPS://gw.example.org/");
  REQUIRE(tls.ok());
  CHECK(tls->scheme == "https");
  CHECK(tls->port == 443);
  CHECK(tls->base_path == "");
  CHECK(parse_gateway_url("http://gw.example.org")->port == 80);

  auto v6 = parse_gateway_url("http://[::1]:9000/custos/");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9000);
  CHECK(v6->base_path == "/custos");
}

TEST_CASE("parse_gateway_url refuses what is not a gateway URL") {
  for (const char* bad : {"127.0.0.1:8080", "ftp://h:21", "http://", "http://:80",
                          "http://h:", "http://h:0", "http://h:65536", "http://h:80x",
                          "http://user@h:80", "http://h:80/v1?x=1", "http://h:80/#top",
                          "http://h p:80", "http://[::1:80", "http://[zz]:80", "http://h%41:80"}) {
    auto r = parse_gateway_url(bad);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) {
      CHECK(r.error().code == "bad_url");
      CHECK(r.error().message.find(bad) != std::string::npos);
    }
  }
}

TEST_CASE("http_request sends method, path, query, headers and body; returns every status") {
  LocalServer local;
  std::string seen_method, seen_path, seen_query, seen_type, seen_auth, seen_body;
  local.server().Post("/base/v1/transactions",
                      [&](const httplib::Request& req, httplib::Response& res) {
                        seen_method = req.method;
                        seen_path = req.path;
                        seen_query = req.get_param_value("wait");
                        seen_type = req.get_header_value("Content-Type");
                        seen_auth = req.get_header_value("Authorization");
                        seen_body = req.body;
                        res.status = 202;
                        res.set_header("Retry-After", "3");
                        res.set_content(R"({"tx_id":"ab"})", "application/json");
                      });
  local.server().Get("/base/v1/missing", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"code":"not_found","title":"Not found"})", "application/problem+json");
  });
  local.start();

  auto reply =
      http_request("POST", local.url() + "/base/", "/v1/transactions?wait=commit", R"({"a":1})",
                   {{"Content-Type", "application/json"}, {"Authorization", "Bearer x"}});
  REQUIRE(reply.ok());
  CHECK(reply->status == 202);
  CHECK(reply->ok());
  CHECK(reply->body == R"({"tx_id":"ab"})");
  CHECK(reply->header("retry-after") == "3");
  CHECK(reply->header("content-type") == "application/json");
  CHECK(reply->header("X-Absent") == "");
  CHECK(seen_method == "POST");
  CHECK(seen_path == "/base/v1/transactions");
  CHECK(seen_query == "commit");
  CHECK(seen_type == "application/json");
  CHECK(seen_auth == "Bearer x");
  CHECK(seen_body == R"({"a":1})");

  // A refusal is an answer, not a transport error; its body comes back whole.
  auto missing = http_request("GET", local.url() + "/base", "/v1/missing", "", {});
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
  CHECK(!missing->ok());
  CHECK(parse_json_strict(missing->body).value()["code"] == "not_found");
}

TEST_CASE("http_request bounds the answer it reads") {
  LocalServer local;
  local.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(10'000, 'x'), "text/plain");
  });
  local.start();
  auto fits = http_request("GET", local.url(), "/big", "", {}, {}, 10'000);
  REQUIRE(fits.ok());
  CHECK(fits->body.size() == 10'000);
  auto too_big = http_request("GET", local.url(), "/big", "", {}, {}, 9'999);
  REQUIRE(!too_big.ok());
  CHECK(too_big.error().code == "response_too_large");
}

TEST_CASE("http_request: unreachable, slow and malformed requests are clear errors") {
  int port = custos::testing::free_loopback_port();
  auto refused =
      http_request("GET", "http://127.0.0.1:" + std::to_string(port), "/healthz", "", {});
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == "unreachable");
  CHECK(refused.error().message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);

  LocalServer local;
  local.server().Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    res.set_content("late", "text/plain");
  });
  local.start();
  auto slow = http_request("GET", local.url(), "/slow", "", {},
                           HttpTimeouts{.connect_ms = 1000, .read_ms = 100, .write_ms = 1000});
  REQUIRE(!slow.ok());
  CHECK(slow.error().code == "http_error");
  CHECK(slow.error().message.find("100 ms") != std::string::npos);

  for (const char* path : {"", "v1/orgs", "/v1/a b", "/v1/\n"}) {
    auto r = http_request("GET", local.url(), path, "", {});
    REQUIRE(!r.ok());
    CHECK(r.error().code == "bad_path");
  }
  auto bad = http_request("GET", "localhost:80", "/", "", {});
  REQUIRE(!bad.ok());
  CHECK(bad.error().code == "bad_url");
}
