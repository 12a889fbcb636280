// The node-to-node transport on Boost.Asio (header-only) and OpenSSL 3.
// Contract: transport.h. Wire format and TLS rules: docs/transport.md.
//
// Threading: everything below the public methods runs on the one I/O thread;
// the public methods only touch `mu_`-guarded state and post work to it.
// Lifetime: every asynchronous operation's handler holds a shared_ptr to the
// connection it uses, so a socket or TLS stream is never freed under a pending
// operation; stop() closes everything and lets io_context::run() drain, so no
// handler survives the join.
#include "node/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

// After <utility>: Boost 1.74's awaitable.hpp uses std::exchange without including it.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "node/worker.h"

namespace custos::node {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using TlsStream = ssl::stream<tcp::socket>;
using Clock = std::chrono::steady_clock;

// Limits that are not configuration: they guard the node against strangers,
// and no honest peer comes near them.
constexpr std::size_t inbound_connections_max = 64;  // a Raft group is a handful of nodes
constexpr std::size_t hello_bytes_max = 512;         // before the hello, big frames are garbage
constexpr std::size_t network_id_bytes_max = 255;    // its length is one byte in the hello
// A write gathers queued frames so that a busy peer costs one syscall (and,
// under TLS, few records) per batch, not per frame; the bound keeps one
// batch from holding a large share of memory or of the connection.
constexpr std::size_t write_batch_frames_max = 256;
constexpr std::size_t write_batch_bytes_max = 1 << 20;
// After an accept error (file descriptors exhausted, say) the loop waits
// instead of spinning on the same error.
constexpr std::int64_t accept_retry_ms = 100;

constexpr std::size_t frame_header_bytes = 4;
constexpr std::string_view hello_magic = "CUSTOS-RAFT";
constexpr std::uint8_t hello_version = 1;

std::chrono::milliseconds ms(std::int64_t n) {
  return std::chrono::milliseconds(n);
}

using FrameHeader = std::array<std::uint8_t, frame_header_bytes>;

std::uint32_t decode_length(const FrameHeader& h) {
  return (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) | (std::uint32_t{h[2]} << 8) |
         std::uint32_t{h[3]};
}

void append_frame(Bytes& wire, ByteView frame) {
  // Callers bound frames by frame_bytes_max, which create() keeps within 32 bits.
  const auto n = static_cast<std::uint32_t>(frame.size());
  wire.push_back(static_cast<std::uint8_t>(n >> 24));
  wire.push_back(static_cast<std::uint8_t>(n >> 16));
  wire.push_back(static_cast<std::uint8_t>(n >> 8));
  wire.push_back(static_cast<std::uint8_t>(n));
  wire.insert(wire.end(), frame.begin(), frame.end());
}

// Hello: magic (11) | version (1) | node id (8, big-endian) |
// network id length (1) | network id. Exactly that long, nothing after.
Bytes encode_hello(PeerId self, std::string_view network_id) {
  Bytes out(hello_magic.begin(), hello_magic.end());
  out.push_back(hello_version);
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(self >> shift));
  out.push_back(static_cast<std::uint8_t>(network_id.size()));
  out.insert(out.end(), network_id.begin(), network_id.end());
  return out;
}

struct Hello {
  PeerId node = 0;
  std::string network_id;
};

std::optional<Hello> decode_hello(ByteView frame) {
  constexpr std::size_t fixed = hello_magic.size() + 1 + 8 + 1;
  if (frame.size() < fixed) return std::nullopt;
  if (std::memcmp(frame.data(), hello_magic.data(), hello_magic.size()) != 0) return std::nullopt;
  std::size_t at = hello_magic.size();
  if (frame[at++] != hello_version) return std::nullopt;
  Hello hello;
  for (int i = 0; i < 8; ++i) hello.node = (hello.node << 8) | frame[at++];
  const std::size_t network_bytes = frame[at++];
  if (frame.size() != fixed + network_bytes) return std::nullopt;
  hello.network_id.assign(reinterpret_cast<const char*>(frame.data() + at), network_bytes);
  return hello;
}

// The subject's one CN, or nothing when there is none or more than one (a
// second CN would make "the" node id of a certificate ambiguous).
std::optional<std::string> common_name(X509* cert) {
  if (cert == nullptr) return std::nullopt;
  X509_NAME* name = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, at) >= 0) return std::nullopt;
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

// Called after a completed handshake, so OpenSSL has already verified the
// chain against the network CA; what is left is whose certificate it is.
bool peer_is(SSL* ssl, PeerId id) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl), &X509_free);
  const auto cn = common_name(cert.get());
  return cn && *cn == std::to_string(id);
}

Error tls_error(std::string message) {
  ERR_clear_error();  // the queue is per thread; leave it clean for the next caller
  return make_error("tls", std::move(message));
}

Result<ssl::context> make_tls_context(const TlsFiles& files, PeerId self) {
  ssl::context ctx(ssl::context::tls);
  SSL_CTX* native = ctx.native_handle();
  // Every node runs this code, so nothing older than TLS 1.3 is ever needed.
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1)
    return tls_error("cannot require TLS 1.3");
  // Connections are long-lived and few; resumption would only add state.
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);

  error_code ec;
  ctx.load_verify_file(files.ca.string(), ec);
  if (ec)
    return tls_error("cannot load the CA certificate " + files.ca.string() + ": " + ec.message());
  ctx.use_certificate_chain_file(files.cert.string(), ec);
  if (ec)
    return tls_error("cannot load the certificate " + files.cert.string() + ": " + ec.message());
  ctx.use_private_key_file(files.key.string(), ssl::context::pem, ec);
  if (ec) return tls_error("cannot load the key " + files.key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    return tls_error("the key " + files.key.string() + " does not belong to " +
                     files.cert.string());

  // A node whose own certificate would be refused by every peer is better
  // stopped here, with a message, than left redialling forever.
  X509* own = SSL_CTX_get0_certificate(native);
  const auto cn = common_name(own);
  if (!cn || *cn != std::to_string(self))
    return tls_error("the CN of " + files.cert.string() + " is not the node id " +
                     std::to_string(self));
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(native, &chain);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> check(X509_STORE_CTX_new(),
                                                                        &X509_STORE_CTX_free);
  if (!check || X509_STORE_CTX_init(check.get(), SSL_CTX_get_cert_store(native), own, chain) != 1)
    return tls_error("cannot check the certificate chain");
  if (X509_verify_cert(check.get()) != 1)
    return tls_error(files.cert.string() + " is not valid under " + files.ca.string() + ": " +
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(check.get())));

  // Both directions: the dialler checks the listener, and the listener
  // refuses a client without a certificate from the network CA.
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (ec) return tls_error("cannot set the verify mode: " + ec.message());
  return ctx;
}

Status check_config(const TransportConfig& c) {
  auto bad = [](std::string message) { return Status(make_error("config", std::move(message))); };
  if (c.self == 0) return bad("self must be a node id >= 1");
  if (c.network_id.empty() || c.network_id.size() > network_id_bytes_max)
    return bad("network_id must have 1 to 255 bytes");
  if (c.listen_port < 0 || c.listen_port > 65535) return bad("listen_port must be 0..65535");
  if (c.queue_frames_max == 0) return bad("queue_frames_max must be >= 1");
  if (c.queue_bytes_max == 0) return bad("queue_bytes_max must be >= 1");
  if (c.frame_bytes_max == 0 || c.frame_bytes_max > std::numeric_limits<std::uint32_t>::max())
    return bad("frame_bytes_max must be 1..4294967295 (the length prefix has 32 bits)");
  // Zero would make the backoff never grow: a busy redial loop.
  if (c.backoff_ms_min < 1 || c.backoff_ms_max < c.backoff_ms_min)
    return bad("need 1 <= backoff_ms_min <= backoff_ms_max");
  if (c.connect_timeout_ms < 1) return bad("connect_timeout_ms must be >= 1");
  return ok_status();
}

// One TCP connection, under TLS or not; the async calls take the same form
// either way so the connection logic is written once.
class Connection {
 public:
  Connection(tcp::socket socket, ssl::context* tls)
      : stream_(make_stream(std::move(socket), tls)) {}

  bool tls() const { return std::holds_alternative<TlsStream>(stream_); }
  TlsStream& tls_stream() { return std::get<TlsStream>(stream_); }
  tcp::socket& socket() {
    if (auto* s = std::get_if<TlsStream>(&stream_)) return s->next_layer();
    return std::get<tcp::socket>(stream_);
  }

  template <typename Buffers, typename Handler>
  void async_read(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { asio::async_read(s, buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { s.async_read_some(buffers, std::forward<Handler>(handler)); },
               stream_);
  }
  template <typename Buffers, typename Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    std::visit([&](auto& s) { asio::async_write(s, buffers, std::forward<Handler>(handler)); },
               stream_);
  }

  // Pending operations complete with operation_aborted. No TLS close_notify:
  // the peer treats any end of the stream the same way.
  void close() {
    error_code ignored;
    socket().close(ignored);
  }

  // The dialler reads one byte only to learn that the peer closed.
  std::uint8_t probe = 0;

 private:
  using Stream = std::variant<tcp::socket, TlsStream>;
  static Stream make_stream(tcp::socket socket, ssl::context* tls) {
    if (tls != nullptr) return Stream(std::in_place_type<TlsStream>, std::move(socket), *tls);
    return Stream(std::in_place_type<tcp::socket>, std::move(socket));
  }
  Stream stream_;
};

class Outbound;
class Inbound;

class TransportImpl final : public Transport {
 public:
  TransportImpl(TransportConfig config, FrameHandler on_frame, std::optional<ssl::context> tls)
      : config_(std::move(config)),
        on_frame_(std::move(on_frame)),
        tls_(std::move(tls)),
        acceptor_(io_),
        accept_retry_(io_) {}
  ~TransportImpl() override { stop(); }

  Result<int> start() override;
  void stop() override;
  void set_peer(PeerId id, PeerAddress address) override;
  void remove_peer(PeerId id) override;
  void send(PeerId to, Bytes frame) override;
  TransportStats stats() const override;
  bool connected(PeerId id) const override;

 private:
  friend class Outbound;
  friend class Inbound;

  // The outgoing side of one peer as callers see it; guarded by mu_.
  struct PeerQueue {
    std::deque<Bytes> frames;
    std::size_t bytes = 0;     // sum of frames' sizes
    bool wake_posted = false;  // a wake() for this peer is on its way to the I/O thread
    bool connected = false;
  };

  // I/O thread only.
  void accept();
  void on_accepted(tcp::socket socket);
  void shutdown();
  void wake(PeerId id);
  void authenticated(const std::shared_ptr<Inbound>& inbound);
  void deliver(PeerId from, Bytes frame);

  // Any thread.
  ssl::context* tls_context() { return tls_ ? &*tls_ : nullptr; }
  // Moves the next batch of queued frames for `id` to `out`; returns how many.
  std::size_t take_frames(PeerId id, std::vector<Bytes>& out);
  void set_connected(PeerId id, bool up);
  template <typename F>
  void count(F&& f) {
    std::lock_guard lock(mu_);
    f(stats_);
  }

  const TransportConfig config_;
  const FrameHandler on_frame_;
  // Declared before io_ so that it outlives everything that runs on it.
  std::optional<ssl::context> tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;

  enum class Phase { created, running, stopped };
  std::mutex lifecycle_mu_;  // serialises start() and stop()
  Phase phase_ = Phase::created;

  mutable std::mutex mu_;
  std::map<PeerId, PeerQueue> queues_;
  TransportStats stats_;

  // I/O thread only.
  bool stopping_ = false;
  std::map<PeerId, std::shared_ptr<Outbound>> outbound_;
  std::set<std::shared_ptr<Inbound>> inbound_;
};

// The dialled connection to one peer: dial, handshake, hello, then write
// queued frames in order; on any failure close, wait, and dial again.
class Outbound : public std::enable_shared_from_this<Outbound> {
 public:
  Outbound(TransportImpl& t, PeerId id, PeerAddress address)
      : t_(t),
        id_(id),
        address_(std::move(address)),
        resolver_(t.io_),
        timer_(t.io_),
        backoff_ms_(t.config_.backoff_ms_min) {}

  void dial();
  // A new address replaces the old connection at once; the old backoff
  // belonged to the old address.
  void retarget(PeerAddress address) {
    if (address == address_) return;
    address_ = std::move(address);
    backoff_ms_ = t_.config_.backoff_ms_min;
    drop_connection();
    dial();
  }
  void pump();
  void close() {
    drop_connection();
    state_ = State::closed;
  }

 private:
  enum class State { dialling, connected, waiting, closed };

  void on_connect(std::uint64_t attempt, const std::shared_ptr<Connection>& conn, error_code ec);
  void established();
  void fail(bool refused = false);
  void drop_connection();

  TransportImpl& t_;
  const PeerId id_;
  PeerAddress address_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;  // connect timeout while dialling, backoff while waiting
  State state_ = State::waiting;
  // Bumped whenever the connection or the timer changes hands: a handler
  // whose attempt is not the current one belongs to the past and returns.
  std::uint64_t attempt_ = 0;
  std::shared_ptr<Connection> conn_;
  std::int64_t backoff_ms_;
  Clock::time_point established_at_;
  bool hello_pending_ = false;
  bool writing_ = false;
  std::size_t in_flight_frames_ = 0;
};

void Outbound::dial() {
  auto self = shared_from_this();
  const std::uint64_t attempt = ++attempt_;
  state_ = State::dialling;
  auto conn = std::make_shared<Connection>(tcp::socket(t_.io_), t_.tls_context());
  conn_ = conn;

  // One deadline for connect and TLS handshake together.
  timer_.expires_after(ms(t_.config_.connect_timeout_ms));
  timer_.async_wait([self, attempt](error_code ec) {
    if (ec || attempt != self->attempt_ || self->state_ != State::dialling) return;
    self->fail();
  });

  error_code not_literal;
  const auto ip = asio::ip::make_address(address_.host, not_literal);
  if (!not_literal) {
    const tcp::endpoint endpoint(ip, static_cast<unsigned short>(address_.port));
    conn->socket().async_connect(
        endpoint, [self, attempt, conn](error_code ec) { self->on_connect(attempt, conn, ec); });
    return;
  }
  resolver_.async_resolve(
      address_.host, std::to_string(address_.port),
      [self, attempt, conn](error_code ec, const tcp::resolver::results_type& results) {
        if (attempt != self->attempt_) return;
        if (ec) return self->fail();
        asio::async_connect(conn->socket(), results,
                            [self, attempt, conn](error_code ec, const tcp::endpoint&) {
                              self->on_connect(attempt, conn, ec);
                            });
      });
}

void Outbound::on_connect(std::uint64_t attempt, const std::shared_ptr<Connection>& conn,
                          error_code ec) {
  if (attempt != attempt_) return;
  if (ec) return fail();
  error_code ignored;
  conn->socket().set_option(tcp::no_delay(true), ignored);  // Raft heartbeats are small and urgent
  if (!conn->tls()) return established();
  auto self = shared_from_this();
  conn->tls_stream().async_handshake(ssl::stream_base::client,
                                     [self, attempt, conn](error_code ec) {
                                       if (attempt != self->attempt_) return;
                                       if (ec) return self->fail(true);
                                       // The CA vouches for every node; only the CN says this is
                                       // the one we meant to dial (and not another member listening
                                       // at a stale address).
                                       if (!peer_is(conn->tls_stream().native_handle(), self->id_))
                                         return self->fail(true);
                                       self->established();
                                     });
}

void Outbound::established() {
  auto self = shared_from_this();
  const std::uint64_t attempt = attempt_;
  state_ = State::connected;
  timer_.cancel();
  established_at_ = Clock::now();
  hello_pending_ = true;
  t_.set_connected(id_, true);
  // The listener never writes on this connection, so whatever completes
  // this read (data, end of stream, reset) means the connection is over.
  auto conn = conn_;
  conn->async_read_some(asio::buffer(&conn->probe, 1),
                        [self, attempt, conn](error_code, std::size_t) {
                          if (attempt != self->attempt_) return;
                          self->fail();
                        });
  pump();
}

void Outbound::pump() {
  if (state_ != State::connected || writing_) return;
  std::vector<Bytes> frames;
  const std::size_t payload_frames = t_.take_frames(id_, frames);
  if (payload_frames == 0 && !hello_pending_) return;

  // One contiguous buffer: under TLS, Asio encrypts only the first buffer of
  // a sequence per record, so gathering headers and frames would cost a
  // record each.
  std::size_t bytes = 0;
  for (const Bytes& f : frames) bytes += frame_header_bytes + f.size();
  auto wire = std::make_shared<Bytes>();
  wire->reserve(bytes + (hello_pending_ ? hello_bytes_max : 0));
  if (hello_pending_) {
    append_frame(*wire, encode_hello(t_.config_.self, t_.config_.network_id));
    hello_pending_ = false;
  }
  for (const Bytes& f : frames) append_frame(*wire, f);

  auto self = shared_from_this();
  const std::uint64_t attempt = attempt_;
  writing_ = true;
  in_flight_frames_ = payload_frames;
  conn_->async_write(asio::buffer(*wire),
                     [self, attempt, wire, conn = conn_](error_code ec, std::size_t) {
                       if (attempt != self->attempt_) return;
                       self->writing_ = false;
                       if (ec) return self->fail();
                       const std::size_t sent = std::exchange(self->in_flight_frames_, 0);
                       self->t_.count([&](TransportStats& s) { s.frames_sent += sent; });
                       self->pump();
                     });
}

void Outbound::drop_connection() {
  ++attempt_;
  if (conn_) {
    conn_->close();
    conn_.reset();
  }
  resolver_.cancel();
  timer_.cancel();
  if (writing_) {
    // Part of the batch may have reached the peer, but which part is
    // unknown; Raft retransmits what matters.
    const std::size_t lost = std::exchange(in_flight_frames_, 0);
    t_.count([&](TransportStats& s) { s.frames_dropped += lost; });
    writing_ = false;
  }
  if (state_ == State::connected) t_.set_connected(id_, false);
}

void Outbound::fail(bool refused) {
  if (state_ == State::closed) return;
  if (refused) t_.count([](TransportStats& s) { ++s.connections_refused; });
  // "Success" is a connection that lasted: one the peer accepts and then
  // drops at once (a refused hello, say) must not be redialled at the
  // minimum delay forever.
  const bool lasted =
      state_ == State::connected && Clock::now() - established_at_ >= ms(t_.config_.backoff_ms_max);
  drop_connection();
  if (lasted) backoff_ms_ = t_.config_.backoff_ms_min;
  const std::int64_t delay_ms = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, t_.config_.backoff_ms_max);

  state_ = State::waiting;
  auto self = shared_from_this();
  const std::uint64_t attempt = attempt_;
  timer_.expires_after(ms(delay_ms));
  timer_.async_wait([self, attempt](error_code ec) {
    if (ec || attempt != self->attempt_) return;
    self->t_.count([](TransportStats& s) { ++s.reconnects; });
    self->dial();
  });
}

// An accepted connection: TLS handshake (if any) and hello within
// connect_timeout_ms, then frames to the FrameHandler until it ends.
class Inbound : public std::enable_shared_from_this<Inbound> {
 public:
  Inbound(TransportImpl& t, std::shared_ptr<Connection> conn)
      : t_(t), conn_(std::move(conn)), hello_timer_(t.io_) {}

  void start();
  // `refused`: the connection ended without a valid hello, or broke the
  // rules after it; counted in connections_refused.
  void close(bool refused);
  PeerId peer() const { return peer_; }

 private:
  void read_frame();
  void on_frame(Bytes frame);

  TransportImpl& t_;
  std::shared_ptr<Connection> conn_;
  asio::steady_timer hello_timer_;
  PeerId peer_ = 0;  // 0 until a valid hello
  bool closed_ = false;
  FrameHeader header_{};
  Bytes body_;
};

void Inbound::start() {
  auto self = shared_from_this();
  // The dialler has connect_timeout_ms for connect and handshake; the same
  // for handshake and hello here, so a silent stranger holds a slot no longer.
  hello_timer_.expires_after(ms(t_.config_.connect_timeout_ms));
  hello_timer_.async_wait([self](error_code ec) {
    if (!ec && self->peer_ == 0) self->close(true);
  });
  error_code ignored;
  conn_->socket().set_option(tcp::no_delay(true), ignored);
  if (!conn_->tls()) return read_frame();
  conn_->tls_stream().async_handshake(ssl::stream_base::server, [self](error_code ec) {
    if (self->closed_) return;
    if (ec) return self->close(true);
    self->read_frame();
  });
}

void Inbound::read_frame() {
  auto self = shared_from_this();
  conn_->async_read(asio::buffer(header_), [self](error_code ec, std::size_t) {
    if (self->closed_) return;
    if (ec) return self->close(self->peer_ == 0);
    const std::size_t length = decode_length(self->header_);
    const std::size_t limit = self->peer_ == 0 ? hello_bytes_max : self->t_.config_.frame_bytes_max;
    if (length > limit) return self->close(true);
    self->body_.resize(length);
    self->conn_->async_read(asio::buffer(self->body_), [self](error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->close(self->peer_ == 0);
      self->on_frame(std::exchange(self->body_, Bytes{}));
    });
  });
}

void Inbound::on_frame(Bytes frame) {
  if (peer_ != 0) {
    t_.deliver(peer_, std::move(frame));
  } else {
    const auto hello = decode_hello(frame);
    if (!hello || hello->network_id != t_.config_.network_id || hello->node == 0 ||
        hello->node == t_.config_.self)
      return close(true);
    if (conn_->tls() && !peer_is(conn_->tls_stream().native_handle(), hello->node))
      return close(true);
    peer_ = hello->node;
    hello_timer_.cancel();
    t_.authenticated(shared_from_this());
  }
  // The handler may have stopped this connection (remove, shutdown).
  if (!closed_) read_frame();
}

void Inbound::close(bool refused) {
  if (closed_) return;
  closed_ = true;
  // Counted before the close, so whoever sees the close sees the count.
  if (refused) t_.count([](TransportStats& s) { ++s.connections_refused; });
  conn_->close();
  hello_timer_.cancel();
  t_.inbound_.erase(shared_from_this());
}

Result<int> TransportImpl::start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (phase_ != Phase::created) __builtin_trap();  // start() is called once, before stop()
  auto fail = [&](const std::string& what, const error_code& ec) {
    error_code ignored;
    acceptor_.close(ignored);
    return make_error("listen", what + " " + config_.listen_host + ":" +
                                    std::to_string(config_.listen_port) + ": " + ec.message());
  };
  error_code ec;
  const auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) return fail("listen_host is not an IP address:", ec);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(config_.listen_port));
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("cannot open", ec);
  // A restarted node takes its port back although old connections linger
  // in TIME_WAIT.
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("cannot set SO_REUSEADDR on", ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("cannot bind", ec);
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on", ec);
  const int port = acceptor_.local_endpoint(ec).port();
  if (ec) return fail("cannot read the port of", ec);

  work_.emplace(io_.get_executor());
  accept();  // the I/O thread is not running yet, so this is not a race
  thread_ = std::thread([this] {
    name_this_thread("custos-net");
    io_.run();
  });
  phase_ = Phase::running;
  return port;
}

void TransportImpl::stop() {
  // Joining the I/O thread from itself would never return.
  if (std::this_thread::get_id() == thread_.get_id()) __builtin_trap();
  std::lock_guard lifecycle(lifecycle_mu_);
  if (phase_ == Phase::running) {
    asio::post(io_, [this] { shutdown(); });
    thread_.join();
  }
  phase_ = Phase::stopped;
  std::lock_guard lock(mu_);
  for (auto& [id, queue] : queues_) queue.connected = false;
}

void TransportImpl::shutdown() {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& [id, outbound] : outbound_) outbound->close();
  outbound_.clear();
  auto inbound = std::move(inbound_);
  inbound_.clear();
  for (const auto& connection : inbound) connection->close(false);
  // With every socket and timer closed, run() returns once their handlers
  // have seen operation_aborted.
  work_.reset();
}

void TransportImpl::accept() {
  acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      accept_retry_.expires_after(ms(accept_retry_ms));
      accept_retry_.async_wait([this](error_code ec) {
        if (!ec && !stopping_) accept();
      });
      return;
    }
    on_accepted(std::move(socket));
    accept();
  });
}

void TransportImpl::on_accepted(tcp::socket socket) {
  if (inbound_.size() >= inbound_connections_max) {
    count([](TransportStats& s) { ++s.connections_refused; });
    error_code ignored;
    socket.close(ignored);
    return;
  }
  auto inbound = std::make_shared<Inbound>(
      *this, std::make_shared<Connection>(std::move(socket), tls_context()));
  inbound_.insert(inbound);
  inbound->start();
}

void TransportImpl::authenticated(const std::shared_ptr<Inbound>& fresh) {
  // One connection per direction: a second one from the same node means it
  // restarted or redialled, and the older one is dead or about to be.
  std::vector<std::shared_ptr<Inbound>> stale;
  for (const auto& other : inbound_)
    if (other != fresh && other->peer() == fresh->peer()) stale.push_back(other);
  for (const auto& other : stale) other->close(false);
}

void TransportImpl::deliver(PeerId from, Bytes frame) {
  count([](TransportStats& s) { ++s.frames_received; });
  on_frame_(from, std::move(frame));
}

void TransportImpl::set_peer(PeerId id, PeerAddress address) {
  // Misuse, checked in every build: the node filters itself out of the
  // membership and its config loader checks ports.
  if (id == 0 || id == config_.self || address.port < 1 || address.port > 65535) __builtin_trap();
  {
    std::lock_guard lock(mu_);
    queues_.try_emplace(id);
  }
  asio::post(io_, [this, id, address = std::move(address)]() mutable {
    if (stopping_) return;
    if (auto it = outbound_.find(id); it != outbound_.end()) return it->second->retarget(address);
    auto outbound = std::make_shared<Outbound>(*this, id, std::move(address));
    outbound_.emplace(id, outbound);
    outbound->dial();
  });
}

void TransportImpl::remove_peer(PeerId id) {
  {
    std::lock_guard lock(mu_);
    auto it = queues_.find(id);
    if (it == queues_.end()) return;
    stats_.frames_dropped += it->second.frames.size();
    queues_.erase(it);
  }
  asio::post(io_, [this, id] {
    auto it = outbound_.find(id);
    if (it == outbound_.end()) return;
    it->second->close();
    outbound_.erase(it);
  });
}

void TransportImpl::send(PeerId to, Bytes frame) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(to);
  // A frame the peer would refuse must not cost the connection.
  if (it == queues_.end() || frame.size() > config_.frame_bytes_max) {
    ++stats_.frames_dropped;
    return;
  }
  PeerQueue& queue = it->second;
  queue.bytes += frame.size();
  queue.frames.push_back(std::move(frame));
  while (queue.frames.size() > config_.queue_frames_max ||
         (queue.bytes > config_.queue_bytes_max && queue.frames.size() > 1)) {
    queue.bytes -= queue.frames.front().size();
    queue.frames.pop_front();  // the newest Raft messages supersede the oldest
    ++stats_.frames_dropped;
  }
  if (!queue.wake_posted) {
    queue.wake_posted = true;
    asio::post(io_, [this, to] { wake(to); });
  }
}

void TransportImpl::wake(PeerId id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = queues_.find(id); it != queues_.end()) it->second.wake_posted = false;
  }
  if (stopping_) return;
  if (auto it = outbound_.find(id); it != outbound_.end()) it->second->pump();
}

std::size_t TransportImpl::take_frames(PeerId id, std::vector<Bytes>& out) {
  std::lock_guard lock(mu_);
  auto it = queues_.find(id);
  if (it == queues_.end()) return 0;
  auto& frames = it->second.frames;
  std::size_t bytes = 0;
  std::size_t taken = 0;
  // At least one frame, however large: frame_bytes_max is the real bound.
  while (!frames.empty() && taken < write_batch_frames_max &&
         (taken == 0 || bytes + frames.front().size() <= write_batch_bytes_max)) {
    bytes += frames.front().size();
    it->second.bytes -= frames.front().size();
    out.push_back(std::move(frames.front()));
    frames.pop_front();
    ++taken;
  }
  return taken;
}

void TransportImpl::set_connected(PeerId id, bool up) {
  std::lock_guard lock(mu_);
  if (auto it = queues_.find(id); it != queues_.end()) it->second.connected = up;
}

TransportStats TransportImpl::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool TransportImpl::connected(PeerId id) const {
  std::lock_guard lock(mu_);
  auto it = queues_.find(id);
  return it != queues_.end() && it->second.connected;
}

}  // namespace

Result<std::unique_ptr<Transport>> Transport::create(TransportConfig config,
                                                     FrameHandler on_frame) {
  if (!on_frame) __builtin_trap();  // a transport that drops every frame is a bug
  if (auto checked = check_config(config); !checked) return checked.error();
  std::optional<ssl::context> tls;
  if (config.tls) {
    auto made = make_tls_context(*config.tls, config.self);
    if (!made) return made.error();
    tls.emplace(std::move(made).value());
  }
  return std::unique_ptr<Transport>(
      std::make_unique<TransportImpl>(std::move(config), std::move(on_frame), std::move(tls)));
}

}  // namespace custos::node
