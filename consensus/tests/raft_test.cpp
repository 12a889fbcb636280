// Behaviours of one Raft object, driven by hand-made messages.
#include <doctest/doctest.h>

#include "consensus/raft.h"

using namespace custos;
using namespace custos::consensus;

namespace {

Config config(NodeId id, std::vector<NodeId> voters) {
  Config c;
  c.id = id;
  c.voters = std::move(voters);
  c.seed = 7;
  return c;
}

// Writes a Ready to `disk` the way a node must, and returns it.
Ready persist(Raft& r, MemoryStorage& disk) {
  Ready rd = r.ready();
  disk.append(rd.entries);
  if (rd.hard_state) disk.set_hard_state(*rd.hard_state);
  r.advance(rd);
  return rd;
}

void tick_n(Raft& r, int n) {
  for (int i = 0; i < n; ++i) r.tick();
}

Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// Makes node 1 of {1,2,3} leader of term 1 and drains its Ready.
void elect_node1(Raft& r, MemoryStorage& disk) {
  r.campaign();  // pre-vote first
  persist(r, disk);
  r.step(Message{.type = MessageType::prevote_response, .from = 2, .to = 1, .term = 1});
  REQUIRE(r.role() == Role::candidate);
  persist(r, disk);
  r.step(Message{.type = MessageType::vote_response, .from = 2, .to = 1, .term = 1});
  REQUIRE(r.role() == Role::leader);
}

}  // namespace

TEST_CASE("a single node elects itself, commits its no-op and then proposals") {
  MemoryStorage disk;
  Raft r(config(1, {1}), &disk);
  CHECK(r.role() == Role::follower);
  tick_n(r, 20);  // the randomised timeout is below 2 * election_ticks
  REQUIRE(r.role() == Role::leader);
  CHECK(r.term() == 1);
  REQUIRE(r.propose(bytes("x")).ok());
  Ready rd = persist(r, disk);
  REQUIRE(rd.hard_state);
  CHECK(rd.hard_state->commit == 2);
  REQUIRE(rd.committed_entries.size() == 2);
  CHECK(rd.committed_entries[0].type == EntryType::noop);
  CHECK(rd.committed_entries[1].payload == bytes("x"));
  CHECK(disk.last_index() == 2);
  CHECK_FALSE(r.has_ready());
}

TEST_CASE("propose on a follower is refused with the leader hint") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  Status s = r.propose(bytes("x"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "not_leader");
  CHECK(s.error().message == "unknown");
  r.step(Message{.type = MessageType::heartbeat, .from = 1, .to = 2, .term = 1});
  s = r.propose(bytes("x"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "1");
}

TEST_CASE("an oversized proposal is refused") {
  MemoryStorage disk;
  Config c = config(1, {1});
  c.entry_bytes_max = 4;
  Raft r(c, &disk);
  r.campaign();
  REQUIRE(r.role() == Role::leader);
  Status s = r.propose(Bytes(5, 0));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "entry_too_large");
  CHECK(r.propose(Bytes(4, 0)).ok());
}

TEST_CASE("a vote is in the hard state of the same Ready as its answer") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  r.step(Message{.type = MessageType::vote, .from = 1, .to = 2, .term = 1});
  Ready rd = r.ready();
  REQUIRE(rd.hard_state);
  CHECK(rd.hard_state->vote == 1);
  CHECK(rd.hard_state->term == 1);
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].type == MessageType::vote_response);
  CHECK_FALSE(rd.messages[0].reject);
  r.advance(rd);
  // A second candidate in the same term is refused.
  r.step(Message{.type = MessageType::vote, .from = 3, .to = 2, .term = 1});
  rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject);
  r.advance(rd);
}

TEST_CASE("a candidate with a shorter log is refused") {
  MemoryStorage disk;
  disk.append({Entry{1, 1, EntryType::noop, {}}, Entry{2, 1, EntryType::normal, bytes("a")}});
  disk.set_hard_state({1, kNoNode, 0});
  Raft r(config(2, {1, 2, 3}), &disk);
  r.step(
      Message{.type = MessageType::vote, .from = 1, .to = 2, .term = 2, .index = 1, .log_term = 1});
  Ready rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject);
  CHECK(r.vote() == kNoNode);
  r.advance(rd);
}

TEST_CASE("PreVote: an isolated node does not inflate its term") {
  MemoryStorage disk;
  Raft r(config(1, {1, 2, 3}), &disk);
  for (int i = 0; i < 200; ++i) {
    r.tick();
    if (r.has_ready()) persist(r, disk);  // its pre-votes are lost
  }
  CHECK(r.term() == 0);
  CHECK(r.role() == Role::pre_candidate);
}

TEST_CASE("PreVote: a pre-vote request changes nothing on the receiver") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  r.step(Message{.type = MessageType::prevote, .from = 1, .to = 2, .term = 1});
  CHECK(r.term() == 0);
  CHECK(r.vote() == kNoNode);
  Ready rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].type == MessageType::prevote_response);
  CHECK(rd.messages[0].term == 1);
  CHECK_FALSE(rd.messages[0].reject);
  CHECK_FALSE(rd.hard_state);
  r.advance(rd);
}

TEST_CASE("leader lease: a follower that just heard its leader ignores a higher-term vote") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  r.step(Message{.type = MessageType::heartbeat, .from = 1, .to = 2, .term = 1});
  persist(r, disk);
  r.step(Message{.type = MessageType::vote, .from = 3, .to = 2, .term = 5});
  CHECK(r.term() == 1);
  CHECK(r.leader() == 1);
  CHECK(r.ready().messages.empty());
}

TEST_CASE("CheckQuorum: a leader that hears from nobody steps down") {
  MemoryStorage disk;
  Raft r(config(1, {1, 2, 3}), &disk);
  elect_node1(r, disk);
  persist(r, disk);
  tick_n(r, 10);  // first round: everyone counts as active once
  CHECK(r.role() == Role::leader);
  tick_n(r, 10);
  CHECK(r.role() == Role::follower);
  CHECK(r.term() == 1);
}

TEST_CASE("flow control: at most inflight_msgs_max appends await an answer") {
  MemoryStorage disk;
  Config c = config(1, {1, 2, 3});
  c.inflight_msgs_max = 2;
  c.msg_bytes_max = 1;  // one entry per message
  Raft r(c, &disk);
  elect_node1(r, disk);
  persist(r, disk);
  // Follower 2 acknowledges the no-op, which switches it to replicate state.
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 1});
  persist(r, disk);
  for (int i = 0; i < 10; ++i) REQUIRE(r.propose(bytes("e")).ok());
  Ready rd = persist(r, disk);
  std::size_t to2 = 0;
  for (const Message& m : rd.messages) {
    if (m.type == MessageType::append && m.to == 2) {
      ++to2;
      CHECK(m.entries.size() == 1);
    }
  }
  CHECK(to2 == 2);
  REQUIRE(r.progress(2) != nullptr);
  CHECK(r.progress(2)->inflight.size() == 2);
  // An acknowledgement frees the window and the pipeline refills.
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 3});
  rd = persist(r, disk);
  to2 = 0;
  for (const Message& m : rd.messages) to2 += m.type == MessageType::append && m.to == 2;
  CHECK(to2 == 2);
  CHECK(r.commit() == 3);  // leader + follower 2 hold index 3 of term 1
}

TEST_CASE("batching: an append carries several entries up to msg_bytes_max") {
  MemoryStorage disk;
  Config c = config(1, {1, 2, 3});
  c.msg_bytes_max = 10;
  Raft r(c, &disk);
  elect_node1(r, disk);
  persist(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 1});
  persist(r, disk);
  // Follower 3 is probed (one message, then silence), so proposals pile up
  // and go out together when the probe is answered.
  r.step(Message{.type = MessageType::append_response,
                 .from = 3,
                 .to = 1,
                 .term = 1,
                 .index = 0,
                 .reject = true,
                 .reject_hint = 0});
  Ready rd = persist(r, disk);
  for (int i = 0; i < 6; ++i) REQUIRE(r.propose(Bytes(4, 'a')).ok());
  persist(r, disk);
  r.step(Message{.type = MessageType::heartbeat_response, .from = 3, .to = 1, .term = 1});
  rd = persist(r, disk);
  bool batched = false;
  for (const Message& m : rd.messages) {
    if (m.type != MessageType::append || m.to != 3) continue;
    std::uint64_t b = 0;
    for (const Entry& e : m.entries) b += e.payload.size();
    CHECK((b <= 10 || m.entries.size() == 1));
    batched = batched || m.entries.size() > 1;
  }
  CHECK(batched);
}

TEST_CASE("fast backtracking: a rejection names where the follower's log may match") {
  MemoryStorage disk;
  std::vector<Entry> log;
  for (std::uint64_t i = 1; i <= 3; ++i) log.push_back(Entry{i, 1, EntryType::normal, {}});
  for (std::uint64_t i = 4; i <= 50; ++i) log.push_back(Entry{i, 2, EntryType::normal, {}});
  disk.append(log);
  disk.set_hard_state({2, kNoNode, 3});
  Raft r(config(2, {1, 2, 3}), &disk);
  // A term-3 leader whose log diverged after index 3 probes at index 60.
  r.step(Message{
      .type = MessageType::append, .from = 1, .to = 2, .term = 3, .index = 60, .log_term = 3});
  Ready rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  const Message& m = rd.messages[0];
  CHECK(m.reject);
  CHECK(m.reject_hint == 50);  // our last index: nothing after it can match
  CHECK(m.log_term == 2);
  r.advance(rd);
  // Probing at (50, term 3): every term-2 entry is skipped in one step.
  r.step(Message{
      .type = MessageType::append, .from = 1, .to = 2, .term = 3, .index = 50, .log_term = 3});
  rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject_hint == 50);
  CHECK(rd.messages[0].log_term == 2);
  r.advance(rd);
  r.step(Message{
      .type = MessageType::append, .from = 1, .to = 2, .term = 3, .index = 10, .log_term = 1});
  rd = r.ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject_hint == 3);
  CHECK(rd.messages[0].log_term == 1);
  r.advance(rd);
}

TEST_CASE("a follower truncates a conflicting uncommitted suffix but keeps newer entries") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  const Entry e1{1, 1, EntryType::noop, {}};
  const Entry e2{2, 1, EntryType::normal, bytes("a")};
  const Entry e3{3, 1, EntryType::normal, bytes("b")};
  r.step(
      Message{.type = MessageType::append, .from = 1, .to = 2, .term = 1, .entries = {e1, e2, e3}});
  persist(r, disk);
  // A delayed, shorter copy of the same append must not cut off index 3.
  r.step(Message{.type = MessageType::append, .from = 1, .to = 2, .term = 1, .entries = {e1}});
  persist(r, disk);
  CHECK(r.last_index() == 3);
  // A new leader's conflicting entry at 2 replaces 2 and 3.
  const Entry f2{2, 2, EntryType::noop, {}};
  r.step(Message{.type = MessageType::append,
                 .from = 3,
                 .to = 2,
                 .term = 2,
                 .index = 1,
                 .log_term = 1,
                 .entries = {f2}});
  persist(r, disk);
  CHECK(r.last_index() == 2);
  CHECK(disk.last_index() == 2);
  CHECK(*disk.term(2) == 2);
}

TEST_CASE("restart restores term, vote, commit and log from storage") {
  MemoryStorage disk;
  {
    Raft r(config(1, {1}), &disk);
    r.campaign();
    REQUIRE(r.propose(bytes("x")).ok());
    persist(r, disk);
  }
  Raft again(config(1, {1}), &disk);
  CHECK(again.term() == 1);
  CHECK(again.vote() == 1);
  CHECK(again.commit() == 2);
  CHECK(again.last_index() == 2);
  CHECK(again.role() == Role::follower);
  // Committed entries are handed out again for a state machine that starts empty.
  Ready rd = persist(again, disk);
  CHECK(rd.committed_entries.size() == 2);
}
