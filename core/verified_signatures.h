// Signatures this process has already verified, so that a transaction's
// signatures are verified once per node: at admission (or ahead of a block,
// in parallel) and not again when its block executes.
//
// An entry is the exact (public key, message, signature) triple that
// verified, so a hit is as good as verifying again: caching changes how
// fast a node decides, never what it decides. Bounded: once `capacity`
// triples are held, the oldest are forgotten first (and simply verified
// again if asked for). Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "core/hash.h"
#include "core/keys.h"

namespace custos {

class VerifiedSignatures {
 public:
  explicit VerifiedSignatures(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // 200k triples: the mempool's worth of two-signature transactions, at
  // about 100 bytes each.
  static constexpr std::size_t kDefaultCapacity = 200'000;

  // verify_compact(key, message, signature), remembering a triple that
  // verifies.
  bool verify_and_remember(const PublicKey& key, ByteView message, const Signature& signature);
  // True if the triple is remembered (and then forgets it: a transaction
  // executes once per node) or verifies now.
  bool verify_once(const PublicKey& key, ByteView message, const Signature& signature);

  // Whether the triple is remembered (nothing is verified or forgotten).
  bool holds(const PublicKey& key, ByteView message, const Signature& signature) const;

  std::size_t size() const;

 private:
  struct KeyHash {
    std::size_t operator()(const Hash256& h) const;
  };
  static Hash256 triple(const PublicKey& key, ByteView message, const Signature& signature);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<Hash256, KeyHash> held_;
  std::deque<Hash256> order_;  // oldest first; may name triples already forgotten
};

// Verifies `checks` (key, message, signature) across up to `threads` threads
// (the caller's among them) and remembers those that verify: the signatures
// of a block that this node did not admit itself, before the block executes
// one transaction at a time.
struct SignatureCheck {
  const PublicKey* key;
  ByteView message;
  const Signature* signature;
};
void verify_ahead(VerifiedSignatures& cache, const std::vector<SignatureCheck>& checks,
                  unsigned threads);

}  // namespace custos
