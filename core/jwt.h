// Self-signed ES256K JSON Web Tokens (RFC 7519, RFC 8812) for reading from
// the gateway. An enrolled identity signs its own short-lived token; the
// gateway looks the subject up on the ledger and checks the signature with
// the identity's current key.
//
// Header {"alg":"ES256K","typ":"JWT"}; payload {"sub": identity id, "aud":
// network id, "iat": seconds, "exp": seconds}; signature the 64-byte r||s
// ECDSA/SHA-256 (low-S) over ASCII(header "." payload), base64url.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/keys.h"
#include "core/result.h"

namespace custos {

inline constexpr std::int64_t kJwtLifetimeMaxS = 600;  // tokens live at most 10 minutes
inline constexpr std::int64_t kJwtClockSkewS = 30;     // tolerated clock difference
inline constexpr std::size_t kJwtBytesMax = 2048;

struct JwtClaims {
  std::string subject;   // identity id
  std::string audience;  // network id
  std::int64_t issued_at_s = 0;
  std::int64_t expires_at_s = 0;
};

std::string jwt_mint(const PrivateKey& key, const JwtClaims& claims);

struct ParsedJwt {
  JwtClaims claims;
  std::string signing_input;  // header "." payload, as received
  Signature signature;
};

// Checks the token's form only: three base64url parts, the exact header, the
// exact claim set with the right types. Error code "bad_token".
Result<ParsedJwt> jwt_parse(std::string_view token);

// The time and audience checks, with now in seconds. Error codes:
// "wrong_audience", "token_expired", "token_not_yet_valid",
// "token_lifetime_too_long".
Status jwt_check_claims(const JwtClaims& claims, std::string_view network_id, std::int64_t now_s);

bool jwt_verify_signature(const ParsedJwt& jwt, const PublicKey& key);

}  // namespace custos
