#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/block.h"
#include "core/keys.h"
#include "core/tx.h"
#include "ledger/ledger.h"
#include "ledger/tests/ledger_test_util.h"

extern char** environ;

using namespace custos;
using namespace custos::ledger;
using namespace custos::ledger::testing;

namespace {

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Json>>& rows) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : rows) keys.push_back(k);
  return keys;
}

std::vector<std::uint64_t> seqs_of(const std::vector<HistoryAppend>& events) {
  std::vector<std::uint64_t> seqs;
  for (const auto& e : events) seqs.push_back(e.seq);
  return seqs;
}

}  // namespace

TEST_CASE("a ledger keeps blocks, txs, state, history and meta across close and reopen") {
  TempDir dir;
  Block genesis = make_block(kNet, 0, sha256(std::string_view("genesis document")), kEpochMs,
                             "node1", Hash256{}, {make_tx(1, true), make_tx(2)});
  {
    auto l = open_ok(dir.path(), true);
    CHECK_FALSE(l->head().has_value());
    CHECK_FALSE(l->block(0).has_value());
    CHECK_FALSE(l->results_hash(0).has_value());
    auto e = effects_for(genesis, {{"case/C-1", Json{{"title", "Burglary"}}}},
                         {{"item/E-1", 0, Json{{"event", "registered"}}}});
    e.txs[1].code = "NOT_CUSTODIAN";
    e.txs[1].message = "signer is not the custodian";
    commit_ok(*l, genesis, e);
    REQUIRE(l->put_meta("genesis", "{\"network\":\"custos-test\"}").ok());
  }
  auto l = open_ok(dir.path());
  auto head = l->head();
  REQUIRE(head.has_value());
  CHECK(head->height == 0);
  CHECK(head->block_hash == genesis.header.hash());
  CHECK(head->results_hash == results_of(0));
  CHECK(head->timestamp_ms == kEpochMs);
  auto b = l->block(0);
  REQUIRE(b.has_value());
  CHECK(b->header.hash() == genesis.header.hash());
  CHECK(b->to_json() == genesis.to_json());
  REQUIRE(b->txs.size() == 2);
  CHECK(b->txs[0].fully_signed());
  auto rec = l->tx(genesis.txs[1].id());
  REQUIRE(rec.has_value());
  CHECK(rec->code == "NOT_CUSTODIAN");
  CHECK(rec->message == "signer is not the custodian");
  CHECK(l->get("case/C-1") == Json{{"title", "Burglary"}});
  auto hist = l->history("item/E-1", 0, 10);
  REQUIRE(hist.size() == 1);
  CHECK(hist[0].event == Json{{"event", "registered"}});
  CHECK(l->get_meta("genesis") == std::optional<std::string>("{\"network\":\"custos-test\"}"));
  CHECK(l->results_hash(0) == results_of(0));
}

TEST_CASE("open refuses a directory that another handle holds, and a path that is a file") {
  TempDir dir;
  auto first = open_ok(dir.path());
  auto second = Ledger::open(dir.path());
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == "ledger_io");
  first.reset();
  CHECK(Ledger::open(dir.path()).ok());  // the lock went with the first handle

  std::filesystem::path file = dir.path() / "plain-file";
  std::FILE* f = std::fopen(file.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  auto on_file = Ledger::open(file);
  REQUIRE_FALSE(on_file.ok());
  CHECK(on_file.error().code == "ledger_io");
}

TEST_CASE("commit_block refuses blocks out of order and writes nothing") {
  TempDir dir;
  auto l = open_ok(dir.path());
  Transaction tx_a = make_tx(100);
  Transaction tx_b = make_tx(101);

  // Everything a refused commit would have written, to prove none of it was.
  auto effects_probe = [&](const Block& b) {
    return effects_for(b, {{"probe", Json(1)}}, {{"probe", 0, Json("x")}});
  };
  auto nothing_written = [&](std::optional<std::uint64_t> head_height) {
    auto h = l->head();
    CHECK(h.has_value() == head_height.has_value());
    if (h && head_height) CHECK(h->height == *head_height);
    std::uint64_t next = head_height ? *head_height + 1 : 0;
    CHECK_FALSE(l->block(next).has_value());
    CHECK_FALSE(l->block(next + 1).has_value());
    CHECK_FALSE(l->results_hash(next).has_value());
    CHECK_FALSE(l->results_hash(next + 1).has_value());
    CHECK_FALSE(l->get("probe").has_value());
    CHECK(l->history("probe", 0, 10).empty());
    CHECK_FALSE(l->has_tx(tx_a.id()));
    CHECK_FALSE(l->has_tx(tx_b.id()));
  };

  SUBCASE("an empty ledger takes only height 0") {
    Block b = make_block(kNet, 1, Hash256{}, kEpochMs, "node1", Hash256{}, {tx_a});
    auto s = l->commit_block(b, effects_probe(b));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "ledger_order");
    nothing_written(std::nullopt);
  }

  SUBCASE("genesis accepts any prev_hash") {
    Block b =
        make_block(kNet, 0, sha256(std::string_view("anything")), kEpochMs, "node1", Hash256{}, {});
    commit_ok(*l, b, effects_for(b));
    CHECK(l->head()->block_hash == b.header.hash());
  }

  SUBCASE("after genesis") {
    Block genesis = next_block(*l, {});
    commit_ok(*l, genesis, effects_for(genesis));
    Block good = next_block(*l, {tx_a, tx_b});
    auto refuse = [&](const Block& b, const BlockEffects& e) {
      auto s = l->commit_block(b, e);
      REQUIRE_FALSE(s.ok());
      CHECK(s.error().code == "ledger_order");
      nothing_written(0);
    };

    SUBCASE("a height that skips ahead") {
      Block b = good;
      b.header.height = 2;
      refuse(b, effects_probe(b));
    }
    SUBCASE("the height of the head again") {
      Block b = good;
      b.header.height = 0;
      refuse(b, effects_probe(b));
    }
    SUBCASE("a prev_hash that is not the head's hash") {
      Block b = good;
      b.header.prev_hash.bytes[0] ^= 1;
      refuse(b, effects_probe(b));
    }
    SUBCASE("too few tx records") {
      auto e = effects_probe(good);
      e.txs.pop_back();
      refuse(good, e);
    }
    SUBCASE("too many tx records") {
      auto e = effects_probe(good);
      e.txs.push_back(e.txs.back());
      refuse(good, e);
    }
    SUBCASE("tx records out of block order") {
      auto e = effects_probe(good);
      std::swap(e.txs[0].tx_id, e.txs[1].tx_id);
      refuse(good, e);
    }
    SUBCASE("a tx record with the wrong height") {
      auto e = effects_probe(good);
      e.txs[0].height = 7;
      refuse(good, e);
    }
    SUBCASE("the correct block still commits after refusals") {
      refuse(next_block(*l, {tx_a}), effects_for(next_block(*l, {tx_b})));
      commit_ok(*l, good, effects_probe(good));
      CHECK(l->head()->height == 1);
      CHECK(l->get("probe") == Json(1));
      CHECK(l->has_tx(tx_a.id()));
    }
  }
}

TEST_CASE("the tx index finds each transaction's block, position and result") {
  TempDir dir;
  auto l = open_ok(dir.path());
  std::vector<Transaction> first = {make_tx(1, true), make_tx(2), make_tx(3)};
  Block b0 = next_block(*l, first);
  auto e0 = effects_for(b0);
  e0.txs[2].code = "ITEM_EXISTS";
  e0.txs[2].message = "item E-3 is already registered";
  commit_ok(*l, b0, e0);
  Block b1 = next_block(*l, {make_tx(4), make_tx(5)});
  commit_ok(*l, b1, effects_for(b1));

  for (std::uint32_t i = 0; i < 3; ++i) {
    auto r = l->tx(first[i].id());
    REQUIRE(r.has_value());
    CHECK(r->tx_id == first[i].id());
    CHECK(r->height == 0);
    CHECK(r->index == i);
    CHECK(l->has_tx(first[i].id()));
  }
  CHECK(l->tx(first[0].id())->code == "OK");
  CHECK(l->tx(first[0].id())->message.empty());
  CHECK(l->tx(first[2].id())->code == "ITEM_EXISTS");
  CHECK(l->tx(first[2].id())->message == "item E-3 is already registered");
  CHECK(l->tx(b1.txs[1].id())->height == 1);
  CHECK(l->tx(b1.txs[1].id())->index == 1);

  Transaction unknown = make_tx(99);
  CHECK_FALSE(l->tx(unknown.id()).has_value());
  CHECK_FALSE(l->has_tx(unknown.id()));

  SUBCASE("a transaction committed again keeps the record of its first commit") {
    Block again = next_block(*l, {make_tx(6), first[1], make_tx(6)});
    auto e = effects_for(again);
    e.txs[1].code = "DUPLICATE_TX";
    e.txs[2].code = "DUPLICATE_TX";
    commit_ok(*l, again, e);
    auto r = l->tx(first[1].id());
    CHECK(r->height == 0);
    CHECK(r->index == 1);
    CHECK(r->code == "OK");
    auto within = l->tx(again.txs[0].id());
    CHECK(within->height == 2);
    CHECK(within->index == 0);
    CHECK(within->code == "OK");
  }
}

TEST_CASE("block_tx reads one transaction and its block's header, as block() has them") {
  TempDir dir;
  auto l = open_ok(dir.path());
  std::vector<Transaction> txs;
  for (std::uint64_t n = 1; n <= 7; ++n) txs.push_back(make_tx(n, n % 2 == 1));
  Block b0 = next_block(*l, {make_tx(100)});
  commit_ok(*l, b0, effects_for(b0));
  Block b1 = next_block(*l, txs);
  commit_ok(*l, b1, effects_for(b1));

  for (std::uint64_t height : {0, 1}) {
    auto whole = l->block(height);
    REQUIRE(whole.has_value());
    for (std::size_t i = 0; i < whole->txs.size(); ++i) {
      auto one = l->block_tx(height, i);
      REQUIRE(one.has_value());
      CHECK(one->tx.to_json() == whole->txs[i].to_json());
      CHECK(one->tx.id() == whole->txs[i].id());
      CHECK(one->header.canonical() == whole->header.canonical());
    }
    CHECK_FALSE(l->block_tx(height, whole->txs.size()).has_value());
  }
  CHECK(l->block_tx(1, 6)->tx.id() == txs[6].id());
  CHECK_FALSE(l->block_tx(2, 0).has_value());
}

TEST_CASE("reads during commits never go back to an older value (the state cache)") {
  TempDir dir;
  auto l = open_ok(dir.path());
  constexpr int kCommits = 300;
  std::atomic<bool> done{false};
  std::atomic<int> went_back{0}, reads{0};
  std::thread reader([&] {
    int last = -1;
    while (!done) {
      auto v = l->get("n");
      int now = v ? v->get<int>() : -1;
      if (now < last) went_back++;
      last = now;
      reads++;
    }
  });
  for (int i = 0; i < kCommits; ++i) commit_effects(*l, {{"n", Json(i)}});
  done = true;
  reader.join();
  CHECK(went_back == 0);
  CHECK(reads > 0);
  CHECK(l->get("n") == Json(kCommits - 1));
}

TEST_CASE("state writes apply in order: later writes to a key win, nullopt deletes") {
  TempDir dir;
  auto l = open_ok(dir.path());
  commit_effects(*l, {{"a", Json(1)},
                      {"a", Json(2)},
                      {"b", Json("gone soon")},
                      {"b", std::nullopt},
                      {"c", std::nullopt},
                      {"c", Json{{"back", true}}},
                      {"d", Json::array({1, "two", nullptr})}});
  CHECK(l->get("a") == Json(2));
  CHECK_FALSE(l->get("b").has_value());
  CHECK(l->get("c") == Json{{"back", true}});
  CHECK(l->get("d") == Json::array({1, "two", nullptr}));
  CHECK_FALSE(l->get("never").has_value());

  commit_effects(*l, {{"a", Json(3)}, {"d", std::nullopt}, {"e", std::nullopt}});
  CHECK(l->get("a") == Json(3));
  CHECK_FALSE(l->get("d").has_value());
  CHECK_FALSE(l->get("e").has_value());
  // A key read while absent (and cached so) is seen once written.
  commit_effects(*l, {{"never", Json(7)}});
  CHECK(l->get("never") == Json(7));

  // Keys are bytes: a 0x00 or a 0xff inside a state key is just another byte.
  std::string odd_key("k\0\xff", 3);
  Json unicode = {{"owner", "Zoë Ægir 🔒"}, {"n", kJsonIntegerMax}, {"m", -kJsonIntegerMax}};
  commit_effects(*l, {{odd_key, unicode}});
  CHECK(l->get(odd_key) == unicode);
  CHECK_FALSE(l->get("k").has_value());

  // What the cache kept from the commits is what the database holds.
  l.reset();
  l = open_ok(dir.path());
  CHECK(l->get("a") == Json(3));
  CHECK_FALSE(l->get("b").has_value());
  CHECK(l->get("c") == Json{{"back", true}});
  CHECK_FALSE(l->get("d").has_value());
  CHECK(l->get("never") == Json(7));
  CHECK(l->get(odd_key) == unicode);
  CHECK(l->sync());
}

TEST_CASE("scan walks a prefix in byte order after start_after, at most limit keys") {
  TempDir dir;
  auto l = open_ok(dir.path());
  commit_effects(*l, {{"case/1", Json(0)},
                      {"item/E-1", Json(1)},
                      {"item/E-10", Json(10)},
                      {"item/E-2", Json(2)},
                      {"item/F-1", Json(3)},
                      {"itemz", Json(4)},
                      {std::string("\xff\xff", 2), Json(5)},
                      {std::string("\xff\xff\x01", 3), Json(6)}});

  using Keys = std::vector<std::string>;
  CHECK(keys_of(l->scan("item/", "", 100)) ==
        Keys{"item/E-1", "item/E-10", "item/E-2", "item/F-1"});
  CHECK(keys_of(l->scan("item/E-1", "", 100)) == Keys{"item/E-1", "item/E-10"});
  CHECK(keys_of(l->scan("item/", "item/E-1", 100)) == Keys{"item/E-10", "item/E-2", "item/F-1"});
  CHECK(keys_of(l->scan("item/", "item/E-10", 2)) == Keys{"item/E-2", "item/F-1"});
  CHECK(keys_of(l->scan("item/", "item/E-3", 100)) == Keys{"item/F-1"});
  CHECK(keys_of(l->scan("item/", "a", 100)).size() == 4);  // start_after before the prefix
  CHECK(l->scan("item/", "item/G", 100).empty());          // start_after past every key
  CHECK(l->scan("item/", "", 0).empty());
  CHECK(l->scan("nothing/", "", 100).empty());
  CHECK(keys_of(l->scan(std::string("\xff", 1), "", 100)) ==
        Keys{std::string("\xff\xff", 2), std::string("\xff\xff\x01", 3)});
  CHECK(l->scan("", "", 100).size() == 8);

  auto rows = l->scan("item/E-", "", 1);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].second == Json(1));

  // Paging with the last key as start_after visits every key exactly once.
  Keys paged;
  std::string after;
  for (;;) {
    auto page = l->scan("", after, 3);
    if (page.empty()) break;
    for (const auto& [k, v] : page) paged.push_back(k);
    after = page.back().first;
  }
  CHECK(paged == keys_of(l->scan("", "", 100)));
}

TEST_CASE("history texts from the history cache are what RocksDB holds, as commits append") {
  // Pages are read between commits, so histories are cached and then
  // extended by the commits; one key outgrows the longest history kept,
  // and a tiny cache is forgotten again and again.
  for (std::size_t cache_bytes :
       {std::size_t{0}, std::size_t{2'000}, LedgerOptions{}.history_cache_bytes}) {
    CAPTURE(cache_bytes);
    TempDir dir;
    auto l = Ledger::open(dir.path(),
                          LedgerOptions{.sync_writes = false, .history_cache_bytes = cache_bytes});
    REQUIRE(l);
    const std::vector<std::string> keys = {"item/A", "item/B", "item/AB", "item/long"};
    std::map<std::string, std::vector<std::string>> model;
    std::mt19937 rng(7);
    auto check_pages = [&] {
      for (const auto& key : keys) {
        const auto& all = model[key];
        for (auto [from, limit] : std::vector<std::pair<std::uint64_t, std::size_t>>{
                 {0, 100}, {0, all.size()}, {0, 3}, {2, 5}, {all.size(), 10}, {0, 1'000}}) {
          CAPTURE(key);
          CAPTURE(from);
          CAPTURE(limit);
          std::vector<std::string> want;
          for (std::uint64_t s = from; s < all.size() && want.size() < limit; ++s) {
            want.push_back(all[s]);
          }
          CHECK((*l)->history_texts(key, from, limit) == want);
        }
      }
    };
    for (int block = 0; block < 60; ++block) {
      std::vector<HistoryAppend> appends;
      for (const auto& key : keys) {
        std::size_t n = key == "item/long" ? 20 : rng() % 3;
        for (std::size_t k = 0; k < n; ++k) {
          std::uint64_t seq = model[key].size();
          Json event{{"key", key}, {"seq", seq}, {"block", block}};
          model[key].push_back(canonical_json(event).value());
          appends.push_back({key, seq, event});
        }
      }
      commit_effects(**l, {}, appends);
      if (block % 3 == 0) check_pages();
    }
    REQUIRE(model["item/long"].size() > 1'000);
    check_pages();
  }
}

TEST_CASE("a history read never lags the state read before it, while commits append") {
  // Each block appends an event to item/X and writes the event count to
  // count/X. A reader that reads the count and then the history must get
  // at least that many events: the history cache may not answer from a
  // history the database has already outgrown.
  TempDir dir;
  auto l = open_ok(dir.path());
  commit_effects(*l, {{"count/X", Json(0)}});
  std::atomic<bool> done{false};
  std::atomic<int> lagged{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      auto count = l->get("count/X");
      auto texts = l->history_texts("item/X", 0, 1'000);
      if (count && texts.size() < count->get<std::size_t>()) ++lagged;
      ++reads;
    }
  });
  for (std::uint64_t n = 1; n <= 900; ++n) {
    commit_effects(*l, {{"count/X", Json(n)}}, {HistoryAppend{"item/X", n - 1, Json{{"n", n}}}});
  }
  done = true;
  reader.join();
  CHECK(reads > 0);
  CHECK(lagged == 0);
  CHECK(l->history_texts("item/X", 0, 1'000).size() == 900);
}

TEST_CASE("history pages by seq and keeps keys that prefix each other apart") {
  TempDir dir;
  auto l = open_ok(dir.path());
  auto ev = [](const std::string& key, std::uint64_t seq) {
    return HistoryAppend{key, seq, Json{{"key", key}, {"seq", seq}}};
  };
  // Spread over blocks, interleaved, so that seqs continue across commits.
  commit_effects(*l, {}, {ev("item/E-1", 0), ev("item/E-10", 0), ev("item/E-", 0)});
  commit_effects(*l, {}, {ev("item/E-1", 1), ev("item/E-1", 2), ev("item/E-10", 1)});
  commit_effects(*l, {}, {ev("item/E-10", 2), ev("item/E-1", 3), ev("item/E-1", 4)});

  using Seqs = std::vector<std::uint64_t>;
  auto all_e1 = l->history("item/E-1", 0, 100);
  CHECK(seqs_of(all_e1) == Seqs{0, 1, 2, 3, 4});
  for (const auto& a : all_e1) {
    CHECK(a.key == "item/E-1");
    CHECK(a.event == Json{{"key", "item/E-1"}, {"seq", a.seq}});
  }
  CHECK(seqs_of(l->history("item/E-10", 0, 100)) == Seqs{0, 1, 2});
  CHECK(l->history("item/E-10", 0, 100)[2].event["key"] == "item/E-10");
  CHECK(seqs_of(l->history("item/E-", 0, 100)) == Seqs{0});
  CHECK(l->history("item/E", 0, 100).empty());
  CHECK(l->history("item/E-100", 0, 100).empty());

  CHECK(seqs_of(l->history("item/E-1", 2, 2)) == Seqs{2, 3});
  CHECK(seqs_of(l->history("item/E-1", 4, 2)) == Seqs{4});
  CHECK(l->history("item/E-1", 5, 2).empty());
  CHECK(l->history("item/E-1", 0, 0).empty());
  CHECK(l->history(std::string("item/E-1\0", 9), 0, 100).empty());

  // The same events as their stored canonical text, for answers that pass
  // them on unparsed.
  auto texts = l->history_texts("item/E-1", 1, 3);
  REQUIRE(texts.size() == 3);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    CHECK(texts[i] == canonical_json(Json{{"key", "item/E-1"}, {"seq", i + 1}}).value());
  }
  CHECK(l->history_texts("item/E", 0, 100).empty());
  CHECK(l->history_texts("item/E-1", 0, 0).empty());
  CHECK(l->history_texts(std::string("item/E-1\0", 9), 0, 100).empty());

  Seqs paged;
  std::uint64_t from = 0;
  for (;;) {
    auto page = l->history("item/E-1", from, 2);
    if (page.empty()) break;
    for (const auto& a : page) paged.push_back(a.seq);
    from = page.back().seq + 1;
  }
  CHECK(paged == Seqs{0, 1, 2, 3, 4});
}

TEST_CASE("meta values are stored apart from the chain's own records") {
  TempDir dir;
  {
    auto l = open_ok(dir.path());
    CHECK_FALSE(l->get_meta("node_id").has_value());
    REQUIRE(l->put_meta("node_id", "node1").ok());
    REQUIRE(l->put_meta("node_id", "node2").ok());
    CHECK(l->get_meta("node_id") == std::optional<std::string>("node2"));
    std::string binary("a\0b\xff", 4);
    REQUIRE(l->put_meta("binary", binary).ok());
    CHECK(l->get_meta("binary") == binary);
    REQUIRE(l->put_meta("empty", "").ok());
    CHECK(l->get_meta("empty") == std::optional<std::string>(""));

    // Names that look like the head or a results hash must not replace them.
    commit_effects(*l, {});
    Head before = *l->head();
    REQUIRE(l->put_meta("head", "not a head").ok());
    REQUIRE(l->put_meta("results/", "x").ok());
    REQUIRE(l->put_meta(std::string("results/\0\0\0\0\0\0\0\0", 16), "x").ok());
    CHECK(l->head()->block_hash == before.block_hash);
    CHECK(l->results_hash(0) == results_of(0));
    CHECK(l->get_meta("head") == std::optional<std::string>("not a head"));
  }
  auto l = open_ok(dir.path());
  CHECK(l->get_meta("node_id") == std::optional<std::string>("node2"));
  CHECK(l->head()->height == 0);
}

TEST_CASE("head signatures: per height, sorted by node, replaced per node, kept across reopen") {
  TempDir dir;
  auto sig = [](std::string node, std::uint8_t fill) {
    HeadSignature s;
    s.node_id = std::move(node);
    s.signature.compact.fill(fill);
    return s;
  };
  {
    auto l = open_ok(dir.path());
    CHECK(l->head_signatures(0).empty());
    CHECK_FALSE(l->last_head_signature_height().has_value());
    REQUIRE(l->put_head_signature(7, sig("node3", 3)).ok());
    REQUIRE(l->put_head_signature(7, sig("node1", 1)).ok());
    REQUIRE(l->put_head_signature(7, sig("node1", 9)).ok());  // replaces node1's
    REQUIRE(l->put_head_signature(256, sig("node2", 2)).ok());
    REQUIRE(l->put_head_signature(6, sig("node2", 6)).ok());
  }
  auto l = open_ok(dir.path());
  auto at7 = l->head_signatures(7);
  REQUIRE(at7.size() == 2);
  CHECK(at7[0] == sig("node1", 9));
  CHECK(at7[1] == sig("node3", 3));
  CHECK(l->head_signatures(256) == std::vector<HeadSignature>{sig("node2", 2)});
  CHECK(l->head_signatures(8).empty());
  CHECK(l->last_head_signature_height() == std::optional<std::uint64_t>(256));
}

TEST_CASE("settle moves records from memtables to SST files without changing any read") {
  TempDir dir;
  auto l = open_ok(dir.path());
  for (std::uint64_t h = 0; h < 4; ++h) {
    Block b = next_block(*l, {make_tx(100 + h)});
    commit_ok(*l, b,
              effects_for(b, {{"item/E-1", Json{{"h", h}}}}, {{"item/E-1", h, Json{{"seq", h}}}}));
  }
  const Head head = *l->head();
  auto family = [&](const std::string& name) {
    for (const ColumnFamilyStats& cf : l->storage_stats()) {
      if (cf.name == name) return cf;
    }
    FAIL("no column family " << name);
    return ColumnFamilyStats{};
  };
  auto files = [](const ColumnFamilyStats& cf) {
    std::uint64_t n = 0;
    for (std::uint64_t f : cf.files_per_level) n += f;
    return n;
  };
  CHECK(l->storage_stats().size() == 10);  // every family, "default" included
  CHECK(files(family("history")) == 0);
  CHECK(family("history").memtable_bytes > 0);

  REQUIRE(l->settle(Settle::kWait).ok());
  CHECK(files(family("history")) == 0);

  REQUIRE(l->settle(Settle::kFlush).ok());
  ColumnFamilyStats flushed = family("history");
  REQUIRE_FALSE(flushed.files_per_level.empty());
  CHECK(flushed.files_per_level[0] == 1);
  CHECK(flushed.sst_bytes > 0);

  // One more flushed write makes a second level-0 file; compacting leaves
  // one run below level 0.
  commit_effects(*l, {}, {{"item/E-1", 4, Json{{"seq", 4}}}});
  REQUIRE(l->settle(Settle::kFlush).ok());
  CHECK(family("history").files_per_level[0] == 2);
  REQUIRE(l->settle(Settle::kCompact).ok());
  ColumnFamilyStats compacted = family("history");
  CHECK(compacted.files_per_level[0] == 0);
  CHECK(files(compacted) == 1);

  CHECK(seqs_of(l->history("item/E-1", 0, 10)) == std::vector<std::uint64_t>{0, 1, 2, 3, 4});
  CHECK(l->get("item/E-1") == Json{{"h", 3}});
  CHECK(l->block(head.height)->header.hash() == head.block_hash);
  CHECK(l->roots(head.height) == head.roots());
}

TEST_CASE("head and results_hash follow each commit") {
  TempDir dir;
  auto l = open_ok(dir.path());
  std::vector<Hash256> hashes;
  for (std::uint64_t h = 0; h < 5; ++h) {
    Block b = next_block(*l, {make_tx(10 + h)});
    if (h > 0) {
      CHECK(b.header.prev_hash == hashes.back());
      CHECK(b.header.prev_results_hash == results_of(h - 1));
    }
    commit_ok(*l, b, effects_for(b));
    hashes.push_back(b.header.hash());
    auto head = l->head();
    REQUIRE(head.has_value());
    CHECK(head->height == h);
    CHECK(head->block_hash == b.header.hash());
    CHECK(head->results_hash == results_of(h));
    CHECK(head->timestamp_ms == b.header.timestamp_ms);
  }
  for (std::uint64_t h = 0; h < 5; ++h) {
    CHECK(l->results_hash(h) == results_of(h));
    CHECK(l->block(h)->header.hash() == hashes[h]);
  }
  CHECK_FALSE(l->results_hash(5).has_value());
  CHECK_FALSE(l->block(5).has_value());
}

TEST_CASE("a staged block writes nothing until written, names its head, and is for one head") {
  TempDir dir;
  auto l = open_ok(dir.path());
  Block genesis = next_block(*l, {make_tx(1)});
  commit_ok(*l, genesis, effects_for(genesis));

  Block b = next_block(*l, {make_tx(2), make_tx(3)});
  auto staged = l->stage_block(b, effects_for(b, {{"k", Json(7)}}, {{"item", 0, Json("seized")}}));
  REQUIRE(staged.ok());
  // Staged: nothing of it is readable yet.
  CHECK(l->head()->height == 0);
  CHECK_FALSE(l->get("k").has_value());
  CHECK(l->history("item", 0, 10).empty());
  CHECK_FALSE(l->has_tx(b.txs[0].id()));
  CHECK((*staged)->effects().txs.size() == 2);

  SUBCASE("written, the head is the one it named, roots and all") {
    const Head named = (*staged)->head();
    REQUIRE(l->write_staged(**staged).ok());
    auto head = l->head();
    REQUIRE(head.has_value());
    CHECK(head->height == 1);
    CHECK(head->block_hash == b.header.hash());
    CHECK(head->results_hash == named.results_hash);
    CHECK(head->roots() == named.roots());
    CHECK(l->roots(1) == named.roots());
    CHECK(named.log_size == 3);
    CHECK(l->log_root(3).value() == named.log_root);
    CHECK(l->get("k") == Json(7));
    CHECK(l->history("item", 0, 10).size() == 1);
    // Once only.
    auto again = l->write_staged(**staged);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == "ledger_order");
    CHECK(l->head()->height == 1);
  }

  SUBCASE("staged on a head that has moved since, it is refused and writes nothing") {
    Block other = next_block(*l, {make_tx(4)});
    commit_ok(*l, other, effects_for(other));
    auto s = l->write_staged(**staged);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "ledger_order");
    CHECK(l->head()->block_hash == other.header.hash());
    CHECK_FALSE(l->get("k").has_value());
    CHECK(l->history("item", 0, 10).empty());
    CHECK_FALSE(l->has_tx(b.txs[0].id()));
  }

  SUBCASE("staging refuses what commit_block refuses") {
    Block wrong = make_block(kNet, 5, genesis.header.hash(), kEpochMs + 5, "node1",
                             results_of(0), {make_tx(5)});
    auto s = l->stage_block(wrong, effects_for(wrong));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "ledger_order");
  }
}

TEST_CASE("readers running beside commit_block never see part of a block") {
  TempDir dir;
  auto l = open_ok(dir.path());
  constexpr std::uint64_t kBlocks = 300;
  std::atomic<bool> done{false};
  std::atomic<int> torn_scans{0}, missing_blocks{0}, short_histories{0}, reads{0};

  auto reader = [&] {
    while (!done.load()) {
      // Each block sets both pair keys to its height; one scan must agree.
      auto rows = l->scan("pair/", "", 10);
      if (!rows.empty() && (rows.size() != 2 || rows[0].second != rows[1].second)) ++torn_scans;
      // Blocks are append-only, so the head's block is always there.
      if (auto h = l->head()) {
        if (!l->block(h->height)) ++missing_blocks;
        if (l->history("pair", 0, kBlocks + 1).size() < h->height + 1) ++short_histories;
      }
      ++reads;
    }
  };
  std::thread r1(reader), r2(reader);
  for (std::uint64_t h = 0; h < kBlocks; ++h) {
    Block b = next_block(*l, {make_tx(1000 + h)});
    commit_ok(*l, b,
              effects_for(b, {{"pair/a", Json(h)}, {"pair/b", Json(h)}}, {{"pair", h, Json(h)}}));
  }
  done = true;
  r1.join();
  r2.join();
  CHECK(reads.load() > 0);
  CHECK(torn_scans.load() == 0);
  CHECK(missing_blocks.load() == 0);
  CHECK(short_histories.load() == 0);
}

// --- child processes ---------------------------------------------------------
// The kill -9 writer and the abort cases run in a fresh process (fork + exec
// of this test binary, running one skipped test case): a forked copy of a
// process whose RocksDB background threads are gone could wait forever for a
// flush. The parent passes what the child needs in its environment.

namespace {

// Starts this binary running the test cases matching `pattern`, with `env`
// added to the environment, stdout discarded and, if stderr_fd >= 0, stderr
// sent there. `close_fd` is the parent's end of a pipe, closed in the child.
pid_t spawn_test_case(const std::string& pattern, const std::vector<std::string>& env, int close_fd,
                      int stderr_fd = -1) {
  // Everything the child needs is built before fork(): between fork and exec
  // only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = "ledger_tests", arg1 = "--no-skip", arg2 = "--test-case=" + pattern;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(close_fd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test run that died
    if (::getppid() != parent) ::_exit(126);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    if (stderr_fd >= 0) ::dup2(stderr_fd, STDERR_FILENO);
    ::execve("/proc/self/exe", argv, envp.data());
    ::_exit(127);
  }
  return pid;
}

// --- kill -9 ------------------------------------------------------------------

constexpr const char* kCrashDirEnv = "CUSTOS_LEDGER_CRASH_DIR";
constexpr const char* kCrashFdEnv = "CUSTOS_LEDGER_CRASH_FD";
constexpr std::uint64_t kCrashTxsPerBlock = 3;
constexpr std::uint64_t kCrashBlocksMax = 200'000;  // the parent kills it long before

std::string block_key(std::uint64_t h) {
  return "block/" + std::to_string(h);
}

// What a crash writer's block h holds: kCrashTxsPerBlock transactions,
// counter = h, block/<h> set and block/<h-2> deleted, one "chain" event.
BlockEffects crash_effects(const Block& b) {
  std::uint64_t h = b.header.height;
  std::vector<StateWrite> writes = {{"counter", Json(h)}, {block_key(h), Json{{"height", h}}}};
  if (h >= 2) writes.push_back({block_key(h - 2), std::nullopt});
  return effects_for(b, std::move(writes), {{"chain", h, Json{{"height", h}}}});
}

// Checks everything a crash writer promises and returns the head height, or
// nullopt for a ledger that never got its genesis block.
std::optional<std::uint64_t> check_crashed_ledger(const Ledger& l) {
  auto head = l.head();
  if (!head) {
    CHECK_FALSE(l.block(0).has_value());
    CHECK_FALSE(l.get("counter").has_value());
    return std::nullopt;
  }
  const std::uint64_t top = head->height;
  INFO("head height " << top);
  Hash256 prev_hash;
  for (std::uint64_t h = 0; h <= top; ++h) {
    auto b = l.block(h);
    REQUIRE(b.has_value());
    REQUIRE(b->header.height == h);
    if (h > 0) {
      REQUIRE(b->header.prev_hash == prev_hash);
      REQUIRE(b->header.prev_results_hash == results_of(h - 1));
    }
    REQUIRE(b->txs.size() == kCrashTxsPerBlock);
    for (std::uint32_t i = 0; i < b->txs.size(); ++i) {
      auto r = l.tx(b->txs[i].id());
      REQUIRE(r.has_value());
      REQUIRE(r->height == h);
      REQUIRE(r->index == i);
    }
    REQUIRE(l.results_hash(h) == results_of(h));
    prev_hash = b->header.hash();
  }
  CHECK(head->block_hash == prev_hash);
  CHECK(head->results_hash == results_of(top));
  CHECK_FALSE(l.block(top + 1).has_value());
  CHECK_FALSE(l.results_hash(top + 1).has_value());
  CHECK(l.get("counter") == Json(top));
  CHECK(l.get(block_key(top)) == Json{{"height", top}});
  if (top >= 1) CHECK(l.get(block_key(top - 1)).has_value());
  if (top >= 2) CHECK_FALSE(l.get(block_key(top - 2)).has_value());
  auto chain = l.history("chain", 0, top + 2);
  CHECK(chain.size() == top + 1);
  CHECK(chain.back().event == Json{{"height", top}});

  // The commitments, recomputed from the blocks that survived: a crash must
  // not leave log nodes or tree nodes of a block that is not there (or miss
  // those of one that is).
  CommitmentModel model;
  for (std::uint64_t h = 0; h <= top; ++h) {
    Block b = *l.block(h);
    model.add(b, crash_effects(b));
    REQUIRE(l.roots(h) == model.roots()[h]);
  }
  CHECK(head->roots() == model.roots().back());
  const std::uint64_t last = head->log_size - 1;
  auto proof = l.inclusion_proof(last, head->log_size);
  REQUIRE(proof.ok());
  CHECK(merkle_verify_inclusion(model.leaf_hashes()[last], last, head->log_size, *proof,
                                head->log_root));
  auto sp = l.state_proof("chain");
  REQUIRE(sp.ok());
  CHECK(sp->lookup.value == model.heads().at("chain"));
  CHECK(smt_verify(head->state_root, "chain", sp->lookup.value, sp->lookup.proof));
  return top;
}

}  // namespace

TEST_CASE("ledger crash writer (the child of the kill -9 test)" * doctest::skip()) {
  const char* dir = std::getenv(kCrashDirEnv);
  const char* fd_text = std::getenv(kCrashFdEnv);
  REQUIRE_MESSAGE(dir != nullptr, "only the kill -9 test runs this, with " << kCrashDirEnv);
  REQUIRE(fd_text != nullptr);
  const int fd = std::atoi(fd_text);
  auto l = open_ok(dir, /*sync=*/true);
  for (std::uint64_t n = 0; n < kCrashBlocksMax; ++n) {
    auto head = l->head();
    std::uint64_t h = head ? head->height + 1 : 0;
    std::vector<Transaction> txs;
    for (std::uint64_t i = 0; i < kCrashTxsPerBlock; ++i)
      txs.push_back(make_tx(h << 8 | i, i == 0));
    Block b = next_block(*l, std::move(txs));
    commit_ok(*l, b, crash_effects(b));
    // Only after commit_block returned: the parent's proof of durability.
    REQUIRE(::write(fd, &h, sizeof h) == static_cast<ssize_t>(sizeof h));
  }
}

TEST_CASE("kill -9 during commits leaves the ledger whole, at or after the last returned block") {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(50, 700);
  constexpr int kRounds = 6;
  constexpr int kFirstCommitWaitMs = 5'000;

  std::optional<std::uint64_t> last_top;
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);

    pid_t pid = spawn_test_case("ledger crash writer*",
                                {std::string(kCrashDirEnv) + "=" + dir.path().string(),
                                 std::string(kCrashFdEnv) + "=" + std::to_string(fds[1])},
                                fds[0]);
    ::close(fds[1]);
    // Odd rounds wait for a first commit, so that they kill amid commits even
    // where process start-up is slow (sanitizers); even rounds may hit the
    // start-up and recovery instead.
    std::optional<std::uint64_t> returned;
    if (round % 2 == 1) {
      pollfd p{fds[0], POLLIN, 0};
      std::uint64_t h = 0;
      if (::poll(&p, 1, kFirstCommitWaitMs) == 1 &&
          ::read(fds[0], &h, sizeof h) == static_cast<ssize_t>(sizeof h)) {
        returned = h;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    // Any other end means the writer failed; its reason is on stderr.
    REQUIRE_MESSAGE(WIFSIGNALED(status), "crash writer exited with status " << status);
    CHECK(WTERMSIG(status) == SIGKILL);

    std::uint64_t h = 0;
    while (::read(fds[0], &h, sizeof h) == static_cast<ssize_t>(sizeof h)) returned = h;
    ::close(fds[0]);

    auto l = open_ok(dir.path());
    auto top = check_crashed_ledger(*l);
    INFO("head " << (top ? std::to_string(*top) : "none") << ", last returned "
                 << (returned ? std::to_string(*returned) : "none"));
    if (returned) {
      REQUIRE(top.has_value());
      CHECK(*top >= *returned);
    }
    if (last_top) {
      REQUIRE(top.has_value());
      CHECK(*top >= *last_top);
    }
    last_top = top;
  }
  MESSAGE("kill -9 test: " << kRounds << " rounds, final head "
                           << (last_top ? std::to_string(*last_top) : "none"));
}

// --- caller bugs abort --------------------------------------------------------

namespace {

constexpr const char* kAbortDirEnv = "CUSTOS_LEDGER_ABORT_DIR";
constexpr const char* kAbortCaseEnv = "CUSTOS_LEDGER_ABORT_CASE";

}  // namespace

TEST_CASE("ledger abort case (a child of the caller-bug test)" * doctest::skip()) {
  const char* dir = std::getenv(kAbortDirEnv);
  const char* which = std::getenv(kAbortCaseEnv);
  REQUIRE_MESSAGE(dir != nullptr, "only the caller-bug test runs this, with " << kAbortDirEnv);
  REQUIRE(which != nullptr);
  const std::string name = which;
  auto l = open_ok(dir);
  if (name == "history_seq_gap_known") {
    // The key's next seq is then known from the block before, not sought.
    Block first = next_block(*l, {make_tx(6)});
    REQUIRE(l->commit_block(first, effects_for(first, {}, {{"item", 0, Json(0)}})));
  }
  Block b = next_block(*l, {make_tx(7)});
  std::vector<StateWrite> writes = {{"probe", Json(1)}};
  std::vector<HistoryAppend> history;
  if (name == "nul_history_key") history.push_back({std::string("item\0x", 6), 0, Json(1)});
  if (name == "empty_history_key") history.push_back({"", 0, Json(1)});
  if (name == "long_history_key")
    history.push_back({std::string(kSmtKeyBytesMax + 1, 'k'), 0, Json(1)});
  if (name == "history_seq_gap") history.push_back({"item", 1, Json(1)});
  if (name == "history_seq_gap_known") history.push_back({"item", 2, Json(1)});
  if (name == "history_seq_repeat") {
    history.push_back({"item", 0, Json(1)});
    history.push_back({"item", 0, Json(2)});
  }
  if (name == "float_value") writes.push_back({"price", Json(1.5)});
  if (name == "foreign_tx") {
    Transaction foreign = make_tx(8);
    foreign.network_id = "other-net";
    b = next_block(*l, {foreign});
  }
  auto s = l->commit_block(b, effects_for(b, writes, history));
  FAIL("commit_block returned instead of aborting: " << (s ? "ok" : s.error().message));
}

TEST_CASE("commit_block stops the process on caller bugs, having written nothing") {
  struct Case {
    const char* name;
    const char* message;
  };
  const Case cases[] = {{"nul_history_key", "0x00"},
                        {"empty_history_key", "history key of 0 bytes"},
                        {"long_history_key", "history key of 1025 bytes"},
                        {"history_seq_gap", "expected 0"},
                        {"history_seq_repeat", "expected 1"},
                        {"history_seq_gap_known", "expected 1"},
                        {"float_value", "not canonical JSON"},
                        {"foreign_tx", "is malformed"}};
  for (const Case& c : cases) {
    INFO("case " << c.name);
    TempDir dir;
    int err[2];
    REQUIRE(::pipe(err) == 0);
    pid_t pid = spawn_test_case("ledger abort case*",
                                {std::string(kAbortDirEnv) + "=" + dir.path().string(),
                                 std::string(kAbortCaseEnv) + "=" + c.name},
                                err[0], err[1]);
    ::close(err[1]);
    std::string stderr_text;
    char buf[4096];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) stderr_text.append(buf, n);
    ::close(err[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO("child stderr: " << stderr_text);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(stderr_text.find("custos ledger: fatal:") != std::string::npos);
    CHECK(stderr_text.find(c.message) != std::string::npos);

    auto l = open_ok(dir.path());
    const bool one_block = std::string(c.name) == "history_seq_gap_known";
    CHECK(l->head().has_value() == one_block);
    CHECK(l->block(0).has_value() == one_block);
    CHECK_FALSE(l->block(1).has_value());
    CHECK_FALSE(l->get("probe").has_value());
    CHECK(l->history("item", 0, 10).size() == (one_block ? 1u : 0u));
  }
}
