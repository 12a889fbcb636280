#include "consensus/tests/simulator.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace custos::consensus::sim {

namespace {

const char* entry_kind(EntryType t) {
  switch (t) {
    case EntryType::normal:
      return "normal";
    case EntryType::noop:
      return "noop";
    case EntryType::conf_change:
      return "conf_change";
  }
  return "?";
}

std::string describe(const Entry& e) {
  return "{index " + std::to_string(e.index) + ", term " + std::to_string(e.term) + ", " +
         entry_kind(e.type) + ", " + std::to_string(e.payload.size()) + " bytes}";
}

std::string describe(const ConfState& c) {
  std::string out = "{voters";
  for (NodeId v : c.voters) out += " " + std::to_string(v);
  out += "; learners";
  for (NodeId l : c.learners) out += " " + std::to_string(l);
  return out + "}";
}

// FNV-1a over everything that makes an entry what it is.
std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t hash_after(std::uint64_t h, const Entry& e) {
  h = mix(h, e.index);
  h = mix(h, e.term);
  h = mix(h, static_cast<std::uint64_t>(e.type));
  for (std::uint8_t b : e.payload) h = mix(h, b);
  return h;
}

// Snapshot data: the state machine itself, (index, hash), 16 bytes.
Bytes encode_state(std::uint64_t index, std::uint64_t hash) {
  Bytes out;
  for (std::uint64_t v : {index, hash}) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  return out;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> decode_state(const Bytes& b) {
  if (b.size() != 16) return std::nullopt;
  std::uint64_t v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 8; ++i) v[k] = (v[k] << 8) | b[static_cast<std::size_t>(8 * k + i)];
  }
  return std::pair{v[0], v[1]};
}

// The checker's own model of a membership change, written apart from
// Raft's so that a wrong change in Raft is caught rather than copied.
ConfState changed(ConfState c, const ConfChange& cc) {
  auto has = [](const std::vector<NodeId>& ids, NodeId id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  if (cc.type == ConfChangeType::remove_node || cc.type == ConfChangeType::add_voter) {
    std::erase(c.learners, cc.node);
  }
  if (cc.type == ConfChangeType::remove_node) std::erase(c.voters, cc.node);
  if (cc.type == ConfChangeType::add_voter && !has(c.voters, cc.node)) {
    c.voters.push_back(cc.node);
  }
  if (cc.type == ConfChangeType::add_learner && !has(c.voters, cc.node) &&
      !has(c.learners, cc.node)) {
    c.learners.push_back(cc.node);
  }
  std::sort(c.voters.begin(), c.voters.end());
  std::sort(c.learners.begin(), c.learners.end());
  return c;
}

std::size_t majority(const ConfState& c) {
  return c.voters.size() / 2 + 1;
}

}  // namespace

std::string replay_command(const Options& o) {
  return "consensus-sim --seed " + std::to_string(o.seed) + " --steps " + std::to_string(o.steps) +
         " --nodes " + std::to_string(o.nodes);
}

Options scripted(std::uint32_t nodes) {
  Options o;
  o.nodes = nodes;
  o.faults = false;
  o.msg_bytes_max = 1;
  return o;
}

Simulator::Simulator(Options options) : o_(options), prng_(options.seed) {
  ConfState initial;
  for (NodeId id = 1; id <= o_.nodes; ++id) initial.voters.push_back(id);
  conf_history_[0] = initial;
  next_id_ = o_.nodes + 1;
  for (NodeId id = 1; id <= o_.nodes; ++id) {
    Node& n = nodes_[id];
    n.raft = std::make_unique<Raft>(config_for(id), &n.disk);
  }
}

Config Simulator::config_for(NodeId id) const {
  Config c;
  c.id = id;
  // Every node, also one added later, starts from the initial membership:
  // it replays the conf changes from the log or takes a snapshot's.
  c.voters = conf_history_.at(0).voters;
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.msg_bytes_max = o_.msg_bytes_max;
  c.inflight_msgs_max = o_.inflight_msgs_max;
  c.inflight_bytes_max = 1024;
  c.entry_bytes_max = 256;
  c.uncommitted_bytes_max = 4096;
  c.pre_vote = o_.pre_vote;
  c.check_quorum = o_.check_quorum;
  c.pending_reads_max = 64;
  c.seed = o_.seed;
  return c;
}

std::vector<NodeId> Simulator::node_ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

std::vector<NodeId> Simulator::up_nodes() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) {
    if (n.raft) out.push_back(id);
  }
  return out;
}

const Raft* Simulator::raft(NodeId id) const {
  return nodes_.at(id).raft.get();
}

std::uint64_t Simulator::sent(MessageType type) const {
  auto it = sent_.find(type);
  return it == sent_.end() ? 0 : it->second;
}

NodeId Simulator::leader() const {
  NodeId best = kNoNode;
  std::uint64_t best_term = 0;
  for (const auto& [id, n] : nodes_) {
    if (n.raft && n.raft->role() == Role::leader && n.raft->term() >= best_term) {
      best = id;
      best_term = n.raft->term();
    }
  }
  return best;
}

const ConfState& Simulator::conf_at(std::uint64_t index) const {
  return std::prev(conf_history_.upper_bound(index))->second;
}

std::string Simulator::dump() const {
  std::string out;
  for (const auto& [id, n] : nodes_) {
    out += "node " + std::to_string(id) + ": ";
    if (!n.raft) {
      out += "down\n";
      continue;
    }
    const Raft& r = *n.raft;
    out += std::string(to_string(r.role())) + " term " + std::to_string(r.term()) + " vote " +
           std::to_string(r.vote()) + " lead " + std::to_string(r.leader()) + " commit " +
           std::to_string(r.commit()) + " applied " + std::to_string(n.sm_index) + " first " +
           std::to_string(r.first_index()) + " last " + std::to_string(r.last_index()) +
           " last_term " + std::to_string(*r.entry_term(r.last_index())) + " conf " +
           describe(r.conf_state()) + "\n";
  }
  return out;
}

void Simulator::fail(const std::string& code, const std::string& what) {
  if (!failure_.ok()) return;
  failure_ = make_error(
      code, what + " (tick " + std::to_string(now_tick_) + "; replay: " + replay_command(o_) + ")");
}

// ---------------------------------------------------------------- the world

bool Simulator::link_up(NodeId from, NodeId to) const {
  return cut_.count({from, to}) == 0;
}

void Simulator::send(const Message& m) {
  ++sent_[m.type];
  if (!link_up(m.from, m.to) || !nodes_.count(m.to)) return;
  const int copies = !o_.faults                  ? 1
                     : prng_.chance(o_.loss_pct) ? 0
                     : prng_.chance(o_.dup_pct)  ? 2
                                                 : 1;
  for (int i = 0; i < copies && net_.size() < o_.net_msgs_max; ++i) {
    const std::uint64_t delay = o_.faults ? prng_.below(o_.delay_ticks_max + 1) : 0;
    net_.push_back({m, now_tick_ + delay});
  }
}

void Simulator::deliver(const Message& m) {
  Node& n = nodes_.at(m.to);
  if (!n.raft || !link_up(m.from, m.to)) return;  // a partition also eats queued messages
  n.raft->step(m);
  check_node(m.to);
}

// The state machine restarts from a snapshot: it must be the state every
// node that applied up to that index had.
void Simulator::restore_state_machine(NodeId id, const Snapshot& snap) {
  Node& n = nodes_.at(id);
  n.applied.clear();
  n.sm_index = 0;
  n.sm_hash = 0;
  if (snap.empty()) return;
  const std::string who = "node " + std::to_string(id);
  auto state = decode_state(snap.data);
  if (!state || state->first != snap.meta.index) {
    fail("safety", who + ": snapshot at " + std::to_string(snap.meta.index) +
                       " does not hold the state machine at that index");
    return;
  }
  auto it = state_hash_.find(snap.meta.index);
  if (it == state_hash_.end() || it->second != state->second) {
    fail("safety", who + ": snapshot at " + std::to_string(snap.meta.index) +
                       " differs from the state applied there");
    return;
  }
  if (!(snap.meta.conf == conf_at(snap.meta.index))) {
    fail("safety", who + ": snapshot at " + std::to_string(snap.meta.index) + " has membership " +
                       describe(snap.meta.conf) + ", the log says " +
                       describe(conf_at(snap.meta.index)));
    return;
  }
  n.sm_index = state->first;
  n.sm_hash = state->second;
}

void Simulator::apply_entry(NodeId id, const Entry& e) {
  Node& n = nodes_.at(id);
  const std::string who = "node " + std::to_string(id);
  if (e.index != n.sm_index + 1) {
    fail("safety", who + " applied " + describe(e) + " after index " + std::to_string(n.sm_index));
    return;
  }
  n.sm_index = e.index;
  n.sm_hash = hash_after(n.sm_hash, e);
  n.applied.push_back(e);
  auto [h, fresh_hash] = state_hash_.try_emplace(e.index, n.sm_hash);
  auto [it, fresh] = committed_.try_emplace(e.index, Committed{e, n.raft->term()});
  if (!fresh && !(it->second.entry == e)) {
    fail("safety", "state machine safety: " + who + " applied " + describe(e) +
                       " where another node applied " + describe(it->second.entry));
    return;
  }
  if (!fresh_hash && h->second != n.sm_hash) {
    fail("safety", "state machine safety: " + who + " reached a different state at index " +
                       std::to_string(e.index));
    return;
  }
  if (fresh && e.type == EntryType::conf_change) {
    Result<ConfChange> cc = decode_conf_change(e.payload);
    if (!cc.ok()) {
      fail("safety", who + " applied an undecodable conf change " + describe(e));
      return;
    }
    conf_history_[e.index] = changed(conf_at(e.index - 1), *cc);
  }
  if (fresh) check_on_quorum_of_disks(e.index);
}

void Simulator::check_read_state(NodeId id, const ReadState& rs) {
  Node& n = nodes_.at(id);
  n.read_states.push_back(rs);
  ++reads_answered_;
  const std::string context(rs.context.begin(), rs.context.end());
  auto it = reads_.find(context);
  if (it == reads_.end() || it->second.node != id) {
    fail("safety", "node " + std::to_string(id) + " got an answer to read " + context +
                       " it never asked for");
    return;
  }
  // Linearizable: the read point covers every write committed before the
  // request, so applying up to it reflects them all.
  if (rs.index < it->second.committed_before) {
    fail("safety", "stale read: " + context + " on node " + std::to_string(id) + " got index " +
                       std::to_string(rs.index) + " but " +
                       std::to_string(it->second.committed_before) +
                       " was committed before it was asked");
  }
}

// Persist (snapshot, then entries, then hard state), then send, then apply:
// the order the Storage contract demands.
void Simulator::write_ready(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.raft || !n.raft->has_ready()) return;
  Ready rd = n.raft->ready();
  if (rd.snapshot) {
    n.disk.apply_snapshot(*rd.snapshot);
    restore_state_machine(id, *rd.snapshot);
    ++snapshots_restored_;
  }
  if (!rd.entries.empty()) {
    const std::uint64_t first = rd.entries.front().index;
    const bool truncates = first <= n.disk.last_index();
    n.disk.append(rd.entries);
    check_disk_log(id, rd.entries);
    if (truncates) {
      for (auto it = committed_.lower_bound(first); it != committed_.end(); ++it) {
        check_on_quorum_of_disks(it->first);
      }
    }
  }
  if (rd.hard_state) n.disk.set_hard_state(*rd.hard_state);
  for (const Message& m : rd.messages) send(m);
  bool conf_changed = rd.snapshot.has_value();
  for (const Entry& e : rd.committed_entries) {
    if (!failure_.ok()) break;
    apply_entry(id, e);
    conf_changed = conf_changed || e.type == EntryType::conf_change;
  }
  for (const ReadState& rs : rd.read_states) check_read_state(id, rs);
  n.raft->advance(rd);
  if (conf_changed && failure_.ok() && !(n.raft->conf_state() == conf_at(n.sm_index))) {
    fail("safety", "node " + std::to_string(id) + " has membership " +
                       describe(n.raft->conf_state()) + " at applied index " +
                       std::to_string(n.sm_index) + ", the log says " +
                       describe(conf_at(n.sm_index)));
  }
  check_node(id);
}

void Simulator::crash(NodeId id) {
  Node& n = nodes_.at(id);
  n.raft.reset();  // unstable entries, unsaved hard state, volatile state: gone
  if (o_.bug_disk_forgets_vote) {
    HardState hs = n.disk.hard_state();
    hs.vote = kNoNode;
    n.disk.set_hard_state(hs);
  }
  n.applied.clear();
  n.sm_index = 0;
  n.sm_hash = 0;
  n.checked_terms.clear();
  n.leader_checked_term = 0;
  n.leader_checked_upto = 0;
}

void Simulator::restart(NodeId id) {
  Node& n = nodes_.at(id);
  if (n.raft) return;
  n.raft = std::make_unique<Raft>(config_for(id), &n.disk);
  restore_state_machine(id, n.disk.snapshot());
  if (failure_.ok() && !(n.raft->conf_state() == conf_at(n.sm_index))) {
    fail("safety", "node " + std::to_string(id) + " restarted with membership " +
                       describe(n.raft->conf_state()) + ", the log says " +
                       describe(conf_at(n.sm_index)));
  }
  check_node(id);
}

void Simulator::add_node(NodeId id) {
  auto [it, fresh] = nodes_.try_emplace(id);
  if (!fresh) return;
  it->second.raft = std::make_unique<Raft>(config_for(id), &it->second.disk);
  next_id_ = std::max(next_id_, id + 1);
  check_node(id);
}

Status Simulator::compact(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.raft) return make_error("down", "node is crashed");
  if (n.sm_index <= n.disk.snapshot().meta.index) return make_error("stale", "nothing new");
  // conf_state() is the membership as of applied(), the index compacted here.
  return n.disk.compact(n.sm_index, n.raft->conf_state(), encode_state(n.sm_index, n.sm_hash));
}

void Simulator::partition(const std::set<NodeId>& a, const std::set<NodeId>& b) {
  for (NodeId x : a) {
    for (NodeId y : b) {
      cut_.insert({x, y});
      cut_.insert({y, x});
    }
  }
}

void Simulator::cut_one_way(NodeId from, NodeId to) {
  cut_.insert({from, to});
}

void Simulator::heal() {
  cut_.clear();
}

void Simulator::tick_all() {
  ++now_tick_;
  for (NodeId id : up_nodes()) {
    nodes_.at(id).raft->tick();
    check_node(id);
  }
}

void Simulator::campaign(NodeId id) {
  nodes_.at(id).raft->campaign();
  check_node(id);
}

Status Simulator::propose(NodeId id, std::string payload) {
  Node& n = nodes_.at(id);
  if (!n.raft) return make_error("down", "node is crashed");
  Status s = n.raft->propose(Bytes(payload.begin(), payload.end()));
  check_node(id);
  return s;
}

Status Simulator::propose_conf_change(NodeId id, const ConfChange& cc) {
  Node& n = nodes_.at(id);
  if (!n.raft) return make_error("down", "node is crashed");
  Status s = n.raft->propose_conf_change(cc);
  check_node(id);
  return s;
}

Status Simulator::transfer(NodeId id, NodeId to) {
  Node& n = nodes_.at(id);
  if (!n.raft) return make_error("down", "node is crashed");
  Status s = n.raft->transfer_leadership(to);
  check_node(id);
  return s;
}

Status Simulator::read_index(NodeId id, std::string context) {
  Node& n = nodes_.at(id);
  if (!n.raft) return make_error("down", "node is crashed");
  reads_[context] = ReadRequest{id, max_commit_seen_};
  Status s = n.raft->read_index(Bytes(context.begin(), context.end()));
  check_node(id);
  return s;
}

std::size_t Simulator::settle(const Filter& allow) {
  std::size_t delivered = 0;
  for (std::size_t round = 0; round < 10000; ++round) {
    for (NodeId id : up_nodes()) write_ready(id);
    if (net_.empty()) return delivered;
    std::vector<InFlight> batch;
    batch.swap(net_);
    for (InFlight& f : batch) {
      if (allow && !allow(f.m)) continue;
      deliver(f.m);
      ++delivered;
    }
  }
  fail("liveness", "settle() did not converge");
  return delivered;
}

// ---------------------------------------------------------------- random run

void Simulator::random_conf_change() {
  const NodeId l = leader();
  if (l == kNoNode) return;
  const ConfState& conf = raft(l)->conf_state();
  ConfChange cc;
  switch (prng_.below(3)) {
    case 0:  // a fresh node joins, mostly as a learner first
      if (next_id_ > o_.nodes + o_.nodes_added_max) return;
      if (conf.voters.size() >= o_.voters_max) return;
      cc.type = prng_.chance(75) ? ConfChangeType::add_learner : ConfChangeType::add_voter;
      cc.node = next_id_;
      break;
    case 1:  // promote a learner
      if (conf.learners.empty() || conf.voters.size() >= o_.voters_max) return;
      cc.type = ConfChangeType::add_voter;
      cc.node = conf.learners[prng_.below(conf.learners.size())];
      break;
    default: {  // remove a member; never below two voters
      std::vector<NodeId> members = conf.learners;
      if (conf.voters.size() > 2)
        members.insert(members.end(), conf.voters.begin(), conf.voters.end());
      if (members.empty()) return;
      cc.type = ConfChangeType::remove_node;
      cc.node = members[prng_.below(members.size())];
      break;
    }
  }
  if (propose_conf_change(l, cc).ok() && cc.node == next_id_) add_node(cc.node);
}

void Simulator::random_transfer() {
  const NodeId l = leader();
  if (l == kNoNode) return;
  const std::vector<NodeId>& voters = raft(l)->conf_state().voters;
  (void)transfer(l, voters[prng_.below(voters.size())]);  // may pick itself: refused
}

void Simulator::random_step() {
  ++now_tick_;
  const std::vector<NodeId> ids = node_ids();
  // Faults.
  if (prng_.below(1000) < o_.crash_per_mille) {
    std::vector<NodeId> up = up_nodes();
    if (!up.empty()) crash(up[prng_.below(up.size())]);
  }
  for (auto& [id, n] : nodes_) {
    if (!n.raft && prng_.chance(o_.restart_pct)) restart(id);
  }
  if (prng_.below(1000) < o_.partition_per_mille) {
    std::set<NodeId> a, b;
    for (NodeId id : ids) (prng_.chance(50) ? a : b).insert(id);
    if (prng_.chance(30)) {
      cut_one_way(ids[prng_.below(ids.size())], ids[prng_.below(ids.size())]);  // asymmetric
    } else {
      partition(a, b);
    }
  }
  if (!cut_.empty() && prng_.chance(o_.heal_pct)) heal();

  // Clients.
  if (prng_.chance(o_.propose_pct)) {
    const NodeId target =
        leader() != kNoNode && prng_.chance(80) ? leader() : ids[prng_.below(ids.size())];
    (void)propose(target,
                  "p" + std::to_string(++proposals_) + "-" + std::string(prng_.below(40), 'x'));
  }
  if (prng_.chance(o_.read_pct)) {
    (void)read_index(ids[prng_.below(ids.size())], "r" + std::to_string(++reads_made_));
  }
  if (prng_.below(1000) < o_.conf_change_per_mille) random_conf_change();
  if (prng_.below(1000) < o_.transfer_per_mille) random_transfer();

  // Network: every due message, in random order.
  std::vector<InFlight> due, later;
  for (InFlight& f : net_) (f.deliver_at_tick <= now_tick_ ? due : later).push_back(std::move(f));
  net_.swap(later);
  for (std::size_t i = due.size(); i > 1; --i) std::swap(due[i - 1], due[prng_.below(i)]);
  for (const InFlight& f : due) deliver(f.m);

  // Disks: some nodes write their Ready this step, the rest stay exposed to
  // a crash with unpersisted state; some compact what they applied.
  for (NodeId id : up_nodes()) {
    if (prng_.chance(o_.ready_pct)) write_ready(id);
    if (prng_.chance(o_.compact_pct)) (void)compact(id);
  }

  // Clock: a node occasionally misses a tick (clock skew).
  for (NodeId id : up_nodes()) {
    if (prng_.chance(97)) {
      nodes_.at(id).raft->tick();
      check_node(id);
    }
  }
}

NodeId Simulator::stabilise(std::uint32_t ticks_max) {
  heal();
  for (NodeId id : node_ids()) restart(id);
  const bool faults = o_.faults;
  o_.faults = false;
  std::string final_payload = "final-" + std::to_string(o_.seed);
  bool proposed = false;
  std::uint32_t proposed_at_tick = 0;
  NodeId result = kNoNode;
  for (std::uint32_t t = 0; t < ticks_max && failure_.ok(); ++t) {
    settle();
    const NodeId l = leader();
    if (l != kNoNode) {
      // Re-propose now and then: the first leader seen after healing may be a
      // stale one whose entry is overwritten.
      if (!proposed || t >= proposed_at_tick + 50) {
        proposed = propose(l, final_payload).ok() || proposed;
        proposed_at_tick = t;
      }
      settle();
      // Every member applied everything; removed nodes (still running, and
      // still trying to disturb) and never-admitted ones are left out.
      const Node& ln = nodes_.at(l);
      bool converged =
          proposed && !ln.applied.empty() &&
          ln.applied.back().payload == Bytes(final_payload.begin(), final_payload.end()) &&
          ln.raft->last_index() == ln.sm_index;
      const ConfState& conf = ln.raft->conf_state();
      for (const std::vector<NodeId>* ids : {&conf.voters, &conf.learners}) {
        for (NodeId id : *ids) {
          converged = converged && nodes_.at(id).sm_index == ln.sm_index;
        }
      }
      if (converged) {
        result = l;
        break;
      }
    }
    tick_all();
  }
  o_.faults = faults;
  return result;
}

Status Simulator::run() {
  for (std::uint32_t s = 0; s < o_.steps && failure_.ok(); ++s) random_step();
  if (!failure_.ok()) return failure_;
  if (stabilise(o_.quiet_ticks_max) == kNoNode) {
    fail("liveness",
         "no leader with every member applying the same entries after healing:\n" + dump());
  }
  return failure_;
}

// ---------------------------------------------------------------- invariants

void Simulator::check_node(NodeId id) {
  const Node& n = nodes_.at(id);
  if (!n.raft || !failure_.ok()) return;
  max_commit_seen_ = std::max(max_commit_seen_, n.raft->commit());
  check_log_matching(id);
  check_leader(id);
}

// Every (index, term) names one entry and one predecessor term, so by
// induction two logs that agree on (index, term) agree on the whole prefix.
void Simulator::check_log_matching(NodeId id) {
  Node& n = nodes_.at(id);
  const Raft& r = *n.raft;
  const std::uint64_t first = r.first_index(), last = r.last_index();
  // Terms checked before a compaction or snapshot are no longer in the log.
  if (n.checked_first != first) {
    const std::uint64_t drop = first > n.checked_first ? first - n.checked_first : UINT64_MAX;
    if (drop >= n.checked_terms.size()) {
      n.checked_terms.clear();
    } else {
      n.checked_terms.erase(n.checked_terms.begin(),
                            n.checked_terms.begin() + static_cast<std::ptrdiff_t>(drop));
    }
    n.checked_first = first;
  }
  std::uint64_t next = first;
  while (next <= last && next - first < n.checked_terms.size() &&
         n.checked_terms[next - first] == *r.entry_term(next)) {
    ++next;
  }
  n.checked_terms.resize(next - first);
  if (next > last) return;
  const std::vector<Entry> tail = r.log_slice(next, last + 1);
  std::uint64_t prev_term = *r.entry_term(next - 1);
  for (const Entry& e : tail) {
    // Only durable entries are registered (see check_disk_log): an entry a
    // lone leader appended and lost in a crash was never observable.
    auto it = seen_.find({e.index, e.term});
    if (it != seen_.end() &&
        !matches_seen("node " + std::to_string(id), e, prev_term, it->second)) {
      return;
    }
    n.checked_terms.push_back(e.term);
    prev_term = e.term;
  }
}

bool Simulator::matches_seen(const std::string& where, const Entry& e, std::uint64_t prev_term,
                             const std::pair<Entry, std::uint64_t>& seen) {
  if (seen.first == e && seen.second == prev_term) return true;
  fail("safety", "log matching: " + where + " has " + describe(e) + " after term " +
                     std::to_string(prev_term) + ", elsewhere " + describe(seen.first) +
                     " after term " + std::to_string(seen.second));
  return false;
}

void Simulator::check_disk_log(NodeId id, const std::vector<Entry>& written) {
  const MemoryStorage& disk = nodes_.at(id).disk;
  std::uint64_t prev_term = *disk.term(written.front().index - 1);
  for (const Entry& e : written) {
    auto [it, fresh] = seen_.try_emplace({e.index, e.term}, e, prev_term);
    if (!fresh && !matches_seen("disk of node " + std::to_string(id), e, prev_term, it->second)) {
      return;
    }
    prev_term = e.term;
  }
}

void Simulator::check_leader(NodeId id) {
  Node& n = nodes_.at(id);
  const Raft& r = *n.raft;
  if (r.role() != Role::leader) return;
  auto [it, fresh] = leader_of_term_.try_emplace(r.term(), id);
  if (!fresh && it->second != id) {
    fail("safety", "two leaders in term " + std::to_string(r.term()) + ": nodes " +
                       std::to_string(it->second) + " and " + std::to_string(id));
    return;
  }
  // Leader completeness: every entry applied anywhere while the applier was
  // at a term <= this leader's is in this leader's log (or its snapshot).
  if (n.leader_checked_term != r.term()) {
    n.leader_checked_term = r.term();
    n.leader_checked_upto = 0;
  }
  const std::uint64_t snapshot_index = r.first_index() - 1;
  for (auto c = committed_.upper_bound(std::max(n.leader_checked_upto, snapshot_index - 1));
       c != committed_.end(); ++c) {
    if (c->second.seen_term > r.term()) continue;
    std::optional<std::uint64_t> t = r.entry_term(c->first);
    if (!t || *t != c->second.entry.term) {
      fail("safety", "leader completeness: leader " + std::to_string(id) + " of term " +
                         std::to_string(r.term()) + " lacks committed " +
                         describe(c->second.entry));
      return;
    }
    n.leader_checked_upto = c->first;
  }
}

// A committed entry must be durable on a majority of the voters that
// committed it. With changes taking effect when applied, that leader
// counted either the membership before the last change preceding the entry
// or the one after it (a leader applies every change it knows committed
// before campaigning, and a new change waits for the previous one).
void Simulator::check_on_quorum_of_disks(std::uint64_t index) {
  const Committed& c = committed_.at(index);
  auto holders = [&](const ConfState& conf) {
    std::size_t n = 0;
    for (NodeId v : conf.voters) {
      const MemoryStorage& disk = nodes_.at(v).disk;
      Result<std::uint64_t> t = disk.term(index);
      if (index <= disk.snapshot().meta.index || (t.ok() && *t == c.entry.term)) ++n;
    }
    return n;
  };
  auto after = std::prev(conf_history_.lower_bound(index));  // last change before the entry
  std::string seen;
  for (int k = 0; k < 2; ++k) {
    const std::size_t h = holders(after->second);
    if (h >= majority(after->second)) return;
    seen += (seen.empty() ? "" : ", ") + std::to_string(h) + " of " + describe(after->second);
    if (after == conf_history_.begin()) break;
    --after;
  }
  fail("safety", "committed " + describe(c.entry) + " is on too few disks: " + seen);
}

void SweepTotals::add(const Simulator& sim, const Status& outcome) {
  ++seeds;
  failed += outcome.ok() ? 0 : 1;
  committed += sim.committed_count();
  conf_changes += sim.conf_changes_count();
  reads += sim.reads_answered();
  snapshots += sim.snapshots_restored();
  transfers += sim.sent(MessageType::timeout_now);
}

std::string SweepTotals::summary(double seconds) const {
  char line[320];
  std::snprintf(line, sizeof line,
                "seeds %llu failed %llu committed_entries %llu conf_changes %llu reads_answered "
                "%llu snapshots_installed %llu timeout_now_sent %llu seconds %.2f",
                static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(committed),
                static_cast<unsigned long long>(conf_changes),
                static_cast<unsigned long long>(reads), static_cast<unsigned long long>(snapshots),
                static_cast<unsigned long long>(transfers), seconds);
  return line;
}

}  // namespace custos::consensus::sim
