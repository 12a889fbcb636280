// The transaction envelope: what a client signs and a node orders.
//
// The tx id is tagged_hash("custos/tx/v1", JCS(body)), where body is the
// envelope without "signatures". Every signer signs the 32 tx id bytes with
// ECDSA/SHA-256 (so the signed digest is SHA-256(tx id)); a handover carries
// the signatures of both custodians. docs/formats.md has worked vectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/json.h"
#include "core/keys.h"

namespace custos {

inline constexpr std::string_view kTxTag = "custos/tx/v1";
inline constexpr std::size_t kTxBytesMax = 64 * 1024;  // envelope JSON text
// How deep args may nest, args itself counting as 1: a block holds its
// transactions two levels down (block object, txs array; the envelope is a
// third), and every node parses and encodes whole blocks within
// kJsonDepthMax, so deeper args could be admitted but never committed.
inline constexpr std::size_t kTxArgsDepthMax = kJsonDepthMax - 3;
inline constexpr std::size_t kTxSignaturesMax = 8;
inline constexpr std::size_t kTxNonceBytesMin = 8;
inline constexpr std::size_t kTxNonceBytesMax = 32;

struct TxSignature {
  PublicKey public_key;
  Signature signature;
};

struct Transaction {
  std::string network_id;  // [a-z0-9][a-z0-9._-]{0,63}
  std::string chaincode;   // [a-z][a-z0-9_]{0,31}
  std::string function;    // [a-z][a-z0-9_]{0,63}
  Json args = Json::object();
  std::string nonce;           // lowercase hex, 8..32 bytes; makes equal requests distinct
  std::int64_t created_at_ms;  // declared by the client, Unix epoch milliseconds
  std::vector<TxSignature> signatures;

  // The canonical (JCS) text of everything except the signatures.
  std::string body_canonical() const;
  Hash256 id() const;
  Json to_json() const;

  // Appends this key's signature over id(). Refuses ("already_signed") a key
  // that has signed already and ("too_many_signatures") past the limit.
  Status sign(const PrivateKey& key);

  // One entry per signature, in order: does it verify against id()?
  std::vector<bool> verify_signatures() const;
  // True iff there is at least one signature and every one verifies.
  bool fully_signed() const;
  std::optional<std::size_t> signer_index(const PublicKey& key) const;
};

// Checks the shape of an envelope: exactly the known members, each of the
// right type and form, args an object, at most kTxSignaturesMax signatures of
// distinct keys. Errors use code "bad_tx" with the offending member named.
// Signatures are not verified here: see verify_signatures().
Result<Transaction> tx_from_json(const Json& envelope);
// parse_json_strict + tx_from_json, refusing texts over kTxBytesMax.
Result<Transaction> tx_parse(std::string_view text);
// tx_parse for an envelope already read by parse_json_strict as part of a
// larger text (a batch of envelopes): tx_from_json, refusing ("bad_tx") an
// envelope whose compact JSON text, as nodes pass it on, is over kTxBytesMax.
Result<Transaction> tx_from_parsed_json(const Json& envelope);

// Helpers shared with other envelopes (blocks, later chaincode args).
bool is_identifier(std::string_view s, std::size_t max_len);  // [a-z][a-z0-9_]*
bool is_network_id(std::string_view s);  // [a-z0-9][a-z0-9._-]{0,63}; also org, identity, node ids
bool is_object_id(std::string_view s);   // [A-Za-z0-9][A-Za-z0-9._-]{0,63}; case and item ids

}  // namespace custos
