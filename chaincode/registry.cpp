#include "chaincode/registry.h"

#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "chaincode/custody.h"
#include "chaincode/funds.h"
#include "chaincode/identity.h"
#include "chaincode/provenance.h"

namespace custos::chaincode {
namespace {

std::vector<std::unique_ptr<Module>> builtin_modules() {
  std::vector<std::unique_ptr<Module>> m;
  m.push_back(make_identity_module());
  m.push_back(make_custody_module());
  m.push_back(make_provenance_module());
  m.push_back(make_funds_module());
  return m;
}

// Committed state with the writes of earlier transactions of the block laid
// over it. std::map: iteration order is never used for output, but keep
// containers ordered everywhere in chaincode paths as a rule.
class OverlayState : public StateView {
 public:
  explicit OverlayState(const ledger::Ledger& ledger) : ledger_(ledger) {}

  std::optional<Json> get(std::string_view key) const override {
    SharedJson value = get_shared(key);
    if (!value) return std::nullopt;
    return *value;
  }

  SharedJson get_shared(std::string_view key) const override {
    auto it = pending_.find(key);
    if (it != pending_.end()) return it->second;
    return ledger_.get_shared(key);
  }

  void apply(const std::vector<ledger::StateWrite>& writes) {
    for (const auto& w : writes) {
      pending_[w.key] = w.value ? std::make_shared<const Json>(*w.value) : nullptr;
    }
  }

 private:
  const ledger::Ledger& ledger_;
  std::map<std::string, SharedJson, std::less<>> pending_;  // null: deleted
};

// Resolves each signature's key against world state, as admit() and execute() do.
auto signers_from(const StateView& state) {
  return [&state](std::size_t, const PublicKey& key) { return resolve_signer(state, key); };
}

}  // namespace

Registry::Registry() : Registry(builtin_modules()) {}

Registry::Registry(std::vector<std::unique_ptr<Module>> modules) : modules_(std::move(modules)) {}

bool Registry::verify(SignatureUse use, const TxSignature& s, const Hash256& tx_id) const {
  switch (use) {
    case SignatureUse::kAdmit:
      return verified_.verify_and_remember(s.public_key, tx_id.view(), s.signature);
    case SignatureUse::kExecute:
      return verified_.verify_once(s.public_key, tx_id.view(), s.signature);
    case SignatureUse::kCheck:
      break;
  }
  return verify_compact(s.public_key, tx_id.view(), s.signature.compact);
}

void Registry::verify_ahead(const std::vector<Transaction>& txs, const std::vector<Hash256>& ids,
                            unsigned threads) const {
  // hardware_concurrency() reads /sys on every call.
  static const unsigned kCores = std::max(1u, std::thread::hardware_concurrency());
  if (threads == 0) threads = kCores;
  std::vector<SignatureCheck> checks;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    for (const auto& s : txs[i].signatures) {
      checks.push_back({&s.public_key, ids[i].view(), &s.signature});
    }
  }
  custos::verify_ahead(verified_, checks, threads);
}

template <typename Resolve, typename Run>
Outcome Registry::dispatch(const Transaction& tx, const Hash256& tx_id, const BlockContext& block,
                           SignatureUse use, Resolve resolve, Run run) const {
  if (tx.network_id != block.network_id) {
    return Outcome::refuse(code::kWrongNetwork,
                           "transaction is for network \"" + tx.network_id + "\"");
  }
  if (tx.signatures.empty())
    return Outcome::refuse(code::kUnsigned, "transaction has no signatures");
  std::vector<Signer> signers;
  for (std::size_t i = 0; i < tx.signatures.size(); ++i) {
    const auto& s = tx.signatures[i];
    if (!verify(use, s, tx_id)) {
      return Outcome::refuse(code::kBadSignature,
                             "signature " + std::to_string(i) + " does not verify");
    }
    Result<Signer> signer = resolve(i, s.public_key);
    if (!signer) return refuse(signer.error());
    signers.push_back(std::move(signer).value());
  }
  for (const auto& m : modules_) {
    if (m->name() != tx.chaincode) continue;
    if (!m->has_function(tx.function)) {
      return Outcome::refuse(code::kUnknownFunction,
                             tx.chaincode + " has no function \"" + tx.function + "\"");
    }
    Call call{tx, tx_id, signers, block};
    return run(*m, call);
  }
  return Outcome::refuse(code::kUnknownChaincode, "no chaincode \"" + tx.chaincode + "\"");
}

Outcome Registry::admit(const StateView& state, const Transaction& tx, const Hash256& tx_id,
                        const BlockContext& block) const {
  return dispatch(tx, tx_id, block, SignatureUse::kAdmit, signers_from(state),
                  [](const Module& m, const Call& call) { return m.admit(call); });
}

Outcome Registry::check_static(const Transaction& tx, const Hash256& tx_id,
                               const std::vector<Signer>& signers, std::string_view network_id,
                               const BlockContext& block) const {
  BlockContext on_network = block;
  on_network.network_id = std::string(network_id);
  auto given = [&](std::size_t i, const PublicKey&) -> Result<Signer> {
    const bool last = i + 1 == tx.signatures.size();
    if (i >= signers.size() || (last && signers.size() != tx.signatures.size())) {
      return make_error(code::kUnknownSigner,
                        std::to_string(signers.size()) + " signers were given for " +
                            std::to_string(tx.signatures.size()) +
                            " signatures; each signature needs the identity that made it");
    }
    return signers[i];
  };
  return dispatch(tx, tx_id, on_network, SignatureUse::kCheck, given,
                  [](const Module& m, const Call& call) { return m.admit(call); });
}

Outcome Registry::execute(const StateView& state, const Transaction& tx, const Hash256& tx_id,
                          const BlockContext& block) const {
  return dispatch(tx, tx_id, block, SignatureUse::kExecute, signers_from(state),
                  [&](const Module& m, const Call& call) {
    Outcome out = m.execute(state, call);
    // A refused tx must change nothing: a module that breaks this is a bug.
    if (!out.ok() && (!out.writes.empty() || !out.history.empty())) std::abort();
    return out;
  });
}

namespace {

// Chaincode only writes values that came through canonical checks; a value
// that cannot be encoded is a bug, not input.
std::string canonical_or_abort(const Json& value) {
  auto text = canonical_json(value);
  if (!text) std::abort();
  return std::move(text).value();
}

// Fills effects.write_texts and history_texts, then results_hash from them.
void seal_effects(ledger::BlockEffects& effects) {
  effects.write_texts.clear();
  effects.history_texts.clear();
  for (const auto& w : effects.writes) {
    effects.write_texts.push_back(w.value ? canonical_or_abort(*w.value) : std::string());
  }
  for (const auto& h : effects.history) effects.history_texts.push_back(canonical_or_abort(h.event));
  // "effects" is SHA-256 of JCS([["w", key, value or null]..., ["h", key,
  // seq, event]...]). The array's canonical text is its elements' texts
  // between brackets and commas, so it is hashed piece by piece from the
  // texts above, without copying every value into one document first.
  Sha256 hash;
  const char* separator = "[";
  for (std::size_t i = 0; i < effects.writes.size(); ++i) {
    const auto& w = effects.writes[i];
    hash.update(separator).update("[\"w\",").update(canonical_or_abort(Json(w.key))).update(",");
    hash.update(w.value ? std::string_view(effects.write_texts[i]) : "null").update("]");
    separator = ",";
  }
  for (std::size_t i = 0; i < effects.history.size(); ++i) {
    const auto& h = effects.history[i];
    hash.update(separator).update("[\"h\",").update(canonical_or_abort(Json(h.key))).update(",");
    hash.update(std::to_string(h.seq)).update(",").update(effects.history_texts[i]).update("]");
    separator = ",";
  }
  hash.update(separator[0] == '[' ? "[]" : "]");
  Json tx_codes = Json::array();
  for (const auto& t : effects.txs) tx_codes.push_back(Json::array({t.tx_id.hex(), t.code}));
  Json doc = {{"txs", tx_codes}, {"effects", hash.finish().hex()}};
  effects.results_hash = tagged_hash(kResultsTag, canonical_or_abort(doc));
}

}  // namespace

Hash256 results_hash_of(const std::vector<ledger::TxRecord>& txs,
                        const std::vector<ledger::StateWrite>& writes,
                        const std::vector<ledger::HistoryAppend>& history) {
  ledger::BlockEffects effects;
  effects.txs = txs;
  effects.writes = writes;
  effects.history = history;
  seal_effects(effects);
  return effects.results_hash;
}

ledger::BlockEffects execute_block(const ledger::Ledger& ledger, const Registry& registry,
                                   const Block& block) {
  std::vector<Hash256> ids;
  ids.reserve(block.txs.size());
  for (const auto& tx : block.txs) ids.push_back(tx.id());
  return execute_block(ledger, registry, block, ids);
}

ledger::BlockEffects execute_block(const ledger::Ledger& ledger, const Registry& registry,
                                   const Block& block, const std::vector<Hash256>& ids) {
  if (ids.size() != block.txs.size()) std::abort();  // a caller's bug
  BlockContext ctx{block.header.network_id, block.header.height, block.header.timestamp_ms};
  OverlayState state(ledger);
  ledger::BlockEffects effects;
  std::set<Hash256> seen;
  registry.verify_ahead(block.txs, ids);
  for (std::size_t i = 0; i < block.txs.size(); ++i) {
    const Transaction& tx = block.txs[i];
    const Hash256& id = ids[i];
    ledger::TxRecord record{id, block.header.height, static_cast<std::uint32_t>(i), code::kOk, ""};
    if (!seen.insert(id).second || ledger.has_tx(id)) {
      record.code = code::kDuplicateTx;
      record.message = "this transaction was already ordered";
    } else {
      Outcome out = registry.execute(state, tx, id, ctx);
      record.code = out.code;
      record.message = out.message;
      if (out.ok()) {
        state.apply(out.writes);
        effects.writes.insert(effects.writes.end(), std::make_move_iterator(out.writes.begin()),
                              std::make_move_iterator(out.writes.end()));
        effects.history.insert(effects.history.end(), std::make_move_iterator(out.history.begin()),
                               std::make_move_iterator(out.history.end()));
      }
    }
    effects.txs.push_back(std::move(record));
  }
  seal_effects(effects);
  return effects;
}

std::pair<Block, ledger::BlockEffects> genesis_block(const Genesis& genesis) {
  Block block = make_block(genesis.network_id, 0, genesis.hash(), genesis.created_at_ms, "genesis",
                           Hash256{}, {});
  ledger::BlockEffects effects;
  effects.writes = genesis_state_writes(genesis);
  seal_effects(effects);
  return {std::move(block), std::move(effects)};
}

}  // namespace custos::chaincode
