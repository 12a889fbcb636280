// The RocksDB implementation of Ledger. Key layout and guarantees: README.md.
//
// Atomicity for readers. Every public read is exactly one Get or one
// iterator. RocksDB gives each of them a single sequence number to read at,
// and it publishes a WriteBatch's sequence numbers only after the whole batch
// is in the memtable (true with the default DBOptions: unordered_write and
// two_write_queues off, which we never change). Since commit_block() writes a
// block and all of its effects in one batch, any single read sees either all
// of a block or none of it, with no explicit snapshot. A caller that makes
// several reads can see a later block in the second one, but because blocks
// are append-only, head() followed by block(head->height) always succeeds.
//
// What aborts. Bad data *read back* from the database is corruption, and an
// I/O error on a read cannot be reported through the read API without being
// mistaken for "absent", which would let state silently diverge; both stop
// the process. Caller bugs in commit_block() (a history key holding 0x00, a
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
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <system_error>

#include "ledger/ledger.h"

namespace custos::ledger {
namespace {

// The on-disk layout version, kept in meta under kFormatKey. Bump it on any
// change to the key layout or record encodings.
constexpr std::string_view kFormat = "custos-ledger/1";

// Sized for a small server: the cache is shared by every column family.
constexpr std::size_t kBlockCacheBytes = 32u << 20;
constexpr std::size_t kWriteBufferBytes = 8u << 20;       // per column family
constexpr std::size_t kAllWriteBuffersBytes = 48u << 20;  // flush before exceeding
constexpr int kBloomBitsPerKey = 10;
constexpr int kOpenFilesMax = 512;
constexpr std::size_t kInfoLogFilesKept = 4;

// Column family order in handles_; kDefault exists only because RocksDB
// requires it.
enum Cf : std::size_t { kDefault, kBlocks, kTxs, kState, kHistory, kMeta, kCfCount };
constexpr const char* kCfNames[kCfCount] = {"default", "blocks", "txs", "state", "history", "meta"};

// Internal meta keys. User names from put_meta() live under kUserMetaPrefix
// so that no name a caller picks can overwrite the head or a results hash.
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kHeadKey = "head";
constexpr std::string_view kResultsPrefix = "results/";
constexpr std::string_view kUserMetaPrefix = "user/";

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "custos ledger: fatal: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

// Big-endian so that byte order is numeric order: blocks and history seqs
// iterate oldest first.
std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v);
  return out;
}

std::uint64_t from_be64(std::string_view s) {
  if (s.size() != 8) die("stored 8-byte integer has " + std::to_string(s.size()) + " bytes");
  std::uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::string results_key(std::uint64_t height) {
  return std::string(kResultsPrefix) + be64(height);
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
  return canonical_or_die(
      Json{{"height", r.height}, {"index", r.index}, {"code", r.code}, {"message", r.message}},
      "tx record of " + r.tx_id.hex());
}

TxRecord decode_tx_record(const Hash256& id, std::string_view text) {
  const std::string what = "tx record " + id.hex();
  Json j = parse_stored(text, what);
  if (!j.is_object() || j.size() != 4) die(what + " has the wrong members");
  TxRecord r;
  r.tx_id = id;
  std::int64_t height = int_member(j, "height", what);
  std::int64_t index = int_member(j, "index", what);
  if (height < 0 || index < 0 || index > std::numeric_limits<std::uint32_t>::max()) {
    die(what + " has an out-of-range height or index");
  }
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
                               {"timestamp_ms", h.timestamp_ms}},
                          "head");
}

Head decode_head(std::string_view text) {
  Json j = parse_stored(text, "head");
  if (!j.is_object() || j.size() != 4) die("corrupt head: wrong members");
  Head h;
  std::int64_t height = int_member(j, "height", "head");
  if (height < 0) die("corrupt head: negative height");
  h.height = static_cast<std::uint64_t>(height);
  h.block_hash = hash_member(j, "block_hash", "head");
  h.results_hash = hash_member(j, "results_hash", "head");
  h.timestamp_ms = int_member(j, "timestamp_ms", "head");
  return h;
}

Error io_error(const std::string& what, const rocksdb::Status& s) {
  return make_error("ledger_io", what + ": " + s.ToString());
}

Error order_error(const std::string& why) {
  return make_error("ledger_order", why);
}

class RocksLedger final : public Ledger {
 public:
  RocksLedger(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
              const LedgerOptions& options)
      : db_(db), handles_(std::move(handles)), options_(options) {}

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
    auto text = read(kMeta, kHeadKey);
    if (!text) return std::nullopt;
    return decode_head(*text);
  }

  std::optional<Block> block(std::uint64_t height) const override {
    auto text = read(kBlocks, be64(height));
    if (!text) return std::nullopt;
    const std::string what = "block " + std::to_string(height);
    auto b = block_from_json(parse_stored(*text, what));
    if (!b) die("corrupt " + what + ": " + b.error().message);
    if (b->header.height != height)
      die("corrupt " + what + ": it says height " + std::to_string(b->header.height));
    return std::move(b).value();
  }

  std::optional<Hash256> results_hash(std::uint64_t height) const override {
    auto bytes = read(kMeta, results_key(height));
    if (!bytes) return std::nullopt;
    if (bytes->size() != 32) die("corrupt results hash at height " + std::to_string(height));
    return Hash256::from_bytes(as_bytes(*bytes));
  }

  Status commit_block(const Block& block, const BlockEffects& effects) override {
    // The contract says one caller at a time; the lock makes a misbehaving
    // second caller wait instead of committing two blocks at one height.
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
    for (std::size_t i = 0; i < block.txs.size(); ++i) {
      const TxRecord& r = effects.txs[i];
      if (r.tx_id != block.txs[i].id() || r.height != height || r.index != i) {
        return order_error("tx record " + std::to_string(i) + " of block " +
                           std::to_string(height) + " is not for transaction " + std::to_string(i) +
                           " of that block");
      }
    }

    // A block that block_from_json would refuse could never be read back.
    Json block_json = block.to_json();
    if (auto check = block_from_json(block_json); !check) {
      die("commit_block: block " + std::to_string(height) +
          " is malformed: " + check.error().message);
    }

    rocksdb::WriteBatch batch;
    auto put = [&](Cf cf, std::string_view key, std::string_view value) {
      auto s = batch.Put(handles_[cf], slice(key), slice(value));
      if (!s.ok()) die("WriteBatch::Put: " + s.ToString());
    };

    put(kBlocks, be64(height), canonical_or_die(block_json, "block"));

    // The index keeps where a transaction was first committed: a later copy
    // of it (which the executor records as a duplicate) must not replace it.
    std::set<Hash256> indexed_here;
    for (const TxRecord& r : effects.txs) {
      if (indexed_here.contains(r.tx_id) || has_tx(r.tx_id)) continue;
      indexed_here.insert(r.tx_id);
      put(kTxs, raw(r.tx_id), encode_tx_record(r));
    }

    // WriteBatch applies in order with increasing sequence numbers, so a
    // later write to a key wins, as the contract requires.
    for (const StateWrite& w : effects.writes) {
      if (w.value) {
        put(kState, w.key, canonical_or_die(*w.value, "state value of \"" + w.key + "\""));
      } else {
        auto s = batch.Delete(handles_[kState], slice(w.key));
        if (!s.ok()) die("WriteBatch::Delete: " + s.ToString());
      }
    }

    std::map<std::string, std::uint64_t, std::less<>> next_seq;
    std::unique_ptr<rocksdb::Iterator> last(db_->NewIterator({}, handles_[kHistory]));
    for (const HistoryAppend& a : effects.history) {
      if (a.key.find('\0') != std::string::npos) {
        die("commit_block: history key holds a 0x00 byte");
      }
      auto it = next_seq.find(a.key);
      if (it == next_seq.end()) {
        it = next_seq.emplace(a.key, next_history_seq(*last, a.key)).first;
      }
      if (a.seq != it->second) {
        die("commit_block: history of \"" + a.key + "\" gets seq " + std::to_string(a.seq) +
            ", expected " + std::to_string(it->second));
      }
      ++it->second;
      put(kHistory, history_prefix(a.key) + be64(a.seq),
          canonical_or_die(a.event, "history event of \"" + a.key + "\""));
    }

    put(kMeta, results_key(height), raw(effects.results_hash));
    put(kMeta, kHeadKey,
        encode_head(
            Head{height, block.header.hash(), effects.results_hash, block.header.timestamp_ms}));

    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_writes;
    auto s = db_->Write(wo, &batch);
    if (!s.ok()) return io_error("writing block " + std::to_string(height), s);
    return ok_status();
  }

  std::optional<TxRecord> tx(const Hash256& tx_id) const override {
    auto text = read(kTxs, raw(tx_id));
    if (!text) return std::nullopt;
    return decode_tx_record(tx_id, *text);
  }

  bool has_tx(const Hash256& tx_id) const override { return read(kTxs, raw(tx_id)).has_value(); }

  std::optional<Json> get(std::string_view key) const override {
    auto text = read(kState, key);
    if (!text) return std::nullopt;
    return parse_stored(*text, "state value of \"" + std::string(key) + "\"");
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
    // Writes refuse such keys, so none has a history; answering (rather than
    // aborting) keeps a crafted request from stopping the node.
    if (limit == 0 || key.find('\0') != std::string_view::npos) return out;
    const std::string prefix = history_prefix(key);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, handles_[kHistory]));
    for (it->Seek(slice(prefix + be64(from_seq))); it->Valid() && out.size() < limit; it->Next()) {
      std::string_view k = view(it->key());
      if (!k.starts_with(prefix)) break;
      if (k.size() != prefix.size() + 8) die("corrupt history key of \"" + std::string(key) + "\"");
      HistoryAppend a;
      a.key = std::string(key);
      a.seq = from_be64(k.substr(prefix.size()));
      a.event = parse_stored(view(it->value()), "history event of \"" + a.key + "\"");
      out.push_back(std::move(a));
    }
    check_iterator(*it, "reading history");
    return out;
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

  // Stamps a new database with kFormat; refuses one written in another
  // layout version rather than misreading it.
  Status check_format() {
    std::string format;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[kMeta], slice(kFormatKey), &format);
    if (s.IsNotFound()) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db_->Put(wo, handles_[kMeta], slice(kFormatKey), slice(kFormat));
      if (!s.ok()) return io_error("writing the format", s);
      return ok_status();
    }
    if (!s.ok()) return io_error("reading the format", s);
    if (format != kFormat) {
      return make_error("ledger_io", "holds ledger format \"" + format + "\", this build reads \"" +
                                         std::string(kFormat) + "\"");
    }
    return ok_status();
  }

 private:
  // Tx ids and results hashes are stored as their 32 raw bytes.
  static std::string_view raw(const Hash256& h) {
    return {reinterpret_cast<const char*>(h.bytes.data()), h.bytes.size()};
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

  static std::uint64_t next_history_seq(rocksdb::Iterator& it, std::string_view key) {
    const std::string prefix = history_prefix(key);
    it.SeekForPrev(slice(prefix + be64(std::numeric_limits<std::uint64_t>::max())));
    check_iterator(it, "reading history");
    if (!it.Valid() || !view(it.key()).starts_with(prefix)) return 0;
    return from_be64(view(it.key()).substr(prefix.size())) + 1;
  }

  static void check_iterator(const rocksdb::Iterator& it, const char* what) {
    if (!it.status().ok()) die(std::string(what) + ": " + it.status().ToString());
  }

  std::optional<std::string> read(Cf cf, std::string_view key) const {
    std::string value;
    auto s = db_->Get(rocksdb::ReadOptions(), handles_[cf], slice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) die(std::string("reading ") + kCfNames[cf] + ": " + s.ToString());
    return value;
  }

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  const LedgerOptions options_;
  std::mutex commit_mutex_;
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

  auto cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kCfNames) descriptors.emplace_back(name, column_family_options(cache));

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) return io_error("opening " + dir.string(), s);
  auto ledger = std::make_unique<RocksLedger>(raw, std::move(handles), options);

  auto format = ledger->check_format();
  if (!format) return make_error("ledger_io", dir.string() + ": " + format.error().message);
  return std::unique_ptr<Ledger>(std::move(ledger));
}

}  // namespace custos::ledger
