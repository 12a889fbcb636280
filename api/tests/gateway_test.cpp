// The gateway in process: a real Node on a temporary ledger, the real HTTP
// server on 127.0.0.1 and a free port, requests through cpp-httplib's client.
// Mostly the bad-input paths: each must be a 4xx problem with the right code
// and leave the ledger as it was.
#include <doctest/doctest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "api/gateway.h"
#include "core/jwt.h"
#include "tests/test_util.h"

using namespace custos;
namespace fs = std::filesystem;

namespace {

struct Reply {
  int status = 0;
  Json body;
  std::string content_type;
  std::string retry_after;
};

class TestNetwork {
 public:
  explicit TestNetwork(std::function<void(node::NodeConfig&)> tweak = {}) {
    dir_ = fs::temp_directory_path() / ("custos-gateway-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* id : {"police-admin", "lab-admin", "court-admin", "other-admin"}) {
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
           {"admins", admin("other-admin")}}}},
        {"nodes", {{{"id", "node1"}, {"org", "police"}}}}};
    std::ofstream(dir_ / "genesis.json") << genesis.dump();
    config_.node_id = "node1";
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
    node_->start();
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
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<api::Gateway> gateway_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
  int nonce_counter_ = 0;
};

Json enrol_args(TestNetwork& net, const std::string& id, const std::string& org,
                std::vector<std::string> roles) {
  return {
      {"id", id}, {"org", org}, {"roles", roles}, {"public_key", net.key(id).public_key().hex()}};
}

// Enrols a small cast and opens case C-1 (police lead, lab member) with
// item E-1 held by the police investigator.
void setup_case(TestNetwork& net) {
  net.commit("identity.enrol", enrol_args(net, "inv", "police", {"investigator", "custodian"}),
             {"police-admin"});
  net.commit("identity.enrol", enrol_args(net, "analyst", "lab", {"forensic_analyst", "custodian"}),
             {"lab-admin"});
  net.commit("identity.enrol", enrol_args(net, "judge", "court", {"judge"}), {"court-admin"});
  net.commit("identity.enrol", enrol_args(net, "outsider", "other", {"investigator"}),
             {"other-admin"});
  net.commit("identity.enrol", enrol_args(net, "auditor", "other", {"auditor"}), {"other-admin"});
  net.commit("custody.open_case",
             {{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", {"lab"}}}, {"inv"});
  std::int64_t t = node::wall_clock_ms() - 60'000;
  net.commit("custody.register",
             {{"case_id", "C-1"},
              {"item_id", "E-1"},
              {"kind", "physical"},
              {"description", "laptop"},
              {"content_hash", nullptr},
              {"seal_numbers", {"S-1"}},
              {"location", "evidence room"},
              {"seized_at_ms", t},
              {"place", "Utrecht"},
              {"legal_authority_ref", "RC-1"}},
             {"inv"});
}

void check_problem(const Reply& r, int status, const std::string& code) {
  CHECK_MESSAGE(r.status == status, r.body.dump());
  CHECK(r.content_type == "application/problem+json");
  CHECK_MESSAGE(r.body.value("code", "") == code, r.body.dump());
  CHECK(r.body.value("status", 0) == status);
  CHECK(r.body.contains("detail"));
}

}  // namespace

TEST_CASE("operations endpoints: healthz, readyz, metrics, openapi") {
  TestNetwork net;
  Reply h = net.get_with("/healthz", "");
  CHECK(h.status == 200);
  CHECK(h.body["node_id"] == "node1");
  CHECK(h.body["role"] == "solo");
  CHECK(h.body["height"] == 0);
  CHECK(h.body["pid"] == static_cast<std::int64_t>(::getpid()));
  CHECK(net.get_with("/readyz", "").status == 200);
  Reply o = net.get_with("/v1/openapi.json", "");
  CHECK(o.status == 200);
  CHECK(o.body["openapi"] == "3.0.3");
  check_problem(net.get_with("/v1/nowhere", ""), 404, "not_found");
}

TEST_CASE("openapi.json and docs/api.md cover exactly the gateway's routes") {
  Json doc = Json::parse(api::openapi_document());
  std::string guide = testing::read_text(testing::source_path("docs/api.md"));
  std::size_t operations = 0;
  for (auto& [path, ops] : doc["paths"].items()) operations += ops.size();
  CHECK(operations == api::routes().size());
  for (const auto& r : api::routes()) {
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    CAPTURE(r.openapi_path);
    CHECK(doc["paths"].contains(r.openapi_path));
    CHECK(doc["paths"][r.openapi_path].contains(method));
    CHECK(guide.find(std::string("`") + r.method + " " + r.openapi_path + "`") !=
          std::string::npos);
  }
}

TEST_CASE("a case end to end through REST, readable by members, granted court, auditors") {
  TestNetwork net;
  setup_case(net);
  net.commit("custody.grant_access", {{"case_id", "C-1"}, {"identity_id", "judge"}}, {"inv"});
  std::int64_t t = node::wall_clock_ms() - 30'000;
  net.commit("custody.handover",
             {{"item_id", "E-1"},
              {"to", "analyst"},
              {"purpose", "imaging"},
              {"location", "lab"},
              {"seals_intact", true},
              {"seal_numbers", {"S-1"}},
              {"condition", "good"},
              {"declared_at_ms", t}},
             {"inv", "analyst"});

  Reply item = net.get("/v1/evidence/E-1", "judge");
  CHECK(item.status == 200);
  CHECK(item.body["custodian"] == "analyst");
  Reply history = net.get("/v1/evidence/E-1/history", "analyst");
  REQUIRE(history.status == 200);
  REQUIRE(history.body["events"].size() == 2);
  CHECK(history.body["events"][1]["prev_event_hash"] == history.body["events"][0]["event_hash"]);
  CHECK(history.body["head_event_hash"] == history.body["events"][1]["event_hash"]);
  Reply page = net.get("/v1/evidence/E-1/history?limit=1", "auditor");
  CHECK(page.body["events"].size() == 1);
  CHECK(page.body["next_from"] == 1);
  CHECK(net.get("/v1/evidence/E-1/history?from=1&limit=1", "auditor").body["next_from"].is_null());
  CHECK(net.get("/v1/cases/C-1/evidence", "inv").body["items"][0]["id"] == "E-1");
  CHECK(net.get("/v1/cases/C-1", "judge").status == 200);
  CHECK(net.get("/v1/chain/head", "outsider").body["height"] == net.height());
  CHECK(net.get("/v1/orgs", "outsider").body["orgs"].size() == 4);
  CHECK(net.get("/v1/identities/analyst", "outsider").body["org"] == "lab");

  SUBCASE("blocks: auditors and admins only") {
    CHECK(net.get("/v1/blocks/1", "auditor").status == 200);
    CHECK(net.get("/v1/blocks/1", "auditor").body["hash"].is_string());
    check_problem(net.get("/v1/blocks/1", "inv"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get("/v1/blocks/999", "auditor"), 404, "BLOCK_NOT_FOUND");
    check_problem(net.get("/v1/blocks/x", "auditor"), 400, "bad_parameter");
  }
  SUBCASE("transactions: signers, auditors and admins") {
    Transaction tx = net.signed_tx("custody.examine",
                                   {{"item_id", "E-1"},
                                    {"method", "imaging"},
                                    {"findings_hash", nullptr},
                                    {"declared_at_ms", node::wall_clock_ms() - 10'000}},
                                   {"analyst"});
    REQUIRE(net.submit(tx).status == 200);
    std::string path = "/v1/transactions/" + tx.id().hex();
    Reply mine = net.get(path, "analyst");
    CHECK(mine.status == 200);
    CHECK(mine.body["code"] == "OK");
    CHECK(mine.body["tx"]["function"] == "examine");
    CHECK(net.get(path, "auditor").status == 200);
    check_problem(net.get(path, "judge"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get("/v1/transactions/" + std::string(64, 'a'), "auditor"), 404,
                  "TX_NOT_FOUND");
    check_problem(net.get("/v1/transactions/xyz", "auditor"), 400, "bad_parameter");
  }
}

TEST_CASE("bad input: each a 4xx problem with the right code and no state change") {
  TestNetwork net;
  setup_case(net);
  std::uint64_t height = net.height();
  Json item = *net.state("item/E-1");
  auto unchanged = [&] { CHECK(net.state("item/E-1") == item); };
  auto no_new_block = [&] { CHECK(net.height() == height); };

  SUBCASE("malformed JSON") {
    check_problem(net.post_raw("{\"network_id\":"), 400, "bad_tx");
    no_new_block();
  }
  SUBCASE("duplicate keys and floats in the envelope") {
    check_problem(net.post_raw(R"({"a":1,"a":2})"), 400, "bad_tx");
    Transaction tx = net.make_tx("custody.examine", {{"item_id", "E-1"}});
    std::string text = tx.to_json().dump();
    text.replace(text.find("\"created_at_ms\":") + 16, 13, "1.5");
    check_problem(net.post_raw(text), 400, "bad_tx");
    no_new_block();
  }
  SUBCASE("wrong types") {
    Json j = net.signed_tx("custody.examine", {{"item_id", "E-1"}}, {"inv"}).to_json();
    j["created_at_ms"] = "yesterday";
    check_problem(net.post_raw(j.dump()), 400, "bad_tx");
    Transaction tx = net.signed_tx("custody.handover",
                                   {{"item_id", "E-1"},
                                    {"to", "analyst"},
                                    {"purpose", 7},
                                    {"location", "lab"},
                                    {"seals_intact", "yes"},
                                    {"seal_numbers", {"S-1"}},
                                    {"condition", "good"},
                                    {"declared_at_ms", node::wall_clock_ms()}},
                                   {"inv", "analyst"});
    check_problem(net.submit(tx), 400, "BAD_ARGS");
    no_new_block();
    unchanged();
  }
  SUBCASE("oversized body") {
    Transaction tx = net.make_tx("custody.examine", {{"blob", std::string(20'000, 'x')}});
    check_problem(net.submit(tx), 413, "body_too_large");
    no_new_block();
  }
  SUBCASE("bad signature") {
    Transaction tx = net.signed_tx("custody.examine",
                                   {{"item_id", "E-1"},
                                    {"method", "x"},
                                    {"findings_hash", nullptr},
                                    {"declared_at_ms", node::wall_clock_ms()}},
                                   {"inv"});
    tx.args["method"] = "tampered after signing";
    check_problem(net.submit(tx), 400, "BAD_SIGNATURE");
    no_new_block();
  }
  SUBCASE("unknown signer") {
    Transaction tx = net.signed_tx(
        "custody.open_case", {{"case_id", "C-9"}, {"reference", "r"}, {"member_orgs", {"lab"}}},
        {"stranger"});
    check_problem(net.submit(tx), 403, "UNKNOWN_SIGNER");
    no_new_block();
    CHECK(!net.state("case/C-9"));
  }
  SUBCASE("revoked signer") {
    net.commit("identity.revoke", {{"id", "outsider"}, {"reason", "REF-7"}}, {"other-admin"});
    height = net.height();
    Transaction tx = net.signed_tx(
        "custody.open_case", {{"case_id", "C-9"}, {"reference", "r"}, {"member_orgs", {"lab"}}},
        {"outsider"});
    check_problem(net.submit(tx), 403, "SIGNER_REVOKED");
    no_new_block();
    // And a revoked identity cannot read either.
    check_problem(net.get("/v1/chain/head", "outsider"), 401, "identity_revoked");
  }
  SUBCASE("forbidden role") {
    net.commit("identity.enrol", enrol_args(net, "clerk2", "court", {"court_clerk"}),
               {"court-admin"});
    height = net.height();
    Transaction tx = net.signed_tx(
        "custody.open_case", {{"case_id", "C-9"}, {"reference", "r"}, {"member_orgs", {"lab"}}},
        {"clerk2"});
    check_problem(net.submit(tx), 403, "ROLE_FORBIDDEN");
    no_new_block();
  }
  SUBCASE("a rule broken at execution: recorded as failed, state unchanged") {
    Transaction tx = net.signed_tx("custody.handover",
                                   {{"item_id", "E-1"},
                                    {"to", "inv"},
                                    {"purpose", "p"},
                                    {"location", "l"},
                                    {"seals_intact", true},
                                    {"seal_numbers", {"S-1"}},
                                    {"condition", "c"},
                                    {"declared_at_ms", node::wall_clock_ms()}},
                                   {"analyst", "inv"});
    Reply r = net.submit(tx);
    check_problem(r, 403, "NOT_CUSTODIAN");
    CHECK(r.body["tx_id"] == tx.id().hex());
    CHECK(r.body["tx_status"] == "failed");
    unchanged();
    Reply status = net.get("/v1/transactions/" + tx.id().hex(), "analyst");
    CHECK(status.body["status"] == "failed");
    CHECK(status.body["code"] == "NOT_CUSTODIAN");
  }
  SUBCASE("replayed transaction") {
    Transaction tx = net.signed_tx(
        "custody.exhibit",
        {{"item_id", "E-1"}, {"court_ref", "COURT-1"}, {"declared_at_ms", node::wall_clock_ms()}},
        {"inv"});
    REQUIRE(net.submit(tx).status == 200);
    height = net.height();
    item = *net.state("item/E-1");
    check_problem(net.submit(tx), 409, "DUPLICATE_TX");
    no_new_block();
    unchanged();
  }
  SUBCASE("wait may only be commit") {
    check_problem(net.post_raw("{}", "?wait=forever"), 400, "bad_parameter");
  }
  SUBCASE("reads without, with expired, forged or foreign tokens") {
    check_problem(net.get_with("/v1/evidence/E-1", ""), 401, "missing_token");
    check_problem(net.get_with("/v1/evidence/E-1", net.token("inv", -2000)), 401, "token_expired");
    check_problem(net.get_with("/v1/evidence/E-1", net.token("inv", 0, 3600)), 401,
                  "token_lifetime_too_long");
    check_problem(net.get_with("/v1/evidence/E-1", net.token("inv", 0, 300, "other-net")), 401,
                  "wrong_audience");
    // Signed by someone else's key, claiming to be the investigator.
    std::int64_t now = node::wall_clock_ms() / 1000;
    std::string forged = jwt_mint(net.key("analyst"), {"inv", "custos-test", now, now + 300});
    check_problem(net.get_with("/v1/evidence/E-1", forged), 401, "bad_token_signature");
    check_problem(net.get_with("/v1/evidence/E-1", "not.a.jwt"), 401, "bad_token");
    check_problem(net.get_with("/v1/evidence/E-1", net.token("nobody")), 401, "unknown_identity");
  }
  SUBCASE("reading another case's evidence") {
    check_problem(net.get("/v1/evidence/E-1", "outsider"), 403, "NOT_CASE_MEMBER");
    check_problem(net.get("/v1/evidence/E-1/history", "outsider"), 403, "NOT_CASE_MEMBER");
    check_problem(net.get("/v1/cases/C-1", "outsider"), 403, "NOT_CASE_MEMBER");
    check_problem(net.get("/v1/cases/C-1/evidence", "judge"), 403, "NOT_CASE_MEMBER");
    check_problem(net.get("/v1/evidence/E-404", "inv"), 404, "ITEM_NOT_FOUND");
  }
  SUBCASE("bad pagination parameters") {
    check_problem(net.get("/v1/evidence/E-1/history?limit=0", "inv"), 400, "bad_parameter");
    check_problem(net.get("/v1/evidence/E-1/history?limit=9999", "inv"), 400, "bad_parameter");
    check_problem(net.get("/v1/evidence/E-1/history?from=-1", "inv"), 400, "bad_parameter");
  }
}

TEST_CASE("a full mempool pushes back with 503 and Retry-After") {
  // The orderer holds a lone tx for a minute waiting for company, so the
  // second submission finds the one-slot mempool full.
  TestNetwork net([](node::NodeConfig& c) {
    c.mempool.txs_max = 1;
    c.block.wait_ms_max = 60'000;
  });
  auto enrol = [&](const char* id) {
    return net.signed_tx("identity.enrol", enrol_args(net, id, "police", {"investigator"}),
                         {"police-admin"});
  };
  CHECK(net.post_raw(enrol("a").to_json().dump(), "").status == 202);
  Reply busy = net.post_raw(enrol("b").to_json().dump(), "");
  check_problem(busy, 503, "mempool_full");
  CHECK(busy.retry_after == "1");
  CHECK(net.height() == 0);
}

TEST_CASE("the ledger survives a restart unchanged") {
  TestNetwork net;
  setup_case(net);
  Json before = net.get("/v1/evidence/E-1/history", "inv").body;
  auto head = net.get("/v1/chain/head", "inv").body;
  net.stop();
  net.start();
  CHECK(net.get("/v1/evidence/E-1/history", "inv").body == before);
  CHECK(net.get("/v1/chain/head", "inv").body == head);
}
