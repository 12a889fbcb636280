#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "node/raft_storage.h"

using namespace custos;
using namespace custos::node;
using consensus::Entry;
using consensus::EntryType;
namespace fs = std::filesystem;

namespace {

Entry entry(std::uint64_t index, std::uint64_t term, std::string payload = "") {
  return Entry{index, term, EntryType::normal, Bytes(payload.begin(), payload.end())};
}

struct TempDir {
  fs::path path = fs::temp_directory_path() /
                  ("custos-raft-storage-" + std::to_string(::getpid()) + "-" +
                   std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("an empty log, then entries and hard state that survive a reopen") {
  TempDir dir;
  {
    auto s = RaftStorage::open(dir.path);
    REQUIRE(s.ok());
    CHECK((*s)->first_index() == 1);
    CHECK((*s)->last_index() == 0);
    CHECK(*(*s)->term(0) == 0);
    CHECK((*s)->snapshot().empty());
    (*s)->save(std::nullopt, {entry(1, 1, "a"), entry(2, 1, "bb"), entry(3, 2, "ccc")},
               consensus::HardState{2, 3, 2});
  }
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  CHECK((*s)->last_index() == 3);
  CHECK(*(*s)->term(3) == 2);
  CHECK(*(*s)->term(2) == 1);
  CHECK((*s)->hard_state() == consensus::HardState{2, 3, 2});
  auto all = (*s)->entries(1, 4, UINT64_MAX);
  REQUIRE(all.ok());
  CHECK(*all == std::vector<Entry>{entry(1, 1, "a"), entry(2, 1, "bb"), entry(3, 2, "ccc")});
  // The byte limit stops early but always returns one entry.
  CHECK((*s)->entries(1, 4, 2)->size() == 1);
  CHECK((*s)->entries(1, 4, 3)->size() == 2);
  CHECK_FALSE((*s)->term(4).ok());
  CHECK_FALSE((*s)->entries(0, 2, 10).ok());
  CHECK_FALSE((*s)->entries(2, 5, 10).ok());
}

TEST_CASE("a conflicting suffix is replaced") {
  TempDir dir;
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  (*s)->save(std::nullopt, {entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)}, std::nullopt);
  (*s)->save(std::nullopt, {entry(3, 2, "new")}, std::nullopt);
  CHECK((*s)->last_index() == 3);
  CHECK(*(*s)->term(3) == 2);
  auto reopened = RaftStorage::open(dir.path);
  REQUIRE_FALSE(reopened.ok());  // the same process still holds the database lock
}

TEST_CASE("compaction keeps a snapshot and the entries after it") {
  TempDir dir;
  {
    auto s = RaftStorage::open(dir.path);
    REQUIRE(s.ok());
    (*s)->save(std::nullopt, {entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)}, std::nullopt);
    consensus::ConfState conf{{1, 2, 3}, {4}};
    REQUIRE((*s)->compact(2, conf, Bytes{'x'}).ok());
    CHECK((*s)->first_index() == 3);
    CHECK(*(*s)->term(2) == 1);
    CHECK_FALSE((*s)->term(1).ok());
    CHECK_FALSE((*s)->entries(2, 4, 100).ok());
    CHECK((*s)->entries(3, 5, 100)->size() == 2);
    CHECK((*s)->compact(2, conf, {}).error().code == "stale");
    CHECK((*s)->compact(9, conf, {}).error().code == "stale");
  }
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  CHECK((*s)->first_index() == 3);
  CHECK((*s)->last_index() == 4);
  CHECK((*s)->snapshot().meta.conf == consensus::ConfState{{1, 2, 3}, {4}});
  CHECK((*s)->snapshot().data == Bytes{'x'});
}

TEST_CASE("a snapshot from the leader replaces the whole log") {
  TempDir dir;
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  (*s)->save(std::nullopt, {entry(1, 1), entry(2, 1), entry(3, 1)}, std::nullopt);
  consensus::Snapshot snap;
  snap.meta = {10, 4, {{1, 2, 3}, {}}};
  snap.data = Bytes{'s'};
  (*s)->save(snap, {entry(11, 4)}, consensus::HardState{4, 0, 10});
  CHECK((*s)->first_index() == 11);
  CHECK((*s)->last_index() == 11);
  CHECK(*(*s)->term(10) == 4);
  CHECK_FALSE((*s)->term(3).ok());
  CHECK((*s)->hard_state().commit == 10);
}

TEST_CASE("only a commit-only change of the hard state is written without fsync") {
  TempDir dir;
  {
    auto s = RaftStorage::open(dir.path);
    REQUIRE(s.ok());
    CHECK_FALSE((*s)->save(std::nullopt, {}, std::nullopt));  // nothing to write
    CHECK((*s)->save(std::nullopt, {entry(1, 1, "a")}, consensus::HardState{1, 1, 0}));
    // The commit index alone: promised to no peer, so not synced.
    CHECK_FALSE((*s)->save(std::nullopt, {}, consensus::HardState{1, 1, 1}));
    // Entries, a new vote or a new term: synced before any message goes out.
    CHECK((*s)->save(std::nullopt, {entry(2, 1, "b")}, std::nullopt));
    CHECK((*s)->save(std::nullopt, {}, consensus::HardState{2, 0, 1}));
    CHECK((*s)->save(std::nullopt, {}, consensus::HardState{2, 3, 1}));
    CHECK_FALSE((*s)->save(std::nullopt, {}, consensus::HardState{2, 3, 2}));
  }
  // A clean reopen reads the unsynced commit back (only a crash may lose it).
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  CHECK((*s)->hard_state() == consensus::HardState{2, 3, 2});
  CHECK((*s)->last_index() == 2);
}
