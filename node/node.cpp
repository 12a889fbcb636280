#include "node/node.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "chaincode/identity.h"
#include "core/node_key.h"
#include "node/raft_orderer.h"
#include "node/solo_orderer.h"

namespace custos::node {
namespace {

constexpr const char* kGenesisMeta = "genesis";

Result<Genesis> read_genesis(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error("bad_genesis", "cannot read " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto j = parse_json_strict(text);
  if (!j) return make_error("bad_genesis", file.string() + ": " + j.error().message);
  auto g = genesis_from_json(*j);
  if (!g) return make_error("bad_genesis", file.string() + ": " + g.error().message);
  return g;
}

Result<PrivateKey> read_node_key(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error("bad_node_key", "cannot read " + file.string());
  std::string text;
  text.resize(kNodeKeyFileBytesMax + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto key = node_key_from_text(text);
  if (!key) return make_error("bad_node_key", file.string() + ": " + key.error().message);
  return key;
}

// The node's signing key, checked against its on-chain record.
Result<std::optional<PrivateKey>> load_node_key(const NodeConfig& config,
                                                const ledger::Ledger& ledger) {
  std::optional<PrivateKey> key;
  if (config.key_file) {
    auto read = read_node_key(*config.key_file);
    if (!read) return read.error();
    key = std::move(read).value();
  }
  auto record = ledger.get(chaincode::node_state_key(config.node_id));
  bool active = record && record->at("status") == "active";
  if (!active) {
    std::fprintf(stderr,
                 "custos-node %s: not an active on-chain node of this network: it does not sign "
                 "heads\n",
                 config.node_id.c_str());
    return key;
  }
  std::string on_chain = record->at("public_key").get<std::string>();
  if (!key) {
    return make_error("node_key_missing", "node \"" + config.node_id +
                                              "\" is an on-chain node (key " + on_chain +
                                              "): its config needs \"key_file\"");
  }
  if (key->public_key().hex() != on_chain) {
    return make_error("node_key_mismatch", config.key_file->string() + " holds key " +
                                               key->public_key().hex() + ", but node \"" +
                                               config.node_id + "\"'s on-chain key is " + on_chain);
  }
  return key;
}

}  // namespace

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<Node>> Node::open(const NodeConfig& config) {
  auto genesis = read_genesis(config.genesis_file);
  if (!genesis) return genesis.error();
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  // Under Raft the log holds the committed blocks durably (RaftOrderer syncs
  // the ledger before compacting it): no fsync per block.
  auto ledger = ledger::Ledger::open(
      config.data_dir / "ledger",
      ledger::LedgerOptions{.sync_writes = !config.raft.enabled,
                            .log_cache_bytes = config.ledger.log_cache_bytes});
  if (!ledger) return ledger.error();

  // The genesis hash is recorded before block 0 so that a crash between the
  // two can never leave a ledger that does not say which network it is.
  std::string genesis_hash = genesis->hash().hex();
  if (auto stored = (*ledger)->get_meta(kGenesisMeta)) {
    if (*stored != genesis_hash) {
      return make_error("genesis_mismatch", config.data_dir.string() +
                                                " holds the ledger of another network (genesis " +
                                                *stored + ")");
    }
  } else if (auto s = (*ledger)->put_meta(kGenesisMeta, genesis_hash); !s) {
    return s.error();
  }
  if (!(*ledger)->head()) {
    auto [block, effects] = chaincode::genesis_block(*genesis);
    if (auto s = (*ledger)->commit_block(block, effects); !s) return s.error();
    if (auto s = (*ledger)->sync(); !s) return s.error();
  }
  auto node_key = load_node_key(config, **ledger);
  if (!node_key) return node_key.error();
  std::unique_ptr<Node> node(new Node(config, std::move(genesis).value(), std::move(ledger).value(),
                                      std::move(node_key).value()));
  if (auto s = node->make_orderer(); !s) return s.error();
  return node;
}

Node::Node(NodeConfig config, Genesis genesis, std::unique_ptr<ledger::Ledger> ledger,
           std::optional<PrivateKey> node_key)
    : config_(std::move(config)),
      genesis_(std::move(genesis)),
      genesis_hash_(genesis_.hash()),
      ledger_(std::move(ledger)) {
  if (auto head = ledger_->head()) applied_height_ = head->height;
  head_signer_ = std::make_unique<HeadSigner>(config_.node_id, genesis_.network_id,
                                              std::move(node_key), *ledger_);
}

Status Node::make_orderer() {
  if (!config_.raft.enabled) {
    orderer_ = std::make_unique<SoloOrderer>(config_.node_id, genesis_.network_id, *ledger_, *this,
                                             config_.block, config_.mempool, wall_clock_ms);
    return ok_status();
  }
  // A transaction forwarded by a follower is admitted here like any other;
  // its client learns the outcome from the follower's ledger.
  auto admit = [this](const Transaction& tx, const Hash256& id) { submit(tx, id); };
  auto head_signature = [this](std::uint64_t height, HeadSignature sig) {
    head_signer_->receive(height, std::move(sig));
  };
  auto raft =
      RaftOrderer::open(config_, genesis_.network_id, *ledger_, *this, admit, head_signature);
  if (!raft) return raft.error();
  orderer_ = std::move(raft).value();
  return ok_status();
}

Node::~Node() {
  if (orderer_) stop();
}

Status Node::start() {
  // The head as it stands (block 0 on first start, the last block before a
  // restart) is signed before ordering starts, so that peers get a recent
  // signature at once.
  std::uint64_t height = ledger_->head()->height;
  auto sig = head_signer_->on_applied(height);
  if (auto s = orderer_->start(); !s) return s;
  if (sig) orderer_->gossip_head_signature(height, *sig);
  started_ = true;
  return ok_status();
}

void Node::stop() {
  started_ = false;
  orderer_->stop();
  commit_cv_.notify_all();
}

SubmitResult Node::submit(const Transaction& tx, const Hash256& id) {
  auto refuse = [&](std::string code, std::string message) {
    counters_.txs_refused++;
    return SubmitResult{SubmitResult::Kind::kRefused, std::move(code), std::move(message)};
  };
  if (ledger_->has_tx(id)) {
    return refuse(chaincode::code::kDuplicateTx, "this transaction was already committed");
  }
  auto head = ledger_->head();
  chaincode::BlockContext ctx{genesis_.network_id, head->height + 1,
                              std::max(wall_clock_ms(), head->timestamp_ms)};
  chaincode::LedgerStateView state(*ledger_);
  chaincode::Outcome admitted = registry_.admit(state, tx, id, ctx);
  if (!admitted.ok()) return refuse(admitted.code, admitted.message);

  auto queued = orderer_->submit(tx, id);
  if (!queued) {
    if (queued.error().code == "duplicate") {
      return refuse(chaincode::code::kDuplicateTx, "this transaction is already being ordered");
    }
    if (queued.error().code == "committed") {
      // Committed while it was being admitted (the check above came first).
      return refuse(chaincode::code::kDuplicateTx, "this transaction was already committed");
    }
    counters_.txs_busy++;
    return SubmitResult{SubmitResult::Kind::kBusy, queued.error().code, queued.error().message};
  }
  counters_.txs_admitted++;
  return SubmitResult{};
}

std::optional<ledger::TxRecord> Node::wait_for_commit(const Hash256& tx_id,
                                                      std::chrono::milliseconds timeout) {
  return wait_for_commits({tx_id}, timeout).front();
}

std::vector<std::optional<ledger::TxRecord>> Node::wait_for_commits(
    const std::vector<Hash256>& tx_ids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::optional<ledger::TxRecord>> records(tx_ids.size());
  std::unique_lock lock(commit_mu_);
  std::uint64_t seen = applied_height_;
  lock.unlock();
  // Ids still waited for, each with its positions (a batch may repeat one).
  std::map<Hash256, std::vector<std::size_t>> missing;
  auto look_in_ledger = [&] {
    std::erase_if(missing, [&](const auto& entry) {
      auto record = ledger_->tx(entry.first);
      for (std::size_t i : entry.second) records[i] = record;
      return record.has_value();
    });
  };
  for (std::size_t i = 0; i < tx_ids.size(); ++i) missing[tx_ids[i]].push_back(i);
  // Everything applied up to `seen` is in the ledger by now (and possibly
  // more, which is as good).
  look_in_ledger();
  lock.lock();
  for (bool last_look = false;;) {
    if (!missing.empty() && applied_height_ > seen) {
      if (applied_blocks_.empty() || applied_blocks_.front().height > seen + 1) {
        // Fell behind the window (rare): everything up to the height now
        // applied is in the ledger. Looked up without the lock, which the
        // apply thread takes after every block.
        seen = applied_height_;
        lock.unlock();
        look_in_ledger();
        lock.lock();
        continue;
      } else {
        // In height order, so a transaction committed twice is reported
        // where it was committed first, as tx() does.
        for (const AppliedBlock& b : applied_blocks_) {
          if (b.height <= seen) continue;
          for (const ledger::TxRecord& r : b.txs) {
            auto it = missing.find(r.tx_id);
            if (it == missing.end()) continue;
            for (std::size_t i : it->second) records[i] = r;
            missing.erase(it);
          }
        }
      }
      seen = applied_height_;
    }
    if (missing.empty() || last_look) return records;
    // One more look after the deadline or a stop: a block committed just
    // before is still reported.
    last_look = !started_ || commit_cv_.wait_until(lock, deadline) == std::cv_status::timeout;
  }
}

namespace {

std::uint64_t micros_since(std::chrono::steady_clock::time_point& from) {
  auto now = std::chrono::steady_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - from).count();
  from = now;
  return static_cast<std::uint64_t>(us);
}

}  // namespace

void Node::prepare(const Block& block, const std::vector<Hash256>& tx_ids) {
  registry_.verify_ahead(block.txs, tx_ids);
}

namespace {

[[noreturn]] void cannot_commit(const Block& block, const Error& e) {
  std::fprintf(stderr, "custos-node: FATAL: cannot commit block %llu: %s\n",
               static_cast<unsigned long long>(block.header.height), e.message.c_str());
  std::abort();
}

}  // namespace

std::unique_ptr<ledger::StagedBlock> Node::execute(const Block& block,
                                                   const std::vector<Hash256>& tx_ids) {
  auto t = std::chrono::steady_clock::now();
  ledger::BlockEffects effects = chaincode::execute_block(*ledger_, registry_, block, tx_ids);
  counters_.execute_us += micros_since(t);
  auto staged = ledger_->stage_block(block, std::move(effects));
  if (!staged) cannot_commit(block, staged.error());
  counters_.stage_us += micros_since(t);
  return std::move(staged).value();
}

void Node::commit(const Block& block, ledger::StagedBlock& executed) {
  auto t = std::chrono::steady_clock::now();
  if (auto s = ledger_->write_staged(executed); !s) cannot_commit(block, s.error());
  counters_.commit_us += micros_since(t);
  counters_.blocks_committed++;
  if (auto sig = head_signer_->on_applied(block.header.height)) {
    orderer_->gossip_head_signature(block.header.height, *sig);
  }
  counters_.sign_us += micros_since(t);
  const ledger::BlockEffects& effects = executed.effects();
  for (const auto& t : effects.txs) {
    (t.code == chaincode::code::kOk ? counters_.txs_committed_ok
                                    : counters_.txs_committed_failed)++;
  }
  // The records as tx() returns them: each with its log position (a copy
  // committed again keeps pointing at the first, which a waiter has found
  // by then, in the ledger or in an earlier block here).
  AppliedBlock applied{block.header.height, effects.txs};
  const std::uint64_t log_base = executed.head().log_size - applied.txs.size();
  for (std::size_t i = 0; i < applied.txs.size(); ++i) applied.txs[i].log_index = log_base + i;
  {
    // Under the lock, so that no waiter misses the block between its
    // look and its wait.
    std::lock_guard lock(commit_mu_);
    if (applied_blocks_.size() == kAppliedBlocksMax) applied_blocks_.pop_front();
    applied_blocks_.push_back(std::move(applied));
    applied_height_ = block.header.height;
  }
  commit_cv_.notify_all();
}

}  // namespace custos::node
