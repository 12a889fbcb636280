#include "api/http_util.h"

#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "chaincode/identity.h"
#include "chaincode/registry.h"
#include "core/jwt.h"

namespace custos::api {

using httplib::Request;
using httplib::Response;
namespace code = chaincode::code;

// ---------------------------------------------------------------------------
// Problem responses (RFC 9457)

void send_json(Response& res, int status, const Json& body) {
  send_json_text(res, status, body.dump(2) + "\n");
}

void send_json_text(Response& res, int status, std::string text) {
  res.status = status;
  res.set_content(std::move(text), "application/json");
}

namespace {

constexpr std::size_t kVerifiedTokensMax = 10'000;

// Tokens whose signature verified, by their exact text, with their claims
// and the key that verified them. A client reuses its token for many reads:
// this spares parsing it and checking its signature again. The claims are
// still checked on every request against the clock, and the key against
// the identity's current one, so a hit decides exactly what a miss would.
// Bounded: forgotten all at once when full (then parsed again). Thread-safe.
class VerifiedTokens {
 public:
  struct Entry {
    JwtClaims claims;
    std::string key_hex;
  };

  std::optional<Entry> find(std::string_view token) const {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }

  void remember(std::string_view token, Entry entry) {
    std::lock_guard lock(mu_);
    if (tokens_.size() >= kVerifiedTokensMax) tokens_.clear();
    tokens_.insert_or_assign(std::string(token), std::move(entry));
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> tokens_;
};

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

void send_problem(Response& res, int status, const std::string& problem_code,
                  const std::string& detail, Json extra) {
  Json p = {{"type", "urn:custos:problem:" + problem_code},
            {"title", reason_phrase(status)},
            {"status", status},
            {"code", problem_code},
            {"detail", detail}};
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    if (!p.contains(it.key())) p[it.key()] = it.value();
  }
  res.status = status;
  // A detail may quote the request (a parser's "last read: ..."), which need
  // not be UTF-8; dump() would throw on it and turn a 400 into a 500.
  res.set_content(p.dump(2, ' ', false, Json::error_handler_t::replace) + "\n",
                  "application/problem+json");
}

// HTTP status for a chaincode result code: the request was understood but
// refused because of what it asks (403), what it names (404) or the state
// it would contradict (409); malformed requests are 400.
int status_for_code(const std::string& c) {
  static const std::set<std::string> k400 = {code::kBadArgs,
                                             code::kWrongNetwork,
                                             code::kUnknownChaincode,
                                             code::kUnknownFunction,
                                             code::kBadSignature,
                                             code::kUnsigned,
                                             code::kTimeInFuture,
                                             "bad_tx",
                                             code::kUnknownCurrency,
                                             code::kBadAmount,
                                             code::kUnknownCountry,
                                             code::kR16FieldsMissing,
                                             "bad_json"};
  static const std::set<std::string> k403 = {
      code::kUnknownSigner,         code::kSignerRevoked,    code::kRoleForbidden,
      code::kNotOrgAdmin,           code::kNotCaseMember,    code::kNotCustodian,
      code::kCosignatureMissing,    code::kUnexpectedSigner, code::kReceiverNotEligible,
      code::kAuthorisationRequired, code::kNotLeadOrg,       code::kNotHolder,
      code::kNotTransferAgent,      code::kWrongAgent,       code::kWrongPickupCode};
  if (k400.contains(c)) return 400;
  if (k403.contains(c)) return 403;
  if (c.size() > 10 && c.ends_with("_NOT_FOUND")) return 404;
  return 409;  // DUPLICATE_TX, *_EXISTS, KEY_IN_USE, ITEM_FINAL, TIME_REGRESSION, ...
}

// ---------------------------------------------------------------------------
// Authentication and visibility

namespace {

std::int64_t now_s() {
  return node::wall_clock_ms() / 1000;
}

bool signed_by(const ParsedJwt& jwt, const std::string& key_hex) {
  auto key = PublicKey::from_hex(key_hex);
  return key && jwt_verify_signature(jwt, *key);
}

}  // namespace

std::optional<Viewer> authenticate(const node::Node& node, const Request& req, Response& res) {
  std::string auth = req.get_header_value("Authorization");
  if (!auth.starts_with("Bearer ")) {
    send_problem(res, 401, "missing_token",
                 "reads need 'Authorization: Bearer <JWT>' (custos token --key FILE)");
    res.set_header("WWW-Authenticate", "Bearer");
    return std::nullopt;
  }
  static VerifiedTokens verified_tokens;
  const std::string_view token = std::string_view(auth).substr(7);
  std::optional<VerifiedTokens::Entry> known = verified_tokens.find(token);
  std::optional<ParsedJwt> jwt;
  if (!known) {
    auto parsed = jwt_parse(token);
    if (!parsed) {
      send_problem(res, 401, parsed.error().code, parsed.error().message);
      return std::nullopt;
    }
    jwt = std::move(*parsed);
  }
  const JwtClaims& claims = known ? known->claims : jwt->claims;
  if (auto s = jwt_check_claims(claims, node.genesis().network_id, now_s()); !s) {
    send_problem(res, 401, s.error().code, s.error().message);
    return std::nullopt;
  }
  chaincode::LedgerStateView state(node.ledger());
  auto identity = chaincode::find_identity(state, claims.subject);
  if (!identity) {
    send_problem(res, 401, "unknown_identity", "no identity \"" + claims.subject + "\"");
    return std::nullopt;
  }
  if (identity->at("status") != "active") {
    send_problem(res, 401, "identity_revoked", "identity \"" + claims.subject + "\" is revoked");
    return std::nullopt;
  }
  // The token must be signed by the identity's current key: a token signed
  // by a key rotated away is refused, remembered or not.
  const std::string& key_hex = identity->at("public_key").get_ref<const std::string&>();
  if (known ? known->key_hex != key_hex : !signed_by(*jwt, key_hex)) {
    send_problem(res, 401, "bad_token_signature",
                 "token is not signed by the identity's current key");
    return std::nullopt;
  }
  if (!known) verified_tokens.remember(token, {jwt->claims, key_hex});
  // ?consistency=linearizable: only for an authenticated caller (it costs a
  // round trip to the leader and holds this thread), catch up with
  // everything committed anywhere before this request (Raft ReadIndex), so
  // that the read sees it. The default reads this node's ledger as is.
  if (req.has_param("consistency")) {
    std::string mode = req.get_param_value("consistency");
    if (mode == "linearizable") {
      auto wait = std::chrono::milliseconds(
          std::max<std::int64_t>(node.config().http.commit_wait_ms_max, 1000));
      if (auto s = node.read_barrier(wait); !s) {
        res.set_header("Retry-After", "1");
        send_problem(res, 503, s.error().code, s.error().message);
        return std::nullopt;
      }
    } else if (mode != "local") {
      send_problem(res, 400, "bad_parameter",
                   "\"consistency\" may be \"local\" (default) or \"linearizable\"");
      return std::nullopt;
    }
  }
  return Viewer{claims.subject, identity->at("org").get<std::string>(),
                identity->at("roles").get<std::vector<std::string>>()};
}

bool can_read_case(const Viewer& v, const Json& c) {
  if (v.has_role("auditor")) return true;
  const auto& members = c["member_orgs"];
  if (std::find(members.begin(), members.end(), v.org) != members.end()) return true;
  const auto& granted = c["granted"];
  return std::find(granted.begin(), granted.end(), v.identity_id) != granted.end();
}

// ---------------------------------------------------------------------------
// Query parameters

// Parses an optional unsigned integer parameter; sends 400 on garbage.
std::optional<std::uint64_t> uint_param(const Request& req, const char* name,
                                        std::uint64_t fallback, std::uint64_t max, Response& res) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max) {
    send_problem(
        res, 400, "bad_parameter",
        std::string("\"") + name + "\" must be an integer from 0 to " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<std::size_t> page_limit(const Request& req, Response& res) {
  auto v = uint_param(req, "limit", kPageLimitDefault, kPageLimitMax, res);
  if (v && *v == 0) {
    send_problem(res, 400, "bad_parameter", "\"limit\" must be at least 1");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> history_page(const ledger::Ledger& ledger,
                                        const std::string& history_key, const char* id_member,
                                        const std::string& id, const Json& record,
                                        const Request& req, Response& res) {
  auto limit = page_limit(req, res);
  if (!limit) return std::nullopt;
  auto from = uint_param(req, "from", 0, kJsonIntegerMax, res);
  if (!from) return std::nullopt;
  const std::uint64_t event_count = record["event_count"].get<std::uint64_t>();
  // The events go out as the ledger stores them (canonical JSON), spliced
  // into the answer: parsing and printing 100 events again would cost more
  // than the rest of the read.
  std::vector<std::string> events = ledger.history_texts(history_key, *from, *limit);
  std::string out = "{\"event_count\":" + std::to_string(event_count) + ",\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    out += events[i];
  }
  const std::uint64_t next = *from + events.size();
  out += "],\"head_event_hash\":" + record["head_event_hash"].dump() + ",\"" + id_member +
         "\":" + Json(id).dump() +
         ",\"next_from\":" + (next < event_count ? std::to_string(next) : "null") + "}\n";
  return out;
}

std::optional<IndexPage> index_page(const ledger::Ledger& ledger, const std::string& index_prefix,
                                    const char* id_member,
                                    std::string (*record_key)(std::string_view), const Request& req,
                                    Response& res) {
  auto limit = page_limit(req, res);
  if (!limit) return std::nullopt;
  std::string after = req.get_param_value("after");
  // One row more than the page shows says whether another page follows.
  auto rows = ledger.scan(index_prefix, after.empty() ? "" : index_prefix + after, *limit + 1);
  IndexPage page;
  for (std::size_t i = 0; i < rows.size() && i < *limit; ++i) {
    auto id = rows[i].second[id_member].get<std::string>();
    if (auto record = ledger.get(record_key(id))) page.records.push_back(std::move(*record));
  }
  if (rows.size() > *limit) page.next_after = rows[*limit - 1].first.substr(index_prefix.size());
  return page;
}

}  // namespace custos::api
