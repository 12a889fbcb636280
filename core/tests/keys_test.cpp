#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/keys.h"
#include "tests/test_util.h"

using namespace custos;
using custos::testing::read_vector_json;

namespace {

// n/2 for secp256k1, big-endian: an s above it is "high".
constexpr std::array<std::uint8_t, 32> kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

bool is_high(ByteView s_be) {
  while (!s_be.empty() && s_be[0] == 0) s_be = s_be.subspan(1);
  if (s_be.size() != 32) return s_be.size() > 32;
  return std::lexicographical_compare(kHalfOrder.begin(), kHalfOrder.end(), s_be.begin(),
                                      s_be.end());
}

// s of a signature Wycheproof calls valid (so well-formed DER).
ByteView der_s(ByteView der) {
  std::size_t r_len = der[3];
  std::size_t s_len = der[4 + r_len + 1];
  return der.subspan(4 + r_len + 2, s_len);
}

struct Tally {
  int cases = 0, accepted = 0, high_s_refused = 0;
};

// Runs a Wycheproof file; `expect` says whether our rules accept a case that
// Wycheproof marks valid (it may add the low-S rule).
template <typename Verify, typename Expect>
Tally run_wycheproof(const std::string& file, Verify verify, Expect expect_valid) {
  Tally t;
  Json doc = read_vector_json("wycheproof/" + file);
  for (const auto& group : doc["testGroups"]) {
    auto key = PublicKey::from_hex(group["publicKey"]["uncompressed"].get<std::string>());
    for (const auto& tc : group["tests"]) {
      ++t.cases;
      Bytes msg = hex_decode(tc["msg"].get<std::string>()).value();
      Bytes sig = hex_decode(tc["sig"].get<std::string>()).value();
      bool wycheproof_valid = tc["result"] == "valid";
      REQUIRE(tc["result"] != "acceptable");  // none in these files; decide if that changes
      bool expected = wycheproof_valid && expect_valid(sig);
      if (wycheproof_valid && !expected) ++t.high_s_refused;
      bool got = key.ok() && verify(*key, msg, sig);
      if (got) ++t.accepted;
      CHECK_MESSAGE(got == expected, file << " tcId " << tc["tcId"] << ": " << tc["comment"]);
    }
  }
  return t;
}

}  // namespace

TEST_CASE("Wycheproof bitcoin vectors (DER, low-S required): every case agrees") {
  auto t = run_wycheproof("ecdsa_secp256k1_sha256_bitcoin_test.json", verify_der,
                          [](const Bytes&) { return true; });
  CHECK(t.cases == 463);
  CHECK(t.accepted == 162);
}

TEST_CASE("Wycheproof DER vectors under our low-S rule") {
  auto t = run_wycheproof("ecdsa_secp256k1_sha256_test.json", verify_der,
                          [](const Bytes& sig) { return !is_high(der_s(sig)); });
  CHECK(t.cases == 476);
  CHECK(t.high_s_refused > 0);  // the low-S rule was exercised, not vacuous
}

TEST_CASE("Wycheproof P1363 (64-byte r||s) vectors under our low-S rule") {
  auto t = run_wycheproof(
      "ecdsa_secp256k1_sha256_p1363_test.json", verify_compact,
      [](const Bytes& sig) { return sig.size() == 64 && !is_high(ByteView(sig).subspan(32)); });
  CHECK(t.cases == 252);
  CHECK(t.high_s_refused > 0);
}

TEST_CASE("sign and verify round trip; RFC 6979 makes signing deterministic") {
  auto key = PrivateKey::generate();
  std::string msg = "handover of item E-1";
  Signature s1 = key.sign(as_bytes(msg));
  Signature s2 = key.sign(as_bytes(msg));
  CHECK(s1 == s2);
  CHECK(!is_high(ByteView(s1.compact).subspan(32)));
  CHECK(verify_compact(key.public_key(), as_bytes(msg), s1.compact));
  CHECK(verify_der(key.public_key(), as_bytes(msg), s1.der()));
  CHECK(verify_any(key.public_key(), as_bytes(msg), s1.der()));
  CHECK(verify_any(key.public_key(), as_bytes(msg), s1.compact));
  CHECK(verify_compact(key.public_key(), {}, key.sign({}).compact));  // empty message

  SUBCASE("wrong message, wrong key, tampered signature are refused") {
    CHECK(!verify_compact(key.public_key(), as_bytes(msg + "."), s1.compact));
    CHECK(!verify_compact(PrivateKey::generate().public_key(), as_bytes(msg), s1.compact));
    Signature t = s1;
    t.compact[10] ^= 1;
    CHECK(!verify_compact(key.public_key(), as_bytes(msg), t.compact));
  }
}

TEST_CASE("high-S form of a valid signature is refused") {
  // s' = n - s verifies mathematically; the low-S rule must refuse it.
  auto key = PrivateKey::from_bytes(hex_decode(std::string(63, '0') + "1").value()).value();
  Signature sig = key.sign(as_bytes(std::string("x")));
  static constexpr std::array<std::uint8_t, 32> kOrder = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
      0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
  Signature high = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = kOrder[i] - sig.compact[32 + i] - borrow;
    borrow = d < 0;
    high.compact[32 + i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  CHECK(is_high(ByteView(high.compact).subspan(32)));
  CHECK(verify_compact(key.public_key(), as_bytes(std::string("x")), sig.compact));
  CHECK(!verify_compact(key.public_key(), as_bytes(std::string("x")), high.compact));
}

TEST_CASE("verification never throws on garbage") {
  auto key = PrivateKey::generate().public_key();
  Bytes junk;
  for (int len = 0; len < 80; ++len) {
    CHECK(!verify_any(key, {}, junk));
    CHECK(!verify_der(key, {}, junk));
    CHECK(!verify_compact(key, {}, junk));
    junk.push_back(static_cast<std::uint8_t>(len * 37 + 0x30));
  }
  Bytes zeros(64, 0);
  CHECK(!verify_compact(key, {}, zeros));
  Bytes ones(64, 0xff);
  CHECK(!verify_compact(key, {}, ones));
}

TEST_CASE("public keys: compressed and uncompressed accepted, printed compressed") {
  auto key = PrivateKey::generate();
  PublicKey pk = key.public_key();
  CHECK(pk.hex().size() == 66);
  CHECK(PublicKey::from_hex(pk.hex()).value() == pk);

  // Generator point G, uncompressed and compressed.
  std::string g_uncompressed =
      "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
      "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
  auto g = PublicKey::from_hex(g_uncompressed);
  REQUIRE(g.ok());
  CHECK(g->hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");

  SUBCASE("refused encodings") {
    std::string hybrid = g_uncompressed;
    hybrid[1] = '6';  // 06 prefix: hybrid form
    CHECK(PublicKey::from_hex(hybrid).error().code == "bad_public_key");
    CHECK(!PublicKey::from_hex("02" + std::string(64, '0')).ok());  // x = 0: not on curve
    CHECK(!PublicKey::from_hex("05" + pk.hex().substr(2)).ok());    // bad prefix
    CHECK(!PublicKey::from_hex(pk.hex().substr(0, 64)).ok());       // short
    CHECK(!PublicKey::from_hex(pk.hex() + "00").ok());              // long
    CHECK(!PublicKey::from_hex("zz" + pk.hex().substr(2)).ok());    // not hex
    CHECK(!PublicKey::from_hex("").ok());
  }
}

// PublicKey::parse and verification remember the points they decompressed
// (keys.cpp, ParsedKeys: at most 4096, emptied when full). Remembering must
// never change an answer: the same key back, refusals still refused, a
// signature valid only under its own key, before and after the memo is
// emptied.
TEST_CASE("remembered public keys give the answers parsing gives") {
  const Bytes message = {'h', 'a', 'n', 'd', 'o', 'v', 'e', 'r'};
  std::vector<PublicKey> keys;
  std::vector<Signature> sigs;
  for (int i = 0; i < 4200; ++i) {  // more than the memo holds
    auto key = PrivateKey::generate();
    keys.push_back(key.public_key());
    if (i % 100 == 0) sigs.push_back(key.sign(message));
  }
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& c = keys[i].compressed();
      auto again = PublicKey::parse(ByteView(c.data(), c.size()));
      REQUIRE(again.ok());
      CHECK(*again == keys[i]);
      // The same x with the other parity is another point: its own key.
      auto flipped = c;
      flipped[0] ^= 1;
      auto other = PublicKey::parse(ByteView(flipped.data(), flipped.size()));
      REQUIRE(other.ok());
      CHECK(other->compressed() == flipped);
      if (i % 100 == 0) {
        const Signature& sig = sigs[i / 100];
        CHECK(verify_compact(keys[i], message, sig.compact));
        CHECK_FALSE(verify_compact(*other, message, sig.compact));
        CHECK_FALSE(verify_compact(keys[(i + 100) % keys.size()], message, sig.compact));
      }
    }
    CHECK_FALSE(PublicKey::from_hex("02" + std::string(64, '0')).ok());  // not on the curve
    CHECK_FALSE(PublicKey::from_hex("04" + keys[0].hex().substr(2)).ok());  // 04 needs 65 bytes
  }
}

TEST_CASE("private keys outside [1, n-1] are refused") {
  CHECK(PrivateKey::from_bytes(Bytes(32, 0)).error().code == "bad_private_key");
  CHECK(!PrivateKey::from_bytes(Bytes(32, 0xff)).ok());
  CHECK(!PrivateKey::from_bytes(Bytes(31, 1)).ok());
  auto one = PrivateKey::from_bytes(hex_decode(std::string(63, '0') + "1").value());
  REQUIRE(one.ok());
  CHECK(one->public_key().hex() ==
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
}
