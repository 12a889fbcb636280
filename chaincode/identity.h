// The identity module (chaincode "identity"): organisations, enrolled
// identities with their roles and keys, key rotation and revocation; and the
// lookups every other module and the registry make against membership.
//
// State layout (values are JSON; docs/custody.md has the full tables):
//   network            {"network_id","genesis_hash","config"} (genesis config, e.g. funds)
//   org/<org_id>       {"id","name","kind","admins":[active admin identity ids, sorted]}
//   node/<node_id>     {"id","org","public_key","keys":[{"public_key","from_height",
//                       "until_height"}],"added_at_height","removed_at_height","status"}
//   node_key/<pubkey hex> {"node": id}   every key any node ever held
//   nodes              {"ids":[every node id ever, sorted],"event_count",
//                       "head_event_hash"}  the head of the network's node event
//                       chain (history key "nodes"; genesis nodes have no event)
//   identity/<id>      {"id","org","roles":[sorted],"public_key","status",
//                       "enrolled_at_height","keys":[{"public_key","from_height",
//                       "until_height"}],"revoked_at_height","revocation_reason",
//                       "event_count","head_event_hash"}
//   key/<pubkey hex>   {"identity": id}   every key ever enrolled, current or rotated away
// History: key identity/<id> (the ledger keeps history apart from state), one
// event per enrol, rotate_key and revoke of the identity, in the envelope of
// docs/custody.md §5 with "identity_id". A genesis admin's chain starts empty.
//
// Functions: enrol {id, org, roles, public_key}, rotate_key {id, public_key},
// revoke {id, reason}; for the nodes that sign heads: add_node {id, org,
// public_key}, remove_node {id}, rotate_node_key {id, public_key}. The rules and the code each
// refusal gives are in docs/custody.md.
//
// Everything here is deterministic and thread-compatible: the module object is
// immutable, so one instance may serve concurrent calls on different states.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chaincode/chaincode.h"
#include "chaincode/custody.h"
#include "core/genesis.h"
#include "core/result.h"

namespace custos::chaincode {

inline constexpr std::string_view kIdentityChaincode = "identity";

// Every role an identity may hold (brief §3). Roles say what a person may do;
// the org's kind says what the org is.
inline constexpr std::string_view kRoles[] = {
    "admin",          "investigator", "custodian",       "forensic_analyst", "prosecutor",
    "judge",          "court_clerk",  "customs_officer", "museum_registrar", "dealer",
    "transfer_agent", "fiu_analyst",  "auditor"};
bool is_known_role(std::string_view role);

// Bounds on what an identity record may accumulate.
inline constexpr std::size_t kRevocationReasonBytesMax = 200;
inline constexpr std::size_t kIdentityKeysMax = 64;  // current key plus rotated-away ones
inline constexpr std::size_t kOrgAdminsMax = 64;
inline constexpr std::size_t kNodesEverMax = 256;  // node ids ever added, genesis included
inline constexpr std::size_t kNodeKeysMax = 64;    // a node's current key plus rotated-away ones

// State keys.
inline constexpr std::string_view kNetworkStateKey = "network";
std::string org_state_key(std::string_view org_id);            // "org/<id>"
std::string node_state_key(std::string_view node_id);          // "node/<id>"
std::string identity_state_key(std::string_view identity_id);  // "identity/<id>"
std::string key_state_key(const PublicKey& key);               // "key/<66 hex digits>"
std::string node_key_state_key(const PublicKey& key);          // "node_key/<66 hex digits>"
inline constexpr std::string_view kNodesStateKey = "nodes";    // also the node event chain's key

// The module. Its admit() checks the arguments' shape, that only the actor
// signed, and the actor's role; execute() repeats that and applies the state
// rules.
std::unique_ptr<Module> make_identity_module();

// The world state the genesis document implies: the network record, every
// org with its admins, every admin as an identity holding ["admin"] enrolled
// at height 0 with its key/ entry, and every node. Sorted by key, so two
// nodes produce the same list. Precondition: `g` passed genesis_from_json
// (ids unique, keys distinct).
std::vector<ledger::StateWrite> genesis_state_writes(const Genesis& g);

// The active identity whose *current* key is `key`, as a Signer. Errors
// (Error.code is a chaincode result code):
//   UNKNOWN_SIGNER  no identity ever held the key, or the key was rotated
//                   away (the message says which);
//   SIGNER_REVOKED  the identity holding the key is revoked.
Result<Signer> resolve_signer(const StateView& state, const PublicKey& key);

// A node whose signatures count for a head, with the key it signs it with.
struct NodeMember {
  std::string id;
  std::string org;
  PublicKey public_key;
  bool operator==(const NodeMember&) const = default;
};

// The nodes whose signatures count for the head at `height` (the head after
// block `height`), each with the key it signs that head with: the nodes with
// added_at_height <= height < removed_at_height, with the key entry
// from_height <= height < until_height (null bounds are infinite). A change
// committed in block h takes effect for head h itself. Read from the current
// state: the records keep their history, so any past height can be asked.
// Sorted by id. Precondition: height <= the height `state` is at.
std::vector<NodeMember> node_members_at(const StateView& state, std::uint64_t height);

// The stored records, or nullopt / null if absent. An identity is read by
// every signature and every authenticated read: it is shared, not copied.
SharedJson find_identity(const StateView& state, std::string_view identity_id);
std::optional<Json> find_org(const StateView& state, std::string_view org_id);

// Checks an identity's events (history key identity/<id>), oldest first, as
// verify_item_history checks an item's: from seq 0 (a complete history; pass
// kNoPrevEventHash) or from a later seq with `prev_event_hash` the event_hash
// of the event before. Each event must name `identity_id` in "identity_id",
// have the next seq, link to the previous hash and carry an event_hash that
// recomputes. Errors ("bad_history") name the first bad event. An empty list
// is accepted: a genesis admin that was never rotated or revoked has none.
// Completeness is the caller's to prove: the last event's event_hash must be
// the record's head_event_hash, and its seq + 1 the record's event_count.
Status verify_identity_history(std::string_view identity_id, const std::vector<Json>& events,
                               std::string_view prev_event_hash = kNoPrevEventHash);

// ---------------------------------------------------------------------------
// Helpers every module uses to check a call. They live here because identity
// is the module the others already depend on.

// Reads a call's arguments, remembering the first problem so a handler can
// read every member and check once:
//
//   ArgReader r(call.tx.args, {"item_id", "court_ref", "declared_at_ms"});
//   std::string item_id = r.object_id("item_id");
//   ...
//   if (!r.ok()) return r.refusal();
//
// After a problem every accessor returns an empty default. A member that is
// absent (only possible for an optional one) reads as the default too.
class ArgReader {
 public:
  // Notes a problem if `args` is not an object, cannot be canonically encoded
  // (floats, out-of-range integers, bad UTF-8), lacks a required member or has
  // one that is neither required nor optional.
  // `args` must outlive the reader (it is read in place, not copied).
  ArgReader(const Json& args, std::initializer_list<std::string_view> required,
            std::initializer_list<std::string_view> optional = {});
  ArgReader(Json&& args, std::initializer_list<std::string_view> required,
            std::initializer_list<std::string_view> optional = {}) = delete;

  // A string of 1..max_bytes bytes.
  std::string text(std::string_view name, std::size_t max_bytes);
  // is_network_id (orgs, identities) / is_object_id (cases, items).
  std::string network_id(std::string_view name);
  std::string object_id(std::string_view name);
  // An integer in 0..kJsonIntegerMax (Unix epoch milliseconds).
  std::int64_t time_ms(std::string_view name);
  bool boolean(std::string_view name);
  // 64 lowercase hex digits.
  std::string hash_hex(std::string_view name);
  // Like hash_hex, but null (or, for an optional member, absence) gives nullopt.
  std::optional<std::string> hash_hex_or_null(std::string_view name);
  // A compressed secp256k1 key as 66 lowercase hex digits, on the curve.
  std::optional<PublicKey> public_key(std::string_view name);
  // An array of at most max_entries distinct strings of 1..max_bytes bytes
  // each, in the order given.
  std::vector<std::string> text_list(std::string_view name, std::size_t max_entries,
                                     std::size_t max_bytes);
  // An array of at most max_entries distinct is_network_id strings.
  std::vector<std::string> network_id_list(std::string_view name, std::size_t max_entries);

  bool has(std::string_view name) const;
  // Records a problem found by the handler itself (a value outside an enum);
  // only the first problem is kept.
  void fail(std::string message);
  bool ok() const { return !problem_.has_value(); }
  // BAD_ARGS with the first problem. Precondition: !ok().
  Outcome refusal() const;

 private:
  const Json* member(std::string_view name);
  const Json& args_;
  std::optional<std::string> problem_;
};

// UNSIGNED if nobody signed; UNEXPECTED_SIGNER naming the first extra signer
// if anyone but the actor did; otherwise OK. For functions that need no
// co-signature.
Outcome require_actor_only(const Call& call, std::string_view function);

// The co-signer (a signer other than the actor) with this identity id.
const Signer* find_cosigner(const Call& call, std::string_view identity_id);

// An Outcome refusing with an Error's code and message.
Outcome refuse(const Error& error);

// One function of a module. `run` is called twice for a transaction: by
// admit() with state == nullptr, when it must stop after the checks that need
// no state (argument shape, signers, the actor's roles) and return OK; and by
// execute() with the state, when it repeats those checks and applies the
// rest. Writing each rule once, in one place, keeps admit() and execute()
// from disagreeing about a static rule.
struct ModuleFunction {
  std::string_view name;
  Outcome (*run)(const Call& call, const StateView* state);
};

// A Module named `name` that dispatches on tx.function through `functions`
// (which must outlive the module: pass a static array). An unknown function
// gives UNKNOWN_FUNCTION.
std::unique_ptr<Module> make_table_module(std::string_view name,
                                          std::span<const ModuleFunction> functions);

}  // namespace custos::chaincode
