#include "core/merkle_log.h"

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/merkle.h"

namespace custos {
namespace {

// Store corruption and broken invariants cannot be answered correctly, and a
// wrong root or proof would be signed and handed to courts; stopping is the
// only safe reaction.
[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "merkle_log: fatal: %s\n", why.c_str());
  std::abort();
}

void check_invariant(bool holds, const char* what) {
  if (!holds) die(std::string("invariant violated: ") + what);
}

Error bad_range(const std::string& what) {
  return make_error("bad_range", what);
}

// x with its lowest `count` bits cleared; count may be 64, where a plain
// shift would be undefined.
std::uint64_t clear_low_bits(std::uint64_t x, std::uint32_t count) {
  if (count >= 64) return 0;
  return (x >> count) << count;
}

bool bit_set(std::uint64_t x, std::uint32_t bit) {
  return ((x >> bit) & 1) == 1;
}

Hash256 read_node(const MerkleLogStore& store, std::uint32_t level, std::uint64_t index,
                  std::uint64_t size) {
  std::optional<Hash256> h = store.get(level, index);
  if (!h) {
    die("node (level " + std::to_string(level) + ", index " + std::to_string(index) +
        ") is missing from the store, which should hold the log's first " + std::to_string(size) +
        " leaves");
  }
  return *h;
}

// The first `size` leaves as seen by RFC 6962's recursion. Every range that
// recursion visits, [begin, begin + len), has begin a multiple of the smallest
// power of two >= len, because each split puts a power of two on the left.
// Such a range is either complete (len a power of two, a stored node) or
// ends at `size` and then consists of the trailing peaks of `size`: the
// complete subtrees given by the set bits of size below the lowest set bit of
// begin. Peak hashes and their right-to-left folds are memoised so a proof
// reads each node once and hashes each fold once.
//
// Made with a `plan`, it reads and hashes nothing: it appends the nodes a
// query would read to *plan, in the order it would read them, and answers
// zero hashes. A query run on a planning tree and then on a reading tree
// reads exactly the planned nodes, in that order (the recursion depends on
// sizes and indexes only).
class TreeOfSize {
 public:
  TreeOfSize(const MerkleLogStore& store, std::uint64_t size, std::vector<NodeId>* plan = nullptr)
      : store_(store), size_(size), plan_(plan) {
    for (std::uint32_t level = kMerkleLogLevelMax + 1; level-- > 0;) {
      if (bit_set(size, level))
        peaks_.push_back(Peak{level, clear_low_bits(size, level + 1), {}, {}});
    }
  }

  // MTH of the leaves [begin, begin + len), a range of the recursion (above).
  Hash256 range_hash(std::uint64_t begin, std::uint64_t len) {
    check_invariant(len > 0 && len <= size_ && begin <= size_ - len, "range inside the tree");
    if (std::has_single_bit(len)) {
      auto level = static_cast<std::uint32_t>(std::countr_zero(len));
      check_invariant(begin % len == 0, "complete range is aligned");
      if (bit_set(size_, level) && begin == clear_low_bits(size_, level + 1)) {
        return peak_hash(peak_at(level));
      }
      return node(level, begin >> level);
    }
    check_invariant(begin + len == size_, "an incomplete range ends at the tree's size");
    auto top_level = static_cast<std::uint32_t>(std::bit_width(len) - 1);
    std::size_t i = peak_at(top_level);
    check_invariant(peaks_[i].begin == begin, "an incomplete range starts at a peak");
    return suffix_hash(i);
  }

 private:
  struct Peak {
    std::uint32_t level;
    std::uint64_t begin;
    std::optional<Hash256> hash;    // the peak's own node
    std::optional<Hash256> suffix;  // MTH of this peak and all peaks right of it
  };

  Hash256 node(std::uint32_t level, std::uint64_t index) {
    if (plan_) {
      plan_->push_back(NodeId{level, index});
      return {};
    }
    return read_node(store_, level, index, size_);
  }

  // Peaks run from the highest level down, one per set bit of size, so the
  // peak at `level` comes after one peak per set bit above it.
  std::size_t peak_at(std::uint32_t level) const {
    auto i = static_cast<std::size_t>(std::popcount(clear_low_bits(size_, level + 1)));
    check_invariant(bit_set(size_, level) && i < peaks_.size() && peaks_[i].level == level,
                    "peak exists at level");
    return i;
  }

  Hash256 peak_hash(std::size_t i) {
    Peak& p = peaks_[i];
    if (!p.hash) p.hash = node(p.level, p.begin >> p.level);
    return *p.hash;
  }

  // RFC 6962 splits the trailing peaks at the largest one, so their MTH is
  // node(peak, MTH(rest)): a right fold. Iterating from the right end keeps the
  // recursion depth out of it.
  Hash256 suffix_hash(std::size_t i) {
    // At most 64 peaks: scanning them all is cheaper than tracking which
    // folds are already known.
    for (std::size_t k = peaks_.size(); k-- > i;) {
      if (peaks_[k].suffix) continue;
      if (plan_ || k + 1 == peaks_.size()) {
        peaks_[k].suffix = peak_hash(k);  // a plan only names the peaks
      } else {
        peaks_[k].suffix = merkle_node_hash(peak_hash(k), *peaks_[k + 1].suffix);
      }
    }
    return *peaks_[i].suffix;
  }

  const MerkleLogStore& store_;
  std::uint64_t size_;
  std::vector<NodeId>* plan_;
  std::vector<Peak> peaks_;
};

// The nodes a plan named, read by one get_many, served to the reading run of
// the same query. That run asks for them in the planned order, so each
// lookup is the next entry; anything else is looked for among all of them,
// then in the store (neither happens unless the recursion changes).
class PrefetchedStore final : public MerkleLogStore {
 public:
  PrefetchedStore(const MerkleLogStore& store, std::vector<NodeId> ids)
      : store_(store), ids_(std::move(ids)), hashes_(ids_.size()) {
    store_.get_many(ids_, hashes_);
  }

  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const override {
    const NodeId id{level, index};
    if (next_ < ids_.size() && ids_[next_] == id) return hashes_[next_++];
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == id) return hashes_[i];
    }
    return store_.get(level, index);
  }

 private:
  const MerkleLogStore& store_;
  std::vector<NodeId> ids_;
  std::vector<std::optional<Hash256>> hashes_;
  mutable std::size_t next_ = 0;
};

// Answers `query(tree)` for the tree of `size` leaves with one get_many: a
// planning run names the nodes, a reading run over them answers.
template <typename Query>
auto query_prefetched(const MerkleLogStore& store, std::uint64_t size, Query query) {
  std::vector<NodeId> plan;
  {
    TreeOfSize planning(store, size, &plan);
    query(planning);
  }
  PrefetchedStore prefetched(store, std::move(plan));
  TreeOfSize tree(prefetched, size);
  return query(tree);
}

// PATH(m, D[begin : begin + len]) from RFC 6962 §2.1.1, in the order of
// merkle_inclusion_proof: descend first, append siblings on the way back.
void inclusion_path(TreeOfSize& tree, std::uint64_t m, std::uint64_t begin, std::uint64_t len,
                    std::vector<Hash256>& out) {
  if (len <= 1) return;
  std::uint64_t k = std::bit_floor(len - 1);
  if (m < k) {
    inclusion_path(tree, m, begin, k, out);
    out.push_back(tree.range_hash(begin + k, len - k));
  } else {
    inclusion_path(tree, m - k, begin + k, len - k, out);
    out.push_back(tree.range_hash(begin, k));
  }
}

// SUBPROOF(m, D[begin : begin + len], known) from RFC 6962 §2.1.2; `known` is
// the RFC's b: the current subtree is still the verifier's old tree itself.
void consistency_subproof(TreeOfSize& tree, std::uint64_t m, std::uint64_t begin, std::uint64_t len,
                          bool known, std::vector<Hash256>& out) {
  if (m == len) {
    if (!known) out.push_back(tree.range_hash(begin, len));
    return;
  }
  std::uint64_t k = std::bit_floor(len - 1);
  if (m <= k) {
    consistency_subproof(tree, m, begin, k, known, out);
    out.push_back(tree.range_hash(begin + k, len - k));
  } else {
    consistency_subproof(tree, m - k, begin + k, len - k, false, out);
    out.push_back(tree.range_hash(begin, k));
  }
}

}  // namespace

void MerkleLogStore::get_many(std::span<const NodeId> ids,
                              std::span<std::optional<Hash256>> out) const {
  check_invariant(out.size() == ids.size(), "get_many: one output per node");
  for (std::size_t i = 0; i < ids.size(); ++i) out[i] = get(ids[i].level, ids[i].index);
}

std::optional<Hash256> MemoryMerkleLogStore::get(std::uint32_t level, std::uint64_t index) const {
  if (level >= levels_.size() || index >= levels_[level].size()) return std::nullopt;
  return levels_[level][index];
}

void MemoryMerkleLogStore::apply(std::span<const NodeWrite> writes) {
  for (const NodeWrite& w : writes) {
    if (w.level > kMerkleLogLevelMax) die("apply: level " + std::to_string(w.level) + " too high");
    if (levels_.size() <= w.level) levels_.resize(w.level + 1);
    std::vector<Hash256>& nodes = levels_[w.level];
    if (w.index == nodes.size()) {
      nodes.push_back(w.hash);
    } else if (w.index > nodes.size()) {
      die("apply: node (level " + std::to_string(w.level) + ", index " + std::to_string(w.index) +
          ") leaves a gap after " + std::to_string(nodes.size()));
    } else if (nodes[w.index] != w.hash) {
      die("apply: node (level " + std::to_string(w.level) + ", index " + std::to_string(w.index) +
          ") rewritten with a different hash");
    }
  }
}

std::uint64_t MemoryMerkleLogStore::node_count() const {
  std::uint64_t n = 0;
  for (const auto& nodes : levels_) n += nodes.size();
  return n;
}

MerkleLog::MerkleLog(const MerkleLogStore& store, std::uint64_t size)
    : store_(&store), size_(size) {}

std::vector<NodeWrite> MerkleLog::append(const Hash256& leaf_hash) const {
  return append(std::span<const Hash256>(&leaf_hash, 1));
}

std::vector<NodeWrite> MerkleLog::append(std::span<const Hash256> leaf_hashes) const {
  if (leaf_hashes.size() > std::numeric_limits<std::uint64_t>::max() - size_) {
    die("append: " + std::to_string(leaf_hashes.size()) + " leaves overflow a log of " +
        std::to_string(size_));
  }
  // The frontier is the list of peaks of the growing tree, highest level
  // first. A new leaf is a level-0 peak; while the last two peaks have the same
  // level they form a complete subtree and merge. Peaks of the starting size
  // are read only when a merge needs them; peaks the batch made are in memory,
  // which is how later leaves of a batch see nodes not yet stored.
  struct FrontierNode {
    std::uint32_t level;
    std::uint64_t index;
    std::optional<Hash256> hash;
  };
  std::vector<FrontierNode> frontier;
  for (std::uint32_t level = kMerkleLogLevelMax + 1; level-- > 0;) {
    if (bit_set(size_, level)) {
      frontier.push_back(FrontierNode{level, clear_low_bits(size_, level + 1) >> level, {}});
    }
  }

  std::vector<NodeWrite> writes;
  // One leaf write each, plus at most one merge per leaf and per level.
  writes.reserve(2 * leaf_hashes.size() + kMerkleLogLevelMax);
  std::uint64_t position = size_;
  for (const Hash256& leaf : leaf_hashes) {
    Hash256 h = leaf;
    std::uint32_t level = 0;
    std::uint64_t index = position;
    writes.push_back(NodeWrite{level, index, h});
    while (!frontier.empty() && frontier.back().level == level) {
      const FrontierNode& left = frontier.back();
      check_invariant(left.index + 1 == index && index % 2 == 1, "merging left sibling");
      Hash256 left_hash =
          left.hash ? *left.hash : read_node(*store_, left.level, left.index, size_);
      frontier.pop_back();
      h = merkle_node_hash(left_hash, h);
      ++level;
      index >>= 1;
      writes.push_back(NodeWrite{level, index, h});
    }
    check_invariant(level <= kMerkleLogLevelMax, "level fits in 64-bit sizes");
    frontier.push_back(FrontierNode{level, index, h});
    ++position;
  }
  return writes;
}

Result<Hash256> MerkleLog::root(std::uint64_t tree_size) const {
  if (tree_size > size_) {
    return bad_range("tree size " + std::to_string(tree_size) + " exceeds the log size " +
                     std::to_string(size_));
  }
  if (tree_size == 0) return merkle_root({});
  return query_prefetched(*store_, tree_size,
                          [&](TreeOfSize& tree) { return tree.range_hash(0, tree_size); });
}

Result<std::vector<Hash256>> MerkleLog::inclusion_proof(std::uint64_t index,
                                                        std::uint64_t tree_size) const {
  if (tree_size > size_) {
    return bad_range("tree size " + std::to_string(tree_size) + " exceeds the log size " +
                     std::to_string(size_));
  }
  if (index >= tree_size) {
    return bad_range("leaf index " + std::to_string(index) + " is not below the tree size " +
                     std::to_string(tree_size));
  }
  return query_prefetched(*store_, tree_size, [&](TreeOfSize& tree) {
    std::vector<Hash256> out;
    out.reserve(std::bit_width(tree_size));
    inclusion_path(tree, index, 0, tree_size, out);
    return out;
  });
}

Result<std::vector<Hash256>> MerkleLog::consistency_proof(std::uint64_t old_size,
                                                          std::uint64_t new_size) const {
  if (old_size == 0) return bad_range("old tree size must be at least 1");
  if (old_size > new_size) {
    return bad_range("old tree size " + std::to_string(old_size) + " exceeds the new size " +
                     std::to_string(new_size));
  }
  if (new_size > size_) {
    return bad_range("tree size " + std::to_string(new_size) + " exceeds the log size " +
                     std::to_string(size_));
  }
  return query_prefetched(*store_, new_size, [&](TreeOfSize& tree) {
    std::vector<Hash256> out;
    out.reserve(std::bit_width(new_size) + 1);
    consistency_subproof(tree, old_size, 0, new_size, true, out);
    return out;
  });
}

}  // namespace custos
