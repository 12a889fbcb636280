// Raft as a pure state machine, after the design of etcd raft (our own code).
//
// The Raft object does no I/O, reads no clock, starts no thread and draws
// randomness only from a PRNG seeded by its Config. Time arrives as tick(),
// network input as step(), client input as propose(). Everything the outside
// world must do is handed back by ready(): persist the hard state and entries,
// THEN send the messages (they may promise what was persisted), then apply the
// committed entries, then call advance() with the same Ready.
//
// Not thread-safe: one Raft is driven by one thread (or one simulator).
// Invariants are checked in every build; a violation is a bug and aborts.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace custos::consensus {

// 0 is "nobody" (no vote, no known leader); real node ids are >= 1.
using NodeId = std::uint64_t;
inline constexpr NodeId kNoNode = 0;

// A small deterministic PRNG (splitmix64). Used for election timeouts and by
// the simulator, so one seed reproduces a whole run.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, bound). Precondition: bound > 0.
  std::uint64_t below(std::uint64_t bound);
  // True with probability percent/100.
  bool chance(std::uint64_t percent) { return below(100) < percent; }

 private:
  std::uint64_t state_;
};

// conf_change: the payload is encode_conf_change(ConfChange). A conf change
// takes effect on every node when it is applied (handed out in
// committed_entries and acknowledged by advance()); conf_state() then shows it.
enum class EntryType : std::uint8_t { normal, noop, conf_change };

struct Entry {
  std::uint64_t index = 0;
  std::uint64_t term = 0;
  EntryType type = EntryType::normal;
  Bytes payload;
  bool operator==(const Entry&) const = default;
};

// The membership: who votes and who only replicates (a learner, e.g. a court's
// read-only replica). Both sorted ascending, disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  bool operator==(const ConfState&) const = default;
};

// One membership change at a time (single-server changes). The leader refuses
// a new one while an earlier one is not yet applied ("conf_change_pending").
enum class ConfChangeType : std::uint8_t {
  add_voter,    // a new node (or a learner) becomes a voter
  add_learner,  // a new node replicates without voting
  remove_node,  // a voter or learner leaves
};
const char* to_string(ConfChangeType type);

struct ConfChange {
  ConfChangeType type = ConfChangeType::add_learner;
  NodeId node = kNoNode;
  // Opaque to Raft; the node puts the new member's name and address here.
  Bytes context{};
  bool operator==(const ConfChange&) const = default;
};
Bytes encode_conf_change(const ConfChange& cc);
// Error "bad_conf_change" for anything encode_conf_change did not produce.
Result<ConfChange> decode_conf_change(ByteView bytes);

// A compacted prefix of the log: everything up to `index` is summarised by
// `data` (opaque to Raft: the state machine's own snapshot or a reference to
// it) and by the membership at that index.
struct SnapshotMeta {
  std::uint64_t index = 0;  // 0: no snapshot
  std::uint64_t term = 0;
  ConfState conf{};
  bool operator==(const SnapshotMeta&) const = default;
};
struct Snapshot {
  SnapshotMeta meta{};
  Bytes data{};
  bool empty() const { return meta.index == 0; }
  bool operator==(const Snapshot&) const = default;
};

// A linearizable read is safe once the state machine has applied `index`.
// `context` is the caller's request id, as given to read_index().
struct ReadState {
  std::uint64_t index = 0;
  Bytes context{};
  bool operator==(const ReadState&) const = default;
};

// What must survive a crash, besides the log. Persisted before any message of
// the same Ready is sent, so a node never votes twice in one term.
struct HardState {
  std::uint64_t term = 0;
  NodeId vote = kNoNode;
  std::uint64_t commit = 0;
  bool operator==(const HardState&) const = default;
};

enum class MessageType : std::uint8_t {
  vote,                 // candidate asks for a vote in `term` (log position in index/log_term)
  vote_response,        // reject = vote refused
  prevote,              // would you vote for me in `term`? changes no state on the receiver
  prevote_response,     //
  append,               // entries after (index, log_term); commit = leader's commit
  append_response,      // success: index = last index now matching; reject: see reject_hint
  heartbeat,            // commit = min(follower match, leader commit); see index, context
  heartbeat_response,   // reject: the follower lacks (index, log_term) of the heartbeat
  snapshot,             // InstallSnapshot: `snapshot` replaces the receiver's log up to its index
  read_index,           // follower -> leader: confirm leadership for a read (context = request id)
  read_index_response,  // index = the commit index the read must wait for; reject if not leader
  timeout_now,          // leadership transfer: campaign now, skipping PreVote and the lease
};

const char* to_string(MessageType type);

struct Message {
  MessageType type = MessageType::heartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  std::uint64_t term = 0;
  // append: index and term of the entry preceding `entries`.
  // vote/prevote: the candidate's last index and last term.
  // append_response reject: log_term is the follower's term at reject_hint.
  // heartbeat: the last entry sent to a follower in replicate state (0: no
  // check); a follower without it answers reject, so a lost append is resent.
  std::uint64_t index = 0;
  std::uint64_t log_term = 0;
  std::uint64_t commit = 0;
  std::vector<Entry> entries{};
  bool reject = false;
  // On a rejected append: the highest index at which the follower's log might
  // still match, so the leader skips a whole term per round trip.
  std::uint64_t reject_hint = 0;
  // snapshot messages only.
  std::optional<Snapshot> snapshot{};
  // read_index, read_index_response: the caller's request id. heartbeat and
  // its response: the leader's read round (8 bytes big-endian; empty: none).
  // vote: "transfer" when campaigning on timeout_now (receivers then ignore
  // their leader lease).
  Bytes context{};
  bool operator==(const Message&) const = default;
};

// The durable log and hard state, as the Raft object reads them. The node
// implements it over its database; the Raft object never writes to it (it
// hands writes out in Ready). Indexes start at 1; index 0 has term 0.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual HardState hard_state() const = 0;
  // The latest snapshot (empty() if none). first_index() == its index + 1.
  virtual Snapshot snapshot() const = 0;
  // Index of the first entry available (1 while nothing is compacted).
  virtual std::uint64_t first_index() const = 0;
  // Index of the last persisted entry, 0 if the log is empty.
  virtual std::uint64_t last_index() const = 0;
  // The term of entry `index`; term(0) is 0, term(snapshot index) is the
  // snapshot's term. Error "unavailable" outside
  // [first_index()-1, last_index()].
  virtual Result<std::uint64_t> term(std::uint64_t index) const = 0;
  // Entries [lo, hi), stopping early once more than bytes_max payload bytes
  // would be returned (at least one entry is always returned). Error
  // "unavailable" unless first_index() <= lo < hi <= last_index()+1.
  virtual Result<std::vector<Entry>> entries(std::uint64_t lo, std::uint64_t hi,
                                             std::uint64_t bytes_max) const = 0;
};

// Storage kept in memory, for tests and the simulator (whose "disk" it is).
class MemoryStorage final : public Storage {
 public:
  HardState hard_state() const override { return hard_state_; }
  Snapshot snapshot() const override { return snapshot_; }
  std::uint64_t first_index() const override { return snapshot_.meta.index + 1; }
  std::uint64_t last_index() const override { return snapshot_.meta.index + log_.size(); }
  Result<std::uint64_t> term(std::uint64_t index) const override;
  Result<std::vector<Entry>> entries(std::uint64_t lo, std::uint64_t hi,
                                     std::uint64_t bytes_max) const override;

  void set_hard_state(const HardState& hs) { hard_state_ = hs; }
  // Appends `entries`, first discarding any persisted entries at or after
  // entries.front().index (a follower's conflicting suffix). Precondition:
  // entries are contiguous and start at most at last_index()+1 (aborts).
  void append(const std::vector<Entry>& entries);
  // Records a snapshot of the applied state at `index` (<= last_index()) and
  // discards the entries up to it. Error "stale" if index <= snapshot index.
  Status compact(std::uint64_t index, const ConfState& conf, Bytes data);
  // Replaces everything with a snapshot received from the leader (Ready::snapshot).
  void apply_snapshot(const Snapshot& snap);

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  std::vector<Entry> log_;  // log_[i] has index snapshot_.meta.index + i + 1
};

struct Config {
  NodeId id = kNoNode;
  // The initial membership, used only while storage holds no snapshot; after
  // that the membership comes from the snapshot and the conf-change entries.
  // `id` may be absent (a node that will be added by a conf change).
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  // Ticks without hearing from a leader before a follower campaigns. The
  // actual timeout is drawn from [election_ticks, 2*election_ticks).
  std::uint32_t election_ticks = 10;
  std::uint32_t heartbeat_ticks = 1;
  // Flow control towards each follower while replicating.
  std::uint32_t inflight_msgs_max = 64;
  std::uint64_t inflight_bytes_max = 16 << 20;
  // Payload bytes per append message (always at least one entry).
  std::uint64_t msg_bytes_max = 1 << 20;
  // A single proposal's payload; bigger ones are refused ("entry_too_large").
  std::uint64_t entry_bytes_max = 1 << 20;
  // Proposed payload bytes at the leader not yet applied (freed by advance());
  // beyond this, proposals are refused ("proposals_dropped") until the log
  // catches up. A proposal is always accepted while none is pending.
  std::uint64_t uncommitted_bytes_max = 64 << 20;
  // Committed entries handed out per Ready (payload bytes, at least one).
  std::uint64_t apply_bytes_max = 16 << 20;
  bool pre_vote = true;
  bool check_quorum = true;
  // Index of the last entry the state machine has already applied (restarts).
  std::uint64_t applied = 0;
  // Seeds the election-timeout PRNG; the node id is mixed in.
  std::uint64_t seed = 0;
  // Read requests a leader holds until a heartbeat round confirms it (local
  // and forwarded together); beyond this read_index() fails ("reads_dropped")
  // and a forwarded request is answered with a rejection.
  std::uint32_t pending_reads_max = 1024;
};

// A learner is reported as follower; see Raft::is_learner().
enum class Role : std::uint8_t { follower, pre_candidate, candidate, leader };
const char* to_string(Role role);

struct Ready {
  std::optional<HardState> hard_state;  // set if it changed since the last Ready
  // A snapshot from the leader: persist it (replacing the log up to its index)
  // and restore the state machine from it, before the entries below.
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;            // persist (after truncating conflicts)
  std::vector<Message> messages;         // send only after persisting the above
  std::vector<Entry> committed_entries;  // apply in order
  // Answers to read_index(), in request order (a follower's forwarded
  // requests may come back reordered by the network).
  std::vector<ReadState> read_states;
  bool empty() const {
    return !hard_state && !snapshot && entries.empty() && messages.empty() &&
           committed_entries.empty() && read_states.empty();
  }
};

// Replication state of one follower, as the leader sees it.
struct Progress {
  // snapshot: the follower needs entries the leader has compacted; one
  // snapshot message is in flight and nothing else is sent until its answer
  // (or an election timeout, after which the leader probes again).
  enum class State : std::uint8_t { probe, replicate, snapshot };
  std::uint64_t match = 0;
  std::uint64_t next = 1;
  State state = State::probe;
  bool probe_sent = false;     // probe: one append in flight, wait for its answer
  bool recent_active = false;  // heard from it since the last CheckQuorum round
  // replicate: last index and payload bytes of each unacknowledged append.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> inflight;
  std::uint64_t inflight_bytes = 0;
  std::uint64_t pending_snapshot = 0;  // snapshot: index of the snapshot sent
};

class Raft {
 public:
  // Restores term, vote, commit and log from `storage`, which must outlive
  // the Raft object, and the membership from the storage snapshot (or
  // config.voters/learners without one) plus the conf changes in the log up
  // to config.applied. Preconditions (abort): voter and learner ids are
  // distinct, disjoint and non-zero, config.id is non-zero (it need not be a
  // member: a joining node learns its membership from the leader),
  // election_ticks > heartbeat_ticks > 0, limits > 0, and the stored commit
  // is within the stored log.
  Raft(Config config, const Storage* storage);

  // Feeds one message from the network. Stale, duplicated or reordered
  // messages are expected and handled. Precondition: m.to == id().
  void step(const Message& m);
  // Advances logical time by one tick.
  void tick();
  // Starts an election now, as if the election timer had fired (with PreVote
  // first if configured). Ignored on a leader, on a node that is not a voter
  // (learners, removed or not yet added nodes), and while a conf change known
  // to be committed is not yet applied.
  void campaign();
  // Appends a normal entry if this node is the leader. Errors:
  // "not_leader" (message names the leader hint, or "unknown"),
  // "transfer_in_progress" (leadership is being handed over),
  // "entry_too_large", "proposals_dropped" (uncommitted_bytes_max reached).
  [[nodiscard]] Status propose(Bytes payload);
  // Appends a conf_change entry if this node is the leader. Errors:
  // "not_leader", "transfer_in_progress", "conf_change_pending" (an earlier
  // one is not yet applied), "bad_conf_change" (adding a member, removing a
  // non-member, removing the last voter, node id 0, demoting a voter),
  // "entry_too_large" (the encoded change exceeds entry_bytes_max).
  [[nodiscard]] Status propose_conf_change(const ConfChange& cc);
  // Asks for a linearizable read point. The answer arrives in a later
  // Ready::read_states with the same context: once applied() >= its index,
  // local state reflects every write committed before this call. A follower
  // or learner asks the leader. Errors: "not_leader" (no leader known),
  // "reads_dropped" (pending_reads_max reached on the leader). A request the
  // leader cannot confirm (it lost leadership, a message was lost) is never
  // answered: the caller times out and asks again.
  [[nodiscard]] Status read_index(Bytes context);
  // Leader only: hands leadership to voter `to` once its log is up to date
  // (sends timeout_now); refuses proposals meanwhile, gives up after an
  // election timeout. Errors: "not_leader", "bad_transferee".
  [[nodiscard]] Status transfer_leadership(NodeId to);

  bool has_ready() const;
  // What to persist, send and apply. Precondition: no Ready is outstanding
  // (advance() was called for the previous one).
  Ready ready();
  // Declares `rd` persisted, sent and applied. Precondition: `rd` is the
  // outstanding Ready.
  void advance(const Ready& rd);

  NodeId id() const { return cfg_.id; }
  Role role() const { return role_; }
  std::uint64_t term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return lead_; }
  // The membership as of applied() (conf changes take effect when applied;
  // a snapshot received from the leader takes effect when accepted).
  const ConfState& conf_state() const { return conf_; }
  bool is_learner() const;
  std::uint64_t commit() const { return committed_; }
  std::uint64_t applied() const { return applied_; }
  std::uint64_t last_index() const;
  // Index of the first entry of the log; everything before it is summarised
  // by the (persisted or unstable) snapshot, whose term entry_term() still
  // knows.
  std::uint64_t first_index() const;
  // Term of entry `index` in the (persisted + unstable) log, if present.
  std::optional<std::uint64_t> entry_term(std::uint64_t index) const;
  // Entries [lo, hi) of the log. Precondition: 1 <= lo <= hi <= last_index()+1.
  std::vector<Entry> log_slice(std::uint64_t lo, std::uint64_t hi) const;
  // Leader only: the progress of `peer` (nullptr otherwise).
  const Progress* progress(NodeId peer) const;

 private:
  // A read request the leader holds until a heartbeat round confirms it.
  struct PendingRead {
    std::uint64_t index = 0;  // commit index the read must wait for
    std::uint64_t round = 0;  // heartbeat round that confirms it (0: deferred)
    NodeId from = kNoNode;    // the node to answer (cfg_.id: a local request)
    Bytes context;
  };

  // log
  std::uint64_t log_term_at(std::uint64_t index) const;  // aborts if absent
  std::vector<Entry> slice(std::uint64_t lo, std::uint64_t hi, std::uint64_t bytes_max) const;
  void append_entries(std::vector<Entry> entries);  // may truncate the unstable tail
  bool is_up_to_date(std::uint64_t last_index, std::uint64_t last_term) const;
  std::uint64_t find_conflict_by_term(std::uint64_t index, std::uint64_t term) const;
  void commit_to(std::uint64_t index);
  bool committed_in_current_term() const;

  // membership
  bool is_voter(NodeId id) const;
  bool is_member(NodeId id) const;
  // A voter with no snapshot still to persist may start elections.
  bool promotable() const;
  void apply_conf_change(const ConfChange& cc);
  void add_progress(NodeId id);

  // roles
  void reset(std::uint64_t term);
  void become_follower(std::uint64_t term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  // Starts an election unless this node may not: not a voter, or a conf
  // change it knows is committed is not yet applied (its membership is stale).
  void hup(bool pre, bool transfer);
  void start_election(bool pre, bool transfer);
  std::size_t quorum() const { return conf_.voters.size() / 2 + 1; }
  // Records a vote response; returns (granted, rejected) counts of voters.
  std::pair<std::size_t, std::size_t> tally(NodeId from, bool granted);

  void send(Message m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void reject_read(const Message& m);

  // replication
  bool send_append(NodeId to, bool send_if_empty);
  bool send_snapshot(NodeId to);
  void send_heartbeat(NodeId to, const Bytes& context);
  void send_timeout_now(NodeId to);
  void bcast_append();
  void bcast_heartbeat();
  bool maybe_commit();
  bool paused(const Progress& pr) const;
  void become(Progress& pr, Progress::State state);
  Status check_proposal() const;

  // reads
  void add_read(NodeId from, Bytes context);
  void start_read_round();
  void release_reads();

  void check_invariants() const;

  Config cfg_;
  const Storage* storage_;
  ConfState conf_;
  Prng prng_;

  std::uint64_t term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId lead_ = kNoNode;
  Role role_ = Role::follower;

  // The log is an optional snapshot and storage (persisted), followed by
  // unstable_ (not yet handed to the disk or handed out but not yet
  // acknowledged by advance()). An unstable snapshot replaces everything
  // before it: storage is not consulted below unstable_offset_ then.
  std::optional<Snapshot> unstable_snapshot_;
  std::vector<Entry> unstable_;
  std::uint64_t unstable_offset_ = 1;  // index of unstable_[0]
  std::uint64_t committed_ = 0;
  std::uint64_t applied_ = 0;
  std::uint64_t applying_ = 0;  // last index handed out in a Ready, not yet advanced

  std::uint32_t election_elapsed_ = 0;
  std::uint32_t heartbeat_elapsed_ = 0;
  std::uint32_t randomized_election_ticks_ = 0;

  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;  // leader only: voters and learners
  std::uint64_t uncommitted_bytes_ = 0;  // leader only
  // Leader only: index of the latest conf change that may be in the log; a
  // new one waits until applied_ reaches it.
  std::uint64_t pending_conf_index_ = 0;
  // Leader only: the voter leadership is being handed to, and for how long.
  NodeId transferee_ = kNoNode;
  std::uint32_t transfer_elapsed_ = 0;

  // Leader only: reads in request order; those with round 0 wait for the
  // first commit of this term. read_acks_ holds each voter's highest
  // acknowledged round. Rounds only grow, across terms too.
  std::deque<PendingRead> pending_reads_;
  std::map<NodeId, std::uint64_t> read_acks_;
  std::uint64_t read_round_ = 0;
  std::vector<ReadState> read_states_;  // answered, not yet handed out

  std::vector<Message> msgs_;
  HardState prev_hard_state_;
  bool ready_outstanding_ = false;
};

}  // namespace custos::consensus
