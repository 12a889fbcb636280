#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "node/prepared_blocks.h"

using namespace custos;
using namespace custos::node;
using std::chrono::milliseconds;

namespace {

// A block told apart by its height.
PreparedBlocks::Ready block_at(std::uint64_t height) {
  PreparedBlocks::Ready r;
  r.block.header.height = height;
  r.ids.push_back(Hash256{});
  return r;
}

}  // namespace

TEST_CASE("a prepared block is taken once, for its own index and term only") {
  PreparedBlocks prepared(8, 1 << 20);
  REQUIRE(prepared.begin(5, 2, 100));
  prepared.finish(5, 2, block_at(50));
  SUBCASE("its own entry") {
    auto got = prepared.take(5, 2, milliseconds(0));
    REQUIRE(got);
    CHECK(got->block.header.height == 50);
    CHECK(got->ids.size() == 1);
    CHECK_FALSE(prepared.take(5, 2, milliseconds(0)));  // taken once
  }
  SUBCASE("an entry of another term at that index (a new leader overwrote it)") {
    CHECK_FALSE(prepared.take(5, 3, milliseconds(0)));
    CHECK(prepared.size() == 0);
  }
  SUBCASE("an overwritten entry's late result is not kept for its successor") {
    REQUIRE(prepared.begin(5, 3, 100));      // the new leader's entry at 5
    prepared.finish(5, 2, block_at(51));  // the old one's, late: ignored
    CHECK_FALSE(prepared.take(5, 3, milliseconds(10)));  // under way, not done
    REQUIRE(prepared.begin(5, 3, 100));
    prepared.finish(5, 3, block_at(52));
    auto got = prepared.take(5, 3, milliseconds(0));
    REQUIRE(got);
    CHECK(got->block.header.height == 52);
  }
}

TEST_CASE("taking an entry forgets those before it; a payload that is no block gives none") {
  PreparedBlocks prepared(8, 1 << 20);
  for (std::uint64_t i = 1; i <= 4; ++i) {
    REQUIRE(prepared.begin(i, 1, 100));
    prepared.finish(i, 1, i == 3 ? std::nullopt : std::optional(block_at(i)));
  }
  CHECK_FALSE(prepared.take(3, 1, milliseconds(0)));  // not a block
  CHECK(prepared.size() == 1);                        // 1 and 2 are gone too
  CHECK_FALSE(prepared.take(1, 1, milliseconds(0)));
  auto got = prepared.take(4, 1, milliseconds(0));
  REQUIRE(got);
  CHECK(got->block.header.height == 4);
  CHECK(prepared.size() == 0);
}

TEST_CASE("the apply thread waits for a preparation under way, and no longer than it is told") {
  PreparedBlocks prepared(8, 1 << 20);
  REQUIRE(prepared.begin(7, 1, 100));
  std::thread preparer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    prepared.finish(7, 1, block_at(70));
  });
  auto start = std::chrono::steady_clock::now();
  CHECK(prepared.wanted(7, 1));
  auto got = prepared.take(7, 1, milliseconds(10'000));
  preparer.join();
  REQUIRE(got);
  CHECK(got->block.header.height == 70);
  // Woken by finish(), not by the end of its wait.
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(5'000));
  CHECK_FALSE(prepared.wanted(7, 1));

  REQUIRE(prepared.begin(8, 1, 100));  // never finished
  start = std::chrono::steady_clock::now();
  CHECK_FALSE(prepared.take(8, 1, milliseconds(30)));
  CHECK(std::chrono::steady_clock::now() - start >= milliseconds(30));
  prepared.finish(8, 1, block_at(80));  // too late: forgotten already
  CHECK(prepared.size() == 0);

  // A waiter is woken when the job could not be queued, and when a new
  // leader's entry replaces the one it waits for.
  for (bool replace : {false, true}) {
    const std::uint64_t index = replace ? 11 : 9;
    REQUIRE(prepared.begin(index, 1, 100));
    std::thread other([&] {
      std::this_thread::sleep_for(milliseconds(50));
      if (replace) {
        CHECK(prepared.begin(index, 2, 100));
      } else {
        prepared.cancel(index, 1);
      }
    });
    start = std::chrono::steady_clock::now();
    CHECK_FALSE(prepared.take(index, 1, milliseconds(10'000)));
    other.join();
    CHECK(std::chrono::steady_clock::now() - start < milliseconds(5'000));
    CHECK(prepared.size() == 0);
    CHECK(prepared.bytes() == 0);
  }
}

TEST_CASE("prepared blocks are bounded in entries and in bytes") {
  PreparedBlocks prepared(2, 1000);
  CHECK(prepared.begin(1, 1, 100));
  CHECK(prepared.begin(2, 1, 100));
  CHECK_FALSE(prepared.begin(3, 1, 100));  // full: the apply thread decodes it
  CHECK(prepared.begin(2, 2, 300));        // an index already held may be replaced
  CHECK(prepared.size() == 2);
  CHECK(prepared.bytes() == 400);
  CHECK_FALSE(prepared.begin(2, 3, 901));  // 100 + 901 bytes: too many
  CHECK(prepared.bytes() == 400);
  prepared.finish(1, 1, block_at(1));
  CHECK(prepared.take(1, 1, milliseconds(0)));
  CHECK(prepared.bytes() == 300);
  CHECK(prepared.begin(3, 1, 700));  // 300 + 700: exactly the bound
  CHECK_FALSE(prepared.begin(4, 1, 1));
  CHECK_FALSE(prepared.take(3, 1, milliseconds(0)));  // not finished; 2 goes too
  CHECK(prepared.size() == 0);
  CHECK(prepared.bytes() == 0);
}

TEST_CASE("the next prepared block after an index is taken for executing ahead") {
  PreparedBlocks prepared(8, 1 << 20);
  CHECK_FALSE(prepared.take_next_after(0));  // nothing held
  REQUIRE(prepared.begin(4, 2, 100));
  REQUIRE(prepared.begin(6, 2, 100));
  prepared.finish(6, 2, block_at(60));
  SUBCASE("the first entry after the index is still being prepared: nothing") {
    CHECK_FALSE(prepared.take_next_after(3));
    CHECK(prepared.size() == 2);
  }
  SUBCASE("a first entry that is no block: nothing, and it stays for take()") {
    prepared.finish(4, 2, std::nullopt);
    CHECK_FALSE(prepared.take_next_after(3));
    CHECK(prepared.size() == 2);
  }
  SUBCASE("prepared: taken with its index and term, and only once") {
    prepared.finish(4, 2, block_at(40));
    auto next = prepared.take_next_after(3);
    REQUIRE(next);
    CHECK(next->index == 4);
    CHECK(next->term == 2);
    CHECK(next->ready.block.header.height == 40);
    CHECK_FALSE(prepared.take(4, 2, milliseconds(0)));  // gone for take() too
    auto after = prepared.take_next_after(4);  // entries after it are untouched
    REQUIRE(after);
    CHECK(after->index == 6);
    CHECK(prepared.size() == 0);
    CHECK(prepared.bytes() == 0);
  }
}
