// POST /v1/transactions/batch through the gateway in process: entries are
// admitted one by one and answered in request order; a malformed request is
// refused whole with nothing admitted; ?wait=commit waits once for all.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <set>

#include "api/tests/test_network.h"

using namespace custos;
using namespace custos::testing;

namespace {

Transaction enrolment(TestNetwork& net, const std::string& id) {
  return net.signed_tx("identity.enrol", enrol_args(net, id, "police", {"investigator"}),
                       {"police-admin"});
}

Transaction registration(TestNetwork& net, const std::string& item_id) {
  return net.signed_tx("custody.register",
                       {{"case_id", "C-1"},
                        {"item_id", item_id},
                        {"kind", "physical"},
                        {"description", "phone"},
                        {"content_hash", nullptr},
                        {"seal_numbers", {"S-" + item_id}},
                        {"location", "evidence room"},
                        {"seized_at_ms", node::wall_clock_ms() - 60'000},
                        {"place", "Utrecht"},
                        {"legal_authority_ref", "RC-1"}},
                       {"inv"});
}

Transaction handover(TestNetwork& net, const std::string& item_id) {
  return net.signed_tx("custody.handover",
                       {{"item_id", item_id},
                        {"to", "analyst"},
                        {"purpose", "imaging"},
                        {"location", "lab"},
                        {"seals_intact", true},
                        {"seal_numbers", {"S-" + item_id}},
                        {"condition", "good"},
                        {"declared_at_ms", node::wall_clock_ms() - 1'000}},
                       {"inv", "analyst"});
}

// A handover of a newly registered item by the analyst: it passes
// admission (both signers known, roles fine), but the analyst is not the
// item's custodian when it executes (NOT_CUSTODIAN).
Transaction handover_by_non_custodian(TestNetwork& net, const std::string& item_id) {
  return net.signed_tx("custody.handover",
                       {{"item_id", item_id},
                        {"to", "inv"},
                        {"purpose", "p"},
                        {"location", "l"},
                        {"seals_intact", true},
                        {"seal_numbers", {"S-" + item_id}},
                        {"condition", "c"},
                        {"declared_at_ms", node::wall_clock_ms()}},
                       {"analyst", "inv"});
}

// The investigator and the analyst, and case C-1 (police lead, lab member).
void setup_case(TestNetwork& net) {
  net.commit("identity.enrol", enrol_args(net, "inv", "police", {"investigator", "custodian"}),
             {"police-admin"});
  net.commit("identity.enrol", enrol_args(net, "analyst", "lab", {"forensic_analyst", "custodian"}),
             {"lab-admin"});
  net.commit("custody.open_case",
             {{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", {"lab"}}}, {"inv"});
}

// Each result committed with OK, in the order of `txs`.
void check_all_committed(const Reply& r, const std::vector<Transaction>& txs) {
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  CHECK(r.content_type == "application/json");
  const Json& results = r.body["results"];
  REQUIRE(results.size() == txs.size());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    CAPTURE(i);
    CHECK(results[i]["tx_id"] == txs[i].id().hex());
    CHECK(results[i]["status"] == "committed");
    CHECK(results[i]["code"] == "OK");
    CHECK(results[i]["height"].is_number_integer());
    CHECK(results[i]["index"].is_number_integer());
  }
}

}  // namespace

TEST_CASE("a batch commits with wait=commit and answers in request order") {
  TestNetwork net;
  setup_case(net);
  std::vector<Transaction> registrations;
  for (const char* id : {"E-1", "E-2", "E-3", "E-4"})
    registrations.push_back(registration(net, id));
  check_all_committed(net.submit_batch(registrations), registrations);

  std::vector<Transaction> handovers;
  for (const char* id : {"E-3", "E-1", "E-4", "E-2"}) handovers.push_back(handover(net, id));
  Reply r = net.submit_batch(handovers);
  check_all_committed(r, handovers);
  for (const char* id : {"E-1", "E-2", "E-3", "E-4"}) {
    CHECK(net.state(std::string("item/") + id)->at("custodian") == "analyst");
  }
  // Each result is what GET /v1/transactions/{id} says of that transaction.
  for (std::size_t i = 0; i < handovers.size(); ++i) {
    Reply tx = net.get("/v1/transactions/" + handovers[i].id().hex(), "analyst");
    REQUIRE(tx.status == 200);
    CHECK(tx.body["height"] == r.body["results"][i]["height"]);
    CHECK(tx.body["index"] == r.body["results"][i]["index"]);
  }

  SUBCASE("without wait every admitted entry is pending, and commits after") {
    std::vector<Transaction> txs = {enrolment(net, "p1"), enrolment(net, "p2")};
    Reply pending = net.submit_batch(txs, "");
    REQUIRE(pending.status == 200);
    for (std::size_t i = 0; i < txs.size(); ++i) {
      CHECK(pending.body["results"][i]["status"] == "pending");
      CHECK(pending.body["results"][i]["tx_id"] == txs[i].id().hex());
    }
    auto records =
        net.node().wait_for_commits({txs[0].id(), txs[1].id()}, std::chrono::milliseconds(10'000));
    CHECK(records[0].has_value());
    CHECK(records[1].has_value());
  }
}

TEST_CASE("a batch with one malformed entry is refused whole: 400 with its index") {
  TestNetwork net;
  std::uint64_t height = net.height();
  std::uint64_t admitted = net.node().counters().txs_admitted;
  Transaction first = enrolment(net, "first");
  Transaction last = enrolment(net, "last");
  Json entries = Json::array({first.to_json(), enrolment(net, "middle").to_json(), last.to_json()});

  SUBCASE("a member of the wrong type") {
    entries[1]["created_at_ms"] = "yesterday";
    Reply r = net.post_batch_raw(Json{{"transactions", entries}}.dump());
    check_problem(r, 400, "bad_tx");
    CHECK(r.body["index"] == 1);
  }
  SUBCASE("an entry that is not an object") {
    entries[1] = 5;
    Reply r = net.post_batch_raw(Json{{"transactions", entries}}.dump());
    check_problem(r, 400, "bad_tx");
    CHECK(r.body["index"] == 1);
  }
  SUBCASE("an unknown member, last") {
    entries[2]["extra"] = true;
    Reply r = net.post_batch_raw(Json{{"transactions", entries}}.dump(), "");
    check_problem(r, 400, "bad_tx");
    CHECK(r.body["index"] == 2);
  }
  SUBCASE("an entry over the envelope limit") {
    Transaction big = net.make_tx("custody.examine", {{"blob", std::string(70'000, 'x')}});
    entries[1] = big.to_json();
    Reply r = net.post_batch_raw(Json{{"transactions", entries}}.dump());
    check_problem(r, 400, "bad_tx");
    CHECK(r.body["index"] == 1);
  }
  // Nothing was admitted: the valid entries are neither committed nor
  // queued, and each still commits on its own, which a replay could not.
  CHECK(net.node().counters().txs_admitted == admitted);
  CHECK(net.node().orderer().pending_txs() == 0);
  CHECK(net.height() == height);
  CHECK(net.submit(first).status == 200);
  CHECK(net.submit(last).status == 200);
}

TEST_CASE("a batch of the wrong shape or size, or a bad wait, is 400 with nothing admitted") {
  TestNetwork net([](node::NodeConfig& c) {
    c.http.batch_txs_max = 3;
    c.http.batch_bytes_max = 64 * 1024;
  });
  std::uint64_t admitted = net.node().counters().txs_admitted;
  auto entries = [&](int n) {
    Json a = Json::array();
    for (int i = 0; i < n; ++i) a.push_back(enrolment(net, "e" + std::to_string(i)).to_json());
    return a;
  };
  check_problem(net.post_batch_raw(R"({"transactions": [])"), 400, "bad_batch");
  Reply too_many = net.post_batch_raw(Json{{"transactions", entries(4)}}.dump());
  check_problem(too_many, 400, "bad_batch");
  CHECK(too_many.body["detail"].get<std::string>().find("1 to 3") != std::string::npos);
  for (const char* body :
       {"", "not json", "null", "[]", "{}", R"({"transactions": {}})", R"({"transactions": null})",
        R"({"txs": []})", R"([{"transactions": []}])", R"({"transactions": [], "extra": 1})",
        // Not JSON as the node reads it: a duplicate key, a fraction.
        R"({"transactions": [], "transactions": []})", R"({"transactions": [1.5]})"}) {
    CAPTURE(body);
    check_problem(net.post_batch_raw(body), 400, "bad_batch");
  }
  check_problem(net.post_batch_raw(Json{{"transactions", entries(1)}}.dump(), "?wait=forever"), 400,
                "bad_parameter");
  // Over http.batch_bytes_max: refused before it is read as JSON.
  Json big = Json::array({std::string(70'000, 'x')});
  check_problem(net.post_batch_raw(Json{{"transactions", big}}.dump()), 413, "body_too_large");
  CHECK(net.node().counters().txs_admitted == admitted);
  CHECK(net.height() == 0);
  // And the limits leave a batch within them alone.
  std::vector<Transaction> three = {enrolment(net, "x1"), enrolment(net, "x2"),
                                    enrolment(net, "x3")};
  check_all_committed(net.submit_batch(three), three);
}

TEST_CASE("entries refused at admission get their own result; the rest commit") {
  TestNetwork net;
  Transaction committed_before = enrolment(net, "before");
  REQUIRE(net.submit(committed_before).status == 200);
  Transaction fresh = enrolment(net, "fresh");
  Transaction stranger = net.signed_tx(
      "custody.open_case", {{"case_id", "C-9"}, {"reference", "r"}, {"member_orgs", {"lab"}}},
      {"stranger"});
  Transaction tampered = enrolment(net, "tampered");
  tampered.args["roles"] = Json::array({"auditor"});  // after signing
  Transaction last = enrolment(net, "last");
  Reply r = net.submit_batch({fresh, fresh, committed_before, stranger, tampered, last});
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  CHECK(r.retry_after.empty());
  const Json& results = r.body["results"];
  REQUIRE(results.size() == 6);
  CHECK(results[0]["status"] == "committed");
  struct Refusal {
    std::size_t index;
    const char* code;
    int http_status;
  };
  for (auto [i, code, status] :
       {Refusal{1, "DUPLICATE_TX", 409}, Refusal{2, "DUPLICATE_TX", 409},
        Refusal{3, "UNKNOWN_SIGNER", 403}, Refusal{4, "BAD_SIGNATURE", 400}}) {
    CAPTURE(i);
    CHECK(results[i]["status"] == "refused");
    CHECK(results[i]["code"] == code);
    CHECK(results[i]["http_status"] == status);
    CHECK(results[i]["message"].is_string());
  }
  CHECK(results[1]["tx_id"] == fresh.id().hex());
  CHECK(results[3]["tx_id"] == stranger.id().hex());
  CHECK(results[5]["status"] == "committed");
  CHECK(results[5]["tx_id"] == last.id().hex());
  CHECK(net.state("identity/fresh"));
  CHECK(!net.state("case/C-9"));
  CHECK(!net.state("identity/tampered"));
}

TEST_CASE("a committed entry that breaks a rule at execution is failed, with its code") {
  TestNetwork net;
  setup_case(net);
  Transaction reg = registration(net, "E-1");
  Transaction wrong = handover_by_non_custodian(net, "E-1");
  Reply r = net.submit_batch({reg, wrong});
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  CHECK(r.body["results"][0]["status"] == "committed");
  const Json& failed = r.body["results"][1];
  CHECK(failed["status"] == "failed");
  CHECK(failed["code"] == "NOT_CUSTODIAN");
  CHECK(failed["message"].is_string());
  CHECK(failed["height"].is_number_integer());
  CHECK(failed["index"].is_number_integer());
  CHECK(net.state("item/E-1")->at("custodian") == "inv");
}

TEST_CASE("a full mempool: busy entries, Retry-After on the answer") {
  // The orderer holds a lone tx for a minute waiting for company, so the
  // second entry finds the one-slot mempool full.
  TestNetwork net([](node::NodeConfig& c) {
    c.mempool.txs_max = 1;
    c.block.wait_ms_max = 60'000;
  });
  std::vector<Transaction> txs = {enrolment(net, "a"), enrolment(net, "b")};
  Reply r = net.submit_batch(txs, "");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  CHECK(r.retry_after == "1");
  CHECK(r.body["results"][0]["status"] == "pending");
  const Json& busy = r.body["results"][1];
  CHECK(busy["status"] == "busy");
  CHECK(busy["code"] == "mempool_full");
  CHECK(busy["tx_id"] == txs[1].id().hex());
  CHECK(busy["message"].is_string());
}

TEST_CASE("wait=commit waits once for the whole batch; what did not commit in time is pending") {
  // Blocks wait a minute for company, so nothing commits within the 500 ms
  // the gateway waits.
  TestNetwork net([](node::NodeConfig& c) {
    c.block.wait_ms_max = 60'000;
    c.http.commit_wait_ms_max = 500;
  });
  std::vector<Transaction> txs;
  for (int i = 0; i < 20; ++i) txs.push_back(enrolment(net, "p" + std::to_string(i)));
  auto start = std::chrono::steady_clock::now();
  Reply r = net.submit_batch(txs);
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    CHECK(r.body["results"][i]["status"] == "pending");
    CHECK(r.body["results"][i]["tx_id"] == txs[i].id().hex());
  }
  // One bound for the batch, not one per entry (that would be at least
  // 20 x 500 ms): which of the two, not how fast, hence the wide margin.
  CHECK(waited < std::chrono::milliseconds(5'000));
}

TEST_CASE("wait_for_commits: records in order, nullopt for what is not committed by the timeout") {
  TestNetwork net;
  Transaction tx = enrolment(net, "a");
  REQUIRE(net.submit(tx).status == 200);
  Hash256 unknown = sha256("never submitted");
  auto records =
      net.node().wait_for_commits({unknown, tx.id(), unknown}, std::chrono::milliseconds(50));
  REQUIRE(records.size() == 3);
  CHECK_FALSE(records[0].has_value());
  REQUIRE(records[1].has_value());
  CHECK(records[1]->tx_id == tx.id());
  CHECK_FALSE(records[2].has_value());
  CHECK(net.node().wait_for_commits({}, std::chrono::milliseconds(50)).empty());
  CHECK(net.node().wait_for_commit(tx.id(), std::chrono::milliseconds(0))->tx_id == tx.id());
}

TEST_CASE("body limits: the single route keeps http.body_bytes_max, the batch its own") {
  TestNetwork net;  // body_bytes_max 16 KiB, batch_bytes_max 4 MiB
  Transaction big = net.make_tx("custody.examine", {{"blob", std::string(20'000, 'x')}});
  Reply single = net.submit(big);
  check_problem(single, 413, "body_too_large");
  CHECK(single.body["detail"].get<std::string>().find("http.body_bytes_max") != std::string::npos);
  // The same envelope in a batch is within the batch's limit: it is read,
  // and judged for what it is (unsigned).
  Reply batch = net.post_batch_raw(TestNetwork::batch_body({big}));
  REQUIRE_MESSAGE(batch.status == 200, batch.body.dump());
  CHECK(batch.body["results"][0]["status"] == "refused");
  CHECK(batch.body["results"][0]["code"] == "UNSIGNED");
  // Over the largest limit the server itself refuses it, with the same problem.
  check_problem(net.post_batch_raw(std::string(5 << 20, ' ')), 413, "body_too_large");
  CHECK(net.height() == 0);
}

TEST_CASE("malformed batches never take the node down") {
  TestNetwork net;
  std::string deep(100'000, '[');
  std::string nested = R"({"transactions": [)" + std::string(70, '[') + std::string(70, ']') + "]}";
  for (const std::string& body :
       {deep, nested, std::string(R"({"transactions": [)"),
        std::string("{\"transactions\": [\xff]}"), std::string("{\"transactions\": []}\0{}", 23),
        std::string(R"({"transactions": [null]})"), std::string(R"({"transactions": [[]]})"),
        std::string(R"({"transactions": [""]})"),
        std::string(R"({"transactions": [99999999999999999999]})"),
        R"({"transactions": [")" + std::string(3 << 20, 'a') + R"("]})",
        R"({"transactions": [)" + std::string(1200, '{') + "]}"}) {
    Reply r = net.post_batch_raw(body);
    CHECK_MESSAGE(r.status == 400, body.substr(0, 60));
    CHECK(r.content_type == "application/problem+json");
  }
  CHECK(net.get_with("/healthz", "").status == 200);
  std::vector<Transaction> ok = {enrolment(net, "after")};
  check_all_committed(net.submit_batch(ok), ok);
}

TEST_CASE("wait_for_commits answers exactly what tx() answers, for blocks applied while it waits") {
  // Blocks of at most 3, so the batch below commits over several blocks
  // while the waiter waits.
  TestNetwork net([](node::NodeConfig& c) {
    c.block.txs_max = 3;
    c.block.wait_ms_max = 20;
  });
  setup_case(net);
  Transaction reg = registration(net, "E-1");
  // Fails at execution: a code and a message to carry.
  Transaction wrong = handover_by_non_custodian(net, "E-1");
  std::vector<Transaction> txs = {reg, wrong};
  for (int i = 2; i <= 8; ++i) txs.push_back(registration(net, "E-" + std::to_string(i)));
  std::vector<Hash256> ids;
  for (const auto& tx : txs) ids.push_back(tx.id());
  ids.push_back(ids[1]);  // asked for twice
  ids.push_back(sha256("never submitted"));
  auto waiting = std::async(std::launch::async, [&] {
    return net.node().wait_for_commits(ids, std::chrono::milliseconds(2'000));
  });
  Reply r = net.submit_batch(txs, "");
  REQUIRE_MESSAGE(r.status == 200, r.body.dump());
  auto records = waiting.get();
  REQUIRE(records.size() == ids.size());
  std::set<std::uint64_t> heights;
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    CAPTURE(i);
    REQUIRE(records[i].has_value());
    auto stored = net.node().ledger().tx(ids[i]);
    REQUIRE(stored.has_value());
    CHECK(records[i]->tx_id == stored->tx_id);
    CHECK(records[i]->height == stored->height);
    CHECK(records[i]->index == stored->index);
    CHECK(records[i]->code == stored->code);
    CHECK(records[i]->message == stored->message);
    CHECK(records[i]->log_index == stored->log_index);
    heights.insert(stored->height);
  }
  CHECK(records[1]->code == "NOT_CUSTODIAN");
  CHECK_FALSE(records[1]->message.empty());
  CHECK(heights.size() >= 3);
  CHECK_FALSE(records.back().has_value());
}
