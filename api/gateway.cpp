#include "api/gateway.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "api/http_util.h"
#include "api/registers_routes.h"
#include "bundle/bundle.h"
#include "chaincode/chaincode.h"
#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "chaincode/registry.h"
#include "ledger/commitments.h"

namespace custos::api {
namespace {

using httplib::Request;
using httplib::Response;
namespace code = chaincode::code;

constexpr std::size_t kKeepAliveRequestsMax = 10'000;
// The library listens with a queue of 5 connections; a burst of clients
// connecting at once (a bench starting, clients reconnecting after a
// restart) overflows it, and each SYN dropped costs its client the
// kernel's 1 s retry. The kernel caps this at net.core.somaxconn.
constexpr int kListenBacklog = 1024;

// How long GET /v1/evidence/{id}/bundle waits for a head signed by a
// majority of the nodes before it answers 503.
constexpr std::chrono::milliseconds kBundleWaitMax{3000};

// ---------------------------------------------------------------------------
// Records as the API shows them

Json tx_record_json(const ledger::TxRecord& r) {
  return Json{{"tx_id", r.tx_id.hex()}, {"status", r.code == code::kOk ? "committed" : "failed"},
              {"height", r.height},     {"index", r.index},
              {"code", r.code},         {"message", r.message}};
}

Json head_json(const node::Node& node, const ledger::Head& head) {
  return Json{{"network_id", node.genesis().network_id},
              {"genesis_hash", node.genesis_hash().hex()},
              {"height", head.height},
              {"block_hash", head.block_hash.hex()},
              {"results_hash", head.results_hash.hex()},
              {"timestamp_ms", head.timestamp_ms},
              {"log_size", head.log_size},
              {"log_root", head.log_root.hex()},
              {"state_root", head.state_root.hex()}};
}

Json hashes_json(const std::vector<Hash256>& hashes) {
  Json out = Json::array();
  for (const auto& h : hashes) out.push_back(h.hex());
  return out;
}

// Reads a non-negative integer query parameter; sends 400 and returns
// nullopt if it is missing or malformed.
std::optional<std::uint64_t> uint_param(const Request& req, Response& res, const char* name) {
  std::string text = req.get_param_value(name);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    send_problem(res, 400, "bad_parameter",
                 std::string("\"") + name + "\" must be a non-negative integer");
    return std::nullopt;
  }
  return v;
}

// ?wait=commit, or no wait: true, false; anything else is answered 400 here
// and gives nullopt.
std::optional<bool> wait_param(const Request& req, Response& res) {
  if (!req.has_param("wait")) return false;
  if (req.get_param_value("wait") != "commit") {
    send_problem(res, 400, "bad_parameter", "\"wait\" may only be \"commit\"");
    return std::nullopt;
  }
  return true;
}

// Every route that takes a body checks it against its own limit: the
// server's (set_payload_max_length) is the largest of the routes' limits,
// since cpp-httplib has only one. Sends 413 and returns false over it.
bool body_within(const Request& req, Response& res, std::size_t bytes_max, const char* limit_name) {
  if (req.body.size() <= bytes_max) return true;
  send_problem(res, 413, "body_too_large",
               "request body is " + std::to_string(req.body.size()) + " bytes; the limit is " +
                   std::to_string(bytes_max) + " (" + limit_name + ")");
  return false;
}

// The envelopes of a POST /v1/transactions/batch body, each checked as
// POST /v1/transactions checks one. Any malformed part refuses the whole
// batch (a 400 problem is sent and nullopt returned), so that a client never
// has to find out which part of a malformed request was admitted.
std::optional<std::vector<Transaction>> batch_parse(const std::string& body, std::size_t txs_max,
                                                    Response& res) {
  auto parsed = parse_json_strict(body);
  if (!parsed) {
    send_problem(res, 400, "bad_batch", "the batch is not valid JSON: " + parsed.error().message);
    return std::nullopt;
  }
  const Json& j = *parsed;
  auto entries = j.is_object() && j.size() == 1 ? j.find("transactions") : j.end();
  if (entries == j.end() || !entries->is_array()) {
    send_problem(res, 400, "bad_batch",
                 "a batch is a JSON object with exactly the member \"transactions\", an array "
                 "of transaction envelopes");
    return std::nullopt;
  }
  if (entries->empty() || entries->size() > txs_max) {
    send_problem(res, 400, "bad_batch",
                 "a batch holds 1 to " + std::to_string(txs_max) +
                     " transactions (http.batch_txs_max); this one holds " +
                     std::to_string(entries->size()));
    return std::nullopt;
  }
  std::vector<Transaction> txs;
  txs.reserve(entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    auto tx = tx_from_parsed_json((*entries)[i]);
    if (!tx) {
      send_problem(res, 400, tx.error().code,
                   "transactions[" + std::to_string(i) + "]: " + tx.error().message,
                   {{"index", i}});
      return std::nullopt;
    }
    txs.push_back(std::move(tx).value());
  }
  return txs;
}

const std::vector<RouteInfo> kRoutes = {
    {"POST", "/v1/transactions"},
    {"POST", "/v1/transactions/batch"},
    {"GET", "/v1/transactions/{id}"},
    {"GET", "/v1/blocks/{height}"},
    {"GET", "/v1/chain/head"},
    {"GET", "/v1/proofs/consistency"},
    {"GET", "/v1/orgs"},
    {"GET", "/v1/identities/{id}"},
    {"GET", "/v1/cases/{id}"},
    {"GET", "/v1/cases/{id}/evidence"},
    {"GET", "/v1/evidence/{id}"},
    {"GET", "/v1/evidence/{id}/history"},
    {"GET", "/v1/evidence/{id}/bundle"},
    {"GET", "/v1/artefacts"},
    {"GET", "/v1/artefacts/{id}"},
    {"GET", "/v1/artefacts/{id}/provenance"},
    {"GET", "/v1/artefacts/{id}/verify"},
    {"GET", "/v1/transfers"},
    {"GET", "/v1/transfers/{id}"},
    {"GET", "/v1/agents/{id}/positions"},
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
  // listen() again on a listening socket sets its queue length (Linux).
  if (listen_fd_ >= 0 && ::listen(listen_fd_, kListenBacklog) != 0) {
    return make_error("listen_failed", "cannot set the listen queue of " + host + ":" +
                                           std::to_string(port));
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
  // The library's one limit lets the largest body in; each route then
  // holds its body to its own limit (body_within).
  s.set_payload_max_length(std::max(config.http.body_bytes_max, config.http.batch_bytes_max));
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);
  // The library closes a keep-alive connection after 5 requests. Each
  // reconnect passes its listen queue of 5, and a burst of them on a busy
  // machine overflows it: the dropped SYN is sent again after the kernel's
  // 1 s, and the request takes a second. A connection now serves
  // kKeepAliveRequestsMax requests. The idle limit stays at the library's
  // 5 s: an idle connection holds one of the http.threads.
  s.set_keep_alive_max_count(kKeepAliveRequestsMax);
  s.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd_ = sock;
  });
  // Answers go out in more than one write (headers, then body): with
  // Nagle's algorithm on, the second waits for the client's delayed ACK,
  // tens of milliseconds on every request of a keep-alive connection.
  s.set_tcp_nodelay(true);

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
    if (!body_within(req, res, limits.body_bytes_max, "http.body_bytes_max")) return;
    auto wait = wait_param(req, res);
    if (!wait) return;
    auto tx = tx_parse(req.body);
    if (!tx) {
      send_problem(res, 400, tx.error().code, tx.error().message);
      return;
    }
    Hash256 id = tx->id();
    node::SubmitResult submitted = node_.submit(*tx, id);
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
    if (!*wait) {
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

  // Many envelopes in one request, admitted one by one in order as the
  // route above admits one, and (with ?wait=commit) waited for together:
  // one gateway thread and one round trip for the lot. Not atomic: each
  // entry gets its own result. docs/api.md has the result statuses.
  s.Post("/v1/transactions/batch", [this](const Request& req, Response& res) {
    const auto& limits = node_.config().http;
    if (!body_within(req, res, limits.batch_bytes_max, "http.batch_bytes_max")) return;
    auto wait = wait_param(req, res);
    if (!wait) return;
    auto txs = batch_parse(req.body, limits.batch_txs_max, res);
    if (!txs) return;
    Json results = Json::array();
    std::vector<Hash256> admitted_ids;
    std::vector<std::size_t> admitted_at;  // their positions in results
    bool busy = false;
    for (const Transaction& tx : *txs) {
      Hash256 id = tx.id();
      node::SubmitResult submitted = node_.submit(tx, id);
      switch (submitted.kind) {
        case node::SubmitResult::Kind::kAccepted:
          admitted_ids.push_back(id);
          admitted_at.push_back(results.size());
          results.push_back({{"tx_id", id.hex()}, {"status", "pending"}});
          break;
        case node::SubmitResult::Kind::kRefused:
          results.push_back({{"tx_id", id.hex()},
                             {"status", "refused"},
                             {"code", submitted.code},
                             {"message", submitted.message},
                             {"http_status", status_for_code(submitted.code)}});
          break;
        case node::SubmitResult::Kind::kBusy:
          busy = true;
          results.push_back({{"tx_id", id.hex()},
                             {"status", "busy"},
                             {"code", submitted.code},
                             {"message", submitted.message}});
          break;
      }
    }
    if (*wait && !admitted_ids.empty()) {
      auto records = node_.wait_for_commits(admitted_ids,
                                            std::chrono::milliseconds(limits.commit_wait_ms_max));
      for (std::size_t k = 0; k < records.size(); ++k) {
        if (records[k]) results[admitted_at[k]] = tx_record_json(*records[k]);
      }
    }
    if (busy) res.set_header("Retry-After", "1");
    send_json(res, 200, {{"results", std::move(results)}});
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
    // Only this transaction of its block is parsed; its id is checked
    // against the one asked for (one hash), as a whole-block read would.
    auto located = node_.ledger().block_tx(record->height, record->index);
    if (!located || located->tx.id() != *id) {
      send_problem(res, 500, "ledger_inconsistent",
                   "the record of this transaction names block " + std::to_string(record->height) +
                       " position " + std::to_string(record->index) + ", which does not hold it");
      return;
    }
    const Transaction& tx = located->tx;
    // Signers see their own transactions; auditors and admins see all.
    bool visible = viewer->has_any_role({"auditor", "admin"});
    for (std::size_t i = 0; !visible && i < tx.signatures.size(); ++i) {
      auto owner = node_.ledger().get(chaincode::key_state_key(tx.signatures[i].public_key));
      visible = owner && (*owner)["identity"] == viewer->identity_id;
    }
    if (!visible) {
      send_problem(res, 403, code::kRoleForbidden,
                   "only its signers, auditors and admins may read a transaction");
      return;
    }
    Json body = tx_record_json(*record);
    body["block_hash"] = located->header.hash().hex();
    body["tx"] = tx.to_json();
    // Its leaf in the transaction log and the path to the head's log root
    // (docs/formats.md §12): checkable with any RFC 6962 implementation.
    // The leaf is made from the record (the leaf of its first commit, which
    // log_index names) rather than read back: one random read fewer.
    auto head = node_.ledger().head();
    auto proof = node_.ledger().inclusion_proof(record->log_index, head->log_size);
    if (proof) {
      body["log_index"] = record->log_index;
      body["log_leaf"] = ledger::tx_log_leaf_data(*record);
      body["inclusion_proof"] = {{"log_size", head->log_size},
                                 {"log_root", head->log_root.hex()},
                                 {"path", hashes_json(*proof)},
                                 {"head", head_json(node_, *head)}};
    }
    // The same leaf proved against the latest signed head, when the tx is
    // within it: what a court checks with the nodes' keys alone.
    body["signed_head"] = nullptr;
    if (auto signed_head = node_.latest_signed_head();
        signed_head && record->log_index < signed_head->head.log_size) {
      auto signed_proof =
          node_.ledger().inclusion_proof(record->log_index, signed_head->head.log_size);
      if (signed_proof) {
        body["signed_head"] = {{"signed_head", signed_head->to_json()},
                               {"inclusion_proof", hashes_json(*signed_proof)}};
      }
    }
    send_json(res, 200, body);
  });

  s.Get(R"(/v1/blocks/([^/]+))", [this](const Request& req, Response& res) {
    auto viewer = authenticate(node_, req, res);
    if (!viewer) return;
    if (!viewer->has_any_role({"auditor", "admin"})) {
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
      Hash256 id = tx.id();
      auto r = node_.ledger().tx(id);
      results.push_back({{"tx_id", id.hex()}, {"code", r ? r->code : "UNKNOWN"}});
    }
    body["results"] = results;
    send_json(res, 200, body);
  });

  s.Get("/v1/chain/head", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    Json body = head_json(node_, *node_.ledger().head());
    // The latest head a quorum of the on-chain nodes signed (formats.md
    // §14); it may be a few blocks behind "height".
    auto signed_head = node_.latest_signed_head();
    body["signed_head"] = signed_head ? signed_head->to_json() : Json(nullptr);
    send_json(res, 200, body);
  });

  // Proves that the transaction log at height `to` extends the log at height
  // `from` (RFC 6962 consistency proof between their log sizes).
  s.Get("/v1/proofs/consistency", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    auto from = uint_param(req, res, "from");
    if (!from) return;
    auto to = uint_param(req, res, "to");
    if (!to) return;
    if (*from > *to) {
      send_problem(res, 400, "bad_parameter", "\"from\" must not be above \"to\"");
      return;
    }
    auto old_roots = node_.ledger().roots(*from);
    auto new_roots = node_.ledger().roots(*to);
    if (!old_roots || !new_roots) {
      send_problem(res, 404, "BLOCK_NOT_FOUND", "no block at height " +
                                                   std::to_string(old_roots ? *to : *from));
      return;
    }
    Json proof = Json::array();
    if (old_roots->log_size > 0) {
      auto p = node_.ledger().consistency_proof(old_roots->log_size, new_roots->log_size);
      if (!p) {
        send_problem(res, 400, p.error().code, p.error().message);
        return;
      }
      proof = hashes_json(*p);
    }
    auto side = [](std::uint64_t height, const ledger::ChainRoots& r) {
      return Json{{"height", height},
                  {"log_size", r.log_size},
                  {"log_root", r.log_root.hex()},
                  {"state_root", r.state_root.hex()}};
    };
    send_json(res, 200, {{"from", side(*from, *old_roots)},
                         {"to", side(*to, *new_roots)},
                         {"proof", proof}});
  });

  s.Get("/v1/orgs", [this](const Request& req, Response& res) {
    if (!authenticate(node_, req, res)) return;
    Json orgs = Json::array();
    for (auto& [key, value] : node_.ledger().scan(chaincode::org_state_key(""), "", 1000))
      orgs.push_back(value);
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
    auto c = node_.ledger().get(chaincode::case_state_key(case_id));
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
    auto item = node_.ledger().get(chaincode::item_state_key(id));
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
    auto page = index_page(node_.ledger(), chaincode::case_items_prefix(case_id), "item_id",
                           chaincode::item_state_key, req, res);
    if (!page) return;
    send_json(res, 200,
              {{"case_id", case_id}, {"items", page->records}, {"next_after", page->next_after}});
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
          auto page = history_page(node_.ledger(), chaincode::item_state_key(id), "item_id", id,
                                   *item, req, res);
          if (page) send_json_text(res, 200, std::move(*page));
        });

  // The court bundle (docs/verification.md): built at the current head,
  // whose node signatures arrive within milliseconds of the block; a head
  // still short of a majority, or blocks committing throughout, are waited
  // out for a bounded time.
  s.Get(R"(/v1/evidence/([^/]+)/bundle)",
        [this, load_visible_item](const Request& req, Response& res) {
          auto viewer = authenticate(node_, req, res);
          if (!viewer) return;
          std::string id = req.matches[1].str();
          if (!load_visible_item(*viewer, id, res)) return;
          const auto deadline = std::chrono::steady_clock::now() + kBundleWaitMax;
          for (;;) {
            auto bundle = bundle::build_bundle(
                node_.ledger(), id, [this](std::uint64_t h) { return node_.signed_head(h); });
            if (bundle) {
              send_json(res, 200, *bundle);
              return;
            }
            const std::string& code = bundle.error().code;
            const bool transient = code == "head_unsigned" || code == "ledger_moved";
            if (!transient || std::chrono::steady_clock::now() >= deadline) {
              send_problem(res, transient ? 503 : 500, code, bundle.error().message);
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        });

  install_registers_routes(s, node_);

  // --- documents and operations -------------------------------------------
  s.Get("/v1/openapi.json", [](const Request&, Response& res) {
    res.set_content(openapi_document(), "application/json");
  });

  s.Get("/healthz", [this](const Request&, Response& res) {
    auto head = node_.ledger().head();
    node::ConsensusStatus c = node_.orderer().status();
    send_json(res, 200,
              {{"status", "ok"},
               {"node_id", node_.config().node_id},
               {"network_id", node_.genesis().network_id},
               {"role", c.role},
               {"term", c.term},
               {"leader", c.leader.empty() ? Json(nullptr) : Json(c.leader)},
               {"commit_index", c.commit_index},
               {"applied_index", c.applied_index},
               {"voters", c.members},
               {"learners", c.learners},
               {"height", head ? head->height : 0},
               {"head_hash", head ? head->block_hash.hex() : ""},
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
    auto metric = [&out](const char* name, const char* type, const char* help, auto v,
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
    auto seconds = [](std::uint64_t us) { return static_cast<double>(us) / 1e6; };
    metric("custos_block_execute_seconds_total", "counter",
           "Time spent running blocks' transactions.", seconds(c.execute_us.load()));
    metric("custos_block_stage_seconds_total", "counter",
           "Time spent computing blocks' writes and roots before writing them.",
           seconds(c.stage_us.load()));
    metric("custos_block_commit_seconds_total", "counter",
           "Time spent writing blocks to the ledger.", seconds(c.commit_us.load()));
    metric("custos_block_sign_seconds_total", "counter",
           "Time spent signing and storing new heads.", seconds(c.sign_us.load()));
    const node::HeadSignerStats& h = node_.head_signer_stats();
    metric("custos_heads_signed_total", "counter", "Heads this node signed since start.",
           h.signed_heads.load());
    metric("custos_head_signatures_stored_total", "counter",
           "Peers' head signatures checked and stored since start.", h.received_stored.load());
    metric("custos_head_signatures_dropped_total", "counter",
           "Peers' head signatures dropped: not a member, bad signature, too far ahead.",
           h.received_dropped.load());
    metric("custos_peer_frames_malformed_total", "counter",
           "Frames from peers that were malformed and dropped.",
           node_.orderer().malformed_frames());
    const node::Orderer::LogSyncStats sync = node_.orderer().log_sync_stats();
    metric("custos_raft_log_syncs_total", "counter",
           "Writes of the Raft log to disk, each fsynced (0 on a single node).", sync.syncs);
    metric("custos_raft_log_sync_seconds_total", "counter",
           "Time spent writing the Raft log to disk.", seconds(sync.sync_us));
    metric("custos_raft_log_syncs_slow_total", "counter",
           "Writes of the Raft log that took 100 ms or more (a slow disk).", sync.slow_syncs);
    const node::Orderer::PrepareStats prepare = node_.orderer().prepare_stats();
    metric("custos_raft_blocks_prepared_total", "counter",
           "Log entries whose blocks were decoded ahead (a follower's prepare thread, a leader's own).",
           prepare.prepared);
    metric("custos_raft_blocks_unprepared_total", "counter",
           "Log entries the apply thread had to decode itself.", prepare.unprepared);
    metric("custos_raft_block_executions_ahead_total", "counter",
           "Blocks executed while their entry was replicated, before its commit.",
           prepare.executions_ahead);
    metric("custos_raft_blocks_executed_ahead_total", "counter",
           "Blocks committed from an execution ahead: only written at commit.",
           prepare.executed_ahead);
    auto latest = node_.latest_signed_head();
    metric("custos_signed_head_height", "gauge",
           "Height of the latest head signed by a quorum of nodes (0: none yet).",
           latest ? latest->head.height : 0);
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
