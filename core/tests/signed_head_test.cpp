#include <doctest/doctest.h>

#include "core/signed_head.h"

using namespace custos;

namespace {

HeadStatement sample_head() {
  HeadStatement h;
  h.network_id = "custos-test";
  h.height = 7;
  h.block_hash = sha256(std::string_view("block"));
  h.results_hash = sha256(std::string_view("results"));
  h.log_size = 12;
  h.log_root = sha256(std::string_view("log"));
  h.state_root = sha256(std::string_view("state"));
  return h;
}

}  // namespace

TEST_CASE("signed heads: JSON round trip through the strict parser, signatures verify") {
  PrivateKey a = PrivateKey::generate(), b = PrivateKey::generate();
  SignedHead sh{sample_head(),
                {sign_head("node1", a, sample_head()), sign_head("node2", b, sample_head())}};
  // The strict parser gives integers as signed numbers; they are read alike.
  auto parsed = SignedHead::from_json(parse_json_strict(sh.to_json().dump()).value());
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
  CHECK(parsed->head == sh.head);
  CHECK(parsed->signatures == sh.signatures);
  CHECK(SignedHead::from_json(sh.to_json()).ok());  // nlohmann's unsigned numbers
  CHECK(verify_head_signature(a.public_key(), parsed->head, parsed->signatures[0].signature));
  CHECK_FALSE(verify_head_signature(b.public_key(), parsed->head, parsed->signatures[0].signature));
  HeadStatement moved = sample_head();
  moved.height += 1;
  CHECK_FALSE(verify_head_signature(a.public_key(), moved, parsed->signatures[0].signature));
  CHECK(head_quorum(1) == 1);
  CHECK(head_quorum(3) == 2);
  CHECK(head_quorum(4) == 3);
  CHECK(head_quorum(5) == 3);

  Json j = sh.to_json();
  std::swap(j["signatures"][0], j["signatures"][1]);
  CHECK_FALSE(SignedHead::from_json(j).ok());  // not sorted
  j = sh.to_json();
  j["head"]["height"] = -1;
  CHECK_FALSE(SignedHead::from_json(j).ok());
  j = sh.to_json();
  j["head"]["log_size"] = kJsonIntegerMax + 1;
  CHECK_FALSE(SignedHead::from_json(j).ok());
  j = sh.to_json();
  j["head"]["extra"] = 1;
  CHECK_FALSE(SignedHead::from_json(j).ok());
}
