// The registry runs a transaction through the checks every module shares and
// then through its module; the executor runs a whole block.
//
// Shared checks, in order (the first failure is the result code):
//   WRONG_NETWORK, UNSIGNED, then for each signature in turn BAD_SIGNATURE
//   (it does not verify) and UNKNOWN_SIGNER / SIGNER_REVOKED (its key
//   resolves to no active identity), then UNKNOWN_CHAINCODE, UNKNOWN_FUNCTION,
// then Module::admit (at admission) or Module::execute (in a block).
#pragma once

#include <memory>
#include <vector>

#include "chaincode/chaincode.h"
#include "core/block.h"
#include "core/genesis.h"
#include "core/verified_signatures.h"
#include "ledger/ledger.h"

namespace custos::chaincode {

inline constexpr std::string_view kResultsTag = "custos/results/v1";

// World state straight from the ledger's committed state: what admission and
// the gateway's reads see.
class LedgerStateView : public StateView {
 public:
  explicit LedgerStateView(const ledger::Ledger& ledger) : ledger_(ledger) {}
  std::optional<Json> get(std::string_view key) const override { return ledger_.get(key); }
  SharedJson get_shared(std::string_view key) const override { return ledger_.get_shared(key); }

 private:
  const ledger::Ledger& ledger_;
};

class Registry {
 public:
  // With the built-in modules: identity, custody, provenance and funds.
  Registry();
  explicit Registry(std::vector<std::unique_ptr<Module>> modules);

  // The checks a node makes before a tx enters its mempool. Signatures that
  // verify are remembered, so that execute() does not verify them again.
  Outcome admit(const StateView& state, const Transaction& tx, const Hash256& tx_id,
                const BlockContext& block) const;
  // The full rules, when the tx's block executes. A signature remembered
  // from admit() or verify_ahead() counts as verified (and is forgotten).
  Outcome execute(const StateView& state, const Transaction& tx, const Hash256& tx_id,
                  const BlockContext& block) const;

  // The checks of admit() that need no world state, with the signers already
  // resolved by the caller (an offline verifier resolves each signature's key
  // from the identity records it holds; signers[i] signed with
  // tx.signatures[i]): WRONG_NETWORK, UNSIGNED, BAD_SIGNATURE, then that
  // signers.size() == tx.signatures.size(), UNKNOWN_CHAINCODE,
  // UNKNOWN_FUNCTION, then the module's static rules (argument shape, the
  // signers' roles) -- exactly what Module::admit checks. The same dispatch
  // as admit(), so the order is the same too: signature i is verified before
  // signer i is taken, and a signature with no signer given is UNKNOWN_SIGNER
  // at that point, as an unresolvable key is in admit(); more signers than
  // signatures is UNKNOWN_SIGNER once every signature has verified. The
  // caller vouches that each signer was enrolled, unrevoked and held that key
  // at the tx's height. `network_id` is the network the caller trusts (from
  // the genesis it holds); it stands in for block.network_id, of which only
  // height and timestamp_ms are used. Thread-safe (the registry is immutable).
  Outcome check_static(const Transaction& tx, const Hash256& tx_id,
                       const std::vector<Signer>& signers, std::string_view network_id,
                       const BlockContext& block) const;

  // Verifies, across `threads` threads, the signatures of these
  // transactions (ids[i] is txs[i].id()) that are not remembered already,
  // and remembers them: a block's signatures before it executes one
  // transaction at a time. threads == 0: one per core.
  void verify_ahead(const std::vector<Transaction>& txs, const std::vector<Hash256>& ids,
                    unsigned threads = 0) const;

 private:
  enum class SignatureUse { kAdmit, kExecute, kCheck };
  // The shared checks; resolve(i, key) gives signature i's signer or an error
  // whose code is the result code.
  template <typename Resolve, typename Run>
  Outcome dispatch(const Transaction& tx, const Hash256& tx_id, const BlockContext& block,
                   SignatureUse use, Resolve resolve, Run run) const;
  bool verify(SignatureUse use, const TxSignature& s, const Hash256& tx_id) const;

  std::vector<std::unique_ptr<Module>> modules_;
  // Signatures verified at admission or ahead of a block, until their
  // transaction executes. Caching changes how fast, never what, a node
  // decides (core/verified_signatures.h).
  mutable VerifiedSignatures verified_;
};

// Executes the transactions of `block` in order over the ledger's committed
// state (each tx sees the effects of the earlier ones) and returns what the
// block changes. Deterministic: the same ledger state and block give the same
// effects and results hash on every node. A tx whose id is already committed,
// or repeats within the block, gets DUPLICATE_TX and changes nothing.
ledger::BlockEffects execute_block(const ledger::Ledger& ledger, const Registry& registry,
                                   const Block& block);
// The same with the transactions' ids, which the caller has computed
// already: tx_ids[i] == block.txs[i].id().
ledger::BlockEffects execute_block(const ledger::Ledger& ledger, const Registry& registry,
                                   const Block& block, const std::vector<Hash256>& tx_ids);

// Block 0 and its effects: the genesis orgs and admins. Block 0's prev_hash
// is the genesis hash.
std::pair<Block, ledger::BlockEffects> genesis_block(const Genesis& genesis);

// results hash = tagged_hash("custos/results/v1", JCS({"txs": [[tx_id, code],
// ...], "effects": hex SHA-256 of JCS([["w", key, value|null], ...,
// ["h", key, seq, event], ...])})).
Hash256 results_hash_of(const std::vector<ledger::TxRecord>& txs,
                        const std::vector<ledger::StateWrite>& writes,
                        const std::vector<ledger::HistoryAppend>& history);

}  // namespace custos::chaincode
