// Test helpers for chaincode modules: an in-memory StateView that applies
// outcomes, deterministic keys, and a World that signs, resolves and runs
// transactions the way the registry does, one block per transaction.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chaincode/chaincode.h"
#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "core/bytes.h"
#include "core/genesis.h"
#include "core/tx.h"

namespace custos::chaincode::testkit {

// World state and per-key histories held in ordered maps.
class MemoryState final : public StateView {
 public:
  std::optional<Json> get(std::string_view key) const override {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  void put(const std::string& key, Json value) { values_[key] = std::move(value); }

  void apply_writes(const std::vector<ledger::StateWrite>& writes) {
    for (const auto& w : writes) {
      if (w.value) {
        values_[w.key] = *w.value;
      } else {
        values_.erase(w.key);
      }
    }
  }

  // Applies an accepted outcome. A history append must continue its key's
  // history without a gap, as the ledger requires.
  void apply(const Outcome& outcome) {
    REQUIRE(outcome.ok());
    apply_writes(outcome.writes);
    for (const auto& h : outcome.history) {
      auto& events = histories_[h.key];
      REQUIRE_MESSAGE(h.seq == events.size(), "history of " << h.key << " would have a gap");
      events.push_back(h.event);
    }
  }

  const std::vector<Json>& history(std::string_view key) const {
    static const std::vector<Json> kNone;
    auto it = histories_.find(key);
    return it == histories_.end() ? kNone : it->second;
  }

  const std::map<std::string, Json, std::less<>>& values() const { return values_; }

  // Everything, as one text: equal texts mean equal states and histories.
  std::string snapshot() const {
    Json all{{"state", Json::object()}, {"history", Json::object()}};
    for (const auto& [k, v] : values_) all["state"][k] = v;
    for (const auto& [k, v] : histories_) all["history"][k] = v;
    return all.dump();
  }

 private:
  std::map<std::string, Json, std::less<>> values_;
  std::map<std::string, std::vector<Json>, std::less<>> histories_;
};

// Key number n: the scalar n+1, so tests are reproducible and never collide.
inline PrivateKey test_key(std::uint32_t n) {
  std::uint8_t secret[32] = {};
  std::uint32_t v = n + 1;
  for (int i = 0; i < 4; ++i) secret[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  auto key = PrivateKey::from_bytes(secret);
  REQUIRE(key.ok());
  return std::move(*key);
}

// Node keys are test_key(kNodeKeyBase + i), far from the keys fresh_key() hands out.
inline constexpr std::uint32_t kNodeKeyBase = 1'000'000;

inline constexpr std::int64_t kGenesisTimeMs = 1'764'460'800'000;  // 2025-11-30T00:00:00Z
inline constexpr std::string_view kTestNetwork = "custos-test";

// The founding orgs of every World, and the admin each starts with
// ("admin.<org>").
inline constexpr std::pair<std::string_view, std::string_view> kWorldOrgs[] = {
    {"police-a", "police"},  {"police-b", "police"},         {"europol", "europol"},
    {"lab", "forensic_lab"}, {"prosecution", "prosecution"}, {"court", "court"},
    {"customs", "customs"}};

// A network started from a genesis of kWorldOrgs plus `extra_orgs` orgs named
// org-000, org-001, ... (for tests that fill bounded lists).
class World {
 public:
  explicit World(std::size_t extra_orgs = 0)
      : identity_module(make_identity_module()), custody_module(make_custody_module()) {
    Genesis g;
    g.network_id = std::string(kTestNetwork);
    g.created_at_ms = kGenesisTimeMs;
    auto add_org = [&](std::string id, std::string kind) {
      std::string admin = "admin." + id;
      keys.emplace(admin, fresh_key());
      g.orgs.push_back({id, "Org " + id, kind, {{admin, keys.at(admin).public_key()}}});
    };
    for (const auto& [id, kind] : kWorldOrgs) add_org(std::string(id), std::string(kind));
    for (std::size_t i = 0; i < extra_orgs; ++i) {
      std::string n = std::to_string(i);
      add_org("org-" + std::string(3 - std::min<std::size_t>(3, n.size()), '0') + n, "other");
    }
    g.nodes.push_back({"node-1", "police-a", test_key(kNodeKeyBase).public_key()});
    auto checked = genesis_from_json(g.to_json());
    REQUIRE_MESSAGE(checked.ok(), (checked.ok() ? "" : checked.error().message));
    genesis = *checked;
    state.apply_writes(genesis_state_writes(genesis));
    now_ms = kGenesisTimeMs + 60'000;
  }

  PrivateKey fresh_key() { return test_key(next_key_++); }

  // Enrols `id` through identity.enrol signed by the org's genesis admin; the
  // test fails if that is refused.
  void enrol(const std::string& id, const std::string& org, std::vector<std::string> roles) {
    PrivateKey key = fresh_key();
    Json args{{"id", id}, {"org", org}, {"roles", roles}, {"public_key", key.public_key().hex()}};
    Outcome out = submit("identity", "enrol", args, {"admin." + org});
    REQUIRE_MESSAGE(out.ok(), out.code << ": " << out.message);
    keys.insert_or_assign(id, std::move(key));
  }

  // Signs with the current keys of `signer_ids` (the first is the actor).
  Outcome submit(std::string_view chaincode, std::string_view function, const Json& args,
                 const std::vector<std::string>& signer_ids) {
    std::vector<const PrivateKey*> signing;
    for (const auto& id : signer_ids) {
      auto it = keys.find(id);
      REQUIRE_MESSAGE(it != keys.end(), "the test has no key for " << id);
      signing.push_back(&it->second);
    }
    return submit_with_keys(chaincode, function, args, signing);
  }

  // Builds and signs the tx, resolves every signature's key as the registry
  // does, runs admit() then execute() in block height+1 at now_ms, and
  // commits an accepted outcome as that block. Checks on the way that admit()
  // writes nothing, that execute() refuses whatever admit() refused with the
  // same code, and that a refusal carries no writes and no history.
  Outcome submit_with_keys(std::string_view chaincode, std::string_view function, const Json& args,
                           const std::vector<const PrivateKey*>& signing) {
    Transaction tx = make_tx(chaincode, function, args);
    for (const PrivateKey* k : signing) REQUIRE(tx.sign(*k).ok());
    std::vector<Signer> signers;
    for (const auto& sig : tx.signatures) {
      auto signer = resolve_signer(state, sig.public_key);
      if (!signer) return Outcome::refuse(signer.error().code, signer.error().message);
      signers.push_back(*signer);
    }
    return run(tx, signers);
  }

  // Runs a call with hand-made signers, skipping key resolution: for rules the
  // registry makes unreachable (an org-less admin, no signer at all).
  Outcome run_as(std::string_view chaincode, std::string_view function, const Json& args,
                 const std::vector<Signer>& signers) {
    return run(make_tx(chaincode, function, args), signers);
  }

  // The signer an identity resolves to now.
  Signer signer(const std::string& id) {
    auto s = resolve_signer(state, keys.at(id).public_key());
    REQUIRE(s.ok());
    return *s;
  }

  Json get(const std::string& key) const {
    auto v = state.get(key);
    REQUIRE_MESSAGE(v.has_value(), "no state at " << key);
    return *v;
  }

  // Adds another module (provenance, funds, ...) that submit() can reach.
  void add_module(std::unique_ptr<Module> m) { extra_modules.push_back(std::move(m)); }

  const Module& module(std::string_view chaincode) const {
    if (chaincode == kIdentityChaincode) return *identity_module;
    if (chaincode == kCustodyChaincode) return *custody_module;
    for (const auto& m : extra_modules) {
      if (m->name() == chaincode) return *m;
    }
    FAIL("no module " << chaincode << " in this World (add_module it)");
    return *identity_module;
  }

  Genesis genesis;
  MemoryState state;
  std::map<std::string, PrivateKey> keys;  // each identity's current key
  std::uint64_t height = 0;                // the last committed block
  std::int64_t now_ms = 0;                 // the next block's timestamp
  Hash256 last_tx_id;                      // of the last tx run, accepted or not
  std::unique_ptr<Module> identity_module;
  std::unique_ptr<Module> custody_module;
  std::vector<std::unique_ptr<Module>> extra_modules;

 private:
  Transaction make_tx(std::string_view chaincode, std::string_view function, const Json& args) {
    Transaction tx;
    tx.network_id = std::string(kTestNetwork);
    tx.chaincode = std::string(chaincode);
    tx.function = std::string(function);
    tx.args = args;
    std::uint8_t nonce[8] = {};
    std::uint64_t n = ++nonce_counter_;
    for (int i = 0; i < 8; ++i) nonce[7 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    tx.nonce = hex_encode(nonce);
    tx.created_at_ms = now_ms;
    return tx;
  }

  Outcome run(const Transaction& tx, const std::vector<Signer>& signers) {
    const Module& m = module(tx.chaincode);
    Hash256 tx_id = tx.id();
    last_tx_id = tx_id;
    BlockContext block{std::string(kTestNetwork), height + 1, now_ms};
    Call call{tx, tx_id, signers, block};
    Outcome admitted = m.admit(call);
    CHECK(admitted.writes.empty());
    CHECK(admitted.history.empty());
    Outcome executed = m.execute(state, call);
    if (!admitted.ok()) {
      CHECK_MESSAGE(executed.code == admitted.code, "execute() disagrees with admit()");
    }
    if (!executed.ok()) {
      CHECK(executed.writes.empty());
      CHECK(executed.history.empty());
      return executed;
    }
    state.apply(executed);
    height += 1;
    return executed;
  }

  std::uint32_t next_key_ = 0;
  std::uint64_t nonce_counter_ = 0;
};

// Expect a refusal with `code` and, as every refusal must, a reason.
#define CHECK_REFUSED(outcome_expr, expected_code)                                \
  do {                                                                            \
    const ::custos::chaincode::Outcome& refused_ = (outcome_expr);                \
    CHECK_MESSAGE(refused_.code == std::string(expected_code), refused_.message); \
    CHECK_FALSE(refused_.message.empty());                                        \
  } while (0)

#define CHECK_ACCEPTED(outcome_expr)                                            \
  do {                                                                          \
    const ::custos::chaincode::Outcome& accepted_ = (outcome_expr);             \
    CHECK_MESSAGE(accepted_.ok(), accepted_.code << ": " << accepted_.message); \
  } while (0)

}  // namespace custos::chaincode::testkit
