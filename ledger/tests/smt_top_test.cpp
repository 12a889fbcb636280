// SmtTop (ledger/smt_top.h) against the whole tree: random inserts, updates
// and removals applied to a full MemorySmtStore and, as the ledger does, to a
// store that gets only what SmtTop::stage hands it. After every batch the
// top must serve updates and proofs like the full tree, and a top rebuilt
// from the stored nodes alone must give the same root.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/smt.h"
#include "ledger/smt_top.h"

using namespace custos;
using namespace custos::ledger;

namespace {

// What the ledger's RocksDB family holds, ordered by storage key as there.
std::string key_of(const SmtPosition& pos) {
  Bytes b = pos.encode();
  return {b.begin(), b.end()};
}

struct Stored final : SmtStore {
  std::map<std::string, std::pair<SmtPosition, SmtNode>> nodes;
  Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const override {
    auto it = nodes.find(key_of(pos));
    if (it == nodes.end()) return std::optional<SmtNode>();
    return std::optional<SmtNode>(it->second.second);
  }
  // The nodes a rebuild reads: those at depth <= kSmtTopDepth.
  std::vector<std::pair<SmtPosition, SmtNode>> top() const {
    std::vector<std::pair<SmtPosition, SmtNode>> out;
    for (const auto& [key, entry] : nodes) {
      if (entry.first.depth <= kSmtTopDepth) out.push_back(entry);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("the top with the stored nodes is the whole tree, through inserts and removals") {
  std::mt19937_64 rng(7);
  MemorySmtStore full;
  Stored stored;
  SmtTop top;
  REQUIRE(top.rebuild({}, kSmtEmpty).ok());
  Hash256 root = kSmtEmpty;
  // 6,000 possible keys: leaves from near the root (early, while the map
  // is small, and again as removals empty it) to past depth 16.
  constexpr std::uint64_t kKeys = 6000;
  std::map<std::string, Hash256> model;
  int interior_above_seen = 0, at_depth_seen = 0;
  for (int round = 0; round < 120; ++round) {
    CAPTURE(round);
    // Grow for 60 rounds, then shrink mostly, with updates throughout.
    const double remove_share = round < 60 ? 0.1 : 0.7;
    const std::size_t batch = round < 5 ? 3 : 200;
    std::map<std::string, std::optional<Hash256>> changes;
    while (changes.size() < batch) {
      std::string key = "item/K-" + std::to_string(rng() % kKeys);
      std::optional<Hash256> value;
      if (std::uniform_real_distribution<>(0, 1)(rng) >= remove_share) {
        value = sha256(std::string_view(key + "@" + std::to_string(round)));
      }
      changes[key] = value;
    }
    std::vector<SmtChange> list;
    for (const auto& [key, value] : changes) {
      list.push_back({key, value});
      if (value) {
        model[key] = *value;
      } else {
        model.erase(key);
      }
    }
    auto update = smt_update(TopOverStore(top, stored), list);
    REQUIRE(update.ok());
    auto expected = smt_update(full, list);
    REQUIRE(expected.ok());
    REQUIRE(update->root == expected->root);
    root = update->root;

    top.stage(
        update->writes,
        [&](const SmtPosition& pos, const SmtNode& node) {
          stored.nodes.insert_or_assign(key_of(pos), std::pair(pos, node));
        },
        [&](const SmtPosition& pos) { stored.nodes.erase(key_of(pos)); });
    top.apply(update->writes);
    full.apply(expected->writes);

    // What is stored is what format 4 stores: the full tree's nodes, less
    // the interior ones above depth 16, and nothing else.
    std::size_t interior_above = 0;
    for (const auto& [key, entry] : stored.nodes) {
      const auto& [pos, node] = entry;
      CHECK(SmtTop::stored(pos, node));
      CHECK(full.get_node(pos).value() == std::optional<SmtNode>(node));
      if (pos.depth == kSmtTopDepth) ++at_depth_seen;
    }
    for (const auto& [key, value] : model) {
      // Every interior node on a key's path above depth 16 is in the full
      // tree only.
      const Hash256 kh = smt_key_hash(key);
      for (std::size_t d = 0; d < kSmtTopDepth; ++d) {
        auto node = full.get_node(SmtPosition::of(kh, d)).value();
        if (!node) break;
        if (node->kind == SmtNode::Kind::leaf) {
          CHECK(stored.nodes.contains(key_of(SmtPosition::of(kh, d))));
          break;
        }
        CHECK_FALSE(stored.nodes.contains(key_of(SmtPosition::of(kh, d))));
        ++interior_above;
      }
    }
    interior_above_seen += interior_above > 0;

    SmtTop rebuilt;
    auto nodes = stored.top();
    REQUIRE(rebuilt.rebuild(nodes, root).ok());
    CHECK(rebuilt.size() == top.size());

    // Proofs through paths copied out of the top, for present and absent keys.
    for (int i = 0; i < 20; ++i) {
      std::string key = "item/K-" + std::to_string(rng() % (kKeys + 100));
      SmtTop paths;
      top.copy_path(smt_key_hash(key), paths);
      auto lookup = smt_prove(TopOverStore(paths, stored), key);
      REQUIRE(lookup.ok());
      auto want = model.find(key);
      CHECK(lookup->value == (want == model.end() ? std::nullopt : std::optional(want->second)));
      CHECK(smt_verify(root, key, lookup->value, lookup->proof));
    }
  }
  CHECK(interior_above_seen > 100);
  CHECK(at_depth_seen > 0);
  CHECK(model.size() < 3000);  // the removals did shrink the map
}

TEST_CASE("a rebuild refuses stored nodes that are no canonical tree or give another root") {
  MemorySmtStore full;
  Stored stored;
  SmtTop top;
  REQUIRE(top.rebuild({}, kSmtEmpty).ok());
  std::vector<SmtChange> list;
  for (int k = 0; k < 50; ++k) {
    list.push_back({"item/K-" + std::to_string(k), sha256(std::string_view(std::to_string(k)))});
  }
  auto update = smt_update(TopOverStore(top, stored), list);
  REQUIRE(update.ok());
  top.stage(
      update->writes,
      [&](const SmtPosition& pos, const SmtNode& node) {
        stored.nodes.insert_or_assign(key_of(pos), std::pair(pos, node));
      },
      [&](const SmtPosition& pos) { stored.nodes.erase(key_of(pos)); });
  auto nodes = stored.top();
  REQUIRE(nodes.size() == 50);  // fifty leaves, all above depth 16
  REQUIRE(SmtTop().rebuild(nodes, update->root).ok());

  auto refused = [](std::span<const std::pair<SmtPosition, SmtNode>> n, const Hash256& root) {
    SmtTop t;
    auto s = t.rebuild(n, root);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "ledger_io");
    CHECK(t.size() == 0);
    return s.error().message;
  };
  CHECK(refused(nodes, kSmtEmpty).find("give the state root") != std::string::npos);
  auto fewer = nodes;
  fewer.pop_back();
  // (or, where the lost leaf's sibling is a leaf, that it is alone)
  CHECK(refused(fewer, update->root).find("the state map's stored nodes") != std::string::npos);

  // A leaf alone under its parent: the leaf of a one-entry subtree moved
  // one level down.
  const auto& [pos, leaf] = nodes.front();
  auto moved = nodes;
  moved.front().first = pos.child(0);
  auto message = refused(moved, update->root);
  CHECK((message.find("alone") != std::string::npos ||
         message.find("give the state root") != std::string::npos));
  // A node below a leaf.
  auto below = nodes;
  below.push_back({pos.child(1), leaf});
  CHECK(refused(below, update->root).find("below the leaf") != std::string::npos);
  // An interior node above depth 16 is never stored.
  auto interior = nodes;
  interior.push_back({SmtPosition::root(), SmtNode::interior(leaf.hash(), kSmtEmpty)});
  CHECK(refused(interior, update->root).find("interior node above") != std::string::npos);
}
