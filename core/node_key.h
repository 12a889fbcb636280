// A node's signing key file: the secp256k1 key a node signs head statements
// with (core/signed_head.h). Its public half is the node's key in the genesis
// file or on chain (node/<id>).
//
//   {"custos_node_key": 1, "private_key": "<64 lowercase hex digits>"}
//
// The file is written once with mode 0600 and never overwritten (`custos
// node-key --out FILE`); docs/formats.md §14 and docs/operations.md. Unlike a
// keystore it is not encrypted: a node signs unattended, so the file's
// protection is its mode and the machine's.
#pragma once

#include <string>
#include <string_view>

#include "core/keys.h"
#include "core/result.h"

namespace custos {

inline constexpr std::size_t kNodeKeyFileBytesMax = 4096;

// The file's text for `key` (JCS of the object above, then a newline).
std::string node_key_file_text(const PrivateKey& key);

// Parses a node key file's text: exactly the two members, version 1, the key
// as canonical hex of a valid scalar. Errors: "bad_node_key" saying what is
// wrong (never echoing the secret).
Result<PrivateKey> node_key_from_text(std::string_view text);

}  // namespace custos
