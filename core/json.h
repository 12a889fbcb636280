// JSON for everything Custos hashes or signs: a strict parser and the RFC 8785
// (JCS) canonical serialisation, restricted to integers in ±(2^53−1).
//
// Values are nlohmann::json. Only these are ever produced by parse_json_strict
// and accepted by canonical_json: null, booleans, integers within
// ±kJsonIntegerMax, strings of valid UTF-8, arrays, objects. Floats are
// refused because two languages rarely print them alike; large integers
// because a JavaScript verifier could not hold them exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace custos {

using Json = nlohmann::json;
// A parsed value shared read-only between its holders (a cache and its
// readers), so that reading it copies a pointer instead of a tree.
using SharedJson = std::shared_ptr<const Json>;

inline constexpr std::int64_t kJsonIntegerMax = (std::int64_t{1} << 53) - 1;
inline constexpr std::size_t kJsonDepthMax = 64;

// Parses one JSON text. Refuses, with code "bad_json" and a message that says
// where and why: syntax errors, trailing data, duplicate object keys, numbers
// with a fraction or exponent, integers outside ±kJsonIntegerMax, invalid
// UTF-8, escaped lone surrogates, nesting deeper than kJsonDepthMax.
Result<Json> parse_json_strict(std::string_view text);

// The RFC 8785 canonical form: no whitespace, object members sorted by the
// UTF-16 code units of their names, strings escaped as ECMAScript's
// JSON.stringify does. Refuses ("bad_json") floats, out-of-range integers,
// strings or names that are not valid UTF-8, and binary values.
Result<std::string> canonical_json(const Json& value);

// One part of a large JSON text, found by stepping over the rest without
// building it: the value of the member `name` of an object text, or element
// `index` of an array text, as the slice of `text` that holds it (leading
// and trailing whitespace excluded; the caller parses it). For reading one
// transaction of a stored block instead of the whole block. Member names
// are compared as written between their quotes, which is how canonical JSON
// writes every name without escapes. Errors: "json_absent" when the text is
// well formed as far as read but has no such member or element; "bad_json"
// when it is not an object (array) or is malformed where it was read (the
// parts not stepped over are not checked), or nests deeper than
// kJsonDepthMax.
Result<std::string_view> json_member_text(std::string_view text, std::string_view name);
Result<std::string_view> json_element_text(std::string_view text, std::size_t index);

}  // namespace custos
