#include "core/verified_signatures.h"

#include <atomic>
#include <cstring>
#include <thread>

namespace custos {
namespace {

// Below this many signatures a block's checks are not worth a thread.
constexpr std::size_t kChecksPerThreadMin = 16;

}  // namespace

std::size_t VerifiedSignatures::KeyHash::operator()(const Hash256& h) const {
  std::size_t out;
  std::memcpy(&out, h.bytes.data(), sizeof out);
  return out;
}

Hash256 VerifiedSignatures::triple(const PublicKey& key, ByteView message,
                                   const Signature& signature) {
  Bytes all(key.compressed().begin(), key.compressed().end());
  all.insert(all.end(), signature.compact.begin(), signature.compact.end());
  all.insert(all.end(), message.begin(), message.end());
  return sha256(all);
}

bool VerifiedSignatures::verify_and_remember(const PublicKey& key, ByteView message,
                                             const Signature& signature) {
  Hash256 t = triple(key, message, signature);
  {
    std::lock_guard lock(mu_);
    if (held_.contains(t)) return true;
  }
  if (!verify_compact(key, message, signature.compact)) return false;
  std::lock_guard lock(mu_);
  if (held_.insert(t).second) {
    order_.push_back(t);
    // order_ is never shorter than held_, so bounding it bounds both.
    while (order_.size() > capacity_) {
      held_.erase(order_.front());
      order_.pop_front();
    }
  }
  return true;
}

bool VerifiedSignatures::verify_once(const PublicKey& key, ByteView message,
                                     const Signature& signature) {
  Hash256 t = triple(key, message, signature);
  {
    std::lock_guard lock(mu_);
    if (held_.erase(t) == 1) return true;
  }
  return verify_compact(key, message, signature.compact);
}

std::size_t VerifiedSignatures::size() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

bool VerifiedSignatures::holds(const PublicKey& key, ByteView message,
                               const Signature& signature) const {
  Hash256 t = triple(key, message, signature);
  std::lock_guard lock(mu_);
  return held_.contains(t);
}

void verify_ahead(VerifiedSignatures& cache, const std::vector<SignatureCheck>& checks,
                  unsigned threads) {
  // Only what is not remembered yet: on the node that admitted a block's
  // transactions that is nothing, and no thread is started.
  std::vector<const SignatureCheck*> misses;
  for (const auto& c : checks) {
    if (!cache.holds(*c.key, c.message, *c.signature)) misses.push_back(&c);
  }
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < misses.size(); i = next++) {
      cache.verify_and_remember(*misses[i]->key, misses[i]->message, *misses[i]->signature);
    }
  };
  std::size_t helpers = std::min<std::size_t>(threads, misses.size() / kChecksPerThreadMin);
  helpers = helpers > 0 ? helpers - 1 : 0;
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < helpers; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace custos
