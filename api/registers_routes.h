// The gateway's routes over the provenance and funds registers.
#pragma once

#include <httplib.h>

#include "node/node.h"

namespace custos::api {

// Adds GET /v1/artefacts (?photo_hash=), /v1/artefacts/{id}, .../provenance,
// .../verify, /v1/transfers (?flagged=true), /v1/transfers/{id},
// /v1/agents/{id}/positions. The node must outlive the server.
void install_registers_routes(httplib::Server& server, node::Node& node);

}  // namespace custos::api
