// The RocksDB implementation of Ledger. Key layout and guarantees: README.md.
//
// Atomicity for readers. Every public read is one Get or one iterator,
// except block() (a Get of the header, then an iterator over the block's
// transactions) and block_tx() (two Gets), which read records that are
// written in one batch with the header and never rewritten. RocksDB gives
// each Get or iterator a single sequence number to read at, and it publishes
// a WriteBatch's sequence numbers only after the whole batch is in the
// memtable (true with the default DBOptions: unordered_write and
// two_write_queues off, which we never change). Since write_staged() writes a
// block and all of its effects in one batch, any single read sees either all
// of a block or none of it, with no explicit snapshot. A caller that makes
// several reads can see a later block in the second one, but because blocks
// are append-only, head() followed by block(head->height) always succeeds.
//
// What aborts. Bad data *read back* from the database is corruption, and an
// I/O error on a read cannot be reported through the read API without being
// mistaken for "absent", which would let state silently diverge; both stop
// the process. Caller bugs in stage_block() (a history key holding 0x00, a
// gap in a key's history seqs, a value that is not canonical JSON, a block
// that would not parse back) also abort: the node's executor and consensus
// guarantee them, so a violation is a broken invariant, not bad input.
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <system_error>
#include <thread>

#include "core/merkle.h"
#include "core/merkle_log.h"
#include "core/smt.h"
#include "ledger/ledger.h"
#include "ledger/smt_top.h"

namespace custos::ledger {
namespace {

// The on-disk layout version, kept in meta under kFormatKey. Bump it on any
// change to the key layout or record encodings.
// 2: the transaction log (mlog, txlog), the state map (smt), roots in the
// head and per height, log_index in tx records.
// 3: node signatures of heads (head_sigs); and the chaincode's records
// changed under the same keys: every identity record carries its event
// chain (event_count, head_event_hash), identity/<id> and "nodes" histories
// exist, node records keep their key history. This build's chaincode reads
// those members, so format-2 state would stop it, and the format-2 blocks'
// results hashes no longer match what this build computes for them.
// 4: interior nodes of the state map above kSmtTopDepth are no longer
// stored (kept in memory, rebuilt on open; see SmtTop); a block is stored as
// its header under BE8(height) and each transaction under BE8(height)
// BE4(index), instead of whole under BE8(height). Format 3's records read
// the same way (the block reads take a whole block where they find one),
// so open() upgrades a format-3 ledger, once its rebuilt top checks out, by
// deleting its upper interior state map nodes and stamping the format in
// one batch; a format-3 build would misread a format-4 ledger, and refuses
// it.
constexpr std::string_view kFormat = "custos-ledger/4";
constexpr std::string_view kFormatUpgradable = "custos-ledger/3";

constexpr std::size_t kWriteBufferBytes = 8u << 20;       // per column family
constexpr std::size_t kAllWriteBuffersBytes = 48u << 20;  // flush before exceeding
constexpr int kBloomBitsPerKey = 10;
constexpr int kOpenFilesMax = 512;
constexpr std::size_t kInfoLogFilesKept = 4;
constexpr int kSettlePollMs = 20;
// Nodes read per batch when loading the log's cached levels on open.
constexpr std::size_t kLogLoadBatchNodes = 65536;

// Column family order in handles_; kDefault exists only because RocksDB
// requires it.
enum Cf : std::size_t {
  kDefault,
  kBlocks,
  kTxs,
  kState,
  kHistory,
  kMeta,
  kMlog,
  kTxlog,
  kSmt,
  kHeadSigs,
  kCfCount
};
constexpr const char* kCfNames[kCfCount] = {"default", "blocks", "txs",   "state", "history",
                                            "meta",    "mlog",   "txlog", "smt",   "head_sigs"};

// Internal meta keys. User names from put_meta() live under kUserMetaPrefix
// so that no name a caller picks can overwrite the head or a results hash.
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kHeadKey = "head";
constexpr std::string_view kResultsPrefix = "results/";
constexpr std::string_view kRootsPrefix = "roots/";
constexpr std::string_view kUserMetaPrefix = "user/";

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "custos ledger: fatal: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

// Big-endian so that byte order is numeric order: blocks and history seqs
// iterate oldest first.
std::string be64(std::uint64_t v) {
  std::string out;
  append_be64(out, v);
  return out;
}

// The key of transaction `index` of the block at `height` in the blocks
// family: right after the block's own key (its header), in index order.
std::string block_tx_key(std::uint64_t height, std::size_t index) {
  std::string out = be64(height);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((index >> shift) & 0xff));
  }
  return out;
}

std::uint64_t from_be64(std::string_view s) {
  if (s.size() != 8) die("stored 8-byte integer has " + std::to_string(s.size()) + " bytes");
  return read_be64(as_bytes(s));
}

std::string results_key(std::uint64_t height) {
  return std::string(kResultsPrefix) + be64(height);
}

std::string roots_key(std::uint64_t height) {
  return std::string(kRootsPrefix) + be64(height);
}

// Level byte, then the index: one level's nodes are contiguous and in order.
std::string mlog_key(std::uint32_t level, std::uint64_t index) {
  return static_cast<char>(level) + be64(index);
}

std::string to_string(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string_view raw(const Hash256& h) {
  return {reinterpret_cast<const char*>(h.bytes.data()), h.bytes.size()};
}

Hash256 hash_from_raw(std::string_view bytes, const std::string& what) {
  if (bytes.size() != 32) die("corrupt " + what + ": " + std::to_string(bytes.size()) + " bytes");
  return Hash256::from_bytes(as_bytes(bytes));
}

// roots/BE8(height): BE8(log_size) || log_root || state_root, 72 bytes.
std::string encode_roots(const ChainRoots& r) {
  return be64(r.log_size) + std::string(raw(r.log_root)) + std::string(raw(r.state_root));
}

ChainRoots decode_roots(std::string_view bytes, const std::string& what) {
  if (bytes.size() != 72) die("corrupt " + what + ": " + std::to_string(bytes.size()) + " bytes");
  return {from_be64(bytes.substr(0, 8)), hash_from_raw(bytes.substr(8, 32), what),
          hash_from_raw(bytes.substr(40, 32), what)};
}

// key + 0x00 is the prefix of all of key's events. As no key holds 0x00, the
// prefix of "item/E-1" can never match an event of "item/E-10".
std::string history_prefix(std::string_view key) {
  std::string p(key);
  p.push_back('\0');
  return p;
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}
rocksdb::Slice slice(std::string_view s) {
  return {s.data(), s.size()};
}

// Every stored JSON text is canonical, which also guarantees that
// parse_json_strict accepts it when read back.
std::string canonical_or_die(const Json& value, const std::string& what) {
  auto text = canonical_json(value);
  if (!text) die(what + " is not canonical JSON: " + text.error().message);
  return std::move(text).value();
}

Json parse_stored(std::string_view text, const std::string& what) {
  auto j = parse_json_strict(text);
  if (!j) die("corrupt " + what + ": " + j.error().message);
  return std::move(j).value();
}

Hash256 hash_member(const Json& j, const char* name, const std::string& what) {
  if (!j.contains(name) || !j[name].is_string()) die("corrupt " + what + ": no " + name);
  auto h = Hash256::from_hex(j[name].get<std::string>());
  if (!h) die("corrupt " + what + ": " + name + ": " + h.error().message);
  return *h;
}

std::int64_t int_member(const Json& j, const char* name, const std::string& what) {
  if (!j.contains(name) || !j[name].is_number_integer()) die("corrupt " + what + ": no " + name);
  return j[name].get<std::int64_t>();
}

std::string string_member(const Json& j, const char* name, const std::string& what) {
  if (!j.contains(name) || !j[name].is_string()) die("corrupt " + what + ": no " + name);
  return j[name].get<std::string>();
}

std::string encode_tx_record(const TxRecord& r) {
  return canonical_or_die(Json{{"height", r.height},
                               {"index", r.index},
                               {"code", r.code},
                               {"message", r.message},
                               {"log_index", r.log_index}},
                          "tx record of " + r.tx_id.hex());
}

TxRecord decode_tx_record(const Hash256& id, std::string_view text) {
  const std::string what = "tx record " + id.hex();
  Json j = parse_stored(text, what);
  if (!j.is_object() || j.size() != 5) die(what + " has the wrong members");
  TxRecord r;
  r.tx_id = id;
  std::int64_t height = int_member(j, "height", what);
  std::int64_t index = int_member(j, "index", what);
  std::int64_t log_index = int_member(j, "log_index", what);
  if (height < 0 || index < 0 || index > std::numeric_limits<std::uint32_t>::max() ||
      log_index < 0) {
    die(what + " has an out-of-range height, index or log_index");
  }
  r.log_index = static_cast<std::uint64_t>(log_index);
  r.height = static_cast<std::uint64_t>(height);
  r.index = static_cast<std::uint32_t>(index);
  r.code = string_member(j, "code", what);
  r.message = string_member(j, "message", what);
  return r;
}

std::string encode_head(const Head& h) {
  return canonical_or_die(Json{{"height", h.height},
                               {"block_hash", h.block_hash.hex()},
                               {"results_hash", h.results_hash.hex()},
                               {"timestamp_ms", h.timestamp_ms},
                               {"log_size", h.log_size},
                               {"log_root", h.log_root.hex()},
                               {"state_root", h.state_root.hex()}},
                          "head");
}

Head decode_head(std::string_view text) {
  Json j = parse_stored(text, "head");
  if (!j.is_object() || j.size() != 7) die("corrupt head: wrong members");
  Head h;
  std::int64_t height = int_member(j, "height", "head");
  if (height < 0) die("corrupt head: negative height");
  h.height = static_cast<std::uint64_t>(height);
  h.block_hash = hash_member(j, "block_hash", "head");
  h.results_hash = hash_member(j, "results_hash", "head");
  h.timestamp_ms = int_member(j, "timestamp_ms", "head");
  std::int64_t log_size = int_member(j, "log_size", "head");
  if (log_size < 0) die("corrupt head: negative log_size");
  h.log_size = static_cast<std::uint64_t>(log_size);
  h.log_root = hash_member(j, "log_root", "head");
  h.state_root = hash_member(j, "state_root", "head");
  return h;
}

Error io_error(const std::string& what, const rocksdb::Status& s) {
  return make_error("ledger_io", what + ": " + s.ToString());
}

Error order_error(const std::string& why) {
  return make_error("ledger_order", why);
}

void check_iterator(const rocksdb::Iterator& it, const char* what) {
  if (!it.status().ok()) die(std::string(what) + ": " + it.status().ToString());
}

std::optional<std::string> read_cf(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf,
                                   const rocksdb::ReadOptions& ro, std::string_view key) {
  std::string value;
  auto s = db.Get(ro, cf, slice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) die("reading " + cf->GetName() + ": " + s.ToString());
  return value;
}

// Bytes that the log's nodes at level_min and above take for a log of
// `log_size` leaves: size >> L nodes at level L, 32 bytes each; all levels
// (level_min 0) take just under 64 bytes per leaf.
std::uint64_t log_levels_bytes(std::uint64_t log_size, std::uint32_t level_min) {
  std::uint64_t nodes = 0;
  for (std::uint32_t level = level_min; level <= kMerkleLogLevelMax; ++level) {
    nodes += log_size >> level;
  }
  return nodes * sizeof(Hash256);
}

// The lowest level from which the log's nodes, with all those above, fit in
// bytes_max; kMerkleLogLevelMax + 1 (none) if not even the top one does.
std::uint32_t log_cached_level_min(std::uint64_t log_size, std::uint64_t bytes_max) {
  std::uint32_t level = 0;
  while (level <= kMerkleLogLevelMax && log_levels_bytes(log_size, level) > bytes_max) ++level;
  return level;
}

// The transaction log's nodes in memory, from the lowest level that fits
// LedgerOptions::log_cache_bytes up (all of them while the log is small), so
// that a proof reads few or no nodes from RocksDB. Nodes never change, so a
// copy is never stale; a node not here (below the cached levels, or written
// by a commit that has not added it yet) is read from RocksDB. When the log
// outgrows the budget the lowest cached level is dropped, each drop halving
// what is kept. Thread-safe: readers share a lock, add() takes it alone.
class LogNodeCache {
 public:
  explicit LogNodeCache(std::uint64_t bytes_max) : bytes_max_(bytes_max) {}

  // The lowest level kept for a log of log_size leaves; call before add()
  // when loading.
  void start(std::uint64_t log_size) {
    std::unique_lock lock(mutex_);
    level_min_ = log_cached_level_min(log_size, bytes_max_);
  }

  std::uint32_t level_min() const {
    std::shared_lock lock(mutex_);
    return level_min_;
  }

  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const {
    std::shared_lock lock(mutex_);
    const Hash256* h = find(level, index);
    if (!h) return std::nullopt;
    return *h;
  }

  // Sets out[i] for each of `ids` held here; leaves the others untouched.
  // One lock for the batch, and every node's cache line asked for before
  // any is read: at a million leaves the lowest levels are tens of MiB and a
  // proof's nodes lie far apart in them, so their memory reads overlap
  // instead of waiting one after the other.
  void get_many(std::span<const NodeId> ids, std::span<std::optional<Hash256>> out) const {
    std::shared_lock lock(mutex_);
    for (const NodeId& id : ids) {
      if (const Hash256* h = find(id.level, id.index)) __builtin_prefetch(h);
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (const Hash256* h = find(ids[i].level, ids[i].index)) out[i] = *h;
    }
  }

  // Keeps the nodes of `writes` at cached levels, then drops the lowest
  // levels if a log of log_size leaves no longer fits the budget. Each level
  // grows in index order, as MerkleLog::append returns its writes and as the
  // mlog family holds them, so a node that does not extend its level is a
  // bug.
  void add(std::span<const NodeWrite> writes, std::uint64_t log_size) {
    std::unique_lock lock(mutex_);
    for (const NodeWrite& w : writes) {
      if (w.level < level_min_) continue;
      if (w.level > kMerkleLogLevelMax) die("log node level " + std::to_string(w.level));
      Level& level = levels_[w.level];
      if (w.index != level.count) {
        die("log node (" + std::to_string(w.level) + ", " + std::to_string(w.index) +
            ") does not extend its level of " + std::to_string(level.count) + " nodes");
      }
      if (level.chunks.empty() || level.chunks.back().size() == kChunkNodes) {
        // A level that filled one chunk will fill the next: allocate it whole.
        level.chunks.emplace_back().reserve(level.chunks.size() > 1 ? kChunkNodes : 0);
      }
      level.chunks.back().push_back(w.hash);
      ++level.count;
    }
    const std::uint32_t wanted = log_cached_level_min(log_size, bytes_max_);
    for (; level_min_ < wanted && level_min_ <= kMerkleLogLevelMax; ++level_min_) {
      levels_[level_min_] = Level{};
    }
  }

 private:
  // A level is a list of chunks rather than one vector, so that growing it
  // never copies (and, under the lock, never stalls readers on) tens of MiB.
  static constexpr std::size_t kChunkNodes = 4096;  // 128 KiB
  struct Level {
    std::vector<std::vector<Hash256>> chunks;  // each full but the last
    std::uint64_t count = 0;
  };

  // Caller holds mutex_.
  const Hash256* find(std::uint32_t level, std::uint64_t index) const {
    if (level < level_min_ || level > kMerkleLogLevelMax) return nullptr;
    const Level& l = levels_[level];
    if (index >= l.count) return nullptr;
    return &l.chunks[index / kChunkNodes][index % kChunkNodes];
  }

  const std::uint64_t bytes_max_;
  mutable std::shared_mutex mutex_;
  std::uint32_t level_min_ = kMerkleLogLevelMax + 1;
  std::array<Level, kMerkleLogLevelMax + 1> levels_;
};

// The transaction log's nodes in the mlog family, read at `ro` (a snapshot
// or the latest state), through `cache` for its levels. A stored node never
// changes, so any read made after the head that names a size finds every
// node of that size.
class RocksLogStore final : public MerkleLogStore {
 public:
  RocksLogStore(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, const LogNodeCache& cache,
                rocksdb::ReadOptions ro = {})
      : db_(db), cf_(cf), cache_(cache), ro_(ro) {}

  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const override {
    if (auto cached = cache_.get(level, index)) return cached;
    auto bytes = read_cf(db_, cf_, ro_, mlog_key(level, index));
    if (!bytes) return std::nullopt;
    return node_hash(*bytes, level, index);
  }

  // The cached nodes from memory, the rest in one MultiGet.
  void get_many(std::span<const NodeId> ids, std::span<std::optional<Hash256>> out) const override {
    if (out.size() != ids.size())
      die("get_many: " + std::to_string(ids.size()) + " nodes, " + std::to_string(out.size()) +
          " outputs");
    std::fill(out.begin(), out.end(), std::nullopt);
    cache_.get_many(ids, out);
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!out[i]) missing.push_back(i);
    }
    if (missing.empty()) return;
    std::vector<std::string> keys;
    keys.reserve(missing.size());
    for (std::size_t i : missing) keys.push_back(mlog_key(ids[i].level, ids[i].index));
    std::vector<rocksdb::Slice> key_slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_.MultiGet(ro_, cf_, keys.size(), key_slices.data(), values.data(), statuses.data());
    for (std::size_t k = 0; k < missing.size(); ++k) {
      if (statuses[k].IsNotFound()) continue;
      if (!statuses[k].ok()) die("reading " + cf_->GetName() + ": " + statuses[k].ToString());
      const NodeId& id = ids[missing[k]];
      out[missing[k]] = node_hash(view(values[k]), id.level, id.index);
    }
  }

 private:
  static Hash256 node_hash(std::string_view bytes, std::uint32_t level, std::uint64_t index) {
    if (bytes.size() == sizeof(Hash256::bytes)) return Hash256::from_bytes(as_bytes(bytes));
    return hash_from_raw(bytes,
                         "log node (" + std::to_string(level) + ", " + std::to_string(index) + ")");
  }

  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* cf_;
  const LogNodeCache& cache_;
  rocksdb::ReadOptions ro_;
};

// A log store plus the nodes a commit is about to write, so that the new
// root can be computed before the batch is written.
class PendingLogStore final : public MerkleLogStore {
 public:
  PendingLogStore(const MerkleLogStore& base, std::span<const NodeWrite> writes) : base_(base) {
    for (const NodeWrite& w : writes) pending_[{w.level, w.index}] = w.hash;
  }
  std::optional<Hash256> get(std::uint32_t level, std::uint64_t index) const override {
    auto it = pending_.find({level, index});
    if (it != pending_.end()) return it->second;
    return base_.get(level, index);
  }

 private:
  const MerkleLogStore& base_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, Hash256> pending_;
};

// The state map's nodes in the smt family, read at `ro`. Unlike log nodes
// these are overwritten by each block, so readers that need one version
// pass a snapshot.
class RocksSmtStore final : public SmtStore {
 public:
  RocksSmtStore(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, rocksdb::ReadOptions ro = {})
      : db_(db), cf_(cf), ro_(ro) {}
  Result<std::optional<SmtNode>> get_node(const SmtPosition& pos) const override {
    auto bytes = read_cf(db_, cf_, ro_, to_string(pos.encode()));
    if (!bytes) return std::optional<SmtNode>();
    auto node = SmtNode::decode(as_bytes(*bytes));
    if (!node)
      die("corrupt state map node at depth " + std::to_string(pos.depth) + ": " +
          node.error().message);
    return std::optional<SmtNode>(*node);
  }

 private:
  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::ReadOptions ro_;
};

// A RocksDB snapshot released on scope exit.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}
  ~ScopedSnapshot() { db_.ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  rocksdb::ReadOptions read_options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    return ro;
  }

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
};

// Parsed world-state values (absent ones too), so that records every
// transaction reads (identities, keys, cases) are not read and parsed again
// each time. Exact, never stale: a commit drops the keys it writes before
// writing and puts their new values in once written, and a read fills in a
// value only if no commit began or ran while it read. Bounded: emptied when
// full. Thread-safe.
// When a cache filled by readers may take what a reader read: only if no
// commit began or ran while it read. Guarded by its cache's mutex.
class FillEpoch {
 public:
  struct Seen {
    std::uint64_t generation;
    bool writing;
  };
  Seen seen() const { return {generation_, writing_}; }
  // A read made after seen() returned `at` may be cached.
  bool may_fill(Seen at) const { return !at.writing && !writing_ && at.generation == generation_; }
  void begin_write() {
    writing_ = true;
    ++generation_;
  }
  void end_write() {
    writing_ = false;
    ++generation_;
  }

 private:
  std::uint64_t generation_ = 0;
  bool writing_ = false;
};

class StateCache {
 public:
  using Seen = FillEpoch::Seen;

  // nullopt: not cached; a null value: cached as absent.
  std::optional<SharedJson> find(std::string_view key) const {
    std::lock_guard lock(mu_);
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  Seen generation() const {
    std::lock_guard lock(mu_);
    return epoch_.seen();
  }
  // `value` was read from the database after generation() returned `seen`.
  void insert(std::string_view key, const SharedJson& value, Seen seen) {
    std::lock_guard lock(mu_);
    if (!epoch_.may_fill(seen)) return;
    if (values_.size() >= kEntriesMax) values_.clear();
    values_.emplace(std::string(key), value);
  }
  void begin_write(const std::vector<StateWrite>& writes) {
    std::lock_guard lock(mu_);
    epoch_.begin_write();
    for (const auto& w : writes) {
      if (auto it = values_.find(w.key); it != values_.end()) values_.erase(it);
    }
  }
  // `writes` are in the database now (if `written`): their values are what
  // a read would find (a later write to a key wins), so the next block's
  // reads of the keys it just wrote need not parse them back.
  void end_write(const std::vector<StateWrite>& writes, bool written) {
    std::lock_guard lock(mu_);
    epoch_.end_write();
    if (!written) return;
    if (values_.size() + writes.size() > kEntriesMax) values_.clear();
    for (const auto& w : writes) {
      values_.insert_or_assign(w.key, w.value ? std::make_shared<const Json>(*w.value) : nullptr);
    }
  }

 private:
  static constexpr std::size_t kEntriesMax = 100'000;
  mutable std::mutex mu_;
  std::map<std::string, SharedJson, std::less<>> values_;
  FillEpoch epoch_;
};

// Whole histories of the keys read lately (LedgerOptions::history_cache_bytes):
// an entry holds every event of its key from seq 0, and a commit extends it
// as it appends, so a hit answers what RocksDB would. Filled by readers as
// StateCache is: only when no commit ran while the reader read. Only
// histories of at most kEventsMax events; all forgotten at once when full.
// Thread-safe.
class HistoryCache {
 public:
  static constexpr std::size_t kEventsMax = 1000;
  using Seen = FillEpoch::Seen;

  explicit HistoryCache(std::size_t bytes_max) : bytes_max_(bytes_max) {}
  bool enabled() const { return bytes_max_ > 0; }

  // The events of `key` with seq >= from_seq, at most `limit`, if its
  // history is held.
  std::optional<std::vector<std::string>> find(std::string_view key, std::uint64_t from_seq,
                                               std::size_t limit) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    const std::vector<std::string>& events = it->second;
    if (from_seq >= events.size()) return std::vector<std::string>();
    const std::size_t begin = static_cast<std::size_t>(from_seq);
    const std::size_t end = begin + std::min(limit, events.size() - begin);
    return std::vector<std::string>(events.begin() + static_cast<std::ptrdiff_t>(begin),
                                    events.begin() + static_cast<std::ptrdiff_t>(end));
  }
  Seen generation() const {
    std::lock_guard lock(mu_);
    return epoch_.seen();
  }
  // `events` (the whole history of `key`) were read after generation()
  // returned `seen`.
  void insert(std::string_view key, std::vector<std::string> events, Seen seen) {
    const std::size_t bytes = bytes_of(key, events);
    std::lock_guard lock(mu_);
    if (!epoch_.may_fill(seen) || bytes > bytes_max_) return;
    if (bytes_ + bytes > bytes_max_) clear();
    if (entries_.emplace(std::string(key), std::move(events)).second) bytes_ += bytes;
  }
  // Before a block's appends are written: their keys' histories are set
  // aside, so that no reader is answered from them while the database
  // already holds more (readers read RocksDB meanwhile, and cannot fill).
  void begin_write(const std::vector<HistoryAppend>& appends) {
    std::lock_guard lock(mu_);
    epoch_.begin_write();
    for (const auto& a : appends) {
      if (auto it = entries_.find(a.key); it != entries_.end()) {
        set_aside_.insert(entries_.extract(it));
      }
    }
  }
  // The appends, with their stored texts, are in the database now (if
  // `written`): the histories set aside come back, extended by them.
  void end_write(const std::vector<HistoryAppend>& appends, std::vector<std::string>& texts,
                 bool written) {
    std::lock_guard lock(mu_);
    epoch_.end_write();
    for (std::size_t i = 0; written && i < appends.size(); ++i) {
      auto it = set_aside_.find(appends[i].key);
      if (it == set_aside_.end()) continue;
      std::vector<std::string>& events = it->second;
      if (events.size() != appends[i].seq || events.size() >= kEventsMax) {
        // Not the next event (cannot happen: commits check seqs), or too
        // long a history now: forget it.
        bytes_ -= bytes_of(it->first, events);
        set_aside_.erase(it);
        continue;
      }
      bytes_ += texts[i].size();
      events.push_back(std::move(texts[i]));
    }
    entries_.merge(set_aside_);
    set_aside_.clear();
    if (bytes_ > bytes_max_) clear();
  }

 private:
  static std::size_t bytes_of(std::string_view key, const std::vector<std::string>& events) {
    std::size_t bytes = key.size();
    for (const auto& e : events) bytes += e.size();
    return bytes;
  }
  void clear() {
    entries_.clear();
    bytes_ = 0;
  }

  const std::size_t bytes_max_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>, std::less<>> entries_;
  // Entries of keys a commit is appending to, between begin_write and
  // end_write; counted in bytes_.
  std::map<std::string, std::vector<std::string>, std::less<>> set_aside_;
  std::size_t bytes_ = 0;
  FillEpoch epoch_;
};

class RocksLedger final : public Ledger {
 public:
  RocksLedger(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
              const LedgerOptions& options)
      : db_(db),
        handles_(std::move(handles)),
        options_(options),
        log_cache_(options.log_cache_bytes),
        history_cache_(options.history_cache_bytes) {}

  ~RocksLedger() override {
    // Handles must go before the DB; Close() waits for background work so
    // that the next open in this process finds the lock free.
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close().PermitUncheckedError();
    delete db_;
  }

  RocksLedger(const RocksLedger&) = delete;
  RocksLedger& operator=(const RocksLedger&) = delete;

  std::optional<Head> head() const override {
    std::lock_guard lock(head_mu_);
    return head_;
  }

  std::optional<Block> block(std::uint64_t height) const override {
    auto text = read(kBlocks, be64(height));
    if (!text) return std::nullopt;
    const std::string what = "block " + std::to_string(height);
    Json j = parse_stored(*text, what);
    if (!j.contains("txs")) {
      // The header alone (format 4): its transactions follow it in key
      // order. Blocks are never rewritten, so no snapshot is needed.
      Json txs = Json::array();
      const std::string prefix = be64(height);
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[kBlocks]));
      for (it->Seek(slice(block_tx_key(height, 0)));
           it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
        txs.push_back(parse_stored(view(it->value()), what + " tx " + std::to_string(txs.size())));
      }
      check_iterator(*it, "reading a block's transactions");
      j = Json{{"header", std::move(j)}, {"txs", std::move(txs)}};
    }
    auto b = block_from_json(j);
    if (!b) die("corrupt " + what + ": " + b.error().message);
    if (b->header.height != height)
      die("corrupt " + what + ": it says height " + std::to_string(b->header.height));
    return std::move(b).value();
  }

  std::optional<BlockHeader> block_header(std::uint64_t height) const override {
    auto text = read(kBlocks, be64(height));
    if (!text) return std::nullopt;
    return header_of(*text, height).header;
  }

  std::optional<BlockTx> block_tx(std::uint64_t height, std::size_t index) const override {
    auto text = read(kBlocks, be64(height));
    if (!text) return std::nullopt;
    StoredHeader stored = header_of(*text, height);
    if (index >= stored.header.tx_count) return std::nullopt;
    const std::string tx_what = "block " + std::to_string(height) + " tx " + std::to_string(index);
    std::string tx_text;
    if (stored.whole_txs) {
      // A whole block (format 3): step over the text to the one transaction.
      auto one = json_element_text(*stored.whole_txs, index);
      if (!one) die("corrupt " + tx_what + ": " + one.error().message);
      tx_text = *one;
    } else {
      // The transaction under its own key (format 4).
      auto own = read(kBlocks, block_tx_key(height, index));
      if (!own) die("corrupt " + tx_what + ": missing");
      tx_text = std::move(*own);
    }
    auto tx = tx_from_json(parse_stored(tx_text, tx_what));
    if (!tx) die("corrupt " + tx_what + ": " + tx.error().message);
    return BlockTx{std::move(stored.header), std::move(tx).value()};
  }

  std::optional<Hash256> results_hash(std::uint64_t height) const override {
    auto bytes = read(kMeta, results_key(height));
    if (!bytes) return std::nullopt;
    return hash_from_raw(*bytes, "results hash at height " + std::to_string(height));
  }

  Result<std::unique_ptr<StagedBlock>> stage_block(const Block& block,
                                                   BlockEffects effects) const override {
    // The contract says one caller at a time; the lock makes a misbehaving
    // second caller wait instead of staging on a head that is changing.
    std::lock_guard lock(commit_mutex_);
    const std::uint64_t height = block.header.height;

    auto current = head();
    const std::uint64_t expected = current ? current->height + 1 : 0;
    if (height != expected) {
      return order_error("block height " + std::to_string(height) + ", expected " +
                         std::to_string(expected));
    }
    if (current && block.header.prev_hash != current->block_hash) {
      return order_error("block " + std::to_string(height) + " has prev_hash " +
                         block.header.prev_hash.hex() + ", the head is " +
                         current->block_hash.hex());
    }
    if (effects.txs.size() != block.txs.size()) {
      return order_error("block " + std::to_string(height) + " has " +
                         std::to_string(block.txs.size()) + " transactions but " +
                         std::to_string(effects.txs.size()) + " tx records");
    }
    // The records are for the block's transactions, in order: their ids
    // make the header's tx_root (which make_block and block_from_json
    // compute from the transactions themselves; the ids are not hashed
    // again here).
    std::vector<Hash256> record_ids;
    record_ids.reserve(effects.txs.size());
    for (std::size_t i = 0; i < block.txs.size(); ++i) {
      const TxRecord& r = effects.txs[i];
      if (r.height != height || r.index != i) {
        return order_error("tx record " + std::to_string(i) + " of block " +
                           std::to_string(height) + " is not for transaction " + std::to_string(i) +
                           " of that block");
      }
      record_ids.push_back(r.tx_id);
    }
    if (tx_root_of_ids(record_ids) != block.header.tx_root) {
      return order_error("the tx records of block " + std::to_string(height) +
                         " are not for its transactions");
    }

    // A block that block_from_json would refuse could never be read back.
    // Its transactions were parsed by tx_from_json (the gateway's, the Raft
    // log's); what remains to check is the block's own shape.
    if (block.header.tx_count != block.txs.size() ||
        !std::all_of(block.txs.begin(), block.txs.end(), [&](const Transaction& tx) {
          return tx.network_id == block.header.network_id;
        })) {
      die("commit_block: block " + std::to_string(height) +
          " is malformed: tx_count or a transaction's network does not match its header");
    }
    Json block_json = block.to_json();
    if (auto check = block_header_from_json(block_json["header"]); !check) {
      die("commit_block: block " + std::to_string(height) +
          " is malformed: " + check.error().message);
    }

    auto staged = std::make_unique<Staged>();
    staged->base = current;
    rocksdb::WriteBatch& batch = staged->batch;
    auto put = [&](Cf cf, std::string_view key, std::string_view value) {
      auto s = batch.Put(handles_[cf], slice(key), slice(value));
      if (!s.ok()) die("WriteBatch::Put: " + s.ToString());
    };

    put(kBlocks, be64(height), canonical_or_die(block_json["header"], "block header"));
    const Json& tx_jsons = block_json["txs"];
    for (std::size_t i = 0; i < tx_jsons.size(); ++i) {
      put(kBlocks, block_tx_key(height, i), canonical_or_die(tx_jsons[i], "transaction"));
    }

    // Every record is a log leaf, duplicates included: the log says what
    // happened to each transaction of each block, in order.
    const std::uint64_t old_log_size = current ? current->log_size : 0;
    std::vector<Hash256> leaf_hashes;
    leaf_hashes.reserve(effects.txs.size());
    for (std::size_t i = 0; i < effects.txs.size(); ++i) {
      const TxRecord& r = effects.txs[i];
      std::string data = tx_log_leaf_data(r);  // r.height == height, checked above
      leaf_hashes.push_back(merkle_leaf_hash(as_bytes(data)));
      put(kTxlog, be64(old_log_size + i), data);
    }

    // The index keeps where a transaction was first committed: a later copy
    // of it (which the executor records as a duplicate) must not replace it.
    std::set<Hash256> indexed_here;
    for (std::size_t i = 0; i < effects.txs.size(); ++i) {
      const TxRecord& r = effects.txs[i];
      if (indexed_here.contains(r.tx_id) || has_tx(r.tx_id)) continue;
      indexed_here.insert(r.tx_id);
      TxRecord stored = r;
      stored.log_index = old_log_size + i;
      put(kTxs, raw(r.tx_id), encode_tx_record(stored));
    }

    // WriteBatch applies in order with increasing sequence numbers, so a
    // later write to a key wins, as the contract requires.
    const bool have_write_texts = effects.write_texts.size() == effects.writes.size();
    const bool have_history_texts = effects.history_texts.size() == effects.history.size();
    for (std::size_t i = 0; i < effects.writes.size(); ++i) {
      const StateWrite& w = effects.writes[i];
      if (w.value) {
        put(kState, w.key,
            have_write_texts ? effects.write_texts[i]
                             : canonical_or_die(*w.value, "state value of \"" + w.key + "\""));
      } else {
        auto s = batch.Delete(handles_[kState], slice(w.key));
        if (!s.ok()) die("WriteBatch::Delete: " + s.ToString());
      }
    }

    std::map<std::string, std::uint64_t, std::less<>>& next_seq = staged->next_seq;
    // Each key's state map value comes from its last append in the block.
    std::map<std::string, Hash256, std::less<>> history_heads;
    std::unique_ptr<rocksdb::Iterator> last;  // made on the first key not in history_next_
    std::vector<std::string>& history_texts = staged->history_texts;  // for history_cache_, if on
    for (std::size_t i = 0; i < effects.history.size(); ++i) {
      const HistoryAppend& a = effects.history[i];
      if (a.key.find('\0') != std::string::npos) {
        die("commit_block: history key holds a 0x00 byte");
      }
      if (a.key.empty() || a.key.size() > kSmtKeyBytesMax) {
        die("commit_block: history key of " + std::to_string(a.key.size()) +
            " bytes (allowed: 1.." + std::to_string(kSmtKeyBytesMax) + ")");
      }
      auto it = next_seq.find(a.key);
      if (it == next_seq.end()) {
        std::uint64_t next = 0;
        if (auto known = history_next_.find(a.key); known != history_next_.end()) {
          next = known->second;
        } else {
          if (!last) last.reset(db_->NewIterator({}, handles_[kHistory]));
          next = next_history_seq(*last, a.key);
        }
        it = next_seq.emplace(a.key, next).first;
      }
      if (a.seq != it->second) {
        die("commit_block: history of \"" + a.key + "\" gets seq " + std::to_string(a.seq) +
            ", expected " + std::to_string(it->second));
      }
      ++it->second;
      std::string text = have_history_texts
                             ? effects.history_texts[i]
                             : canonical_or_die(a.event, "history event of \"" + a.key + "\"");
      history_heads[a.key] = history_head_value_of_text(text, a.seq);
      put(kHistory, history_prefix(a.key) + be64(a.seq), text);
      if (history_cache_.enabled()) history_texts.push_back(std::move(text));
    }

    // Only write_staged() writes mlog and smt, under commit_mutex_, so the
    // latest state is the committed version these updates must start from.
    RocksLogStore log_store(*db_, handles_[kMlog], log_cache_);
    std::vector<NodeWrite>& log_writes = staged->log_writes;
    log_writes = MerkleLog(log_store, old_log_size).append(leaf_hashes);
    for (const NodeWrite& w : log_writes) put(kMlog, mlog_key(w.level, w.index), raw(w.hash));
    const std::uint64_t log_size = old_log_size + leaf_hashes.size();
    PendingLogStore log_after(log_store, log_writes);
    auto log_root = MerkleLog(log_after, log_size).root(log_size);
    if (!log_root) die("commit_block: log root: " + log_root.error().message);

    Hash256 state_root = current ? current->state_root : kSmtEmpty;
    if (!history_heads.empty()) {
      std::vector<SmtChange> changes;
      changes.reserve(history_heads.size());
      for (const auto& [key, value] : history_heads) changes.push_back({key, value});
      RocksSmtStore rocks_smt(*db_, handles_[kSmt]);
      auto update = smt_update(TopOverStore(smt_top_, rocks_smt), changes);
      // Keys were checked above and the store is ours: any error is damage
      // or a bug, and committing a wrong root would be worse than stopping.
      if (!update) {
        die("commit_block: state map update: " + update.error().code + ": " +
            update.error().message);
      }
      smt_top_.stage(
          update->writes,
          [&](const SmtPosition& pos, const SmtNode& node) {
            put(kSmt, to_string(pos.encode()), to_string(node.encode()));
          },
          [&](const SmtPosition& pos) {
            auto s = batch.Delete(handles_[kSmt], slice(to_string(pos.encode())));
            if (!s.ok()) die("WriteBatch::Delete: " + s.ToString());
          });
      state_root = update->root;
      staged->smt_writes = std::move(update->writes);
    }

    const ChainRoots roots{log_size, *log_root, state_root};
    put(kMeta, results_key(height), raw(effects.results_hash));
    put(kMeta, roots_key(height), encode_roots(roots));
    staged->new_head = Head{
        height,    block.header.hash(), effects.results_hash, block.header.timestamp_ms, log_size,
        *log_root, state_root};
    put(kMeta, kHeadKey, encode_head(staged->new_head));
    staged->effects_ = std::move(effects);
    return std::unique_ptr<StagedBlock>(std::move(staged));
  }

  Status write_staged(StagedBlock& staged_block) override {
    std::lock_guard lock(commit_mutex_);
    auto& staged = dynamic_cast<Staged&>(staged_block);
    const std::uint64_t height = staged.new_head.height;
    auto current = head();
    if (staged.written || current.has_value() != staged.base.has_value() ||
        (current && current->block_hash != staged.base->block_hash)) {
      return order_error("block " + std::to_string(height) + " was staged on " +
                         (staged.base ? "block " + std::to_string(staged.base->height)
                                      : std::string("an empty ledger")) +
                         (staged.written ? " and is written already"
                                         : "; the head has moved since"));
    }
    const BlockEffects& effects = staged.effects_;
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_writes;
    state_cache_.begin_write(effects.writes);
    history_cache_.begin_write(effects.history);
    auto s = db_->Write(wo, &staged.batch);
    if (s.ok()) {
      std::lock_guard top_lock(top_mu_);
      smt_top_.apply(staged.smt_writes);
      top_height_ = height;
    }
    state_cache_.end_write(effects.writes, s.ok());
    history_cache_.end_write(effects.history, staged.history_texts, s.ok());
    if (!s.ok()) return io_error("writing block " + std::to_string(height), s);
    staged.written = true;
    log_cache_.add(staged.log_writes, staged.new_head.log_size);
    if (history_next_.size() + staged.next_seq.size() > kHistoryNextMax) history_next_.clear();
    for (auto& [key, next] : staged.next_seq) history_next_.insert_or_assign(key, next);
    std::lock_guard head_lock(head_mu_);
    head_ = staged.new_head;
    return ok_status();
  }

  std::optional<ChainRoots> roots(std::uint64_t height) const override {
    auto bytes = read(kMeta, roots_key(height));
    if (!bytes) return std::nullopt;
    return decode_roots(*bytes, "roots at height " + std::to_string(height));
  }

  // The log reads below take the head's size first and the nodes after: log
  // nodes are never rewritten, so a commit in between cannot change them.
  Result<Hash256> log_root(std::uint64_t size) const override {
    RocksLogStore store(*db_, handles_[kMlog], log_cache_);
    return MerkleLog(store, head_log_size()).root(size);
  }

  Result<std::vector<Hash256>> inclusion_proof(std::uint64_t log_index,
                                               std::uint64_t log_size) const override {
    RocksLogStore store(*db_, handles_[kMlog], log_cache_);
    return MerkleLog(store, head_log_size()).inclusion_proof(log_index, log_size);
  }

  Result<std::vector<Hash256>> consistency_proof(std::uint64_t old_size,
                                                 std::uint64_t new_size) const override {
    RocksLogStore store(*db_, handles_[kMlog], log_cache_);
    return MerkleLog(store, head_log_size()).consistency_proof(old_size, new_size);
  }

  Result<std::string> log_leaf(std::uint64_t log_index) const override {
    const std::uint64_t size = head_log_size();
    if (log_index >= size) {
      return make_error("bad_range", "log index " + std::to_string(log_index) +
                                         " is not below the log size " + std::to_string(size));
    }
    auto data = read(kTxlog, be64(log_index));
    if (!data) die("log leaf " + std::to_string(log_index) + " is missing");
    return std::move(*data);
  }

  Result<StateProof> state_proof(std::string_view history_key) const override {
    auto proofs = state_proofs({std::string(history_key)});
    if (!proofs) return proofs.error();
    return StateProof{proofs->height, proofs->state_root, std::move(proofs->lookups.front())};
  }

  Result<StateProofs> state_proofs(const std::vector<std::string>& history_keys) const override {
    for (const std::string& key : history_keys) {
      if (key.empty() || key.size() > kSmtKeyBytesMax) {
        return make_error("smt_bad_key", "history key of " + std::to_string(key.size()) +
                                             " bytes (allowed: 1.." +
                                             std::to_string(kSmtKeyBytesMax) + ")");
      }
    }
    // The tree is rewritten in place by each block: read the head and the
    // stored nodes at one snapshot, and the top's nodes on the keys' paths
    // as they were at that snapshot, so that the proofs are against the root
    // returned. A commit applies its top after its write: between the two,
    // the snapshot is a block ahead of the top, and we ask again (a top that
    // never catches up is a bug: after kTopWait we stop rather than spin).
    std::optional<ScopedSnapshot> snapshot;
    std::optional<Head> h;
    SmtTop paths;
    const auto deadline = std::chrono::steady_clock::now() + kTopWait;
    for (;;) {
      if (std::chrono::steady_clock::now() > deadline) {
        die("state proof: the state map's top did not follow its commit");
      }
      std::unique_lock top_lock(top_mu_);
      snapshot.emplace(*db_);
      auto head_text = read(kMeta, kHeadKey, snapshot->read_options());
      if (!head_text) return make_error("ledger_empty", "no block committed yet");
      h = decode_head(*head_text);
      if (top_height_ == h->height) {
        for (const std::string& key : history_keys) {
          smt_top_.copy_path(smt_key_hash(key), paths);
        }
        break;
      }
      top_lock.unlock();
      snapshot.reset();
      std::this_thread::yield();
    }
    RocksSmtStore rocks(*db_, handles_[kSmt], snapshot->read_options());
    TopOverStore store(paths, rocks);
    StateProofs out{h->height, h->state_root, {}};
    for (const std::string& key : history_keys) {
      auto lookup = smt_prove(store, key);
      if (!lookup) die("state proof: " + lookup.error().code + ": " + lookup.error().message);
      out.lookups.push_back(std::move(lookup).value());
    }
    return out;
  }

  std::optional<TxRecord> tx(const Hash256& tx_id) const override {
    auto text = read(kTxs, raw(tx_id));
    if (!text) return std::nullopt;
    return decode_tx_record(tx_id, *text);
  }

  bool has_tx(const Hash256& tx_id) const override { return read(kTxs, raw(tx_id)).has_value(); }

  SharedJson get_shared(std::string_view key) const override {
    if (auto hit = state_cache_.find(key)) return std::move(*hit);
    const auto seen = state_cache_.generation();
    auto text = read(kState, key);
    SharedJson value;
    if (text) {
      value = std::make_shared<const Json>(
          parse_stored(*text, "state value of \"" + std::string(key) + "\""));
    }
    state_cache_.insert(key, value, seen);
    return value;
  }

  std::vector<std::pair<std::string, Json>> scan(std::string_view prefix,
                                                 std::string_view start_after,
                                                 std::size_t limit) const override {
    std::vector<std::pair<std::string, Json>> out;
    if (limit == 0) return out;
    // The smallest key strictly after start_after is start_after + 0x00.
    std::string from(prefix);
    if (!start_after.empty()) {
      std::string after(start_after);
      after.push_back('\0');
      from = std::max(from, after);
    }
    rocksdb::ReadOptions ro;
    std::string bound;
    rocksdb::Slice bound_slice;
    if (prefix_successor(prefix, bound)) {
      bound_slice = slice(bound);
      ro.iterate_upper_bound = &bound_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kState]));
    for (it->Seek(slice(from)); it->Valid() && out.size() < limit; it->Next()) {
      std::string_view key = view(it->key());
      if (!key.starts_with(prefix)) break;
      out.emplace_back(
          std::string(key),
          parse_stored(view(it->value()), "state value of \"" + std::string(key) + "\""));
    }
    check_iterator(*it, "scanning state");
    return out;
  }

  std::vector<HistoryAppend> history(std::string_view key, std::uint64_t from_seq,
                                     std::size_t limit) const override {
    std::vector<HistoryAppend> out;
    for_each_event(key, from_seq, limit, [&](std::uint64_t seq, std::string_view text) {
      out.push_back({std::string(key), seq,
                     parse_stored(text, "history event of \"" + std::string(key) + "\"")});
    });
    return out;
  }

  std::vector<std::string> history_texts(std::string_view key, std::uint64_t from_seq,
                                         std::size_t limit) const override {
    if (history_cache_.enabled()) {
      if (auto hit = history_cache_.find(key, from_seq, limit)) return std::move(*hit);
    }
    // From the start, one event more than asked for: fewer than that is the
    // whole history, which the cache can then hold.
    const bool fill =
        history_cache_.enabled() && from_seq == 0 && limit > 0 && limit <= HistoryCache::kEventsMax;
    const auto seen = history_cache_.generation();
    std::vector<std::string> out;
    for_each_event(key, from_seq, fill ? limit + 1 : limit,
                   [&](std::uint64_t, std::string_view text) { out.emplace_back(text); });
    if (fill) {
      if (out.size() <= limit) {
        history_cache_.insert(key, out, seen);
      } else {
        out.pop_back();
      }
    }
    return out;
  }

  Status put_head_signature(std::uint64_t height, const HeadSignature& sig) override {
    // Not synced: a signature lost to a power cut is gossiped again or made
    // again for later heads, and fsync here would slow the block applier.
    rocksdb::WriteOptions wo;
    wo.sync = false;
    std::string value(reinterpret_cast<const char*>(sig.signature.compact.data()),
                      sig.signature.compact.size());
    auto s = db_->Put(wo, handles_[kHeadSigs], be64(height) + sig.node_id, value);
    if (!s.ok()) return io_error("writing a head signature", s);
    return ok_status();
  }

  std::vector<HeadSignature> head_signatures(std::uint64_t height) const override {
    std::vector<HeadSignature> out;
    const std::string prefix = be64(height);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[kHeadSigs]));
    for (it->Seek(slice(prefix)); it->Valid(); it->Next()) {
      std::string_view k = view(it->key());
      if (!k.starts_with(prefix)) break;
      std::string_view v = view(it->value());
      if (v.size() != 64) die("corrupt head signature at height " + std::to_string(height));
      HeadSignature sig;
      sig.node_id = std::string(k.substr(prefix.size()));
      std::copy(v.begin(), v.end(), reinterpret_cast<char*>(sig.signature.compact.data()));
      out.push_back(std::move(sig));
    }
    check_iterator(*it, "reading head signatures");
    return out;
  }

  std::optional<std::uint64_t> last_head_signature_height() const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[kHeadSigs]));
    it->SeekToLast();
    check_iterator(*it, "reading head signatures");
    if (!it->Valid()) return std::nullopt;
    std::string_view k = view(it->key());
    if (k.size() < 8) die("corrupt head signature key");
    return from_be64(k.substr(0, 8));
  }

  std::optional<std::string> get_meta(std::string_view name) const override {
    return read(kMeta, std::string(kUserMetaPrefix) + std::string(name));
  }

  Status put_meta(std::string_view name, std::string_view value) override {
    rocksdb::WriteOptions wo;
    wo.sync = true;  // the contract promises it whatever sync_writes says
    auto s = db_->Put(wo, handles_[kMeta], std::string(kUserMetaPrefix) + std::string(name),
                      slice(value));
    if (!s.ok()) return io_error("writing meta \"" + std::string(name) + "\"", s);
    return ok_status();
  }

  Status sync() const override {
    if (auto s = db_->SyncWAL(); !s.ok()) return io_error("syncing the write-ahead log", s);
    return ok_status();
  }

  Status settle(Settle how) override {
    if (how != Settle::kWait) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      if (auto s = db_->Flush(fo, handles_); !s.ok()) return io_error("flushing", s);
    }
    if (how == Settle::kCompact) {
      rocksdb::CompactRangeOptions co;
      // Rewrite the last level too, so that each family ends as one run.
      co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      for (auto* h : handles_) {
        if (auto s = db_->CompactRange(co, h, nullptr, nullptr); !s.ok()) {
          return io_error("compacting " + h->GetName(), s);
        }
      }
    }
    // RocksDB 7.8 has no call that waits for background work; its
    // properties say whether any is running or due.
    auto busy = [&] {
      std::uint64_t v = 0;
      if (db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &v) && v) return true;
      if (db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &v) && v) {
        return true;
      }
      for (auto* h : handles_) {
        if (db_->GetIntProperty(h, rocksdb::DB::Properties::kMemTableFlushPending, &v) && v) {
          return true;
        }
        if (db_->GetIntProperty(h, rocksdb::DB::Properties::kCompactionPending, &v) && v) {
          return true;
        }
      }
      return false;
    };
    while (busy()) std::this_thread::sleep_for(std::chrono::milliseconds(kSettlePollMs));
    return ok_status();
  }

  std::vector<ColumnFamilyStats> storage_stats() const override {
    std::vector<ColumnFamilyStats> out;
    const int levels = db_->NumberLevels(handles_[kDefault]);
    for (auto* h : handles_) {
      ColumnFamilyStats cf;
      cf.name = h->GetName();
      for (int level = 0; level < levels; ++level) {
        std::string files;
        std::uint64_t n = 0;
        if (db_->GetProperty(
                h, rocksdb::DB::Properties::kNumFilesAtLevelPrefix + std::to_string(level),
                &files)) {
          n = std::strtoull(files.c_str(), nullptr, 10);
        }
        cf.files_per_level.push_back(n);
      }
      db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &cf.sst_bytes);
      db_->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &cf.memtable_bytes);
      out.push_back(std::move(cf));
    }
    return out;
  }

  // Reads the log nodes of the levels the cache keeps for the head's log
  // size; on open, after load_head() and before any other call. Bypasses the
  // block cache: these blocks will not be read from RocksDB again.
  void load_log_cache() {
    const std::uint64_t log_size = head_log_size();
    log_cache_.start(log_size);
    const std::uint32_t level_min = log_cache_.level_min();
    if (level_min > kMerkleLogLevelMax) return;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kMlog]));
    std::vector<NodeWrite> nodes;
    nodes.reserve(kLogLoadBatchNodes);
    for (it->Seek(slice(mlog_key(level_min, 0))); it->Valid(); it->Next()) {
      std::string_view key = view(it->key());
      if (key.size() != 9) die("corrupt log node key of " + std::to_string(key.size()) + " bytes");
      const auto level = static_cast<std::uint8_t>(key[0]);
      const std::uint64_t index = from_be64(key.substr(1));
      std::string_view value = view(it->value());
      if (value.size() != sizeof(Hash256::bytes)) {
        die("corrupt log node (" + std::to_string(level) + ", " + std::to_string(index) +
            "): " + std::to_string(value.size()) + " bytes");
      }
      nodes.push_back({level, index, Hash256::from_bytes(as_bytes(value))});
      if (nodes.size() == kLogLoadBatchNodes) {
        log_cache_.add(nodes, log_size);
        nodes.clear();
      }
    }
    check_iterator(*it, "reading log nodes");
    log_cache_.add(nodes, log_size);
  }

  // On open, after load_head(), before the first commit: reads the stored
  // nodes of the state map at depth <= kSmtTopDepth (one range scan: keys
  // sort by depth first) and rebuilds the top from them (SmtTop::rebuild).
  // A format-3 ledger also stored the interior nodes above kSmtTopDepth:
  // they are not read, and once the top checks out, upgrade_format()
  // deletes them.
  Status load_smt_top(bool upgrade) {
    std::vector<std::pair<SmtPosition, SmtNode>> stored;
    std::vector<std::string> format3_only;
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kSmt]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto pos = SmtPosition::decode(as_bytes(view(it->key())));
      if (!pos) die("corrupt state map key: " + pos.error().message);
      if (pos->depth > kSmtTopDepth) break;
      auto node = SmtNode::decode(as_bytes(view(it->value())));
      if (!node) die("corrupt state map node at depth " + std::to_string(pos->depth));
      if (SmtTop::stored(*pos, *node)) {
        stored.emplace_back(*pos, *node);
      } else if (upgrade) {
        format3_only.emplace_back(it->key().ToString());
      } else {
        return make_error("ledger_io", "format " + std::string(kFormat) +
                                           " stores no interior state map node above depth " +
                                           std::to_string(kSmtTopDepth) + "; one is at depth " +
                                           std::to_string(pos->depth));
      }
    }
    check_iterator(*it, "reading state map nodes");
    if (auto top = smt_top_.rebuild(stored, head_ ? head_->state_root : kSmtEmpty); !top) {
      return top;
    }
    top_height_ = head_ ? std::optional(head_->height) : std::nullopt;
    if (upgrade) return upgrade_format(format3_only);
    return ok_status();
  }

  // After check_format(): reads the committed head, which head() then serves.
  void load_head() {
    if (auto text = read(kMeta, kHeadKey)) head_ = decode_head(*text);
  }

  // Stamps a new database with kFormat; refuses one written in another
  // layout version rather than misreading it. True when it holds format 3,
  // which load_smt_top() upgrades once the state map's top checks out.
  Result<bool> check_format() {
    std::string format;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kMeta], slice(kFormatKey), &format);
    if (s.IsNotFound()) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db_->Put(wo, handles_[kMeta], slice(kFormatKey), slice(kFormat));
      if (!s.ok()) return io_error("writing the format", s);
      return false;
    }
    if (!s.ok()) return io_error("reading the format", s);
    if (format == kFormatUpgradable) return true;
    if (format != kFormat) {
      return make_error("ledger_io", "holds ledger format \"" + format + "\", this build reads \"" +
                                         std::string(kFormat) + "\"");
    }
    return false;
  }

  // Format 3 → 4 in one synced batch: the interior state map nodes above
  // kSmtTopDepth go (`keys`), and the format is stamped.
  Status upgrade_format(const std::vector<std::string>& keys) {
    rocksdb::WriteBatch batch;
    for (const std::string& key : keys) {
      auto s = batch.Delete(handles_[kSmt], slice(key));
      if (!s.ok()) return io_error("upgrading the format", s);
    }
    auto s = batch.Put(handles_[kMeta], slice(kFormatKey), slice(kFormat));
    if (!s.ok()) return io_error("upgrading the format", s);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db_->Write(wo, &batch);
    if (!s.ok()) return io_error("upgrading the format", s);
    return ok_status();
  }

 private:
  // What the record under a block's key holds: its header, and, for a block
  // stored whole (format 3), where the text of its transactions is (a view
  // into the text given).
  struct StoredHeader {
    BlockHeader header;
    std::optional<std::string_view> whole_txs;
  };
  static StoredHeader header_of(std::string_view text, std::uint64_t height) {
    const std::string what = "block " + std::to_string(height);
    StoredHeader out;
    std::string_view header_text = text;
    auto txs = json_member_text(text, "txs");
    if (txs) {
      out.whole_txs = *txs;
      auto part = json_member_text(text, "header");
      if (!part) die("corrupt " + what + ": header: " + part.error().message);
      header_text = *part;
    } else if (txs.error().code != "json_absent") {
      die("corrupt " + what + ": " + txs.error().message);
    }
    auto header = block_header_from_json(parse_stored(header_text, what));
    if (!header) die("corrupt " + what + ": " + header.error().message);
    if (header->height != height)
      die("corrupt " + what + ": it says height " + std::to_string(header->height));
    out.header = std::move(header).value();
    return out;
  }

  // The smallest string greater than every string starting with prefix;
  // false when there is none (empty, or all 0xff bytes).
  static bool prefix_successor(std::string_view prefix, std::string& out) {
    out.assign(prefix);
    while (!out.empty() && static_cast<unsigned char>(out.back()) == 0xff) out.pop_back();
    if (out.empty()) return false;
    out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
    return true;
  }

  // Calls f(seq, stored text) for the events of `key` with seq >= from_seq,
  // oldest first, at most `limit`.
  template <typename F>
  void for_each_event(std::string_view key, std::uint64_t from_seq, std::size_t limit, F f) const {
    // Writes refuse such keys, so none has a history; answering (rather than
    // aborting) keeps a crafted request from stopping the node.
    if (limit == 0 || key.find('\0') != std::string_view::npos) return;
    const std::string prefix = history_prefix(key);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[kHistory]));
    std::size_t n = 0;
    for (it->Seek(slice(prefix + be64(from_seq))); it->Valid() && n < limit; it->Next(), ++n) {
      std::string_view k = view(it->key());
      if (!k.starts_with(prefix)) break;
      if (k.size() != prefix.size() + 8) die("corrupt history key of \"" + std::string(key) + "\"");
      f(from_be64(k.substr(prefix.size())), view(it->value()));
    }
    check_iterator(*it, "reading history");
  }

  static std::uint64_t next_history_seq(rocksdb::Iterator& it, std::string_view key) {
    const std::string prefix = history_prefix(key);
    it.SeekForPrev(slice(prefix + be64(std::numeric_limits<std::uint64_t>::max())));
    check_iterator(it, "reading history");
    if (!it.Valid() || !view(it.key()).starts_with(prefix)) return 0;
    return from_be64(view(it.key()).substr(prefix.size())) + 1;
  }

  std::optional<std::string> read(Cf cf, std::string_view key,
                                  const rocksdb::ReadOptions& ro = {}) const {
    return read_cf(*db_, handles_[cf], ro, key);
  }

  std::uint64_t head_log_size() const {
    auto h = head();
    return h ? h->log_size : 0;
  }

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  const LedgerOptions options_;
  // A block staged by stage_block(), for write_staged().
  struct Staged final : StagedBlock {
    const Head& head() const override { return new_head; }
    const BlockEffects& effects() const override { return effects_; }

    std::optional<Head> base;  // the head it was staged on
    Head new_head;
    BlockEffects effects_;
    rocksdb::WriteBatch batch;
    SmtWrites smt_writes;
    std::vector<NodeWrite> log_writes;
    std::map<std::string, std::uint64_t, std::less<>> next_seq;
    std::vector<std::string> history_texts;
    bool written = false;
  };

  mutable std::mutex commit_mutex_;
  // The next history seq of keys recent blocks appended to, so that a
  // commit checks an append's seq without seeking the history family. Only
  // write_staged() writes history, under commit_mutex_, which guards this
  // too (stage_block() reads it under the same); entries are set once a
  // block is written. Emptied when full.
  static constexpr std::size_t kHistoryNextMax = 100'000;
  std::map<std::string, std::uint64_t, std::less<>> history_next_;
  // The committed head, read once at open and replaced by each commit.
  mutable std::mutex head_mu_;
  std::optional<Head> head_;
  mutable StateCache state_cache_;
  LogNodeCache log_cache_;
  // Changed by write_staged() alone, under commit_mutex_ and top_mu_, after
  // its write; read by stage_block() (under commit_mutex_) and by state proofs,
  // which copy paths out of it under top_mu_. top_height_ is the height it
  // is the top of (none before the genesis block is applied; genesis is 0).
  SmtTop smt_top_;
  std::optional<std::uint64_t> top_height_;
  static constexpr std::chrono::seconds kTopWait{10};
  mutable std::mutex top_mu_;
  mutable HistoryCache history_cache_;
};

rocksdb::ColumnFamilyOptions column_family_options(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Most reads are point lookups (state, tx ids, blocks by height) that miss
  // or hit one key; a Bloom filter spares a disk read per SST for misses.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = kWriteBufferBytes;
  // LZ4 is cheap and the Debian build links it; check at run time anyway, as
  // a RocksDB built without it would refuse to open with it configured.
  auto supported = rocksdb::GetSupportedCompressions();
  bool lz4 =
      std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end();
  cf.compression = lz4 ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  return cf;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Refuses a database whose column families are not this build's, BEFORE
// opening it for writing: DB::Open would create the missing families, after
// which the build that wrote the database could no longer open it (RocksDB
// insists on opening every family). The format is read in read-only mode so
// that the refusal names it. A database whose format was never stamped is a
// creation cut short (DB::Open creates the families one by one; kill -9 can
// land in between), and is opened, and so completed, as usual.
Status check_existing_layout(const rocksdb::DBOptions& db_options, const std::string& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(db_options, dir, &names).ok()) {
    return ok_status();  // no database yet; anything else DB::Open reports
  }
  const std::set<std::string> have(names.begin(), names.end());
  const std::set<std::string> want(std::begin(kCfNames), std::end(kCfNames));
  if (have == want) return ok_status();
  if (!have.contains(kCfNames[kMeta])) {
    // Without meta there is no format: either a creation cut short before
    // meta (only our families) or not a ledger at all.
    if (std::includes(want.begin(), want.end(), have.begin(), have.end())) return ok_status();
    return make_error("ledger_io",
                      "holds column families {" + join(have) + "}: not a Custos ledger");
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto s = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles, &raw_db);
  if (!s.ok()) return io_error("opening read-only to check the format", s);
  std::string format;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] != kCfNames[kMeta]) continue;
    s = raw_db->Get(rocksdb::ReadOptions(), handles[i], slice(kFormatKey), &format);
  }
  for (auto* h : handles) raw_db->DestroyColumnFamilyHandle(h);
  raw_db->Close().PermitUncheckedError();
  delete raw_db;
  if (s.IsNotFound()) return ok_status();
  if (!s.ok()) return io_error("reading the format", s);
  if (format != kFormat && format != kFormatUpgradable) {
    return make_error("ledger_io", "holds ledger format \"" + format + "\", this build reads \"" +
                                       std::string(kFormat) + "\"");
  }
  return make_error("ledger_io", "holds ledger format \"" + format + "\" but column families {" +
                                     join(have) + "}, expected {" + join(want) + "}");
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(const std::filesystem::path& dir,
                                             const LedgerOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("ledger_io", "cannot create " + dir.string() + ": " + ec.message());

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_open_files = kOpenFilesMax;
  db_options.keep_log_file_num = kInfoLogFilesKept;
  db_options.db_write_buffer_size = kAllWriteBuffersBytes;

  if (auto layout = check_existing_layout(db_options, dir.string()); !layout) {
    return make_error("ledger_io", dir.string() + ": " + layout.error().message);
  }

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kCfNames) descriptors.emplace_back(name, column_family_options(cache));

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) return io_error("opening " + dir.string(), s);
  auto ledger = std::make_unique<RocksLedger>(raw, std::move(handles), options);

  auto upgrade = ledger->check_format();
  if (!upgrade) return make_error("ledger_io", dir.string() + ": " + upgrade.error().message);
  ledger->load_head();  // first: the log cache loads up to the head's log size
  ledger->load_log_cache();
  if (auto top = ledger->load_smt_top(*upgrade); !top) {
    return make_error(top.error().code, dir.string() + ": " + top.error().message);
  }
  return std::unique_ptr<Ledger>(std::move(ledger));
}

}  // namespace custos::ledger
