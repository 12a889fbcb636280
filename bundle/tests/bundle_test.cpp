// Court bundles end to end over a real ledger: blocks executed by the real
// registry (and, for the attacks an honest network never commits, blocks
// whose effects were forged), heads signed with the nodes' keys, bundles
// built by build_bundle and checked by verify_bundle. Every tampering must
// fail, naming the check that catches it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>

#include "bundle/bundle.h"
#include "chaincode/custody.h"
#include "chaincode/registry.h"
#include "core/block.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "core/tx.h"
#include "ledger/commitments.h"
#include "ledger/ledger.h"
#include "ledger/tests/ledger_test_util.h"
#include "node/orderer.h"

namespace custos::bundle {
namespace {

using ledger::testing::kEpochMs;
using ledger::testing::kNet;

PrivateKey key_number(std::uint32_t n) {
  std::uint8_t secret[32] = {};
  for (int i = 0; i < 4; ++i) secret[31 - i] = static_cast<std::uint8_t>((n + 1) >> (8 * i));
  auto key = PrivateKey::from_bytes(secret);
  REQUIRE(key.ok());
  return std::move(*key);
}

// A network's ledger driven directly, with three genesis nodes whose keys
// the test holds.
class Net {
  ledger::testing::TempDir dir_;  // first: removed after the ledger closes

 public:
  Net() {
    genesis.network_id = kNet;
    genesis.created_at_ms = kEpochMs;
    add_key("admin.police");
    add_key("admin.lab");
    genesis.orgs.push_back({"police", "Police", "police", {{"admin.police", pub("admin.police")}}});
    genesis.orgs.push_back({"lab", "Forensic lab", "forensic_lab", {{"admin.lab", pub("admin.lab")}}});
    for (const char* n : {"node1", "node2", "node3"}) {
      add_key(n);
      genesis.nodes.push_back({n, "police", pub(n)});
    }
    auto checked = genesis_from_json(genesis.to_json());
    REQUIRE_MESSAGE(checked.ok(), checked.error().message);
    ledger = ledger::testing::open_ok(dir_.path());
    auto [block, effects] = chaincode::genesis_block(genesis);
    REQUIRE(ledger->commit_block(block, effects).ok());
  }
  void add_key(const std::string& who) { keys.insert_or_assign(who, key_number(next_key_++)); }
  PublicKey pub(const std::string& who) const { return keys.at(who).public_key(); }

  Transaction tx(std::string_view function, Json args, std::vector<std::string> signers) {
    Transaction t;
    t.network_id = kNet;
    auto dot = function.find('.');
    t.chaincode = std::string(function.substr(0, dot));
    t.function = std::string(function.substr(dot + 1));
    t.args = std::move(args);
    char nonce[17];
    std::snprintf(nonce, sizeof nonce, "%016x", ++nonce_);
    t.nonce = nonce;
    t.created_at_ms = now_;
    for (const auto& s : signers) REQUIRE(t.sign(keys.at(s)).ok());
    return t;
  }

  // One block executed by the real registry; every tx must succeed.
  void commit(std::vector<Transaction> txs) {
    Block b = next(std::move(txs));
    auto effects = chaincode::execute_block(*ledger, registry, b);
    for (const auto& r : effects.txs) REQUIRE_MESSAGE(r.code == "OK", r.code << ": " << r.message);
    REQUIRE(ledger->commit_block(b, effects).ok());
  }

  // One block whose effects are each tx's effects when executed ALONE on
  // the current state: what a dishonest majority could commit (a tx later
  // in the block is not refused for what an earlier one changed).
  void commit_forged(std::vector<Transaction> txs) {
    ledger::BlockEffects all;
    for (std::size_t i = 0; i < txs.size(); ++i) {
      Block alone = next({txs[i]});
      auto e = chaincode::execute_block(*ledger, registry, alone);
      REQUIRE_MESSAGE(e.txs[0].code == "OK", e.txs[0].code << ": " << e.txs[0].message);
      e.txs[0].index = static_cast<std::uint32_t>(i);
      all.txs.push_back(e.txs[0]);
      all.writes.insert(all.writes.end(), e.writes.begin(), e.writes.end());
      all.history.insert(all.history.end(), e.history.begin(), e.history.end());
    }
    Block b = next(std::move(txs));
    for (auto& r : all.txs) r.height = b.header.height;
    all.results_hash = chaincode::results_hash_of(all.txs, all.writes, all.history);
    REQUIRE(ledger->commit_block(b, all).ok());
  }

  std::uint64_t height() const { return ledger->head()->height; }

  HeadStatement statement(std::uint64_t h) const {
    auto roots = ledger->roots(h);
    REQUIRE(roots.has_value());
    return {kNet, h, ledger->block(h)->header.hash(), *ledger->results_hash(h), roots->log_size,
            roots->log_root, roots->state_root};
  }

  SignedHead signed_by(std::uint64_t h, const std::vector<std::string>& nodes) const {
    SignedHead s{statement(h), {}};
    for (const auto& n : nodes) s.signatures.push_back(sign_head(n, keys.at(n), s.head));
    std::sort(s.signatures.begin(), s.signatures.end(),
              [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
    return s;
  }

  Json bundle(const std::string& item) {
    auto b = build_bundle(*ledger, item, [&](std::uint64_t h) {
      return std::optional<SignedHead>(signed_by(h, signing_nodes));
    });
    REQUIRE_MESSAGE(b.ok(), b.error().code << ": " << b.error().message);
    return *b;
  }

  VerifyReport verify(const Json& bundle) const { return verify_bundle(bundle, genesis); }

  // The usual story: enrolment, a case, an item seized, handed to the lab,
  // examined twice with a key rotation between.
  void custody_story() {
    add_key("inv");
    add_key("analyst");
    commit({tx("identity.enrol",
               {{"id", "inv"}, {"org", "police"}, {"roles", {"investigator"}}, {"public_key", pub("inv").hex()}},
               {"admin.police"}),
            tx("identity.enrol",
               {{"id", "analyst"}, {"org", "lab"}, {"roles", {"forensic_analyst"}},
                {"public_key", pub("analyst").hex()}},
               {"admin.lab"})});
    commit({tx("custody.open_case", {{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", {"lab"}}},
               {"inv"})});
    commit({tx("custody.register",
               {{"case_id", "C-1"}, {"item_id", "E-1"}, {"kind", "physical"}, {"description", "phone"},
                {"content_hash", nullptr}, {"seal_numbers", {"S-1"}}, {"location", "room 1"},
                {"seized_at_ms", now_ - 1000}, {"place", "Rotterdam"}, {"legal_authority_ref", "RC-1"}},
               {"inv"})});
    commit({tx("custody.handover",
               {{"item_id", "E-1"}, {"to", "analyst"}, {"purpose", "extraction"}, {"location", "lab"},
                {"seals_intact", true}, {"seal_numbers", {"S-1"}}, {"condition", "as seized"},
                {"declared_at_ms", now_}},
               {"inv", "analyst"})});
    examine("first look");
    rotate_analyst_key();
    examine("chip-off");
  }

  void examine(const std::string& method) {
    commit({tx("custody.examine",
               {{"item_id", "E-1"}, {"method", method}, {"findings_hash", nullptr}, {"declared_at_ms", now_}},
               {"analyst"})});
  }

  void rotate_analyst_key() {
    PrivateKey fresh = key_number(next_key_++);
    Transaction t = tx("identity.rotate_key", {{"id", "analyst"}, {"public_key", fresh.public_key().hex()}},
                       {"analyst"});
    keys.insert_or_assign("analyst", std::move(fresh));
    commit({t});
  }

  Genesis genesis;
  std::map<std::string, PrivateKey> keys;
  std::unique_ptr<ledger::Ledger> ledger;
  chaincode::Registry registry;
  std::vector<std::string> signing_nodes{"node1", "node2", "node3"};

 private:
  Block next(std::vector<Transaction> txs) {
    now_ += 1000;
    return node::next_block(kNet, *ledger->head(), now_, "node1", std::move(txs));
  }

  std::uint32_t next_key_ = 0;
  std::uint32_t nonce_ = 0;
  std::int64_t now_ = kEpochMs;
};

// The name of the check that failed, or "" if the bundle verified.
std::string failed_check(const VerifyReport& r) { return r.failed() ? r.failed()->name : ""; }

void expect_failure(const VerifyReport& r, std::string_view check, std::string_view words) {
  INFO(r.to_text());
  REQUIRE_FALSE(r.ok);
  CHECK(failed_check(r) == check);
  CHECK(r.failed()->detail.find(words) != std::string::npos);
}

Json& tx_entry(Json& bundle, std::string_view function) {
  for (Json& t : bundle["transactions"]) {
    if (t["tx"]["chaincode"].get<std::string>() + "." + t["tx"]["function"].get<std::string>() == function) {
      return t;
    }
  }
  FAIL("no transaction " << function);
  return bundle;
}

Json& identity_entry(Json& bundle, std::string_view id) {
  for (Json& i : bundle["identities"]) {
    if (i["identity_id"] == id) return i;
  }
  FAIL("no identity " << id);
  return bundle;
}

TEST_CASE("a bundle of an honest network verifies, with its timeline") {
  Net net;
  net.custody_story();
  Json b = net.bundle("E-1");
  VerifyReport r = net.verify(b);
  INFO(r.to_text());
  REQUIRE(r.ok);
  CHECK(r.checks.size() == std::size(kCheckNames));
  for (std::size_t i = 0; i < r.checks.size(); ++i) CHECK(r.checks[i].name == kCheckNames[i]);
  REQUIRE(r.timeline.size() == 4);
  CHECK(r.timeline[0]["type"] == "register");
  CHECK(r.timeline[1]["type"] == "handover");
  CHECK(r.timeline[1]["signers"][1]["identity"] == "analyst");
  CHECK(r.timeline[3]["signers"][0]["org"] == "lab");
  CHECK(r.head_signers == std::vector<std::string>{"node1", "node2", "node3"});
  CHECK(r.head->height == net.height());
  // The signers' chains are there: the investigator, the analyst (with
  // their rotation) and the two admins who enrolled them.
  std::vector<std::string> ids;
  for (const Json& i : b["identities"]) ids.push_back(i["identity_id"]);
  CHECK(ids == std::vector<std::string>{"admin.lab", "admin.police", "analyst", "inv"});
  CHECK(identity_entry(b, "analyst")["events"].size() == 2);
  CHECK(identity_entry(b, "admin.lab")["events"].empty());
  // Round trip through text, as a court receives it.
  auto reparsed = parse_json_strict(b.dump(2));
  REQUIRE(reparsed.ok());
  CHECK(net.verify(*reparsed).ok);
  CHECK(r.to_json()["verified"] == true);
  CHECK(r.to_text().find("VERIFIED") != std::string::npos);
}

TEST_CASE("a majority of the nodes is enough; fewer is not") {
  Net net;
  net.custody_story();
  net.signing_nodes = {"node1", "node3"};
  CHECK(net.verify(net.bundle("E-1")).ok);
  net.signing_nodes = {"node2"};
  expect_failure(net.verify(net.bundle("E-1")), "head_signatures", "1 valid node signature");
}

TEST_CASE("tampering: every kind is caught by the check it concerns") {
  Net net;
  net.custody_story();
  const Json good = net.bundle("E-1");
  REQUIRE(net.verify(good).ok);
  const std::uint64_t older_height = net.height() - 2;
  Json b = good;

  SUBCASE("a byte flipped in an event") {
    b["item"]["events"][1]["block_time_ms"] = b["item"]["events"][1]["block_time_ms"].get<std::int64_t>() ^ 1;
    expect_failure(net.verify(b), "history_chain", "event_hash does not recompute");
  }
  SUBCASE("an event's data changed from its transaction's") {
    std::string& loc = b["item"]["events"][1]["data"]["location"].get_ref<std::string&>();
    loc[0] ^= 1;
    expect_failure(net.verify(b), "event_txs", "not its transaction's arguments");
  }
  SUBCASE("an event's type changed") {
    b["item"]["events"][2]["type"] = "destroy";
    expect_failure(net.verify(b), "event_txs", "custody.examine transaction");
  }
  SUBCASE("an event dropped") {
    b["item"]["events"].erase(1);
    expect_failure(net.verify(b), "history_chain", "an event is missing");
  }
  SUBCASE("two events reordered") {
    std::swap(b["item"]["events"][1], b["item"]["events"][2]);
    expect_failure(net.verify(b), "history_chain", "item E-1");
  }
  SUBCASE("the last event dropped (truncation)") {
    b["item"]["events"].erase(3);
    expect_failure(net.verify(b), "completeness", "cut off");
  }
  SUBCASE("a transaction's signature replaced") {
    Json& sig = tx_entry(b, "custody.handover")["tx"]["signatures"][1]["signature"];
    sig = net.keys.at("inv").sign(as_bytes("something else")).hex();
    expect_failure(net.verify(b), "tx_signatures", "signature 1");
  }
  SUBCASE("an older head swapped in") {
    b["signed_head"] = net.signed_by(older_height, {"node1", "node2", "node3"}).to_json();
    expect_failure(net.verify(b), "log_inclusion", "older than the bundle's contents");
  }
  SUBCASE("a signer's enrolment removed") {
    Json kept = Json::array();
    for (const Json& i : b["identities"]) {
      if (i["identity_id"] != "inv") kept.push_back(i);
    }
    b["identities"] = kept;
    expect_failure(net.verify(b), "signers", "enrolment is missing");
  }
  SUBCASE("a signer's enrolment event removed from its chain") {
    identity_entry(b, "analyst")["events"].erase(0);
    expect_failure(net.verify(b), "signers", "identity analyst event 1: rotates the key of an identity not enrolled");
  }
  SUBCASE("a signer's key rotation hidden") {
    identity_entry(b, "analyst")["events"].erase(1);
    expect_failure(net.verify(b), "signers", "enrolment is missing");
  }
  SUBCASE("the head's signatures cut below a majority") {
    b["signed_head"]["signatures"].erase(2);
    b["signed_head"]["signatures"].erase(1);
    expect_failure(net.verify(b), "head_signatures", "2 of 3 members needed");
  }
  SUBCASE("a byte of the head changed") {
    std::string& root = b["signed_head"]["head"]["state_root"].get_ref<std::string&>();
    root[0] = root[0] == 'a' ? 'b' : 'a';
    expect_failure(net.verify(b), "head_signatures", "does not verify");
  }
  SUBCASE("a transaction's arguments changed") {
    tx_entry(b, "custody.handover")["tx"]["args"]["purpose"] = "destruction";
    expect_failure(net.verify(b), "tx_signatures", "was altered");
  }
  SUBCASE("a result code changed") {
    tx_entry(b, "custody.examine")["leaf"]["code"] = "NOT_CUSTODIAN";
    expect_failure(net.verify(b), "event_txs", "failed with NOT_CUSTODIAN");
  }
  SUBCASE("an inclusion proof altered") {
    std::string& h = tx_entry(b, "custody.register")["inclusion_proof"][0].get_ref<std::string&>();
    h[5] = h[5] == '0' ? '1' : '0';
    expect_failure(net.verify(b), "log_inclusion", "inclusion proof does not lead");
  }
  SUBCASE("a head signed by a node that is not a member") {
    net.add_key("node9");
    SignedHead s = net.signed_by(net.height(), {"node1", "node9"});
    b["signed_head"] = s.to_json();
    expect_failure(net.verify(b), "head_signatures", "not a member");
  }
  SUBCASE("another network's genesis") {
    Genesis other = net.genesis;
    other.created_at_ms += 1;
    expect_failure(verify_bundle(b, other), "genesis", "another network");
  }
  SUBCASE("a transaction listed twice") {
    b["transactions"].push_back(b["transactions"].back());
    b["transactions"].back()["log_index"] = b["transactions"].back()["log_index"].get<std::uint64_t>() + 1;
    expect_failure(net.verify(b), "bundle_format", "appears twice");
  }
  SUBCASE("a leaf's tx id that is not hex (nor valid UTF-8 when cut)") {
    b["transactions"][0]["leaf"]["tx_id"] = "a\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9";
    VerifyReport r = net.verify(b);
    expect_failure(r, "bundle_format", "64 lowercase hex digits");
    CHECK_NOTHROW((void)r.to_json().dump());
  }
  SUBCASE("not a bundle") {
    b.erase("nodes");
    expect_failure(net.verify(b), "bundle_format", "lacks \"nodes\"");
    expect_failure(net.verify(Json::array()), "bundle_format", "JSON object");
    Json odd = good;
    odd["item"]["events"][0]["seq"] = "zero";
    CHECK_FALSE(net.verify(odd).ok);  // never a crash
  }
}

// Re-links a list of events into a chain from seq 0.
Json rechain(std::vector<Json> events) {
  std::string prev(chaincode::kNoPrevEventHash);
  for (std::size_t i = 0; i < events.size(); ++i) {
    events[i]["seq"] = i;
    events[i]["prev_event_hash"] = prev;
    events[i].erase("event_hash");
    auto h = chaincode::compute_event_hash(events[i]);
    REQUIRE(h.ok());
    events[i]["event_hash"] = prev = h->hex();
  }
  return events;
}

TEST_CASE("a fabricated node membership and a head signed by its own node fail") {
  // Whoever edits the bundle writes node events that add a node of their
  // own and remove the real ones, each borrowing a real signed transaction;
  // drops the handover; and builds a log, a state map and a head that fit.
  Net net;
  net.custody_story();
  Json b = net.bundle("E-1");
  const Json reg = tx_entry(b, "custody.register");
  PrivateKey evil = key_number(99'999);
  auto node_event = [&](std::string type, Json data) {
    return Json{{"network_id", kNet}, {"type", type}, {"tx_id", reg["leaf"]["tx_id"]},
                {"height", reg["leaf"]["height"]}, {"block_time_ms", b["item"]["events"][0]["block_time_ms"]},
                {"actor", "inv"}, {"cosigners", Json::array()}, {"data", data}};
  };
  b["nodes"]["events"] = rechain(
      {node_event("add_node", {{"node_id", "evil"}, {"org", "police"}, {"public_key", evil.public_key().hex()}}),
       node_event("remove_node", {{"node_id", "node1"}}), node_event("remove_node", {{"node_id", "node2"}}),
       node_event("remove_node", {{"node_id", "node3"}})});
  std::vector<Json> item;
  for (const Json& e : b["item"]["events"]) {
    if (e["type"] != "handover") item.push_back(e);
  }
  b["item"]["events"] = rechain(item);
  Json txs = Json::array();
  for (const Json& t : b["transactions"]) {
    if (t["tx"]["function"] != "handover") txs.push_back(t);
  }
  b["transactions"] = txs;
  // A log holding the bundle's leaves, a state map holding its chains.
  const std::uint64_t size = b["signed_head"]["head"]["log_size"];
  std::vector<Hash256> leaves(size);
  for (const Json& t : b["transactions"]) {
    leaves[t["log_index"].get<std::uint64_t>()] = merkle_leaf_hash(as_bytes(*canonical_json(t["leaf"])));
  }
  for (Json& t : b["transactions"]) {
    Json path = Json::array();
    for (const Hash256& h : merkle_inclusion_proof(leaves, t["log_index"].get<std::uint64_t>())) {
      path.push_back(h.hex());
    }
    t["inclusion_proof"] = path;
  }
  std::vector<std::pair<std::string, Json*>> chains{{"item/E-1", &b["item"]}, {"nodes", &b["nodes"]}};
  for (Json& i : b["identities"]) chains.emplace_back("identity/" + i["identity_id"].get<std::string>(), &i);
  std::vector<SmtChange> changes;
  for (auto& [key, chain] : chains) {
    const Json& events = (*chain)["events"];
    if (!events.empty()) changes.push_back({key, ledger::history_head_value(events.back(), events.back()["seq"])});
  }
  MemorySmtStore store;
  auto update = smt_update(store, changes);
  REQUIRE(update.ok());
  store.apply(update->writes);
  for (auto& [key, chain] : chains) (*chain)["state_proof"] = smt_proof_to_json(smt_prove(store, key)->proof);
  HeadStatement head = *HeadStatement::from_json(b["signed_head"]["head"]);
  head.log_root = merkle_root(leaves);
  head.state_root = update->root;
  b["signed_head"] = SignedHead{head, {sign_head("evil", evil, head)}}.to_json();

  expect_failure(net.verify(b), "event_txs",
                 "node membership event 0 does not match its transaction");
}

TEST_CASE("a signer revoked before it signed fails, though the network committed it") {
  Net net;
  net.custody_story();
  // A dishonest majority commits the revocation and then an examination by
  // the revoked analyst in one block, each executed as if alone.
  net.commit_forged(
      {net.tx("identity.revoke", {{"id", "analyst"}, {"reason", "KEYLOSS-7"}}, {"admin.lab"}),
       net.tx("custody.examine",
              {{"item_id", "E-1"}, {"method", "after revocation"}, {"findings_hash", nullptr},
               {"declared_at_ms", kEpochMs + 60'000}},
              {"analyst"})});
  Json b = net.bundle("E-1");
  expect_failure(net.verify(b), "signers", "was revoked at height");
}

TEST_CASE("a key used after it was rotated away fails") {
  Net net;
  net.custody_story();
  // In one block the analyst rotates its key and then signs with the old
  // one; a dishonest majority committed both.
  Transaction rotate = net.tx("identity.rotate_key",
                              {{"id", "analyst"}, {"public_key", key_number(1000).public_key().hex()}},
                              {"analyst"});
  Transaction examine = net.tx("custody.examine",
                               {{"item_id", "E-1"}, {"method", "late"}, {"findings_hash", nullptr},
                                {"declared_at_ms", kEpochMs + 60'000}},
                               {"analyst"});
  net.commit_forged({rotate, examine});
  expect_failure(net.verify(net.bundle("E-1")), "signers", "rotated away");
}

TEST_CASE("bundles across node membership changes and key rotations") {
  Net net;
  net.custody_story();
  net.add_key("node4");
  net.commit({net.tx("identity.add_node", {{"id", "node4"}, {"org", "police"}, {"public_key", net.pub("node4").hex()}},
                     {"admin.police"})});
  net.commit({net.tx("identity.remove_node", {{"id", "node3"}}, {"admin.police"})});
  net.add_key("node1-new");
  net.commit({net.tx("identity.rotate_node_key", {{"id", "node1"}, {"public_key", net.pub("node1-new").hex()}},
                     {"admin.police"})});
  net.keys.insert_or_assign("node1", std::move(net.keys.at("node1-new")));
  net.examine("after the membership change");

  // Members now: node1 (new key), node2, node4.
  net.signing_nodes = {"node1", "node4"};
  Json b = net.bundle("E-1");
  VerifyReport r = net.verify(b);
  INFO(r.to_text());
  REQUIRE(r.ok);
  CHECK(r.head_members == 3);
  CHECK(b["nodes"]["events"].size() == 3);

  SUBCASE("the removed node's signature does not count") {
    net.signing_nodes = {"node2", "node3"};
    expect_failure(net.verify(net.bundle("E-1")), "head_signatures", "not a member");
  }
  SUBCASE("hiding the newest membership change is caught") {
    b["nodes"]["events"].erase(2);
    expect_failure(net.verify(b), "head_signatures", "does not verify");
  }
  SUBCASE("hiding every membership change is caught") {
    // With the genesis membership, node2 and node3 would be a majority.
    b["nodes"]["events"] = Json::array();
    b["signed_head"] = net.signed_by(net.height(), {"node2", "node3"}).to_json();
    expect_failure(net.verify(b), "completeness", "node membership");
  }
}

}  // namespace
}  // namespace custos::bundle
