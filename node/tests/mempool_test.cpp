#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "node/mempool.h"

using namespace custos;
using namespace custos::node;

namespace {

Transaction tx_number(int n) {
  Transaction tx;
  tx.network_id = "custos-test";
  tx.chaincode = "custody";
  tx.function = "register";
  tx.args = {{"n", n}};
  tx.nonce = "00000000000000000000000000000000";
  tx.created_at_ms = n;
  return tx;
}

}  // namespace

TEST_CASE("the mempool pushes back when full and refuses duplicates") {
  Mempool pool(MempoolLimits{2, 1 << 20});
  CHECK(pool.add(tx_number(1), tx_number(1).id()).ok());
  CHECK(pool.add(tx_number(1), tx_number(1).id()).error().code == "duplicate");
  CHECK(pool.add(tx_number(2), tx_number(2).id()).ok());
  CHECK(pool.add(tx_number(3), tx_number(3).id()).error().code == "mempool_full");
  CHECK(pool.size() == 2);
}

TEST_CASE("byte limit") {
  Mempool pool(MempoolLimits{100, 1024});
  Transaction big = tx_number(1);
  big.args["blob"] = std::string(2000, 'x');
  CHECK(pool.add(big, big.id()).error().code == "mempool_full");
}

TEST_CASE("batches respect txs_max and keep order; ids stay known until forgotten") {
  Mempool pool(MempoolLimits{100, 1 << 20});
  for (int i = 0; i < 5; ++i) REQUIRE(pool.add(tx_number(i), tx_number(i).id()).ok());
  auto batch = pool.take_batch(BlockLimits{3, 1 << 20, 1000});
  REQUIRE(batch.size() == 3);
  CHECK(batch[0].first.args["n"] == 0);
  CHECK(batch[2].first.args["n"] == 2);
  // Taken but not yet committed: still a duplicate.
  CHECK(pool.add(tx_number(0), tx_number(0).id()).error().code == "duplicate");
  pool.forget({batch[0].second});
  CHECK(pool.add(tx_number(0), tx_number(0).id()).ok());
  auto rest = pool.take_batch(BlockLimits{10, 1 << 20, 0});
  CHECK(rest.size() == 3);  // 3, 4 and the re-added 0
}

TEST_CASE("an id forgotten once committed is refused, not queued again") {
  // What a copy of a transaction meets when its first copy commits between
  // the node's ledger check and this add.
  std::set<Hash256> ledger;
  Mempool pool(MempoolLimits{100, 1 << 20},
               [&ledger](const Hash256& id) { return ledger.contains(id); });
  REQUIRE(pool.add(tx_number(1), tx_number(1).id()).ok());
  auto batch = pool.take_batch(BlockLimits{10, 1 << 20, 0});
  REQUIRE(batch.size() == 1);
  ledger.insert(batch[0].second);  // applied, then forgotten
  pool.forget({batch[0].second});
  CHECK(pool.add(tx_number(1), tx_number(1).id()).error().code == "committed");
  CHECK(pool.size() == 0);
  // A forgotten id that was dropped, not committed, may come back.
  REQUIRE(pool.add(tx_number(2), tx_number(2).id()).ok());
  pool.forget({pool.take_batch(BlockLimits{10, 1 << 20, 0})[0].second});
  CHECK(pool.add(tx_number(2), tx_number(2).id()).ok());
}

TEST_CASE("a lone transaction is released after wait_ms_max; close wakes the taker") {
  Mempool pool(MempoolLimits{100, 1 << 20});
  REQUIRE(pool.add(tx_number(7), tx_number(7).id()).ok());
  auto batch = pool.take_batch(BlockLimits{100, 1 << 20, 5});
  CHECK(batch.size() == 1);

  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pool.close();
  });
  CHECK(pool.take_batch(BlockLimits{100, 1 << 20, 5}).empty());
  closer.join();
}
