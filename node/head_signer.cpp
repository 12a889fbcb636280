#include "node/head_signer.h"

#include <algorithm>
#include <cstdio>

#include "chaincode/identity.h"
#include "chaincode/registry.h"

namespace custos::node {
namespace {

const chaincode::NodeMember* find_member(const std::vector<chaincode::NodeMember>& members,
                                         std::string_view id) {
  auto it =
      std::lower_bound(members.begin(), members.end(), id,
                       [](const chaincode::NodeMember& m, std::string_view v) { return m.id < v; });
  return it != members.end() && it->id == id ? &*it : nullptr;
}

}  // namespace

HeadSigner::HeadSigner(std::string node_id, std::string network_id, std::optional<PrivateKey> key,
                       ledger::Ledger& ledger)
    : node_id_(std::move(node_id)),
      network_id_(std::move(network_id)),
      key_(std::move(key)),
      public_key_(key_ ? std::optional<PublicKey>(key_->public_key()) : std::nullopt),
      ledger_(ledger) {
  // The latest quorum among the last heights signed before a restart.
  if (auto last = ledger_.last_head_signature_height()) {
    for (std::uint64_t h = *last, n = 0; n < kStatementCacheMax; --h, ++n) {
      if (auto found = signed_head(h)) {
        latest_signed_ = std::move(found);
        break;
      }
      if (h == 0) break;
    }
  }
}

std::optional<HeadStatement> HeadSigner::statement(std::uint64_t height) const {
  HeadStatement s;
  s.network_id = network_id_;
  s.height = height;
  // The head just applied (every block, so the hot case) holds it all;
  // older heights read their block back.
  if (auto head = ledger_.head(); head && head->height == height) {
    s.block_hash = head->block_hash;
    s.results_hash = head->results_hash;
    s.log_size = head->log_size;
    s.log_root = head->log_root;
    s.state_root = head->state_root;
    return s;
  }
  auto header = ledger_.block_header(height);
  auto results = ledger_.results_hash(height);
  auto roots = ledger_.roots(height);
  if (!header || !results || !roots) return std::nullopt;
  s.block_hash = header->hash();
  s.results_hash = *results;
  s.log_size = roots->log_size;
  s.log_root = roots->log_root;
  s.state_root = roots->state_root;
  return s;
}

std::optional<HeadStatement> HeadSigner::cached_statement(std::uint64_t height) {
  if (auto it = statements_.find(height); it != statements_.end()) return it->second;
  auto s = statement(height);
  if (!s) return std::nullopt;
  statements_.emplace(height, *s);
  while (statements_.size() > kStatementCacheMax) statements_.erase(statements_.begin());
  return s;
}

std::optional<HeadSignature> HeadSigner::on_applied(std::uint64_t height) {
  std::lock_guard lock(mu_);
  std::optional<HeadSignature> own;
  chaincode::LedgerStateView state(ledger_);
  auto members = chaincode::node_members_at(state, height);
  const chaincode::NodeMember* self = find_member(members, node_id_);
  if (self && key_ && self->public_key == *public_key_) {
    if (auto s = cached_statement(height)) {
      own = sign_head(node_id_, *key_, *s);
      if (auto stored = ledger_.put_head_signature(height, *own); !stored) {
        std::fprintf(stderr, "custos-node %s: cannot store its head signature: %s\n",
                     node_id_.c_str(), stored.error().message.c_str());
      }
      last_own_ = std::make_pair(height, *own);
      stats_.signed_heads++;
      note_stored(height);
      reported_not_signing_ = false;
    }
  } else if (!reported_not_signing_) {
    // Said once per change, not once per block.
    reported_not_signing_ = true;
    std::fprintf(stderr, "custos-node %s: does not sign head %llu: %s\n", node_id_.c_str(),
                 static_cast<unsigned long long>(height),
                 !self   ? "not an active on-chain node at this height"
                 : !key_ ? "no node key (key_file)"
                         : "its key_file is not its on-chain key (rotated?)");
    std::fflush(stderr);
  }
  // Peers' signatures that arrived before this block.
  auto end = pending_.upper_bound(height);
  std::vector<std::pair<std::uint64_t, HeadSignature>> ready(pending_.begin(), end);
  pending_.erase(pending_.begin(), end);
  for (auto& [h, sig] : ready) check_and_store(h, sig);
  return own;
}

HeadSigner::Verdict HeadSigner::receive(std::uint64_t height, HeadSignature sig) {
  std::lock_guard lock(mu_);
  auto head = ledger_.head();
  std::uint64_t applied = head ? head->height : 0;
  if (height <= applied) return check_and_store(height, sig);
  if (height - applied > kPendingAheadMax || pending_.size() >= kPendingMax) {
    stats_.received_dropped++;
    return Verdict::kDropped;
  }
  pending_.emplace(height, std::move(sig));
  return Verdict::kPending;
}

HeadSigner::Verdict HeadSigner::check_and_store(std::uint64_t height, const HeadSignature& sig) {
  chaincode::LedgerStateView state(ledger_);
  auto members = chaincode::node_members_at(state, height);
  const chaincode::NodeMember* member = find_member(members, sig.node_id);
  auto s = member ? cached_statement(height) : std::nullopt;
  if (!member || !s || !verify_head_signature(member->public_key, *s, sig.signature)) {
    stats_.received_dropped++;
    return Verdict::kDropped;
  }
  for (const auto& held : ledger_.head_signatures(height)) {
    if (held == sig) {
      stats_.received_repeated++;
      return Verdict::kRepeated;
    }
  }
  if (auto stored = ledger_.put_head_signature(height, sig); !stored) {
    stats_.received_dropped++;
    return Verdict::kDropped;
  }
  stats_.received_stored++;
  note_stored(height);
  return Verdict::kStored;
}

void HeadSigner::note_stored(std::uint64_t height) {
  // A signature of the latest signed height joins its quorum; one of a
  // higher height may make a new one.
  if (latest_signed_ && latest_signed_->head.height > height) return;
  if (auto found = signed_head(height)) latest_signed_ = std::move(found);
}

std::optional<SignedHead> HeadSigner::signed_head(std::uint64_t height) const {
  auto head = ledger_.head();
  if (!head || height > head->height) return std::nullopt;
  chaincode::LedgerStateView state(ledger_);
  auto members = chaincode::node_members_at(state, height);
  SignedHead out;
  // Stored signatures were checked before they were stored; membership of a
  // height never changes afterwards, so filtering by it is enough.
  for (auto& sig : ledger_.head_signatures(height)) {
    if (find_member(members, sig.node_id)) out.signatures.push_back(std::move(sig));
  }
  if (members.empty() || out.signatures.size() < head_quorum(members.size())) return std::nullopt;
  auto s = statement(height);
  if (!s) return std::nullopt;
  out.head = *s;
  return out;
}

std::optional<SignedHead> HeadSigner::latest_signed_head() const {
  std::lock_guard lock(mu_);
  return latest_signed_;
}

std::optional<std::pair<std::uint64_t, HeadSignature>> HeadSigner::last_own_signature() const {
  std::lock_guard lock(mu_);
  return last_own_;
}

}  // namespace custos::node
