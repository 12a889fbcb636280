// The registry's shared checks and the block executor over a real ledger.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "chaincode/registry.h"
#include "chaincode/tests/testkit.h"

using namespace custos;
using namespace custos::chaincode;
namespace fs = std::filesystem;

namespace {

struct TempLedger {
  fs::path dir;
  std::unique_ptr<ledger::Ledger> ledger;
  explicit TempLedger(const std::string& name) {
    dir = fs::temp_directory_path() /
          ("custos-registry-test-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    ledger = std::move(ledger::Ledger::open(dir, {.sync_writes = false}).value());
  }
  ~TempLedger() {
    ledger.reset();
    fs::remove_all(dir);
  }
};

struct Fixture {
  PrivateKey admin = testkit::test_key(1);
  PrivateKey stranger = testkit::test_key(2);
  Genesis genesis;
  Registry registry;
  int nonce = 0;

  Fixture() {
    genesis.network_id = "custos-test";
    genesis.created_at_ms = testkit::kGenesisTimeMs;
    genesis.orgs.push_back({"police", "Police", "police", {{"police-admin", admin.public_key()}}});
    genesis.nodes.push_back({"node1", "police", testkit::test_key(3).public_key()});
  }

  Transaction enrol_tx(const std::string& id, const PrivateKey& key,
                       const std::vector<const PrivateKey*>& signers) {
    Transaction tx;
    tx.network_id = "custos-test";
    tx.chaincode = "identity";
    tx.function = "enrol";
    tx.args = {{"id", id},
               {"org", "police"},
               {"roles", {"investigator"}},
               {"public_key", key.public_key().hex()}};
    tx.nonce = "00000000000000" + std::to_string(10 + nonce++);
    tx.created_at_ms = testkit::kGenesisTimeMs;
    for (const auto* k : signers) REQUIRE(tx.sign(*k).ok());
    return tx;
  }

  void commit_genesis(ledger::Ledger& l) {
    auto [block, effects] = genesis_block(genesis);
    REQUIRE(l.commit_block(block, effects).ok());
  }

  Block next_block(ledger::Ledger& l, std::vector<Transaction> txs) {
    auto head = l.head().value();
    return make_block("custos-test", head.height + 1, head.block_hash, head.timestamp_ms + 1000,
                      "node1", head.results_hash, std::move(txs));
  }
};

}  // namespace

TEST_CASE("shared checks, in order") {
  Fixture f;
  testkit::MemoryState state;
  state.apply_writes(genesis_state_writes(f.genesis));
  BlockContext ctx{"custos-test", 1, testkit::kGenesisTimeMs + 1000};
  auto run = [&](const Transaction& tx) { return f.registry.execute(state, tx, tx.id(), ctx); };
  PrivateKey k = testkit::test_key(10);

  Transaction ok = f.enrol_tx("inv-1", k, {&f.admin});
  CHECK(run(ok).ok());
  CHECK(f.registry.admit(state, ok, ok.id(), ctx).ok());

  Transaction other_net = ok;
  other_net.network_id = "elsewhere";
  CHECK(run(other_net).code == code::kWrongNetwork);

  CHECK(run(f.enrol_tx("inv-1", k, {})).code == code::kUnsigned);

  Transaction tampered = ok;
  tampered.args["id"] = "inv-2";
  CHECK(run(tampered).code == code::kBadSignature);

  CHECK(run(f.enrol_tx("inv-1", k, {&f.stranger})).code == code::kUnknownSigner);

  Transaction unknown_cc = f.enrol_tx("inv-1", k, {});
  unknown_cc.chaincode = "weather";
  REQUIRE(unknown_cc.sign(f.admin).ok());
  CHECK(run(unknown_cc).code == code::kUnknownChaincode);

  Transaction unknown_fn = f.enrol_tx("inv-1", k, {});
  unknown_fn.function = "promote";
  REQUIRE(unknown_fn.sign(f.admin).ok());
  CHECK(run(unknown_fn).code == code::kUnknownFunction);
}

TEST_CASE("a block's transactions see each other's effects; duplicates change nothing") {
  Fixture f;
  TempLedger t("overlay");
  f.commit_genesis(*t.ledger);
  PrivateKey k = testkit::test_key(10);
  Transaction first = f.enrol_tx("inv-1", k, {&f.admin});
  // Same key again: only visible as KEY_IN_USE if the first tx's writes are seen.
  Transaction second = f.enrol_tx("inv-2", k, {&f.admin});
  Block block = f.next_block(*t.ledger, {first, second, first});
  auto effects = execute_block(*t.ledger, f.registry, block);
  REQUIRE(effects.txs.size() == 3);
  CHECK(effects.txs[0].code == code::kOk);
  CHECK(effects.txs[1].code == code::kKeyInUse);
  CHECK(effects.txs[2].code == code::kDuplicateTx);
  REQUIRE(t.ledger->commit_block(block, effects).ok());
  CHECK(t.ledger->tx(first.id())->code == code::kOk);  // the duplicate did not overwrite it
  CHECK(t.ledger->get("identity/inv-1").has_value());
  CHECK(!t.ledger->get("identity/inv-2").has_value());

  // In a later block, the already committed tx is a duplicate too.
  Block again = f.next_block(*t.ledger, {first});
  CHECK(execute_block(*t.ledger, f.registry, again).txs[0].code == code::kDuplicateTx);
}

TEST_CASE("replaying the same blocks on a fresh ledger gives the same results and state") {
  Fixture f;
  TempLedger a("replay-a"), b("replay-b");
  f.commit_genesis(*a.ledger);
  f.commit_genesis(*b.ledger);
  std::vector<Transaction> txs;
  for (int i = 0; i < 5; ++i) {
    PrivateKey k = testkit::test_key(20 + i);
    txs.push_back(f.enrol_tx("inv-" + std::to_string(i), k, {&f.admin}));
  }
  Block block = f.next_block(*a.ledger, txs);
  auto ea = execute_block(*a.ledger, f.registry, block);
  auto eb = execute_block(*b.ledger, f.registry, block);
  CHECK(ea.results_hash == eb.results_hash);
  REQUIRE(a.ledger->commit_block(block, ea).ok());
  REQUIRE(b.ledger->commit_block(block, eb).ok());
  CHECK(a.ledger->scan("", "", 1000) == b.ledger->scan("", "", 1000));
  CHECK(a.ledger->head()->results_hash == b.ledger->head()->results_hash);

  // The results hash depends on the outcome: a refused tx gives another hash.
  Block other = block;
  other.txs.pop_back();
  other.header = make_block("custos-test", 1, block.header.prev_hash, block.header.timestamp_ms,
                            "node1", block.header.prev_results_hash, other.txs)
                     .header;
  CHECK(execute_block(*b.ledger, f.registry, other).results_hash != ea.results_hash);
}

TEST_CASE("results_hash_of is the formula of docs/formats.md, written out as one document") {
  // The executor hashes the effects piece by piece; here the same formula is
  // built as one JSON document, the plain way.
  auto reference = [](const std::vector<ledger::TxRecord>& txs,
                      const std::vector<ledger::StateWrite>& writes,
                      const std::vector<ledger::HistoryAppend>& history) {
    Json effects = Json::array();
    for (const auto& w : writes) {
      effects.push_back(Json::array({"w", w.key, w.value ? *w.value : Json(nullptr)}));
    }
    for (const auto& h : history) effects.push_back(Json::array({"h", h.key, h.seq, h.event}));
    Json codes = Json::array();
    for (const auto& t : txs) codes.push_back(Json::array({t.tx_id.hex(), t.code}));
    Json doc = {{"txs", codes}, {"effects", sha256(canonical_json(effects).value()).hex()}};
    return tagged_hash(kResultsTag, canonical_json(doc).value());
  };
  const std::vector<ledger::TxRecord> txs = {
      {sha256(std::string_view("a")), 5, 0, code::kOk, ""},
      {sha256(std::string_view("b")), 5, 1, code::kBadSignature, "no"}};
  const std::vector<ledger::StateWrite> writes = {
      {"item/E-1", Json{{"custodian", "x"}, {"n", 2}}},
      {"caf\u00e9/\"q\"", Json::array({1, "\U0001F600", nullptr})},
      {"gone", std::nullopt}};
  const std::vector<ledger::HistoryAppend> history = {
      {"item/E-1", 0, Json{{"type", "register"}}}, {"item/E-1", 1, Json{{"type", "handover"}}}};
  CHECK(results_hash_of({}, {}, {}) == reference({}, {}, {}));
  CHECK(results_hash_of(txs, {}, {}) == reference(txs, {}, {}));
  CHECK(results_hash_of(txs, writes, {}) == reference(txs, writes, {}));
  CHECK(results_hash_of({}, {}, history) == reference({}, {}, history));
  CHECK(results_hash_of(txs, writes, history) == reference(txs, writes, history));
}

TEST_CASE("genesis block: prev_hash is the genesis hash, state holds the admins") {
  Fixture f;
  auto [block, effects] = genesis_block(f.genesis);
  CHECK(block.header.height == 0);
  CHECK(block.header.prev_hash == f.genesis.hash());
  CHECK(block.txs.empty());
  CHECK(effects.results_hash == results_hash_of({}, effects.writes, {}));
  testkit::MemoryState state;
  state.apply_writes(effects.writes);
  CHECK(resolve_signer(state, f.admin.public_key()).ok());
}

namespace {

// Transactions signed by World identities, for the checks that need no state.
struct StaticFixture {
  testkit::World w;
  Registry registry;
  BlockContext block;
  std::uint64_t nonce = 0;

  StaticFixture() {
    w.enrol("cust.a", "police-a", {"custodian"});
    w.enrol("cust.b", "lab", {"custodian"});
    w.enrol("aud.a", "police-a", {"auditor"});
    block = BlockContext{std::string(testkit::kTestNetwork), w.height + 1, w.now_ms};
  }

  Transaction tx(std::string_view chaincode, std::string_view function, Json args,
                 const std::vector<std::string>& signer_ids) {
    Transaction t;
    t.network_id = std::string(testkit::kTestNetwork);
    t.chaincode = std::string(chaincode);
    t.function = std::string(function);
    t.args = std::move(args);
    t.nonce = "0000000000" + std::to_string(100000 + nonce++);
    t.created_at_ms = w.now_ms;
    for (const auto& id : signer_ids) REQUIRE(t.sign(w.keys.at(id)).ok());
    return t;
  }

  Transaction handover(const std::string& to, const std::vector<std::string>& signer_ids) {
    return tx("custody", "handover",
              Json{{"item_id", "E-1"},
                   {"to", to},
                   {"purpose", "analysis"},
                   {"location", "lab store"},
                   {"seals_intact", true},
                   {"seal_numbers", {"S-1"}},
                   {"condition", "sealed"},
                   {"declared_at_ms", w.now_ms}},
              signer_ids);
  }

  // The signers these identities are now, as an offline verifier would
  // resolve them from the identity records it holds.
  std::vector<Signer> signers(const std::vector<std::string>& ids) {
    std::vector<Signer> out;
    for (const auto& id : ids) out.push_back(w.signer(id));
    return out;
  }

  Outcome check(const Transaction& t, const std::vector<Signer>& given,
                std::string_view network_id = testkit::kTestNetwork) {
    return registry.check_static(t, t.id(), given, network_id, block);
  }
};

}  // namespace

TEST_CASE("check_static: a handover signed by the right roles; the actor without one") {
  StaticFixture f;
  Transaction t = f.handover("cust.b", {"cust.a", "cust.b"});
  // No item E-1 exists: the static checks do not look.
  CHECK_ACCEPTED(f.check(t, f.signers({"cust.a", "cust.b"})));
  CHECK_ACCEPTED(f.registry.admit(f.w.state, t, t.id(), f.block));
  CHECK_REFUSED(f.registry.execute(f.w.state, t, t.id(), f.block), code::kItemNotFound);

  // The same signatures, but the verifier's records say the actor held no
  // custody role (say it had been re-enrolled as an auditor by that height).
  std::vector<Signer> demoted = f.signers({"cust.a", "cust.b"});
  demoted[0].roles = {"auditor"};
  CHECK_REFUSED(f.check(t, demoted), code::kRoleForbidden);

  // A real auditor as the actor: both paths refuse alike.
  Transaction by_auditor = f.handover("cust.b", {"aud.a", "cust.b"});
  CHECK_REFUSED(f.check(by_auditor, f.signers({"aud.a", "cust.b"})), code::kRoleForbidden);
  CHECK_REFUSED(f.registry.admit(f.w.state, by_auditor, by_auditor.id(), f.block),
                code::kRoleForbidden);

  // The receiver did not co-sign.
  Transaction alone = f.handover("cust.b", {"cust.a"});
  CHECK_REFUSED(f.check(alone, f.signers({"cust.a"})), code::kCosignatureMissing);
}

TEST_CASE("check_static: signer count, network, signatures, chaincode and function") {
  StaticFixture f;
  Transaction t = f.handover("cust.b", {"cust.a", "cust.b"});

  SUBCASE("one signer short or one too many is UNKNOWN_SIGNER") {
    CHECK_REFUSED(f.check(t, f.signers({"cust.a"})), code::kUnknownSigner);
    CHECK_REFUSED(f.check(t, {}), code::kUnknownSigner);
    CHECK_REFUSED(f.check(t, f.signers({"cust.a", "cust.b", "aud.a"})), code::kUnknownSigner);
  }
  SUBCASE("a tx of another network, or a verifier of another network") {
    CHECK_REFUSED(f.check(t, f.signers({"cust.a", "cust.b"}), "elsewhere"), code::kWrongNetwork);
    Transaction other = t;
    other.network_id = "elsewhere";
    CHECK_REFUSED(f.check(other, f.signers({"cust.a", "cust.b"})), code::kWrongNetwork);
    // network_id, not block.network_id, is the one checked.
    BlockContext elsewhere = f.block;
    elsewhere.network_id = "elsewhere";
    CHECK_ACCEPTED(f.registry.check_static(t, t.id(), f.signers({"cust.a", "cust.b"}),
                                           testkit::kTestNetwork, elsewhere));
  }
  SUBCASE("UNSIGNED, and BAD_SIGNATURE before the signer count") {
    Transaction unsigned_tx = f.handover("cust.b", {});
    CHECK_REFUSED(f.check(unsigned_tx, {}), code::kUnsigned);
    Transaction tampered = t;
    tampered.args["location"] = "elsewhere";
    CHECK_REFUSED(f.check(tampered, f.signers({"cust.a", "cust.b"})), code::kBadSignature);
    CHECK_REFUSED(f.check(tampered, f.signers({"cust.a", "cust.b", "aud.a"})), code::kBadSignature);
    // A signature checked against another tx id does not verify either.
    CHECK_REFUSED(f.registry.check_static(t, Hash256{}, f.signers({"cust.a", "cust.b"}),
                                          testkit::kTestNetwork, f.block),
                  code::kBadSignature);
  }
  SUBCASE("UNKNOWN_CHAINCODE and UNKNOWN_FUNCTION") {
    Transaction weather = f.tx("weather", "forecast", Json::object(), {"cust.a"});
    CHECK_REFUSED(f.check(weather, f.signers({"cust.a"})), code::kUnknownChaincode);
    Transaction promote = f.tx("custody", "promote", Json::object(), {"cust.a"});
    CHECK_REFUSED(f.check(promote, f.signers({"cust.a"})), code::kUnknownFunction);
  }
}

TEST_CASE("check_static: with the signers admit() resolves, it gives admit()'s code") {
  StaticFixture f;
  std::vector<Transaction> txs = {
      f.handover("cust.b", {"cust.a", "cust.b"}),
      f.handover("cust.b", {"aud.a", "cust.b"}),
      f.handover("cust.b", {"cust.a"}),
      f.handover("cust.a", {"cust.a"}),
      f.handover("cust.b", {"cust.a", "cust.b", "aud.a"}),
      f.tx("custody", "handover", Json{{"item_id", "E-1"}}, {"cust.a"}),
      f.tx("identity", "enrol",
           Json{{"id", "new"},
                {"org", "lab"},
                {"roles", {"auditor"}},
                {"public_key", testkit::test_key(900).public_key().hex()}},
           {"admin.lab"}),
      f.tx("identity", "enrol",
           Json{{"id", "new"},
                {"org", "lab"},
                {"roles", {"auditor"}},
                {"public_key", testkit::test_key(900).public_key().hex()}},
           {"cust.b"}),
      f.tx("identity", "revoke", Json{{"id", "cust.a"}, {"reason", "R-1"}}, {"aud.a"}),
      f.tx("identity", "rotate_key",
           Json{{"id", "cust.a"}, {"public_key", testkit::test_key(901).public_key().hex()}},
           {"cust.a"}),
      f.tx("custody", "open_case",
           Json{{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", Json::array()}},
           {"cust.a"}),
  };
  std::set<std::string> codes;
  for (const Transaction& t : txs) {
    std::vector<Signer> resolved;
    for (const auto& sig : t.signatures)
      resolved.push_back(resolve_signer(f.w.state, sig.public_key).value());
    Outcome admitted = f.registry.admit(f.w.state, t, t.id(), f.block);
    Outcome checked = f.check(t, resolved);
    CHECK_MESSAGE(checked.code == admitted.code,
                  t.chaincode << "." << t.function << ": " << checked.message);
    CHECK(checked.writes.empty());
    CHECK(checked.history.empty());
    codes.insert(admitted.code);
  }
  // The list reaches refusals as well as acceptance, so the comparison means something.
  CHECK(codes.size() >= 5);
}
