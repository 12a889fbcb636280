// Leadership transfer in the simulator: to an up-to-date follower, to a
// lagging one, and to one that never answers.
#include <doctest/doctest.h>

#include "consensus/tests/simulator.h"

using namespace custos;
using namespace custos::consensus;
using namespace custos::consensus::sim;

TEST_CASE("leadership transfer to an up-to-date follower takes one election") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId to = l == 3 ? 1 : 3;
  const std::uint64_t term = sim.raft(l)->term();
  REQUIRE(sim.transfer(l, to).ok());
  sim.settle();  // no ticks: it happens at once, despite the others' leases
  CHECK(sim.leader() == to);
  CHECK(sim.raft(to)->term() == term + 1);
  CHECK(sim.raft(l)->role() == Role::follower);
  CHECK(sim.sent(MessageType::timeout_now) == 1);
  CHECK(sim.failure().ok());
}

TEST_CASE("leadership transfer to a lagging follower first catches it up") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId to = l == 3 ? 1 : 3;
  for (int i = 0; i < 5; ++i) REQUIRE(sim.propose(l, "w" + std::to_string(i)).ok());
  sim.settle([&](Message& m) { return !(m.type == MessageType::append && m.to == to); });
  const std::uint64_t last = sim.raft(l)->last_index();
  REQUIRE(sim.raft(to)->last_index() < last);
  REQUIRE(sim.transfer(l, to).ok());
  CHECK(sim.propose(l, "during").error().code == "transfer_in_progress");
  sim.settle();
  for (int t = 0; t < 3 && sim.leader() != to; ++t) {  // heartbeats resend what was lost
    sim.tick_all();
    sim.settle();
  }
  REQUIRE(sim.leader() == to);
  // The new leader has everything the old one had (and its own no-op).
  CHECK(sim.raft(to)->last_index() == last + 1);
  CHECK(sim.raft(to)->entry_term(last) == sim.raft(l)->entry_term(last));
  CHECK(sim.stabilise(500) == to);
  CHECK(sim.failure().ok());
}

TEST_CASE("a leadership transfer that cannot finish is abandoned after an election timeout") {
  Simulator sim(scripted(3));
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  const NodeId to = l == 3 ? 1 : 3;
  sim.crash(to);
  REQUIRE(sim.transfer(l, to).ok());
  CHECK(sim.propose(l, "x").error().code == "transfer_in_progress");
  for (int t = 0; t < 10; ++t) {
    sim.tick_all();
    sim.settle();
  }
  CHECK(sim.leader() == l);
  CHECK(sim.propose(l, "x").ok());
  CHECK(sim.failure().ok());
}
