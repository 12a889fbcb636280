#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/bytes.h"
#include "wallet/files.h"
#include "wallet/keystore.h"

using namespace custos;
using namespace custos::wallet;

namespace {

// The smallest allowed cost keeps the suite fast; the format is the same.
const ScryptParams kFast{10, 8, 1};

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("custos-keystore-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("keystore round trip") {
  auto key = PrivateKey::generate();
  Json ks = keystore_encrypt(key, "correct horse", kFast).value();
  CHECK(keystore_public_key(ks).value() == key.public_key());
  auto back = keystore_decrypt(ks, "correct horse");
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());
  CHECK(hex_encode(back->secret()) == hex_encode(key.secret()));
}

TEST_CASE("the private key is not in the file in any readable form") {
  auto key = PrivateKey::generate();
  std::string text = keystore_encrypt(key, "pw", kFast).value().dump();
  Bytes secret(key.secret().begin(), key.secret().end());
  std::string raw(secret.begin(), secret.end());
  CHECK(text.find(hex_encode(secret)) == std::string::npos);
  CHECK(text.find(raw) == std::string::npos);
  std::string upper = hex_encode(secret);
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  CHECK(text.find(upper) == std::string::npos);
}

TEST_CASE("a wrong passphrase is a clear error") {
  auto key = PrivateKey::generate();
  Json ks = keystore_encrypt(key, "right", kFast).value();
  auto r = keystore_decrypt(ks, "wrong");
  REQUIRE(!r.ok());
  CHECK(r.error().code == "wrong_passphrase");
  CHECK(r.error().message.find("wrong passphrase") != std::string::npos);
}

TEST_CASE("tampering with any member is detected") {
  auto key = PrivateKey::generate();
  Json ks = keystore_encrypt(key, "pw", kFast).value();
  auto flip_hex = [](std::string s) {
    s[0] = s[0] == '0' ? '1' : '0';
    return s;
  };
  SUBCASE("ciphertext") {
    ks["ciphertext"] = flip_hex(ks["ciphertext"]);
  }
  SUBCASE("tag") {
    ks["cipher"]["tag"] = flip_hex(ks["cipher"]["tag"]);
  }
  SUBCASE("iv") {
    ks["cipher"]["iv"] = flip_hex(ks["cipher"]["iv"]);
  }
  SUBCASE("salt") {
    ks["kdf"]["salt"] = flip_hex(ks["kdf"]["salt"]);
  }
  SUBCASE("public key swapped for another") {
    ks["public_key"] = PrivateKey::generate().public_key().hex();
  }
  CHECK(!keystore_decrypt(ks, "pw").ok());
}

TEST_CASE("malformed keystores and hostile parameters are refused") {
  auto key = PrivateKey::generate();
  Json good = keystore_encrypt(key, "pw", kFast).value();
  auto code_of = [](const Json& ks) { return keystore_decrypt(ks, "pw").error().code; };
  Json ks = good;
  ks["version"] = 2;
  CHECK(code_of(ks) == "bad_keystore");
  ks = good;
  ks["kdf"]["log2_n"] = 30;  // 128 GiB of scrypt memory
  CHECK(code_of(ks) == "bad_keystore");
  ks = good;
  ks["kdf"]["name"] = "pbkdf2";
  CHECK(code_of(ks) == "bad_keystore");
  ks = good;
  ks.erase("ciphertext");
  CHECK(code_of(ks) == "bad_keystore");
  CHECK(code_of(Json::array()) == "bad_keystore");
  CHECK(keystore_encrypt(key, "", kFast).error().code == "bad_passphrase");
  CHECK(keystore_encrypt(key, "pw", ScryptParams{31, 8, 1}).error().code == "bad_kdf_params");
}

TEST_CASE("keystore files: mode 0600, never overwritten") {
  auto dir = temp_dir();
  auto path = dir / "alice.key";
  std::filesystem::remove(path);
  auto key = PrivateKey::generate();
  Json ks = keystore_encrypt(key, "pw", kFast).value();
  REQUIRE(keystore_write_file(path, ks).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(keystore_write_file(path, ks).error().code == "file_exists");
  auto read = keystore_read_file(path);
  REQUIRE(read.ok());
  CHECK(keystore_decrypt(*read, "pw").value().public_key() == key.public_key());
  // No temporary files are left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("bounded reads refuse large files") {
  auto dir = temp_dir();
  auto path = dir / "big.json";
  REQUIRE(write_file_atomic(path, std::string(5000, ' '), 0644, Overwrite::kReplace).ok());
  CHECK(read_file_bounded(path, 4999).error().code == "too_large");
  CHECK(read_file_bounded(path, 5000).value().size() == 5000);
  CHECK(keystore_read_file(path).error().code == "bad_keystore");
  CHECK(read_file_bounded((dir / "missing").string(), 10).error().code == "io_error");
  std::filesystem::remove_all(dir);
}
