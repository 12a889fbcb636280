// Blocks a follower received from the leader, decoded (and their signatures
// verified) ahead of their commit, by Raft log index. The consensus thread
// marks an entry as being prepared; the prepare thread hands in the result;
// the apply thread takes it when it applies that entry, waiting a bounded
// time for one under way.
//
// An (index, term) pair names one log entry (Raft's log matching property),
// so the block of an entry a new leader overwrote is never taken for the
// entry that replaced it. Bounded: at most `capacity` entries and
// `bytes_max` bytes of their payloads are held; beyond that, entries are
// not prepared and the apply thread decodes them itself. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "core/block.h"

namespace custos::node {

class PreparedBlocks {
 public:
  struct Ready {
    Block block;
    std::vector<Hash256> ids;  // ids[i] == block.txs[i].id()
  };

  PreparedBlocks(std::size_t capacity, std::size_t bytes_max)
      : capacity_(capacity), bytes_max_(bytes_max) {}

  // The entry at (index, term), whose payload has `bytes` bytes, is being
  // prepared; replaces whatever was held for `index`. False if full
  // (nothing is held for it then).
  bool begin(std::uint64_t index, std::uint64_t term, std::size_t bytes);
  // Whether (index, term) is held and unfinished: its preparation is still
  // wanted (not overwritten, not given up by the apply thread).
  bool wanted(std::uint64_t index, std::uint64_t term) const;
  // The prepared block of (index, term), or nullopt if its payload is not a
  // block. Ignored unless begin(index, term) is the latest for `index` and
  // unfinished.
  void finish(std::uint64_t index, std::uint64_t term, std::optional<Ready> ready);
  // Forgets (index, term) if it is held (its preparation was not started).
  void cancel(std::uint64_t index, std::uint64_t term);
  // The block of (index, term) if it was prepared, waiting at most `wait`
  // for a preparation under way; forgets it and every entry before it.
  std::optional<Ready> take(std::uint64_t index, std::uint64_t term,
                            std::chrono::milliseconds wait);

  // The first entry held after `index`, if its block is prepared, with its
  // (index, term); forgets it (take() then finds nothing for that index).
  // Nothing if that entry is still being prepared or is not a block. For
  // executing the next block ahead of its commit.
  struct Next {
    std::uint64_t index = 0;
    std::uint64_t term = 0;
    Ready ready;
  };
  std::optional<Next> take_next_after(std::uint64_t index);

  std::size_t size() const;
  std::size_t bytes() const;

 private:
  struct Slot {
    std::uint64_t term = 0;
    std::size_t bytes = 0;
    bool done = false;
    std::optional<Ready> ready;
  };
  // Caller holds mu_.
  void erase(std::map<std::uint64_t, Slot>::iterator it);

  const std::size_t capacity_;
  const std::size_t bytes_max_;
  std::size_t bytes_ = 0;  // the held slots' payload bytes
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Slot> slots_;
};

}  // namespace custos::node
