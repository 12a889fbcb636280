// build_bundle: gathers an item's chain, the chains of everyone who signed
// anything in it (transitively: the admins who enrolled them, ...), the node
// membership chain, and proofs for all of them at one height.
#include <algorithm>
#include <map>
#include <optional>

#include "bundle/bundle.h"
#include "chaincode/custody.h"
#include "chaincode/identity.h"

namespace custos::bundle {

std::string identity_history_key(std::string_view identity_id) {
  return "identity/" + std::string(identity_id);
}

namespace {

constexpr std::size_t kHistoryPage = 1000;
constexpr int kAttemptsMax = 5;

// Every event of `key` committed at or below `max_height`, oldest first.
std::vector<Json> events_up_to(const ledger::Ledger& ledger, const std::string& key,
                               std::uint64_t max_height) {
  std::vector<Json> out;
  for (std::uint64_t from = 0;;) {
    auto page = ledger.history(key, from, kHistoryPage);
    for (auto& a : page) {
      if (a.event.value("height", std::uint64_t{0}) > max_height) return out;
      out.push_back(std::move(a.event));
    }
    if (page.size() < kHistoryPage) return out;
    from += page.size();
  }
}

struct CommittedTx {
  ledger::TxRecord record;
  Transaction tx;
};

// The chains a bundle carries, each cut at one height.
class Gathering {
 public:
  Gathering(const ledger::Ledger& ledger, std::uint64_t max_height)
      : ledger_(ledger), max_height_(max_height) {}

  Status run(const std::string& item_key) {
    item_events = events_up_to(ledger_, item_key, max_height_);
    if (item_events.empty()) return make_error("item_not_found", "no such evidence item");
    node_events = events_up_to(ledger_, std::string(kNodesHistoryKey), max_height_);
    for (const Json& e : item_events) note_event(e);
    for (const Json& e : node_events) note_event(e);
    // Each transaction may bring in its signers' chains, whose transactions
    // may bring in further signers (the admins who enrolled them).
    while (!pending_.empty()) {
      Hash256 id = pending_.back();
      pending_.pop_back();
      auto tx = load(id);
      if (!tx) return tx.error();
      for (const TxSignature& s : (*tx)->tx.signatures) {
        auto rec = ledger_.get(chaincode::key_state_key(s.public_key));
        if (!rec || !(*rec)["identity"].is_string()) {
          return make_error("ledger_inconsistent",
                            "no identity ever held key " + s.public_key.hex());
        }
        std::string identity = (*rec)["identity"].get<std::string>();
        if (identities.contains(identity)) continue;
        auto& events = identities[identity];
        events = events_up_to(ledger_, identity_history_key(identity), max_height_);
        for (const Json& e : events) note_event(e);
      }
    }
    return ok_status();
  }

  std::vector<std::string> history_keys(const std::string& item_key) const {
    std::vector<std::string> keys{item_key};
    for (const auto& [id, events] : identities) keys.push_back(identity_history_key(id));
    keys.emplace_back(kNodesHistoryKey);
    return keys;
  }

  std::vector<Json> item_events;
  std::vector<Json> node_events;
  std::map<std::string, std::vector<Json>> identities;  // sorted by id
  std::map<Hash256, CommittedTx> txs;

 private:
  void note_event(const Json& event) {
    auto id = Hash256::from_hex(event.value("tx_id", std::string()));
    if (!id) return;  // load() of the others reports a broken store
    if (txs.contains(*id) || std::find(pending_.begin(), pending_.end(), *id) != pending_.end()) {
      return;
    }
    pending_.push_back(*id);
  }

  Result<CommittedTx*> load(const Hash256& id) {
    auto record = ledger_.tx(id);
    if (!record) return make_error("ledger_inconsistent", "event names unknown tx " + id.hex());
    auto tx = transaction_at(record->height, record->index);
    if (!tx || tx->id() != id) {
      return make_error("ledger_inconsistent", "no block holds tx " + id.hex());
    }
    auto [it, fresh] = txs.emplace(id, CommittedTx{*record, std::move(*tx)});
    return &it->second;
  }

  // One transaction of a block (up to 500), read alone.
  std::optional<Transaction> transaction_at(std::uint64_t height, std::size_t index) {
    auto located = ledger_.block_tx(height, index);
    if (!located) return std::nullopt;
    return std::move(located->tx);
  }

  const ledger::Ledger& ledger_;
  const std::uint64_t max_height_;
  std::vector<Hash256> pending_;
};

Json chain_json(std::vector<Json> events, const SmtProof& proof) {
  return {{"events", std::move(events)}, {"state_proof", smt_proof_to_json(proof)}};
}

}  // namespace

Result<Json> build_bundle(const ledger::Ledger& ledger, std::string_view item_id,
                          const SignedHeadAt& signed_head_at) {
  const std::string item_key = chaincode::item_state_key(item_id);
  std::uint64_t max_height = std::numeric_limits<std::uint64_t>::max();
  for (int attempt = 0; attempt < kAttemptsMax; ++attempt) {
    Gathering first(ledger, max_height);
    if (auto s = first.run(item_key); !s) return s.error();
    const std::vector<std::string> keys = first.history_keys(item_key);
    auto proofs = ledger.state_proofs(keys);
    if (!proofs) return proofs.error();
    const std::uint64_t height = proofs->height;
    // Gather again cut at the proofs' height: a block committed meanwhile
    // may have added events (left out now) or signers (then try again).
    Gathering g(ledger, height);
    if (auto s = g.run(item_key); !s) return s.error();
    if (g.history_keys(item_key) != keys) {
      max_height = height;
      continue;
    }
    auto roots = ledger.roots(height);
    if (!roots) return make_error("ledger_inconsistent", "no roots at the proofs' height");
    auto signed_head = signed_head_at(height);
    if (!signed_head) {
      return make_error("head_unsigned", "the head at height " + std::to_string(height) +
                                             " has no majority of node signatures yet");
    }
    const HeadStatement& head = signed_head->head;
    if (head.height != height || head.log_size != roots->log_size ||
        head.log_root != roots->log_root || head.state_root != proofs->state_root) {
      return make_error("ledger_inconsistent", "the signed head differs from the ledger's roots");
    }

    std::vector<const std::pair<const Hash256, CommittedTx>*> by_index;
    for (const auto& entry : g.txs) by_index.push_back(&entry);
    std::sort(by_index.begin(), by_index.end(), [](auto* a, auto* b) {
      return a->second.record.log_index < b->second.record.log_index;
    });
    Json txs = Json::array();
    for (const auto* entry : by_index) {
      const std::uint64_t index = entry->second.record.log_index;
      auto leaf = ledger.log_leaf(index);
      auto path = ledger.inclusion_proof(index, head.log_size);
      if (!leaf || !path) return make_error("ledger_inconsistent", "no log proof for a tx");
      auto leaf_json = parse_json_strict(*leaf);
      if (!leaf_json) return make_error("ledger_inconsistent", "unreadable log leaf");
      Json hashes = Json::array();
      for (const Hash256& h : *path) hashes.push_back(h.hex());
      txs.push_back({{"log_index", index},
                     {"leaf", std::move(*leaf_json)},
                     {"inclusion_proof", std::move(hashes)},
                     {"tx", entry->second.tx.to_json()}});
    }

    std::size_t k = 0;
    Json item = chain_json(std::move(g.item_events), proofs->lookups[k++].proof);
    Json identities = Json::array();
    for (auto& [id, events] : g.identities) {
      Json chain = chain_json(std::move(events), proofs->lookups[k++].proof);
      chain["identity_id"] = id;
      identities.push_back(std::move(chain));
    }
    Json nodes = chain_json(std::move(g.node_events), proofs->lookups[k++].proof);

    auto genesis_hash = ledger.block_header(0);
    if (!genesis_hash) return make_error("ledger_empty", "no genesis block");
    return Json{{"bundle", kBundleFormat},
                {"network_id", head.network_id},
                {"genesis_hash", genesis_hash->prev_hash.hex()},
                {"item_id", item_id},
                {"signed_head", signed_head->to_json()},
                {"item", std::move(item)},
                {"identities", std::move(identities)},
                {"nodes", std::move(nodes)},
                {"transactions", std::move(txs)}};
  }
  return make_error("ledger_moved", "blocks kept committing while the bundle was gathered");
}

}  // namespace custos::bundle
