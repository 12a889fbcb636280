#include "consensus/raft.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

namespace custos::consensus {

namespace {

// Invariant checks stay on in release builds: a Raft bug that keeps running
// can acknowledge and then lose a committed entry.
[[noreturn]] void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "raft invariant violated: %s (%s:%d)\n", what, file, line);
  std::abort();
}
#define RAFT_ASSERT(cond) ((cond) ? (void)0 : invariant_failed(#cond, __FILE__, __LINE__))

std::uint64_t payload_bytes(const std::vector<Entry>& entries) {
  std::uint64_t n = 0;
  for (const Entry& e : entries) n += e.payload.size();
  return n;
}

// Appends `e` to `out` unless that would pass `bytes_max` payload bytes in
// total; the first entry is always taken. Returns false once the limit stops it.
bool take_within(std::vector<Entry>& out, std::uint64_t& bytes, const Entry& e,
                 std::uint64_t bytes_max) {
  if (!out.empty() && bytes + e.payload.size() > bytes_max) return false;
  bytes += e.payload.size();
  out.push_back(e);
  return true;
}

// Frees the oldest in-flight append of a follower in replicate state.
void free_first_inflight(Progress& pr) {
  pr.inflight_bytes -= pr.inflight.front().second;
  pr.inflight.pop_front();
}

Error unavailable(std::uint64_t index) {
  return make_error("unavailable", "log index " + std::to_string(index) + " not in storage");
}

}  // namespace

std::uint64_t Prng::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t Prng::below(std::uint64_t bound) {
  RAFT_ASSERT(bound > 0);
  return next() % bound;  // the modulo bias is irrelevant for timeouts and fault injection
}

const char* to_string(MessageType type) {
  switch (type) {
    case MessageType::vote:
      return "vote";
    case MessageType::vote_response:
      return "vote_response";
    case MessageType::prevote:
      return "prevote";
    case MessageType::prevote_response:
      return "prevote_response";
    case MessageType::append:
      return "append";
    case MessageType::append_response:
      return "append_response";
    case MessageType::heartbeat:
      return "heartbeat";
    case MessageType::heartbeat_response:
      return "heartbeat_response";
    case MessageType::snapshot:
      return "snapshot";
    case MessageType::read_index:
      return "read_index";
    case MessageType::read_index_response:
      return "read_index_response";
    case MessageType::timeout_now:
      return "timeout_now";
  }
  return "?";
}

const char* to_string(Role role) {
  switch (role) {
    case Role::follower:
      return "follower";
    case Role::pre_candidate:
      return "pre_candidate";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
  }
  return "?";
}

const char* to_string(ConfChangeType type) {
  switch (type) {
    case ConfChangeType::add_voter:
      return "add_voter";
    case ConfChangeType::add_learner:
      return "add_learner";
    case ConfChangeType::remove_node:
      return "remove_node";
  }
  return "?";
}

// ---------------------------------------------------------------- conf change codec

// Layout: version (1 byte, = 1), type (1 byte), node (8 bytes big-endian),
// context length (4 bytes big-endian), context. It lives in the replicated
// log, so it is fixed forever; a new layout needs a new version byte.
namespace {

constexpr std::uint8_t kConfChangeVersion = 1;
constexpr std::size_t kConfChangeHeaderBytes = 1 + 1 + 8 + 4;

void put_be(Bytes& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_be(ByteView in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | in[at + static_cast<std::size_t>(i)];
  return v;
}

Error bad_conf_change(const std::string& what) {
  return make_error("bad_conf_change", what);
}

}  // namespace

Bytes encode_conf_change(const ConfChange& cc) {
  RAFT_ASSERT(cc.context.size() <= UINT32_MAX);
  Bytes out;
  out.reserve(kConfChangeHeaderBytes + cc.context.size());
  out.push_back(kConfChangeVersion);
  out.push_back(static_cast<std::uint8_t>(cc.type));
  put_be(out, cc.node, 8);
  put_be(out, cc.context.size(), 4);
  out.insert(out.end(), cc.context.begin(), cc.context.end());
  return out;
}

Result<ConfChange> decode_conf_change(ByteView bytes) {
  if (bytes.size() < kConfChangeHeaderBytes) {
    return bad_conf_change("truncated: " + std::to_string(bytes.size()) + " bytes");
  }
  if (bytes[0] != kConfChangeVersion) {
    return bad_conf_change("unknown version " + std::to_string(bytes[0]));
  }
  if (bytes[1] > static_cast<std::uint8_t>(ConfChangeType::remove_node)) {
    return bad_conf_change("unknown type " + std::to_string(bytes[1]));
  }
  const std::uint64_t context_bytes = get_be(bytes, 10, 4);
  if (context_bytes != bytes.size() - kConfChangeHeaderBytes) {
    return bad_conf_change("context length " + std::to_string(context_bytes) + " but " +
                           std::to_string(bytes.size() - kConfChangeHeaderBytes) + " bytes follow");
  }
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(bytes[1]);
  cc.node = get_be(bytes, 2, 8);
  cc.context.assign(bytes.begin() + kConfChangeHeaderBytes, bytes.end());
  return cc;
}

namespace {

// Applies `cc` to `conf`. Total and deterministic: every node derives the
// same membership from the same committed log. The leader validated the
// change against exactly this membership (one change at a time), so the
// lenient cases (adding a member, removing a non-member) occur only when a
// node was started with a wrong initial membership.
void change_membership(ConfState& conf, const ConfChange& cc) {
  auto erase = [](std::vector<NodeId>& ids, NodeId id) { std::erase(ids, id); };
  auto insert = [](std::vector<NodeId>& ids, NodeId id) {
    auto it = std::lower_bound(ids.begin(), ids.end(), id);
    if (it == ids.end() || *it != id) ids.insert(it, id);
  };
  switch (cc.type) {
    case ConfChangeType::add_voter:
      erase(conf.learners, cc.node);
      insert(conf.voters, cc.node);
      break;
    case ConfChangeType::add_learner:
      if (!std::binary_search(conf.voters.begin(), conf.voters.end(), cc.node)) {
        insert(conf.learners, cc.node);
      }
      break;
    case ConfChangeType::remove_node:
      erase(conf.voters, cc.node);
      erase(conf.learners, cc.node);
      break;
  }
}

bool contains(const std::vector<NodeId>& sorted_ids, NodeId id) {
  return std::binary_search(sorted_ids.begin(), sorted_ids.end(), id);
}

// Vote requests of a campaign started by timeout_now carry this context:
// the old leader asked for it, so receivers ignore their leader lease.
const Bytes kTransferContext = {'t', 'r', 'a', 'n', 's', 'f', 'e', 'r'};

// A heartbeat's context names the read round it confirms (8 bytes).
Bytes encode_round(std::uint64_t round) {
  Bytes out;
  put_be(out, round, 8);
  return out;
}

std::optional<std::uint64_t> decode_round(const Bytes& context) {
  if (context.size() != 8) return std::nullopt;
  return get_be(context, 0, 8);
}

}  // namespace

// ---------------------------------------------------------------- MemoryStorage

Result<std::uint64_t> MemoryStorage::term(std::uint64_t index) const {
  if (index == snapshot_.meta.index) return snapshot_.meta.term;  // 0 for index 0
  if (index < first_index() || index > last_index()) return unavailable(index);
  return log_[index - first_index()].term;
}

Result<std::vector<Entry>> MemoryStorage::entries(std::uint64_t lo, std::uint64_t hi,
                                                  std::uint64_t bytes_max) const {
  if (lo < first_index() || lo >= hi || hi > last_index() + 1) return unavailable(lo);
  std::vector<Entry> out;
  std::uint64_t bytes = 0;
  for (std::uint64_t i = lo; i < hi && take_within(out, bytes, log_[i - first_index()], bytes_max);
       ++i) {
  }
  return out;
}

void MemoryStorage::append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const std::uint64_t first = entries.front().index;
  RAFT_ASSERT(first >= first_index() && first <= last_index() + 1);
  log_.resize(first - first_index());
  for (const Entry& e : entries) {
    RAFT_ASSERT(e.index == last_index() + 1);
    RAFT_ASSERT(e.term >= *term(e.index - 1));
    log_.push_back(e);
  }
}

Status MemoryStorage::compact(std::uint64_t index, const ConfState& conf, Bytes data) {
  if (index <= snapshot_.meta.index) {
    return make_error("stale", "snapshot at " + std::to_string(snapshot_.meta.index) +
                                   " already covers " + std::to_string(index));
  }
  if (index > last_index()) return unavailable(index);
  const std::uint64_t term_at = *term(index);
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(index + 1 - first_index()));
  snapshot_.meta = SnapshotMeta{index, term_at, conf};
  snapshot_.data = std::move(data);
  return ok_status();
}

void MemoryStorage::apply_snapshot(const Snapshot& snap) {
  // Raft hands out only snapshots beyond its commit, and the node compacts
  // only what it applied, so an older snapshot here is a bug.
  RAFT_ASSERT(!snap.empty() && snap.meta.index > snapshot_.meta.index);
  snapshot_ = snap;
  log_.clear();
}

// ---------------------------------------------------------------- construction

Raft::Raft(Config config, const Storage* storage)
    : cfg_(std::move(config)),
      storage_(storage),
      prng_(cfg_.seed ^ (cfg_.id * 0x2545f4914f6cdd1dULL)) {
  RAFT_ASSERT(storage_ != nullptr);
  RAFT_ASSERT(cfg_.id != kNoNode);
  std::set<NodeId> ids(cfg_.voters.begin(), cfg_.voters.end());
  RAFT_ASSERT(ids.size() == cfg_.voters.size());
  ids.insert(cfg_.learners.begin(), cfg_.learners.end());
  RAFT_ASSERT(ids.size() == cfg_.voters.size() + cfg_.learners.size());
  RAFT_ASSERT(ids.count(kNoNode) == 0);
  RAFT_ASSERT(cfg_.heartbeat_ticks > 0 && cfg_.election_ticks > cfg_.heartbeat_ticks);
  RAFT_ASSERT(cfg_.inflight_msgs_max > 0 && cfg_.inflight_bytes_max > 0);
  RAFT_ASSERT(cfg_.msg_bytes_max > 0 && cfg_.apply_bytes_max > 0);
  RAFT_ASSERT(cfg_.pending_reads_max > 0);

  const Snapshot snap = storage_->snapshot();
  RAFT_ASSERT(storage_->first_index() == snap.meta.index + 1);
  if (snap.empty()) {
    conf_.voters = cfg_.voters;
    conf_.learners = cfg_.learners;
    std::sort(conf_.voters.begin(), conf_.voters.end());
    std::sort(conf_.learners.begin(), conf_.learners.end());
  } else {
    conf_ = snap.meta.conf;
  }

  const HardState hs = storage_->hard_state();
  RAFT_ASSERT(hs.commit <= storage_->last_index());
  RAFT_ASSERT(cfg_.applied <= std::max(hs.commit, snap.meta.index));
  unstable_offset_ = storage_->last_index() + 1;
  // The snapshot is applied state, hence committed, whatever the hard state says.
  committed_ = std::max(hs.commit, snap.meta.index);
  applied_ = applying_ = std::max(cfg_.applied, snap.meta.index);
  // Entries the state machine already applied will not be handed out again,
  // so their membership changes are replayed here.
  if (applied_ > snap.meta.index) {
    for (const Entry& e : slice(snap.meta.index + 1, applied_ + 1, UINT64_MAX)) {
      if (e.type != EntryType::conf_change) continue;
      Result<ConfChange> cc = decode_conf_change(e.payload);
      RAFT_ASSERT(cc.ok());
      change_membership(conf_, *cc);
    }
  }
  prev_hard_state_ = hs;
  become_follower(hs.term, kNoNode);
  vote_ = hs.vote;  // become_follower keeps the vote only when the term is unchanged
  check_invariants();
}

// ---------------------------------------------------------------- log

std::uint64_t Raft::first_index() const {
  return unstable_snapshot_ ? unstable_snapshot_->meta.index + 1 : storage_->first_index();
}

std::uint64_t Raft::last_index() const {
  // Not storage_->last_index(): after a conflict the disk may still hold a
  // stale suffix that unstable_ shadows until the next Ready is written.
  return unstable_offset_ + unstable_.size() - 1;
}

std::optional<std::uint64_t> Raft::entry_term(std::uint64_t index) const {
  if (index > last_index()) return std::nullopt;
  if (index >= unstable_offset_) return unstable_[index - unstable_offset_].term;
  if (unstable_snapshot_) {
    if (index == unstable_snapshot_->meta.index) return unstable_snapshot_->meta.term;
    return std::nullopt;
  }
  Result<std::uint64_t> t = storage_->term(index);
  if (!t) return std::nullopt;
  return *t;
}

std::uint64_t Raft::log_term_at(std::uint64_t index) const {
  std::optional<std::uint64_t> t = entry_term(index);
  RAFT_ASSERT(t.has_value());
  return *t;
}

std::vector<Entry> Raft::slice(std::uint64_t lo, std::uint64_t hi, std::uint64_t bytes_max) const {
  RAFT_ASSERT(lo >= first_index() && lo <= hi && hi <= last_index() + 1);
  std::vector<Entry> out;
  if (lo == hi) return out;
  if (lo < unstable_offset_) {
    Result<std::vector<Entry>> stored =
        storage_->entries(lo, std::min(hi, unstable_offset_), bytes_max);
    RAFT_ASSERT(stored.ok());
    out = std::move(*stored);
    if (out.back().index + 1 < std::min(hi, unstable_offset_)) return out;  // byte limit hit
  }
  std::uint64_t bytes = payload_bytes(out);
  for (std::uint64_t i = std::max(lo, unstable_offset_);
       i < hi && take_within(out, bytes, unstable_[i - unstable_offset_], bytes_max); ++i) {
  }
  return out;
}

std::vector<Entry> Raft::log_slice(std::uint64_t lo, std::uint64_t hi) const {
  return slice(lo, hi, UINT64_MAX);
}

void Raft::append_entries(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const std::uint64_t first = entries.front().index;
  // Never rewrite what is committed: a committed entry is on a quorum and
  // every future leader has it.
  RAFT_ASSERT(first > committed_);
  RAFT_ASSERT(first <= last_index() + 1);
  if (first >= unstable_offset_) {
    unstable_.resize(first - unstable_offset_);
  } else {
    // Conflict inside the persisted part: the disk truncates when it sees
    // these entries (Storage contract), until then unstable_ shadows it.
    unstable_.clear();
    unstable_offset_ = first;
  }
  for (Entry& e : entries) {
    RAFT_ASSERT(e.index == last_index() + 1);
    RAFT_ASSERT(e.term >= log_term_at(e.index - 1));
    unstable_.push_back(std::move(e));
  }
}

bool Raft::is_up_to_date(std::uint64_t index, std::uint64_t term) const {
  const std::uint64_t my_last = last_index();
  const std::uint64_t my_term = log_term_at(my_last);
  return term > my_term || (term == my_term && index >= my_last);
}

// The largest index <= `index` whose term is <= `term`: everything after it
// certainly conflicts with a log whose entry at `index` has `term`. Stops at
// the compacted prefix (whose terms are unknown).
std::uint64_t Raft::find_conflict_by_term(std::uint64_t index, std::uint64_t term) const {
  index = std::min(index, last_index());
  while (index > 0) {
    std::optional<std::uint64_t> t = entry_term(index);
    if (!t || *t <= term) break;
    --index;
  }
  return index;
}

void Raft::commit_to(std::uint64_t index) {
  if (index <= committed_) return;  // commit never moves backwards
  RAFT_ASSERT(index <= last_index());
  committed_ = index;
}

bool Raft::committed_in_current_term() const {
  return log_term_at(committed_) == term_;
}

// ---------------------------------------------------------------- membership

bool Raft::is_voter(NodeId id) const {
  return contains(conf_.voters, id);
}

bool Raft::is_member(NodeId id) const {
  return contains(conf_.voters, id) || contains(conf_.learners, id);
}

bool Raft::is_learner() const {
  return contains(conf_.learners, cfg_.id);
}

bool Raft::promotable() const {
  return is_voter(cfg_.id) && !unstable_snapshot_;
}

void Raft::add_progress(NodeId id) {
  Progress pr;
  pr.next = last_index() + 1;
  pr.recent_active = true;  // give every follower one CheckQuorum round
  progress_[id] = pr;
}

// Runs when the conf change entry is applied (advance()), on every node.
void Raft::apply_conf_change(const ConfChange& cc) {
  change_membership(conf_, cc);
  if (role_ == Role::leader) {
    if (!is_voter(cfg_.id)) {
      // Our own removal is committed and applied: the rest of the cluster
      // elects a leader among the remaining voters.
      become_follower(term_, kNoNode);
      return;
    }
    for (auto it = progress_.begin(); it != progress_.end();) {
      it = is_member(it->first) ? std::next(it) : progress_.erase(it);
    }
    for (NodeId id : conf_.voters) {
      if (!progress_.count(id)) add_progress(id);
    }
    for (NodeId id : conf_.learners) {
      if (!progress_.count(id)) add_progress(id);
    }
    if (transferee_ != kNoNode && !is_voter(transferee_)) transferee_ = kNoNode;
    // A smaller quorum may commit more, and may confirm pending reads.
    if (maybe_commit()) {
      bcast_append();
    } else {
      for (auto& [id, pr] : progress_) {
        if (id != cfg_.id && pr.match == 0) send_append(id, true);  // a new member
      }
    }
    release_reads();
  } else if (role_ != Role::follower && !is_voter(cfg_.id)) {
    become_follower(term_, kNoNode);  // we can no longer win, or count ourselves
  }
}

// ---------------------------------------------------------------- roles

void Raft::reset(std::uint64_t term) {
  if (term_ != term) {
    RAFT_ASSERT(term > term_);
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_election_ticks_ = cfg_.election_ticks + prng_.below(cfg_.election_ticks);
  votes_.clear();
  progress_.clear();
  uncommitted_bytes_ = 0;
  pending_conf_index_ = 0;
  transferee_ = kNoNode;
  transfer_elapsed_ = 0;
  // Unconfirmed reads die with the leadership; their callers time out.
  pending_reads_.clear();
  read_acks_.clear();
}

void Raft::become_follower(std::uint64_t term, NodeId lead) {
  reset(term);
  role_ = Role::follower;
  lead_ = lead;
}

void Raft::become_pre_candidate() {
  RAFT_ASSERT(role_ != Role::leader);
  // PreVote changes neither term nor vote, so a partitioned node that keeps
  // campaigning cannot inflate terms and depose a healthy leader on return.
  votes_.clear();
  role_ = Role::pre_candidate;
  lead_ = kNoNode;
}

void Raft::become_candidate() {
  RAFT_ASSERT(role_ != Role::leader);
  reset(term_ + 1);
  vote_ = cfg_.id;
  role_ = Role::candidate;
}

void Raft::become_leader() {
  RAFT_ASSERT(role_ == Role::candidate);
  RAFT_ASSERT(is_voter(cfg_.id));
  reset(term_);
  role_ = Role::leader;
  lead_ = cfg_.id;
  for (NodeId id : conf_.voters) add_progress(id);
  for (NodeId id : conf_.learners) add_progress(id);
  // Our log may hold an unapplied conf change; wait until everything we have
  // is applied before accepting another (one change at a time).
  pending_conf_index_ = last_index();
  // A no-op of the new term: older entries can only be committed through an
  // entry of the leader's own term (Raft §5.4.2, the paper's Figure 8).
  append_entries({Entry{last_index() + 1, term_, EntryType::noop, {}}});
  Progress& self = progress_[cfg_.id];
  self.match = last_index();
  self.next = self.match + 1;
  self.state = Progress::State::replicate;
  maybe_commit();  // a single-node cluster commits at once
  bcast_append();
}

void Raft::campaign() {
  if (role_ == Role::leader) return;
  hup(cfg_.pre_vote, false);
}

void Raft::hup(bool pre, bool transfer) {
  if (!promotable()) return;
  // A committed but unapplied conf change means our membership is stale:
  // counting votes by it could elect a second leader next to one counting
  // by the new membership once the two differ by more than one server.
  if (committed_ > applied_) {
    for (const Entry& e : slice(applied_ + 1, committed_ + 1, UINT64_MAX)) {
      if (e.type == EntryType::conf_change) return;
    }
  }
  start_election(pre, transfer);
}

void Raft::start_election(bool pre, bool transfer) {
  if (pre) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const std::uint64_t election_term = pre ? term_ + 1 : term_;
  if (tally(cfg_.id, true).first >= quorum()) {
    if (pre) {
      start_election(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  const std::uint64_t li = last_index();
  for (NodeId v : conf_.voters) {
    if (v == cfg_.id) continue;
    Message m;
    m.type = pre ? MessageType::prevote : MessageType::vote;
    m.to = v;
    m.term = election_term;
    m.index = li;
    m.log_term = log_term_at(li);
    if (transfer) m.context = kTransferContext;
    send(std::move(m));
  }
}

std::pair<std::size_t, std::size_t> Raft::tally(NodeId from, bool granted) {
  votes_.emplace(from, granted);  // the first answer counts; duplicates do not
  std::size_t g = 0, r = 0;
  for (const auto& [id, yes] : votes_) {
    // Only voters count: a learner that has not yet applied its promotion
    // may still answer, and a removed node may answer a stale request.
    if (is_voter(id)) (yes ? g : r)++;
  }
  return {g, r};
}

// ---------------------------------------------------------------- messages

void Raft::send(Message m) {
  m.from = cfg_.id;
  // Election messages carry the term they are about, set by the caller: a
  // pre-vote asks about a term not yet entered, and a granted pre-vote echoes
  // it so the candidate counts it. Every other message carries our own term.
  const bool election = m.type == MessageType::vote || m.type == MessageType::vote_response ||
                        m.type == MessageType::prevote || m.type == MessageType::prevote_response;
  if (!election) m.term = term_;
  msgs_.push_back(std::move(m));
}

void Raft::step(const Message& m) {
  RAFT_ASSERT(m.to == cfg_.id);
  if (m.from == cfg_.id || m.from == kNoNode) return;
  const bool is_vote_req = m.type == MessageType::vote || m.type == MessageType::prevote;
  const bool from_leader = m.type == MessageType::append || m.type == MessageType::heartbeat ||
                           m.type == MessageType::snapshot || m.type == MessageType::timeout_now;

  if (m.term > term_) {
    const bool transfer = m.type == MessageType::vote && m.context == kTransferContext;
    if (is_vote_req && !transfer && cfg_.check_quorum && lead_ != kNoNode &&
        election_elapsed_ < cfg_.election_ticks) {
      // Leader lease: we heard from a live leader recently, so a candidate
      // with a higher term is most likely a disruptive rejoining node (or a
      // removed one). A transfer campaign was asked for by that leader.
      return;
    }
    if (m.type == MessageType::prevote || (m.type == MessageType::prevote_response && !m.reject)) {
      // Pre-votes never change the receiver's term; a granted pre-vote
      // carries the future term and is counted below.
    } else if (from_leader) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::append || m.type == MessageType::heartbeat ||
         m.type == MessageType::snapshot)) {
      // A stale leader (or one cut off while we moved on) learns our term
      // and steps down; otherwise with PreVote it could wait forever.
      Message r;
      r.type = MessageType::append_response;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == MessageType::prevote) {
      Message r;
      r.type = MessageType::prevote_response;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  if (is_vote_req) {
    const bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                          (m.type == MessageType::prevote && m.term > term_);
    Message r;
    r.type =
        m.type == MessageType::vote ? MessageType::vote_response : MessageType::prevote_response;
    r.to = m.from;
    if (can_vote && is_up_to_date(m.index, m.log_term)) {
      r.term = m.term;
      if (m.type == MessageType::vote) {
        election_elapsed_ = 0;
        vote_ = m.from;  // persisted (hard state) before this answer is sent
      }
    } else {
      r.term = term_;
      r.reject = true;
    }
    send(std::move(r));
    return;
  }

  switch (role_) {
    case Role::leader:
      step_leader(m);
      break;
    case Role::pre_candidate:
    case Role::candidate:
      step_candidate(m);
      break;
    case Role::follower:
      step_follower(m);
      break;
  }
  check_invariants();
}

void Raft::reject_read(const Message& m) {
  Message r;
  r.type = MessageType::read_index_response;
  r.to = m.from;
  r.reject = true;
  r.context = m.context;
  send(std::move(r));
}

void Raft::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::append:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append(m);
      break;
    case MessageType::heartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::snapshot:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::read_index:
      reject_read(m);  // the asker's leader hint is stale; it asks again
      break;
    case MessageType::read_index_response:
      // No error reaches the caller on a rejection: ReadState has none; it
      // times out and retries like after a lost message.
      if (!m.reject) read_states_.push_back(ReadState{m.index, m.context});
      break;
    case MessageType::timeout_now:
      // The leader handed over: campaign now, without PreVote, which would
      // fail while the other voters still hear from the old leader.
      lead_ = m.from;
      hup(false, true);
      break;
    default:
      break;  // late answers to an election we no longer run
  }
}

void Raft::step_candidate(const Message& m) {
  const MessageType wanted =
      role_ == Role::pre_candidate ? MessageType::prevote_response : MessageType::vote_response;
  switch (m.type) {
    case MessageType::append:
      become_follower(m.term, m.from);  // a leader of our term exists
      handle_append(m);
      break;
    case MessageType::heartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      break;
    case MessageType::snapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      break;
    case MessageType::read_index:
      reject_read(m);
      break;
    case MessageType::vote_response:
    case MessageType::prevote_response: {
      if (m.type != wanted) break;
      auto [granted, rejected] = tally(m.from, !m.reject);
      if (granted >= quorum()) {
        if (role_ == Role::candidate) {
          become_leader();
        } else {
          start_election(false, false);
        }
      } else if (rejected >= quorum()) {
        become_follower(term_, kNoNode);
      }
      break;
    }
    default:
      break;
  }
}

void Raft::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::append_response;
  r.to = m.from;
  if (m.index < committed_) {
    // Old or duplicated: everything up to our commit is known to match.
    r.index = committed_;
    send(std::move(r));
    return;
  }
  std::optional<std::uint64_t> prev_term = entry_term(m.index);
  if (prev_term && *prev_term == m.log_term) {
    // Skip entries we already have; truncate only at the first real conflict,
    // so a delayed shorter append cannot cut off newer entries.
    const std::uint64_t last_new = m.index + m.entries.size();
    std::size_t k = 0;
    while (k < m.entries.size()) {
      std::optional<std::uint64_t> t = entry_term(m.entries[k].index);
      if (!t || *t != m.entries[k].term) break;
      ++k;
    }
    if (k < m.entries.size()) {
      append_entries(std::vector<Entry>(m.entries.begin() + k, m.entries.end()));
    }
    commit_to(std::min(m.commit, last_new));
    r.index = last_new;
    send(std::move(r));
    return;
  }
  const std::uint64_t hint = find_conflict_by_term(m.index, m.log_term);
  r.reject = true;
  r.index = m.index;
  r.reject_hint = hint;
  r.log_term = log_term_at(hint);
  send(std::move(r));
}

void Raft::handle_heartbeat(const Message& m) {
  // The leader sends min(our match, its commit), so this never exceeds our log.
  commit_to(std::min(m.commit, last_index()));
  Message r;
  r.type = MessageType::heartbeat_response;
  r.to = m.from;
  r.context = m.context;  // the read round this answer confirms
  // The leader names the last entry it sent us; lacking it, an append was
  // lost and the leader must resend. (At or below our commit we match.)
  r.reject = m.index > committed_ && entry_term(m.index) != m.log_term;
  send(std::move(r));
}

void Raft::handle_snapshot(const Message& m) {
  Message r;
  r.type = MessageType::append_response;
  r.to = m.from;
  if (!m.snapshot || m.snapshot->empty()) return;  // malformed; the leader retries
  const Snapshot& snap = *m.snapshot;
  const SnapshotMeta& meta = snap.meta;
  if (meta.index <= committed_) {
    r.index = committed_;  // we already have all of it
  } else if (entry_term(meta.index) == meta.term) {
    // The snapshot's last entry is in our log, hence everything before it
    // (log matching): it only tells us that much is committed.
    commit_to(meta.index);
    r.index = meta.index;
  } else {
    // Replace the log. The entries after the snapshot index that we hold
    // are from a different history (the term differs) or absent.
    unstable_snapshot_ = snap;
    unstable_.clear();
    unstable_offset_ = meta.index + 1;
    committed_ = meta.index;
    applying_ = meta.index;  // nothing before the snapshot is handed out any more
    conf_ = meta.conf;
    r.index = meta.index;
  }
  send(std::move(r));
}

void Raft::step_leader(const Message& m) {
  auto it = progress_.find(m.from);
  if (m.type == MessageType::read_index) {
    if (it == progress_.end()) {
      reject_read(m);  // not a member of ours
    } else {
      add_read(m.from, m.context);
    }
    return;
  }
  if (it == progress_.end()) return;  // not a member of ours
  Progress& pr = it->second;
  pr.recent_active = true;
  switch (m.type) {
    case MessageType::append_response: {
      if (m.reject) {
        // Fast backtracking: jump to the follower's hint, then skip our own
        // entries with terms above the follower's term at that hint.
        std::uint64_t next_probe = m.reject_hint;
        if (m.log_term > 0) next_probe = find_conflict_by_term(m.reject_hint, m.log_term);
        bool changed = false;
        if (pr.state == Progress::State::replicate) {
          if (m.index > pr.match) {  // otherwise a stale rejection
            become(pr, Progress::State::probe);
            changed = true;
          }
        } else if (pr.state == Progress::State::probe && pr.next - 1 == m.index) {
          pr.next = std::max(std::min(m.index, next_probe + 1), pr.match + 1);
          pr.probe_sent = false;
          changed = true;
        }
        if (changed) send_append(m.from, true);
        break;
      }
      if (m.index > pr.match) {
        pr.match = m.index;
        pr.next = std::max(pr.next, m.index + 1);
        pr.probe_sent = false;
        if (pr.state == Progress::State::probe ||
            (pr.state == Progress::State::snapshot && pr.match >= pr.pending_snapshot)) {
          become(pr, Progress::State::replicate);
        } else if (pr.state == Progress::State::replicate) {
          while (!pr.inflight.empty() && pr.inflight.front().first <= m.index) {
            free_first_inflight(pr);
          }
        }
        if (maybe_commit()) bcast_append();  // followers learn the new commit
        // Pipelining: keep sending while the window has room.
        while (send_append(m.from, false)) {
        }
      }
      if (m.from == transferee_ && pr.match == last_index()) send_timeout_now(m.from);
      break;
    }
    case MessageType::heartbeat_response:
      pr.probe_sent = false;
      if (m.reject && pr.state == Progress::State::replicate) {
        // An append is lost (with a FIFO transport, everything sent before
        // the heartbeat has arrived): nothing else would resend it if no
        // more proposals come, so probe from what the follower holds.
        become(pr, Progress::State::probe);
      }
      if (pr.state == Progress::State::replicate && pr.inflight.size() >= cfg_.inflight_msgs_max) {
        // The window may be full of lost messages; free one slot so the
        // follower keeps getting something each heartbeat.
        free_first_inflight(pr);
      }
      if (pr.match < last_index()) send_append(m.from, false);
      if (std::optional<std::uint64_t> round = decode_round(m.context); round && is_voter(m.from)) {
        std::uint64_t& acked = read_acks_[m.from];
        acked = std::max(acked, *round);
        release_reads();
      }
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- replication

bool Raft::paused(const Progress& pr) const {
  switch (pr.state) {
    case Progress::State::probe:
      return pr.probe_sent;
    case Progress::State::replicate:
      return pr.inflight.size() >= cfg_.inflight_msgs_max ||
             pr.inflight_bytes >= cfg_.inflight_bytes_max;
    case Progress::State::snapshot:
      return true;
  }
  return true;
}

// Every transition restarts from what the follower is known to hold.
void Raft::become(Progress& pr, Progress::State state) {
  pr.state = state;
  pr.next = pr.match + 1;
  pr.probe_sent = false;
  pr.inflight.clear();
  pr.inflight_bytes = 0;
  pr.pending_snapshot = 0;
}

bool Raft::send_append(NodeId to, bool send_if_empty) {
  Progress& pr = progress_.at(to);
  if (to == cfg_.id || paused(pr)) return false;
  RAFT_ASSERT(pr.next >= 1 && pr.next <= last_index() + 1);
  // The entries the follower needs next were compacted away.
  if (pr.next < first_index()) return send_snapshot(to);
  Message m;
  m.type = MessageType::append;
  m.to = to;
  m.index = pr.next - 1;
  m.log_term = log_term_at(m.index);
  m.entries = slice(pr.next, last_index() + 1, cfg_.msg_bytes_max);
  if (m.entries.empty() && !send_if_empty) return false;
  m.commit = committed_;
  if (!m.entries.empty()) {
    const std::uint64_t last = m.entries.back().index;
    if (pr.state == Progress::State::replicate) {
      const std::uint64_t bytes = payload_bytes(m.entries);
      pr.inflight.emplace_back(last, bytes);
      pr.inflight_bytes += bytes;
      pr.next = last + 1;  // optimistic: pipeline the next batch at once
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == Progress::State::probe) {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return true;
}

bool Raft::send_snapshot(NodeId to) {
  Progress& pr = progress_.at(to);
  Snapshot snap = storage_->snapshot();
  // A snapshot we accepted as follower and have not yet persisted is not in
  // storage; wait for the disk (a later heartbeat answer retries).
  if (snap.empty() || snap.meta.index + 1 != first_index()) return false;
  become(pr, Progress::State::snapshot);
  pr.pending_snapshot = snap.meta.index;
  Message m;
  m.type = MessageType::snapshot;
  m.to = to;
  m.snapshot = std::move(snap);
  send(std::move(m));
  return true;
}

void Raft::send_heartbeat(NodeId to, const Bytes& context) {
  const Progress& pr = progress_.at(to);
  Message m;
  m.type = MessageType::heartbeat;
  m.to = to;
  m.commit = std::min(pr.match, committed_);
  m.context = context;
  if (pr.state == Progress::State::replicate && pr.next - 1 > pr.match) {
    // The last entry sent optimistically; the answer says if it arrived.
    if (std::optional<std::uint64_t> t = entry_term(pr.next - 1)) {
      m.index = pr.next - 1;
      m.log_term = *t;
    }
  }
  send(std::move(m));
}

void Raft::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::timeout_now;
  m.to = to;
  send(std::move(m));
}

void Raft::bcast_append() {
  for (auto& [id, pr] : progress_) {
    if (id != cfg_.id) send_append(id, true);
  }
}

void Raft::bcast_heartbeat() {
  // Every heartbeat carries the newest read round, so a lost round is
  // confirmed by the next regular heartbeat.
  Bytes context;
  if (!pending_reads_.empty() && pending_reads_.back().round != 0) {
    context = encode_round(pending_reads_.back().round);
  }
  for (auto& [id, pr] : progress_) {
    if (id != cfg_.id) send_heartbeat(id, context);
  }
}

bool Raft::maybe_commit() {
  std::vector<std::uint64_t> matches;
  for (NodeId v : conf_.voters) matches.push_back(progress_.at(v).match);
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const std::uint64_t quorum_index = matches[quorum() - 1];
  // Only an entry of our own term is committed by counting replicas.
  if (quorum_index > committed_ && log_term_at(quorum_index) == term_) {
    const bool first_of_term = !committed_in_current_term();
    commit_to(quorum_index);
    if (first_of_term && !pending_reads_.empty()) start_read_round();
    return true;
  }
  return false;
}

Status Raft::check_proposal() const {
  if (role_ != Role::leader) {
    return make_error("not_leader",
                      lead_ == kNoNode ? std::string("unknown") : std::to_string(lead_));
  }
  if (transferee_ != kNoNode) {
    return make_error("transfer_in_progress",
                      "handing leadership to " + std::to_string(transferee_));
  }
  return ok_status();
}

Status Raft::propose(Bytes payload) {
  if (Status s = check_proposal(); !s.ok()) return s;
  if (payload.size() > cfg_.entry_bytes_max) {
    return make_error("entry_too_large", std::to_string(payload.size()) + " bytes > " +
                                             std::to_string(cfg_.entry_bytes_max));
  }
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + payload.size() > cfg_.uncommitted_bytes_max) {
    return make_error("proposals_dropped", "uncommitted_bytes_max reached");
  }
  uncommitted_bytes_ += payload.size();
  append_entries({Entry{last_index() + 1, term_, EntryType::normal, std::move(payload)}});
  Progress& self = progress_.at(cfg_.id);
  self.match = last_index();
  self.next = self.match + 1;
  maybe_commit();
  bcast_append();
  check_invariants();
  return ok_status();
}

Status Raft::propose_conf_change(const ConfChange& cc) {
  if (Status s = check_proposal(); !s.ok()) return s;
  if (pending_conf_index_ > applied_) {
    return make_error("conf_change_pending", "the change at or before index " +
                                                 std::to_string(pending_conf_index_) +
                                                 " is not applied yet");
  }
  const std::string who = "node " + std::to_string(cc.node);
  if (cc.node == kNoNode) return bad_conf_change("node id 0");
  switch (cc.type) {
    case ConfChangeType::add_voter:
      if (is_voter(cc.node)) return bad_conf_change(who + " is already a voter");
      break;
    case ConfChangeType::add_learner:
      if (is_voter(cc.node)) return bad_conf_change(who + " is a voter (no demotion)");
      if (is_member(cc.node)) return bad_conf_change(who + " is already a learner");
      break;
    case ConfChangeType::remove_node:
      if (!is_member(cc.node)) return bad_conf_change(who + " is not a member");
      if (conf_.voters.size() == 1 && is_voter(cc.node)) {
        return bad_conf_change(who + " is the last voter");
      }
      break;
  }
  Bytes payload = encode_conf_change(cc);
  if (payload.size() > cfg_.entry_bytes_max) {
    return make_error("entry_too_large", std::to_string(payload.size()) + " bytes > " +
                                             std::to_string(cfg_.entry_bytes_max));
  }
  uncommitted_bytes_ += payload.size();
  append_entries({Entry{last_index() + 1, term_, EntryType::conf_change, std::move(payload)}});
  pending_conf_index_ = last_index();
  Progress& self = progress_.at(cfg_.id);
  self.match = last_index();
  self.next = self.match + 1;
  maybe_commit();
  bcast_append();
  check_invariants();
  return ok_status();
}

// ---------------------------------------------------------------- leadership transfer

Status Raft::transfer_leadership(NodeId to) {
  if (role_ != Role::leader) {
    return make_error("not_leader",
                      lead_ == kNoNode ? std::string("unknown") : std::to_string(lead_));
  }
  if (to == cfg_.id || !is_voter(to)) {
    return make_error("bad_transferee", "node " + std::to_string(to) + " is " +
                                            (to == cfg_.id ? "this leader" : "not a voter"));
  }
  if (transferee_ == to) return ok_status();  // already under way; its timer keeps running
  transferee_ = to;
  transfer_elapsed_ = 0;
  const Progress& pr = progress_.at(to);
  if (pr.match == last_index()) {
    send_timeout_now(to);
  } else {
    send_append(to, true);  // catch it up first; its answers bring us back here
  }
  check_invariants();
  return ok_status();
}

// ---------------------------------------------------------------- reads

Status Raft::read_index(Bytes context) {
  if (role_ != Role::leader) {
    if (lead_ == kNoNode) return make_error("not_leader", "unknown");
    Message m;
    m.type = MessageType::read_index;
    m.to = lead_;
    m.context = std::move(context);
    send(std::move(m));
    return ok_status();
  }
  if (pending_reads_.size() >= cfg_.pending_reads_max) {
    return make_error("reads_dropped", "pending_reads_max reached");
  }
  add_read(cfg_.id, std::move(context));
  check_invariants();
  return ok_status();
}

void Raft::add_read(NodeId from, Bytes context) {
  if (pending_reads_.size() >= cfg_.pending_reads_max) {
    Message r;
    r.from = from;
    r.context = std::move(context);
    reject_read(r);
    return;
  }
  pending_reads_.push_back(PendingRead{0, 0, from, std::move(context)});
  // Until an entry of our term commits, our commit index may lag entries a
  // previous leader committed: answering with it could return stale state.
  if (committed_in_current_term()) start_read_round();
}

// Gives every read not yet in a round the current commit index and a new
// round, and asks the voters to confirm we still lead.
void Raft::start_read_round() {
  RAFT_ASSERT(committed_in_current_term());
  ++read_round_;
  for (auto it = pending_reads_.rbegin(); it != pending_reads_.rend() && it->round == 0; ++it) {
    it->index = committed_;
    it->round = read_round_;
  }
  read_acks_[cfg_.id] = read_round_;
  release_reads();  // a single voter confirms itself
  if (!pending_reads_.empty()) bcast_heartbeat();
}

// Answers every read whose round a quorum of voters has acknowledged: each
// acknowledgement shows the voter still followed us after the round began,
// so no other leader had committed anything we lack when the read arrived.
void Raft::release_reads() {
  if (pending_reads_.empty()) return;
  std::vector<std::uint64_t> acked;
  for (NodeId v : conf_.voters) {
    auto it = read_acks_.find(v);
    acked.push_back(it == read_acks_.end() ? 0 : it->second);
  }
  std::sort(acked.begin(), acked.end(), std::greater<>());
  const std::uint64_t confirmed = acked[quorum() - 1];
  while (!pending_reads_.empty() && pending_reads_.front().round != 0 &&
         pending_reads_.front().round <= confirmed) {
    PendingRead& r = pending_reads_.front();
    if (r.from == cfg_.id) {
      read_states_.push_back(ReadState{r.index, std::move(r.context)});
    } else {
      Message m;
      m.type = MessageType::read_index_response;
      m.to = r.from;
      m.index = r.index;
      m.context = std::move(r.context);
      send(std::move(m));
    }
    pending_reads_.pop_front();
  }
}

// ---------------------------------------------------------------- time

void Raft::tick() {
  // Saturates: a node that never campaigns (a learner) counts forever.
  if (election_elapsed_ < UINT32_MAX) ++election_elapsed_;
  if (role_ != Role::leader) {
    if (election_elapsed_ >= randomized_election_ticks_ && promotable()) {
      election_elapsed_ = 0;
      hup(cfg_.pre_vote, false);
    }
    check_invariants();
    return;
  }
  ++heartbeat_elapsed_;
  if (transferee_ != kNoNode && ++transfer_elapsed_ >= cfg_.election_ticks) {
    // The transferee did not take over in time (down, or cut off): lead on.
    transferee_ = kNoNode;
    transfer_elapsed_ = 0;
  }
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    for (auto& [id, pr] : progress_) {
      // A snapshot unanswered for a whole election timeout was probably
      // lost; probe again (which resends it if still needed).
      if (pr.state == Progress::State::snapshot) become(pr, Progress::State::probe);
    }
    if (cfg_.check_quorum) {
      std::size_t active = 0;
      for (auto& [id, pr] : progress_) {
        if (is_voter(id) && (id == cfg_.id || pr.recent_active)) ++active;
        pr.recent_active = false;
      }
      if (active < quorum()) {
        // Cut off from a majority: stop accepting proposals that cannot
        // commit, and let clients look for the real leader.
        become_follower(term_, kNoNode);
        check_invariants();
        return;
      }
    }
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat();
  }
  check_invariants();
}

// ---------------------------------------------------------------- ready

bool Raft::has_ready() const {
  const HardState hs{term_, vote_, committed_};
  return !msgs_.empty() || unstable_snapshot_ || !unstable_.empty() || hs != prev_hard_state_ ||
         committed_ > applying_ || !read_states_.empty();
}

Ready Raft::ready() {
  RAFT_ASSERT(!ready_outstanding_);
  ready_outstanding_ = true;
  Ready rd;
  const HardState hs{term_, vote_, committed_};
  if (hs != prev_hard_state_) rd.hard_state = hs;
  rd.snapshot = unstable_snapshot_;
  rd.entries = unstable_;
  rd.messages = std::move(msgs_);
  msgs_.clear();
  if (committed_ > applying_) {
    rd.committed_entries = slice(applying_ + 1, committed_ + 1, cfg_.apply_bytes_max);
    applying_ = rd.committed_entries.back().index;
  }
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  return rd;
}

void Raft::advance(const Ready& rd) {
  RAFT_ASSERT(ready_outstanding_);
  ready_outstanding_ = false;
  if (rd.hard_state) prev_hard_state_ = *rd.hard_state;
  if (rd.snapshot) {
    // The node persisted it and restored its state machine from it. A newer
    // snapshot accepted meanwhile stays pending.
    if (unstable_snapshot_ && unstable_snapshot_->meta.index == rd.snapshot->meta.index) {
      unstable_snapshot_.reset();
    }
    applied_ = std::max(applied_, rd.snapshot->meta.index);
  }
  if (!rd.entries.empty()) {
    // Drop what is now on disk from unstable_, unless it was overwritten
    // since the Ready was built (then the newer entries are still pending).
    const Entry& last = rd.entries.back();
    if (last.index >= unstable_offset_ && last.index < unstable_offset_ + unstable_.size() &&
        unstable_[last.index - unstable_offset_].term == last.term) {
      unstable_.erase(
          unstable_.begin(),
          unstable_.begin() + static_cast<std::ptrdiff_t>(last.index + 1 - unstable_offset_));
      unstable_offset_ = last.index + 1;
    }
  }
  if (!rd.committed_entries.empty() && rd.committed_entries.back().index > applied_) {
    // (A snapshot accepted after this Ready was built may already cover it.)
    const std::uint64_t idx = rd.committed_entries.back().index;
    RAFT_ASSERT(idx == applied_ + rd.committed_entries.size());
    applied_ = idx;
    if (role_ == Role::leader) {
      const std::uint64_t bytes = payload_bytes(rd.committed_entries);
      uncommitted_bytes_ = bytes > uncommitted_bytes_ ? 0 : uncommitted_bytes_ - bytes;
    }
    // A snapshot accepted after this Ready was built already holds the
    // membership at its index, later than these entries.
    const bool superseded = unstable_snapshot_ && unstable_snapshot_->meta.index >= idx;
    for (const Entry& e : rd.committed_entries) {
      if (superseded || e.type != EntryType::conf_change) continue;
      Result<ConfChange> cc = decode_conf_change(e.payload);
      RAFT_ASSERT(cc.ok());  // only propose_conf_change writes this type
      apply_conf_change(*cc);
    }
  }
  check_invariants();
}

const Progress* Raft::progress(NodeId peer) const {
  auto it = progress_.find(peer);
  return it == progress_.end() ? nullptr : &it->second;
}

void Raft::check_invariants() const {
  RAFT_ASSERT(applied_ <= applying_ && applying_ <= committed_);
  RAFT_ASSERT(committed_ <= last_index());
  RAFT_ASSERT(first_index() >= 1 && first_index() <= last_index() + 1);
  RAFT_ASSERT(unstable_offset_ >= first_index());
  RAFT_ASSERT(!unstable_snapshot_ || unstable_snapshot_->meta.index + 1 == unstable_offset_);
  RAFT_ASSERT(std::is_sorted(conf_.voters.begin(), conf_.voters.end()));
  RAFT_ASSERT(std::is_sorted(conf_.learners.begin(), conf_.learners.end()));
  RAFT_ASSERT(role_ != Role::leader || (lead_ == cfg_.id && vote_ == cfg_.id));
  RAFT_ASSERT(role_ != Role::candidate || vote_ == cfg_.id);
  RAFT_ASSERT(role_ == Role::follower || is_voter(cfg_.id));
  RAFT_ASSERT(pending_reads_.size() <= cfg_.pending_reads_max);
  if (role_ == Role::leader) {
    RAFT_ASSERT(progress_.size() == conf_.voters.size() + conf_.learners.size());
    RAFT_ASSERT(transferee_ == kNoNode || is_voter(transferee_));
    for (const auto& [id, pr] : progress_) {
      RAFT_ASSERT(is_member(id));
      RAFT_ASSERT(pr.match < pr.next && pr.next <= last_index() + 1);
      RAFT_ASSERT(pr.inflight.size() <= cfg_.inflight_msgs_max);
      RAFT_ASSERT((pr.state == Progress::State::snapshot) == (pr.pending_snapshot > 0));
    }
  } else {
    RAFT_ASSERT(progress_.empty() && pending_reads_.empty() && transferee_ == kNoNode);
  }
}

}  // namespace custos::consensus
