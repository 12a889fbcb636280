#include "node/prepared_blocks.h"

namespace custos::node {

bool PreparedBlocks::begin(std::uint64_t index, std::uint64_t term, std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(index);
    const std::size_t replaced = it == slots_.end() ? 0 : it->second.bytes;
    if ((it == slots_.end() && slots_.size() >= capacity_) ||
        bytes_ - replaced + bytes > bytes_max_) {
      return false;
    }
    if (it == slots_.end()) it = slots_.emplace(index, Slot{}).first;
    bytes_ = bytes_ - replaced + bytes;
    it->second = Slot{term, bytes, false, std::nullopt};
  }
  // A take() waiting on the entry this one replaced stops waiting.
  cv_.notify_all();
  return true;
}

bool PreparedBlocks::wanted(std::uint64_t index, std::uint64_t term) const {
  std::lock_guard lock(mu_);
  auto it = slots_.find(index);
  return it != slots_.end() && it->second.term == term && !it->second.done;
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
    erase(it);
  }
  cv_.notify_all();
}

std::optional<PreparedBlocks::Ready> PreparedBlocks::take(std::uint64_t index, std::uint64_t term,
                                                          std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  // Entries before this one were applied, or skipped (a snapshot).
  for (auto it = slots_.begin(); it != slots_.end() && it->first < index;) erase(it++);
  auto settled = [&] {
    auto it = slots_.find(index);
    return it == slots_.end() || it->second.term != term || it->second.done;
  };
  cv_.wait_for(lock, wait, settled);
  auto it = slots_.find(index);
  if (it == slots_.end()) return std::nullopt;
  std::optional<Ready> out;
  if (it->second.term == term && it->second.done) out = std::move(it->second.ready);
  erase(it);
  return out;
}

std::optional<PreparedBlocks::Next> PreparedBlocks::take_next_after(std::uint64_t index) {
  std::lock_guard lock(mu_);
  auto it = slots_.upper_bound(index);
  if (it == slots_.end() || !it->second.done || !it->second.ready) return std::nullopt;
  Next next{it->first, it->second.term, std::move(*it->second.ready)};
  erase(it);
  return next;
}

std::size_t PreparedBlocks::size() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

std::size_t PreparedBlocks::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

void PreparedBlocks::erase(std::map<std::uint64_t, Slot>::iterator it) {
  bytes_ -= it->second.bytes;
  slots_.erase(it);
}

}  // namespace custos::node
