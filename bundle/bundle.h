// Court bundles: one self-contained JSON document that proves an evidence
// item's whole custody history at a signed head, and the offline verifier
// that checks it with the network's genesis file alone.
//
// A bundle ("custos-bundle/1", docs/verification.md has it field by field):
//
//   {"bundle": "custos-bundle/1", "network_id", "genesis_hash", "item_id",
//    "signed_head": {"head": {...}, "signatures": [...]},      core/signed_head.h
//    "item":       {"events": [...], "state_proof": SMT proof},
//    "identities": [{"identity_id", "events": [...], "state_proof"}, ...],
//    "nodes":      {"events": [...], "state_proof"},
//    "transactions": [{"log_index", "leaf": {"code","height","index","tx_id"},
//                      "inclusion_proof": [hex, ...], "tx": envelope}, ...]}
//
// "item" is the item's event chain (history key item/<id>); "identities" the
// event chain of every identity that signed any transaction in the bundle
// (history key identity/<id>), sorted by id; "nodes" the network's node
// membership chain (history key "nodes"). Every state proof is against the
// signed head's state root and shows that the chain's last event is the
// key's latest (or, for an empty chain, that the key has no history);
// every inclusion proof is against the head's log root. "transactions"
// holds the transaction of every event, once each, sorted by log index.
//
// Thread safety: the functions are pure over their arguments (build_bundle
// only reads the ledger, which allows concurrent reads).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/genesis.h"
#include "core/json.h"
#include "core/result.h"
#include "core/signed_head.h"
#include "ledger/ledger.h"

namespace custos::bundle {

inline constexpr std::string_view kBundleFormat = "custos-bundle/1";

// History keys of the chains a bundle carries.
std::string identity_history_key(std::string_view identity_id);  // identity/<id>
inline constexpr std::string_view kNodesHistoryKey = "nodes";

// The signed head for a height, or nullopt if that height has no quorum of
// node signatures (yet).
using SignedHeadAt = std::function<std::optional<SignedHead>(std::uint64_t height)>;

// Builds the bundle of `item_id` at the ledger's current head. The chains,
// proofs and head all belong to one height: the state proofs are read at
// one snapshot, events after that height are left out, and the head signed
// for that height comes from `signed_head_at`. Errors: "item_not_found" (no
// history for the item), "head_unsigned" (signed_head_at gave nothing for
// the height: the caller may retry shortly), "ledger_moved" (blocks kept
// committing while the bundle was gathered: retry), "ledger_empty".
Result<Json> build_bundle(const ledger::Ledger& ledger, std::string_view item_id,
                          const SignedHeadAt& signed_head_at);

// --- the offline verifier ---------------------------------------------------------

// The checks, in the order they run; a report names the first that failed.
// First what rests on people's signatures alone, then the node membership
// those signatures authorise, then the head that membership signs, then
// what the head proves:
//   bundle_format    the document has the shape above
//   genesis          the genesis file's hash and network id are the bundle's
//   tx_signatures    each transaction's id is its leaf's, and every signature
//                    of every transaction verifies
//   event_txs        each event is what its transaction did (function,
//                    subject, the data taken from the arguments), and that
//                    transaction is in the bundle, committed OK at the
//                    event's height
//   signers          each signature's key belonged to an enrolled, unrevoked
//                    identity when the tx was ordered (its log index), and
//                    the events name those signers
//   roles            each transaction passes its function's static rules
//                    (arguments, the signers' roles) with those signers
//   node_history     the node membership chain links up, each change was
//                    signed by an admin of the node's org; membership at the head
//   head_signatures  a strict majority of those nodes signed the head, every
//                    signature verifies
//   log_inclusion    every event and transaction lies within the head, and
//                    each inclusion proof leads to the head's log root
//   history_chain    the item's and each identity's events link up (seq, hashes)
//   completeness     each chain's last event is its key's latest at the head
//                    (state proofs): nothing cut off
inline constexpr std::string_view kCheckNames[] = {
    "bundle_format", "genesis",         "tx_signatures", "event_txs",
    "signers",       "roles",           "node_history",  "head_signatures",
    "log_inclusion", "history_chain",   "completeness"};

struct CheckResult {
  std::string name;
  bool ok = false;
  std::string detail;  // what was checked (ok) or the first problem (failed)
};

struct VerifyReport {
  bool ok = false;
  std::vector<CheckResult> checks;  // those that ran; when !ok the last one failed
  // Filled once the bundle parsed: the item and its events as a timeline.
  std::string item_id;
  std::optional<HeadStatement> head;
  std::vector<std::string> head_signers;  // nodes whose valid signatures counted
  std::size_t head_members = 0;           // nodes that were members at the head
  Json timeline = Json::array();          // one object per event, oldest first

  const CheckResult* failed() const;
  Json to_json() const;
  std::string to_text() const;  // the readable report custos bundle verify prints
};

// Runs every check of `bundle` against `genesis`. Never throws, never
// aborts on any input.
VerifyReport verify_bundle(const Json& bundle, const Genesis& genesis);

}  // namespace custos::bundle
