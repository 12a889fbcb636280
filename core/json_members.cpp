#include "core/json_members.h"

#include <string>

namespace custos {

bool is_json_u53(const Json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>() <= std::uint64_t(kJsonIntegerMax);
  return v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
         v.get<std::int64_t>() <= kJsonIntegerMax;
}

Result<std::uint64_t> json_u53_member(const Json& j, const char* name, std::string_view code) {
  const Json& v = j.at(name);
  if (!is_json_u53(v)) {
    return make_error(std::string(code),
                      std::string("\"") + name + "\" must be an integer from 0 to 2^53-1");
  }
  return v.get<std::uint64_t>();
}

Result<Hash256> json_hash_member(const Json& j, const char* name, std::string_view code) {
  const Json& v = j.at(name);
  if (v.is_string()) {
    if (auto h = Hash256::from_hex(v.get<std::string>())) return *h;
  }
  return make_error(std::string(code),
                    std::string("\"") + name + "\" must be 64 lowercase hex digits");
}

}  // namespace custos
