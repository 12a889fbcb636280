#include <doctest/doctest.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "node/raft_storage.h"
#include "tests/test_util.h"

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

namespace {

// A database of one column family holding `keys`, as a build before
// format 2 left it.
void write_one_family(const fs::path& dir,
                      const std::vector<std::pair<std::string, std::string>>& keys) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(options, dir.string(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : keys) batch.Put(key, value);
  REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
}

std::vector<std::string> families(const fs::path& dir) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  return names;
}

std::uint64_t sst_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ".sst") total += f.file_size();
  }
  return total;
}

}  // namespace

TEST_CASE("compaction drops the files that hold only discarded entries") {
  // Without it the deleted entries stay on disk until a compaction rewrites
  // their level around the range deletion.
  TempDir dir;
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  // 64 entries of 1 MiB, not compressible: eight flushes of 8 MiB.
  std::uint64_t x = 88172645463325252u;
  auto payload = [&] {
    std::string out(1 << 20, '\0');
    for (char& c : out) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
      c = static_cast<char>(x);
    }
    return out;
  };
  std::vector<Entry> written;
  for (std::uint64_t i = 1; i <= 64; ++i) {
    written.push_back(entry(i, 1, payload()));
    (*s)->save(std::nullopt, {written.back()}, std::nullopt);
  }
  // Flushes run in the background, and so do the moves of flushed files
  // from level 0 to level 1 (RocksDB drops no file of level 0): wait
  // (bounded) for four moves, which RocksDB's own log records one by one
  // (it writes that log out every few seconds).
  auto moved = [&] {
    const std::string log = custos::testing::read_text((dir.path / "LOG").string());
    int n = 0;
    for (std::size_t at = 0; (at = log.find("Moving #", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  for (int i = 0; i < 600 && moved() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(moved() >= 4);
  REQUIRE((*s)->compact(48, consensus::ConfState{{1}, {}}, {}).ok());
  // The files of level 1 that hold only entries up to 48 go, once no flush
  // still holds the version that lists them: what stays is level 0 (at
  // most four files of eight entries) and a file holding entries after 48.
  const std::uint64_t left_max = std::uint64_t{44} << 20;
  for (int i = 0; i < 600 && sst_bytes(dir.path) > left_max; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(sst_bytes(dir.path) <= left_max);
  // Nothing after 48 went with them, and the log goes on.
  CHECK(*(*s)->term(48) == 1);
  CHECK_FALSE((*s)->term(47).ok());
  CHECK(*(*s)->entries(49, 65, UINT64_MAX) ==
        std::vector<Entry>(written.begin() + 48, written.end()));
  (*s)->save(std::nullopt, {entry(65, 2, "after")}, std::nullopt);
  CHECK(*(*s)->entries(65, 66, UINT64_MAX) == std::vector<Entry>{entry(65, 2, "after")});
}

TEST_CASE("a log of format 1 (entries beside the hard state) is moved to format 2 on open") {
  TempDir dir;
  // Format 1, as an older build wrote it: every key in one family.
  auto key = [](std::uint64_t index) {
    std::string k = "e";
    append_be64(k, index);
    return k;
  };
  auto value = [](std::uint64_t term, std::string payload) {
    std::string v;
    append_be64(v, term);
    v.push_back(static_cast<char>(EntryType::normal));
    return v + payload;
  };
  std::string hs;
  for (std::uint64_t v : {3, 2, 2}) append_be64(hs, v);  // term, vote, commit
  write_one_family(dir.path, {{"format", "custos-raft/1"},
                              {key(1), value(1, "a")},
                              {key(2), value(3, "bb")},
                              {"hs", hs}});
  for (int open = 0; open < 2; ++open) {  // the upgrade, then a plain reopen
    auto s = RaftStorage::open(dir.path);
    REQUIRE(s.ok());
    CHECK((*s)->last_index() == 2);
    CHECK(*(*s)->term(2) == 3);
    CHECK((*s)->hard_state() == consensus::HardState{3, 2, 2});
    CHECK(*(*s)->entries(1, 3, UINT64_MAX) ==
          std::vector<Entry>{entry(1, 1, "a"), entry(2, 3, "bb")});
  }
  CHECK(families(dir.path) == std::vector<std::string>{"default", "log"});
}

TEST_CASE("an upgrade cut short after the new family was made is done again on open") {
  TempDir dir;
  std::string hs;
  for (std::uint64_t v : {1, 1, 0}) append_be64(hs, v);
  std::string key = "e";
  append_be64(key, 1);
  std::string value;
  append_be64(value, 1);
  value.push_back(static_cast<char>(EntryType::normal));
  value += "a";
  write_one_family(dir.path, {{"format", "custos-raft/1"}, {key, value}, {"hs", hs}});
  {
    // What DB::Open leaves before the upgrade's batch: an empty "log".
    rocksdb::Options options;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(options, dir.path.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* log = nullptr;
    REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "log", &log).ok());
    REQUIRE(db->DestroyColumnFamilyHandle(log).ok());
  }
  auto s = RaftStorage::open(dir.path);
  REQUIRE(s.ok());
  CHECK((*s)->last_index() == 1);
  CHECK(*(*s)->entries(1, 2, UINT64_MAX) == std::vector<Entry>{entry(1, 1, "a")});
}

TEST_CASE("a log of an unknown format is refused, and left as it was") {
  TempDir dir;
  write_one_family(dir.path, {{"format", "custos-raft/9"}});
  auto s = RaftStorage::open(dir.path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "raft_io");
  CHECK(s.error().message.find("custos-raft/9") != std::string::npos);
  CHECK(families(dir.path) == std::vector<std::string>{"default"});
}
