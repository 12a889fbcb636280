#include "core/smt.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <tuple>

namespace custos {
namespace {

constexpr std::string_view kKeyTag = "custos/smt-key/v1";
constexpr std::string_view kLeafTag = "custos/smt-leaf/v1";
constexpr std::string_view kNodeTag = "custos/smt-node/v1";

// A broken invariant means the code is wrong, not the input: stop.
void check_invariant(bool holds) {
  if (!holds) std::abort();
}

Hash256 hash_pair(std::string_view tag, const Hash256& first, const Hash256& second) {
  std::array<std::uint8_t, 64> payload;
  std::copy(first.bytes.begin(), first.bytes.end(), payload.begin());
  std::copy(second.bytes.begin(), second.bytes.end(), payload.begin() + 32);
  return tagged_hash(
      tag, std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

// Bit i of a hash, most significant bit of byte 0 first: the side taken at
// depth i on the way down.
int bit_at(const Hash256& h, std::size_t i) {
  return (h.bytes[i / 8] >> (7 - i % 8)) & 1;
}

bool shares_prefix(const Hash256& a, const Hash256& b, std::size_t bits) {
  std::size_t whole = bits / 8;
  if (!std::equal(a.bytes.begin(), a.bytes.begin() + whole, b.bytes.begin())) return false;
  std::size_t rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a.bytes[whole] & mask) == (b.bytes[whole] & mask);
}

bool key_ok(std::string_view key) {
  return !key.empty() && key.size() <= kSmtKeyBytesMax;
}

Error bad_key(std::string_view key) {
  return make_error("smt_bad_key", "SMT key of " + std::to_string(key.size()) +
                                       " bytes (allowed: 1.." + std::to_string(kSmtKeyBytesMax) +
                                       ")");
}

Error corrupt(const SmtPosition& pos, const std::string& why) {
  return make_error("smt_store_corrupt", "SMT node at depth " + std::to_string(pos.depth) +
                                             " path " + pos.path.hex() + ": " + why);
}

// What a stored node must look like at its position, checkable without
// reading further. A failure is damage to the store (or a store that is not
// this tree's), reported as an error because the store is outside our code.
Status check_node(const SmtPosition& pos, const SmtNode& node) {
  if (node.kind == SmtNode::Kind::leaf) {
    if (!shares_prefix(node.a, pos.path, pos.depth)) return corrupt(pos, "leaf off its path");
    return ok_status();
  }
  if (node.kind != SmtNode::Kind::interior) return corrupt(pos, "unknown kind");
  if (pos.depth >= kSmtDepthMax) return corrupt(pos, "interior node below the last level");
  if (node.a == kSmtEmpty && node.b == kSmtEmpty) return corrupt(pos, "interior node of nothing");
  return ok_status();
}

// A read that must find a node because its parent names a non-empty child.
Result<SmtNode> read_required(const SmtStore& store, const SmtPosition& pos) {
  auto got = store.get_node(pos);
  if (!got) return got.error();
  if (!got->has_value()) return corrupt(pos, "missing node under a non-empty child hash");
  Status shape = check_node(pos, **got);
  if (!shape) return shape.error();
  return **got;
}

// One change after hashing its key; the batch is sorted by key_hash so that
// each subtree's changes are a contiguous run.
struct Entry {
  Hash256 key_hash;
  std::optional<Hash256> value;
};

// The new content of a subtree. Where a lone leaf finally sits depends on
// its ancestors (it rises until it has a non-empty sibling), so the function
// that computes a Sub does not store it; the parent places it.
struct Sub {
  enum class Kind { empty, leaf, interior, kept };
  Kind kind = Kind::empty;
  SmtNode node;              // for leaf and interior
  Hash256 hash = kSmtEmpty;  // for every kind; kept: the unchanged hash
};

class Updater {
 public:
  explicit Updater(const SmtStore& store) : store_(store) {}

  Result<std::optional<SmtNode>> read(const SmtPosition& pos) {
    ++out_.node_reads;
    auto got = store_.get_node(pos);
    if (!got) return got.error();
    if (got->has_value()) {
      Status shape = check_node(pos, **got);
      if (!shape) return shape.error();
    }
    return got;
  }

  Result<SmtNode> read_required(const SmtPosition& pos) {
    ++out_.node_reads;
    return custos::read_required(store_, pos);
  }

  Hash256 hash_of(const SmtNode& node) {
    ++out_.hashes;
    return node.hash();
  }

  Hash256 key_hash(std::string_view key) {
    ++out_.hashes;
    return smt_key_hash(key);
  }

  Sub make(Sub::Kind kind, const SmtNode& node) { return Sub{kind, node, hash_of(node)}; }

  // Records the final content of pos; `old` is what the store holds there.
  void place(const SmtPosition& pos, const std::optional<SmtNode>& old, const Sub& sub) {
    switch (sub.kind) {
      case Sub::Kind::kept:
        return;
      case Sub::Kind::empty:
        if (old) out_.writes.deletes.push_back(pos);
        return;
      case Sub::Kind::leaf:
      case Sub::Kind::interior:
        if (!old || *old != sub.node) out_.writes.puts.emplace_back(pos, sub.node);
        return;
    }
  }

  // A subtree made from scratch out of `leaves` (sorted, distinct, all under
  // pos): nothing is stored below pos yet, so children are placed fresh.
  Sub build(const SmtPosition& pos, std::span<const SmtNode> leaves) {
    if (leaves.empty()) return Sub{};
    if (leaves.size() == 1) return make(Sub::Kind::leaf, leaves[0]);
    // Two distinct key_hashes under one prefix differ below it, so the
    // prefix is shorter than a whole key_hash.
    check_invariant(pos.depth < kSmtDepthMax);
    auto right = std::partition_point(leaves.begin(), leaves.end(), [&](const SmtNode& leaf) {
      return bit_at(leaf.a, pos.depth) == 0;
    });
    auto split = static_cast<std::size_t>(right - leaves.begin());
    Sub l = build(pos.child(0), leaves.first(split));
    Sub r = build(pos.child(1), leaves.subspan(split));
    place(pos.child(0), std::nullopt, l);
    place(pos.child(1), std::nullopt, r);
    return make(Sub::Kind::interior, SmtNode::interior(l.hash, r.hash));
  }

  // The subtree at pos after `changes` (sorted, non-empty, all under pos);
  // `old` is what the store holds at pos. Every position strictly below pos
  // is brought up to date here; pos itself is left to the caller.
  Result<Sub> update(const SmtPosition& pos, const std::optional<SmtNode>& old,
                     std::span<const Entry> changes) {
    if (!old || old->kind == SmtNode::Kind::leaf) {
      // Nothing or a single leaf below: cheapest to rebuild from the merged
      // entries (the old leaf unless a change names its key, plus inserts).
      std::vector<SmtNode> leaves;
      leaves.reserve(changes.size() + 1);
      bool old_pending = old.has_value();
      for (const Entry& e : changes) {
        if (old_pending && old->a <= e.key_hash) {
          if (old->a != e.key_hash) leaves.push_back(*old);
          old_pending = false;
        }
        if (e.value) leaves.push_back(SmtNode::leaf(e.key_hash, *e.value));
      }
      if (old_pending) leaves.push_back(*old);
      return build(pos, leaves);
    }

    auto right = std::partition_point(changes.begin(), changes.end(), [&](const Entry& e) {
      return bit_at(e.key_hash, pos.depth) == 0;
    });
    auto split = static_cast<std::size_t>(right - changes.begin());
    std::array<std::span<const Entry>, 2> part = {changes.first(split), changes.subspan(split)};
    std::array<Hash256, 2> old_hash = {old->a, old->b};
    std::array<std::optional<SmtNode>, 2> old_child;
    std::array<Sub, 2> side;
    for (int s = 0; s < 2; ++s) {
      if (part[s].empty()) {
        side[s] = old_hash[s] == kSmtEmpty ? Sub{} : Sub{Sub::Kind::kept, {}, old_hash[s]};
        continue;
      }
      if (old_hash[s] != kSmtEmpty) {
        auto child = read_required(pos.child(s));
        if (!child) return child.error();
        old_child[s] = *child;
      }
      auto sub = update(pos.child(s), old_child[s], part[s]);
      if (!sub) return sub.error();
      side[s] = *sub;
    }

    bool empty0 = side[0].kind == Sub::Kind::empty;
    bool empty1 = side[1].kind == Sub::Kind::empty;
    if (empty0 && empty1) {
      place(pos.child(0), old_child[0], side[0]);
      place(pos.child(1), old_child[1], side[1]);
      return Sub{};
    }
    if (empty0 || empty1) {
      int full = empty0 ? 1 : 0;
      if (side[full].kind == Sub::Kind::kept) {
        // Whether the untouched side is a lone leaf decides if it rises.
        auto child = read_required(pos.child(full));
        if (!child) return child.error();
        old_child[full] = *child;
        if (child->kind == SmtNode::Kind::leaf)
          side[full] = Sub{Sub::Kind::leaf, *child, old_hash[full]};
      }
      if (side[full].kind == Sub::Kind::leaf) {
        // A lone leaf under an otherwise empty node takes the node's place.
        place(pos.child(0), old_child[0], Sub{});
        place(pos.child(1), old_child[1], Sub{});
        return side[full];
      }
    }
    place(pos.child(0), old_child[0], side[0]);
    place(pos.child(1), old_child[1], side[1]);
    return make(Sub::Kind::interior, SmtNode::interior(side[0].hash, side[1].hash));
  }

  SmtUpdate& out() { return out_; }

 private:
  const SmtStore& store_;
  SmtUpdate out_;
};

// Each position written at most once is what lets the caller apply puts and
// deletes in any order; the recursion guarantees it, this proves it.
void check_writes_disjoint(const SmtWrites& writes) {
  std::vector<const SmtPosition*> all;
  all.reserve(writes.puts.size() + writes.deletes.size());
  for (const auto& [pos, node] : writes.puts) all.push_back(&pos);
  for (const auto& pos : writes.deletes) all.push_back(&pos);
  auto less = [](const SmtPosition* x, const SmtPosition* y) {
    return std::tie(x->depth, x->path) < std::tie(y->depth, y->path);
  };
  std::sort(all.begin(), all.end(), less);
  for (std::size_t i = 1; i < all.size(); ++i) check_invariant(!(*all[i - 1] == *all[i]));
}

}  // namespace

Hash256 smt_key_hash(std::string_view key) {
  return tagged_hash(kKeyTag, key);
}

Hash256 smt_leaf_hash(const Hash256& key_hash, const Hash256& value) {
  return hash_pair(kLeafTag, key_hash, value);
}

Hash256 smt_node_hash(const Hash256& left, const Hash256& right) {
  return hash_pair(kNodeTag, left, right);
}

SmtPosition SmtPosition::of(const Hash256& key_hash, std::size_t depth) {
  if (depth > kSmtDepthMax) std::abort();
  SmtPosition pos;
  pos.depth = static_cast<std::uint16_t>(depth);
  std::size_t whole = depth / 8;
  std::copy(key_hash.bytes.begin(), key_hash.bytes.begin() + whole, pos.path.bytes.begin());
  if (depth % 8 != 0) {
    pos.path.bytes[whole] =
        key_hash.bytes[whole] & static_cast<std::uint8_t>(0xff << (8 - depth % 8));
  }
  return pos;
}

SmtPosition SmtPosition::child(int bit) const {
  if (depth >= kSmtDepthMax) std::abort();
  SmtPosition c = *this;
  if (bit != 0) c.path.bytes[depth / 8] |= static_cast<std::uint8_t>(0x80 >> (depth % 8));
  c.depth = static_cast<std::uint16_t>(depth + 1);
  return c;
}

Bytes SmtPosition::encode() const {
  Bytes out;
  out.reserve(2 + 32);
  out.push_back(static_cast<std::uint8_t>(depth >> 8));
  out.push_back(static_cast<std::uint8_t>(depth & 0xff));
  out.insert(out.end(), path.bytes.begin(), path.bytes.begin() + (depth + 7) / 8);
  return out;
}

Result<SmtPosition> SmtPosition::decode(ByteView bytes) {
  if (bytes.size() < 2) {
    return make_error("bad_smt_position", "position of " + std::to_string(bytes.size()) + " bytes");
  }
  SmtPosition pos;
  pos.depth = static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
  if (pos.depth > kSmtDepthMax || bytes.size() != 2 + (pos.depth + 7u) / 8) {
    return make_error("bad_smt_position", "position of depth " + std::to_string(pos.depth) +
                                              " in " + std::to_string(bytes.size()) + " bytes");
  }
  std::copy(bytes.begin() + 2, bytes.end(), pos.path.bytes.begin());
  if (pos.depth % 8 != 0 && (bytes.back() & (0xffu >> (pos.depth % 8))) != 0) {
    return make_error("bad_smt_position", "bits set past depth " + std::to_string(pos.depth));
  }
  return pos;
}

std::size_t SmtPositionHasher::operator()(const SmtPosition& p) const {
  // Paths are prefixes of SHA-256 outputs, so their first 8 bytes are
  // already spread out except near the root, where the depth tells
  // positions apart. (A full splitmix64 finaliser measured slower: this
  // cheaper mix keeps the buckets of one path closer together.)
  std::uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x = (x << 8) | p.path.bytes[i];
  x ^= static_cast<std::uint64_t>(p.depth) * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return static_cast<std::size_t>(x);
}

Hash256 SmtNode::hash() const {
  return kind == Kind::leaf ? smt_leaf_hash(a, b) : smt_node_hash(a, b);
}

Bytes SmtNode::encode() const {
  Bytes out;
  out.reserve(65);
  out.push_back(static_cast<std::uint8_t>(kind));
  out.insert(out.end(), a.bytes.begin(), a.bytes.end());
  out.insert(out.end(), b.bytes.begin(), b.bytes.end());
  return out;
}

Result<SmtNode> SmtNode::decode(ByteView bytes) {
  if (bytes.size() != 65) {
    return make_error("bad_smt_node",
                      "SMT node of " + std::to_string(bytes.size()) + " bytes (expected 65)");
  }
  if (bytes[0] != static_cast<std::uint8_t>(Kind::leaf) &&
      bytes[0] != static_cast<std::uint8_t>(Kind::interior)) {
    return make_error("bad_smt_node", "SMT node kind byte " + std::to_string(bytes[0]));
  }
  SmtNode node;
  node.kind = static_cast<Kind>(bytes[0]);
  node.a = Hash256::from_bytes(bytes.subspan(1, 32));
  node.b = Hash256::from_bytes(bytes.subspan(33, 32));
  return node;
}

Result<std::optional<SmtNode>> MemorySmtStore::get_node(const SmtPosition& pos) const {
  auto it = nodes_.find(pos);
  if (it == nodes_.end()) return std::optional<SmtNode>();
  return std::optional<SmtNode>(it->second);
}

void MemorySmtStore::apply(const SmtWrites& writes) {
  for (const auto& pos : writes.deletes) nodes_.erase(pos);
  for (const auto& [pos, node] : writes.puts) nodes_[pos] = node;
}

Result<SmtUpdate> smt_update(const SmtStore& store, std::span<const SmtChange> changes) {
  if (changes.size() > kSmtBatchChangesMax) {
    return make_error("smt_batch_too_large", std::to_string(changes.size()) +
                                                 " SMT changes in one batch (at most " +
                                                 std::to_string(kSmtBatchChangesMax) + ")");
  }
  Updater up(store);
  std::vector<Entry> entries;
  entries.reserve(changes.size());
  // The key strings are only needed to name a duplicate in the error.
  std::vector<std::size_t> order(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (!key_ok(changes[i].key)) return bad_key(changes[i].key);
    entries.push_back({up.key_hash(changes[i].key), changes[i].value});
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return entries[x].key_hash < entries[y].key_hash;
  });
  std::vector<Entry> sorted;
  sorted.reserve(entries.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (k > 0 && entries[order[k]].key_hash == entries[order[k - 1]].key_hash) {
      return make_error("smt_duplicate_key",
                        "SMT key \"" + changes[order[k]].key + "\" changed twice in one batch");
    }
    sorted.push_back(entries[order[k]]);
  }

  auto old_root = up.read(SmtPosition::root());
  if (!old_root) return old_root.error();
  SmtUpdate& out = up.out();
  if (sorted.empty()) {
    out.root = *old_root ? up.hash_of(**old_root) : kSmtEmpty;
    return std::move(out);
  }
  auto root = up.update(SmtPosition::root(), *old_root, sorted);
  if (!root) return root.error();
  up.place(SmtPosition::root(), *old_root, *root);
  check_invariant(root->kind != Sub::Kind::kept);
  out.root = root->hash;
  check_writes_disjoint(out.writes);
  return std::move(out);
}

Result<Hash256> smt_root(const SmtStore& store) {
  auto root = store.get_node(SmtPosition::root());
  if (!root) return root.error();
  if (!root->has_value()) return kSmtEmpty;
  Status shape = check_node(SmtPosition::root(), **root);
  if (!shape) return shape.error();
  return (*root)->hash();
}

Result<SmtLookup> smt_prove(const SmtStore& store, std::string_view key) {
  if (!key_ok(key)) return bad_key(key);
  Hash256 key_hash = smt_key_hash(key);
  SmtLookup out;
  SmtPosition pos = SmtPosition::root();
  auto root = store.get_node(pos);
  if (!root) return root.error();
  if (!root->has_value()) return out;
  Status shape = check_node(pos, **root);
  if (!shape) return shape.error();
  SmtNode node = **root;
  // check_node refuses interior nodes at the last level, so this descends at
  // most kSmtDepthMax times.
  while (node.kind == SmtNode::Kind::interior) {
    int bit = bit_at(key_hash, pos.depth);
    out.proof.siblings.push_back(bit ? node.a : node.b);
    const Hash256& next = bit ? node.b : node.a;
    if (next == kSmtEmpty) return out;
    pos = pos.child(bit);
    auto child = read_required(store, pos);
    if (!child) return child.error();
    node = *child;
  }
  if (node.a == key_hash) {
    out.value = node.b;
  } else {
    out.proof.leaf = SmtProof::Leaf{node.a, node.b};
  }
  return out;
}

Result<std::optional<Hash256>> smt_get(const SmtStore& store, std::string_view key) {
  // The proof's siblings come from nodes read anyway, so a lookup costs the
  // same with or without them.
  auto lookup = smt_prove(store, key);
  if (!lookup) return lookup.error();
  return lookup->value;
}

bool smt_verify(const Hash256& root, std::string_view key, const std::optional<Hash256>& value,
                const SmtProof& proof) {
  if (!key_ok(key)) return false;
  const std::size_t depth = proof.siblings.size();
  if (depth > kSmtDepthMax) return false;
  // A node whose sibling is empty holds one leaf or is empty itself, and
  // either way would have been replaced by it: never in a canonical tree.
  if (depth > 0 && proof.siblings.back() == kSmtEmpty) return false;
  Hash256 key_hash = smt_key_hash(key);
  Hash256 h;
  if (value) {
    if (proof.leaf) return false;
    h = smt_leaf_hash(key_hash, *value);
  } else if (proof.leaf) {
    // The other leaf must lie on the key's path down to where it sits, or
    // the tree would have placed it elsewhere.
    if (proof.leaf->key_hash == key_hash) return false;
    if (!shares_prefix(proof.leaf->key_hash, key_hash, depth)) return false;
    h = smt_leaf_hash(proof.leaf->key_hash, proof.leaf->value);
  } else {
    h = kSmtEmpty;
  }
  for (std::size_t i = depth; i-- > 0;) {
    h = bit_at(key_hash, i) ? smt_node_hash(proof.siblings[i], h)
                            : smt_node_hash(h, proof.siblings[i]);
  }
  return h == root;
}

Json smt_proof_to_json(const SmtProof& proof) {
  Json siblings = Json::array();
  for (const Hash256& s : proof.siblings) siblings.push_back(s.hex());
  Json leaf = nullptr;
  if (proof.leaf) {
    leaf = Json{{"key_hash", proof.leaf->key_hash.hex()}, {"value", proof.leaf->value.hex()}};
  }
  return Json{{"siblings", std::move(siblings)}, {"leaf", std::move(leaf)}};
}

namespace {

Error bad_proof(const std::string& why) {
  return make_error("bad_smt_proof", "SMT proof: " + why);
}

Result<Hash256> hash_member(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return bad_proof(std::string("missing \"") + name + "\"");
  if (!it->is_string()) return bad_proof(std::string("\"") + name + "\" is not a string");
  auto h = Hash256::from_hex(it->get_ref<const std::string&>());
  if (!h) return bad_proof(std::string("\"") + name + "\" is not 64 lowercase hex digits");
  return *h;
}

}  // namespace

Result<SmtProof> smt_proof_from_json(const Json& json) {
  if (!json.is_object()) return bad_proof("not an object");
  if (json.size() != 2 || !json.contains("siblings") || !json.contains("leaf")) {
    return bad_proof("members must be exactly \"siblings\" and \"leaf\"");
  }
  const Json& siblings = json.at("siblings");
  if (!siblings.is_array()) return bad_proof("\"siblings\" is not an array");
  if (siblings.size() > kSmtDepthMax) {
    return bad_proof(std::to_string(siblings.size()) + " siblings (at most " +
                     std::to_string(kSmtDepthMax) + ")");
  }
  SmtProof proof;
  proof.siblings.reserve(siblings.size());
  for (std::size_t i = 0; i < siblings.size(); ++i) {
    const Json& s = siblings[i];
    auto h = s.is_string() ? Hash256::from_hex(s.get_ref<const std::string&>())
                           : Result<Hash256>(make_error("bad_hex", ""));
    if (!h) return bad_proof("sibling " + std::to_string(i) + " is not 64 lowercase hex digits");
    proof.siblings.push_back(*h);
  }
  const Json& leaf = json.at("leaf");
  if (leaf.is_null()) return proof;
  if (!leaf.is_object()) return bad_proof("\"leaf\" is neither null nor an object");
  if (leaf.size() != 2 || !leaf.contains("key_hash") || !leaf.contains("value")) {
    return bad_proof("\"leaf\" members must be exactly \"key_hash\" and \"value\"");
  }
  auto key_hash = hash_member(leaf, "key_hash");
  if (!key_hash) return key_hash.error();
  auto value = hash_member(leaf, "value");
  if (!value) return value.error();
  proof.leaf = SmtProof::Leaf{*key_hash, *value};
  return proof;
}

Result<SmtProof> smt_proof_parse(std::string_view text) {
  auto json = parse_json_strict(text);
  if (!json) return json.error();
  return smt_proof_from_json(*json);
}

}  // namespace custos
