#include <doctest/doctest.h>

#include "core/json.h"
#include "tests/test_util.h"

using namespace custos;
using custos::testing::read_text;
using custos::testing::source_path;

namespace {

std::string canon(std::string_view text) {
  auto j = parse_json_strict(text);
  REQUIRE_MESSAGE(j.ok(), (j.ok() ? "" : j.error().message));
  auto c = canonical_json(*j);
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  return *c;
}

std::string refusal(std::string_view text) {
  auto j = parse_json_strict(text);
  REQUIRE_MESSAGE(!j.ok(), text);
  CHECK(j.error().code == "bad_json");
  return j.error().message;
}

std::string jcs_file(const std::string& dir, const std::string& name) {
  return read_text(source_path("tests/vectors/jcs/" + dir + "/" + name));
}

}  // namespace

TEST_CASE("RFC 8785 vectors that hold only integers canonicalise exactly") {
  for (const char* name : {"arrays.json", "french.json", "unicode.json", "weird.json"}) {
    CAPTURE(name);
    CHECK(canon(jcs_file("input", name)) == jcs_file("output", name));
  }
}

TEST_CASE("RFC 8785 vectors with floats are refused with a clear error") {
  // values.json is all about number formatting, which our encoding excludes.
  CHECK(refusal(jcs_file("input", "values.json")).find("not an integer") != std::string::npos);
  // structures.json holds one float (56.0); with it the file is refused ...
  std::string structures = jcs_file("input", "structures.json");
  CHECK(refusal(structures).find("56.0") != std::string::npos);
  // ... and with 56.0 written as the integer 56 its key order matches the RFC's.
  structures.replace(structures.find("56.0"), 4, "56");
  CHECK(canon(structures) == jcs_file("output", "structures.json"));
}

TEST_CASE("keys sort by UTF-16 code units, not UTF-8 bytes") {
  // U+1F602 is D83D DE02 in UTF-16 (sorts before U+FB33) although its UTF-8
  // form F0... sorts after EF AC B3.
  CHECK(canon(R"({"\ufb33":1,"\ud83d\ude02":2})") == "{\"\xF0\x9F\x98\x82\":2,\"\xEF\xAC\xB3\":1}");
  CHECK(canon(R"({"b":1,"a":2,"":3,"aa":4})") == R"({"":3,"a":2,"aa":4,"b":1})");
}

TEST_CASE("string escaping follows the RFC") {
  CHECK(canon(R"(["\u0000\u001f\b\f\n\r\t\"\\\/\u007f\u00e9"])") ==
        "[\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\x7f\xC3\xA9\"]");
  CHECK(canon(R"(["\u2028"])") == "[\"\xE2\x80\xA8\"]");  // not escaped, as in ES2019
}

TEST_CASE("integers at the edge of the allowed range") {
  CHECK(canon("[9007199254740991,-9007199254740991,0,-0]") ==
        "[9007199254740991,-9007199254740991,0,0]");
  refusal("9007199254740992");
  refusal("-9007199254740992");
  CHECK(refusal("18446744073709551616").find("out of range") != std::string::npos);
  CHECK(refusal(R"({"a":{"amount_minor":18446744073709551616}})").find("/a/amount_minor") !=
        std::string::npos);
  CHECK(refusal(R"({"list":[1,2,3.5]})").find("/list/2") != std::string::npos);
  CHECK(!canonical_json(Json(std::int64_t{1} << 53)).ok());
  CHECK(!canonical_json(Json(std::uint64_t{1} << 60)).ok());
}

TEST_CASE("every refusal path is reachable") {
  CHECK(refusal(R"({"a":1,"a":2})").find("duplicate key") != std::string::npos);
  CHECK(refusal(R"({"x":{"a":1,"b":{"c":1,"c":1}}})").find("/x/b") != std::string::npos);
  CHECK(refusal("1.5").find("not an integer") != std::string::npos);
  refusal("1e3");
  refusal("[1.0]");
  refusal("\"\xC3\"");              // truncated UTF-8
  refusal("\"\xC0\xAF\"");          // overlong
  refusal("\"\xED\xA0\x80\"");      // surrogate encoded in UTF-8
  refusal("\"\xF4\x90\x80\x80\"");  // above U+10FFFF
  refusal(R"("\ud800")");           // lone high surrogate
  refusal(R"("\udc00")");           // lone low surrogate
  refusal(R"("\ud800x")");
  refusal("{} {}");  // trailing data
  refusal("{");
  refusal("");
  refusal("\xEF\xBB\xBF{}");  // byte-order mark
  CHECK(refusal(std::string("{}\0xyz", 6)).find("NUL") != std::string::npos);
  refusal(std::string("\"a\0b\"", 5));  // raw NUL inside a string
  refusal("[1,]");
  refusal("/* comment */ 1");
  std::string deep(65, '[');
  deep += std::string(65, ']');
  CHECK(refusal(deep).find("deeper") != std::string::npos);
  std::string ok_depth = std::string(64, '[') + std::string(64, ']');
  CHECK(parse_json_strict(ok_depth).ok());
}

TEST_CASE("the canonical writer refuses values built in code that JSON cannot carry") {
  CHECK(canonical_json(Json(1.5)).error().code == "bad_json");
  CHECK(!canonical_json(Json("\xff")).ok());
  Json obj;
  obj["\xC3"] = 1;
  CHECK(!canonical_json(obj).ok());
  CHECK(!canonical_json(Json::binary({1, 2})).ok());
}

TEST_CASE("canonical form is idempotent and order-independent") {
  std::string a = canon(R"({"z":[1,{"b":true,"a":null}],"y":"s"})");
  CHECK(canon(a) == a);
  CHECK(canon(R"({ "y" : "s", "z" : [ 1 , { "a" : null , "b" : true } ] })") == a);
}

TEST_CASE("json_member_text and json_element_text find one part and step over the rest") {
  const std::string text =
      R"({"a":{"x":[1,{"y":"}]"}]},"b" : "q\"uo\\te,]}" , "txs":[ {"k":[]} ,"s\\\",x",-12,true,null,[[],{}],"end\\" ]})";
  auto a = json_member_text(text, "a");
  REQUIRE(a.ok());
  CHECK(*a == R"({"x":[1,{"y":"}]"}]})");
  auto b = json_member_text(text, "b");
  REQUIRE(b.ok());
  CHECK(*b == R"("q\"uo\\te,]}")");
  auto txs = json_member_text(text, "txs");
  REQUIRE(txs.ok());
  const std::vector<std::string> elements = {R"({"k":[]})", R"("s\\\",x")", "-12",       "true",
                                             "null",        "[[],{}]",      R"("end\\")"};
  for (std::size_t i = 0; i < elements.size(); ++i) {
    auto e = json_element_text(*txs, i);
    REQUIRE(e.ok());
    CHECK(*e == elements[i]);
    // Every slice is the element itself: it parses to what the whole text holds.
    CHECK(*parse_json_strict(*e) == (*parse_json_strict(text))["txs"][i]);
  }
  // A name inside a nested value or a string is not a member of the top level.
  CHECK(json_member_text(text, "x").error().code == "json_absent");
  CHECK(json_member_text(text, "y").error().code == "json_absent");
  CHECK(json_element_text(*txs, elements.size()).error().code == "json_absent");
  CHECK(json_element_text("[]", 0).error().code == "json_absent");
  CHECK(json_member_text("{}", "a").error().code == "json_absent");
}

TEST_CASE("json_member_text and json_element_text refuse malformed text instead of guessing") {
  for (std::string_view bad :
       {"", "[]", "{", R"({"a")", R"({"a":})", R"({"a":1,})", R"({"a":1 "b":2})", R"({"a":"open)",
        R"({"a":[1,2})", R"({a:1})", R"({"a":1]})"}) {
    auto r = json_member_text(bad, "b");
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) CHECK_MESSAGE(r.error().code == "bad_json", bad);
  }
  for (std::string_view bad : {"", "{}", "[", "[1,", "[1 2]", "[,]", R"(["a)", "[{]"}) {
    auto r = json_element_text(bad, 5);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) CHECK_MESSAGE(r.error().code == "bad_json", bad);
  }
  // Nesting deeper than a parse would accept is refused, not recursed into.
  std::string deep =
      R"({"a":)" + std::string(kJsonDepthMax + 2, '[') + std::string(kJsonDepthMax + 2, ']') + "}";
  CHECK(json_member_text(deep, "a").error().code == "bad_json");
}
