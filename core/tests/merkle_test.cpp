#include "core/merkle.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/hash.h"

namespace custos {
namespace {

using Hashes = std::vector<Hash256>;

// A deliberately naive transcription of RFC 6962 §2.1: vectors are copied at
// every step and hashing goes through sha256() directly, so it shares no code
// with merkle.cpp beyond SHA-256 itself.
namespace ref {

Hash256 node(const Hash256& l, const Hash256& r) {
  Bytes b{0x01};
  b.insert(b.end(), l.bytes.begin(), l.bytes.end());
  b.insert(b.end(), r.bytes.begin(), r.bytes.end());
  return sha256(b);
}

Hash256 leaf(ByteView data) {
  Bytes b{0x00};
  b.insert(b.end(), data.begin(), data.end());
  return sha256(b);
}

// "the largest power of two smaller than n"
std::size_t k_for(std::size_t n) {
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hashes slice(const Hashes& d, std::size_t from, std::size_t to) {
  return Hashes(d.begin() + from, d.begin() + to);
}

Hash256 mth(const Hashes& d) {
  std::size_t n = d.size();
  if (n == 0) return sha256(ByteView{});
  if (n == 1) return d[0];
  std::size_t k = k_for(n);
  return node(mth(slice(d, 0, k)), mth(slice(d, k, n)));
}

Hashes path(std::size_t m, const Hashes& d) {
  std::size_t n = d.size();
  if (n == 1) return {};
  std::size_t k = k_for(n);
  Hashes out;
  if (m < k) {
    out = path(m, slice(d, 0, k));
    out.push_back(mth(slice(d, k, n)));
  } else {
    out = path(m - k, slice(d, k, n));
    out.push_back(mth(slice(d, 0, k)));
  }
  return out;
}

Hashes subproof(std::size_t m, const Hashes& d, bool b) {
  std::size_t n = d.size();
  if (m == n) {
    if (b) return {};
    return {mth(d)};
  }
  std::size_t k = k_for(n);
  Hashes out;
  if (m <= k) {
    out = subproof(m, slice(d, 0, k), b);
    out.push_back(mth(slice(d, k, n)));
  } else {
    out = subproof(m - k, slice(d, k, n), false);
    out.push_back(mth(slice(d, 0, k)));
  }
  return out;
}

Hashes proof(std::size_t m, const Hashes& d) {
  return subproof(m, d, true);
}

}  // namespace ref

Hashes make_leaves(std::size_t n) {
  Hashes out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(merkle_leaf_hash(as_bytes("leaf " + std::to_string(i))));
  }
  return out;
}

Hashes prefix(const Hashes& d, std::size_t n) {
  return Hashes(d.begin(), d.begin() + n);
}

Hash256 flip_bit(Hash256 h, std::size_t bit) {
  h.bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  return h;
}

Hash256 from_hex_or_die(const std::string& hex) {
  auto h = Hash256::from_hex(hex);
  REQUIRE(h.ok());
  return *h;
}

nlohmann::json load_vectors() {
  std::ifstream in(std::string(CUSTOS_SOURCE_DIR) + "/tests/vectors/rfc6962_merkle.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("merkle: published RFC 6962 leaf hashes and roots for 0..8 leaves") {
  nlohmann::json v = load_vectors();
  const auto& inputs = v.at("leaf_inputs_hex");
  const auto& leaf_hex = v.at("leaf_hashes_hex");
  const auto& root_hex = v.at("root_hashes_hex");
  REQUIRE(inputs.size() == 8);
  REQUIRE(leaf_hex.size() == 8);
  REQUIRE(root_hex.size() == 9);

  Hashes leaves;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(i);
    auto data = hex_decode(inputs[i].get<std::string>());
    REQUIRE(data.ok());
    Hash256 h = merkle_leaf_hash(*data);
    CHECK(h == from_hex_or_die(leaf_hex[i].get<std::string>()));
    CHECK(h == ref::leaf(*data));
    leaves.push_back(h);
  }
  for (std::size_t n = 0; n <= 8; ++n) {
    CAPTURE(n);
    Hashes first_n = prefix(leaves, n);
    CHECK(merkle_root(first_n) == from_hex_or_die(root_hex[n].get<std::string>()));
  }
}

TEST_CASE("merkle: empty tree root is SHA-256 of the empty string") {
  CHECK(merkle_root({}).hex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("merkle: node hash is SHA-256(0x01 || left || right)") {
  Hashes l = make_leaves(2);
  CHECK(merkle_node_hash(l[0], l[1]) == ref::node(l[0], l[1]));
  CHECK(merkle_node_hash(l[1], l[0]) != merkle_node_hash(l[0], l[1]));
  // Domain separation: a node over (a, b) is not the leaf hash of a || b.
  Bytes ab(l[0].bytes.begin(), l[0].bytes.end());
  ab.insert(ab.end(), l[1].bytes.begin(), l[1].bytes.end());
  CHECK(merkle_leaf_hash(ab) != merkle_node_hash(l[0], l[1]));
}

TEST_CASE("merkle: root matches the reference, including sizes past 64") {
  Hashes all = make_leaves(1025);
  for (std::size_t n : {0, 1, 2, 3, 63, 64, 65, 100, 1000, 1024, 1025}) {
    CAPTURE(n);
    Hashes d = prefix(all, n);
    CHECK(merkle_root(d) == ref::mth(d));
  }
}

TEST_CASE("merkle: inclusion proofs equal the reference and verify, n = 1..64") {
  Hashes all = make_leaves(64);
  for (std::size_t n = 1; n <= 64; ++n) {
    Hashes d = prefix(all, n);
    Hash256 root = merkle_root(d);
    for (std::size_t i = 0; i < n; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      Hashes p = merkle_inclusion_proof(d, i);
      CHECK(p == ref::path(i, d));
      CHECK(merkle_verify_inclusion(d[i], i, n, p, root));
    }
  }
}

TEST_CASE("merkle: consistency proofs equal the reference and verify, 1 <= m <= n <= 64") {
  Hashes all = make_leaves(64);
  Hashes roots;
  for (std::size_t n = 0; n <= 64; ++n) roots.push_back(merkle_root(prefix(all, n)));
  for (std::size_t n = 1; n <= 64; ++n) {
    Hashes d = prefix(all, n);
    for (std::size_t m = 1; m <= n; ++m) {
      CAPTURE(n);
      CAPTURE(m);
      Hashes p = merkle_consistency_proof(d, m);
      CHECK(p == ref::proof(m, d));
      CHECK(merkle_verify_consistency(m, n, roots[m], roots[n], p));
    }
  }
}

TEST_CASE("merkle: inclusion rejections on a 7-leaf tree") {
  Hashes d = make_leaves(7);
  Hash256 root = merkle_root(d);
  const std::uint64_t i = 5;
  Hashes p = merkle_inclusion_proof(d, i);
  REQUIRE(p.size() == 3);
  REQUIRE(merkle_verify_inclusion(d[i], i, 7, p, root));

  SUBCASE("wrong leaf") {
    CHECK_FALSE(merkle_verify_inclusion(d[4], i, 7, p, root));
  }
  SUBCASE("wrong index") {
    CHECK_FALSE(merkle_verify_inclusion(d[i], 4, 7, p, root));
    CHECK_FALSE(merkle_verify_inclusion(d[i], 6, 7, p, root));
  }
  SUBCASE("index >= size") {
    CHECK_FALSE(merkle_verify_inclusion(d[i], 7, 7, p, root));
    CHECK_FALSE(
        merkle_verify_inclusion(d[i], std::numeric_limits<std::uint64_t>::max(), 7, p, root));
    CHECK_FALSE(merkle_verify_inclusion(d[i], 0, 0, {}, merkle_root({})));
  }
  SUBCASE("truncated proof") {
    Hashes q(p.begin(), p.end() - 1);
    CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, q, root));
  }
  SUBCASE("extended proof") {
    Hashes q = p;
    q.push_back(p[0]);
    CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, q, root));
    // Thousands of extra nodes are refused as quickly as one.
    Hashes huge = p;
    huge.resize(100000, p[0]);
    CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, huge, root));
  }
  SUBCASE("flipped bit in a proof node") {
    for (std::size_t j = 0; j < p.size(); ++j) {
      Hashes q = p;
      q[j] = flip_bit(q[j], 77);
      CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, q, root));
    }
  }
  SUBCASE("wrong root") {
    CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, p, merkle_root(prefix(d, 6))));
    CHECK_FALSE(merkle_verify_inclusion(d[i], i, 7, p, flip_bit(root, 0)));
  }
}

// RFC 9162 verification authenticates tree_size only through the root; this
// pins down the caveat documented in merkle.h so a change in it is noticed.
TEST_CASE("merkle: inclusion proof does not bind tree_size apart from the root") {
  Hashes d = make_leaves(3);
  Hash256 root3 = merkle_root(d);
  Hashes p = merkle_inclusion_proof(d, 0);
  CHECK(merkle_verify_inclusion(d[0], 0, 3, p, root3));
  CHECK(merkle_verify_inclusion(d[0], 0, 4, p, root3));
}

TEST_CASE("merkle: consistency rejections") {
  Hashes d = make_leaves(7);
  Hash256 root7 = merkle_root(d);

  // m = 3 exercises the general path; m = 4 the branch where the old tree is
  // complete and its root is left out of the proof. (No SUBCASEs here: doctest
  // would not re-enter them for the second m.)
  for (std::uint64_t m : {3, 4}) {
    CAPTURE(m);
    Hash256 old_root = merkle_root(prefix(d, m));
    Hashes p = merkle_consistency_proof(d, m);
    REQUIRE_FALSE(p.empty());
    REQUIRE(merkle_verify_consistency(m, 7, old_root, root7, p));

    // swapped roots
    CHECK_FALSE(merkle_verify_consistency(m, 7, root7, old_root, p));
    // old size 0
    CHECK_FALSE(merkle_verify_consistency(0, 7, merkle_root({}), root7, p));
    CHECK_FALSE(merkle_verify_consistency(0, 7, merkle_root({}), root7, {}));
    CHECK_FALSE(merkle_verify_consistency(0, 0, merkle_root({}), merkle_root({}), {}));
    // old size > new size
    CHECK_FALSE(merkle_verify_consistency(7, m, root7, old_root, p));
    CHECK_FALSE(merkle_verify_consistency(8, 7, old_root, root7, p));
    // empty proof for a growing tree
    CHECK_FALSE(merkle_verify_consistency(m, 7, old_root, root7, {}));
    // truncated proof
    CHECK_FALSE(merkle_verify_consistency(m, 7, old_root, root7, Hashes(p.begin(), p.end() - 1)));
    // extended proof, short and absurdly long
    Hashes longer = p;
    longer.push_back(p[0]);
    CHECK_FALSE(merkle_verify_consistency(m, 7, old_root, root7, longer));
    Hashes huge = p;
    huge.resize(100000, p[0]);
    CHECK_FALSE(merkle_verify_consistency(m, 7, old_root, root7, huge));
    // tampered node
    for (std::size_t j = 0; j < p.size(); ++j) {
      Hashes q = p;
      q[j] = flip_bit(q[j], 200);
      CHECK_FALSE(merkle_verify_consistency(m, 7, old_root, root7, q));
    }
    // wrong old root
    CHECK_FALSE(merkle_verify_consistency(m, 7, flip_bit(old_root, 3), root7, p));
  }
}

TEST_CASE("merkle: consistency with old_size == new_size") {
  Hashes d = make_leaves(5);
  Hash256 root = merkle_root(d);
  CHECK(merkle_consistency_proof(d, 5).empty());
  CHECK(merkle_verify_consistency(5, 5, root, root, {}));
  CHECK_FALSE(merkle_verify_consistency(5, 5, root, flip_bit(root, 9), {}));
  Hashes nonempty{root};
  CHECK_FALSE(merkle_verify_consistency(5, 5, root, root, nonempty));
}

// Every way of damaging every proof in small trees: catches a verifier that
// happens to reject the hand-picked cases above for the wrong reason.
TEST_CASE("merkle: exhaustive tampering, n = 1..32") {
  const std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  Hashes all = make_leaves(32);
  Hash256 stranger = merkle_leaf_hash(as_bytes("not in the tree"));
  Hashes roots;
  for (std::size_t n = 0; n <= 32; ++n) roots.push_back(merkle_root(prefix(all, n)));

  for (std::uint64_t n = 1; n <= 32; ++n) {
    Hashes d = prefix(all, n);
    const Hash256& root = roots[n];
    for (std::uint64_t i = 0; i < n; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      Hashes p = merkle_inclusion_proof(d, i);
      CHECK_FALSE(merkle_verify_inclusion(stranger, i, n, p, root));
      for (std::uint64_t j = 0; j < n; ++j) {
        if (j != i) CHECK_FALSE(merkle_verify_inclusion(d[i], j, n, p, root));
      }
      for (std::uint64_t bad : {n, n + 1, kMax}) {
        CHECK_FALSE(merkle_verify_inclusion(d[i], bad, n, p, root));
      }
      if (!p.empty()) {
        CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, Hashes(p.begin(), p.end() - 1), root));
        CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, Hashes(p.begin() + 1, p.end()), root));
      }
      Hashes longer = p;
      longer.push_back(stranger);
      CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, longer, root));
      Hashes front = p;
      front.insert(front.begin(), stranger);
      CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, front, root));
      for (std::size_t k = 0; k < p.size(); ++k) {
        for (std::size_t bit : {0, 128, 255}) {
          Hashes q = p;
          q[k] = flip_bit(q[k], bit);
          CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, q, root));
        }
      }
      CHECK_FALSE(merkle_verify_inclusion(d[i], i, n, p, flip_bit(root, 255)));
    }

    for (std::uint64_t m = 1; m <= n; ++m) {
      CAPTURE(n);
      CAPTURE(m);
      const Hash256& old_root = roots[m];
      Hashes p = merkle_consistency_proof(d, m);
      if (m < n) {
        CHECK_FALSE(merkle_verify_consistency(m, n, root, old_root, p));
        CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, {}));
        CHECK_FALSE(merkle_verify_consistency(n, m, root, old_root, p));
        CHECK_FALSE(
            merkle_verify_consistency(m, n, old_root, root, Hashes(p.begin(), p.end() - 1)));
        CHECK_FALSE(
            merkle_verify_consistency(m, n, old_root, root, Hashes(p.begin() + 1, p.end())));
      } else {
        CHECK(p.empty());
        CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, Hashes{stranger}));
      }
      CHECK_FALSE(merkle_verify_consistency(0, n, old_root, root, p));
      CHECK_FALSE(merkle_verify_consistency(n + 1, n, old_root, root, p));
      Hashes longer = p;
      longer.push_back(stranger);
      CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, longer));
      Hashes front = p;
      front.insert(front.begin(), stranger);
      CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, front));
      for (std::size_t k = 0; k < p.size(); ++k) {
        for (std::size_t bit : {0, 128, 255}) {
          Hashes q = p;
          q[k] = flip_bit(q[k], bit);
          CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, q));
        }
      }
      CHECK_FALSE(merkle_verify_consistency(m, n, flip_bit(old_root, 1), root, p));
      CHECK_FALSE(merkle_verify_consistency(m, n, old_root, flip_bit(root, 1), p));
    }
  }
}

}  // namespace custos
