#include <doctest/doctest.h>

#include "core/bytes.h"
#include "core/json.h"
#include "core/jwt.h"

using namespace custos;

TEST_CASE("base64url: RFC 4648 vectors, round trips, strict decoding") {
  CHECK(base64url_encode(as_bytes(std::string_view(""))) == "");
  CHECK(base64url_encode(as_bytes(std::string_view("f"))) == "Zg");
  CHECK(base64url_encode(as_bytes(std::string_view("fo"))) == "Zm8");
  CHECK(base64url_encode(as_bytes(std::string_view("foo"))) == "Zm9v");
  CHECK(base64url_encode(as_bytes(std::string_view("foobar"))) == "Zm9vYmFy");
  CHECK(base64url_encode(Bytes{0xfb, 0xff}) == "-_8");
  for (int n = 0; n < 40; ++n) {
    Bytes b;
    for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(i * 53 + n));
    CHECK(base64url_decode(base64url_encode(b)).value() == b);
  }
  for (const char* bad : {"Zg==", "Z", "Zh", "Zm9v+", "Zm9v/", "Zm 9v", "Zm9\n"}) {
    CAPTURE(bad);
    CHECK(base64url_decode(bad).error().code == "bad_base64url");
  }
}

TEST_CASE("a minted token parses, verifies and passes the claim checks") {
  auto key = PrivateKey::generate();
  JwtClaims c{"nl-police-inv-1", "custos-demo", 1000, 1300};
  std::string token = jwt_mint(key, c);
  auto parsed = jwt_parse(token);
  REQUIRE(parsed.ok());
  CHECK(parsed->claims.subject == "nl-police-inv-1");
  CHECK(jwt_verify_signature(*parsed, key.public_key()));
  CHECK(!jwt_verify_signature(*parsed, PrivateKey::generate().public_key()));
  CHECK(jwt_check_claims(parsed->claims, "custos-demo", 1100).ok());
  CHECK(jwt_check_claims(parsed->claims, "other-net", 1100).error().code == "wrong_audience");
  CHECK(jwt_check_claims(parsed->claims, "custos-demo", 1300 + kJwtClockSkewS).error().code ==
        "token_expired");
  CHECK(jwt_check_claims(parsed->claims, "custos-demo", 1000 - kJwtClockSkewS - 1).error().code ==
        "token_not_yet_valid");
  JwtClaims long_lived{"a", "custos-demo", 0, kJwtLifetimeMaxS + 1};
  CHECK(jwt_check_claims(long_lived, "custos-demo", 10).error().code == "token_lifetime_too_long");
}

TEST_CASE("forged and malformed tokens are refused") {
  auto key = PrivateKey::generate();
  std::string token = jwt_mint(key, {"inv-1", "custos-demo", 1000, 1300});
  auto dot1 = token.find('.');
  auto dot2 = token.rfind('.');

  SUBCASE("payload swapped: signature no longer verifies") {
    std::string other = jwt_mint(key, {"admin-1", "custos-demo", 1000, 1300});
    std::string forged = token.substr(0, dot1) +
                         other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                         token.substr(dot2);
    auto parsed = jwt_parse(forged);
    REQUIRE(parsed.ok());
    CHECK(parsed->claims.subject == "admin-1");
    CHECK(!jwt_verify_signature(*parsed, key.public_key()));
  }
  SUBCASE("alg none or another header") {
    std::string none =
        base64url_encode(as_bytes(std::string_view(R"({"alg":"none","typ":"JWT"})")));
    CHECK(jwt_parse(none + token.substr(dot1)).error().code == "bad_token");
    std::string kid =
        base64url_encode(as_bytes(std::string_view(R"({"alg":"ES256K","typ":"JWT","kid":"x"})")));
    CHECK(!jwt_parse(kid + token.substr(dot1)).ok());
  }
  SUBCASE("structure") {
    CHECK(!jwt_parse("").ok());
    CHECK(!jwt_parse("a.b").ok());
    CHECK(!jwt_parse(token + ".x").ok());
    CHECK(!jwt_parse(token.substr(0, dot2) + ".AAAA").ok());  // short signature
    CHECK(!jwt_parse(std::string(3000, 'a')).ok());
    std::string extra = base64url_encode(
        as_bytes(std::string_view(R"({"sub":"a","aud":"b","iat":1,"exp":2,"role":"admin"})")));
    CHECK(!jwt_parse(token.substr(0, dot1 + 1) + extra + token.substr(dot2)).ok());
    std::string float_exp =
        base64url_encode(as_bytes(std::string_view(R"({"sub":"a","aud":"b","iat":1,"exp":2.5})")));
    CHECK(!jwt_parse(token.substr(0, dot1 + 1) + float_exp + token.substr(dot2)).ok());
  }
}
