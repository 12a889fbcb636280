// The top of the ledger's state map, held in memory (ledger format 4).
//
// The state map (core/smt.h) is stored by position, one record per node.
// The interior nodes near the root are rewritten by nearly every block (the
// paths of a block's keys meet there), and storing them was most of a
// commit's RocksDB writes. So the ledger stores every node at kSmtTopDepth
// and below, and every leaf wherever it sits, but no interior node above
// kSmtTopDepth: those live in an SmtTop only, which holds every node at
// depth <= kSmtTopDepth (at most 2^17 - 1 = 131,071, about 17 MiB) and is
// rebuilt on open from the stored ones. docs/state-proofs.md §4.
//
// Not thread-safe: the ledger changes it under its commit mutex and lets
// state proofs copy paths out of it under another (rocksdb_ledger.cpp).
#pragma once

#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

#include "core/hash.h"
#include "core/result.h"
#include "core/smt.h"

namespace custos::ledger {

inline constexpr std::uint16_t kSmtTopDepth = 16;

class SmtTop {
 public:
  // Whether format 4 stores this node: any at kSmtTopDepth or deeper, and
  // leaves.
  static bool stored(const SmtPosition& pos, const SmtNode& node) {
    return pos.depth >= kSmtTopDepth || node.kind == SmtNode::Kind::leaf;
  }

  // Replaces the top with the one the stored nodes at depth <= kSmtTopDepth
  // give (`stored`, in any order; each position once, none of them an
  // interior node above kSmtTopDepth): the interior nodes above are rebuilt
  // bottom up. Refuses ("ledger_io") nodes that do not form a canonical
  // tree (a node below a leaf, a leaf alone under an interior node), or one
  // whose root is not `root`; the top is then empty.
  [[nodiscard]] Status rebuild(std::span<const std::pair<SmtPosition, SmtNode>> stored,
                               const Hash256& root);

  // The node at pos, or that there is none; nullopt if pos is deeper than
  // the top (ask the store).
  std::optional<std::optional<SmtNode>> find(const SmtPosition& pos) const {
    if (pos.depth > kSmtTopDepth) return std::nullopt;
    auto it = nodes_.find(pos);
    if (it == nodes_.end()) return std::optional<SmtNode>();
    return std::optional<SmtNode>(it->second);
  }

  // Hands the store's part of `writes` (made against this top) to put(pos,
  // node) and del(pos): every write but those of interior nodes above
  // kSmtTopDepth. Where such a node is put in the place of a leaf, the
  // stored leaf is deleted. Call before apply().
  template <typename Put, typename Delete>
  void stage(const SmtWrites& writes, Put&& put, Delete&& del) const {
    auto was_leaf = [this](const SmtPosition& pos) {
      auto it = nodes_.find(pos);
      return it != nodes_.end() && it->second.kind == SmtNode::Kind::leaf;
    };
    for (const auto& [pos, node] : writes.puts) {
      if (stored(pos, node)) {
        put(pos, node);
      } else if (was_leaf(pos)) {
        del(pos);
      }
    }
    for (const SmtPosition& pos : writes.deletes) {
      if (pos.depth >= kSmtTopDepth || was_leaf(pos)) del(pos);
    }
  }

  // Applies `writes` to the top, once the store has them.
  void apply(const SmtWrites& writes);

  // Copies into `out` the nodes on key_hash's path down to kSmtTopDepth, or
  // to where the path ends: all that a proof of a key with this hash reads
  // from the top (smt_prove reads its path alone), so that `out` can serve
  // the proof while this top changes.
  void copy_path(const Hash256& key_hash, SmtTop& out) const;

  std::size_t size() const { return nodes_.size(); }

 private:
  std::unordered_map<SmtPosition, SmtNode, SmtPositionHasher> nodes_;
};

// The state map as the ledger holds it: nodes down to kSmtTopDepth from an
// SmtTop (the latest top, or paths copied out of it), deeper ones from
// `rest` (the stored nodes).
class TopOverStore final : public SmtStore {
 public:
  TopOverStore(const SmtTop& top, const SmtStore& rest) : top_(top), rest_(rest) {}
  [[nodiscard]] Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const override {
    if (auto hit = top_.find(pos)) return *hit;
    return rest_.get_node(pos);
  }

 private:
  const SmtTop& top_;
  const SmtStore& rest_;
};

}  // namespace custos::ledger
