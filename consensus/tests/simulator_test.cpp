// The Raft safety properties under random faults (many seeds) and the
// classic scripted scenarios.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "consensus/tests/simulator.h"

using namespace custos;
using namespace custos::consensus;
using namespace custos::consensus::sim;

namespace {

// CUSTOS_RAFT_SEEDS overrides the number of random seeds (CI default 2,400).
std::uint64_t seed_count() {
  const char* env = std::getenv("CUSTOS_RAFT_SEEDS");
  return env ? std::strtoull(env, nullptr, 10) : 2400;
}

// A Raft invariant aborts the process; this still names the seed to replay.
char g_replay[256];
extern "C" void print_replay(int) {
  const char prefix[] = "\nreplay: ";
  (void)!write(2, prefix, sizeof prefix - 1);
  (void)!write(2, g_replay, std::strlen(g_replay));
  (void)!write(2, "\n", 1);
  std::signal(SIGABRT, SIG_DFL);
}

bool is_append_to(const Message& m, NodeId to) {
  return m.type == MessageType::append && m.to == to;
}

}  // namespace

TEST_CASE("random faults: every seed keeps safety and converges after healing") {
  const std::uint64_t seeds = seed_count();
  const auto start = std::chrono::steady_clock::now();
  SweepTotals totals;
  std::signal(SIGABRT, print_replay);
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    Options o;
    o.seed = seed;
    o.nodes = seed % 2 == 0 ? 5 : 3;
    std::snprintf(g_replay, sizeof g_replay, "%s", replay_command(o).c_str());
    Simulator sim(o);
    Status s = sim.run();
    totals.add(sim, s);
    if (!s.ok()) FAIL_CHECK(s.error().code << ": " << s.error().message);
  }
  std::signal(SIGABRT, SIG_DFL);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The run must actually make progress, and go through membership changes,
  // snapshots, reads and transfers, or the safety checks prove little.
  CHECK(totals.committed > seeds * 20);
  CHECK(totals.conf_changes > seeds);
  CHECK(totals.reads > seeds * 5);
  CHECK(totals.snapshots > seeds);
  CHECK(totals.transfers > seeds / 2);
  std::printf("raft simulator: %s\n", totals.summary(seconds).c_str());
}

TEST_CASE("the checker catches a disk that forgets votes (two leaders in one term)") {
  std::uint64_t caught = 0;
  for (std::uint64_t seed = 1; seed <= 400 && caught == 0; ++seed) {
    Options o;
    o.seed = seed;
    o.nodes = 3;
    o.pre_vote = false;  // more real elections, more chances to vote twice
    o.check_quorum = false;
    o.crash_per_mille = 60;
    o.restart_pct = 50;
    o.bug_disk_forgets_vote = true;
    Simulator sim(o);
    Status s = sim.run();
    if (!s.ok()) {
      CHECK(s.error().code == "safety");
      CHECK(s.error().message.find("two leaders in term") != std::string::npos);
      CHECK(s.error().message.find("replay: consensus-sim --seed") != std::string::npos);
      // The same run with an honest disk passes, so the injected bug is the cause.
      o.bug_disk_forgets_vote = false;
      CHECK(Simulator(o).run().ok());
      ++caught;
    }
  }
  CHECK(caught == 1);
}

TEST_CASE("Figure 8: an old-term entry on a majority is not committed until the leader's own") {
  // The paper's setting: no PreVote or leader lease, so elections are instant.
  Options o = scripted(5);
  o.pre_vote = false;
  o.check_quorum = false;
  Simulator sim(o);
  // (a) S1 leads and replicates index 2 to S2 only.
  sim.campaign(1);
  sim.settle();
  REQUIRE(sim.leader() == 1);
  const std::uint64_t base = sim.raft(1)->last_index();  // the no-op
  REQUIRE(sim.raft(1)->commit() == base);
  REQUIRE(sim.propose(1, "a").ok());
  sim.settle(
      [](Message& m) { return !is_append_to(m, 3) && !is_append_to(m, 4) && !is_append_to(m, 5); });
  const std::uint64_t i = base + 1;
  const std::uint64_t t_a = sim.raft(1)->term();
  REQUIRE(sim.raft(2)->entry_term(i) == t_a);
  REQUIRE(sim.raft(1)->commit() < i);
  // (b) S1 crashes; S5 wins with S3, S4; its own no-op at i reaches nobody.
  sim.crash(1);
  sim.partition({2}, {3, 4, 5});
  sim.campaign(5);
  sim.settle([](Message& m) { return m.type != MessageType::append || m.entries.empty(); });
  REQUIRE(sim.leader() == 5);
  const std::uint64_t t_b = sim.raft(5)->term();
  REQUIRE(sim.raft(5)->entry_term(i) == t_b);
  REQUIRE(sim.raft(3)->last_index() < i);
  // (c) S5 crashes; S1 restarts, wins with S2, S3 and copies its old entry at i
  // to S3, but its own-term no-op reaches nobody: index i is on a majority.
  sim.crash(5);
  sim.heal();
  sim.restart(1);
  sim.partition({4}, {1, 2, 3});
  sim.campaign(1);  // loses: S3 already saw S5's higher term, and S1 learns it
  sim.settle();
  REQUIRE(sim.leader() == kNoNode);
  sim.campaign(1);
  const std::uint64_t t_c = sim.raft(1)->term();
  sim.settle([&](Message& m) {
    if (m.type == MessageType::append) {
      std::erase_if(m.entries, [&](const Entry& e) { return e.term == t_c; });
    }
    return true;
  });
  REQUIRE(sim.leader() == 1);
  REQUIRE(sim.raft(1)->term() == t_c);
  REQUIRE(sim.raft(3)->entry_term(i) == t_a);
  // The heart of Figure 8: counting replicas of an old-term entry commits nothing.
  CHECK(sim.raft(1)->commit() < i);
  CHECK(sim.raft(2)->commit() < i);
  // (d) S1 crashes; S5 restarts and can still win (its last term is newer)
  // and overwrite index i everywhere. Had i been committed, that would lose it.
  sim.crash(1);
  sim.heal();
  sim.restart(5);
  sim.partition({1}, {2, 3, 4, 5});
  for (int attempt = 0; attempt < 3 && sim.leader() != 5; ++attempt) {
    sim.campaign(5);  // the first attempt may only teach S5 the current term
    sim.settle();
  }
  REQUIRE(sim.leader() == 5);
  sim.heal();
  sim.restart(1);
  CHECK(sim.stabilise(500) != kNoNode);
  CHECK(sim.raft(1)->entry_term(i) != t_a);
  CHECK(sim.failure().ok());
}

TEST_CASE("a leader isolated in a minority commits nothing and steps down (CheckQuorum)") {
  Simulator sim(scripted(5));
  const NodeId old = sim.stabilise(500);
  REQUIRE(old != kNoNode);
  const std::uint64_t commit_before = sim.raft(old)->commit();
  std::set<NodeId> rest;
  for (NodeId id = 1; id <= 5; ++id) {
    if (id != old) rest.insert(id);
  }
  sim.partition({old}, rest);
  REQUIRE(sim.propose(old, "lost").ok());
  for (int t = 0; t < 40; ++t) {
    sim.tick_all();
    sim.settle();
  }
  CHECK(sim.raft(old)->commit() == commit_before);
  CHECK(sim.raft(old)->role() != Role::leader);
  const NodeId fresh = sim.leader();
  REQUIRE(fresh != kNoNode);
  CHECK(fresh != old);
  REQUIRE(sim.propose(fresh, "kept").ok());
  sim.heal();
  const NodeId l = sim.stabilise(500);
  REQUIRE(l != kNoNode);
  bool lost_seen = false, kept_seen = false;
  for (const Entry& e : sim.applied(old)) {
    lost_seen = lost_seen || e.payload == Bytes{'l', 'o', 's', 't'};
    kept_seen = kept_seen || e.payload == Bytes{'k', 'e', 'p', 't'};
  }
  CHECK_FALSE(lost_seen);
  CHECK(kept_seen);
  CHECK(sim.failure().ok());
}

TEST_CASE("flapping partitions: safety holds and the cluster recovers") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Options o = scripted(5);
    o.seed = seed;
    Simulator sim(o);
    Prng prng(seed);
    for (int flap = 0; flap < 60; ++flap) {
      sim.heal();
      std::set<NodeId> a, b;
      for (NodeId id = 1; id <= 5; ++id) (prng.chance(50) ? a : b).insert(id);
      sim.partition(a, b);
      for (std::uint64_t t = 0, n = 1 + prng.below(15); t < n; ++t) {
        if (sim.leader() != kNoNode) (void)sim.propose(sim.leader(), std::to_string(flap));
        sim.tick_all();
        sim.settle();
      }
    }
    CHECK(sim.stabilise(500) != kNoNode);
    CHECK(sim.committed_count() > 10);
    CHECK_MESSAGE(sim.failure().ok(), seed);
  }
}

TEST_CASE("a restarted node does not vote twice in one term") {
  Options o = scripted(3);
  o.pre_vote = false;
  o.check_quorum = false;
  Simulator sim(o);
  sim.campaign(1);  // term 1, asks 2 and 3
  sim.settle([](Message& m) {
    return m.type == MessageType::vote && m.to == 3;  // only 3 hears, 1 never learns
  });
  REQUIRE(sim.raft(3)->vote() == 1);
  REQUIRE(sim.disk(3).hard_state().vote == 1);  // written before the answer went out
  sim.crash(3);
  sim.restart(3);
  CHECK(sim.raft(3)->term() == 1);
  CHECK(sim.raft(3)->vote() == 1);
  sim.crash(1);     // 1's own self-vote must not combine with anything
  sim.campaign(2);  // also term 1
  REQUIRE(sim.raft(2)->term() == 1);
  sim.settle();
  CHECK(sim.raft(2)->role() != Role::leader);
  CHECK(sim.leader() == kNoNode);
  sim.restart(1);
  CHECK(sim.stabilise(500) != kNoNode);
  CHECK(sim.failure().ok());
}
