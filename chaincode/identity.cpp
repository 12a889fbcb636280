#include "chaincode/identity.h"

#include <algorithm>
#include <map>
#include <set>

#include "chaincode/module_kit.h"
#include "core/bytes.h"
#include "core/tx.h"

namespace custos::chaincode {

// --- helpers shared by modules ----------------------------------------------------

ArgReader::ArgReader(const Json& args, std::initializer_list<std::string_view> required,
                     std::initializer_list<std::string_view> optional)
    : args_(args) {
  if (!args.is_object()) {
    fail("the arguments must be a JSON object");
    return;
  }
  // Arguments end up inside hashed events, so anything the canonical encoding
  // refuses (floats, huge integers, ill-formed UTF-8) is refused here, before
  // any rule runs, rather than failing halfway through building an event.
  if (auto text = canonical_json(args); !text) {
    fail("the arguments cannot be canonically encoded: " + text.error().message);
    return;
  }
  auto listed = [](std::initializer_list<std::string_view> names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (!listed(required, it.key()) && !listed(optional, it.key())) {
      fail("unknown argument \"" + it.key() + "\"");
      return;
    }
  }
  for (std::string_view name : required) {
    if (!args.contains(std::string(name))) {
      fail("missing argument \"" + std::string(name) + "\"");
      return;
    }
  }
}

const Json* ArgReader::member(std::string_view name) {
  if (problem_) return nullptr;
  auto it = args_.find(std::string(name));
  return it == args_.end() ? nullptr : &*it;
}

void ArgReader::fail(std::string message) {
  if (!problem_) problem_ = std::move(message);
}

bool ArgReader::has(std::string_view name) const {
  return args_.is_object() && args_.contains(std::string(name));
}

Outcome ArgReader::refusal() const {
  if (!problem_) std::abort();  // a refusal without a reason is a bug in the handler
  return Outcome::refuse(code::kBadArgs, *problem_);
}

std::string ArgReader::text(std::string_view name, std::size_t max_bytes) {
  const Json* m = member(name);
  if (!m) return {};
  if (!m->is_string()) {
    fail("\"" + std::string(name) + "\" must be a string");
    return {};
  }
  auto s = m->get<std::string>();
  if (s.empty() || s.size() > max_bytes) {
    fail("\"" + std::string(name) + "\" must be 1 to " + std::to_string(max_bytes) + " bytes");
    return {};
  }
  return s;
}

std::string ArgReader::network_id(std::string_view name) {
  const Json* m = member(name);
  if (!m) return {};
  if (!m->is_string() || !is_network_id(m->get<std::string>())) {
    fail("\"" + std::string(name) + "\" must match [a-z0-9][a-z0-9._-]{0,63}");
    return {};
  }
  return m->get<std::string>();
}

std::string ArgReader::object_id(std::string_view name) {
  const Json* m = member(name);
  if (!m) return {};
  if (!m->is_string() || !is_object_id(m->get<std::string>())) {
    fail("\"" + std::string(name) + "\" must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    return {};
  }
  return m->get<std::string>();
}

std::int64_t ArgReader::time_ms(std::string_view name) {
  const Json* m = member(name);
  if (!m) return 0;
  bool in_range = false;
  if (m->is_number_unsigned()) {
    in_range = m->get<std::uint64_t>() <= static_cast<std::uint64_t>(kJsonIntegerMax);
  } else if (m->is_number_integer()) {
    in_range = m->get<std::int64_t>() >= 0;
  }
  if (!in_range) {
    fail("\"" + std::string(name) + "\" must be an integer of milliseconds since the epoch");
    return 0;
  }
  return m->get<std::int64_t>();
}

bool ArgReader::boolean(std::string_view name) {
  const Json* m = member(name);
  if (!m) return false;
  if (!m->is_boolean()) {
    fail("\"" + std::string(name) + "\" must be true or false");
    return false;
  }
  return m->get<bool>();
}

std::string ArgReader::hash_hex(std::string_view name) {
  const Json* m = member(name);
  if (!m) return {};
  if (!m->is_string() || !hex_decode_canonical(m->get<std::string>(), 32).ok()) {
    fail("\"" + std::string(name) + "\" must be a SHA-256 hash as 64 lowercase hex digits");
    return {};
  }
  return m->get<std::string>();
}

std::optional<std::string> ArgReader::hash_hex_or_null(std::string_view name) {
  const Json* m = member(name);
  if (!m || m->is_null()) return std::nullopt;
  std::string hex = hash_hex(name);
  if (!ok()) return std::nullopt;
  return hex;
}

std::optional<PublicKey> ArgReader::public_key(std::string_view name) {
  const Json* m = member(name);
  if (!m) return std::nullopt;
  std::optional<PublicKey> key;
  if (m->is_string()) {
    // Canonical 33-byte hex only: one key, one spelling, one key/ entry.
    if (auto bytes = hex_decode_canonical(m->get<std::string>(), 33); bytes.ok()) {
      if (auto parsed = PublicKey::parse(*bytes); parsed.ok()) key = *parsed;
    }
  }
  if (!key) {
    fail("\"" + std::string(name) +
         "\" must be a compressed secp256k1 public key as 66 lowercase hex digits");
  }
  return key;
}

std::vector<std::string> ArgReader::text_list(std::string_view name, std::size_t max_entries,
                                              std::size_t max_bytes) {
  const Json* m = member(name);
  if (!m) return {};
  std::string where = "\"" + std::string(name) + "\"";
  if (!m->is_array() || m->size() > max_entries) {
    fail(where + " must be an array of at most " + std::to_string(max_entries) + " strings");
    return {};
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const Json& e : *m) {
    if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > max_bytes) {
      fail(where + " entries must be strings of 1 to " + std::to_string(max_bytes) + " bytes");
      return {};
    }
    if (!seen.insert(e.get<std::string>()).second) {
      fail(where + " lists \"" + e.get<std::string>() + "\" twice");
      return {};
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<std::string> ArgReader::network_id_list(std::string_view name,
                                                    std::size_t max_entries) {
  std::vector<std::string> out = text_list(name, max_entries, 64);
  for (const auto& id : out) {
    if (!is_network_id(id)) {
      fail("\"" + std::string(name) + "\" entries must match [a-z0-9][a-z0-9._-]{0,63}");
      return {};
    }
  }
  return out;
}

Outcome require_actor_only(const Call& call, std::string_view function) {
  if (call.signers.empty()) {
    return Outcome::refuse(code::kUnsigned, std::string(function) + " needs the actor's signature");
  }
  if (call.signers.size() > 1) {
    return Outcome::refuse(code::kUnexpectedSigner,
                           std::string(function) + " is signed by its actor alone, but \"" +
                               call.signers[1].identity_id + "\" also signed");
  }
  return Outcome{};
}

const Signer* find_cosigner(const Call& call, std::string_view identity_id) {
  for (std::size_t i = 1; i < call.signers.size(); ++i) {
    if (call.signers[i].identity_id == identity_id) return &call.signers[i];
  }
  return nullptr;
}

Outcome refuse(const Error& error) {
  return Outcome::refuse(error.code, error.message);
}

namespace {

class TableModule final : public Module {
 public:
  TableModule(std::string_view name, std::span<const ModuleFunction> functions)
      : name_(name), functions_(functions) {}

  std::string_view name() const override { return name_; }
  bool has_function(std::string_view function) const override { return find(function) != nullptr; }
  Outcome admit(const Call& call) const override { return run(call, nullptr); }
  Outcome execute(const StateView& state, const Call& call) const override {
    return run(call, &state);
  }

 private:
  const ModuleFunction* find(std::string_view function) const {
    for (const auto& f : functions_) {
      if (f.name == function) return &f;
    }
    return nullptr;
  }
  Outcome run(const Call& call, const StateView* state) const {
    const ModuleFunction* f = find(call.tx.function);
    if (!f) {
      return Outcome::refuse(
          code::kUnknownFunction,
          "chaincode \"" + std::string(name_) + "\" has no function \"" + call.tx.function + "\"");
    }
    if (call.signers.empty()) {
      return Outcome::refuse(code::kUnsigned, call.tx.function + " needs the actor's signature");
    }
    Outcome out = f->run(call, state);
    // A refused tx changes nothing, and admit() never changes anything: both
    // are invariants of this code, not properties of the input.
    if ((!out.ok() || !state) && (!out.writes.empty() || !out.history.empty())) std::abort();
    return out;
  }

  std::string_view name_;
  std::span<const ModuleFunction> functions_;
};

}  // namespace

std::unique_ptr<Module> make_table_module(std::string_view name,
                                          std::span<const ModuleFunction> functions) {
  return std::make_unique<TableModule>(name, functions);
}

// --- state keys and lookups ---------------------------------------------------------

bool is_known_role(std::string_view role) {
  return std::find(std::begin(kRoles), std::end(kRoles), role) != std::end(kRoles);
}

std::string org_state_key(std::string_view org_id) {
  return "org/" + std::string(org_id);
}
std::string node_state_key(std::string_view node_id) {
  return "node/" + std::string(node_id);
}
std::string identity_state_key(std::string_view identity_id) {
  return "identity/" + std::string(identity_id);
}
std::string key_state_key(const PublicKey& key) {
  return "key/" + key.hex();
}
std::string node_key_state_key(const PublicKey& key) {
  return "node_key/" + key.hex();
}

SharedJson find_identity(const StateView& state, std::string_view identity_id) {
  return state.get_shared(identity_state_key(identity_id));
}

std::optional<Json> find_org(const StateView& state, std::string_view org_id) {
  return state.get(org_state_key(org_id));
}

Result<Signer> resolve_signer(const StateView& state, const PublicKey& key) {
  auto mapping = state.get_shared(key_state_key(key));
  if (!mapping) {
    return make_error(code::kUnknownSigner, "no identity was ever enrolled with key " + key.hex());
  }
  std::string id = mapping->at("identity").get<std::string>();
  auto identity = find_identity(state, id);
  if (!identity) {
    // key/ entries are only written together with their identity; reaching
    // this means the state was not produced by this module.
    return make_error(code::kUnknownSigner, "key " + key.hex() + " maps to identity \"" + id +
                                                "\", which does not exist");
  }
  if (identity->at("status") == "revoked") {
    return make_error(code::kSignerRevoked, "identity \"" + id + "\" was revoked at height " +
                                                identity->at("revoked_at_height").dump());
  }
  if (identity->at("public_key") != key.hex()) {
    std::string since;
    for (const Json& k : identity->at("keys")) {
      if (k.at("public_key") == key.hex()) since = " at height " + k.at("until_height").dump();
    }
    return make_error(code::kUnknownSigner, "key " + key.hex() + " of identity \"" + id +
                                                "\" was rotated away" + since +
                                                "; sign with the identity's current key");
  }
  Signer signer;
  signer.identity_id = id;
  signer.org = identity->at("org").get<std::string>();
  signer.roles = identity->at("roles").get<std::vector<std::string>>();
  return signer;
}

Status verify_identity_history(std::string_view identity_id, const std::vector<Json>& events,
                               std::string_view prev_event_hash) {
  return verify_event_chain("identity_id", "identity", identity_id, events, prev_event_hash);
}

namespace {

Json new_identity_record(const std::string& id, const std::string& org,
                         const std::vector<std::string>& sorted_roles, const PublicKey& key,
                         std::uint64_t height) {
  return Json{
      {"id", id},
      {"org", org},
      {"roles", sorted_roles},
      {"public_key", key.hex()},
      {"status", "active"},
      {"enrolled_at_height", height},
      {"keys",
       Json::array(
           {Json{{"public_key", key.hex()}, {"from_height", height}, {"until_height", nullptr}}})},
      {"revoked_at_height", nullptr},
      {"revocation_reason", nullptr},
      // The identity's own event chain starts empty: enrol appends its first
      // event; a genesis admin's first is a later rotate_key or revoke.
      {"event_count", 0},
      {"head_event_hash", kNoPrevEventHash}};
}

// Appends the event `type` with `data` to the chain of `identity` (its record,
// which the caller then writes) and advances the record's event_count and
// head_event_hash.
void append_identity_event(Json& identity, const Call& call, std::string_view type, Json data,
                           Outcome& out) {
  std::string id = identity.at("id").get<std::string>();
  auto event_count = identity.at("event_count").get<std::uint64_t>();
  auto head_event_hash = identity.at("head_event_hash").get<std::string>();
  append_chained_event(
      EventChain{identity_state_key(id), "identity_id", id, event_count, head_event_hash}, call,
      type, Json::object(), std::move(data), out);
  identity["event_count"] = event_count;
  identity["head_event_hash"] = std::move(head_event_hash);
}

Json key_record(const std::string& identity_id) {
  return Json{{"identity", identity_id}};
}

bool is_self(const Call& call, std::string_view identity_id) {
  return call.actor().identity_id == identity_id;
}

// KEY_IN_USE unless no identity and no node ever held `key`.
Outcome refuse_used_key(const StateView& state, const PublicKey& key) {
  if (auto holder = state.get(key_state_key(key))) {
    return Outcome::refuse(code::kKeyInUse, "key " + key.hex() + " is or was used by identity \"" +
                                                holder->at("identity").get<std::string>() +
                                                "\"; every key is used once");
  }
  if (auto holder = state.get(node_key_state_key(key))) {
    return Outcome::refuse(code::kKeyInUse, "key " + key.hex() + " is or was used by node \"" +
                                                holder->at("node").get<std::string>() +
                                                "\"; every key is used once");
  }
  return Outcome{};
}

// --- enrol {id, org, roles, public_key} ---------------------------------------------
Outcome enrol(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id", "org", "roles", "public_key"});
  std::string id = r.network_id("id");
  std::string org = r.network_id("org");
  std::vector<std::string> roles = r.text_list("roles", std::size(kRoles), 32);
  std::optional<PublicKey> key = r.public_key("public_key");
  if (r.ok() && roles.empty()) r.fail("\"roles\" must name at least one role");
  for (const auto& role : roles) {
    if (!is_known_role(role)) r.fail("\"roles\": unknown role \"" + role + "\"");
  }
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.enrol"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("admin") || actor.org != org) {
    return Outcome::refuse(code::kNotOrgAdmin, "only an admin of org \"" + org +
                                                   "\" may enrol identities in it; \"" +
                                                   actor.identity_id + "\" is not one");
  }
  if (!state) return Outcome{};

  auto org_record = find_org(*state, org);
  if (!org_record) return Outcome::refuse(code::kOrgNotFound, "no org \"" + org + "\"");
  if (find_identity(*state, id)) {
    return Outcome::refuse(code::kIdentityExists, "identity \"" + id + "\" already exists");
  }
  if (auto used = refuse_used_key(*state, *key); !used.ok()) return used;
  std::sort(roles.begin(), roles.end());
  bool is_admin = std::binary_search(roles.begin(), roles.end(), "admin");
  if (is_admin && org_record->at("admins").size() >= kOrgAdminsMax) {
    return Outcome::refuse(code::kLimitReached, "org \"" + org + "\" already has " +
                                                    std::to_string(kOrgAdminsMax) + " admins");
  }

  Outcome out;
  if (is_admin) {
    auto admins = org_record->at("admins").get<std::vector<std::string>>();
    insert_sorted(admins, id);
    (*org_record)["admins"] = admins;
    out.writes.push_back({org_state_key(org), *org_record});
  }
  Json identity = new_identity_record(id, org, roles, *key, call.block.height);
  append_identity_event(identity, call, "enrol",
                        Json{{"org", org}, {"roles", roles}, {"public_key", key->hex()}}, out);
  out.writes.push_back({identity_state_key(id), std::move(identity)});
  out.writes.push_back({key_state_key(*key), key_record(id)});
  return out;
}

// --- rotate_key {id, public_key} ----------------------------------------------------
Outcome rotate_key(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id", "public_key"});
  std::string id = r.network_id("id");
  std::optional<PublicKey> key = r.public_key("public_key");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.rotate_key"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!is_self(call, id) && !actor.has_role("admin")) {
    return Outcome::refuse(code::kNotOrgAdmin, "only \"" + id +
                                                   "\" itself or an admin of its org may "
                                                   "rotate its key");
  }
  if (!state) return Outcome{};

  auto identity = state->get(identity_state_key(id));  // a copy: changed below
  if (!identity) return Outcome::refuse(code::kIdentityNotFound, "no identity \"" + id + "\"");
  if (identity->at("status") == "revoked") {
    return Outcome::refuse(code::kAlreadyRevoked,
                           "identity \"" + id + "\" is revoked; a revoked identity keeps its keys");
  }
  std::string org = identity->at("org").get<std::string>();
  if (!is_self(call, id) && actor.org != org) {
    return Outcome::refuse(code::kNotOrgAdmin,
                           "\"" + actor.identity_id + "\" is not an admin of org \"" + org + "\"");
  }
  if (auto used = refuse_used_key(*state, *key); !used.ok()) return used;
  Json& keys = identity->at("keys");
  if (keys.size() >= kIdentityKeysMax) {
    return Outcome::refuse(code::kLimitReached, "identity \"" + id + "\" has used " +
                                                    std::to_string(kIdentityKeysMax) + " keys");
  }

  // The old key stays in keys[] and in key/ so that signatures it made before
  // this height can still be attributed; resolve_signer refuses it from now on.
  keys.back()["until_height"] = call.block.height;
  keys.push_back(Json{
      {"public_key", key->hex()}, {"from_height", call.block.height}, {"until_height", nullptr}});
  Json previous_key = identity->at("public_key");
  (*identity)["public_key"] = key->hex();

  Outcome out;
  append_identity_event(
      *identity, call, "rotate_key",
      Json{{"public_key", key->hex()}, {"previous_public_key", std::move(previous_key)}}, out);
  out.writes.push_back({identity_state_key(id), *identity});
  out.writes.push_back({key_state_key(*key), key_record(id)});
  return out;
}

// --- revoke {id, reason} ------------------------------------------------------------
Outcome revoke(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id", "reason"});
  std::string id = r.network_id("id");
  std::string reason = r.text("reason", kRevocationReasonBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.revoke"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("admin")) {
    return Outcome::refuse(code::kNotOrgAdmin, "only an admin of its org may revoke \"" + id +
                                                   "\"; \"" + actor.identity_id +
                                                   "\" is not an admin");
  }
  if (!state) return Outcome{};

  auto identity = state->get(identity_state_key(id));  // a copy: changed below
  if (!identity) return Outcome::refuse(code::kIdentityNotFound, "no identity \"" + id + "\"");
  std::string org = identity->at("org").get<std::string>();
  if (actor.org != org) {
    return Outcome::refuse(code::kNotOrgAdmin,
                           "\"" + actor.identity_id + "\" is not an admin of org \"" + org + "\"");
  }
  if (identity->at("status") == "revoked") {
    return Outcome::refuse(code::kAlreadyRevoked, "identity \"" + id + "\" was revoked at height " +
                                                      identity->at("revoked_at_height").dump());
  }
  auto org_record = find_org(*state, org);
  if (!org_record) std::abort();  // an identity's org always exists: orgs are never removed
  auto admins = org_record->at("admins").get<std::vector<std::string>>();
  auto it = std::find(admins.begin(), admins.end(), id);
  if (it != admins.end() && admins.size() == 1) {
    return Outcome::refuse(code::kLastAdmin, "\"" + id + "\" is the last active admin of org \"" +
                                                 org + "\"; enrol another admin first");
  }

  Outcome out;
  if (it != admins.end()) {
    admins.erase(it);
    (*org_record)["admins"] = admins;
    out.writes.push_back({org_state_key(org), *org_record});
  }
  (*identity)["status"] = "revoked";
  (*identity)["revoked_at_height"] = call.block.height;
  (*identity)["revocation_reason"] = reason;
  append_identity_event(*identity, call, "revoke", Json{{"reason", reason}}, out);
  out.writes.push_back({identity_state_key(id), *identity});
  return out;
}

// --- nodes ------------------------------------------------------------------------
//
// The nodes whose signatures make a signed head. Each change is an event of
// the network's one node chain (history key "nodes"), so a verifier who holds
// the genesis file can replay the membership of any height.

Json new_node_record(const std::string& id, const std::string& org, const PublicKey& key,
                     std::uint64_t height) {
  return Json{
      {"id", id},
      {"org", org},
      {"public_key", key.hex()},
      {"keys",
       Json::array(
           {Json{{"public_key", key.hex()}, {"from_height", height}, {"until_height", nullptr}}})},
      {"added_at_height", height},
      {"removed_at_height", nullptr},
      {"status", "active"}};
}

Json node_key_record(const std::string& node_id) {
  return Json{{"node", node_id}};
}

Json nodes_record(const std::vector<std::string>& sorted_ids, std::uint64_t event_count,
                  const std::string& head_event_hash) {
  return Json{{"ids", sorted_ids},
              {"event_count", event_count},
              {"head_event_hash", event_count == 0 ? Json(nullptr) : Json(head_event_hash)}};
}

// The "nodes" record as the chain helpers want it.
struct NodesRecord {
  std::vector<std::string> ids;
  std::uint64_t event_count = 0;
  std::string head_event_hash;

  static NodesRecord read(const StateView& state) {
    auto j = state.get(kNodesStateKey);
    if (!j) std::abort();  // written at genesis, never deleted
    NodesRecord r;
    r.ids = j->at("ids").get<std::vector<std::string>>();
    r.event_count = j->at("event_count").get<std::uint64_t>();
    if (!j->at("head_event_hash").is_null()) r.head_event_hash = j->at("head_event_hash");
    return r;
  }
  Json to_json() const { return nodes_record(ids, event_count, head_event_hash); }
};

// Appends the event of a node change and writes the "nodes" record.
void append_node_event(NodesRecord& nodes, const Call& call, std::string_view type, Json data,
                       Outcome& out) {
  append_chained_event(EventChain{std::string(kNodesStateKey), "network_id", call.block.network_id,
                                  nodes.event_count, nodes.head_event_hash},
                       call, type, Json::object(), std::move(data), out);
  out.writes.push_back({std::string(kNodesStateKey), nodes.to_json()});
}


Outcome refuse_not_node_admin(const Signer& actor, std::string_view org, std::string_view what) {
  return Outcome::refuse(code::kNotOrgAdmin, "only an admin of org \"" + std::string(org) +
                                                 "\" may " + std::string(what) + "; \"" +
                                                 actor.identity_id + "\" is not one");
}

// The node's record, or the refusal: NODE_NOT_FOUND, NOT_ORG_ADMIN (the actor
// is no admin of its org), NODE_REMOVED.
Outcome find_own_active_node(const StateView& state, const Signer& actor, const std::string& id,
                             std::string_view what, Json& record) {
  auto found = state.get(node_state_key(id));
  if (!found) return Outcome::refuse(code::kNodeNotFound, "no node \"" + id + "\"");
  record = std::move(*found);
  std::string org = record.at("org").get<std::string>();
  if (actor.org != org) return refuse_not_node_admin(actor, org, what);
  if (record.at("status") == "removed") {
    return Outcome::refuse(code::kNodeRemoved, "node \"" + id + "\" was removed at height " +
                                                   record.at("removed_at_height").dump() +
                                                   "; a removed node stays removed");
  }
  return Outcome{};
}

Outcome require_admin(const Signer& actor, std::string_view qualified_function) {
  if (!actor.has_role("admin")) {
    return Outcome::refuse(code::kNotOrgAdmin, std::string(qualified_function) +
                                                   " needs an admin of the node's org; \"" +
                                                   actor.identity_id + "\" is not an admin");
  }
  return Outcome{};
}

// --- add_node {id, org, public_key} ---------------------------------------------------
Outcome add_node(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id", "org", "public_key"});
  std::string id = r.network_id("id");
  std::string org = r.network_id("org");
  std::optional<PublicKey> key = r.public_key("public_key");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.add_node"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (!actor.has_role("admin") || actor.org != org) {
    return refuse_not_node_admin(actor, org, "add nodes to it");
  }
  if (!state) return Outcome{};

  if (!find_org(*state, org)) return Outcome::refuse(code::kOrgNotFound, "no org \"" + org + "\"");
  if (auto existing = state->get(node_state_key(id))) {
    return Outcome::refuse(
        code::kNodeExists,
        "node \"" + id + "\" " +
            (existing->at("status") == "removed" ? "was removed; a node id is never used again"
                                                 : "already exists"));
  }
  if (auto used = refuse_used_key(*state, *key); !used.ok()) return used;
  NodesRecord nodes = NodesRecord::read(*state);
  if (nodes.ids.size() >= kNodesEverMax) {
    return Outcome::refuse(code::kLimitReached,
                           "the network has had " + std::to_string(kNodesEverMax) + " nodes");
  }

  Outcome out;
  insert_sorted(nodes.ids, id);
  out.writes.push_back({node_state_key(id), new_node_record(id, org, *key, call.block.height)});
  out.writes.push_back({node_key_state_key(*key), node_key_record(id)});
  append_node_event(nodes, call, "add_node",
                    Json{{"node_id", id}, {"org", org}, {"public_key", key->hex()}}, out);
  return out;
}

// --- remove_node {id} ------------------------------------------------------------------
Outcome remove_node(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id"});
  std::string id = r.network_id("id");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.remove_node"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (auto admin = require_admin(actor, "identity.remove_node"); !admin.ok()) return admin;
  if (!state) return Outcome{};

  Json node;
  if (auto found = find_own_active_node(*state, actor, id, "remove its nodes", node); !found.ok()) {
    return found;
  }
  NodesRecord nodes = NodesRecord::read(*state);
  std::size_t active = 0;
  for (const auto& other : nodes.ids) {
    auto rec = state->get(node_state_key(other));
    if (rec && rec->at("status") == "active") ++active;
  }
  if (active <= 1) {
    return Outcome::refuse(code::kLastNode, "\"" + id +
                                                "\" is the network's last active node; add "
                                                "another node first");
  }

  Outcome out;
  node["status"] = "removed";
  node["removed_at_height"] = call.block.height;
  node["keys"].back()["until_height"] = call.block.height;
  out.writes.push_back({node_state_key(id), node});
  append_node_event(nodes, call, "remove_node", Json{{"node_id", id}, {"org", node.at("org")}},
                    out);
  return out;
}

// --- rotate_node_key {id, public_key} -------------------------------------------------
Outcome rotate_node_key(const Call& call, const StateView* state) {
  ArgReader r(call.tx.args, {"id", "public_key"});
  std::string id = r.network_id("id");
  std::optional<PublicKey> key = r.public_key("public_key");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, "identity.rotate_node_key"); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (auto admin = require_admin(actor, "identity.rotate_node_key"); !admin.ok()) return admin;
  if (!state) return Outcome{};

  Json node;
  if (auto found = find_own_active_node(*state, actor, id, "rotate its nodes' keys", node);
      !found.ok()) {
    return found;
  }
  if (auto used = refuse_used_key(*state, *key); !used.ok()) return used;
  Json& keys = node.at("keys");
  if (keys.size() >= kNodeKeysMax) {
    return Outcome::refuse(code::kLimitReached, "node \"" + id + "\" has used " +
                                                    std::to_string(kNodeKeysMax) + " keys");
  }

  // The old key stays in keys[] and in node_key/: heads it signed before this
  // height still verify with it.
  keys.back()["until_height"] = call.block.height;
  keys.push_back(Json{
      {"public_key", key->hex()}, {"from_height", call.block.height}, {"until_height", nullptr}});
  node["public_key"] = key->hex();

  Outcome out;
  NodesRecord nodes = NodesRecord::read(*state);
  out.writes.push_back({node_state_key(id), node});
  out.writes.push_back({node_key_state_key(*key), node_key_record(id)});
  append_node_event(nodes, call, "rotate_node_key",
                    Json{{"node_id", id}, {"org", node.at("org")}, {"public_key", key->hex()}},
                    out);
  return out;
}

constexpr ModuleFunction kIdentityFunctions[] = {
    {"enrol", enrol},       {"rotate_key", rotate_key},   {"revoke", revoke},
    {"add_node", add_node}, {"remove_node", remove_node}, {"rotate_node_key", rotate_node_key},
};

}  // namespace

std::unique_ptr<Module> make_identity_module() {
  return make_table_module(kIdentityChaincode, kIdentityFunctions);
}

std::vector<ledger::StateWrite> genesis_state_writes(const Genesis& g) {
  // A map keyed by state key gives the sorted order every node must agree on.
  std::map<std::string, Json> state;
  state[std::string(kNetworkStateKey)] =
      Json{{"network_id", g.network_id}, {"genesis_hash", g.hash().hex()}, {"config", g.config}};
  for (const GenesisOrg& org : g.orgs) {
    std::vector<std::string> admin_ids;
    for (const GenesisAdmin& admin : org.admins) {
      admin_ids.push_back(admin.id);
      state[identity_state_key(admin.id)] =
          new_identity_record(admin.id, org.id, {"admin"}, admin.public_key, 0);
      state[key_state_key(admin.public_key)] = key_record(admin.id);
    }
    std::sort(admin_ids.begin(), admin_ids.end());
    state[org_state_key(org.id)] =
        Json{{"id", org.id}, {"name", org.name}, {"kind", org.kind}, {"admins", admin_ids}};
  }
  std::vector<std::string> node_ids;
  for (const GenesisNode& node : g.nodes) {
    node_ids.push_back(node.id);
    state[node_state_key(node.id)] = new_node_record(node.id, node.org, node.public_key, 0);
    state[node_key_state_key(node.public_key)] = node_key_record(node.id);
  }
  std::sort(node_ids.begin(), node_ids.end());
  // Genesis nodes have no events: a verifier knows them from the genesis file.
  state[std::string(kNodesStateKey)] = nodes_record(node_ids, 0, "");
  std::vector<ledger::StateWrite> writes;
  writes.reserve(state.size());
  for (auto& [key, value] : state) writes.push_back({key, std::move(value)});
  return writes;
}

std::vector<NodeMember> node_members_at(const StateView& state, std::uint64_t height) {
  auto within = [height](const Json& from, const Json& until) {
    return from.get<std::uint64_t>() <= height &&
           (until.is_null() || height < until.get<std::uint64_t>());
  };
  std::vector<NodeMember> out;
  auto nodes = state.get_shared(kNodesStateKey);  // read, never changed: no copies
  if (!nodes) return out;
  for (const Json& id : nodes->at("ids")) {  // sorted
    auto node = state.get_shared(node_state_key(id.get<std::string>()));
    if (!node) std::abort();  // listed ids always have a record
    if (!within(node->at("added_at_height"), node->at("removed_at_height"))) continue;
    for (const Json& k : node->at("keys")) {
      if (!within(k.at("from_height"), k.at("until_height"))) continue;
      auto key = PublicKey::from_hex(k.at("public_key").get<std::string>());
      if (!key) std::abort();  // written by this module from a checked key
      out.push_back({id.get<std::string>(), node->at("org").get<std::string>(), *key});
      break;
    }
  }
  return out;
}

}  // namespace custos::chaincode
