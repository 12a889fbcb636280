// Shared by the gateway's route files: problem responses, authentication of
// reads, and query parameters. Internal to api/.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/gateway.h"
#include "core/json.h"
#include "ledger/ledger.h"
#include "node/node.h"

namespace custos::api {

// A JSON answer with status.
void send_json(httplib::Response& res, int status, const Json& body);

// An application/problem+json answer (RFC 9457) with a stable "code";
// `extra` members are added unless they would replace a standard one.
void send_problem(httplib::Response& res, int status, const std::string& problem_code,
                  const std::string& detail, Json extra = Json::object());

// HTTP status for a chaincode result code: malformed requests are 400; the
// request was understood but refused because of who asks (403), what it
// names (404) or the state it would contradict (409).
int status_for_code(const std::string& code);

// The identity a read is made by.
struct Viewer {
  std::string id;
  std::string org;
  std::vector<std::string> roles;
  bool has_role(std::string_view r) const {
    return std::find(roles.begin(), roles.end(), r) != roles.end();
  }
};

// Resolves the bearer token to an enrolled, unrevoked identity whose current
// key signed it, for this network, unexpired; otherwise sends a 401 problem
// and returns nullopt.
std::optional<Viewer> authenticate(const node::Node& node, const httplib::Request& req,
                                   httplib::Response& res);

bool can_read_case(const Viewer& v, const Json& case_record);
bool is_auditor_or_admin(const Viewer& v);

// An optional unsigned integer query parameter in [0, max]; sends 400
// "bad_parameter" and returns nullopt on anything else.
std::optional<std::uint64_t> uint_param(const httplib::Request& req, const char* name,
                                        std::uint64_t fallback, std::uint64_t max,
                                        httplib::Response& res);
// "limit": 1..kPageLimitMax, default kPageLimitDefault.
std::optional<std::size_t> page_limit(const httplib::Request& req, httplib::Response& res);

// One page of the history of `key` (an item, an artefact, a transfer):
// {"events": [...], "next_from": seq or null}, from ?from= and ?limit=.
// `event_count` is the total number of events the record says it has.
// Sends 400 and returns nullopt on bad parameters.
std::optional<Json> history_page(const ledger::Ledger& ledger, const std::string& key,
                                 std::uint64_t event_count, const httplib::Request& req,
                                 httplib::Response& res);

}  // namespace custos::api
