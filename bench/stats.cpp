#include "bench/stats.h"

#include <algorithm>
#include <cmath>

namespace custos::bench {

Percentiles percentiles(std::vector<double>& latencies_ms) {
  Percentiles p;
  p.count = latencies_ms.size();
  if (latencies_ms.empty()) return p;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto rank = [&](double q) {
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    auto n = static_cast<double>(latencies_ms.size());
    auto i = static_cast<std::size_t>(std::max(1.0, std::ceil(q * n))) - 1;
    return latencies_ms[std::min(i, latencies_ms.size() - 1)];
  };
  p.p50_ms = rank(0.50);
  p.p90_ms = rank(0.90);
  p.p99_ms = rank(0.99);
  p.max_ms = latencies_ms.back();
  return p;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kCommit:
      return "commit";
    case Kind::kHistory:
      return "history";
    case Kind::kVerify:
      return "verify";
    case Kind::kTx:
      return "tx_read";
  }
  return "?";
}

void Recorder::record(Kind kind, double t_s, double latency_ms) {
  std::lock_guard lock(mu_);
  samples_[static_cast<int>(kind)].push_back({t_s, latency_ms});
}

void Recorder::failure(const std::string& kind_text, double t_s) {
  std::lock_guard lock(mu_);
  ++failures_[kind_text];
  failure_times_s_.push_back(t_s);
}

std::size_t Recorder::committed_between(double from_s, double to_s) const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(samples_[0].begin(), samples_[0].end(),
                    [&](const Sample& s) { return s.t_s >= from_s && s.t_s < to_s; }));
}

std::size_t Recorder::failure_count() const {
  std::lock_guard lock(mu_);
  return failure_times_s_.size();
}

std::vector<double> Recorder::latencies(Kind kind, double until_s) const {
  std::lock_guard lock(mu_);
  std::vector<double> out;
  for (const Sample& s : samples_[static_cast<int>(kind)]) {
    if (s.t_s < until_s) out.push_back(s.latency_ms);
  }
  return out;
}

std::map<std::string, std::size_t> Recorder::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::vector<SecondStats> Recorder::series(int seconds) const {
  std::lock_guard lock(mu_);
  std::vector<SecondStats> out(static_cast<std::size_t>(std::max(0, seconds)));
  std::vector<std::vector<double>> commit_latencies(out.size());
  auto slot = [&](double t_s) -> long {
    auto s = static_cast<long>(std::floor(t_s));
    return s >= 0 && s < static_cast<long>(out.size()) ? s : -1;
  };
  for (const Sample& s : samples_[0]) {
    if (long i = slot(s.t_s); i >= 0) commit_latencies[i].push_back(s.latency_ms);
  }
  for (int k = 1; k < kKinds; ++k) {
    for (const Sample& s : samples_[k]) {
      if (long i = slot(s.t_s); i >= 0) ++out[i].reads;
    }
  }
  for (double t : failure_times_s_) {
    if (long i = slot(t); i >= 0) ++out[i].failures;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].second = static_cast<int>(i);
    out[i].committed = commit_latencies[i].size();
    out[i].commit = percentiles(commit_latencies[i]);
  }
  return out;
}

}  // namespace custos::bench
