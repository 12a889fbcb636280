// A bounded queue of admitted transactions waiting to be ordered.
// Thread-safe. It pushes back instead of growing: add() refuses when full.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "core/tx.h"
#include "node/config.h"

namespace custos::node {

class Mempool {
 public:
  // `committed` says whether the ledger holds an id (the orderers pass the
  // ledger's has_tx); none: nothing counts as committed.
  explicit Mempool(MempoolLimits limits, std::function<bool(const Hash256&)> committed = {})
      : limits_(limits), committed_(std::move(committed)) {}

  // Errors: "mempool_full", "duplicate" (queued, or taken and not yet
  // forgotten, i.e. still being ordered), "committed". An id is forgotten
  // only after its block is applied, and the ledger is asked under the same
  // lock, so a transaction committed while its copy was being admitted is
  // refused here, not queued a second time.
  Status add(const Transaction& tx, const Hash256& id);

  // Blocks until there is something to take, then keeps waiting until either
  // block.txs_max transactions are queued or the oldest has waited
  // block.wait_ms_max; returns at most txs_max transactions and bytes_max
  // bytes (always at least one). Returns empty after close().
  std::vector<std::pair<Transaction, Hash256>> take_batch(const BlockLimits& block);

  // Non-blocking take_batch for an orderer with its own loop: a batch if
  // block.txs_max transactions are queued or the oldest has waited
  // block.wait_ms_max (any queued one if `now`), else empty.
  std::vector<std::pair<Transaction, Hash256>> take_ready(const BlockLimits& block, bool now);
  // When the oldest queued transaction completes a batch; nullopt if empty.
  std::optional<std::chrono::steady_clock::time_point> ready_at(const BlockLimits& block) const;

  // The ids are committed (or dropped): a later duplicate is the ledger's to refuse.
  void forget(const std::vector<Hash256>& ids);
  void close();
  std::size_t size() const;

 private:
  struct Entry {
    Transaction tx;
    Hash256 id;
    std::size_t bytes;
    std::chrono::steady_clock::time_point added;
  };
  // Pops up to one block's worth; the caller holds mu_.
  std::vector<std::pair<Transaction, Hash256>> pop_batch(const BlockLimits& block);

  const MempoolLimits limits_;
  const std::function<bool(const Hash256&)> committed_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  std::set<Hash256> known_;  // queued or in flight
  std::size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace custos::node
