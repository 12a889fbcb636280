#include "node/solo_orderer.h"

#include <algorithm>
#include <cstdlib>

#include "node/worker.h"

namespace custos::node {

SoloOrderer::SoloOrderer(std::string node_id, std::string network_id, const ledger::Ledger& ledger,
                         BlockApplier& applier, BlockLimits block_limits,
                         MempoolLimits mempool_limits, std::function<std::int64_t()> now_ms)
    : node_id_(std::move(node_id)),
      network_id_(std::move(network_id)),
      ledger_(ledger),
      applier_(applier),
      block_limits_(block_limits),
      mempool_(mempool_limits, [this](const Hash256& id) { return ledger_.has_tx(id); }),
      now_ms_(std::move(now_ms)) {}

SoloOrderer::~SoloOrderer() {
  stop();
}

Status SoloOrderer::submit(const Transaction& tx, const Hash256& tx_id) {
  return mempool_.add(tx, tx_id);
}

Status SoloOrderer::start() {
  if (!thread_.joinable()) {
    thread_ = std::thread([this] {
      name_this_thread("custos-order");
      run();
    });
  }
  return ok_status();
}

void SoloOrderer::stop() {
  mempool_.close();
  if (thread_.joinable()) thread_.join();
}

void SoloOrderer::run() {
  for (;;) {
    auto batch = mempool_.take_batch(block_limits_);
    if (batch.empty()) return;  // closed
    auto head = ledger_.head();
    if (!head) std::abort();  // the node commits genesis before starting the orderer
    std::vector<Transaction> txs;
    std::vector<Hash256> ids;
    txs.reserve(batch.size());
    for (auto& [tx, id] : batch) {
      txs.push_back(std::move(tx));
      ids.push_back(id);
    }
    Block block = next_block(network_id_, *head, now_ms_(), node_id_, std::move(txs), &ids);
    applier_.apply(block, ids);
    mempool_.forget(ids);
  }
}

}  // namespace custos::node
