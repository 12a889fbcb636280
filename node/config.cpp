#include "node/config.h"

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

}  // namespace

Result<NodeConfig> config_from_json_text(const std::string& text,
                                         const std::filesystem::path& base_dir) {
  auto parsed = parse_json_strict(text);
  if (!parsed) return bad(parsed.error().message);
  const Json& j = *parsed;
  if (auto s = only_members(
          j, {"node_id", "data_dir", "genesis_file", "listen", "block", "mempool", "http"},
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
    if (auto s = only_members(h, {"threads", "body_bytes_max", "commit_wait_ms_max"}, "http"); !s) {
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
  }
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
