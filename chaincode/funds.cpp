#include "chaincode/funds.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <vector>

#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "chaincode/module_kit.h"
#include "core/hash.h"

namespace custos::chaincode {

namespace {

// ISO 4217 list one, active alphabetic codes of circulating currencies as
// published by the maintenance agency (SIX) in 2025, sorted so that a binary
// search answers. Left out on purpose: fund codes (BOV, CHE, CHW, CLF, COU,
// MXV, USN, UYI, UYW), precious metals (XAG, XAU, XPD, XPT), bond-market units
// (XBA-XBD), XDR, XSU, XUA, and XTS / XXX; and codes withdrawn by then (ANG
// for XCG, HRK for EUR, SLL for SLE, ZWL for ZWG, CUC).
constexpr std::string_view kActiveCurrencies[] = {
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG",
    "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
    "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG"};
static_assert(std::is_sorted(std::begin(kActiveCurrencies), std::end(kActiveCurrencies)),
              "kActiveCurrencies must stay sorted for binary_search");
static_assert(std::adjacent_find(std::begin(kActiveCurrencies), std::end(kActiveCurrencies)) ==
                  std::end(kActiveCurrencies),
              "kActiveCurrencies must not repeat a code");

}  // namespace

bool is_active_currency(std::string_view code) {
  return std::binary_search(std::begin(kActiveCurrencies), std::end(kActiveCurrencies), code);
}

std::int64_t FundsConfig::r16_threshold_for(std::string_view currency) const {
  if (auto it = r16_threshold_minor.find(currency); it != r16_threshold_minor.end()) {
    return it->second;
  }
  if (currency == kDefaultR16Currency) return kDefaultR16ThresholdMinorEur;
  return kUnconfiguredR16ThresholdMinor;
}

FundsConfig funds_config(const StateView& state) noexcept {
  FundsConfig config;
  auto network = state.get(kNetworkStateKey);
  if (!network || !network->contains("config")) return config;
  const Json& all = network->at("config");
  if (!all.contains("funds")) return config;
  // genesis_from_json checked the section's shape and ranges; a value that
  // fails these conversions means the state was not written from a checked
  // genesis, and the exception stops the process instead of letting nodes
  // that read it differently disagree.
  const Json& funds = all.at("funds");
  if (funds.contains("r16_threshold_minor")) {
    for (const auto& [currency, minor] : funds.at("r16_threshold_minor").items()) {
      config.r16_threshold_minor.emplace(currency, minor.get<std::int64_t>());
    }
  }
  if (funds.contains("structuring")) {
    config.structuring_count = funds.at("structuring").at("count").get<std::int64_t>();
    config.structuring_window_ms = funds.at("structuring").at("window_ms").get<std::int64_t>();
  }
  if (config.structuring_count <= 0 || config.structuring_window_ms <= 0) std::abort();
  return config;
}

std::string agent_state_key(std::string_view agent_id) {
  return "agent/" + std::string(agent_id);
}
std::string transfer_state_key(std::string_view transfer_id) {
  return "transfer/" + std::string(transfer_id);
}
std::string agent_positions_prefix(std::string_view agent) {
  return std::string(kPositionsPrefix) + std::string(agent) + "/";
}
std::string position_state_key(std::string_view agent, std::string_view counterparty,
                               std::string_view currency) {
  return agent_positions_prefix(agent) + std::string(counterparty) + "/" + std::string(currency);
}
std::string settlement_state_key(std::string_view agent_a, std::string_view agent_b,
                                 std::string_view currency) {
  if (agent_b < agent_a) std::swap(agent_a, agent_b);
  return "settlement/" + std::string(agent_a) + "/" + std::string(agent_b) + "/" +
         std::string(currency);
}
std::string structuring_state_key(std::string_view originator_commitment) {
  return "structuring/" + std::string(originator_commitment);
}
std::string transfer_flagged_state_key(std::string_view transfer_id) {
  return std::string(kTransferFlaggedPrefix) + std::string(transfer_id);
}

std::optional<PositionKey> parse_position_key(std::string_view key) {
  if (!key.starts_with(kPositionsPrefix)) return std::nullopt;
  key.remove_prefix(kPositionsPrefix.size());
  std::size_t first = key.find('/');
  if (first == std::string_view::npos) return std::nullopt;
  std::size_t second = key.find('/', first + 1);
  if (second == std::string_view::npos || key.find('/', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  PositionKey parts{std::string(key.substr(0, first)),
                    std::string(key.substr(first + 1, second - first - 1)),
                    std::string(key.substr(second + 1))};
  if (!is_network_id(parts.agent) || !is_network_id(parts.counterparty) ||
      !is_active_currency(parts.currency)) {
    return std::nullopt;
  }
  return parts;
}

std::optional<Json> find_agent(const StateView& state, std::string_view agent_id) {
  return state.get(agent_state_key(agent_id));
}

std::optional<Json> find_transfer(const StateView& state, std::string_view transfer_id) {
  return state.get(transfer_state_key(transfer_id));
}

namespace {

// --- records ------------------------------------------------------------------------
//
// State values are written only by this module, so a malformed one is a
// broken invariant: nlohmann throws, and noexcept turns that into a stop
// rather than an outcome that differs between nodes.

struct TransferRecord {
  std::string id;
  std::string originating_agent;
  std::string paying_agent;
  std::string originator_commitment;
  std::string beneficiary_commitment;
  std::int64_t amount_minor = 0;
  std::string currency;
  std::string purpose;
  std::string pickup_code_hash;
  Json r16 = nullptr;  // the agent's R16 assertions as sent, or null
  std::int64_t r16_threshold_minor = 0;
  std::string status = "sent";  // "sent" | "paid_out" | "cancelled"
  bool frozen = false;
  std::optional<std::string> freeze_reason_ref;
  bool flagged = false;
  std::optional<std::string> flag_reason;
  std::int64_t sent_at_ms = 0;
  std::uint64_t sent_at_height = 0;
  std::optional<std::uint64_t> closed_at_height;  // of the payout or the cancellation
  std::uint64_t event_count = 0;
  std::string head_event_hash;

  Json to_json() const {
    return Json{{"id", id},
                {"originating_agent", originating_agent},
                {"paying_agent", paying_agent},
                {"originator_commitment", originator_commitment},
                {"beneficiary_commitment", beneficiary_commitment},
                {"amount_minor", amount_minor},
                {"currency", currency},
                {"purpose", purpose},
                {"pickup_code_hash", pickup_code_hash},
                {"r16", r16},
                {"r16_threshold_minor", r16_threshold_minor},
                {"status", status},
                {"frozen", frozen},
                {"freeze_reason_ref", optional_json(freeze_reason_ref)},
                {"flagged", flagged},
                {"flag_reason", optional_json(flag_reason)},
                {"sent_at_ms", sent_at_ms},
                {"sent_at_height", sent_at_height},
                {"closed_at_height", closed_at_height ? Json(*closed_at_height) : Json(nullptr)},
                {"event_count", event_count},
                {"head_event_hash", head_event_hash}};
  }
  static TransferRecord from_json(const Json& j) noexcept {
    TransferRecord t;
    t.id = j.at("id").get<std::string>();
    t.originating_agent = j.at("originating_agent").get<std::string>();
    t.paying_agent = j.at("paying_agent").get<std::string>();
    t.originator_commitment = j.at("originator_commitment").get<std::string>();
    t.beneficiary_commitment = j.at("beneficiary_commitment").get<std::string>();
    t.amount_minor = j.at("amount_minor").get<std::int64_t>();
    t.currency = j.at("currency").get<std::string>();
    t.purpose = j.at("purpose").get<std::string>();
    t.pickup_code_hash = j.at("pickup_code_hash").get<std::string>();
    t.r16 = j.at("r16");
    t.r16_threshold_minor = j.at("r16_threshold_minor").get<std::int64_t>();
    t.status = j.at("status").get<std::string>();
    t.frozen = j.at("frozen").get<bool>();
    t.freeze_reason_ref = optional_string(j.at("freeze_reason_ref"));
    t.flagged = j.at("flagged").get<bool>();
    t.flag_reason = optional_string(j.at("flag_reason"));
    t.sent_at_ms = j.at("sent_at_ms").get<std::int64_t>();
    t.sent_at_height = j.at("sent_at_height").get<std::uint64_t>();
    const Json& closed = j.at("closed_at_height");
    if (!closed.is_null()) t.closed_at_height = closed.get<std::uint64_t>();
    t.event_count = j.at("event_count").get<std::uint64_t>();
    t.head_event_hash = j.at("head_event_hash").get<std::string>();
    return t;
  }
};

std::optional<TransferRecord> load_transfer(const StateView& state, std::string_view id) {
  auto j = find_transfer(state, id);
  if (!j) return std::nullopt;
  return TransferRecord::from_json(*j);
}

// What `counterparty` owes `agent` in `currency`; 0 when they never traded.
std::int64_t load_net_minor(const StateView& state, std::string_view agent,
                            std::string_view counterparty, std::string_view currency) noexcept {
  auto j = state.get(position_state_key(agent, counterparty, currency));
  return j ? j->at("net_minor").get<std::int64_t>() : 0;
}

// Both sides of a pair's position, so the network-wide sum per currency stays
// zero by construction.
void write_pair_position(std::string_view agent, std::string_view counterparty,
                         std::string_view currency, std::int64_t agent_net_minor, Outcome& out) {
  out.writes.push_back(
      {position_state_key(agent, counterparty, currency), Json{{"net_minor", agent_net_minor}}});
  out.writes.push_back(
      {position_state_key(counterparty, agent, currency), Json{{"net_minor", -agent_net_minor}}});
}

// The pair's position from `agent`'s side, after checking that the other side
// mirrors it: a position only this module writes, always in pairs, cannot be
// lopsided unless the state is corrupt.
std::int64_t load_pair_position(const StateView& state, std::string_view agent,
                                std::string_view counterparty, std::string_view currency) {
  std::int64_t mine = load_net_minor(state, agent, counterparty, currency);
  if (load_net_minor(state, counterparty, agent, currency) != -mine) std::abort();
  return mine;
}

// --- events -------------------------------------------------------------------------

// A hash-chained event in custody's envelope (docs/custody.md §5, without
// declared_at_ms: nothing here is declared apart from when the ledger learns
// it). The chain's subject is stored as "item_id" so that
// verify_item_history() checks the chain.
EventChain funds_chain(std::string history_key, std::string subject, std::uint64_t& event_count,
                       std::string& head_event_hash) {
  return EventChain{std::move(history_key), "item_id", std::move(subject), event_count,
                    head_event_hash};
}

void append_transfer_event(TransferRecord& t, const Call& call, std::string_view type, Json data,
                           Outcome& out) {
  append_chained_event(
      funds_chain(transfer_state_key(t.id), t.id, t.event_count, t.head_event_hash), call, type,
      Json::object(), std::move(data), out);
}

// --- shared checks ------------------------------------------------------------------

Outcome role_forbidden(const Signer& s, std::string_view function, std::string_view needed) {
  return refuse_role(s, "funds." + std::string(function), needed);
}

// An amount in minor units: a JSON integer (the canonical encoding already
// bounds it to ±(2^53-1)). Its sign is the caller's rule (BAD_AMOUNT).
std::int64_t read_amount(ArgReader& r, const Json& args, const char* name) {
  if (!r.ok()) return 0;
  const Json& m = args.at(name);
  if (!m.is_number_integer()) {
    r.fail(in_quotes(name) + " must be an integer number of minor units");
    return 0;
  }
  return m.get<std::int64_t>();
}

Outcome check_currency(std::string_view currency) {
  if (is_active_currency(currency)) return Outcome{};
  return Outcome::refuse(code::kUnknownCurrency,
                         in_quotes(currency) + " is not an active ISO 4217 currency code");
}

// --- the R16 object -----------------------------------------------------------------
//
// {"originator": {"name", "account_or_reference", "address", "national_id",
//                 "customer_id", "date_and_place_of_birth"},
//  "beneficiary": {"name", "account_or_reference"}}
// Each member is a boolean: true asserts that the party's commitment covers
// that field; an absent member is false. Source: FATF Interpretive Note to
// Recommendation 16, paragraph 6 (docs/funds.md §3).

constexpr std::string_view kOriginatorFields[] = {"name",        "account_or_reference",
                                                  "address",     "national_id",
                                                  "customer_id", "date_and_place_of_birth"};
constexpr std::string_view kBeneficiaryFields[] = {"name", "account_or_reference"};
// Any one of these completes the originator's identification.
constexpr std::string_view kOriginatorIdentifiers[] = {"address", "national_id", "customer_id",
                                                       "date_and_place_of_birth"};

// Checks the form of one party's object.
template <std::size_t N>
void check_r16_party(ArgReader& r, const Json& r16, const char* party,
                     const std::string_view (&fields)[N]) {
  if (!r.ok()) return;
  std::string where = "\"r16\".\"" + std::string(party) + "\"";
  if (!r16.contains(party) || !r16.at(party).is_object()) {
    r.fail(where + " must be an object");
    return;
  }
  for (const auto& [field, asserted] : r16.at(party).items()) {
    if (std::find(std::begin(fields), std::end(fields), field) == std::end(fields)) {
      r.fail(where + " has unknown field \"" + field + "\"");
      return;
    }
    if (!asserted.is_boolean()) {
      r.fail(where + ".\"" + field + "\" must be true or false");
      return;
    }
  }
}

// The "r16" argument: null, or an object of the form above.
void check_r16_form(ArgReader& r, const Json& args) {
  if (!r.ok()) return;
  const Json& r16 = args.at("r16");
  if (r16.is_null()) return;
  if (!r16.is_object() || r16.size() != 2) {
    r.fail("\"r16\" must be null or {\"originator\": {...}, \"beneficiary\": {...}}");
    return;
  }
  check_r16_party(r, r16, "originator", kOriginatorFields);
  check_r16_party(r, r16, "beneficiary", kBeneficiaryFields);
}

bool asserts(const Json& party, std::string_view field) {
  auto it = party.find(std::string(field));
  return it != party.end() && it->get<bool>();
}

// The R16 fields `r16` (null or of a checked form) fails to assert, as text;
// empty when it is complete.
std::string missing_r16_fields(const Json& r16) {
  if (r16.is_null()) return "the r16 object (it is null)";
  std::vector<std::string> missing;
  const Json& o = r16.at("originator");
  const Json& b = r16.at("beneficiary");
  if (!asserts(o, "name")) missing.push_back("originator.name");
  if (!asserts(o, "account_or_reference")) missing.push_back("originator.account_or_reference");
  if (std::none_of(std::begin(kOriginatorIdentifiers), std::end(kOriginatorIdentifiers),
                   [&](std::string_view f) { return asserts(o, f); })) {
    missing.push_back(
        "one of originator.address, .national_id, .customer_id, .date_and_place_of_birth");
  }
  if (!asserts(b, "name")) missing.push_back("beneficiary.name");
  if (!asserts(b, "account_or_reference")) missing.push_back("beneficiary.account_or_reference");
  std::string text;
  for (const auto& m : missing) text += (text.empty() ? "" : ", ") + m;
  return text;
}

// --- register_agent {agent_id, licence_ref} ------------------------------------------
Outcome register_agent(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"agent_id", "licence_ref"});
  std::string agent_id = r.network_id("agent_id");
  std::string licence_ref = r.text("licence_ref", kFundsTextBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "funds.register_agent"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("admin")) {
    return Outcome::refuse(code::kNotOrgAdmin,
                           "only an admin of a transfer agent's org may "
                           "register it; " +
                               in_quotes(actor.identity_id) + " is not an admin");
  }
  if (!state) return Outcome{};

  auto org = find_org(*state, actor.org);
  if (!org) std::abort();  // the registry resolved the actor, whose org always exists
  if (org->at("kind") != "transfer_agent") {
    return Outcome::refuse(code::kNotTransferAgent,
                           "org " + in_quotes(actor.org) + " is of kind " +
                               org->at("kind").get<std::string>() +
                               "; only an org of kind transfer_agent registers agents");
  }
  auto identity = find_identity(*state, agent_id);
  if (!identity) {
    return Outcome::refuse(code::kIdentityNotFound, "no identity " + in_quotes(agent_id));
  }
  if (identity->at("org") != actor.org) {
    return Outcome::refuse(code::kNotOrgAdmin, in_quotes(agent_id) + " belongs to org " +
                                                   identity->at("org").dump() + ", not to " +
                                                   in_quotes(actor.org));
  }
  if (identity->at("status") != "active") {
    return Outcome::refuse(code::kAlreadyRevoked, "identity " + in_quotes(agent_id) +
                                                      " is revoked; a revoked identity cannot act "
                                                      "as an agent");
  }
  const Json& roles = identity->at("roles");
  if (std::find(roles.begin(), roles.end(), "transfer_agent") == roles.end()) {
    return Outcome::refuse(code::kNotTransferAgent,
                           in_quotes(agent_id) + " does not hold the role transfer_agent");
  }
  if (find_agent(*state, agent_id)) {
    return Outcome::refuse(code::kAgentExists,
                           "agent " + in_quotes(agent_id) + " is already registered");
  }
  Outcome out;
  out.writes.push_back(
      {agent_state_key(agent_id), Json{{"id", agent_id},
                                       {"org", actor.org},
                                       {"licence_ref", licence_ref},
                                       {"registered_by", actor.identity_id},
                                       {"registered_at_height", call.block.height}}});
  return out;
}

// --- the structuring rule -----------------------------------------------------------
//
// structuring/<originator_commitment> keeps, oldest first, the sub-threshold
// transfers sent with that commitment within the last window, at most
// `count` of them: nothing older can ever complete a window again, and only
// the latest count-1 are needed to judge the next one.

struct RecentTransfer {
  std::string transfer_id;
  std::int64_t sent_at_ms = 0;
};

std::vector<RecentTransfer> load_recent(const StateView& state,
                                        std::string_view commitment) noexcept {
  std::vector<RecentTransfer> recent;
  auto j = state.get(structuring_state_key(commitment));
  if (!j) return recent;
  for (const Json& e : j->at("recent")) {
    recent.push_back(
        {e.at("transfer_id").get<std::string>(), e.at("sent_at_ms").get<std::int64_t>()});
  }
  return recent;
}

Json recent_to_json(std::string_view commitment, const std::vector<RecentTransfer>& recent) {
  Json list = Json::array();
  for (const auto& e : recent) {
    list.push_back(Json{{"transfer_id", e.transfer_id}, {"sent_at_ms", e.sent_at_ms}});
  }
  return Json{{"originator_commitment", commitment}, {"recent", std::move(list)}};
}

std::string structuring_reason(const FundsConfig& config) {
  return "structuring: " + std::to_string(config.structuring_count) +
         " transfers below the R16 threshold from one originator commitment within " +
         std::to_string(config.structuring_window_ms) + " ms of block time";
}

// Records `sent` (a new sub-threshold transfer, not yet written) in its
// originator's index and, when the window then holds `count` transfers, flags
// each of them that is not flagged yet, `sent` included. Appends the writes
// and the flag events of the other transfers to `out`; `sent`'s own record is
// the caller's to write.
void apply_structuring_rule(const StateView& state, const Call& call, const FundsConfig& config,
                            TransferRecord& sent, Outcome& out) {
  std::vector<RecentTransfer> recent = load_recent(state, sent.originator_commitment);
  std::int64_t now_ms = call.block.timestamp_ms;
  // The entry appended last is the newest, so trimming from the front below
  // keeps the latest `count`.
  std::erase_if(recent, [&](const RecentTransfer& e) {
    return now_ms - e.sent_at_ms >= config.structuring_window_ms;
  });
  recent.push_back({sent.id, now_ms});
  auto count = static_cast<std::size_t>(config.structuring_count);
  if (recent.size() > count) recent.erase(recent.begin(), recent.end() - count);
  out.writes.push_back({structuring_state_key(sent.originator_commitment),
                        recent_to_json(sent.originator_commitment, recent)});
  if (recent.size() < count) return;

  Json ids = Json::array();
  for (const auto& e : recent) ids.push_back(e.transfer_id);
  std::string reason = structuring_reason(config);
  Json data{{"rule", "structuring"},
            {"reason", reason},
            {"originator_commitment", sent.originator_commitment},
            {"count", config.structuring_count},
            {"window_ms", config.structuring_window_ms},
            {"transfers", ids}};
  auto flag = [&](TransferRecord& t) {
    t.flagged = true;
    t.flag_reason = reason;
    append_transfer_event(t, call, "flag", data, out);
    out.writes.push_back({transfer_flagged_state_key(t.id), Json{{"transfer_id", t.id}}});
  };
  for (const auto& e : recent) {
    if (e.transfer_id == sent.id) continue;
    auto earlier = load_transfer(state, e.transfer_id);
    if (!earlier) std::abort();  // indexed transfers are never removed
    if (earlier->flagged) continue;
    flag(*earlier);
    out.writes.push_back({transfer_state_key(earlier->id), earlier->to_json()});
  }
  flag(sent);
}

// --- send {transfer_id, paying_agent, originator_commitment, beneficiary_commitment,
//           amount_minor, currency, purpose, pickup_code_hash, r16} ------------------
Outcome send(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args,
              {"transfer_id", "paying_agent", "originator_commitment", "beneficiary_commitment",
               "amount_minor", "currency", "purpose", "pickup_code_hash", "r16"});
  std::string transfer_id = r.object_id("transfer_id");
  std::string paying_agent = r.network_id("paying_agent");
  std::string originator = r.hash_hex("originator_commitment");
  std::string beneficiary = r.hash_hex("beneficiary_commitment");
  std::int64_t amount_minor = read_amount(r, args, "amount_minor");
  std::string currency = r.text("currency", 64);
  std::string purpose = r.text("purpose", kFundsTextBytesMax);
  std::string pickup_code_hash = r.hash_hex("pickup_code_hash");
  check_r16_form(r, args);
  if (!r.ok()) return r.refusal();
  if (amount_minor <= 0) {
    return Outcome::refuse(code::kBadAmount, "\"amount_minor\" must be at least 1 minor unit; " +
                                                 std::to_string(amount_minor) + " was given");
  }
  if (auto c = check_currency(currency); !c.ok()) return c;
  if (auto only = require_actor_only(call, "funds.send"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("transfer_agent")) {
    return role_forbidden(actor, "send", "the role transfer_agent");
  }
  if (paying_agent == actor.identity_id) {
    return Outcome::refuse(code::kWrongAgent,
                           "the paying agent must be another agent than the originating " +
                               in_quotes(actor.identity_id));
  }
  if (!state) return Outcome{};

  if (!find_agent(*state, actor.identity_id)) {
    return Outcome::refuse(code::kNotTransferAgent,
                           in_quotes(actor.identity_id) + " is not a registered transfer agent");
  }
  if (find_transfer(*state, transfer_id)) {
    return Outcome::refuse(code::kTransferExists,
                           "transfer " + in_quotes(transfer_id) + " already exists");
  }
  if (!find_agent(*state, paying_agent)) {
    return Outcome::refuse(code::kAgentNotFound,
                           "no registered agent " + in_quotes(paying_agent) + " to pay out");
  }
  auto payer_identity = find_identity(*state, paying_agent);
  if (!payer_identity) std::abort();  // agents are registered from existing identities
  if (payer_identity->at("status") != "active") {
    return Outcome::refuse(code::kNotTransferAgent, "the paying agent " + in_quotes(paying_agent) +
                                                        " is revoked and could never pay out");
  }
  FundsConfig config = funds_config(*state);
  std::int64_t threshold = config.r16_threshold_for(currency);
  const Json& r16 = args.at("r16");
  if (amount_minor >= threshold) {
    if (std::string missing = missing_r16_fields(r16); !missing.empty()) {
      return Outcome::refuse(code::kR16FieldsMissing,
                             std::to_string(amount_minor) + " " + currency +
                                 " minor units is at or above the R16 threshold of " +
                                 std::to_string(threshold) + "; missing: " + missing);
    }
  }

  TransferRecord t;
  t.id = transfer_id;
  t.originating_agent = actor.identity_id;
  t.paying_agent = paying_agent;
  t.originator_commitment = originator;
  t.beneficiary_commitment = beneficiary;
  t.amount_minor = amount_minor;
  t.currency = currency;
  t.purpose = purpose;
  t.pickup_code_hash = pickup_code_hash;
  t.r16 = r16;
  t.r16_threshold_minor = threshold;
  t.sent_at_ms = call.block.timestamp_ms;
  t.sent_at_height = call.block.height;

  Outcome out;
  Json data = args;
  data.erase("transfer_id");
  append_transfer_event(t, call, "send", std::move(data), out);
  // Transfers with full R16 data cannot be structuring: the rule watches
  // what stays below the threshold.
  if (amount_minor < threshold) apply_structuring_rule(*state, call, config, t, out);
  out.writes.push_back({transfer_state_key(transfer_id), t.to_json()});
  return out;
}

// The state checks of a function on an open transfer by one of its agents:
// TRANSFER_NOT_FOUND, WRONG_AGENT, then the closed states in the order given
// by `paid_out_first`, then TRANSFER_FROZEN.
Result<TransferRecord> load_open_transfer(const StateView& state, const Call& call,
                                          const std::string& transfer_id, bool by_paying_agent) {
  auto t = load_transfer(state, transfer_id);
  if (!t) return make_error(code::kTransferNotFound, "no transfer " + in_quotes(transfer_id));
  const std::string& agent = by_paying_agent ? t->paying_agent : t->originating_agent;
  if (call.actor().identity_id != agent) {
    return make_error(
        code::kWrongAgent,
        std::string(by_paying_agent ? "only the paying agent " : "only the originating agent ") +
            in_quotes(agent) + " may do this to transfer " + in_quotes(transfer_id));
  }
  if (t->status == "cancelled") {
    return make_error(code::kTransferCancelled,
                      "transfer " + in_quotes(transfer_id) + " was cancelled");
  }
  if (t->status == "paid_out") {
    return make_error(code::kAlreadyPaidOut,
                      "transfer " + in_quotes(transfer_id) + " was paid out already");
  }
  if (t->frozen) {
    return make_error(code::kTransferFrozen, "transfer " + in_quotes(transfer_id) +
                                                 " is frozen by the FIU (" +
                                                 t->freeze_reason_ref.value_or("") + ")");
  }
  return std::move(*t);
}

// --- payout {transfer_id, pickup_code} -----------------------------------------------
Outcome payout(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"transfer_id", "pickup_code"});
  std::string transfer_id = r.object_id("transfer_id");
  std::string pickup_code = r.text("pickup_code", kPickupCodeBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "funds.payout"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("transfer_agent")) {
    return role_forbidden(actor, "payout", "the role transfer_agent");
  }
  if (!state) return Outcome{};

  auto loaded = load_open_transfer(*state, call, transfer_id, /*by_paying_agent=*/true);
  if (!loaded) return refuse(loaded.error());
  TransferRecord& t = *loaded;
  if (sha256(pickup_code).hex() != t.pickup_code_hash) {
    return Outcome::refuse(code::kWrongPickupCode,
                           "the pickup code's SHA-256 does not match transfer " +
                               in_quotes(transfer_id) + "'s pickup_code_hash");
  }
  // Paying out makes the originating agent owe the paying agent the amount:
  // it took the customer's money, the paying agent handed over its own.
  std::int64_t owed = load_pair_position(*state, t.paying_agent, t.originating_agent, t.currency);
  if (owed > kJsonIntegerMax - t.amount_minor) {
    return Outcome::refuse(code::kPositionOverflow,
                           "the position of " + in_quotes(t.paying_agent) + " towards " +
                               in_quotes(t.originating_agent) + " in " + t.currency +
                               " would exceed 2^53-1 minor units; settle first");
  }
  Outcome out;
  write_pair_position(t.paying_agent, t.originating_agent, t.currency, owed + t.amount_minor, out);
  append_transfer_event(t, call, "payout", Json{{"pickup_code", pickup_code}}, out);
  t.status = "paid_out";
  t.closed_at_height = call.block.height;
  out.writes.push_back({transfer_state_key(transfer_id), t.to_json()});
  return out;
}

// --- cancel {transfer_id, reason} ----------------------------------------------------
Outcome cancel(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"transfer_id", "reason"});
  std::string transfer_id = r.object_id("transfer_id");
  std::string reason = r.text("reason", kFundsTextBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "funds.cancel"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("transfer_agent")) {
    return role_forbidden(actor, "cancel", "the role transfer_agent");
  }
  if (!state) return Outcome{};

  auto loaded = load_open_transfer(*state, call, transfer_id, /*by_paying_agent=*/false);
  if (!loaded) return refuse(loaded.error());
  TransferRecord& t = *loaded;
  Outcome out;
  append_transfer_event(t, call, "cancel", Json{{"reason", reason}}, out);
  t.status = "cancelled";
  t.closed_at_height = call.block.height;
  out.writes.push_back({transfer_state_key(transfer_id), t.to_json()});
  return out;
}

// --- freeze / unfreeze {transfer_id, reason_ref} -------------------------------------
Outcome set_frozen(const Call& call, const StateView* state, bool freeze) {
  std::string_view function = freeze ? "freeze" : "unfreeze";
  ArgReader r(call.tx.args, {"transfer_id", "reason_ref"});
  std::string transfer_id = r.object_id("transfer_id");
  std::string reason_ref = r.text("reason_ref", kFundsTextBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "funds." + std::string(function)); !only.ok()) {
    return only;
  }
  const Signer& actor = call.actor();
  if (!actor.has_role("fiu_analyst")) {
    return role_forbidden(actor, function, "the role fiu_analyst");
  }
  if (!state) return Outcome{};

  // Any org admin can hand out any role; what makes an fiu_analyst's freeze
  // authoritative is that an FIU employs it.
  auto org = find_org(*state, actor.org);
  if (!org) std::abort();  // the registry resolved the actor, whose org always exists
  if (org->at("kind") != "fiu") {
    return Outcome::refuse(code::kRoleForbidden,
                           "funds." + std::string(function) + " needs an fiu_analyst of an org " +
                               "of kind fiu; " + in_quotes(actor.org) + " is of kind " +
                               org->at("kind").get<std::string>());
  }
  auto t = load_transfer(*state, transfer_id);
  if (!t) return Outcome::refuse(code::kTransferNotFound, "no transfer " + in_quotes(transfer_id));
  if (freeze) {
    // A closed transfer has nothing left to stop: its money has moved or
    // gone back.
    if (t->status == "paid_out") {
      return Outcome::refuse(code::kAlreadyPaidOut,
                             "transfer " + in_quotes(transfer_id) + " was paid out already");
    }
    if (t->status == "cancelled") {
      return Outcome::refuse(code::kTransferCancelled,
                             "transfer " + in_quotes(transfer_id) + " was cancelled");
    }
    if (t->frozen) {
      return Outcome::refuse(code::kTransferFrozen,
                             "transfer " + in_quotes(transfer_id) + " is frozen already");
    }
  } else if (!t->frozen) {
    return Outcome::refuse(code::kNotFrozen,
                           "transfer " + in_quotes(transfer_id) + " is not frozen");
  }
  Outcome out;
  append_transfer_event(*t, call, function, Json{{"reason_ref", reason_ref}}, out);
  t->frozen = freeze;
  t->freeze_reason_ref = freeze ? std::optional<std::string>(reason_ref) : std::nullopt;
  out.writes.push_back({transfer_state_key(transfer_id), t->to_json()});
  return out;
}

Outcome freeze(const Call& call, const StateView* state) {
  return set_frozen(call, state, true);
}
Outcome unfreeze(const Call& call, const StateView* state) {
  return set_frozen(call, state, false);
}

// A pair of agents' settlements in one currency: a hash chain of its own,
// whose subject "<lo>/<hi>/<CUR>" names the agents in byte order.
struct SettlementRecord {
  std::string agent_lo;
  std::string agent_hi;
  std::string currency;
  std::uint64_t settlement_count = 0;
  std::uint64_t last_settled_at_height = 0;
  std::string head_event_hash;

  std::string key() const { return settlement_state_key(agent_lo, agent_hi, currency); }
  EventChain chain() {
    return funds_chain(key(), agent_lo + "/" + agent_hi + "/" + currency, settlement_count,
                       head_event_hash);
  }
  Json to_json() const {
    return Json{{"agent_lo", agent_lo},
                {"agent_hi", agent_hi},
                {"currency", currency},
                {"settlement_count", settlement_count},
                {"last_settled_at_height", last_settled_at_height},
                {"head_event_hash", head_event_hash}};
  }
};

// The pair's record, or a new one with no settlement yet.
SettlementRecord load_settlement(const StateView& state, std::string_view agent_a,
                                 std::string_view agent_b, std::string_view currency) noexcept {
  SettlementRecord s;
  s.agent_lo = std::string(std::min(agent_a, agent_b));
  s.agent_hi = std::string(std::max(agent_a, agent_b));
  s.currency = std::string(currency);
  if (auto j = state.get(s.key())) {
    s.settlement_count = j->at("settlement_count").get<std::uint64_t>();
    s.last_settled_at_height = j->at("last_settled_at_height").get<std::uint64_t>();
    s.head_event_hash = j->at("head_event_hash").get<std::string>();
  }
  return s;
}

// --- settle {agent_a, agent_b, currency, amount_minor} -------------------------------
Outcome settle(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"agent_a", "agent_b", "currency", "amount_minor"});
  std::string agent_a = r.network_id("agent_a");
  std::string agent_b = r.network_id("agent_b");
  std::string currency = r.text("currency", 64);
  std::int64_t amount_minor = read_amount(r, args, "amount_minor");
  if (r.ok() && agent_a == agent_b) r.fail("\"agent_a\" and \"agent_b\" must be two agents");
  if (!r.ok()) return r.refusal();
  if (amount_minor == 0) {
    return Outcome::refuse(code::kBadAmount,
                           "\"amount_minor\" 0: a settlement settles a non-zero position");
  }
  if (auto c = check_currency(currency); !c.ok()) return c;
  // Both agents sign, in either order; nobody else does.
  const Signer* signer_a = nullptr;
  const Signer* signer_b = nullptr;
  for (const Signer& s : call.signers) {
    if (s.identity_id == agent_a) {
      signer_a = &s;
    } else if (s.identity_id == agent_b) {
      signer_b = &s;
    }
  }
  if (!signer_a || !signer_b) {
    return Outcome::refuse(code::kCosignatureMissing,
                           "funds.settle must be signed by both " + in_quotes(agent_a) + " and " +
                               in_quotes(agent_b) + "; " +
                               in_quotes(!signer_a ? agent_a : agent_b) + " did not sign");
  }
  for (const Signer& s : call.signers) {
    if (&s != signer_a && &s != signer_b) {
      return Outcome::refuse(code::kUnexpectedSigner,
                             "funds.settle is signed by the two agents only, but " +
                                 in_quotes(s.identity_id) + " also signed");
    }
  }
  for (const Signer* s : {signer_a, signer_b}) {
    if (!s->has_role("transfer_agent")) {
      return role_forbidden(*s, "settle", "the role transfer_agent");
    }
  }
  if (!state) return Outcome{};

  for (const std::string& agent : {agent_a, agent_b}) {
    if (!find_agent(*state, agent)) {
      return Outcome::refuse(code::kAgentNotFound, "no registered agent " + in_quotes(agent));
    }
  }
  std::int64_t net_minor = load_pair_position(*state, agent_a, agent_b, currency);
  if (net_minor != amount_minor) {
    return Outcome::refuse(code::kSettlementMismatch,
                           "the position of " + in_quotes(agent_a) + " towards " +
                               in_quotes(agent_b) + " in " + currency + " is " +
                               std::to_string(net_minor) + " minor units, not " +
                               std::to_string(amount_minor));
  }

  SettlementRecord pair = load_settlement(*state, agent_a, agent_b, currency);
  Outcome out;
  write_pair_position(agent_a, agent_b, currency, 0, out);
  append_chained_event(pair.chain(), call, "settle", Json::object(),
                       Json{{"agent_a", agent_a},
                            {"agent_b", agent_b},
                            {"currency", currency},
                            {"amount_minor", amount_minor}},
                       out);
  pair.last_settled_at_height = call.block.height;
  out.writes.push_back({pair.key(), pair.to_json()});
  return out;
}

constexpr ModuleFunction kFundsFunctions[] = {
    {"register_agent", register_agent},
    {"send", send},
    {"payout", payout},
    {"cancel", cancel},
    {"settle", settle},
    {"freeze", freeze},
    {"unfreeze", unfreeze},
};

}  // namespace

std::unique_ptr<Module> make_funds_module() {
  return make_table_module(kFundsChaincode, kFundsFunctions);
}

}  // namespace custos::chaincode
