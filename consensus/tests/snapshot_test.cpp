// Log compaction and InstallSnapshot, in the simulator: a lagging follower
// and a joining node catch up from the leader's snapshot.
#include <doctest/doctest.h>

#include "consensus/tests/simulator.h"

using namespace custos;
using namespace custos::consensus;
using namespace custos::consensus::sim;

TEST_CASE("a follower far behind catches up through a snapshot after the leader compacts") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId behind = l == 1 ? 2 : 1;
  sim.crash(behind);
  for (int i = 0; i < 30; ++i) {
    REQUIRE(sim.propose(l, "e" + std::to_string(i)).ok());
    sim.settle();
  }
  for (NodeId id : sim.node_ids()) {
    if (id != behind) REQUIRE(sim.compact(id).ok());
  }
  const std::uint64_t compacted = sim.disk(l).snapshot().meta.index;
  REQUIRE(compacted > sim.disk(behind).last_index());
  CHECK(sim.disk(l).first_index() == compacted + 1);
  sim.restart(behind);
  REQUIRE(sim.stabilise(500) != kNoNode);
  CHECK(sim.sent(MessageType::snapshot) >= 1);
  CHECK(sim.snapshots_restored() >= 1);
  CHECK(sim.disk(behind).snapshot().meta.index >= compacted);
  CHECK(sim.applied_index(behind) == sim.applied_index(sim.leader()));
  // Replication continues after the snapshot, through the normal log.
  CHECK(sim.disk(behind).last_index() > sim.disk(behind).snapshot().meta.index);
  CHECK(sim.failure().ok());  // includes: the restored state equals the applied one
}

TEST_CASE("a new node joins as a learner from a snapshot, then is promoted") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  for (int i = 0; i < 10; ++i) REQUIRE(sim.propose(l, "before-" + std::to_string(i)).ok());
  sim.settle();
  REQUIRE(sim.compact(l).ok());
  sim.add_node(4);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::add_learner, 4, Bytes{'n', '4'}}).ok());
  sim.settle();
  // Node 4 cannot get the compacted prefix as entries: it takes the snapshot.
  CHECK(sim.disk(4).snapshot().meta.index == sim.disk(l).snapshot().meta.index);
  CHECK(sim.applied_index(4) == sim.applied_index(l));
  CHECK(sim.raft(4)->is_learner());
  CHECK(sim.raft(4)->conf_state() == sim.raft(l)->conf_state());
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::add_voter, 4, {}}).ok());
  sim.settle();
  CHECK(sim.raft(4)->conf_state() == ConfState{{1, 2, 3, 4}, {}});
  CHECK(sim.stabilise(500) != kNoNode);
  CHECK(sim.failure().ok());
}

TEST_CASE("a node restarts from its own snapshot and re-applies only what follows it") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId f = l == 1 ? 2 : 1;
  for (int i = 0; i < 8; ++i) REQUIRE(sim.propose(l, "x" + std::to_string(i)).ok());
  sim.settle();
  REQUIRE(sim.compact(f).ok());
  const std::uint64_t snap = sim.disk(f).snapshot().meta.index;
  REQUIRE(sim.propose(l, "after").ok());
  sim.settle();
  sim.crash(f);
  sim.restart(f);
  CHECK(sim.raft(f)->applied() == snap);
  CHECK(sim.applied_index(f) == snap);
  REQUIRE(sim.stabilise(500) != kNoNode);
  CHECK(sim.applied(f).front().index == snap + 1);  // nothing before the snapshot again
  CHECK(sim.failure().ok());
}
