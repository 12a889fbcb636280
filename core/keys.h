// secp256k1 keys and ECDSA signatures (SHA-256, RFC 6979 nonces, low-S) via
// libsecp256k1. All functions are thread-safe: the library context is
// created once and only read afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/hash.h"

namespace custos {

// A compressed public key (33 bytes). Only valid curve points can be held.
class PublicKey {
 public:
  // Accepts 33-byte compressed (02/03) or 65-byte uncompressed (04) SEC1
  // encodings of a point on the curve. Hybrid (06/07) encodings, other
  // lengths and points off the curve are refused with "bad_public_key".
  static Result<PublicKey> parse(ByteView sec1);
  static Result<PublicKey> from_hex(std::string_view hex);

  const std::array<std::uint8_t, 33>& compressed() const { return compressed_; }
  std::string hex() const { return hex_encode(compressed_); }
  auto operator<=>(const PublicKey&) const = default;

 private:
  std::array<std::uint8_t, 33> compressed_{};
};

// A signature as the 64-byte compact r||s form (big-endian), always low-S
// when produced by PrivateKey::sign.
struct Signature {
  std::array<std::uint8_t, 64> compact{};
  std::string hex() const { return hex_encode(compact); }
  // Strict DER (as in Bitcoin's BIP 66 / X.690 DER), for tools that expect it.
  Bytes der() const;
  auto operator<=>(const Signature&) const = default;
};

// A private key. Its bytes are wiped when it is destroyed; it can be moved
// but not copied, so that secrets do not multiply in memory.
class PrivateKey {
 public:
  // 32 bytes from OpenSSL's CSPRNG, retried until they are a valid scalar.
  static PrivateKey generate();
  // Refuses a wrong length, zero, or a value >= the group order ("bad_private_key").
  static Result<PrivateKey> from_bytes(ByteView secret);

  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  PublicKey public_key() const;
  // ECDSA over SHA-256(message): RFC 6979 deterministic nonce, low-S.
  Signature sign(ByteView message) const;
  // ECDSA over a digest the caller computed.
  Signature sign_digest(const Hash256& digest) const;
  // The raw scalar; callers must wipe any copy they make.
  ByteView secret() const { return secret_; }

 private:
  PrivateKey() = default;
  std::array<std::uint8_t, 32> secret_{};
};

// Verification of ECDSA/SHA-256 over `message`. Never throws, never aborts on
// any input; returns false for a signature that does not verify, is high-S,
// is not strict DER / exactly 64 bytes, or has r or s out of range.
bool verify_compact(const PublicKey& key, ByteView message, ByteView signature64);
bool verify_der(const PublicKey& key, ByteView message, ByteView der);
// Strict DER when the bytes parse as DER, otherwise 64-byte compact r||s.
bool verify_any(const PublicKey& key, ByteView message, ByteView signature);

}  // namespace custos
