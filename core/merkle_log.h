// An append-only RFC 6962 Merkle log whose nodes live in a store, so roots and
// proofs for a log of millions of leaves cost O(log n) instead of the O(n) of
// the whole-list functions in core/merkle.h.
//
// The store holds one hash per COMPLETE subtree: the node (level, index) is the
// root of the 2^level leaves index * 2^level .. (index + 1) * 2^level - 1, and
// level 0 holds the leaf hashes themselves. A log of n leaves stores exactly
// the nodes with (index + 1) * 2^level <= n; appending never changes a stored
// node, it only adds new ones. Incomplete subtrees (the right edge of a tree
// whose size is not a power of two) are never stored: RFC 6962 always splits
// so that the left part is complete, and the right edge of a tree of size s is
// the fold of the complete subtrees ("peaks") named by the set bits of s.
//
// Roots and proofs are byte-for-byte those of merkle_root,
// merkle_inclusion_proof and merkle_consistency_proof (RFC 6962 §2.1 MTH,
// PATH and PROOF) over the same leaves, for the current size and for every
// earlier size, so a verifier only needs merkle_verify_inclusion and
// merkle_verify_consistency.
//
// Costs, for a log of n leaves (log n <= 64):
// - append of k leaves: at most popcount(n) store reads, under 2k + 64 writes
//   returned and as many node hashes; one leaf alone: ~1 read, ~2 writes
//   amortised.
// - root(s): popcount(s) reads, popcount(s) - 1 hashes.
// - inclusion_proof / consistency_proof: each proof node is one stored node
//   or a fold of peaks of the requested size; at most 2 * bit_width(s) + 2
//   reads and at most popcount(s) hashes per proof.
// - root and the proofs make their reads in one get_many call: they first
//   name the nodes the answer needs (no hashing), then read them together.
//
// The log does no I/O of its own and never writes to the store: append returns
// the nodes to write so the caller can put them in the same atomic batch as
// the data the leaves stand for. What a leaf commits to is the caller's
// business; the log takes leaf hashes (merkle_leaf_hash of the caller's leaf
// encoding).
//
// Errors: arguments that may come from an untrusted query (sizes, indexes) are
// checked and give Result errors with code "bad_range". A node the log needs
// but the store lacks means the store does not match the size it was given
// (corruption or a caller bug); the log cannot answer correctly and aborts the
// process with a message on stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/hash.h"
#include "core/result.h"

namespace custos {

// A node at level L spans 2^L leaves; with 64-bit leaf counts the largest
// complete subtree a log can ever hold is at level 63.
inline constexpr std::uint32_t kMerkleLogLevelMax = 63;

// One node to store: the hash of the complete subtree (level, index).
struct NodeWrite {
  std::uint32_t level = 0;  // 0..kMerkleLogLevelMax
  std::uint64_t index = 0;  // leftmost leaf is index * 2^level
  Hash256 hash;

  bool operator==(const NodeWrite&) const = default;
};

// Names a stored node: the complete subtree (level, index).
struct NodeId {
  std::uint32_t level = 0;  // 0..kMerkleLogLevelMax
  std::uint64_t index = 0;  // leftmost leaf is index * 2^level

  bool operator==(const NodeId&) const = default;
};

// Where the log's complete-subtree hashes are kept. The ledger implements it
// over RocksDB; MemoryMerkleLogStore below is for tests and tools.
class MerkleLogStore {
 public:
  virtual ~MerkleLogStore() = default;

  // Reads several nodes at once: sets out[i] to what get(ids[i].level,
  // ids[i].index) returns. Precondition: out.size() == ids.size() (checked;
  // aborts). root() and the proofs call it once per query with every stored
  // node the answer needs, so a store whose batched read costs less than as
  // many get() calls (a database's multi-key read, memory it can prefetch)
  // overrides it; this default calls get() for each. Same thread-safety and
  // error rules as get().
  virtual void get_many(std::span<const NodeId> ids, std::span<std::optional<Hash256>> out) const;

  // Returns the stored hash of the complete subtree (level, index), or nullopt
  // if it was never written. The log only asks for nodes that must exist for
  // the size it was given, so nullopt makes it abort: an implementation must
  // not map an I/O failure to nullopt but handle it itself (retry, or stop the
  // process). Called from const methods of MerkleLog; must be safe to call
  // concurrently if MerkleLog is used from several threads.
  virtual std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const = 0;
};

// An in-memory store: one vector of hashes per level, so a log of n leaves
// takes about 2n * 32 bytes. get() is thread-safe against other get() calls,
// not against apply().
class MemoryMerkleLogStore final : public MerkleLogStore {
 public:
  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const override;

  // Stores the writes in order. Each write must append to its level (index ==
  // the number of nodes already at that level) or repeat a node already stored
  // with the same hash, so replaying a batch is harmless. A gap, a different
  // hash for a stored node or a level above kMerkleLogLevelMax is a caller bug
  // and aborts.
  void apply(std::span<const NodeWrite> writes);

  // Number of nodes stored at all levels.
  std::uint64_t node_count() const;

 private:
  std::vector<std::vector<Hash256>> levels_;
};

// A view of the log's first size() leaves in a store. Cheap to copy (a pointer
// and a size). It never changes: after the caller has applied the writes from
// append(), it makes a new view with the new size. All methods are const and
// thread-safe as far as the store's get() is.
class MerkleLog {
 public:
  // The store must outlive the view and must hold every complete subtree of
  // the first `size` leaves (what the appends that grew the log to `size`
  // returned). This is not checked here; a missing node aborts when needed.
  MerkleLog(const MerkleLogStore& store, std::uint64_t size);

  // Number of leaves in the log.
  std::uint64_t size() const { return size_; }

  // Returns the nodes that appending leaf_hash at position size() completes:
  // the leaf itself at level 0, then every complete subtree whose last leaf it
  // is, lowest level first. Does not change this view or the store; calling it
  // twice returns the same writes for the same position.
  // Precondition: size() < 2^64 - 1 (checked; aborts).
  [[nodiscard]] std::vector<NodeWrite> append(const Hash256& leaf_hash) const;

  // Same for leaf_hashes appended in order at positions size(),
  // size() + 1, ...: the concatenation of what one-by-one appends would have
  // returned, computed without reading the nodes the batch itself creates.
  // Empty input gives no writes.
  // Precondition: size() + leaf_hashes.size() fits in 64 bits (checked; aborts).
  [[nodiscard]] std::vector<NodeWrite> append(std::span<const Hash256> leaf_hashes) const;

  // Returns MTH of the first tree_size leaves (RFC 6962 §2.1); tree_size 0
  // gives SHA-256 of the empty string, as merkle_root({}).
  // Errors: "bad_range" if tree_size > size().
  Result<Hash256> root(std::uint64_t tree_size) const;

  // Returns PATH(index, D[tree_size]) of RFC 6962 §2.1.1, equal to
  // merkle_inclusion_proof over the first tree_size leaves: sibling hashes
  // from the leaf up to the root.
  // Errors: "bad_range" if tree_size > size() or index >= tree_size.
  Result<std::vector<Hash256>> inclusion_proof(std::uint64_t index, std::uint64_t tree_size) const;

  // Returns PROOF(old_size, D[new_size]) of RFC 6962 §2.1.2, equal to
  // merkle_consistency_proof over the first new_size leaves; empty when
  // old_size == new_size.
  // Errors: "bad_range" if old_size == 0, old_size > new_size or
  // new_size > size().
  Result<std::vector<Hash256>> consistency_proof(std::uint64_t old_size,
                                                 std::uint64_t new_size) const;

 private:
  const MerkleLogStore* store_;
  std::uint64_t size_;
};

}  // namespace custos
