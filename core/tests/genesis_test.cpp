#include <doctest/doctest.h>

#include "core/genesis.h"

using namespace custos;

namespace {

Json sample() {
  return Json{
      {"network_id", "custos-test"},
      {"created_at_ms", 1764460800000},
      {"orgs",
       {{{"id", "nl-police"},
         {"name", "Politie"},
         {"kind", "police"},
         {"admins",
          {{{"id", "nl-police-admin"},
            {"public_key", PrivateKey::generate().public_key().hex()}}}}},
        {{"id", "court-hague"},
         {"name", "Court"},
         {"kind", "court"},
         {"admins",
          {{{"id", "court-admin"}, {"public_key", PrivateKey::generate().public_key().hex()}}}}}}},
      {"nodes",
       {{{"id", "node1"},
         {"org", "nl-police"},
         {"public_key", PrivateKey::generate().public_key().hex()}}}}};
}

}  // namespace

TEST_CASE("genesis round trip and hash") {
  Json j = sample();
  auto g = genesis_from_json(j);
  REQUIRE(g.ok());
  CHECK(g->to_json() == j);
  CHECK(g->hash() == tagged_hash(kGenesisTag, canonical_json(j).value()));
  Json other = j;
  other["created_at_ms"] = 1;
  CHECK(genesis_from_json(other)->hash() != g->hash());
}

TEST_CASE("malformed genesis documents are refused") {
  auto refused = [](Json j) {
    auto g = genesis_from_json(j);
    REQUIRE(!g.ok());
    CHECK(g.error().code == "bad_genesis");
    return g.error().message;
  };
  Json j = sample();
  j["extra"] = 1;
  refused(j);
  j = sample();
  j["orgs"][1]["id"] = "nl-police";
  CHECK(refused(j).find("repeats") != std::string::npos);
  j = sample();
  j["orgs"][1]["admins"][0]["id"] = "nl-police-admin";
  CHECK(refused(j).find("repeats") != std::string::npos);
  j = sample();
  j["orgs"][1]["admins"][0]["public_key"] = j["orgs"][0]["admins"][0]["public_key"];
  CHECK(refused(j).find("twice") != std::string::npos);
  j = sample();
  j["orgs"][0]["kind"] = "pirates";
  refused(j);
  j = sample();
  j["orgs"][0]["admins"] = Json::array();
  refused(j);
  j = sample();
  j["nodes"][0]["org"] = "nowhere";
  refused(j);
  j = sample();
  j["nodes"] = Json::array();
  refused(j);
  j = sample();
  j["nodes"][0].erase("public_key");
  CHECK(refused(j).find("public_key") != std::string::npos);
  j = sample();
  j["nodes"][0]["public_key"] = "02abcd";
  CHECK(refused(j).find("nodes[0].public_key") != std::string::npos);
  j = sample();
  j["nodes"][0]["public_key"] = j["orgs"][0]["admins"][0]["public_key"];  // an admin's key
  CHECK(refused(j).find("nodes[0]: public key used twice") != std::string::npos);
  j = sample();
  j["nodes"].push_back(
      {{"id", "node2"}, {"org", "nl-police"}, {"public_key", j["nodes"][0]["public_key"]}});
  CHECK(refused(j).find("nodes[1]: public key used twice") != std::string::npos);
  j = sample();
  j["network_id"] = "Bad Net";
  refused(j);
  j = sample();
  j["orgs"][0]["admins"][0]["public_key"] = "02abcd";
  refused(j);
}

TEST_CASE("genesis config: optional, checked, part of the hash when present") {
  Json j = sample();
  Hash256 plain = genesis_from_json(j)->hash();
  j["config"] = Json::object();
  CHECK(genesis_from_json(j)->hash() == plain);  // empty config is no config
  j["config"] = {{"funds",
                  {{"r16_threshold_minor", {{"EUR", 100000}, {"USD", 100000}}},
                   {"structuring", {{"count", 5}, {"window_ms", 86400000}}}}}};
  auto g = genesis_from_json(j);
  REQUIRE(g.ok());
  CHECK(g->hash() != plain);
  CHECK(g->config["funds"]["structuring"]["count"] == 5);
  CHECK(genesis_from_json(g->to_json())->hash() == g->hash());

  auto refused = [](Json config) {
    Json doc = sample();
    doc["config"] = std::move(config);
    auto r = genesis_from_json(doc);
    REQUIRE(!r.ok());
    CHECK(r.error().code == "bad_genesis");
  };
  refused(Json::array());
  refused({{"weather", 1}});
  refused({{"funds", {{"r16_threshold_minor", {{"euro", 100}}}}}});
  refused({{"funds", {{"r16_threshold_minor", {{"EUR", 0}}}}}});
  refused({{"funds", {{"structuring", {{"count", 5}}}}}});
  refused({{"funds", {{"colour", "red"}}}});
}
