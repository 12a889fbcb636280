// Helpers shared by the ledger test files: temporary directories, chained
// blocks, and CommitmentModel, an independent recomputation of the
// transaction log and state map that the ledger's roots are checked against.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/block.h"
#include "core/hash.h"
#include "core/keys.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "core/tx.h"
#include "ledger/ledger.h"

namespace custos::ledger::testing {

inline constexpr const char* kNet = "custos-test";
inline constexpr std::int64_t kEpochMs = 1'764'460'800'000;

// A fresh directory per test under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("custos-ledger-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::unique_ptr<Ledger> open_ok(const std::filesystem::path& dir, bool sync = false) {
  auto l = Ledger::open(dir, LedgerOptions{.sync_writes = sync});
  if (!l) FAIL("open: " << l.error().code << ": " << l.error().message);
  return std::move(l).value();
}

// A distinct transaction for each n; the ledger does not verify signatures,
// so only some are signed, to show real ones round-trip.
inline Transaction make_tx(std::uint64_t n, bool sign = false) {
  Transaction tx;
  tx.network_id = kNet;
  tx.chaincode = "custody";
  tx.function = "register";
  tx.args = {{"item", "E-" + std::to_string(n)}, {"note", "sealed bag ✓"}};
  char nonce[17];
  std::snprintf(nonce, sizeof nonce, "%016llx", static_cast<unsigned long long>(n));
  tx.nonce = nonce;
  tx.created_at_ms = kEpochMs + static_cast<std::int64_t>(n);
  if (sign) REQUIRE(tx.sign(PrivateKey::generate()).ok());
  return tx;
}

inline Hash256 results_of(std::uint64_t height) {
  return tagged_hash("custos-test/results", std::to_string(height));
}

// The next block on top of the ledger's head, correctly chained.
inline Block next_block(const Ledger& l, std::vector<Transaction> txs) {
  auto h = l.head();
  std::uint64_t height = h ? h->height + 1 : 0;
  return make_block(kNet, height, h ? h->block_hash : Hash256{},
                    kEpochMs + static_cast<std::int64_t>(height), "node1",
                    h ? h->results_hash : Hash256{}, std::move(txs));
}

// Effects with an "OK" record for every transaction.
inline BlockEffects effects_for(const Block& b, std::vector<StateWrite> writes = {},
                                std::vector<HistoryAppend> history = {}) {
  BlockEffects e;
  for (std::size_t i = 0; i < b.txs.size(); ++i) {
    e.txs.push_back(
        TxRecord{b.txs[i].id(), b.header.height, static_cast<std::uint32_t>(i), "OK", ""});
  }
  e.writes = std::move(writes);
  e.history = std::move(history);
  e.results_hash = results_of(b.header.height);
  return e;
}

inline void commit_ok(Ledger& l, const Block& b, const BlockEffects& e) {
  auto s = l.commit_block(b, e);
  if (!s) FAIL("commit: " << s.error().code << ": " << s.error().message);
}

// Commits a block with no transactions and the given effects.
inline void commit_effects(Ledger& l, std::vector<StateWrite> writes,
                           std::vector<HistoryAppend> history = {}) {
  Block b = next_block(l, {});
  commit_ok(l, b, effects_for(b, std::move(writes), std::move(history)));
}

// The log leaf written out by hand from the definition in docs/formats.md
// §12 (rather than with tx_log_leaf_data), for the codes the tests use: plain
// ASCII that needs no escaping.
inline std::string expected_leaf(const Hash256& tx_id, std::uint64_t height, std::uint32_t index,
                                 const std::string& code) {
  return "{\"code\":\"" + code + "\",\"height\":" + std::to_string(height) +
         ",\"index\":" + std::to_string(index) + ",\"tx_id\":\"" + tx_id.hex() + "\"}";
}

// docs/formats.md §13, from the primitives.
inline Hash256 expected_history_head(const Json& event, std::uint64_t seq) {
  return tagged_hash("custos/history-head/v1",
                     canonical_json(Json{{"event", event}, {"seq", seq}}).value());
}

// What the ledger's commitments must be, recomputed the slow, obvious way:
// merkle_root over every leaf so far and a MemorySmtStore given each block's
// last append per key.
class CommitmentModel {
 public:
  void add(const Block& b, const BlockEffects& e) {
    for (const TxRecord& r : e.txs) {
      leaves_.push_back(expected_leaf(r.tx_id, r.height, r.index, r.code));
      leaf_hashes_.push_back(merkle_leaf_hash(as_bytes(leaves_.back())));
      first_index_.emplace(r.tx_id, leaves_.size() - 1);  // keeps the first
    }
    std::map<std::string, Hash256> last;
    for (const HistoryAppend& a : e.history) last[a.key] = expected_history_head(a.event, a.seq);
    std::vector<SmtChange> changes;
    for (const auto& [key, value] : last) {
      changes.push_back({key, value});
      heads_[key] = value;
    }
    auto update = smt_update(smt_, changes);
    REQUIRE(update.ok());
    smt_.apply(update->writes);
    roots_.push_back({leaves_.size(), merkle_root(leaf_hashes_), update->root});
    REQUIRE(roots_.size() == b.header.height + 1);
  }

  const std::vector<std::string>& leaves() const { return leaves_; }
  const std::vector<Hash256>& leaf_hashes() const { return leaf_hashes_; }
  const std::vector<ChainRoots>& roots() const { return roots_; }
  const std::map<std::string, Hash256>& heads() const { return heads_; }
  std::uint64_t first_index(const Hash256& tx_id) const { return first_index_.at(tx_id); }

 private:
  std::vector<std::string> leaves_;
  std::vector<Hash256> leaf_hashes_;
  std::map<Hash256, std::uint64_t> first_index_;
  std::map<std::string, Hash256> heads_;
  MemorySmtStore smt_;
  std::vector<ChainRoots> roots_;
};

}  // namespace custos::ledger::testing
