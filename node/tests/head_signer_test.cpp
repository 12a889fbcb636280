#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "chaincode/registry.h"
#include "node/head_signer.h"
#include "node/orderer.h"

using namespace custos;
using namespace custos::node;
namespace fs = std::filesystem;

namespace {

// A ledger of a three-node network (node1..node3, keys kept here) at block 0.
struct Net {
  fs::path dir =
      fs::temp_directory_path() /
      ("custos-head-signer-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
  std::vector<PrivateKey> keys;  // node1's key is keys[0]
  Genesis genesis;
  std::unique_ptr<ledger::Ledger> ledger;
  chaincode::Registry registry;
  static inline int serial = 0;

  Net() {
    fs::remove_all(dir);
    PrivateKey admin = PrivateKey::generate();
    genesis.network_id = "custos-test";
    genesis.created_at_ms = 1'764'460'800'000;
    genesis.orgs.push_back({"police", "Police", "police", {{"police-admin", admin.public_key()}}});
    for (int i = 1; i <= 3; ++i) {
      keys.push_back(PrivateKey::generate());
      genesis.nodes.push_back({"node" + std::to_string(i), "police", keys.back().public_key()});
    }
    ledger = ledger::Ledger::open(dir, {.sync_writes = false}).value();
    auto [block, effects] = chaincode::genesis_block(genesis);
    REQUIRE(ledger->commit_block(block, effects).ok());
  }
  ~Net() {
    ledger.reset();
    fs::remove_all(dir);
  }
  // Commits an empty block; returns its height.
  std::uint64_t commit_empty_block() {
    auto head = *ledger->head();
    Block b = next_block(genesis.network_id, head, head.timestamp_ms + 1000, "node1", {});
    auto effects = chaincode::execute_block(*ledger, registry, b);
    REQUIRE(ledger->commit_block(b, effects).ok());
    return b.header.height;
  }
};

}  // namespace

TEST_CASE("head signer: signs as a member, checks peers against membership and its own roots") {
  Net net;
  HeadSigner signer("node1", "custos-test", PrivateKey::from_bytes(net.keys[0].secret()).value(),
                    *net.ledger);
  auto own = signer.on_applied(0);
  REQUIRE(own.has_value());
  CHECK(own->node_id == "node1");
  auto statement = signer.statement(0);
  REQUIRE(statement.has_value());
  CHECK(statement->block_hash == net.ledger->head()->block_hash);
  CHECK(verify_head_signature(net.keys[0].public_key(), *statement, own->signature));
  // One of three is no quorum.
  CHECK_FALSE(signer.latest_signed_head().has_value());

  // node2's signature of head 0: stored, then a quorum of 2 of 3.
  CHECK(signer.receive(0, sign_head("node2", net.keys[1], *statement)) ==
        HeadSigner::Verdict::kStored);
  auto signed_head = signer.latest_signed_head();
  REQUIRE(signed_head.has_value());
  CHECK(signed_head->head == *statement);
  REQUIRE(signed_head->signatures.size() == 2);
  CHECK(signed_head->signatures[0].node_id == "node1");
  CHECK(signed_head->signatures[1].node_id == "node2");
  // Again: held already.
  CHECK(signer.receive(0, sign_head("node2", net.keys[1], *statement)) ==
        HeadSigner::Verdict::kRepeated);

  // Dropped: node3 signing with node2's key; a node that is no member; a
  // statement that is not this ledger's (other roots).
  CHECK(signer.receive(0, sign_head("node3", net.keys[1], *statement)) ==
        HeadSigner::Verdict::kDropped);
  PrivateKey stranger = PrivateKey::generate();
  CHECK(signer.receive(0, sign_head("node9", stranger, *statement)) ==
        HeadSigner::Verdict::kDropped);
  HeadStatement forged = *statement;
  forged.state_root = sha256(std::string_view("another state"));
  CHECK(signer.receive(0, sign_head("node3", net.keys[2], forged)) ==
        HeadSigner::Verdict::kDropped);
  CHECK(signer.stats().received_dropped == 3);
  CHECK(signer.signed_head(0)->signatures.size() == 2);

  // A signature of a block not applied yet waits, and is checked once it is.
  net.commit_empty_block();  // height 1
  net.commit_empty_block();  // height 2
  auto s2 = signer.statement(2);
  REQUIRE(s2.has_value());
  CHECK(signer.receive(3, sign_head("node2", net.keys[1], *s2)) == HeadSigner::Verdict::kPending);
  CHECK(signer.receive(HeadSigner::kPendingAheadMax + 10, sign_head("node2", net.keys[1], *s2)) ==
        HeadSigner::Verdict::kDropped);
  net.commit_empty_block();  // height 3
  auto s3 = signer.statement(3);
  REQUIRE(s3.has_value());
  CHECK(signer.receive(4, sign_head("node3", net.keys[2], *s3)) == HeadSigner::Verdict::kPending);
  // Applying 3 checks the pending signatures up to 3: node2's (of head 2's
  // statement, sent as height 3) is dropped, node3's for height 4 keeps
  // waiting.
  std::uint64_t dropped = signer.stats().received_dropped;
  auto own3 = signer.on_applied(3);
  REQUIRE(own3.has_value());
  CHECK(signer.stats().received_dropped == dropped + 1);
  CHECK(signer.receive(3, sign_head("node3", net.keys[2], *s3)) == HeadSigner::Verdict::kStored);
  REQUIRE(signer.latest_signed_head().has_value());
  CHECK(signer.latest_signed_head()->head.height == 3);
  CHECK(signer.latest_signed_head()->signatures.size() == 2);
  // A signature arriving after the quorum joins the latest signed head, and
  // one of an older height leaves it as it is.
  CHECK(signer.receive(3, sign_head("node2", net.keys[1], *s3)) == HeadSigner::Verdict::kStored);
  CHECK(signer.latest_signed_head()->signatures.size() == 3);
  CHECK(signer.receive(0, sign_head("node3", net.keys[2], *statement)) ==
        HeadSigner::Verdict::kStored);
  CHECK(signer.latest_signed_head()->head.height == 3);
  CHECK(signer.signed_head(0)->signatures.size() == 3);

  // A node without a key, or not a member, never signs.
  HeadSigner keyless("node2", "custos-test", std::nullopt, *net.ledger);
  CHECK_FALSE(keyless.on_applied(3).has_value());
  HeadSigner outsider("replica", "custos-test", PrivateKey::generate(), *net.ledger);
  CHECK_FALSE(outsider.on_applied(3).has_value());
  HeadSigner wrong_key("node2", "custos-test", PrivateKey::generate(), *net.ledger);
  CHECK_FALSE(wrong_key.on_applied(3).has_value());

  // A new signer on the same ledger (a restart) finds the latest signed head.
  HeadSigner restarted("node1", "custos-test", std::nullopt, *net.ledger);
  REQUIRE(restarted.latest_signed_head().has_value());
  CHECK(restarted.latest_signed_head()->head.height == 3);
  CHECK(restarted.latest_signed_head()->signatures.size() == 3);
}
