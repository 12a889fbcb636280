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

// ---------------------------------------------------------------- conf change codec

TEST_CASE("encode/decode_conf_change round-trips every type, with and without context") {
  for (ConfChangeType type :
       {ConfChangeType::add_voter, ConfChangeType::add_learner, ConfChangeType::remove_node}) {
    for (const Bytes& context : {Bytes{}, bytes("court-replica:10.0.0.7:7100")}) {
      const ConfChange cc{type, 0x0102030405060708ULL, context};
      Result<ConfChange> back = decode_conf_change(encode_conf_change(cc));
      REQUIRE(back.ok());
      CHECK(*back == cc);
    }
  }
}

TEST_CASE("decode_conf_change refuses what encode_conf_change did not produce") {
  const Bytes good = encode_conf_change({ConfChangeType::add_learner, 4, bytes("ctx")});
  auto refused = [](const Bytes& b) {
    Result<ConfChange> r = decode_conf_change(b);
    return !r.ok() && r.error().code == "bad_conf_change";
  };
  CHECK(refused({}));
  CHECK(refused(Bytes(good.begin(), good.begin() + 13)));  // header cut short
  CHECK(refused(Bytes(good.begin(), good.end() - 1)));     // context cut short
  Bytes trailing = good;
  trailing.push_back(0);
  CHECK(refused(trailing));
  Bytes version = good;
  version[0] = 2;
  CHECK(refused(version));
  Bytes type = good;
  type[1] = 3;
  CHECK(refused(type));
  Bytes huge_length = good;
  huge_length[10] = 0xff;  // claims ~4 GiB of context
  CHECK(refused(huge_length));
}

// ---------------------------------------------------------------- MemoryStorage

TEST_CASE("MemoryStorage: compact keeps a snapshot and drops the prefix") {
  MemoryStorage disk;
  std::vector<Entry> log;
  for (std::uint64_t i = 1; i <= 5; ++i) log.push_back(Entry{i, i < 4 ? 1u : 2u, {}, {}});
  disk.append(log);
  const ConfState conf{{1, 2, 3}, {4}};
  REQUIRE(disk.compact(3, conf, bytes("state@3")).ok());
  CHECK(disk.first_index() == 4);
  CHECK(disk.last_index() == 5);
  CHECK(disk.snapshot().meta == SnapshotMeta{3, 1, conf});
  CHECK(disk.snapshot().data == bytes("state@3"));
  CHECK(*disk.term(3) == 1);  // the snapshot's term
  CHECK(*disk.term(5) == 2);
  CHECK(disk.term(2).error().code == "unavailable");
  CHECK(disk.term(0).error().code == "unavailable");
  CHECK(disk.entries(3, 5, UINT64_MAX).error().code == "unavailable");
  REQUIRE(disk.entries(4, 6, UINT64_MAX).ok());
  CHECK(disk.entries(4, 6, UINT64_MAX)->size() == 2);
  CHECK(disk.compact(3, conf, {}).error().code == "stale");
  CHECK(disk.compact(2, conf, {}).error().code == "stale");
  CHECK(disk.compact(6, conf, {}).error().code == "unavailable");
  REQUIRE(disk.compact(5, conf, {}).ok());  // everything
  CHECK(disk.first_index() == 6);
  CHECK(disk.last_index() == 5);
  disk.append({Entry{6, 2, EntryType::normal, bytes("x")}});
  CHECK(disk.last_index() == 6);
}

TEST_CASE("MemoryStorage: apply_snapshot replaces the whole log") {
  MemoryStorage disk;
  disk.append({Entry{1, 1, {}, {}}, Entry{2, 1, {}, {}}});
  disk.apply_snapshot(Snapshot{SnapshotMeta{10, 3, ConfState{{1}, {}}}, bytes("s")});
  CHECK(disk.first_index() == 11);
  CHECK(disk.last_index() == 10);
  CHECK(*disk.term(10) == 3);
  CHECK(disk.term(2).error().code == "unavailable");
  disk.append({Entry{11, 3, {}, {}}});
  CHECK(disk.last_index() == 11);
}

// ---------------------------------------------------------------- membership

namespace {

// A single-voter leader: proposals commit as soon as they are persisted.
void elect_alone(Raft& r, MemoryStorage& disk) {
  r.campaign();
  REQUIRE(r.role() == Role::leader);
  persist(r, disk);
}

// Writes and applies Readies until nothing is pending; returns all messages.
std::vector<Message> drain(Raft& r, MemoryStorage& disk) {
  std::vector<Message> out;
  while (r.has_ready()) {
    Ready rd = persist(r, disk);
    out.insert(out.end(), rd.messages.begin(), rd.messages.end());
  }
  return out;
}

}  // namespace

TEST_CASE("propose_conf_change refuses invalid changes with bad_conf_change") {
  MemoryStorage disk;
  Config c = config(1, {1});
  c.learners = {5};
  Raft r(c, &disk);
  elect_alone(r, disk);
  auto code = [&](ConfChangeType t, NodeId n) {
    Status s = r.propose_conf_change({t, n, {}});
    return s.ok() ? std::string("ok") : s.error().code;
  };
  CHECK(code(ConfChangeType::add_voter, 1) == "bad_conf_change");    // already a voter
  CHECK(code(ConfChangeType::add_learner, 5) == "bad_conf_change");  // already a learner
  CHECK(code(ConfChangeType::add_learner, 1) == "bad_conf_change");  // no demotion
  CHECK(code(ConfChangeType::remove_node, 9) == "bad_conf_change");  // not a member
  CHECK(code(ConfChangeType::remove_node, 1) == "bad_conf_change");  // the last voter
  CHECK(code(ConfChangeType::add_voter, kNoNode) == "bad_conf_change");
  CHECK_FALSE(r.has_ready());  // nothing was appended
}

TEST_CASE("one conf change at a time; it takes effect when applied") {
  MemoryStorage disk;
  Raft r(config(1, {1}), &disk);
  elect_alone(r, disk);
  REQUIRE(r.propose_conf_change({ConfChangeType::add_learner, 2, bytes("addr")}).ok());
  CHECK(r.propose_conf_change({ConfChangeType::add_learner, 3, {}}).error().code ==
        "conf_change_pending");
  CHECK(r.conf_state().learners.empty());  // committed on persist, not yet applied
  Ready rd = persist(r, disk);
  REQUIRE(rd.committed_entries.size() == 1);
  CHECK(rd.committed_entries[0].type == EntryType::conf_change);
  CHECK(r.conf_state() == ConfState{{1}, {2}});
  REQUIRE(r.progress(2) != nullptr);  // the leader now replicates to it
  REQUIRE(r.propose_conf_change({ConfChangeType::add_voter, 2, {}}).ok());  // promote
  drain(r, disk);
  // Two voters now: the leader alone no longer commits.
  CHECK(r.conf_state() == ConfState{{1, 2}, {}});
  const std::uint64_t commit = r.commit();
  REQUIRE(r.propose(bytes("x")).ok());
  drain(r, disk);
  CHECK(r.commit() == commit);
}

TEST_CASE("a follower on a proposal hint; a leader proposing during a transfer") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  CHECK(r.propose_conf_change({ConfChangeType::add_learner, 4, {}}).error().code == "not_leader");
  CHECK(r.transfer_leadership(3).error().code == "not_leader");
  CHECK(r.read_index(bytes("r1")).error().code == "not_leader");  // no leader known
}

TEST_CASE("a learner never campaigns, and a node outside the membership neither") {
  for (bool learner : {true, false}) {
    MemoryStorage disk;
    Config c = config(4, {1, 2, 3});
    if (learner) c.learners = {4};
    Raft r(c, &disk);
    CHECK(r.is_learner() == learner);
    for (int i = 0; i < 100; ++i) {
      r.tick();
      drain(r, disk);
    }
    r.campaign();
    CHECK(r.role() == Role::follower);
    CHECK(r.term() == 0);
    CHECK_FALSE(r.has_ready());
  }
}

TEST_CASE("a restart rebuilds the membership from the snapshot and the applied log") {
  MemoryStorage disk;
  {
    Raft r(config(1, {1}), &disk);
    elect_alone(r, disk);
    REQUIRE(r.propose_conf_change({ConfChangeType::add_learner, 2, {}}).ok());
    drain(r, disk);
    REQUIRE(disk.compact(r.applied(), r.conf_state(), bytes("sm")).ok());
    REQUIRE(r.propose_conf_change({ConfChangeType::add_learner, 3, {}}).ok());
    drain(r, disk);
    REQUIRE(r.propose_conf_change({ConfChangeType::remove_node, 2, {}}).ok());
    drain(r, disk);
    CHECK(r.conf_state() == ConfState{{1}, {3}});
  }
  // The state machine applied everything: conf changes up to applied count.
  Config c = config(1, {1});
  c.applied = disk.last_index();
  Raft all(c, &disk);
  CHECK(all.conf_state() == ConfState{{1}, {3}});
  // It applied only the snapshot: the later changes take effect when applied again.
  Raft fresh(config(1, {1}), &disk);
  CHECK(fresh.conf_state() == ConfState{{1}, {2}});
  CHECK(fresh.applied() == disk.snapshot().meta.index);
  drain(fresh, disk);
  CHECK(fresh.conf_state() == ConfState{{1}, {3}});
}

// ---------------------------------------------------------------- snapshots

TEST_CASE("a follower behind a snapshot installs it: Ready::snapshot, commit, membership") {
  MemoryStorage disk;
  Raft r(config(4, {1, 2, 3}), &disk);  // a new node, not yet a member
  const Snapshot snap{SnapshotMeta{20, 3, ConfState{{1, 2, 3}, {4}}}, bytes("state@20")};
  r.step(Message{.type = MessageType::snapshot, .from = 1, .to = 4, .term = 3, .snapshot = snap});
  CHECK(r.commit() == 20);
  CHECK(r.last_index() == 20);
  CHECK(r.first_index() == 21);
  CHECK(r.entry_term(20) == 3);
  CHECK(r.is_learner());
  Ready rd = r.ready();
  REQUIRE(rd.snapshot);
  CHECK(*rd.snapshot == snap);
  CHECK(rd.committed_entries.empty());  // the state machine restores from the snapshot
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].type == MessageType::append_response);
  CHECK(rd.messages[0].index == 20);
  CHECK_FALSE(rd.messages[0].reject);
  disk.apply_snapshot(*rd.snapshot);
  disk.set_hard_state(*rd.hard_state);
  r.advance(rd);
  CHECK(r.applied() == 20);
  CHECK_FALSE(r.has_ready());
  // Replication continues after it.
  r.step(Message{.type = MessageType::append,
                 .from = 1,
                 .to = 4,
                 .term = 3,
                 .index = 20,
                 .log_term = 3,
                 .commit = 21,
                 .entries = {Entry{21, 3, EntryType::normal, bytes("x")}}});
  rd = persist(r, disk);
  REQUIRE(rd.committed_entries.size() == 1);
  CHECK(rd.committed_entries[0].index == 21);
  // A stale copy of the snapshot changes nothing and is acknowledged.
  r.step(Message{.type = MessageType::snapshot, .from = 1, .to = 4, .term = 3, .snapshot = snap});
  rd = persist(r, disk);
  CHECK_FALSE(rd.snapshot);
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].index == 21);
}

TEST_CASE("a snapshot whose last entry the follower holds only moves its commit") {
  MemoryStorage disk;
  Raft r(config(2, {1, 2, 3}), &disk);
  std::vector<Entry> ents;
  for (std::uint64_t i = 1; i <= 5; ++i) ents.push_back(Entry{i, 1, EntryType::normal, {}});
  r.step(Message{.type = MessageType::append, .from = 1, .to = 2, .term = 1, .entries = ents});
  persist(r, disk);
  REQUIRE(r.commit() == 0);
  r.step(Message{.type = MessageType::snapshot,
                 .from = 1,
                 .to = 2,
                 .term = 1,
                 .snapshot = Snapshot{SnapshotMeta{3, 1, ConfState{{1, 2, 3}, {}}}, {}}});
  CHECK(r.commit() == 3);
  CHECK(r.last_index() == 5);
  Ready rd = persist(r, disk);
  CHECK_FALSE(rd.snapshot);
  CHECK(rd.committed_entries.size() == 3);
}

TEST_CASE("the leader sends its snapshot to a follower that needs compacted entries") {
  MemoryStorage disk;
  Config c = config(1, {1, 2, 3});
  Raft r(c, &disk);
  elect_node1(r, disk);
  persist(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 1});
  for (int i = 0; i < 5; ++i) REQUIRE(r.propose(bytes("e")).ok());
  drain(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 6});
  drain(r, disk);
  REQUIRE(r.applied() == 6);
  REQUIRE(disk.compact(6, r.conf_state(), bytes("sm@6")).ok());
  // Follower 3 has nothing and was never answered; its heartbeat answer
  // makes the leader probe again, from index 1, which is compacted.
  REQUIRE(r.progress(3)->next == 1);
  r.step(Message{.type = MessageType::heartbeat_response, .from = 3, .to = 1, .term = 1});
  Ready rd = persist(r, disk);
  const Message* snap = nullptr;
  for (const Message& m : rd.messages) {
    if (m.to == 3) snap = &m;
  }
  REQUIRE(snap != nullptr);
  REQUIRE(snap->type == MessageType::snapshot);
  REQUIRE(snap->snapshot);
  CHECK(snap->snapshot->meta.index == 6);
  CHECK(snap->snapshot->data == bytes("sm@6"));
  CHECK(r.progress(3)->state == Progress::State::snapshot);
  // Nothing else goes to it until it answers...
  REQUIRE(r.propose(bytes("f")).ok());
  for (const Message& m : persist(r, disk).messages) CHECK(m.to != 3);
  // ... and its acknowledgement resumes replication after the snapshot.
  r.step(Message{.type = MessageType::append_response, .from = 3, .to = 1, .term = 1, .index = 6});
  CHECK(r.progress(3)->state == Progress::State::replicate);
  CHECK(r.progress(3)->match == 6);
  rd = persist(r, disk);
  bool appended = false;
  for (const Message& m : rd.messages) {
    appended = appended || (m.to == 3 && m.type == MessageType::append && m.index == 6);
  }
  CHECK(appended);
}

// ---------------------------------------------------------------- reads and transfer

TEST_CASE("ReadIndex on a single voter answers at once with the commit index") {
  MemoryStorage disk;
  Raft r(config(1, {1}), &disk);
  elect_alone(r, disk);
  REQUIRE(r.read_index(bytes("req-1")).ok());
  Ready rd = persist(r, disk);
  REQUIRE(rd.read_states.size() == 1);
  CHECK(rd.read_states[0] == ReadState{r.commit(), bytes("req-1")});
}

TEST_CASE("ReadIndex waits for a quorum of heartbeat answers carrying its round") {
  MemoryStorage disk;
  Raft r(config(1, {1, 2, 3}), &disk);
  elect_node1(r, disk);
  persist(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 1});
  REQUIRE(r.commit() == 1);  // the no-op: this term has a commit
  drain(r, disk);
  REQUIRE(r.read_index(bytes("q")).ok());
  Ready rd = persist(r, disk);
  CHECK(rd.read_states.empty());
  Bytes round;
  for (const Message& m : rd.messages) {
    if (m.type == MessageType::heartbeat && m.to == 3) round = m.context;
  }
  REQUIRE(!round.empty());
  // An answer without the round (an older heartbeat) confirms nothing.
  r.step(Message{.type = MessageType::heartbeat_response, .from = 3, .to = 1, .term = 1});
  CHECK(persist(r, disk).read_states.empty());
  r.step(Message{
      .type = MessageType::heartbeat_response, .from = 3, .to = 1, .term = 1, .context = round});
  rd = persist(r, disk);
  REQUIRE(rd.read_states.size() == 1);
  CHECK(rd.read_states[0] == ReadState{1, bytes("q")});
}

TEST_CASE("leadership transfer: errors, proposals refused meanwhile, abort after a timeout") {
  MemoryStorage disk;
  Config c = config(1, {1, 2, 3});
  c.learners = {4};
  Raft r(c, &disk);
  elect_node1(r, disk);
  persist(r, disk);
  CHECK(r.transfer_leadership(1).error().code == "bad_transferee");
  CHECK(r.transfer_leadership(4).error().code == "bad_transferee");  // a learner
  CHECK(r.transfer_leadership(9).error().code == "bad_transferee");
  REQUIRE(r.transfer_leadership(3).ok());  // 3 lags: it is caught up first
  CHECK(r.propose(bytes("x")).error().code == "transfer_in_progress");
  CHECK(r.propose_conf_change({ConfChangeType::remove_node, 4, {}}).error().code ==
        "transfer_in_progress");
  // Node 3 catches up: timeout_now goes out.
  persist(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 3, .to = 1, .term = 1, .index = 1});
  bool timeout_now = false;
  for (const Message& m : persist(r, disk).messages) {
    timeout_now = timeout_now || (m.type == MessageType::timeout_now && m.to == 3);
  }
  CHECK(timeout_now);
  // Node 3 never takes over: after an election timeout the leader goes on.
  r.step(Message{.type = MessageType::heartbeat_response, .from = 2, .to = 1, .term = 1});
  tick_n(r, 10);
  CHECK(r.role() == Role::leader);
  CHECK(r.propose(bytes("x")).ok());
}

TEST_CASE("timeout_now: the transferee campaigns at once, past the other voters' lease") {
  MemoryStorage disk2, disk3;
  Raft n2(config(2, {1, 2, 3}), &disk2);
  Raft n3(config(3, {1, 2, 3}), &disk3);
  // Both heard leader 1 of term 1 just now.
  for (Raft* r : {&n2, &n3}) {
    r->step(Message{.type = MessageType::heartbeat, .from = 1, .to = r->id(), .term = 1});
  }
  drain(n2, disk2);
  drain(n3, disk3);
  n3.step(Message{.type = MessageType::timeout_now, .from = 1, .to = 3, .term = 1});
  CHECK(n3.role() == Role::candidate);  // no PreVote round
  CHECK(n3.term() == 2);
  Message vote;
  for (const Message& m : drain(n3, disk3)) {
    if (m.type == MessageType::vote && m.to == 2) vote = m;
  }
  REQUIRE(vote.type == MessageType::vote);
  n2.step(vote);
  CHECK(n2.term() == 2);
  CHECK(n2.vote() == 3);
  // The same vote without the transfer context is ignored under the lease.
  MemoryStorage disk2b;
  Raft n2b(config(2, {1, 2, 3}), &disk2b);
  n2b.step(Message{.type = MessageType::heartbeat, .from = 1, .to = 2, .term = 1});
  vote.context.clear();
  n2b.step(vote);
  CHECK(n2b.term() == 1);
}

TEST_CASE("a lost last append is resent once a heartbeat answer says it is missing") {
  MemoryStorage disk;
  Raft r(config(1, {1, 2, 3}), &disk);
  elect_node1(r, disk);
  persist(r, disk);
  r.step(Message{.type = MessageType::append_response, .from = 2, .to = 1, .term = 1, .index = 1});
  persist(r, disk);
  REQUIRE(r.progress(2)->state == Progress::State::replicate);
  REQUIRE(r.propose(bytes("lost")).ok());
  persist(r, disk);  // the append to 2 is sent... and lost
  tick_n(r, 1);      // heartbeat_ticks = 1
  Ready rd = persist(r, disk);
  const Message* hb = nullptr;
  for (const Message& m : rd.messages) {
    if (m.type == MessageType::heartbeat && m.to == 2) hb = &m;
  }
  REQUIRE(hb != nullptr);
  CHECK(hb->index == 2);  // the last entry sent to 2
  CHECK(hb->log_term == 1);
  // Follower 2 only has the no-op: it says so.
  MemoryStorage disk2;
  Raft f(config(2, {1, 2, 3}), &disk2);
  f.step(Message{.type = MessageType::append,
                 .from = 1,
                 .to = 2,
                 .term = 1,
                 .entries = {Entry{1, 1, EntryType::noop, {}}}});
  persist(f, disk2);
  f.step(*hb);
  rd = persist(f, disk2);
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject);
  r.step(rd.messages[0]);
  bool resent = false;
  for (const Message& m : persist(r, disk).messages) {
    resent = resent || (m.type == MessageType::append && m.to == 2 && !m.entries.empty() &&
                        m.entries.back().payload == bytes("lost"));
  }
  CHECK(resent);
}
