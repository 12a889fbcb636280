#include "core/node_key.h"

#include "core/json.h"

namespace custos {

std::string node_key_file_text(const PrivateKey& key) {
  Json j = {{"custos_node_key", 1}, {"private_key", hex_encode(key.secret())}};
  auto text = canonical_json(j);
  if (!text) std::abort();  // built from a number and hex digits
  return *text + "\n";
}

Result<PrivateKey> node_key_from_text(std::string_view text) {
  auto bad = [](const std::string& what) { return make_error("bad_node_key", what); };
  if (text.size() > kNodeKeyFileBytesMax) return bad("a node key file is a few dozen bytes");
  auto j = parse_json_strict(text);
  if (!j) return bad("not JSON: " + j.error().message);
  if (!j->is_object() || j->size() != 2 || !j->contains("custos_node_key") ||
      !j->contains("private_key")) {
    return bad("expected {\"custos_node_key\": 1, \"private_key\": HEX}");
  }
  if ((*j)["custos_node_key"] != 1) return bad("unknown node key file version");
  const Json& hex = (*j)["private_key"];
  if (!hex.is_string()) return bad("\"private_key\" must be 64 lowercase hex digits");
  auto bytes = hex_decode_canonical(hex.get<std::string>(), 32);
  if (!bytes) return bad("\"private_key\" must be 64 lowercase hex digits");
  auto key = PrivateKey::from_bytes(*bytes);
  if (!key) return bad("\"private_key\" is not a valid secp256k1 scalar");
  return key;
}

}  // namespace custos
