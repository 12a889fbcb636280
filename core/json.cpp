#include "core/json.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

namespace custos {
namespace {

std::string describe_path(const std::vector<std::string>& path) {
  if (path.empty()) return "at the top level";
  std::string out = "at ";
  for (const auto& p : path) out += "/" + p;
  return out;
}

// Builds the DOM while enforcing the rules nlohmann's own parser leaves open:
// duplicate keys (it keeps the last), floats and the integer range. Syntax,
// UTF-8 validity and surrogate pairing are already checked by its lexer.
class StrictBuilder : public nlohmann::json_sax<Json> {
 public:
  Json root;
  std::string failure;

  bool null() override { return put(Json(nullptr)); }
  bool boolean(bool v) override { return put(Json(v)); }
  bool number_integer(number_integer_t v) override {
    if (v > kJsonIntegerMax || v < -kJsonIntegerMax) {
      return fail_at_value("integer out of range ±(2^53-1)");
    }
    return put(Json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (v > static_cast<number_unsigned_t>(kJsonIntegerMax)) {
      return fail_at_value("integer out of range ±(2^53-1)");
    }
    return put(Json(static_cast<number_integer_t>(v)));
  }
  bool number_float(number_float_t, const string_t& text) override {
    // Integers beyond 64 bits arrive here too; call them what they are.
    bool digits_only = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '-';
    });
    if (digits_only) return fail_at_value("integer " + text + " out of range ±(2^53-1)");
    return fail_at_value("number " + text + " is not an integer (floats are not allowed)");
  }
  bool string(string_t& v) override { return put(Json(std::move(v))); }
  bool binary(binary_t&) override { return fail("binary values are not JSON"); }

  bool start_object(std::size_t) override { return open(Json::object()); }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) return fail("duplicate key \"" + k + "\"");
    pending_key_ = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    if (failure.empty()) failure = strip_prefix(ex.what());
    return false;
  }

 private:
  static std::string strip_prefix(const std::string& what) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    auto pos = what.find("] ");
    return pos == std::string::npos ? what : what.substr(pos + 2);
  }

  bool fail(std::string why) {
    failure = why + " " + describe_path(path_);
    return false;
  }

  // For a scalar about to be stored: names its own member or index too.
  bool fail_at_value(std::string why) {
    std::vector<std::string> at = path_;
    if (!stack_.empty()) {
      at.push_back(stack_.back()->is_object() ? pending_key_
                                              : std::to_string(stack_.back()->size()));
    }
    failure = why + " " + describe_path(at);
    return false;
  }

  bool put(Json v) {
    if (stack_.empty()) {
      root = std::move(v);
      return true;
    }
    Json& top = *stack_.back();
    if (top.is_object()) {
      top[pending_key_] = std::move(v);
    } else {
      top.push_back(std::move(v));
    }
    return true;
  }

  bool open(Json empty) {
    if (stack_.size() >= kJsonDepthMax) return fail("nesting deeper than 64");
    Json* slot;
    if (stack_.empty()) {
      root = std::move(empty);
      slot = &root;
    } else if (stack_.back()->is_object()) {
      path_.push_back(pending_key_);
      slot = &((*stack_.back())[pending_key_] = std::move(empty));
    } else {
      path_.push_back(std::to_string(stack_.back()->size()));
      stack_.back()->push_back(std::move(empty));
      slot = &stack_.back()->back();
    }
    stack_.push_back(slot);
    keys_.emplace_back();
    return true;
  }

  bool close() {
    stack_.pop_back();
    keys_.pop_back();
    if (!stack_.empty()) path_.pop_back();
    return true;
  }

  std::vector<Json*> stack_;
  std::vector<std::set<std::string>> keys_;
  std::vector<std::string> path_;
  std::string pending_key_;
};

// Decodes UTF-8 into code points; false on any ill-formed sequence (overlong
// forms, surrogates, values above U+10FFFF, truncation).
bool decode_utf8(std::string_view s, std::vector<char32_t>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    int len;
    char32_t cp;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2, cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3, cp = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4, cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr char32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    out.push_back(cp);
    i += len;
  }
  return true;
}

std::u16string to_utf16(const std::vector<char32_t>& cps) {
  std::u16string out;
  for (char32_t cp : cps) {
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

class CanonicalWriter {
 public:
  std::string out;
  std::string failure;

  bool write(const Json& v, std::size_t depth) {
    if (depth > kJsonDepthMax) return fail("nesting deeper than 64");
    switch (v.type()) {
      case Json::value_t::null:
        out += "null";
        return true;
      case Json::value_t::boolean:
        out += v.get<bool>() ? "true" : "false";
        return true;
      case Json::value_t::number_integer: {
        auto n = v.get<std::int64_t>();
        if (n > kJsonIntegerMax || n < -kJsonIntegerMax) {
          return fail("integer out of range ±(2^53-1)");
        }
        out += std::to_string(n);
        return true;
      }
      case Json::value_t::number_unsigned: {
        auto n = v.get<std::uint64_t>();
        if (n > static_cast<std::uint64_t>(kJsonIntegerMax)) {
          return fail("integer out of range ±(2^53-1)");
        }
        out += std::to_string(n);
        return true;
      }
      case Json::value_t::string:
        return write_string(v.get_ref<const std::string&>());
      case Json::value_t::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
          if (!first) out += ',';
          first = false;
          if (!write(e, depth + 1)) return false;
        }
        out += ']';
        return true;
      }
      case Json::value_t::object:
        return write_object(v, depth);
      case Json::value_t::number_float:
        return fail("floats are not allowed in canonical JSON");
      case Json::value_t::binary:
      case Json::value_t::discarded:
        return fail("value has no JSON form");
    }
    return fail("unknown JSON value type");
  }

 private:
  bool fail(std::string why) {
    failure = std::move(why);
    return false;
  }

  // Printable ASCII other than '"' and '\\': written as it is.
  static bool plain(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    });
  }

  bool write_object(const Json& v, std::size_t depth) {
    // The object's members come in byte order (std::map); with ASCII names
    // that is also the UTF-16 order JCS sorts by, so no sort is needed.
    const bool ascii_names = std::all_of(v.items().begin(), v.items().end(), [](const auto& m) {
      return std::all_of(m.key().begin(), m.key().end(),
                         [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    });
    if (ascii_names) {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        if (!write_string(it.key())) return false;
        out += ':';
        if (!write(it.value(), depth + 1)) return false;
      }
      out += '}';
      return true;
    }
    struct Member {
      std::u16string sort_key;
      const std::string* name;
      const Json* value;
    };
    std::vector<Member> members;
    members.reserve(v.size());
    std::vector<char32_t> cps;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!decode_utf8(it.key(), cps)) return fail("object key is not valid UTF-8");
      members.push_back({to_utf16(cps), &it.key(), &it.value()});
    }
    std::sort(members.begin(), members.end(),
              [](const Member& a, const Member& b) { return a.sort_key < b.sort_key; });
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out += ',';
      if (!write_string(*members[i].name)) return false;
      out += ':';
      if (!write(*members[i].value, depth + 1)) return false;
    }
    out += '}';
    return true;
  }

  bool write_string(const std::string& s) {
    if (plain(s)) {
      out += '"';
      out += s;
      out += '"';
      return true;
    }
    std::vector<char32_t> cps;
    if (!decode_utf8(s, cps)) return fail("string is not valid UTF-8");
    out += '"';
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (u < 0x20) {
            static constexpr char kDigits[] = "0123456789abcdef";
            out += "\\u00";
            out += kDigits[u >> 4];
            out += kDigits[u & 0x0f];
          } else {
            out += c;
          }
      }
    }
    out += '"';
    return true;
  }
};

// Steps over JSON values in a text without building them: enough checking
// to find where each value ends, nothing more (parse_json_strict checks the
// part the caller then parses).
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  bool expect(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // A string's text between its quotes (escapes left as written).
  std::optional<std::string_view> string() {
    if (peek() != '"') return std::nullopt;
    const std::size_t start = ++pos_;
    const char* p = text_.data();
    const std::size_t n = text_.size();
    // The next quote that an even number of backslashes precedes (memchr
    // is fast on the long hex strings a block is mostly made of).
    for (std::size_t i = start; i < n;) {
      const void* q = std::memchr(p + i, '"', n - i);
      if (q == nullptr) break;
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - p);
      std::size_t backslashes = 0;
      while (at - backslashes > start && p[at - backslashes - 1] == '\\') ++backslashes;
      if (backslashes % 2 == 0) {
        pos_ = at + 1;
        return text_.substr(start, at - start);
      }
      i = at + 1;
    }
    pos_ = n;
    return std::nullopt;
  }

  // Steps over one value after optional whitespace.
  bool value(std::size_t depth) {
    skip_space();
    if (depth > kJsonDepthMax) return false;
    switch (peek()) {
      case '"':
        return string().has_value();
      case '{':
        ++pos_;
        skip_space();
        if (peek() == '}') return ++pos_, true;
        do {
          skip_space();
          if (!string() || !expect(':') || !value(depth + 1)) return false;
        } while (expect(','));
        return expect('}');
      case '[':
        ++pos_;
        skip_space();
        if (peek() == ']') return ++pos_, true;
        do {
          if (!value(depth + 1)) return false;
        } while (expect(','));
        return expect(']');
      default: {
        // A number or a literal: its characters up to the next delimiter.
        const std::size_t start = pos_;
        while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '-' ||
                             peek() == '+' || peek() == '.')) {
          ++pos_;
        }
        return pos_ > start;
      }
    }
  }

  // The value starting after optional whitespace, as a slice of the text.
  std::optional<std::string_view> value_text(std::size_t depth) {
    skip_space();
    const std::size_t start = pos_;
    if (!value(depth)) return std::nullopt;
    return text_.substr(start, pos_ - start);
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

Error malformed_at(const Scanner& s) {
  return make_error("bad_json", "malformed JSON at byte " + std::to_string(s.pos()));
}

}  // namespace

Result<std::string_view> json_member_text(std::string_view text, std::string_view name) {
  Scanner s(text);
  if (!s.expect('{')) return make_error("bad_json", "not a JSON object");
  s.skip_space();
  if (s.peek() == '}') return make_error("json_absent", "no member \"" + std::string(name) + "\"");
  do {
    s.skip_space();
    auto key = s.string();
    if (!key || !s.expect(':')) return malformed_at(s);
    auto value = s.value_text(1);
    if (!value) return malformed_at(s);
    if (*key == name) return *value;
  } while (s.expect(','));
  if (s.peek() != '}') return malformed_at(s);
  return make_error("json_absent", "no member \"" + std::string(name) + "\"");
}

Result<std::string_view> json_element_text(std::string_view text, std::size_t index) {
  Scanner s(text);
  if (!s.expect('[')) return make_error("bad_json", "not a JSON array");
  s.skip_space();
  if (s.peek() == ']') return make_error("json_absent", "no element " + std::to_string(index));
  std::size_t i = 0;
  do {
    auto value = s.value_text(1);
    if (!value) return malformed_at(s);
    if (i++ == index) return *value;
  } while (s.expect(','));
  if (s.peek() != ']') return malformed_at(s);
  return make_error("json_absent", "no element " + std::to_string(index));
}

Result<Json> parse_json_strict(std::string_view text) {
  // nlohmann skips a leading byte-order mark; a signed text must not carry
  // invisible bytes, so refuse it here.
  if (text.starts_with("\xEF\xBB\xBF")) {
    return make_error("bad_json", "a byte-order mark is not allowed");
  }
  // JSON has no place for a raw NUL (inside strings it must be escaped), and
  // the parser would stop at one and accept "{}\0junk" as "{}": two texts
  // for one signed value.
  if (text.find('\0') != std::string_view::npos) {
    return make_error("bad_json", "a NUL byte is not allowed in JSON text");
  }
  StrictBuilder builder;
  bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                            /*strict=*/true, /*ignore_comments=*/false);
  if (!ok) {
    return make_error("bad_json", builder.failure.empty() ? "invalid JSON" : builder.failure);
  }
  return std::move(builder.root);
}

Result<std::string> canonical_json(const Json& value) {
  CanonicalWriter w;
  if (!w.write(value, 0)) return make_error("bad_json", w.failure);
  return std::move(w.out);
}

}  // namespace custos
