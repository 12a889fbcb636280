#include "ledger/smt_top.h"

#include <string>
#include <vector>

namespace custos::ledger {

Status SmtTop::rebuild(std::span<const std::pair<SmtPosition, SmtNode>> stored,
                       const Hash256& root) {
  nodes_.clear();
  auto corrupt = [this](const std::string& why) {
    nodes_.clear();
    return make_error("ledger_io", "the state map's stored nodes " + why);
  };
  std::vector<std::vector<SmtPosition>> at(kSmtTopDepth + 1);
  for (const auto& [pos, node] : stored) {
    if (pos.depth > kSmtTopDepth || !SmtTop::stored(pos, node)) {
      return corrupt("include an interior node above depth " + std::to_string(kSmtTopDepth) +
                     " or a node below it");
    }
    if (!nodes_.emplace(pos, node).second) return corrupt("name one position twice");
    at[pos.depth].push_back(pos);
  }
  // Bottom up: the parent of each node at a depth is an interior node over
  // the hashes of its two halves.
  for (std::size_t depth = kSmtTopDepth; depth > 0; --depth) {
    std::unordered_map<SmtPosition, SmtNode, SmtPositionHasher> parents;
    std::unordered_map<SmtPosition, int, SmtPositionHasher> leaf_children;
    for (const SmtPosition& pos : at[depth]) {
      const SmtNode& node = nodes_.at(pos);
      const SmtPosition parent = SmtPosition::of(pos.path, depth - 1);
      if (nodes_.contains(parent)) {
        return corrupt("hold a node below the leaf at depth " + std::to_string(depth - 1));
      }
      SmtNode& p =
          parents.try_emplace(parent, SmtNode::interior(kSmtEmpty, kSmtEmpty)).first->second;
      const bool right = pos.path.bytes[(depth - 1) / 8] & (0x80 >> ((depth - 1) % 8));
      (right ? p.b : p.a) = node.hash();
      if (node.kind == SmtNode::Kind::leaf) ++leaf_children[parent];
    }
    for (const auto& [parent, node] : parents) {
      // A subtree of one entry is that entry's leaf, never an interior node
      // over it.
      if ((node.a == kSmtEmpty || node.b == kSmtEmpty) && leaf_children[parent] == 1) {
        return corrupt("hold a leaf alone under an interior node at depth " +
                       std::to_string(depth - 1));
      }
      nodes_.emplace(parent, node);
      at[depth - 1].push_back(parent);
    }
  }
  auto top = nodes_.find(SmtPosition::root());
  const Hash256 rebuilt = top == nodes_.end() ? kSmtEmpty : top->second.hash();
  if (rebuilt != root) {
    return corrupt("give the state root " + rebuilt.hex() + ", the head says " + root.hex());
  }
  return ok_status();
}

void SmtTop::apply(const SmtWrites& writes) {
  for (const auto& [pos, node] : writes.puts) {
    if (pos.depth <= kSmtTopDepth) nodes_.insert_or_assign(pos, node);
  }
  for (const SmtPosition& pos : writes.deletes) {
    if (pos.depth <= kSmtTopDepth) nodes_.erase(pos);
  }
}

void SmtTop::copy_path(const Hash256& key_hash, SmtTop& out) const {
  for (std::size_t depth = 0; depth <= kSmtTopDepth; ++depth) {
    const SmtPosition pos = SmtPosition::of(key_hash, depth);
    auto it = nodes_.find(pos);
    if (it == nodes_.end()) return;  // an empty subtree: the path ends
    out.nodes_.insert_or_assign(pos, it->second);
    if (it->second.kind == SmtNode::Kind::leaf) return;
  }
}

}  // namespace custos::ledger
