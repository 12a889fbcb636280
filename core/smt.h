// A compact sparse Merkle tree: an authenticated map from byte-string keys to
// 32-byte values, with membership and non-membership proofs that an offline
// verifier can check against a root alone. The exact bytes are specified in
// docs/state-proofs.md, which a verifier in another language can follow.
//
// Shape. Each key sits on the path given by the 256 bits of
// key_hash = H("custos/smt-key/v1", key), most significant bit first (0 = left).
// A subtree holding no entry is the constant kSmtEmpty; a subtree holding
// exactly one entry is that entry's leaf, wherever the subtree sits (so the
// tree is about log2(n) deep, not 256); any other subtree is an interior node
// over its two halves. The root is therefore a function of the set of
// (key, value) pairs alone, never of the order in which they were written.
//
// Storage. The functions here never write: they read nodes through SmtStore
// and return the writes that bring the store to the new version, so that the
// caller can commit them in the same atomic batch as the block that caused
// them. Nodes are addressed by position (depth, path prefix), so a new version
// overwrites the old one in place: only the current version can be read or
// proved. Roots of past versions stay meaningful as commitments (a verifier
// checks a proof against the root in a signed header), but proofs can only be
// produced for the version the store currently holds.
//
// Thread-safety: every function is pure given its store; concurrent calls are
// safe when the store's get_node is safe to call concurrently and nobody
// applies writes meanwhile. MemorySmtStore is such a store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/result.h"

namespace custos {

// Keys are history keys such as "custody/item/E-2026-1"; the bound keeps the
// work per key small and rejects garbage early. The empty key is refused.
inline constexpr std::size_t kSmtKeyBytesMax = 1024;
// One key_hash bit per level: no path is longer, so no proof is either.
inline constexpr std::size_t kSmtDepthMax = 256;
// A block touches at most a few thousand keys; this bounds one update's
// memory and time with a wide margin.
inline constexpr std::size_t kSmtBatchChangesMax = 65536;

// The hash of an empty subtree and the root of the empty map: 32 zero bytes.
inline constexpr Hash256 kSmtEmpty{};

// H("custos/smt-key/v1", key): the key's path from the root.
Hash256 smt_key_hash(std::string_view key);
// H("custos/smt-leaf/v1", key_hash || value).
Hash256 smt_leaf_hash(const Hash256& key_hash, const Hash256& value);
// H("custos/smt-node/v1", left || right).
Hash256 smt_node_hash(const Hash256& left, const Hash256& right);

// Where a node sits: its depth (0 = root) and the first `depth` bits of every
// key_hash below it; the remaining bits of `path` are always zero, so one
// position has one representation. depth is at most kSmtDepthMax.
struct SmtPosition {
  std::uint16_t depth = 0;
  Hash256 path{};

  static SmtPosition root() { return {}; }
  // Precondition: depth <= kSmtDepthMax (checked; a violation aborts).
  static SmtPosition of(const Hash256& key_hash, std::size_t depth);
  // The child on side `bit` (0 left, 1 right). Precondition: depth <
  // kSmtDepthMax (checked; a violation aborts).
  SmtPosition child(int bit) const;

  // Storage key: depth as 2 bytes big-endian, then the ceil(depth/8) bytes of
  // path that hold the prefix (unused low bits zero). Distinct positions
  // have distinct encodings; see docs/state-proofs.md §4.
  Bytes encode() const;
  // The inverse of encode(). Refuses ("bad_smt_position") a depth over
  // kSmtDepthMax, a length that does not match the depth, and set bits past
  // the depth: only encode()'s own output comes back.
  static Result<SmtPosition> decode(ByteView bytes);

  bool operator==(const SmtPosition&) const = default;
};

struct SmtPositionHasher {
  std::size_t operator()(const SmtPosition& p) const;
};

// A stored node. A leaf holds its entry; an interior node holds the hashes of
// its two children (kSmtEmpty for an empty side), so that updates and proofs
// never read a child only to learn its hash.
struct SmtNode {
  enum class Kind : std::uint8_t { leaf = 1, interior = 2 };
  Kind kind = Kind::leaf;
  Hash256 a{};  // leaf: key_hash; interior: left child's hash
  Hash256 b{};  // leaf: value;    interior: right child's hash

  static SmtNode leaf(const Hash256& key_hash, const Hash256& value) {
    return {Kind::leaf, key_hash, value};
  }
  static SmtNode interior(const Hash256& left, const Hash256& right) {
    return {Kind::interior, left, right};
  }
  // smt_leaf_hash or smt_node_hash of the contents: one SHA-256.
  Hash256 hash() const;

  // Storage value: one kind byte (0x01 leaf, 0x02 interior), then a, then b:
  // 65 bytes.
  Bytes encode() const;
  // Refuses ("bad_smt_node") any other length or kind byte.
  static Result<SmtNode> decode(ByteView bytes);

  bool operator==(const SmtNode&) const = default;
};

// Read access to the current version of the tree. An absent position is an
// empty subtree (or lies below a leaf). get_node returns the node, nullopt if
// there is none, or an error the implementation chooses (e.g. an I/O error),
// which the SMT functions pass on unchanged.
class SmtStore {
 public:
  virtual ~SmtStore() = default;
  [[nodiscard]] virtual Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const = 0;
};

// What one update changes in the store. Each position appears at most once
// across puts and deletes, so the two lists can be applied in any order
// (e.g. into one RocksDB WriteBatch). A delete names a position that held a
// node before the update. Applying these to any other version than the one
// the update read corrupts the tree.
struct SmtWrites {
  std::vector<std::pair<SmtPosition, SmtNode>> puts;
  std::vector<SmtPosition> deletes;
};

// An in-memory SmtStore for tests, tools and benchmarks. get_node never
// fails. Not thread-safe while apply runs; concurrent get_node calls are safe.
class MemorySmtStore final : public SmtStore {
 public:
  [[nodiscard]] Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const override;
  void apply(const SmtWrites& writes);
  std::size_t node_count() const { return nodes_.size(); }

 private:
  std::unordered_map<SmtPosition, SmtNode, SmtPositionHasher> nodes_;
};

// One change: set key to value, or remove it when value is nullopt (removing
// an absent key is allowed and changes nothing).
struct SmtChange {
  std::string key;
  std::optional<Hash256> value;
};

struct SmtUpdate {
  Hash256 root;                  // of the map after the changes
  SmtWrites writes;              // bring the store from the version read to that map
  std::uint64_t hashes = 0;      // SHA-256 computations spent, for metrics
  std::uint64_t node_reads = 0;  // get_node calls made
};

// Applies a batch of changes to the map held in store and returns the new
// root with the writes that produce it; store itself is not modified. Work is
// about (2 + depth) hashes per changed key, less where paths share nodes.
// Errors: "smt_bad_key" (a key empty or longer than kSmtKeyBytesMax),
// "smt_duplicate_key" (a key twice in one batch), "smt_batch_too_large" (more
// than kSmtBatchChangesMax changes), "smt_store_corrupt" (the store's nodes do
// not form a tree of this shape), or an error from get_node.
[[nodiscard]] Result<SmtUpdate> smt_update(const SmtStore& store,
                                           std::span<const SmtChange> changes);

// The root of the map held in store: kSmtEmpty when empty. Errors: an error
// from get_node.
[[nodiscard]] Result<Hash256> smt_root(const SmtStore& store);

// The value of key, or nullopt if the map has none. Errors: "smt_bad_key",
// "smt_store_corrupt", or an error from get_node.
[[nodiscard]] Result<std::optional<Hash256>> smt_get(const SmtStore& store, std::string_view key);

// A proof about one key against one root. siblings[i] is the hash of the
// sibling of the node at depth i + 1 on the key's path (so siblings[0] is a
// child of the root); the path ends at depth siblings.size() in one of:
// - the key's own leaf (membership; leaf is nullopt, the verifier is given
//   the value),
// - an empty subtree (non-membership; leaf is nullopt),
// - the leaf of another key (non-membership; leaf holds that leaf's entry).
struct SmtProof {
  struct Leaf {
    Hash256 key_hash;
    Hash256 value;
    bool operator==(const Leaf&) const = default;
  };
  std::vector<Hash256> siblings;
  std::optional<Leaf> leaf;

  bool operator==(const SmtProof&) const = default;
};

struct SmtLookup {
  std::optional<Hash256> value;  // nullopt when the key is absent
  SmtProof proof;                // shows exactly that, against smt_root(store)
};

// The key's value with a proof of it (or of its absence) against the
// current root. Reads one node per level; computes no hashes. Errors:
// "smt_bad_key", "smt_store_corrupt", or an error from get_node.
[[nodiscard]] Result<SmtLookup> smt_prove(const SmtStore& store, std::string_view key);

// True iff proof shows that in the map with this root, key maps to *value
// (value set) or key is absent (value nullopt). Any malformed proof gives
// false: more than kSmtDepthMax siblings, a leaf alongside a value, a leaf
// for the key itself or off the key's path, a deepest sibling that is
// kSmtEmpty (never in a canonical tree), a bad key. Pure and total: never
// aborts, at most kSmtDepthMax + 2 hashes. Safe on untrusted input.
[[nodiscard]] bool smt_verify(const Hash256& root, std::string_view key,
                              const std::optional<Hash256>& value, const SmtProof& proof);

// {"siblings": [hex, ...], "leaf": null | {"key_hash": hex, "value": hex}}
// with every hash as 64 lowercase hex digits; see docs/state-proofs.md §3.
Json smt_proof_to_json(const SmtProof& proof);
// Refuses ("bad_smt_proof") anything but that shape: missing or extra
// members, more than kSmtDepthMax siblings, a hash that is not 64 lowercase
// hex digits, a wrong type anywhere. Says nothing about whether the proof
// verifies.
[[nodiscard]] Result<SmtProof> smt_proof_from_json(const Json& json);
// parse_json_strict, then smt_proof_from_json; a syntax error is "bad_json".
[[nodiscard]] Result<SmtProof> smt_proof_parse(std::string_view text);

}  // namespace custos
