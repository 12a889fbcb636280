// custos-node's configuration file (JSON). Every limit has a name and a unit.
//
// {
//   "node_id": "node1",
//   "data_dir": "/var/lib/custos/node1",
//   "genesis_file": "/etc/custos/genesis.json",
//   "listen": {"host": "127.0.0.1", "port": 8701},
//   "block": {"txs_max": 500, "bytes_max": 4194304, "wait_ms_max": 20},
//   "mempool": {"txs_max": 20000, "bytes_max": 67108864},
//   "http": {"threads": 8, "body_bytes_max": 131072, "commit_wait_ms_max": 10000}
// }
// Only node_id, data_dir and genesis_file are required; relative paths are
// relative to the config file's folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.h"

namespace custos::node {

struct BlockLimits {
  std::size_t txs_max = 500;
  std::size_t bytes_max = 4 << 20;
  std::int64_t wait_ms_max = 20;  // how long the first tx of a block may wait for company
};

struct MempoolLimits {
  std::size_t txs_max = 20'000;
  std::size_t bytes_max = 64 << 20;
};

struct HttpLimits {
  int threads = 8;
  std::size_t body_bytes_max = 128 << 10;
  std::int64_t commit_wait_ms_max = 10'000;  // ?wait=commit gives up (202) after this
};

struct NodeConfig {
  std::string node_id;
  std::filesystem::path data_dir;
  std::filesystem::path genesis_file;
  std::string listen_host = "127.0.0.1";
  int listen_port = 8701;  // 0: pick a free port (tests)
  BlockLimits block;
  MempoolLimits mempool;
  HttpLimits http;
};

// Reads and checks a config file. Errors: "bad_config" naming the member.
Result<NodeConfig> load_config(const std::filesystem::path& file);
Result<NodeConfig> config_from_json_text(const std::string& text,
                                         const std::filesystem::path& base_dir);

}  // namespace custos::node
