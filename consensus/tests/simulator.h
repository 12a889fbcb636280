// A deterministic cluster simulator for consensus/raft.h.
//
// N Raft nodes in one process over a simulated network (loss, duplication,
// reordering, delay, symmetric and one-way partitions), a simulated disk (a
// crash loses every Ready not yet written; nodes compact it into snapshots)
// and a simulated clock (ticks), all driven by one seed: the same options
// replay the same run exactly. Clients propose, read (ReadIndex), change the
// membership and hand leadership over at random.
//
// Each node's state machine is (applied index, running hash of the applied
// entries); its snapshot data is exactly that, so a node restored from a
// snapshot is checked to hold the state every other node had at that index.
//
// After every event the simulator checks the Raft safety properties and
// records the first violation in failure(). Not thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "consensus/raft.h"
#include "core/result.h"

namespace custos::consensus::sim {

struct Options {
  std::uint64_t seed = 1;
  std::uint32_t nodes = 5;
  std::uint32_t steps = 300;  // random-phase steps; each is one clock tick
  // Liveness phase: ticks allowed after healing for everything to converge.
  std::uint32_t quiet_ticks_max = 600;
  bool faults = true;  // false: a perfect network, for scripted scenarios
  std::uint32_t loss_pct = 5;
  std::uint32_t dup_pct = 3;
  std::uint32_t delay_ticks_max = 3;
  std::uint32_t ready_pct = 85;    // chance per step that a node writes its pending Ready
  std::uint32_t propose_pct = 30;  // chance per step that a client proposes
  std::uint32_t crash_per_mille = 8;
  std::uint32_t restart_pct = 10;
  std::uint32_t partition_per_mille = 15;
  std::uint32_t heal_pct = 8;
  std::uint32_t read_pct = 10;               // chance per step that a client asks for a read
  std::uint32_t compact_pct = 2;             // chance per step and node to compact its disk
  std::uint32_t conf_change_per_mille = 20;  // chance per step of a membership change
  std::uint32_t transfer_per_mille = 6;      // chance per step of a leadership transfer
  std::uint32_t nodes_added_max = 4;         // fresh node ids a run may add
  std::uint32_t voters_max = 7;              // membership changes stop growing beyond
  std::uint32_t net_msgs_max = 4096;         // messages queued in the network; beyond: dropped
  std::uint32_t msg_bytes_max = 64;          // small, so replication is split into many messages
  std::uint32_t inflight_msgs_max = 4;
  bool pre_vote = true;
  bool check_quorum = true;
  // Fault injected into the simulated world itself, to prove the checks
  // catch a broken persistence contract: the disk forgets the vote on crash.
  bool bug_disk_forgets_vote = false;
};

// The command that replays `o` with consensus-sim.
std::string replay_command(const Options& o);

class Simulator;

// What a sweep over many seeds went through, summed over its runs: the
// seed-sweep test and consensus-sim report the same figures.
struct SweepTotals {
  std::uint64_t seeds = 0, failed = 0, committed = 0, conf_changes = 0, reads = 0,
                snapshots = 0, transfers = 0;
  // Adds one finished run and its outcome.
  void add(const Simulator& sim, const Status& outcome);
  // One line: "seeds N failed F committed_entries C ... seconds S".
  std::string summary(double seconds) const;
};

// Options for scripted scenarios: a perfect network, one entry per append
// (so a scenario controls what arrives), no random clients.
Options scripted(std::uint32_t nodes);

class Simulator {
 public:
  explicit Simulator(Options options);

  // Random phase for options.steps, then the liveness phase. Returns the
  // first safety or liveness violation ("safety" / "liveness").
  [[nodiscard]] Status run();

  // --- scripted control, used by scenario tests
  // Writes every pending Ready and delivers every queued message for which
  // `allow` is true (others are dropped; `allow` may also edit a message, as
  // a network that truncates would), until nothing moves. Returns the number
  // of messages delivered.
  using Filter = std::function<bool(Message&)>;
  std::size_t settle(const Filter& allow = nullptr);
  void tick_all();
  void campaign(NodeId id);
  [[nodiscard]] Status propose(NodeId id, std::string payload);
  [[nodiscard]] Status propose_conf_change(NodeId id, const ConfChange& cc);
  [[nodiscard]] Status transfer(NodeId id, NodeId to);
  // Asks node `id` for a read point; the answer lands in read_states(id) and
  // is checked against every index committed before this call.
  [[nodiscard]] Status read_index(NodeId id, std::string context);
  // Starts a new, empty node (a fresh id) that knows the initial membership;
  // it becomes a member once a conf change adding it is applied.
  void add_node(NodeId id);
  // Compacts node `id`'s disk up to what its state machine has applied.
  Status compact(NodeId id);
  void crash(NodeId id);
  void restart(NodeId id);
  // Cuts both directions between every node of `a` and every node of `b`.
  void partition(const std::set<NodeId>& a, const std::set<NodeId>& b);
  void cut_one_way(NodeId from, NodeId to);
  void heal();
  // Ticks with a perfect network until a single leader has applied
  // everything everywhere (all nodes up). Returns the leader or kNoNode.
  NodeId stabilise(std::uint32_t ticks_max);

  const Raft* raft(NodeId id) const;  // nullptr while crashed
  const MemoryStorage& disk(NodeId id) const { return nodes_.at(id).disk; }
  // Entries applied since the node last (re)started or restored a snapshot.
  const std::vector<Entry>& applied(NodeId id) const { return nodes_.at(id).applied; }
  std::uint64_t applied_index(NodeId id) const { return nodes_.at(id).sm_index; }
  const std::vector<ReadState>& read_states(NodeId id) const { return nodes_.at(id).read_states; }
  // Messages of `type` handed to the network so far (before loss).
  std::uint64_t sent(MessageType type) const;
  std::vector<NodeId> node_ids() const;
  NodeId leader() const;  // the up leader with the highest term, or kNoNode
  // One line per node: role, term, vote, commit, applied, last index.
  std::string dump() const;
  const Status& failure() const { return failure_; }
  std::uint64_t committed_count() const { return committed_.size(); }
  // Conf changes applied (by any node) and read answers checked so far.
  std::uint64_t conf_changes_count() const { return conf_history_.size() - 1; }
  std::uint64_t reads_answered() const { return reads_answered_; }
  std::uint64_t snapshots_restored() const { return snapshots_restored_; }

 private:
  struct Node {
    MemoryStorage disk;
    std::unique_ptr<Raft> raft;
    // The state machine (lost on crash, restored from the disk's snapshot).
    std::uint64_t sm_index = 0;
    std::uint64_t sm_hash = 0;
    std::vector<Entry> applied;               // since the last restore, for tests
    std::vector<ReadState> read_states;       // every answer this node received
    std::deque<std::uint64_t> checked_terms;  // log terms already checked, from checked_first
    std::uint64_t checked_first = 1;
    std::uint64_t leader_checked_term = 0;
    std::uint64_t leader_checked_upto = 0;
  };
  struct ReadRequest {
    NodeId node;
    std::uint64_t committed_before;  // the highest commit index any node knew
  };
  struct InFlight {
    Message m;
    std::uint64_t deliver_at_tick;
  };
  struct Committed {
    Entry entry;
    std::uint64_t seen_term;  // the applying node's term when first applied
  };

  Config config_for(NodeId id) const;
  void write_ready(NodeId id);
  void send(const Message& m);
  bool link_up(NodeId from, NodeId to) const;
  void deliver(const Message& m);
  void random_step();
  void random_conf_change();
  void random_transfer();
  void restore_state_machine(NodeId id, const Snapshot& snap);
  void apply_entry(NodeId id, const Entry& e);
  void check_read_state(NodeId id, const ReadState& rs);
  // The membership after every committed change up to `index`.
  const ConfState& conf_at(std::uint64_t index) const;
  void fail(const std::string& code, const std::string& what);
  void check_node(NodeId id);
  void check_log_matching(NodeId id);
  void check_disk_log(NodeId id, const std::vector<Entry>& written);
  // The log-matching check against what an earlier (index, term) recorded;
  // records a failure naming `where` and returns false on a mismatch.
  bool matches_seen(const std::string& where, const Entry& e, std::uint64_t prev_term,
                    const std::pair<Entry, std::uint64_t>& seen);
  void check_leader(NodeId id);
  void check_on_quorum_of_disks(std::uint64_t index);
  std::vector<NodeId> up_nodes() const;

  Options o_;
  Prng prng_;
  std::uint64_t now_tick_ = 0;
  std::uint64_t proposals_ = 0;
  std::map<NodeId, Node> nodes_;
  std::vector<InFlight> net_;
  std::set<std::pair<NodeId, NodeId>> cut_;  // (from, to) links that drop messages
  std::map<std::uint64_t, NodeId> leader_of_term_;
  // Log matching: (index, term) -> the entry and the term before it.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<Entry, std::uint64_t>> seen_;
  std::map<std::uint64_t, Committed> committed_;  // index -> first applied entry
  // index -> state machine hash after applying it (the first node defines it).
  std::map<std::uint64_t, std::uint64_t> state_hash_;
  // index of each applied conf change (0: the initial membership) -> result.
  std::map<std::uint64_t, ConfState> conf_history_;
  std::map<std::string, ReadRequest> reads_;  // context -> request
  std::uint64_t reads_made_ = 0;
  std::uint64_t reads_answered_ = 0;
  std::uint64_t snapshots_restored_ = 0;  // Ready::snapshot handed to a state machine
  std::uint64_t max_commit_seen_ = 0;
  NodeId next_id_ = 0;  // the next fresh node id
  std::map<MessageType, std::uint64_t> sent_;
  Status failure_ = ok_status();
};

}  // namespace custos::consensus::sim
