// kill -9 of custos-node during a write load, then a restart: every
// transaction that was acknowledged with ?wait=commit must be there, and the
// chain must continue from where it stopped.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/jwt.h"
#include "core/node_key.h"
#include "core/tx.h"
#include "tests/node_process.h"
#include "tests/test_util.h"

using namespace custos;
namespace fs = std::filesystem;

using custos::testing::enrol_tx;
using custos::testing::NodeProcess;
using custos::testing::now_ms;
using custos::testing::wait_ready;

TEST_CASE("kill -9 under write load loses no acknowledged transaction") {
  fs::path dir = fs::temp_directory_path() / ("custos-crash-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  PrivateKey admin = PrivateKey::generate();
  PrivateKey node_key = PrivateKey::generate();
  std::ofstream(dir / "node1.key") << node_key_file_text(node_key);
  Json genesis = {
      {"network_id", "custos-crash"},
      {"created_at_ms", now_ms() - 60'000},
      {"orgs",
       {{{"id", "police"},
         {"name", "Police"},
         {"kind", "police"},
         {"admins", {{{"id", "police-admin"}, {"public_key", admin.public_key().hex()}}}}}}},
      {"nodes",
       {{{"id", "node1"}, {"org", "police"}, {"public_key", node_key.public_key().hex()}}}}};
  std::ofstream(dir / "genesis.json") << genesis.dump();
  int port = custos::testing::free_loopback_port();
  Json config = {{"node_id", "node1"},
                 {"data_dir", "data"},
                 {"genesis_file", "genesis.json"},
                 {"key_file", "node1.key"},
                 {"listen", {{"host", "127.0.0.1"}, {"port", port}}},
                 {"block", {{"txs_max", 50}, {"wait_ms_max", 2}}}};
  std::ofstream(dir / "node.json") << config.dump();

  NodeProcess node(dir / "node.json", dir / "node.log");
  httplib::Client probe("127.0.0.1", port);
  std::vector<std::string> acknowledged;
  std::mutex mu;
  std::atomic<int> counter{0};

  constexpr int kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    node.start();
    REQUIRE_MESSAGE(wait_ready(probe), "node did not become ready; see " << (dir / "node.log"));
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(10, 0);
        while (!stop) {
          Transaction tx = enrol_tx("custos-crash", admin, counter++);
          auto r = c.Post("/v1/transactions?wait=commit", tx.to_json().dump(), "application/json");
          if (!r) {  // the node is gone: this round is over for this writer
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
          }
          if (r->status == 200) {
            std::lock_guard lock(mu);
            acknowledged.push_back(tx.id().hex());
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(800 + 300 * round));
    node.kill(SIGKILL);
    stop = true;
    for (auto& t : writers) t.join();
  }

  // Restart and check every acknowledged transaction.
  node.start();
  REQUIRE(wait_ready(probe));
  REQUIRE(acknowledged.size() > 20);  // the load really ran
  std::int64_t now = now_ms() / 1000;
  httplib::Headers auth = {
      {"Authorization",
       "Bearer " + jwt_mint(admin, {"police-admin", "custos-crash", now, now + 300})}};
  std::size_t found = 0;
  for (const auto& id : acknowledged) {
    auto r = probe.Get(("/v1/transactions/" + id).c_str(), auth);
    REQUIRE(r);
    if (r->status == 200 && Json::parse(r->body)["code"] == "OK") ++found;
  }
  MESSAGE(acknowledged.size() << " acknowledged transactions over " << kRounds
                              << " kill -9 rounds");
  CHECK(found == acknowledged.size());
  node.kill(SIGTERM);
  fs::remove_all(dir);
}
