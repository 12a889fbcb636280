// Byte strings and their hex codec.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace custos {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// 64-bit unsigned integers as 8 big-endian bytes, the encoding every stored
// key and record uses so that byte order is numeric order.
// append_be64 appends to `out`; read_be64 reads the first 8 bytes of `in`
// (precondition: in.size() >= 8; callers check lengths of untrusted input).
template <typename Out>
void append_be64(Out& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<typename Out::value_type>(v >> shift));
  }
}
inline std::uint64_t read_be64(ByteView in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

// Lowercase hex, two characters per byte.
std::string hex_encode(ByteView bytes);

// Accepts upper- or lowercase digits. Refuses an odd length or any character
// outside [0-9a-fA-F] (no whitespace, no "0x" prefix) with code "bad_hex".
Result<Bytes> hex_decode(std::string_view hex);

// Like hex_decode, but also refuses uppercase digits and any length other
// than expected_bytes*2, so that one value has one spelling in signed data.
Result<Bytes> hex_decode_canonical(std::string_view hex, std::size_t expected_bytes);

// base64url (RFC 4648 §5) without padding, as JWTs use it.
std::string base64url_encode(ByteView bytes);
// Refuses ("bad_base64url") padding, characters outside the alphabet, a
// length of 1 mod 4, and non-zero unused trailing bits (so that one byte
// string has exactly one encoding).
Result<Bytes> base64url_decode(std::string_view text);

}  // namespace custos
