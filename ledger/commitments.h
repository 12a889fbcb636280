// What the ledger's two per-block commitments are made of (docs/formats.md
// §12 and §13): the leaf data of the transaction log and the value the state
// map holds for a history key. Pure functions, thread-safe; the ledger and
// any verifier-side tool compute them the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/json.h"

namespace custos::ledger {

// The tag of a history-head value, H(kHistoryHeadTag, ...).
inline constexpr std::string_view kHistoryHeadTag = "custos/history-head/v1";

// The leaf data of one transaction log entry: the canonical JSON
// {"code":CODE,"height":H,"index":I,"tx_id":HEX}, I being the transaction's
// position in its block and CODE its stored result code. The log's leaf hash
// is merkle_leaf_hash of these bytes.
// Precondition: code is valid UTF-8 and height <= 2^53 - 1 (canonical JSON's
// range); a violation is a caller bug and aborts.
std::string tx_log_leaf_data(const Hash256& tx_id, std::uint64_t height, std::uint32_t index,
                             std::string_view code);

// The state map's value for a history key whose latest append is (seq,
// event): H("custos/history-head/v1", JCS({"event": event, "seq": seq})).
// Precondition: event is canonical-JSON-able and seq <= 2^53 - 1; a
// violation is a caller bug and aborts.
Hash256 history_head_value(const Json& event, std::uint64_t seq);
// The same from the event's canonical JSON text, which the caller has already.
Hash256 history_head_value_of_text(std::string_view event_text, std::uint64_t seq);

}  // namespace custos::ledger
