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

TEST_CASE("a transaction whose args nest as deep as admission allows still fits in a block") {
  // Admission parses an envelope alone; a block wraps it in two more levels
  // (the block object, its txs array), and every node parses and encodes the
  // block with the same depth limit. Args that fit alone but not in a block
  // would stop every node at commit, so admission refuses them.
  auto envelope_with_args_depth = [](std::size_t depth) {
    Transaction tx = some_txs(1).front();
    Json args = Json::object();
    for (std::size_t i = 1; i < depth; ++i) args = Json{{"a", args}};
    tx.args = args;
    return tx.to_json();
  };
  std::size_t deepest_admitted = 0;
  for (std::size_t depth = kTxArgsDepthMax - 2; depth <= kJsonDepthMax + 2; ++depth) {
    Json envelope = envelope_with_args_depth(depth);
    auto text = canonical_json(envelope);
    if (!text) continue;  // too deep to encode alone: never admitted
    auto parsed = parse_json_strict(*text);
    if (!parsed) continue;
    auto tx = tx_from_json(*parsed);
    if (!tx) {
      CHECK(tx.error().code == "bad_tx");
      continue;
    }
    deepest_admitted = depth;
    Block b = make_block("custos-test", 7, Hash256{}, 1764460800000, "node1", Hash256{}, {*tx});
    auto block_text = canonical_json(b.to_json());
    REQUIRE_MESSAGE(block_text.ok(), "args depth " << depth);
    auto block_json = parse_json_strict(*block_text);
    REQUIRE_MESSAGE(block_json.ok(), "args depth " << depth);
    auto back = block_from_json(*block_json);
    REQUIRE_MESSAGE(back.ok(), "args depth " << depth);
    CHECK(back->txs.front().id() == tx->id());
  }
  CHECK(deepest_admitted == kTxArgsDepthMax);
}
