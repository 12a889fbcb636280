#include "node/raft_storage.h"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>

namespace custos::node {
namespace {

using consensus::ConfState;
using consensus::Entry;
using consensus::EntryType;
using consensus::HardState;
using consensus::Snapshot;

// Layout. Family "log": "e" + be64(index) -> entry, big-endian so entries
// iterate in index order. Family "default": "hs" -> hard state; "snap" ->
// the latest snapshot; "format" -> kFormat.
//
// The entries have a family of their own because their keys only grow: a
// memtable flushed from "log" covers indexes above everything flushed
// before, so RocksDB moves the file down a level instead of rewriting the
// level, and compact() drops whole files below level 0. (The one flushed
// file that holds compact()'s range deletion starts at index 0 and is
// rewritten: once per raft.snapshot_entries.) Format 1 kept the hard state,
// written at nearly every commit, among the entries: every flushed file
// then spanned the whole key range, and every compaction rewrote every
// entry not yet compacted away, on all nodes at once (docs/perf-history.md,
// eighth session).
constexpr std::string_view kFormat = "custos-raft/2";
constexpr std::string_view kFormatOne = "custos-raft/1";  // upgraded on open
constexpr const char* kFamilies[] = {"default", "log"};
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kHardStateKey = "hs";
constexpr std::string_view kSnapshotKey = "snap";
constexpr char kEntryPrefix = 'e';

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "custos raft storage: fatal: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string entry_key(std::uint64_t index) {
  std::string k(1, kEntryPrefix);
  append_be64(k, index);
  return k;
}

// Reads what put64 and friends wrote; anything malformed is corruption.
class Reader {
 public:
  Reader(std::string_view in, const char* what) : in_(in), what_(what) {}
  std::uint64_t u64() {
    need(8);
    std::uint64_t v = read_be64(as_bytes(in_.substr(pos_)));
    pos_ += 8;
    return v;
  }
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  Bytes bytes(std::size_t n) {
    need(n);
    Bytes out(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
              in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
  }
  Bytes rest() { return bytes(in_.size() - pos_); }
  void end() const {
    if (pos_ != in_.size()) die(std::string("trailing bytes in stored ") + what_);
  }

 private:
  void need(std::size_t n) const {
    if (in_.size() - pos_ < n) die(std::string("truncated stored ") + what_);
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  const char* what_;
};

std::string encode_entry(const Entry& e) {
  std::string out;
  append_be64(out, e.term);
  out.push_back(static_cast<char>(e.type));
  out.append(e.payload.begin(), e.payload.end());
  return out;
}

Entry decode_entry(std::uint64_t index, std::string_view value) {
  Reader r(value, "entry");
  Entry e;
  e.index = index;
  e.term = r.u64();
  std::uint8_t type = r.u8();
  if (type > static_cast<std::uint8_t>(EntryType::conf_change)) die("unknown stored entry type");
  e.type = static_cast<EntryType>(type);
  e.payload = r.rest();
  return e;
}

std::string encode_hard_state(const HardState& hs) {
  std::string out;
  append_be64(out, hs.term);
  append_be64(out, hs.vote);
  append_be64(out, hs.commit);
  return out;
}

HardState decode_hard_state(std::string_view value) {
  Reader r(value, "hard state");
  HardState hs;
  hs.term = r.u64();
  hs.vote = r.u64();
  hs.commit = r.u64();
  r.end();
  return hs;
}

void put_ids(std::string& out, const std::vector<consensus::NodeId>& ids) {
  append_be64(out, ids.size());
  for (auto id : ids) append_be64(out, id);
}

std::vector<consensus::NodeId> read_ids(Reader& r) {
  std::uint64_t n = r.u64();
  if (n > 1 << 16) die("stored membership is implausibly large");
  std::vector<consensus::NodeId> ids(n);
  for (auto& id : ids) id = r.u64();
  return ids;
}

std::string encode_snapshot(const Snapshot& s) {
  std::string out;
  append_be64(out, s.meta.index);
  append_be64(out, s.meta.term);
  put_ids(out, s.meta.conf.voters);
  put_ids(out, s.meta.conf.learners);
  out.append(s.data.begin(), s.data.end());
  return out;
}

Snapshot decode_snapshot(std::string_view value) {
  Reader r(value, "snapshot");
  Snapshot s;
  s.meta.index = r.u64();
  s.meta.term = r.u64();
  s.meta.conf.voters = read_ids(r);
  s.meta.conf.learners = read_ids(r);
  s.data = r.rest();
  return s;
}

Error unavailable(std::uint64_t index) {
  return make_error("unavailable", "log index " + std::to_string(index) + " not in storage");
}

// Format 1 -> 2: copies the entries from "default" into "log" in batches
// of about kUpgradeBatchBytes (the log may hold thousands of blocks), then
// in one synced batch deletes them from "default" and stamps the format. A
// crash before that batch leaves format 1, and the next open copies again.
constexpr std::size_t kUpgradeBatchBytes = 64 << 20;

rocksdb::Status upgrade_from_format_one(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta,
                                        rocksdb::ColumnFamilyHandle* log) {
  rocksdb::WriteBatch batch;
  const std::string lo = entry_key(0);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), meta));
  for (it->Seek(lo); it->Valid() && it->key().size() == 9 && it->key()[0] == kEntryPrefix;
       it->Next()) {
    if (auto s = batch.Put(log, it->key(), it->value()); !s.ok()) return s;
    if (batch.GetDataSize() >= kUpgradeBatchBytes) {
      if (auto s = db.Write(rocksdb::WriteOptions(), &batch); !s.ok()) return s;
      batch.Clear();
    }
  }
  if (!it->status().ok()) return it->status();
  if (auto s = batch.DeleteRange(meta, lo, entry_key(UINT64_MAX)); !s.ok()) return s;
  if (auto s = batch.Put(meta, std::string(kFormatKey), std::string(kFormat)); !s.ok()) return s;
  rocksdb::WriteOptions sync;
  sync.sync = true;  // makes the unsynced copies before it durable too
  return db.Write(sync, &batch);
}

Error format_error(const std::string& dir, const std::string& format) {
  return make_error("raft_io", dir + " holds Raft log format \"" + format +
                                   "\", this build reads \"" + std::string(kFormat) + "\"");
}

// Opening creates the "log" family; a database of one family whose format
// is neither 1 nor 2 must be refused before that changes it. (A database
// without a format is a creation cut short, and is completed.)
Status refuse_unknown_single_family(const rocksdb::DBOptions& options, const std::string& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(options, dir, &names).ok() || names.size() != 1) {
    return ok_status();  // none yet, or format 2's families; DB::Open reports anything else
  }
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(options, {}), dir, &raw);
  if (!s.ok()) {
    return make_error("raft_io", "cannot open the Raft log " + dir + ": " + s.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string format;
  s = db->Get(rocksdb::ReadOptions(), std::string(kFormatKey), &format);
  if (s.IsNotFound() || (s.ok() && (format == kFormatOne || format == kFormat))) return ok_status();
  if (!s.ok()) return make_error("raft_io", dir + ": " + s.ToString());
  return format_error(dir, format);
}

}  // namespace

Result<std::unique_ptr<RaftStorage>> RaftStorage::open(const std::filesystem::path& dir) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;  // "log", on upgrading format 1
  options.keep_log_file_num = 4;
  options.max_open_files = 128;
  // "default" gets only the small hard state and snapshot writes and would
  // seldom flush on its own, keeping every write-ahead log file since its
  // last flush: past this size RocksDB flushes it and lets them go.
  options.max_total_wal_size = 32 << 20;
  rocksdb::ColumnFamilyOptions family;
  family.write_buffer_size = 8 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kFamilies) descriptors.emplace_back(name, family);
  if (auto refused = refuse_unknown_single_family(options, dir.string()); !refused) {
    return refused.error();
  }
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) return make_error("raft_io", "cannot open the Raft log " + dir.string() + ": " + s.ToString());
  std::unique_ptr<RaftStorage> storage(new RaftStorage(std::unique_ptr<rocksdb::DB>(raw), handles));
  rocksdb::DB& db = *storage->db_;
  std::string format;
  s = db.Get(rocksdb::ReadOptions(), storage->meta(), std::string(kFormatKey), &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db.Put(sync, storage->meta(), std::string(kFormatKey), std::string(kFormat));
    format = kFormat;
  } else if (s.ok() && format == kFormatOne) {
    s = upgrade_from_format_one(db, storage->meta(), storage->log());
    format = kFormat;
  }
  if (!s.ok()) return make_error("raft_io", dir.string() + ": " + s.ToString());
  if (format != kFormat) return format_error(dir.string(), format);
  storage->load();
  return storage;
}

RaftStorage::RaftStorage(std::unique_ptr<rocksdb::DB> db,
                         std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : db_(std::move(db)), handles_(std::move(handles)) {}

RaftStorage::~RaftStorage() {
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
}

void RaftStorage::load() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta(), std::string(kHardStateKey), &value);
  if (s.ok()) hard_state_ = decode_hard_state(value);
  else if (!s.IsNotFound()) die(s.ToString());
  s = db_->Get(rocksdb::ReadOptions(), meta(), std::string(kSnapshotKey), &value);
  if (s.ok()) snapshot_ = decode_snapshot(value);
  else if (!s.IsNotFound()) die(s.ToString());

  last_index_ = snapshot_.meta.index;
  last_term_ = snapshot_.meta.term;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log()));
  const std::string upper = entry_key(UINT64_MAX);
  it->SeekForPrev(upper);
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == kEntryPrefix) {
    Reader r(std::string_view(it->key().data() + 1, 8), "entry key");
    std::uint64_t index = r.u64();
    if (index > last_index_) {
      last_index_ = index;
      last_term_ = decode_entry(index, it->value().ToStringView()).term;
    }
  }
  if (!it->status().ok()) die(it->status().ToString());
}

consensus::HardState RaftStorage::hard_state() const {
  std::lock_guard lock(mu_);
  return hard_state_;
}

consensus::Snapshot RaftStorage::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

std::uint64_t RaftStorage::first_index() const {
  std::lock_guard lock(mu_);
  return snapshot_.meta.index + 1;
}

std::uint64_t RaftStorage::last_index() const {
  std::lock_guard lock(mu_);
  return last_index_;
}

Result<std::uint64_t> RaftStorage::term(std::uint64_t index) const {
  {
    std::lock_guard lock(mu_);
    if (index == snapshot_.meta.index) return snapshot_.meta.term;
    if (index < snapshot_.meta.index || index > last_index_) return unavailable(index);
    if (index == last_index_) return last_term_;
  }
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), log(), entry_key(index), &value);
  if (s.IsNotFound()) die("log entry " + std::to_string(index) + " missing inside the log");
  if (!s.ok()) die(s.ToString());
  return decode_entry(index, value).term;
}

Result<std::vector<consensus::Entry>> RaftStorage::entries(std::uint64_t lo, std::uint64_t hi,
                                                           std::uint64_t bytes_max) const {
  {
    std::lock_guard lock(mu_);
    if (lo <= snapshot_.meta.index || lo >= hi || hi > last_index_ + 1) return unavailable(lo);
  }
  std::vector<Entry> out;
  std::uint64_t bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log()));
  std::uint64_t index = lo;
  for (it->Seek(entry_key(lo)); index < hi; it->Next(), ++index) {
    if (!it->Valid() || it->key().ToStringView() != entry_key(index)) {
      if (!it->status().ok()) die(it->status().ToString());
      die("log entry " + std::to_string(index) + " missing inside the log");
    }
    Entry e = decode_entry(index, it->value().ToStringView());
    if (!out.empty() && bytes + e.payload.size() > bytes_max) break;
    bytes += e.payload.size();
    out.push_back(std::move(e));
  }
  return out;
}

bool RaftStorage::save(const std::optional<consensus::Snapshot>& snapshot,
                       const std::vector<consensus::Entry>& entries,
                       const std::optional<consensus::HardState>& hard_state) {
  if (!snapshot && entries.empty() && !hard_state) return false;
  rocksdb::WriteBatch batch;
  std::lock_guard lock(mu_);
  consensus::Snapshot new_snapshot = snapshot_;
  std::uint64_t new_last = last_index_;
  std::uint64_t new_last_term = last_term_;
  if (snapshot) {
    // A snapshot from the leader replaces the whole log (Raft hands one out
    // only when the log does not already hold its last entry).
    batch.DeleteRange(log(), entry_key(0), entry_key(std::max(new_last, snapshot->meta.index) + 1));
    new_last = snapshot->meta.index;
    new_last_term = snapshot->meta.term;
    batch.Put(meta(), std::string(kSnapshotKey), encode_snapshot(*snapshot));
    new_snapshot = *snapshot;
  }
  if (!entries.empty()) {
    std::uint64_t first = entries.front().index;
    if (first <= new_snapshot.meta.index || first > new_last + 1) {
      die("entries starting at " + std::to_string(first) + " do not follow the log ending at " +
          std::to_string(new_last));
    }
    if (first <= new_last) batch.DeleteRange(log(), entry_key(first), entry_key(new_last + 1));
    for (const Entry& e : entries) batch.Put(log(), entry_key(e.index), encode_entry(e));
    new_last = entries.back().index;
    new_last_term = entries.back().term;
  }
  if (hard_state) batch.Put(meta(), std::string(kHardStateKey), encode_hard_state(*hard_state));
  rocksdb::WriteOptions sync;
  sync.sync = snapshot || !entries.empty() || term_or_vote_differs(hard_state);
  if (auto s = db_->Write(sync, &batch); !s.ok()) die("cannot persist the Raft log: " + s.ToString());
  snapshot_ = std::move(new_snapshot);
  last_index_ = new_last;
  last_term_ = new_last_term;
  if (hard_state) hard_state_ = *hard_state;
  return sync.sync;
}

bool RaftStorage::changes_term_or_vote(
    const std::optional<consensus::HardState>& hard_state) const {
  std::lock_guard lock(mu_);
  return term_or_vote_differs(hard_state);
}

bool RaftStorage::term_or_vote_differs(
    const std::optional<consensus::HardState>& hard_state) const {
  return hard_state &&
         (hard_state->term != hard_state_.term || hard_state->vote != hard_state_.vote);
}

Status RaftStorage::compact(std::uint64_t index, const consensus::ConfState& conf, Bytes data) {
  Result<std::uint64_t> t = term(index);
  std::lock_guard lock(mu_);
  if (index <= snapshot_.meta.index || index > last_index_ || !t) {
    return make_error("stale", "cannot compact the Raft log at " + std::to_string(index));
  }
  Snapshot snap;
  snap.meta.index = index;
  snap.meta.term = *t;
  snap.meta.conf = conf;
  snap.data = std::move(data);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(log(), entry_key(0), entry_key(index + 1));
  batch.Put(meta(), std::string(kSnapshotKey), encode_snapshot(snap));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (auto s = db_->Write(sync, &batch); !s.ok()) die("cannot compact the Raft log: " + s.ToString());
  snapshot_ = std::move(snap);
  // The files that hold only entries now deleted go at once, instead of
  // waiting for a compaction to rewrite their level around the deletion.
  const std::string end = entry_key(index + 1);
  const rocksdb::Slice end_slice(end);
  // RocksDB never drops a file of level 0 this way; those are compacted
  // later. A failure here loses nothing (the compaction above is done, and
  // a later compaction reclaims the space), so it is only reported.
  if (auto s = rocksdb::DeleteFilesInRange(db_.get(), log(), nullptr, &end_slice, false); !s.ok()) {
    std::fprintf(stderr, "custos raft storage: cannot drop the Raft log's files up to %llu: %s\n",
                 static_cast<unsigned long long>(index), s.ToString().c_str());
  }
  return ok_status();
}

}  // namespace custos::node
