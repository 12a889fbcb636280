// The transport between real sockets on 127.0.0.1, plain and under mutual
// TLS with certificates from scripts/make-certs. Strangers are played by raw
// sockets that write bytes by hand, following docs/transport.md rather than
// the transport's own encoder, so a drift of either side from the document
// fails here.
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// After <utility>: Boost 1.74's awaitable.hpp uses std::exchange without including it.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "core/bytes.h"
#include "node/transport.h"
#include "tests/test_util.h"

using namespace custos;
using namespace custos::node;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

const std::string network = "custos-test";

// Certificates for nodes 1..4 from the network CA, and node 3 again from a
// CA the network does not know. Made once per test run, removed at exit.
class Certs {
 public:
  Certs() {
    root_ = fs::temp_directory_path() / ("custos-transport-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    make(root_ / "net", "1 2 3 4");
    make(root_ / "other", "3");
  }
  ~Certs() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  TlsFiles node(PeerId id) const { return files(root_ / "net", id); }
  // Trusts the network CA but holds a certificate the network CA never signed.
  TlsFiles stranger(PeerId id) const {
    TlsFiles f = files(root_ / "other", id);
    f.ca = root_ / "net" / "ca.pem";
    return f;
  }
  TlsFiles other_network(PeerId id) const { return files(root_ / "other", id); }

 private:
  static void make(const fs::path& dir, const std::string& ids) {
    const std::string command =
        std::string(CUSTOS_MAKE_CERTS) + " '" + dir.string() + "' " + ids + " >/dev/null";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }
  static TlsFiles files(const fs::path& dir, PeerId id) {
    const std::string name = "node-" + std::to_string(id);
    return {dir / "ca.pem", dir / (name + ".pem"), dir / (name + ".key")};
  }
  fs::path root_;
};

const Certs& certs() {
  static const Certs made;
  return made;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// Frames received, as text, in arrival order.
class Inbox {
 public:
  Transport::FrameHandler handler() {
    return [this](PeerId from, Bytes frame) {
      std::lock_guard lock(mu_);
      frames_.emplace_back(from, std::string(frame.begin(), frame.end()));
    };
  }
  std::vector<std::string> from(PeerId id) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [peer, frame] : frames_)
      if (peer == id) out.push_back(frame);
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return frames_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<PeerId, std::string>> frames_;
};

TransportConfig config_for(PeerId self, bool tls, int port = 0) {
  TransportConfig c;
  c.self = self;
  c.network_id = network;
  c.listen_port = port;
  if (tls) c.tls = certs().node(self);
  // Short enough that reconnects and refusals finish well within a test.
  c.backoff_ms_min = 10;
  c.backoff_ms_max = 100;
  c.connect_timeout_ms = 1000;
  c.frame_bytes_max = 1 << 16;
  return c;
}

// A transport and what it received; the transport goes first on destruction
// because its handler writes into the inbox.
struct Node {
  Inbox inbox;
  std::unique_ptr<Transport> t;
  int port = 0;
  PeerAddress address() const { return {"127.0.0.1", port}; }
};

std::unique_ptr<Node> start_node(TransportConfig config) {
  auto node = std::make_unique<Node>();
  auto made = Transport::create(std::move(config), node->inbox.handler());
  REQUIRE(made.ok());
  node->t = std::move(made).value();
  auto port = node->t->start();
  REQUIRE(port.ok());
  node->port = *port;
  return node;
}

std::unique_ptr<Node> start_node(PeerId self, bool tls, int port = 0) {
  return start_node(config_for(self, tls, port));
}

std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

// --- Strangers on raw sockets, per docs/transport.md --------------------

Bytes length_only(std::uint32_t n) {
  return {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
          static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.reserve(a.size() + b.size());
  for (std::uint8_t byte : b) a.push_back(byte);  // insert() trips GCC 12's -Warray-bounds
  return a;
}

Bytes framed(const Bytes& body) {
  return length_only(static_cast<std::uint32_t>(body.size())) + body;
}

Bytes hello(PeerId node, const std::string& network_id, std::uint8_t version = 1) {
  Bytes body = text("CUSTOS-RAFT");
  body.push_back(version);
  for (int shift = 56; shift >= 0; shift -= 8)
    body.push_back(static_cast<std::uint8_t>(node >> shift));
  body.push_back(static_cast<std::uint8_t>(network_id.size()));
  body.insert(body.end(), network_id.begin(), network_id.end());
  return framed(body);
}

// A plain TCP client on a blocking POSIX socket: nothing here can wait
// longer than the timeouts given.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void write(const Bytes& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Whether the listener ends the connection within timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      std::uint8_t sink[256];
      if (::recv(fd_, sink, sizeof sink, 0) <= 0) return true;  // end of stream or reset
    }
  }

 private:
  int fd_ = -1;
};

// A TLS client holding `files`; the listener always answers or closes
// within its connect timeout, so the blocking handshake is bounded.
class RawTlsClient {
 public:
  RawTlsClient(int port, const TlsFiles& files) : ctx_(client_context(files)), stream_(io_, ctx_) {
    stream_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // Handshake and write; either may fail when the listener refuses.
  void say(const Bytes& bytes) {
    boost::system::error_code ec;
    stream_.handshake(ssl::stream_base::client, ec);
    if (!ec) asio::write(stream_, asio::buffer(bytes), ec);
  }

 private:
  // Complete before the stream exists: OpenSSL copies the certificate into
  // each connection when it is created.
  static ssl::context client_context(const TlsFiles& files) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(files.ca.string());
    ctx.use_certificate_chain_file(files.cert.string());
    ctx.use_private_key_file(files.key.string(), ssl::context::pem);
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
  }

  asio::io_context io_;
  ssl::context ctx_;
  ssl::stream<tcp::socket> stream_;
};

std::uint64_t refused(Node& node) {
  return node.t->stats().connections_refused;
}

// Node 1 dials node 2 and a frame arrives: the listener still works.
void check_still_serves(Node& listener, bool tls) {
  auto dialler = start_node(1, tls);
  dialler->t->set_peer(2, listener.address());
  const auto before = listener.inbox.from(1).size();
  dialler->t->send(2, text("still here"));
  CHECK(eventually([&] { return listener.inbox.from(1).size() == before + 1; }));
}

}  // namespace

TEST_CASE("two transports exchange frames both ways, in order, plain and under TLS") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    auto a = start_node(1, tls);
    auto b = start_node(2, tls);
    a->t->set_peer(2, b->address());
    b->t->set_peer(1, a->address());
    constexpr int count = 500;
    for (int i = 0; i < count; ++i) {
      a->t->send(2, text("a" + std::to_string(i)));
      b->t->send(1, text("b" + std::to_string(i)));
    }
    REQUIRE(eventually([&] { return a->inbox.size() == count && b->inbox.size() == count; }));
    CHECK(b->inbox.from(1) == numbered("a", 0, count));
    CHECK(a->inbox.from(2) == numbered("b", 0, count));
    CHECK(a->t->connected(2));
    CHECK(b->t->connected(1));
    const TransportStats s = a->t->stats();
    CHECK(s.frames_sent == count);
    CHECK(s.frames_received == count);
    CHECK(s.frames_dropped == 0);
    CHECK(s.connections_refused == 0);
  }
}

TEST_CASE("three transports each reach the other two, plain and under TLS") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    std::vector<std::unique_ptr<Node>> nodes;
    for (PeerId id = 1; id <= 3; ++id) nodes.push_back(start_node(id, tls));
    for (PeerId from = 1; from <= 3; ++from)
      for (PeerId to = 1; to <= 3; ++to)
        if (from != to) nodes[from - 1]->t->set_peer(to, nodes[to - 1]->address());
    for (int i = 0; i < 50; ++i)
      for (PeerId from = 1; from <= 3; ++from)
        for (PeerId to = 1; to <= 3; ++to)
          if (from != to)
            nodes[from - 1]->t->send(to, text(std::to_string(from) + ">" + std::to_string(i)));
    for (PeerId to = 1; to <= 3; ++to) {
      Node& node = *nodes[to - 1];
      REQUIRE(eventually([&] { return node.inbox.size() == 100; }));
      for (PeerId from = 1; from <= 3; ++from)
        if (from != to) CHECK(node.inbox.from(from) == numbered(std::to_string(from) + ">", 0, 50));
    }
  }
}

TEST_CASE("a restarted peer gets the frames queued while it was down") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    auto a = start_node(1, tls);
    auto b = start_node(2, tls);
    const int port = b->port;
    a->t->set_peer(2, b->address());
    a->t->send(2, text("before"));
    REQUIRE(eventually([&] { return b->inbox.size() == 1; }));

    b.reset();  // the destructor stops it
    REQUIRE(eventually([&] { return !a->t->connected(2); }));
    for (const auto& f : numbered("queued", 0, 5)) a->t->send(2, text(f));

    auto b2 = start_node(2, tls, port);
    REQUIRE(eventually([&] { return b2->inbox.size() == 5; }));
    CHECK(b2->inbox.from(1) == numbered("queued", 0, 5));
    CHECK(a->t->connected(2));
    CHECK(a->t->stats().reconnects >= 1);
  }
}

TEST_CASE("while a peer is down its queue keeps only the newest queue_frames_max frames") {
  const int port = custos::testing::free_loopback_port();
  TransportConfig config = config_for(1, false);
  config.queue_frames_max = 3;
  auto a = start_node(config);
  a->t->set_peer(2, {"127.0.0.1", port});
  for (const auto& f : numbered("f", 0, 10)) a->t->send(2, text(f));
  CHECK(a->t->stats().frames_dropped == 7);
  CHECK_FALSE(a->t->connected(2));

  auto b = start_node(2, false, port);
  REQUIRE(eventually([&] { return b->inbox.size() == 3; }));
  CHECK(b->inbox.from(1) == numbered("f", 7, 10));
  CHECK(a->t->stats().frames_sent == 3);
}

TEST_CASE("a frame larger than frame_bytes_max is dropped by the sender, not sent") {
  auto a = start_node(1, false);
  auto b = start_node(2, false);
  a->t->set_peer(2, b->address());
  a->t->send(2, Bytes((1 << 16) + 1, 'x'));
  a->t->send(2, text("small"));
  REQUIRE(eventually([&] { return b->inbox.size() == 1; }));
  CHECK(b->inbox.from(1) == std::vector<std::string>{"small"});
  CHECK(a->t->stats().frames_dropped == 1);
  CHECK(refused(*b) == 0);
}

TEST_CASE("a plain-TCP stranger that breaks the rules is disconnected and counted") {
  auto b = start_node(2, false);
  struct Case {
    const char* name;
    Bytes bytes;
  };
  const std::vector<Case> cases = {
      {"garbage in a hello-sized frame", framed(text("GET / HTTP/1.1"))},
      {"an HTTP request (a huge length)", text("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
      {"a length beyond the hello limit", length_only(513)},
      {"a wrong network id", hello(1, "another-network")},
      {"a wrong version", hello(1, network, 2)},
      {"node id 0", hello(0, network)},
      {"the listener's own id", hello(2, network)},
      {"a hello with a trailing byte",
       [] {
         Bytes h = hello(1, network);
         h[3] += 1;
         h.push_back(0);
         return h;
       }()},
      {"a frame beyond frame_bytes_max after a good hello",
       hello(1, network) + length_only((1 << 16) + 1)},
      {"nothing at all (the hello timeout)", {}},
  };
  std::uint64_t expected = 0;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    RawClient stranger(b->port);
    if (!c.bytes.empty()) stranger.write(c.bytes);
    CHECK(stranger.closed_by_peer());
    ++expected;
    CHECK(eventually([&] { return refused(*b) == expected; }));
  }
  CHECK(b->inbox.size() == 0);
  check_still_serves(*b, false);
}

TEST_CASE("without TLS a raw client that follows docs/transport.md is heard") {
  // The hello of node 1 on custos-test, as the document shows it.
  const auto documented = hex_decode(
      "00000020"
      "435553544f532d52414654"
      "01"
      "0000000000000001"
      "0b637573746f732d74657374");
  REQUIRE(documented.ok());
  CHECK(hello(1, "custos-test") == *documented);

  auto b = start_node(2, false);
  RawClient client(b->port);
  client.write(*documented + framed(text("one")) + framed(Bytes{}) + framed(text("three")));
  REQUIRE(eventually([&] { return b->inbox.size() == 3; }));
  CHECK(b->inbox.from(1) == std::vector<std::string>{"one", "", "three"});
  CHECK(refused(*b) == 0);
}

TEST_CASE("under TLS the hello must name the node of the client certificate") {
  auto b = start_node(2, true);
  {
    RawTlsClient honest(b->port, certs().node(3));
    honest.say(hello(3, network) + framed(text("from 3")));
    CHECK(eventually([&] { return b->inbox.from(3) == std::vector<std::string>{"from 3"}; }));
  }
  {
    RawTlsClient impostor(b->port, certs().node(3));
    impostor.say(hello(4, network) + framed(text("claims 4")));
    CHECK(eventually([&] { return refused(*b) == 1; }));
  }
  {
    RawClient plain(b->port);  // plain bytes on a TLS port are garbage
    plain.write(hello(3, network));
    CHECK(plain.closed_by_peer());
    CHECK(eventually([&] { return refused(*b) == 2; }));
  }
  CHECK(b->inbox.from(4).empty());
  check_still_serves(*b, true);
}

TEST_CASE("under TLS a certificate from another CA is refused, both ways") {
  auto b = start_node(2, true);
  {
    RawTlsClient stranger(b->port, certs().stranger(3));
    stranger.say(hello(3, network) + framed(text("let me in")));
    CHECK(eventually([&] { return refused(*b) == 1; }));
  }
  // A whole node of another network: it rejects our listener's certificate
  // (and ours would reject its), so it never gets connected.
  TransportConfig other = config_for(3, false);
  other.tls = certs().other_network(3);
  auto c = start_node(other);
  c->t->set_peer(2, b->address());
  c->t->send(2, text("let me in"));
  CHECK(eventually([&] { return refused(*c) >= 1 && refused(*b) >= 2; }));
  CHECK_FALSE(c->t->connected(2));
  CHECK(b->inbox.size() == 0);
  check_still_serves(*b, true);
}

TEST_CASE("under TLS the dialler refuses a listener whose CN is not the peer it dialled") {
  auto a = start_node(1, true);
  auto b = start_node(2, true);
  a->t->set_peer(3, b->address());  // a stale address: node 2 listens there now
  a->t->send(3, text("for 3 only"));
  CHECK(eventually([&] { return refused(*a) >= 1; }));
  CHECK_FALSE(a->t->connected(3));
  CHECK(b->inbox.size() == 0);
}

TEST_CASE("set_peer adds and moves peers at run time; remove_peer stops sending") {
  auto a = start_node(1, false);
  auto c = start_node(3, false);
  a->t->send(3, text("unknown yet"));
  CHECK(a->t->stats().frames_dropped == 1);

  a->t->set_peer(3, c->address());
  a->t->send(3, text("hello 3"));
  REQUIRE(eventually([&] { return c->inbox.size() == 1; }));

  // Node 3 moves to another port; the old address goes dead.
  auto c2 = start_node(3, false);
  c.reset();
  a->t->set_peer(3, c2->address());
  a->t->send(3, text("at the new address"));
  REQUIRE(eventually([&] { return c2->inbox.size() == 1; }));
  CHECK(c2->inbox.from(1) == std::vector<std::string>{"at the new address"});

  a->t->remove_peer(3);
  CHECK_FALSE(a->t->connected(3));
  const auto dropped = a->t->stats().frames_dropped;
  a->t->send(3, text("after removal"));
  CHECK(a->t->stats().frames_dropped == dropped + 1);
  // The removed connection is closed, and nothing more arrives.
  std::this_thread::sleep_for(50ms);
  CHECK(c2->inbox.size() == 1);
}

TEST_CASE("inbound connections beyond the limit are closed at once") {
  TransportConfig config = config_for(2, false);
  config.connect_timeout_ms = 10000;  // the first 64 stay open while we look
  auto b = start_node(config);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 64; ++i) clients.push_back(std::make_unique<RawClient>(b->port));
  RawClient extra(b->port);
  CHECK(extra.closed_by_peer());
  CHECK(eventually([&] { return refused(*b) == 1; }));
  clients.clear();  // they leave without a hello: refused too, and their slots free up
  CHECK(eventually([&] { return refused(*b) == 65; }));
  check_still_serves(*b, false);
}

TEST_CASE("create refuses unusable certificates and configurations; start refuses a taken port") {
  auto error_of = [](TransportConfig c) {
    auto made = Transport::create(std::move(c), [](PeerId, Bytes) {});
    return made.ok() ? std::string("ok") : made.error().code;
  };
  CHECK(error_of(config_for(1, true)) == "ok");

  TransportConfig missing = config_for(1, true);
  missing.tls->key = "/nonexistent/node-1.key";
  CHECK(error_of(missing) == "tls");
  TransportConfig wrong_cn = config_for(1, true);
  wrong_cn.tls = certs().node(2);  // node 2's certificate on node 1
  CHECK(error_of(wrong_cn) == "tls");
  TransportConfig wrong_key = config_for(1, true);
  wrong_key.tls->key = certs().node(2).key;
  CHECK(error_of(wrong_key) == "tls");
  TransportConfig foreign = config_for(3, true);
  foreign.tls = certs().stranger(3);  // signed by a CA the network does not trust
  CHECK(error_of(foreign) == "tls");

  TransportConfig no_self = config_for(0, false);
  CHECK(error_of(no_self) == "config");
  TransportConfig long_network = config_for(1, false);
  long_network.network_id = std::string(256, 'n');
  CHECK(error_of(long_network) == "config");
  TransportConfig no_backoff = config_for(1, false);
  no_backoff.backoff_ms_min = 0;
  CHECK(error_of(no_backoff) == "config");
  TransportConfig no_queue = config_for(1, false);
  no_queue.queue_frames_max = 0;
  CHECK(error_of(no_queue) == "config");

  auto a = start_node(1, false);
  auto made = Transport::create(config_for(2, false, a->port), [](PeerId, Bytes) {});
  REQUIRE(made.ok());
  auto port = (*made)->start();
  REQUIRE_FALSE(port.ok());
  CHECK(port.error().code == "listen");
}

TEST_CASE("stop is idempotent, and a transport never started stops cleanly") {
  auto a = start_node(1, false);
  auto b = start_node(2, false);
  a->t->set_peer(2, b->address());
  a->t->send(2, text("x"));
  REQUIRE(eventually([&] { return b->inbox.size() == 1; }));
  a->t->stop();
  a->t->stop();
  CHECK_FALSE(a->t->connected(2));
  a->t->send(2, text("after stop"));  // queued, never sent; must not crash

  auto made = Transport::create(config_for(3, false), [](PeerId, Bytes) {});
  REQUIRE(made.ok());
  (*made)->set_peer(2, b->address());
  (*made)->send(2, text("never"));
  (*made)->stop();
}
