// Membership change one server at a time, in the simulator: removal,
// learners, promotion.
#include <doctest/doctest.h>

#include "consensus/tests/simulator.h"

using namespace custos;
using namespace custos::consensus;
using namespace custos::consensus::sim;

namespace {

bool has(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

NodeId some_follower(const Simulator& sim, NodeId leader) {
  for (NodeId id : sim.node_ids()) {
    if (id != leader) return id;
  }
  return kNoNode;
}

// Ticks and settles, proposing through `leader` now and then.
void run_ticks(Simulator& sim, int ticks, NodeId leader) {
  for (int t = 0; t < ticks; ++t) {
    if (t % 10 == 0 && sim.raft(leader) && sim.raft(leader)->role() == Role::leader) {
      (void)sim.propose(leader, "tick-" + std::to_string(t));
    }
    sim.tick_all();
    sim.settle();
  }
}

// Adds node `id` as a learner through `leader` and waits until it is applied.
void add_learner(Simulator& sim, NodeId leader, NodeId id) {
  sim.add_node(id);
  REQUIRE(sim.propose_conf_change(leader, {ConfChangeType::add_learner, id, {}}).ok());
  sim.settle();
  REQUIRE(has(sim.raft(leader)->conf_state().learners, id));
}

}  // namespace

TEST_CASE("a removed node that applied its removal stops campaigning and disturbs nobody") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId gone = some_follower(sim, l);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::remove_node, gone, {}}).ok());
  sim.settle();
  CHECK_FALSE(has(sim.raft(l)->conf_state().voters, gone));
  CHECK(sim.raft(l)->progress(gone) == nullptr);  // the leader stopped replicating to it
  // It learned the commit with the last append, so it knows it is out.
  REQUIRE_FALSE(has(sim.raft(gone)->conf_state().voters, gone));
  const std::uint64_t term = sim.raft(l)->term();
  run_ticks(sim, 200, l);  // it hears nothing any more
  CHECK(sim.leader() == l);
  CHECK(sim.raft(l)->term() == term);
  CHECK(sim.raft(gone)->role() == Role::follower);
  CHECK(sim.raft(gone)->term() == term);
  CHECK(sim.propose(gone, "x").error().code == "not_leader");
  CHECK(sim.failure().ok());
}

TEST_CASE("a removed node that never learned of its removal cannot disrupt the cluster") {
  Simulator sim(scripted(5));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId gone = some_follower(sim, l);
  std::set<NodeId> rest;
  for (NodeId id : sim.node_ids()) {
    if (id != gone) rest.insert(id);
  }
  sim.partition({gone}, rest);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::remove_node, gone, {}}).ok());
  sim.settle();
  REQUIRE_FALSE(has(sim.raft(l)->conf_state().voters, gone));
  REQUIRE(has(sim.raft(gone)->conf_state().voters, gone));  // still believes it votes
  const std::uint64_t term = sim.raft(l)->term();
  run_ticks(sim, 60, l);  // alone it campaigns (PreVote only: its term stays)
  CHECK(sim.raft(gone)->term() == term);
  sim.heal();
  run_ticks(sim, 200, l);  // back: its pre-votes meet the leader lease
  CHECK(sim.leader() == l);
  CHECK(sim.raft(l)->term() == term);
  CHECK(sim.raft(l)->progress(gone) == nullptr);
  CHECK(sim.failure().ok());
}

TEST_CASE("a removed leader steps down once its removal is applied; the rest elect another") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::remove_node, l, {}}).ok());
  sim.settle();
  CHECK(sim.raft(l)->role() == Role::follower);
  CHECK_FALSE(has(sim.raft(l)->conf_state().voters, l));
  for (int t = 0; t < 100 && (sim.leader() == kNoNode || sim.leader() == l); ++t) {
    sim.tick_all();
    sim.settle();
  }
  const NodeId fresh = sim.leader();
  REQUIRE(fresh != kNoNode);
  CHECK(fresh != l);
  REQUIRE(sim.propose(fresh, "after").ok());
  sim.settle();
  CHECK(sim.raft(fresh)->commit() == sim.raft(fresh)->last_index());
  CHECK(sim.failure().ok());
}

TEST_CASE("a learner replicates but never votes, never campaigns and is not counted for commit") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  add_learner(sim, l, 4);
  REQUIRE(sim.propose(l, "replicated").ok());
  sim.settle();
  CHECK(sim.raft(4)->is_learner());
  CHECK(sim.applied_index(4) == sim.applied_index(l));
  CHECK(sim.applied(4).back().payload == Bytes{'r', 'e', 'p', 'l', 'i', 'c', 'a', 't', 'e', 'd'});
  // Not counted for commit: the leader and the learner alone commit nothing.
  std::set<NodeId> others;
  for (NodeId id : {1, 2, 3}) {
    if (id != l) others.insert(id);
  }
  sim.partition({l, 4}, others);
  const std::uint64_t commit = sim.raft(l)->commit();
  REQUIRE(sim.propose(l, "stuck").ok());
  sim.settle();
  CHECK(sim.raft(4)->last_index() == sim.raft(l)->last_index());  // it has the entry
  CHECK(sim.raft(l)->commit() == commit);                         // but it does not count
  // Never votes: a voter with only the learner (and its own vote) does not win.
  sim.heal();
  sim.stabilise(500);
  const NodeId lone = some_follower(sim, sim.leader());
  for (NodeId id : {1, 2, 3}) {
    if (id != lone) sim.crash(id);
  }
  for (int t = 0; t < 100; ++t) {
    sim.tick_all();
    sim.settle();
  }
  CHECK(sim.raft(lone)->role() != Role::leader);
  // Never campaigns, even with no leader for a long time.
  CHECK(sim.raft(4)->role() == Role::follower);
  CHECK(sim.failure().ok());
}

TEST_CASE("a learner never starts an election, even cut off from everyone") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  add_learner(sim, l, 4);
  const std::uint64_t term = sim.raft(4)->term();
  sim.partition({4}, {1, 2, 3});
  for (int t = 0; t < 200; ++t) {
    sim.tick_all();
    sim.settle();
  }
  CHECK(sim.raft(4)->role() == Role::follower);
  CHECK(sim.raft(4)->term() == term);
  CHECK(sim.failure().ok());
}

TEST_CASE("promoting a learner: it then counts for commit and can lead") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  add_learner(sim, l, 4);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::add_voter, 4, {}}).ok());
  sim.settle();
  CHECK(sim.raft(l)->conf_state() == ConfState{{1, 2, 3, 4}, {}});
  CHECK(sim.raft(4)->conf_state() == ConfState{{1, 2, 3, 4}, {}});
  CHECK_FALSE(sim.raft(4)->is_learner());
  // Four voters: the leader and node 4 alone (2 of 4) no longer commit, but
  // with one more voter they do.
  std::vector<NodeId> olds;
  for (NodeId id : {1, 2, 3}) {
    if (id != l) olds.push_back(id);
  }
  sim.partition({l, 4}, {olds[0], olds[1]});
  const std::uint64_t commit = sim.raft(l)->commit();
  REQUIRE(sim.propose(l, "needs three").ok());
  sim.settle();
  CHECK(sim.raft(l)->commit() == commit);
  sim.heal();
  sim.partition({l, 4, olds[0]}, {olds[1]});
  sim.tick_all();
  sim.tick_all();
  sim.settle();
  CHECK(sim.raft(l)->commit() > commit);
  // And it can lead.
  sim.heal();
  REQUIRE(sim.transfer(l, 4).ok());
  sim.settle();
  CHECK(sim.leader() == 4);
  CHECK(sim.stabilise(500) != kNoNode);
  CHECK(sim.failure().ok());
}

TEST_CASE("one change at a time, validated against the applied membership") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  sim.add_node(4);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::add_learner, 4, {}}).ok());
  CHECK(sim.propose_conf_change(l, {ConfChangeType::add_voter, 4, {}}).error().code ==
        "conf_change_pending");
  sim.settle();
  CHECK(sim.propose_conf_change(l, {ConfChangeType::add_learner, 4, {}}).error().code ==
        "bad_conf_change");
  CHECK(sim.propose_conf_change(l, {ConfChangeType::remove_node, 9, {}}).error().code ==
        "bad_conf_change");
  const NodeId f = some_follower(sim, l);
  CHECK(sim.propose_conf_change(f, {ConfChangeType::add_voter, 4, {}}).error().code ==
        "not_leader");
  CHECK(sim.propose_conf_change(l, {ConfChangeType::add_voter, 4, {}}).ok());
  sim.settle();
  CHECK(sim.failure().ok());
}
