#include "chaincode/tests/testkit.h"

#include "chaincode/custody.h"
#include "core/hash.h"

using namespace custos;
using namespace custos::chaincode;
using namespace custos::chaincode::testkit;

namespace {

std::string hash_of(std::string_view content) {
  return sha256(content).hex();
}

// A joint investigation team: police-a leads case JIT-1 with the lab and the
// prosecution as members; police-b, court, customs and europol are outside
// it. E-1 (physical) and D-1 (digital) are registered, held by cust.a.
struct Jit {
  World w;
  std::int64_t t0 = 0;  // E-1's and D-1's seizure time

  explicit Jit(std::size_t extra_orgs = 0) : w(extra_orgs) {
    w.enrol("inv.a", "police-a", {"investigator"});
    w.enrol("cust.a", "police-a", {"custodian"});
    w.enrol("cust.a2", "police-a", {"custodian"});
    w.enrol("pros.a", "police-a", {"prosecutor"});
    w.enrol("inv.b", "police-b", {"investigator"});
    w.enrol("cust.b", "police-b", {"custodian"});
    w.enrol("pros.b", "police-b", {"prosecutor"});
    w.enrol("ana", "lab", {"forensic_analyst"});
    w.enrol("ana2", "lab", {"forensic_analyst"});
    w.enrol("tech", "lab", {"custodian"});
    w.enrol("pros", "prosecution", {"prosecutor"});
    w.enrol("judge", "court", {"judge"});
    w.enrol("judge2", "court", {"judge"});
    w.enrol("clerk", "court", {"court_clerk"});
    w.enrol("cust.x", "customs", {"customs_officer"});
    w.enrol("aud", "europol", {"auditor"});
    t0 = w.now_ms - 3'600'000;
    REQUIRE(ok("open_case",
               Json{{"case_id", "JIT-1"},
                    {"reference", "EJ-JIT-2025-17"},
                    {"member_orgs", {"prosecution", "lab"}}},
               {"inv.a"}));
    REQUIRE(ok("register", register_args("E-1", "physical"), {"cust.a"}));
    REQUIRE(ok("register", register_args("D-1", "digital"), {"cust.a"}));
  }

  Outcome submit(std::string_view function, const Json& args,
                 const std::vector<std::string>& signers) {
    return w.submit("custody", function, args, signers);
  }
  bool ok(std::string_view function, const Json& args, const std::vector<std::string>& signers) {
    Outcome out = submit(function, args, signers);
    CHECK_MESSAGE(out.ok(), function << ": " << out.code << ": " << out.message);
    return out.ok();
  }

  // A time `s` seconds after t0.
  std::int64_t at(std::int64_t s) const { return t0 + s * 1000; }

  Json register_args(const std::string& item_id, const std::string& kind,
                     const std::string& case_id = "JIT-1") const {
    Json a{{"case_id", case_id},
           {"item_id", item_id},
           {"kind", kind},
           {"description", "mobile phone, black, cracked screen"},
           {"seal_numbers", {"S-0001"}},
           {"location", "police-a evidence room 2, shelf 4"},
           {"seized_at_ms", t0},
           {"place", "warehouse search, site ref W-77"},
           {"legal_authority_ref", "warrant 2025/881"}};
    if (kind == "digital") a["content_hash"] = hash_of("image " + item_id);
    return a;
  }

  Json handover_args(const std::string& item_id, const std::string& to,
                     std::int64_t declared_at_ms) const {
    return Json{{"item_id", item_id},
                {"to", to},
                {"purpose", "forensic examination, lab request LR-12"},
                {"location", "lab intake desk"},
                {"seals_intact", true},
                {"seal_numbers", {"S-0001"}},
                {"condition", "sealed bag, undamaged"},
                {"declared_at_ms", declared_at_ms}};
  }

  Json finalise_args(const std::string& item_id, const std::string& authoriser,
                     std::int64_t declared_at_ms, const char* last_member = "recipient_ref") const {
    return Json{{"item_id", item_id},
                {"authorisation_ref", "order PR-2025-301"},
                {"authorised_by", authoriser},
                {"declared_at_ms", declared_at_ms},
                {last_member, "owner ref O-19"}};
  }

  Json item(const std::string& id) const { return w.get("item/" + id); }
  Json kase(const std::string& id = "JIT-1") const { return w.get("case/" + id); }
  const std::vector<Json>& history(const std::string& item_id) const {
    return w.state.history("item/" + item_id);
  }

  // The item's events form an unbroken chain ending at its head.
  void check_chain(const std::string& item_id) const {
    const auto& events = history(item_id);
    REQUIRE_FALSE(events.empty());
    Status verified = verify_item_history(item_id, events);
    CHECK_MESSAGE(verified.ok(), (verified.ok() ? "" : verified.error().message));
    CHECK(item(item_id)["event_count"] == events.size());
    CHECK(item(item_id)["head_event_hash"] == events.back()["event_hash"]);
  }
};

}  // namespace

// --- cases --------------------------------------------------------------------------

TEST_CASE("open_case: the actor's org leads; members are sorted and include it") {
  Jit j;
  Json c = j.kase();
  CHECK(c == Json{{"id", "JIT-1"},
                  {"reference", "EJ-JIT-2025-17"},
                  {"lead_org", "police-a"},
                  {"member_orgs", {"lab", "police-a", "prosecution"}},
                  {"granted", Json::array()},
                  {"opened_by", "inv.a"},
                  {"opened_at_height", c["opened_at_height"]},
                  {"item_count", 2}});
  // A prosecutor may open a case too, naming its own org among the members.
  CHECK(j.ok("open_case",
             Json{{"case_id", "PR-9"}, {"reference", "file 9"}, {"member_orgs", {"prosecution"}}},
             {"pros"}));
  CHECK(j.kase("PR-9")["member_orgs"] == Json{"prosecution"});
  CHECK(j.kase("PR-9")["opened_at_height"] == j.w.height);
}

TEST_CASE("open_case: ROLE_FORBIDDEN, CASE_EXISTS, ORG_NOT_FOUND, UNEXPECTED_SIGNER, BAD_ARGS") {
  Jit j;
  Json args{{"case_id", "C-2"}, {"reference", "ref"}, {"member_orgs", Json::array()}};
  CHECK_REFUSED(j.submit("open_case", args, {"cust.a"}), code::kRoleForbidden);
  CHECK_REFUSED(j.submit("open_case", args, {"inv.a", "inv.b"}), code::kUnexpectedSigner);
  Json exists = args;
  exists["case_id"] = "JIT-1";
  CHECK_REFUSED(j.submit("open_case", exists, {"inv.b"}), code::kCaseExists);
  Json ghost = args;
  ghost["member_orgs"] = {"lab", "ghost-org"};
  CHECK_REFUSED(j.submit("open_case", ghost, {"inv.b"}), code::kOrgNotFound);

  auto bad = [&](const char* name, Json value) {
    Json a = args;
    a[name] = std::move(value);
    CHECK_REFUSED(j.submit("open_case", a, {"inv.b"}), code::kBadArgs);
  };
  bad("case_id", "no spaces allowed");
  bad("case_id", "-leading-dash");
  bad("reference", "");
  bad("reference", std::string(kCustodyTextBytesMax + 1, 'r'));
  bad("member_orgs", {"lab", "lab"});
  bad("member_orgs", {"Lab"});
  bad("member_orgs", "lab");
  Json too_many = Json::array();
  for (std::size_t i = 0; i <= kCustodyListMax; ++i) too_many.push_back("org-" + std::to_string(i));
  bad("member_orgs", too_many);
  bad("suspect", "anything");  // unknown member
  Json missing = args;
  missing.erase("reference");
  CHECK_REFUSED(j.submit("open_case", missing, {"inv.b"}), code::kBadArgs);
  CHECK_FALSE(j.w.state.get("case/C-2"));
}

TEST_CASE("add_member: the lead org adds an org; NOT_LEAD_ORG, ALREADY_MEMBER, ORG_NOT_FOUND") {
  Jit j;
  CHECK(j.ok("add_member", Json{{"case_id", "JIT-1"}, {"org", "police-b"}}, {"inv.a"}));
  CHECK(j.kase()["member_orgs"] == Json{"lab", "police-a", "police-b", "prosecution"});
  // The prosecution is a member but does not lead.
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "customs"}}, {"pros"}),
                code::kNotLeadOrg);
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "lab"}}, {"inv.a"}),
                code::kAlreadyMember);
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "nowhere"}}, {"inv.a"}),
                code::kOrgNotFound);
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-9"}, {"org", "customs"}}, {"inv.a"}),
                code::kCaseNotFound);
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "customs"}}, {"cust.a"}),
                code::kRoleForbidden);
  CHECK_REFUSED(
      j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "customs"}}, {"inv.a", "pros"}),
      code::kUnexpectedSigner);
  CHECK_REFUSED(j.submit("add_member", Json{{"case_id", "JIT-1"}}, {"inv.a"}), code::kBadArgs);
}

TEST_CASE("add_member: LIMIT_REACHED when a case has the maximum of member orgs") {
  Jit j(kCaseMembersMax + 1);
  Json first = Json::array();
  for (std::size_t i = 0; i < kCustodyListMax; ++i) {
    std::string n = std::to_string(i);
    first.push_back("org-" + std::string(3 - n.size(), '0') + n);
  }
  REQUIRE(j.ok("open_case", Json{{"case_id", "BIG"}, {"reference", "r"}, {"member_orgs", first}},
               {"inv.a"}));
  std::size_t i = kCustodyListMax;
  while (j.kase("BIG")["member_orgs"].size() < kCaseMembersMax) {
    std::string n = std::to_string(i++);
    REQUIRE(j.ok("add_member",
                 Json{{"case_id", "BIG"}, {"org", "org-" + std::string(3 - n.size(), '0') + n}},
                 {"inv.a"}));
  }
  std::string n = std::to_string(i);
  CHECK_REFUSED(
      j.submit("add_member",
               Json{{"case_id", "BIG"}, {"org", "org-" + std::string(3 - n.size(), '0') + n}},
               {"inv.a"}),
      code::kLimitReached);
}

TEST_CASE("grant_access: a member's investigator or prosecutor grants a judge or clerk") {
  Jit j;
  CHECK(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge"}}, {"pros"}));
  CHECK(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "clerk"}}, {"inv.a"}));
  CHECK(j.kase()["granted"] == Json{"clerk", "judge"});
  // Granting does not make the court a member org.
  CHECK(j.kase()["member_orgs"] == Json{"lab", "police-a", "prosecution"});

  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge"}}, {"inv.a"}),
      code::kAlreadyGranted);
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge2"}}, {"inv.b"}),
      code::kNotCaseMember);
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge2"}}, {"cust.a"}),
      code::kRoleForbidden);
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "nobody"}}, {"inv.a"}),
      code::kIdentityNotFound);
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-7"}, {"identity_id", "judge2"}}, {"inv.a"}),
      code::kCaseNotFound);
  // Only judges and court clerks: not an investigator, not a revoked judge.
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "inv.b"}}, {"inv.a"}),
      code::kRoleForbidden);
  REQUIRE(
      j.w.submit("identity", "revoke", Json{{"id", "judge2"}, {"reason", "REF-3"}}, {"admin.court"})
          .ok());
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge2"}}, {"inv.a"}),
      code::kRoleForbidden);
  CHECK_REFUSED(
      j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "Judge"}}, {"inv.a"}),
      code::kBadArgs);
  CHECK_REFUSED(j.submit("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge2"}},
                         {"inv.a", "pros"}),
                code::kUnexpectedSigner);
}

TEST_CASE("grant_access: LIMIT_REACHED when a case has the maximum of grants") {
  Jit j;
  for (std::size_t i = 0; i <= kCaseGrantedMax; ++i) {
    j.w.enrol("j-" + std::to_string(i), "court", {"judge"});
  }
  for (std::size_t i = 0; i < kCaseGrantedMax; ++i) {
    REQUIRE(j.ok("grant_access",
                 Json{{"case_id", "JIT-1"}, {"identity_id", "j-" + std::to_string(i)}}, {"inv.a"}));
  }
  CHECK_REFUSED(
      j.submit("grant_access",
               Json{{"case_id", "JIT-1"}, {"identity_id", "j-" + std::to_string(kCaseGrantedMax)}},
               {"inv.a"}),
      code::kLimitReached);
}

// --- register -----------------------------------------------------------------------

TEST_CASE("register: the item, its case index and its first event") {
  Jit j;
  Json e1 = j.item("E-1");
  CHECK(e1 == Json{{"id", "E-1"},
                   {"case_id", "JIT-1"},
                   {"kind", "physical"},
                   {"description", "mobile phone, black, cracked screen"},
                   {"content_hash", nullptr},
                   {"seal_numbers", {"S-0001"}},
                   {"location", "police-a evidence room 2, shelf 4"},
                   {"custodian", "cust.a"},
                   {"parent_id", nullptr},
                   {"children", Json::array()},
                   {"status", "in_custody"},
                   {"flagged", false},
                   {"event_count", 1},
                   {"head_event_hash", j.history("E-1").at(0)["event_hash"]},
                   {"last_declared_at_ms", j.t0},
                   {"registered_at_height", e1["registered_at_height"]}});
  CHECK(j.item("D-1")["content_hash"] == hash_of("image D-1"));
  CHECK(j.w.get("case_item/JIT-1/E-1") == Json{{"item_id", "E-1"}});
  CHECK(j.w.get("case_item/JIT-1/D-1") == Json{{"item_id", "D-1"}});
  CHECK(j.kase()["item_count"] == 2);

  REQUIRE(j.history("E-1").size() == 1);
  const Json& ev = j.history("E-1")[0];
  CHECK(ev["item_id"] == "E-1");
  CHECK(ev["seq"] == 0);
  CHECK(ev["type"] == "register");
  CHECK(ev["actor"] == "cust.a");
  CHECK(ev["cosigners"] == Json::array());
  CHECK(ev["declared_at_ms"] == j.t0);
  CHECK(ev["height"] == e1["registered_at_height"]);
  CHECK(ev["prev_event_hash"] == std::string(kNoPrevEventHash));
  // The data is the arguments minus the item id and the declared time, with
  // an omitted content hash written as null.
  Json data = j.register_args("E-1", "physical");
  data.erase("item_id");
  data.erase("seized_at_ms");
  data["content_hash"] = nullptr;
  CHECK(ev["data"] == data);
  j.check_chain("E-1");
}

TEST_CASE("register: the event records the tx, the block and the block time") {
  Jit j;
  j.w.now_ms += 5'000;
  REQUIRE(j.ok("register", j.register_args("E-2", "physical"), {"cust.a"}));
  const Json& ev = j.history("E-2")[0];
  CHECK(ev["tx_id"] == j.w.last_tx_id.hex());
  CHECK(ev["height"] == j.w.height);
  CHECK(ev["block_time_ms"] == j.w.now_ms);
}

TEST_CASE("register: a physical item may carry a content hash (a photo of it, say)") {
  Jit j;
  Json a = j.register_args("E-2", "physical");
  a["content_hash"] = hash_of("photo");
  REQUIRE(j.ok("register", a, {"cust.a"}));
  CHECK(j.item("E-2")["content_hash"] == hash_of("photo"));
  Json b = j.register_args("E-3", "physical");
  b["content_hash"] = nullptr;
  REQUIRE(j.ok("register", b, {"cust.a"}));
  CHECK(j.item("E-3")["content_hash"].is_null());
}

TEST_CASE("register: BAD_ARGS for each malformed argument") {
  Jit j;
  auto bad = [&](Json args) {
    CHECK_REFUSED(j.submit("register", args, {"cust.a"}), code::kBadArgs);
  };
  auto with = [&](const char* name, Json value, const std::string& kind = "physical") {
    Json a = j.register_args("E-9", kind);
    a[name] = std::move(value);
    return a;
  };
  Json digital_without_hash = j.register_args("E-9", "digital");
  digital_without_hash.erase("content_hash");
  bad(digital_without_hash);
  bad(with("content_hash", nullptr, "digital"));
  bad(with("content_hash", std::string(64, 'G')));
  bad(with("content_hash", std::string(63, 'a')));
  bad(with("kind", "virtual"));
  bad(with("description", ""));
  bad(with("description", std::string(kCustodyTextBytesMax + 1, 'd')));
  bad(with("seal_numbers", "S-1"));
  bad(with("seal_numbers", {"S-1", "S-1"}));
  bad(with("seal_numbers", {std::string(kSealNumberBytesMax + 1, 's')}));
  Json many = Json::array();
  for (std::size_t i = 0; i <= kCustodyListMax; ++i) many.push_back("S-" + std::to_string(i));
  bad(with("seal_numbers", many));
  bad(with("seized_at_ms", -1));
  bad(with("seized_at_ms", "2025-11-30"));
  bad(with("item_id", ""));
  bad(with("item_id", std::string(65, 'x')));
  bad(with("case_id", "JIT 1"));
  bad(with("owner_name", "Jane Doe"));  // no such argument: no place for personal data
  Json missing = j.register_args("E-9", "physical");
  missing.erase("legal_authority_ref");
  bad(missing);
  // Bounds are inclusive.
  Json longest = with("description", std::string(kCustodyTextBytesMax, 'd'));
  longest["seal_numbers"] = Json::array();
  CHECK(j.ok("register", longest, {"cust.a"}));
  CHECK_FALSE(j.w.state.get("item/E-10"));
}

TEST_CASE("register: ROLE_FORBIDDEN, CASE_NOT_FOUND, NOT_CASE_MEMBER, ITEM_EXISTS, signers") {
  Jit j;
  CHECK_REFUSED(j.submit("register", j.register_args("E-9", "physical"), {"pros"}),
                code::kRoleForbidden);
  CHECK_REFUSED(j.submit("register", j.register_args("E-9", "physical", "JIT-404"), {"cust.a"}),
                code::kCaseNotFound);
  CHECK_REFUSED(j.submit("register", j.register_args("E-9", "physical"), {"cust.b"}),
                code::kNotCaseMember);
  // Item ids are network-wide: another case cannot reuse one.
  REQUIRE(j.ok("open_case",
               Json{{"case_id", "B-1"}, {"reference", "r"}, {"member_orgs", Json::array()}},
               {"inv.b"}));
  CHECK_REFUSED(j.submit("register", j.register_args("E-1", "physical", "B-1"), {"cust.b"}),
                code::kItemExists);
  CHECK_REFUSED(j.submit("register", j.register_args("E-1", "physical"), {"cust.a"}),
                code::kItemExists);
  CHECK_REFUSED(j.submit("register", j.register_args("E-9", "physical"), {"cust.a", "cust.a2"}),
                code::kUnexpectedSigner);
  // Every custody role may register: an analyst of a member lab, say.
  CHECK(j.ok("register", j.register_args("L-1", "physical"), {"ana"}));
}

TEST_CASE("register: TIME_IN_FUTURE beyond the allowed skew, accepted at the bound") {
  Jit j;
  Json a = j.register_args("E-8", "physical");
  a["seized_at_ms"] = j.w.now_ms + kDeclaredAheadMaxMs + 1;
  CHECK_REFUSED(j.submit("register", a, {"cust.a"}), code::kTimeInFuture);
  a["seized_at_ms"] = j.w.now_ms + kDeclaredAheadMaxMs;
  CHECK(j.ok("register", a, {"cust.a"}));
}

// --- handover -----------------------------------------------------------------------

TEST_CASE("handover: both sign; custodian, location and seals move; the event names both") {
  Jit j;
  Json args = j.handover_args("E-1", "ana", j.at(60));
  args["seal_numbers"] = {"S-0001", "LAB-77"};
  REQUIRE(j.ok("handover", args, {"cust.a", "ana"}));
  Json e1 = j.item("E-1");
  CHECK(e1["custodian"] == "ana");
  CHECK(e1["location"] == "lab intake desk");
  CHECK(e1["seal_numbers"] == Json{"S-0001", "LAB-77"});
  CHECK(e1["last_declared_at_ms"] == j.at(60));
  REQUIRE(j.history("E-1").size() == 2);
  const Json& ev = j.history("E-1")[1];
  CHECK(ev["type"] == "handover");
  CHECK(ev["seq"] == 1);
  CHECK(ev["actor"] == "cust.a");
  CHECK(ev["cosigners"] == Json{"ana"});
  CHECK(ev["declared_at_ms"] == j.at(60));
  CHECK(ev["tx_id"] == j.w.last_tx_id.hex());
  Json data = args;
  data.erase("item_id");
  data.erase("declared_at_ms");
  CHECK(ev["data"] == data);
  CHECK(ev["prev_event_hash"] == j.history("E-1")[0]["event_hash"]);
  j.check_chain("E-1");
  // The new custodian can hand it on; the old one no longer can.
  CHECK_REFUSED(
      j.submit("handover", j.handover_args("E-1", "cust.a2", j.at(70)), {"cust.a", "cust.a2"}),
      code::kNotCustodian);
  CHECK(j.ok("handover", j.handover_args("E-1", "tech", j.at(70)), {"ana", "tech"}));
}

TEST_CASE("handover: COSIGNATURE_MISSING and UNEXPECTED_SIGNER") {
  Jit j;
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a"}),
                code::kCosignatureMissing);
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana2"}),
                code::kCosignatureMissing);
  CHECK_REFUSED(
      j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana", "ana2"}),
      code::kUnexpectedSigner);
  CHECK(j.item("E-1")["custodian"] == "cust.a");
}

TEST_CASE(
    "handover: RECEIVER_NOT_ELIGIBLE unless a custody role in a member org or a granted clerk") {
  Jit j;
  auto to = [&](const std::string& receiver) {
    return j.submit("handover", j.handover_args("E-1", receiver, j.at(60)), {"cust.a", receiver});
  };
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "cust.a", j.at(60)), {"cust.a"}),
                code::kReceiverNotEligible);                // to oneself
  CHECK_REFUSED(to("cust.x"), code::kReceiverNotEligible);  // custody role, org not a member
  CHECK_REFUSED(to("pros"), code::kReceiverNotEligible);    // member org, no custody role
  CHECK_REFUSED(to("clerk"), code::kReceiverNotEligible);   // clerk, not granted
  CHECK_REFUSED(to("judge"), code::kReceiverNotEligible);   // judges never hold items
  REQUIRE(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge"}}, {"inv.a"}));
  CHECK_REFUSED(to("judge"), code::kReceiverNotEligible);  // granted, still no custody role
  REQUIRE(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "clerk"}}, {"inv.a"}));
  CHECK_ACCEPTED(to("clerk"));
  CHECK(j.item("E-1")["custodian"] == "clerk");
  // The clerk's org is not a member, but the grant lets the clerk hand it back.
  CHECK(j.ok("handover", j.handover_args("E-1", "cust.a", j.at(61)), {"clerk", "cust.a"}));
  // Once customs joins the case, its officer may receive.
  REQUIRE(j.ok("add_member", Json{{"case_id", "JIT-1"}, {"org", "customs"}}, {"inv.a"}));
  CHECK(j.ok("handover", j.handover_args("E-1", "cust.x", j.at(62)), {"cust.a", "cust.x"}));
}

TEST_CASE("handover: NOT_CUSTODIAN, NOT_CASE_MEMBER, ROLE_FORBIDDEN, ITEM_NOT_FOUND") {
  Jit j;
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a2", "ana"}),
                code::kNotCustodian);
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.b", "ana"}),
                code::kNotCaseMember);
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "ana", j.at(60)), {"pros", "ana"}),
                code::kRoleForbidden);
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-404", "ana", j.at(60)), {"cust.a", "ana"}),
                code::kItemNotFound);
  Json bad = j.handover_args("E-1", "ana", j.at(60));
  bad["seals_intact"] = "yes";
  CHECK_REFUSED(j.submit("handover", bad, {"cust.a", "ana"}), code::kBadArgs);
  bad = j.handover_args("E-1", "ana", j.at(60));
  bad.erase("condition");
  CHECK_REFUSED(j.submit("handover", bad, {"cust.a", "ana"}), code::kBadArgs);
  CHECK(j.history("E-1").size() == 1);
}

TEST_CASE("handover: declared times never go backwards and may run ahead only by the skew") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana"}));
  CHECK_REFUSED(j.submit("handover", j.handover_args("E-1", "tech", j.at(59)), {"ana", "tech"}),
                code::kTimeRegression);
  // Equal times are allowed: two events may be declared in the same millisecond.
  CHECK(j.ok("handover", j.handover_args("E-1", "tech", j.at(60)), {"ana", "tech"}));
  CHECK_REFUSED(
      j.submit("handover", j.handover_args("E-1", "ana", j.w.now_ms + kDeclaredAheadMaxMs + 1),
               {"tech", "ana"}),
      code::kTimeInFuture);
  // Co-signed in the field and submitted much later: the declared time is
  // what counts, as long as it is not before the item's last event.
  j.w.now_ms += 86'400'000;
  CHECK(j.ok("handover", j.handover_args("E-1", "ana", j.at(61)), {"tech", "ana"}));
  CHECK(j.history("E-1").back()["block_time_ms"] == j.w.now_ms);
  CHECK(j.history("E-1").back()["declared_at_ms"] == j.at(61));
}

// --- lab ----------------------------------------------------------------------------

TEST_CASE("examine: the custodian analyst records a method and a findings hash or null") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("D-1", "ana", j.at(60)), {"cust.a", "ana"}));
  Json args{{"item_id", "D-1"},
            {"method", "logical extraction, tool ref T-4"},
            {"findings_hash", hash_of("report")},
            {"declared_at_ms", j.at(120)}};
  REQUIRE(j.ok("examine", args, {"ana"}));
  const Json& ev = j.history("D-1").back();
  CHECK(ev["type"] == "examine");
  CHECK(ev["data"] ==
        Json{{"method", "logical extraction, tool ref T-4"}, {"findings_hash", hash_of("report")}});
  args["findings_hash"] = nullptr;
  args["declared_at_ms"] = j.at(130);
  CHECK(j.ok("examine", args, {"ana"}));
  CHECK(j.history("D-1").back()["data"]["findings_hash"].is_null());
  j.check_chain("D-1");

  args["declared_at_ms"] = j.at(140);
  CHECK_REFUSED(j.submit("examine", args, {"ana2"}), code::kNotCustodian);
  CHECK_REFUSED(j.submit("examine", args, {"tech"}), code::kRoleForbidden);
  CHECK_REFUSED(j.submit("examine", args, {"ana", "ana2"}), code::kUnexpectedSigner);
  Json bad = args;
  bad["findings_hash"] = "not a hash";
  CHECK_REFUSED(j.submit("examine", bad, {"ana"}), code::kBadArgs);
  bad = args;
  bad.erase("findings_hash");  // required, even though it may be null
  CHECK_REFUSED(j.submit("examine", bad, {"ana"}), code::kBadArgs);
}

TEST_CASE("derive: the child is bound to the parent's chain at the derive event") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana"}));
  Json args{{"parent_id", "E-1"},
            {"item_id", "E-1.img"},
            {"kind", "digital"},
            {"description", "full disk image of the phone"},
            {"content_hash", hash_of("disk image")},
            {"declared_at_ms", j.at(300)}};
  REQUIRE(j.ok("derive", args, {"ana"}));

  Json parent = j.item("E-1");
  CHECK(parent["children"] == Json{"E-1.img"});
  const Json& derive_event = j.history("E-1").back();
  CHECK(derive_event["type"] == "derive");
  CHECK(derive_event["seq"] == 2);
  CHECK(derive_event["data"] == Json{{"child_id", "E-1.img"},
                                     {"kind", "digital"},
                                     {"description", "full disk image of the phone"},
                                     {"content_hash", hash_of("disk image")}});

  Json child = j.item("E-1.img");
  CHECK(child["case_id"] == "JIT-1");
  CHECK(child["parent_id"] == "E-1");
  CHECK(child["custodian"] == "ana");
  CHECK(child["location"] == parent["location"]);
  CHECK(child["content_hash"] == hash_of("disk image"));
  CHECK(child["seal_numbers"] == Json::array());
  CHECK(child["last_declared_at_ms"] == j.at(300));
  REQUIRE(j.history("E-1.img").size() == 1);
  const Json& first = j.history("E-1.img")[0];
  CHECK(first["type"] == "derived");
  CHECK(first["seq"] == 0);
  CHECK(first["prev_event_hash"] == std::string(kNoPrevEventHash));
  CHECK(first["data"]["parent_id"] == "E-1");
  // The binding: the child's first event carries the hash of the parent's
  // derive event, which is the parent's head right after derivation.
  CHECK(first["data"]["parent_event_hash"] == derive_event["event_hash"]);
  CHECK(first["data"]["parent_event_hash"] == parent["head_event_hash"]);
  // Both events are in the same tx.
  CHECK(first["tx_id"] == derive_event["tx_id"]);

  CHECK(j.kase()["item_count"] == 3);
  CHECK(j.w.get("case_item/JIT-1/E-1.img") == Json{{"item_id", "E-1.img"}});
  j.check_chain("E-1");
  j.check_chain("E-1.img");

  // Rewriting any earlier parent event breaks the chain the child is bound to.
  std::vector<Json> forged = j.history("E-1");
  forged[1]["data"]["condition"] = "seal broken";
  CHECK_FALSE(verify_item_history("E-1", forged).ok());

  // The child has a life of its own: examine it, hand it on.
  CHECK(j.ok("examine",
             Json{{"item_id", "E-1.img"},
                  {"method", "hash check"},
                  {"findings_hash", nullptr},
                  {"declared_at_ms", j.at(301)}},
             {"ana"}));
}

TEST_CASE("derive: ITEM_EXISTS, NOT_CUSTODIAN, ROLE_FORBIDDEN, TIME_REGRESSION, BAD_ARGS") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana"}));
  auto args = [&](const std::string& parent, const std::string& id, std::int64_t t) {
    return Json{{"parent_id", parent},         {"item_id", id},
                {"kind", "digital"},           {"description", "image"},
                {"content_hash", hash_of(id)}, {"declared_at_ms", t}};
  };
  CHECK_REFUSED(j.submit("derive", args("E-1", "D-1", j.at(100)), {"ana"}), code::kItemExists);
  CHECK_REFUSED(j.submit("derive", args("E-1", "E-1", j.at(100)), {"ana"}), code::kItemExists);
  CHECK_REFUSED(j.submit("derive", args("E-1", "X", j.at(100)), {"ana2"}), code::kNotCustodian);
  CHECK_REFUSED(j.submit("derive", args("D-1", "X", j.at(100)), {"cust.a"}), code::kRoleForbidden);
  CHECK_REFUSED(j.submit("derive", args("E-1", "X", j.at(59)), {"ana"}), code::kTimeRegression);
  CHECK_REFUSED(j.submit("derive", args("E-404", "X", j.at(100)), {"ana"}), code::kItemNotFound);
  Json no_hash = args("E-1", "X", j.at(100));
  no_hash["content_hash"] = nullptr;
  CHECK_REFUSED(j.submit("derive", no_hash, {"ana"}), code::kBadArgs);
  no_hash.erase("content_hash");
  CHECK_REFUSED(j.submit("derive", no_hash, {"ana"}), code::kBadArgs);
  CHECK(j.item("E-1")["children"] == Json::array());
  CHECK_FALSE(j.w.state.get("item/X"));
  CHECK(j.kase()["item_count"] == 2);
}

TEST_CASE("derive: LIMIT_REACHED after the maximum of derived items") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("D-1", "ana", j.at(60)), {"cust.a", "ana"}));
  auto args = [&](std::size_t i) {
    return Json{{"parent_id", "D-1"},
                {"item_id", "D-1.p" + std::to_string(i)},
                {"kind", "digital"},
                {"description", "partition"},
                {"content_hash", hash_of(std::to_string(i))},
                {"declared_at_ms", j.at(100)}};
  };
  for (std::size_t i = 0; i < kItemChildrenMax; ++i)
    REQUIRE(j.w.submit("custody", "derive", args(i), {"ana"}).ok());
  CHECK(j.item("D-1")["children"].size() == kItemChildrenMax);
  CHECK_REFUSED(j.submit("derive", args(kItemChildrenMax), {"ana"}), code::kLimitReached);
}

// --- integrity, exhibit ---------------------------------------------------------------

TEST_CASE("integrity_check: a match is recorded; a mismatch is recorded and flags the item") {
  Jit j;
  auto check = [&](const std::string& observed, std::int64_t t) {
    return j.submit("integrity_check",
                    Json{{"item_id", "D-1"}, {"observed_hash", observed}, {"declared_at_ms", t}},
                    {"cust.a"});
  };
  CHECK_ACCEPTED(check(hash_of("image D-1"), j.at(10)));
  CHECK(j.item("D-1")["flagged"] == false);
  CHECK(j.history("D-1").back()["data"] == Json{{"observed_hash", hash_of("image D-1")},
                                                {"expected_hash", hash_of("image D-1")},
                                                {"result", "match"}});
  // A mismatch is a finding, so the tx succeeds.
  CHECK_ACCEPTED(check(hash_of("tampered"), j.at(20)));
  CHECK(j.item("D-1")["flagged"] == true);
  CHECK(j.history("D-1").back()["data"]["result"] == "mismatch");
  // A later match does not clear the flag.
  CHECK_ACCEPTED(check(hash_of("image D-1"), j.at(30)));
  CHECK(j.item("D-1")["flagged"] == true);
  j.check_chain("D-1");
}

TEST_CASE("integrity_check: BAD_ARGS for an item without a content hash, and other refusals") {
  Jit j;
  auto args = [&](const std::string& item, std::int64_t t) {
    return Json{{"item_id", item}, {"observed_hash", hash_of("x")}, {"declared_at_ms", t}};
  };
  CHECK_REFUSED(j.submit("integrity_check", args("E-1", j.at(10)), {"cust.a"}), code::kBadArgs);
  CHECK_REFUSED(j.submit("integrity_check", args("D-1", j.at(10)), {"cust.a2"}),
                code::kNotCustodian);
  CHECK_REFUSED(j.submit("integrity_check", args("D-1", j.at(10)), {"pros"}), code::kRoleForbidden);
  CHECK_REFUSED(j.submit("integrity_check", args("D-1", j.t0 - 1), {"cust.a"}),
                code::kTimeRegression);
  Json bad = args("D-1", j.at(10));
  bad["observed_hash"] = nullptr;
  CHECK_REFUSED(j.submit("integrity_check", bad, {"cust.a"}), code::kBadArgs);
  CHECK(j.item("D-1")["flagged"] == false);
}

TEST_CASE("exhibit: by the custodian, or by a judge or clerk granted the case") {
  Jit j;
  auto args = [&](std::int64_t t) {
    return Json{
        {"item_id", "E-1"}, {"court_ref", "trial 2026/14, exhibit 3"}, {"declared_at_ms", t}};
  };
  CHECK(j.ok("exhibit", args(j.at(10)), {"cust.a"}));
  CHECK(j.history("E-1").back()["data"] == Json{{"court_ref", "trial 2026/14, exhibit 3"}});
  // Not yet granted: the judge's org is no member and there is no grant.
  CHECK_REFUSED(j.submit("exhibit", args(j.at(20)), {"judge"}), code::kNotCaseMember);
  REQUIRE(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge"}}, {"pros"}));
  CHECK(j.ok("exhibit", args(j.at(20)), {"judge"}));
  REQUIRE(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "clerk"}}, {"pros"}));
  CHECK(j.ok("exhibit", args(j.at(30)), {"clerk"}));
  // Exhibiting does not move custody.
  CHECK(j.item("E-1")["custodian"] == "cust.a");
  // A member who is not the custodian, and an auditor, may not.
  CHECK_REFUSED(j.submit("exhibit", args(j.at(40)), {"cust.a2"}), code::kNotCustodian);
  CHECK_REFUSED(j.submit("exhibit", args(j.at(40)), {"aud"}), code::kRoleForbidden);
  CHECK_REFUSED(j.submit("exhibit", args(j.at(40)), {"cust.a", "judge"}), code::kUnexpectedSigner);
  j.check_chain("E-1");
}

TEST_CASE("exhibit: a judge of a member org still needs a grant") {
  Jit j;
  j.w.enrol("judge.p", "prosecution", {"judge"});  // odd, but roles do not follow org kinds
  CHECK_REFUSED(
      j.submit("exhibit", Json{{"item_id", "E-1"}, {"court_ref", "c"}, {"declared_at_ms", j.at(1)}},
               {"judge.p"}),
      code::kNotCaseMember);
}

// --- release, return, destroy -----------------------------------------------------------

TEST_CASE("release, return, destroy: the custodian with a co-signing authoriser ends custody") {
  struct Case {
    const char* function;
    const char* last_member;
    const char* status;
  };
  for (Case c :
       {Case{"release", "recipient_ref", "released"}, Case{"return", "recipient_ref", "returned"},
        Case{"destroy", "method", "destroyed"}}) {
    CAPTURE(c.function);
    Jit j;
    Json args = j.finalise_args("E-1", "pros", j.at(100), c.last_member);
    REQUIRE(j.ok(c.function, args, {"cust.a", "pros"}));
    CHECK(j.item("E-1")["status"] == c.status);
    const Json& ev = j.history("E-1").back();
    CHECK(ev["type"] == c.function);
    CHECK(ev["cosigners"] == Json{"pros"});
    Json data = args;
    data.erase("item_id");
    data.erase("declared_at_ms");
    CHECK(ev["data"] == data);
    j.check_chain("E-1");

    // Nothing more happens to it, whoever asks.
    CHECK_REFUSED(
        j.submit("handover", j.handover_args("E-1", "cust.a2", j.at(200)), {"cust.a", "cust.a2"}),
        code::kItemFinal);
    CHECK_REFUSED(
        j.submit("exhibit",
                 Json{{"item_id", "E-1"}, {"court_ref", "c"}, {"declared_at_ms", j.at(200)}},
                 {"cust.a"}),
        code::kItemFinal);
    CHECK_REFUSED(j.submit(c.function, j.finalise_args("E-1", "pros", j.at(200), c.last_member),
                           {"cust.a", "pros"}),
                  code::kItemFinal);
    CHECK_REFUSED(j.submit("derive",
                           Json{{"parent_id", "E-1"},
                                {"item_id", "X"},
                                {"kind", "digital"},
                                {"description", "d"},
                                {"content_hash", hash_of("x")},
                                {"declared_at_ms", j.at(200)}},
                           {"cust.a"}),
                  code::kRoleForbidden);  // static role check comes first...
    j.w.enrol("ana.a", "police-a", {"forensic_analyst"});
    CHECK_REFUSED(j.submit("derive",
                           Json{{"parent_id", "E-1"},
                                {"item_id", "X"},
                                {"kind", "digital"},
                                {"description", "d"},
                                {"content_hash", hash_of("x")},
                                {"declared_at_ms", j.at(200)}},
                           {"ana.a"}),
                  code::kItemFinal);  // ...then the final status, before custody
  }
}

TEST_CASE("release: AUTHORISATION_REQUIRED unless a member prosecutor or granted judge co-signs") {
  Jit j;
  auto release = [&](const std::string& authoriser, std::vector<std::string> signers) {
    return j.submit("release", j.finalise_args("E-1", authoriser, j.at(100)), signers);
  };
  CHECK_REFUSED(release("pros", {"cust.a"}), code::kAuthorisationRequired);  // no co-sign
  CHECK_REFUSED(release("pros", {"cust.a", "judge"}),
                code::kAuthorisationRequired);  // wrong co-signer
  CHECK_REFUSED(release("cust.a2", {"cust.a", "cust.a2"}),
                code::kAuthorisationRequired);  // no such role
  CHECK_REFUSED(release("pros.b", {"cust.a", "pros.b"}),
                code::kAuthorisationRequired);  // org not a member
  CHECK_REFUSED(release("judge", {"cust.a", "judge"}),
                code::kAuthorisationRequired);                                 // not granted
  CHECK_REFUSED(release("cust.a", {"cust.a"}), code::kAuthorisationRequired);  // self
  CHECK_REFUSED(release("pros", {"cust.a", "pros", "judge"}), code::kUnexpectedSigner);
  CHECK_REFUSED(release("pros", {"cust.a2", "pros"}), code::kNotCustodian);
  CHECK_REFUSED(release("pros", {"inv.b", "pros"}), code::kNotCaseMember);
  CHECK_REFUSED(release("pros", {"aud", "pros"}), code::kRoleForbidden);
  Json no_ref = j.finalise_args("E-1", "pros", j.at(100));
  no_ref["authorisation_ref"] = "";
  CHECK_REFUSED(j.submit("release", no_ref, {"cust.a", "pros"}), code::kBadArgs);
  CHECK(j.item("E-1")["status"] == "in_custody");

  // A prosecutor of the lead org itself is a member prosecutor.
  CHECK_ACCEPTED(
      j.submit("release", j.finalise_args("D-1", "pros.a", j.at(100)), {"cust.a", "pros.a"}));
  // A judge, once granted, may authorise.
  REQUIRE(j.ok("grant_access", Json{{"case_id", "JIT-1"}, {"identity_id", "judge"}}, {"inv.a"}));
  CHECK_ACCEPTED(release("judge", {"cust.a", "judge"}));
  CHECK(j.item("E-1")["status"] == "released");
}

TEST_CASE("destroy and return take their own argument lists") {
  Jit j;
  // destroy takes "method", not "recipient_ref"; return the reverse.
  CHECK_REFUSED(j.submit("destroy", j.finalise_args("E-1", "pros", j.at(1), "recipient_ref"),
                         {"cust.a", "pros"}),
                code::kBadArgs);
  CHECK_REFUSED(
      j.submit("return", j.finalise_args("E-1", "pros", j.at(1), "method"), {"cust.a", "pros"}),
      code::kBadArgs);
  CHECK_REFUSED(
      j.submit("destroy", j.finalise_args("E-1", "pros", j.t0 - 1, "method"), {"cust.a", "pros"}),
      code::kTimeRegression);
  CHECK_REFUSED(
      j.submit("destroy",
               j.finalise_args("E-1", "pros", j.w.now_ms + kDeclaredAheadMaxMs + 1, "method"),
               {"cust.a", "pros"}),
      code::kTimeInFuture);
}

// --- module-wide properties ----------------------------------------------------------

TEST_CASE("custody: a refused tx writes nothing and appends no history") {
  Jit j;
  std::string before = j.w.state.snapshot();
  std::uint64_t height = j.w.height;
  // One refusal of each kind that reaches the state rules, after a prefix of
  // work has been done in memory (derive loads the parent, register the case).
  CHECK_FALSE(
      j.submit("handover", j.handover_args("E-1", "cust.x", j.at(60)), {"cust.a", "cust.x"}).ok());
  CHECK_FALSE(j.submit("register", j.register_args("E-1", "physical"), {"cust.a"}).ok());
  CHECK_FALSE(
      j.submit("release", j.finalise_args("E-1", "pros.b", j.at(60)), {"cust.a", "pros.b"}).ok());
  CHECK_FALSE(
      j.submit(
           "integrity_check",
           Json{{"item_id", "E-1"}, {"observed_hash", hash_of("x")}, {"declared_at_ms", j.at(1)}},
           {"cust.a"})
          .ok());
  CHECK_FALSE(j.submit("add_member", Json{{"case_id", "JIT-1"}, {"org", "lab"}}, {"inv.a"}).ok());
  CHECK(j.w.state.snapshot() == before);
  CHECK(j.w.height == height);
}

TEST_CASE("custody: admit() needs no state; execute() applies the state rules") {
  Jit j;
  MemoryState empty;
  const Module& m = *j.w.custody_module;
  Transaction tx;
  tx.network_id = "custos-test";
  tx.chaincode = "custody";
  tx.function = "handover";
  tx.args = j.handover_args("E-1", "ana", j.at(60));
  tx.nonce = "0011223344556677";
  tx.created_at_ms = j.w.now_ms;
  Hash256 id = tx.id();
  std::vector<Signer> signers{j.w.signer("cust.a"), j.w.signer("ana")};
  BlockContext block{"custos-test", j.w.height + 1, j.w.now_ms};
  Call call{tx, id, signers, block};
  CHECK_ACCEPTED(m.admit(call));
  CHECK_REFUSED(m.execute(empty, call), code::kItemNotFound);
  Outcome real = m.execute(j.w.state, call);
  CHECK_ACCEPTED(real);
  CHECK(real.history.size() == 1);
  // execute() only describes the change: the state is untouched until applied.
  CHECK(j.item("E-1")["custodian"] == "cust.a");
}

TEST_CASE("custody: the module's functions; UNKNOWN_FUNCTION and UNSIGNED") {
  Jit j;
  const Module& m = *j.w.custody_module;
  CHECK(m.name() == "custody");
  for (const char* f :
       {"open_case", "add_member", "grant_access", "register", "handover", "examine", "derive",
        "integrity_check", "exhibit", "release", "return", "destroy"}) {
    CHECK_MESSAGE(m.has_function(f), f);
  }
  CHECK_FALSE(m.has_function("enrol"));
  CHECK_REFUSED(j.submit("transfer", Json::object(), {"cust.a"}), code::kUnknownFunction);
  CHECK_REFUSED(
      j.w.run_as("custody", "exhibit",
                 Json{{"item_id", "E-1"}, {"court_ref", "c"}, {"declared_at_ms", j.at(1)}}, {}),
      code::kUnsigned);
}

TEST_CASE("custody: replaying the same transactions gives bit-identical state and history") {
  auto scenario = [] {
    Jit j;
    REQUIRE(j.ok("handover", j.handover_args("D-1", "ana", j.at(60)), {"cust.a", "ana"}));
    REQUIRE(j.ok("derive",
                 Json{{"parent_id", "D-1"},
                      {"item_id", "D-1.a"},
                      {"kind", "digital"},
                      {"description", "partition"},
                      {"content_hash", hash_of("p")},
                      {"declared_at_ms", j.at(61)}},
                 {"ana"}));
    REQUIRE(j.ok(
        "integrity_check",
        Json{{"item_id", "D-1.a"}, {"observed_hash", hash_of("q")}, {"declared_at_ms", j.at(62)}},
        {"ana"}));
    return j.w.state.snapshot();
  };
  CHECK(scenario() == scenario());
}

// --- the hash chain ------------------------------------------------------------------

TEST_CASE("event hash: tagged SHA-256 over the canonical event without event_hash") {
  Json event{{"item_id", "E-1"},
             {"seq", 0},
             {"type", "register"},
             {"tx_id", std::string(64, 'a')},
             {"height", 7},
             {"block_time_ms", 1764460860000},
             {"declared_at_ms", 1764457260000},
             {"actor", "cust.a"},
             {"cosigners", Json::array()},
             {"data", {{"kind", "physical"}, {"seal_numbers", {"S-0001"}}}},
             {"prev_event_hash", std::string(kNoPrevEventHash)}};
  const std::string canonical =
      R"({"actor":"cust.a","block_time_ms":1764460860000,"cosigners":[],)"
      R"("data":{"kind":"physical","seal_numbers":["S-0001"]},"declared_at_ms":1764457260000,)"
      R"("height":7,"item_id":"E-1","prev_event_hash":")" +
      std::string(64, '0') + R"(","seq":0,"tx_id":")" + std::string(64, 'a') +
      R"(","type":"register"})";
  auto text = canonical_json(event);
  REQUIRE(text.ok());
  CHECK(*text == canonical);
  auto h = compute_event_hash(event);
  REQUIRE(h.ok());
  CHECK(*h == sha256(std::string("custos/event/v1") + '\0' + canonical));
  // The worked example in docs/custody.md.
  CHECK(h->hex() == "ceff3e85974c062e666cdcaa6231e6784e98dc732a928490fce683b4dbd9568f");
  // The event_hash member, if present, is not part of what is hashed.
  Json with_hash = event;
  with_hash["event_hash"] = h->hex();
  CHECK(*compute_event_hash(with_hash) == *h);
  CHECK_FALSE(compute_event_hash(Json::array()).ok());
  CHECK_FALSE(compute_event_hash(Json{{"x", 0.5}}).ok());
}

TEST_CASE("verify_item_history: catches edits, gaps, reordering and foreign events") {
  Jit j;
  REQUIRE(j.ok("handover", j.handover_args("E-1", "ana", j.at(60)), {"cust.a", "ana"}));
  REQUIRE(j.ok("handover", j.handover_args("E-1", "tech", j.at(70)), {"ana", "tech"}));
  REQUIRE(j.ok("exhibit",
               Json{{"item_id", "E-1"}, {"court_ref", "c"}, {"declared_at_ms", j.at(80)}},
               {"tech"}));
  const std::vector<Json> events = j.history("E-1");
  REQUIRE(events.size() == 4);
  CHECK(verify_item_history("E-1", events).ok());
  CHECK(verify_item_history("E-1", {}).ok());
  for (std::size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i]["prev_event_hash"] == events[i - 1]["event_hash"]);
  }

  auto refused = [&](const std::vector<Json>& e, std::string_view item = "E-1",
                     std::string_view prev = kNoPrevEventHash) {
    Status s = verify_item_history(item, e, prev);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "bad_history");
    return s.error().message;
  };
  std::vector<Json> edited = events;
  edited[2]["data"]["condition"] = "fine";  // an edit without recomputing the hash
  CHECK(refused(edited).find("event 2") != std::string::npos);

  std::vector<Json> rehashed = events;  // an edit with the hash recomputed breaks the next link
  rehashed[1]["actor"] = "cust.a2";
  rehashed[1]["event_hash"] = compute_event_hash(rehashed[1])->hex();
  CHECK(refused(rehashed).find("event 2") != std::string::npos);

  std::vector<Json> gap = {events[0], events[2], events[3]};
  CHECK(refused(gap).find("missing") != std::string::npos);

  std::vector<Json> swapped = {events[0], events[2], events[1], events[3]};
  refused(swapped);

  refused(events, "E-2");  // the events of another item

  std::vector<Json> truncated_head = {events[1], events[2], events[3]};
  refused(truncated_head);  // a page needs its predecessor's hash...
  CHECK(
      verify_item_history("E-1", truncated_head, events[0]["event_hash"].get<std::string>()).ok());
  // ...and a history from seq 0 admits no predecessor.
  refused(events, "E-1", events[0]["event_hash"].get<std::string>());
}
