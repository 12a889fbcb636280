// The REST gateway (/v1) over one node: signed transactions in, reads out.
//
// Writes are signed envelopes and need no token. Reads need a self-signed
// ES256K JWT of an enrolled, unrevoked identity (core/jwt.h) and see only what
// its roles, org and case membership allow. Errors are application/problem+json
// (RFC 9457) with a stable "code". Routes and their rules: docs/api.md; the
// machine-readable contract: GET /v1/openapi.json.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/result.h"
#include "node/node.h"

namespace httplib {
class Server;
}

namespace custos::api {

inline constexpr std::size_t kPageLimitDefault = 50;
inline constexpr std::size_t kPageLimitMax = 200;

// One route of the gateway, as documented in openapi.json.
struct RouteInfo {
  const char* method;
  const char* openapi_path;  // e.g. "/v1/evidence/{id}/history"
};
// Every route the gateway serves (a test holds openapi.json and docs/api.md to it).
const std::vector<RouteInfo>& routes();

// The OpenAPI 3 document served at /v1/openapi.json.
const std::string& openapi_document();

class Gateway {
 public:
  // The node must outlive the gateway.
  explicit Gateway(node::Node& node);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds and starts serving on a background thread pool. port 0 picks a free
  // port. Returns the bound port; error "listen_failed".
  Result<int> listen(const std::string& host, int port);
  void stop();

 private:
  void install_routes();
  node::Node& node_;
  std::unique_ptr<httplib::Server> server_;
  int listen_fd_ = -1;  // the socket the library last made to listen on
  std::thread thread_;
};

}  // namespace custos::api
