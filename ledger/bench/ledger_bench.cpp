// ledger_bench: do history and proof reads cost the same in a ledger of a
// thousand transactions as in one of a million (BRIEF.md §6, issue 7
// "Reads": within 20%)? A program that prints figures, not a test.
//
// It commits a "probe" item's history (--history-events events) and then
// blocks of custody handovers spread round robin over --items items into
// fresh RocksDB ledgers opened with the options a node uses, one ledger per
// checkpoint (a number of transactions): every block goes to each ledger
// that has not reached its checkpoint yet, so the 1k ledger is exactly the
// first thousand transactions of the 1M one. A ledger that reaches its
// checkpoint is settled (--settle) and left alone. Then the reads the
// gateway makes are timed on all of them in interleaved rounds, so that
// whatever else runs on the machine meanwhile falls on every size alike:
// history and history_texts of the probe item, inclusion proofs of random
// log entries against the head, the probe's state proof and tx() of random
// committed ids. At the end it compares the last checkpoint with the first.
// docs/perf-ledger-scale.md has the method and figures.
//
// The transactions are well formed (they pass block_from_json, as
// commit_block requires) and as large as real handovers, but their two
// signatures are made once and reused: the ledger stores signatures and
// never verifies them, and signing two million times would make the fill
// minutes longer without changing a byte count.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "core/block.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/json_members.h"
#include "core/keys.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "core/tx.h"
#include "ledger/commitments.h"
#include "ledger/ledger.h"

using namespace custos;
using custos::ledger::BlockEffects;
using custos::ledger::HistoryAppend;
using custos::ledger::Ledger;
using custos::ledger::LedgerOptions;
using custos::ledger::TxRecord;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kNetwork = "custos-bench";
constexpr std::int64_t kEpochMs = 1'764'460'800'000;  // 2025-11-30, as the tests
constexpr std::int64_t kBlockIntervalMs = 500;
constexpr double kProgressIntervalS = 5.0;
constexpr std::uint64_t kCheckpointTxsMax = 100'000'000;
// Issue 7: history and inclusion-proof latency at 1M within 20% of 1k.
constexpr double kRatioMax = 1.2;

struct Options {
  std::filesystem::path dir;  // empty: a temporary directory, removed at the end
  bool keep = false;
  bool reopen = false;  // measure the ledgers a --keep run left in dir
  std::size_t block_txs = 500;
  std::size_t items = 10'000;
  std::size_t history_events = 100;
  std::vector<std::uint64_t> checkpoints = {1'000, 1'000'000};
  std::size_t reads = 2'000;
  std::size_t warmup_reads = 2'000;
  std::size_t rounds = 10;
  std::uint64_t seed = 1;
  bool no_sync = false;
  std::size_t block_cache_mib = LedgerOptions{}.block_cache_bytes >> 20;
  std::size_t log_cache_mib = LedgerOptions{}.log_cache_bytes >> 20;
  ledger::Settle settle = ledger::Settle::kFlush;
  std::string out_json;
};

const char* settle_name(ledger::Settle s) {
  switch (s) {
    case ledger::Settle::kWait:
      return "wait";
    case ledger::Settle::kFlush:
      return "flush";
    case ledger::Settle::kCompact:
      return "compact";
  }
  return "?";
}

// The process's resident set (Linux /proc/self/statm), 0 if unreadable.
double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages_total = 0;
  unsigned long long pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) /
         1048576.0;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint64_t directory_bytes(const std::filesystem::path& dir, std::size_t& sst_files) {
  std::uint64_t bytes = 0;
  sst_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    bytes += entry.file_size();
    if (entry.path().extension() == ".sst") ++sst_files;
  }
  return bytes;
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "ledger_bench: %s\n", why.c_str());
  std::exit(1);
}

// One custody item as the custody module keeps it: what the next event and
// the item record need.
struct Item {
  std::string id;
  std::uint64_t event_count = 0;
  std::string head_event_hash = std::string(64, '0');  // kNoPrevEventHash
  std::uint64_t registered_at_height = 0;
};

// Builds custody handovers and what executing them writes: the item record
// under item/<id> and one event appended to the history item/<id>, shaped
// as chaincode/custody.cpp shapes them (the bench cannot link the chaincode:
// the ledger comes before it).
class Workload {
 public:
  Workload(std::size_t items, std::size_t probe_events)
      : probe_events_(probe_events),
        actor_key_(PrivateKey::generate()),
        receiver_key_(PrivateKey::generate()) {
    probe_.id = "E-2026-PROBE";
    items_.reserve(items);
    for (std::size_t i = 0; i < items; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "E-2026-%06zu", i);
      items_.push_back(Item{id});
    }
    // Made once over a fixed message; see the file comment.
    const std::string message = "custos ledger_bench";
    signatures_ = {{actor_key_.public_key(), actor_key_.sign(as_bytes(message))},
                   {receiver_key_.public_key(), receiver_key_.sign(as_bytes(message))}};
  }

  static std::string item_key(const Item& item) { return "item/" + item.id; }
  const Item& probe() const { return probe_; }

  // The item the n-th transaction of the ledger hands over: the probe for
  // the first probe_events, then the fill items round robin.
  Item& item_for(std::uint64_t n) {
    return n < probe_events_ ? probe_ : items_[(n - probe_events_) % items_.size()];
  }

  // Appends the n-th transaction, its record and its effects to a block at
  // `height` being built.
  void add(std::uint64_t n, std::uint64_t height, std::int64_t block_time_ms,
           std::vector<Transaction>& txs, BlockEffects& effects) {
    Item& item = item_for(n);
    const std::int64_t declared_at_ms = block_time_ms - 60'000;
    const bool even = n % 2 == 0;
    const std::string to = even ? "nl-forensics-analyst-2" : "nl-police-custodian-7";
    const std::string actor = even ? "nl-police-custodian-7" : "nl-forensics-analyst-2";
    const std::string location =
        even ? "NFI The Hague, lab 3, locker 12" : "Evidence room B, shelf 4";
    char seal[32];
    std::snprintf(seal, sizeof seal, "SEAL-%08llu", static_cast<unsigned long long>(n));

    Transaction tx;
    tx.network_id = kNetwork;
    tx.chaincode = "custody";
    tx.function = "handover";
    tx.args = {{"item_id", item.id},
               {"to", to},
               {"purpose", "forensic examination"},
               {"location", location},
               {"seals_intact", true},
               {"seal_numbers", Json::array({seal})},
               {"condition", "sealed bag, undamaged"},
               {"declared_at_ms", declared_at_ms}};
    char nonce[17];
    std::snprintf(nonce, sizeof nonce, "%016llx", static_cast<unsigned long long>(n));
    tx.nonce = nonce;
    tx.created_at_ms = declared_at_ms + 1'000;
    tx.signatures = signatures_;
    const Hash256 tx_id = tx.id();

    // custody.handover's event: data is the arguments less item_id and
    // declared_at_ms (event_data_from_args).
    Json data = tx.args;
    data.erase("item_id");
    data.erase("declared_at_ms");
    Json event = {{"declared_at_ms", declared_at_ms},
                  {"item_id", item.id},
                  {"seq", item.event_count},
                  {"type", "handover"},
                  {"tx_id", tx_id.hex()},
                  {"height", height},
                  {"block_time_ms", block_time_ms},
                  {"actor", actor},
                  {"cosigners", Json::array({to})},
                  {"data", std::move(data)},
                  {"prev_event_hash", item.head_event_hash}};
    // The custody module hashes the canonical event; the ledger does not
    // check the chain, so a hash of the same size made more cheaply will do.
    const std::string event_hash =
        tagged_hash("custos-bench/event", tx_id.hex() + std::to_string(item.event_count)).hex();
    event["event_hash"] = event_hash;
    if (item.event_count == 0) item.registered_at_height = height;

    effects.history.push_back({item_key(item), item.event_count, std::move(event)});
    item.event_count += 1;
    item.head_event_hash = event_hash;
    Json record = {{"id", item.id},
                   {"case_id", "C-2026-17"},
                   {"kind", "physical"},
                   {"description", "mobile phone, black, cracked screen"},
                   {"content_hash", nullptr},
                   {"seal_numbers", Json::array({seal})},
                   {"location", location},
                   {"custodian", to},
                   {"parent_id", nullptr},
                   {"children", Json::array()},
                   {"status", "in_custody"},
                   {"flagged", false},
                   {"event_count", item.event_count},
                   {"head_event_hash", event_hash},
                   {"last_declared_at_ms", declared_at_ms},
                   {"registered_at_height", item.registered_at_height}};
    effects.writes.push_back({item_key(item), std::move(record)});
    effects.txs.push_back(
        TxRecord{tx_id, height, static_cast<std::uint32_t>(txs.size()), "OK", ""});
    txs.push_back(std::move(tx));
  }

 private:
  std::size_t probe_events_;
  PrivateKey actor_key_;
  PrivateKey receiver_key_;
  std::vector<TxSignature> signatures_;
  Item probe_;
  std::vector<Item> items_;
};

// The tx id in the log leaf at `index` (docs/formats.md §12).
Hash256 leaf_tx_id(const Ledger& ledger, std::uint64_t index) {
  auto leaf = ledger.log_leaf(index);
  if (!leaf) fail("log leaf " + std::to_string(index) + ": " + leaf.error().message);
  auto json = parse_json_strict(*leaf);
  if (!json || !json->is_object() || !json->contains("tx_id")) {
    fail("log leaf " + std::to_string(index) + " is not a leaf");
  }
  auto id = json_hash_member(*json, "tx_id", "bad_leaf");
  if (!id) fail("log leaf " + std::to_string(index) + ": " + id.error().message);
  return *id;
}

// One ledger of the run, filled to `target` transactions.
struct Sized {
  std::uint64_t target = 0;
  std::filesystem::path dir;
  std::unique_ptr<Ledger> ledger;
  double commit_s = 0;      // time inside its commit_block calls
  double fill_s = 0;        // wall time of the fill until it reached its target
  double settle_s = 0;      // Ledger::settle once it had
  double open_s = 0;        // Ledger::open
  double open_rss_mib = 0;  // the process's resident memory grown by Ledger::open
};

// Commits blocks to every ledger below its target, in order of target, and
// settles each as it reaches it. Keeps every tx id by log index (32 MB per
// million) for the tx() reads.
class Filler {
 public:
  Filler(std::vector<Sized>& ledgers, Workload& workload, std::size_t block_txs,
         std::size_t probe_events, ledger::Settle settle)
      : ledgers_(ledgers),
        workload_(workload),
        block_txs_(block_txs),
        probe_events_(probe_events),
        settle_(settle) {}

  const std::vector<Hash256>& tx_ids() const { return tx_ids_; }

  void run() {
    const auto start = Clock::now();
    auto last_print = start;
    std::uint64_t txs_at_last_print = 0;
    for (std::size_t j = 0; j < ledgers_.size(); ++j) {
      const std::uint64_t target = ledgers_[j].target;
      std::printf("\nfilling to %llu transactions\n", static_cast<unsigned long long>(target));
      std::fflush(stdout);
      while (tx_ids_.size() < target) {
        const std::uint64_t n = tx_ids_.size();
        std::uint64_t count = std::min<std::uint64_t>(block_txs_, target - n);
        // The probe's events go in blocks of their own, so that the probe
        // has exactly its events at every checkpoint.
        if (n < probe_events_) count = std::min(count, probe_events_ - n);
        commit_block(j, n, count);
        const double interval_s = seconds_since(last_print);
        if (interval_s >= kProgressIntervalS) {
          const Sized& big = ledgers_.back();
          std::printf(
              "  fill: %llu tx, %.0f tx/s in the last %.0f s; commit_block alone %.0f tx/s\n",
              static_cast<unsigned long long>(tx_ids_.size()),
              (tx_ids_.size() - txs_at_last_print) / interval_s, interval_s,
              tx_ids_.size() / big.commit_s);
          std::fflush(stdout);
          last_print = Clock::now();
          txs_at_last_print = tx_ids_.size();
        }
      }
      ledgers_[j].fill_s = seconds_since(start);
      const auto settle_start = Clock::now();
      if (auto settled = ledgers_[j].ledger->settle(settle_); !settled) {
        fail("settle: " + settled.error().message);
      }
      ledgers_[j].settle_s = seconds_since(settle_start);
    }
  }

 private:
  // Builds the block of transactions first .. first+count-1 and commits it
  // to ledgers open_from.. (their heads are the same); building is not
  // timed, committing is.
  void commit_block(std::size_t open_from, std::uint64_t first, std::uint64_t count) {
    auto head = ledgers_[open_from].ledger->head();
    const std::uint64_t height = head ? head->height + 1 : 0;
    const std::int64_t block_time_ms =
        kEpochMs + static_cast<std::int64_t>(height) * kBlockIntervalMs;
    std::vector<Transaction> txs;
    txs.reserve(count);
    BlockEffects effects;
    for (std::uint64_t n = first; n < first + count; ++n) {
      workload_.add(n, height, block_time_ms, txs, effects);
    }
    Block block = make_block(kNetwork, height, head ? head->block_hash : Hash256{}, block_time_ms,
                             "node1", head ? head->results_hash : Hash256{}, std::move(txs));
    if (head) {
      block.header.prev_log_size = head->log_size;
      block.header.prev_log_root = head->log_root;
      block.header.prev_state_root = head->state_root;
    }
    effects.results_hash = tagged_hash("custos-bench/results", std::to_string(height));

    for (std::size_t j = open_from; j < ledgers_.size(); ++j) {
      const auto start = Clock::now();
      auto committed = ledgers_[j].ledger->commit_block(block, effects);
      ledgers_[j].commit_s += seconds_since(start);
      if (!committed) {
        fail("commit_block " + std::to_string(height) + ": " + committed.error().code + ": " +
             committed.error().message);
      }
    }
    for (const TxRecord& r : effects.txs) tx_ids_.push_back(r.tx_id);
  }

  std::vector<Sized>& ledgers_;
  Workload& workload_;
  std::size_t block_txs_;
  std::uint64_t probe_events_;
  ledger::Settle settle_;
  std::vector<Hash256> tx_ids_;
};

// One kind of read on one ledger. time_one() picks an input, times the read
// alone and checks the answer outside the timed span, stopping the program
// on a wrong one, so that a broken read cannot look fast.
struct ReadKind {
  std::string name;
  bool target = false;               // one of the reads issue 7 sets the 20% target for
  std::function<double()> time_one;  // milliseconds
  std::vector<double> latencies_ms;
};

template <typename Pick, typename Read, typename Check>
std::function<double()> timed(Pick pick, Read read, Check check) {
  return [=]() mutable {
    auto input = pick();
    const auto start = Clock::now();
    auto output = read(input);
    const auto end = Clock::now();
    check(input, output);
    return std::chrono::duration<double, std::milli>(end - start).count();
  };
}

// The reads of one ledger. Random choices come from a generator seeded
// alike for every ledger: the same sequence, scaled to each size.
std::vector<ReadKind> read_kinds(const Ledger& ledger, const std::string& probe_key,
                                 std::size_t events, const std::vector<Hash256>& all_ids,
                                 std::uint64_t seed) {
  auto head = ledger.head();
  if (!head) fail("no head to read at");
  const std::uint64_t log_size = head->log_size;
  const Hash256 log_root = head->log_root;
  auto rng = std::make_shared<std::mt19937_64>(seed);
  auto pick_index = [rng, log_size] {
    return std::uniform_int_distribution<std::uint64_t>(0, log_size - 1)(*rng);
  };
  auto no_input = [] { return 0; };
  const std::vector<Hash256>* ids = &all_ids;
  const Ledger* l = &ledger;

  std::vector<ReadKind> kinds;
  kinds.push_back({"history",
                   true,
                   timed(
                       no_input, [=](int) { return l->history(probe_key, 0, events); },
                       [=](int, const std::vector<HistoryAppend>& out) {
                         if (out.size() != events || out.front().seq != 0 ||
                             out.back().seq != events - 1)
                           fail("history of the probe: wrong events");
                       }),
                   {}});
  kinds.push_back({"history_texts",
                   true,
                   timed(
                       no_input, [=](int) { return l->history_texts(probe_key, 0, events); },
                       [=](int, const std::vector<std::string>& out) {
                         if (out.size() != events) fail("history_texts of the probe: wrong events");
                       }),
                   {}});
  kinds.push_back({"inclusion_proof",
                   true,
                   timed(
                       pick_index, [=](std::uint64_t i) { return l->inclusion_proof(i, log_size); },
                       [=](std::uint64_t i, const Result<std::vector<Hash256>>& proof) {
                         auto leaf = l->log_leaf(i);
                         if (!proof || !leaf ||
                             !merkle_verify_inclusion(merkle_leaf_hash(as_bytes(*leaf)), i,
                                                      log_size, *proof, log_root))
                           fail("inclusion proof of log entry " + std::to_string(i) +
                                " does not verify");
                       }),
                   {}});
  kinds.push_back(
      {"state_proof",
       false,
       timed(
           no_input, [=](int) { return l->state_proof(probe_key); },
           [=](int, const Result<ledger::StateProof>& p) {
             if (!p || !p->lookup.value ||
                 !smt_verify(p->state_root, probe_key, p->lookup.value, p->lookup.proof))
               fail("state proof of the probe does not verify");
           }),
       {}});
  kinds.push_back({"tx",
                   false,
                   timed(
                       pick_index, [=](std::uint64_t i) { return l->tx((*ids)[i]); },
                       [=](std::uint64_t i, const std::optional<TxRecord>& r) {
                         if (!r || r->log_index != i)
                           fail("tx " + (*ids)[i].hex() + ": wrong record");
                       }),
                   {}});
  // What GET /v1/transactions/{id} reads: the record, the transaction out
  // of its block and its inclusion proof against the head. The route makes
  // the log leaf from the record (the leaf of the first commit, which
  // log_index names) instead of reading it, and so does this.
  struct TxWithProof {
    std::optional<TxRecord> record;
    std::optional<ledger::BlockTx> located;
    std::string leaf;
    Result<std::vector<Hash256>> proof = std::vector<Hash256>();
  };
  kinds.push_back({"tx_with_proof",
                   true,
                   timed(
                       pick_index,
                       [=](std::uint64_t i) {
                         TxWithProof out;
                         out.record = l->tx((*ids)[i]);
                         if (!out.record) return out;
                         out.located = l->block_tx(out.record->height, out.record->index);
                         out.leaf = ledger::tx_log_leaf_data(*out.record);
                         out.proof = l->inclusion_proof(out.record->log_index, log_size);
                         return out;
                       },
                       [=](std::uint64_t i, const TxWithProof& out) {
                         if (!out.record || !out.located || out.located->tx.id() != (*ids)[i] ||
                             !out.proof ||
                             !merkle_verify_inclusion(merkle_leaf_hash(as_bytes(out.leaf)), i,
                                                      log_size, *out.proof, log_root))
                           fail("tx " + (*ids)[i].hex() + " with its proof: wrong answer");
                       }),
                   {}});
  return kinds;
}

// Warms every ledger up, then times `reads` reads of each kind on each in
// `rounds` rounds: each round reads every ledger in turn (in reverse order
// every other round), each kind in turn, reads / rounds times.
std::vector<std::vector<ReadKind>> measure(const std::vector<Sized>& ledgers,
                                           const std::string& probe_key,
                                           const std::vector<Hash256>& ids, const Options& o) {
  std::vector<std::vector<ReadKind>> all;
  for (const Sized& s : ledgers) {
    all.push_back(read_kinds(*s.ledger, probe_key, o.history_events, ids, o.seed));
  }
  for (auto& kinds : all) {
    for (ReadKind& k : kinds) {
      for (std::size_t i = 0; i < o.warmup_reads; ++i) k.time_one();
    }
  }
  for (std::size_t round = 0; round < o.rounds; ++round) {
    const std::size_t n = o.reads / o.rounds + (round < o.reads % o.rounds ? 1 : 0);
    for (std::size_t step = 0; step < all.size(); ++step) {
      auto& kinds = all[round % 2 == 0 ? step : all.size() - 1 - step];
      for (ReadKind& k : kinds) {
        for (std::size_t i = 0; i < n; ++i) k.latencies_ms.push_back(k.time_one());
      }
    }
  }
  return all;
}

double us(double ms) {
  return ms * 1000.0;
}

std::string size_label(std::uint64_t txs) {
  if (txs >= 1'000'000 && txs % 1'000'000 == 0) return std::to_string(txs / 1'000'000) + "M";
  if (txs >= 1'000 && txs % 1'000 == 0) return std::to_string(txs / 1'000) + "k";
  return std::to_string(txs);
}

struct Figures {
  std::string name;
  bool target = false;
  bench::Percentiles latency;
};

struct Checkpoint {
  std::uint64_t txs = 0;
  std::uint64_t blocks = 0;
  std::uint64_t db_bytes = 0;
  std::size_t sst_files = 0;
  double fill_s = 0;
  double commit_s = 0;
  double settle_s = 0;
  double open_s = 0;
  double open_rss_mib = 0;
  std::vector<ledger::ColumnFamilyStats> storage;
  std::vector<Figures> reads;
};

void print_checkpoint(const Checkpoint& c, const char* settle) {
  std::printf(
      "\n== %llu transactions, %llu blocks, database %.1f MiB (%zu SST files); filled after "
      "%.1f s (its commit_block calls %.1f s); settle %s %.1f s\n",
      static_cast<unsigned long long>(c.txs), static_cast<unsigned long long>(c.blocks),
      c.db_bytes / 1048576.0, c.sst_files, c.fill_s, c.commit_s, settle, c.settle_s);
  std::printf("  opened in %.3f s, resident memory +%.1f MiB\n", c.open_s, c.open_rss_mib);
  std::printf("  %-10s %-20s %8s %8s\n", "family", "SST files L0 L1 ..", "SST MiB", "mem MiB");
  for (const auto& cf : c.storage) {
    if (cf.sst_bytes == 0 && cf.memtable_bytes == 0) continue;
    std::string levels;
    std::size_t deepest = 0;
    for (std::size_t l = 0; l < cf.files_per_level.size(); ++l) {
      if (cf.files_per_level[l]) deepest = l;
    }
    for (std::size_t l = 0; l <= deepest; ++l) {
      levels += (l ? " " : "") + std::to_string(cf.files_per_level[l]);
    }
    std::printf("  %-10s %-20s %8.1f %8.1f\n", cf.name.c_str(), levels.c_str(),
                cf.sst_bytes / 1048576.0, cf.memtable_bytes / 1048576.0);
  }
  std::printf("  %-16s %8s %9s %9s %9s %9s\n", "read", "n", "p50 us", "p90 us", "p99 us", "max us");
  for (const Figures& r : c.reads) {
    std::printf("  %-16s %8zu %9.1f %9.1f %9.1f %9.1f\n", r.name.c_str(), r.latency.count,
                us(r.latency.p50_ms), us(r.latency.p90_ms), us(r.latency.p99_ms),
                us(r.latency.max_ms));
  }
  std::fflush(stdout);
}

// The last checkpoint against the first: p50 and p99 ratios.
Json print_comparison(const Checkpoint& first, const Checkpoint& last) {
  const std::string label = size_label(last.txs) + " / " + size_label(first.txs);
  std::printf(
      "\n== %s (target: history, inclusion proof, tx with proof within 20%%, ratio <= %.2f)\n",
      label.c_str(), kRatioMax);
  std::printf("  %-16s %9s %9s %7s %9s %9s %7s  %s\n", "read", "p50 first", "p50 last", "ratio",
              "p99 first", "p99 last", "ratio", "within 20%");
  Json rows = Json::array();
  for (std::size_t i = 0; i < first.reads.size(); ++i) {
    const auto& a = first.reads[i];
    const auto& b = last.reads[i];
    const double p50_ratio = b.latency.p50_ms / a.latency.p50_ms;
    const double p99_ratio = b.latency.p99_ms / a.latency.p99_ms;
    const bool p50_ok = p50_ratio <= kRatioMax;
    const bool p99_ok = p99_ratio <= kRatioMax;
    std::string verdict = std::string("p50 ") + (p50_ok ? "yes" : "NO") + ", p99 " +
                          (p99_ok ? "yes" : "NO") + (a.target ? "" : " (no target)");
    std::printf("  %-16s %9.1f %9.1f %7.2f %9.1f %9.1f %7.2f  %s\n", a.name.c_str(),
                us(a.latency.p50_ms), us(b.latency.p50_ms), p50_ratio, us(a.latency.p99_ms),
                us(b.latency.p99_ms), p99_ratio, verdict.c_str());
    rows.push_back({{"read", a.name},
                    {"target", a.target},
                    {"p50_ratio", p50_ratio},
                    {"p99_ratio", p99_ratio},
                    {"p50_within_20_percent", p50_ok},
                    {"p99_within_20_percent", p99_ok}});
  }
  std::fflush(stdout);
  return {{"label", label}, {"reads", rows}};
}

Json checkpoint_json(const Checkpoint& c) {
  Json reads = Json::object();
  for (const Figures& r : c.reads) {
    reads[r.name] = {{"count", r.latency.count},
                     {"p50_us", us(r.latency.p50_ms)},
                     {"p90_us", us(r.latency.p90_ms)},
                     {"p99_us", us(r.latency.p99_ms)},
                     {"max_us", us(r.latency.max_ms)}};
  }
  Json storage = Json::object();
  for (const auto& cf : c.storage) {
    storage[cf.name] = {{"files_per_level", cf.files_per_level},
                        {"sst_bytes", cf.sst_bytes},
                        {"memtable_bytes", cf.memtable_bytes}};
  }
  return {{"txs", c.txs},
          {"blocks", c.blocks},
          {"db_bytes", c.db_bytes},
          {"sst_files", c.sst_files},
          {"fill_s", c.fill_s},
          {"commit_s", c.commit_s},
          {"settle_s", c.settle_s},
          {"open_s", c.open_s},
          {"open_rss_mib", c.open_rss_mib},
          {"storage", storage},
          {"reads", reads}};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Times ledger history and proof reads at two ledger sizes (issue 7)"};
  app.add_option("--dir", o.dir,
                 "Directory for the ledgers, one subdirectory per checkpoint; must not exist "
                 "(default: a temporary one)");
  app.add_flag("--keep", o.keep, "Keep the ledgers at the end");
  app.add_flag("--reopen", o.reopen,
               "Measure the ledgers a --keep run left in --dir again, without filling "
               "(their checkpoints are their subdirectories; give the same --history-events)");
  app.add_option("--block-txs", o.block_txs, "Transactions per block (default 500)")
      ->check(CLI::Range(std::size_t{1}, kBlockTxsMax));
  app.add_option("--items", o.items, "Items the fill hands over, round robin (default 10000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  app.add_option("--history-events", o.history_events,
                 "Events of the probe item whose history is read (default 100)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}));
  app.add_option("--checkpoints", o.checkpoints,
                 "Transaction counts to measure at, ascending (default 1000,1000000)")
      ->delimiter(',')
      ->check(CLI::Range(std::uint64_t{1}, kCheckpointTxsMax));
  app.add_option("--reads", o.reads, "Timed reads of each kind per checkpoint (default 2000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  app.add_option("--warmup", o.warmup_reads,
                 "Untimed reads of each kind per checkpoint before the timed ones (default 2000)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{10'000'000}));
  app.add_option("--rounds", o.rounds,
                 "Rounds the timed reads are split into, alternating between checkpoints "
                 "(default 10)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000}));
  app.add_option("--seed", o.seed, "Seed of the random log indexes and tx ids (default 1)");
  app.add_flag("--no-sync", o.no_sync,
               "Commit without fsync (as a node under Raft does; it only shortens the fill)");
  app.add_option("--block-cache-mib", o.block_cache_mib,
                 "Each ledger's RocksDB block cache (default: the node's, 32)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_option("--log-cache-mib", o.log_cache_mib,
                 "Each ledger's memory for the log's nodes (default: the node's, 128; 0: none)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
  app.add_option("--settle", o.settle,
                 "Once a ledger has reached its checkpoint: wait (for the compactions due), "
                 "flush (memtables to SST files, then wait; the default) or compact (flush, "
                 "compact fully, wait)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, ledger::Settle>{{"wait", ledger::Settle::kWait},
                                                {"flush", ledger::Settle::kFlush},
                                                {"compact", ledger::Settle::kCompact}}));
  app.add_option("--out", o.out_json, "Write the figures as JSON to this file");
  CLI11_PARSE(app, argc, argv);

  if (!std::is_sorted(o.checkpoints.begin(), o.checkpoints.end()) ||
      std::adjacent_find(o.checkpoints.begin(), o.checkpoints.end()) != o.checkpoints.end()) {
    fail("--checkpoints must be ascending");
  }
  if (o.checkpoints.front() < o.history_events) {
    fail("the first checkpoint must hold the probe's " + std::to_string(o.history_events) +
         " events");
  }
  if (o.reads < o.rounds) fail("--reads must be at least --rounds");

  if (o.reopen) {
    if (o.dir.empty()) fail("--reopen needs --dir");
    o.keep = true;
    o.checkpoints.clear();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(o.dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
        o.checkpoints.push_back(std::strtoull(name.c_str(), nullptr, 10));
      }
    }
    if (ec || o.checkpoints.empty()) fail(o.dir.string() + " holds no ledgers of a --keep run");
    std::sort(o.checkpoints.begin(), o.checkpoints.end());
  }
  if (o.dir.empty()) {
    o.dir = std::filesystem::temp_directory_path() /
            ("custos-ledger-bench-" + std::to_string(::getpid()));
  }
  if (!o.reopen && std::filesystem::exists(o.dir)) {
    fail(o.dir.string() + " exists; the bench needs a fresh one (or --reopen)");
  }

  // The node opens its ledger with the default options (node/node.cpp).
  LedgerOptions ledger_options;
  if (o.no_sync) ledger_options.sync_writes = false;
  ledger_options.block_cache_bytes = o.block_cache_mib << 20;
  ledger_options.log_cache_bytes = o.log_cache_mib << 20;
  std::vector<Sized> ledgers;
  for (std::uint64_t target : o.checkpoints) {
    Sized s;
    s.target = target;
    s.dir = o.dir / std::to_string(target);
    const double rss_before_mib = resident_mib();
    const auto open_start = Clock::now();
    auto opened = Ledger::open(s.dir, ledger_options);
    s.open_s = seconds_since(open_start);
    s.open_rss_mib = resident_mib() - rss_before_mib;
    if (!opened) fail("open " + s.dir.string() + ": " + opened.error().message);
    s.ledger = std::move(opened).value();
    if (o.reopen) {
      auto head = s.ledger->head();
      if (!head || head->log_size != target) fail(s.dir.string() + " does not hold its checkpoint");
    }
    ledgers.push_back(std::move(s));
  }

  std::printf(
      "ledger_bench: %s, sync_writes %s, block cache %zu MiB, log cache %zu MiB, blocks of %zu "
      "tx, %zu items, probe of %zu events, settle %s\n",
      o.dir.string().c_str(), ledger_options.sync_writes ? "on" : "off", o.block_cache_mib,
      o.log_cache_mib, o.block_txs, o.items, o.history_events, settle_name(o.settle));
  std::printf(
      "  %zu timed reads of each kind per checkpoint in %zu interleaved rounds, after %zu "
      "untimed\n",
      o.reads, o.rounds, o.warmup_reads);
  {
    // Sizes of what a handover stores, for the record.
    std::vector<Transaction> txs;
    BlockEffects effects;
    Workload sizing(1, 0);
    sizing.add(0, 1, kEpochMs, txs, effects);
    std::printf("  a transaction is %zu bytes of JSON, its event %zu, its item record %zu\n",
                txs[0].to_json().dump().size(), canonical_json(effects.history[0].event)->size(),
                canonical_json(*effects.writes[0].value)->size());
  }
  std::fflush(stdout);

  const auto start = Clock::now();
  Workload workload(o.items, o.history_events);
  std::vector<Hash256> tx_ids;
  if (!o.reopen) {
    Filler filler(ledgers, workload, o.block_txs, o.history_events, o.settle);
    filler.run();
    tx_ids = filler.tx_ids();
  } else {
    // The ids, from the largest ledger's log leaves (the others are its
    // prefixes; the tx reads check the log index they find).
    const Ledger& largest = *ledgers.back().ledger;
    for (std::uint64_t i = 0; i < ledgers.back().target; ++i)
      tx_ids.push_back(leaf_tx_id(largest, i));
    for (Sized& s : ledgers) {
      const auto settle_start = Clock::now();
      if (auto settled = s.ledger->settle(o.settle); !settled) {
        fail("settle: " + settled.error().message);
      }
      s.settle_s = seconds_since(settle_start);
    }
  }
  const double fill_s = seconds_since(start);

  std::printf("\nmeasuring\n");
  std::fflush(stdout);
  const auto measure_start = Clock::now();
  auto reads = measure(ledgers, Workload::item_key(workload.probe()), tx_ids, o);
  const double measure_s = seconds_since(measure_start);

  std::vector<Checkpoint> checkpoints;
  for (std::size_t j = 0; j < ledgers.size(); ++j) {
    const Sized& s = ledgers[j];
    Checkpoint c;
    auto head = s.ledger->head();
    c.txs = head->log_size;
    c.blocks = head->height + 1;
    c.fill_s = s.fill_s;
    c.commit_s = s.commit_s;
    c.settle_s = s.settle_s;
    c.open_s = s.open_s;
    c.open_rss_mib = s.open_rss_mib;
    c.storage = s.ledger->storage_stats();
    c.db_bytes = directory_bytes(s.dir, c.sst_files);
    for (ReadKind& k : reads[j])
      c.reads.push_back({k.name, k.target, bench::percentiles(k.latencies_ms)});
    print_checkpoint(c, settle_name(o.settle));
    checkpoints.push_back(std::move(c));
  }

  Json comparison;
  if (checkpoints.size() > 1)
    comparison = print_comparison(checkpoints.front(), checkpoints.back());
  if (o.reopen) {
    std::printf("\ntotal %.1f s: reopened (tx ids and settle) %.1f s, reads %.1f s\n",
                seconds_since(start), fill_s, measure_s);
  } else {
    std::printf(
        "\ntotal %.1f s: fill %.1f s (%.0f tx/s; the largest ledger's commit_block calls %.1f "
        "s, %.0f tx/s), reads %.1f s\n",
        seconds_since(start), fill_s, checkpoints.back().txs / fill_s, checkpoints.back().commit_s,
        checkpoints.back().txs / checkpoints.back().commit_s, measure_s);
  }

  if (!o.out_json.empty()) {
    Json runs = Json::array();
    for (const Checkpoint& c : checkpoints) runs.push_back(checkpoint_json(c));
    Json out = {{"block_txs", o.block_txs},
                {"items", o.items},
                {"history_events", o.history_events},
                {"reads", o.reads},
                {"warmup_reads", o.warmup_reads},
                {"rounds", o.rounds},
                {"seed", o.seed},
                {"sync_writes", ledger_options.sync_writes},
                {"block_cache_mib", o.block_cache_mib},
                {"log_cache_mib", o.log_cache_mib},
                {"settle", settle_name(o.settle)},
                {"reopened", o.reopen},
                {"checkpoints", runs},
                {"comparison", comparison}};
    std::ofstream file(o.out_json);
    file << out.dump(2) << "\n";
    if (!file) fail("cannot write " + o.out_json);
  }

  reads.clear();
  for (Sized& s : ledgers) s.ledger.reset();  // closes each database before it is removed
  if (!o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(o.dir, ec);
    if (ec) fail("cannot remove " + o.dir.string() + ": " + ec.message());
  } else {
    std::printf("kept %s\n", o.dir.string().c_str());
  }
  return 0;
}
