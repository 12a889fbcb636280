// The ledger: blocks, the tx index, world state, per-key history and chain
// metadata in one RocksDB database with a column family each.
//
// Thread safety: every read may run concurrently with other reads and with
// commit_block(); commit_block() itself must be called from one thread at a
// time (the node's block applier). Reads see either all of a block or none.
//
// Durability: commit_block() writes one atomic WriteBatch with the WAL synced
// before it returns, so after kill -9 at any moment the database reopens at
// the last block that commit_block() returned for (or a later one).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/block.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/result.h"

namespace custos::ledger {

// Where one transaction of a committed block ended up.
struct TxRecord {
  Hash256 tx_id;
  std::uint64_t height = 0;
  std::uint32_t index = 0;  // position in the block
  std::string code;         // "OK" or a stable refusal code, e.g. "NOT_CUSTODIAN"
  std::string message;      // human-readable reason; empty for OK
};

// One change to world state; value nullopt deletes the key.
struct StateWrite {
  std::string key;
  std::optional<Json> value;
};

// One event appended to the history of `key` (an evidence item, say) at
// position `seq`; seqs of one key start at 0 and have no gaps.
struct HistoryAppend {
  std::string key;
  std::uint64_t seq = 0;
  Json event;
};

// Everything a block changes, as computed by the executor.
struct BlockEffects {
  std::vector<TxRecord> txs;       // one per transaction of the block, in order
  std::vector<StateWrite> writes;  // applied in order; later writes to a key win
  std::vector<HistoryAppend> history;
  Hash256 results_hash;  // committed to by the next block's header
};

// The latest committed block.
struct Head {
  std::uint64_t height = 0;
  Hash256 block_hash;
  Hash256 results_hash;
  std::int64_t timestamp_ms = 0;
};

struct LedgerOptions {
  bool sync_writes = true;  // tests that do not crash may turn fsync off
};

class Ledger {
 public:
  // Opens or creates the database in `dir`. Errors: "ledger_io" (RocksDB
  // could not open it: permissions, corruption, another process holds it).
  static Result<std::unique_ptr<Ledger>> open(const std::filesystem::path& dir,
                                              const LedgerOptions& options = {});
  virtual ~Ledger() = default;

  // --- blocks and the chain -------------------------------------------------
  // nullopt until the genesis block (height 0) is committed.
  virtual std::optional<Head> head() const = 0;
  virtual std::optional<Block> block(std::uint64_t height) const = 0;
  // The results hash of the block at `height` (what height+1's header commits to).
  virtual std::optional<Hash256> results_hash(std::uint64_t height) const = 0;

  // Commits a block and its effects atomically. Preconditions (checked, an
  // error "ledger_order" if violated; nothing is written): the block's height
  // is head()+1 (or 0 on an empty ledger), its prev_hash is the head's block
  // hash (for height 0 any value is accepted: it is the genesis hash), and
  // effects.txs has one record per transaction in block order. Errors:
  // "ledger_order", "ledger_io".
  virtual Status commit_block(const Block& block, const BlockEffects& effects) = 0;

  // --- transactions -----------------------------------------------------------
  virtual std::optional<TxRecord> tx(const Hash256& tx_id) const = 0;
  virtual bool has_tx(const Hash256& tx_id) const = 0;

  // --- world state -------------------------------------------------------------
  virtual std::optional<Json> get(std::string_view key) const = 0;
  // Keys starting with `prefix`, in byte order, strictly after `start_after`
  // (empty: from the first), at most `limit` of them.
  virtual std::vector<std::pair<std::string, Json>> scan(std::string_view prefix,
                                                         std::string_view start_after,
                                                         std::size_t limit) const = 0;

  // --- history -------------------------------------------------------------
  // Events of `key` with seq >= from_seq, oldest first, at most `limit`.
  // Cost is O(limit + log n) whatever the size of the ledger.
  virtual std::vector<HistoryAppend> history(std::string_view key, std::uint64_t from_seq,
                                             std::size_t limit) const = 0;

  // --- metadata ------------------------------------------------------------------
  // Small named values (the genesis document, the node's identity). Written
  // with sync.
  virtual std::optional<std::string> get_meta(std::string_view name) const = 0;
  virtual Status put_meta(std::string_view name, std::string_view value) = 0;
};

}  // namespace custos::ledger
