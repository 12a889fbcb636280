#include "core/merkle_log.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/hash.h"
#include "core/merkle.h"

namespace custos {
namespace {

using Hashes = std::vector<Hash256>;

Hashes make_leaves(std::size_t n) {
  Hashes out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(merkle_leaf_hash(as_bytes("log leaf " + std::to_string(i))));
  }
  return out;
}

std::span<const Hash256> prefix(const Hashes& d, std::uint64_t n) {
  return std::span<const Hash256>(d).first(static_cast<std::size_t>(n));
}

// Counts reads, and checks that a query about the first `bound` leaves only
// reads nodes lying inside them: a node beyond would exist in a bigger log
// and silently give a wrong answer instead of aborting.
// Also counts get_many batches and the reads made outside them, since root
// and the proofs promise one batch per query (merkle_log.h).
class AuditingStore final : public MerkleLogStore {
 public:
  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const override {
    ++reads;
    if (!in_batch) ++reads_outside_batch;
    if (((index + 1) << level) > bound) ++reads_out_of_bound;
    return inner.get(level, index);
  }

  void get_many(std::span<const NodeId> ids, std::span<std::optional<Hash256>> out) const override {
    ++batches;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (ids[j] == ids[i]) ++batch_duplicates;
      }
    }
    in_batch = true;
    MerkleLogStore::get_many(ids, out);
    in_batch = false;
  }

  void start_query(std::uint64_t tree_size) {
    reads = 0;
    reads_out_of_bound = 0;
    reads_outside_batch = 0;
    batches = 0;
    batch_duplicates = 0;
    bound = tree_size;
  }

  // A query made its reads in one batch, each node once.
  bool read_in_one_batch() const {
    return batches == 1 && reads_outside_batch == 0 && batch_duplicates == 0;
  }

  MemoryMerkleLogStore inner;
  mutable std::uint64_t reads = 0;
  mutable std::uint64_t reads_out_of_bound = 0;
  mutable std::uint64_t reads_outside_batch = 0;
  mutable std::uint64_t batches = 0;
  mutable std::uint64_t batch_duplicates = 0;
  mutable bool in_batch = false;
  std::uint64_t bound = std::numeric_limits<std::uint64_t>::max();
};

// The documented per-proof read bound of merkle_log.h.
std::uint64_t proof_reads_max(std::uint64_t tree_size) {
  return 2 * static_cast<std::uint64_t>(std::bit_width(tree_size)) + 2;
}

// core/merkle.h's answers for the first s leaves, computed once per size:
// they cost O(s) hashing each and the tests ask for them at many log sizes.
class Reference {
 public:
  explicit Reference(const Hashes& leaves) : leaves_(leaves) {
    for (std::size_t s = 0; s <= leaves.size(); ++s)
      roots_.push_back(merkle_root(prefix(leaves, s)));
  }

  const Hash256& root(std::uint64_t s) const { return roots_[s]; }

  const std::vector<Hashes>& inclusion(std::uint64_t s) {
    auto& cached = inclusion_[s];
    if (cached.empty()) {
      for (std::uint64_t i = 0; i < s; ++i) {
        cached.push_back(merkle_inclusion_proof(prefix(leaves_, s), i));
      }
    }
    return cached;
  }

  // Indexed by old size; entry 0 is unused.
  const std::vector<Hashes>& consistency(std::uint64_t s) {
    auto& cached = consistency_[s];
    if (cached.empty()) {
      cached.emplace_back();
      for (std::uint64_t m = 1; m <= s; ++m) {
        cached.push_back(merkle_consistency_proof(prefix(leaves_, s), m));
      }
    }
    return cached;
  }

 private:
  const Hashes& leaves_;
  Hashes roots_;
  std::map<std::uint64_t, std::vector<Hashes>> inclusion_;
  std::map<std::uint64_t, std::vector<Hashes>> consistency_;
};

// Checks root, every inclusion proof and every consistency proof of the
// first tree_size leaves of a log of log_size leaves, with reads audited.
void check_all_queries(AuditingStore& store, std::uint64_t log_size, const Hashes& leaves,
                       Reference& ref, std::uint64_t tree_size) {
  CAPTURE(log_size);
  CAPTURE(tree_size);
  MerkleLog log(store, log_size);

  store.start_query(tree_size);
  Result<Hash256> root = log.root(tree_size);
  REQUIRE(root.ok());
  CHECK(*root == ref.root(tree_size));
  CHECK(store.reads == static_cast<std::uint64_t>(std::popcount(tree_size)));
  CHECK(store.reads_out_of_bound == 0);
  if (tree_size > 0) CHECK(store.read_in_one_batch());  // the empty root reads nothing

  const std::vector<Hashes>& inclusion = ref.inclusion(tree_size);
  for (std::uint64_t i = 0; i < tree_size; ++i) {
    CAPTURE(i);
    store.start_query(tree_size);
    auto p = log.inclusion_proof(i, tree_size);
    REQUIRE(p.ok());
    CHECK(*p == inclusion[i]);
    CHECK(merkle_verify_inclusion(leaves[i], i, tree_size, *p, *root));
    CHECK(store.reads <= proof_reads_max(tree_size));
    CHECK(store.reads_out_of_bound == 0);
    CHECK(store.read_in_one_batch());
  }
  const std::vector<Hashes>& consistency = ref.consistency(tree_size);
  for (std::uint64_t m = 1; m <= tree_size; ++m) {
    CAPTURE(m);
    store.start_query(tree_size);
    auto p = log.consistency_proof(m, tree_size);
    REQUIRE(p.ok());
    CHECK(*p == consistency[m]);
    CHECK(merkle_verify_consistency(m, tree_size, ref.root(m), *root, *p));
    CHECK(store.reads <= proof_reads_max(tree_size));
    CHECK(store.reads_out_of_bound == 0);
    CHECK(store.read_in_one_batch());
  }
}

Hash256 from_hex_or_die(const std::string& hex) {
  auto h = Hash256::from_hex(hex);
  REQUIRE(h.ok());
  return *h;
}

}  // namespace

TEST_CASE("merkle_log: published RFC 6962 roots for 0..8 leaves") {
  std::ifstream in(std::string(CUSTOS_SOURCE_DIR) + "/tests/vectors/rfc6962_merkle.json");
  REQUIRE(in.good());
  nlohmann::json v = nlohmann::json::parse(in);
  const auto& inputs = v.at("leaf_inputs_hex");
  const auto& root_hex = v.at("root_hashes_hex");
  REQUIRE(inputs.size() == 8);
  REQUIRE(root_hex.size() == 9);

  MemoryMerkleLogStore store;
  std::uint64_t size = 0;
  for (const auto& input : inputs) {
    auto data = hex_decode(input.get<std::string>());
    REQUIRE(data.ok());
    store.apply(MerkleLog(store, size).append(merkle_leaf_hash(*data)));
    ++size;
  }
  MerkleLog log(store, size);
  for (std::uint64_t n = 0; n <= 8; ++n) {
    CAPTURE(n);
    auto r = log.root(n);
    REQUIRE(r.ok());
    CHECK(*r == from_hex_or_die(root_hex[n].get<std::string>()));
  }
}

TEST_CASE("merkle_log: append stores exactly the complete subtrees") {
  Hashes leaves = make_leaves(300);
  MemoryMerkleLogStore store;
  std::uint64_t size = 0;
  for (const Hash256& leaf : leaves) {
    CAPTURE(size);
    std::vector<NodeWrite> w = MerkleLog(store, size).append(leaf);
    // The leaf, then one node per trailing one bit of the old size.
    REQUIRE(w.size() == 1 + static_cast<std::size_t>(std::countr_one(size)));
    for (std::size_t l = 0; l < w.size(); ++l) {
      CHECK(w[l].level == l);
      CHECK(w[l].index == (size >> l));
      // The node is MTH of the 2^l leaves it spans.
      auto span = prefix(leaves, size + 1).last(std::size_t{1} << l);
      CHECK(w[l].hash == merkle_root(span));
    }
    store.apply(w);
    ++size;
  }
  // n leaves give n + (n - 1) - (popcount(n) - 1) nodes: every interior node of
  // a complete subtree, none for the incomplete right edge.
  CHECK(store.node_count() == 2 * 300 - static_cast<std::uint64_t>(std::popcount(300u)));
}

TEST_CASE("merkle_log: every size of every log up to 300 leaves equals core/merkle.h") {
  Hashes leaves = make_leaves(300);
  Reference ref(leaves);
  AuditingStore store;
  for (std::uint64_t n = 0; n <= leaves.size(); ++n) {
    if (n > 0) store.inner.apply(MerkleLog(store.inner, n - 1).append(leaves[n - 1]));
    for (std::uint64_t s = 0; s <= n; ++s) {
      CAPTURE(n);
      CAPTURE(s);
      store.start_query(s);
      auto r = MerkleLog(store, n).root(s);
      REQUIRE(r.ok());
      CHECK(*r == ref.root(s));
      CHECK(store.reads_out_of_bound == 0);
    }
    // Every proof of the newest size, while the store holds nothing more: a
    // read past the size would abort here.
    check_all_queries(store, n, leaves, ref, n);
  }
  // Every proof of every older size of the full log. The audit shows no query
  // reads past its size, and stored nodes never change, so a proof of size s
  // is the same at every log size n >= s; checking n = s and n = 300 covers
  // the n in between.
  for (std::uint64_t s = 0; s <= leaves.size(); ++s) {
    check_all_queries(store, leaves.size(), leaves, ref, s);
  }
}

TEST_CASE("merkle_log: batch append returns what one-by-one appends return") {
  Hashes leaves = make_leaves(2000);
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    MemoryMerkleLogStore one_store;
    std::uint64_t one_size = 0;
    MemoryMerkleLogStore batch_store;
    std::uint64_t batch_size = 0;
    while (batch_size < leaves.size()) {
      // Blocks of 0..300 transactions, including empty ones.
      std::uint64_t k = std::min<std::uint64_t>(rng() % 301, leaves.size() - batch_size);
      auto block = std::span<const Hash256>(leaves).subspan(batch_size, k);

      std::vector<NodeWrite> expected;
      for (const Hash256& leaf : block) {
        std::vector<NodeWrite> w = MerkleLog(one_store, one_size).append(leaf);
        one_store.apply(w);
        ++one_size;
        expected.insert(expected.end(), w.begin(), w.end());
      }
      std::vector<NodeWrite> got = MerkleLog(batch_store, batch_size).append(block);
      CHECK(got == expected);
      CHECK(got.size() <= 2 * k + 64);
      batch_store.apply(got);
      batch_size += k;
    }
    CHECK(batch_store.node_count() == one_store.node_count());
    CHECK(MerkleLog(batch_store, batch_size).root(batch_size).value() == merkle_root(leaves));
  }
}

TEST_CASE("merkle_log: a batch reads at most the peaks of the starting size") {
  Hashes leaves = make_leaves(1100);
  AuditingStore store;
  std::uint64_t size = 0;
  for (std::uint64_t k : {1, 1, 5, 1, 57, 64, 300, 1, 1, 255, 256, 2, 1, 155}) {
    CAPTURE(size);
    CAPTURE(k);
    store.start_query(size);
    auto w = MerkleLog(store, size).append(std::span<const Hash256>(leaves).subspan(size, k));
    CHECK(store.reads <= static_cast<std::uint64_t>(std::popcount(size)));
    CHECK(store.reads_out_of_bound == 0);
    store.inner.apply(w);
    size += k;
  }
  CHECK(MerkleLog(store, size).root(size).value() == merkle_root(prefix(leaves, size)));
}

TEST_CASE("merkle_log: 100k leaves appended in blocks agree with core/merkle.h") {
  constexpr std::uint64_t kLeaves = 100'000;
  Hashes leaves = make_leaves(kLeaves);
  AuditingStore store;
  std::uint64_t size = 0;
  std::mt19937_64 rng(7);
  while (size < kLeaves) {
    std::uint64_t k = std::min<std::uint64_t>(1 + rng() % 1000, kLeaves - size);
    store.inner.apply(
        MerkleLog(store.inner, size).append(std::span<const Hash256>(leaves).subspan(size, k)));
    size += k;
  }
  MerkleLog log(store, size);

  // Powers of two and their neighbours are the edge cases of the split; the
  // rest are random. The reference costs O(size) per call, so few sizes.
  std::vector<std::uint64_t> sizes = {1, 2, 3, 65535, 65536, 65537, 99'999, kLeaves};
  for (int i = 0; i < 8; ++i) sizes.push_back(1 + rng() % kLeaves);
  for (std::uint64_t s : sizes) {
    CAPTURE(s);
    auto d = prefix(leaves, s);
    Hash256 expected_root = merkle_root(d);
    store.start_query(s);
    CHECK(log.root(s).value() == expected_root);
    CHECK(store.reads_out_of_bound == 0);
    for (std::uint64_t index : {std::uint64_t{0}, s - 1, rng() % s, rng() % s}) {
      CAPTURE(index);
      store.start_query(s);
      auto p = log.inclusion_proof(index, s);
      REQUIRE(p.ok());
      CHECK(store.reads <= proof_reads_max(s));
      CHECK(store.reads_out_of_bound == 0);
      CHECK(*p == merkle_inclusion_proof(d, index));
      CHECK(merkle_verify_inclusion(d[index], index, s, *p, expected_root));
    }
    for (std::uint64_t m : {std::uint64_t{1}, s, 1 + rng() % s}) {
      CAPTURE(m);
      store.start_query(s);
      auto p = log.consistency_proof(m, s);
      REQUIRE(p.ok());
      CHECK(store.reads <= proof_reads_max(s));
      CHECK(store.reads_out_of_bound == 0);
      CHECK(*p == merkle_consistency_proof(d, m));
      CHECK(merkle_verify_consistency(m, s, merkle_root(prefix(leaves, m)), expected_root, *p));
    }
  }
}

TEST_CASE("merkle_log: proof reads stay within 2 * log2(n) + 2 at 2^17 leaves") {
  // Only the read count matters here, so the reference is not consulted and
  // every index of some sizes is tried, including the worst shapes (all ones).
  constexpr std::uint64_t kLeaves = std::uint64_t{1} << 17;
  Hashes leaves = make_leaves(kLeaves);
  AuditingStore store;
  store.inner.apply(MerkleLog(store.inner, 0).append(leaves));
  MerkleLog log(store, kLeaves);
  std::mt19937_64 rng(11);
  std::uint64_t reads_max_seen = 0;
  for (std::uint64_t s : {kLeaves - 1, kLeaves, std::uint64_t{0x15555}, std::uint64_t{100'000}}) {
    CAPTURE(s);
    for (int q = 0; q < 2000; ++q) {
      std::uint64_t index = rng() % s;
      store.start_query(s);
      REQUIRE(log.inclusion_proof(index, s).ok());
      CHECK(store.reads <= proof_reads_max(s));
      reads_max_seen = std::max(reads_max_seen, store.reads);
      std::uint64_t m = 1 + rng() % s;
      store.start_query(s);
      REQUIRE(log.consistency_proof(m, s).ok());
      CHECK(store.reads <= proof_reads_max(s));
      reads_max_seen = std::max(reads_max_seen, store.reads);
    }
  }
  MESSAGE("most store reads for one proof at n = 2^17: " << reads_max_seen);
}

TEST_CASE("merkle_log: root and proofs read their nodes in one get_many batch") {
  // The fast subset of "every size of every log": all queries of sizes up to
  // 70 (every shape of up to 7 peaks), answers against core/merkle.h.
  Hashes leaves = make_leaves(70);
  Reference ref(leaves);
  AuditingStore store;
  store.inner.apply(MerkleLog(store.inner, 0).append(leaves));
  for (std::uint64_t s = 1; s <= leaves.size(); ++s) check_all_queries(store, 70, leaves, ref, s);
}

// A store whose batch read disagrees with its single reads: the answers must
// come from the batch (what a store overriding get_many returns is what is
// used, with no read repeated one by one).
class BatchOnlyStore final : public MerkleLogStore {
 public:
  std::optional<Hash256> get(std::uint32_t, std::uint64_t) const override { return Hash256{}; }
  void get_many(std::span<const NodeId> ids, std::span<std::optional<Hash256>> out) const override {
    for (std::size_t i = 0; i < ids.size(); ++i) out[i] = inner.get(ids[i].level, ids[i].index);
  }
  MemoryMerkleLogStore inner;
};

TEST_CASE("merkle_log: answers use what get_many returned") {
  Hashes leaves = make_leaves(37);
  BatchOnlyStore store;
  store.inner.apply(MerkleLog(store.inner, 0).append(leaves));
  MerkleLog log(store, leaves.size());
  for (std::uint64_t s = 1; s <= leaves.size(); ++s) {
    CAPTURE(s);
    CHECK(log.root(s).value() == merkle_root(prefix(leaves, s)));
    for (std::uint64_t i = 0; i < s; ++i) {
      CHECK(log.inclusion_proof(i, s).value() == merkle_inclusion_proof(prefix(leaves, s), i));
      CHECK(log.consistency_proof(i + 1, s).value() ==
            merkle_consistency_proof(prefix(leaves, s), i + 1));
    }
  }
}

TEST_CASE("merkle_log: out-of-range queries are bad_range errors") {
  Hashes leaves = make_leaves(10);
  MemoryMerkleLogStore store;
  store.apply(MerkleLog(store, 0).append(leaves));
  MerkleLog log(store, 10);
  MerkleLog empty(store, 0);
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

  auto is_bad_range = [](const auto& r) { return !r.ok() && r.error().code == "bad_range"; };
  CHECK(is_bad_range(log.root(11)));
  CHECK(is_bad_range(log.root(kMax)));
  CHECK(is_bad_range(empty.root(1)));
  CHECK(empty.root(0).value() == merkle_root({}));

  CHECK(is_bad_range(log.inclusion_proof(0, 11)));
  CHECK(is_bad_range(log.inclusion_proof(10, 10)));
  CHECK(is_bad_range(log.inclusion_proof(5, 5)));
  CHECK(is_bad_range(log.inclusion_proof(kMax, kMax)));
  CHECK(is_bad_range(log.inclusion_proof(0, 0)));
  CHECK(is_bad_range(empty.inclusion_proof(0, 0)));
  CHECK(log.inclusion_proof(9, 10).ok());

  CHECK(is_bad_range(log.consistency_proof(0, 5)));
  CHECK(is_bad_range(log.consistency_proof(0, 0)));
  CHECK(is_bad_range(log.consistency_proof(6, 5)));
  CHECK(is_bad_range(log.consistency_proof(5, 11)));
  CHECK(is_bad_range(log.consistency_proof(11, 11)));
  CHECK(is_bad_range(log.consistency_proof(1, kMax)));
  CHECK(is_bad_range(empty.consistency_proof(1, 1)));
  CHECK(log.consistency_proof(10, 10).value().empty());
}

TEST_CASE("merkle_log: a node missing from the store aborts with a message") {
  Hashes leaves = make_leaves(6);
  MemoryMerkleLogStore store;
  store.apply(MerkleLog(store, 0).append(leaves));
  // The view claims 8 leaves, so root(8) needs node (3, 0), never written.
  MerkleLog lying(store, 8);

  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  // Unflushed test output would otherwise be printed twice.
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // doctest reports SIGABRT as a crashed test; the child must just die.
    std::signal(SIGABRT, SIG_DFL);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    (void)lying.root(8);
    ::_exit(0);  // reached only if the missing node went unnoticed
  }
  ::close(pipe_fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t got; (got = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) err.append(buf, got);
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("node (level 3, index 0) is missing") != std::string::npos);
}

}  // namespace custos
