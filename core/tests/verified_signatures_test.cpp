#include "core/verified_signatures.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace custos {
namespace {

PrivateKey key_from(std::uint8_t n) {
  std::uint8_t secret[32] = {};
  secret[31] = n;
  return PrivateKey::from_bytes(secret).value();
}

Bytes message(int i) {
  std::string text = "message " + std::to_string(i);
  return Bytes(text.begin(), text.end());
}

}  // namespace

TEST_CASE("a remembered signature is taken once by execution, then verified again") {
  VerifiedSignatures cache;
  PrivateKey key = key_from(1);
  Bytes msg = message(1);
  Signature sig = key.sign(msg);
  CHECK(cache.verify_and_remember(key.public_key(), msg, sig));
  CHECK(cache.size() == 1);
  CHECK(cache.verify_and_remember(key.public_key(), msg, sig));  // held once
  CHECK(cache.size() == 1);
  CHECK(cache.verify_once(key.public_key(), msg, sig));
  CHECK(cache.size() == 0);
  CHECK(cache.verify_once(key.public_key(), msg, sig));  // not held: verified
}

TEST_CASE("what does not verify is never remembered, nor taken from the cache") {
  VerifiedSignatures cache;
  PrivateKey key = key_from(1), other = key_from(2);
  Bytes msg = message(1);
  Signature sig = key.sign(msg);
  CHECK_FALSE(cache.verify_and_remember(other.public_key(), msg, sig));
  CHECK(cache.size() == 0);
  CHECK(cache.verify_and_remember(key.public_key(), msg, sig));
  // The triple is the key: the same signature with another key or message,
  // or another signature, is not a hit.
  CHECK_FALSE(cache.verify_once(other.public_key(), msg, sig));
  CHECK_FALSE(cache.verify_once(key.public_key(), message(2), sig));
  Signature flipped = sig;
  flipped.compact[40] ^= 1;
  CHECK_FALSE(cache.verify_once(key.public_key(), msg, flipped));
  CHECK(cache.size() == 1);
}

TEST_CASE("the cache holds at most its capacity, oldest forgotten first") {
  VerifiedSignatures cache(3);
  PrivateKey key = key_from(7);
  std::vector<Bytes> msgs;
  std::vector<Signature> sigs;
  for (int i = 0; i < 5; ++i) {
    msgs.push_back(message(i));
    sigs.push_back(key.sign(msgs.back()));
    CHECK(cache.verify_and_remember(key.public_key(), msgs.back(), sigs.back()));
  }
  CHECK(cache.size() == 3);
  // Taking entries out and adding more never lets it grow past capacity.
  CHECK(cache.verify_once(key.public_key(), msgs[4], sigs[4]));
  for (int i = 0; i < 3; ++i) {
    CHECK(cache.verify_and_remember(key.public_key(), msgs[static_cast<std::size_t>(i)],
                                    sigs[static_cast<std::size_t>(i)]));
    CHECK(cache.size() <= 3);
  }
}

TEST_CASE("verify_ahead remembers exactly the signatures that verify, across threads") {
  VerifiedSignatures cache;
  PrivateKey key = key_from(9), other = key_from(10);
  std::vector<Bytes> msgs;
  std::vector<Signature> sigs;
  for (int i = 0; i < 100; ++i) {
    msgs.push_back(message(i));
    sigs.push_back((i % 10 == 3 ? other : key).sign(msgs.back()));
  }
  PublicKey pub = key.public_key();
  std::vector<SignatureCheck> checks;
  for (std::size_t i = 0; i < msgs.size(); ++i) checks.push_back({&pub, msgs[i], &sigs[i]});
  verify_ahead(cache, checks, 4);
  CHECK(cache.size() == 90);
  verify_ahead(cache, {}, 4);  // nothing to do
  CHECK(cache.size() == 90);
  verify_ahead(cache, checks, 4);  // all remembered already, or not verifying
  CHECK(cache.size() == 90);
  CHECK(cache.holds(pub, msgs[0], sigs[0]));
  CHECK_FALSE(cache.holds(pub, msgs[3], sigs[3]));
}

}  // namespace custos
