// verify_bundle: the offline checks of a court bundle, in the order of
// kCheckNames. docs/verification.md describes the same algorithm step by
// step for teams writing their own verifier.
#include <algorithm>
#include <ctime>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "bundle/bundle.h"
#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "chaincode/module_kit.h"
#include "chaincode/registry.h"
#include "core/json_members.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "core/tx.h"
#include "ledger/commitments.h"

namespace custos::bundle {
namespace {

// A check that failed: thrown inside the verifier only, caught in
// verify_bundle, which turns it into the report's last CheckResult.
struct CheckFailed {
  std::string message;
};

[[noreturn]] void fail(std::string message) { throw CheckFailed{std::move(message)}; }

std::string short_hex(const std::string& hex) { return hex.substr(0, 12) + "…"; }

// --- parsed bundle --------------------------------------------------------------------

struct Chain {
  enum class Kind { kItem, kIdentity, kNodes };
  Kind kind = Kind::kItem;
  std::string subject;  // the item id, the identity id, the network id
  std::string key;      // its history key
  std::string label;    // "item E-1", "identity alice", "node membership"
  std::vector<Json> events;
  SmtProof state_proof;
};

struct BundleTx {
  std::uint64_t log_index = 0;
  std::string code;
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  std::string leaf_tx_id;
  std::vector<Hash256> path;
  Transaction tx;
  Hash256 id;
  std::string function() const { return tx.chaincode + "." + tx.function; }
};

// Members of `j` must be exactly `names`.
void expect_members(const Json& j, std::initializer_list<std::string_view> names,
                    const std::string& what) {
  if (!j.is_object()) fail(what + " must be a JSON object");
  for (auto n : names) {
    if (!j.contains(std::string(n))) fail(what + " lacks \"" + std::string(n) + "\"");
  }
  if (j.size() != names.size()) fail(what + " has members beyond those defined");
}

std::uint64_t expect_count(const Json& j, const std::string& what) {
  if (!is_json_u53(j)) fail(what + " must be an integer 0..2^53-1");
  return j.get<std::uint64_t>();
}

std::string expect_string(const Json& j, const std::string& what) {
  if (!j.is_string()) fail(what + " must be a string");
  return j.get<std::string>();
}

Chain parse_chain(const Json& j, Chain::Kind kind, std::string subject, std::string key,
                  std::string label, std::initializer_list<std::string_view> members) {
  expect_members(j, members, label);
  if (!j["events"].is_array()) fail(label + ": \"events\" must be an array");
  Chain c{kind, std::move(subject), std::move(key), std::move(label), {}, {}};
  for (const Json& e : j["events"]) {
    if (!e.is_object()) fail(c.label + ": every event must be a JSON object");
    c.events.push_back(e);
  }
  auto proof = smt_proof_from_json(j["state_proof"]);
  if (!proof) fail(c.label + ": state_proof: " + proof.error().message);
  c.state_proof = std::move(*proof);
  return c;
}

bool is_result_code(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char ch) { return (ch >= 'A' && ch <= 'Z') || ch == '_'; });
}

// --- identities over time -------------------------------------------------------

// What the bundle says about an identity just before a log position.
struct IdentityAt {
  bool enrolled = false;
  std::string org;
  std::vector<std::string> roles;
  std::optional<PublicKey> key;
  std::vector<std::pair<PublicKey, std::uint64_t>> rotated_away;  // key, height
  std::optional<std::uint64_t> revoked_at_height;
};

PublicKey event_key(const Json& data, const std::string& what) {
  auto pk = PublicKey::from_hex(expect_string(data.at("public_key"), what + " public_key"));
  if (!pk) fail(what + ": public_key is not a valid key");
  return *pk;
}

// --- events and their transactions ----------------------------------------------
//
// An event is what its transaction did, as the chaincode records it
// (chaincode/custody.cpp, identity.cpp): the function, the subject and the
// parts of the event that come from the arguments must be the transaction's.
// Without this an event could borrow any real signed transaction.

bool same(const Json& args, const char* arg, const Json& value) {
  return args.contains(arg) ? args.at(arg) == value : value.is_null();
}

std::optional<std::string> item_binding_problem(const std::string& item, const Json& e,
                                                const Transaction& tx) {
  const std::string type = e.at("type").get<std::string>();
  const std::string function = type == "derived" ? "derive" : type;
  if (tx.chaincode != "custody" || tx.function != function) {
    return "a \"" + type + "\" event recorded by a " + tx.chaincode + "." + tx.function +
           " transaction";
  }
  const Json& args = tx.args;
  if (!same(args, type == "derive" ? "parent_id" : "item_id", Json(item))) {
    return "its transaction is about another item";
  }
  if (!same(args, type == "register" ? "seized_at_ms" : "declared_at_ms",
            e.value("declared_at_ms", Json()))) {
    return "its declared time is not its transaction's";
  }
  const Json& data = e.at("data");
  if (auto expected = chaincode::event_data_from_args(type, args)) {
    if (data != *expected) return "its data is not its transaction's arguments";
  } else if (type == "derived") {
    for (const char* m : {"kind", "description", "content_hash"}) {
      if (!same(args, m, data.value(m, Json()))) return "its data is not its transaction's";
    }
    if (!same(args, "parent_id", data.value("parent_id", Json()))) {
      return "its parent is not its transaction's";
    }
  } else if (type == "integrity_check") {
    if (!same(args, "observed_hash", data.value("observed_hash", Json()))) {
      return "its observed hash is not its transaction's";
    }
  } else {
    return "unknown event type \"" + type + "\"";
  }
  return std::nullopt;
}

std::optional<std::string> identity_binding_problem(const std::string& identity, const Json& e,
                                                    const Transaction& tx) {
  const std::string type = e.at("type").get<std::string>();
  if (tx.chaincode != "identity" || tx.function != type ||
      (type != "enrol" && type != "rotate_key" && type != "revoke")) {
    return "a \"" + type + "\" event recorded by a " + tx.chaincode + "." + tx.function +
           " transaction";
  }
  const Json& args = tx.args;
  const Json& data = e.at("data");
  if (!same(args, "id", Json(identity))) return "its transaction is about another identity";
  if (type == "enrol") {
    Json roles = args.value("roles", Json::array());
    if (roles.is_array()) std::sort(roles.begin(), roles.end());
    if (!same(args, "org", data.value("org", Json())) || roles != data.value("roles", Json()) ||
        !same(args, "public_key", data.value("public_key", Json()))) {
      return "its org, roles or key is not its transaction's";
    }
  } else if (type == "rotate_key") {
    if (!same(args, "public_key", data.value("public_key", Json()))) {
      return "its new key is not its transaction's";
    }
  } else if (!same(args, "reason", data.value("reason", Json()))) {
    return "its reason is not its transaction's";
  }
  return std::nullopt;
}

std::optional<std::string> node_binding_problem(const Json& e, const Transaction& tx) {
  const std::string type = e.at("type").get<std::string>();
  if (tx.chaincode != "identity" || tx.function != type ||
      (type != "add_node" && type != "remove_node" && type != "rotate_node_key")) {
    return "a \"" + type + "\" event recorded by a " + tx.chaincode + "." + tx.function +
           " transaction";
  }
  const Json& args = tx.args;
  const Json& data = e.at("data");
  if (!same(args, "id", data.value("node_id", Json()))) {
    return "its transaction is about another node";
  }
  if (type != "remove_node" && !same(args, "public_key", data.value("public_key", Json()))) {
    return "its key is not its transaction's";
  }
  if (type == "add_node" && !same(args, "org", data.value("org", Json()))) {
    return "its org is not its transaction's";
  }
  return std::nullopt;
}

class Verifier {
 public:
  Verifier(const Json& bundle, const Genesis& genesis, VerifyReport& report)
      : bundle_(bundle), genesis_(genesis), report_(report) {}

  void run() {
    // First what rests on people's signatures alone, then the node
    // membership those signatures authorise, then the head it signs, then
    // what the head proves. So no check relies on anything a later one
    // establishes.
    step("bundle_format", [&] { return parse(); });
    step("genesis", [&] { return check_genesis(); });
    step("tx_signatures", [&] { return check_tx_signatures(); });
    step("event_txs", [&] { return check_event_txs(); });
    step("signers", [&] { return check_signers(); });
    step("roles", [&] { return check_roles(); });
    step("node_history", [&] { return check_node_history(); });
    step("head_signatures", [&] { return check_head_signatures(); });
    step("log_inclusion", [&] { return check_log_inclusion(); });
    step("history_chain", [&] { return check_history_chains(); });
    step("completeness", [&] { return check_completeness(); });
    report_.checks.push_back({"timeline", false, {}});
    build_timeline();
    report_.checks.pop_back();
    report_.ok = true;
  }

 private:
  template <typename F>
  void step(std::string_view name, F f) {
    report_.checks.push_back({std::string(name), false, {}});
    report_.checks.back().detail = f();
    report_.checks.back().ok = true;
  }

  // --- bundle_format ---------------------------------------------------------------
  std::string parse() {
    expect_members(bundle_,
                   {"bundle", "network_id", "genesis_hash", "item_id", "signed_head", "item",
                    "identities", "nodes", "transactions"},
                   "the bundle");
    if (bundle_["bundle"] != kBundleFormat) {
      fail("\"bundle\" must be \"" + std::string(kBundleFormat) + "\"");
    }
    network_id_ = expect_string(bundle_["network_id"], "network_id");
    genesis_hash_ = expect_string(bundle_["genesis_hash"], "genesis_hash");
    item_id_ = expect_string(bundle_["item_id"], "item_id");
    if (!is_object_id(item_id_)) fail("item_id is not an item id");
    report_.item_id = item_id_;
    auto signed_head = SignedHead::from_json(bundle_["signed_head"]);
    if (!signed_head) fail("signed_head: " + signed_head.error().message);
    signed_ = std::move(*signed_head);
    report_.head = signed_.head;

    item_ = parse_chain(bundle_["item"], Chain::Kind::kItem, item_id_,
                        chaincode::item_state_key(item_id_), "item " + item_id_,
                        {"events", "state_proof"});
    if (!bundle_["identities"].is_array()) fail("\"identities\" must be an array");
    for (const Json& j : bundle_["identities"]) {
      if (!j.is_object() || !j.contains("identity_id") || !j["identity_id"].is_string() ||
          !is_network_id(j["identity_id"].get<std::string>())) {
        fail("every identity needs an \"identity_id\"");
      }
      std::string id = j["identity_id"].get<std::string>();
      if (!identity_ids_.empty() && !(identity_ids_.back() < id)) {
        fail("identities must be sorted by id, each once (\"" + id + "\")");
      }
      identities_.push_back(parse_chain(j, Chain::Kind::kIdentity, id, identity_history_key(id),
                                        "identity " + id,
                                        {"identity_id", "events", "state_proof"}));
      identity_ids_.push_back(id);
    }
    nodes_ = parse_chain(bundle_["nodes"], Chain::Kind::kNodes, network_id_,
                         std::string(kNodesHistoryKey), "node membership",
                         {"events", "state_proof"});

    if (!bundle_["transactions"].is_array()) fail("\"transactions\" must be an array");
    for (const Json& j : bundle_["transactions"]) {
      expect_members(j, {"log_index", "leaf", "inclusion_proof", "tx"}, "a transaction entry");
      BundleTx t;
      t.log_index = expect_count(j["log_index"], "log_index");
      const Json& leaf = j["leaf"];
      expect_members(leaf, {"code", "height", "index", "tx_id"}, "a log leaf");
      t.code = expect_string(leaf["code"], "leaf code");
      if (!is_result_code(t.code)) fail("leaf code \"" + t.code + "\" is not a result code");
      t.height = expect_count(leaf["height"], "leaf height");
      std::uint64_t index = expect_count(leaf["index"], "leaf index");
      if (index >= kBlockTxsMax) fail("leaf index out of range");
      t.index = static_cast<std::uint32_t>(index);
      t.leaf_tx_id = expect_string(leaf["tx_id"], "leaf tx_id");
      if (!Hash256::from_hex(t.leaf_tx_id)) fail("leaf tx_id must be 64 lowercase hex digits");
      if (!j["inclusion_proof"].is_array() || j["inclusion_proof"].size() > 64) {
        fail("inclusion_proof must be an array of at most 64 hashes");
      }
      for (const Json& h : j["inclusion_proof"]) {
        auto hash = Hash256::from_hex(expect_string(h, "an inclusion proof hash"));
        if (!hash) fail("inclusion proof hashes must be 64 lowercase hex digits");
        t.path.push_back(*hash);
      }
      auto tx = tx_from_json(j["tx"]);
      if (!tx) fail("transaction at log index " + std::to_string(t.log_index) + ": " +
                    tx.error().message);
      t.tx = std::move(*tx);
      t.id = t.tx.id();
      if (!txs_.empty() && txs_.back().log_index >= t.log_index) {
        fail("transactions must be sorted by log index, each once");
      }
      txs_.push_back(std::move(t));
    }
    for (std::size_t i = 0; i < txs_.size(); ++i) {
      if (!tx_by_id_.emplace(txs_[i].id.hex(), i).second) {
        fail("transaction " + txs_[i].id.hex() + " appears twice");
      }
    }
    return "custos-bundle/1: item " + item_id_ + ", " + std::to_string(item_.events.size()) +
           " events, " + std::to_string(identities_.size()) + " identities, " +
           std::to_string(txs_.size()) + " transactions";
  }

  // --- genesis --------------------------------------------------------------------------
  std::string check_genesis() {
    const std::string hash = genesis_.hash().hex();
    if (hash != genesis_hash_) {
      fail("the genesis file's hash " + hash + " is not the bundle's genesis_hash " +
           genesis_hash_ + ": the bundle belongs to another network");
    }
    if (genesis_.network_id != network_id_ || signed_.head.network_id != network_id_) {
      fail("network ids differ: genesis \"" + genesis_.network_id + "\", bundle \"" +
           network_id_ + "\", head \"" + signed_.head.network_id + "\"");
    }
    return "network " + network_id_ + ", genesis " + hash;
  }

  // --- node_history ------------------------------------------------------------------
  struct NodeState {
    std::string org;
    PublicKey key;
    bool active = true;
  };

  std::string check_node_history() {
    if (auto s = chaincode::verify_event_chain("network_id", "network", network_id_,
                                               nodes_.events, chaincode::kNoPrevEventHash);
        !s) {
      fail("node membership chain: " + s.error().message);
    }
    check_chain_starts(nodes_);
    for (const GenesisNode& n : genesis_.nodes) nodes_at_head_.emplace(n.id, NodeState{n.org, n.public_key});
    for (const Json& e : nodes_.events) {
      const std::string what = "node membership event " + std::to_string(e["seq"].get<std::uint64_t>());
      const std::string type = expect_string(e.at("type"), what + " type");
      const Json& data = e.at("data");
      const std::string node = expect_string(data.at("node_id"), what + " node_id");
      auto it = nodes_at_head_.find(node);
      // The change is only as good as who signed it: an admin of the node's
      // org, as the identity chains say (step "signers" resolved them and
      // "roles" checked the admin role).
      const std::string org = type == "add_node" ? expect_string(data.at("org"), what + " org")
                              : it != nodes_at_head_.end() ? it->second.org
                                                           : std::string();
      const chaincode::Signer& actor = signers_.at(e["tx_id"].get<std::string>()).front();
      if (actor.org != org) {
        fail(what + " (" + type + " " + node + ") was signed by \"" + actor.identity_id +
             "\" of org \"" + actor.org + "\", not by an admin of the node's org \"" + org + "\"");
      }
      if (type == "add_node") {
        if (it != nodes_at_head_.end()) fail(what + ": adds node \"" + node + "\" twice");
        nodes_at_head_.emplace(node, NodeState{expect_string(data.at("org"), what + " org"),
                                               event_key(data, what)});
      } else if (type == "remove_node" || type == "rotate_node_key") {
        if (it == nodes_at_head_.end() || !it->second.active) {
          fail(what + ": " + type + " of a node that is not a member: \"" + node + "\"");
        }
        if (type == "remove_node") {
          it->second.active = false;
        } else {
          it->second.key = event_key(data, what);
        }
      } else {
        fail(what + ": unknown type \"" + type + "\"");
      }
    }
    std::size_t members = 0;
    for (const auto& [id, n] : nodes_at_head_) members += n.active ? 1 : 0;
    report_.head_members = members;
    return std::to_string(members) + " member nodes at height " +
           std::to_string(signed_.head.height) + " (" + std::to_string(genesis_.nodes.size()) +
           " in genesis, " + std::to_string(nodes_.events.size()) + " membership changes)";
  }

  void check_event_height(const Json& e, const std::string& what) {
    if (!e.contains("height") || !is_json_u53(e["height"])) fail(what + " has no height");
    if (e["height"].get<std::uint64_t>() > signed_.head.height) {
      fail(what + " is at height " + std::to_string(e["height"].get<std::uint64_t>()) +
           ", after the head's height " + std::to_string(signed_.head.height) +
           ": the head is older than the bundle's contents");
    }
  }

  // --- head_signatures --------------------------------------------------------------
  std::string check_head_signatures() {
    std::vector<std::string> valid;
    for (const HeadSignature& s : signed_.signatures) {
      auto it = nodes_at_head_.find(s.node_id);
      if (it == nodes_at_head_.end() || !it->second.active) {
        fail("node \"" + s.node_id + "\" signed the head but was not a member at height " +
             std::to_string(signed_.head.height));
      }
      if (!verify_head_signature(it->second.key, signed_.head, s.signature)) {
        fail("the signature of node \"" + s.node_id + "\" does not verify over the head");
      }
      valid.push_back(s.node_id);
    }
    const std::size_t needed = head_quorum(report_.head_members);
    if (valid.size() < needed) {
      fail(std::to_string(valid.size()) + " valid node signature" + (valid.size() == 1 ? "" : "s") +
           " on the head, " + std::to_string(needed) + " of " +
           std::to_string(report_.head_members) + " members needed");
    }
    report_.head_signers = valid;
    std::string names;
    for (const auto& v : valid) names += (names.empty() ? "" : ", ") + v;
    return "head at height " + std::to_string(signed_.head.height) + " signed by " + names + " (" +
           std::to_string(valid.size()) + " of " + std::to_string(report_.head_members) + ", " +
           std::to_string(needed) + " needed)";
  }

  // --- log_inclusion -------------------------------------------------------------------
  std::string check_log_inclusion() {
    const HeadStatement& head = signed_.head;
    auto what = [](const BundleTx& t) {
      return "tx " + short_hex(t.id.hex()) + " (" + t.function() + ")";
    };
    // Positions first, so that an older head is named as such rather than
    // as a proof that does not verify.
    for (const Chain* c : all_chains()) {
      for (const Json& e : c->events) check_event_height(e, c->label + " event " + e["seq"].dump());
    }
    for (const BundleTx& t : txs_) {
      if (t.log_index >= head.log_size || t.height > head.height) {
        fail(what(t) + ": at log index " + std::to_string(t.log_index) + ", height " +
             std::to_string(t.height) + ", not within the head (log size " +
             std::to_string(head.log_size) + ", height " + std::to_string(head.height) +
             "): the head is older than the bundle's contents");
      }
    }
    for (const BundleTx& t : txs_) {
      const std::string leaf = ledger::tx_log_leaf_data(t.id, t.height, t.index, t.code);
      if (!merkle_verify_inclusion(merkle_leaf_hash(as_bytes(leaf)), t.log_index, head.log_size,
                                   t.path, head.log_root)) {
        fail(what(t) + ": its inclusion proof does not lead to the head's log root " +
             short_hex(head.log_root.hex()));
      }
    }
    return std::to_string(txs_.size()) + " transactions in the log of " +
           std::to_string(head.log_size) + " at root " + short_hex(head.log_root.hex());
  }

  // --- tx_signatures ---------------------------------------------------------------------
  std::string check_tx_signatures() {
    std::size_t n = 0;
    for (const BundleTx& t : txs_) {
      if (t.leaf_tx_id != t.id.hex()) {
        fail("tx " + short_hex(t.id.hex()) + " (" + t.function() + "): its log leaf names tx " +
             short_hex(t.leaf_tx_id) + ": the transaction was altered");
      }
      if (t.tx.signatures.empty()) fail("tx " + short_hex(t.id.hex()) + " has no signature");
      auto ok = t.tx.verify_signatures();
      for (std::size_t i = 0; i < ok.size(); ++i) {
        if (!ok[i]) {
          fail("signature " + std::to_string(i) + " of tx " + short_hex(t.id.hex()) + " (" +
               t.function() + ") does not verify");
        }
      }
      n += ok.size();
    }
    return std::to_string(n) + " signatures verify over " + std::to_string(txs_.size()) +
           " transactions";
  }

  // --- history_chain ---------------------------------------------------------------------
  std::string check_history_chains() {
    if (item_.events.empty()) fail("the item has no events");
    check_chain_starts(item_);
    if (auto s = chaincode::verify_item_history(item_id_, item_.events); !s) {
      fail("item " + item_id_ + ": " + s.error().message);
    }
    for (std::size_t i = 0; i < identities_.size(); ++i) {
      check_chain_starts(identities_[i]);
      if (auto s = chaincode::verify_identity_history(identity_ids_[i], identities_[i].events);
          !s) {
        fail(identities_[i].label + ": " + s.error().message);
      }
    }
    return "item " + item_id_ + ": " + std::to_string(item_.events.size()) +
           " events linked from seq 0; " + std::to_string(identities_.size()) +
           " identity chains linked";
  }

  void check_chain_starts(const Chain& c) {
    if (!c.events.empty() && c.events.front().value("seq", std::int64_t{-1}) != 0) {
      fail(c.label + ": the chain does not start at seq 0: its first events are missing");
    }
  }

  std::vector<const Chain*> all_chains() const {
    std::vector<const Chain*> out{&item_};
    for (const Chain& c : identities_) out.push_back(&c);
    out.push_back(&nodes_);
    return out;
  }

  // --- completeness --------------------------------------------------------------------
  std::string check_completeness() {
    for (const Chain* c : all_chains()) {
      std::optional<Hash256> value;
      if (!c->events.empty()) {
        const Json& last = c->events.back();
        value = ledger::history_head_value(last, last["seq"].get<std::uint64_t>());
      }
      if (!smt_verify(signed_.head.state_root, c->key, value, c->state_proof)) {
        if (c->events.empty()) {
          fail(c->label + ": the state map at height " + std::to_string(signed_.head.height) +
               " does not show it without history: its events are missing");
        }
        fail(c->label + ": the state map at height " + std::to_string(signed_.head.height) +
             " does not have seq " + c->events.back()["seq"].dump() +
             " as its latest event: the history is cut off or its last event altered");
      }
    }
    return "item " + item_id_ + ": seq " + item_.events.back()["seq"].dump() +
           " is its latest event at height " + std::to_string(signed_.head.height) +
           "; likewise every identity's and the node membership's last event";
  }

  // --- event_txs -----------------------------------------------------------------------
  std::string check_event_txs() {
    for (const Chain* c : all_chains()) {
      for (const Json& e : c->events) {
        const std::string what = c->label + " event " + e["seq"].dump();
        const BundleTx& t = tx_of(e, what);
        if (t.code != "OK") fail(what + ": its tx " + short_hex(t.id.hex()) + " failed with " + t.code);
        if (!e.contains("height") || !is_json_u53(e["height"]) || !e.contains("type") ||
            !e["type"].is_string() || !e.contains("data")) {
          fail(what + ": lacks its height, type or data");
        }
        std::optional<std::string> problem =
            c->kind == Chain::Kind::kItem       ? item_binding_problem(c->subject, e, t.tx)
            : c->kind == Chain::Kind::kIdentity ? identity_binding_problem(c->subject, e, t.tx)
                                                : node_binding_problem(e, t.tx);
        if (problem) {
          fail(what + " does not match its transaction " + short_hex(t.id.hex()) + ": " + *problem);
        }
        if (t.height != e["height"].get<std::uint64_t>()) {
          fail(what + ": at height " + e["height"].dump() + " but its tx was committed at " +
               std::to_string(t.height));
        }
        events_of_tx_[t.id.hex()].push_back(&e);
      }
    }
    return "every event is what its transaction did, committed OK at the event's height";
  }

  const BundleTx& tx_of(const Json& event, const std::string& what) {
    auto it = tx_by_id_.find(event.value("tx_id", std::string()));
    if (it == tx_by_id_.end()) fail(what + ": its transaction is not in the bundle");
    return txs_[it->second];
  }

  // --- signers ------------------------------------------------------------------------------
  // Each identity's states over time: states[k] is the identity after its
  // first k events, at[k] the log index of event k. Built once.
  struct Timeline {
    std::vector<std::uint64_t> at;
    std::vector<IdentityAt> states;
  };

  Timeline timeline_of(std::size_t chain) {
    Timeline tl;
    IdentityAt state;
    const std::string& id = identity_ids_[chain];
    for (const GenesisOrg& org : genesis_.orgs) {
      for (const GenesisAdmin& a : org.admins) {
        if (a.id == id) {
          state.enrolled = true;
          state.org = org.id;
          state.roles = {"admin"};
          state.key = a.public_key;
        }
      }
    }
    tl.states.push_back(state);
    for (const Json& e : identities_[chain].events) {
      const std::string what = identities_[chain].label + " event " + e["seq"].dump();
      const BundleTx& t = tx_of(e, what);
      if (!tl.at.empty() && t.log_index <= tl.at.back()) fail(what + ": out of log order");
      const std::string type = expect_string(e.at("type"), what + " type");
      const Json& data = e.at("data");
      const std::uint64_t height = e["height"].get<std::uint64_t>();
      if (type == "enrol") {
        if (state.enrolled) fail(what + ": enrols an identity that exists");
        state.enrolled = true;
        state.org = expect_string(data.at("org"), what + " org");
        state.roles.clear();
        for (const Json& r : data.at("roles")) state.roles.push_back(expect_string(r, what + " role"));
        std::sort(state.roles.begin(), state.roles.end());
        state.key = event_key(data, what);
      } else if (type == "rotate_key") {
        if (!state.enrolled || !state.key) fail(what + ": rotates the key of an identity not enrolled");
        state.rotated_away.emplace_back(*state.key, height);
        state.key = event_key(data, what);
      } else if (type == "revoke") {
        if (!state.enrolled) fail(what + ": revokes an identity not enrolled");
        state.revoked_at_height = height;
      } else {
        fail(what + ": unknown type \"" + type + "\"");
      }
      tl.at.push_back(t.log_index);
      tl.states.push_back(state);
    }
    return tl;
  }

  // The identity `timeline` describes just before log position `before`.
  static const IdentityAt& state_before(const Timeline& tl, std::uint64_t before) {
    auto applied = std::lower_bound(tl.at.begin(), tl.at.end(), before) - tl.at.begin();
    return tl.states[static_cast<std::size_t>(applied)];
  }

  std::string check_signers() {
    std::vector<Timeline> timelines;
    // Every key any identity of the bundle ever held, and who held it.
    std::map<PublicKey, std::vector<std::size_t>> holders;
    for (std::size_t c = 0; c < identities_.size(); ++c) {
      timelines.push_back(timeline_of(c));
      std::set<PublicKey> keys;
      for (const IdentityAt& st : timelines.back().states) {
        if (st.key) keys.insert(*st.key);
      }
      for (const PublicKey& k : keys) holders[k].push_back(c);
    }
    for (const auto& [key, who] : holders) {
      if (who.size() > 1) {
        fail("key " + short_hex(key.hex()) + " was held by both \"" + identity_ids_[who[0]] +
             "\" and \"" + identity_ids_[who[1]] + "\"; every key is used once");
      }
    }
    std::size_t resolved = 0;
    for (const BundleTx& t : txs_) {
      const std::string what = "tx " + short_hex(t.id.hex()) + " (" + t.function() + ", height " +
                               std::to_string(t.height) + ")";
      std::vector<chaincode::Signer> signers;
      for (std::size_t i = 0; i < t.tx.signatures.size(); ++i) {
        const PublicKey& key = t.tx.signatures[i].public_key;
        auto it = holders.find(key);
        const IdentityAt* at = nullptr;
        std::string id;
        if (it != holders.end()) {
          id = identity_ids_[it->second.front()];
          at = &state_before(timelines[it->second.front()], t.log_index);
        }
        if (!at || !at->enrolled || !at->key) {
          fail(what + ": no identity in the bundle held key " + short_hex(key.hex()) +
               " (signature " + std::to_string(i) +
               ") when the transaction was ordered: the signer's enrolment is missing");
        }
        for (const auto& [old, height] : at->rotated_away) {
          if (old == key) {
            fail(what + ": signed with a key of \"" + id + "\" rotated away at height " +
                 std::to_string(height) + ", before this transaction");
          }
        }
        if (*at->key != key) {
          fail(what + ": key " + short_hex(key.hex()) + " was not yet \"" + id +
               "\"'s when the transaction was ordered");
        }
        if (at->revoked_at_height) {
          fail(what + ": signer \"" + id + "\" was revoked at height " +
               std::to_string(*at->revoked_at_height) + ", before this transaction");
        }
        signers.push_back(chaincode::Signer{id, at->org, at->roles});
      }
      Json cosigners = Json::array();
      for (std::size_t i = 1; i < signers.size(); ++i) cosigners.push_back(signers[i].identity_id);
      for (const Json* e : events_of_tx_[t.id.hex()]) {
        if (e->value("actor", std::string()) != signers.front().identity_id ||
            e->value("cosigners", Json::array()) != cosigners) {
          fail(what + ": its event names actor " + e->value("actor", Json()).dump() +
               " and co-signers " + e->value("cosigners", Json()).dump() +
               ", but it was signed by \"" + signers.front().identity_id + "\" and " +
               cosigners.dump());
        }
      }
      signers_[t.id.hex()] = std::move(signers);
      resolved += t.tx.signatures.size();
    }
    return std::to_string(resolved) +
           " signatures by identities enrolled, unrevoked and holding that key at the time";
  }

  // --- roles ---------------------------------------------------------------------------------
  std::string check_roles() {
    const chaincode::Registry registry;
    for (const BundleTx& t : txs_) {
      const auto& events = events_of_tx_[t.id.hex()];
      std::int64_t time = events.empty() ? 0 : events.front()->value("block_time_ms", std::int64_t{0});
      chaincode::BlockContext block{network_id_, t.height, time};
      auto outcome = registry.check_static(t.tx, t.id, signers_[t.id.hex()], network_id_, block);
      if (!outcome.ok()) {
        fail("tx " + short_hex(t.id.hex()) + " (" + t.function() + ", height " +
             std::to_string(t.height) + "): " + outcome.code + ": " + outcome.message);
      }
    }
    return "every transaction passes its function's rules on arguments and signer roles";
  }

  // --- the timeline ---------------------------------------------------------------------
  void build_timeline() {
    for (const Json& e : item_.events) {
      const auto& signers = signers_[e["tx_id"].get<std::string>()];
      Json by = Json::array();
      for (const auto& s : signers) by.push_back({{"identity", s.identity_id}, {"org", s.org}});
      Json entry{{"seq", e["seq"]},
                 {"type", e.value("type", std::string())},
                 {"height", e["height"]},
                 {"block_time_ms", e.value("block_time_ms", std::int64_t{0})},
                 {"signers", by},
                 {"tx_id", e["tx_id"]},
                 {"event_hash", e["event_hash"]}};
      if (e.contains("declared_at_ms")) entry["declared_at_ms"] = e["declared_at_ms"];
      report_.timeline.push_back(std::move(entry));
    }
  }

  const Json& bundle_;
  const Genesis& genesis_;
  VerifyReport& report_;

  std::string network_id_, genesis_hash_, item_id_;
  SignedHead signed_;
  Chain item_, nodes_;
  std::vector<Chain> identities_;
  std::vector<std::string> identity_ids_;
  std::vector<BundleTx> txs_;
  std::map<std::string, std::size_t> tx_by_id_;
  std::map<std::string, NodeState> nodes_at_head_;
  std::map<std::string, std::vector<const Json*>> events_of_tx_;
  std::map<std::string, std::vector<chaincode::Signer>> signers_;
};

std::string utc_time(std::int64_t ms) {
  std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << '.' << std::setw(3) << std::setfill('0')
      << ms % 1000;
  return out.str();
}

}  // namespace

VerifyReport verify_bundle(const Json& bundle, const Genesis& genesis) {
  VerifyReport report;
  try {
    Verifier(bundle, genesis, report).run();
  } catch (const CheckFailed& f) {
    report.ok = false;
    report.checks.back().detail = f.message;
  } catch (const std::exception& e) {
    // A member of an unexpected type deep inside an event or record.
    report.ok = false;
    report.checks.back().detail = std::string("malformed content: ") + e.what();
  }
  if (!report.ok) report.timeline = Json::array();
  return report;
}

const CheckResult* VerifyReport::failed() const {
  return ok || checks.empty() ? nullptr : &checks.back();
}

Json VerifyReport::to_json() const {
  Json checks_json = Json::array();
  for (const auto& c : checks) checks_json.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  Json out{{"verified", ok},
           {"item_id", item_id},
           {"failed_check", failed() ? Json(failed()->name) : Json(nullptr)},
           {"checks", checks_json},
           {"timeline", timeline}};
  out["head"] = head ? head->to_json() : Json(nullptr);
  out["head_signers"] = head_signers;
  out["head_members"] = head_members;
  return out;
}

std::string VerifyReport::to_text() const {
  std::ostringstream out;
  out << "Evidence item " << (item_id.empty() ? "?" : item_id) << "\n";
  if (ok && head) {
    out << "  network " << head->network_id << ", head at height " << head->height
        << " (log size " << head->log_size << ") signed by";
    for (const auto& s : head_signers) out << " " << s;
    out << " (" << head_signers.size() << " of " << head_members << " nodes)\n\n";
    out << "  seq  recorded (UTC)           declared (UTC)           height  event             "
           "signed by\n";
    for (const Json& e : timeline) {
      std::string by;
      for (const Json& s : e["signers"]) {
        by += (by.empty() ? "" : ", ") + s["identity"].get<std::string>() + " (" +
              s["org"].get<std::string>() + ")";
      }
      std::string declared(23, ' ');
      if (e.contains("declared_at_ms") && e["declared_at_ms"].is_number_integer()) {
        declared = utc_time(e["declared_at_ms"].get<std::int64_t>());
      }
      out << "  " << std::setw(3) << e["seq"].get<std::uint64_t>() << "  "
          << utc_time(e["block_time_ms"].get<std::int64_t>()) << "  " << declared << "  "
          << std::setw(6)
          << e["height"].get<std::uint64_t>() << "  " << std::left << std::setw(16)
          << e["type"].get<std::string>() << std::right << "  " << by << "\n";
    }
    out << "\n";
  }
  for (const auto& c : checks) {
    out << "  " << (c.ok ? "ok    " : "FAILED") << "  " << std::left << std::setw(16) << c.name
        << std::right << "  " << c.detail << "\n";
  }
  if (ok) {
    out << "\nVERIFIED: the custody history of " << item_id << " is complete and authentic at height "
        << head->height << " (" << timeline.size() << " events)\n";
  } else if (const CheckResult* f = failed()) {
    out << "\nNOT VERIFIED: check \"" << f->name << "\" failed: " << f->detail << "\n";
  }
  return out.str();
}

}  // namespace custos::bundle
