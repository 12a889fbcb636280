#include "api/gateway.h"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "chaincode/chaincode.h"
#include "chaincode/identity.h"
#include "chaincode/registry.h"
#include "core/jwt.h"

namespace custos::api {
namespace {

using httplib::Request;
using httplib::Response;
namespace code = chaincode::code;

// ---------------------------------------------------------------------------
// Problem responses (RFC 9457)

void send_json(Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

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

void send_problem(Response& res, int status, const std::string& problem_code,
                  const std::string& detail, Json extra = Json::object()) {
  Json p = {{"type", "urn:custos:problem:" + problem_code},
            {"title", reason_phrase(status)},
            {"status", status},
            {"code", problem_code},
            {"detail", detail}};
  for (auto it = extra.begin(); it != extra.end(); ++it) p[it.key()] = it.value();
  res.status = status;
  res.set_content(p.dump(2) + "\n", "application/problem+json");
}

// HTTP status for a chaincode result code: the request was understood but
// refused because of what it asks (403), what it names (404) or the state
// it would contradict (409); malformed requests are 400.
int status_for_code(const std::string& c) {
  static const std::set<std::string> k400 = {
      code::kBadArgs,      code::kWrongNetwork, code::kUnknownChaincode, code::kUnknownFunction,
      code::kBadSignature, code::kUnsigned,     code::kTimeInFuture,     "bad_tx",
      "bad_json"};
  static const std::set<std::string> k403 = {
      code::kUnknownSigner,        code::kSignerRevoked,    code::kRoleForbidden,
      code::kNotOrgAdmin,          code::kNotCaseMember,    code::kNotCustodian,
      code::kCosignatureMissing,   code::kUnexpectedSigner, code::kReceiverNotEligible,
      code::kAuthorisationRequired};
  if (k400.contains(c)) return 400;
  if (k403.contains(c)) return 403;
  if (c.size() > 10 && c.ends_with("_NOT_FOUND")) return 404;
  return 409;  // DUPLICATE_TX, *_EXISTS, KEY_IN_USE, ITEM_FINAL, TIME_REGRESSION, ...
}

// ---------------------------------------------------------------------------
// Authentication and visibility

struct Viewer {
  std::string id;
  std::string org;
  std::vector<std::string> roles;
  bool has_role(std::string_view r) const {
    return std::find(roles.begin(), roles.end(), r) != roles.end();
  }
};

std::int64_t now_s() {
  return node::wall_clock_ms() / 1000;
}

// Resolves the bearer token to an enrolled, unrevoked identity, or sends a
// 401 problem and returns nullopt.
std::optional<Viewer> authenticate(const node::Node& node, const Request& req, Response& res) {
  std::string auth = req.get_header_value("Authorization");
  if (!auth.starts_with("Bearer ")) {
    send_problem(res, 401, "missing_token",
                 "reads need 'Authorization: Bearer <JWT>' (custos token --key FILE)");
    res.set_header("WWW-Authenticate", "Bearer");
    return std::nullopt;
  }
  auto jwt = jwt_parse(std::string_view(auth).substr(7));
  if (!jwt) {
    send_problem(res, 401, jwt.error().code, jwt.error().message);
    return std::nullopt;
  }
  if (auto s = jwt_check_claims(jwt->claims, node.genesis().network_id, now_s()); !s) {
    send_problem(res, 401, s.error().code, s.error().message);
    return std::nullopt;
  }
  chaincode::LedgerStateView state(node.ledger());
  auto identity = chaincode::find_identity(state, jwt->claims.subject);
  if (!identity) {
    send_problem(res, 401, "unknown_identity", "no identity \"" + jwt->claims.subject + "\"");
    return std::nullopt;
  }
  if ((*identity)["status"] != "active") {
    send_problem(res, 401, "identity_revoked",
                 "identity \"" + jwt->claims.subject + "\" is revoked");
    return std::nullopt;
  }
  auto key = PublicKey::from_hex((*identity)["public_key"].get<std::string>());
  if (!key || !jwt_verify_signature(*jwt, *key)) {
    send_problem(res, 401, "bad_token_signature",
                 "token is not signed by the identity's current key");
    return std::nullopt;
  }
  return Viewer{jwt->claims.subject, (*identity)["org"].get<std::string>(),
                (*identity)["roles"].get<std::vector<std::string>>()};
}

bool can_read_case(const Viewer& v, const Json& c) {
  if (v.has_role("auditor")) return true;
  const auto& members = c["member_orgs"];
  if (std::find(members.begin(), members.end(), v.org) != members.end()) return true;
  const auto& granted = c["granted"];
  return std::find(granted.begin(), granted.end(), v.id) != granted.end();
}

bool is_auditor_or_admin(const Viewer& v) {
  return v.has_role("auditor") || v.has_role("admin");
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

// ---------------------------------------------------------------------------
// Records as the API shows them

Json tx_record_json(const ledger::TxRecord& r) {
  return Json{{"tx_id", r.tx_id.hex()}, {"status", r.code == code::kOk ? "committed" : "failed"},
              {"height", r.height},     {"index", r.index},
              {"code", r.code},         {"message", r.message}};
}

Json head_json(const node::Node& node) {
  auto head = node.ledger().head();
  return Json{{"network_id", node.genesis().network_id},
              {"genesis_hash", node.genesis().hash().hex()},
              {"height", head->height},
              {"block_hash", head->block_hash.hex()},
              {"results_hash", head->results_hash.hex()},
              {"timestamp_ms", head->timestamp_ms}};
}

const std::vector<RouteInfo> kRoutes = {
    {"POST", "/v1/transactions"},
    {"GET", "/v1/transactions/{id}"},
    {"GET", "/v1/blocks/{height}"},
    {"GET", "/v1/chain/head"},
    {"GET", "/v1/orgs"},
    {"GET", "/v1/identities/{id}"},
    {"GET", "/v1/cases/{id}"},
    {"GET", "/v1/cases/{id}/evidence"},
    {"GET", "/v1/evidence/{id}"},
    {"GET", "/v1/evidence/{id}/history"},
    {"GET", "/v1/openapi.json"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
};

}  // namespace

const std::vector<RouteInfo>& routes() {
  return kRoutes;
}

Gateway::Gateway(node::Node& node) : node_(node), server_(std::make_unique<httplib::Server>()) {
  install_routes();
}

Gateway::~Gateway() {
  stop();
}

Result<int> Gateway::listen(const std::string& host, int port) {
  int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return make_error("listen_failed",
                      "cannot listen on " + host + ":" + std::to_string(port) + " (in use?)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void Gateway::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void Gateway::install_routes() {
  httplib::Server& s = *server_;
  const node::NodeConfig& config = node_.config();
  const int threads = config.http.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(config.http.body_bytes_max);
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);

  // Errors produced by the library itself (unknown route, oversized body)
  // get the same problem+json shape as ours.
  s.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_problem(res, 404, "not_found", "no route " + req.method + " " + req.path);
    } else if (res.status == 413) {
      send_problem(res, 413, "body_too_large", "request body exceeds the node's limit");
    } else {
      send_problem(res, res.status, "http_error", "request refused");
    }
  });
  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    send_problem(res, 500, "internal_error", "the node failed to answer; see its log");
  });

  // --- writes --------------------------------------------------------------
  s.Post("/v1/transactions", [this](const Request& req, Response& res) {
    const auto& limits = node_.config().http;
    if (req.body.size() > limits.body_bytes_max) {
      send_problem(res, 413, "body_too_large", "request body exceeds the node's limit");
      return;
    }
    bool wait = false;
    if (req.has_param("wait")) {
      if (req.get_param_value("wait") != "commit") {
        send_problem(res, 400, "bad_parameter", "\"wait\" may only be \"commit\"");
        return;
      }
      wait = true;
    }
    auto tx = tx_parse(req.body);
    if (!tx) {
      send_problem(res, 400, tx.error().code, tx.error().message);
      return;
    }
    Hash256 id = tx->id();
    node::SubmitResult submitted = node_.submit(*tx);
    if (submitted.kind == node::SubmitResult::Kind::kBusy) {
      res.set_header("Retry-After", "1");
      send_problem(res, 503, submitted.code, submitted.message, {{"tx_id", id.hex()}});
      return;
    }
    if (submitted.kind == node::SubmitResult::Kind::kRefused) {
      send_problem(res, status_for_code(submitted.code), submitted.code, submitted.message,
                   {{"tx_id", id.hex()}});
      return;
    }
    if (!wait) {
      send_json(res, 202, {{"tx_id", id.hex()}, {"status", "pending"}});
      return;
    }
    auto record = node_.wait_for_commit(id, std::chrono::milliseconds(limits.commit_wait_ms_max));
    if (!record) {
      send_json(res, 202, {{"tx_id", id.hex()}, {"status", "pending"}});
      return;
    }
    if (record->code != code::kOk) {
      send_problem(res, status_for_code(record->code), record->code, record->message,
                   {{"tx_id", id.hex()},
                    {"tx_status", "failed"},
                    {"height", record->height},
                    {"index", record->index}});
      return;
    }
    send_json(res, 200, tx_record_json(*record));
  });

  // --- reads ---------------------------------------------------------------
  s.Get(R"(/v1/transactions/([^/]+))", [this](const Request& req, Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    auto id = Hash256::from_hex(req.matches[1].str());
    if (!id) {
      send_problem(res, 400, "bad_parameter", "a tx id is 64 lowercase hex digits");
      return;
    }
    auto record = node_.ledger().tx(*id);
    if (!record) {
      send_problem(res, 404, "TX_NOT_FOUND", "no committed transaction with this id");
      return;
    }
    auto block = node_.ledger().block(record->height);
    const Transaction& tx = block->txs.at(record->index);
    // Signers see their own transactions; auditors and admins see all.
    bool visible = is_auditor_or_admin(*viewer);
    for (const auto& sig : tx.signatures) {
      auto owner = node_.ledger().get("key/" + sig.public_key.hex());
      if (owner && (*owner)["identity"] == viewer->id) visible = true;
    }
    if (!visible) {
      send_problem(res, 403, code::kRoleForbidden,
                   "only its signers, auditors and admins may read a transaction");
      return;
    }
    Json body = tx_record_json(*record);
    body["block_hash"] = block->header.hash().hex();
    body["tx"] = tx.to_json();
    send_json(res, 200, body);
  });

  s.Get(R"(/v1/blocks/([^/]+))", [this](const Request& req, Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    if (!is_auditor_or_admin(*viewer)) {
      send_problem(res, 403, code::kRoleForbidden, "blocks are for auditors and admins");
      return;
    }
    std::string text = req.matches[1].str();
    std::uint64_t height = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), height);
    if (ec != std::errc() || end != text.data() + text.size()) {
      send_problem(res, 400, "bad_parameter", "a block height is a non-negative integer");
      return;
    }
    auto block = node_.ledger().block(height);
    if (!block) {
      send_problem(res, 404, "BLOCK_NOT_FOUND", "no block at height " + text);
      return;
    }
    Json body = block->to_json();
    body["hash"] = block->header.hash().hex();
    Json results = Json::array();
    for (const auto& tx : block->txs) {
      auto r = node_.ledger().tx(tx.id());
      results.push_back({{"tx_id", tx.id().hex()}, {"code", r ? r->code : "UNKNOWN"}});
    }
    body["results"] = results;
    send_json(res, 200, body);
  });

  s.Get("/v1/chain/head", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    send_json(res, 200, head_json(node_));
  });

  s.Get("/v1/orgs", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    Json orgs = Json::array();
    for (auto& [key, value] : node_.ledger().scan("org/", "", 1000)) orgs.push_back(value);
    send_json(res, 200, {{"orgs", orgs}});
  });

  s.Get(R"(/v1/identities/([^/]+))", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    chaincode::LedgerStateView state(node_.ledger());
    auto identity = chaincode::find_identity(state, req.matches[1].str());
    if (!identity) {
      send_problem(res, 404, code::kIdentityNotFound, "no such identity");
      return;
    }
    send_json(res, 200, *identity);
  });

  // A case and everything in it is visible to its member orgs, to court
  // identities granted access, and to auditors.
  auto load_visible_case = [this](const Viewer& viewer, const std::string& case_id,
                                  Response& res) -> std::optional<Json> {
    auto c = node_.ledger().get("case/" + case_id);
    if (!c) {
      send_problem(res, 404, code::kCaseNotFound, "no such case");
      return std::nullopt;
    }
    if (!can_read_case(viewer, *c)) {
      send_problem(res, 403, code::kNotCaseMember,
                   "this case is visible to its member orgs, granted court identities and "
                   "auditors only");
      return std::nullopt;
    }
    return c;
  };
  auto load_visible_item = [this, load_visible_case](const Viewer& viewer, const std::string& id,
                                                     Response& res) -> std::optional<Json> {
    auto item = node_.ledger().get("item/" + id);
    if (!item) {
      send_problem(res, 404, code::kItemNotFound, "no such evidence item");
      return std::nullopt;
    }
    if (!load_visible_case(viewer, (*item)["case_id"].get<std::string>(), res)) {
      return std::nullopt;
    }
    return item;
  };

  s.Get(R"(/v1/cases/([^/]+))", [this, load_visible_case](const Request& req, Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    if (auto c = load_visible_case(*viewer, req.matches[1].str(), res)) send_json(res, 200, *c);
  });

  s.Get(R"(/v1/cases/([^/]+)/evidence)", [this, load_visible_case](const Request& req,
                                                                   Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    std::string case_id = req.matches[1].str();
    if (!load_visible_case(*viewer, case_id, res)) return;
    auto limit = page_limit(req, res);
    if (!limit) return;
    std::string after = req.has_param("after") ? req.get_param_value("after") : "";
    std::string prefix = "case_item/" + case_id + "/";
    auto rows = node_.ledger().scan(prefix, after.empty() ? "" : prefix + after, *limit + 1);
    Json items = Json::array();
    for (std::size_t i = 0; i < rows.size() && i < *limit; ++i) {
      if (auto item = node_.ledger().get("item/" + rows[i].second["item_id"].get<std::string>())) {
        items.push_back(*item);
      }
    }
    Json next = rows.size() > *limit ? Json(items.back()["id"]) : Json(nullptr);
    send_json(res, 200, {{"case_id", case_id}, {"items", items}, {"next_after", next}});
  });

  s.Get(R"(/v1/evidence/([^/]+))", [this, load_visible_item](const Request& req, Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    if (auto item = load_visible_item(*viewer, req.matches[1].str(), res)) {
      send_json(res, 200, *item);
    }
  });

  s.Get(R"(/v1/evidence/([^/]+)/history)",
        [this, load_visible_item](const Request& req, Response& res) {
          auto viewer = authenticate(node_, req, res);
          if (!viewer) return;
          std::string id = req.matches[1].str();
          auto item = load_visible_item(*viewer, id, res);
          if (!item) return;
          auto limit = page_limit(req, res);
          if (!limit) return;
          auto from = uint_param(req, "from", 0, kJsonIntegerMax, res);
          if (!from) return;
          auto events = node_.ledger().history("item/" + id, *from, *limit);
          Json list = Json::array();
          for (auto& e : events) list.push_back(std::move(e.event));
          std::uint64_t count = (*item)["event_count"].get<std::uint64_t>();
          std::uint64_t next = *from + list.size();
          send_json(res, 200,
                    {{"item_id", id},
                     {"event_count", count},
                     {"head_event_hash", (*item)["head_event_hash"]},
                     {"events", list},
                     {"next_from", next < count ? Json(next) : Json(nullptr)}});
        });

  // --- documents and operations -------------------------------------------
  s.Get("/v1/openapi.json", [](const Request&, Response& res) {
    res.set_content(openapi_document(), "application/json");
  });

  s.Get("/healthz", [this](const Request&, Response& res) {
    auto head = node_.ledger().head();
    send_json(res, 200,
              {{"status", "ok"},
               {"node_id", node_.config().node_id},
               {"network_id", node_.genesis().network_id},
               {"role", node_.orderer().role()},
               {"height", head ? head->height : 0},
               {"pid", static_cast<std::int64_t>(::getpid())}});
  });

  s.Get("/readyz", [this](const Request&, Response& res) {
    if (node_.ready()) {
      send_json(res, 200, {{"ready", true}});
    } else {
      send_problem(res, 503, "not_ready", "the node is starting or stopping");
    }
  });

  s.Get("/metrics", [this](const Request&, Response& res) {
    const node::Counters& c = node_.counters();
    auto head = node_.ledger().head();
    std::string out;
    auto metric = [&out](const char* name, const char* type, const char* help, std::uint64_t v,
                         const char* labels = "") {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
      out += std::string(name) + labels + " " + std::to_string(v) + "\n";
    };
    metric("custos_block_height", "gauge", "Height of the last committed block.",
           head ? head->height : 0);
    metric("custos_mempool_txs", "gauge", "Transactions waiting to be ordered.",
           node_.orderer().pending_txs());
    metric("custos_txs_admitted_total", "counter", "Transactions admitted to the mempool.",
           c.txs_admitted.load());
    metric("custos_txs_refused_total", "counter", "Transactions refused at admission.",
           c.txs_refused.load());
    metric("custos_txs_busy_total", "counter", "Transactions turned away: mempool full.",
           c.txs_busy.load());
    metric("custos_blocks_committed_total", "counter", "Blocks committed since start.",
           c.blocks_committed.load());
    out +=
        "# HELP custos_txs_committed_total Transactions committed since start, by result.\n"
        "# TYPE custos_txs_committed_total counter\n";
    out += "custos_txs_committed_total{result=\"ok\"} " +
           std::to_string(c.txs_committed_ok.load()) + "\n";
    out += "custos_txs_committed_total{result=\"failed\"} " +
           std::to_string(c.txs_committed_failed.load()) + "\n";
    res.set_content(out, "text/plain; version=0.0.4");
  });
}

}  // namespace custos::api
