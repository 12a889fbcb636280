#include "chaincode/custody.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include "chaincode/identity.h"
#include "chaincode/module_kit.h"
#include "core/hash.h"

namespace custos::chaincode {

bool holds_custody_role(const Signer& signer) {
  return std::any_of(std::begin(kCustodyRoles), std::end(kCustodyRoles),
                     [&](std::string_view role) { return signer.has_role(role); });
}

std::string case_state_key(std::string_view case_id) {
  return "case/" + std::string(case_id);
}
std::string case_items_prefix(std::string_view case_id) {
  return "case_item/" + std::string(case_id) + "/";
}
std::string case_item_state_key(std::string_view case_id, std::string_view item_id) {
  return case_items_prefix(case_id) + std::string(item_id);
}
std::string item_state_key(std::string_view item_id) {
  return "item/" + std::string(item_id);
}

Result<Hash256> compute_event_hash(const Json& event) {
  if (!event.is_object()) return make_error("bad_event", "an event must be a JSON object");
  Json body = event;
  body.erase("event_hash");
  auto text = canonical_json(body);
  if (!text) return make_error("bad_event", text.error().message);
  return tagged_hash(kEventTag, *text);
}

Status verify_item_history(std::string_view item_id, const std::vector<Json>& events,
                           std::string_view prev_event_hash) {
  return verify_event_chain("item_id", "item", item_id, events, prev_event_hash);
}

namespace {

// --- records ------------------------------------------------------------------------
//
// State values are written only by this module, so a malformed one is a
// broken invariant: nlohmann throws, and noexcept turns that into a stop
// rather than an outcome that differs between nodes.

struct CaseRecord {
  std::string id;
  std::string reference;
  std::string lead_org;
  std::vector<std::string> member_orgs;  // sorted, includes lead_org
  std::vector<std::string> granted;      // sorted identity ids (judges, court clerks)
  std::string opened_by;
  std::uint64_t opened_at_height = 0;
  std::uint64_t item_count = 0;

  bool has_member(std::string_view org) const { return contains_sorted(member_orgs, org); }
  bool has_granted(std::string_view identity) const { return contains_sorted(granted, identity); }

  Json to_json() const {
    return Json{{"id", id},
                {"reference", reference},
                {"lead_org", lead_org},
                {"member_orgs", member_orgs},
                {"granted", granted},
                {"opened_by", opened_by},
                {"opened_at_height", opened_at_height},
                {"item_count", item_count}};
  }
  static CaseRecord from_json(const Json& j) noexcept {
    CaseRecord c;
    c.id = j.at("id").get<std::string>();
    c.reference = j.at("reference").get<std::string>();
    c.lead_org = j.at("lead_org").get<std::string>();
    c.member_orgs = j.at("member_orgs").get<std::vector<std::string>>();
    c.granted = j.at("granted").get<std::vector<std::string>>();
    c.opened_by = j.at("opened_by").get<std::string>();
    c.opened_at_height = j.at("opened_at_height").get<std::uint64_t>();
    c.item_count = j.at("item_count").get<std::uint64_t>();
    return c;
  }
};

struct ItemRecord {
  std::string id;
  std::string case_id;
  std::string kind;  // "physical" | "digital"
  std::string description;
  std::optional<std::string> content_hash;
  std::vector<std::string> seal_numbers;
  std::string location;
  std::string custodian;
  std::optional<std::string> parent_id;
  std::vector<std::string> children;  // in derivation order
  std::string status = "in_custody";
  bool flagged = false;
  std::uint64_t event_count = 0;
  std::string head_event_hash;
  std::int64_t last_declared_at_ms = 0;
  std::uint64_t registered_at_height = 0;

  // released, returned and destroyed items have left the chain of custody.
  bool is_final() const { return status != "in_custody"; }

  Json to_json() const {
    return Json{{"id", id},
                {"case_id", case_id},
                {"kind", kind},
                {"description", description},
                {"content_hash", optional_json(content_hash)},
                {"seal_numbers", seal_numbers},
                {"location", location},
                {"custodian", custodian},
                {"parent_id", optional_json(parent_id)},
                {"children", children},
                {"status", status},
                {"flagged", flagged},
                {"event_count", event_count},
                {"head_event_hash", head_event_hash},
                {"last_declared_at_ms", last_declared_at_ms},
                {"registered_at_height", registered_at_height}};
  }
  static ItemRecord from_json(const Json& j) noexcept {
    ItemRecord i;
    i.id = j.at("id").get<std::string>();
    i.case_id = j.at("case_id").get<std::string>();
    i.kind = j.at("kind").get<std::string>();
    i.description = j.at("description").get<std::string>();
    i.content_hash = optional_string(j.at("content_hash"));
    i.seal_numbers = j.at("seal_numbers").get<std::vector<std::string>>();
    i.location = j.at("location").get<std::string>();
    i.custodian = j.at("custodian").get<std::string>();
    i.parent_id = optional_string(j.at("parent_id"));
    i.children = j.at("children").get<std::vector<std::string>>();
    i.status = j.at("status").get<std::string>();
    i.flagged = j.at("flagged").get<bool>();
    i.event_count = j.at("event_count").get<std::uint64_t>();
    i.head_event_hash = j.at("head_event_hash").get<std::string>();
    i.last_declared_at_ms = j.at("last_declared_at_ms").get<std::int64_t>();
    i.registered_at_height = j.at("registered_at_height").get<std::uint64_t>();
    return i;
  }
};

std::optional<CaseRecord> load_case(const StateView& state, std::string_view case_id) {
  auto j = state.get(case_state_key(case_id));
  if (!j) return std::nullopt;
  return CaseRecord::from_json(*j);
}

std::optional<ItemRecord> load_item(const StateView& state, std::string_view item_id) {
  auto j = state.get(item_state_key(item_id));
  if (!j) return std::nullopt;
  return ItemRecord::from_json(*j);
}

// --- events -------------------------------------------------------------------------

// The data of an event whose data is its arguments' (below): for functions
// whose arguments ArgReader checked, so the value exists.
Json data_from_args(std::string_view type, const Json& args) { return *event_data_from_args(type, args); }

// Appends the item's next event to out.history and moves the item's head to it.
void append_event(ItemRecord& item, const Call& call, std::string_view type,
                  std::int64_t declared_at_ms, Json data, Outcome& out) {
  append_chained_event(EventChain{item_state_key(item.id), "item_id", item.id, item.event_count,
                                  item.head_event_hash},
                       call, type, Json{{"declared_at_ms", declared_at_ms}}, std::move(data), out);
  item.last_declared_at_ms = declared_at_ms;
}

// --- shared checks ------------------------------------------------------------------

Outcome role_forbidden(const Signer& s, std::string_view function, std::string_view needed) {
  return refuse_role(s, "custody." + std::string(function), needed);
}

constexpr std::string_view kCustodyRolesText =
    "a custody role (custodian, investigator, forensic_analyst, customs_officer, court_clerk)";

// For functions with one co-signer whose identity an argument names: any
// signer besides the actor and that one is refused.
Outcome refuse_extra_signers(const Call& call, std::string_view function,
                             std::string_view expected_cosigner) {
  for (std::size_t i = 1; i < call.signers.size(); ++i) {
    if (call.signers[i].identity_id != expected_cosigner) {
      return Outcome::refuse(code::kUnexpectedSigner,
                             "custody." + std::string(function) + " is signed by the actor and " +
                                 in_quotes(expected_cosigner) + " only, but " +
                                 in_quotes(call.signers[i].identity_id) + " also signed");
    }
  }
  return Outcome{};
}

Status check_declared_time(const Call& call, std::int64_t declared_at_ms,
                           std::optional<std::int64_t> last_declared_at_ms) {
  if (declared_at_ms > call.block.timestamp_ms + kDeclaredAheadMaxMs) {
    return make_error(code::kTimeInFuture,
                      "declared time " + std::to_string(declared_at_ms) + " ms is more than " +
                          std::to_string(kDeclaredAheadMaxMs) + " ms after the block time " +
                          std::to_string(call.block.timestamp_ms) + " ms");
  }
  if (last_declared_at_ms && declared_at_ms < *last_declared_at_ms) {
    return make_error(code::kTimeRegression, "declared time " + std::to_string(declared_at_ms) +
                                                 " ms is before the item's last event at " +
                                                 std::to_string(*last_declared_at_ms) + " ms");
  }
  return ok_status();
}

enum class Holder {
  kCustodian,         // only the current custodian may act
  kCustodianOrCourt,  // or a judge / court clerk granted the case
};

struct ItemInCase {
  ItemRecord item;
  CaseRecord kase;
};

// The state checks every event on an existing item makes, in this order:
// ITEM_NOT_FOUND, ITEM_FINAL, NOT_CASE_MEMBER, NOT_CUSTODIAN, TIME_IN_FUTURE,
// TIME_REGRESSION.
Result<ItemInCase> load_for_event(const StateView& state, const Call& call,
                                  const std::string& item_id, std::int64_t declared_at_ms,
                                  Holder holder) {
  auto item = load_item(state, item_id);
  if (!item) return make_error(code::kItemNotFound, "no item " + in_quotes(item_id));
  if (item->is_final()) {
    return make_error(code::kItemFinal, "item " + in_quotes(item_id) + " was " + item->status +
                                            "; nothing more may happen to it");
  }
  auto kase = load_case(state, item->case_id);
  if (!kase) std::abort();  // items are only registered into existing cases, never removed
  const Signer& actor = call.actor();
  bool granted = kase->has_granted(actor.identity_id);
  if (!kase->has_member(actor.org) && !granted) {
    return make_error(code::kNotCaseMember, "org " + in_quotes(actor.org) +
                                                " is not a member of case " + in_quotes(kase->id) +
                                                " and " + in_quotes(actor.identity_id) +
                                                " was not granted it");
  }
  if (actor.identity_id != item->custodian) {
    bool court =
        holder == Holder::kCustodianOrCourt && actor.has_any_role({"judge", "court_clerk"});
    if (!court) {
      return make_error(code::kNotCustodian, "item " + in_quotes(item_id) + " is held by " +
                                                 in_quotes(item->custodian) + ", not by " +
                                                 in_quotes(actor.identity_id));
    }
    if (!granted) {
      return make_error(code::kNotCaseMember, in_quotes(actor.identity_id) +
                                                  " has not been granted access to case " +
                                                  in_quotes(kase->id));
    }
  }
  if (auto t = check_declared_time(call, declared_at_ms, item->last_declared_at_ms); !t) {
    return t.error();
  }
  return ItemInCase{std::move(*item), std::move(*kase)};
}

bool identity_has_role(const Json& identity, std::string_view role) {
  const Json& roles = identity.at("roles");
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

// --- open_case {case_id, reference, member_orgs} -------------------------------------
Outcome open_case(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"case_id", "reference", "member_orgs"});
  std::string case_id = r.object_id("case_id");
  std::string reference = r.text("reference", kCustodyTextBytesMax);
  std::vector<std::string> orgs = r.network_id_list("member_orgs", kCustodyListMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.open_case"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_any_role({"investigator", "prosecutor"})) {
    return role_forbidden(actor, "open_case", "the role investigator or prosecutor");
  }
  if (!state) return Outcome{};

  if (state->get(case_state_key(case_id))) {
    return Outcome::refuse(code::kCaseExists, "case " + in_quotes(case_id) + " already exists");
  }
  for (const auto& org : orgs) {
    if (!find_org(*state, org))
      return Outcome::refuse(code::kOrgNotFound, "no org " + in_quotes(org));
  }
  std::set<std::string> members(orgs.begin(), orgs.end());
  members.insert(actor.org);

  CaseRecord c;
  c.id = case_id;
  c.reference = reference;
  c.lead_org = actor.org;
  c.member_orgs.assign(members.begin(), members.end());
  c.opened_by = actor.identity_id;
  c.opened_at_height = call.block.height;
  Outcome out;
  out.writes.push_back({case_state_key(case_id), c.to_json()});
  return out;
}

// --- add_member {case_id, org} -------------------------------------------------------
Outcome add_member(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"case_id", "org"});
  std::string case_id = r.object_id("case_id");
  std::string org = r.network_id("org");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.add_member"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_any_role({"investigator", "prosecutor"})) {
    return role_forbidden(actor, "add_member", "the role investigator or prosecutor");
  }
  if (!state) return Outcome{};

  auto kase = load_case(*state, case_id);
  if (!kase) return Outcome::refuse(code::kCaseNotFound, "no case " + in_quotes(case_id));
  if (actor.org != kase->lead_org) {
    return Outcome::refuse(code::kNotLeadOrg, "only the lead org " + in_quotes(kase->lead_org) +
                                                  " may add members to case " + in_quotes(case_id));
  }
  if (!find_org(*state, org))
    return Outcome::refuse(code::kOrgNotFound, "no org " + in_quotes(org));
  if (kase->has_member(org)) {
    return Outcome::refuse(
        code::kAlreadyMember,
        "org " + in_quotes(org) + " is already a member of case " + in_quotes(case_id));
  }
  if (kase->member_orgs.size() >= kCaseMembersMax) {
    return Outcome::refuse(code::kLimitReached, "case " + in_quotes(case_id) + " already has " +
                                                    std::to_string(kCaseMembersMax) + " members");
  }
  insert_sorted(kase->member_orgs, org);
  Outcome out;
  out.writes.push_back({case_state_key(case_id), kase->to_json()});
  return out;
}

// --- grant_access {case_id, identity_id} ---------------------------------------------
Outcome grant_access(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"case_id", "identity_id"});
  std::string case_id = r.object_id("case_id");
  std::string identity_id = r.network_id("identity_id");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.grant_access"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_any_role({"investigator", "prosecutor"})) {
    return role_forbidden(actor, "grant_access", "the role investigator or prosecutor");
  }
  if (!state) return Outcome{};

  auto kase = load_case(*state, case_id);
  if (!kase) return Outcome::refuse(code::kCaseNotFound, "no case " + in_quotes(case_id));
  if (!kase->has_member(actor.org)) {
    return Outcome::refuse(
        code::kNotCaseMember,
        "org " + in_quotes(actor.org) + " is not a member of case " + in_quotes(case_id));
  }
  auto target = find_identity(*state, identity_id);
  if (!target) {
    return Outcome::refuse(code::kIdentityNotFound, "no identity " + in_quotes(identity_id));
  }
  if (target->at("status") != "active" ||
      !(identity_has_role(*target, "judge") || identity_has_role(*target, "court_clerk"))) {
    return Outcome::refuse(code::kRoleForbidden,
                           "access is granted only to active judges and court clerks; " +
                               in_quotes(identity_id) + " is not one");
  }
  if (kase->has_granted(identity_id)) {
    return Outcome::refuse(
        code::kAlreadyGranted,
        in_quotes(identity_id) + " already has access to case " + in_quotes(case_id));
  }
  if (kase->granted.size() >= kCaseGrantedMax) {
    return Outcome::refuse(code::kLimitReached, "case " + in_quotes(case_id) + " already has " +
                                                    std::to_string(kCaseGrantedMax) + " grants");
  }
  insert_sorted(kase->granted, identity_id);
  Outcome out;
  out.writes.push_back({case_state_key(case_id), kase->to_json()});
  return out;
}

// Reads "kind" and checks it names one of the two kinds.
std::string read_kind(ArgReader& r) {
  std::string kind = r.text("kind", 16);
  if (r.ok() && kind != "physical" && kind != "digital") {
    r.fail("\"kind\" must be \"physical\" or \"digital\"");
  }
  return kind;
}

// --- register {case_id, item_id, kind, description, content_hash?, seal_numbers,
//               location, seized_at_ms, place, legal_authority_ref} -------------------
Outcome register_item(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args,
              {"case_id", "item_id", "kind", "description", "seal_numbers", "location",
               "seized_at_ms", "place", "legal_authority_ref"},
              {"content_hash"});
  std::string case_id = r.object_id("case_id");
  std::string item_id = r.object_id("item_id");
  std::string kind = read_kind(r);
  std::string description = r.text("description", kCustodyTextBytesMax);
  std::optional<std::string> content_hash = r.hash_hex_or_null("content_hash");
  std::vector<std::string> seals =
      r.text_list("seal_numbers", kCustodyListMax, kSealNumberBytesMax);
  std::string location = r.text("location", kCustodyTextBytesMax);
  std::int64_t seized_at_ms = r.time_ms("seized_at_ms");
  std::string place = r.text("place", kCustodyTextBytesMax);
  std::string legal_authority_ref = r.text("legal_authority_ref", kCustodyTextBytesMax);
  if (r.ok() && kind == "digital" && !content_hash) {
    r.fail("a digital item needs \"content_hash\": the SHA-256 of its content");
  }
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.register"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!holds_custody_role(actor)) return role_forbidden(actor, "register", kCustodyRolesText);
  if (!state) return Outcome{};

  auto kase = load_case(*state, case_id);
  if (!kase) return Outcome::refuse(code::kCaseNotFound, "no case " + in_quotes(case_id));
  if (!kase->has_member(actor.org)) {
    return Outcome::refuse(
        code::kNotCaseMember,
        "org " + in_quotes(actor.org) + " is not a member of case " + in_quotes(case_id));
  }
  if (state->get(item_state_key(item_id))) {
    return Outcome::refuse(code::kItemExists, "item " + in_quotes(item_id) + " already exists");
  }
  if (auto t = check_declared_time(call, seized_at_ms, std::nullopt); !t) return refuse(t.error());

  ItemRecord item;
  item.id = item_id;
  item.case_id = case_id;
  item.kind = kind;
  item.description = description;
  item.content_hash = content_hash;
  item.seal_numbers = seals;
  item.location = location;
  item.custodian = actor.identity_id;
  item.registered_at_height = call.block.height;

  Outcome out;
  append_event(item, call, "register", seized_at_ms, data_from_args("register", call.tx.args),
               out);
  kase->item_count += 1;
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  out.writes.push_back({case_state_key(case_id), kase->to_json()});
  out.writes.push_back({case_item_state_key(case_id, item_id), Json{{"item_id", item_id}}});
  return out;
}

// --- handover {item_id, to, purpose, location, seals_intact, seal_numbers, condition,
//               declared_at_ms} ------------------------------------------------------
Outcome handover(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"item_id", "to", "purpose", "location", "seals_intact", "seal_numbers",
                             "condition", "declared_at_ms"});
  std::string item_id = r.object_id("item_id");
  std::string to = r.network_id("to");
  r.text("purpose", kCustodyTextBytesMax);
  std::string location = r.text("location", kCustodyTextBytesMax);
  r.boolean("seals_intact");
  std::vector<std::string> seals =
      r.text_list("seal_numbers", kCustodyListMax, kSealNumberBytesMax);
  r.text("condition", kCustodyTextBytesMax);
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  if (!r.ok()) return r.refusal();
  const Signer& actor = call.actor();
  if (to == actor.identity_id) {
    return Outcome::refuse(code::kReceiverNotEligible,
                           in_quotes(to) + " cannot hand an item over to itself");
  }
  const Signer* receiver = find_cosigner(call, to);
  if (!receiver) {
    return Outcome::refuse(code::kCosignatureMissing,
                           "the receiver " + in_quotes(to) + " must co-sign the handover");
  }
  if (auto extra = refuse_extra_signers(call, "handover", to); !extra.ok()) return extra;
  if (!holds_custody_role(actor)) return role_forbidden(actor, "handover", kCustodyRolesText);
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, item_id, declared_at_ms, Holder::kCustodian);
  if (!loaded) return refuse(loaded.error());
  auto& [item, kase] = *loaded;
  bool in_member_org = kase.has_member(receiver->org);
  bool granted_clerk = receiver->has_role("court_clerk") && kase.has_granted(to);
  if (!holds_custody_role(*receiver) || !(in_member_org || granted_clerk)) {
    return Outcome::refuse(code::kReceiverNotEligible,
                           in_quotes(to) + " may not receive items of case " + in_quotes(kase.id) +
                               ": a receiver holds a custody role in a member org, or is a "
                               "court clerk granted the case");
  }

  Outcome out;
  append_event(item, call, "handover", declared_at_ms, data_from_args("handover", call.tx.args),
               out);
  item.custodian = to;
  item.location = location;
  item.seal_numbers = seals;
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  return out;
}

// --- examine {item_id, method, findings_hash, declared_at_ms} ------------------------
Outcome examine(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"item_id", "method", "findings_hash", "declared_at_ms"});
  std::string item_id = r.object_id("item_id");
  r.text("method", kCustodyTextBytesMax);
  r.hash_hex_or_null("findings_hash");
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.examine"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("forensic_analyst")) {
    return role_forbidden(actor, "examine", "the role forensic_analyst");
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, item_id, declared_at_ms, Holder::kCustodian);
  if (!loaded) return refuse(loaded.error());
  ItemRecord& item = loaded->item;
  Outcome out;
  append_event(item, call, "examine", declared_at_ms, data_from_args("examine", call.tx.args),
               out);
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  return out;
}

// --- derive {parent_id, item_id, kind, description, content_hash, declared_at_ms} ----
Outcome derive(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args,
              {"parent_id", "item_id", "kind", "description", "content_hash", "declared_at_ms"});
  std::string parent_id = r.object_id("parent_id");
  std::string item_id = r.object_id("item_id");
  std::string kind = read_kind(r);
  std::string description = r.text("description", kCustodyTextBytesMax);
  std::string content_hash = r.hash_hex("content_hash");
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.derive"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("forensic_analyst")) {
    return role_forbidden(actor, "derive", "the role forensic_analyst");
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, parent_id, declared_at_ms, Holder::kCustodian);
  if (!loaded) return refuse(loaded.error());
  auto& [parent, kase] = *loaded;
  if (state->get(item_state_key(item_id))) {
    return Outcome::refuse(code::kItemExists, "item " + in_quotes(item_id) + " already exists");
  }
  if (parent.children.size() >= kItemChildrenMax) {
    return Outcome::refuse(code::kLimitReached, "item " + in_quotes(parent_id) + " already has " +
                                                    std::to_string(kItemChildrenMax) +
                                                    " derived items");
  }

  // The parent's chain records the derivation first; the child's first event
  // then carries that event's hash, so the child is bound to the parent's
  // whole custody history up to and including the moment it was derived.
  Outcome out;
  append_event(parent, call, "derive", declared_at_ms, data_from_args("derive", call.tx.args),
               out);
  parent.children.push_back(item_id);

  ItemRecord child;
  child.id = item_id;
  child.case_id = parent.case_id;
  child.kind = kind;
  child.description = description;
  child.content_hash = content_hash;
  child.location = parent.location;
  child.custodian = actor.identity_id;
  child.parent_id = parent_id;
  child.registered_at_height = call.block.height;
  append_event(child, call, "derived", declared_at_ms,
               Json{{"parent_id", parent_id},
                    {"parent_event_hash", parent.head_event_hash},
                    {"case_id", parent.case_id},
                    {"kind", kind},
                    {"description", description},
                    {"content_hash", content_hash}},
               out);
  kase.item_count += 1;

  out.writes.push_back({item_state_key(parent_id), parent.to_json()});
  out.writes.push_back({item_state_key(item_id), child.to_json()});
  out.writes.push_back({case_state_key(kase.id), kase.to_json()});
  out.writes.push_back({case_item_state_key(kase.id, item_id), Json{{"item_id", item_id}}});
  return out;
}

// --- integrity_check {item_id, observed_hash, declared_at_ms} ------------------------
Outcome integrity_check(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"item_id", "observed_hash", "declared_at_ms"});
  std::string item_id = r.object_id("item_id");
  std::string observed_hash = r.hash_hex("observed_hash");
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.integrity_check"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!holds_custody_role(actor)) {
    return role_forbidden(actor, "integrity_check", kCustodyRolesText);
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, item_id, declared_at_ms, Holder::kCustodian);
  if (!loaded) return refuse(loaded.error());
  ItemRecord& item = loaded->item;
  if (!item.content_hash) {
    return Outcome::refuse(code::kBadArgs,
                           "item " + in_quotes(item_id) + " has no content hash to check against");
  }
  // A mismatch is a finding, not a refusal: it is recorded and flags the item
  // for good; a later match does not clear the flag.
  bool match = observed_hash == *item.content_hash;
  if (!match) item.flagged = true;
  Outcome out;
  append_event(item, call, "integrity_check", declared_at_ms,
               Json{{"observed_hash", observed_hash},
                    {"expected_hash", *item.content_hash},
                    {"result", match ? "match" : "mismatch"}},
               out);
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  return out;
}

// --- exhibit {item_id, court_ref, declared_at_ms} ------------------------------------
Outcome exhibit(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"item_id", "court_ref", "declared_at_ms"});
  std::string item_id = r.object_id("item_id");
  r.text("court_ref", kCustodyTextBytesMax);
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "custody.exhibit"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!holds_custody_role(actor) && !actor.has_any_role({"judge", "court_clerk"})) {
    return role_forbidden(actor, "exhibit", "a custody role, judge or court_clerk");
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, item_id, declared_at_ms, Holder::kCustodianOrCourt);
  if (!loaded) return refuse(loaded.error());
  ItemRecord& item = loaded->item;
  Outcome out;
  append_event(item, call, "exhibit", declared_at_ms, data_from_args("exhibit", call.tx.args),
               out);
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  return out;
}

// --- release / return / destroy -----------------------------------------------------
//   {item_id, authorisation_ref, authorised_by, declared_at_ms, recipient_ref | method}
Outcome finalise(const Call& call, const StateView* state, std::string_view function,
                 const char* last_member, std::string_view final_status) {
  ArgReader r(call.tx.args,
              {"item_id", "authorisation_ref", "authorised_by", "declared_at_ms", last_member});
  std::string item_id = r.object_id("item_id");
  r.text("authorisation_ref", kCustodyTextBytesMax);
  std::string authorised_by = r.network_id("authorised_by");
  std::int64_t declared_at_ms = r.time_ms("declared_at_ms");
  r.text(last_member, kCustodyTextBytesMax);
  if (!r.ok()) return r.refusal();
  const Signer& actor = call.actor();
  std::string what = "custody." + std::string(function);
  // Four eyes: the one who holds the item never authorises its leaving custody.
  if (authorised_by == actor.identity_id) {
    return Outcome::refuse(code::kAuthorisationRequired,
                           what + " needs an authorisation by someone other than the custodian");
  }
  const Signer* authoriser = find_cosigner(call, authorised_by);
  if (!authoriser) {
    return Outcome::refuse(
        code::kAuthorisationRequired,
        what + " must be co-signed by the authorising " + in_quotes(authorised_by));
  }
  if (auto extra = refuse_extra_signers(call, function, authorised_by); !extra.ok()) return extra;
  if (!holds_custody_role(actor)) return role_forbidden(actor, function, kCustodyRolesText);
  if (!authoriser->has_any_role({"prosecutor", "judge"})) {
    return Outcome::refuse(code::kAuthorisationRequired,
                           what + " must be authorised by a prosecutor or a judge; " +
                               in_quotes(authorised_by) + " is neither");
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, item_id, declared_at_ms, Holder::kCustodian);
  if (!loaded) return refuse(loaded.error());
  auto& [item, kase] = *loaded;
  bool member_prosecutor = authoriser->has_role("prosecutor") && kase.has_member(authoriser->org);
  bool granted_judge = authoriser->has_role("judge") && kase.has_granted(authorised_by);
  if (!member_prosecutor && !granted_judge) {
    return Outcome::refuse(code::kAuthorisationRequired,
                           in_quotes(authorised_by) + " may not authorise for case " +
                               in_quotes(kase.id) +
                               ": it takes a prosecutor of a member org or a judge granted "
                               "the case");
  }
  Outcome out;
  append_event(item, call, function, declared_at_ms, data_from_args(function, call.tx.args),
               out);
  item.status = std::string(final_status);
  out.writes.push_back({item_state_key(item_id), item.to_json()});
  return out;
}

Outcome release_item(const Call& call, const StateView* state) {
  return finalise(call, state, "release", "recipient_ref", "released");
}
Outcome return_item(const Call& call, const StateView* state) {
  return finalise(call, state, "return", "recipient_ref", "returned");
}
Outcome destroy_item(const Call& call, const StateView* state) {
  return finalise(call, state, "destroy", "method", "destroyed");
}

constexpr ModuleFunction kCustodyFunctions[] = {
    {"open_case", open_case},
    {"add_member", add_member},
    {"grant_access", grant_access},
    {"register", register_item},
    {"handover", handover},
    {"examine", examine},
    {"derive", derive},
    {"integrity_check", integrity_check},
    {"exhibit", exhibit},
    {"release", release_item},
    {"return", return_item},
    {"destroy", destroy_item},
};

}  // namespace

std::unique_ptr<Module> make_custody_module() {
  return make_table_module(kCustodyChaincode, kCustodyFunctions);
}

std::optional<Json> event_data_from_args(std::string_view type, const Json& args) {
  if (!args.is_object()) return std::nullopt;
  Json data = args;
  data.erase("item_id");
  if (type == "register") {
    data.erase("seized_at_ms");
    if (!data.contains("content_hash")) data["content_hash"] = nullptr;  // present even when omitted
    return data;
  }
  if (type == "derive") {
    return Json{{"child_id", args.value("item_id", Json())},
                {"kind", args.value("kind", Json())},
                {"description", args.value("description", Json())},
                {"content_hash", args.value("content_hash", Json())}};
  }
  if (type == "handover" || type == "examine" || type == "exhibit" || type == "release" ||
      type == "return" || type == "destroy") {
    data.erase("declared_at_ms");
    return data;
  }
  return std::nullopt;
}

}  // namespace custos::chaincode
