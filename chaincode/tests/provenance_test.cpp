#include "chaincode/tests/testkit.h"

#include "chaincode/custody.h"
#include "chaincode/provenance.h"
#include "core/hash.h"

using namespace custos;
using namespace custos::chaincode;
using namespace custos::chaincode::testkit;

namespace {

std::string photo(const std::string& name) {
  return sha256("photo " + name).hex();
}
std::string document(const std::string& name) {
  return sha256("document " + name).hex();
}

Json identity_party(const std::string& id) {
  return Json{{"identity", id}};
}
// A private owner as the dealer keeps it: a salted commitment whose opening
// stays in the dealer's files.
Json private_party(const std::string& owner_ref) {
  return Json{{"commitment", tagged_hash("custos/holder/v1", "salt-7f3a:" + owner_ref).hex()}};
}

// The art market around a border: two museums (org-000 stands for a
// museum), two registered dealers (org-001 for the dealers' register),
// customs, police, a prosecutor and a judge. The World's block time is
// 2025-11-30 (UTC).
struct Market {
  World w{2};

  Market() {
    w.add_module(make_provenance_module());
    w.enrol("museum.a", "org-000", {"museum_registrar"});
    w.enrol("museum.b", "org-000", {"museum_registrar"});
    w.enrol("dealer.a", "org-001", {"dealer"});
    w.enrol("dealer.b", "org-001", {"dealer"});
    w.enrol("cust.x", "customs", {"customs_officer"});
    w.enrol("inv.a", "police-a", {"investigator"});
    w.enrol("pros", "prosecution", {"prosecutor"});
    w.enrol("judge", "court", {"judge"});
    w.enrol("clerk", "court", {"court_clerk"});
  }

  Outcome submit(std::string_view function, const Json& args,
                 const std::vector<std::string>& signers) {
    return w.submit("provenance", function, args, signers);
  }
  bool ok(std::string_view function, const Json& args, const std::vector<std::string>& signers) {
    Outcome out = submit(function, args, signers);
    CHECK_MESSAGE(out.ok(), function << ": " << out.code << ": " << out.message);
    return out.ok();
  }
  // A call that must be refused with `code` and change nothing at all.
  void refused(std::string_view function, const Json& args, const std::vector<std::string>& signers,
               const char* code) {
    std::string before = w.state.snapshot();
    Outcome out = submit(function, args, signers);
    CHECK_MESSAGE(out.code == std::string(code),
                  function << ": " << out.code << ": " << out.message);
    CHECK_FALSE(out.message.empty());
    CHECK(w.state.snapshot() == before);
  }

  Json artefact(const std::string& id) const { return w.get(artefact_state_key(id)); }
  const std::vector<Json>& history(const std::string& id) const {
    return w.state.history(artefact_history_key(id));
  }
  Json verdict(const std::string& id) const { return verify_artefact(artefact(id), history(id)); }

  // The artefact's events form an unbroken chain ending at its head.
  void check_chain(const std::string& id) const {
    const auto& events = history(id);
    REQUIRE_FALSE(events.empty());
    Status verified = verify_artefact_history(id, events);
    CHECK_MESSAGE(verified.ok(), (verified.ok() ? "" : verified.error().message));
    CHECK(artefact(id)["event_count"] == events.size());
    CHECK(artefact(id)["head_event_hash"] == events.back()["event_hash"]);
  }

  // The artefact ids listed under a photo hash, as the gateway's prefix scan
  // of the state finds them.
  std::vector<std::string> by_photo(const std::string& photo_hash) const {
    std::vector<std::string> ids;
    std::string prefix = artefact_photo_prefix(photo_hash);
    const auto& values = w.state.values();
    for (auto it = values.lower_bound(prefix);
         it != values.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      ids.push_back(it->second.at("artefact_id").get<std::string>());
    }
    return ids;
  }
};

// A Roman oil lamp: archaeological (Annex category c), made in Israel's
// territory by AD 200 at the latest.
Json lamp_args(const std::string& id, Json holder) {
  return Json{{"artefact_id", id},
              {"type_of_object", "oil lamp"},
              {"materials_and_techniques", "terracotta, mould-made, red slip"},
              {"measurements", "length 9.5 cm, width 6.8 cm, height 2.9 cm"},
              {"description", "Roman discus lamp, gladiator on the discus, nozzle chipped"},
              {"photo_hashes", {photo(id + " top"), photo(id + " base")}},
              {"date_or_period", "2nd century AD"},
              {"dated_year_max", 200},
              {"category", "c"},
              {"origin_country", "IL"},
              {"holder", std::move(holder)}};
}

// An oil painting (Annex category g).
Json painting_args(const std::string& id, Json holder, std::int64_t dated_year_max,
                   const std::string& origin = "US") {
  return Json{{"artefact_id", id},
              {"type_of_object", "painting"},
              {"materials_and_techniques", "oil on canvas"},
              {"measurements", "65 x 81 cm (unframed)"},
              {"description", "river landscape with a ferry at dusk"},
              {"photo_hashes", {photo(id)}},
              {"date_or_period", "c. " + std::to_string(dated_year_max)},
              {"dated_year_max", dated_year_max},
              {"category", "g"},
              {"origin_country", origin},
              {"holder", std::move(holder)}};
}

Json import_args(const std::string& id, const std::string& date, std::int64_t value_eur_cents,
                 const std::string& importer = "dealer.a") {
  return Json{{"artefact_id", id},
              {"date", date},
              {"importer", identity_party(importer)},
              {"customs_office", "DE004552 Frankfurt Airport"},
              {"country_of_dispatch", "IL"},
              {"declared_value_eur_cents", value_eur_cents}};
}

Json transfer_args(const std::string& id, const std::string& date, Json seller, Json buyer) {
  return Json{{"artefact_id", id},
              {"date", date},
              {"seller", std::move(seller)},
              {"buyer", std::move(buyer)},
              {"document_hash", document("sale " + id + " " + date)}};
}

// The three artefacts of docs/provenance.md §7.
//   A-CLEAR: a lamp with a licensed export from its country of origin and a
//            licensed import, then sold to a museum.
//   A-GAP: a temple sculpture whose history starts in 1985, no export licence.
//   A-STOLEN: a painting held by a museum since 1952, reported stolen.
Json clear_register_args() {
  Json a = lamp_args("A-CLEAR", identity_party("dealer.a"));
  a["held_since"] = "2019-06";
  a["document_hash"] = document("A-CLEAR purchase 2019");
  return a;
}
Json clear_export_args() {
  return Json{{"artefact_id", "A-CLEAR"},
              {"date", "2019-05-14"},
              {"issuing_country", "IL"},
              {"authority", "Israel Antiquities Authority"},
              {"licence_ref", "IAA-EXP-2019-0417"},
              {"document_hash", document("IAA-EXP-2019-0417")}};
}
Json clear_import_args() {
  Json a = import_args("A-CLEAR", "2025-11-28", 240'000);
  a["import_licence_ref"] = "ICG-IL-DE-2025-000311";
  return a;
}
Json gap_register_args() {
  return Json{{"artefact_id", "A-GAP"},
              {"type_of_object", "sculpture, head"},
              {"materials_and_techniques", "sandstone, carved"},
              {"measurements", "height 31 cm"},
              {"description", "head of a deity with a conical chignon, broken at the neck"},
              {"photo_hashes", {photo("A-GAP front"), photo("A-GAP profile")}},
              {"date_or_period", "Angkor period, 12th century"},
              {"dated_year_max", 1200},
              {"category", "d"},
              {"origin_country", "KH"},
              {"holder", private_party("collection ref C-7")},
              {"held_since", "1985"},
              {"document_hash", document("invoice 1985")}};
}
Json stolen_register_args() {
  Json a = painting_args("A-STOLEN", identity_party("museum.b"), 1890, "FR");
  a["title"] = "Le bac au crépuscule";
  a["held_since"] = "1952-03-01";
  return a;
}
Json stolen_report_args() {
  return Json{{"artefact_id", "A-STOLEN"},
              {"date", "2025-11-20"},
              {"interpol_ref", "INTERPOL SWA 2025/11873"}};
}

// Re-links and re-hashes a hand-edited history, as anyone can who does not
// go through the ledger; the artefact record is updated to its new head.
void rechain(std::vector<Json>& events, Json& artefact) {
  std::string prev(kNoPrevEventHash);
  for (Json& e : events) {
    e["prev_event_hash"] = prev;
    auto hash = compute_event_hash(e);
    REQUIRE(hash.ok());
    e["event_hash"] = hash->hex();
    prev = hash->hex();
  }
  artefact["event_count"] = events.size();
  artefact["head_event_hash"] = prev;
}

std::vector<std::string> reason_codes(const Json& verdict) {
  std::vector<std::string> codes;
  for (const Json& r : verdict["reasons"]) codes.push_back(r["code"].get<std::string>());
  return codes;
}

}  // namespace

// --- register -----------------------------------------------------------------------

TEST_CASE("register: the artefact, its photo index and event 0") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  const auto& events = m.history("A-CLEAR");
  REQUIRE(events.size() == 1);
  CHECK(m.artefact("A-CLEAR") ==
        Json{{"id", "A-CLEAR"},
             {"object",
              {{"type_of_object", "oil lamp"},
               {"materials_and_techniques", "terracotta, mould-made, red slip"},
               {"measurements", "length 9.5 cm, width 6.8 cm, height 2.9 cm"},
               {"inscriptions_and_markings", nullptr},
               {"distinguishing_features", nullptr},
               {"title", nullptr},
               {"subject", nullptr},
               {"date_or_period", "2nd century AD"},
               {"maker", nullptr},
               {"description", "Roman discus lamp, gladiator on the discus, nozzle chipped"}}},
             {"dated_year_max", 200},
             {"category", "c"},
             {"origin_country", "IL"},
             {"find_spot", nullptr},
             {"photo_hashes", {photo("A-CLEAR top"), photo("A-CLEAR base")}},
             {"holder", {{"identity", "dealer.a"}}},
             {"archaeological_find", false},
             {"flags", {{"stolen", nullptr}, {"seized", nullptr}}},
             {"event_count", 1},
             {"head_event_hash", events[0]["event_hash"]},
             {"date_floor", "2019-06-01"},
             {"registered_by", "dealer.a"},
             {"registered_at_height", m.w.height}});

  const Json& e = events[0];
  CHECK(e["artefact_id"] == "A-CLEAR");
  CHECK(e["seq"] == 0);
  CHECK(e["type"] == "register");
  CHECK(e["date"].is_null());  // the registration is dated by its block
  CHECK(e["actor"] == "dealer.a");
  CHECK(e["cosigners"] == Json::array());
  CHECK(e["prev_event_hash"] == std::string(kNoPrevEventHash));
  CHECK(e["tx_id"] == m.w.last_tx_id.hex());
  CHECK(e["block_time_ms"] == m.w.now_ms);
  // Every argument is in the event, omitted optional ones as null.
  CHECK(e["data"]["held_since"] == "2019-06");
  CHECK(e["data"]["holder"] == identity_party("dealer.a"));
  CHECK(e["data"]["maker"].is_null());
  CHECK(e["data"]["find_spot"].is_null());
  CHECK_FALSE(e["data"].contains("artefact_id"));
  m.check_chain("A-CLEAR");

  // Every photo lists the artefact under its hash.
  CHECK(m.by_photo(photo("A-CLEAR top")) == std::vector<std::string>{"A-CLEAR"});
  CHECK(m.by_photo(photo("A-CLEAR base")) == std::vector<std::string>{"A-CLEAR"});
  CHECK(m.w.get(artefact_photo_state_key(photo("A-CLEAR top"), "A-CLEAR")) ==
        Json{{"artefact_id", "A-CLEAR"}});
  CHECK(m.by_photo(photo("nothing")).empty());
}

TEST_CASE("register: the photo index finds every artefact registered with the same photo") {
  // A dealer's photo of an object a museum registered earlier: the customs
  // officer who looks the photo up finds both.
  Market m;
  REQUIRE(m.ok("register", painting_args("P-1", identity_party("museum.a"), 1850), {"museum.a"}));
  Json again = painting_args("P-2", identity_party("dealer.b"), 1850);
  again["photo_hashes"] = {photo("P-2 detail"), photo("P-1")};
  REQUIRE(m.ok("register", again, {"dealer.b"}));
  CHECK(m.by_photo(photo("P-1")) == std::vector<std::string>{"P-1", "P-2"});
  CHECK(m.by_photo(photo("P-2 detail")) == std::vector<std::string>{"P-2"});
}

TEST_CASE("register: optional Object ID fields, a find spot and a private holder") {
  Market m;
  Json a = gap_register_args();
  a["inscriptions_and_markings"] = "inventory number 'K 114' in white paint on the base";
  a["distinguishing_features"] = "old repair to the left ear";
  a["subject"] = "deity";
  a["maker"] = "unknown workshop";
  a["find_spot"] = "Siem Reap province (reported)";
  REQUIRE(m.ok("register", a, {"dealer.b"}));
  Json rec = m.artefact("A-GAP");
  CHECK(rec["object"]["distinguishing_features"] == "old repair to the left ear");
  CHECK(rec["object"]["title"].is_null());
  CHECK(rec["find_spot"] == "Siem Reap province (reported)");
  CHECK(rec["holder"] == private_party("collection ref C-7"));
  // The test vector of docs/provenance.md §2.
  CHECK(rec["holder"]["commitment"] ==
        "bc3b7eff79007aa8c6ec64e8b78b2414ade035d964b1559573cbeb4f444a38cc");
  CHECK(rec["date_floor"] == "1985-01-01");  // a year stands for its first day as a floor

  // A holder that is an identity other than the actor co-signs.
  Json for_museum = painting_args("P-3", identity_party("museum.a"), 1700);
  CHECK(m.ok("register", for_museum, {"dealer.a", "museum.a"}));
  CHECK(m.history("P-3")[0]["cosigners"] == Json{"museum.a"});
  // Customs and police register what they find in front of them.
  CHECK(
      m.ok("register", painting_args("P-4", private_party("traveller ref T-1"), 1700), {"cust.x"}));
  CHECK(m.ok("register", painting_args("P-5", private_party("house search ref H-2"), 1700),
             {"inv.a"}));
}

TEST_CASE("register: BAD_ARGS for every missing or malformed required datum") {
  Market m;
  const Json good = lamp_args("L-1", identity_party("dealer.a"));
  auto bad = [&](const char* name, Json value) {
    Json a = good;
    a[name] = std::move(value);
    m.refused("register", a, {"dealer.a"}, code::kBadArgs);
  };
  for (const char* required : {"artefact_id", "type_of_object", "materials_and_techniques",
                               "measurements", "description", "photo_hashes", "date_or_period",
                               "dated_year_max", "category", "origin_country", "holder"}) {
    Json a = good;
    a.erase(required);
    INFO("without " << required);
    m.refused("register", a, {"dealer.a"}, code::kBadArgs);
  }
  bad("type_of_object", "");
  bad("measurements", nullptr);
  bad("description", std::string(kArtefactDescriptionBytesMax + 1, 'd'));
  bad("materials_and_techniques", std::string(kProvenanceTextBytesMax + 1, 'm'));
  bad("photo_hashes", Json::array());  // at least one photo
  bad("photo_hashes", {"not a hash"});
  bad("photo_hashes", {photo("x"), photo("x")});
  bad("photo_hashes", {std::string(64, 'A')});  // upper-case hex
  Json many = Json::array();
  for (std::size_t i = 0; i <= kArtefactPhotosMax; ++i) many.push_back(photo(std::to_string(i)));
  bad("photo_hashes", many);
  bad("dated_year_max", "200");
  bad("dated_year_max", 10'000);
  bad("dated_year_max", kDatedYearMin - 1);
  bad("category", "m");
  bad("category", "C");
  bad("origin_country", "il");
  bad("origin_country", "ISR");
  bad("holder", "dealer.a");
  bad("holder", Json{{"identity", "Dealer A"}});
  bad("holder", Json{{"commitment", "abc"}});
  bad("holder", Json{{"name", "Jane Doe"}});  // a name has no place to go
  bad("holder", Json{{"identity", "dealer.a"}, {"commitment", std::string(64, 'a')}});
  bad("held_since", "1985-13");
  bad("held_since", "1985-02-29");
  bad("held_since", "85");
  bad("held_since", "0000");
  bad("document_hash", "a document");
  bad("owner_name", "Jane Doe");  // unknown member
  m.refused("register", Json::array(), {"dealer.a"}, code::kBadArgs);
  CHECK_FALSE(m.w.state.get(artefact_state_key("L-1")));
}

TEST_CASE("register: UNKNOWN_COUNTRY, ROLE_FORBIDDEN, signers, ARTEFACT_EXISTS, TIME_IN_FUTURE") {
  Market m;
  Json a = lamp_args("L-1", identity_party("dealer.a"));
  for (const char* unassigned : {"XK", "UK", "EU", "ZZ", "YU"}) {
    Json b = a;
    b["origin_country"] = unassigned;
    INFO(unassigned);
    m.refused("register", b, {"dealer.a"}, code::kUnknownCountry);
  }
  m.refused("register", a, {"judge"}, code::kRoleForbidden);
  m.refused("register", a, {"clerk"}, code::kRoleForbidden);
  // The holder is an identity other than the actor and did not sign.
  m.refused("register", a, {"museum.a"}, code::kCosignatureMissing);
  m.refused("register", a, {"dealer.a", "museum.a"}, code::kUnexpectedSigner);
  m.refused("register", a, {"museum.a", "dealer.a", "dealer.b"}, code::kUnexpectedSigner);

  Json future = a;
  future["dated_year_max"] = 2026;  // made after the block's year
  m.refused("register", future, {"dealer.a"}, code::kTimeInFuture);
  future = a;
  future["held_since"] = "2025-12-02";  // the block's day is 2025-11-30
  m.refused("register", future, {"dealer.a"}, code::kTimeInFuture);
  Json today = a;
  today["dated_year_max"] = 2025;
  today["held_since"] = "2025-12-01";  // one day ahead is allowed: local dates run ahead of UTC
  REQUIRE(m.ok("register", today, {"dealer.a"}));
  m.refused("register", a, {"dealer.b", "dealer.a"}, code::kArtefactExists);
}

TEST_CASE("countries: the 249 assigned ISO 3166-1 codes, sorted; the EU members among them") {
  auto codes = assigned_country_codes();
  CHECK(codes.size() == 249);
  CHECK(std::is_sorted(codes.begin(), codes.end()));
  CHECK(std::adjacent_find(codes.begin(), codes.end()) == codes.end());
  for (std::string_view c : {"AD", "DE", "GB", "GR", "IL", "KH", "PS", "SS", "TW", "ZW"}) {
    CHECK_MESSAGE(is_assigned_country_code(c), c);
  }
  for (std::string_view c : {"UK", "EL", "EU", "XK", "AA", "YU", "SU", "de", ""}) {
    CHECK_FALSE_MESSAGE(is_assigned_country_code(c), c);
  }
  int eu = 0;
  for (std::string_view c : codes) eu += is_eu_member_state(c) ? 1 : 0;
  CHECK(eu == 27);
  CHECK(is_eu_member_state("GR"));
  CHECK_FALSE(is_eu_member_state("GB"));
  CHECK_FALSE(is_eu_member_state("CH"));
}

// --- find and export_licence ---------------------------------------------------------

TEST_CASE("find: the holder, a dealer for a private holder or an authority; NOT_HOLDER else") {
  Market m;
  REQUIRE(m.ok("register", lamp_args("L-1", identity_party("museum.a")), {"museum.a"}));
  REQUIRE(m.ok("register", gap_register_args(), {"dealer.b"}));
  Json f{{"artefact_id", "L-1"},
         {"date", "1962-08"},
         {"licence_ref", "excavation licence G-17/1962"},
         {"find_spot", "tell site, area B, locus 12"},
         {"document_hash", document("excavation report 1962")}};
  REQUIRE(m.ok("find", f, {"museum.a"}));
  Json rec = m.artefact("L-1");
  CHECK(rec["archaeological_find"] == true);
  CHECK(rec["find_spot"] == "tell site, area B, locus 12");
  const Json& e = m.history("L-1")[1];
  CHECK(e["type"] == "find");
  CHECK(e["date"] == "1962-08");
  CHECK(e["data"] == Json{{"licence_ref", "excavation licence G-17/1962"},
                          {"find_spot", "tell site, area B, locus 12"},
                          {"document_hash", document("excavation report 1962")}});
  // Documentation is not ordered by date: a document found later may be older.
  CHECK(rec["date_floor"].is_null());

  m.refused("find", f, {"museum.b"}, code::kNotHolder);  // not the holder
  m.refused("find", f, {"dealer.a"}, code::kNotHolder);  // a dealer, but the holder signs itself
  CHECK(m.ok("find", f, {"cust.x"}));                    // an authority
  CHECK(m.ok("find", f, {"inv.a"}));
  Json g = f;
  g["artefact_id"] = "A-GAP";
  CHECK(m.ok("find", g, {"dealer.a"}));  // any registered dealer for a private holder
  m.refused("find", g, {"museum.a"}, code::kNotHolder);

  m.refused("find", f, {"pros"}, code::kRoleForbidden);
  m.refused("find", f, {"museum.a", "cust.x"}, code::kUnexpectedSigner);
  Json ghost = f;
  ghost["artefact_id"] = "L-404";
  m.refused("find", ghost, {"museum.a"}, code::kArtefactNotFound);
  Json future = f;
  future["date"] = "2026";
  m.refused("find", future, {"museum.a"}, code::kTimeInFuture);
  Json bad = f;
  bad.erase("licence_ref");  // a find without a licence is not a lawful find
  m.refused("find", bad, {"museum.a"}, code::kBadArgs);
  bad = f;
  bad["date"] = nullptr;
  m.refused("find", bad, {"museum.a"}, code::kBadArgs);
  m.check_chain("L-1");
}

TEST_CASE("export_licence: recorded with its issuing country; UNKNOWN_COUNTRY, NOT_HOLDER") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  REQUIRE(m.ok("export_licence", clear_export_args(), {"dealer.a"}));
  const Json& e = m.history("A-CLEAR")[1];
  CHECK(e["type"] == "export_licence");
  CHECK(e["date"] == "2019-05-14");
  CHECK(e["data"]["issuing_country"] == "IL");
  CHECK(e["data"]["authority"] == "Israel Antiquities Authority");

  Json x = clear_export_args();
  x["issuing_country"] = "XK";
  m.refused("export_licence", x, {"dealer.a"}, code::kUnknownCountry);
  x["issuing_country"] = "Israel";
  m.refused("export_licence", x, {"dealer.a"}, code::kBadArgs);
  m.refused("export_licence", clear_export_args(), {"dealer.b"}, code::kNotHolder);
  m.refused("export_licence", clear_export_args(), {"judge"}, code::kRoleForbidden);
  x = clear_export_args();
  x.erase("authority");
  m.refused("export_licence", x, {"dealer.a"}, code::kBadArgs);
  x = clear_export_args();
  x["artefact_id"] = "nope";
  m.refused("export_licence", x, {"dealer.a"}, code::kArtefactNotFound);
  CHECK(m.ok("export_licence", clear_export_args(), {"cust.x"}));
  m.check_chain("A-CLEAR");
}

// --- transfer -----------------------------------------------------------------------

TEST_CASE("transfer: seller and buyer sign; the buyer becomes the holder") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  Json t = transfer_args("A-CLEAR", "2025-11-29", identity_party("dealer.a"),
                         identity_party("museum.a"));
  REQUIRE(m.ok("transfer", t, {"dealer.a", "museum.a"}));
  CHECK(m.artefact("A-CLEAR")["holder"] == identity_party("museum.a"));
  CHECK(m.artefact("A-CLEAR")["date_floor"] == "2025-11-29");
  const Json& e = m.history("A-CLEAR")[1];
  CHECK(e["type"] == "transfer");
  CHECK(e["cosigners"] == Json{"museum.a"});
  CHECK(e["data"]["seller"] == identity_party("dealer.a"));
  CHECK(e["data"]["buyer"] == identity_party("museum.a"));

  // Between two museums, the buyer may submit and the seller co-sign.
  Json u = transfer_args("A-CLEAR", "2025-11-30", identity_party("museum.a"),
                         identity_party("museum.b"));
  REQUIRE(m.ok("transfer", u, {"museum.b", "museum.a"}));
  CHECK(m.artefact("A-CLEAR")["holder"] == identity_party("museum.b"));
  m.check_chain("A-CLEAR");
}

TEST_CASE("transfer: a registered dealer records it on behalf of private parties") {
  Market m;
  REQUIRE(m.ok("register", gap_register_args(), {"dealer.b"}));
  // A private seller to a private buyer: the dealer alone.
  Json t = transfer_args("A-GAP", "1999-04", private_party("collection ref C-7"),
                         private_party("collection ref C-9"));
  REQUIRE(m.ok("transfer", t, {"dealer.b"}));
  CHECK(m.artefact("A-GAP")["holder"] == private_party("collection ref C-9"));
  // Any registered dealer may act for a private party ...
  Json u = transfer_args("A-GAP", "2024-02-10", private_party("collection ref C-9"),
                         identity_party("dealer.a"));
  REQUIRE(m.ok("transfer", u, {"dealer.a"}));
  // ... but an identity always signs for itself, so no dealer moves a
  // museum's object, or makes one its holder, without it.
  Json v =
      transfer_args("A-GAP", "2025-01-15", identity_party("dealer.a"), identity_party("museum.a"));
  m.refused("transfer", v, {"dealer.a"}, code::kCosignatureMissing);
  REQUIRE(m.ok("transfer", v, {"dealer.a", "museum.a"}));
  Json w = transfer_args("A-GAP", "2025-02-01", identity_party("museum.a"),
                         private_party("collection ref C-11"));
  m.refused("transfer", w, {"dealer.b"}, code::kCosignatureMissing);
  // A museum cannot act for a private party.
  m.refused("transfer", w, {"museum.a"}, code::kCosignatureMissing);
  REQUIRE(m.ok("transfer", w, {"dealer.b", "museum.a"}));
  CHECK(m.artefact("A-GAP")["holder"] == private_party("collection ref C-11"));
  CHECK(m.history("A-GAP").back()["cosigners"] == Json{"museum.a"});
  m.check_chain("A-GAP");
}

TEST_CASE("transfer: NOT_HOLDER when the seller does not hold the artefact") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  REQUIRE(m.ok("register", gap_register_args(), {"dealer.b"}));
  // Both sign, but museum.b never held A-CLEAR.
  m.refused("transfer",
            transfer_args("A-CLEAR", "2025-11-29", identity_party("museum.b"),
                          identity_party("museum.a")),
            {"museum.b", "museum.a"}, code::kNotHolder);
  // A dealer acting for a private seller who is not the recorded holder.
  m.refused("transfer",
            transfer_args("A-GAP", "2025-11-29", private_party("collection ref C-8"),
                          private_party("collection ref C-9")),
            {"dealer.b"}, code::kNotHolder);
  // After a sale the former holder can no longer sell.
  REQUIRE(m.ok("transfer",
               transfer_args("A-CLEAR", "2025-11-29", identity_party("dealer.a"),
                             identity_party("museum.a")),
               {"dealer.a", "museum.a"}));
  m.refused("transfer",
            transfer_args("A-CLEAR", "2025-11-30", identity_party("dealer.a"),
                          identity_party("dealer.b")),
            {"dealer.a", "dealer.b"}, code::kNotHolder);
}

TEST_CASE(
    "transfer: COSIGNATURE_MISSING, UNEXPECTED_SIGNER, ROLE_FORBIDDEN, BAD_ARGS, "
    "TIME_REGRESSION, ARTEFACT_FLAGGED, ARTEFACT_NOT_FOUND") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  Json t = transfer_args("A-CLEAR", "2025-11-29", identity_party("dealer.a"),
                         identity_party("museum.a"));
  m.refused("transfer", t, {"dealer.a"}, code::kCosignatureMissing);
  m.refused("transfer", t, {"museum.a"}, code::kCosignatureMissing);
  m.refused("transfer", t, {"dealer.a", "museum.a", "museum.b"}, code::kUnexpectedSigner);
  m.refused("transfer", t, {"cust.x", "dealer.a", "museum.a"}, code::kRoleForbidden);
  Json same = t;
  same["buyer"] = identity_party("dealer.a");
  m.refused("transfer", same, {"dealer.a"}, code::kBadArgs);
  Json bad = t;
  bad["buyer"] = Json{{"name", "Jane Doe"}};
  m.refused("transfer", bad, {"dealer.a"}, code::kBadArgs);
  bad = t;
  bad["date"] = "29.11.2025";
  m.refused("transfer", bad, {"dealer.a", "museum.a"}, code::kBadArgs);
  bad = t;
  bad["price_eur"] = 1000;  // unknown member
  m.refused("transfer", bad, {"dealer.a", "museum.a"}, code::kBadArgs);
  Json ghost = t;
  ghost["artefact_id"] = "A-NONE";
  m.refused("transfer", ghost, {"dealer.a", "museum.a"}, code::kArtefactNotFound);

  // The registration's held_since (2019-06) is the first floor.
  Json early = t;
  early["date"] = "2019-05-31";
  m.refused("transfer", early, {"dealer.a", "museum.a"}, code::kTimeRegression);
  Json future = t;
  future["date"] = "2025-12-02";
  m.refused("transfer", future, {"dealer.a", "museum.a"}, code::kTimeInFuture);

  REQUIRE(m.ok("theft_report",
               Json{{"artefact_id", "A-CLEAR"}, {"date", "2025-11-29"}, {"interpol_ref", "SWA-1"}},
               {"inv.a"}));
  m.refused("transfer", t, {"dealer.a", "museum.a"}, code::kArtefactFlagged);
  Json before = t;
  before["date"] = "2025-11-28";  // before the theft report: the date check comes first
  m.refused("transfer", before, {"dealer.a", "museum.a"}, code::kTimeRegression);
}

// --- import -------------------------------------------------------------------------

TEST_CASE("import: an import licence for archaeological objects more than 250 years old") {
  Market m;
  // Imported in 2025: made by 1775 at the latest is 250 years old, not more.
  Json at = lamp_args("L-250", identity_party("dealer.a"));
  at["dated_year_max"] = 2025 - kImportLicenceAgeAboveYears;
  REQUIRE(m.ok("register", at, {"dealer.a"}));
  CHECK(m.ok("import", import_args("L-250", "2025-11-28", 50'000), {"cust.x"}));
  // Value does not matter for Part B, and Part C's statement is not asked for.
  Json at2 = at;
  at2["artefact_id"] = "L-250b";
  REQUIRE(m.ok("register", at2, {"dealer.a"}));
  CHECK(m.ok("import", import_args("L-250b", "2025-11-28", 10'000'000), {"cust.x"}));

  Json over = lamp_args("L-251", identity_party("dealer.a"));
  over["dated_year_max"] = 2025 - kImportLicenceAgeAboveYears - 1;
  REQUIRE(m.ok("register", over, {"dealer.a"}));
  m.refused("import", import_args("L-251", "2025-11-28", 100), {"cust.x"},
            code::kImportLicenceRequired);
  Json with_statement = import_args("L-251", "2025-11-28", 100);
  with_statement["importer_statement_ref"] = "ICG-IS-1";  // a statement is not a licence
  m.refused("import", with_statement, {"cust.x"}, code::kImportLicenceRequired);
  Json licensed = import_args("L-251", "2025-11-28", 100);
  licensed["import_licence_ref"] = "ICG-IL-DE-2025-000001";
  REQUIRE(m.ok("import", licensed, {"cust.x"}));
  const Json& e = m.history("L-251").back();
  CHECK(e["type"] == "import");
  CHECK(e["data"]["import_licence_ref"] == "ICG-IL-DE-2025-000001");
  CHECK(e["data"]["importer_statement_ref"].is_null());
  CHECK(e["data"]["declared_value_eur_cents"] == 100);
  CHECK(m.artefact("L-251")["holder"] == identity_party("dealer.a"));
  CHECK(m.verdict("L-251")["reasons"].size() == 1);  // only the missing pre-1970 history
}

TEST_CASE("import: a recorded find makes an object of any category archaeological") {
  Market m;
  Json p = painting_args("F-1", identity_party("dealer.a"), 1500, "IL");
  p["category"] = "e";  // an antiquity, not declared archaeological
  REQUIRE(m.ok("register", p, {"dealer.a"}));
  REQUIRE(m.ok("find",
               Json{{"artefact_id", "F-1"}, {"date", "1959"}, {"licence_ref", "permit 59/3"}},
               {"dealer.a"}));
  m.refused("import", import_args("F-1", "2025-11-28", 100), {"cust.x"},
            code::kImportLicenceRequired);
}

TEST_CASE("import: an importer statement from 200 years and EUR 18,000, at the thresholds") {
  Market m;
  const std::int64_t over = 2025 - kImporterStatementAgeAboveYears - 1;  // 201 years old
  const std::int64_t at = 2025 - kImporterStatementAgeAboveYears;        // 200 years old
  auto reg = [&](const std::string& id, std::int64_t year) {
    REQUIRE(m.ok("register", painting_args(id, identity_party("dealer.a"), year), {"dealer.a"}));
  };
  reg("P-201-at", over);
  m.refused("import", import_args("P-201-at", "2025-11-28", kImporterStatementValueMinEurCents),
            {"cust.x"}, code::kImporterStatementRequired);
  Json licence_only = import_args("P-201-at", "2025-11-28", kImporterStatementValueMinEurCents);
  licence_only["import_licence_ref"] = "ICG-IL-9";  // a licence is not the statement
  m.refused("import", licence_only, {"cust.x"}, code::kImporterStatementRequired);
  Json stated = import_args("P-201-at", "2025-11-28", kImporterStatementValueMinEurCents);
  stated["importer_statement_ref"] = "ICG-IS-DE-2025-004711";
  CHECK(m.ok("import", stated, {"cust.x"}));

  reg("P-201-below", over);  // one cent under EUR 18,000
  CHECK(m.ok("import",
             import_args("P-201-below", "2025-11-28", kImporterStatementValueMinEurCents - 1),
             {"cust.x"}));
  reg("P-200-at", at);  // 200 years is not more than 200
  CHECK(m.ok("import", import_args("P-200-at", "2025-11-28", kImporterStatementValueMinEurCents),
             {"cust.x"}));
  CHECK(m.verdict("P-201-below")["reasons"].size() == 1);  // only the pre-1970 gap
}

TEST_CASE("import: nothing required for EU-origin goods, or before 28 June 2025") {
  Market m;
  Json eu = lamp_args("L-IT", identity_party("dealer.a"));
  eu["origin_country"] = "IT";
  REQUIRE(m.ok("register", eu, {"dealer.a"}));
  CHECK(m.ok("import", import_args("L-IT", "2025-11-28", 100), {"cust.x"}));

  REQUIRE(m.ok("register", lamp_args("L-OLD", identity_party("dealer.a")), {"dealer.a"}));
  CHECK(m.ok("import", import_args("L-OLD", "2025-06-27", 100), {"cust.x"}));
  REQUIRE(m.ok("register", lamp_args("L-NEW", identity_party("dealer.a")), {"dealer.a"}));
  m.refused("import", import_args("L-NEW", std::string(kImportRulesFromDate), 100), {"cust.x"},
            code::kImportLicenceRequired);
}

TEST_CASE(
    "import: ROLE_FORBIDDEN, BAD_ARGS, UNKNOWN_COUNTRY, IDENTITY_NOT_FOUND, "
    "ARTEFACT_FLAGGED, TIME_REGRESSION") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  Json i = clear_import_args();
  m.refused("import", i, {"dealer.a"}, code::kRoleForbidden);  // customs records imports
  m.refused("import", i, {"cust.x", "dealer.a"}, code::kUnexpectedSigner);
  Json bad = i;
  bad["date"] = "2025-11";  // a customs declaration has a day
  m.refused("import", bad, {"cust.x"}, code::kBadArgs);
  bad = i;
  bad["declared_value_eur_cents"] = -1;
  m.refused("import", bad, {"cust.x"}, code::kBadArgs);
  bad = i;
  bad.erase("declared_value_eur_cents");
  m.refused("import", bad, {"cust.x"}, code::kBadArgs);
  bad = i;
  bad["country_of_dispatch"] = "UK";
  m.refused("import", bad, {"cust.x"}, code::kUnknownCountry);
  bad = i;
  bad["importer"] = identity_party("nobody");
  m.refused("import", bad, {"cust.x"}, code::kIdentityNotFound);
  bad = i;
  bad["date"] = "2019-01-02";  // before the registration's held_since
  m.refused("import", bad, {"cust.x"}, code::kTimeRegression);
  REQUIRE(m.ok("seizure",
               Json{{"artefact_id", "A-CLEAR"},
                    {"date", "2025-11-27"},
                    {"authority_ref", "customs seizure DE-2025-77"},
                    {"place", "Frankfurt Airport, cargo hall 3"}},
               {"cust.x"}));
  m.refused("import", i, {"cust.x"}, code::kArtefactFlagged);
}

// --- inspection, flags, restitution -----------------------------------------------

TEST_CASE("inspection: recorded by customs; ROLE_FORBIDDEN for others") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  Json i{{"artefact_id", "A-CLEAR"},
         {"date", "2025-11-28"},
         {"customs_office", "DE004552 Frankfurt Airport"},
         {"findings", "object matches photos and measurements; seals intact"},
         {"findings_hash", document("inspection report")}};
  REQUIRE(m.ok("inspection", i, {"cust.x"}));
  CHECK(m.history("A-CLEAR").back()["type"] == "inspection");
  CHECK(m.artefact("A-CLEAR")["date_floor"] == "2025-11-28");
  m.refused("inspection", i, {"inv.a"}, code::kRoleForbidden);
  m.refused("inspection", i, {"dealer.a"}, code::kRoleForbidden);
  Json bad = i;
  bad.erase("findings");
  m.refused("inspection", bad, {"cust.x"}, code::kBadArgs);
  bad = i;
  bad["date"] = "2025-11-27";
  m.refused("inspection", bad, {"cust.x"}, code::kTimeRegression);
}

TEST_CASE("theft_report and seizure: set flags; FLAG_ALREADY_SET, ROLE_FORBIDDEN") {
  Market m;
  REQUIRE(m.ok("register", stolen_register_args(), {"museum.b"}));
  REQUIRE(m.ok("theft_report", stolen_report_args(), {"inv.a"}));
  CHECK(m.artefact("A-STOLEN")["flags"]["stolen"] ==
        Json{{"event_seq", 1}, {"reference", "INTERPOL SWA 2025/11873"}});
  m.refused("theft_report", stolen_report_args(), {"cust.x"}, code::kFlagAlreadySet);
  Json s{{"artefact_id", "A-STOLEN"},
         {"date", "2025-11-29"},
         {"authority_ref", "order of the investigating judge 2025/311"},
         {"place", "dealer's premises, search ref H-9"}};
  m.refused("seizure", s, {"museum.b"}, code::kRoleForbidden);
  m.refused("seizure", s, {"pros"}, code::kRoleForbidden);
  REQUIRE(m.ok("seizure", s, {"inv.a"}));
  CHECK(m.artefact("A-STOLEN")["flags"]["seized"]["event_seq"] == 2);
  m.refused("seizure", s, {"cust.x"}, code::kFlagAlreadySet);
  m.refused("theft_report", stolen_report_args(), {"museum.b"}, code::kRoleForbidden);
  Json bad = stolen_report_args();
  bad.erase("interpol_ref");
  m.refused("theft_report", bad, {"inv.a"}, code::kBadArgs);
  bad = s;
  bad.erase("place");
  m.refused("seizure", bad, {"inv.a"}, code::kBadArgs);
  m.check_chain("A-STOLEN");
}

TEST_CASE("clear_flag: with an authority reference; FLAG_NOT_SET, ROLE_FORBIDDEN, BAD_ARGS") {
  Market m;
  REQUIRE(m.ok("register", stolen_register_args(), {"museum.b"}));
  REQUIRE(m.ok("theft_report", stolen_report_args(), {"inv.a"}));
  Json c{{"artefact_id", "A-STOLEN"},
         {"date", "2025-11-30"},
         {"flag", "stolen"},
         {"authority_ref", "INTERPOL SWA 2025/11873 withdrawn: recovered"}};
  Json seized = c;
  seized["flag"] = "seized";
  m.refused("clear_flag", seized, {"inv.a"}, code::kFlagNotSet);
  m.refused("clear_flag", c, {"museum.b"}, code::kRoleForbidden);
  Json bad = c;
  bad["flag"] = "lost";
  m.refused("clear_flag", bad, {"inv.a"}, code::kBadArgs);
  bad = c;
  bad.erase("authority_ref");
  m.refused("clear_flag", bad, {"inv.a"}, code::kBadArgs);
  CHECK(m.verdict("A-STOLEN")["verdict"] == kVerdictAlert);
  REQUIRE(m.ok("clear_flag", c, {"judge"}));
  CHECK(m.artefact("A-STOLEN")["flags"]["stolen"].is_null());
  CHECK(m.history("A-STOLEN").back()["data"]["flag_event_seq"] == 1);
  CHECK(m.verdict("A-STOLEN") ==
        Json{{"artefact_id", "A-STOLEN"},
             {"head_event_hash", m.artefact("A-STOLEN")["head_event_hash"]},
             {"verdict", "CLEAR"},
             {"reasons", Json::array()}});
  m.refused("clear_flag", c, {"inv.a"}, code::kFlagNotSet);
  // Cleared, the painting may change hands again.
  CHECK(m.ok("transfer",
             transfer_args("A-STOLEN", "2025-11-30", identity_party("museum.b"),
                           identity_party("museum.a")),
             {"museum.b", "museum.a"}));
}

TEST_CASE("restitution: to the rightful holder, clearing every flag; its refusals") {
  Market m;
  REQUIRE(m.ok("register", stolen_register_args(), {"museum.b"}));
  REQUIRE(m.ok("theft_report", stolen_report_args(), {"inv.a"}));
  // Found at a dealer's, who had taken it in on behalf of a private seller.
  REQUIRE(m.ok("seizure",
               Json{{"artefact_id", "A-STOLEN"},
                    {"date", "2025-11-25"},
                    {"authority_ref", "seizure order 2025/311"},
                    {"place", "dealer's premises"}},
               {"inv.a"}));
  Json r{{"artefact_id", "A-STOLEN"},
         {"date", "2025-11-30"},
         {"to", identity_party("museum.b")},
         {"to_country", "FR"},
         {"authority_ref", "restitution order TJ Paris 2025/1207"}};
  m.refused("restitution", r, {"inv.a"}, code::kRoleForbidden);
  m.refused("restitution", r, {"cust.x"}, code::kRoleForbidden);
  Json bad = r;
  bad["to_country"] = "XK";
  m.refused("restitution", bad, {"pros"}, code::kUnknownCountry);
  bad = r;
  bad["to"] = identity_party("museum.z");
  m.refused("restitution", bad, {"pros"}, code::kIdentityNotFound);
  bad = r;
  bad["date"] = "2025-11-24";
  m.refused("restitution", bad, {"pros"}, code::kTimeRegression);
  bad = r;
  bad["artefact_id"] = "A-NONE";
  m.refused("restitution", bad, {"pros"}, code::kArtefactNotFound);
  CHECK(m.verdict("A-STOLEN")["verdict"] == kVerdictAlert);

  REQUIRE(m.ok("restitution", r, {"pros"}));
  Json rec = m.artefact("A-STOLEN");
  CHECK(rec["holder"] == identity_party("museum.b"));
  CHECK(rec["flags"] == Json{{"stolen", nullptr}, {"seized", nullptr}});
  CHECK(m.history("A-STOLEN").back()["data"]["cleared_flags"] == Json{"seized", "stolen"});
  CHECK(m.verdict("A-STOLEN")["verdict"] == kVerdictClear);
  // A judge may order one too, to a private owner.
  Json again = r;
  again["to"] = private_party("heir ref E-4");
  CHECK(m.ok("restitution", again, {"judge"}));
  m.check_chain("A-STOLEN");
}

TEST_CASE("dates: a year or a month stands for all its days; documents are not ordered") {
  Market m;
  REQUIRE(m.ok("register", gap_register_args(), {"dealer.b"}));  // held since 1985
  auto sale = [&](const std::string& date, const std::string& from, const std::string& to) {
    return transfer_args("A-GAP", date, private_party(from), private_party(to));
  };
  // 1985-06 may be any day of June 1985, which is not before 1985-01-01.
  REQUIRE(
      m.ok("transfer", sale("1985-06", "collection ref C-7", "collection ref C-8"), {"dealer.b"}));
  CHECK(m.artefact("A-GAP")["date_floor"] == "1985-06-01");
  // "1985" may still be a day after 1985-06-01.
  REQUIRE(m.ok("transfer", sale("1985", "collection ref C-8", "collection ref C-9"), {"dealer.b"}));
  CHECK(m.artefact("A-GAP")["date_floor"] == "1985-06-01");
  m.refused("transfer", sale("1985-05-31", "collection ref C-9", "collection ref C-1"),
            {"dealer.b"}, code::kTimeRegression);
  m.refused("transfer", sale("1984", "collection ref C-9", "collection ref C-1"), {"dealer.b"},
            code::kTimeRegression);
  REQUIRE(m.ok("transfer", sale("1996-02-29", "collection ref C-9", "collection ref C-1"),
               {"dealer.b"}));
  m.refused("transfer", sale("1997-02-29", "collection ref C-1", "collection ref C-2"),
            {"dealer.b"}, code::kBadArgs);
  // An export licence found later may be older than every recorded sale.
  CHECK(m.ok("export_licence",
             Json{{"artefact_id", "A-GAP"},
                  {"date", "1969-11"},
                  {"issuing_country", "FR"},
                  {"authority", "Service des Monuments historiques"},
                  {"licence_ref", "SMH 69/211"}},
             {"dealer.b"}));
  m.check_chain("A-GAP");
}

// --- the verdict --------------------------------------------------------------------

TEST_CASE(
    "verify (a): a licensed export from the country of origin and a licensed import "
    "give CLEAR") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  CHECK(m.verdict("A-CLEAR")["verdict"] == kVerdictReview);  // not yet: no export licence
  REQUIRE(m.ok("export_licence", clear_export_args(), {"dealer.a"}));
  REQUIRE(m.ok("import", clear_import_args(), {"cust.x"}));
  REQUIRE(m.ok("transfer",
               transfer_args("A-CLEAR", "2025-11-29", identity_party("dealer.a"),
                             identity_party("museum.a")),
               {"dealer.a", "museum.a"}));
  CHECK(m.verdict("A-CLEAR") == Json{{"artefact_id", "A-CLEAR"},
                                     {"head_event_hash", m.history("A-CLEAR")[3]["event_hash"]},
                                     {"verdict", "CLEAR"},
                                     {"reasons", Json::array()}});
}

TEST_CASE("verify (b): a history that starts in 1985 with no export licence gives REVIEW") {
  Market m;
  REQUIRE(m.ok("register", gap_register_args(), {"dealer.b"}));
  Json v = m.verdict("A-GAP");
  CHECK(v["verdict"] == kVerdictReview);
  REQUIRE(v["reasons"].size() == 1);
  CHECK(v["reasons"][0]["code"] == reason::kNoPre1970Provenance);
  CHECK(v["reasons"][0]["severity"] == "REVIEW");
  CHECK(v["reasons"][0]["event_seq"].is_null());
  CHECK(v["reasons"][0]["detail"] ==
        "the documented history starts 1985, not before the UNESCO Convention of 1970-11-14, "
        "and no export licence from the country of origin KH is recorded");
  // An export licence from another country does not close the gap ...
  REQUIRE(m.ok("export_licence",
               Json{{"artefact_id", "A-GAP"},
                    {"date", "1986-03-03"},
                    {"issuing_country", "TH"},
                    {"authority", "Fine Arts Department"},
                    {"licence_ref", "FAD 86/77"}},
               {"dealer.b"}));
  CHECK(reason_codes(m.verdict("A-GAP")) == std::vector<std::string>{"NO_PRE_1970_PROVENANCE"});
  // ... one from the country of origin does.
  REQUIRE(m.ok("export_licence",
               Json{{"artefact_id", "A-GAP"},
                    {"date", "1984-12-20"},
                    {"issuing_country", "KH"},
                    {"authority", "Ministry of Culture and Fine Arts"},
                    {"licence_ref", "MCFA 84/5"}},
               {"cust.x"}));
  CHECK(m.verdict("A-GAP")["verdict"] == kVerdictClear);
}

TEST_CASE("verify (c): a reported theft gives ALERT") {
  Market m;
  REQUIRE(m.ok("register", stolen_register_args(), {"museum.b"}));
  CHECK(m.verdict("A-STOLEN")["verdict"] == kVerdictClear);  // held since 1952
  REQUIRE(m.ok("theft_report", stolen_report_args(), {"inv.a"}));
  CHECK(m.verdict("A-STOLEN") ==
        Json{{"artefact_id", "A-STOLEN"},
             {"head_event_hash", m.history("A-STOLEN")[1]["event_hash"]},
             {"verdict", "ALERT"},
             {"reasons",
              {{{"code", "REPORTED_STOLEN"},
                {"severity", "ALERT"},
                {"detail",
                 "reported stolen on 2025-11-20, INTERPOL reference INTERPOL SWA 2025/11873; "
                 "not cleared"},
                {"event_seq", 1}}}}});
}

TEST_CASE("verify: the UNESCO date is a hard boundary; a year counts only if wholly before it") {
  Market m;
  auto codes_for = [&](const std::string& id, const std::string& held_since) {
    Json a = painting_args(id, identity_party("museum.a"), 1900);
    a["held_since"] = held_since;
    REQUIRE(m.ok("register", a, {"museum.a"}));
    return reason_codes(m.verdict(id));
  };
  const std::vector<std::string> none;
  const std::vector<std::string> gap{"NO_PRE_1970_PROVENANCE"};
  CHECK(codes_for("U-1", "1970-11-13") == none);
  CHECK(codes_for("U-2", std::string(kUnescoConventionDate)) == gap);
  CHECK(codes_for("U-3", "1970-11") == gap);  // may be 14 November or later
  CHECK(codes_for("U-4", "1970") == gap);
  CHECK(codes_for("U-5", "1969") == none);
  CHECK(codes_for("U-6", "1970-10") == none);
  // No dated event at all is a gap too.
  REQUIRE(m.ok("register", painting_args("U-7", identity_party("museum.a"), 1900), {"museum.a"}));
  CHECK(reason_codes(m.verdict("U-7")) == gap);
  // A licensed find or a sale before the date documents the history.
  REQUIRE(m.ok("find", Json{{"artefact_id", "U-7"}, {"date", "1931"}, {"licence_ref", "L-31"}},
               {"museum.a"}));
  CHECK(reason_codes(m.verdict("U-7")) == none);
}

TEST_CASE("verify: every reason at once, ordered by event, ALERT wins") {
  Market m;
  // An antiquity (category e) made by AD 1500 at the latest, declared at
  // EUR 1,000: its 2025 import needed nothing, until a find showed it is an
  // excavated object, which needs a licence at that age.
  Json a = painting_args("X-1", identity_party("dealer.a"), 1500, "IL");
  a["category"] = "e";
  a["held_since"] = "2001";
  REQUIRE(m.ok("register", a, {"dealer.a"}));
  // Customs releases it to museum.a, whom the ledger never saw buy it.
  REQUIRE(m.ok("import", import_args("X-1", "2025-11-20", 100'000, "museum.a"), {"cust.x"}));
  REQUIRE(m.ok("find", Json{{"artefact_id", "X-1"}, {"date", "2003"}, {"licence_ref", "G-3"}},
               {"inv.a"}));
  REQUIRE(m.ok("seizure",
               Json{{"artefact_id", "X-1"},
                    {"date", "2025-11-21"},
                    {"authority_ref", "seizure order 2025/400"},
                    {"place", "museum.a storeroom"}},
               {"inv.a"}));
  REQUIRE(m.ok("theft_report",
               Json{{"artefact_id", "X-1"}, {"date", "2025-11-22"}, {"interpol_ref", "SWA-2"}},
               {"inv.a"}));
  Json v = m.verdict("X-1");
  CHECK(v["verdict"] == kVerdictAlert);
  CHECK(reason_codes(v) == std::vector<std::string>{"OWNERSHIP_CHAIN_BROKEN",
                                                    "IMPORT_LICENCE_MISSING", "SEIZED",
                                                    "REPORTED_STOLEN", "NO_PRE_1970_PROVENANCE"});
  CHECK(v["reasons"][0]["event_seq"] == 1);
  CHECK(v["reasons"][0]["severity"] == "REVIEW");
  CHECK(v["reasons"][1]["event_seq"] == 1);
  CHECK(v["reasons"][1]["severity"] == "ALERT");
  CHECK(v["reasons"][2]["event_seq"] == 3);
  CHECK(v["reasons"][3]["event_seq"] == 4);
  CHECK(v["reasons"][4]["event_seq"].is_null());
  // The broken chain on its own is a REVIEW.
  Json b = painting_args("X-2", identity_party("dealer.a"), 1950, "US");
  b["held_since"] = "1960";
  REQUIRE(m.ok("register", b, {"dealer.a"}));
  REQUIRE(m.ok("import", import_args("X-2", "2025-11-20", 100, "museum.b"), {"cust.x"}));
  Json w = m.verdict("X-2");
  CHECK(w["verdict"] == kVerdictReview);
  CHECK(reason_codes(w) == std::vector<std::string>{"OWNERSHIP_CHAIN_BROKEN"});
  CHECK(w["reasons"][0]["detail"] ==
        "the importer identity \"museum.b\" is not the recorded holder identity \"dealer.a\": no "
        "recorded transfer links them");
}

TEST_CASE("verify: IMPORTER_STATEMENT_MISSING and a broken sale in a history from elsewhere") {
  // The module refuses both; a history migrated from another register, or
  // handed over for an offline check, can still contain them.
  Market m;
  Json a = painting_args("M-1", identity_party("dealer.a"), 1700, "US");
  a["held_since"] = "1950";
  REQUIRE(m.ok("register", a, {"dealer.a"}));
  Json i = import_args("M-1", "2025-11-28", 2'500'000);
  i["importer_statement_ref"] = "ICG-IS-7";
  REQUIRE(m.ok("import", i, {"cust.x"}));
  REQUIRE(m.ok(
      "transfer",
      transfer_args("M-1", "2025-11-29", identity_party("dealer.a"), identity_party("museum.a")),
      {"dealer.a", "museum.a"}));
  CHECK(m.verdict("M-1")["verdict"] == kVerdictClear);

  std::vector<Json> events = m.history("M-1");
  Json record = m.artefact("M-1");
  events[1]["data"]["importer_statement_ref"] = nullptr;
  events[2]["data"]["seller"] = identity_party("dealer.b");
  rechain(events, record);
  Json v = verify_artefact(record, events);
  CHECK(v["verdict"] == kVerdictReview);
  CHECK(reason_codes(v) ==
        std::vector<std::string>{"IMPORTER_STATEMENT_MISSING", "OWNERSHIP_CHAIN_BROKEN"});
  CHECK(v["reasons"][0]["event_seq"] == 1);
  CHECK(v["reasons"][1]["event_seq"] == 2);
}

TEST_CASE("verify: HISTORY_INVALID when the history is tampered with, cut short or malformed") {
  Market m;
  REQUIRE(m.ok("register", stolen_register_args(), {"museum.b"}));
  REQUIRE(m.ok("theft_report", stolen_report_args(), {"inv.a"}));
  const Json record = m.artefact("A-STOLEN");
  const std::vector<Json> events = m.history("A-STOLEN");
  auto only_invalid = [](const Json& v) {
    CHECK(v["verdict"] == kVerdictAlert);
    CHECK(reason_codes(v) == std::vector<std::string>{"HISTORY_INVALID"});
  };
  // Dropping the theft report must not turn the ALERT into a CLEAR.
  only_invalid(verify_artefact(record, {events[0]}));
  std::vector<Json> tampered = events;
  tampered[1]["data"]["interpol_ref"] = "none";
  only_invalid(verify_artefact(record, tampered));
  only_invalid(verify_artefact(record, {}));
  only_invalid(verify_artefact(Json("not a record"), events));
  Json other = record;
  other["id"] = "A-OTHER";
  only_invalid(verify_artefact(other, events));

  // Well chained but meaningless: the seq of the bad event is named.
  std::vector<Json> odd = events;
  Json odd_record = record;
  odd[1]["type"] = "burglary";
  rechain(odd, odd_record);
  Json v = verify_artefact(odd_record, odd);
  only_invalid(v);
  CHECK(v["reasons"][0]["event_seq"] == 1);
  odd = events;
  odd[1]["date"] = 20251120;
  rechain(odd, odd_record);
  only_invalid(verify_artefact(odd_record, odd));
  odd = events;
  odd[0]["data"].erase("holder");
  rechain(odd, odd_record);
  only_invalid(verify_artefact(odd_record, odd));
  odd = {events[1]};
  odd[0]["seq"] = 0;
  rechain(odd, odd_record);
  only_invalid(verify_artefact(odd_record, odd));  // no registration first
}

// --- the hash chain -----------------------------------------------------------------

TEST_CASE("hash chain: each event links to the one before; tampering is caught") {
  Market m;
  REQUIRE(m.ok("register", clear_register_args(), {"dealer.a"}));
  REQUIRE(m.ok("export_licence", clear_export_args(), {"dealer.a"}));
  REQUIRE(m.ok("import", clear_import_args(), {"cust.x"}));
  REQUIRE(m.ok("inspection",
               Json{{"artefact_id", "A-CLEAR"},
                    {"date", "2025-11-28"},
                    {"customs_office", "DE004552"},
                    {"findings", "as declared"}},
               {"cust.x"}));
  const auto& events = m.history("A-CLEAR");
  REQUIRE(events.size() == 4);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i]["seq"] == i);
    auto hash = compute_event_hash(events[i]);
    REQUIRE(hash.ok());
    CHECK(events[i]["event_hash"] == hash->hex());
    if (i > 0) CHECK(events[i]["prev_event_hash"] == events[i - 1]["event_hash"]);
  }
  m.check_chain("A-CLEAR");

  std::vector<Json> changed = events;
  changed[1]["data"]["licence_ref"] = "IAA-EXP-2019-9999";
  CHECK_FALSE(verify_artefact_history("A-CLEAR", changed).ok());
  std::vector<Json> dropped = {events[0], events[2], events[3]};
  CHECK_FALSE(verify_artefact_history("A-CLEAR", dropped).ok());
  std::vector<Json> swapped = {events[0], events[2], events[1], events[3]};
  CHECK_FALSE(verify_artefact_history("A-CLEAR", swapped).ok());
  CHECK_FALSE(verify_artefact_history("A-OTHER", events).ok());
  // A custody item's history is not an artefact's, even with the same hashes.
  std::vector<Json> as_item = events;
  for (Json& e : as_item) {
    e["item_id"] = e["artefact_id"];
    e.erase("artefact_id");
  }
  CHECK_FALSE(verify_artefact_history("A-CLEAR", as_item).ok());
  CHECK(verify_artefact_history("A-CLEAR", {}).ok());
}

TEST_CASE("module: UNKNOWN_FUNCTION; every function refuses a call with no signer") {
  Market m;
  m.refused("delete", Json{{"artefact_id", "A-1"}}, {"dealer.a"}, code::kUnknownFunction);
  CHECK_REFUSED(m.w.run_as("provenance", "register", clear_register_args(), {}), code::kUnsigned);
  CHECK(is_archaeological_category("c"));
  CHECK(is_archaeological_category("d"));
  CHECK_FALSE(is_archaeological_category("e"));
  CHECK(is_annex_category("l"));
  CHECK_FALSE(is_annex_category("m"));
}
