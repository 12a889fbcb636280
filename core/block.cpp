#include "core/block.h"

#include <cstdlib>
#include <set>

#include "core/json_members.h"
#include "core/merkle.h"

namespace custos {
namespace {

Error bad_block(const std::string& what) {
  return make_error("bad_block", what);
}

Result<std::uint64_t> get_u53(const Json& j, const char* name) {
  return json_u53_member(j, name, "bad_block");
}

Result<Hash256> get_hash(const Json& j, const char* name) {
  return json_hash_member(j, name, "bad_block");
}

}  // namespace

Hash256 BlockHeader::empty_log_root() {
  return merkle_root({});
}

Json BlockHeader::to_json() const {
  return Json{{"network_id", network_id},
              {"height", height},
              {"prev_hash", prev_hash.hex()},
              {"tx_root", tx_root.hex()},
              {"tx_count", tx_count},
              {"timestamp_ms", timestamp_ms},
              {"proposer", proposer},
              {"prev_results_hash", prev_results_hash.hex()},
              {"prev_log_size", prev_log_size},
              {"prev_log_root", prev_log_root.hex()},
              {"prev_state_root", prev_state_root.hex()}};
}

std::string BlockHeader::canonical() const {
  auto text = canonical_json(to_json());
  if (!text) std::abort();  // every member is a string or a bounded integer
  return std::move(text).value();
}

Hash256 BlockHeader::hash() const {
  return tagged_hash(kBlockTag, canonical());
}

Json Block::to_json() const {
  Json txs_json = Json::array();
  for (const auto& tx : txs) txs_json.push_back(tx.to_json());
  return Json{{"header", header.to_json()}, {"txs", std::move(txs_json)}};
}

Hash256 tx_root_of(const std::vector<Transaction>& txs) {
  std::vector<Hash256> ids;
  ids.reserve(txs.size());
  for (const auto& tx : txs) ids.push_back(tx.id());
  return tx_root_of_ids(ids);
}

Hash256 tx_root_of_ids(const std::vector<Hash256>& tx_ids) {
  std::vector<Hash256> leaves;
  leaves.reserve(tx_ids.size());
  for (const auto& id : tx_ids) leaves.push_back(merkle_leaf_hash(id.view()));
  return merkle_root(leaves);
}

Block make_block(std::string network_id, std::uint64_t height, const Hash256& prev_hash,
                 std::int64_t timestamp_ms, std::string proposer, const Hash256& prev_results_hash,
                 std::vector<Transaction> txs, const std::vector<Hash256>* tx_ids) {
  Block b;
  b.header.network_id = std::move(network_id);
  b.header.height = height;
  b.header.prev_hash = prev_hash;
  if (tx_ids && tx_ids->size() != txs.size()) std::abort();  // a caller's bug
  b.header.tx_root = tx_ids ? tx_root_of_ids(*tx_ids) : tx_root_of(txs);
  b.header.tx_count = txs.size();
  b.header.timestamp_ms = timestamp_ms;
  b.header.proposer = std::move(proposer);
  b.header.prev_results_hash = prev_results_hash;
  b.txs = std::move(txs);
  return b;
}

Result<BlockHeader> block_header_from_json(const Json& j) {
  static const std::set<std::string> kMembers = {
      "network_id", "height",   "prev_hash",         "tx_root",       "tx_count",      "timestamp_ms",
      "proposer",   "prev_results_hash", "prev_log_size", "prev_log_root", "prev_state_root"};
  if (!j.is_object()) return bad_block("block header must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kMembers.contains(it.key()))
      return bad_block("header has unknown member \"" + it.key() + "\"");
  }
  for (const auto& m : kMembers) {
    if (!j.contains(m)) return bad_block("header lacks member \"" + m + "\"");
  }
  BlockHeader h;
  if (!j["network_id"].is_string() || !is_network_id(j["network_id"].get<std::string>())) {
    return bad_block("\"network_id\" must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  h.network_id = j["network_id"].get<std::string>();
  if (!j["proposer"].is_string() || !is_network_id(j["proposer"].get<std::string>())) {
    return bad_block("\"proposer\" must be a node id matching [a-z0-9][a-z0-9._-]{0,63}");
  }
  h.proposer = j["proposer"].get<std::string>();

  auto height = get_u53(j, "height");
  if (!height) return height.error();
  h.height = *height;
  auto count = get_u53(j, "tx_count");
  if (!count) return count.error();
  h.tx_count = *count;
  auto ts = get_u53(j, "timestamp_ms");
  if (!ts) return ts.error();
  h.timestamp_ms = static_cast<std::int64_t>(*ts);

  auto prev = get_hash(j, "prev_hash");
  if (!prev) return prev.error();
  h.prev_hash = *prev;
  auto root = get_hash(j, "tx_root");
  if (!root) return root.error();
  h.tx_root = *root;
  auto results = get_hash(j, "prev_results_hash");
  if (!results) return results.error();
  h.prev_results_hash = *results;
  auto log_size = get_u53(j, "prev_log_size");
  if (!log_size) return log_size.error();
  h.prev_log_size = *log_size;
  auto log_root = get_hash(j, "prev_log_root");
  if (!log_root) return log_root.error();
  h.prev_log_root = *log_root;
  auto state_root = get_hash(j, "prev_state_root");
  if (!state_root) return state_root.error();
  h.prev_state_root = *state_root;
  return h;
}

Result<Block> block_from_json(const Json& j, std::vector<Hash256>* tx_ids) {
  if (!j.is_object() || j.size() != 2 || !j.contains("header") || !j.contains("txs")) {
    return bad_block("block must be an object with exactly \"header\" and \"txs\"");
  }
  auto header = block_header_from_json(j["header"]);
  if (!header) return header.error();
  const Json& txs = j["txs"];
  if (!txs.is_array()) return bad_block("\"txs\" must be an array");
  if (txs.size() > kBlockTxsMax) return bad_block("block has too many transactions");
  Block b;
  b.header = *header;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    auto tx = tx_from_json(txs[i]);
    if (!tx) return bad_block("txs[" + std::to_string(i) + "]: " + tx.error().message);
    if (tx->network_id != b.header.network_id) {
      return bad_block("txs[" + std::to_string(i) + "] belongs to another network");
    }
    b.txs.push_back(std::move(tx).value());
  }
  if (b.header.tx_count != b.txs.size()) return bad_block("tx_count does not match txs");
  std::vector<Hash256> ids;
  ids.reserve(b.txs.size());
  for (const auto& tx : b.txs) ids.push_back(tx.id());
  if (b.header.tx_root != tx_root_of_ids(ids)) return bad_block("tx_root does not match txs");
  if (tx_ids) *tx_ids = std::move(ids);
  return b;
}

}  // namespace custos
