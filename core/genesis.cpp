#include "core/genesis.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/tx.h"

namespace custos {
namespace {

Error bad(const std::string& what) {
  return make_error("bad_genesis", what);
}

bool has_exactly(const Json& j, std::initializer_list<const char*> names) {
  if (!j.is_object() || j.size() != names.size()) return false;
  return std::all_of(names.begin(), names.end(), [&](const char* n) { return j.contains(n); });
}

bool is_string_id(const Json& j) {
  return j.is_string() && is_network_id(j.get<std::string>());
}

bool is_positive_int(const Json& j, std::int64_t max) {
  return j.is_number_integer() && j.get<std::int64_t>() > 0 && j.get<std::int64_t>() <= max;
}

// The settings sections chaincode knows; anything else is a typo to refuse.
Status check_config(const Json& c) {
  if (!c.is_object()) return bad("\"config\" must be an object");
  if (auto text = canonical_json(c); !text) return bad("\"config\": " + text.error().message);
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (it.key() != "funds") return bad("config has unknown section \"" + it.key() + "\"");
  }
  if (!c.contains("funds")) return ok_status();
  const Json& f = c["funds"];
  if (!f.is_object()) return bad("config.funds must be an object");
  for (auto it = f.begin(); it != f.end(); ++it) {
    if (it.key() == "r16_threshold_minor") {
      if (!it->is_object()) return bad("config.funds.r16_threshold_minor must be an object");
      for (auto cur = it->begin(); cur != it->end(); ++cur) {
        const std::string& code = cur.key();
        bool iso = code.size() == 3 && std::all_of(code.begin(), code.end(),
                                                   [](char ch) { return ch >= 'A' && ch <= 'Z'; });
        if (!iso || !is_positive_int(*cur, kJsonIntegerMax)) {
          return bad(
              "config.funds.r16_threshold_minor maps ISO 4217 codes to positive amounts "
              "in minor units");
        }
      }
    } else if (it.key() == "structuring") {
      const Json& st = *it;
      if (!has_exactly(st, {"count", "window_ms"}) || !is_positive_int(st["count"], 10'000) ||
          !is_positive_int(st["window_ms"], kJsonIntegerMax)) {
        return bad("config.funds.structuring must be {\"count\": N, \"window_ms\": MS}");
      }
    } else {
      return bad("config.funds has unknown member \"" + it.key() + "\"");
    }
  }
  return ok_status();
}

}  // namespace

bool is_org_kind(std::string_view kind) {
  return std::find(std::begin(kOrgKinds), std::end(kOrgKinds), kind) != std::end(kOrgKinds);
}

Json Genesis::to_json() const {
  Json orgs_json = Json::array();
  for (const auto& o : orgs) {
    Json admins = Json::array();
    for (const auto& a : o.admins)
      admins.push_back({{"id", a.id}, {"public_key", a.public_key.hex()}});
    orgs_json.push_back({{"id", o.id}, {"name", o.name}, {"kind", o.kind}, {"admins", admins}});
  }
  Json nodes_json = Json::array();
  for (const auto& n : nodes) {
    nodes_json.push_back({{"id", n.id}, {"org", n.org}, {"public_key", n.public_key.hex()}});
  }
  Json out = {{"network_id", network_id},
              {"created_at_ms", created_at_ms},
              {"orgs", orgs_json},
              {"nodes", nodes_json}};
  // Absent when empty, so that networks without settings keep their hash.
  if (!config.empty()) out["config"] = config;
  return out;
}

Hash256 Genesis::hash() const {
  auto text = canonical_json(to_json());
  if (!text) std::abort();  // built from validated parts
  return tagged_hash(kGenesisTag, *text);
}

Result<Genesis> genesis_from_json(const Json& j) {
  if (!j.is_object()) return bad("genesis must be a JSON object");
  Json core_members = j;
  Genesis g;
  if (j.contains("config")) {
    if (auto s = check_config(j["config"]); !s) return s.error();
    g.config = j["config"];
    core_members.erase("config");
  }
  if (!has_exactly(core_members, {"network_id", "created_at_ms", "orgs", "nodes"})) {
    return bad(
        "genesis must be an object with exactly network_id, created_at_ms, orgs, nodes and an "
        "optional config");
  }
  if (!is_string_id(j["network_id"]))
    return bad("\"network_id\" must match [a-z0-9][a-z0-9._-]{0,63}");
  g.network_id = j["network_id"].get<std::string>();
  const Json& created = j["created_at_ms"];
  if (!created.is_number_integer() || created.get<std::int64_t>() < 0 ||
      created.get<std::int64_t>() > kJsonIntegerMax) {
    return bad("\"created_at_ms\" must be a non-negative integer");
  }
  g.created_at_ms = created.get<std::int64_t>();

  const Json& orgs = j["orgs"];
  if (!orgs.is_array() || orgs.empty() || orgs.size() > kGenesisOrgsMax) {
    return bad("\"orgs\" must be an array of 1 to " + std::to_string(kGenesisOrgsMax) +
               " organisations");
  }
  std::set<std::string> org_ids, identity_ids, keys;
  for (std::size_t i = 0; i < orgs.size(); ++i) {
    std::string where = "orgs[" + std::to_string(i) + "]";
    const Json& o = orgs[i];
    if (!has_exactly(o, {"id", "name", "kind", "admins"})) {
      return bad(where + " must have exactly id, name, kind, admins");
    }
    if (!is_string_id(o["id"])) return bad(where + ".id must match [a-z0-9][a-z0-9._-]{0,63}");
    GenesisOrg org;
    org.id = o["id"].get<std::string>();
    if (!org_ids.insert(org.id).second) return bad(where + ": org id \"" + org.id + "\" repeats");
    if (!o["name"].is_string() || o["name"].get<std::string>().empty() ||
        o["name"].get<std::string>().size() > 200) {
      return bad(where + ".name must be a string of 1 to 200 bytes");
    }
    org.name = o["name"].get<std::string>();
    if (!o["kind"].is_string() || !is_org_kind(o["kind"].get<std::string>())) {
      return bad(where + ".kind is not a known kind of organisation");
    }
    org.kind = o["kind"].get<std::string>();
    const Json& admins = o["admins"];
    if (!admins.is_array() || admins.empty() || admins.size() > kGenesisAdminsPerOrgMax) {
      return bad(where + ".admins must be an array of 1 to " +
                 std::to_string(kGenesisAdminsPerOrgMax) + " admins");
    }
    for (std::size_t k = 0; k < admins.size(); ++k) {
      std::string at = where + ".admins[" + std::to_string(k) + "]";
      const Json& a = admins[k];
      if (!has_exactly(a, {"id", "public_key"}) || !is_string_id(a["id"]) ||
          !a["public_key"].is_string()) {
        return bad(at + " must be {\"id\": ID, \"public_key\": HEX}");
      }
      auto key_bytes = hex_decode_canonical(a["public_key"].get<std::string>(), 33);
      if (!key_bytes) return bad(at + ".public_key: " + key_bytes.error().message);
      auto key = PublicKey::parse(*key_bytes);
      if (!key) return bad(at + ".public_key: " + key.error().message);
      std::string id = a["id"].get<std::string>();
      if (!identity_ids.insert(id).second) return bad(at + ": identity id \"" + id + "\" repeats");
      if (!keys.insert(key->hex()).second) return bad(at + ": public key used twice");
      org.admins.push_back({id, *key});
    }
    g.orgs.push_back(std::move(org));
  }

  const Json& nodes = j["nodes"];
  if (!nodes.is_array() || nodes.empty() || nodes.size() > kGenesisNodesMax) {
    return bad("\"nodes\" must be an array of 1 to " + std::to_string(kGenesisNodesMax) + " nodes");
  }
  std::set<std::string> node_ids;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::string where = "nodes[" + std::to_string(i) + "]";
    const Json& n = nodes[i];
    if (!has_exactly(n, {"id", "org", "public_key"}) || !is_string_id(n["id"]) ||
        !n["org"].is_string() || !n["public_key"].is_string()) {
      return bad(where + " must be {\"id\": ID, \"org\": ORG, \"public_key\": HEX}");
    }
    auto key_bytes = hex_decode_canonical(n["public_key"].get<std::string>(), 33);
    if (!key_bytes) return bad(where + ".public_key: " + key_bytes.error().message);
    auto key = PublicKey::parse(*key_bytes);
    if (!key) return bad(where + ".public_key: " + key.error().message);
    if (!keys.insert(key->hex()).second) return bad(where + ": public key used twice");
    GenesisNode node{n["id"].get<std::string>(), n["org"].get<std::string>(), *key};
    if (!node_ids.insert(node.id).second) return bad(where + ": node id repeats");
    if (!org_ids.contains(node.org)) return bad(where + ".org names no genesis org");
    g.nodes.push_back(std::move(node));
  }
  return g;
}

}  // namespace custos
