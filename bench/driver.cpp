#include "bench/driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench/http.h"
#include "bench/report.h"

namespace custos::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;
// A read token is minted before timing with the longest lifetime a gateway
// accepts and renewed well before it expires.
constexpr std::int64_t kTokenTtlS = 600;
constexpr double kTokenRenewS = 300;
constexpr double kLateSendS = 0.001;
constexpr double kRetryAfterMaxS = 1;

Clock::time_point at(Clock::time_point start, double s) {
  return start + std::chrono::duration_cast<Clock::duration>(Seconds(s));
}

double since(Clock::time_point start, Clock::time_point t) {
  return Seconds(t - start).count();
}

struct Shared {
  const RunOptions& o;
  const Workload& workload;
  Recorder& recorder;
  Clock::time_point start, end;
  std::mutex mu;
  RunSummary summary;
};

// The outcome of each handover sent: one request with all of them (batch
// route), or with the one (single route, as before batches existed).
std::vector<BatchOutcome> send(Connection& conn, const std::vector<const std::string*>& handovers,
                               bool batch_route, double& retry_after_s) {
  if (batch_route) {
    HttpAnswer a = conn.submit_batch_and_wait(handovers);
    retry_after_s = a.retry_after_s;
    return batch_outcomes(a, handovers.size());
  }
  HttpAnswer a = conn.submit_and_wait(*handovers.front());
  retry_after_s = a.retry_after_s;
  if (committed_ok(a)) return {{BatchOutcome::Kind::kCommitted, ""}};
  auto kind = a.status == 503 ? BatchOutcome::Kind::kBusy : BatchOutcome::Kind::kFailed;
  return {{kind, failure_kind(a)}};
}

void writer(Shared& sh, int w) {
  const RunOptions& o = sh.o;
  const auto& items = sh.workload.per_worker[static_cast<std::size_t>(w)];
  auto conn =
      Connection::open(o.gateways[static_cast<std::size_t>(w) % o.gateways.size()], o.timeout_s);
  if (!conn) return;  // URLs were checked before the run
  std::vector<std::size_t> next(items.size(), 0);
  std::vector<bool> live(items.size(), true);
  const bool open_loop = o.rate_tx_s > 0;
  const std::size_t batch = static_cast<std::size_t>(std::max(1, o.batch));
  const double interval_s =
      open_loop ? o.concurrency * static_cast<double>(batch) / o.rate_tx_s : 0;
  const double phase_s = interval_s * w / o.concurrency;
  std::size_t cursor = 0, retired = 0, late = 0;
  long k = 0;
  bool exhausted = false;
  std::vector<std::size_t> chosen;
  std::vector<const std::string*> handovers;
  while (true) {
    // The next items, round-robin, that are live and have a handover left:
    // up to `batch` of them, each at most once.
    chosen.clear();
    handovers.clear();
    for (std::size_t step = 0; step < items.size() && chosen.size() < batch; ++step) {
      std::size_t c = (cursor + step) % items.size();
      if (live[c] && next[c] < items[c].handovers.size()) {
        chosen.push_back(c);
        handovers.push_back(&items[c].handovers[next[c]]);
      }
    }
    if (chosen.empty()) {
      exhausted = std::any_of(live.begin(), live.end(), [](bool b) { return b; });
      break;
    }
    cursor = chosen.back() + 1;
    Clock::time_point send_at;
    if (open_loop) {
      send_at = at(sh.start, phase_s + static_cast<double>(k++) * interval_s);
      if (send_at >= sh.end) break;
      std::this_thread::sleep_until(send_at);
      if (since(send_at, Clock::now()) > kLateSendS) ++late;
    } else {
      send_at = Clock::now();
      if (send_at >= sh.end) break;
    }
    double retry_after_s = 0;
    std::vector<BatchOutcome> outcomes = send(**conn, handovers, batch > 1, retry_after_s);
    Clock::time_point done = Clock::now();
    double t_s = since(sh.start, done);
    bool busy = false;
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      std::size_t i = chosen[j];
      switch (outcomes[j].kind) {
        case BatchOutcome::Kind::kCommitted:
          sh.recorder.record(Kind::kCommit, t_s, since(send_at, done) * 1e3);
          ++next[i];
          break;
        case BatchOutcome::Kind::kBusy:
          // Not admitted (mempool full, no leader): the same handover is
          // still the item's next.
          sh.recorder.failure("tx: " + outcomes[j].failure, t_s);
          busy = true;
          break;
        case BatchOutcome::Kind::kFailed:
          // Refused or unknown outcome: who holds the item is no longer
          // known, so its later handovers (signed for the expected
          // custodian) are dropped.
          sh.recorder.failure("tx: " + outcomes[j].failure, t_s);
          live[i] = false;
          ++retired;
          break;
      }
    }
    if (busy) {
      // Wait as the node asks, within the run.
      double wait_s = std::min(retry_after_s > 0 ? retry_after_s : 0.1, kRetryAfterMaxS);
      std::this_thread::sleep_until(std::min(sh.end, at(done, wait_s)));
    }
  }
  std::lock_guard lock(sh.mu);
  sh.summary.items_retired += retired;
  sh.summary.sends_late += late;
  if (exhausted) {
    double t = since(sh.start, Clock::now());
    if (!sh.summary.exhausted || t < sh.summary.exhausted_at_s) sh.summary.exhausted_at_s = t;
    sh.summary.exhausted = true;
  }
}

// One reader: `paths` in turn at `rate`, its k-th read at (k + phase)
// intervals after the start, on the gateway numbered `gateway` (round
// robin), with the admin's token or the case member's.
struct ReadLoad {
  Kind kind;
  double rate;
  std::vector<std::string> paths;
  std::size_t gateway;
  double phase;
  bool as_admin;
};

void reader(Shared& sh, const ReadLoad& r) {
  const RunOptions& o = sh.o;
  auto conn = Connection::open(o.gateways[r.gateway % o.gateways.size()], o.timeout_s);
  if (!conn) return;
  std::string token = read_token(sh.workload, o.network_id, kTokenTtlS, r.as_admin);
  Clock::time_point minted = Clock::now();
  const double interval_s = 1 / r.rate;
  for (long k = 0;; ++k) {
    Clock::time_point send = at(sh.start, (static_cast<double>(k) + r.phase) * interval_s);
    if (send >= sh.end) break;
    std::this_thread::sleep_until(send);
    if (since(minted, Clock::now()) > kTokenRenewS) {
      token = read_token(sh.workload, o.network_id, kTokenTtlS, r.as_admin);
      minted = Clock::now();
    }
    HttpAnswer a = (*conn)->get(r.paths[static_cast<std::size_t>(k) % r.paths.size()], token);
    Clock::time_point done = Clock::now();
    if (a.status == 200) {
      sh.recorder.record(r.kind, since(sh.start, done), since(send, done) * 1e3);
    } else {
      sh.recorder.failure(std::string(kind_name(r.kind)) + ": " + failure_kind(a),
                          since(sh.start, done));
    }
  }
}

void progress(Shared& sh, const std::atomic<bool>& done) {
  std::size_t reads_before = 0;
  for (int s = 1; !done; ++s) {
    Clock::time_point tick = at(sh.start, s);
    while (!done && Clock::now() < tick) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (done) break;
    std::size_t last = sh.recorder.committed_between(s - 1, s);
    auto so_far = sh.recorder.latencies(Kind::kCommit, s);
    Percentiles p = percentiles(so_far);
    std::size_t reads = sh.recorder.latencies(Kind::kHistory, s).size() +
                        sh.recorder.latencies(Kind::kVerify, s).size() +
                        sh.recorder.latencies(Kind::kTx, s).size();
    char line[200];
    std::snprintf(line, sizeof line,
                  "[%4d s] %7s tx/s committed   so far: %s, p50 %.1f ms, p99 %.1f ms   "
                  "reads %zu/s   failures %zu\n",
                  s, with_thousands(static_cast<double>(last)).c_str(),
                  with_thousands(static_cast<double>(p.count)).c_str(), p.p50_ms, p.p99_ms,
                  reads - reads_before, sh.recorder.failure_count());
    reads_before = reads;
    std::cout << line << std::flush;
  }
}

}  // namespace

RunSummary run_load(const RunOptions& o, const Workload& workload, Recorder& recorder) {
  Shared sh{o, workload, recorder, {}, {}, {}, {}};
  sh.start = Clock::now();
  sh.end = at(sh.start, o.duration_s);
  std::atomic<bool> done{false};
  std::thread ticker([&] { progress(sh, done); });
  std::vector<std::thread> threads;
  for (int w = 0; w < o.concurrency; ++w) threads.emplace_back([&, w] { writer(sh, w); });
  std::vector<ReadLoad> loads;  // outlives the threads: joined below
  if (o.reads_per_s > 0) {
    // Half the reads are item histories (the first 100 events; of the item
    // set up with --history-events events when there is one), half are
    // verdicts; without demo artefacts all are histories.
    std::vector<std::string> history, verify;
    if (!workload.history_item.empty()) {
      history.push_back("/v1/evidence/" + workload.history_item + "/history?limit=100");
    } else {
      for (const auto& id : workload.item_ids) {
        history.push_back("/v1/evidence/" + id + "/history?limit=100");
      }
    }
    for (const auto& a : workload.artefacts) verify.push_back("/v1/artefacts/" + a + "/verify");
    double history_rate = verify.empty() ? o.reads_per_s : o.reads_per_s / 2;
    // The readers send at different phases of their intervals: at the same
    // rate and phase, every history read would race a verdict read sent at
    // the same instant, which independent clients do not do.
    loads.push_back({Kind::kHistory, history_rate, std::move(history), 0, 0.0, false});
    if (!verify.empty()) {
      loads.push_back({Kind::kVerify, o.reads_per_s / 2, std::move(verify), 1, 0.5, false});
    }
  }
  if (o.tx_reads_per_s > 0 && !o.tx_ids.empty()) {
    // Transactions of any signer are for admins (and auditors).
    std::vector<std::string> tx;
    for (const auto& id : o.tx_ids) tx.push_back("/v1/transactions/" + id);
    loads.push_back({Kind::kTx, o.tx_reads_per_s, std::move(tx), 2, 0.25, true});
  }
  for (const ReadLoad& r : loads) threads.emplace_back([&sh, &r] { reader(sh, r); });
  for (auto& t : threads) t.join();
  done = true;
  ticker.join();
  return sh.summary;
}

}  // namespace custos::bench
