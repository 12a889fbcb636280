// The custody module (chaincode "custody"): cases (a joint investigation
// team: a lead org and member orgs), evidence items and their chain of
// custody, kept as one hash chain of events per item.
//
// State layout (values are JSON; docs/custody.md has the full tables):
//   case/<case_id>                  the case: reference, lead_org, member_orgs,
//                                   granted (judges and clerks), item_count
//   case_item/<case_id>/<item_id>   {"item_id"}: lists a case's items by prefix scan
//   item/<item_id>                  the item's current state, head_event_hash
// History: key item/<item_id>, seq 0 = registration (or derivation), one
// event per custody function; each event carries the previous event's hash.
//
// Functions: open_case, add_member, grant_access, register, handover,
// examine, derive, integrity_check, exhibit, release, return, destroy. Who
// may call each, its arguments and the code each failed check gives are in
// docs/custody.md.
//
// Deterministic and thread-compatible: the module object is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "chaincode/chaincode.h"
#include "core/result.h"

namespace custos::chaincode {

inline constexpr std::string_view kCustodyChaincode = "custody";

// Roles that may hold evidence (be an item's custodian).
inline constexpr std::string_view kCustodyRoles[] = {
    "custodian", "investigator", "forensic_analyst", "customs_officer", "court_clerk"};
bool holds_custody_role(const Signer& signer);

// A declared time may run ahead of the block's timestamp by this much (clock
// skew between a field device and the orderer), never more.
inline constexpr std::int64_t kDeclaredAheadMaxMs = 300'000;

// Bounds on arguments and on lists kept in state.
inline constexpr std::size_t kCustodyTextBytesMax = 500;  // every free-text argument
inline constexpr std::size_t kSealNumberBytesMax = 64;
inline constexpr std::size_t kCustodyListMax = 32;  // seal_numbers, member_orgs arguments
inline constexpr std::size_t kCaseMembersMax = 64;
inline constexpr std::size_t kCaseGrantedMax = 64;
inline constexpr std::size_t kItemChildrenMax = 256;

// State keys.
std::string case_state_key(std::string_view case_id);     // case/<id>
std::string case_items_prefix(std::string_view case_id);  // case_item/<id>/
std::string case_item_state_key(std::string_view case_id, std::string_view item_id);
std::string item_state_key(std::string_view item_id);  // item/<id>

std::unique_ptr<Module> make_custody_module();

// --- the event hash chain ----------------------------------------------------------
//
// event_hash = tagged_hash(kEventTag, canonical_json(event without "event_hash")).
// seq 0's prev_event_hash is kNoPrevEventHash; every later event's is the
// event_hash of the event before it.
inline constexpr std::string_view kEventTag = "custos/event/v1";
inline constexpr std::string_view kNoPrevEventHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// An item event's "data" as a transaction of that type with these arguments
// makes it, where it depends on the arguments alone: the arguments without
// item_id and the declared time (register: without seized_at_ms, with
// content_hash null when omitted; derive: {child_id, kind, description,
// content_hash}). nullopt for "derived" and "integrity_check", whose data
// also come from state, and for unknown types. The module builds its events
// with it and the offline bundle verifier checks events against it.
std::optional<Json> event_data_from_args(std::string_view type, const Json& args);

// The hash of `event`, ignoring any "event_hash" member it has. Errors
// ("bad_event"): not an object, or not canonically encodable.
Result<Hash256> compute_event_hash(const Json& event);

// Checks an item's events, oldest first, starting at seq 0 (a complete
// history) or at any later seq (a page: then `prev_event_hash` must be the
// event_hash of the event before the page, and is not checked otherwise;
// pass kNoPrevEventHash for a history that starts at seq 0). Each event must
// name `item_id`, have the next seq, link to the previous hash and carry an
// event_hash that recomputes. Errors ("bad_history") name the first bad
// event. An empty list is accepted.
Status verify_item_history(std::string_view item_id, const std::vector<Json>& events,
                           std::string_view prev_event_hash = kNoPrevEventHash);

}  // namespace custos::chaincode
