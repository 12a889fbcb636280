#include "node/orderer.h"

#include <algorithm>

namespace custos::node {

Block next_block(const std::string& network_id, const ledger::Head& head, std::int64_t now_ms,
                 const std::string& proposer, std::vector<Transaction> txs,
                 const std::vector<Hash256>* tx_ids) {
  Block block = make_block(network_id, head.height + 1, head.block_hash,
                           std::max(now_ms, head.timestamp_ms), proposer, head.results_hash,
                           std::move(txs), tx_ids);
  block.header.prev_log_size = head.log_size;
  block.header.prev_log_root = head.log_root;
  block.header.prev_state_root = head.state_root;
  return block;
}

std::optional<std::string> check_extends(const std::string& network_id, const BlockHeader& h,
                                         const ledger::Head& head) {
  if (h.network_id != network_id || h.height != head.height + 1 ||
      h.prev_hash != head.block_hash || h.timestamp_ms < head.timestamp_ms) {
    return "chain";
  }
  if (h.prev_results_hash != head.results_hash || h.prev_log_size != head.log_size ||
      h.prev_log_root != head.log_root || h.prev_state_root != head.state_root) {
    return "diverged";
  }
  return std::nullopt;
}

}  // namespace custos::node
