#include "wallet/keystore.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

#include "core/bytes.h"
#include "wallet/files.h"

namespace custos::wallet {
namespace {

constexpr int kVersion = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kIvBytes = 12;
constexpr std::size_t kTagBytes = 16;

Error bad_keystore(const std::string& what) {
  return make_error("bad_keystore", what);
}

// Zeroes itself on destruction: holds derived keys and plaintext.
template <std::size_t N>
struct Secret {
  std::array<std::uint8_t, N> b{};
  ~Secret() { OPENSSL_cleanse(b.data(), b.size()); }
};

Status check_params(const ScryptParams& p) {
  if (p.log2_n < 10 || p.log2_n > kScryptLog2NMax || p.r < 1 || p.r > kScryptRMax || p.p < 1 ||
      p.p > kScryptPMax) {
    return make_error("bad_kdf_params", "scrypt parameters out of the allowed range");
  }
  return ok_status();
}

Status derive_key(const std::string& passphrase, ByteView salt, const ScryptParams& p,
                  Secret<32>& out) {
  std::uint64_t n = std::uint64_t{1} << p.log2_n;
  // scrypt needs 128*N*r*p bytes; allow that plus slack.
  std::uint64_t maxmem = 128 * n * p.r * p.p + (16u << 20);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), n, p.r, p.p,
                     maxmem, out.b.data(), out.b.size()) != 1) {
    return make_error("kdf_failed", "scrypt key derivation failed (out of memory?)");
  }
  return ok_status();
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx new_ctx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) std::abort();
  return ctx;
}

std::string aad_of(const Json& keystore) {
  Json a = keystore;
  a.erase("ciphertext");
  if (a.contains("cipher") && a["cipher"].is_object()) a["cipher"].erase("tag");
  auto text = canonical_json(a);
  return text ? *text : std::string();
}

Result<Bytes> get_hex(const Json& obj, const char* name, std::size_t bytes) {
  if (!obj.is_object() || !obj.contains(name) || !obj[name].is_string()) {
    return bad_keystore(std::string("missing or non-string \"") + name + "\"");
  }
  auto b = hex_decode_canonical(obj[name].get<std::string>(), bytes);
  if (!b) return bad_keystore(std::string("\"") + name + "\": " + b.error().message);
  return b;
}

Result<int> get_int(const Json& obj, const char* name) {
  if (!obj.is_object() || !obj.contains(name) || !obj[name].is_number_integer()) {
    return bad_keystore(std::string("missing or non-integer \"") + name + "\"");
  }
  auto v = obj[name].get<std::int64_t>();
  if (v < 0 || v > 1'000'000) return bad_keystore(std::string("\"") + name + "\" out of range");
  return static_cast<int>(v);
}

}  // namespace

Result<Json> keystore_encrypt(const PrivateKey& key, const std::string& passphrase,
                              const ScryptParams& params) {
  if (passphrase.empty()) return make_error("bad_passphrase", "the passphrase must not be empty");
  if (auto s = check_params(params); !s) return s.error();

  std::array<std::uint8_t, kSaltBytes> salt;
  std::array<std::uint8_t, kIvBytes> iv;
  if (RAND_bytes(salt.data(), salt.size()) != 1 || RAND_bytes(iv.data(), iv.size()) != 1) {
    std::abort();
  }
  Secret<32> aes_key;
  if (auto s = derive_key(passphrase, salt, params, aes_key); !s) return s.error();

  Json ks = {{"version", kVersion},
             {"public_key", key.public_key().hex()},
             {"kdf",
              {{"name", "scrypt"},
               {"log2_n", params.log2_n},
               {"r", params.r},
               {"p", params.p},
               {"salt", hex_encode(salt)}}},
             {"cipher", {{"name", "aes-256-gcm"}, {"iv", hex_encode(iv)}}}};
  std::string aad = aad_of(ks);

  auto ctx = new_ctx();
  std::array<std::uint8_t, 32> ciphertext;
  std::array<std::uint8_t, kTagBytes> tag;
  int len = 0;
  bool ok =
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, aes_key.b.data(), iv.data()) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), ciphertext.data(), &len, key.secret().data(),
                        static_cast<int>(key.secret().size())) == 1 &&
      len == 32 && EVP_EncryptFinal_ex(ctx.get(), ciphertext.data() + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) == 1;
  if (!ok) std::abort();  // only a broken OpenSSL fails here
  ks["cipher"]["tag"] = hex_encode(tag);
  ks["ciphertext"] = hex_encode(ciphertext);
  return ks;
}

Result<PublicKey> keystore_public_key(const Json& ks) {
  auto pk = get_hex(ks, "public_key", 33);
  if (!pk) return pk.error();
  auto key = PublicKey::parse(*pk);
  if (!key) return bad_keystore(key.error().message);
  return key;
}

Result<PrivateKey> keystore_decrypt(const Json& ks, const std::string& passphrase) {
  if (!ks.is_object()) return bad_keystore("keystore must be a JSON object");
  auto version = get_int(ks, "version");
  if (!version) return version.error();
  if (*version != kVersion) return bad_keystore("unsupported keystore version");
  auto pub = keystore_public_key(ks);
  if (!pub) return pub.error();

  if (!ks.contains("kdf") || !ks["kdf"].is_object() || ks["kdf"].value("name", "") != "scrypt") {
    return bad_keystore("kdf must be scrypt");
  }
  const Json& kdf = ks["kdf"];
  ScryptParams params;
  auto log2_n = get_int(kdf, "log2_n");
  auto r = get_int(kdf, "r");
  auto p = get_int(kdf, "p");
  if (!log2_n || !r || !p) return bad_keystore("kdf parameters missing or malformed");
  params = {*log2_n, *r, *p};
  if (auto s = check_params(params); !s) return bad_keystore(s.error().message);
  auto salt = get_hex(kdf, "salt", kSaltBytes);
  if (!salt) return salt.error();

  if (!ks.contains("cipher") || !ks["cipher"].is_object() ||
      ks["cipher"].value("name", "") != "aes-256-gcm") {
    return bad_keystore("cipher must be aes-256-gcm");
  }
  auto iv = get_hex(ks["cipher"], "iv", kIvBytes);
  if (!iv) return iv.error();
  auto tag = get_hex(ks["cipher"], "tag", kTagBytes);
  if (!tag) return tag.error();
  auto ciphertext = get_hex(ks, "ciphertext", 32);
  if (!ciphertext) return ciphertext.error();

  Secret<32> aes_key;
  if (auto s = derive_key(passphrase, *salt, params, aes_key); !s) return s.error();
  std::string aad = aad_of(ks);

  auto ctx = new_ctx();
  Secret<32> plain;
  int len = 0;
  bool setup = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, aes_key.b.data(),
                                  iv->data()) == 1 &&
               EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                                 reinterpret_cast<const unsigned char*>(aad.data()),
                                 static_cast<int>(aad.size())) == 1 &&
               EVP_DecryptUpdate(ctx.get(), plain.b.data(), &len, ciphertext->data(), 32) == 1 &&
               len == 32 &&
               EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag->data()) == 1;
  if (!setup) std::abort();
  if (EVP_DecryptFinal_ex(ctx.get(), plain.b.data() + len, &len) != 1) {
    return make_error("wrong_passphrase",
                      "cannot decrypt the keystore: wrong passphrase, or the file was altered");
  }
  auto key = PrivateKey::from_bytes(plain.b);
  if (!key) return bad_keystore("decrypted key is invalid");
  if (key->public_key() != *pub) return bad_keystore("decrypted key does not match public_key");
  return key;
}

Status keystore_write_file(const std::filesystem::path& path, const Json& keystore) {
  return write_file_atomic(path, keystore.dump(2) + "\n", 0600, Overwrite::kRefuse);
}

Result<Json> keystore_read_file(const std::filesystem::path& path) {
  auto text = read_file_bounded(path.string(), kKeystoreBytesMax);
  if (!text) return bad_keystore(text.error().message);
  auto j = parse_json_strict(*text);
  if (!j) return bad_keystore(path.string() + ": " + j.error().message);
  return j;
}

}  // namespace custos::wallet
