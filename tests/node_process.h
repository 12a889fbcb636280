// custos-node as a child process, and the small pieces the multi-process
// tests share: a clock, a signed enrolment to use as load, readiness waits.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "core/keys.h"
#include "core/tx.h"

namespace custos::testing {

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class NodeProcess {
 public:
  NodeProcess(std::filesystem::path config, std::filesystem::path log)
      : config_(std::move(config)), log_(std::move(log)) {}
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;
  ~NodeProcess() { kill(SIGKILL); }

  void start() {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      std::FILE* out = std::freopen(log_.c_str(), "a", stdout);
      std::FILE* err = std::freopen(log_.c_str(), "a", stderr);
      (void)out;
      (void)err;
      ::execl(CUSTOS_NODE_PATH, "custos-node", "--config", config_.c_str(), nullptr);
      ::_exit(127);
    }
  }

  // Sends `sig` and reaps the process (SIGTERM: a clean stop).
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  bool running() const { return pid_ > 0; }
  const std::filesystem::path& log() const { return log_; }

 private:
  std::filesystem::path config_, log_;
  pid_t pid_ = -1;
};

// Waits up to `seconds` for /readyz.
inline bool wait_ready(httplib::Client& c, int seconds = 20) {
  for (int i = 0; i < seconds * 10; ++i) {
    if (auto r = c.Get("/readyz"); r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A signed identity.enrol of a fresh identity "load-N", signed by the admin
// of org "police": the load the multi-process tests write.
inline Transaction enrol_tx(const std::string& network, const PrivateKey& admin, int n) {
  Transaction tx;
  tx.network_id = network;
  tx.chaincode = "identity";
  tx.function = "enrol";
  tx.args = {{"id", "load-" + std::to_string(n)},
             {"org", "police"},
             {"roles", {"investigator"}},
             {"public_key", PrivateKey::generate().public_key().hex()}};
  tx.nonce = hex_encode(sha256(std::to_string(n)).view()).substr(0, 32);
  tx.created_at_ms = now_ms();
  REQUIRE(tx.sign(admin).ok());
  return tx;
}

}  // namespace custos::testing
