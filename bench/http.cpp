#include "bench/http.h"

#include <httplib.h>

#include <cstdlib>

#include "core/json.h"
#include "wallet/http_client.h"

namespace custos::bench {

struct Connection::Impl {
  std::unique_ptr<httplib::Client> client;
  std::string base_path;
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

Result<std::unique_ptr<Connection>> Connection::open(const std::string& gateway,
                                                     double read_timeout_s) {
  auto url = wallet::parse_gateway_url(gateway);
  if (!url) return url.error();
  auto impl = std::make_unique<Impl>();
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  impl->client = std::make_unique<httplib::Client>(url->scheme + "://" + host + ":" +
                                                   std::to_string(url->port));
  impl->base_path = url->base_path;
  impl->client->set_keep_alive(true);
  impl->client->set_tcp_nodelay(true);  // as the gateway: no Nagle delay between writes
  impl->client->set_connection_timeout(5, 0);
  auto timeout_us = static_cast<long>(read_timeout_s * 1e6);
  impl->client->set_read_timeout(timeout_us / 1'000'000, timeout_us % 1'000'000);
  impl->client->set_write_timeout(10, 0);
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

namespace {

HttpAnswer answer_of(const httplib::Result& res) {
  HttpAnswer a;
  if (!res) {
    // httplib reports a read timeout and a connection the server closed
    // mid-answer alike as Error::Read.
    a.transport_error = res.error() == httplib::Error::Read
                            ? "timeout or connection closed while waiting for the answer"
                            : "connection error (" + httplib::to_string(res.error()) + ")";
    return a;
  }
  a.status = res->status;
  a.body = res->body;
  if (res->has_header("Retry-After")) {
    a.retry_after_s = std::atof(res->get_header_value("Retry-After").c_str());
  }
  return a;
}

}  // namespace

HttpAnswer Connection::submit_and_wait(const std::string& envelope_json) {
  return answer_of(impl_->client->Post(impl_->base_path + "/v1/transactions?wait=commit",
                                       envelope_json, "application/json"));
}

HttpAnswer Connection::submit_batch_and_wait(const std::vector<const std::string*>& envelopes) {
  // The envelopes are JSON texts already: joined, not parsed and dumped again.
  std::string body = R"({"transactions":[)";
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    if (i > 0) body += ',';
    body += *envelopes[i];
  }
  body += "]}";
  return answer_of(impl_->client->Post(impl_->base_path + "/v1/transactions/batch?wait=commit",
                                       body, "application/json"));
}

HttpAnswer Connection::get(const std::string& path, const std::string& token) {
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  return answer_of(impl_->client->Get(impl_->base_path + path, headers));
}

bool committed_ok(const HttpAnswer& answer) {
  if (answer.status != 200) return false;
  // A 200 to a write is the committed outcome; its code is OK (a refusal
  // committed with another code is a 4xx problem), checked all the same.
  auto j = Json::parse(answer.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("code")) return true;
  return j["code"] == "OK";
}

std::string failure_kind(const HttpAnswer& answer) {
  if (answer.status == 0) return answer.transport_error;
  std::string kind = "HTTP " + std::to_string(answer.status);
  auto j = Json::parse(answer.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("code") && j["code"].is_string()) {
      kind += " " + j["code"].get<std::string>();
    } else if (j.contains("status") && j["status"].is_string()) {
      kind += " " + j["status"].get<std::string>();  // 202 {"status": "pending"}
    }
  }
  return kind;
}

std::string failure_detail(const HttpAnswer& answer) {
  auto j = Json::parse(answer.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("detail") && j["detail"].is_string()) {
    return j["detail"].get<std::string>();
  }
  return answer.body.substr(0, 200);
}

std::vector<BatchOutcome> batch_outcomes(const HttpAnswer& answer, std::size_t count) {
  using Kind = BatchOutcome::Kind;
  auto j = answer.status == 200 ? Json::parse(answer.body, nullptr, false) : Json();
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array() ||
      j["results"].size() != count) {
    std::string kind =
        answer.status == 200 ? "HTTP 200 without one result per transaction" : failure_kind(answer);
    return std::vector<BatchOutcome>(count, BatchOutcome{Kind::kFailed, kind});
  }
  std::vector<BatchOutcome> out;
  out.reserve(count);
  auto text = [](const Json& r, const char* name) {
    return r.is_object() && r.contains(name) && r[name].is_string() ? r[name].get<std::string>()
                                                                    : std::string();
  };
  for (const Json& r : j["results"]) {
    std::string status = text(r, "status");
    std::string code = text(r, "code");
    if (status == "committed" && code == "OK") {
      out.push_back({Kind::kCommitted, ""});
    } else if (status == "busy") {
      out.push_back({Kind::kBusy, "HTTP 503 " + code});
    } else if (status == "refused") {
      int http_status = r.contains("http_status") && r["http_status"].is_number_integer()
                            ? r["http_status"].get<int>()
                            : 0;
      out.push_back({Kind::kFailed, "HTTP " + std::to_string(http_status) + " " + code});
    } else if (status == "pending") {
      out.push_back({Kind::kFailed, "HTTP 202 pending"});
    } else {
      out.push_back({Kind::kFailed, (status.empty() ? "unknown" : status) + " " + code});
    }
  }
  return out;
}

}  // namespace custos::bench
