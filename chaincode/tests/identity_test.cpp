#include "chaincode/tests/testkit.h"

#include <algorithm>

#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "chaincode/module_kit.h"

using namespace custos;
using namespace custos::chaincode;
using namespace custos::chaincode::testkit;

namespace {

Json enrol_args(const std::string& id, const std::string& org, std::vector<std::string> roles,
                const PublicKey& key) {
  return Json{{"id", id}, {"org", org}, {"roles", roles}, {"public_key", key.hex()}};
}

}  // namespace

TEST_CASE("genesis_state_writes: network, orgs, admins, keys and nodes, sorted by key") {
  World w;
  auto writes = genesis_state_writes(w.genesis);
  REQUIRE_FALSE(writes.empty());
  CHECK(std::is_sorted(writes.begin(), writes.end(),
                       [](const auto& a, const auto& b) { return a.key < b.key; }));
  for (const auto& wr : writes) CHECK(wr.value.has_value());

  Json network = w.get("network");
  CHECK(network == Json{{"network_id", "custos-test"}, {"genesis_hash", w.genesis.hash().hex()}, {"config", Json::object()}});

  Json org = w.get("org/lab");
  CHECK(org == Json{{"id", "lab"},
                    {"name", "Org lab"},
                    {"kind", "forensic_lab"},
                    {"admins", {"admin.lab"}}});

  const PublicKey key = w.keys.at("admin.lab").public_key();
  Json admin = w.get("identity/admin.lab");
  CHECK(admin["org"] == "lab");
  CHECK(admin["roles"] == Json{"admin"});
  CHECK(admin["status"] == "active");
  CHECK(admin["public_key"] == key.hex());
  CHECK(admin["enrolled_at_height"] == 0);
  CHECK(admin["keys"] ==
        Json::array(
            {Json{{"public_key", key.hex()}, {"from_height", 0}, {"until_height", nullptr}}}));
  CHECK(admin["revoked_at_height"].is_null());
  CHECK(admin["revocation_reason"].is_null());
  // No events at genesis: the admin's chain starts empty.
  CHECK(admin["event_count"] == 0);
  CHECK(admin["head_event_hash"] == kNoPrevEventHash);
  CHECK(w.get("key/" + key.hex()) == Json{{"identity", "admin.lab"}});
  const PublicKey node_key = test_key(kNodeKeyBase).public_key();
  CHECK(w.get("node/node-1") == Json{{"id", "node-1"},
                                     {"org", "police-a"},
                                     {"public_key", node_key.hex()},
                                     {"keys", Json::array({Json{{"public_key", node_key.hex()},
                                                                {"from_height", 0},
                                                                {"until_height", nullptr}}})},
                                     {"added_at_height", 0},
                                     {"removed_at_height", nullptr},
                                     {"status", "active"}});
  CHECK(w.get("node_key/" + node_key.hex()) == Json{{"node", "node-1"}});
  CHECK(w.get("nodes") ==
        Json{{"ids", {"node-1"}}, {"event_count", 0}, {"head_event_hash", nullptr}});
  CHECK(w.state.history("nodes").empty());  // genesis nodes have no events

  // Every node computes the same list from the same document.
  World again;
  auto writes_again = genesis_state_writes(again.genesis);
  REQUIRE(writes_again.size() == writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) {
    CHECK(writes[i].key == writes_again[i].key);
    CHECK(*writes[i].value == *writes_again[i].value);
  }
}

TEST_CASE("genesis_state_writes: an org with several admins lists them sorted") {
  World w;
  Genesis g = w.genesis;
  g.orgs[0].admins.push_back({"a.second", w.fresh_key().public_key()});
  auto writes = genesis_state_writes(g);
  auto it = std::find_if(writes.begin(), writes.end(),
                         [&](const auto& wr) { return wr.key == "org/" + g.orgs[0].id; });
  REQUIRE(it != writes.end());
  CHECK((*it->value)["admins"] == Json{"a.second", "admin.police-a"});
}

TEST_CASE("resolve_signer: a genesis admin resolves to its org and roles") {
  World w;
  auto s = resolve_signer(w.state, w.keys.at("admin.court").public_key());
  REQUIRE(s.ok());
  CHECK(s->identity_id == "admin.court");
  CHECK(s->org == "court");
  CHECK(s->roles == std::vector<std::string>{"admin"});
}

TEST_CASE("resolve_signer: an unknown key is UNKNOWN_SIGNER") {
  World w;
  auto s = resolve_signer(w.state, w.fresh_key().public_key());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == code::kUnknownSigner);
}

TEST_CASE("enrol: an org admin enrols an identity with sorted roles and a key entry") {
  World w;
  w.height = 41;
  PrivateKey key = w.fresh_key();
  Outcome out = w.submit(
      "identity", "enrol",
      enrol_args("ana", "lab", {"forensic_analyst", "custodian"}, key.public_key()), {"admin.lab"});
  CHECK_ACCEPTED(out);
  const auto& events = w.state.history("identity/ana");
  REQUIRE(events.size() == 1);
  Json ana = w.get("identity/ana");
  CHECK(ana == Json{{"id", "ana"},
                    {"org", "lab"},
                    {"roles", {"custodian", "forensic_analyst"}},
                    {"public_key", key.public_key().hex()},
                    {"status", "active"},
                    {"enrolled_at_height", 42},
                    {"keys", Json::array({Json{{"public_key", key.public_key().hex()},
                                               {"from_height", 42},
                                               {"until_height", nullptr}}})},
                    {"revoked_at_height", nullptr},
                    {"revocation_reason", nullptr},
                    {"event_count", 1},
                    {"head_event_hash", events[0]["event_hash"]}});
  CHECK(w.get("key/" + key.public_key().hex()) == Json{{"identity", "ana"}});
  // Not an admin: the org's admin list is unchanged.
  CHECK(w.get("org/lab")["admins"] == Json{"admin.lab"});

  auto s = resolve_signer(w.state, key.public_key());
  REQUIRE(s.ok());
  CHECK(s->roles == std::vector<std::string>{"custodian", "forensic_analyst"});
}

TEST_CASE("identity events: enrol, rotate_key and revoke chain in the history identity/<id>") {
  World w;
  w.height = 41;
  PrivateKey first = w.fresh_key();
  CHECK_ACCEPTED(
      w.submit("identity", "enrol",
               enrol_args("ana", "lab", {"forensic_analyst", "custodian"}, first.public_key()),
               {"admin.lab"}));
  const Hash256 enrol_tx = w.last_tx_id;
  PrivateKey second = w.fresh_key();
  const PublicKey second_key = second.public_key();
  w.keys.insert_or_assign("ana", std::move(second));
  CHECK_ACCEPTED(w.submit_with_keys(
      "identity", "rotate_key", Json{{"id", "ana"}, {"public_key", second_key.hex()}}, {&first}));
  const Hash256 rotate_tx = w.last_tx_id;
  w.now_ms += 5'000;
  CHECK_ACCEPTED(
      w.submit("identity", "revoke", Json{{"id", "ana"}, {"reason", "HR-7"}}, {"admin.lab"}));

  const auto& events = w.state.history("identity/ana");
  REQUIRE(events.size() == 3);
  // Each event is the envelope of docs/custody.md §5 with identity_id.
  Json enrol = events[0];
  CHECK(enrol["event_hash"] == compute_event_hash(enrol).value().hex());
  enrol.erase("event_hash");
  CHECK(enrol == Json{{"identity_id", "ana"},
                      {"seq", 0},
                      {"type", "enrol"},
                      {"tx_id", enrol_tx.hex()},
                      {"height", 42},
                      {"block_time_ms", w.now_ms - 5'000},
                      {"actor", "admin.lab"},
                      {"cosigners", Json::array()},
                      {"data",
                       {{"org", "lab"},
                        {"roles", {"custodian", "forensic_analyst"}},
                        {"public_key", first.public_key().hex()}}},
                      {"prev_event_hash", kNoPrevEventHash}});
  CHECK(events[1]["seq"] == 1);
  CHECK(events[1]["type"] == "rotate_key");
  CHECK(events[1]["tx_id"] == rotate_tx.hex());
  CHECK(events[1]["height"] == 43);
  CHECK(events[1]["actor"] == "ana");
  CHECK(events[1]["data"] ==
        Json{{"public_key", second_key.hex()}, {"previous_public_key", first.public_key().hex()}});
  CHECK(events[1]["prev_event_hash"] == events[0]["event_hash"]);
  CHECK(events[2]["seq"] == 2);
  CHECK(events[2]["type"] == "revoke");
  CHECK(events[2]["height"] == 44);
  CHECK(events[2]["block_time_ms"] == w.now_ms);
  CHECK(events[2]["actor"] == "admin.lab");
  CHECK(events[2]["data"] == Json{{"reason", "HR-7"}});
  CHECK(events[2]["prev_event_hash"] == events[1]["event_hash"]);

  Json ana = w.get("identity/ana");
  CHECK(ana["event_count"] == 3);
  CHECK(ana["head_event_hash"] == events[2]["event_hash"]);

  CHECK(verify_identity_history("ana", events).ok());
  CHECK(verify_identity_history("ana", {events[1], events[2]},
                                events[0]["event_hash"].get<std::string>())
            .ok());
  CHECK_FALSE(verify_identity_history("admin.lab", events).ok());
  std::vector<Json> edited = events;
  edited[1]["data"]["public_key"] = first.public_key().hex();
  CHECK_FALSE(verify_identity_history("ana", edited).ok());
  CHECK_FALSE(verify_identity_history("ana", {events[0], events[2]}).ok());
  // An item's verifier does not take an identity's events, nor the reverse.
  CHECK_FALSE(verify_item_history("ana", events).ok());
}

TEST_CASE("identity events: a genesis admin's chain starts at its first rotate_key or revoke") {
  World w;
  CHECK(w.state.history("identity/admin.lab").empty());
  CHECK(verify_identity_history("admin.lab", {}).ok());

  PrivateKey old_key = std::move(w.keys.at("admin.lab"));
  PrivateKey next = w.fresh_key();
  const PublicKey new_key = next.public_key();
  w.keys.insert_or_assign("admin.lab", std::move(next));
  CHECK_ACCEPTED(w.submit_with_keys("identity", "rotate_key",
                                    Json{{"id", "admin.lab"}, {"public_key", new_key.hex()}},
                                    {&old_key}));
  w.enrol("boss.lab", "lab", {"admin"});
  CHECK_ACCEPTED(
      w.submit("identity", "revoke", Json{{"id", "admin.lab"}, {"reason", "REF-1"}}, {"boss.lab"}));

  const auto& events = w.state.history("identity/admin.lab");
  REQUIRE(events.size() == 2);
  CHECK(events[0]["seq"] == 0);
  CHECK(events[0]["type"] == "rotate_key");
  CHECK(events[0]["prev_event_hash"] == kNoPrevEventHash);
  CHECK(events[1]["type"] == "revoke");
  CHECK(events[1]["actor"] == "boss.lab");
  CHECK(verify_identity_history("admin.lab", events).ok());
  Json admin = w.get("identity/admin.lab");
  CHECK(admin["event_count"] == 2);
  CHECK(admin["head_event_hash"] == events[1]["event_hash"]);
  // Enrolled by a transaction, boss.lab's chain starts with its enrol.
  REQUIRE(w.state.history("identity/boss.lab").size() == 1);
  CHECK(w.state.history("identity/boss.lab")[0]["type"] == "enrol");
}

TEST_CASE("enrol: enrolling an admin adds it to the org's admins") {
  World w;
  w.enrol("boss.lab", "lab", {"admin"});
  CHECK(w.get("org/lab")["admins"] == Json{"admin.lab", "boss.lab"});
  // The new admin can enrol in turn.
  w.enrol("x", "lab", {"auditor"});
  CHECK_ACCEPTED(w.submit("identity", "enrol",
                          enrol_args("y", "lab", {"auditor"}, w.fresh_key().public_key()),
                          {"boss.lab"}));
}

TEST_CASE("enrol: NOT_ORG_ADMIN for a non-admin and for an admin of another org") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  CHECK_REFUSED(
      w.submit("identity", "enrol",
               enrol_args("x", "police-a", {"custodian"}, w.fresh_key().public_key()), {"inv"}),
      code::kNotOrgAdmin);
  CHECK_REFUSED(w.submit("identity", "enrol",
                         enrol_args("x", "police-a", {"custodian"}, w.fresh_key().public_key()),
                         {"admin.lab"}),
                code::kNotOrgAdmin);
  CHECK_FALSE(w.state.get("identity/x"));
}

TEST_CASE("enrol: ORG_NOT_FOUND when the admin's org has no record") {
  // The registry only hands over signers of existing orgs, so this needs a
  // hand-made signer; the rule still guards execute() against such state.
  World w;
  Signer ghost{"admin.ghost", "ghost", {"admin"}};
  CHECK_REFUSED(
      w.run_as("identity", "enrol",
               enrol_args("x", "ghost", {"auditor"}, w.fresh_key().public_key()), {ghost}),
      code::kOrgNotFound);
}

TEST_CASE("enrol: IDENTITY_EXISTS and KEY_IN_USE") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  CHECK_REFUSED(w.submit("identity", "enrol",
                         enrol_args("inv", "police-a", {"custodian"}, w.fresh_key().public_key()),
                         {"admin.police-a"}),
                code::kIdentityExists);
  // Another org's identity id is taken too: ids are network-wide.
  CHECK_REFUSED(
      w.submit("identity", "enrol",
               enrol_args("admin.lab", "police-a", {"custodian"}, w.fresh_key().public_key()),
               {"admin.police-a"}),
      code::kIdentityExists);
  CHECK_REFUSED(
      w.submit("identity", "enrol",
               enrol_args("dup", "police-a", {"custodian"}, w.keys.at("inv").public_key()),
               {"admin.police-a"}),
      code::kKeyInUse);
  // A node's key (the genesis node's) is in use for identities too.
  CHECK_REFUSED(w.submit("identity", "enrol",
                         enrol_args("dup", "police-a", {"custodian"},
                                    test_key(kNodeKeyBase).public_key()),
                         {"admin.police-a"}),
                code::kKeyInUse);
}

TEST_CASE("enrol: BAD_ARGS for every malformed argument") {
  World w;
  const std::string key = w.fresh_key().public_key().hex();
  auto refused = [&](Json args) {
    Outcome out = w.submit("identity", "enrol", args, {"admin.lab"});
    CHECK_REFUSED(out, code::kBadArgs);
    return out.message;
  };
  Json good{{"id", "x"}, {"org", "lab"}, {"roles", {"auditor"}}, {"public_key", key}};
  CHECK_ACCEPTED(w.run_as("identity", "enrol", good, {w.signer("admin.lab")}));

  auto with = [&](const char* name, Json value) {
    Json a = good;
    a[name] = std::move(value);
    return a;
  };
  CHECK(refused(with("roles", Json::array())).find("at least one") != std::string::npos);
  CHECK(refused(with("roles", {"wizard"})).find("wizard") != std::string::npos);
  CHECK(refused(with("roles", {"auditor", "auditor"})).find("twice") != std::string::npos);
  refused(with("roles", "auditor"));
  refused(with("id", "Upper"));
  refused(with("id", ""));
  refused(with("org", 7));
  refused(with("public_key", key.substr(0, 64)));
  std::string upper = key;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  refused(with("public_key", upper));
  refused(with("public_key", "02" + std::string(64, '0')));  // not on the curve
  // Only the 33-byte compressed spelling: one key, one spelling, one key/ entry.
  refused(with("public_key", "04" + std::string(128, '1')));
  Json extra = good;
  extra["name"] = "Jane Doe";
  CHECK(refused(extra).find("unknown argument \"name\"") != std::string::npos);
  Json missing = good;
  missing.erase("roles");
  CHECK(refused(missing).find("missing argument \"roles\"") != std::string::npos);
  refused(Json::array());
}

TEST_CASE("enrol: UNEXPECTED_SIGNER when anyone but the admin signs") {
  World w;
  CHECK_REFUSED(
      w.submit("identity", "enrol", enrol_args("x", "lab", {"auditor"}, w.fresh_key().public_key()),
               {"admin.lab", "admin.court"}),
      code::kUnexpectedSigner);
}

TEST_CASE("enrol: LIMIT_REACHED once an org has the maximum of admins") {
  World w;
  for (std::size_t i = 1; i < kOrgAdminsMax; ++i)
    w.enrol("adm-" + std::to_string(i), "lab", {"admin"});
  CHECK(w.get("org/lab")["admins"].size() == kOrgAdminsMax);
  CHECK_REFUSED(
      w.submit("identity", "enrol",
               enrol_args("one-more", "lab", {"admin"}, w.fresh_key().public_key()), {"admin.lab"}),
      code::kLimitReached);
  // Identities without the admin role are not bounded by it.
  w.enrol("analyst", "lab", {"forensic_analyst"});
}

TEST_CASE("rotate_key: the identity rotates its own key; the old key is refused as rotated") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  std::uint64_t enrolled_at = w.height;
  PrivateKey old_key = std::move(w.keys.at("inv"));
  PrivateKey next = w.fresh_key();
  const PublicKey new_key = next.public_key();
  w.keys.insert_or_assign("inv", std::move(next));

  Outcome out = w.submit_with_keys("identity", "rotate_key",
                                   Json{{"id", "inv"}, {"public_key", new_key.hex()}}, {&old_key});
  CHECK_ACCEPTED(out);
  Json inv = w.get("identity/inv");
  CHECK(inv["public_key"] == new_key.hex());
  CHECK(inv["keys"] == Json::array({Json{{"public_key", old_key.public_key().hex()},
                                         {"from_height", enrolled_at},
                                         {"until_height", w.height}},
                                    Json{{"public_key", new_key.hex()},
                                         {"from_height", w.height},
                                         {"until_height", nullptr}}}));
  CHECK(w.get("key/" + new_key.hex()) == Json{{"identity", "inv"}});
  // The old key stays mapped, so its past signatures can be attributed...
  CHECK(w.get("key/" + old_key.public_key().hex()) == Json{{"identity", "inv"}});
  // ...but it no longer signs for the identity.
  auto old = resolve_signer(w.state, old_key.public_key());
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().code == code::kUnknownSigner);
  CHECK(old.error().message.find("rotated") != std::string::npos);
  auto current = resolve_signer(w.state, new_key);
  REQUIRE(current.ok());
  CHECK(current->identity_id == "inv");
  // And the old key cannot be enrolled again for anyone.
  CHECK_REFUSED(
      w.submit("identity", "enrol", enrol_args("x", "police-a", {"auditor"}, old_key.public_key()),
               {"admin.police-a"}),
      code::kKeyInUse);
}

TEST_CASE("rotate_key: an admin of the identity's org may rotate it, others may not") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  w.enrol("other", "police-a", {"custodian"});
  auto args = [&] { return Json{{"id", "inv"}, {"public_key", w.fresh_key().public_key().hex()}}; };
  CHECK_REFUSED(w.submit("identity", "rotate_key", args(), {"other"}), code::kNotOrgAdmin);
  CHECK_REFUSED(w.submit("identity", "rotate_key", args(), {"admin.lab"}), code::kNotOrgAdmin);
  CHECK_ACCEPTED(w.submit("identity", "rotate_key", args(), {"admin.police-a"}));
}

TEST_CASE("rotate_key: IDENTITY_NOT_FOUND, KEY_IN_USE, ALREADY_REVOKED, BAD_ARGS") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  CHECK_REFUSED(w.submit("identity", "rotate_key",
                         Json{{"id", "nobody"}, {"public_key", w.fresh_key().public_key().hex()}},
                         {"admin.police-a"}),
                code::kIdentityNotFound);
  // Its own current key, and another identity's key, are both in use.
  CHECK_REFUSED(
      w.submit("identity", "rotate_key",
               Json{{"id", "inv"}, {"public_key", w.keys.at("inv").public_key().hex()}}, {"inv"}),
      code::kKeyInUse);
  CHECK_REFUSED(
      w.submit("identity", "rotate_key",
               Json{{"id", "inv"}, {"public_key", w.keys.at("admin.lab").public_key().hex()}},
               {"inv"}),
      code::kKeyInUse);
  CHECK_REFUSED(w.submit("identity", "rotate_key",
                         Json{{"id", "inv"}, {"public_key", test_key(kNodeKeyBase).public_key().hex()}},
                         {"inv"}),
                code::kKeyInUse);
  CHECK_REFUSED(w.submit("identity", "rotate_key", Json{{"id", "inv"}}, {"inv"}), code::kBadArgs);
  CHECK_REFUSED(w.submit("identity", "rotate_key",
                         Json{{"id", "inv"}, {"public_key", "zz"}, {"extra", 1}}, {"inv"}),
                code::kBadArgs);
  CHECK_REFUSED(w.submit("identity", "rotate_key",
                         Json{{"id", "inv"}, {"public_key", w.fresh_key().public_key().hex()}},
                         {"inv", "admin.police-a"}),
                code::kUnexpectedSigner);

  CHECK_ACCEPTED(w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", "ref KEYLOSS-7"}},
                          {"admin.police-a"}));
  CHECK_REFUSED(w.submit("identity", "rotate_key",
                         Json{{"id", "inv"}, {"public_key", w.fresh_key().public_key().hex()}},
                         {"admin.police-a"}),
                code::kAlreadyRevoked);
}

TEST_CASE("rotate_key: LIMIT_REACHED after the maximum number of keys") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  for (std::size_t i = 1; i < kIdentityKeysMax; ++i) {
    PrivateKey next = w.fresh_key();
    REQUIRE(w.submit("identity", "rotate_key",
                     Json{{"id", "inv"}, {"public_key", next.public_key().hex()}}, {"inv"})
                .ok());
    w.keys.insert_or_assign("inv", std::move(next));
  }
  CHECK(w.get("identity/inv")["keys"].size() == kIdentityKeysMax);
  CHECK_REFUSED(
      w.submit("identity", "rotate_key",
               Json{{"id", "inv"}, {"public_key", w.fresh_key().public_key().hex()}}, {"inv"}),
      code::kLimitReached);
}

TEST_CASE("revoke: the identity is marked revoked and its key resolves to SIGNER_REVOKED") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  CHECK_ACCEPTED(w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", "HR-2025-0042"}},
                          {"admin.police-a"}));
  Json inv = w.get("identity/inv");
  CHECK(inv["status"] == "revoked");
  CHECK(inv["revoked_at_height"] == w.height);
  CHECK(inv["revocation_reason"] == "HR-2025-0042");
  auto s = resolve_signer(w.state, w.keys.at("inv").public_key());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == code::kSignerRevoked);
  // Through the registry path the revoked identity can no longer act.
  CHECK_REFUSED(
      w.submit("custody", "open_case",
               Json{{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", Json::array()}},
               {"inv"}),
      code::kSignerRevoked);
  CHECK_REFUSED(
      w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", "again"}}, {"admin.police-a"}),
      code::kAlreadyRevoked);
}

TEST_CASE("revoke: NOT_ORG_ADMIN, IDENTITY_NOT_FOUND and the reason's bounds") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  w.enrol("peer", "police-a", {"investigator"});
  CHECK_REFUSED(w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", "r"}}, {"peer"}),
                code::kNotOrgAdmin);
  CHECK_REFUSED(w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", "r"}}, {"admin.lab"}),
                code::kNotOrgAdmin);
  CHECK_REFUSED(
      w.submit("identity", "revoke", Json{{"id", "ghost"}, {"reason", "r"}}, {"admin.police-a"}),
      code::kIdentityNotFound);
  CHECK_REFUSED(
      w.submit("identity", "revoke", Json{{"id", "inv"}, {"reason", ""}}, {"admin.police-a"}),
      code::kBadArgs);
  CHECK_REFUSED(
      w.submit("identity", "revoke",
               Json{{"id", "inv"}, {"reason", std::string(kRevocationReasonBytesMax + 1, 'r')}},
               {"admin.police-a"}),
      code::kBadArgs);
  CHECK(w.get("identity/inv")["status"] == "active");
  CHECK_ACCEPTED(
      w.submit("identity", "revoke",
               Json{{"id", "inv"}, {"reason", std::string(kRevocationReasonBytesMax, 'r')}},
               {"admin.police-a"}));
}

TEST_CASE("revoke: LAST_ADMIN protects an org's only admin; with two, one may go") {
  World w;
  CHECK_REFUSED(
      w.submit("identity", "revoke", Json{{"id", "admin.lab"}, {"reason", "r"}}, {"admin.lab"}),
      code::kLastAdmin);
  w.enrol("boss.lab", "lab", {"admin", "auditor"});
  CHECK_ACCEPTED(
      w.submit("identity", "revoke", Json{{"id", "admin.lab"}, {"reason", "REF-1"}}, {"boss.lab"}));
  CHECK(w.get("org/lab")["admins"] == Json{"boss.lab"});
  CHECK_REFUSED(
      w.submit("identity", "revoke", Json{{"id", "boss.lab"}, {"reason", "r"}}, {"boss.lab"}),
      code::kLastAdmin);
}

TEST_CASE("identity: admit() checks shape and roles only; execute() adds the state rules") {
  World w;
  const Module& m = *w.identity_module;
  MemoryState empty;
  Transaction tx;
  tx.network_id = "custos-test";
  tx.chaincode = "identity";
  tx.function = "enrol";
  tx.args = enrol_args("x", "lab", {"auditor"}, w.fresh_key().public_key());
  tx.nonce = "0011223344556677";
  tx.created_at_ms = kGenesisTimeMs;
  Hash256 id = tx.id();
  std::vector<Signer> signers{w.signer("admin.lab")};
  BlockContext block{"custos-test", 1, kGenesisTimeMs};
  Call call{tx, id, signers, block};
  // Nothing in the empty state, yet admission passes: it reads no state.
  CHECK_ACCEPTED(m.admit(call));
  CHECK_REFUSED(m.execute(empty, call), code::kOrgNotFound);
  CHECK(m.name() == "identity");
  CHECK(m.has_function("enrol"));
  CHECK(m.has_function("rotate_key"));
  CHECK(m.has_function("revoke"));
  CHECK_FALSE(m.has_function("register"));
}

TEST_CASE("identity: UNKNOWN_FUNCTION and UNSIGNED") {
  World w;
  CHECK_REFUSED(w.submit("identity", "promote", Json::object(), {"admin.lab"}),
                code::kUnknownFunction);
  CHECK_REFUSED(w.run_as("identity", "revoke", Json{{"id", "admin.lab"}, {"reason", "r"}}, {}),
                code::kUnsigned);
}

TEST_CASE("identity: a refused tx changes nothing") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  std::string before = w.state.snapshot();
  std::uint64_t height = w.height;
  CHECK_FALSE(w.submit("identity", "enrol",
                       enrol_args("inv", "police-a", {"custodian"}, w.fresh_key().public_key()),
                       {"admin.police-a"})
                  .ok());
  CHECK_FALSE(
      w.submit("identity", "revoke", Json{{"id", "admin.lab"}, {"reason", "r"}}, {"admin.lab"})
          .ok());
  CHECK_FALSE(
      w.submit("identity", "rotate_key",
               Json{{"id", "inv"}, {"public_key", w.keys.at("admin.lab").public_key().hex()}},
               {"inv"})
          .ok());
  CHECK(w.state.snapshot() == before);
  CHECK(w.height == height);
  // The snapshot covers histories; said outright: no event was appended.
  CHECK(w.state.history("identity/inv").size() == 1);
  CHECK(w.state.history("identity/admin.lab").empty());
}

TEST_CASE("ArgReader: refuses what the canonical encoding cannot carry, keeps the first problem") {
  // A signed envelope can never hold these (its id could not be computed),
  // but execute() must not depend on its caller having checked.
  const Json floating{{"t", 1.5}};
  ArgReader floats(floating, {"t"});
  CHECK_FALSE(floats.ok());
  CHECK(floats.refusal().code == code::kBadArgs);
  const Json large{{"t", std::uint64_t{1} << 60}};
  ArgReader huge(large, {"t"});
  CHECK_FALSE(huge.ok());
  const Json array = Json::array();
  ArgReader not_object(array, {});
  CHECK_FALSE(not_object.ok());

  const Json two{{"a", 5}, {"b", "x"}};
  ArgReader r(two, {"a", "b"});
  REQUIRE(r.ok());
  CHECK(r.text("a", 10).empty());  // wrong type: first problem
  CHECK(r.time_ms("a") == 0);      // after a problem, defaults
  CHECK(r.text("b", 10).empty());
  CHECK(r.refusal().message == "\"a\" must be a string");

  const Json one{{"a", "x"}};
  ArgReader optional(one, {"a"}, {"h"});
  CHECK_FALSE(optional.has("h"));
  CHECK_FALSE(optional.hash_hex_or_null("h").has_value());
  CHECK(optional.ok());
}

TEST_CASE("roles: the brief's thirteen roles are known, others are not") {
  CHECK(std::size(kRoles) == 13);
  for (std::string_view r : {"admin", "investigator", "custodian", "forensic_analyst", "prosecutor",
                             "judge", "court_clerk", "customs_officer", "museum_registrar",
                             "dealer", "transfer_agent", "fiu_analyst", "auditor"}) {
    CHECK(is_known_role(r));
  }
  CHECK_FALSE(is_known_role("Admin"));
  CHECK_FALSE(is_known_role("root"));
  CHECK_FALSE(is_known_role(""));
}

// --- nodes ------------------------------------------------------------------------

namespace {

Json node_args(const std::string& id, const std::string& org, const PublicKey& key) {
  return Json{{"id", id}, {"org", org}, {"public_key", key.hex()}};
}

std::vector<std::string> member_ids(const std::vector<NodeMember>& members) {
  std::vector<std::string> ids;
  for (const auto& m : members) ids.push_back(m.id);
  return ids;
}

}  // namespace

TEST_CASE("add_node: an org admin adds a node; the record, its key, the list and one event") {
  World w;
  const PublicKey key = test_key(kNodeKeyBase + 2).public_key();
  CHECK_ACCEPTED(
      w.submit("identity", "add_node", node_args("node-2", "police-b", key), {"admin.police-b"}));
  Json node = w.get("node/node-2");
  CHECK(node == Json{{"id", "node-2"},
                     {"org", "police-b"},
                     {"public_key", key.hex()},
                     {"keys", Json::array({Json{{"public_key", key.hex()},
                                                {"from_height", w.height},
                                                {"until_height", nullptr}}})},
                     {"added_at_height", w.height},
                     {"removed_at_height", nullptr},
                     {"status", "active"}});
  CHECK(w.get("node_key/" + key.hex()) == Json{{"node", "node-2"}});
  Json nodes = w.get("nodes");
  CHECK(nodes["ids"] == Json{"node-1", "node-2"});
  CHECK(nodes["event_count"] == 1);
  const auto& events = w.state.history("nodes");
  REQUIRE(events.size() == 1);
  const Json& e = events[0];
  CHECK(e["type"] == "add_node");
  CHECK(e["network_id"] == "custos-test");
  CHECK(e["seq"] == 0);
  CHECK(e["height"] == w.height);
  CHECK(e["actor"] == "admin.police-b");
  CHECK(e["data"] == Json{{"node_id", "node-2"}, {"org", "police-b"}, {"public_key", key.hex()}});
  CHECK(e["prev_event_hash"] == std::string(kNoPrevEventHash));
  CHECK(nodes["head_event_hash"] == e["event_hash"]);
  CHECK(verify_event_chain("network_id", "network", "custos-test", events, kNoPrevEventHash).ok());
}

TEST_CASE("add_node: NOT_ORG_ADMIN, ORG_NOT_FOUND, NODE_EXISTS, KEY_IN_USE, BAD_ARGS") {
  World w;
  w.enrol("inv", "police-a", {"investigator"});
  const PublicKey fresh = test_key(kNodeKeyBase + 3).public_key();
  // Not an admin; an admin of another org.
  CHECK_REFUSED(w.submit("identity", "add_node", node_args("n2", "police-a", fresh), {"inv"}),
                code::kNotOrgAdmin);
  CHECK_REFUSED(
      w.submit("identity", "add_node", node_args("n2", "police-a", fresh), {"admin.police-b"}),
      code::kNotOrgAdmin);
  // An admin whose org has no record (unreachable through the registry).
  Signer orphan{"ghost-admin", "ghost", {"admin"}};
  CHECK_REFUSED(w.run_as("identity", "add_node", node_args("n2", "ghost", fresh), {orphan}),
                code::kOrgNotFound);
  // The genesis node's id; a genesis node's key; an identity's key.
  CHECK_REFUSED(
      w.submit("identity", "add_node", node_args("node-1", "police-a", fresh), {"admin.police-a"}),
      code::kNodeExists);
  CHECK_REFUSED(w.submit("identity", "add_node",
                         node_args("n2", "police-a", test_key(kNodeKeyBase).public_key()),
                         {"admin.police-a"}),
                code::kKeyInUse);
  CHECK_REFUSED(
      w.submit("identity", "add_node", node_args("n2", "police-a", w.keys.at("inv").public_key()),
               {"admin.police-a"}),
      code::kKeyInUse);
  // Shape.
  Json bad = node_args("n2", "police-a", fresh);
  bad["public_key"] = "02abcd";
  CHECK_REFUSED(w.submit("identity", "add_node", bad, {"admin.police-a"}), code::kBadArgs);
  bad = node_args("N 2", "police-a", fresh);
  CHECK_REFUSED(w.submit("identity", "add_node", bad, {"admin.police-a"}), code::kBadArgs);
  bad = node_args("n2", "police-a", fresh);
  bad["extra"] = 1;
  CHECK_REFUSED(w.submit("identity", "add_node", bad, {"admin.police-a"}), code::kBadArgs);
  // Signed by the admin and someone else.
  CHECK_REFUSED(w.submit("identity", "add_node", node_args("n2", "police-a", fresh),
                         {"admin.police-a", "inv"}),
                code::kUnexpectedSigner);
  // Nothing of the above changed the node list.
  CHECK(w.get("nodes")["ids"] == Json{"node-1"});
  CHECK(w.state.history("nodes").empty());
}

TEST_CASE("remove_node: the node leaves; LAST_NODE, NODE_REMOVED, no re-add, other orgs refused") {
  World w;
  const PublicKey k2 = test_key(kNodeKeyBase + 2).public_key();
  // The only node cannot go.
  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-1"}}, {"admin.police-a"}),
                code::kLastNode);
  CHECK_ACCEPTED(
      w.submit("identity", "add_node", node_args("node-2", "police-b", k2), {"admin.police-b"}));
  // Another org's admin may not remove it; an unknown node is NODE_NOT_FOUND.
  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-2"}}, {"admin.police-a"}),
                code::kNotOrgAdmin);
  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-9"}}, {"admin.police-a"}),
                code::kNodeNotFound);
  w.enrol("inv", "police-b", {"investigator"});
  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-2"}}, {"inv"}),
                code::kNotOrgAdmin);

  CHECK_ACCEPTED(w.submit("identity", "remove_node", Json{{"id", "node-2"}}, {"admin.police-b"}));
  Json node = w.get("node/node-2");
  CHECK(node["status"] == "removed");
  CHECK(node["removed_at_height"] == w.height);
  CHECK(node["keys"][0]["until_height"] == w.height);
  const auto& events = w.state.history("nodes");
  REQUIRE(events.size() == 2);
  CHECK(events[1]["type"] == "remove_node");
  CHECK(events[1]["data"] == Json{{"node_id", "node-2"}, {"org", "police-b"}});
  CHECK(events[1]["prev_event_hash"] == events[0]["event_hash"]);
  CHECK(w.get("nodes")["head_event_hash"] == events[1]["event_hash"]);

  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-2"}}, {"admin.police-b"}),
                code::kNodeRemoved);
  CHECK_REFUSED(w.submit("identity", "rotate_node_key",
                         Json{{"id", "node-2"},
                              {"public_key", test_key(kNodeKeyBase + 5).public_key().hex()}},
                         {"admin.police-b"}),
                code::kNodeRemoved);
  CHECK_REFUSED(w.submit("identity", "add_node",
                         node_args("node-2", "police-b", test_key(kNodeKeyBase + 6).public_key()),
                         {"admin.police-b"}),
                code::kNodeExists);
  // And node-1 is the last active node again.
  CHECK_REFUSED(w.submit("identity", "remove_node", Json{{"id", "node-1"}}, {"admin.police-a"}),
                code::kLastNode);
  CHECK(verify_event_chain("network_id", "network", "custos-test", events, kNoPrevEventHash).ok());
}

TEST_CASE("rotate_node_key: the new key signs from this height; old keys are never reused") {
  World w;
  const PublicKey k0 = test_key(kNodeKeyBase).public_key();
  const PublicKey k1 = test_key(kNodeKeyBase + 1).public_key();
  Json args{{"id", "node-1"}, {"public_key", k1.hex()}};
  CHECK_REFUSED(w.submit("identity", "rotate_node_key", args, {"admin.police-b"}),
                code::kNotOrgAdmin);
  w.enrol("inv", "police-a", {"investigator"});
  CHECK_REFUSED(w.submit("identity", "rotate_node_key", args, {"inv"}), code::kNotOrgAdmin);
  CHECK_REFUSED(w.submit("identity", "rotate_node_key",
                         Json{{"id", "node-1"}, {"public_key", k0.hex()}}, {"admin.police-a"}),
                code::kKeyInUse);  // its own current key
  CHECK_REFUSED(
      w.submit("identity", "rotate_node_key",
               Json{{"id", "node-1"}, {"public_key", w.keys.at("inv").public_key().hex()}},
               {"admin.police-a"}),
      code::kKeyInUse);  // an identity's key
  CHECK_REFUSED(w.submit("identity", "rotate_node_key",
                         Json{{"id", "nope"}, {"public_key", k1.hex()}}, {"admin.police-a"}),
                code::kNodeNotFound);
  CHECK_REFUSED(w.submit("identity", "rotate_node_key", Json{{"id", "node-1"}}, {"admin.police-a"}),
                code::kBadArgs);

  CHECK_ACCEPTED(w.submit("identity", "rotate_node_key", args, {"admin.police-a"}));
  std::uint64_t at = w.height;
  Json node = w.get("node/node-1");
  CHECK(node["public_key"] == k1.hex());
  CHECK(node["keys"] ==
        Json::array(
            {Json{{"public_key", k0.hex()}, {"from_height", 0}, {"until_height", at}},
             Json{{"public_key", k1.hex()}, {"from_height", at}, {"until_height", nullptr}}}));
  CHECK(w.get("node_key/" + k1.hex()) == Json{{"node", "node-1"}});
  CHECK(w.get("node_key/" + k0.hex()) == Json{{"node", "node-1"}});
  const auto& events = w.state.history("nodes");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "rotate_node_key");
  CHECK(events[0]["data"] ==
        Json{{"node_id", "node-1"}, {"org", "police-a"}, {"public_key", k1.hex()}});
  // The key rotated away cannot come back, for this node or a new one.
  CHECK_REFUSED(w.submit("identity", "rotate_node_key",
                         Json{{"id", "node-1"}, {"public_key", k0.hex()}}, {"admin.police-a"}),
                code::kKeyInUse);
  CHECK_REFUSED(
      w.submit("identity", "add_node", node_args("node-3", "police-a", k0), {"admin.police-a"}),
      code::kKeyInUse);
}

TEST_CASE("rotate_node_key: LIMIT_REACHED after the maximum number of keys") {
  World w;
  for (std::size_t i = 1; i < kNodeKeysMax; ++i) {
    CHECK_ACCEPTED(
        w.submit("identity", "rotate_node_key",
                 Json{{"id", "node-1"},
                      {"public_key",
                       test_key(kNodeKeyBase + static_cast<std::uint32_t>(i)).public_key().hex()}},
                 {"admin.police-a"}));
  }
  CHECK(w.get("node/node-1")["keys"].size() == kNodeKeysMax);
  CHECK_REFUSED(w.submit("identity", "rotate_node_key",
                         Json{{"id", "node-1"},
                              {"public_key", test_key(kNodeKeyBase + 500).public_key().hex()}},
                         {"admin.police-a"}),
                code::kLimitReached);
}

TEST_CASE("node_members_at: membership and keys at every height across add, rotate, remove") {
  World w;
  const PublicKey k1 = test_key(kNodeKeyBase).public_key();
  const PublicKey k1b = test_key(kNodeKeyBase + 10).public_key();
  const PublicKey k2 = test_key(kNodeKeyBase + 2).public_key();
  const PublicKey k3 = test_key(kNodeKeyBase + 3).public_key();

  CHECK(node_members_at(w.state, 0) == std::vector<NodeMember>{{"node-1", "police-a", k1}});
  w.enrol("inv", "police-a", {"investigator"});  // height 1: nothing about nodes
  CHECK_ACCEPTED(                                // height 2
      w.submit("identity", "add_node", node_args("node-3", "police-b", k3), {"admin.police-b"}));
  CHECK_ACCEPTED(  // height 3
      w.submit("identity", "add_node", node_args("node-2", "police-a", k2), {"admin.police-a"}));
  CHECK_ACCEPTED(w.submit("identity", "rotate_node_key",  // height 4
                          Json{{"id", "node-1"}, {"public_key", k1b.hex()}}, {"admin.police-a"}));
  CHECK_ACCEPTED(  // height 5
      w.submit("identity", "remove_node", Json{{"id", "node-3"}}, {"admin.police-b"}));
  REQUIRE(w.height == 5);

  using V = std::vector<NodeMember>;
  CHECK(node_members_at(w.state, 1) == V{{"node-1", "police-a", k1}});
  CHECK(node_members_at(w.state, 2) == V{{"node-1", "police-a", k1}, {"node-3", "police-b", k3}});
  CHECK(node_members_at(w.state, 3) ==
        V{{"node-1", "police-a", k1}, {"node-2", "police-a", k2}, {"node-3", "police-b", k3}});
  // The rotation at height 4 counts for head 4 itself.
  CHECK(node_members_at(w.state, 4) ==
        V{{"node-1", "police-a", k1b}, {"node-2", "police-a", k2}, {"node-3", "police-b", k3}});
  // So does the removal at height 5.
  CHECK(member_ids(node_members_at(w.state, 5)) == std::vector<std::string>{"node-1", "node-2"});
  CHECK(node_members_at(w.state, 5)[0].public_key == k1b);
  CHECK(member_ids(node_members_at(w.state, 1000)) == std::vector<std::string>{"node-1", "node-2"});
  CHECK(w.get("nodes")["ids"] == Json{"node-1", "node-2", "node-3"});
  CHECK(w.state.history("nodes").size() == 4);
}
