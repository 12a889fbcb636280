#include "consensus/tests/simulator.h"

#include <algorithm>
#include <utility>

namespace custos::consensus::sim {

namespace {

std::string describe(const Entry& e) {
  return "{index " + std::to_string(e.index) + ", term " + std::to_string(e.term) + ", " +
         (e.type == EntryType::noop ? "noop" : "normal") + ", " + std::to_string(e.payload.size()) +
         " bytes}";
}

}  // namespace

std::string replay_command(const Options& o) {
  return "consensus-sim --seed " + std::to_string(o.seed) + " --steps " + std::to_string(o.steps) +
         " --nodes " + std::to_string(o.nodes);
}

Simulator::Simulator(Options options) : o_(options), prng_(options.seed) {
  for (NodeId id = 1; id <= o_.nodes; ++id) {
    Node& n = nodes_[id];
    n.raft = std::make_unique<Raft>(config_for(id), &n.disk);
  }
}

Config Simulator::config_for(NodeId id) const {
  Config c;
  c.id = id;
  for (NodeId v = 1; v <= o_.nodes; ++v) c.voters.push_back(v);
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.msg_bytes_max = o_.msg_bytes_max;
  c.inflight_msgs_max = o_.inflight_msgs_max;
  c.inflight_bytes_max = 1024;
  c.entry_bytes_max = 256;
  c.uncommitted_bytes_max = 4096;
  c.pre_vote = o_.pre_vote;
  c.check_quorum = o_.check_quorum;
  c.seed = o_.seed;
  return c;
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
           std::to_string(r.commit()) + " applied " + std::to_string(n.applied.size()) + " last " +
           std::to_string(r.last_index()) + " last_term " +
           std::to_string(*r.entry_term(r.last_index())) + "\n";
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
  if (!link_up(m.from, m.to)) return;
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

// Persist, then send, then apply: the order the Storage contract demands.
void Simulator::write_ready(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.raft || !n.raft->has_ready()) return;
  Ready rd = n.raft->ready();
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
  for (const Entry& e : rd.committed_entries) {
    if (e.index != n.applied.size() + 1) {
      fail("safety", "node " + std::to_string(id) + " applied " + describe(e) + " out of order");
      break;
    }
    n.applied.push_back(e);
    auto [it, fresh] = committed_.try_emplace(e.index, Committed{e, n.raft->term()});
    if (fresh) {
      check_on_quorum_of_disks(e.index);
    } else if (!(it->second.entry == e)) {
      fail("safety", "state machine safety: node " + std::to_string(id) + " applied " +
                         describe(e) + " where another node applied " + describe(it->second.entry));
    }
  }
  n.raft->advance(rd);
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
  n.leader_checked_term = 0;
  n.leader_checked_upto = 0;
}

void Simulator::restart(NodeId id) {
  Node& n = nodes_.at(id);
  if (n.raft) return;
  n.raft = std::make_unique<Raft>(config_for(id), &n.disk);
  check_node(id);
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

void Simulator::random_step() {
  ++now_tick_;
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
    for (NodeId id = 1; id <= o_.nodes; ++id) (prng_.chance(50) ? a : b).insert(id);
    if (prng_.chance(30)) {
      cut_one_way(1 + prng_.below(o_.nodes), 1 + prng_.below(o_.nodes));  // asymmetric
    } else {
      partition(a, b);
    }
  }
  if (!cut_.empty() && prng_.chance(o_.heal_pct)) heal();

  // Clients.
  if (prng_.chance(o_.propose_pct)) {
    const NodeId target =
        leader() != kNoNode && prng_.chance(80) ? leader() : 1 + prng_.below(o_.nodes);
    (void)propose(target,
                  "p" + std::to_string(++proposals_) + "-" + std::string(prng_.below(40), 'x'));
  }

  // Network: every due message, in random order.
  std::vector<InFlight> due, later;
  for (InFlight& f : net_) (f.deliver_at_tick <= now_tick_ ? due : later).push_back(std::move(f));
  net_.swap(later);
  for (std::size_t i = due.size(); i > 1; --i) std::swap(due[i - 1], due[prng_.below(i)]);
  for (const InFlight& f : due) deliver(f.m);

  // Disks: some nodes write their Ready this step, the rest stay exposed to
  // a crash with unpersisted state.
  for (NodeId id : up_nodes()) {
    if (prng_.chance(o_.ready_pct)) write_ready(id);
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
  for (NodeId id = 1; id <= o_.nodes; ++id) restart(id);
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
      const std::vector<Entry>& la = nodes_.at(l).applied;
      bool converged = proposed && !la.empty() &&
                       la.back().payload == Bytes(final_payload.begin(), final_payload.end()) &&
                       nodes_.at(l).raft->last_index() == la.size();
      for (const auto& [id, n] : nodes_) {
        converged = converged && n.applied.size() == la.size();
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
         "no leader with every node applying the same entries after healing:\n" + dump());
  }
  return failure_;
}

// ---------------------------------------------------------------- invariants

void Simulator::check_node(NodeId id) {
  const Node& n = nodes_.at(id);
  if (!n.raft || !failure_.ok()) return;
  check_log_matching(id);
  check_leader(id);
}

// Every (index, term) names one entry and one predecessor term, so by
// induction two logs that agree on (index, term) agree on the whole prefix.
void Simulator::check_log_matching(NodeId id) {
  Node& n = nodes_.at(id);
  const Raft& r = *n.raft;
  const std::uint64_t last = r.last_index();
  std::uint64_t first_changed = 1;
  while (first_changed <= last && first_changed <= n.checked_terms.size() &&
         n.checked_terms[first_changed - 1] == *r.entry_term(first_changed)) {
    ++first_changed;
  }
  n.checked_terms.resize(first_changed - 1);
  if (first_changed > last) return;
  const std::vector<Entry> tail = r.log_slice(first_changed, last + 1);
  std::uint64_t prev_term = *r.entry_term(first_changed - 1);
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
  // at a term <= this leader's is in this leader's log.
  if (n.leader_checked_term != r.term()) {
    n.leader_checked_term = r.term();
    n.leader_checked_upto = 0;
  }
  for (auto c = committed_.upper_bound(n.leader_checked_upto); c != committed_.end(); ++c) {
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

// A committed entry must be durable on a quorum, whatever crashes follow.
void Simulator::check_on_quorum_of_disks(std::uint64_t index) {
  const Committed& c = committed_.at(index);
  std::size_t holders = 0;
  for (const auto& [id, n] : nodes_) {
    Result<std::uint64_t> t = n.disk.term(index);
    if (t.ok() && *t == c.entry.term) ++holders;
  }
  if (holders < o_.nodes / 2 + 1) {
    fail("safety",
         "committed " + describe(c.entry) + " is on only " + std::to_string(holders) + " disks");
  }
}

}  // namespace custos::consensus::sim
