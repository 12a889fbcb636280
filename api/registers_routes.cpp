// Routes over the provenance and funds registers: artefacts and their customs
// verdict, transfers, agents' net positions, flagged transfers.
#include "api/registers_routes.h"

#include "api/http_util.h"
#include "chaincode/funds.h"
#include "chaincode/identity.h"
#include "chaincode/provenance.h"
#include "chaincode/registry.h"

namespace custos::api {
namespace {

using httplib::Request;
using httplib::Response;
namespace code = chaincode::code;

// An artefact's whole provenance is read for a verdict; this bounds the work
// one request can cause (an artefact with more events is refused with 409).
constexpr std::size_t kVerifyEventsMax = 10'000;

// An FIU analyst counts only inside an org of kind "fiu": any org admin can
// hand out the role, so the role alone proves little (docs/funds.md §2).
bool is_fiu_analyst(const node::Node& node, const Viewer& v) {
  if (!v.has_role("fiu_analyst")) return false;
  chaincode::LedgerStateView state(node.ledger());
  auto org = chaincode::find_org(state, v.org);
  return org && (*org)["kind"] == "fiu";
}

bool is_fiu_or_auditor(const node::Node& node, const Viewer& v) {
  return v.has_role("auditor") || is_fiu_analyst(node, v);
}

std::optional<Json> load_artefact(const node::Node& node, const std::string& id, Response& res) {
  auto a = node.ledger().get(chaincode::artefact_state_key(id));
  if (!a) send_problem(res, 404, code::kArtefactNotFound, "no such artefact");
  return a;
}

}  // namespace

void install_registers_routes(httplib::Server& s, node::Node& node) {
  // --- provenance: any enrolled identity may read artefacts; customs must be
  // able to check an object it has never seen.
  s.Get("/v1/artefacts", [&node](const Request& req, Response& res) {
    if (!authenticate(node, req, res)) return;
    if (!req.has_param("photo_hash")) {
      send_problem(res, 400, "bad_parameter", "give ?photo_hash=<64 hex digits>");
      return;
    }
    std::string hash = req.get_param_value("photo_hash");
    if (!Hash256::from_hex(hash)) {
      send_problem(res, 400, "bad_parameter", "photo_hash is 64 lowercase hex digits");
      return;
    }
    auto limit = page_limit(req, res);
    if (!limit) return;
    Json artefacts = Json::array();
    for (auto& [key, row] :
         node.ledger().scan(chaincode::artefact_photo_prefix(hash), "", *limit)) {
      if (auto a = node.ledger().get(
              chaincode::artefact_state_key(row["artefact_id"].get<std::string>()))) {
        artefacts.push_back(*a);
      }
    }
    send_json(res, 200, {{"photo_hash", hash}, {"artefacts", artefacts}});
  });

  s.Get(R"(/v1/artefacts/([^/]+))", [&node](const Request& req, Response& res) {
    if (!authenticate(node, req, res)) return;
    if (auto a = load_artefact(node, req.matches[1].str(), res)) send_json(res, 200, *a);
  });

  s.Get(R"(/v1/artefacts/([^/]+)/provenance)", [&node](const Request& req, Response& res) {
    if (!authenticate(node, req, res)) return;
    std::string id = req.matches[1].str();
    auto a = load_artefact(node, id, res);
    if (!a) return;
    auto page = history_page(node.ledger(), chaincode::artefact_history_key(id), "artefact_id", id,
                             *a, req, res);
    if (page) send_json_text(res, 200, std::move(*page));
  });

  s.Get(R"(/v1/artefacts/([^/]+)/verify)", [&node](const Request& req, Response& res) {
    if (!authenticate(node, req, res)) return;
    std::string id = req.matches[1].str();
    auto a = load_artefact(node, id, res);
    if (!a) return;
    std::uint64_t count = (*a)["event_count"].get<std::uint64_t>();
    if (count > kVerifyEventsMax) {
      send_problem(res, 409, "TOO_MANY_EVENTS", "artefact history too long to verify online");
      return;
    }
    std::vector<Json> events;
    for (auto& e : node.ledger().history(chaincode::artefact_history_key(id), 0, count)) {
      events.push_back(std::move(e.event));
    }
    Json verdict = chaincode::verify_artefact(*a, events);
    verdict["artefact_id"] = id;
    verdict["height"] = node.ledger().head()->height;
    send_json(res, 200, verdict);
  });

  // --- funds: a transfer is visible to its two agents, FIU analysts and
  // auditors; positions to the agent itself, FIU analysts and auditors.
  s.Get("/v1/transfers", [&node](const Request& req, Response& res) {
    auto viewer = authenticate(node, req, res);
    if (!viewer) return;
    if (!is_fiu_analyst(node, *viewer)) {
      send_problem(res, 403, code::kRoleForbidden, "the list of transfers is for FIU analysts");
      return;
    }
    if (req.get_param_value("flagged") != "true") {
      send_problem(res, 400, "bad_parameter", "only ?flagged=true is supported");
      return;
    }
    auto page = index_page(node.ledger(), std::string(chaincode::kTransferFlaggedPrefix),
                           "transfer_id", chaincode::transfer_state_key, req, res);
    if (!page) return;
    send_json(res, 200, {{"transfers", page->records}, {"next_after", page->next_after}});
  });

  s.Get(R"(/v1/transfers/([^/]+))", [&node](const Request& req, Response& res) {
    auto viewer = authenticate(node, req, res);
    if (!viewer) return;
    auto t = node.ledger().get(chaincode::transfer_state_key(req.matches[1].str()));
    if (!t) {
      send_problem(res, 404, code::kTransferNotFound, "no such transfer");
      return;
    }
    if (!is_fiu_or_auditor(node, *viewer) && (*t)["originating_agent"] != viewer->identity_id &&
        (*t)["paying_agent"] != viewer->identity_id) {
      send_problem(res, 403, code::kRoleForbidden,
                   "a transfer is visible to its two agents, FIU analysts and auditors");
      return;
    }
    send_json(res, 200, *t);
  });

  s.Get(R"(/v1/agents/([^/]+)/positions)", [&node](const Request& req, Response& res) {
    auto viewer = authenticate(node, req, res);
    if (!viewer) return;
    std::string agent = req.matches[1].str();
    if (!is_fiu_or_auditor(node, *viewer) && viewer->identity_id != agent) {
      send_problem(res, 403, code::kRoleForbidden,
                   "positions are visible to the agent, FIU analysts and auditors");
      return;
    }
    chaincode::LedgerStateView state(node.ledger());
    if (!chaincode::find_agent(state, agent)) {
      send_problem(res, 404, code::kAgentNotFound, "no such transfer agent");
      return;
    }
    Json positions = Json::array();
    // An agent has at most one position per counterparty and currency.
    for (auto& [key, value] :
         node.ledger().scan(chaincode::agent_positions_prefix(agent), "", 100'000)) {
      auto parsed = chaincode::parse_position_key(key);
      if (!parsed) continue;
      positions.push_back({{"counterparty", parsed->counterparty},
                           {"currency", parsed->currency},
                           {"net_minor", value["net_minor"]}});
    }
    send_json(res, 200, {{"agent_id", agent}, {"positions", positions}});
  });
}

}  // namespace custos::api
