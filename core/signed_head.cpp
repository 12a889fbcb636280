#include "core/signed_head.h"

#include <algorithm>
#include <cstring>

#include "core/json_members.h"

namespace custos {
namespace {

Error bad(const std::string& what) { return make_error("bad_head", what); }

// Exactly the members `names`, in any order.
bool has_exactly(const Json& j, std::initializer_list<std::string_view> names) {
  if (!j.is_object() || j.size() != names.size()) return false;
  for (auto n : names) {
    if (!j.contains(std::string(n))) return false;
  }
  return true;
}

Result<Hash256> hash_member(const Json& j, const char* name) {
  return json_hash_member(j, name, "bad_head");
}

Result<std::uint64_t> count_member(const Json& j, const char* name) {
  return json_u53_member(j, name, "bad_head");
}

}  // namespace

Json HeadStatement::to_json() const {
  return {{"network_id", network_id},     {"height", height},
          {"block_hash", block_hash.hex()}, {"results_hash", results_hash.hex()},
          {"log_size", log_size},         {"log_root", log_root.hex()},
          {"state_root", state_root.hex()}};
}

Result<HeadStatement> HeadStatement::from_json(const Json& j) {
  if (!has_exactly(j, {"network_id", "height", "block_hash", "results_hash", "log_size",
                       "log_root", "state_root"})) {
    return bad(
        "a head must be an object with exactly network_id, height, block_hash, results_hash, "
        "log_size, log_root and state_root");
  }
  HeadStatement h;
  if (!j["network_id"].is_string() || j["network_id"].get<std::string>().empty() ||
      j["network_id"].get<std::string>().size() > 64) {
    return bad("\"network_id\" must be a string of 1 to 64 bytes");
  }
  h.network_id = j["network_id"].get<std::string>();
  auto height = count_member(j, "height");
  if (!height) return height.error();
  h.height = *height;
  auto log_size = count_member(j, "log_size");
  if (!log_size) return log_size.error();
  h.log_size = *log_size;
  for (auto [name, out] : {std::pair{"block_hash", &h.block_hash},
                           std::pair{"results_hash", &h.results_hash},
                           std::pair{"log_root", &h.log_root},
                           std::pair{"state_root", &h.state_root}}) {
    auto v = hash_member(j, name);
    if (!v) return v.error();
    *out = *v;
  }
  return h;
}

Hash256 HeadStatement::digest() const {
  auto text = canonical_json(to_json());
  // Every member is a string of known shape or a bounded integer, so the
  // statement always encodes; a failure here is a broken invariant.
  if (!text) std::abort();
  return tagged_hash(kHeadTag, *text);
}

Json HeadSignature::to_json() const {
  return {{"node", node_id}, {"signature", signature.hex()}};
}

Result<HeadSignature> HeadSignature::from_json(const Json& j) {
  if (!has_exactly(j, {"node", "signature"}) || !j["node"].is_string() ||
      !j["signature"].is_string()) {
    return bad("a head signature must be {\"node\": id, \"signature\": 128 hex digits}");
  }
  HeadSignature s;
  s.node_id = j["node"].get<std::string>();
  if (s.node_id.empty() || s.node_id.size() > 64) return bad("\"node\" must be a node id");
  auto bytes = hex_decode_canonical(j["signature"].get<std::string>(), 64);
  if (!bytes) return bad("\"signature\" of node \"" + s.node_id + "\" must be 128 lowercase hex digits");
  std::memcpy(s.signature.compact.data(), bytes->data(), 64);
  return s;
}

Json SignedHead::to_json() const {
  Json sigs = Json::array();
  for (const auto& s : signatures) sigs.push_back(s.to_json());
  return {{"head", head.to_json()}, {"signatures", sigs}};
}

Result<SignedHead> SignedHead::from_json(const Json& j) {
  if (!has_exactly(j, {"head", "signatures"}) || !j["signatures"].is_array()) {
    return bad("a signed head must be {\"head\": {...}, \"signatures\": [...]}");
  }
  SignedHead out;
  auto head = HeadStatement::from_json(j["head"]);
  if (!head) return head.error();
  out.head = *head;
  for (const Json& s : j["signatures"]) {
    auto sig = HeadSignature::from_json(s);
    if (!sig) return sig.error();
    if (!out.signatures.empty() && !(out.signatures.back().node_id < sig->node_id)) {
      return bad("head signatures must be sorted by node id, one per node (\"" + sig->node_id +
                 "\")");
    }
    out.signatures.push_back(*sig);
  }
  return out;
}

HeadSignature sign_head(const std::string& node_id, const PrivateKey& key,
                        const HeadStatement& head) {
  return {node_id, key.sign(head.digest().view())};
}

bool verify_head_signature(const PublicKey& key, const HeadStatement& head,
                           const Signature& signature) {
  return verify_compact(key, head.digest().view(), signature.compact);
}

}  // namespace custos
