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
#include <thread>
#include <vector>

#include "core/jwt.h"
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
          ssize_t w = ::send(p[1 - i].fd, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
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
  int learners = 0;  // the last `learners` nodes replicate without voting
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
    for (int i = 1; i <= o_.nodes; ++i) nodes.push_back({{"id", name(i)}, {"org", "police"}});
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
      Json config = {
          {"node_id", name(i)},
          {"data_dir", name(i)},
          {"genesis_file", "genesis.json"},
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
            {"snapshot_entries", o_.snapshot_entries}}}};
      std::ofstream(dir_ / (name(i) + ".json")) << config.dump();
      procs_[i] = std::make_unique<NodeProcess>(dir_ / (name(i) + ".json"),
                                                dir_ / (name(i) + ".log"));
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
    election_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
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
                       << "/" << found[3] << "; time to a new leader (ms):" << times
                       << "; median " << median(election_ms) << " ms; height "
                       << cluster.height(1));
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
    REQUIRE(cluster.submit(via, tx) == 200);
    acked.push_back(tx.id().hex());
  }
  cluster.start(absent);
  REQUIRE_MESSAGE(cluster.wait_converged(), "the restarted node did not catch up");
  std::string log = custos::testing::read_text((cluster.dir() / (Cluster::name(absent) + ".log")).string());
  CHECK_MESSAGE(log.find("catching up by snapshot") != std::string::npos,
                "the node caught up without a snapshot; its log:\n" << log);
  std::size_t found = 0;
  for (const auto& id : acked) found += cluster.has_tx(absent, id) ? 1 : 0;
  CHECK(found == acked.size());
}

TEST_CASE("a partitioned minority cannot commit, and the network heals without divergence") {
  Cluster cluster({.proxied = true, .commit_wait_ms = 2000});
  cluster.start_all();
  int old_leader = cluster.wait_leader(1);
  REQUIRE(old_leader != 0);
  std::uint64_t old_term = cluster.term_of(old_leader);
  REQUIRE(cluster.submit(old_leader, cluster.make_tx()) == 200);
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
    REQUIRE(cluster.submit(new_leader, tx) == 200);
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
  REQUIRE(cluster.submit(leader, tx) == 200);
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
  REQUIRE(cluster.submit(4, tx) == 200);
  REQUIRE(cluster.wait_converged());
  CHECK(cluster.has_tx(4, tx.id().hex()));
  // With the learner and one voter down, the two remaining voters still
  // commit: the learner was never part of the quorum.
  int leader = cluster.wait_leader(1);
  int voter = leader % 3 + 1;
  cluster.kill(4);
  cluster.kill(voter);
  REQUIRE(cluster.submit(leader, cluster.make_tx()) == 200);
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
