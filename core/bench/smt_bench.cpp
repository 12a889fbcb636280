// Prints what the sparse Merkle tree costs at ledger scale with the in-memory
// store: time to load N keys in block-sized batches, hashes per key, and the
// size of proofs at N keys. Usage: smt_bench [keys] [batch]
// (defaults 1000000 and 1000).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/smt.h"

using namespace custos;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string key_of(std::size_t i) {
  return "custody/item/E-2026-" + std::to_string(i);
}

Hash256 value_of(std::size_t i, int round) {
  return sha256(std::string_view("event " + std::to_string(i) + "/" + std::to_string(round)));
}

// Applies one batch; a failure here is a bug in the tree, so stop.
SmtUpdate commit(MemorySmtStore& store, const std::vector<SmtChange>& batch) {
  auto up = smt_update(store, batch);
  if (!up) {
    std::fprintf(stderr, "update failed: %s\n", up.error().message.c_str());
    std::exit(1);
  }
  store.apply(up->writes);
  return std::move(up).value();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t keys = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::size_t batch_keys = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000;
  if (keys == 0 || batch_keys == 0 || batch_keys > kSmtBatchChangesMax) {
    std::fprintf(stderr, "usage: smt_bench [keys >= 1] [batch 1..%zu]\n", kSmtBatchChangesMax);
    return 2;
  }

  MemorySmtStore store;
  std::uint64_t hashes = 0, puts = 0;
  auto start = Clock::now();
  for (std::size_t at = 0; at < keys; at += batch_keys) {
    std::vector<SmtChange> batch;
    for (std::size_t i = at; i < std::min(keys, at + batch_keys); ++i) {
      batch.push_back({key_of(i), value_of(i, 0)});
    }
    SmtUpdate up = commit(store, batch);
    hashes += up.hashes;
    puts += up.writes.puts.size();
  }
  double load_s = seconds_since(start);
  std::printf(
      "insert %zu keys in batches of %zu: %.2f s (%.0f keys/s), %.1f hashes and %.1f puts per key, "
      "%zu nodes\n",
      keys, batch_keys, load_s, keys / load_s, double(hashes) / keys, double(puts) / keys,
      store.node_count());

  // Steady state: a block's worth of updates to existing keys.
  std::mt19937_64 rng(1);
  const int rounds = 20;
  hashes = 0;
  puts = 0;
  std::uint64_t deletes = 0;
  start = Clock::now();
  for (int r = 1; r <= rounds; ++r) {
    std::vector<SmtChange> batch;
    for (std::size_t i = 0; i < batch_keys; ++i) {
      std::size_t k = (r * batch_keys + i * 7919) % keys;  // distinct within a batch
      batch.push_back({key_of(k), value_of(k, r)});
    }
    SmtUpdate up = commit(store, batch);
    hashes += up.hashes;
    puts += up.writes.puts.size();
    deletes += up.writes.deletes.size();
  }
  double upd_s = seconds_since(start);
  std::printf(
      "update %d batches of %zu existing keys: %.2f ms per batch, %.1f hashes and %.1f writes per "
      "key\n",
      rounds, batch_keys, upd_s * 1000 / rounds, double(hashes) / (rounds * batch_keys),
      double(puts + deletes) / (rounds * batch_keys));

  Hash256 root = smt_root(store).value();
  const int samples = 10000;
  std::uint64_t siblings = 0, binary_bytes = 0, json_bytes = 0, max_siblings = 0, leaves = 0;
  double prove_s = 0, verify_s = 0;
  for (int s = 0; s < samples; ++s) {
    // Half members, half absent keys.
    std::string key = s % 2 ? key_of(rng() % keys) : "custody/item/absent-" + std::to_string(s);
    auto t0 = Clock::now();
    SmtLookup l = smt_prove(store, key).value();
    prove_s += seconds_since(t0);
    t0 = Clock::now();
    if (!smt_verify(root, key, l.value, l.proof)) {
      std::fprintf(stderr, "proof for %s does not verify\n", key.c_str());
      return 1;
    }
    verify_s += seconds_since(t0);
    siblings += l.proof.siblings.size();
    max_siblings = std::max<std::uint64_t>(max_siblings, l.proof.siblings.size());
    binary_bytes += 32 * l.proof.siblings.size() + (l.proof.leaf ? 64 : 0);
    json_bytes += smt_proof_to_json(l.proof).dump().size();
    leaves += l.proof.leaf ? 1 : 0;
  }
  std::printf(
      "proofs at %zu keys (%d samples, half absent): %.2f siblings on average, %llu at most; "
      "%.0f bytes as hashes, %.0f bytes as JSON; %llu absent proofs end on another leaf\n",
      keys, samples, double(siblings) / samples, (unsigned long long)max_siblings,
      double(binary_bytes) / samples, double(json_bytes) / samples, (unsigned long long)leaves);
  std::printf("prove %.1f us, verify %.1f us per proof\n", prove_s * 1e6 / samples,
              verify_s * 1e6 / samples);
  return 0;
}
