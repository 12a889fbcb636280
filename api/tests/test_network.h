// The gateway in process, shared by the api test suites: a real Node on a
// temporary ledger, the real HTTP server on 127.0.0.1 and a free port,
// requests through cpp-httplib's client. Transactions are signed with keys
// the fixture keeps per identity id; reads carry JWTs it mints with them.
//
// Genesis orgs, each with one admin "<org>-admin" (org "mt": "mt-admin"):
//   police, other (police), lab (forensic_lab), court (court), museum (museum),
//   dealer (dealer), customs (customs), fiu (fiu), mt (transfer_agent).
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/gateway.h"
#include "core/jwt.h"
#include "core/node_key.h"
#include "tests/test_util.h"

namespace custos::testing {

namespace fs = std::filesystem;

inline constexpr std::size_t kGenesisOrgCount = 9;

struct Reply {
  int status = 0;
  Json body;
  std::string content_type;
  std::string retry_after;
};

class TestNetwork {
 public:
  explicit TestNetwork(std::function<void(node::NodeConfig&)> tweak = {}) {
    static int networks = 0;
    dir_ = fs::temp_directory_path() /
           ("custos-gateway-test-" + std::to_string(::getpid()) + "-" + std::to_string(++networks));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* id :
         {"police-admin", "lab-admin", "court-admin", "other-admin", "museum-admin", "dealer-admin",
          "customs-admin", "fiu-admin", "mt-admin"}) {
      keys_.emplace(id, PrivateKey::generate());
    }
    auto admin = [&](const char* id) {
      return Json::array({{{"id", id}, {"public_key", keys_.at(id).public_key().hex()}}});
    };
    Json genesis = {
        {"network_id", "custos-test"},
        {"created_at_ms", node::wall_clock_ms() - 3600'000},
        {"orgs",
         {{{"id", "police"},
           {"name", "Police"},
           {"kind", "police"},
           {"admins", admin("police-admin")}},
          {{"id", "lab"},
           {"name", "Lab"},
           {"kind", "forensic_lab"},
           {"admins", admin("lab-admin")}},
          {{"id", "court"}, {"name", "Court"}, {"kind", "court"}, {"admins", admin("court-admin")}},
          {{"id", "other"},
           {"name", "Other police"},
           {"kind", "police"},
           {"admins", admin("other-admin")}},
          // The registers' participants: provenance (museum, dealer, customs)
          // and funds (an FIU and a licensed money-transfer agent).
          {{"id", "museum"},
           {"name", "Museum"},
           {"kind", "museum"},
           {"admins", admin("museum-admin")}},
          {{"id", "dealer"},
           {"name", "Dealers' register"},
           {"kind", "dealer"},
           {"admins", admin("dealer-admin")}},
          {{"id", "customs"},
           {"name", "Customs"},
           {"kind", "customs"},
           {"admins", admin("customs-admin")}},
          {{"id", "fiu"}, {"name", "FIU"}, {"kind", "fiu"}, {"admins", admin("fiu-admin")}},
          {{"id", "mt"},
           {"name", "Money transfer agent"},
           {"kind", "transfer_agent"},
           {"admins", admin("mt-admin")}}}},
        {"nodes",
         {{{"id", "node1"}, {"org", "police"}, {"public_key", node_key_.public_key().hex()}}}}};
    std::ofstream(dir_ / "genesis.json") << genesis.dump();
    std::ofstream(dir_ / "node1.key") << node_key_file_text(node_key_);
    config_.node_id = "node1";
    config_.key_file = dir_ / "node1.key";
    config_.data_dir = dir_ / "data";
    config_.genesis_file = dir_ / "genesis.json";
    config_.block.wait_ms_max = 1;
    config_.http.body_bytes_max = 16 * 1024;
    config_.http.threads = 4;
    if (tweak) tweak(config_);
    start();
  }

  ~TestNetwork() {
    stop();
    fs::remove_all(dir_);
  }

  void start() {
    node_ = std::move(node::Node::open(config_).value());
    REQUIRE(node_->start().ok());
    gateway_ = std::make_unique<api::Gateway>(*node_);
    port_ = gateway_->listen("127.0.0.1", 0).value();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(20, 0);
  }

  void stop() {
    client_.reset();
    if (gateway_) gateway_->stop();
    gateway_.reset();
    if (node_) node_->stop();
    node_.reset();
  }

  const node::NodeConfig& config() const { return config_; }
  // The genesis document the node started from, as a court would hold it.
  Json genesis_json() const { return Json::parse(read_text(dir_ / "genesis.json")); }
  // The genesis node's head-signing key (its file is config().key_file).
  const PrivateKey& node_key() const { return node_key_; }

  const PrivateKey& key(const std::string& id) {
    if (!keys_.contains(id)) keys_.emplace(id, PrivateKey::generate());
    return keys_.at(id);
  }

  Transaction make_tx(const std::string& call, Json args) {
    Transaction tx;
    tx.network_id = "custos-test";
    tx.chaincode = call.substr(0, call.find('.'));
    tx.function = call.substr(call.find('.') + 1);
    tx.args = std::move(args);
    tx.nonce = hex_encode(sha256(std::to_string(++nonce_counter_)).view()).substr(0, 32);
    tx.created_at_ms = node::wall_clock_ms();
    return tx;
  }

  Transaction signed_tx(const std::string& call, Json args, std::vector<std::string> signers) {
    Transaction tx = make_tx(call, std::move(args));
    for (const auto& s : signers) REQUIRE(tx.sign(key(s)).ok());
    return tx;
  }

  Reply post_raw(const std::string& body, const std::string& query = "?wait=commit",
                 const char* type = "application/json") {
    return convert(client_->Post(("/v1/transactions" + query).c_str(), body, type));
  }

  Reply submit(const Transaction& tx) { return post_raw(tx.to_json().dump()); }

  // POST /v1/transactions/batch with a raw body.
  Reply post_batch_raw(const std::string& body, const std::string& query = "?wait=commit") {
    return convert(
        client_->Post(("/v1/transactions/batch" + query).c_str(), body, "application/json"));
  }
  // {"transactions": [envelope, ...]}
  static std::string batch_body(const std::vector<Transaction>& txs) {
    Json entries = Json::array();
    for (const auto& tx : txs) entries.push_back(tx.to_json());
    return Json{{"transactions", entries}}.dump();
  }
  Reply submit_batch(const std::vector<Transaction>& txs,
                     const std::string& query = "?wait=commit") {
    return post_batch_raw(batch_body(txs), query);
  }

  // Submits and requires result OK.
  void commit(const std::string& call, Json args, std::vector<std::string> signers) {
    Reply r = submit(signed_tx(call, std::move(args), std::move(signers)));
    REQUIRE_MESSAGE(r.status == 200, call << ": " << r.body.dump());
  }

  std::string token(const std::string& identity, std::int64_t iat_offset_s = 0,
                    std::int64_t ttl_s = 300, const std::string& aud = "custos-test") {
    std::int64_t now = node::wall_clock_ms() / 1000 + iat_offset_s;
    return jwt_mint(key(identity), {identity, aud, now, now + ttl_s});
  }

  Reply get_with(const std::string& path, const std::string& bearer) {
    httplib::Headers h;
    if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
    return convert(client_->Get(path.c_str(), h));
  }
  Reply get(const std::string& path, const std::string& identity) {
    return get_with(path, token(identity));
  }

  node::Node& node() { return *node_; }
  std::uint64_t height() { return node_->ledger().head()->height; }
  std::optional<Json> state(const std::string& key) { return node_->ledger().get(key); }
  int port() const { return port_; }

 private:
  static Reply convert(const httplib::Result& res) {
    REQUIRE_MESSAGE(res, "HTTP request failed: " << httplib::to_string(res.error()));
    Reply r;
    r.status = res->status;
    r.content_type = res->get_header_value("Content-Type");
    r.retry_after = res->get_header_value("Retry-After");
    auto j = parse_json_strict(res->body);
    r.body = j ? *j : Json(res->body);
    return r;
  }

  fs::path dir_;
  node::NodeConfig config_;
  std::map<std::string, PrivateKey> keys_;
  PrivateKey node_key_ = PrivateKey::generate();
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
  int nonce_counter_ = 0;
};

inline Json enrol_args(TestNetwork& net, const std::string& id, const std::string& org,
                       std::vector<std::string> roles) {
  return {
      {"id", id}, {"org", org}, {"roles", roles}, {"public_key", net.key(id).public_key().hex()}};
}

inline void check_problem(const Reply& r, int status, const std::string& code) {
  CHECK_MESSAGE(r.status == status, r.body.dump());
  CHECK(r.content_type == "application/problem+json");
  CHECK_MESSAGE(r.body.value("code", "") == code, r.body.dump());
  CHECK(r.body.value("status", 0) == status);
  CHECK(r.body.contains("detail"));
}

}  // namespace custos::testing
