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
}

TEST_CASE("every limit is configurable") {
  auto c = config_from_json_text(R"({"node_id":"n","data_dir":"d","genesis_file":"g",
    "listen":{"host":"0.0.0.0","port":0},
    "block":{"txs_max":10,"bytes_max":2048,"wait_ms_max":5},
    "mempool":{"txs_max":3,"bytes_max":4096},
    "http":{"threads":2,"body_bytes_max":2048,"commit_wait_ms_max":100}})",
                                 "/x");
  REQUIRE(c.ok());
  CHECK(c->listen_port == 0);
  CHECK(c->block.txs_max == 10);
  CHECK(c->block.wait_ms_max == 5);
  CHECK(c->mempool.txs_max == 3);
  CHECK(c->http.threads == 2);
  CHECK(c->http.commit_wait_ms_max == 100);
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
  refused("not json");
  CHECK(!load_config("/nonexistent/custos.json").ok());
}
