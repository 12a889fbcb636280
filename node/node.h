// A Custos peer: the ledger, the chaincode registry, an orderer, and the
// bookkeeping the gateway needs (commit notifications, counters).
//
// Path of a transaction: Gateway -> Node::submit (admission: envelope,
// signatures, signers, roles, replay) -> Orderer (mempool, block cutting;
// Raft later) -> Node::apply (execute_block, then one atomic ledger commit)
// -> waiters woken. See docs/architecture.md.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "chaincode/registry.h"
#include "core/genesis.h"
#include "ledger/ledger.h"
#include "node/config.h"
#include "node/head_signer.h"
#include "node/orderer.h"

namespace custos::node {

struct Counters {
  std::atomic<std::uint64_t> txs_admitted{0};
  std::atomic<std::uint64_t> txs_refused{0};  // at admission
  std::atomic<std::uint64_t> txs_busy{0};     // mempool full
  std::atomic<std::uint64_t> blocks_committed{0};
  // Where a block's time goes, summed over blocks, in microseconds: running
  // its transactions, computing its writes and roots (staging it), writing
  // it to the ledger, signing the new head.
  std::atomic<std::uint64_t> execute_us{0};
  std::atomic<std::uint64_t> stage_us{0};
  std::atomic<std::uint64_t> commit_us{0};
  std::atomic<std::uint64_t> sign_us{0};
  std::atomic<std::uint64_t> txs_committed_ok{0};
  std::atomic<std::uint64_t> txs_committed_failed{0};
};

struct SubmitResult {
  enum class Kind { kAccepted, kRefused, kBusy };
  Kind kind = Kind::kAccepted;
  std::string code;  // the refusal code, for kRefused / kBusy
  std::string message;
};

class Node : public BlockApplier {
 public:
  // Opens the ledger in config.data_dir, reads the genesis file, commits
  // block 0 on first start, and refuses ("genesis_mismatch") a data dir that
  // belongs to another genesis. With config.raft, orders with Raft (the log
  // in data_dir/raft); otherwise alone. Reads the node key file
  // (config.key_file): a node that is an active on-chain node (node/<id>)
  // must have one ("node_key_missing") holding its current on-chain key
  // ("node_key_mismatch"); any other node runs without signing heads.
  // Errors: "bad_genesis", "ledger_io", "genesis_mismatch", "bad_node_key",
  // "node_key_missing", "node_key_mismatch", "raft_io", "tls".
  static Result<std::unique_ptr<Node>> open(const NodeConfig& config);
  ~Node() override;

  // Starts ordering. Error "listen" (the Raft transport cannot bind).
  [[nodiscard]] Status start();
  void stop();   // stops ordering; the ledger stays readable

  // Admission of `tx`, whose id is `tx_id` (tx.id(): the caller has it
  // already, and it costs a canonical encoding and a hash). Thread-safe.
  SubmitResult submit(const Transaction& tx, const Hash256& tx_id);
  // Linearizable reads: returns once this node reflects every write
  // committed before the call (Raft ReadIndex). Errors: "no_leader", "timeout".
  Status read_barrier(std::chrono::milliseconds timeout) const {
    return orderer_->read_barrier(timeout);
  }
  // Waits until tx_id is committed (or the timeout passes). Thread-safe.
  std::optional<ledger::TxRecord> wait_for_commit(const Hash256& tx_id,
                                                  std::chrono::milliseconds timeout);
  // Waits until every id is committed or the timeout passes, whichever is
  // first: one bound for all of them, not one per id. Returns one entry per
  // id, in order: its record, or nullopt if it was not committed in time (or
  // the node stopped). Thread-safe.
  std::vector<std::optional<ledger::TxRecord>> wait_for_commits(const std::vector<Hash256>& tx_ids,
                                                                std::chrono::milliseconds timeout);

  // BlockApplier: execute, then commit. A block that cannot be committed
  // stops the process: a peer must never run on with a state it could not
  // persist.
  std::unique_ptr<ledger::StagedBlock> execute(const Block& block,
                                               const std::vector<Hash256>& tx_ids) override;
  void commit(const Block& block, ledger::StagedBlock& executed) override;
  // BlockApplier: verifies the block's signatures this node has not seen.
  void prepare(const Block& block, const std::vector<Hash256>& tx_ids) override;

  const ledger::Ledger& ledger() const { return *ledger_; }
  const Genesis& genesis() const { return genesis_; }
  const Hash256& genesis_hash() const { return genesis_hash_; }  // genesis().hash(), once
  const NodeConfig& config() const { return config_; }
  const Orderer& orderer() const { return *orderer_; }
  const Counters& counters() const { return counters_; }
  const HeadSignerStats& head_signer_stats() const { return head_signer_->stats(); }

  // Signed heads (core/signed_head.h): the highest head whose stored member
  // signatures reach a quorum of that height's on-chain nodes, with exactly
  // those signatures sorted by node id; nullopt while there is none. And the
  // same for one height (nullopt: not applied here, or no quorum yet).
  // Thread-safe.
  std::optional<SignedHead> latest_signed_head() const {
    return head_signer_->latest_signed_head();
  }
  std::optional<SignedHead> signed_head(std::uint64_t height) const {
    return head_signer_->signed_head(height);
  }
  bool ready() const { return started_.load(); }

 private:
  Node(NodeConfig config, Genesis genesis, std::unique_ptr<ledger::Ledger> ledger,
       std::optional<PrivateKey> node_key);
  Status make_orderer();

  const NodeConfig config_;
  const Genesis genesis_;
  const Hash256 genesis_hash_;
  std::unique_ptr<ledger::Ledger> ledger_;
  chaincode::Registry registry_;
  std::unique_ptr<HeadSigner> head_signer_;
  std::unique_ptr<Orderer> orderer_;
  Counters counters_;
  std::atomic<bool> started_{false};

  // What commit waiters read instead of the ledger: the records of the
  // blocks applied last, oldest first, consecutive heights, at most
  // kAppliedBlocksMax of them; and the height applied last. A waiter looks
  // its transactions up in the ledger once, then only in these; one that
  // fell behind the window looks in the ledger again. Under commit_mu_.
  struct AppliedBlock {
    std::uint64_t height;
    std::vector<ledger::TxRecord> txs;  // as tx() would return them
  };
  static constexpr std::size_t kAppliedBlocksMax = 128;
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::deque<AppliedBlock> applied_blocks_;
  std::uint64_t applied_height_ = 0;
};

std::int64_t wall_clock_ms();

}  // namespace custos::node
