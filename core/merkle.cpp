#include "core/merkle.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>

namespace custos {
namespace {

using Leaves = std::span<const Hash256>;

constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;

// RFC 6962 splits a list of n > 1 entries at k, the largest power of two
// strictly below n, so the left subtree is always complete.
std::size_t split_point(std::size_t n) {
  return std::bit_floor(n - 1);
}

// Each leaf and each interior node is hashed exactly once, so this is O(n);
// recursion depth is the tree height, at most 64.
Hash256 subtree_root(Leaves d) {
  if (d.empty()) return sha256(ByteView{});
  if (d.size() == 1) return d[0];
  std::size_t k = split_point(d.size());
  return merkle_node_hash(subtree_root(d.first(k)), subtree_root(d.subspan(k)));
}

// PATH(m, D[n]) from RFC 6962 §2.1.1. The recursion descends first and
// appends on the way back so the result runs from the leaf upwards. The
// sibling subtrees visited are disjoint, so total hashing is O(n).
void inclusion_path(std::size_t m, Leaves d, std::vector<Hash256>& out) {
  if (d.size() <= 1) return;
  std::size_t k = split_point(d.size());
  if (m < k) {
    inclusion_path(m, d.first(k), out);
    out.push_back(subtree_root(d.subspan(k)));
  } else {
    inclusion_path(m - k, d.subspan(k), out);
    out.push_back(subtree_root(d.first(k)));
  }
}

// SUBPROOF(m, D[n], b) from RFC 6962 §2.1.2. `known` is the RFC's b: true
// while the current subtree's root is still the verifier's old root itself,
// which it already holds and so need not be sent.
void consistency_subproof(std::size_t m, Leaves d, bool known, std::vector<Hash256>& out) {
  if (m == d.size()) {
    if (!known) out.push_back(subtree_root(d));
    return;
  }
  std::size_t k = split_point(d.size());
  if (m <= k) {
    consistency_subproof(m, d.first(k), known, out);
    out.push_back(subtree_root(d.subspan(k)));
  } else {
    consistency_subproof(m - k, d.subspan(k), false, out);
    out.push_back(subtree_root(d.first(k)));
  }
}

// Shared by both verifiers (RFC 9162 steps "right-shift fn and sn equally
// until ..."): climbs past levels where the node at fn has no right sibling.
void skip_unpaired_levels(std::uint64_t& fn, std::uint64_t& sn) {
  while (fn != 0 && (fn & 1) == 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

Hash256 merkle_leaf_hash(ByteView data) {
  return Sha256().update(ByteView(&kLeafPrefix, 1)).update(data).finish();
}

Hash256 merkle_node_hash(const Hash256& left, const Hash256& right) {
  // One 65-byte buffer instead of three updates: interior hashing dominates
  // proof generation, and this halves the calls into OpenSSL.
  std::array<std::uint8_t, 65> buf;
  buf[0] = kNodePrefix;
  std::copy(left.bytes.begin(), left.bytes.end(), buf.begin() + 1);
  std::copy(right.bytes.begin(), right.bytes.end(), buf.begin() + 33);
  return sha256(ByteView(buf));
}

Hash256 merkle_root(std::span<const Hash256> leaf_hashes) {
  return subtree_root(leaf_hashes);
}

std::vector<Hash256> merkle_inclusion_proof(std::span<const Hash256> leaf_hashes,
                                            std::uint64_t index) {
  if (index >= leaf_hashes.size()) std::abort();
  std::vector<Hash256> out;
  out.reserve(std::bit_width(leaf_hashes.size()));
  inclusion_path(static_cast<std::size_t>(index), leaf_hashes, out);
  return out;
}

std::vector<Hash256> merkle_consistency_proof(std::span<const Hash256> leaf_hashes,
                                              std::uint64_t old_size) {
  if (old_size == 0 || old_size > leaf_hashes.size()) std::abort();
  std::vector<Hash256> out;
  out.reserve(std::bit_width(leaf_hashes.size()) + 1);
  consistency_subproof(static_cast<std::size_t>(old_size), leaf_hashes, true, out);
  return out;
}

bool merkle_verify_inclusion(const Hash256& leaf_hash, std::uint64_t index, std::uint64_t tree_size,
                             std::span<const Hash256> proof, const Hash256& root) {
  if (index >= tree_size) return false;
  // fn walks the leaf's position up the tree, sn the last node's position;
  // when sn reaches 0 we are at the root and the proof must be exhausted.
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash256 r = leaf_hash;
  for (const Hash256& p : proof) {
    // sn halves every step, so an overlong proof fails within 64 iterations.
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = merkle_node_hash(p, r);
      skip_unpaired_levels(fn, sn);
    } else {
      r = merkle_node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool merkle_verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                               const Hash256& old_root, const Hash256& new_root,
                               std::span<const Hash256> proof) {
  if (old_size == 0 || old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;

  // When the old tree is complete its root is a node of the new tree and the
  // generator omitted it; RFC 9162 prepends old_root to the path. Seeding
  // from old_root avoids copying the proof.
  bool old_is_complete = std::has_single_bit(old_size);
  Hash256 fr = old_is_complete ? old_root : proof[0];
  Hash256 sr = fr;
  std::size_t next = old_is_complete ? 0 : 1;

  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  // Climb to the root of the largest complete subtree ending at the old tree's
  // last leaf; that subtree's hash is the seed above.
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash256& c = proof[next];
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      fr = merkle_node_hash(c, fr);
      sr = merkle_node_hash(c, sr);
      skip_unpaired_levels(fn, sn);
    } else {
      sr = merkle_node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace custos
