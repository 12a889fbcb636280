#include "ledger/commitments.h"

#include <cstdio>
#include <cstdlib>

namespace custos::ledger {
namespace {

// Both inputs come from the executor, which only produces canonical JSON; a
// value outside it would make the commitment unverifiable, so it is a bug.
std::string canonical_or_abort(const Json& value, const char* what) {
  auto text = canonical_json(value);
  if (!text) {
    std::fprintf(stderr, "custos ledger: fatal: %s is not canonical JSON: %s\n", what,
                 text.error().message.c_str());
    std::abort();
  }
  return std::move(text).value();
}

}  // namespace

std::string tx_log_leaf_data(const Hash256& tx_id, std::uint64_t height, std::uint32_t index,
                             std::string_view code) {
  return canonical_or_abort(Json{{"code", std::string(code)},
                                 {"height", height},
                                 {"index", index},
                                 {"tx_id", tx_id.hex()}},
                            "transaction log leaf");
}

Hash256 history_head_value(const Json& event, std::uint64_t seq) {
  return history_head_value_of_text(canonical_or_abort(event, "history event"), seq);
}

Hash256 history_head_value_of_text(std::string_view event_text, std::uint64_t seq) {
  // JCS of {"event": event, "seq": seq}: the members in that order ("event"
  // sorts before "seq"), an integer as its decimal digits.
  std::string doc = "{\"event\":";
  doc += event_text;
  doc += ",\"seq\":" + std::to_string(seq) + "}";
  return tagged_hash(kHistoryHeadTag, doc);
}

}  // namespace custos::ledger
