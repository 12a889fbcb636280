#include "chaincode/module_kit.h"

#include <algorithm>
#include <cstdlib>

#include "chaincode/custody.h"

namespace custos::chaincode {

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string roles_text(const Signer& s) {
  if (s.roles.empty()) return "no role";
  std::string out = "roles";
  for (const auto& r : s.roles) out += " " + r;
  return out;
}

Outcome refuse_role(const Signer& s, std::string_view qualified_function, std::string_view needed) {
  return Outcome::refuse(code::kRoleForbidden,
                         std::string(qualified_function) + " needs " + std::string(needed) + "; " +
                             in_quotes(s.identity_id) + " holds " + roles_text(s));
}

Json optional_json(const std::optional<std::string>& s) {
  return s ? Json(*s) : Json(nullptr);
}

std::optional<std::string> optional_string(const Json& j) {
  return j.is_null() ? std::nullopt : std::optional<std::string>(j.get<std::string>());
}

bool contains_sorted(const std::vector<std::string>& sorted, std::string_view s) {
  return std::binary_search(sorted.begin(), sorted.end(), s);
}

void insert_sorted(std::vector<std::string>& sorted, const std::string& s) {
  sorted.insert(std::upper_bound(sorted.begin(), sorted.end(), s), s);
}

void append_chained_event(const EventChain& chain, const Call& call, std::string_view type,
                          Json top_level, Json data, Outcome& out) {
  Json cosigners = Json::array();
  for (std::size_t i = 1; i < call.signers.size(); ++i) {
    cosigners.push_back(call.signers[i].identity_id);
  }
  Json event = std::move(top_level);
  if (!event.is_object()) std::abort();  // a caller's bug, not input
  event[std::string(chain.subject_member)] = chain.subject;
  event["seq"] = chain.event_count;
  event["type"] = type;
  event["tx_id"] = call.tx_id.hex();
  event["height"] = call.block.height;
  event["block_time_ms"] = call.block.timestamp_ms;
  event["actor"] = call.actor().identity_id;
  event["cosigners"] = std::move(cosigners);
  event["data"] = std::move(data);
  event["prev_event_hash"] =
      chain.event_count == 0 ? std::string(kNoPrevEventHash) : chain.head_event_hash;
  auto hash = compute_event_hash(event);
  // ArgReader admitted only canonically encodable arguments, and everything
  // else in the event is built by the modules from ids, integers and checked
  // dates.
  if (!hash) std::abort();
  std::string hash_hex = hash->hex();
  event["event_hash"] = hash_hex;
  out.history.push_back({chain.history_key, chain.event_count, std::move(event)});
  chain.event_count += 1;
  chain.head_event_hash = std::move(hash_hex);
}

Status verify_event_chain(std::string_view subject_member, std::string_view noun,
                          std::string_view subject, const std::vector<Json>& events,
                          std::string_view prev_event_hash) {
  auto bad = [](std::size_t i, const std::string& why) {
    return make_error("bad_history", "event " + std::to_string(i) + ": " + why);
  };
  const std::string subject_key(subject_member);
  std::string expected_prev(prev_event_hash);
  std::uint64_t first_seq = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Json& e = events[i];
    if (!e.is_object()) return bad(i, "not a JSON object");
    auto member_is = [&](const std::string& name, bool (Json::*is)() const noexcept) {
      return e.contains(name) && (e.at(name).*is)();
    };
    if (!member_is("seq", &Json::is_number_integer) || e.at("seq").get<std::int64_t>() < 0) {
      return bad(i, "\"seq\" must be a non-negative integer");
    }
    auto seq = e.at("seq").get<std::uint64_t>();
    if (i == 0) {
      first_seq = seq;
      if (seq == 0 && expected_prev != kNoPrevEventHash) {
        return bad(i, "a history starting at seq 0 has no previous event");
      }
    } else if (seq != first_seq + i) {
      return bad(i, "seq " + std::to_string(seq) + " where " + std::to_string(first_seq + i) +
                        " was expected: an event is missing or repeated");
    }
    if (!member_is(subject_key, &Json::is_string) || e.at(subject_key) != subject) {
      return bad(i, "belongs to another " + std::string(noun));
    }
    if (!member_is("prev_event_hash", &Json::is_string) ||
        e.at("prev_event_hash").get<std::string>() != expected_prev) {
      return bad(i, "prev_event_hash does not match the previous event's hash " + expected_prev);
    }
    auto hash = compute_event_hash(e);
    if (!hash) return bad(i, hash.error().message);
    if (!member_is("event_hash", &Json::is_string) ||
        e.at("event_hash").get<std::string>() != hash->hex()) {
      return bad(i, "event_hash does not recompute (expected " + hash->hex() + ")");
    }
    expected_prev = hash->hex();
  }
  return ok_status();
}

}  // namespace custos::chaincode
