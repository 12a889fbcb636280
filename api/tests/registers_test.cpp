// The provenance and funds registers through the gateway only: signed
// transactions submitted with ?wait=commit, reads with the readers' own JWTs.
// Provenance: the three worked artefacts of docs/provenance.md §8 and their
// customs verdicts, the photo lookup, the event chain in pages. Funds: a
// transfer sent and paid out, the agents' net positions, who may read what,
// the structuring rule's flagged list, and bad input (docs/funds.md).
#include <doctest/doctest.h>

#include <cctype>
#include <string>
#include <vector>

#include "api/tests/test_network.h"
#include "core/hash.h"

using namespace custos;
using namespace custos::testing;

namespace {

// Submits and returns the gateway's reply, whatever it is.
Reply call(TestNetwork& net, const std::string& function, Json args,
           std::vector<std::string> signers) {
  return net.submit(net.signed_tx(function, std::move(args), std::move(signers)));
}

std::uint64_t chain_height(TestNetwork& net, const std::string& reader) {
  Reply head = net.get("/v1/chain/head", reader);
  REQUIRE(head.status == 200);
  return head.body["height"].get<std::uint64_t>();
}

// ---------------------------------------------------------------------------
// Provenance

// The cast of docs/provenance.md §8 with its identity ids, each in the org of
// its kind; `visitor` is an enrolled identity with no part in the market.
void setup_market(TestNetwork& net) {
  net.commit("identity.enrol", enrol_args(net, "museum.a", "museum", {"museum_registrar"}),
             {"museum-admin"});
  net.commit("identity.enrol", enrol_args(net, "museum.b", "museum", {"museum_registrar"}),
             {"museum-admin"});
  net.commit("identity.enrol", enrol_args(net, "dealer.a", "dealer", {"dealer"}), {"dealer-admin"});
  net.commit("identity.enrol", enrol_args(net, "dealer.b", "dealer", {"dealer"}), {"dealer-admin"});
  net.commit("identity.enrol", enrol_args(net, "cust.x", "customs", {"customs_officer"}),
             {"customs-admin"});
  net.commit("identity.enrol", enrol_args(net, "inv.a", "police", {"investigator"}),
             {"police-admin"});
  net.commit("identity.enrol", enrol_args(net, "visitor", "other", {"investigator"}),
             {"other-admin"});
}

// The arguments of docs/provenance.md §8, verbatim.
Json clear_register_args() {
  return Json::parse(R"json({"artefact_id": "A-CLEAR", "type_of_object": "oil lamp",
 "materials_and_techniques": "terracotta, mould-made, red slip",
 "measurements": "length 9.5 cm, width 6.8 cm, height 2.9 cm",
 "description": "Roman discus lamp, gladiator on the discus, nozzle chipped",
 "photo_hashes": ["00102f3bc95181ef822f2a9adf54b8468a2d7f3975e591d21694e069b02a81d2",
                  "76e98cb7f1d309f0cf0d4261dd505514168b1cdc420b9252ca475070dc53a089"],
 "date_or_period": "2nd century AD", "dated_year_max": 200, "category": "c",
 "origin_country": "IL", "holder": {"identity": "dealer.a"}, "held_since": "2019-06",
 "document_hash": "6b25aa82889fc63bdd252a0def0a345152307f12231596d063853c1634f0775e"})json");
}
Json clear_export_args() {
  return Json::parse(
      R"json({"artefact_id": "A-CLEAR", "date": "2019-05-14", "issuing_country": "IL",
 "authority": "Israel Antiquities Authority", "licence_ref": "IAA-EXP-2019-0417",
 "document_hash": "6b829c5fd5edde0f2674b8ed8bd2bb897da2a08772230d3d97fc6df0ad4ed9f4"})json");
}
Json clear_import_args() {
  return Json::parse(R"json({"artefact_id": "A-CLEAR", "date": "2025-11-28",
 "importer": {"identity": "dealer.a"},
 "customs_office": "DE004552 Frankfurt Airport", "country_of_dispatch": "IL",
 "declared_value_eur_cents": 240000, "import_licence_ref": "ICG-IL-DE-2025-000311"})json");
}
Json clear_transfer_args() {
  return Json::parse(R"json({"artefact_id": "A-CLEAR", "date": "2025-11-29",
 "seller": {"identity": "dealer.a"}, "buyer": {"identity": "museum.a"},
 "document_hash": "b2644ecaf82d221f7f403d195cb07ad271dc072f273f6b5e3307fba6e932ce2e"})json");
}
Json gap_register_args() {
  return Json::parse(R"json({"artefact_id": "A-GAP", "type_of_object": "sculpture, head",
 "materials_and_techniques": "sandstone, carved", "measurements": "height 31 cm",
 "description": "head of a deity with a conical chignon, broken at the neck",
 "photo_hashes": ["c464838bce94ae094b6ff7fd03d84616795e3d16c3032e7ec420119decbd4236",
                  "4fba5d14394bc37bbd5d632046aea52567c99df7d82507bb6c0754d86961d87e"],
 "date_or_period": "Angkor period, 12th century", "dated_year_max": 1200,
 "category": "d", "origin_country": "KH",
 "holder": {"commitment": "bc3b7eff79007aa8c6ec64e8b78b2414ade035d964b1559573cbeb4f444a38cc"},
 "held_since": "1985",
 "document_hash": "94c869e339f5cecb6fa23f3d0574dc88a925514a1ed0ffda57a4bfc29cd3eb3a"})json");
}
Json stolen_register_args() {
  return Json::parse(R"json({"artefact_id": "A-STOLEN", "type_of_object": "painting",
 "materials_and_techniques": "oil on canvas", "measurements": "65 x 81 cm (unframed)",
 "description": "river landscape with a ferry at dusk",
 "photo_hashes": ["66fbf8ed0110dc15fe32e7d28b84b7b08a0ec267c82345dcc841bc4b1b615db5"],
 "date_or_period": "c. 1890", "dated_year_max": 1890, "category": "g",
 "origin_country": "FR", "holder": {"identity": "museum.b"},
 "title": "Le bac au crépuscule", "held_since": "1952-03-01"})json");
}
Json stolen_report_args() {
  return Json::parse(R"json({"artefact_id": "A-STOLEN", "date": "2025-11-20",
 "interpol_ref": "INTERPOL SWA 2025/11873"})json");
}

constexpr const char* kLampPhoto =
    "76e98cb7f1d309f0cf0d4261dd505514168b1cdc420b9252ca475070dc53a089";

// The events of a history page link up: each names the one before it.
void check_links(const Json& events, const std::string& prev_of_first) {
  std::string prev = prev_of_first;
  for (const Json& e : events) {
    CHECK(e["prev_event_hash"] == prev);
    prev = e["event_hash"].get<std::string>();
  }
}

// ---------------------------------------------------------------------------
// Funds

constexpr const char* kAgentA = "agent.a";
constexpr const char* kAgentB = "agent.b";

// Two agents of the transfer-agent org "mt", registered by its admin; an FIU
// analyst; an auditor; an identity with no part in the transfers.
void setup_agents(TestNetwork& net) {
  for (const char* agent : {kAgentA, kAgentB}) {
    net.commit("identity.enrol", enrol_args(net, agent, "mt", {"transfer_agent"}), {"mt-admin"});
    net.commit("funds.register_agent",
               {{"agent_id", agent}, {"licence_ref", std::string("MTL-") + agent}}, {"mt-admin"});
  }
  net.commit("identity.enrol", enrol_args(net, "analyst", "fiu", {"fiu_analyst"}), {"fiu-admin"});
  net.commit("identity.enrol", enrol_args(net, "auditor", "other", {"auditor"}), {"other-admin"});
  net.commit("identity.enrol", enrol_args(net, "outsider", "other", {"investigator"}),
             {"other-admin"});
}

std::string commitment(const std::string& customer) {
  return sha256("salt-7f3a|" + customer).hex();
}
std::string pickup_code(const std::string& transfer_id) {
  return "PICKUP-" + transfer_id + "-93kq";
}

// agent.a sends `id` to agent.b for `customer`, without R16 data.
Json send_args(const std::string& id, std::int64_t amount_minor,
               const std::string& currency = "EUR", const std::string& customer = "cust-1") {
  return {{"transfer_id", id},
          {"paying_agent", kAgentB},
          {"originator_commitment", commitment(customer)},
          {"beneficiary_commitment", commitment("beneficiary of " + customer)},
          {"amount_minor", amount_minor},
          {"currency", currency},
          {"purpose", "family support"},
          {"pickup_code_hash", sha256(pickup_code(id)).hex()},
          {"r16", nullptr}};
}
Json payout_args(const std::string& id, const std::string& code) {
  return {{"transfer_id", id}, {"pickup_code", code}};
}

std::vector<std::string> ids_of(const Json& transfers) {
  std::vector<std::string> ids;
  for (const Json& t : transfers) ids.push_back(t["id"].get<std::string>());
  return ids;
}

}  // namespace

TEST_CASE("provenance through REST: the three worked artefacts and their verdicts") {
  TestNetwork net;
  setup_market(net);

  // A-CLEAR: registered by its dealer; an import without the licence the
  // lamp needs (archaeological, 1 825 years old, from outside the EU) is
  // refused and changes nothing; then the export licence, the licensed
  // import and the sale to the museum.
  net.commit("provenance.register", clear_register_args(), {"dealer.a"});
  Reply before = net.get("/v1/artefacts/A-CLEAR", "cust.x");
  REQUIRE(before.status == 200);
  Json unlicensed = clear_import_args();
  unlicensed.erase("import_licence_ref");
  Reply refused = call(net, "provenance.import", unlicensed, {"cust.x"});
  check_problem(refused, 409, "IMPORT_LICENCE_REQUIRED");
  CHECK(refused.body["tx_status"] == "failed");
  CHECK(net.get("/v1/artefacts/A-CLEAR", "cust.x").body == before.body);
  CHECK(net.get("/v1/artefacts/A-CLEAR/provenance", "cust.x").body["event_count"] == 1);

  net.commit("provenance.export_licence", clear_export_args(), {"dealer.a"});
  net.commit("provenance.import", clear_import_args(), {"cust.x"});
  net.commit("provenance.transfer", clear_transfer_args(), {"dealer.a", "museum.a"});

  // A-GAP: a private holder's sculpture, documented only since 1985.
  net.commit("provenance.register", gap_register_args(), {"dealer.b"});

  // A-STOLEN: CLEAR until the theft report.
  net.commit("provenance.register", stolen_register_args(), {"museum.b"});
  Reply stolen_before = net.get("/v1/artefacts/A-STOLEN/verify", "cust.x");
  REQUIRE(stolen_before.status == 200);
  CHECK(stolen_before.body["verdict"] == "CLEAR");
  net.commit("provenance.theft_report", stolen_report_args(), {"inv.a"});

  SUBCASE("the customs officer's verdicts: CLEAR, REVIEW, ALERT") {
    Reply clear = net.get("/v1/artefacts/A-CLEAR/verify", "cust.x");
    REQUIRE(clear.status == 200);
    CHECK(clear.body["artefact_id"] == "A-CLEAR");
    CHECK(clear.body["verdict"] == "CLEAR");
    CHECK(clear.body["reasons"] == Json::array());
    CHECK(clear.body["height"] == chain_height(net, "cust.x"));
    CHECK(clear.body["head_event_hash"] ==
          net.get("/v1/artefacts/A-CLEAR", "cust.x").body["head_event_hash"]);

    Reply gap = net.get("/v1/artefacts/A-GAP/verify", "cust.x");
    REQUIRE(gap.status == 200);
    CHECK(gap.body["verdict"] == "REVIEW");
    REQUIRE(gap.body["reasons"].size() == 1);
    CHECK(gap.body["reasons"][0]["code"] == "NO_PRE_1970_PROVENANCE");
    CHECK(gap.body["reasons"][0]["severity"] == "REVIEW");
    CHECK(gap.body["reasons"][0]["event_seq"].is_null());

    Reply stolen = net.get("/v1/artefacts/A-STOLEN/verify", "cust.x");
    REQUIRE(stolen.status == 200);
    CHECK(stolen.body["verdict"] == "ALERT");
    REQUIRE(stolen.body["reasons"].size() == 1);
    CHECK(stolen.body["reasons"][0]["code"] == "REPORTED_STOLEN");
    CHECK(stolen.body["reasons"][0]["severity"] == "ALERT");
    CHECK(stolen.body["reasons"][0]["event_seq"] == 1);
    CHECK(net.get("/v1/artefacts/A-STOLEN", "cust.x").body["flags"]["stolen"]["event_seq"] == 1);

    // Any enrolled identity may check an object; nobody without a token.
    CHECK(net.get("/v1/artefacts/A-STOLEN/verify", "visitor").body["verdict"] == "ALERT");
    check_problem(net.get_with("/v1/artefacts/A-STOLEN/verify", ""), 401, "missing_token");
  }

  SUBCASE("a flagged artefact cannot be sold") {
    Json sale = {{"artefact_id", "A-STOLEN"},
                 {"date", "2025-11-25"},
                 {"seller", {{"identity", "museum.b"}}},
                 {"buyer", {{"identity", "museum.a"}}}};
    Reply holder_before = net.get("/v1/artefacts/A-STOLEN", "museum.b");
    check_problem(call(net, "provenance.transfer", sale, {"museum.b", "museum.a"}), 409,
                  "ARTEFACT_FLAGGED");
    CHECK(net.get("/v1/artefacts/A-STOLEN", "museum.b").body == holder_before.body);
  }

  SUBCASE("the artefact and the current holder") {
    Reply lamp = net.get("/v1/artefacts/A-CLEAR", "visitor");
    REQUIRE(lamp.status == 200);
    CHECK(lamp.body["id"] == "A-CLEAR");
    CHECK(lamp.body["holder"] == Json{{"identity", "museum.a"}});
    CHECK(lamp.body["event_count"] == 4);
    CHECK(net.get("/v1/artefacts/A-GAP", "visitor").body["holder"] ==
          gap_register_args()["holder"]);
  }

  SUBCASE("lookup by photo hash") {
    Reply found = net.get(std::string("/v1/artefacts?photo_hash=") + kLampPhoto, "cust.x");
    REQUIRE(found.status == 200);
    CHECK(found.body["photo_hash"] == kLampPhoto);
    REQUIRE(found.body["artefacts"].size() == 1);
    CHECK(found.body["artefacts"][0]["id"] == "A-CLEAR");
    CHECK(found.body["artefacts"][0]["holder"] == Json{{"identity", "museum.a"}});
    std::string gap_photo = gap_register_args()["photo_hashes"][1];
    CHECK(net.get("/v1/artefacts?photo_hash=" + gap_photo, "cust.x").body["artefacts"][0]["id"] ==
          "A-GAP");
    Reply none = net.get("/v1/artefacts?photo_hash=" + sha256("no such photo").hex(), "cust.x");
    CHECK(none.status == 200);
    CHECK(none.body["artefacts"] == Json::array());
  }

  SUBCASE("bad photo hashes and unknown artefacts") {
    check_problem(net.get("/v1/artefacts?photo_hash=xyz", "cust.x"), 400, "bad_parameter");
    std::string upper = kLampPhoto;
    for (auto& c : upper) c = static_cast<char>(std::toupper(c));
    check_problem(net.get("/v1/artefacts?photo_hash=" + upper, "cust.x"), 400, "bad_parameter");
    check_problem(
        net.get("/v1/artefacts?photo_hash=" + std::string(kLampPhoto).substr(1), "cust.x"), 400,
        "bad_parameter");
    check_problem(net.get("/v1/artefacts", "cust.x"), 400, "bad_parameter");
    check_problem(
        net.get(std::string("/v1/artefacts?photo_hash=") + kLampPhoto + "&limit=0", "cust.x"), 400,
        "bad_parameter");
    check_problem(net.get("/v1/artefacts/A-NONE", "cust.x"), 404, "ARTEFACT_NOT_FOUND");
    check_problem(net.get("/v1/artefacts/A-NONE/provenance", "cust.x"), 404, "ARTEFACT_NOT_FOUND");
    check_problem(net.get("/v1/artefacts/A-NONE/verify", "cust.x"), 404, "ARTEFACT_NOT_FOUND");
  }

  SUBCASE("provenance pages form one hash chain") {
    Reply all = net.get("/v1/artefacts/A-CLEAR/provenance", "visitor");
    REQUIRE(all.status == 200);
    CHECK(all.body["artefact_id"] == "A-CLEAR");
    CHECK(all.body["event_count"] == 4);
    const Json& events = all.body["events"];
    REQUIRE(events.size() == 4);
    std::vector<std::string> types;
    for (const Json& e : events) types.push_back(e["type"].get<std::string>());
    CHECK(types == std::vector<std::string>{"register", "export_licence", "import", "transfer"});
    for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i]["seq"] == i);
    check_links(events, std::string(64, '0'));
    CHECK(all.body["head_event_hash"] == events[3]["event_hash"]);
    CHECK(all.body["next_from"].is_null());

    Reply first = net.get("/v1/artefacts/A-CLEAR/provenance?limit=3", "visitor");
    REQUIRE(first.body["events"].size() == 3);
    CHECK(first.body["next_from"] == 3);
    Reply second = net.get("/v1/artefacts/A-CLEAR/provenance?from=3&limit=3", "visitor");
    REQUIRE(second.body["events"].size() == 1);
    CHECK(second.body["next_from"].is_null());
    check_links(second.body["events"], first.body["events"][2]["event_hash"]);
    CHECK(second.body["events"][0] == events[3]);

    Reply stolen = net.get("/v1/artefacts/A-STOLEN/provenance", "visitor");
    REQUIRE(stolen.body["events"].size() == 2);
    CHECK(stolen.body["events"][1]["type"] == "theft_report");
    check_links(stolen.body["events"], std::string(64, '0'));
    check_problem(net.get("/v1/artefacts/A-CLEAR/provenance?limit=0", "visitor"), 400,
                  "bad_parameter");
  }
}

TEST_CASE("funds through REST: a transfer paid out, positions, who may read them") {
  TestNetwork net;
  setup_agents(net);
  const std::string kPositionsA = std::string("/v1/agents/") + kAgentA + "/positions";
  const std::string kPositionsB = std::string("/v1/agents/") + kAgentB + "/positions";

  net.commit("funds.send", send_args("T-1", 25'000), {kAgentA});
  Reply sent = net.get("/v1/transfers/T-1", kAgentA);
  REQUIRE(sent.status == 200);
  CHECK(sent.body["status"] == "sent");
  CHECK(sent.body["originating_agent"] == kAgentA);
  CHECK(sent.body["paying_agent"] == kAgentB);
  // Nobody owes anybody until the payout.
  CHECK(net.get(kPositionsA, kAgentA).body["positions"] == Json::array());

  net.commit("funds.payout", payout_args("T-1", pickup_code("T-1")), {kAgentB});
  CHECK(net.get("/v1/transfers/T-1", kAgentB).body["status"] == "paid_out");

  Reply a = net.get(kPositionsA, kAgentA);
  Reply b = net.get(kPositionsB, kAgentB);
  REQUIRE(a.status == 200);
  REQUIRE(b.status == 200);
  CHECK(a.body["agent_id"] == kAgentA);
  REQUIRE(a.body["positions"].size() == 1);
  REQUIRE(b.body["positions"].size() == 1);
  CHECK(a.body["positions"][0] ==
        Json{{"counterparty", kAgentB}, {"currency", "EUR"}, {"net_minor", -25'000}});
  CHECK(b.body["positions"][0] ==
        Json{{"counterparty", kAgentA}, {"currency", "EUR"}, {"net_minor", 25'000}});
  CHECK(a.body["positions"][0]["net_minor"].get<std::int64_t>() +
            b.body["positions"][0]["net_minor"].get<std::int64_t>() ==
        0);

  SUBCASE("visibility of positions and transfers") {
    CHECK(net.get(kPositionsA, "analyst").body == a.body);
    CHECK(net.get(kPositionsB, "auditor").body == b.body);
    check_problem(net.get(kPositionsA, kAgentB), 403, "ROLE_FORBIDDEN");
    check_problem(net.get(kPositionsB, "outsider"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get("/v1/agents/nobody/positions", "analyst"), 404, "AGENT_NOT_FOUND");

    CHECK(net.get("/v1/transfers/T-1", "analyst").status == 200);
    CHECK(net.get("/v1/transfers/T-1", "auditor").status == 200);
    check_problem(net.get("/v1/transfers/T-1", "outsider"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get("/v1/transfers/T-404", "analyst"), 404, "TRANSFER_NOT_FOUND");

    // The fiu_analyst role outside an FIU org opens nothing: any org admin
    // could grant it.
    net.commit("identity.enrol", enrol_args(net, "self-made-analyst", "police", {"fiu_analyst"}),
               {"police-admin"});
    check_problem(net.get("/v1/transfers/T-1", "self-made-analyst"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get(kPositionsA, "self-made-analyst"), 403, "ROLE_FORBIDDEN");
    check_problem(net.get("/v1/transfers?flagged=true", "self-made-analyst"), 403,
                  "ROLE_FORBIDDEN");
  }

  SUBCASE("bad input: a 4xx problem with the module's code, nothing changed") {
    std::uint64_t height = chain_height(net, "analyst");
    // Refused at admission: no block, no transfer.
    check_problem(call(net, "funds.send", send_args("T-2", 1'000, "XTS"), {kAgentA}), 400,
                  "UNKNOWN_CURRENCY");
    check_problem(call(net, "funds.send", send_args("T-2", 1'000, "eur"), {kAgentA}), 400,
                  "UNKNOWN_CURRENCY");
    check_problem(call(net, "funds.send", send_args("T-2", 0), {kAgentA}), 400, "BAD_AMOUNT");
    Json as_text = send_args("T-2", 1'000);
    as_text["amount_minor"] = "1000";
    check_problem(call(net, "funds.send", as_text, {kAgentA}), 400, "BAD_ARGS");
    CHECK(chain_height(net, "analyst") == height);
    check_problem(net.get("/v1/transfers/T-2", "analyst"), 404, "TRANSFER_NOT_FOUND");

    // Refused in the block: recorded as failed, the transfer and the
    // positions as they were.
    net.commit("funds.send", send_args("T-3", 5'000), {kAgentA});
    Reply t3 = net.get("/v1/transfers/T-3", "analyst");
    Reply wrong = call(net, "funds.payout", payout_args("T-3", "PICKUP-guess"), {kAgentB});
    check_problem(wrong, 403, "WRONG_PICKUP_CODE");
    CHECK(wrong.body["tx_status"] == "failed");
    CHECK(net.get("/v1/transfers/T-3", "analyst").body == t3.body);

    Reply t1 = net.get("/v1/transfers/T-1", "analyst");
    check_problem(call(net, "funds.payout", payout_args("T-1", pickup_code("T-1")), {kAgentB}), 409,
                  "ALREADY_PAID_OUT");
    CHECK(net.get("/v1/transfers/T-1", "analyst").body == t1.body);
    CHECK(net.get(kPositionsA, kAgentA).body == a.body);
    CHECK(net.get(kPositionsB, kAgentB).body == b.body);

    // The wrong agent, and an R16-less send at the threshold.
    check_problem(call(net, "funds.payout", payout_args("T-3", pickup_code("T-3")), {kAgentA}), 403,
                  "WRONG_AGENT");
    check_problem(call(net, "funds.send", send_args("T-4", 100'000), {kAgentA}), 400,
                  "R16_FIELDS_MISSING");
    check_problem(net.get("/v1/transfers/T-4", "analyst"), 404, "TRANSFER_NOT_FOUND");
    CHECK(net.get("/v1/transfers/T-3", "analyst").body == t3.body);
    CHECK(net.get(kPositionsA, kAgentA).body == a.body);
  }
}

TEST_CASE("funds through REST: structuring flags, listed for FIU analysts only") {
  TestNetwork net;
  setup_agents(net);

  check_problem(net.get("/v1/transfers?flagged=true", kAgentA), 403, "ROLE_FORBIDDEN");
  check_problem(net.get("/v1/transfers?flagged=true", "auditor"), 403, "ROLE_FORBIDDEN");
  check_problem(net.get("/v1/transfers?flagged=true", "outsider"), 403, "ROLE_FORBIDDEN");
  Reply empty = net.get("/v1/transfers?flagged=true", "analyst");
  REQUIRE(empty.status == 200);
  CHECK(empty.body["transfers"] == Json::array());
  CHECK(empty.body["next_after"].is_null());
  check_problem(net.get("/v1/transfers?flagged=false", "analyst"), 400, "bad_parameter");
  check_problem(net.get("/v1/transfers", "analyst"), 400, "bad_parameter");

  // The default rule: 5 sub-threshold transfers from one originator within
  // 24 hours. Another customer's transfer and the first four are not flagged.
  net.commit("funds.send", send_args("T-OTHER", 95'000, "EUR", "cust-2"), {kAgentA});
  for (const char* id : {"S-1", "S-2", "S-3", "S-4"}) {
    net.commit("funds.send", send_args(id, 95'000, "EUR", "cust-9"), {kAgentA});
  }
  CHECK(net.get("/v1/transfers?flagged=true", "analyst").body["transfers"] == Json::array());
  CHECK(net.get("/v1/transfers/S-1", "analyst").body["flagged"] == false);
  net.commit("funds.send", send_args("S-5", 95'000, "EUR", "cust-9"), {kAgentA});

  Reply flagged = net.get("/v1/transfers?flagged=true", "analyst");
  REQUIRE(flagged.status == 200);
  CHECK(ids_of(flagged.body["transfers"]) ==
        std::vector<std::string>{"S-1", "S-2", "S-3", "S-4", "S-5"});
  for (const Json& t : flagged.body["transfers"]) {
    CHECK(t["flagged"] == true);
    CHECK(t["flag_reason"].is_string());
    CHECK(t["originator_commitment"] == commitment("cust-9"));
  }
  CHECK(flagged.body["next_after"].is_null());
  CHECK(net.get("/v1/transfers/T-OTHER", "analyst").body["flagged"] == false);

  // Pages of two, each starting after the last id of the one before.
  Reply p1 = net.get("/v1/transfers?flagged=true&limit=2", "analyst");
  CHECK(ids_of(p1.body["transfers"]) == std::vector<std::string>{"S-1", "S-2"});
  CHECK(p1.body["next_after"] == "S-2");
  Reply p2 = net.get("/v1/transfers?flagged=true&limit=2&after=S-2", "analyst");
  CHECK(ids_of(p2.body["transfers"]) == std::vector<std::string>{"S-3", "S-4"});
  CHECK(p2.body["next_after"] == "S-4");
  Reply p3 = net.get("/v1/transfers?flagged=true&limit=2&after=S-4", "analyst");
  CHECK(ids_of(p3.body["transfers"]) == std::vector<std::string>{"S-5"});
  CHECK(p3.body["next_after"].is_null());

  // A flagged transfer can still be paid out: stopping it is a freeze.
  net.commit("funds.payout", payout_args("S-1", pickup_code("S-1")), {kAgentB});
  CHECK(net.get("/v1/transfers/S-1", kAgentB).body["status"] == "paid_out");
}
