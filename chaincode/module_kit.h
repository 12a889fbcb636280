// Helpers the module sources (custody, provenance, funds) share: the event
// hash chain's envelope, message text, and the small conversions records use.
// Internal to chaincode/: other folders use the modules' own headers.
//
// Everything here is pure and thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chaincode/chaincode.h"
#include "core/result.h"

namespace custos::chaincode {

// `s` between double quotes, as messages name ids and values.
std::string in_quotes(std::string_view s);

// What `s` holds, for ROLE_FORBIDDEN messages: "roles a b" or "no role".
std::string roles_text(const Signer& s);

// ROLE_FORBIDDEN: "<qualified_function> needs <needed>; "<id>" holds <roles>".
// `qualified_function` is "<chaincode>.<function>", e.g. "custody.examine".
Outcome refuse_role(const Signer& s, std::string_view qualified_function, std::string_view needed);

// An optional string as records store it: the string, or null. optional_string
// reverses it; a value that is neither a string nor null throws (records are
// written only by their module, so that is a broken invariant).
Json optional_json(const std::optional<std::string>& s);
std::optional<std::string> optional_string(const Json& j);

// Sorted, duplicate-free id lists as records keep them.
bool contains_sorted(const std::vector<std::string>& sorted, std::string_view s);
void insert_sorted(std::vector<std::string>& sorted, const std::string& s);

// --- the event hash chain -----------------------------------------------------------
//
// One chain of events (custody items, artefacts, transfers, settlements),
// kept in its record as an event count and a head hash. Every event has the
// envelope of docs/custody.md §5: <subject_member>, seq, type, tx_id, height,
// block_time_ms, actor, cosigners, data, prev_event_hash and event_hash
// (compute_event_hash), plus the chain's own top-level members.
struct EventChain {
  std::string history_key;          // the ledger history the events go to
  std::string_view subject_member;  // "item_id" | "artefact_id" | "identity_id"
  std::string subject;              // the value of subject_member
  std::uint64_t& event_count;
  std::string& head_event_hash;
};

// Builds the chain's next event with `top_level` (an object, e.g.
// {"declared_at_ms": n}; empty for none) merged into the envelope, appends it
// to out.history and advances the chain's count and head. Precondition: the
// event is canonically encodable (ArgReader admitted `data`'s strings and
// numbers); a violation stops the process.
void append_chained_event(const EventChain& chain, const Call& call, std::string_view type,
                          Json top_level, Json data, Outcome& out);

// Checks a chain's events, oldest first: each names `subject` in
// `subject_member`, has the seq after the one before, links to the previous
// event's hash (the first to `prev_event_hash`; a first event at seq 0 to
// kNoPrevEventHash) and carries an event_hash that recomputes. Errors
// ("bad_history") name the first bad event; `noun` ("item") words the
// message for an event of another subject. An empty list is accepted. The
// engine of verify_item_history and verify_artefact_history.
Status verify_event_chain(std::string_view subject_member, std::string_view noun,
                          std::string_view subject, const std::vector<Json>& events,
                          std::string_view prev_event_hash);

}  // namespace custos::chaincode
