#include "core/jwt.h"

#include "core/json.h"
#include "core/tx.h"

namespace custos {
namespace {

// The one header we issue and accept: no "kid", no "jku", nothing a client
// could use to steer which key the server trusts.
constexpr std::string_view kHeader = R"({"alg":"ES256K","typ":"JWT"})";

Error bad_token(const std::string& why) {
  return make_error("bad_token", why);
}

std::string_view as_text(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

std::string jwt_mint(const PrivateKey& key, const JwtClaims& c) {
  Json payload = {
      {"sub", c.subject}, {"aud", c.audience}, {"iat", c.issued_at_s}, {"exp", c.expires_at_s}};
  std::string input = base64url_encode(as_bytes(kHeader)) + "." +
                      base64url_encode(as_bytes(canonical_json(payload).value()));
  Signature sig = key.sign(as_bytes(input));
  return input + "." + base64url_encode(sig.compact);
}

Result<ParsedJwt> jwt_parse(std::string_view token) {
  if (token.size() > kJwtBytesMax) return bad_token("token too long");
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return bad_token("a JWT has three dot-separated parts");
  }
  auto header = base64url_decode(token.substr(0, dot1));
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!header || !payload || !sig) return bad_token("a part is not base64url");

  // Parsed once: the gateway checks a token on every authenticated request.
  static const Json kHeaderJson = Json::parse(kHeader);
  auto h = parse_json_strict(as_text(*header));
  if (!h || *h != kHeaderJson) {
    return bad_token("header must be {\"alg\":\"ES256K\",\"typ\":\"JWT\"}");
  }
  auto p = parse_json_strict(as_text(*payload));
  if (!p || !p->is_object() || p->size() != 4) {
    return bad_token("payload must hold exactly sub, aud, iat, exp");
  }
  const Json& j = *p;
  if (!j.contains("sub") || !j["sub"].is_string() || !is_network_id(j["sub"].get<std::string>()) ||
      !j.contains("aud") || !j["aud"].is_string() || !j.contains("iat") ||
      !j["iat"].is_number_integer() || !j.contains("exp") || !j["exp"].is_number_integer()) {
    return bad_token("payload must hold sub (identity id), aud (string), iat and exp (integers)");
  }
  if (sig->size() != 64) return bad_token("signature must be 64 bytes r||s");

  ParsedJwt out;
  out.claims = {j["sub"].get<std::string>(), j["aud"].get<std::string>(),
                j["iat"].get<std::int64_t>(), j["exp"].get<std::int64_t>()};
  out.signing_input = std::string(token.substr(0, dot2));
  std::copy(sig->begin(), sig->end(), out.signature.compact.begin());
  return out;
}

Status jwt_check_claims(const JwtClaims& c, std::string_view network_id, std::int64_t now_s) {
  if (c.audience != network_id) {
    return make_error("wrong_audience",
                      "token is for network \"" + c.audience + "\", not this one");
  }
  if (c.expires_at_s - c.issued_at_s > kJwtLifetimeMaxS || c.expires_at_s < c.issued_at_s) {
    return make_error("token_lifetime_too_long",
                      "tokens may live at most " + std::to_string(kJwtLifetimeMaxS) + " s");
  }
  if (now_s >= c.expires_at_s + kJwtClockSkewS) return make_error("token_expired", "token expired");
  if (now_s + kJwtClockSkewS < c.issued_at_s) {
    return make_error("token_not_yet_valid", "token issued in the future");
  }
  return ok_status();
}

bool jwt_verify_signature(const ParsedJwt& jwt, const PublicKey& key) {
  return verify_compact(key, as_bytes(jwt.signing_input), jwt.signature.compact);
}

}  // namespace custos
