#include <doctest/doctest.h>

#include "core/bytes.h"
#include "core/hash.h"

using namespace custos;

TEST_CASE("sha256 known answers (FIPS 180-2 examples)") {
  CHECK(sha256(std::string_view("")).hex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256(std::string_view("abc")).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(
      sha256(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex() ==
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("incremental sha256 equals one-shot") {
  std::string data(1000, 'x');
  Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 7) h.update(std::string_view(data).substr(i, 7));
  CHECK(h.finish() == sha256(data));
}

TEST_CASE("tagged hash separates domains") {
  // Same payload, different tags: different hashes; and the tag is not just
  // concatenated (the 0x00 separator makes "ab"+"c" differ from "a"+"bc").
  CHECK(tagged_hash("custos/tx/v1", "{}") != tagged_hash("custos/block/v1", "{}"));
  CHECK(tagged_hash("ab", "c") != tagged_hash("a", "bc"));
  CHECK(tagged_hash("t", "p") == sha256(std::string_view("t\0p", 3)));
}

TEST_CASE("hex round trip") {
  Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(i));
  std::string hex = hex_encode(all);
  CHECK(hex.substr(0, 8) == "00010203");
  CHECK(hex.substr(hex.size() - 4) == "feff");
  CHECK(hex_decode(hex).value() == all);
  CHECK(hex_decode("ABcd").value() == Bytes{0xab, 0xcd});
  CHECK(hex_decode("").value().empty());
}

TEST_CASE("hex decoding refuses bad input") {
  for (const char* bad : {"0", "abc", "0g", "g0", " 00", "00 ", "0x00", "--", "é0"}) {
    auto r = hex_decode(bad);
    REQUIRE_MESSAGE(!r.ok(), bad);
    CHECK(r.error().code == "bad_hex");
  }
  CHECK(!hex_decode_canonical("AB", 1).ok());  // uppercase is not canonical
  CHECK(!hex_decode_canonical("abab", 1).ok());
  CHECK(hex_decode_canonical("ab", 1).ok());
}

TEST_CASE("Hash256 from_hex is strict") {
  std::string good(64, 'a');
  CHECK(Hash256::from_hex(good).ok());
  CHECK(!Hash256::from_hex(good.substr(1)).ok());
  CHECK(!Hash256::from_hex(good + "aa").ok());
  CHECK(!Hash256::from_hex(std::string(64, 'A')).ok());
  CHECK(!Hash256::from_hex(std::string(63, 'a') + "z").ok());
}
