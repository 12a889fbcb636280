// The genesis document: the network id, the founding organisations with their
// admin keys, and the initial nodes. Every node and every offline verifier
// starts from it; its hash names the network's history.
//
// genesis hash = tagged_hash("custos/genesis/v1", JCS(document)). Block 0's
// prev_hash is the genesis hash (docs/formats.md §6).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/json.h"
#include "core/keys.h"

namespace custos {

inline constexpr std::string_view kGenesisTag = "custos/genesis/v1";
inline constexpr std::size_t kGenesisOrgsMax = 256;
inline constexpr std::size_t kGenesisAdminsPerOrgMax = 16;
inline constexpr std::size_t kGenesisNodesMax = 64;

// Kinds of organisation; they say what an org is, roles say what its people
// may do.
inline constexpr std::string_view kOrgKinds[] = {
    "police", "europol",        "eurojust", "prosecution", "customs", "forensic_lab",
    "court",  "transfer_agent", "fiu",      "museum",      "dealer",  "other"};
bool is_org_kind(std::string_view kind);

struct GenesisAdmin {
  std::string id;  // identity id, [a-z0-9][a-z0-9._-]{0,63}, unique network-wide
  PublicKey public_key;
};

struct GenesisOrg {
  std::string id;                    // [a-z0-9][a-z0-9._-]{0,63}
  std::string name;                  // display name, 1..200 bytes
  std::string kind;                  // one of kOrgKinds
  std::vector<GenesisAdmin> admins;  // at least one
};

struct GenesisNode {
  std::string id;        // [a-z0-9][a-z0-9._-]{0,63}
  std::string org;       // the org that runs it
  PublicKey public_key;  // the key it signs heads with (docs/formats.md §14)
};

struct Genesis {
  std::string network_id;
  std::int64_t created_at_ms = 0;  // block 0's timestamp
  std::vector<GenesisOrg> orgs;
  std::vector<GenesisNode> nodes;  // at least one
  // Network-wide chaincode settings (optional member "config"; absent and
  // empty are the same). Known sections:
  //   "funds": {"r16_threshold_minor": {"EUR": 100000, ...},   FATF R16 threshold
  //                                                            per ISO 4217 code
  //             "structuring": {"count": 5, "window_ms": 86400000}}
  // Chaincode reads it from the "network" state record.
  Json config = Json::object();

  Json to_json() const;
  Hash256 hash() const;
};

// Checks the document: exactly the known members (config optional), valid ids, known org kinds,
// unique org / identity / node ids, no key used twice across admins and
// nodes, nodes naming known orgs, bounds above. Errors: "bad_genesis" naming the member.
Result<Genesis> genesis_from_json(const Json& j);

}  // namespace custos
