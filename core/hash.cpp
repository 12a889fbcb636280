#include "core/hash.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

namespace custos {
namespace {

EVP_MD_CTX* as_ctx(void* p) {
  return static_cast<EVP_MD_CTX*>(p);
}

// OpenSSL only fails here on allocation failure or a broken library; neither
// is recoverable input, so stop loudly.
void require(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

Result<Hash256> Hash256::from_hex(std::string_view hex) {
  auto bytes = hex_decode_canonical(hex, 32);
  if (!bytes) return bytes.error();
  return from_bytes(*bytes);
}

Hash256 Hash256::from_bytes(ByteView bytes) {
  if (bytes.size() != 32) std::abort();
  Hash256 h;
  std::copy(bytes.begin(), bytes.end(), h.bytes.begin());
  return h;
}

// Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up (under a
// lock) on every init, a measurable share of hashing-heavy work.
static const EVP_MD* sha256_md() {
  static EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) std::abort();
    return fetched;
  }();
  return md;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();
  require(EVP_DigestInit_ex(as_ctx(ctx_), sha256_md(), nullptr));
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(as_ctx(ctx_));
}

Sha256& Sha256::update(ByteView data) {
  require(EVP_DigestUpdate(as_ctx(ctx_), data.data(), data.size()));
  return *this;
}

Hash256 Sha256::finish() {
  Hash256 h;
  unsigned int len = 0;
  require(EVP_DigestFinal_ex(as_ctx(ctx_), h.bytes.data(), &len));
  if (len != h.bytes.size()) std::abort();
  return h;
}

Hash256 sha256(ByteView data) {
  return Sha256().update(data).finish();
}

Hash256 tagged_hash(std::string_view tag, std::string_view payload) {
  static constexpr std::uint8_t kSeparator[1] = {0};
  return Sha256().update(tag).update(ByteView(kSeparator)).update(payload).finish();
}

}  // namespace custos
