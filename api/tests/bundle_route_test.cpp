// GET /v1/evidence/{id}/bundle through the gateway in process: the bundle a
// real node builds verifies against the network's genesis file, and the
// route keeps the item's visibility rules.
#include <doctest/doctest.h>

#include "api/tests/test_network.h"
#include "bundle/bundle.h"

using namespace custos;
using namespace custos::testing;

TEST_CASE("the bundle route: a node's bundle verifies offline; visibility as for the item") {
  TestNetwork net;
  net.commit("identity.enrol", enrol_args(net, "inv", "police", {"investigator", "custodian"}),
             {"police-admin"});
  net.commit("identity.enrol", enrol_args(net, "analyst", "lab", {"forensic_analyst", "custodian"}),
             {"lab-admin"});
  net.commit("identity.enrol", enrol_args(net, "outsider", "other", {"investigator"}),
             {"other-admin"});
  net.commit("custody.open_case",
             {{"case_id", "C-1"}, {"reference", "JIT-1"}, {"member_orgs", {"lab"}}}, {"inv"});
  std::int64_t t = node::wall_clock_ms() - 60'000;
  net.commit("custody.register",
             {{"case_id", "C-1"}, {"item_id", "E-1"}, {"kind", "physical"},
              {"description", "laptop"}, {"content_hash", nullptr}, {"seal_numbers", {"S-1"}},
              {"location", "evidence room"}, {"seized_at_ms", t}, {"place", "Utrecht"},
              {"legal_authority_ref", "RC-1"}},
             {"inv"});
  net.commit("custody.handover",
             {{"item_id", "E-1"}, {"to", "analyst"}, {"purpose", "imaging"}, {"location", "lab"},
              {"seals_intact", true}, {"seal_numbers", {"S-1"}}, {"condition", "good"},
              {"declared_at_ms", t + 1000}},
             {"inv", "analyst"});

  Reply b = net.get("/v1/evidence/E-1/bundle", "analyst");
  REQUIRE(b.status == 200);
  CHECK(b.body["bundle"] == "custos-bundle/1");
  CHECK(b.body["item"]["events"].size() == 2);
  CHECK(b.body["signed_head"]["head"]["height"] == net.height());

  auto genesis = genesis_from_json(net.genesis_json());
  REQUIRE(genesis.ok());
  bundle::VerifyReport report = bundle::verify_bundle(b.body, *genesis);
  INFO(report.to_text());
  CHECK(report.ok);
  CHECK(report.timeline.size() == 2);

  check_problem(net.get("/v1/evidence/E-1/bundle", "outsider"), 403, "NOT_CASE_MEMBER");
  check_problem(net.get("/v1/evidence/E-404/bundle", "inv"), 404, "ITEM_NOT_FOUND");
  check_problem(net.get_with("/v1/evidence/E-1/bundle", ""), 401, "missing_token");
}
