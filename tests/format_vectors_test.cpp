// docs/formats.md carries worked vectors so that a court's own tool, in any
// language, can recompute every hash and check every signature. This test
// recomputes each vector from the code and compares it with the document.
//
// Each vector in the document is an HTML comment `<!-- vector: NAME -->`
// followed by a fenced code block holding the value. To regenerate the values
// after a deliberate format change, run with CUSTOS_PRINT_VECTORS=1.
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include "core/block.h"
#include "core/genesis.h"
#include "core/jwt.h"
#include "core/merkle.h"
#include "core/node_key.h"
#include "core/signed_head.h"
#include "core/smt.h"
#include "ledger/commitments.h"
#include "tests/test_util.h"
#include "wallet/keystore.h"

using namespace custos;
using custos::testing::document_vectors;
using custos::testing::read_text;
using custos::testing::source_path;

namespace {

PrivateKey doc_key(int n) {
  // Published keys: never use them for anything but checking these vectors.
  Hash256 seed = sha256("custos formats.md key " + std::to_string(n));
  return PrivateKey::from_bytes(seed.bytes).value();
}

Transaction doc_handover() {
  Transaction tx;
  tx.network_id = "custos-demo";
  tx.chaincode = "custody";
  tx.function = "handover";
  tx.args = parse_json_strict(R"({
    "item_id": "E-2026-0001",
    "to": "id-lab-analyst-7",
    "purpose": "forensic imaging",
    "location": "Lab Den Haag, intake desk 2",
    "seals_intact": true,
    "seal_numbers": ["NL-48213", "NL-48214"],
    "declared_at_ms": 1764460800000,
    "note": "Bag re-sealed \u00e9t\u00e9 \u2013 see photo"
  })")
                .value();
  tx.nonce = "5f1a3c9e2b7d4f608a1c3e5b7d9f0a2c";
  tx.created_at_ms = 1764460805123;
  return tx;
}

Transaction doc_register() {
  Transaction tx;
  tx.network_id = "custos-demo";
  tx.chaincode = "custody";
  tx.function = "register";
  tx.args = {{"item_id", "E-2026-0002"}, {"case_id", "C-2026-17"}};
  tx.nonce = "0123456789abcdef0123456789abcdef";
  tx.created_at_ms = 1764460790000;
  return tx;
}

std::map<std::string, std::string> compute_vectors() {
  std::map<std::string, std::string> v;
  PrivateKey key1 = doc_key(1), key2 = doc_key(2);
  v["key1.private"] = hex_encode(key1.secret());
  v["key1.public"] = key1.public_key().hex();
  v["key2.private"] = hex_encode(key2.secret());
  v["key2.public"] = key2.public_key().hex();

  Transaction tx = doc_handover();
  v["tx.body_canonical"] = tx.body_canonical();
  v["tx.id"] = tx.id().hex();
  REQUIRE(tx.sign(key1).ok());
  REQUIRE(tx.sign(key2).ok());
  v["tx.sig1"] = tx.signatures[0].signature.hex();
  v["tx.sig1_der"] = hex_encode(tx.signatures[0].signature.der());
  v["tx.sig2"] = tx.signatures[1].signature.hex();
  v["tx.signed"] = tx.to_json().dump(2);

  Transaction reg = doc_register();
  REQUIRE(reg.sign(key1).ok());
  v["tx2.id"] = reg.id().hex();
  v["tx2.signed"] = reg.to_json().dump(2);
  v["tx2.sig1_der"] = hex_encode(reg.signatures[0].signature.der());

  Block block = make_block("custos-demo", 1, sha256(std::string_view("custos formats.md genesis")),
                           1764460806000, "node1", sha256(std::string_view("")), {reg, tx});
  v["block.prev_hash"] = block.header.prev_hash.hex();
  v["merkle.leaf0"] = merkle_leaf_hash(reg.id().view()).hex();
  v["merkle.leaf1"] = merkle_leaf_hash(tx.id().view()).hex();
  v["block.tx_root"] = block.header.tx_root.hex();
  v["block.header_canonical"] = block.header.canonical();
  v["block.hash"] = block.header.hash().hex();

  Genesis genesis;
  genesis.network_id = "custos-demo";
  genesis.created_at_ms = 1764460800000;
  genesis.orgs.push_back(
      {"nl-police", "Politie (example)", "police", {{"nl-police-admin", key1.public_key()}}});
  genesis.orgs.push_back(
      {"court-hague", "Court (example)", "court", {{"court-admin", key2.public_key()}}});
  genesis.nodes.push_back({"node1", "nl-police", doc_key(3).public_key()});
  v["genesis.canonical"] = canonical_json(genesis.to_json()).value();
  v["genesis.hash"] = genesis.hash().hex();

  // §12: block 1's two transactions, then the handover again in block 2.
  const std::string leaf0 = ledger::tx_log_leaf_data(reg.id(), 1, 0, "OK");
  const std::string leaf1 = ledger::tx_log_leaf_data(tx.id(), 1, 1, "OK");
  const std::string leaf2 = ledger::tx_log_leaf_data(tx.id(), 2, 0, "DUPLICATE_TX");
  const std::vector<Hash256> leaf_hashes = {merkle_leaf_hash(as_bytes(leaf0)),
                                            merkle_leaf_hash(as_bytes(leaf1)),
                                            merkle_leaf_hash(as_bytes(leaf2))};
  v["txlog.leaf0_data"] = leaf0;
  v["txlog.leaf0_hash"] = leaf_hashes[0].hex();
  v["txlog.leaf1_hash"] = leaf_hashes[1].hex();
  v["txlog.leaf2_data"] = leaf2;
  v["txlog.leaf2_hash"] = leaf_hashes[2].hex();
  v["txlog.root3"] = merkle_root(leaf_hashes).hex();

  // §13: the register event of block 1 as the custody chaincode shapes it.
  Json event = {{"item_id", "E-2026-0002"},
                {"seq", 0},
                {"type", "register"},
                {"tx_id", reg.id().hex()},
                {"height", 1},
                {"block_time_ms", block.header.timestamp_ms},
                {"declared_at_ms", reg.created_at_ms},
                {"actor", "nl-police-admin"},
                {"cosigners", Json::array()},
                {"data", {{"case_id", "C-2026-17"}, {"content_hash", nullptr}}},
                {"prev_event_hash", Hash256{}.hex()}};
  event["event_hash"] = tagged_hash("custos/event/v1", canonical_json(event).value()).hex();
  v["state.history_head_input"] = canonical_json(Json{{"event", event}, {"seq", 0}}).value();
  const Hash256 head_value = ledger::history_head_value(event, 0);
  v["state.history_head"] = head_value.hex();
  MemorySmtStore one_key;
  const std::vector<SmtChange> change = {{"item/E-2026-0002", head_value}};
  auto update = smt_update(one_key, change);
  REQUIRE(update.ok());
  CHECK(update->root == smt_leaf_hash(smt_key_hash("item/E-2026-0002"), head_value));
  v["state.root_one_key"] = update->root.hex();

  // §14: node1 (key 3) signs head 1: block 1 of §6, the two leaves of block
  // 1 in the transaction log (§12), the one-key state root above, and an
  // example results hash.
  PrivateKey key3 = doc_key(3);
  v["key3.private"] = hex_encode(key3.secret());
  v["key3.public"] = key3.public_key().hex();
  const std::string key_file = node_key_file_text(key3);  // one line and '\n'
  REQUIRE(key_file.back() == '\n');
  v["node_key.file"] = key_file.substr(0, key_file.size() - 1);
  HeadStatement head;
  head.network_id = "custos-demo";
  head.height = 1;
  head.block_hash = block.header.hash();
  head.results_hash = sha256(std::string_view("custos formats.md results"));
  head.log_size = 2;
  head.log_root = merkle_root(std::span<const Hash256>(leaf_hashes).first(2));
  head.state_root = update->root;
  v["head.canonical"] = canonical_json(head.to_json()).value();
  v["head.digest"] = head.digest().hex();
  HeadSignature head_sig = sign_head("node1", key3, head);
  CHECK(verify_head_signature(key3.public_key(), head, head_sig.signature));
  v["head.signature"] = head_sig.signature.hex();
  v["head.signed"] = SignedHead{head, {head_sig}}.to_json().dump(2);

  v["jwt.example"] = jwt_mint(key1, {"nl-police-admin", "custos-demo", 1764460800, 1764461100});
  return v;
}

}  // namespace

TEST_CASE("docs/formats.md vectors are what the code produces") {
  auto computed = compute_vectors();
  if (std::getenv("CUSTOS_PRINT_VECTORS")) {
    for (const auto& [name, value] : computed) {
      std::cout << "<!-- vector: " << name << " -->\n```\n" << value << "\n```\n\n";
    }
  }
  auto documented = document_vectors(read_text(source_path("docs/formats.md")));
  for (const auto& [name, value] : computed) {
    CAPTURE(name);
    REQUIRE_MESSAGE(documented.contains(name), "docs/formats.md lacks vector " << name);
    CHECK(documented[name] == value);
  }
  for (const auto& [name, value] : documented) {
    CHECK_MESSAGE((computed.contains(name) || name == "keystore.file"),
                  "docs/formats.md has vector " << name << " that no test checks");
  }
}

TEST_CASE("docs/formats.md keystore example decrypts to key 1") {
  auto documented = document_vectors(read_text(source_path("docs/formats.md")));
  REQUIRE(documented.contains("keystore.file"));
  Json ks = parse_json_strict(documented["keystore.file"]).value();
  auto key = wallet::keystore_decrypt(ks, "custos formats.md");
  REQUIRE(key.ok());
  CHECK(key->public_key() == doc_key(1).public_key());
}

TEST_CASE("docs/formats.md signed transaction parses and verifies") {
  auto documented = document_vectors(read_text(source_path("docs/formats.md")));
  auto tx = tx_parse(documented["tx.signed"]);
  REQUIRE(tx.ok());
  CHECK(tx->fully_signed());
  CHECK(tx->id().hex() == documented["tx.id"]);
}
