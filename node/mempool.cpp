#include "node/mempool.h"

namespace custos::node {

Status Mempool::add(const Transaction& tx, const Hash256& id) {
  std::size_t bytes = tx.body_canonical().size() + 200 * tx.signatures.size();
  {
    std::lock_guard lock(mu_);
    if (known_.contains(id)) return make_error("duplicate", "transaction is already queued");
    if (committed_ && committed_(id)) {
      return make_error("committed", "transaction was already committed");
    }
    if (queue_.size() >= limits_.txs_max || bytes_ + bytes > limits_.bytes_max) {
      return make_error("mempool_full", "the node is busy; retry shortly");
    }
    queue_.push_back({tx, id, bytes, std::chrono::steady_clock::now()});
    known_.insert(id);
    bytes_ += bytes;
  }
  cv_.notify_all();
  return ok_status();
}

std::vector<std::pair<Transaction, Hash256>> Mempool::take_batch(const BlockLimits& block) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
  if (closed_) return {};
  auto deadline = queue_.front().added + std::chrono::milliseconds(block.wait_ms_max);
  cv_.wait_until(lock, deadline, [&] { return closed_ || queue_.size() >= block.txs_max; });
  if (closed_) return {};
  return pop_batch(block);
}

std::vector<std::pair<Transaction, Hash256>> Mempool::take_ready(const BlockLimits& block,
                                                                 bool now) {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return {};
  bool ready = now || queue_.size() >= block.txs_max ||
               std::chrono::steady_clock::now() >=
                   queue_.front().added + std::chrono::milliseconds(block.wait_ms_max);
  if (!ready) return {};
  return pop_batch(block);
}

std::optional<std::chrono::steady_clock::time_point> Mempool::ready_at(
    const BlockLimits& block) const {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return std::nullopt;
  if (queue_.size() >= block.txs_max) return std::chrono::steady_clock::now();
  return queue_.front().added + std::chrono::milliseconds(block.wait_ms_max);
}

std::vector<std::pair<Transaction, Hash256>> Mempool::pop_batch(const BlockLimits& block) {
  std::vector<std::pair<Transaction, Hash256>> batch;
  std::size_t batch_bytes = 0;
  while (!queue_.empty() && batch.size() < block.txs_max) {
    Entry& e = queue_.front();
    if (!batch.empty() && batch_bytes + e.bytes > block.bytes_max) break;
    batch_bytes += e.bytes;
    bytes_ -= e.bytes;
    batch.emplace_back(std::move(e.tx), e.id);
    queue_.pop_front();
  }
  return batch;
}

void Mempool::forget(const std::vector<Hash256>& ids) {
  std::lock_guard lock(mu_);
  for (const auto& id : ids) known_.erase(id);
}

void Mempool::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::size_t Mempool::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace custos::node
