// Merkle trees as defined by RFC 6962 §2.1 (Certificate Transparency), with
// SHA-256 and the domain-separation prefixes 0x00 for leaves and 0x01 for
// interior nodes. The prefixes keep a leaf hash from ever being accepted as an
// interior node hash (second-preimage resistance of the tree).
//
// Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2, which are the same
// proofs as RFC 6962 described as iterative algorithms.
//
// All functions are pure and thread-safe. Generators take the leaves already
// hashed with merkle_leaf_hash, so callers can keep hashed leaves and avoid
// rehashing the payloads for every proof.
//
// Proof node order is the RFC's: from the bottom of the tree to the top.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/hash.h"

namespace custos {

// Returns SHA-256(0x00 || data): the hash of one tree entry.
Hash256 merkle_leaf_hash(ByteView data);

// Returns SHA-256(0x01 || left || right): the hash of an interior node whose
// children hash to left and right.
Hash256 merkle_node_hash(const Hash256& left, const Hash256& right);

// Returns MTH(D[n]), the root of the tree whose leaves hash to leaf_hashes (in
// order). An empty tree has root SHA-256("") as in RFC 6962. O(n) hashing.
Hash256 merkle_root(std::span<const Hash256> leaf_hashes);

// Returns the audit path PATH(index, D[n]) of RFC 6962 §2.1.1 for the leaf at
// index in the tree over leaf_hashes: the sibling hashes from the leaf up to
// the root, between 0 and ceil(log2 n) of them. O(n) hashing.
// Precondition: index < leaf_hashes.size(). A violation is a caller bug and
// aborts the process.
std::vector<Hash256> merkle_inclusion_proof(std::span<const Hash256> leaf_hashes,
                                            std::uint64_t index);

// Returns the consistency proof PROOF(old_size, D[n]) of RFC 6962 §2.1.2
// showing that the tree over the first old_size leaves is a prefix of the tree
// over all of leaf_hashes. Empty when old_size == leaf_hashes.size(). O(n)
// hashing.
// Precondition: 0 < old_size <= leaf_hashes.size(). A violation is a caller
// bug and aborts the process.
std::vector<Hash256> merkle_consistency_proof(std::span<const Hash256> leaf_hashes,
                                              std::uint64_t old_size);

// Returns true iff proof shows that a leaf hashing to leaf_hash sits at index
// in the tree of tree_size leaves whose root is root. Any malformed input
// (index >= tree_size, a proof of the wrong length, wrong hashes) gives false;
// this never aborts, so it is safe on untrusted proofs. O(log tree_size) work
// regardless of proof.size().
// The proof binds tree_size only together with root: e.g. a proof for leaf 0
// of a 3-leaf tree also verifies with tree_size 4 against that 3-leaf root.
// Take root and tree_size from the same trusted source (a signed header).
bool merkle_verify_inclusion(const Hash256& leaf_hash, std::uint64_t index, std::uint64_t tree_size,
                             std::span<const Hash256> proof, const Hash256& root);

// Returns true iff proof shows that the tree of old_size leaves with root
// old_root is a prefix of the tree of new_size leaves with root new_root.
// Gives false on any malformed input: old_size == 0, old_size > new_size, a
// proof with missing or extra nodes, wrong hashes. When old_size == new_size
// the answer is true iff proof is empty and the roots are equal. Never aborts,
// so it is safe on untrusted proofs. O(log new_size) work regardless of
// proof.size().
bool merkle_verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                               const Hash256& old_root, const Hash256& new_root,
                               std::span<const Hash256> proof);

}  // namespace custos
