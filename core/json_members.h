// Reading typed members of a parsed JSON object, for the parsers of signed
// structures (block headers, head statements, bundles). Each error names the
// member and carries the caller's error code.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/hash.h"
#include "core/json.h"
#include "core/result.h"

namespace custos {

// An integer in 0..2^53-1, however the parser typed it (parse_json_strict
// gives integers as signed, nlohmann's own parser non-negative ones as
// unsigned).
bool is_json_u53(const Json& v);

// j[name] as such an integer. Precondition: j is an object holding `name`.
Result<std::uint64_t> json_u53_member(const Json& j, const char* name, std::string_view code);
// j[name] as a hash of 64 lowercase hex digits. Same precondition.
Result<Hash256> json_hash_member(const Json& j, const char* name, std::string_view code);

}  // namespace custos
