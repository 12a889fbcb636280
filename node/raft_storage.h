// The Raft log, hard state and snapshot of one node, in their own RocksDB
// database (data_dir/raft), separate from the ledger so that compacting the
// log never touches blocks.
//
// Durability: save() and compact() write one WriteBatch with the WAL synced
// before they return, except a save() that changes only the hard state's
// commit index (see save()). The node calls save() with a Ready's snapshot,
// entries and hard state BEFORE it sends that Ready's messages, except a
// leader's appends and heartbeats, which promise nothing about its own log
// (docs/consensus.md, "Persistence contract"), so nothing a message promised
// is lost on a crash.
//
// Thread safety: the Raft object reads it from the node's consensus thread,
// which is also the only writer; the reads served from memory (hard state,
// snapshot, bounds) are guarded so that status readers on other threads may
// call them too.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "consensus/raft.h"
#include "core/result.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}

namespace custos::node {

class RaftStorage final : public consensus::Storage {
 public:
  // Opens or creates the database in `dir`. Errors: "raft_io".
  static Result<std::unique_ptr<RaftStorage>> open(const std::filesystem::path& dir);
  ~RaftStorage() override;

  consensus::HardState hard_state() const override;
  consensus::Snapshot snapshot() const override;
  std::uint64_t first_index() const override;
  std::uint64_t last_index() const override;
  Result<std::uint64_t> term(std::uint64_t index) const override;
  Result<std::vector<consensus::Entry>> entries(std::uint64_t lo, std::uint64_t hi,
                                                std::uint64_t bytes_max) const override;

  // Persists what a Ready asks for, atomically: the snapshot (which replaces
  // every entry up to its index), then the entries (discarding any stored
  // entries at or after the first one), then the hard state. An I/O error
  // stops the process: Raft cannot go on with a log it could not persist.
  // Returns whether it synced: it does unless all it changes is the commit
  // index. A commit index is never promised to a peer and may be lost on a
  // crash (the node restarts with an older one and learns the newer from the
  // leader; what it applied is in the log or the ledger), so a block costs
  // one fsync per node, not two. The next synced write makes it durable too.
  bool save(const std::optional<consensus::Snapshot>& snapshot,
            const std::vector<consensus::Entry>& entries,
            const std::optional<consensus::HardState>& hard_state);

  // Whether `hard_state` (a Ready's) changes the persisted term or vote:
  // what a vote promises, so such a write is synced before any message.
  bool changes_term_or_vote(const std::optional<consensus::HardState>& hard_state) const;

  // Records a snapshot of the applied state at `index` and discards the
  // entries up to it. Error "stale" if index is not after the current
  // snapshot or not within the log.
  Status compact(std::uint64_t index, const consensus::ConfState& conf, Bytes data);

 private:
  RaftStorage(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles);
  void load();
  rocksdb::ColumnFamilyHandle* meta() const { return handles_[0]; }
  rocksdb::ColumnFamilyHandle* log() const { return handles_[1]; }
  // changes_term_or_vote() with mu_ held.
  bool term_or_vote_differs(const std::optional<consensus::HardState>& hard_state) const;

  std::unique_ptr<rocksdb::DB> db_;
  // The families of kFamilies (raft_storage.cpp), in its order; destroyed
  // before db_.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  mutable std::mutex mu_;  // guards the cached values below
  consensus::HardState hard_state_;
  consensus::Snapshot snapshot_;
  std::uint64_t last_index_ = 0;
  std::uint64_t last_term_ = 0;
};

}  // namespace custos::node
