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
#include "chaincode/chaincode.h"
#include "core/json.h"
#include "ledger/ledger.h"
#include "node/node.h"

namespace custos::api {

// A JSON answer with status.
void send_json(httplib::Response& res, int status, const Json& body);
// An answer whose JSON text the caller built.
void send_json_text(httplib::Response& res, int status, std::string text);

// An application/problem+json answer (RFC 9457) with a stable "code";
// `extra` members are added unless they would replace a standard one.
void send_problem(httplib::Response& res, int status, const std::string& problem_code,
                  const std::string& detail, Json extra = Json::object());

// HTTP status for a chaincode result code: malformed requests are 400; the
// request was understood but refused because of who asks (403), what it
// names (404) or the state it would contradict (409).
int status_for_code(const std::string& code);

// The identity a read is made by: the same shape chaincode sees a signer in.
using Viewer = chaincode::Signer;

// Resolves the bearer token to an enrolled, unrevoked identity whose current
// key signed it, for this network, unexpired; otherwise sends a 401 problem
// and returns nullopt.
std::optional<Viewer> authenticate(const node::Node& node, const httplib::Request& req,
                                   httplib::Response& res);

bool can_read_case(const Viewer& v, const Json& case_record);

// An optional unsigned integer query parameter in [0, max]; sends 400
// "bad_parameter" and returns nullopt on anything else.
std::optional<std::uint64_t> uint_param(const httplib::Request& req, const char* name,
                                        std::uint64_t fallback, std::uint64_t max,
                                        httplib::Response& res);
// "limit": 1..kPageLimitMax, default kPageLimitDefault.
std::optional<std::size_t> page_limit(const httplib::Request& req, httplib::Response& res);

// One page of the history of `record` (an item, an artefact), kept under
// `history_key`, from ?from= and ?limit=: {<id_member>: id, "event_count",
// "head_event_hash", "events": [...], "next_from": seq or null}, as JSON
// text (the events as stored). Sends 400 and returns nullopt on bad
// parameters.
std::optional<std::string> history_page(const ledger::Ledger& ledger,
                                        const std::string& history_key, const char* id_member,
                                        const std::string& id, const Json& record,
                                        const httplib::Request& req, httplib::Response& res);

// One page of the records an index lists, from ?after= and ?limit=: the index
// rows under `index_prefix` (keyed index_prefix + record id) each name a
// record by `id_member`, loaded from record_key(id). Returns the records and
// "next_after" (the last id of a full page, else null). Sends 400 and returns
// nullopt on bad parameters.
struct IndexPage {
  Json records = Json::array();
  Json next_after;
};
std::optional<IndexPage> index_page(const ledger::Ledger& ledger, const std::string& index_prefix,
                                    const char* id_member,
                                    std::string (*record_key)(std::string_view),
                                    const httplib::Request& req, httplib::Response& res);

}  // namespace custos::api
