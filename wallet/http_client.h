// One HTTP request from the client to a Custos gateway, and nothing more: no
// retries, no redirects, no cookies, no connection reuse. The `custos` client
// uses it for `tx submit` and `get`; it knows nothing about transactions,
// tokens or problem documents, so it is reusable by other tools.
//
// Gateway URLs are "http://HOST[:PORT][/BASE]" or "https://..." (certificates
// checked against the system's trust store). HOST may be a name, an IPv4
// address or a bracketed IPv6 address; BASE, if any, is put in front of every
// request path.
//
// Thread-safety: every call is independent; calls may run concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace custos::wallet {

// Large enough for a court bundle of a long-lived item, small enough that a
// wrong URL cannot fill the client's memory.
inline constexpr std::size_t kHttpResponseBytesMax = 64 * 1024 * 1024;

struct GatewayUrl {
  std::string scheme;     // "http" or "https"
  std::string host;       // without brackets for IPv6
  int port = 0;           // 1..65535; 80 or 443 when the URL names none
  std::string base_path;  // "" or "/prefix", never ending in "/"
};

// Parses a gateway URL. Error "bad_url" (with the reason) for anything else:
// another scheme, user info, a query or fragment, an empty host, a port out
// of range.
[[nodiscard]] Result<GatewayUrl> parse_gateway_url(std::string_view url);

// A request path http_request accepts: starts with "/", visible ASCII only
// (no spaces or control characters); may carry a query.
[[nodiscard]] bool is_request_path(std::string_view path);

struct HttpTimeouts {
  int connect_ms = 5'000;
  int read_ms = 10'000;  // longest wait for the next bytes of the answer
  int write_ms = 10'000;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpReply {
  int status = 0;  // e.g. 200, 404
  HttpHeaders headers;
  std::string body;

  // The first header of that name (compared case-insensitively), or "".
  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

// Sends `method` (e.g. "GET", "POST") for url's base path + `path` (which must
// start with "/" and may carry a query) with `headers` and, when not empty,
// `body`. Any status the server answers with is a success here: judging a
// 404 is the caller's business.
//
// Errors: "bad_url" (see parse_gateway_url), "bad_path" (not starting with
// "/", or holding spaces or control characters), "unreachable" (no
// connection could be made: refused, no route, connect timeout, name not
// found), "tls_error" (handshake or certificate check failed), "http_error"
// (the connection broke or timed out mid-request), "response_too_large"
// (body over response_bytes_max).
[[nodiscard]] Result<HttpReply> http_request(
    std::string_view method, std::string_view url, std::string_view path, const std::string& body,
    const HttpHeaders& headers, const HttpTimeouts& timeouts = {},
    std::size_t response_bytes_max = kHttpResponseBytesMax);

}  // namespace custos::wallet
