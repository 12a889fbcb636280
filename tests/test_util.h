// Helpers shared by the doctest suites.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

#include "core/json.h"

namespace custos::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(CUSTOS_SOURCE_DIR) + "/" + relative;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Published vectors live in tests/vectors/ (copied from shared/testvectors).
inline Json read_vector_json(const std::string& name) {
  return Json::parse(read_text(source_path("tests/vectors/" + name)));
}

// NAME -> value of every vector in a document: an HTML comment
// `<!-- vector: NAME -->` followed by a fenced code block holding the value.
// Documents with worked vectors (docs/formats.md, docs/state-proofs.md) are
// checked against the code through this.
inline std::map<std::string, std::string> document_vectors(const std::string& doc) {
  std::map<std::string, std::string> out;
  const std::string marker = "<!-- vector: ";
  for (std::size_t pos = doc.find(marker); pos != std::string::npos;
       pos = doc.find(marker, pos + 1)) {
    std::size_t name_end = doc.find(" -->", pos);
    REQUIRE(name_end != std::string::npos);
    std::string name = doc.substr(pos + marker.size(), name_end - pos - marker.size());
    std::size_t fence = doc.find("```", name_end);
    std::size_t body = doc.find('\n', fence) + 1;
    std::size_t close = doc.find("\n```", body);
    REQUIRE_MESSAGE(close != std::string::npos, "unclosed block for " << name);
    CHECK_MESSAGE(!out.contains(name), "vector " << name << " appears twice");
    out[name] = doc.substr(body, close - body);
  }
  return out;
}

// A TCP socket bound to 127.0.0.1:port (0: a port the kernel picks), or -1
// if that port is taken.
inline int try_bind_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picked; returns the
// socket and stores the port in *port.
inline int bind_loopback_socket(int* port) {
  int fd = try_bind_loopback(0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port on 127.0.0.1 that nothing listens on right now: bound, then closed.
// Tests use it for servers they start and for "unreachable" cases. It is
// picked below the kernel's ephemeral range (ip_local_port_range, from
// 32768 by default): a port from that range, once closed, can go at once
// to an outgoing connection (a node dialling its peers, a client) and be
// refused to the server the test meant it for.
inline int free_loopback_port() {
  int ephemeral_low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) {
    range >> ephemeral_low;
  }
  constexpr int kLow = 10000;
  if (ephemeral_low - 1 > kLow) {
    thread_local std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(kLow, ephemeral_low - 1);
    for (int attempt = 0; attempt < 100; ++attempt) {
      const int port = pick(rng);
      if (int fd = try_bind_loopback(port); fd >= 0) {
        ::close(fd);
        return port;
      }
    }
  }
  int port = 0;
  ::close(bind_loopback_socket(&port));
  return port;
}

}  // namespace custos::testing
