// Signed heads: what a node attests after it applies a block, and the set of
// node signatures a verifier checks against the network's node membership.
//
// A head statement names the block and the ledger's commitments after it:
//
//   {"network_id", "height", "block_hash", "results_hash",
//    "log_size", "log_root", "state_root"}
//
// hashes as 64 lowercase hex digits, integers as JSON numbers. A node signs
//
//   head digest = tagged_hash("custos/head/v1", JCS(statement))
//
// with its node key (ECDSA secp256k1 over SHA-256 of the 32 digest bytes, as
// PrivateKey::sign does for any message; 64-byte compact r||s, low-S). The
// bytes are in docs/formats.md §14 with a vector.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/json.h"
#include "core/keys.h"
#include "core/result.h"

namespace custos {

inline constexpr std::string_view kHeadTag = "custos/head/v1";

struct HeadStatement {
  std::string network_id;
  std::uint64_t height = 0;
  Hash256 block_hash;
  Hash256 results_hash;
  std::uint64_t log_size = 0;
  Hash256 log_root;
  Hash256 state_root;

  bool operator==(const HeadStatement&) const = default;

  Json to_json() const;
  // Exactly the seven members, well-formed. Errors: "bad_head" naming the member.
  static Result<HeadStatement> from_json(const Json& j);
  // tagged_hash(kHeadTag, JCS(to_json())).
  Hash256 digest() const;
};

// One node's signature over a head statement's digest.
struct HeadSignature {
  std::string node_id;
  Signature signature;  // 64-byte compact, low-S

  bool operator==(const HeadSignature&) const = default;
  Json to_json() const;  // {"node": id, "signature": 128 hex digits}
  // Errors: "bad_head" naming the member.
  static Result<HeadSignature> from_json(const Json& j);
};

// A statement with the node signatures gathered for it, sorted by node id,
// one per node.
struct SignedHead {
  HeadStatement head;
  std::vector<HeadSignature> signatures;

  // {"head": {...}, "signatures": [{"node","signature"}, ...]}
  Json to_json() const;
  // Errors: "bad_head" (shape; signatures not sorted by node or repeated).
  static Result<SignedHead> from_json(const Json& j);
};

HeadSignature sign_head(const std::string& node_id, const PrivateKey& key,
                        const HeadStatement& head);
bool verify_head_signature(const PublicKey& key, const HeadStatement& head,
                           const Signature& signature);

// How many signatures a set of `members` nodes needs: a strict majority,
// members / 2 + 1.
inline std::size_t head_quorum(std::size_t members) { return members / 2 + 1; }

}  // namespace custos
