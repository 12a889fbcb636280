// Latency samples and failure counts shared by the bench's worker threads.
//
// Every sample is kept (a run of minutes at thousands of tx/s is a few MiB),
// so percentiles are exact (nearest rank), not estimated from buckets.
// Thread-safety: Recorder's methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace custos::bench {

// Nearest-rank percentiles of a set of latencies.
struct Percentiles {
  std::size_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};
// Sorts `latencies_ms` in place. All zero for an empty set.
Percentiles percentiles(std::vector<double>& latencies_ms);

enum class Kind { kCommit, kHistory, kVerify, kTx };
inline constexpr int kKinds = 4;
const char* kind_name(Kind kind);  // "commit", "history", "verify", "tx_read"

// One second of the run: what completed in [second, second + 1).
struct SecondStats {
  int second = 0;
  std::size_t committed = 0;
  Percentiles commit;
  std::size_t reads = 0;
  std::size_t failures = 0;
};

class Recorder {
 public:
  // t_s: completion time in seconds since the start of the timed run.
  void record(Kind kind, double t_s, double latency_ms);
  // kind_text: e.g. "tx: HTTP 409 TIME_REGRESSION", "history: timeout".
  void failure(const std::string& kind_text, double t_s);

  // Committed transactions completed in [from_s, to_s).
  std::size_t committed_between(double from_s, double to_s) const;
  std::size_t failure_count() const;
  // All latencies of a kind so far (a copy), completed before until_s.
  std::vector<double> latencies(Kind kind, double until_s = 1e300) const;
  std::map<std::string, std::size_t> failures() const;
  // One entry per whole second in [0, seconds).
  std::vector<SecondStats> series(int seconds) const;

 private:
  struct Sample {
    double t_s;
    double latency_ms;
  };
  mutable std::mutex mu_;
  std::vector<Sample> samples_[kKinds];
  std::map<std::string, std::size_t> failures_;
  std::vector<double> failure_times_s_;
};

}  // namespace custos::bench
