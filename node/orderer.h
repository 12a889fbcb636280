// Ordering: how admitted transactions become a sequence of blocks. The
// single-node SoloOrderer cuts blocks itself; the Raft issue implements the
// same interface with replicated ordering, and nothing above it changes.
#pragma once

#include <chrono>
#include <optional>
#include <cstdint>
#include <string>

#include "core/block.h"
#include "core/result.h"
#include "core/signed_head.h"
#include "core/tx.h"
#include "ledger/ledger.h"

namespace custos::node {

// What the orderer hands ordered blocks to (the node: execute, then commit).
// apply(), and execute() and commit(), are called in height order and never
// two at once (under Raft from the apply thread, and from the consensus
// thread while it installs a snapshot with the apply thread idle and kept
// from executing ahead).
class BlockApplier {
 public:
  virtual ~BlockApplier() = default;
  // tx_ids[i] is block.txs[i].id(), which the caller has computed already.
  void apply(const Block& block, const std::vector<Hash256>& tx_ids) {
    auto executed = execute(block, tx_ids);
    commit(block, *executed);
  }
  // The two halves of apply(), for an orderer that executes a block ahead of
  // its commit. execute() runs the block on the ledger as it stands and
  // stages its writes (ledger::Ledger::stage_block), writing nothing: the
  // staged block holds the effects and the head the block makes. commit()
  // writes it, and must be given it only while the ledger's head is still
  // the one it was executed on. Both are called from the thread that
  // applies blocks (never at once).
  virtual std::unique_ptr<ledger::StagedBlock> execute(const Block& block,
                                                       const std::vector<Hash256>& tx_ids) = 0;
  virtual void commit(const Block& block, ledger::StagedBlock& executed) = 0;
  // Work that may be done for a block before it is committed, on any thread:
  // verifying and remembering its signatures, so that apply() need not. A
  // block prepared is not necessarily applied (a new leader may overwrite
  // its log entry). Thread-safe.
  virtual void prepare(const Block& /*block*/, const std::vector<Hash256>& /*tx_ids*/) {}
};

// The block after `head`: its header names the head's hash, results hash and
// commitments (log size and root, state root), and its time never goes back.
Block next_block(const std::string& network_id, const ledger::Head& head, std::int64_t now_ms,
                 const std::string& proposer, std::vector<Transaction> txs,
                 const std::vector<Hash256>* tx_ids = nullptr);

// How `header` fails to extend `head`, or nullopt if it is the next block:
// "chain" (network, height, previous hash, or a time before the head's: a
// block that does not follow this ledger), or "diverged" (it follows, but
// names results or commitments this node did not compute: this node's state
// differs from the proposer's).
std::optional<std::string> check_extends(const std::string& network_id, const BlockHeader& header,
                                         const ledger::Head& head);

// What /healthz reports about ordering.
struct ConsensusStatus {
  std::string role = "solo";  // solo, leader, follower, candidate, learner
  std::uint64_t term = 0;
  std::string leader;             // the leader's node_id, empty if unknown
  std::uint64_t commit_index = 0; // Raft log positions; 0 for solo
  std::uint64_t applied_index = 0;
  std::uint64_t members = 1;      // voters
  std::uint64_t learners = 0;
};

class Orderer {
 public:
  virtual ~Orderer() = default;
  // Queues an admitted transaction. Errors: "mempool_full" (the caller should
  // retry later: HTTP 503), "duplicate" (already queued or being ordered),
  // "committed" (committed since the caller checked the ledger).
  // Thread-safe.
  virtual Status submit(const Transaction& tx, const Hash256& tx_id) = 0;
  // Starts ordering. Error "listen" if the Raft transport cannot bind.
  [[nodiscard]] virtual Status start() = 0;
  // Stops cutting blocks; returns once no apply() is in progress.
  virtual void stop() = 0;
  // "solo" for a single node; "leader", "follower", "learner" under Raft.
  virtual std::string role() const = 0;
  virtual std::size_t pending_txs() const = 0;
  virtual ConsensusStatus status() const { return {}; }
  // Returns once this node's ledger reflects every transaction committed
  // anywhere in the network before the call (linearizable reads). Errors:
  // "no_leader", "timeout". A single node is always up to date.
  virtual Status read_barrier(std::chrono::milliseconds /*timeout*/) { return ok_status(); }
  // Sends this node's signature of the head at `height` to its peers (and
  // again now and then: a peer that was down or had not applied the block
  // yet gets it later). Never blocks. A single node has no peers.
  virtual void gossip_head_signature(std::uint64_t /*height*/, const HeadSignature& /*sig*/) {}
  // Frames from peers that were malformed (counted, then dropped).
  virtual std::uint64_t malformed_frames() const { return 0; }
  // Writes of the consensus log to disk (fsynced), their summed time, and
  // how many took kSlowLogSync or longer. A single node has no such log.
  struct LogSyncStats {
    std::uint64_t syncs = 0;
    std::uint64_t sync_us = 0;
    std::uint64_t slow_syncs = 0;
  };
  virtual LogSyncStats log_sync_stats() const { return {}; }
  // Log entries this node's apply thread handled: how many it found decoded
  // ahead (by the prepare thread on a follower, or as the leader built its
  // own proposal), and how many it decoded itself (a backlog, entries
  // applied again after a restart). The single-node orderer counts neither.
  // Blocks executed ahead of their commit, and of the blocks applied, how
  // many were committed from such an execution (on the ledger head it ran
  // on). The difference is the executions thrown away (the head moved, or a
  // new leader overwrote the entry), and at most one awaiting its commit.
  struct PrepareStats {
    std::uint64_t prepared = 0;
    std::uint64_t unprepared = 0;
    std::uint64_t executions_ahead = 0;
    std::uint64_t executed_ahead = 0;
  };
  virtual PrepareStats prepare_stats() const { return {}; }
};

}  // namespace custos::node
