#include "core/smt.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <vector>

#include "tests/test_util.h"

using namespace custos;
using custos::testing::document_vectors;
using custos::testing::read_text;
using custos::testing::source_path;

namespace {

// The tree written again from docs/state-proofs.md, as naively as possible:
// byte vectors concatenated by hand, the root recomputed from the whole set
// by recursion on the key_hash bits. It shares nothing with smt.cpp beyond
// SHA-256, so an error in the compaction rules shows up as a different root.
namespace ref {

Hash256 tagged(const std::string& tag, const Bytes& payload) {
  Bytes b(tag.begin(), tag.end());
  b.push_back(0x00);
  b.insert(b.end(), payload.begin(), payload.end());
  return sha256(b);
}

Bytes cat(const Hash256& x, const Hash256& y) {
  Bytes b(x.bytes.begin(), x.bytes.end());
  b.insert(b.end(), y.bytes.begin(), y.bytes.end());
  return b;
}

Hash256 key_hash(const std::string& key) {
  return tagged("custos/smt-key/v1", Bytes(key.begin(), key.end()));
}
Hash256 leaf(const Hash256& kh, const Hash256& v) {
  return tagged("custos/smt-leaf/v1", cat(kh, v));
}
Hash256 node(const Hash256& l, const Hash256& r) {
  return tagged("custos/smt-node/v1", cat(l, r));
}
bool bit(const Hash256& h, int i) {
  return (h.bytes[i / 8] & (0x80 >> (i % 8))) != 0;
}

using Entries = std::vector<std::pair<Hash256, Hash256>>;  // (key_hash, value)

Hash256 subtree(const Entries& entries, int depth) {
  if (entries.empty()) return Hash256{};
  if (entries.size() == 1) return leaf(entries[0].first, entries[0].second);
  Entries left, right;
  for (const auto& e : entries) (bit(e.first, depth) ? right : left).push_back(e);
  return node(subtree(left, depth + 1), subtree(right, depth + 1));
}

Hash256 root(const std::map<std::string, Hash256>& map) {
  Entries entries;
  for (const auto& [k, v] : map) entries.emplace_back(key_hash(k), v);
  return subtree(entries, 0);
}

}  // namespace ref

Hash256 value_of(const std::string& label) {
  return sha256(std::string_view(label));
}

// Applies a batch, checks the returned root against the store's own, returns
// the update for inspection.
SmtUpdate commit(MemorySmtStore& store, const std::vector<SmtChange>& changes) {
  auto up = smt_update(store, changes);
  REQUIRE_MESSAGE(up.ok(), (up.ok() ? "" : up.error().message));
  store.apply(up->writes);
  auto root = smt_root(store);
  REQUIRE(root.ok());
  CHECK(*root == up->root);
  return std::move(up).value();
}

Result<SmtUpdate> try_update(const SmtStore& store, const std::vector<SmtChange>& changes) {
  return smt_update(store, changes);
}

SmtChange set(const std::string& key, const Hash256& value) {
  return {key, value};
}
SmtChange del(const std::string& key) {
  return {key, std::nullopt};
}

SmtLookup prove(const MemorySmtStore& store, const std::string& key) {
  auto p = smt_prove(store, key);
  REQUIRE(p.ok());
  return *p;
}

// Brute force over a counter: `count` keys whose key_hashes agree on the
// first `bits` bits.
std::vector<std::string> keys_sharing_prefix(int bits, std::size_t count) {
  std::map<std::string, std::vector<std::string>> buckets;
  for (int i = 0;; ++i) {
    std::string key = "custody/item/E-prefix-" + std::to_string(i);
    Hash256 kh = ref::key_hash(key);
    std::string prefix;
    for (int b = 0; b < bits; ++b) prefix.push_back(ref::bit(kh, b) ? '1' : '0');
    auto& bucket = buckets[prefix];
    bucket.push_back(key);
    if (bucket.size() == count) return bucket;
  }
}

int common_prefix_bits(const Hash256& x, const Hash256& y) {
  int i = 0;
  while (i < 256 && ref::bit(x, i) == ref::bit(y, i)) ++i;
  return i;
}

Hash256 flip(Hash256 h, int bit) {
  h.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  return h;
}

// The proof verifies as given, and every alteration a forger could try is
// refused.
void check_proof_and_tampering(const Hash256& root, const std::string& key,
                               const std::optional<Hash256>& value, const SmtProof& proof) {
  REQUIRE(smt_verify(root, key, value, proof));
  auto refused = [&](const std::optional<Hash256>& v, const SmtProof& p, const char* what) {
    CHECK_MESSAGE(!smt_verify(root, key, v, p), what);
  };

  for (std::size_t i = 0; i < proof.siblings.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      SmtProof p = proof;
      p.siblings[i] = flip(p.siblings[i], b);
      if (smt_verify(root, key, value, p)) FAIL("flipped bit " << b << " of sibling " << i);
    }
  }
  if (value) {
    for (int b = 0; b < 256; b += 7) refused(flip(*value, b), proof, "wrong value");
    refused(std::nullopt, proof, "member claimed absent");
    SmtProof own_leaf = proof;
    own_leaf.leaf = SmtProof::Leaf{smt_key_hash(key), *value};
    refused(value, own_leaf, "own leaf added");
    refused(std::nullopt, own_leaf, "own leaf as the other leaf");
  } else {
    refused(value_of("anything"), proof, "absent key claimed present");
  }
  // Another key may well be absent for the same reason, so only a membership
  // proof is tied to its key.
  if (value) CHECK_MESSAGE(!smt_verify(root, key + "x", value, proof), "wrong key");
  CHECK_MESSAGE(!smt_verify(root, "", value, proof), "empty key");
  CHECK_MESSAGE(!smt_verify(flip(root, 0), key, value, proof), "wrong root");

  if (!proof.siblings.empty()) {
    SmtProof p = proof;
    p.siblings.pop_back();
    refused(value, p, "deepest sibling dropped");
    p = proof;
    p.siblings.erase(p.siblings.begin());
    refused(value, p, "top sibling dropped");
  }
  for (const Hash256& extra : {Hash256{}, value_of("extra")}) {
    SmtProof p = proof;
    p.siblings.push_back(extra);
    refused(value, p, "sibling appended");
    p = proof;
    p.siblings.insert(p.siblings.begin(), extra);
    refused(value, p, "sibling prepended");
  }
  SmtProof too_deep = proof;
  too_deep.siblings.resize(kSmtDepthMax + 1, value_of("deep"));
  refused(value, too_deep, "over-long proof");

  if (proof.leaf) {
    SmtProof p = proof;
    p.leaf.reset();
    refused(value, p, "other leaf removed");
    for (int b = 0; b < 256; ++b) {
      p = proof;
      p.leaf->key_hash = flip(p.leaf->key_hash, b);
      if (smt_verify(root, key, value, p)) FAIL("flipped bit " << b << " of leaf key_hash");
      p = proof;
      p.leaf->value = flip(p.leaf->value, b);
      if (smt_verify(root, key, value, p)) FAIL("flipped bit " << b << " of leaf value");
    }
    p = proof;
    std::swap(p.leaf->key_hash, p.leaf->value);
    refused(value, p, "leaf fields swapped");
  } else {
    SmtProof p = proof;
    p.leaf = SmtProof::Leaf{value_of("stranger"), value_of("stranger value")};
    refused(value, p, "leaf added");
  }
}

}  // namespace

TEST_CASE("the empty map's root is 32 zero bytes and proves every key absent") {
  MemorySmtStore store;
  CHECK(smt_root(store).value() == kSmtEmpty);
  CHECK(kSmtEmpty.hex() == std::string(64, '0'));
  SmtLookup l = prove(store, "custody/item/E-2026-1");
  CHECK(!l.value);
  CHECK(l.proof.siblings.empty());
  CHECK(!l.proof.leaf);
  CHECK(smt_get(store, "custody/item/E-2026-1").value() == std::nullopt);
  check_proof_and_tampering(kSmtEmpty, "custody/item/E-2026-1", std::nullopt, l.proof);
}

TEST_CASE("a single key's leaf is the root, and proves other keys absent") {
  MemorySmtStore store;
  Hash256 v = value_of("v");
  SmtUpdate up = commit(store, {set("only", v)});
  CHECK(up.root == ref::leaf(ref::key_hash("only"), v));
  CHECK(store.node_count() == 1);
  CHECK(smt_get(store, "only").value() == v);

  SmtLookup member = prove(store, "only");
  CHECK(member.value == v);
  CHECK(member.proof.siblings.empty());
  check_proof_and_tampering(up.root, "only", v, member.proof);

  SmtLookup absent = prove(store, "other");
  CHECK(!absent.value);
  REQUIRE(absent.proof.leaf);
  CHECK(absent.proof.leaf->key_hash == ref::key_hash("only"));
  check_proof_and_tampering(up.root, "other", std::nullopt, absent.proof);
}

TEST_CASE("keys whose paths share a long prefix sit just below where they part") {
  // 24 equal leading bits: the tree has a chain of interior nodes with one
  // empty side down to depth 24 or more.
  auto pair = keys_sharing_prefix(24, 2);
  Hash256 kh0 = ref::key_hash(pair[0]), kh1 = ref::key_hash(pair[1]);
  int shared = common_prefix_bits(kh0, kh1);
  REQUIRE(shared >= 24);

  MemorySmtStore store;
  std::map<std::string, Hash256> model{{pair[0], value_of("a")}, {pair[1], value_of("b")}};
  SmtUpdate up = commit(store, {set(pair[0], model[pair[0]]), set(pair[1], model[pair[1]])});
  CHECK(up.root == ref::root(model));
  CHECK(store.node_count() == static_cast<std::size_t>(shared + 1 + 2));

  for (const auto& key : pair) {
    SmtLookup l = prove(store, key);
    REQUIRE(l.proof.siblings.size() == static_cast<std::size_t>(shared + 1));
    for (int i = 0; i < shared; ++i) CHECK(l.proof.siblings[i] == kSmtEmpty);
    const std::string& other = key == pair[0] ? pair[1] : pair[0];
    CHECK(l.proof.siblings.back() == ref::leaf(ref::key_hash(other), model[other]));
    check_proof_and_tampering(up.root, key, model[key], l.proof);
  }

  // A key that leaves the shared path halfway ends in an empty subtree.
  std::string stray;
  for (int i = 0; stray.empty(); ++i) {
    std::string k = "stray-" + std::to_string(i);
    int cp = common_prefix_bits(ref::key_hash(k), kh0);
    if (cp >= 1 && cp < shared) stray = k;
  }
  SmtLookup s = prove(store, stray);
  CHECK(!s.value);
  CHECK(!s.proof.leaf);
  check_proof_and_tampering(up.root, stray, std::nullopt, s.proof);

  // Deleting one pulls the other all the way back up to the root.
  up = commit(store, {del(pair[0])});
  CHECK(up.root == ref::leaf(kh1, model[pair[1]]));
  CHECK(store.node_count() == 1);
  CHECK(up.writes.deletes.size() == static_cast<std::size_t>(shared + 2));

  // Three keys under one 16-bit prefix, beside unrelated keys.
  auto trio = keys_sharing_prefix(16, 3);
  std::vector<SmtChange> batch;
  model.erase(pair[0]);
  for (const auto& k : trio) model[k] = value_of(k);
  for (int i = 0; i < 50; ++i) model["plain-" + std::to_string(i)] = value_of(std::to_string(i));
  for (const auto& [k, v] : model) batch.push_back(set(k, v));
  up = commit(store, batch);
  CHECK(up.root == ref::root(model));
  for (const auto& k : trio) check_proof_and_tampering(up.root, k, model[k], prove(store, k).proof);
}

TEST_CASE("the root and the stored nodes depend on the set of entries, not on the order") {
  std::mt19937_64 rng(7);
  std::vector<SmtChange> all;
  std::map<std::string, Hash256> model;
  for (int i = 0; i < 300; ++i) {
    std::string k = "custody/item/E-2026-" + std::to_string(i);
    model[k] = value_of("v" + std::to_string(i));
    all.push_back(set(k, model[k]));
  }
  const Hash256 expected = ref::root(model);
  std::optional<std::size_t> nodes;
  for (int trial = 0; trial < 20; ++trial) {
    std::shuffle(all.begin(), all.end(), rng);
    MemorySmtStore store;
    std::size_t at = 0;
    while (at < all.size()) {
      std::size_t n = std::min<std::size_t>(all.size() - at, 1 + rng() % 40);
      commit(store, std::vector<SmtChange>(all.begin() + at, all.begin() + at + n));
      at += n;
    }
    CHECK(smt_root(store).value() == expected);
    if (!nodes) nodes = store.node_count();
    CHECK(store.node_count() == *nodes);
  }
  // Reaching the same set through extra keys that are later deleted, and
  // values that are later overwritten, gives the same root and node count.
  MemorySmtStore store;
  std::vector<SmtChange> detour = all;
  for (int i = 0; i < 200; ++i) detour.push_back(set("temp-" + std::to_string(i), value_of("t")));
  for (auto& c : detour) {
    if (c.key.starts_with("custody")) c.value = value_of("old " + c.key);
  }
  commit(store, detour);
  std::vector<SmtChange> back = all;
  for (int i = 0; i < 200; ++i) back.push_back(del("temp-" + std::to_string(i)));
  commit(store, back);
  CHECK(smt_root(store).value() == expected);
  CHECK(store.node_count() == *nodes);
}

TEST_CASE("updating values and deleting every key returns to the empty root") {
  std::mt19937_64 rng(11);
  MemorySmtStore store;
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i) keys.push_back("artefact/A-" + std::to_string(i));
  std::vector<SmtChange> batch;
  for (const auto& k : keys) batch.push_back(set(k, value_of(k)));
  Hash256 first = commit(store, batch).root;

  // New values for every key, then the old values again: the root follows.
  for (auto& c : batch) c.value = value_of("second " + c.key);
  Hash256 second = commit(store, batch).root;
  CHECK(second != first);
  for (auto& c : batch) c.value = value_of(c.key);
  CHECK(commit(store, batch).root == first);

  // Writing the same values again writes nothing.
  CHECK(commit(store, batch).writes.puts.empty());

  std::shuffle(keys.begin(), keys.end(), rng);
  for (std::size_t at = 0; at < keys.size(); at += 300) {
    std::vector<SmtChange> dels;
    for (std::size_t i = at; i < std::min(keys.size(), at + 300); ++i) dels.push_back(del(keys[i]));
    commit(store, dels);
  }
  CHECK(smt_root(store).value() == kSmtEmpty);
  CHECK(store.node_count() == 0);
}

TEST_CASE("deleting an absent key changes nothing and an empty batch keeps the root") {
  MemorySmtStore store;
  SmtUpdate up = commit(store, {del("ghost")});
  CHECK(up.root == kSmtEmpty);
  CHECK(up.writes.puts.empty());
  CHECK(up.writes.deletes.empty());

  std::vector<SmtChange> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(set("k" + std::to_string(i), value_of("v")));
  Hash256 root = commit(store, batch).root;
  up = commit(store, {del("ghost"), del("ghost2")});
  CHECK(up.root == root);
  CHECK(up.writes.puts.empty());
  CHECK(up.writes.deletes.empty());
  up = commit(store, {});
  CHECK(up.root == root);
  CHECK(up.writes.puts.empty());
}

TEST_CASE("bad batches are refused and leave nothing to write") {
  MemorySmtStore store;
  auto code = [&](const std::vector<SmtChange>& changes) {
    auto up = smt_update(store, changes);
    REQUIRE(!up.ok());
    return up.error().code;
  };
  CHECK(code({set("a", value_of("1")), del("b"), set("a", value_of("2"))}) == "smt_duplicate_key");
  CHECK(code({set("", value_of("1"))}) == "smt_bad_key");
  CHECK(code({set(std::string(kSmtKeyBytesMax + 1, 'k'), value_of("1"))}) == "smt_bad_key");
  CHECK(try_update(store, {set(std::string(kSmtKeyBytesMax, 'k'), value_of("1"))}).ok());
  std::vector<SmtChange> huge(kSmtBatchChangesMax + 1, del("x"));
  CHECK(code(huge) == "smt_batch_too_large");
  CHECK(smt_get(store, "").error().code == "smt_bad_key");
  CHECK(smt_prove(store, std::string(kSmtKeyBytesMax + 1, 'k')).error().code == "smt_bad_key");
}

namespace {

// A store whose nodes a test can damage, or make fail like a disk.
class FaultyStore final : public SmtStore {
 public:
  Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const override {
    if (fail) return make_error("io_error", "disk on fire");
    return inner.get_node(pos);
  }
  MemorySmtStore inner;
  bool fail = false;
};

}  // namespace

TEST_CASE("a damaged or failing store gives errors, never a crash or a wrong answer") {
  FaultyStore store;
  std::vector<SmtChange> batch;
  for (int i = 0; i < 64; ++i) batch.push_back(set("k" + std::to_string(i), value_of("v")));
  store.inner.apply(try_update(store, batch).value().writes);

  store.fail = true;
  CHECK(try_update(store, {del("k1")}).error().code == "io_error");
  CHECK(smt_get(store, "k1").error().code == "io_error");
  CHECK(smt_prove(store, "k1").error().code == "io_error");
  CHECK(smt_root(store).error().code == "io_error");
  store.fail = false;

  // Remove the node under k1's path just below the root.
  Hash256 kh = smt_key_hash("k1");
  SmtWrites damage;
  damage.deletes.push_back(SmtPosition::of(kh, 1));
  store.inner.apply(damage);
  CHECK(smt_get(store, "k1").error().code == "smt_store_corrupt");
  CHECK(try_update(store, {del("k1")}).error().code == "smt_store_corrupt");

  // A leaf stored off its own path, and an interior node with no children.
  FaultyStore other;
  SmtWrites bad;
  bad.puts.emplace_back(SmtPosition::root(), SmtNode::interior(value_of("l"), kSmtEmpty));
  bad.puts.emplace_back(SmtPosition::root().child(0),
                        SmtNode::leaf(flip(Hash256{}, 0), value_of("v")));
  other.inner.apply(bad);
  std::string left_key;  // a key whose path starts with bit 0
  for (int i = 0; left_key.empty(); ++i) {
    std::string k = "x" + std::to_string(i);
    if (!ref::bit(smt_key_hash(k), 0)) left_key = k;
  }
  CHECK(smt_get(other, left_key).error().code == "smt_store_corrupt");
  SmtWrites hollow;
  hollow.puts.emplace_back(SmtPosition::root(), SmtNode::interior(kSmtEmpty, kSmtEmpty));
  other.inner.apply(hollow);
  CHECK(smt_root(other).error().code == "smt_store_corrupt");
  CHECK(smt_get(other, left_key).error().code == "smt_store_corrupt");
}

TEST_CASE("proofs of all three kinds verify and resist tampering in a larger tree") {
  MemorySmtStore store;
  std::map<std::string, Hash256> model;
  std::vector<SmtChange> batch;
  for (int i = 0; i < 1000; ++i) {
    std::string k = "custody/item/E-2026-" + std::to_string(i);
    model[k] = value_of(k);
    batch.push_back(set(k, model[k]));
  }
  Hash256 root = commit(store, batch).root;
  REQUIRE(root == ref::root(model));

  int members = 0, empties = 0, others = 0;
  for (int i = 0; i < 3000 && (members < 5 || empties < 5 || others < 5); ++i) {
    std::string k = "custody/item/E-2026-" + std::to_string(i);
    SmtLookup l = prove(store, k);
    CHECK(l.value == (model.contains(k) ? std::optional<Hash256>(model[k]) : std::nullopt));
    int& seen = l.value ? members : (l.proof.leaf ? others : empties);
    if (seen >= 5) {
      CHECK(smt_verify(root, k, l.value, l.proof));
      continue;
    }
    ++seen;
    check_proof_and_tampering(root, k, l.value, l.proof);
  }
  CHECK(members == 5);
  CHECK(empties == 5);
  CHECK(others == 5);
}

TEST_CASE("100k random keys with random updates and deletes match the naive reference") {
  std::mt19937_64 rng(2026);
  MemorySmtStore store;
  std::map<std::string, Hash256> model;
  std::vector<std::string> present;  // keys of model, for random picks
  int next_key = 0;
  auto fresh_key = [&] { return "custody/item/E-2026-" + std::to_string(next_key++); };

  for (int b = 0; b < 100; ++b) {
    std::vector<SmtChange> batch;
    for (int i = 0; i < 1000; ++i) {
      std::string k = fresh_key();
      model[k] = value_of(k);
      present.push_back(k);
      batch.push_back(set(k, model[k]));
    }
    commit(store, batch);
    if (b % 50 == 49) CHECK(smt_root(store).value() == ref::root(model));
  }

  for (int round = 0; round < 6; ++round) {
    std::vector<SmtChange> batch;
    std::set<std::string> touched;
    for (int i = 0; i < 3000; ++i) {
      int what = static_cast<int>(rng() % 4);
      std::string k = what == 0 ? fresh_key() : present[rng() % present.size()];
      if (what == 3) k = "never-" + std::to_string(rng());  // absent: a no-op delete
      if (!touched.insert(k).second) continue;
      if (what == 2) {
        model.erase(k);
        batch.push_back(del(k));
      } else if (what == 3) {
        batch.push_back(del(k));
      } else {
        model[k] = value_of(k + " round " + std::to_string(round));
        batch.push_back(set(k, model[k]));
      }
    }
    commit(store, batch);
    present.assign(std::views::keys(model).begin(), std::views::keys(model).end());
    Hash256 root = smt_root(store).value();
    REQUIRE(root == ref::root(model));

    for (int i = 0; i < 300; ++i) {
      std::string k = i % 2 ? present[rng() % present.size()] : fresh_key() + "-absent";
      SmtLookup l = prove(store, k);
      auto it = model.find(k);
      CHECK(l.value == (it == model.end() ? std::nullopt : std::optional<Hash256>(it->second)));
      CHECK(smt_verify(root, k, l.value, l.proof));
    }
  }
}

TEST_CASE("an update costs O(log n) hashes per key") {
  MemorySmtStore store;
  const int n = 100000;
  std::vector<std::string> keys;
  for (int at = 0; at < n; at += 5000) {
    std::vector<SmtChange> batch;
    for (int i = at; i < at + 5000; ++i) {
      keys.push_back("custody/item/E-2026-" + std::to_string(i));
      batch.push_back(set(keys.back(), value_of(keys.back())));
    }
    commit(store, batch);
  }

  std::mt19937_64 rng(5);
  std::uint64_t hashes = 0, reads = 0, proof_siblings = 0;
  const int singles = 2000;
  for (int i = 0; i < singles; ++i) {
    std::string k = keys[rng() % keys.size()];
    SmtChange c = i % 3 == 0 ? del(k) : set(k, value_of(k + std::to_string(i)));
    if (i % 3 == 2) c = set("new-" + std::to_string(i), value_of("new"));
    SmtUpdate up = commit(store, {c});
    hashes += up.hashes;
    reads += up.node_reads;
    proof_siblings += prove(store, c.key).proof.siblings.size();
  }
  double per_key = static_cast<double>(hashes) / singles;
  double log2n = std::log2(static_cast<double>(n));
  MESSAGE("n=" << n << ": " << per_key << " hashes and " << static_cast<double>(reads) / singles
               << " node reads per single-key update; "
               << static_cast<double>(proof_siblings) / singles << " siblings per proof");
  // A key hash, a leaf hash and one hash per level, about log2(n) + 2 levels
  // deep; 256 would mean the compaction is not working.
  CHECK(per_key < 64);
  CHECK(per_key < log2n + 8);

  // In a block-sized batch the top of the tree is shared between keys.
  std::vector<SmtChange> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(set(keys[i * 97] + "-b", value_of("b")));
  SmtUpdate up = commit(store, batch);
  double batched = static_cast<double>(up.hashes) / 1000;
  MESSAGE("batch of 1000: " << batched << " hashes per key");
  CHECK(batched < per_key);
}

TEST_CASE("proofs round-trip through JSON and malformed JSON is refused") {
  MemorySmtStore store;
  std::vector<SmtChange> batch;
  for (int i = 0; i < 50; ++i) batch.push_back(set("k" + std::to_string(i), value_of("v")));
  commit(store, batch);
  for (const char* key : {"k1", "k7", "absent-1", "absent-2", "absent-3"}) {
    SmtProof p = prove(store, key).proof;
    Json j = smt_proof_to_json(p);
    CHECK(smt_proof_from_json(j).value() == p);
    CHECK(smt_proof_parse(j.dump()).value() == p);
    CHECK(j.at("siblings").size() == p.siblings.size());
    CHECK(j.at("leaf").is_null() == !p.leaf);
  }

  const std::string h = std::string(64, 'a');
  const std::string max_siblings = [&] {
    std::string s = "[";
    for (std::size_t i = 0; i < kSmtDepthMax; ++i) s += (i ? ",\"" : "\"") + h + "\"";
    return s + "]";
  }();
  CHECK(smt_proof_parse("{\"siblings\":" + max_siblings + ",\"leaf\":null}").ok());
  const std::string too_many = max_siblings.substr(0, max_siblings.size() - 1) + ",\"" + h + "\"]";

  const std::vector<std::string> garbage = {
      "",
      "null",
      "[]",
      "{}",
      "\"siblings\"",
      "{\"siblings\":[]}",
      "{\"leaf\":null}",
      "{\"siblings\":[],\"leaf\":null,\"extra\":1}",
      "{\"siblings\":{},\"leaf\":null}",
      "{\"siblings\":null,\"leaf\":null}",
      "{\"siblings\":[1],\"leaf\":null}",
      "{\"siblings\":[null],\"leaf\":null}",
      "{\"siblings\":[\"" + std::string(63, 'a') + "\"],\"leaf\":null}",
      "{\"siblings\":[\"" + std::string(66, 'a') + "\"],\"leaf\":null}",
      "{\"siblings\":[\"" + std::string(64, 'A') + "\"],\"leaf\":null}",
      "{\"siblings\":[\"" + std::string(64, 'g') + "\"],\"leaf\":null}",
      "{\"siblings\":[\"0x" + std::string(62, 'a') + "\"],\"leaf\":null}",
      "{\"siblings\":[[\"" + h + "\"]],\"leaf\":null}",
      "{\"siblings\":" + too_many + ",\"leaf\":null}",
      "{\"siblings\":[],\"leaf\":[]}",
      "{\"siblings\":[],\"leaf\":false}",
      "{\"siblings\":[],\"leaf\":\"" + h + "\"}",
      "{\"siblings\":[],\"leaf\":{}}",
      "{\"siblings\":[],\"leaf\":{\"key_hash\":\"" + h + "\"}}",
      "{\"siblings\":[],\"leaf\":{\"value\":\"" + h + "\"}}",
      "{\"siblings\":[],\"leaf\":{\"key_hash\":\"" + h + "\",\"value\":\"" + h + "\",\"x\":1}}",
      "{\"siblings\":[],\"leaf\":{\"key_hash\":1,\"value\":\"" + h + "\"}}",
      "{\"siblings\":[],\"leaf\":{\"key_hash\":\"" + h + "\",\"value\":\"" + h.substr(1) + "\"}}",
      "{\"siblings\":[],\"leaf\":null,\"leaf\":null}",
      "{\"siblings\":[],\"leaf\":null} x",
      "{\"siblings\":[],\"leaf\":nul",
      "{\"siblings\":[1.5],\"leaf\":null}",
      std::string(100, '['),
      std::string("{\"siblings\":[],\"leaf\":null}\0", 28),
      std::string("{\"siblings\":[],\"leaf\":null}\0{}", 30),
  };
  for (const auto& text : garbage) {
    CAPTURE(text);
    auto p = smt_proof_parse(text);
    REQUIRE(!p.ok());
    CHECK((p.error().code == "bad_smt_proof" || p.error().code == "bad_json"));
  }
}

TEST_CASE("node and position encodings are fixed and decoding refuses anything else") {
  SmtNode leaf = SmtNode::leaf(value_of("kh"), value_of("v"));
  SmtNode inner = SmtNode::interior(value_of("l"), kSmtEmpty);
  for (const SmtNode& n : {leaf, inner}) {
    Bytes e = n.encode();
    REQUIRE(e.size() == 65);
    CHECK(e[0] == (n.kind == SmtNode::Kind::leaf ? 1 : 2));
    CHECK(SmtNode::decode(e).value() == n);
    Bytes shorter(e.begin(), e.end() - 1);
    CHECK(SmtNode::decode(shorter).error().code == "bad_smt_node");
    Bytes longer = e;
    longer.push_back(0);
    CHECK(SmtNode::decode(longer).error().code == "bad_smt_node");
    for (std::uint8_t kind : {0, 3, 255}) {
      Bytes wrong = e;
      wrong[0] = kind;
      CHECK(SmtNode::decode(wrong).error().code == "bad_smt_node");
    }
  }

  Hash256 kh =
      Hash256::from_hex("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100").value();
  CHECK(hex_encode(SmtPosition::root().encode()) == "0000");
  CHECK(hex_encode(SmtPosition::of(kh, 1).encode()) == "000180");
  CHECK(hex_encode(SmtPosition::of(kh, 9).encode()) == "0009ff80");
  CHECK(hex_encode(SmtPosition::of(kh, 16).encode()) == "0010ffee");
  CHECK(hex_encode(SmtPosition::of(kh, 256).encode()) == "0100" + kh.hex());
  CHECK(SmtPosition::of(kh, 9) == SmtPosition::of(kh, 8).child(1));
  for (std::size_t depth : {0, 1, 7, 8, 9, 16, 255, 256}) {
    SmtPosition p = SmtPosition::of(kh, depth);
    CHECK(SmtPosition::decode(p.encode()).value() == p);
  }
  for (const char* bad : {"", "00", "0001", "00010000", "0009ff", "0009ffc0", "01010000"}) {
    // too short; depth 1 short and long; depth 9 short; a bit past depth 9; depth 257
    INFO(bad);
    CHECK(SmtPosition::decode(hex_decode(bad).value()).error().code == "bad_smt_position");
  }
  CHECK(SmtPosition::of(kh, 11).child(0) == SmtPosition::of(kh, 12));

  // Every position down to depth 10 has its own encoding.
  std::set<std::string> seen;
  std::vector<SmtPosition> level{SmtPosition::root()};
  for (int d = 0; d <= 10; ++d) {
    std::vector<SmtPosition> next;
    for (const auto& p : level) {
      CHECK(seen.insert(hex_encode(p.encode())).second);
      if (d < 10) {
        next.push_back(p.child(0));
        next.push_back(p.child(1));
      }
    }
    level = std::move(next);
  }
}

namespace {

// The map of docs/state-proofs.md §6.
const std::vector<std::string> kDocKeys = {"custody/item/E-2026-1", "custody/item/E-2026-2",
                                           "artefact/A-2026-7", "custody/item/E-2026-3"};

std::map<std::string, std::string> compute_doc_vectors() {
  std::map<std::string, std::string> v;
  MemorySmtStore store;
  v["smt.empty_root"] = smt_root(store).value().hex();
  std::vector<SmtChange> batch;
  for (std::size_t i = 0; i < kDocKeys.size(); ++i) {
    const std::string& k = kDocKeys[i];
    Hash256 value =
        sha256(std::string_view("custos state-proofs.md value " + std::to_string(i + 1)));
    std::string n = std::to_string(i + 1);
    v["smt.value" + n] = value.hex();
    v["smt.key_hash" + n] = smt_key_hash(k).hex();
    v["smt.leaf" + n] = smt_leaf_hash(smt_key_hash(k), value).hex();
    batch.push_back(set(k, value));
    if (i == 0) v["smt.root_1"] = commit(store, batch).root.hex();
  }
  v["smt.root_4"] = commit(store, batch).root.hex();

  auto proof_json = [&](const std::string& key) {
    return smt_proof_to_json(prove(store, key).proof).dump(2);
  };
  v["smt.proof_member"] = proof_json("custody/item/E-2026-2");
  v["smt.proof_absent_empty"] = proof_json("custody/item/E-2026-4");
  v["smt.proof_absent_leaf"] = proof_json("custody/item/E-2026-5");

  // Two interior nodes of the page's figure, found by position: "0" (depth
  // 1) and "1110" (depth 4), with their storage encodings.
  auto at = [&](std::uint8_t first_byte, std::size_t depth) {
    Hash256 path;
    path.bytes[0] = first_byte;
    SmtPosition pos = SmtPosition::of(path, depth);
    SmtNode node = store.get_node(pos).value().value();
    REQUIRE(node.kind == SmtNode::Kind::interior);
    return std::pair(pos, node);
  };
  auto [pos0, node0] = at(0x00, 1);
  v["smt.node_0"] = node0.hash().hex();
  auto [pos1110, node1110] = at(0xe0, 4);
  v["smt.node_1110"] = node1110.hash().hex();
  v["smt.storage_key_1110"] = hex_encode(pos1110.encode());
  v["smt.storage_value_1110"] = hex_encode(node1110.encode());
  return v;
}

}  // namespace

TEST_CASE("docs/state-proofs.md vectors are what the code produces and verify") {
  auto computed = compute_doc_vectors();
  if (std::getenv("CUSTOS_PRINT_VECTORS")) {
    for (const auto& [name, value] : computed) {
      std::cout << "<!-- vector: " << name << " -->\n```\n" << value << "\n```\n\n";
    }
  }
  auto documented = document_vectors(read_text(source_path("docs/state-proofs.md")));
  for (const auto& [name, value] : computed) {
    CAPTURE(name);
    REQUIRE_MESSAGE(documented.contains(name), "docs/state-proofs.md lacks vector " << name);
    CHECK(documented[name] == value);
  }
  for (const auto& [name, value] : documented) {
    CHECK_MESSAGE(computed.contains(name),
                  "docs/state-proofs.md has vector " << name << " that no test checks");
  }

  // The documented proofs, read back from the page, say what the page says.
  Hash256 root = Hash256::from_hex(documented["smt.root_4"]).value();
  SmtProof member = smt_proof_parse(documented["smt.proof_member"]).value();
  Hash256 value2 = Hash256::from_hex(documented["smt.value2"]).value();
  CHECK(smt_verify(root, "custody/item/E-2026-2", value2, member));
  SmtProof empty = smt_proof_parse(documented["smt.proof_absent_empty"]).value();
  CHECK(!empty.leaf);
  CHECK(smt_verify(root, "custody/item/E-2026-4", std::nullopt, empty));
  SmtProof other = smt_proof_parse(documented["smt.proof_absent_leaf"]).value();
  CHECK(other.leaf);
  CHECK(smt_verify(root, "custody/item/E-2026-5", std::nullopt, other));
}

TEST_CASE("each structural check of the verifier is reachable: right hashes, wrong shape") {
  // Roots built by hand so that the recomputed hash matches, leaving only
  // the verifier's shape rules to refuse.
  const std::string key = "custody/item/E-2026-1";
  const Hash256 kh = smt_key_hash(key);
  const Hash256 v = value_of("v");
  Hash256 off_path = kh, on_path = kh;
  off_path.bytes[0] ^= 0x80;  // differs in bit 0
  on_path.bytes[31] ^= 0x01;  // same first 255 bits, another key
  const Hash256 sibling = value_of("sibling");
  auto up_one = [&](const Hash256& below, const Hash256& side) {
    return ref::bit(kh, 0) ? smt_node_hash(side, below) : smt_node_hash(below, side);
  };

  // The key's own leaf presented as "another key's leaf": a member proved absent.
  Hash256 root = smt_leaf_hash(kh, v);
  CHECK(smt_verify(root, key, v, SmtProof{}));
  CHECK(!smt_verify(root, key, std::nullopt, SmtProof{{}, SmtProof::Leaf{kh, v}}));

  // A leaf alongside a claimed value.
  CHECK(!smt_verify(root, key, v, SmtProof{{}, SmtProof::Leaf{kh, v}}));

  // Another key's leaf that does not lie on the key's path.
  root = up_one(smt_leaf_hash(off_path, v), sibling);
  CHECK(!smt_verify(root, key, std::nullopt, SmtProof{{sibling}, SmtProof::Leaf{off_path, v}}));
  root = up_one(smt_leaf_hash(on_path, v), sibling);
  CHECK(smt_verify(root, key, std::nullopt, SmtProof{{sibling}, SmtProof::Leaf{on_path, v}}));

  // An EMPTY deepest sibling: a leaf that should have risen one level.
  root = up_one(smt_leaf_hash(kh, v), kSmtEmpty);
  CHECK(!smt_verify(root, key, v, SmtProof{{kSmtEmpty}, std::nullopt}));
  root = up_one(kSmtEmpty, kSmtEmpty);
  CHECK(!smt_verify(root, key, std::nullopt, SmtProof{{kSmtEmpty}, std::nullopt}));

  // 256 siblings are allowed (keys parting at the last bit), 257 are not.
  SmtProof deepest;
  deepest.siblings.assign(kSmtDepthMax, sibling);
  Hash256 h = smt_leaf_hash(kh, v);
  for (std::size_t i = kSmtDepthMax; i-- > 0;) {
    h = ref::bit(kh, static_cast<int>(i)) ? smt_node_hash(sibling, h) : smt_node_hash(h, sibling);
  }
  CHECK(smt_verify(h, key, v, deepest));
  deepest.siblings.push_back(sibling);
  CHECK(!smt_verify(h, key, v, deepest));
}
