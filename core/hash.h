// SHA-256 through OpenSSL's EVP interface, and the 32-byte hash type used for
// every id in Custos (tx ids, block hashes, Merkle nodes).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"

namespace custos {

struct Hash256 {
  std::array<std::uint8_t, 32> bytes{};

  std::string hex() const { return hex_encode(bytes); }
  ByteView view() const { return bytes; }
  auto operator<=>(const Hash256&) const = default;

  // Exactly 64 lowercase hex digits; anything else is "bad_hex".
  static Result<Hash256> from_hex(std::string_view hex);
  // Precondition: exactly 32 bytes (checked; a violation aborts).
  static Hash256 from_bytes(ByteView bytes);
};

// Incremental SHA-256. Not thread-safe; one instance per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(ByteView data);
  Sha256& update(std::string_view data) { return update(as_bytes(data)); }
  // Returns the digest; the object must not be updated afterwards.
  Hash256 finish();

 private:
  void* ctx_;  // EVP_MD_CTX*, kept opaque so callers need no OpenSSL headers
};

Hash256 sha256(ByteView data);
inline Hash256 sha256(std::string_view data) {
  return sha256(as_bytes(data));
}

// SHA-256 over a domain-separation tag, one 0x00 byte, then the payload. Every
// hashed structure has its own tag so that a hash of one kind can never be
// presented as a hash of another (see docs/formats.md).
Hash256 tagged_hash(std::string_view tag, std::string_view payload);

}  // namespace custos
