#include "node/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fstream>
#include <set>

#include "core/json.h"
#include "core/tx.h"

namespace custos::node {
namespace {

Error bad(const std::string& what) {
  return make_error("bad_config", what);
}

// Reads an optional positive integer member into `out`, within [lo, hi].
template <typename T>
Status read_int(const Json& obj, const char* name, T& out, std::int64_t lo, std::int64_t hi,
                const std::string& where) {
  if (!obj.contains(name)) return ok_status();
  const Json& v = obj[name];
  if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
    return bad(where + "." + name + " must be an integer from " + std::to_string(lo) + " to " +
               std::to_string(hi));
  }
  out = static_cast<T>(v.get<std::int64_t>());
  return ok_status();
}

Status only_members(const Json& obj, std::set<std::string> allowed, const std::string& where) {
  if (!obj.is_object()) return bad(where + " must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.contains(it.key())) return bad(where + " has unknown member \"" + it.key() + "\"");
  }
  return ok_status();
}

// A literal loopback address (127.0.0.0/8, ::1) or "localhost"; never a
// name that merely starts like one ("127.example.org").
bool is_loopback(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return host == "localhost";
}

Status read_string(const Json& obj, const char* name, std::string& out, const std::string& where) {
  if (!obj.contains(name) || !obj[name].is_string() || obj[name].get<std::string>().empty()) {
    return bad(where + "." + name + " is required (a string)");
  }
  out = obj[name].get<std::string>();
  return ok_status();
}

template <typename Resolve>
Status read_raft(const Json& r, const std::string& node_id, const Resolve& resolve,
                 RaftSettings& out) {
  if (auto s = only_members(r,
                            {"id", "peers", "tls", "plain_tcp", "tick_ms", "election_ticks",
                             "heartbeat_ticks", "snapshot_entries", "uncommitted_bytes_max"},
                            "raft");
      !s) {
    return s;
  }
  out.enabled = true;
  if (!r.contains("id")) return bad("raft.id is required");
  if (auto s = read_int(r, "id", out.id, 1, std::int64_t{1} << 40, "raft"); !s) return s;
  if (!r.contains("peers") || !r["peers"].is_array() || r["peers"].empty() ||
      r["peers"].size() > 64) {
    return bad("raft.peers must be an array of 1 to 64 peers");
  }
  std::set<std::uint64_t> ids;
  std::set<std::string> names;
  bool all_loopback = true;
  std::size_t voters = 0;
  for (std::size_t i = 0; i < r["peers"].size(); ++i) {
    const Json& p = r["peers"][i];
    std::string where = "raft.peers[" + std::to_string(i) + "]";
    if (auto s = only_members(p, {"id", "name", "host", "port", "learner"}, where); !s) return s;
    RaftPeer peer;
    if (!p.contains("id") || !p.contains("port")) return bad(where + " needs id, name, host, port");
    if (auto s = read_int(p, "id", peer.id, 1, std::int64_t{1} << 40, where); !s) return s;
    if (auto s = read_int(p, "port", peer.address.port, 1, 65535, where); !s) return s;
    if (auto s = read_string(p, "name", peer.name, where); !s) return s;
    if (auto s = read_string(p, "host", peer.address.host, where); !s) return s;
    if (!is_network_id(peer.name)) return bad(where + ".name must be a node_id");
    if (p.contains("learner")) {
      if (!p["learner"].is_boolean()) return bad(where + ".learner must be true or false");
      peer.learner = p["learner"].get<bool>();
    }
    if (!ids.insert(peer.id).second) return bad(where + ".id is used twice");
    if (!names.insert(peer.name).second) return bad(where + ".name is used twice");
    all_loopback = all_loopback && is_loopback(peer.address.host);
    voters += peer.learner ? 0 : 1;
    out.peers.push_back(std::move(peer));
  }
  if (voters == 0) return bad("raft.peers must include at least one voter");
  const RaftPeer* self = out.peer(out.id);
  if (!self) return bad("raft.id " + std::to_string(out.id) + " is not in raft.peers");
  if (self->name != node_id) {
    return bad("raft.peers entry " + std::to_string(out.id) + " is named \"" + self->name +
               "\" but this node is \"" + node_id + "\"");
  }
  if (r.contains("plain_tcp")) {
    if (!r["plain_tcp"].is_boolean()) return bad("raft.plain_tcp must be true or false");
    out.plain_tcp = r["plain_tcp"].get<bool>();
  }
  if (out.plain_tcp && !all_loopback) {
    return bad("raft.plain_tcp is allowed only when every peer is on a loopback address; "
               "use raft.tls between hosts");
  }
  if (r.contains("tls")) {
    const Json& t = r["tls"];
    if (auto s = only_members(t, {"ca", "cert", "key"}, "raft.tls"); !s) return s;
    std::string ca, cert, key;
    if (auto s = read_string(t, "ca", ca, "raft.tls"); !s) return s;
    if (auto s = read_string(t, "cert", cert, "raft.tls"); !s) return s;
    if (auto s = read_string(t, "key", key, "raft.tls"); !s) return s;
    out.tls = TlsFiles{resolve(ca), resolve(cert), resolve(key)};
  }
  if (out.tls && out.plain_tcp) return bad("raft: give either tls or plain_tcp, not both");
  if (!out.tls && !out.plain_tcp) {
    return bad("raft.tls is required (or \"plain_tcp\": true for a loopback-only network)");
  }
  if (auto s = read_int(r, "tick_ms", out.tick_ms, 5, 10'000, "raft"); !s) return s;
  if (auto s = read_int(r, "election_ticks", out.election_ticks, 3, 1000, "raft"); !s) return s;
  if (auto s = read_int(r, "heartbeat_ticks", out.heartbeat_ticks, 1, 100, "raft"); !s) return s;
  if (out.heartbeat_ticks >= out.election_ticks) {
    return bad("raft.heartbeat_ticks must be below raft.election_ticks");
  }
  if (auto s = read_int(r, "snapshot_entries", out.snapshot_entries, 2, 100'000'000, "raft"); !s) {
    return s;
  }
  if (auto s = read_int(r, "uncommitted_bytes_max", out.uncommitted_bytes_max, 1, std::int64_t{1} << 40,
                        "raft");
      !s) {
    return s;
  }
  return ok_status();
}

// A block travels as one Raft entry in one transport frame (64 MiB); its
// JSON may be up to twice the mempool's size estimate.
constexpr std::size_t kRaftBlockBytesMax = 16 << 20;

Status check_raft_limits(const NodeConfig& c) {
  if (c.raft.enabled && c.block.bytes_max > kRaftBlockBytesMax) {
    return bad("block.bytes_max may be at most " + std::to_string(kRaftBlockBytesMax) +
               " with raft (a block travels in one frame between nodes)");
  }
  return ok_status();
}

}  // namespace

Result<NodeConfig> config_from_json_text(const std::string& text,
                                         const std::filesystem::path& base_dir) {
  auto parsed = parse_json_strict(text);
  if (!parsed) return bad(parsed.error().message);
  const Json& j = *parsed;
  if (auto s = only_members(j,
                            {"node_id", "data_dir", "genesis_file", "key_file", "listen", "block",
                             "mempool", "http", "ledger", "raft"},
                            "config");
      !s) {
    return s.error();
  }
  NodeConfig c;
  for (const char* required : {"node_id", "data_dir", "genesis_file"}) {
    if (!j.contains(required) || !j[required].is_string() ||
        j[required].get<std::string>().empty()) {
      return bad(std::string("\"") + required + "\" is required (a string)");
    }
  }
  c.node_id = j["node_id"].get<std::string>();
  if (!is_network_id(c.node_id)) return bad("\"node_id\" must match [a-z0-9][a-z0-9._-]{0,63}");
  auto resolve = [&](const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : base_dir / path;
  };
  c.data_dir = resolve(j["data_dir"].get<std::string>());
  c.genesis_file = resolve(j["genesis_file"].get<std::string>());
  if (j.contains("key_file")) {
    if (!j["key_file"].is_string() || j["key_file"].get<std::string>().empty()) {
      return bad("\"key_file\" must be a path (a string)");
    }
    c.key_file = resolve(j["key_file"].get<std::string>());
  }

  if (j.contains("listen")) {
    const Json& l = j["listen"];
    if (auto s = only_members(l, {"host", "port"}, "listen"); !s) return s.error();
    if (l.contains("host")) {
      if (!l["host"].is_string()) return bad("listen.host must be a string");
      c.listen_host = l["host"].get<std::string>();
    }
    if (auto s = read_int(l, "port", c.listen_port, 0, 65535, "listen"); !s) return s.error();
  }
  if (j.contains("block")) {
    const Json& b = j["block"];
    if (auto s = only_members(b, {"txs_max", "bytes_max", "wait_ms_max"}, "block"); !s) {
      return s.error();
    }
    if (auto s = read_int(b, "txs_max", c.block.txs_max, 1, 10'000, "block"); !s) return s.error();
    if (auto s = read_int(b, "bytes_max", c.block.bytes_max, 1024, 64 << 20, "block"); !s) {
      return s.error();
    }
    if (auto s = read_int(b, "wait_ms_max", c.block.wait_ms_max, 0, 60'000, "block"); !s) {
      return s.error();
    }
  }
  if (j.contains("mempool")) {
    const Json& m = j["mempool"];
    if (auto s = only_members(m, {"txs_max", "bytes_max"}, "mempool"); !s) return s.error();
    if (auto s = read_int(m, "txs_max", c.mempool.txs_max, 1, 1'000'000, "mempool"); !s) {
      return s.error();
    }
    if (auto s =
            read_int(m, "bytes_max", c.mempool.bytes_max, 1024, std::int64_t{4} << 30, "mempool");
        !s) {
      return s.error();
    }
  }
  if (j.contains("http")) {
    const Json& h = j["http"];
    if (auto s = only_members(
            h,
            {"threads", "body_bytes_max", "commit_wait_ms_max", "batch_txs_max", "batch_bytes_max"},
            "http");
        !s) {
      return s.error();
    }
    if (auto s = read_int(h, "threads", c.http.threads, 1, 256, "http"); !s) return s.error();
    if (auto s = read_int(h, "body_bytes_max", c.http.body_bytes_max, 1024, 16 << 20, "http"); !s) {
      return s.error();
    }
    if (auto s = read_int(h, "commit_wait_ms_max", c.http.commit_wait_ms_max, 0, 120'000, "http");
        !s) {
      return s.error();
    }
    if (auto s = read_int(h, "batch_txs_max", c.http.batch_txs_max, 1, 10'000, "http"); !s) {
      return s.error();
    }
    if (auto s = read_int(h, "batch_bytes_max", c.http.batch_bytes_max, 1024, 64 << 20, "http");
        !s) {
      return s.error();
    }
  }
  if (j.contains("ledger")) {
    const Json& l = j["ledger"];
    if (auto s = only_members(l, {"log_cache_bytes"}, "ledger"); !s) return s.error();
    if (auto s = read_int(l, "log_cache_bytes", c.ledger.log_cache_bytes, 0, std::int64_t{64} << 30,
                          "ledger");
        !s) {
      return s.error();
    }
  }
  if (j.contains("raft")) {
    if (auto s = read_raft(j["raft"], c.node_id, resolve, c.raft); !s) return s.error();
  }
  if (auto s = check_raft_limits(c); !s) return s.error();
  return c;
}

Result<NodeConfig> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return bad("cannot read " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 1 << 20) return bad(file.string() + " is too large");
  auto c = config_from_json_text(text, file.parent_path());
  if (!c) return bad(file.string() + ": " + c.error().message);
  return c;
}

}  // namespace custos::node
