// Replicated ordering: blocks are entries of a Raft log shared by the peers.
//
// The leader cuts a block from its mempool once the block before it is
// applied (so the header names the real previous block and results hash),
// and proposes it as one Raft entry. Every node, the leader included, applies
// each committed entry in log order: it decodes the block, checks it extends
// its ledger head (height, previous hash, previous results hash) and hands it
// to the applier, which executes and commits it. An entry that does not
// extend the head is skipped on every node alike (a deposed leader's block);
// a results-hash mismatch means this node's state diverged and stops it.
//
// A follower forwards the transactions submitted to it to the leader and
// keeps them until they are committed, forwarding again when the leader
// changes. The Raft log is compacted every snapshot_entries entries; the
// snapshot names a ledger height, and a node that receives one fetches the
// missing blocks from a peer, executing each.
//
// Threads: one consensus thread owns the Raft object and the Raft storage
// writes; it hands committed entries, in log order, to one apply thread,
// which executes and commits their blocks. So a node keeps answering its
// peers (appends, votes, heartbeats) while it applies a block, and a
// follower acknowledges block n+1 while it still applies block n. The apply
// queue is bounded: past kApplyJobsMax the consensus thread waits for it.
// On a follower, a prepare thread decodes each block the leader sends and
// verifies its signatures while the entry is written and committed; the
// apply thread takes the decoded block by log index and term, as it takes a
// leader's own proposal, which it never parses back. While it has nothing
// to apply, the apply thread executes the next prepared block if it extends
// the ledger's head (on the leader, its proposal; on a follower, the block
// just received), so that when the entry commits only the ledger write and
// the head signature remain. Those effects are used only if the head has
// not moved since and the entry at that index still has that term.
// The leader cuts its next block only once its ledger has applied the log,
// and the log is compacted only up to what the ledger has applied.
//
// Durability: the Raft log is fsynced before an entry counts as committed,
// so the ledger is written without fsync; it is synced before the log is
// compacted (or a snapshot installed) and on stop. After a power cut the
// ledger reopens at a block at or before the last applied one, and the
// entries after the snapshot, still in the log, are applied again.
//
// The transport thread only queues frames. Every public method is
// thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "consensus/raft.h"
#include "ledger/ledger.h"
#include "node/config.h"
#include "node/mempool.h"
#include "node/orderer.h"
#include "node/prepared_blocks.h"
#include "node/raft_storage.h"
#include "node/transport.h"
#include "node/worker.h"

namespace custos::node {

using Clock = std::chrono::steady_clock;

class RaftOrderer : public Orderer {
 public:
  static constexpr std::size_t kWorkerJobsMax = 50'000;
  // Committed log entries waiting for the apply thread.
  static constexpr std::size_t kApplyJobsMax = 16;
  // Blocks received from the leader and prepared ahead of their commit: at
  // most this many, and this many bytes of their entries.
  static constexpr std::size_t kPreparedMax = 64;
  static constexpr std::size_t kPreparedBytesMax = std::size_t{64} << 20;

  // What the orderer needs from its node besides applying blocks: admission
  // of a transaction forwarded by another peer (the leader admits it anew).
  using AdmitForwarded = std::function<void(const Transaction& tx, const Hash256& id)>;
  // A peer's signature of the head at `height`, with sig.node_id the name
  // (node_id) of the Raft peer that sent it. Called on the orderer's worker
  // thread.
  using HeadSignatureReceived = std::function<void(std::uint64_t height, HeadSignature sig)>;

  // Errors: "raft_io" (the Raft log), "tls" (certificate files).
  static Result<std::unique_ptr<RaftOrderer>> open(const NodeConfig& config, std::string network_id,
                                                   const ledger::Ledger& ledger,
                                                   BlockApplier& applier,
                                                   AdmitForwarded admit_forwarded,
                                                   HeadSignatureReceived head_signature_received);
  ~RaftOrderer() override;

  // Errors: "mempool_full", "duplicate", "committed", "no_leader" (an election is under
  // way: retry shortly).
  Status submit(const Transaction& tx, const Hash256& tx_id) override;
  Status start() override;
  void stop() override;
  std::string role() const override;
  std::size_t pending_txs() const override;
  ConsensusStatus status() const override;
  Status read_barrier(std::chrono::milliseconds timeout) override;
  void gossip_head_signature(std::uint64_t height, const HeadSignature& sig) override;
  std::uint64_t malformed_frames() const override { return malformed_frames_.load(); }
  LogSyncStats log_sync_stats() const override;
  PrepareStats prepare_stats() const override {
    return {blocks_prepared_.load(), blocks_unprepared_.load(), block_executions_ahead_.load(),
            blocks_executed_ahead_.load()};
  }

  // The port the Raft transport listens on (after start()).
  int transport_port() const { return transport_port_; }

 private:
  RaftOrderer(const NodeConfig& config, std::string network_id, const ledger::Ledger& ledger,
              BlockApplier& applier, AdmitForwarded admit_forwarded,
              HeadSignatureReceived head_signature_received, std::unique_ptr<RaftStorage> storage);
  // The node_id of Raft peer `id`; empty if unknown.
  std::string peer_name(PeerId id) const;
  void send_head_signature(std::uint64_t height, const Signature& sig);

  struct Inbound {
    PeerId from = 0;
    Bytes frame;
  };

  void on_frame(PeerId from, Bytes frame);
  void run();
  void persist(const consensus::Ready& rd);  // storage_->save, its syncs timed
  bool handle_ready();  // false: interrupted by stop()
  // Consensus thread: queues a committed entry (waiting while the queue is
  // full); false if stopping.
  bool queue_apply(const consensus::Entry& entry);
  // Consensus thread: waits until every queued entry is applied and the apply
  // thread is idle, and keeps it from executing ahead (the consensus thread
  // is about to apply blocks itself) until resume_applies(); false if stopping.
  bool drain_applies();
  void resume_applies();
  void run_applies();  // the apply thread
  void apply_entry(const consensus::Entry& entry);
  // Apply thread, idle: executes the next prepared block if it extends the
  // ledger's head, so that its commit only has to write it.
  void execute_ahead();
  // A block was prepared: wakes the apply thread to execute it ahead.
  void look_ahead();
  // Consensus thread, follower: has the prepare thread decode a block just
  // received from the leader and verify its signatures, while the entry is
  // written and committed.
  void prepare_entry(const consensus::Entry& entry);

  // The index of the last log entry the ledger has applied.
  std::uint64_t ledger_applied() const { return applied_index_.load(); }
  void set_applied(std::uint64_t index);
  // False if stopping interrupted it (nothing may then be persisted).
  bool install_snapshot(const consensus::Snapshot& snap);
  bool fetch_blocks_to(std::uint64_t height, const Hash256& block_hash);
  void maybe_propose_block();
  // Leader, nothing in flight, not handing over: a new block may be cut.
  bool can_propose() const;
  void maybe_compact();
  // Makes the applied blocks durable (the ledger is written without fsync:
  // until compacted, the Raft log holds them); a failure stops the node.
  void sync_ledger();
  void hand_over_leadership();
  void forward_pending();
  void requeue(Transaction tx, const Hash256& id);  // caller holds in_mu_
  void settle_proposal();
  void serve_block_request(PeerId from, std::uint64_t lo, std::uint64_t hi);
  void publish_status();

  const NodeConfig config_;
  const std::string network_id_;
  const ledger::Ledger& ledger_;
  BlockApplier& applier_;
  AdmitForwarded admit_forwarded_;
  HeadSignatureReceived head_signature_received_;
  std::atomic<std::uint64_t> malformed_frames_{0};
  // Synced writes of a Ready: counted and timed; a slow one is logged (at most
  // once per kSlowLogSyncReport, with how many there were since).
  std::atomic<std::uint64_t> log_syncs_{0};
  std::atomic<std::uint64_t> log_sync_us_{0};
  std::atomic<std::uint64_t> log_syncs_slow_{0};
  std::uint64_t slow_unreported_ = 0;
  std::chrono::steady_clock::time_point slow_reported_{};
  // This node's latest head signature, resent every kHeadSignatureResend.
  std::mutex gossip_mu_;
  std::optional<std::pair<std::uint64_t, Signature>> gossip_last_;
  Clock::time_point gossip_next_{};  // consensus thread only
  std::unique_ptr<RaftStorage> storage_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<consensus::Raft> raft_;  // consensus thread only
  Mempool mempool_;
  int transport_port_ = 0;

  // Inputs to the consensus thread.
  mutable std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<Inbound> inbox_;
  std::deque<Inbound> block_replies_;
  std::deque<std::uint64_t> read_requests_;
  std::atomic<bool> stopping_{false};
  // Submitted here, not yet seen committed; sent to the leader (again when
  // the leader changes). Guarded by in_mu_.
  struct Forwarded {
    Transaction tx;
    Clock::time_point since;
    Clock::time_point last_sent{};
  };
  std::map<Hash256, Forwarded> forwarded_;
  std::vector<Hash256> unsent_;           // in forwarded_, to send (again) now
  consensus::NodeId forwarding_to_ = 0;   // the leader they were last sent to
  Clock::time_point next_scan_{};
  bool kick_ = false;                     // new work for the consensus thread

  // Read barriers: request id -> the read index once the leader confirmed it.
  struct ReadWait {
    std::uint64_t index = 0;
    bool failed = false;
  };
  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::map<std::uint64_t, ReadWait> reads_;
  std::uint64_t next_read_id_ = 1;

  // Published by the consensus thread for status readers.
  mutable std::mutex status_mu_;
  ConsensusStatus status_;
  std::map<consensus::NodeId, std::string> names_;  // members added at run time
  // The last log index applied to the ledger (by the apply thread, or by a
  // snapshot install): read barriers, proposals and compaction wait for it.
  std::atomic<std::uint64_t> applied_index_{0};

  // The apply thread's queue.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;       // a job queued, or stopping
  std::condition_variable apply_done_cv_;  // a job finished
  std::deque<consensus::Entry> apply_jobs_;
  bool look_ahead_ = false;  // a block was prepared: execute it ahead if idle
  bool installing_ = false;  // a snapshot is being installed: nothing is executed ahead
  bool apply_busy_ = false;
  bool apply_stopping_ = false;
  std::thread apply_thread_;

  // The block this leader proposed and has not yet seen applied (consensus
  // thread only): once the log is applied past its index, whatever of it is
  // not in the ledger (a new leader overwrote it) is forwarded again.
  struct Proposed {
    std::uint64_t index = 0;
    std::vector<std::pair<Transaction, Hash256>> txs;
  };
  std::optional<Proposed> proposed_;
  Clock::time_point transfer_until_{};  // no proposals while handing over

  // Admission of forwarded transactions and serving blocks to peers: slow
  // jobs kept off the transport and consensus threads.
  Worker worker_{kWorkerJobsMax};

  // Blocks decoded ahead of the apply thread, by log index and term: a
  // follower's by its prepare thread (and their signatures verified), a
  // leader's own proposals as it built them.
  PreparedBlocks prepared_{kPreparedMax, kPreparedBytesMax};
  std::atomic<std::uint64_t> blocks_prepared_{0};
  std::atomic<std::uint64_t> blocks_unprepared_{0};
  // The next block, executed by the apply thread while its entry is being
  // replicated (apply thread only), and staged: its effects, its writes and
  // the head it makes hold while the ledger's head is still `on_head`.
  struct Ahead {
    std::uint64_t index = 0;
    std::uint64_t term = 0;
    Block block;
    std::vector<Hash256> ids;
    std::unique_ptr<ledger::StagedBlock> executed;
    Hash256 on_head;
  };
  std::optional<Ahead> ahead_;
  std::atomic<std::uint64_t> block_executions_ahead_{0};
  std::atomic<std::uint64_t> blocks_executed_ahead_{0};
  // After what its jobs use (prepared_, applier_), so that it is stopped
  // and joined before they go.
  Worker preparer_{kPreparedMax, "custos-prepare"};

  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> transfer_requested_{false};
};

}  // namespace custos::node
