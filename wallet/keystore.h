// The keystore: one private key in a file, encrypted under a passphrase.
//
// File format (JSON, documented with a vector in docs/formats.md):
//   {"version":1, "public_key":HEX33,
//    "kdf":{"name":"scrypt","log2_n":15,"r":8,"p":1,"salt":HEX16},
//    "cipher":{"name":"aes-256-gcm","iv":HEX12,"tag":HEX16}, "ciphertext":HEX32}
// The AES-256-GCM key is scrypt(passphrase, salt); the additional
// authenticated data is the canonical JSON of the file without "ciphertext"
// and without "cipher.tag", so no clear-text member can be altered unnoticed.
#pragma once

#include <filesystem>
#include <string>

#include "core/json.h"
#include "core/keys.h"

namespace custos::wallet {

struct ScryptParams {
  int log2_n = 15;  // N = 32768: about 32 MiB of memory and ~0.1 s per unlock
  int r = 8;
  int p = 1;
};

// Refuses parameters a hostile file could use to exhaust memory or time.
inline constexpr int kScryptLog2NMax = 20;
inline constexpr int kScryptRMax = 16;
inline constexpr int kScryptPMax = 4;
inline constexpr std::size_t kKeystoreBytesMax = 4096;

// Encrypts `key` and returns the keystore JSON. Errors: "bad_passphrase"
// (empty), "bad_kdf_params".
Result<Json> keystore_encrypt(const PrivateKey& key, const std::string& passphrase,
                              const ScryptParams& params = {});

// Decrypts a keystore. Errors: "bad_keystore" (malformed file),
// "wrong_passphrase" (authentication failed: wrong passphrase or a tampered
// file; the two cannot be told apart by design).
Result<PrivateKey> keystore_decrypt(const Json& keystore, const std::string& passphrase);

// The public key recorded in clear in the file (no passphrase needed).
Result<PublicKey> keystore_public_key(const Json& keystore);

// Writes a new keystore file with mode 0600, atomically (temporary file,
// fsync, rename). Refuses ("file_exists") to overwrite an existing file.
Status keystore_write_file(const std::filesystem::path& path, const Json& keystore);
Result<Json> keystore_read_file(const std::filesystem::path& path);

}  // namespace custos::wallet
