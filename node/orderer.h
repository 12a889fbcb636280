// Ordering: how admitted transactions become a sequence of blocks. The
// single-node SoloOrderer cuts blocks itself; the Raft issue implements the
// same interface with replicated ordering, and nothing above it changes.
#pragma once

#include <string>

#include "core/block.h"
#include "core/result.h"
#include "core/tx.h"

namespace custos::node {

// What the orderer hands ordered blocks to (the node: execute, then commit).
// apply() is called from one thread, in height order.
class BlockApplier {
 public:
  virtual ~BlockApplier() = default;
  virtual void apply(const Block& block) = 0;
};

class Orderer {
 public:
  virtual ~Orderer() = default;
  // Queues an admitted transaction. Errors: "mempool_full" (the caller should
  // retry later: HTTP 503), "duplicate" (already queued or being ordered).
  // Thread-safe.
  virtual Status submit(const Transaction& tx, const Hash256& tx_id) = 0;
  virtual void start() = 0;
  // Stops cutting blocks; returns once no apply() is in progress.
  virtual void stop() = 0;
  // "solo" for a single node; "leader", "follower", "learner" under Raft.
  virtual std::string role() const = 0;
  virtual std::size_t pending_txs() const = 0;
};

}  // namespace custos::node
