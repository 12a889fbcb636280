#include "node/prepared_blocks.h"

namespace custos::node {

bool PreparedBlocks::begin(std::uint64_t index, std::uint64_t term) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(index);
  if (it == slots_.end()) {
    if (slots_.size() >= capacity_) return false;
    it = slots_.emplace(index, Slot{}).first;
  }
  it->second = Slot{term, false, std::nullopt};
  return true;
}

void PreparedBlocks::finish(std::uint64_t index, std::uint64_t term, std::optional<Ready> ready) {
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(index);
    if (it == slots_.end() || it->second.term != term || it->second.done) return;
    it->second.done = true;
    it->second.ready = std::move(ready);
  }
  cv_.notify_all();
}

void PreparedBlocks::cancel(std::uint64_t index, std::uint64_t term) {
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(index);
    if (it == slots_.end() || it->second.term != term) return;
    slots_.erase(it);
  }
  cv_.notify_all();
}

std::optional<PreparedBlocks::Ready> PreparedBlocks::take(std::uint64_t index, std::uint64_t term,
                                                          std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  // Entries before this one were applied, or skipped (a snapshot).
  slots_.erase(slots_.begin(), slots_.lower_bound(index));
  auto settled = [&] {
    auto it = slots_.find(index);
    return it == slots_.end() || it->second.term != term || it->second.done;
  };
  cv_.wait_for(lock, wait, settled);
  auto it = slots_.find(index);
  if (it == slots_.end()) return std::nullopt;
  std::optional<Ready> out;
  if (it->second.term == term && it->second.done) out = std::move(it->second.ready);
  slots_.erase(it);
  return out;
}

std::size_t PreparedBlocks::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

}  // namespace custos::node
