// Three custos-node processes ordering with Raft over mutual TLS, as an
// operator runs them: kill -9 of the leader under write load (ten times),
// catch-up by snapshot after a long absence, and a partitioned minority made
// by a fault-injecting TCP proxy between the nodes. Afterwards every
// transaction acknowledged with ?wait=commit must be on every node, and all
// nodes must report the same head.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "core/jwt.h"
#include "core/node_key.h"
#include "core/signed_head.h"
#include "tests/node_process.h"
#include "tests/test_util.h"

using namespace custos;
using custos::testing::enrol_tx;
using custos::testing::NodeProcess;
using custos::testing::now_ms;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kNetwork = "custos-raft-test";

// A TCP forwarder from a loopback port to another, which the test can cut:
// cutting closes every open connection and refuses new ones, as a network
// partition looks to the nodes (TLS passes through untouched).
class Proxy {
 public:
  explicit Proxy(int upstream_port) : upstream_(upstream_port) {
    listen_fd_ = custos::testing::bind_loopback_socket(&port_);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~Proxy() {
    stopping_ = true;
    set_cut(true);
    thread_.join();
    for (auto& t : pumps_) t.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  void set_cut(bool cut) {
    std::lock_guard lock(mu_);
    cut_ = cut;
    if (cut) {
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int in = ::accept(listen_fd_, nullptr, nullptr);
      if (in < 0) continue;
      int out = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(upstream_));
      std::lock_guard lock(mu_);
      if (cut_ || ::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(in);
        ::close(out);
        continue;
      }
      open_.insert(in);
      open_.insert(out);
      pumps_.emplace_back([this, in, out] { pump(in, out); });
    }
  }
  void pump(int a, int b) {
    char buf[64 << 10];
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stopping_) {
      if (::poll(p, 2, 50) < 0) break;
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          done = true;
          break;
        }
        for (ssize_t off = 0; off < n;) {
          ssize_t w =
              ::send(p[1 - i].fd, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) {
            done = true;
            break;
          }
          off += w;
        }
      }
      if (done) break;
    }
    std::lock_guard lock(mu_);
    open_.erase(a);
    open_.erase(b);
    ::close(a);
    ::close(b);
  }

  int upstream_;
  int port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  bool cut_ = false;
  std::set<int> open_;
  std::vector<std::thread> pumps_;
  std::thread thread_;
};

struct ClusterOptions {
  int nodes = 3;
  std::uint64_t snapshot_entries = 10'000;
  bool proxied = false;  // route every node-to-node link through a Proxy
  int commit_wait_ms = 10'000;
  int learners = 0;        // the last `learners` nodes replicate without voting
  bool plain_tcp = false;  // no TLS between nodes (so a test can speak the wire protocol)
  std::uint64_t uncommitted_bytes_max = 64 << 20;
};

// A network of custos-node processes in a temporary folder.
class Cluster {
 public:
  explicit Cluster(ClusterOptions o) : o_(o), admin_(PrivateKey::generate()) {
    dir_ = fs::temp_directory_path() /
           ("custos-raft-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string ids;
    for (int i = 1; i <= o_.nodes; ++i) ids += " " + std::to_string(i);
    std::string cmd = custos::testing::source_path("scripts/make-certs") + " " +
                      (dir_ / "certs").string() + ids + " >" + (dir_ / "make-certs.log").string() +
                      " 2>&1";
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0,
                    "scripts/make-certs failed: "
                        << custos::testing::read_text((dir_ / "make-certs.log").string()));

    Json nodes = Json::array();
    for (int i = 1; i <= o_.nodes; ++i) {
      node_keys_.emplace(i, PrivateKey::generate());
      nodes.push_back({{"id", name(i)},
                       {"org", "police"},
                       {"public_key", node_keys_.at(i).public_key().hex()}});
      std::ofstream(dir_ / (name(i) + ".key")) << node_key_file_text(node_keys_.at(i));
    }
    Json genesis = {
        {"network_id", kNetwork},
        {"created_at_ms", now_ms() - 60'000},
        {"orgs",
         {{{"id", "police"},
           {"name", "Police"},
           {"kind", "police"},
           {"admins", {{{"id", "police-admin"}, {"public_key", admin_.public_key().hex()}}}}}}},
        {"nodes", nodes}};
    std::ofstream(dir_ / "genesis.json") << genesis.dump();

    for (int i = 1; i <= o_.nodes; ++i) {
      gateway_port_[i] = custos::testing::free_loopback_port();
      raft_port_[i] = custos::testing::free_loopback_port();
    }
    for (int i = 1; i <= o_.nodes; ++i) {
      Json peers = Json::array();
      for (int j = 1; j <= o_.nodes; ++j) {
        int port = raft_port_[j];
        if (o_.proxied && i != j) {
          proxies_[{i, j}] = std::make_unique<Proxy>(raft_port_[j]);
          port = proxies_[{i, j}]->port();
        }
        peers.push_back({{"id", j}, {"name", name(j)}, {"host", "127.0.0.1"}, {"port", port}});
        if (j > o_.nodes - o_.learners) peers.back()["learner"] = true;
      }
      Json config = {{"node_id", name(i)},
                     {"data_dir", name(i)},
                     {"genesis_file", "genesis.json"},
                     {"key_file", name(i) + ".key"},
                     {"listen", {{"host", "127.0.0.1"}, {"port", gateway_port_[i]}}},
                     {"block", {{"txs_max", 100}, {"wait_ms_max", 2}}},
                     {"http", {{"commit_wait_ms_max", o_.commit_wait_ms}}},
                     {"raft",
                      {{"id", i},
                       {"peers", peers},
                       {"tls",
                        {{"ca", "certs/ca.pem"},
                         {"cert", "certs/node-" + std::to_string(i) + ".pem"},
                         {"key", "certs/node-" + std::to_string(i) + ".key"}}},
                       {"tick_ms", 50},
                       {"election_ticks", 10},
                       {"snapshot_entries", o_.snapshot_entries},
                       {"uncommitted_bytes_max", o_.uncommitted_bytes_max}}}};
      if (o_.plain_tcp) {
        config["raft"].erase("tls");
        config["raft"]["plain_tcp"] = true;
      }
      std::ofstream(dir_ / (name(i) + ".json")) << config.dump();
      procs_[i] =
          std::make_unique<NodeProcess>(dir_ / (name(i) + ".json"), dir_ / (name(i) + ".log"));
    }
  }
  ~Cluster() {
    for (auto& [i, p] : procs_) p->kill(SIGTERM);
    proxies_.clear();
    // CUSTOS_KEEP_TEST_FILES=1 keeps the folder (configs, logs, data) to look at.
    if (!std::getenv("CUSTOS_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }

  static std::string name(int i) { return "node" + std::to_string(i); }
  int size() const { return o_.nodes; }
  const fs::path& dir() const { return dir_; }

  void start(int i) {
    procs_[i]->start();
    httplib::Client c = client(i);
    REQUIRE_MESSAGE(custos::testing::wait_ready(c),
                    name(i) << " did not become ready; see " << procs_[i]->log());
  }
  void start_all() {
    for (int i = 1; i <= o_.nodes; ++i) procs_[i]->start();
    for (int i = 1; i <= o_.nodes; ++i) {
      httplib::Client c = client(i);
      REQUIRE_MESSAGE(custos::testing::wait_ready(c), name(i) << " not ready");
    }
  }
  void kill(int i, int sig = SIGKILL) { procs_[i]->kill(sig); }
  bool running(int i) const { return procs_.at(i)->running(); }

  httplib::Client client(int i) const {
    httplib::Client c("127.0.0.1", gateway_port_.at(i));
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(15, 0);
    return c;
  }
  std::optional<Json> healthz(int i) const {
    httplib::Client c = client(i);
    c.set_read_timeout(1, 0);
    auto r = c.Get("/healthz");
    if (!r || r->status != 200) return std::nullopt;
    return Json::parse(r->body);
  }
  // The running node that reports itself leader in the highest term, or 0.
  int leader(std::uint64_t min_term = 0) const {
    int best = 0;
    std::uint64_t best_term = 0;
    for (int i = 1; i <= o_.nodes; ++i) {
      if (!running(i)) continue;
      auto h = healthz(i);
      if (!h || (*h)["role"] != "leader") continue;
      auto term = (*h)["term"].get<std::uint64_t>();
      if (term >= min_term && term >= best_term) {
        best = i;
        best_term = term;
      }
    }
    return best;
  }
  int wait_leader(std::uint64_t min_term, int seconds = 20) const {
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      if (int l = leader(min_term)) return l;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }
  // Waits until node i knows a leader (a node that does not answers 503
  // no_leader to writes, as it should, until the leader's first heartbeat).
  bool wait_knows_leader(int i, int seconds = 20) const {
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      auto h = healthz(i);
      if (h && (*h)["leader"].is_string()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::uint64_t term_of(int i) const {
    auto h = healthz(i);
    return h ? (*h)["term"].get<std::uint64_t>() : 0;
  }
  std::uint64_t height(int i) const {
    auto h = healthz(i);
    return h ? (*h)["height"].get<std::uint64_t>() : 0;
  }
  std::string head_hash(int i) const {
    auto h = healthz(i);
    return h ? (*h)["head_hash"].get<std::string>() : "";
  }
  // Waits until every running node reports the same height and head hash.
  bool wait_converged(int seconds = 30) const {
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      std::set<std::string> heads;
      for (int i = 1; i <= o_.nodes; ++i) {
        if (running(i)) heads.insert(head_hash(i));
      }
      if (heads.size() == 1 && !heads.begin()->empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  int raft_port(int i) const { return raft_port_.at(i); }
  const PrivateKey& node_key(int i) const { return node_keys_.at(i); }
  // GET `path` on node i as the police admin; the body, or nullopt.
  std::optional<Json> get(int i, const std::string& path) const {
    httplib::Client c = client(i);
    auto r = c.Get(path.c_str(), auth());
    if (!r || r->status != 200) return std::nullopt;
    return Json::parse(r->body);
  }
  // One counter of node i's /metrics (0 if absent).
  std::uint64_t metric(int i, const std::string& name) const {
    httplib::Client c = client(i);
    auto r = c.Get("/metrics");
    if (!r || r->status != 200) return 0;
    std::istringstream lines(r->body);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(name + " ", 0) == 0) return std::stoull(line.substr(name.size() + 1));
    }
    return 0;
  }

  httplib::Headers auth() const {
    std::int64_t now = now_ms() / 1000;
    return {{"Authorization",
             "Bearer " + jwt_mint(admin_, {"police-admin", kNetwork, now, now + 300})}};
  }
  // Whether node i has committed tx `id` with result OK.
  bool has_tx(int i, const std::string& id) const {
    httplib::Client c = client(i);
    auto r = c.Get(("/v1/transactions/" + id).c_str(), auth());
    return r && r->status == 200 && Json::parse(r->body)["code"] == "OK";
  }
  Transaction make_tx() { return enrol_tx(kNetwork, admin_, counter_++); }
  // Submits through node i's gateway with ?wait=commit; the HTTP status, or
  // 0 if the node did not answer.
  int submit(int i, const Transaction& tx) {
    httplib::Client c = client(i);
    auto r = c.Post("/v1/transactions?wait=commit", tx.to_json().dump(), "application/json");
    return r ? r->status : 0;
  }
  // As submit(), but as a client that honours Retry-After: a 503 (no leader
  // known during an election, a full queue) is tried again, for up to 20 s.
  // For tests about something other than availability: on a loaded machine
  // (sanitizers, ctest -j2) a heartbeat can come late enough for a follower
  // to start an election in the middle of their writes.
  int submit_retrying(int i, const Transaction& tx) {
    auto deadline = Clock::now() + std::chrono::seconds(20);
    for (;;) {
      httplib::Client c = client(i);
      auto r = c.Post("/v1/transactions?wait=commit", tx.to_json().dump(), "application/json");
      if (r && r->status == 503 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (r && r->status != 200) MESSAGE(name(i) << " answered " << r->status << ": " << r->body);
      return r ? r->status : 0;
    }
  }
  void cut(const std::set<int>& side) {
    for (auto& [link, proxy] : proxies_) {
      proxy->set_cut(side.contains(link.first) != side.contains(link.second));
    }
  }
  void heal() {
    for (auto& [link, proxy] : proxies_) proxy->set_cut(false);
  }

 private:
  static inline int serial_ = 0;
  ClusterOptions o_;
  PrivateKey admin_;
  std::map<int, PrivateKey> node_keys_;
  fs::path dir_;
  std::atomic<int> counter_{0};
  std::map<int, int> gateway_port_, raft_port_;
  std::map<int, std::unique_ptr<NodeProcess>> procs_;
  std::map<std::pair<int, int>, std::unique_ptr<Proxy>> proxies_;
};

// Writers that submit through every gateway in turn and record what was
// acknowledged with ?wait=commit.
class Load {
 public:
  Load(Cluster& cluster, int threads) : cluster_(cluster) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] {
        int target = t;
        while (!stop_) {
          int node = target++ % cluster_.size() + 1;
          if (!cluster_.running(node)) continue;
          Transaction tx = cluster_.make_tx();
          int status = cluster_.submit(node, tx);
          if (status == 200) {
            std::lock_guard lock(mu_);
            acked_.push_back(tx.id().hex());
          } else if (status == 0 || status == 503) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<std::string> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }

 private:
  Cluster& cluster_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> acked_;
  std::vector<std::thread> threads_;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

TEST_CASE("three nodes: kill -9 of the leader under write load, ten times") {
  Cluster cluster({});
  cluster.start_all();
  int leader = cluster.wait_leader(1);
  REQUIRE_MESSAGE(leader != 0, "no leader elected");
  Load load(cluster, 4);

  constexpr int kKills = 10;
  std::vector<double> election_ms;
  for (int round = 0; round < kKills; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    leader = cluster.wait_leader(1);
    REQUIRE(leader != 0);
    std::uint64_t term = cluster.term_of(leader);
    auto t0 = Clock::now();
    cluster.kill(leader, SIGKILL);
    int next = cluster.wait_leader(term + 1);
    REQUIRE_MESSAGE(next != 0, "no new leader after killing " << Cluster::name(leader));
    election_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cluster.start(leader);  // the killed node restarts and catches up
  }
  load.stop();
  std::vector<std::string> acked = load.acked();
  REQUIRE(acked.size() > 50);  // the load really ran
  REQUIRE_MESSAGE(cluster.wait_converged(), "the nodes did not converge on one head");

  std::map<int, std::size_t> found;
  for (int i = 1; i <= cluster.size(); ++i) {
    for (const auto& id : acked) found[i] += cluster.has_tx(i, id) ? 1 : 0;
  }
  std::string times;
  for (double ms : election_ms) times += " " + std::to_string(static_cast<int>(ms));
  MESSAGE(acked.size() << " transactions acknowledged over " << kKills
                       << " leader kills; found on node1/2/3: " << found[1] << "/" << found[2]
                       << "/" << found[3] << "; time to a new leader (ms):" << times << "; median "
                       << median(election_ms) << " ms; height " << cluster.height(1));
  for (int i = 1; i <= cluster.size(); ++i) CHECK(found[i] == acked.size());
}

TEST_CASE("a node down past the compaction threshold catches up by snapshot") {
  Cluster cluster({.snapshot_entries = 20});
  cluster.start_all();
  int leader = cluster.wait_leader(1);
  REQUIRE(leader != 0);
  int absent = leader % cluster.size() + 1;  // a follower
  cluster.kill(absent, SIGKILL);
  std::vector<std::string> acked;
  for (int n = 0; n < 80; ++n) {
    Transaction tx = cluster.make_tx();
    int via = n % 2 == 0 ? leader : 6 - leader - absent;  // the leader and the other follower
    REQUIRE(cluster.submit_retrying(via, tx) == 200);
    acked.push_back(tx.id().hex());
  }
  cluster.start(absent);
  REQUIRE_MESSAGE(cluster.wait_converged(), "the restarted node did not catch up");
  std::string log =
      custos::testing::read_text((cluster.dir() / (Cluster::name(absent) + ".log")).string());
  CHECK_MESSAGE(log.find("catching up by snapshot") != std::string::npos,
                "the node caught up without a snapshot; its log:\n"
                    << log);
  std::size_t found = 0;
  for (const auto& id : acked) found += cluster.has_tx(absent, id) ? 1 : 0;
  CHECK(found == acked.size());
}

TEST_CASE("the leader's uncommitted bytes are released as blocks commit (many times the limit)") {
  // 16 KiB is about ten transactions' worth: if applying did not release
  // what committed, the leader would refuse to propose after a few blocks.
  Cluster cluster({.uncommitted_bytes_max = 16 << 10});
  cluster.start_all();
  int leader = cluster.wait_leader(1);
  REQUIRE(leader != 0);
  for (int n = 0; n < 150; ++n) {
    Transaction tx = cluster.make_tx();
    REQUIRE_MESSAGE(cluster.submit_retrying(n % cluster.size() + 1, tx) == 200,
                    "transaction " << n);
  }
  REQUIRE(cluster.wait_converged());
}

TEST_CASE("a ledger that lost its latest blocks applies them again from the Raft log") {
  // Under Raft the ledger is written without fsync: a power cut may take
  // its latest blocks, never the Raft log's entries (fsynced, and compacted
  // only after a ledger sync). Here a follower's ledger is put back to an
  // older copy, as such a cut would leave it.
  Cluster cluster({});
  cluster.start_all();
  int leader = cluster.wait_leader(1);
  REQUIRE(leader != 0);
  int follower = leader % cluster.size() + 1;
  int other = 6 - leader - follower;
  std::vector<std::string> acked;
  auto write = [&](int count) {
    for (int n = 0; n < count; ++n) {
      Transaction tx = cluster.make_tx();
      REQUIRE(cluster.submit_retrying(n % 2 == 0 ? leader : other, tx) == 200);
      acked.push_back(tx.id().hex());
    }
  };
  write(10);
  REQUIRE(cluster.wait_converged());
  const fs::path ledger_dir = cluster.dir() / Cluster::name(follower) / "ledger";
  const fs::path older = cluster.dir() / "older-ledger";
  cluster.kill(follower, SIGTERM);
  fs::copy(ledger_dir, older, fs::copy_options::recursive);
  cluster.start(follower);
  write(30);
  REQUIRE(cluster.wait_converged());
  cluster.kill(follower, SIGTERM);
  fs::remove_all(ledger_dir);
  fs::rename(older, ledger_dir);
  cluster.start(follower);
  REQUIRE_MESSAGE(cluster.wait_converged(), "the follower did not apply its log again");
  for (const auto& id : acked) CHECK_MESSAGE(cluster.has_tx(follower, id), id);
  std::string log =
      custos::testing::read_text((cluster.dir() / (Cluster::name(follower) + ".log")).string());
  CHECK(log.find("catching up by snapshot") == std::string::npos);
}

TEST_CASE("a partitioned minority cannot commit, and the network heals without divergence") {
  Cluster cluster({.proxied = true, .commit_wait_ms = 2000});
  cluster.start_all();
  int old_leader = cluster.wait_leader(1);
  REQUIRE(old_leader != 0);
  std::uint64_t old_term = cluster.term_of(old_leader);
  REQUIRE(cluster.submit_retrying(old_leader, cluster.make_tx()) == 200);
  REQUIRE(cluster.wait_converged());
  std::uint64_t minority_height = cluster.height(old_leader);

  // The leader alone on one side.
  cluster.cut({old_leader});
  int new_leader = 0;
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline && new_leader == 0) {
    for (int i = 1; i <= cluster.size(); ++i) {
      auto h = cluster.healthz(i);
      if (i != old_leader && h && (*h)["role"] == "leader" && (*h)["term"] > old_term) {
        new_leader = i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE_MESSAGE(new_leader != 0, "the majority did not elect a leader");
  std::vector<std::string> acked;
  for (int n = 0; n < 10; ++n) {
    Transaction tx = cluster.make_tx();
    REQUIRE(cluster.submit_retrying(new_leader, tx) == 200);
    acked.push_back(tx.id().hex());
  }
  // The minority side takes no write and serves no linearizable read.
  Transaction lost = cluster.make_tx();
  int minority_status = cluster.submit(old_leader, lost);
  CHECK((minority_status == 202 || minority_status == 503));
  {
    httplib::Client c = cluster.client(old_leader);
    auto r = c.Get("/v1/identities/police-admin?consistency=linearizable", cluster.auth());
    REQUIRE(r);
    CHECK(r->status == 503);
  }
  CHECK(cluster.height(old_leader) == minority_height);
  auto h = cluster.healthz(old_leader);
  REQUIRE(h);
  CHECK((*h)["role"] != "leader");  // CheckQuorum made it step down

  cluster.heal();
  REQUIRE_MESSAGE(cluster.wait_converged(), "the network did not heal to one head");
  for (int i = 1; i <= cluster.size(); ++i) {
    for (const auto& id : acked) CHECK(cluster.has_tx(i, id));
  }
  // A linearizable read on a follower sees a write just committed elsewhere.
  int leader = cluster.wait_leader(1);
  REQUIRE(leader != 0);
  int follower = leader % cluster.size() + 1;
  Transaction tx = cluster.make_tx();
  REQUIRE(cluster.submit_retrying(leader, tx) == 200);
  httplib::Client c = cluster.client(follower);
  auto r = c.Get(("/v1/transactions/" + tx.id().hex() + "?consistency=linearizable").c_str(),
                 cluster.auth());
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a learner (a court's read-only replica) replicates, serves reads, never votes") {
  Cluster cluster({.nodes = 4, .learners = 1});
  cluster.start_all();
  REQUIRE(cluster.wait_leader(1) != 0);
  REQUIRE(cluster.wait_knows_leader(4));
  auto h = cluster.healthz(4);
  REQUIRE(h);
  CHECK((*h)["role"] == "learner");
  CHECK((*h)["voters"] == 3);
  CHECK((*h)["learners"] == 1);
  // Writes through the learner's gateway are forwarded like a follower's.
  Transaction tx = cluster.make_tx();
  REQUIRE(cluster.submit_retrying(4, tx) == 200);
  REQUIRE(cluster.wait_converged());
  CHECK(cluster.has_tx(4, tx.id().hex()));
  // With the learner and one voter down, the two remaining voters still
  // commit: the learner was never part of the quorum.
  int leader = cluster.wait_leader(1);
  int voter = leader % 3 + 1;
  cluster.kill(4);
  cluster.kill(voter);
  REQUIRE(cluster.submit_retrying(leader, cluster.make_tx()) == 200);
  // And the learner never becomes leader, even when it is the last one up
  // long enough to time out.
  cluster.start(4);
  REQUIRE(cluster.wait_converged());
  cluster.kill(leader);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto alone = cluster.healthz(4);
  REQUIRE(alone);
  CHECK((*alone)["role"] == "learner");
}

namespace {

// Every check a court's verifier makes of a signed head from node i's
// /v1/chain/head: well-formed, its statement is node i's head at that height,
// and at least a quorum of distinct genesis nodes signed it with their keys.
// Returns the number of valid signatures (0 if there is no signed head).
std::size_t valid_head_signatures(const Cluster& cluster, int i) {
  auto head = cluster.get(i, "/v1/chain/head");
  if (!head || !(*head)["signed_head"].is_object()) return 0;
  auto signed_head = SignedHead::from_json((*head)["signed_head"]);
  REQUIRE_MESSAGE(signed_head.ok(), (*head)["signed_head"].dump());
  CHECK(signed_head->head.network_id == kNetwork);
  auto roots = cluster.get(
      i, "/v1/proofs/consistency?from=0&to=" + std::to_string(signed_head->head.height));
  REQUIRE(roots.has_value());
  CHECK((*roots)["to"]["log_root"] == signed_head->head.log_root.hex());
  CHECK((*roots)["to"]["state_root"] == signed_head->head.state_root.hex());
  std::set<std::string> signers;
  for (const auto& sig : signed_head->signatures) {
    int n = std::stoi(sig.node_id.substr(4));  // "nodeN"
    REQUIRE(n >= 1);
    REQUIRE(n <= cluster.size());
    CHECK_MESSAGE(
        verify_head_signature(cluster.node_key(n).public_key(), signed_head->head, sig.signature),
        sig.node_id << "'s signature of head " << signed_head->head.height);
    signers.insert(sig.node_id);
  }
  CHECK(signers.size() == signed_head->signatures.size());
  return signers.size();
}

}  // namespace

TEST_CASE("signed heads: every node serves a head signed by a quorum of distinct member nodes") {
  Cluster cluster({});
  cluster.start_all();
  REQUIRE(cluster.wait_leader(1) != 0);
  for (int i = 1; i <= cluster.size(); ++i) REQUIRE(cluster.wait_knows_leader(i));
  for (int k = 0; k < 12; ++k) {
    int via = 1 + k % cluster.size();
    REQUIRE(cluster.submit_retrying(via, cluster.make_tx()) == 200);
  }
  REQUIRE(cluster.wait_converged());
  const std::size_t quorum = head_quorum(static_cast<std::size_t>(cluster.size()));
  for (int i = 1; i <= cluster.size(); ++i) {
    // Peers' signatures arrive just after each block, and again every 2 s.
    std::size_t valid = 0;
    auto deadline = Clock::now() + std::chrono::seconds(15);
    while ((valid = valid_head_signatures(cluster, i)) < quorum && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_MESSAGE(valid >= quorum, Cluster::name(i) << " has no signed head with a quorum");
    auto head = cluster.get(i, "/v1/chain/head");
    REQUIRE(head.has_value());
    CHECK((*head)["signed_head"]["head"]["height"].get<std::uint64_t>() >= 1);
  }
  // Nothing malformed travelled between honest nodes.
  for (int i = 1; i <= cluster.size(); ++i) {
    CHECK(cluster.metric(i, "custos_peer_frames_malformed_total") == 0);
    CHECK(cluster.metric(i, "custos_head_signatures_dropped_total") == 0);
  }
  // Every node applied blocks decoded ahead: the followers' prepare threads
  // decoded the leader's, the leader applied its own as it built them.
  for (int i = 1; i <= cluster.size(); ++i) {
    CHECK_MESSAGE(cluster.metric(i, "custos_raft_blocks_prepared_total") > 0,
                  Cluster::name(i) << " applied no block decoded ahead");
  }
  // Blocks were executed while their entries were replicated (on the
  // leader at least: it executes each proposal while the followers write
  // it). The heads above agree, and each block's header names the results
  // and roots its proposer computed, which every node checks against its
  // own: effects committed from an execution ahead were the right ones.
  std::uint64_t executed_ahead = 0;
  for (int i = 1; i <= cluster.size(); ++i) {
    const std::uint64_t committed = cluster.metric(i, "custos_raft_blocks_executed_ahead_total");
    // Each one committed from an execution ahead was executed ahead once.
    CHECK(committed <= cluster.metric(i, "custos_raft_block_executions_ahead_total"));
    executed_ahead += committed;
  }
  CHECK(executed_ahead > 0);
}

TEST_CASE("corrupted head-signature frames are counted and dropped; the node runs on") {
  Cluster cluster({.nodes = 3, .plain_tcp = true});
  cluster.start_all();
  REQUIRE(cluster.wait_leader(1) != 0);

  // Speak the wire protocol to node1 as "node 3" (plain TCP trusts the hello).
  // Node1 then closes the real node3's connection as stale; node3 redials
  // within 50 ms and node1 closes ours in turn, possibly before it has read
  // all our frames (seen under the sanitizers). So: send them again on a
  // new connection, at most five times, until all were counted once.
  auto send_frames = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(cluster.raft_port(1)));
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    // A send may fail once node1 has closed the connection: counted below.
    auto send_frame = [&](const std::vector<std::uint8_t>& f) {
      std::vector<std::uint8_t> wire = {
          static_cast<std::uint8_t>(f.size() >> 24), static_cast<std::uint8_t>(f.size() >> 16),
          static_cast<std::uint8_t>(f.size() >> 8), static_cast<std::uint8_t>(f.size())};
      wire.insert(wire.end(), f.begin(), f.end());
      (void)::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    };
    std::vector<std::uint8_t> hello = {'C', 'U', 'S', 'T', 'O', 'S', '-', 'R', 'A', 'F',
                                       'T', 1,   0,   0,   0,   0,   0,   0,   0,   3};
    hello.push_back(static_cast<std::uint8_t>(std::string_view(kNetwork).size()));
    for (char c : std::string_view(kNetwork)) hello.push_back(static_cast<std::uint8_t>(c));
    send_frame(hello);
    std::vector<std::uint8_t> good_shape(1 + 1 + 8 + 64, 0xab);
    good_shape[0] = 5;                               // head_signature
    good_shape[1] = 1;                               // version
    for (int b = 2; b < 10; ++b) good_shape[b] = 0;  // height 0: applied everywhere
    std::vector<std::uint8_t> truncated(good_shape.begin(), good_shape.end() - 1);
    std::vector<std::uint8_t> wrong_version = good_shape;
    wrong_version[1] = 2;
    send_frame(truncated);        // malformed
    send_frame(wrong_version);    // malformed
    send_frame({5});              // malformed: no body
    send_frame({0xee, 1, 2, 3});  // malformed: unknown kind
    send_frame(good_shape);       // well-formed, but not node3's signature: dropped
    ::close(fd);
  };
  std::uint64_t malformed_before = cluster.metric(1, "custos_peer_frames_malformed_total");
  std::uint64_t dropped_before = cluster.metric(1, "custos_head_signatures_dropped_total");
  auto all_counted = [&] {
    return cluster.metric(1, "custos_peer_frames_malformed_total") >= malformed_before + 4 &&
           cluster.metric(1, "custos_head_signatures_dropped_total") >= dropped_before + 1;
  };
  for (int attempt = 0; attempt < 5 && !all_counted(); ++attempt) {
    malformed_before = cluster.metric(1, "custos_peer_frames_malformed_total");
    dropped_before = cluster.metric(1, "custos_head_signatures_dropped_total");
    send_frames();
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < deadline && !all_counted()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CHECK(cluster.metric(1, "custos_peer_frames_malformed_total") >= malformed_before + 4);
  CHECK(cluster.metric(1, "custos_head_signatures_dropped_total") >= dropped_before + 1);
  // Node1 is alive, still takes writes, and its heads are still signed by a quorum.
  REQUIRE(cluster.running(1));
  REQUIRE(cluster.wait_knows_leader(1));
  REQUIRE(cluster.submit_retrying(1, cluster.make_tx()) == 200);
  REQUIRE(cluster.wait_converged());
  std::size_t valid = 0;
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while ((valid = valid_head_signatures(cluster, 1)) < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(valid >= 2);
  CHECK(cluster.running(1));
}
