#include <doctest/doctest.h>

#include "core/tx.h"

using namespace custos;

namespace {

Transaction sample_tx() {
  Transaction tx;
  tx.network_id = "custos-test";
  tx.chaincode = "custody";
  tx.function = "handover";
  tx.args = {{"item", "E-1"}, {"to", "id-2"}, {"seal_ok", true}};
  tx.nonce = "00112233445566778899aabbccddeeff";
  tx.created_at_ms = 1764460800000;
  return tx;
}

Json sample_json() {
  return sample_tx().to_json();
}

std::string refusal(const Json& j) {
  auto tx = tx_from_json(j);
  REQUIRE_MESSAGE(!tx.ok(), j.dump());
  CHECK(tx.error().code == "bad_tx");
  return tx.error().message;
}

}  // namespace

TEST_CASE("tx id covers the body, not the signatures") {
  Transaction tx = sample_tx();
  Hash256 before = tx.id();
  auto a = PrivateKey::generate();
  REQUIRE(tx.sign(a).ok());
  CHECK(tx.id() == before);
  CHECK(tx.id() == tagged_hash(kTxTag, tx.body_canonical()));
  CHECK(tx.body_canonical().find("signatures") == std::string::npos);
}

TEST_CASE("every field of the body changes the tx id") {
  Hash256 base = sample_tx().id();
  auto changed = [&](auto mutate) {
    Transaction t = sample_tx();
    mutate(t);
    return t.id() != base;
  };
  CHECK(changed([](Transaction& t) { t.network_id = "custos-other"; }));
  CHECK(changed([](Transaction& t) { t.chaincode = "identity"; }));
  CHECK(changed([](Transaction& t) { t.function = "register"; }));
  CHECK(changed([](Transaction& t) { t.args["item"] = "E-2"; }));
  CHECK(changed([](Transaction& t) { t.nonce[0] = '1'; }));
  CHECK(changed([](Transaction& t) { t.created_at_ms += 1; }));
}

TEST_CASE("co-signed transaction: two signers, both verify, round trip through JSON") {
  Transaction tx = sample_tx();
  auto releasing = PrivateKey::generate();
  auto receiving = PrivateKey::generate();
  REQUIRE(tx.sign(releasing).ok());
  REQUIRE(tx.sign(receiving).ok());
  CHECK(tx.verify_signatures() == std::vector<bool>{true, true});
  CHECK(tx.fully_signed());

  auto parsed = tx_parse(tx.to_json().dump());
  REQUIRE(parsed.ok());
  CHECK(parsed->id() == tx.id());
  CHECK(parsed->fully_signed());
  CHECK(parsed->signer_index(receiving.public_key()) == 1u);
  // The signature is ECDSA/SHA-256 over the 32 tx id bytes.
  CHECK(verify_compact(releasing.public_key(), tx.id().view(), tx.signatures[0].signature.compact));
}

TEST_CASE("signing twice with one key is refused") {
  Transaction tx = sample_tx();
  auto key = PrivateKey::generate();
  REQUIRE(tx.sign(key).ok());
  auto again = tx.sign(key);
  REQUIRE(!again.ok());
  CHECK(again.error().code == "already_signed");
  CHECK(tx.signatures.size() == 1);
}

TEST_CASE("tampering is detected") {
  Transaction tx = sample_tx();
  auto key = PrivateKey::generate();
  REQUIRE(tx.sign(key).ok());

  SUBCASE("changed args") {
    tx.args["to"] = "id-666";
    CHECK(tx.verify_signatures() == std::vector<bool>{false});
    CHECK(!tx.fully_signed());
  }
  SUBCASE("signature by another key under this key's name") {
    Transaction other = sample_tx();
    REQUIRE(other.sign(PrivateKey::generate()).ok());
    tx.signatures[0].signature = other.signatures[0].signature;
    CHECK(!tx.fully_signed());
  }
  SUBCASE("unsigned is not fully signed") {
    tx.signatures.clear();
    CHECK(!tx.fully_signed());
  }
}

TEST_CASE("malformed envelopes are refused with the member named") {
  CHECK(refusal(Json::array()).find("object") != std::string::npos);
  Json j = sample_json();
  j["extra"] = 1;
  CHECK(refusal(j).find("extra") != std::string::npos);
  j = sample_json();
  j.erase("nonce");
  CHECK(refusal(j).find("nonce") != std::string::npos);

  auto with = [](const char* member, Json value) {
    Json j = sample_json();
    j[member] = std::move(value);
    return j;
  };
  refusal(with("network_id", "Custos"));
  refusal(with("network_id", ""));
  refusal(with("chaincode", "Custody"));
  refusal(with("chaincode", 5));
  refusal(with("function", "hand-over"));
  refusal(with("args", Json::array()));
  refusal(with("args", Json{{"x", 1.5}}));
  refusal(with("nonce", "0011"));                              // too short
  refusal(with("nonce", "00112233445566778899AABBCCDDEEFF"));  // uppercase
  refusal(with("nonce", std::string(66, 'a')));                // too long
  refusal(with("created_at_ms", -1));
  refusal(with("created_at_ms", "1764460800000"));
  refusal(with("signatures", Json::object()));

  Json sig = {{"public_key", PrivateKey::generate().public_key().hex()},
              {"signature", std::string(128, 'a')}};
  Json bad = sig;
  bad["public_key"] = "04" + std::string(128, 'a');
  refusal(with("signatures", Json::array({bad})));  // uncompressed key in an envelope
  bad = sig;
  bad["signature"] = std::string(140, 'a');
  refusal(with("signatures", Json::array({bad})));  // DER is not the envelope's form
  bad = sig;
  bad["extra"] = true;
  refusal(with("signatures", Json::array({bad})));
  CHECK(refusal(with("signatures", Json::array({sig, sig}))).find("twice") != std::string::npos);
}

TEST_CASE("tx_parse refuses non-JSON, duplicate keys and oversize texts") {
  CHECK(tx_parse("{").error().code == "bad_tx");
  std::string text = sample_json().dump();
  std::string dup = text;
  dup.insert(1, R"("nonce":"00112233445566778899aabbccddeeff",)");
  CHECK(tx_parse(dup).error().message.find("duplicate") != std::string::npos);
  Transaction big = sample_tx();
  big.args["blob"] = std::string(kTxBytesMax, 'x');
  CHECK(tx_parse(big.to_json().dump()).error().message.find("limit") != std::string::npos);
}

TEST_CASE("tx_from_parsed_json: an envelope parsed as part of a batch, same checks and limit") {
  Transaction tx = sample_tx();
  auto parsed = tx_from_parsed_json(tx.to_json());
  REQUIRE(parsed.ok());
  CHECK(parsed->id() == tx.id());
  Json wrong = tx.to_json();
  wrong["created_at_ms"] = "yesterday";
  CHECK(tx_from_parsed_json(wrong).error().code == "bad_tx");
  Transaction big = sample_tx();
  big.args["blob"] = std::string(kTxBytesMax, 'x');
  auto refused = tx_from_parsed_json(big.to_json());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "bad_tx");
  CHECK(refused.error().message.find("limit") != std::string::npos);
}
