#include <doctest/doctest.h>

#include "core/block.h"
#include "core/merkle.h"

using namespace custos;

namespace {

std::vector<Transaction> some_txs(int n) {
  std::vector<Transaction> txs;
  for (int i = 0; i < n; ++i) {
    Transaction tx;
    tx.network_id = "custos-test";
    tx.chaincode = "custody";
    tx.function = "register";
    tx.args = {{"item", "E-" + std::to_string(i)}};
    tx.nonce = "0000000000000000000000000000000" + std::to_string(i % 10);
    tx.created_at_ms = 1000 + i;
    REQUIRE(tx.sign(PrivateKey::generate()).ok());
    txs.push_back(tx);
  }
  return txs;
}

Block sample_block(int n) {
  Hash256 prev = sha256(std::string_view("previous"));
  Hash256 results = sha256(std::string_view("results"));
  return make_block("custos-test", 7, prev, 1764460800000, "node1", results, some_txs(n));
}

}  // namespace

TEST_CASE("tx_root is the RFC 6962 root over the tx ids") {
  auto txs = some_txs(3);
  std::vector<Hash256> leaves;
  for (const auto& tx : txs) leaves.push_back(merkle_leaf_hash(tx.id().view()));
  CHECK(tx_root_of(txs) == merkle_root(leaves));
  CHECK(tx_root_of({}) == sha256(std::string_view("")));
}

TEST_CASE("header hash covers every member") {
  Block b = sample_block(2);
  Hash256 base = b.header.hash();
  CHECK(base == tagged_hash(kBlockTag, b.header.canonical()));
  auto changed = [&](auto mutate) {
    BlockHeader h = b.header;
    mutate(h);
    return h.hash() != base;
  };
  CHECK(changed([](BlockHeader& h) { h.network_id = "other"; }));
  CHECK(changed([](BlockHeader& h) { h.height += 1; }));
  CHECK(changed([](BlockHeader& h) { h.prev_hash.bytes[0] ^= 1; }));
  CHECK(changed([](BlockHeader& h) { h.tx_root.bytes[31] ^= 1; }));
  CHECK(changed([](BlockHeader& h) { h.tx_count += 1; }));
  CHECK(changed([](BlockHeader& h) { h.timestamp_ms += 1; }));
  CHECK(changed([](BlockHeader& h) { h.proposer = "node2"; }));
  CHECK(changed([](BlockHeader& h) { h.prev_results_hash.bytes[5] ^= 1; }));
}

TEST_CASE("block JSON round trip") {
  Block b = sample_block(4);
  auto parsed = block_from_json(parse_json_strict(b.to_json().dump()).value());
  REQUIRE(parsed.ok());
  CHECK(parsed->header.hash() == b.header.hash());
  CHECK(parsed->txs.size() == 4);
  CHECK(parsed->txs[3].id() == b.txs[3].id());
}

TEST_CASE("blocks whose header does not match their transactions are refused") {
  Block b = sample_block(3);
  SUBCASE("a dropped transaction") {
    Json j = b.to_json();
    j["txs"].erase(1);
    CHECK(block_from_json(j).error().code == "bad_block");
  }
  SUBCASE("reordered transactions") {
    Json j = b.to_json();
    std::swap(j["txs"][0], j["txs"][2]);
    CHECK(block_from_json(j).error().message.find("tx_root") != std::string::npos);
  }
  SUBCASE("a transaction of another network") {
    Json j = b.to_json();
    j["txs"][0]["network_id"] = "elsewhere";
    CHECK(block_from_json(j).error().message.find("another network") != std::string::npos);
  }
  SUBCASE("malformed header members") {
    for (const char* m : {"height", "tx_count", "timestamp_ms"}) {
      Json j = b.to_json();
      j["header"][m] = -1;
      CHECK(!block_from_json(j).ok());
    }
    for (const char* m : {"prev_hash", "tx_root", "prev_results_hash"}) {
      Json j = b.to_json();
      j["header"][m] = "00";
      CHECK(!block_from_json(j).ok());
    }
    Json j = b.to_json();
    j["header"]["surprise"] = 1;
    CHECK(!block_from_json(j).ok());
    j = b.to_json();
    j["header"].erase("proposer");
    CHECK(!block_from_json(j).ok());
  }
}
