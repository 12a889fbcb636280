#include "wallet/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>

namespace custos::wallet {
namespace {

Error bad_url(std::string_view url, const std::string& why) {
  std::ostringstream m;
  m << "gateway URL \"" << url << "\": " << why
    << " (expected http://HOST:PORT or https://HOST:PORT, optionally with a base path)";
  return make_error("bad_url", m.str());
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string authority(const GatewayUrl& u) {
  std::ostringstream a;
  if (u.host.find(':') != std::string::npos) {
    a << "[" << u.host << "]";
  } else {
    a << u.host;
  }
  a << ":" << u.port;
  return a.str();
}

}  // namespace

Result<GatewayUrl> parse_gateway_url(std::string_view url) {
  GatewayUrl out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return bad_url(url, "no scheme");
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") return bad_url(url, "scheme must be http or https");
  out.scheme = scheme;

  std::string_view rest = url.substr(sep + 3);
  if (!is_visible_ascii(rest)) return bad_url(url, "spaces or control characters");
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad_url(url, "no query or fragment allowed");
  }
  auto slash = rest.find('/');
  std::string_view auth = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (auth.find('@') != std::string_view::npos) return bad_url(url, "no user info allowed");

  std::string_view port_text;
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return bad_url(url, "unclosed [ in the host");
    out.host = std::string(auth.substr(1, close - 1));
    if (out.host.empty() ||
        out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return bad_url(url, "bad IPv6 address");
    }
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url(url, "junk after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad_url(url, "empty port");
    }
  } else {
    auto colon = auth.find(':');
    out.host = std::string(auth.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = auth.substr(colon + 1);
      if (port_text.empty()) return bad_url(url, "empty port");
    }
    if (out.host.empty()) return bad_url(url, "no host");
    bool host_chars_ok = std::all_of(out.host.begin(), out.host.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '.' || c == '_';
    });
    if (!host_chars_ok) return bad_url(url, "bad host name");
  }

  if (port_text.empty()) {
    out.port = out.scheme == "https" ? 443 : 80;
  } else {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos) {
      return bad_url(url, "port must be a number from 1 to 65535");
    }
    out.port = std::stoi(std::string(port_text));
    if (out.port < 1 || out.port > 65535) {
      return bad_url(url, "port must be a number from 1 to 65535");
    }
  }

  std::string base(path);
  while (!base.empty() && base.back() == '/') base.pop_back();
  out.base_path = base;
  return out;
}

bool is_request_path(std::string_view path) {
  return !path.empty() && path.front() == '/' && is_visible_ascii(path);
}

std::string HttpReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (equals_ignoring_case(k, name)) return v;
  }
  return "";
}

Result<HttpReply> http_request(std::string_view method, std::string_view url, std::string_view path,
                               const std::string& body, const HttpHeaders& headers,
                               const HttpTimeouts& timeouts, std::size_t response_bytes_max) {
  auto gateway = parse_gateway_url(url);
  if (!gateway) return gateway.error();
  if (!is_request_path(path)) {
    return make_error("bad_path",
                      "request path must start with \"/\" and hold no spaces or "
                      "control characters");
  }
  std::string where = authority(*gateway);

  httplib::Client client(gateway->scheme + "://" + where);
  if (!client.is_valid()) {
    return make_error("bad_url", "this build of the client cannot speak " + gateway->scheme);
  }
  client.set_connection_timeout(std::chrono::milliseconds(timeouts.connect_ms));
  client.set_read_timeout(std::chrono::milliseconds(timeouts.read_ms));
  client.set_write_timeout(std::chrono::milliseconds(timeouts.write_ms));
  client.set_keep_alive(false);
  client.set_tcp_nodelay(true);  // headers and body are separate writes: no Nagle wait between them
  client.set_follow_location(false);
  // The path goes out exactly as given: re-encoding would change what a
  // caller who already percent-encoded an id asked for.
  client.set_url_encode(false);

  httplib::Request req;
  req.method = std::string(method);
  req.path = gateway->base_path + std::string(path);
  for (const auto& [k, v] : headers) req.headers.emplace(k, v);
  if (!req.has_header("User-Agent")) req.headers.emplace("User-Agent", "custos-client");
  req.body = body;

  std::string received;
  bool too_large = false;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (n > response_bytes_max - received.size()) {
      too_large = true;
      return false;
    }
    received.append(data, n);
    return true;
  };

  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  if (!client.send(req, res, err)) {
    std::ostringstream m;
    std::string code = "http_error";
    switch (err) {
      case httplib::Error::Connection:
      case httplib::Error::BindIPAddress:
        code = "unreachable";
        m << "cannot connect to " << where << " (refused, unreachable or unknown host)";
        break;
      case httplib::Error::ConnectionTimeout:
        code = "unreachable";
        m << "no connection to " << where << " within " << timeouts.connect_ms << " ms";
        break;
      case httplib::Error::SSLConnection:
      case httplib::Error::SSLLoadingCerts:
      case httplib::Error::SSLServerVerification:
        code = "tls_error";
        m << "TLS with " << where << " failed (" << httplib::to_string(err) << ")";
        break;
      case httplib::Error::Read:
        m << "no complete answer from " << where << ": the connection closed or nothing came for "
          << timeouts.read_ms << " ms";
        break;
      case httplib::Error::Write:
        m << "sending to " << where << " failed: the connection closed or stalled";
        break;
      case httplib::Error::Canceled:
        if (too_large) {
          code = "response_too_large";
          m << "the answer from " << where << " is larger than " << response_bytes_max << " bytes";
          break;
        }
        [[fallthrough]];
      default:
        m << "request to " << where << " failed (" << httplib::to_string(err) << ")";
    }
    return make_error(code, m.str());
  }

  HttpReply reply;
  reply.status = res.status;
  for (const auto& [k, v] : res.headers) reply.headers.emplace_back(k, v);
  reply.body = std::move(received);
  return reply;
}

}  // namespace custos::wallet
