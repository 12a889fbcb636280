// ReadIndex (Raft dissertation §6.4) in the simulator: on the leader, on a
// follower, on a leader cut off in a minority, on a leader whose term has
// no commit yet.
#include <doctest/doctest.h>

#include "consensus/tests/simulator.h"

using namespace custos;
using namespace custos::consensus;
using namespace custos::consensus::sim;

TEST_CASE("ReadIndex on the leader: the read point is its commit index at the request") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  REQUIRE(sim.propose(l, "w1").ok());
  sim.settle();
  const std::uint64_t commit = sim.raft(l)->commit();
  REQUIRE(sim.read_index(l, "read-1").ok());
  CHECK(sim.read_states(l).empty());  // not before a quorum confirms the leadership
  sim.settle();
  REQUIRE(sim.read_states(l).size() == 1);
  CHECK(sim.read_states(l)[0] == ReadState{commit, Bytes{'r', 'e', 'a', 'd', '-', '1'}});
  CHECK(sim.failure().ok());
}

TEST_CASE("ReadIndex on a follower and a learner goes through the leader") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  sim.add_node(4);
  REQUIRE(sim.propose_conf_change(l, {ConfChangeType::add_learner, 4, {}}).ok());
  sim.settle();
  const NodeId f = l == 1 ? 2 : 1;
  REQUIRE(sim.propose(l, "w").ok());
  sim.settle();
  const std::uint64_t commit = sim.raft(l)->commit();
  REQUIRE(sim.read_index(f, "from-follower").ok());
  REQUIRE(sim.read_index(4, "from-learner").ok());
  sim.settle();
  for (NodeId asker : {f, NodeId{4}}) {
    REQUIRE(sim.read_states(asker).size() == 1);
    CHECK(sim.read_states(asker)[0].index == commit);
    CHECK(sim.applied_index(asker) >= commit);
  }
  CHECK(sim.read_states(l).empty());  // answered to the askers, not to the leader
  CHECK(sim.failure().ok());
}

TEST_CASE("ReadIndex on a leader isolated in a minority is never answered") {
  Simulator sim(scripted(5));
  const NodeId old = sim.stabilise(500);
  REQUIRE(old != kNoNode);
  std::set<NodeId> rest;
  for (NodeId id : sim.node_ids()) {
    if (id != old) rest.insert(id);
  }
  sim.partition({old}, rest);
  REQUIRE(sim.read_index(old, "stale?").ok());  // it still believes it leads
  for (int t = 0; t < 40; ++t) {
    sim.tick_all();
    sim.settle();
  }
  const NodeId fresh = sim.leader();
  REQUIRE(fresh != kNoNode);
  REQUIRE(fresh != old);
  REQUIRE(sim.propose(fresh, "newer").ok());
  sim.settle();
  CHECK(sim.read_states(old).empty());
  sim.heal();
  REQUIRE(sim.stabilise(500) != kNoNode);
  CHECK(sim.read_states(old).empty());  // dropped when it stepped down, never answered stale
  CHECK(sim.failure().ok());
}

TEST_CASE("ReadIndex on a fresh leader waits until an entry of its term commits") {
  Simulator sim(scripted(3));
  sim.campaign(1);
  // Votes pass, appends do not: the new leader's no-op stays uncommitted.
  sim.settle([](Message& m) { return m.type != MessageType::append; });
  REQUIRE(sim.leader() == 1);
  REQUIRE(sim.raft(1)->commit() < sim.raft(1)->last_index());
  REQUIRE(sim.read_index(1, "early").ok());
  // Heartbeats get through and are answered, but the read is held back.
  for (int t = 0; t < 4; ++t) {
    sim.tick_all();
    sim.settle([](Message& m) { return m.type != MessageType::append; });
  }
  CHECK(sim.read_states(1).empty());
  // A heartbeat answer resends the lost no-op; it commits, then a heartbeat
  // round confirms the read.
  for (int t = 0; t < 4 && sim.read_states(1).empty(); ++t) {
    sim.tick_all();
    sim.settle();
  }
  REQUIRE(sim.read_states(1).size() == 1);
  CHECK(sim.read_states(1)[0].index == sim.raft(1)->last_index());
  CHECK(sim.failure().ok());
}
