#include "core/tx.h"

#include <algorithm>
#include <cstdlib>
#include <set>

namespace custos {
namespace {

Error bad_tx(const std::string& what) {
  return make_error("bad_tx", what);
}

// Checks that `obj` has exactly the members in `allowed` (all required).
Status require_members(const Json& obj, const std::set<std::string>& allowed,
                       const std::string& where) {
  if (!obj.is_object()) return bad_tx(where + " must be a JSON object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.contains(it.key()))
      return bad_tx(where + " has unknown member \"" + it.key() + "\"");
  }
  for (const auto& name : allowed) {
    if (!obj.contains(name)) return bad_tx(where + " lacks member \"" + name + "\"");
  }
  return ok_status();
}

Result<std::string> get_string(const Json& obj, const char* name) {
  const Json& v = obj.at(name);
  if (!v.is_string()) return bad_tx(std::string("\"") + name + "\" must be a string");
  return v.get<std::string>();
}

// One 1..64-character id: an alphanumeric first character, then alphanumerics,
// '.', '_' or '-'. Network-wide names are lowercase; case and item ids, which
// copy outside references, may hold capitals.
bool is_id(std::string_view s, bool allow_upper) {
  if (s.empty() || s.size() > 64) return false;
  auto alnum = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (allow_upper && c >= 'A' && c <= 'Z');
  };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

}  // namespace

bool is_identifier(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_network_id(std::string_view s) {
  return is_id(s, false);
}

bool is_object_id(std::string_view s) {
  return is_id(s, true);
}

std::string Transaction::body_canonical() const {
  Json body = to_json();
  body.erase("signatures");
  auto text = canonical_json(body);
  // A Transaction that passed tx_from_json always encodes; one built in code
  // with, say, a float in args is a programming error.
  if (!text) std::abort();
  return std::move(text).value();
}

Hash256 Transaction::id() const {
  return tagged_hash(kTxTag, body_canonical());
}

Json Transaction::to_json() const {
  Json sigs = Json::array();
  for (const auto& s : signatures) {
    sigs.push_back({{"public_key", s.public_key.hex()}, {"signature", s.signature.hex()}});
  }
  return Json{{"network_id", network_id}, {"chaincode", chaincode},
              {"function", function},     {"args", args},
              {"nonce", nonce},           {"created_at_ms", created_at_ms},
              {"signatures", sigs}};
}

Status Transaction::sign(const PrivateKey& key) {
  PublicKey pub = key.public_key();
  if (signer_index(pub)) {
    return make_error("already_signed", "this key has already signed the transaction");
  }
  if (signatures.size() >= kTxSignaturesMax) {
    return make_error("too_many_signatures", "a transaction carries at most " +
                                                 std::to_string(kTxSignaturesMax) + " signatures");
  }
  signatures.push_back({pub, key.sign(id().view())});
  return ok_status();
}

std::vector<bool> Transaction::verify_signatures() const {
  Hash256 tx_id = id();
  std::vector<bool> out;
  out.reserve(signatures.size());
  for (const auto& s : signatures) {
    out.push_back(verify_compact(s.public_key, tx_id.view(), s.signature.compact));
  }
  return out;
}

bool Transaction::fully_signed() const {
  auto results = verify_signatures();
  return !results.empty() && std::all_of(results.begin(), results.end(), [](bool b) { return b; });
}

std::optional<std::size_t> Transaction::signer_index(const PublicKey& key) const {
  for (std::size_t i = 0; i < signatures.size(); ++i) {
    if (signatures[i].public_key == key) return i;
  }
  return std::nullopt;
}

namespace {

// Containers nested in v, v itself counting; counts no further than `stop`.
std::size_t nesting(const Json& v, std::size_t stop) {
  if (!v.is_structured()) return 0;
  std::size_t deepest = 0;
  if (stop > 1) {
    for (const Json& child : v) deepest = std::max(deepest, nesting(child, stop - 1));
  }
  return 1 + deepest;
}

}  // namespace

Result<Transaction> tx_from_json(const Json& j) {
  static const std::set<std::string> kMembers = {"network_id", "chaincode",     "function",  "args",
                                                 "nonce",      "created_at_ms", "signatures"};
  if (auto s = require_members(j, kMembers, "transaction"); !s) return s.error();

  Transaction tx;
  auto network_id = get_string(j, "network_id");
  if (!network_id) return network_id.error();
  if (!is_network_id(*network_id)) {
    return bad_tx("\"network_id\" must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  tx.network_id = *network_id;

  auto chaincode = get_string(j, "chaincode");
  if (!chaincode) return chaincode.error();
  if (!is_identifier(*chaincode, 32))
    return bad_tx("\"chaincode\" must match [a-z][a-z0-9_]{0,31}");
  tx.chaincode = *chaincode;

  auto function = get_string(j, "function");
  if (!function) return function.error();
  if (!is_identifier(*function, 64)) return bad_tx("\"function\" must match [a-z][a-z0-9_]{0,63}");
  tx.function = *function;

  if (!j.at("args").is_object()) return bad_tx("\"args\" must be a JSON object");
  if (nesting(j.at("args"), kTxArgsDepthMax + 1) > kTxArgsDepthMax) {
    return bad_tx("\"args\" nests deeper than " + std::to_string(kTxArgsDepthMax) +
                  " levels, which a block could not hold");
  }
  if (auto c = canonical_json(j.at("args")); !c) return bad_tx("\"args\": " + c.error().message);
  tx.args = j.at("args");

  auto nonce = get_string(j, "nonce");
  if (!nonce) return nonce.error();
  auto nonce_bytes = hex_decode(*nonce);
  if (!nonce_bytes || nonce_bytes->size() < kTxNonceBytesMin ||
      nonce_bytes->size() > kTxNonceBytesMax || hex_encode(*nonce_bytes) != *nonce) {
    return bad_tx("\"nonce\" must be 16 to 64 lowercase hex digits");
  }
  tx.nonce = *nonce;

  const Json& created = j.at("created_at_ms");
  if (!created.is_number_integer() || created.get<std::int64_t>() < 0 ||
      created.get<std::int64_t>() > kJsonIntegerMax) {
    return bad_tx("\"created_at_ms\" must be an integer from 0 to 2^53-1");
  }
  tx.created_at_ms = created.get<std::int64_t>();

  const Json& sigs = j.at("signatures");
  if (!sigs.is_array()) return bad_tx("\"signatures\" must be an array");
  if (sigs.size() > kTxSignaturesMax) {
    return bad_tx("at most " + std::to_string(kTxSignaturesMax) + " signatures are allowed");
  }
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    std::string where = "signatures[" + std::to_string(i) + "]";
    if (auto s = require_members(sigs[i], {"public_key", "signature"}, where); !s) {
      return s.error();
    }
    auto pk_text = get_string(sigs[i], "public_key");
    if (!pk_text) return pk_text.error();
    auto pk_bytes = hex_decode_canonical(*pk_text, 33);
    if (!pk_bytes) return bad_tx(where + ".public_key: " + pk_bytes.error().message);
    auto pk = PublicKey::parse(*pk_bytes);
    if (!pk) return bad_tx(where + ".public_key: " + pk.error().message);

    auto sig_text = get_string(sigs[i], "signature");
    if (!sig_text) return sig_text.error();
    auto sig_bytes = hex_decode_canonical(*sig_text, 64);
    if (!sig_bytes) return bad_tx(where + ".signature: " + sig_bytes.error().message);
    Signature sig;
    std::copy(sig_bytes->begin(), sig_bytes->end(), sig.compact.begin());

    if (tx.signer_index(*pk)) return bad_tx(where + ": the same key signed twice");
    tx.signatures.push_back({*pk, sig});
  }
  return tx;
}

namespace {

Status tx_text_within_limit(std::size_t bytes) {
  if (bytes > kTxBytesMax) {
    return bad_tx("transaction is " + std::to_string(bytes) + " bytes; the limit is " +
                  std::to_string(kTxBytesMax));
  }
  return ok_status();
}

}  // namespace

Result<Transaction> tx_parse(std::string_view text) {
  if (auto s = tx_text_within_limit(text.size()); !s) return s.error();
  auto j = parse_json_strict(text);
  if (!j) return make_error("bad_tx", "transaction is not valid JSON: " + j.error().message);
  return tx_from_json(*j);
}

Result<Transaction> tx_from_parsed_json(const Json& envelope) {
  if (auto s = tx_text_within_limit(envelope.dump().size()); !s) return s.error();
  return tx_from_json(envelope);
}

}  // namespace custos
