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

// ---------------------------------------------------------------- MemoryStorage

Result<std::uint64_t> MemoryStorage::term(std::uint64_t index) const {
  if (index == 0) return std::uint64_t{0};
  if (index > log_.size()) return unavailable(index);
  return log_[index - 1].term;
}

Result<std::vector<Entry>> MemoryStorage::entries(std::uint64_t lo, std::uint64_t hi,
                                                  std::uint64_t bytes_max) const {
  if (lo < 1 || lo >= hi || hi > log_.size() + 1) return unavailable(lo);
  std::vector<Entry> out;
  std::uint64_t bytes = 0;
  for (std::uint64_t i = lo; i < hi && take_within(out, bytes, log_[i - 1], bytes_max); ++i) {
  }
  return out;
}

void MemoryStorage::append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  RAFT_ASSERT(entries.front().index >= 1 && entries.front().index <= log_.size() + 1);
  log_.resize(entries.front().index - 1);
  for (const Entry& e : entries) {
    RAFT_ASSERT(e.index == log_.size() + 1);
    RAFT_ASSERT(log_.empty() || e.term >= log_.back().term);
    log_.push_back(e);
  }
}

// ---------------------------------------------------------------- not yet built
// Stubs of the contract in raft.h; the membership, snapshot, ReadIndex and
// leadership-transfer work replaces them.

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

Bytes encode_conf_change(const ConfChange&) {
  return {};
}

Result<ConfChange> decode_conf_change(ByteView) {
  return make_error("bad_conf_change", "not implemented");
}

Status MemoryStorage::compact(std::uint64_t, const ConfState&, Bytes) {
  return make_error("unimplemented", "compaction is not implemented");
}

void MemoryStorage::apply_snapshot(const Snapshot&) {
  std::abort();
}

Status Raft::propose_conf_change(const ConfChange&) {
  return make_error("unimplemented", "membership change is not implemented");
}

Status Raft::read_index(Bytes) {
  return make_error("unimplemented", "read_index is not implemented");
}

Status Raft::transfer_leadership(NodeId) {
  return make_error("unimplemented", "leadership transfer is not implemented");
}

bool Raft::is_learner() const {
  return false;
}

// ---------------------------------------------------------------- construction

Raft::Raft(Config config, const Storage* storage)
    : cfg_(std::move(config)),
      storage_(storage),
      prng_(cfg_.seed ^ (cfg_.id * 0x2545f4914f6cdd1dULL)) {
  RAFT_ASSERT(storage_ != nullptr);
  RAFT_ASSERT(cfg_.id != kNoNode);
  RAFT_ASSERT(std::set<NodeId>(cfg_.voters.begin(), cfg_.voters.end()).size() ==
              cfg_.voters.size());
  RAFT_ASSERT(std::find(cfg_.voters.begin(), cfg_.voters.end(), kNoNode) == cfg_.voters.end());
  RAFT_ASSERT(std::find(cfg_.voters.begin(), cfg_.voters.end(), cfg_.id) != cfg_.voters.end());
  RAFT_ASSERT(cfg_.heartbeat_ticks > 0 && cfg_.election_ticks > cfg_.heartbeat_ticks);
  RAFT_ASSERT(cfg_.inflight_msgs_max > 0 && cfg_.inflight_bytes_max > 0);
  RAFT_ASSERT(cfg_.msg_bytes_max > 0 && cfg_.apply_bytes_max > 0);
  RAFT_ASSERT(storage_->first_index() == 1);  // compaction is not implemented yet
  conf_.voters = cfg_.voters;
  std::sort(conf_.voters.begin(), conf_.voters.end());
  conf_.learners = cfg_.learners;

  const HardState hs = storage_->hard_state();
  RAFT_ASSERT(hs.commit <= storage_->last_index());
  RAFT_ASSERT(cfg_.applied <= hs.commit);
  unstable_offset_ = storage_->last_index() + 1;
  committed_ = hs.commit;
  applied_ = applying_ = cfg_.applied;
  prev_hard_state_ = hs;
  become_follower(hs.term, kNoNode);
  vote_ = hs.vote;  // become_follower keeps the vote only when the term is unchanged
  check_invariants();
}

// ---------------------------------------------------------------- log

std::uint64_t Raft::last_index() const {
  // Not storage_->last_index(): after a conflict the disk may still hold a
  // stale suffix that unstable_ shadows until the next Ready is written.
  return unstable_offset_ + unstable_.size() - 1;
}

std::optional<std::uint64_t> Raft::entry_term(std::uint64_t index) const {
  if (index == 0) return 0;
  if (index > last_index()) return std::nullopt;
  if (index >= unstable_offset_) return unstable_[index - unstable_offset_].term;
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
  RAFT_ASSERT(lo >= 1 && lo <= hi && hi <= last_index() + 1);
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
// certainly conflicts with a log whose entry at `index` has `term`.
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
  reset(term_);
  role_ = Role::leader;
  lead_ = cfg_.id;
  for (NodeId v : cfg_.voters) {
    Progress pr;
    pr.next = last_index() + 1;
    pr.recent_active = true;  // give every follower one CheckQuorum round
    progress_[v] = pr;
  }
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
  start_election(cfg_.pre_vote);
}

void Raft::start_election(bool pre) {
  if (pre) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const std::uint64_t election_term = pre ? term_ + 1 : term_;
  if (tally(cfg_.id, true).first >= quorum()) {
    if (pre) {
      start_election(false);
    } else {
      become_leader();
    }
    return;
  }
  const std::uint64_t li = last_index();
  for (NodeId v : cfg_.voters) {
    if (v == cfg_.id) continue;
    Message m;
    m.type = pre ? MessageType::prevote : MessageType::vote;
    m.to = v;
    m.term = election_term;
    m.index = li;
    m.log_term = log_term_at(li);
    send(std::move(m));
  }
}

std::pair<std::size_t, std::size_t> Raft::tally(NodeId from, bool granted) {
  votes_.emplace(from, granted);  // the first answer counts; duplicates do not
  std::size_t g = 0, r = 0;
  for (const auto& [id, yes] : votes_) (yes ? g : r)++;
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

  if (m.term > term_) {
    if (is_vote_req && cfg_.check_quorum && lead_ != kNoNode &&
        election_elapsed_ < cfg_.election_ticks) {
      // Leader lease: we heard from a live leader recently, so a candidate
      // with a higher term is most likely a disruptive rejoining node.
      return;
    }
    if (m.type == MessageType::prevote || (m.type == MessageType::prevote_response && !m.reject)) {
      // Pre-votes never change the receiver's term; a granted pre-vote
      // carries the future term and is counted below.
    } else if (m.type == MessageType::append || m.type == MessageType::heartbeat) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::append || m.type == MessageType::heartbeat)) {
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
    case MessageType::vote_response:
    case MessageType::prevote_response: {
      if (m.type != wanted) break;
      auto [granted, rejected] = tally(m.from, !m.reject);
      if (granted >= quorum()) {
        if (role_ == Role::candidate) {
          become_leader();
        } else {
          start_election(false);
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
  send(std::move(r));
}

void Raft::step_leader(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;  // not a voter of ours
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
        } else if (pr.next - 1 == m.index) {
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
        if (pr.state == Progress::State::probe) {
          become(pr, Progress::State::replicate);
        } else {
          while (!pr.inflight.empty() && pr.inflight.front().first <= m.index) {
            free_first_inflight(pr);
          }
        }
        if (maybe_commit()) bcast_append();  // followers learn the new commit
        // Pipelining: keep sending while the window has room.
        while (send_append(m.from, false)) {
        }
      }
      break;
    }
    case MessageType::heartbeat_response:
      pr.probe_sent = false;
      if (pr.state == Progress::State::replicate && pr.inflight.size() >= cfg_.inflight_msgs_max) {
        // The window may be full of lost messages; free one slot so the
        // follower keeps getting something each heartbeat.
        free_first_inflight(pr);
      }
      if (pr.match < last_index()) send_append(m.from, false);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- replication

bool Raft::paused(const Progress& pr) const {
  if (pr.state == Progress::State::probe) return pr.probe_sent;
  return pr.inflight.size() >= cfg_.inflight_msgs_max ||
         pr.inflight_bytes >= cfg_.inflight_bytes_max;
}

// Both transitions restart from what the follower is known to hold.
void Raft::become(Progress& pr, Progress::State state) {
  pr.state = state;
  pr.next = pr.match + 1;
  pr.probe_sent = false;
  pr.inflight.clear();
  pr.inflight_bytes = 0;
}

bool Raft::send_append(NodeId to, bool send_if_empty) {
  Progress& pr = progress_.at(to);
  if (to == cfg_.id || paused(pr)) return false;
  RAFT_ASSERT(pr.next >= 1 && pr.next <= last_index() + 1);
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

void Raft::send_heartbeat(NodeId to) {
  Message m;
  m.type = MessageType::heartbeat;
  m.to = to;
  m.commit = std::min(progress_.at(to).match, committed_);
  send(std::move(m));
}

void Raft::bcast_append() {
  for (auto& [id, pr] : progress_) {
    if (id != cfg_.id) send_append(id, true);
  }
}

void Raft::bcast_heartbeat() {
  for (auto& [id, pr] : progress_) {
    if (id != cfg_.id) send_heartbeat(id);
  }
}

bool Raft::maybe_commit() {
  std::vector<std::uint64_t> matches;
  for (NodeId v : cfg_.voters) matches.push_back(progress_.at(v).match);
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const std::uint64_t quorum_index = matches[quorum() - 1];
  // Only an entry of our own term is committed by counting replicas.
  if (quorum_index > committed_ && log_term_at(quorum_index) == term_) {
    commit_to(quorum_index);
    return true;
  }
  return false;
}

Status Raft::propose(Bytes payload) {
  if (role_ != Role::leader) {
    return make_error("not_leader",
                      lead_ == kNoNode ? std::string("unknown") : std::to_string(lead_));
  }
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

// ---------------------------------------------------------------- time

void Raft::tick() {
  ++election_elapsed_;
  if (role_ != Role::leader) {
    if (election_elapsed_ >= randomized_election_ticks_) {
      election_elapsed_ = 0;
      start_election(cfg_.pre_vote);
    }
    check_invariants();
    return;
  }
  ++heartbeat_elapsed_;
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) {
      std::size_t active = 0;
      for (auto& [id, pr] : progress_) {
        if (id == cfg_.id || pr.recent_active) ++active;
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
  return !msgs_.empty() || !unstable_.empty() || hs != prev_hard_state_ || committed_ > applying_;
}

Ready Raft::ready() {
  RAFT_ASSERT(!ready_outstanding_);
  ready_outstanding_ = true;
  Ready rd;
  const HardState hs{term_, vote_, committed_};
  if (hs != prev_hard_state_) rd.hard_state = hs;
  rd.entries = unstable_;
  rd.messages = std::move(msgs_);
  msgs_.clear();
  if (committed_ > applying_) {
    rd.committed_entries = slice(applying_ + 1, committed_ + 1, cfg_.apply_bytes_max);
    applying_ = rd.committed_entries.back().index;
  }
  return rd;
}

void Raft::advance(const Ready& rd) {
  RAFT_ASSERT(ready_outstanding_);
  ready_outstanding_ = false;
  if (rd.hard_state) prev_hard_state_ = *rd.hard_state;
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
  if (!rd.committed_entries.empty()) {
    const std::uint64_t idx = rd.committed_entries.back().index;
    RAFT_ASSERT(idx == applied_ + rd.committed_entries.size());
    applied_ = idx;
    if (role_ == Role::leader) {
      const std::uint64_t bytes = payload_bytes(rd.committed_entries);
      uncommitted_bytes_ = bytes > uncommitted_bytes_ ? 0 : uncommitted_bytes_ - bytes;
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
  RAFT_ASSERT(unstable_offset_ >= 1);
  RAFT_ASSERT(role_ != Role::leader || (lead_ == cfg_.id && vote_ == cfg_.id));
  RAFT_ASSERT(role_ != Role::candidate || vote_ == cfg_.id);
  if (role_ == Role::leader) {
    RAFT_ASSERT(progress_.size() == cfg_.voters.size());
    for (const auto& [id, pr] : progress_) {
      RAFT_ASSERT(pr.match < pr.next && pr.next <= last_index() + 1);
      RAFT_ASSERT(pr.inflight.size() <= cfg_.inflight_msgs_max);
    }
  }
}

}  // namespace custos::consensus
