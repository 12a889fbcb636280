#include <doctest/doctest.h>

#include "core/node_key.h"

using namespace custos;

TEST_CASE("node key files: round trip, and every malformed file is refused") {
  PrivateKey key = PrivateKey::generate();
  std::string text = node_key_file_text(key);
  CHECK(text.back() == '\n');
  CHECK(text.find("\"custos_node_key\":1") != std::string::npos);
  auto back = node_key_from_text(text);
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());

  std::string hex = hex_encode(key.secret());
  auto refused = [](std::string t) {
    auto k = node_key_from_text(t);
    REQUIRE(!k.ok());
    CHECK(k.error().code == "bad_node_key");
    return k.error().message;
  };
  refused("");
  refused("[]");
  refused(R"({"custos_node_key":2,"private_key":")" + hex + "\"}");
  refused(R"({"custos_node_key":1,"private_key":")" + hex + R"(","x":1})");
  refused(R"({"custos_node_key":1})");
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != hex) refused(R"({"custos_node_key":1,"private_key":")" + upper + "\"}");
  refused(R"({"custos_node_key":1,"private_key":")" + std::string(64, '0') + "\"}");
  // The group order n is not a scalar.
  std::string message = refused(
      R"({"custos_node_key":1,"private_key":"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"})");
  CHECK(message.find("scalar") != std::string::npos);
  CHECK(refused(R"({"custos_node_key":1,"private_key":")" + hex.substr(2) + "\"}")
            .find(hex.substr(2)) == std::string::npos);
}
