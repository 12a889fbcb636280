#include "core/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace custos {
namespace {

// One context for the process. Randomised once (side-channel blinding for
// signing); after construction it is only read, which libsecp256k1 documents
// as safe from many threads.
const secp256k1_context* context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c =
        secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
    if (c == nullptr) std::abort();
    unsigned char seed[32];
    if (RAND_bytes(seed, sizeof seed) != 1) std::abort();
    if (secp256k1_context_randomize(c, seed) != 1) std::abort();
    OPENSSL_cleanse(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

// Hashes a compressed key for ParsedKeys, keyed with a secret drawn at
// start: whoever submits keys picks their x coordinates, and must not be
// able to pile them into one bucket.
struct KeyHasher {
  KeyHasher() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1) std::abort();
  }
  std::size_t operator()(const std::array<std::uint8_t, 33>& c) const {
    std::uint64_t h = seed ^ c[0];
    for (std::size_t i = 1; i + 8 <= c.size(); i += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, c.data() + i, sizeof word);
      h = mix(h ^ word);
    }
    return static_cast<std::size_t>(h);
  }
  // splitmix64's finaliser.
  static std::uint64_t mix(std::uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  std::uint64_t seed = 0;
};

// Points this process has already decompressed, by their compressed
// encoding. Decompressing costs a field square root, a tenth of a verify,
// and every transaction names the same few keys again: parsed at admission,
// parsed in each block on every node, read from identities by the
// chaincode, and parsed once more by each verify. Only points libsecp256k1
// accepted are put in, so a hit is the same answer as parsing again. Bounded:
// emptied when full (a network has far fewer keys than that). Thread-safe.
class ParsedKeys {
 public:
  bool find(const std::array<std::uint8_t, 33>& compressed, secp256k1_pubkey* out) const {
    std::shared_lock lock(mu_);
    auto it = keys_.find(compressed);
    if (it == keys_.end()) return false;
    *out = it->second;
    return true;
  }
  void insert(const std::array<std::uint8_t, 33>& compressed, const secp256k1_pubkey& pk) {
    std::unique_lock lock(mu_);
    if (keys_.size() >= kKeysMax) keys_.clear();
    keys_.emplace(compressed, pk);
  }

 private:
  static constexpr std::size_t kKeysMax = 4096;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::array<std::uint8_t, 33>, secp256k1_pubkey, KeyHasher> keys_;
};

ParsedKeys& parsed_keys() {
  static ParsedKeys keys;
  return keys;
}

bool verify_parsed(const PublicKey& key, ByteView message, const secp256k1_ecdsa_signature& sig) {
  secp256k1_pubkey pk;
  const auto& c = key.compressed();
  if (!parsed_keys().find(c, &pk)) {
    if (secp256k1_ec_pubkey_parse(context(), &pk, c.data(), c.size()) != 1) return false;
    parsed_keys().insert(c, pk);
  }
  Hash256 digest = sha256(message);
  // secp256k1_ecdsa_verify refuses high-S by itself: that is our rule.
  return secp256k1_ecdsa_verify(context(), &sig, digest.bytes.data(), &pk) == 1;
}

}  // namespace

Result<PublicKey> PublicKey::parse(ByteView sec1) {
  bool shape_ok = (sec1.size() == 33 && (sec1[0] == 0x02 || sec1[0] == 0x03)) ||
                  (sec1.size() == 65 && sec1[0] == 0x04);
  if (!shape_ok) {
    return make_error("bad_public_key",
                      "public key must be 33 bytes (02/03 prefix) or 65 bytes (04 prefix), got " +
                          std::to_string(sec1.size()) + " bytes");
  }
  PublicKey out;
  secp256k1_pubkey pk;
  if (sec1.size() == out.compressed_.size()) {
    std::copy(sec1.begin(), sec1.end(), out.compressed_.begin());
    if (parsed_keys().find(out.compressed_, &pk)) return out;  // an encoding parsed before
  }
  if (secp256k1_ec_pubkey_parse(context(), &pk, sec1.data(), sec1.size()) != 1) {
    return make_error("bad_public_key", "public key is not a point on secp256k1");
  }
  size_t len = out.compressed_.size();
  if (secp256k1_ec_pubkey_serialize(context(), out.compressed_.data(), &len, &pk,
                                    SECP256K1_EC_COMPRESSED) != 1 ||
      len != 33) {
    std::abort();
  }
  parsed_keys().insert(out.compressed_, pk);
  return out;
}

Result<PublicKey> PublicKey::from_hex(std::string_view hex) {
  auto bytes = hex_decode(hex);
  if (!bytes) return make_error("bad_public_key", "public key: " + bytes.error().message);
  return parse(*bytes);
}

Bytes Signature::der() const {
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_signature_parse_compact(context(), &sig, compact.data()) != 1) {
    return {};
  }
  unsigned char out[72];
  size_t len = sizeof out;
  if (secp256k1_ecdsa_signature_serialize_der(context(), out, &len, &sig) != 1) std::abort();
  return Bytes(out, out + len);
}

PrivateKey PrivateKey::generate() {
  PrivateKey k;
  // The chance that 32 random bytes are not a valid scalar is about 2^-128;
  // the loop is bounded anyway, and failing to find a key is a broken RNG.
  for (int attempt = 0; attempt < 64; ++attempt) {
    if (RAND_bytes(k.secret_.data(), k.secret_.size()) != 1) std::abort();
    if (secp256k1_ec_seckey_verify(context(), k.secret_.data()) == 1) return k;
  }
  std::abort();
}

Result<PrivateKey> PrivateKey::from_bytes(ByteView secret) {
  if (secret.size() != 32) {
    return make_error("bad_private_key", "private key must be 32 bytes");
  }
  PrivateKey k;
  std::memcpy(k.secret_.data(), secret.data(), 32);
  if (secp256k1_ec_seckey_verify(context(), k.secret_.data()) != 1) {
    return make_error("bad_private_key", "private key is zero or not below the group order");
  }
  return k;
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : secret_(other.secret_) {
  OPENSSL_cleanse(other.secret_.data(), other.secret_.size());
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    OPENSSL_cleanse(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

PrivateKey::~PrivateKey() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

PublicKey PrivateKey::public_key() const {
  secp256k1_pubkey pk;
  if (secp256k1_ec_pubkey_create(context(), &pk, secret_.data()) != 1) std::abort();
  unsigned char out[33];
  size_t len = sizeof out;
  if (secp256k1_ec_pubkey_serialize(context(), out, &len, &pk, SECP256K1_EC_COMPRESSED) != 1) {
    std::abort();
  }
  return PublicKey::parse(ByteView(out, len)).value();
}

Signature PrivateKey::sign(ByteView message) const {
  return sign_digest(sha256(message));
}

Signature PrivateKey::sign_digest(const Hash256& digest) const {
  secp256k1_ecdsa_signature sig;
  // A null nonce function selects RFC 6979; libsecp256k1 always emits low-S.
  if (secp256k1_ecdsa_sign(context(), &sig, digest.bytes.data(), secret_.data(), nullptr,
                           nullptr) != 1) {
    std::abort();
  }
  Signature out;
  if (secp256k1_ecdsa_signature_serialize_compact(context(), out.compact.data(), &sig) != 1) {
    std::abort();
  }
  return out;
}

bool verify_compact(const PublicKey& key, ByteView message, ByteView signature64) {
  if (signature64.size() != 64) return false;
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_signature_parse_compact(context(), &sig, signature64.data()) != 1) {
    return false;
  }
  return verify_parsed(key, message, sig);
}

bool verify_der(const PublicKey& key, ByteView message, ByteView der) {
  secp256k1_ecdsa_signature sig;
  if (der.empty() ||
      secp256k1_ecdsa_signature_parse_der(context(), &sig, der.data(), der.size()) != 1) {
    return false;
  }
  return verify_parsed(key, message, sig);
}

bool verify_any(const PublicKey& key, ByteView message, ByteView signature) {
  secp256k1_ecdsa_signature sig;
  if (!signature.empty() && signature[0] == 0x30 &&
      secp256k1_ecdsa_signature_parse_der(context(), &sig, signature.data(), signature.size()) ==
          1) {
    return verify_parsed(key, message, sig);
  }
  return verify_compact(key, message, signature);
}

}  // namespace custos
