#include <doctest/doctest.h>

#include "node/config.h"

using namespace custos::node;

TEST_CASE("minimal config gets defaults; relative paths resolve against the file's folder") {
  auto c = config_from_json_text(
      R"({"node_id":"node1","data_dir":"data","genesis_file":"/etc/custos/genesis.json"})",
      "/srv/custos");
  REQUIRE(c.ok());
  CHECK(c->node_id == "node1");
  CHECK(c->data_dir == "/srv/custos/data");
  CHECK(c->genesis_file == "/etc/custos/genesis.json");
  CHECK(c->listen_host == "127.0.0.1");
  CHECK(c->block.txs_max == 500);
  CHECK(c->mempool.txs_max == 20000);
  CHECK(c->http.body_bytes_max == 128 * 1024);
  CHECK(c->http.batch_txs_max == 1000);
  CHECK(c->http.batch_bytes_max == 4 * 1024 * 1024);
  CHECK(c->ledger.log_cache_bytes == 128 * 1024 * 1024);
  CHECK(!c->key_file);
}

TEST_CASE("key_file resolves like the other paths; an empty one is refused") {
  auto c = config_from_json_text(
      R"({"node_id":"node1","data_dir":"data","genesis_file":"g","key_file":"keys/node1.key"})",
      "/srv/custos");
  REQUIRE(c.ok());
  CHECK(*c->key_file == "/srv/custos/keys/node1.key");
  auto bad = config_from_json_text(
      R"({"node_id":"node1","data_dir":"data","genesis_file":"g","key_file":""})", "/x");
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("key_file") != std::string::npos);
}

TEST_CASE("every limit is configurable") {
  auto c = config_from_json_text(R"({"node_id":"n","data_dir":"d","genesis_file":"g",
    "listen":{"host":"0.0.0.0","port":0},
    "block":{"txs_max":10,"bytes_max":2048,"wait_ms_max":5},
    "mempool":{"txs_max":3,"bytes_max":4096},
    "http":{"threads":2,"body_bytes_max":2048,"commit_wait_ms_max":100,
            "batch_txs_max":7,"batch_bytes_max":65536},
    "ledger":{"log_cache_bytes":0}})",
                                 "/x");
  REQUIRE(c.ok());
  CHECK(c->listen_port == 0);
  CHECK(c->block.txs_max == 10);
  CHECK(c->block.wait_ms_max == 5);
  CHECK(c->mempool.txs_max == 3);
  CHECK(c->http.threads == 2);
  CHECK(c->http.commit_wait_ms_max == 100);
  CHECK(c->http.batch_txs_max == 7);
  CHECK(c->http.batch_bytes_max == 65536);
  CHECK(c->ledger.log_cache_bytes == 0);
}

TEST_CASE("bad configs are refused naming the member") {
  auto refused = [](const char* text) {
    auto c = config_from_json_text(text, "/x");
    REQUIRE(!c.ok());
    CHECK(c.error().code == "bad_config");
    return c.error().message;
  };
  CHECK(refused(R"({"data_dir":"d","genesis_file":"g"})").find("node_id") != std::string::npos);
  CHECK(refused(R"({"node_id":"N 1","data_dir":"d","genesis_file":"g"})").find("node_id") !=
        std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g","surprise":1})")
            .find("surprise") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g","block":{"txs_max":0}})")
            .find("block.txs_max") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g","listen":{"port":70000}})")
            .find("listen.port") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g","http":{"threads":"8"}})")
            .find("http.threads") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g","http":{"batch_txs_max":0}})")
            .find("http.batch_txs_max") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g",
                    "http":{"batch_bytes_max":1023}})")
            .find("http.batch_bytes_max") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g",
                    "ledger":{"log_cache_bytes":-1}})")
            .find("ledger.log_cache_bytes") != std::string::npos);
  CHECK(refused(R"({"node_id":"n","data_dir":"d","genesis_file":"g",
                    "ledger":{"block_cache_bytes":1}})")
            .find("block_cache_bytes") != std::string::npos);
  refused("not json");
  CHECK(!load_config("/nonexistent/custos.json").ok());
}

namespace {

std::string raft_config(const std::string& raft) {
  return R"({"node_id":"node1","data_dir":"d","genesis_file":"g","raft":)" + raft + "}";
}

const char* kPeers =
    R"([{"id":1,"name":"node1","host":"127.0.0.1","port":7101},
        {"id":2,"name":"node2","host":"127.0.0.1","port":7102},
        {"id":3,"name":"court1","host":"127.0.0.1","port":7103,"learner":true}])";

}  // namespace

TEST_CASE("a raft section: peers, learners, TLS paths resolved, defaults") {
  auto c = config_from_json_text(
      raft_config(std::string(R"({"id":1,"peers":)") + kPeers +
                  R"(,"tls":{"ca":"certs/ca.pem","cert":"certs/node-1.pem","key":"/k/node-1.key"}})"),
      "/srv");
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  CHECK(c->raft.enabled);
  CHECK(c->raft.id == 1);
  REQUIRE(c->raft.peers.size() == 3);
  CHECK(c->raft.peer(3)->learner);
  CHECK(c->raft.peer(2)->address == PeerAddress{"127.0.0.1", 7102});
  REQUIRE(c->raft.tls);
  CHECK(c->raft.tls->ca == "/srv/certs/ca.pem");
  CHECK(c->raft.tls->key == "/k/node-1.key");
  CHECK(c->raft.tick_ms == 100);
  CHECK(c->raft.election_ticks == 10);
  CHECK(c->raft.snapshot_entries == 10000);
  CHECK(c->raft.uncommitted_bytes_max == 64u << 20);
  auto solo = config_from_json_text(R"({"node_id":"n","data_dir":"d","genesis_file":"g"})", "/");
  CHECK_FALSE(solo->raft.enabled);
}

TEST_CASE("bad raft sections are refused with the reason") {
  auto refused = [](const std::string& raft, const std::string& why) {
    auto c = config_from_json_text(raft_config(raft), "/x");
    REQUIRE(!c.ok());
    CHECK(c.error().code == "bad_config");
    CHECK_MESSAGE(c.error().message.find(why) != std::string::npos, c.error().message);
  };
  std::string peers = kPeers;
  refused(R"({"peers":)" + peers + R"(,"plain_tcp":true})", "raft.id is required");
  refused(R"({"id":9,"peers":)" + peers + R"(,"plain_tcp":true})", "not in raft.peers");
  refused(R"({"id":2,"peers":)" + peers + R"(,"plain_tcp":true})", "named \"node2\"");
  refused(R"({"id":1,"peers":)" + peers + "}", "raft.tls is required");
  refused(R"({"id":1,"peers":[{"id":1,"name":"node1","host":"10.0.0.1","port":7101}],"plain_tcp":true})",
          "loopback");
  refused(R"({"id":1,"peers":[{"id":1,"name":"node1","host":"127.0.0.1","port":7101},
          {"id":1,"name":"node2","host":"127.0.0.1","port":7102}],"plain_tcp":true})",
          "used twice");
  refused(R"({"id":1,"peers":[{"id":1,"name":"node1","host":"127.0.0.1","port":7101,"learner":true}],"plain_tcp":true})",
          "at least one voter");
  refused(R"({"id":1,"peers":)" + peers + R"(,"plain_tcp":true,"heartbeat_ticks":10})",
          "below raft.election_ticks");
  refused(R"({"id":1,"peers":)" + peers + R"(,"plain_tcp":true,"tick":5})", "unknown member");
  refused(R"({"id":1,"peers":[],"plain_tcp":true})", "1 to 64 peers");
  refused(R"({"id":1,"peers":[{"id":1,"name":"node1","host":"127.example.org","port":7101}],"plain_tcp":true})",
          "loopback");
  auto big = config_from_json_text(
      R"({"node_id":"node1","data_dir":"d","genesis_file":"g","block":{"bytes_max":33554432},
          "raft":{"id":1,"peers":[{"id":1,"name":"node1","host":"::1","port":7101}],"plain_tcp":true}})",
      "/x");
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().message.find("block.bytes_max may be at most") != std::string::npos);
}
