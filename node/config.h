// custos-node's configuration file (JSON). Every limit has a name and a unit.
//
// {
//   "node_id": "node1",
//   "data_dir": "/var/lib/custos/node1",
//   "genesis_file": "/etc/custos/genesis.json",
//   "key_file": "node1.key",
//   "listen": {"host": "127.0.0.1", "port": 8701},
//   "block": {"txs_max": 500, "bytes_max": 4194304, "wait_ms_max": 20},
//   "mempool": {"txs_max": 20000, "bytes_max": 67108864},
//   "http": {"threads": 64, "body_bytes_max": 131072, "commit_wait_ms_max": 10000,
//            "batch_txs_max": 1000, "batch_bytes_max": 4194304},
//   "ledger": {"log_cache_bytes": 134217728},
//   "raft": {
//     "id": 1,
//     "peers": [{"id": 1, "name": "node1", "host": "127.0.0.1", "port": 7101},
//               {"id": 2, "name": "node2", "host": "127.0.0.1", "port": 7102},
//               {"id": 3, "name": "node3", "host": "127.0.0.1", "port": 7103}],
//     "tls": {"ca": "certs/ca.pem", "cert": "certs/node-1.pem", "key": "certs/node-1.key"},
//     "tick_ms": 100, "election_ticks": 10, "heartbeat_ticks": 1,
//     "snapshot_entries": 10000
//   }
// }
// Only node_id, data_dir and genesis_file are required; relative paths are
// relative to the config file's folder. "key_file" is the node's signing key
// (core/node_key.h): optional here, but Node::open refuses to run a node that
// is an active on-chain node without it. Without "raft" the node orders alone
// (SoloOrderer). With it, "peers" is the network's initial membership (its
// voters, plus learners marked "learner": true) and this node listens on its
// own entry's host and port. Mutual TLS between nodes is required unless
// "plain_tcp": true, which is accepted only when every peer address is a
// loopback one. "http.body_bytes_max" bounds every request body but that of
// POST /v1/transactions/batch, which "http.batch_bytes_max" and
// "http.batch_txs_max" (envelopes per batch) bound instead.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "ledger/ledger.h"
#include "node/transport.h"

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
  int threads = 64;
  std::size_t body_bytes_max = 128 << 10;
  std::int64_t commit_wait_ms_max = 10'000;  // ?wait=commit gives up (202) after this
  std::size_t batch_txs_max = 1000;          // envelopes in one POST /v1/transactions/batch
  std::size_t batch_bytes_max = 4 << 20;     // the body of one POST /v1/transactions/batch
};

// The ledger's memory (ledger::LedgerOptions).
struct LedgerSettings {
  // The transaction log's nodes kept in memory for proofs: the whole log
  // takes 61 MiB per million transactions; a larger log keeps its upper
  // levels only (docs/operations.md).
  std::size_t log_cache_bytes = ledger::LedgerOptions{}.log_cache_bytes;
};

struct RaftPeer {
  std::uint64_t id = 0;  // the Raft node id, >= 1
  std::string name;      // that node's node_id
  PeerAddress address;
  bool learner = false;  // replicates and serves reads, never votes
};

struct RaftSettings {
  bool enabled = false;  // false: SoloOrderer
  std::uint64_t id = 0;
  std::vector<RaftPeer> peers;
  std::optional<TlsFiles> tls;  // required unless plain_tcp
  bool plain_tcp = false;
  std::int64_t tick_ms = 100;
  std::uint32_t election_ticks = 10;  // election timeout: 10..20 ticks
  std::uint32_t heartbeat_ticks = 1;
  // The Raft log is compacted (a snapshot taken) every this many applied
  // entries; a follower further behind catches up by snapshot.
  std::uint64_t snapshot_entries = 10'000;
  // The leader refuses to propose while this many bytes of its log are not
  // yet committed and applied (at least one block always goes).
  std::uint64_t uncommitted_bytes_max = 64 << 20;
  const RaftPeer* peer(std::uint64_t peer_id) const {
    for (const auto& p : peers) {
      if (p.id == peer_id) return &p;
    }
    return nullptr;
  }
};

struct NodeConfig {
  std::string node_id;
  std::filesystem::path data_dir;
  std::filesystem::path genesis_file;
  std::optional<std::filesystem::path> key_file;  // the node key file; see Node::open
  std::string listen_host = "127.0.0.1";
  int listen_port = 8701;  // 0: pick a free port (tests)
  BlockLimits block;
  MempoolLimits mempool;
  HttpLimits http;
  LedgerSettings ledger;
  RaftSettings raft;
};

// Reads and checks a config file. Errors: "bad_config" naming the member.
Result<NodeConfig> load_config(const std::filesystem::path& file);
Result<NodeConfig> config_from_json_text(const std::string& text,
                                         const std::filesystem::path& base_dir);

}  // namespace custos::node
