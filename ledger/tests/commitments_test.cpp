// The transaction log and the state map: roots per block, proofs, reopening,
// refusal of the previous on-disk format, and reads beside commit_block().
#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "core/merkle.h"
#include "core/smt.h"
#include "ledger/commitments.h"
#include "ledger/ledger.h"
#include "ledger/tests/ledger_test_util.h"

using namespace custos;
using namespace custos::ledger;
using namespace custos::ledger::testing;

namespace {

HistoryAppend event(const std::string& key, std::uint64_t seq, const std::string& what) {
  return {key, seq, Json{{"what", what}, {"seq", seq}, {"note", "sealed ✓"}}};
}

// Every read of the commitments checked against the model: roots at every
// height, every leaf and its inclusion proof at the head and at each past
// size, consistency between every pair of past sizes, and a state proof for
// every key with history and for keys without.
void check_commitments(const Ledger& l, const CommitmentModel& model,
                       const std::vector<std::string>& absent_keys) {
  auto head = l.head();
  REQUIRE(head.has_value());
  const auto& roots = model.roots();
  REQUIRE(head->height + 1 == roots.size());
  CHECK(head->roots() == roots.back());
  for (std::uint64_t h = 0; h < roots.size(); ++h) {
    INFO("height " << h);
    CHECK(l.roots(h) == roots[h]);
    CHECK(l.log_root(roots[h].log_size).value() == roots[h].log_root);
  }
  CHECK_FALSE(l.roots(roots.size()).has_value());

  const std::uint64_t size = head->log_size;
  REQUIRE(size == model.leaves().size());
  for (std::uint64_t i = 0; i < size; ++i) {
    INFO("log index " << i);
    auto leaf = l.log_leaf(i);
    REQUIRE(leaf.ok());
    CHECK(*leaf == model.leaves()[i]);
    auto proof = l.inclusion_proof(i, size);
    REQUIRE(proof.ok());
    CHECK(merkle_verify_inclusion(merkle_leaf_hash(as_bytes(*leaf)), i, size, *proof,
                                  head->log_root));
    // Against every older head that already held the leaf, too.
    for (const ChainRoots& r : roots) {
      if (r.log_size <= i) continue;
      auto old = l.inclusion_proof(i, r.log_size);
      REQUIRE(old.ok());
      CHECK(merkle_verify_inclusion(model.leaf_hashes()[i], i, r.log_size, *old, r.log_root));
    }
  }
  for (const ChainRoots& older : roots) {
    for (const ChainRoots& newer : roots) {
      if (older.log_size == 0 || older.log_size > newer.log_size) continue;
      auto proof = l.consistency_proof(older.log_size, newer.log_size);
      REQUIRE(proof.ok());
      CHECK(merkle_verify_consistency(older.log_size, newer.log_size, older.log_root,
                                      newer.log_root, *proof));
    }
  }

  for (const auto& [key, value] : model.heads()) {
    INFO("key " << key);
    auto sp = l.state_proof(key);
    REQUIRE(sp.ok());
    CHECK(sp->height == head->height);
    CHECK(sp->state_root == head->state_root);
    CHECK(sp->lookup.value == std::optional<Hash256>(value));
    CHECK(smt_verify(head->state_root, key, value, sp->lookup.proof));
    // A proof of another value, or of absence, must not verify.
    CHECK_FALSE(smt_verify(head->state_root, key, std::nullopt, sp->lookup.proof));
    Hash256 other = value;
    other.bytes[0] ^= 1;
    CHECK_FALSE(smt_verify(head->state_root, key, other, sp->lookup.proof));
  }
  for (const std::string& key : absent_keys) {
    INFO("absent key " << key);
    REQUIRE_FALSE(model.heads().contains(key));
    auto sp = l.state_proof(key);
    REQUIRE(sp.ok());
    CHECK_FALSE(sp->lookup.value.has_value());
    CHECK(smt_verify(head->state_root, key, std::nullopt, sp->lookup.proof));
  }
}

}  // namespace

TEST_CASE("a history head value from the event's canonical text is the one from the event") {
  const Json events[] = {Json::object(), Json{{"type", "register"}, {"n", 1}},
                         Json{{"note", "caf\u00e9 \"quoted\" \U0001F600"}, {"list", {1, 2, 3}}}};
  for (const Json& e : events) {
    for (std::uint64_t seq : {0ull, 7ull, 9'007'199'254'740'991ull}) {
      Hash256 expected =
          tagged_hash(kHistoryHeadTag, canonical_json(Json{{"event", e}, {"seq", seq}}).value());
      CHECK(history_head_value(e, seq) == expected);
      CHECK(history_head_value_of_text(canonical_json(e).value(), seq) == expected);
    }
  }
}

TEST_CASE("the transaction log and state map follow every block and survive reopening") {
  TempDir dir;
  CommitmentModel model;
  const std::vector<std::string> absent = {"item/E-404", "item/E-1x", "artefact/none", "i"};
  std::vector<Transaction> all_txs;
  {
    auto l = open_ok(dir.path());
    auto commit_and_model = [&](const Block& b, const BlockEffects& e) {
      commit_ok(*l, b, e);
      model.add(b, e);
      CHECK(l->head()->roots() == model.roots().back());
    };

    // Genesis: no transactions, but history, so the state root is not empty.
    Block genesis = next_block(*l, {});
    auto e0 = effects_for(genesis, {}, {event("org/nl-police", 0, "founded")});
    commit_and_model(genesis, e0);
    CHECK(l->head()->log_size == 0);
    CHECK(l->head()->log_root == sha256(std::string_view("")));
    CHECK(l->head()->state_root != kSmtEmpty);

    std::uint64_t n = 1;
    for (std::uint64_t height = 1; height <= 12; ++height) {
      INFO("height " << height);
      std::vector<Transaction> txs;
      // 0 to 6 transactions: empty blocks, odd sizes, powers of two.
      for (std::uint64_t i = 0; i < (height * 5) % 7; ++i) txs.push_back(make_tx(n++));
      // Every third block repeats an earlier transaction (a duplicate).
      if (height % 3 == 0 && !all_txs.empty()) txs.push_back(all_txs[height % all_txs.size()]);
      Block b = next_block(*l, txs);
      std::vector<HistoryAppend> history;
      // item/E-<height>: two appends in one block, the second must win.
      history.push_back(event("item/E-" + std::to_string(height), 0, "registered"));
      history.push_back(event("item/E-" + std::to_string(height), 1, "sealed"));
      // item/E-1 grows across blocks: its value changes every block.
      if (height > 1) history.push_back(event("item/E-1", height, "handover"));
      auto e = effects_for(b, {}, history);
      for (std::size_t i = 0; i < e.txs.size(); ++i) {
        if (i % 4 == 1) e.txs[i].code = "NOT_CUSTODIAN";
      }
      if (height % 3 == 0 && !all_txs.empty()) e.txs.back().code = "DUPLICATE_TX";
      commit_and_model(b, e);
      for (const Transaction& tx : txs) all_txs.push_back(tx);
    }
    check_commitments(*l, model, absent);

    // The tx record points at the first commit; the duplicate's leaf says so.
    for (const Transaction& tx : all_txs) {
      auto rec = l->tx(tx.id());
      REQUIRE(rec.has_value());
      CHECK(rec->log_index == model.first_index(tx.id()));
      CHECK(l->log_leaf(rec->log_index).value() ==
            expected_leaf(tx.id(), rec->height, rec->index, rec->code));
    }
    std::size_t duplicate_leaves = 0;
    for (const std::string& leaf : model.leaves()) {
      if (leaf.find("DUPLICATE_TX") != std::string::npos) ++duplicate_leaves;
    }
    CHECK(duplicate_leaves == 4);
  }
  auto l = open_ok(dir.path());
  check_commitments(*l, model, absent);

  // Commits continue from the reopened log and tree.
  Block b = next_block(*l, {make_tx(5000), make_tx(5001)});
  auto e = effects_for(b, {}, {event("item/E-1", 13, "returned"), event("item/new", 0, "new")});
  commit_ok(*l, b, e);
  model.add(b, e);
  check_commitments(*l, model, absent);
}

// The log's nodes are kept in memory from the lowest level that fits
// LedgerOptions::log_cache_bytes (rocksdb_ledger.cpp, LogNodeCache) and read
// from RocksDB below it. With the default budget all of this log is in
// memory; with 32 KiB the lowest cached level is 3 at 3016 leaves and moves
// to 4 while committing past 4096 (levels dropped under a running ledger);
// with 0 every node comes from RocksDB (one MultiGet per proof). Each is
// reopened with another budget, as an operator may change it: proofs and
// roots agree with the model whether nodes were just committed, loaded when
// reopening or committed after that, and every inclusion proof at the head
// is byte for byte core/merkle.h's.
TEST_CASE(
    "log proofs and roots agree with the model for every log cache budget, across reopening") {
  constexpr std::size_t kDefault = LedgerOptions{}.log_cache_bytes;
  const std::vector<std::pair<std::size_t, std::size_t>> budgets = {
      {kDefault, 32 << 10}, {32 << 10, 0}, {0, kDefault}};
  for (const auto& [budget, reopen_budget] : budgets) {
    CAPTURE(budget);
    CAPTURE(reopen_budget);
    TempDir dir;
    CommitmentModel model;
    std::uint64_t n = 1;
    auto commit_txs = [&](Ledger& l, std::size_t count) {
      std::vector<Transaction> txs;
      for (std::size_t i = 0; i < count; ++i) txs.push_back(make_tx(n++));
      Block b = next_block(l, std::move(txs));
      auto e = effects_for(b);
      commit_ok(l, b, e);
      model.add(b, e);
    };
    auto open_with = [&](std::size_t log_cache_bytes) {
      auto l = Ledger::open(
          dir.path(), LedgerOptions{.sync_writes = false, .log_cache_bytes = log_cache_bytes});
      REQUIRE(l.ok());
      return std::move(l).value();
    };
    auto check_proofs_exact = [&](const Ledger& l) {
      const std::uint64_t size = l.head()->log_size;
      for (std::uint64_t i = 0; i < size; i += 7) {
        CHECK(l.inclusion_proof(i, size).value() == merkle_inclusion_proof(model.leaf_hashes(), i));
      }
    };
    {
      auto l = open_with(budget);
      // Sizes that straddle 1024 and 2048 on either side.
      for (std::size_t count : {1, 700, 323, 1, 1, 1000, 990}) commit_txs(*l, count);
      REQUIRE(l->head()->log_size == 3016);
      check_commitments(*l, model, {});
      check_proofs_exact(*l);
    }
    auto l = open_with(reopen_budget);
    check_commitments(*l, model, {});
    commit_txs(*l, 1100);  // past 4096: a level-12 node made after the reload
    REQUIRE(l->head()->log_size == 4116);
    check_commitments(*l, model, {});
    check_proofs_exact(*l);
  }
}

namespace {

std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}

// Runs f(db, handle of each column family by name) on the closed ledger in
// dir, as a tool outside the ledger would.
template <typename F>
void with_raw_ledger(const std::filesystem::path& dir, F&& f) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> cf;
  for (std::size_t i = 0; i < names.size(); ++i) cf[names[i]] = handles[i];
  f(*db, cf);
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
  delete db;
}

// The stored state map nodes of the closed ledger in dir, counted by
// (depth, kind).
std::map<std::pair<int, SmtNode::Kind>, int> stored_smt_nodes(const std::filesystem::path& dir) {
  std::map<std::pair<int, SmtNode::Kind>, int> counts;
  with_raw_ledger(dir, [&](rocksdb::DB& db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf.at("smt")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto pos =
          SmtPosition::decode(as_bytes(std::string_view(it->key().data(), it->key().size())));
      auto node =
          SmtNode::decode(as_bytes(std::string_view(it->value().data(), it->value().size())));
      REQUIRE(pos.ok());
      REQUIRE(node.ok());
      ++counts[{pos->depth, node->kind}];
    }
    REQUIRE(it->status().ok());
  });
  return counts;
}

std::string format_of(const std::filesystem::path& dir) {
  std::string format;
  with_raw_ledger(dir, [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Get({}, cf.at("meta"), "format", &format).ok());
  });
  return format;
}

// Commits blocks that append to the history of keys "item/K-<first>" up to
// first + count, every step-th, twice to odd keys: new keys and appends to
// old ones. Each block's roots are checked against the model.
class KeyWriter {
 public:
  KeyWriter(CommitmentModel& model) : model_(model) {}
  void commit(Ledger& l, std::size_t first, std::size_t count, std::size_t step) {
    std::vector<HistoryAppend> history;
    for (std::size_t k = first; k < first + count; k += step) {
      const std::string key = "item/K-" + std::to_string(k);
      for (int twice = 0; twice < 1 + static_cast<int>(k % 2); ++twice) {
        history.push_back(event(key, seqs_[key]++, "handover"));
      }
    }
    Block b = next_block(l, {make_tx(n_++)});
    auto e = effects_for(b, {}, history);
    commit_ok(l, b, e);
    model_.add(b, e);
    REQUIRE(l.head()->roots() == model_.roots().back());
  }

 private:
  CommitmentModel& model_;
  std::uint64_t n_ = 1;
  std::map<std::string, std::uint64_t> seqs_;
};

// A closed ledger whose state map holds 600 keys (leaves near depth 10).
struct SmallMap {
  TempDir dir;
  CommitmentModel model;
  KeyWriter writer{model};
  SmallMap() { writer.commit(*open_ok(dir.path()), 0, 600, 1); }
};

}  // namespace

// Since format 4 the state map's interior nodes above depth 16 are kept in
// memory only (rocksdb_ledger.cpp, SmtTop) and rebuilt on open from what is
// stored: the leaves up there and every node at depth 16. 3,000 keys put
// leaves from about depth 8 to past 16 (so interior nodes replace leaves up
// there as keys arrive). Every block's state root is checked against the
// model, before and after reopening, and at the end every key's proof.
TEST_CASE("state roots agree with the model across reopening; the map's top is not stored") {
  TempDir dir;
  CommitmentModel model;
  KeyWriter writer(model);
  {
    auto l = open_ok(dir.path());
    for (std::size_t first = 0; first < 3000; first += 500) writer.commit(*l, first, 500, 1);
    for (std::size_t step : {7, 3, 11}) writer.commit(*l, 0, 3000, step);
  }
  const auto stored = stored_smt_nodes(dir.path());
  int leaves_above = 0, interior_above = 0, at_16 = 0;
  for (const auto& [where, count] : stored) {
    const auto& [depth, kind] = where;
    if (depth < 16) (kind == SmtNode::Kind::leaf ? leaves_above : interior_above) += count;
    if (depth == 16) at_16 += count;
  }
  CHECK(interior_above == 0);
  CHECK(leaves_above > 100);
  CHECK(at_16 > 10);

  auto l = open_ok(dir.path());
  REQUIRE(l->head()->roots() == model.roots().back());
  writer.commit(*l, 3000, 500, 1);
  for (std::size_t step : {5, 13, 2}) writer.commit(*l, 0, 3500, step);
  check_commitments(*l, model, {"item/absent", "item/K-3500"});
}

TEST_CASE("open refuses a ledger whose stored state map nodes do not give the head's root") {
  SmallMap ledger;
  auto& [dir, model, writer] = ledger;
  std::string expected_format = "custos-ledger/4";
  std::string expected_message = "the state map's stored nodes";
  SUBCASE("an interior node above depth 16, which format 4 never stores") {
    expected_message = "stores no interior state map node above depth 16";
    with_raw_ledger(dir.path(), [](rocksdb::DB& db, auto& cf) {
      const SmtNode interior = SmtNode::interior(sha256(std::string_view("left")), kSmtEmpty);
      REQUIRE(db.Put({}, cf.at("smt"), text(SmtPosition::root().encode()), text(interior.encode()))
                  .ok());
    });
  }
  SUBCASE("a leaf above depth 16 lost") {
    with_raw_ledger(dir.path(), [](rocksdb::DB& db, auto& cf) {
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf.at("smt")));
      it->SeekToFirst();
      REQUIRE(it->Valid());
      REQUIRE(db.Delete({}, cf.at("smt"), it->key()).ok());
    });
  }
  SUBCASE("a leaf's value changed") {
    with_raw_ledger(dir.path(), [](rocksdb::DB& db, auto& cf) {
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf.at("smt")));
      it->SeekToFirst();
      REQUIRE(it->Valid());
      auto node =
          SmtNode::decode(as_bytes(std::string_view(it->value().data(), it->value().size())));
      REQUIRE(node.ok());
      node->b = sha256(std::string_view("another value"));
      REQUIRE(db.Put({}, cf.at("smt"), it->key(), text(node->encode())).ok());
    });
  }
  SUBCASE("a format-3 ledger with a leaf lost: it stays format 3") {
    expected_format = "custos-ledger/3";
    with_raw_ledger(dir.path(), [](rocksdb::DB& db, auto& cf) {
      REQUIRE(db.Put({}, cf.at("meta"), "format", "custos-ledger/3").ok());
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf.at("smt")));
      it->SeekToFirst();
      REQUIRE(it->Valid());
      REQUIRE(db.Delete({}, cf.at("smt"), it->key()).ok());
    });
  }
  auto reopened = Ledger::open(dir.path());
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == "ledger_io");
  INFO(reopened.error().message);
  CHECK(reopened.error().message.find(expected_message) != std::string::npos);
  CHECK(format_of(dir.path()) == expected_format);
}

// A format-3 build stored every interior node of the state map; format 4
// reads such a ledger the same way, skipping the upper interior nodes, and
// once the top rebuilt without them checks out, deletes them and stamps it
// format 4, which a format-3 build refuses. Here the stored upper nodes are
// garbage, so that reading any of them would show.
TEST_CASE("a format-3 ledger opens, its stored upper interior nodes unread, as format 4") {
  SmallMap ledger;
  auto& [dir, model, writer] = ledger;
  const SmtNode garbage = SmtNode::interior(sha256(std::string_view("left")), kSmtEmpty);
  with_raw_ledger(dir.path(), [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Put({}, cf.at("meta"), "format", "custos-ledger/3").ok());
    for (const SmtPosition& pos :
         {SmtPosition::root(), SmtPosition::root().child(0), SmtPosition::root().child(1),
          SmtPosition::root().child(1).child(0)}) {
      REQUIRE(db.Put({}, cf.at("smt"), text(pos.encode()), text(garbage.encode())).ok());
    }
  });
  {
    auto l = open_ok(dir.path());
    REQUIRE(l->head()->roots() == model.roots().back());
    writer.commit(*l, 600, 300, 1);
    writer.commit(*l, 0, 900, 7);
    check_commitments(*l, model, {"item/absent"});
  }
  CHECK(format_of(dir.path()) == "custos-ledger/4");
  // The upgrade deleted what format 3 alone stored.
  for (const auto& [where, count] : stored_smt_nodes(dir.path())) {
    CHECK_FALSE((where.first < 16 && where.second == SmtNode::Kind::interior));
  }
}

// Format 4 stores a block as its header under BE8(height) and each
// transaction under BE8(height) BE4(index), so that reading one transaction
// reads it alone; format 3 stored blocks whole, and both read the same.
TEST_CASE("blocks are stored as a header and a key per transaction; whole ones still read") {
  TempDir dir;
  std::vector<Transaction> txs;
  for (std::uint64_t n = 1; n <= 7; ++n) txs.push_back(make_tx(n));
  std::vector<Block> blocks;
  {
    auto l = open_ok(dir.path());
    // Block 2 is empty; block 3 follows block 1's transactions in key order.
    for (std::vector<Transaction> b :
         {std::vector<Transaction>{make_tx(100)}, txs, std::vector<Transaction>{},
          std::vector<Transaction>{make_tx(200), make_tx(201)}}) {
      blocks.push_back(next_block(*l, std::move(b)));
      commit_ok(*l, blocks.back(), effects_for(blocks.back()));
    }
  }
  auto be = [](std::uint64_t v, int bytes) {
    std::string out;
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((v >> shift) & 0xff));
    }
    return out;
  };
  std::vector<std::string> keys;
  with_raw_ledger(dir.path(), [&](rocksdb::DB& db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf.at("blocks")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    std::string header;
    REQUIRE(db.Get({}, cf.at("blocks"), be(1, 8), &header).ok());
    CHECK(header == blocks[1].header.canonical());
    std::string third;
    REQUIRE(db.Get({}, cf.at("blocks"), be(1, 8) + be(2, 4), &third).ok());
    CHECK(third == canonical_json(txs[2].to_json()).value());
  });
  std::vector<std::string> expected;
  for (std::uint64_t h = 0; h < blocks.size(); ++h) {
    expected.push_back(be(h, 8));
    for (std::uint64_t i = 0; i < blocks[h].txs.size(); ++i)
      expected.push_back(be(h, 8) + be(i, 4));
  }
  CHECK(keys == expected);

  auto reads_as_committed = [&](const Ledger& l) {
    for (std::uint64_t h = 0; h < blocks.size(); ++h) {
      CAPTURE(h);
      const Block& b = blocks[h];
      auto whole = l.block(h);
      REQUIRE(whole.has_value());
      CHECK(whole->header.canonical() == b.header.canonical());
      CHECK(l.block_header(h)->canonical() == b.header.canonical());
      REQUIRE(whole->txs.size() == b.txs.size());
      for (std::size_t i = 0; i < b.txs.size(); ++i) {
        CHECK(whole->txs[i].id() == b.txs[i].id());
        auto one = l.block_tx(h, i);
        REQUIRE(one.has_value());
        CHECK(one->tx.id() == b.txs[i].id());
        CHECK(one->header.canonical() == b.header.canonical());
      }
      CHECK_FALSE(l.block_tx(h, b.txs.size()).has_value());
    }
    CHECK_FALSE(l.block(blocks.size()).has_value());
    CHECK_FALSE(l.block_header(blocks.size()).has_value());
    CHECK_FALSE(l.block_tx(blocks.size(), 0).has_value());
  };
  reads_as_committed(*open_ok(dir.path()));

  // Blocks 1 and 2 (empty) as format 3 stored them: whole, under their
  // height alone.
  with_raw_ledger(dir.path(), [&](rocksdb::DB& db, auto& cf) {
    for (std::uint64_t h : {1, 2}) {
      REQUIRE(
          db.Put({}, cf.at("blocks"), be(h, 8), canonical_json(blocks[h].to_json()).value()).ok());
      for (std::uint64_t i = 0; i < blocks[h].txs.size(); ++i) {
        REQUIRE(db.Delete({}, cf.at("blocks"), be(h, 8) + be(i, 4)).ok());
      }
    }
  });
  reads_as_committed(*open_ok(dir.path()));
}

TEST_CASE("the commitment reads refuse what is out of range and answer an empty ledger") {
  TempDir dir;
  auto l = open_ok(dir.path());
  auto code_of = [](const auto& result) { return result.ok() ? "ok" : result.error().code; };

  CHECK(code_of(l->state_proof("item/E-1")) == "ledger_empty");
  CHECK_FALSE(l->roots(0).has_value());
  CHECK(l->log_root(0).value() == sha256(std::string_view("")));
  CHECK(code_of(l->log_root(1)) == "bad_range");
  CHECK(code_of(l->log_leaf(0)) == "bad_range");
  CHECK(code_of(l->inclusion_proof(0, 0)) == "bad_range");

  Block genesis = next_block(*l, {});
  commit_ok(*l, genesis, effects_for(genesis));
  CHECK(l->head()->state_root == kSmtEmpty);
  auto empty = l->state_proof("item/E-1");
  REQUIRE(empty.ok());
  CHECK(smt_verify(kSmtEmpty, "item/E-1", std::nullopt, empty->lookup.proof));

  Block b = next_block(*l, {make_tx(1), make_tx(2), make_tx(3)});
  commit_ok(*l, b, effects_for(b));
  CHECK(l->head()->log_size == 3);
  CHECK(code_of(l->log_root(3)) == "ok");
  CHECK(code_of(l->log_root(4)) == "bad_range");
  CHECK(code_of(l->log_leaf(3)) == "bad_range");
  CHECK(code_of(l->inclusion_proof(3, 3)) == "bad_range");
  CHECK(code_of(l->inclusion_proof(0, 4)) == "bad_range");
  CHECK(code_of(l->consistency_proof(0, 3)) == "bad_range");
  CHECK(code_of(l->consistency_proof(2, 1)) == "bad_range");
  CHECK(code_of(l->consistency_proof(1, 4)) == "bad_range");
  CHECK(code_of(l->consistency_proof(3, 3)) == "ok");
  CHECK(code_of(l->state_proof("")) == "smt_bad_key");
  CHECK(code_of(l->state_proof(std::string(kSmtKeyBytesMax + 1, 'k'))) == "smt_bad_key");
  CHECK(code_of(l->state_proof(std::string(kSmtKeyBytesMax, 'k'))) == "ok");
}

namespace {

// Writes a database laid out as `families` with meta/format = `format` (no
// format and no head if empty), as another build of the ledger, or one cut
// short while creating the database, would have left it.
void write_foreign_database(const std::filesystem::path& dir,
                            const std::vector<std::string>& families, const std::string& format) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  REQUIRE(rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &db).ok());
  for (std::size_t i = 0; i < families.size(); ++i) {
    if (families[i] != "meta" || format.empty()) continue;
    REQUIRE(db->Put({}, handles[i], "format", format).ok());
    REQUIRE(db->Put({}, handles[i], "head",
                    R"({"block_hash":"00","height":0,"results_hash":"00","timestamp_ms":0})")
                .ok());
  }
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
  delete db;
}

std::vector<std::string> families_of(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("open refuses a database of another format and leaves it as it was") {
  TempDir dir;
  auto refused_with = [&](const std::string& needle) {
    auto l = Ledger::open(dir.path());
    REQUIRE_FALSE(l.ok());
    CHECK(l.error().code == "ledger_io");
    INFO("message: " << l.error().message);
    CHECK(l.error().message.find(needle) != std::string::npos);
  };

  SUBCASE("format 1, with the column families of format 1") {
    const std::vector<std::string> v1 = {"default", "blocks", "txs", "state", "history", "meta"};
    write_foreign_database(dir.path(), v1, "custos-ledger/1");
    refused_with("holds ledger format \"custos-ledger/1\", this build reads \"custos-ledger/4\"");
    // Nothing was added: the build that wrote it can still open every family.
    auto sorted_v1 = v1;
    std::sort(sorted_v1.begin(), sorted_v1.end());
    CHECK(families_of(dir.path()) == sorted_v1);
  }
  SUBCASE("format 1 stamped on today's column families") {
    write_foreign_database(dir.path(),
                           {"default", "blocks", "txs", "state", "history", "meta", "mlog", "txlog",
                            "smt", "head_sigs"},
                           "custos-ledger/1");
    refused_with("holds ledger format \"custos-ledger/1\"");
  }
  SUBCASE("format 2, without head signatures") {
    write_foreign_database(
        dir.path(),
        {"default", "blocks", "txs", "state", "history", "meta", "mlog", "txlog", "smt"},
        "custos-ledger/2");
    refused_with("holds ledger format \"custos-ledger/2\", this build reads \"custos-ledger/4\"");
  }
  SUBCASE("format 2: today's column families, identity records without their event chain") {
    write_foreign_database(
        dir.path(),
        {"default", "blocks", "txs", "state", "history", "meta", "mlog", "txlog", "smt"},
        "custos-ledger/2");
    refused_with("holds ledger format \"custos-ledger/2\", this build reads \"custos-ledger/4\"");
  }
  SUBCASE("a RocksDB database that is no ledger") {
    write_foreign_database(dir.path(), {"default", "other"}, "");
    refused_with("not a Custos ledger");
    CHECK(families_of(dir.path()) == std::vector<std::string>{"default", "other"});
  }
  SUBCASE("a creation cut short before the format was stamped opens and is completed") {
    write_foreign_database(dir.path(), {"default", "blocks", "txs"}, "");
    CHECK(open_ok(dir.path())->head() == std::nullopt);
    CHECK(families_of(dir.path()).size() == 10);
  }
  SUBCASE("a creation cut short after meta, before the format was stamped") {
    write_foreign_database(dir.path(), {"default", "blocks", "txs", "state", "history", "meta"},
                           "");
    CHECK(open_ok(dir.path())->head() == std::nullopt);
    CHECK(families_of(dir.path()).size() == 10);
  }
  SUBCASE("a ledger of this format opens") {
    { auto l = open_ok(dir.path()); }
    CHECK(open_ok(dir.path())->head() == std::nullopt);
  }
}

// Also with a log cache of 2 KiB, which drops its lowest level several
// times while the readers run, so that they read nodes from memory and from
// RocksDB as the commits move the boundary.
TEST_CASE("proofs read beside commit_block always match the roots they are checked against") {
  for (std::size_t log_cache_bytes : {LedgerOptions{}.log_cache_bytes, std::size_t{2} << 10}) {
    CAPTURE(log_cache_bytes);
    TempDir dir;
    auto opened = Ledger::open(
        dir.path(), LedgerOptions{.sync_writes = false, .log_cache_bytes = log_cache_bytes});
    REQUIRE(opened.ok());
    auto l = std::move(opened).value();
    constexpr std::uint64_t kBlocks = 200;
    std::atomic<bool> done{false};
    std::atomic<int> bad_state{0}, bad_inclusion{0}, bad_consistency{0}, proofs{0};

    auto reader = [&](unsigned seed) {
      std::uint64_t k = seed;
      while (!done.load()) {
        ++k;
        auto head = l->head();
        if (!head) continue;
        // Keys come and go under the reader: item/<h> and bulk/<h>-<j> exist
        // from block h on. The bulk keys (15 a block) take paths past the
        // state map's in-memory top, so a proof reads both it and RocksDB.
        std::string key =
            k % 2 ? "item/" + std::to_string(k % (kBlocks + 20))
                  : "bulk/" + std::to_string(k % (kBlocks + 20)) + "-" + std::to_string(k % 15);
        auto sp = l->state_proof(key);
        if (!sp.ok() || !smt_verify(sp->state_root, key, sp->lookup.value, sp->lookup.proof) ||
            l->roots(sp->height)->state_root != sp->state_root || sp->height < head->height) {
          ++bad_state;
        }
        if (head->log_size > 0) {
          std::uint64_t i = k % head->log_size;
          auto proof = l->inclusion_proof(i, head->log_size);
          auto leaf = l->log_leaf(i);
          if (!proof.ok() || !leaf.ok() ||
              !merkle_verify_inclusion(merkle_leaf_hash(as_bytes(*leaf)), i, head->log_size, *proof,
                                       head->log_root)) {
            ++bad_inclusion;
          }
          auto now = l->head();
          auto cons = l->consistency_proof(head->log_size, now->log_size);
          if (!cons.ok() || !merkle_verify_consistency(head->log_size, now->log_size,
                                                       head->log_root, now->log_root, *cons)) {
            ++bad_consistency;
          }
        }
        ++proofs;
      }
    };
    std::thread r1(reader, 1u), r2(reader, 7u);
    for (std::uint64_t h = 0; h < kBlocks; ++h) {
      std::vector<Transaction> txs;
      for (std::uint64_t i = 0; i < h % 5; ++i) txs.push_back(make_tx(h * 10 + i));
      Block b = next_block(*l, txs);
      std::vector<HistoryAppend> history = {event("item/" + std::to_string(h), 0, "new")};
      if (h > 0) history.push_back(event("item/0", h, "moved"));
      for (int j = 0; j < 15; ++j) {
        history.push_back(event("bulk/" + std::to_string(h) + "-" + std::to_string(j), 0, "new"));
      }
      commit_ok(*l, b, effects_for(b, {}, history));
    }
    done = true;
    r1.join();
    r2.join();
    MESSAGE("proof rounds beside commits: " << proofs.load());
    CHECK(proofs.load() > 0);
    CHECK(bad_state.load() == 0);
    CHECK(bad_inclusion.load() == 0);
    CHECK(bad_consistency.load() == 0);
  }
}
