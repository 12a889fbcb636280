// Single-node ordering: one thread cuts blocks from the mempool and hands
// them to the applier. The block's header fields come from the ledger head.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "ledger/ledger.h"
#include "node/mempool.h"
#include "node/orderer.h"

namespace custos::node {

class SoloOrderer : public Orderer {
 public:
  // `now_ms` is the wall clock (injectable for tests). The block timestamp
  // never goes backwards: max(now, previous block's timestamp).
  SoloOrderer(std::string node_id, std::string network_id, const ledger::Ledger& ledger,
              BlockApplier& applier, BlockLimits block_limits, MempoolLimits mempool_limits,
              std::function<std::int64_t()> now_ms);
  ~SoloOrderer() override;

  Status submit(const Transaction& tx, const Hash256& tx_id) override;
  Status start() override;
  void stop() override;
  std::string role() const override { return "solo"; }
  ConsensusStatus status() const override {
    ConsensusStatus s;
    s.leader = node_id_;
    return s;
  }
  std::size_t pending_txs() const override { return mempool_.size(); }

 private:
  void run();

  const std::string node_id_;
  const std::string network_id_;
  const ledger::Ledger& ledger_;
  BlockApplier& applier_;
  const BlockLimits block_limits_;
  Mempool mempool_;
  std::function<std::int64_t()> now_ms_;
  std::thread thread_;
};

}  // namespace custos::node
