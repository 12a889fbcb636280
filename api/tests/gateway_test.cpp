// The gateway in process (TestNetwork, api/tests/test_network.h): operations
// endpoints, reads of cases and evidence, the chain and transactions.
// Mostly the bad-input paths: each must be a 4xx problem with the right code
// and leave the ledger as it was.
#include <doctest/doctest.h>
#include <unistd.h>

#include "api/tests/test_network.h"
#include "core/merkle.h"

using namespace custos;
using namespace custos::testing;

namespace {

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
  SUBCASE("a case's evidence pages by ?after= and ?limit=") {
    net.commit("custody.register",
               {{"case_id", "C-1"},
                {"item_id", "E-2"},
                {"kind", "physical"},
                {"description", "phone"},
                {"content_hash", nullptr},
                {"seal_numbers", {"S-2"}},
                {"location", "evidence room"},
                {"seized_at_ms", t},
                {"place", "Utrecht"},
                {"legal_authority_ref", "RC-1"}},
               {"inv"});
    Reply p1 = net.get("/v1/cases/C-1/evidence?limit=1", "inv");
    REQUIRE(p1.body["items"].size() == 1);
    CHECK(p1.body["items"][0]["id"] == "E-1");
    CHECK(p1.body["next_after"] == "E-1");
    Reply p2 = net.get("/v1/cases/C-1/evidence?limit=1&after=E-1", "inv");
    REQUIRE(p2.body["items"].size() == 1);
    CHECK(p2.body["items"][0]["id"] == "E-2");
    CHECK(p2.body["next_after"].is_null());
  }
  CHECK(net.get("/v1/cases/C-1", "judge").status == 200);
  CHECK(net.get("/v1/chain/head", "outsider").body["height"] == net.height());
  CHECK(net.get("/v1/orgs", "outsider").body["orgs"].size() == kGenesisOrgCount);
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
    // The parser's message quotes the bad byte; the problem still is JSON.
    check_problem(net.post_raw("{\"network_id\": \xff}"), 400, "bad_tx");
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
  SUBCASE("args nested deeper than a block can hold") {
    // Within the parser's 64 levels alone, but not once a block wraps the
    // transaction: admitted, it would stop every node at commit.
    Json deep = Json::object();
    for (std::size_t i = 1; i < kTxArgsDepthMax + 1; ++i) deep = Json{{"a", deep}};
    Transaction tx = net.signed_tx("custody.examine", deep, {"inv"});
    check_problem(net.submit(tx), 400, "bad_tx");
    no_new_block();
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
  SUBCASE("a token accepted before is refused once its key is rotated away or it is revoked") {
    // The gateway remembers tokens it accepted; each later use must still
    // be checked against the identity as it stands now.
    const std::string before = net.token("inv");
    REQUIRE(net.get_with("/v1/evidence/E-1", before).status == 200);
    REQUIRE(net.get_with("/v1/evidence/E-1", before).status == 200);
    PrivateKey next = PrivateKey::generate();
    net.commit("identity.rotate_key", {{"id", "inv"}, {"public_key", next.public_key().hex()}},
               {"inv"});
    check_problem(net.get_with("/v1/evidence/E-1", before), 401, "bad_token_signature");
    std::int64_t now = node::wall_clock_ms() / 1000;
    const std::string after = jwt_mint(next, {"inv", "custos-test", now, now + 300});
    REQUIRE(net.get_with("/v1/evidence/E-1", after).status == 200);
    REQUIRE(net.get_with("/v1/evidence/E-1", after).status == 200);
    net.commit("identity.revoke", {{"id", "inv"}, {"reason", "REF-8"}}, {"police-admin"});
    check_problem(net.get_with("/v1/evidence/E-1", after), 401, "identity_revoked");
    check_problem(net.get_with("/v1/evidence/E-1", before), 401, "identity_revoked");
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

TEST_CASE("proofs: a transaction's inclusion in the log, and one head's log extending another's") {
  TestNetwork net;
  setup_case(net);
  auto hashes = [](const Json& hex) {
    std::vector<Hash256> out;
    for (const auto& h : hex) out.push_back(*Hash256::from_hex(h.get<std::string>()));
    return out;
  };
  Transaction tx = net.signed_tx("identity.enrol", enrol_args(net, "inv2", "police", {"custodian"}),
                                 {"police-admin"});
  REQUIRE(net.submit(tx).status == 200);
  Reply head = net.get("/v1/chain/head", "auditor");
  REQUIRE(head.status == 200);
  CHECK(head.body["log_size"].get<std::uint64_t>() >= 7);

  // Inclusion: the leaf's hash, the path and the head's log root agree.
  Reply r = net.get("/v1/transactions/" + tx.id().hex(), "auditor");
  REQUIRE(r.status == 200);
  const Json& inc = r.body["inclusion_proof"];
  std::string leaf = r.body["log_leaf"].get<std::string>();
  CHECK(Json::parse(leaf)["tx_id"] == tx.id().hex());
  CHECK(Json::parse(leaf)["code"] == "OK");
  Hash256 leaf_hash = merkle_leaf_hash(as_bytes(leaf));
  Hash256 root = *Hash256::from_hex(inc["log_root"].get<std::string>());
  std::uint64_t size = inc["log_size"];
  std::uint64_t index = r.body["log_index"];
  CHECK(merkle_verify_inclusion(leaf_hash, index, size, hashes(inc["path"]), root));
  CHECK(inc["head"]["log_root"] == inc["log_root"]);
  // The same path does not prove a changed leaf.
  Json forged = Json::parse(leaf);
  forged["code"] = "NOT_CUSTODIAN";
  CHECK_FALSE(merkle_verify_inclusion(merkle_leaf_hash(as_bytes(forged.dump())), index, size,
                                      hashes(inc["path"]), root));

  // Consistency from every earlier height to the head.
  std::uint64_t top = net.height();
  for (std::uint64_t from = 0; from <= top; ++from) {
    Reply c = net.get("/v1/proofs/consistency?from=" + std::to_string(from) +
                          "&to=" + std::to_string(top),
                      "outsider");
    REQUIRE(c.status == 200);
    std::uint64_t old_size = c.body["from"]["log_size"];
    std::uint64_t new_size = c.body["to"]["log_size"];
    CHECK(c.body["to"]["log_root"] == head.body["log_root"]);
    if (old_size > 0) {
      CHECK(merkle_verify_consistency(old_size, new_size,
                                      *Hash256::from_hex(c.body["from"]["log_root"].get<std::string>()),
                                      *Hash256::from_hex(c.body["to"]["log_root"].get<std::string>()),
                                      hashes(c.body["proof"])));
    }
  }
  check_problem(net.get("/v1/proofs/consistency?from=3&to=1", "outsider"), 400, "bad_parameter");
  check_problem(net.get("/v1/proofs/consistency?from=x&to=1", "outsider"), 400, "bad_parameter");
  check_problem(net.get("/v1/proofs/consistency?to=1", "outsider"), 400, "bad_parameter");
  check_problem(net.get("/v1/proofs/consistency?from=1&to=99999", "outsider"), 404,
                "BLOCK_NOT_FOUND");
}

TEST_CASE("signed heads: the head carries the node's signature, and a tx's proof reaches it") {
  TestNetwork net;
  setup_case(net);
  Transaction tx = net.signed_tx("identity.enrol", enrol_args(net, "inv2", "police", {"custodian"}),
                                 {"police-admin"});
  REQUIRE(net.submit(tx).status == 200);

  Reply head = net.get("/v1/chain/head", "outsider");
  REQUIRE(head.status == 200);
  // A single node signs each head as it applies it: the signed head is the head.
  REQUIRE(head.body["signed_head"].is_object());
  auto signed_head = SignedHead::from_json(head.body["signed_head"]);
  REQUIRE_MESSAGE(signed_head.ok(), head.body["signed_head"].dump());
  const HeadStatement& s = signed_head->head;
  CHECK(s.network_id == "custos-test");
  CHECK(s.height == head.body["height"]);
  CHECK(s.block_hash.hex() == head.body["block_hash"]);
  CHECK(s.results_hash.hex() == head.body["results_hash"]);
  CHECK(s.log_size == head.body["log_size"]);
  CHECK(s.log_root.hex() == head.body["log_root"]);
  CHECK(s.state_root.hex() == head.body["state_root"]);
  // Checked the way a court's verifier would: the genesis node's key, a quorum
  // of the one genesis node.
  REQUIRE(signed_head->signatures.size() >= head_quorum(1));
  CHECK(signed_head->signatures[0].node_id == "node1");
  CHECK(
      verify_head_signature(net.node_key().public_key(), s, signed_head->signatures[0].signature));
  HeadStatement other = s;
  other.log_size += 1;
  CHECK_FALSE(verify_head_signature(net.node_key().public_key(), other,
                                    signed_head->signatures[0].signature));

  // The transaction's leaf is proved against the signed head's log root.
  Reply r = net.get("/v1/transactions/" + tx.id().hex(), "auditor");
  REQUIRE(r.status == 200);
  REQUIRE(r.body["signed_head"].is_object());
  auto proof_head = SignedHead::from_json(r.body["signed_head"]["signed_head"]);
  REQUIRE(proof_head.ok());
  CHECK(verify_head_signature(net.node_key().public_key(), proof_head->head,
                              proof_head->signatures.at(0).signature));
  std::vector<Hash256> path;
  for (const auto& h : r.body["signed_head"]["inclusion_proof"]) {
    path.push_back(*Hash256::from_hex(h.get<std::string>()));
  }
  Hash256 leaf_hash = merkle_leaf_hash(as_bytes(r.body["log_leaf"].get<std::string>()));
  CHECK(merkle_verify_inclusion(leaf_hash, r.body["log_index"], proof_head->head.log_size, path,
                                proof_head->head.log_root));

  // Signatures are kept in the ledger: the same signed head after a restart.
  net.stop();
  net.start();
  CHECK(net.get("/v1/chain/head", "outsider").body["signed_head"] == head.body["signed_head"]);
}

TEST_CASE("a node whose key file is not its on-chain key refuses to start") {
  TestNetwork net;
  // (Once the gateway answers: stopping it before it listens would wait forever.)
  REQUIRE(net.get_with("/readyz", "").status == 200);
  net.stop();
  node::NodeConfig config = net.config();
  std::ofstream(config.key_file->string() + ".other") << node_key_file_text(PrivateKey::generate());
  config.key_file = config.key_file->string() + ".other";
  auto mismatch = node::Node::open(config);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().code == "node_key_mismatch");
  config.key_file.reset();
  auto missing = node::Node::open(config);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "node_key_missing");
  // Another node id is no on-chain node: it runs, and does not sign.
  config.node_id = "replica";
  auto replica = node::Node::open(config);
  REQUIRE(replica.ok());
  REQUIRE((*replica)->start().ok());
  CHECK((*replica)->head_signer_stats().signed_heads == 0);
  (*replica)->stop();
}
