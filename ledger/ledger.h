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
//
// Commitments: with each block the ledger extends one RFC 6962 Merkle log
// over every transaction ever committed (the transaction log) and updates a
// sparse Merkle tree from history keys to their latest event (the state
// map); both roots are in the head and kept per height. Their exact bytes
// are in docs/formats.md §12 and §13 and commitments.h.
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
#include "core/signed_head.h"
#include "core/smt.h"
#include "ledger/commitments.h"

namespace custos::ledger {

// Where one transaction of a committed block ended up.
struct TxRecord {
  Hash256 tx_id;
  std::uint64_t height = 0;
  std::uint32_t index = 0;  // position in the block
  std::string code;         // "OK" or a stable refusal code, e.g. "NOT_CUSTODIAN"
  std::string message;      // human-readable reason; empty for OK
  // Position in the transaction log of the transaction's FIRST commit. Set by
  // the ledger: ignored in BlockEffects, filled in by tx(). A copy committed
  // again (a duplicate) is a log leaf of its own with its own code, which
  // log_leaf() returns; this record keeps pointing at the first.
  std::uint64_t log_index = 0;
};

// The log leaf data of the commit a record describes; for a record tx()
// returned, the leaf at its log_index (its first commit).
inline std::string tx_log_leaf_data(const TxRecord& r) {
  return tx_log_leaf_data(r.tx_id, r.height, r.index, r.code);
}

// One change to world state; value nullopt deletes the key.
struct StateWrite {
  std::string key;
  std::optional<Json> value;
};

// One event appended to the history of `key` (an evidence item, say) at
// position `seq`; seqs of one key start at 0 and have no gaps. A key is 1 to
// kSmtKeyBytesMax bytes without 0x00 (it is also a state map key).
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
  // Optional: the canonical JSON texts of writes[i].value ("" for a delete)
  // and of history[i].event, when the executor has them already (it hashes
  // them into results_hash); commit_block stores these instead of encoding
  // every value again. Empty, or exactly one per write and per append.
  std::vector<std::string> write_texts;
  std::vector<std::string> history_texts;
};

// The two commitments after a block: the transaction log's size and root
// and the state map's root.
struct ChainRoots {
  std::uint64_t log_size = 0;  // transactions committed up to and including the block
  Hash256 log_root;            // RFC 6962 MTH of those log_size leaves
  Hash256 state_root;          // SMT root over every history key's latest event

  bool operator==(const ChainRoots&) const = default;
};

// The latest committed block.
struct Head {
  std::uint64_t height = 0;
  Hash256 block_hash;
  Hash256 results_hash;
  std::int64_t timestamp_ms = 0;
  // The block's ChainRoots, as roots(height) returns them.
  std::uint64_t log_size = 0;
  Hash256 log_root;
  Hash256 state_root;

  ChainRoots roots() const { return {log_size, log_root, state_root}; }
};

// A state proof and the head it was made at: lookup.proof verifies with
// smt_verify(state_root, key, lookup.value, lookup.proof).
struct StateProof {
  std::uint64_t height = 0;  // the head the proof belongs to
  Hash256 state_root;        // that head's state root
  SmtLookup lookup;          // the key's history-head value (nullopt: no history) and proof
};

// State proofs of several history keys made at one head (one snapshot).
struct StateProofs {
  std::uint64_t height = 0;
  Hash256 state_root;
  std::vector<SmtLookup> lookups;  // one per key, in the order asked
};

// How settle() leaves the database (RocksDB's LSM tree: memtables in
// memory, SST files in levels 0..6).
enum class Settle {
  kWait,     // as it is: only wait for the flushes and compactions due
  kFlush,    // memtables written to level-0 SST files first
  kCompact,  // flushed, then each column family compacted into one sorted run
};

// What one column family holds on disk and in memory (storage_stats()).
struct ColumnFamilyStats {
  std::string name;                            // "history", "mlog", ...
  std::vector<std::uint64_t> files_per_level;  // SST files in level 0, 1, ...
  std::uint64_t sst_bytes = 0;
  std::uint64_t memtable_bytes = 0;
};

struct LedgerOptions {
  // fsync at every commit_block(). A node ordering with Raft turns it off:
  // its Raft log already holds every committed block durably, and it calls
  // sync() before it lets go of any of that log (docs/architecture.md).
  // Tests that do not crash may turn it off too.
  bool sync_writes = true;
  // RocksDB's cache of uncompressed SST blocks, shared by every column
  // family. The default suits a small server; reads of a ledger larger than
  // it miss more often (docs/perf-ledger-scale.md).
  std::size_t block_cache_bytes = std::size_t{32} << 20;
  // Memory for the transaction log's nodes, so that inclusion and
  // consistency proofs and log roots read them from memory rather than from
  // RocksDB. The whole log takes just under 64 bytes per transaction (61 MiB
  // at a million; the default holds all of it up to 2 million). A larger log
  // keeps only its upper levels, from the lowest level that fits: each level
  // dropped halves the memory and adds one node per proof, read from RocksDB
  // in the proof's one MultiGet. Never more than this, plus up to 128 KiB
  // per level of allocation slack. Read at open, one range scan: about 0.8 s
  // for a million transactions (docs/perf-ledger-scale.md). 0 keeps none.
  std::size_t log_cache_bytes = std::size_t{128} << 20;
  // Whole histories of keys read lately (of at most 1,000 events each), so
  // that a history page is copied from memory rather than iterated out of
  // RocksDB; commits extend them as they append. Forgotten all at once when
  // they would take more than this. 0 keeps none.
  std::size_t history_cache_bytes = std::size_t{16} << 20;
};

// A block made ready to write by Ledger::stage_block(): its effects, the
// head it makes, and (opaque) the ledger's writes.
class StagedBlock {
 public:
  virtual ~StagedBlock() = default;
  // The head once the block is written: its hash, results hash and roots.
  virtual const Head& head() const = 0;
  virtual const BlockEffects& effects() const = 0;
};

struct BlockTx {
  BlockHeader header;
  Transaction tx;
};

class Ledger {
 public:
  // Opens or creates the database in `dir`. Errors: "ledger_io" (RocksDB
  // could not open it: permissions, corruption, another process holds it;
  // another format; or its stored state map nodes do not give the head's
  // state root).
  static Result<std::unique_ptr<Ledger>> open(const std::filesystem::path& dir,
                                              const LedgerOptions& options = {});
  virtual ~Ledger() = default;

  // --- blocks and the chain -------------------------------------------------
  // nullopt until the genesis block (height 0) is committed.
  virtual std::optional<Head> head() const = 0;
  virtual std::optional<Block> block(std::uint64_t height) const = 0;
  // Transaction `index` of the block at `height` and the block's header,
  // read without parsing the block's other transactions: what reading one
  // committed transaction needs (a block holds up to 500 by default). nullopt
  // if there is no such block or it has fewer transactions.
  virtual std::optional<BlockTx> block_tx(std::uint64_t height, std::size_t index) const = 0;
  // The header of the block at `height` alone (one small read), or nullopt
  // if there is no such block.
  virtual std::optional<BlockHeader> block_header(std::uint64_t height) const = 0;
  // The results hash of the block at `height` (what height+1's header commits to).
  virtual std::optional<Hash256> results_hash(std::uint64_t height) const = 0;

  // Commits a block and its effects atomically. Preconditions (checked, an
  // error "ledger_order" if violated; nothing is written): the block's height
  // is head()+1 (or 0 on an empty ledger), its prev_hash is the head's block
  // hash (for height 0 any value is accepted: it is the genesis hash), and
  // effects.txs has one record per transaction in block order. In the same
  // batch it appends one transaction log leaf per record (block order) and
  // sets each history key's state map value from its last append in the
  // block. Errors: "ledger_order", "ledger_io".
  Status commit_block(const Block& block, const BlockEffects& effects) {
    auto staged = stage_block(block, effects);
    if (!staged) return staged.error();
    return write_staged(**staged);
  }
  // commit_block() in two halves, for a caller that wants a block's head
  // (its roots) before the block is written: an orderer that executes a
  // block while it is replicated. stage_block() checks the block and its
  // effects as commit_block() does and computes everything it would write
  // and the head it would make, writing nothing; write_staged() writes that
  // in one atomic batch. A staged block is for the head it was staged on:
  // once any other block has been committed, write_staged() refuses it
  // ("ledger_order", nothing written), as it refuses one written already.
  // One caller at a time, for all three.
  virtual Result<std::unique_ptr<StagedBlock>> stage_block(const Block& block,
                                                           BlockEffects effects) const = 0;
  virtual Status write_staged(StagedBlock& staged) = 0;
  // Makes every block committed so far durable (an fsync of RocksDB's
  // write-ahead log); what sync_writes does at each commit. Thread-safe.
  // Errors: "ledger_io".
  virtual Status sync() const = 0;

  // --- commitments ---------------------------------------------------------------
  // The roots after the block at `height`; nullopt if no such block.
  virtual std::optional<ChainRoots> roots(std::uint64_t height) const = 0;

  // The transaction log. Sizes and indexes may come from untrusted queries:
  // anything past the current head's log_size is the error "bad_range" (as
  // are the cases core/merkle_log.h names), never an abort. Any size the log
  // has ever had can be asked for: stored log nodes never change.
  //
  // MTH of the first `size` leaves; size 0 gives SHA-256(""). Errors:
  // "bad_range" (size > the head's log_size).
  virtual Result<Hash256> log_root(std::uint64_t size) const = 0;
  // RFC 6962 PATH(log_index, D[log_size]), checked with
  // merkle_verify_inclusion against log_root(log_size). Errors: "bad_range"
  // (log_size > the head's log_size, or log_index >= log_size).
  virtual Result<std::vector<Hash256>> inclusion_proof(std::uint64_t log_index,
                                                       std::uint64_t log_size) const = 0;
  // RFC 6962 PROOF(old_size, D[new_size]), checked with
  // merkle_verify_consistency. Errors: "bad_range" (old_size == 0, old_size >
  // new_size, new_size > the head's log_size).
  virtual Result<std::vector<Hash256>> consistency_proof(std::uint64_t old_size,
                                                         std::uint64_t new_size) const = 0;
  // The leaf data at `log_index` (tx_log_leaf_data of that commit), which a
  // verifier hashes with merkle_leaf_hash. Errors: "bad_range" (log_index >=
  // the head's log_size).
  virtual Result<std::string> log_leaf(std::uint64_t log_index) const = 0;

  // The state map at the current head: the history-head value of
  // `history_key` (nullopt if it has no history) with a membership or
  // non-membership proof, and the height and state root it was read at (one
  // RocksDB snapshot, with the in-memory top of the tree as it was at that
  // snapshot, so the three always belong together). Only the head can
  // be proved: the tree is overwritten in place by every block (the roots of
  // past heights stay valid for proofs made back then). Errors:
  // "ledger_empty" (no genesis block yet), "smt_bad_key" (key empty or longer
  // than kSmtKeyBytesMax).
  virtual Result<StateProof> state_proof(std::string_view history_key) const = 0;
  // state_proof for each of `history_keys`, all at one head. Errors as
  // state_proof's, for the first bad key.
  virtual Result<StateProofs> state_proofs(const std::vector<std::string>& history_keys) const = 0;

  // --- transactions -----------------------------------------------------------
  virtual std::optional<TxRecord> tx(const Hash256& tx_id) const = 0;
  virtual bool has_tx(const Hash256& tx_id) const = 0;

  // --- world state -------------------------------------------------------------
  // The value of `key`, or null when it has none. Shared and read-only: a
  // caller that changes it copies it (get() does).
  virtual SharedJson get_shared(std::string_view key) const = 0;
  std::optional<Json> get(std::string_view key) const {
    SharedJson value = get_shared(key);
    if (!value) return std::nullopt;
    return *value;
  }
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
  // The same events as their stored text (canonical JSON), unparsed: for
  // answers that pass them on as they are.
  virtual std::vector<std::string> history_texts(std::string_view key, std::uint64_t from_seq,
                                                 std::size_t limit) const = 0;

  // --- head signatures ---------------------------------------------------------
  // Node signatures of head statements (core/signed_head.h), kept beside the
  // chain. The ledger stores what it is given: the caller checks each
  // signature against the node membership first.
  //
  // Stores `sig` for the head at `height`, replacing that node's earlier one.
  // Written without fsync (a lost signature is made or gossiped again), so it
  // never slows block application much. Thread-safe. Errors: "ledger_io".
  virtual Status put_head_signature(std::uint64_t height, const HeadSignature& sig) = 0;
  // The signatures stored for `height`, sorted by node id (byte order).
  virtual std::vector<HeadSignature> head_signatures(std::uint64_t height) const = 0;
  // The highest height with any stored signature; nullopt if none.
  virtual std::optional<std::uint64_t> last_head_signature_height() const = 0;

  // --- metadata ------------------------------------------------------------------
  // Small named values (the genesis document, the node's identity). Written
  // with sync.
  virtual std::optional<std::string> get_meta(std::string_view name) const = 0;
  virtual Status put_meta(std::string_view name, std::string_view value) = 0;

  // --- maintenance: for tools and benchmarks; the node calls neither ---------
  // Does what `how` says, then returns once RocksDB has no flush or
  // compaction running or pending (polling every few milliseconds). Reads and
  // commits may run meanwhile; work they cause is waited for too. Changes
  // where records are kept, never what any read returns. Errors: "ledger_io".
  virtual Status settle(Settle how) = 0;
  // One entry per column family, in a fixed order. Thread-safe.
  virtual std::vector<ColumnFamilyStats> storage_stats() const = 0;
};

}  // namespace custos::ledger
