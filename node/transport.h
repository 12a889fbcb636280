// Node-to-node transport: Boost.Asio TCP, optionally under mutual TLS.
//
// Frames are length-prefixed (4-byte big-endian length, then the bytes) and
// opaque to the transport; the node puts Raft messages and its own requests
// in them. Each node listens once and dials each peer once; a connection
// carries frames in the dialling direction only, so "from" is always the
// authenticated dialler. After connecting, the dialler sends one hello frame
// (magic, version, network id, its node id); under TLS the node id must equal
// the CN of the certificate the peer presented, which the network's CA signed.
//
// Robustness: send() never blocks (a full per-peer queue drops the oldest
// frames and counts them; Raft retransmits); a peer that sends garbage (bad
// hello, wrong network, frame larger than frame_bytes_max, TLS failure) is
// disconnected and counted, never crashes the node; lost connections are
// redialled with exponential backoff (backoff_ms_min .. backoff_ms_max).
// All I/O runs on the transport's own thread; handlers are called on it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace custos::node {

using PeerId = std::uint64_t;  // the Raft node id (>= 1)

struct PeerAddress {
  std::string host;  // a literal IP address or a name
  int port = 0;
  bool operator==(const PeerAddress&) const = default;
};

struct TlsFiles {
  std::filesystem::path ca;    // PEM: the network's CA certificate
  std::filesystem::path cert;  // PEM: this node's certificate (CN = node id as decimal)
  std::filesystem::path key;   // PEM: this node's private key
};

struct TransportConfig {
  PeerId self = 0;
  std::string network_id;
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;  // 0: pick a free port (tests)
  // Absent: plain TCP. Allowed only when every address is a loopback one
  // (checked by the node's config loader, not here).
  std::optional<TlsFiles> tls;
  std::size_t queue_frames_max = 4096;    // per peer, outgoing
  std::size_t queue_bytes_max = 64 << 20; // per peer, outgoing: a down peer costs at most this
  std::size_t frame_bytes_max = 64 << 20; // larger frames drop the connection
  std::int64_t backoff_ms_min = 50;
  std::int64_t backoff_ms_max = 2000;
  // Connect plus TLS handshake when dialling; TLS handshake plus hello when
  // accepting (a silent connection is closed after it).
  std::int64_t connect_timeout_ms = 2000;
};

struct TransportStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t frames_dropped = 0;      // queue full, peer unknown or removed, frame too
                                         // large, or in flight when a connection broke
  std::uint64_t connections_refused = 0; // bad hello, wrong network, TLS (either side),
                                         // garbage, too many inbound connections
  std::uint64_t reconnects = 0;
};

class Transport {
 public:
  // Called on the transport thread for each frame received from an
  // authenticated peer. Must not block for long.
  using FrameHandler = std::function<void(PeerId from, Bytes frame)>;

  // Errors: "tls" (unreadable or mismatched certificate files), "config"
  // (self 0, network_id empty or over 255 bytes, a limit or timeout out of range).
  static Result<std::unique_ptr<Transport>> create(TransportConfig config, FrameHandler on_frame);
  virtual ~Transport() = default;

  // Binds and starts the I/O thread; returns the bound port. Error "listen".
  // Called at most once, and not after stop().
  virtual Result<int> start() = 0;
  // Closes every connection and joins the thread. Idempotent. Not from a
  // FrameHandler (the thread cannot join itself).
  virtual void stop() = 0;

  // Sets or replaces the address of a peer (membership changes add peers at
  // run time); remove_peer closes its connection and drops its queue.
  // Precondition (checked): id >= 1, id != self, 1 <= port <= 65535.
  virtual void set_peer(PeerId id, PeerAddress address) = 0;
  virtual void remove_peer(PeerId id) = 0;

  // Queues a frame to a peer; never blocks. Thread-safe.
  virtual void send(PeerId to, Bytes frame) = 0;

  virtual TransportStats stats() const = 0;
  // Whether an outgoing connection to `id` is established right now.
  virtual bool connected(PeerId id) const = 0;
};

}  // namespace custos::node
