// The node's part in signed heads (core/signed_head.h): after each block it
// signs the new head if it is one of the on-chain nodes of that height
// (chaincode::node_members_at) holding the key it was given; it checks the
// signatures peers gossip against the same membership and its own ledger's
// roots, and stores the good ones in the ledger (head_sigs). A signed head is
// a statement with a quorum (head_quorum of the members of that height) of
// stored signatures.
//
// No I/O but the ledger: the orderer carries the gossip (RaftOrderer's
// head_signature frames), the gateway reads signed heads.
//
// Threads: on_applied() from the block applier only; receive() from any
// thread (the orderer's worker); the readers from any thread. An internal
// mutex orders receive() against on_applied() so that a signature waiting for
// its block is checked exactly once the block is there.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/signed_head.h"
#include "ledger/ledger.h"

namespace custos::node {

struct HeadSignerStats {
  std::atomic<std::uint64_t> signed_heads{0};       // heads this node signed
  std::atomic<std::uint64_t> received_stored{0};    // peers' signatures checked and stored
  std::atomic<std::uint64_t> received_repeated{0};  // already held (resent)
  std::atomic<std::uint64_t> received_dropped{0};   // not a member, bad signature, too far
                                                    // ahead, pending buffer full
};

class HeadSigner {
 public:
  // Signatures for heights this node has not applied yet wait here, at most
  // this many, and only for heights at most kPendingAheadMax above its head.
  static constexpr std::size_t kPendingMax = 1024;
  static constexpr std::uint64_t kPendingAheadMax = 256;
  // Statements kept for checking peers' signatures without re-reading blocks.
  static constexpr std::size_t kStatementCacheMax = 64;

  // `key` is the node's signing key (nullopt: it never signs). `ledger` must
  // outlive the signer and hold at least the genesis block.
  HeadSigner(std::string node_id, std::string network_id, std::optional<PrivateKey> key,
             ledger::Ledger& ledger);

  // After the block at `height` is committed: signs and stores its head if
  // this node is a member at `height` with this key, and checks pending
  // signatures of heights up to `height`. Returns this node's signature, to
  // gossip, or nullopt if it does not sign this head. From the block
  // applier only (BlockApplier::apply: never twice at once).
  std::optional<HeadSignature> on_applied(std::uint64_t height);

  enum class Verdict { kStored, kRepeated, kPending, kDropped };
  // A peer's signature `sig` of the head at `height` (sig.node_id is the
  // peer's node id, as its transport authenticated it). Thread-safe.
  Verdict receive(std::uint64_t height, HeadSignature sig);

  // The statement of the head at `height` from this ledger; nullopt if the
  // block is not committed here.
  std::optional<HeadStatement> statement(std::uint64_t height) const;
  // The head at `height` with its stored member signatures, sorted by node
  // id, if they reach a quorum of that height's members; nullopt otherwise.
  std::optional<SignedHead> signed_head(std::uint64_t height) const;
  // The highest such head; nullopt while none has a quorum.
  std::optional<SignedHead> latest_signed_head() const;
  // This node's latest signature and its height, for resending.
  std::optional<std::pair<std::uint64_t, HeadSignature>> last_own_signature() const;

  const HeadSignerStats& stats() const { return stats_; }

 private:
  // Checks and stores one signature of an applied height. Caller holds mu_.
  Verdict check_and_store(std::uint64_t height, const HeadSignature& sig);
  void note_stored(std::uint64_t height);
  std::optional<HeadStatement> cached_statement(std::uint64_t height);  // caller holds mu_

  const std::string node_id_;
  const std::string network_id_;
  const std::optional<PrivateKey> key_;
  const std::optional<PublicKey> public_key_;  // key_'s, derived once
  ledger::Ledger& ledger_;
  HeadSignerStats stats_;

  mutable std::mutex mu_;
  std::multimap<std::uint64_t, HeadSignature> pending_;  // by height
  std::map<std::uint64_t, HeadStatement> statements_;    // the newest few
  std::optional<std::pair<std::uint64_t, HeadSignature>> last_own_;
  // The highest signed head, kept whole: the gateway hands it out with
  // every transaction read, and reading it back (an iterator over head_sigs,
  // a statement) cost more the larger the ledger grew.
  std::optional<SignedHead> latest_signed_;
  bool reported_not_signing_ = false;
};

}  // namespace custos::node
