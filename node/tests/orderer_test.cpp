#include <doctest/doctest.h>

#include "node/orderer.h"

using namespace custos;
using namespace custos::node;

TEST_CASE("the next block names the head, its results and its commitments") {
  ledger::Head head;
  head.height = 7;
  head.block_hash = sha256(std::string_view("block 7"));
  head.results_hash = sha256(std::string_view("results 7"));
  head.timestamp_ms = 5000;
  head.log_size = 42;
  head.log_root = sha256(std::string_view("log"));
  head.state_root = sha256(std::string_view("state"));

  Block b = next_block("net", head, 4000, "node2", {});
  CHECK(b.header.height == 8);
  CHECK(b.header.prev_hash == head.block_hash);
  CHECK(b.header.prev_results_hash == head.results_hash);
  CHECK(b.header.prev_log_size == 42);
  CHECK(b.header.prev_log_root == head.log_root);
  CHECK(b.header.prev_state_root == head.state_root);
  CHECK(b.header.timestamp_ms == 5000);  // never before the head's
  CHECK(b.header.proposer == "node2");
  CHECK_FALSE(check_extends("net", b.header, head));

  auto changed = [&](auto edit) {
    BlockHeader h = b.header;
    edit(h);
    return check_extends("net", h, head);
  };
  CHECK(changed([](BlockHeader& h) { h.height = 9; }) == "chain");
  CHECK(changed([](BlockHeader& h) { h.prev_hash = Hash256{}; }) == "chain");
  CHECK(changed([](BlockHeader& h) { h.timestamp_ms = 4999; }) == "chain");
  CHECK(check_extends("other", b.header, head) == "chain");
  CHECK(changed([](BlockHeader& h) { h.prev_results_hash = Hash256{}; }) == "diverged");
  CHECK(changed([](BlockHeader& h) { h.prev_log_size = 41; }) == "diverged");
  CHECK(changed([](BlockHeader& h) { h.prev_log_root = Hash256{}; }) == "diverged");
  CHECK(changed([&](BlockHeader& h) { h.prev_state_root = head.log_root; }) == "diverged");
}

TEST_CASE("the header's commitments survive JSON, and a header without them is refused") {
  ledger::Head head;
  head.log_size = 3;
  head.log_root = sha256(std::string_view("log"));
  head.state_root = sha256(std::string_view("state"));
  Block b = next_block("net", head, 1, "node1", {});
  auto back = block_header_from_json(b.header.to_json());
  REQUIRE(back.ok());
  CHECK(back->hash() == b.header.hash());
  CHECK(back->prev_log_size == 3);
  Json old = b.header.to_json();
  old.erase("prev_state_root");
  auto refused = block_header_from_json(old);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("prev_state_root") != std::string::npos);
}
