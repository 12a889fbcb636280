// What a run found, and its three forms: the text summary on stdout, the
// JSON results file and the SVG chart (latency p50/p99 and committed tx/s per
// second), which is written by hand and needs nothing but a browser.
#pragma once

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "bench/driver.h"
#include "bench/stats.h"
#include "core/json.h"

namespace custos::bench {

inline constexpr double kTargetRatio = 0.5;  // BRIEF.md §6: half the verification bound

struct Report {
  Json config;                // the options of the run
  Json machine;               // cpu model, cores, kernel, host
  Json workload;              // run id, identities, items, pre-signed handovers
  double verifies_per_s = 0;  // one core, ECDSA verify over SHA-256 of 32 bytes
  int cores = 0;
  int nodes = 0;
  double bound_tx_s = 0;  // cores * verifies_per_s / nodes
  // Signatures on each handover (the giver's and the taker's), each verified
  // once by every node: what share of the cores' verify capacity the
  // committed handovers took.
  int signatures_per_tx = 2;
  double duration_s = 0;
  std::size_t committed = 0;  // completed within the duration
  double committed_tx_s = 0;
  Percentiles commit, history, verify, tx;
  double history_per_s = 0, verify_per_s = 0, tx_per_s = 0;
  // The transactions the tx reads read: how many, from how many blocks of
  // how many transactions on average, in a ledger of how many.
  Json tx_reads;
  std::map<std::string, std::size_t> failures;
  std::vector<SecondStats> series;
  RunSummary run;
};

void print_report(const Report& report, std::ostream& out);
// signatures_per_tx x committed tx/s / bound: the share of the cores' verify
// capacity that one verification per signature per node takes.
double verify_share(const Report& report);
Json report_json(const Report& report);
std::string report_svg(const Report& report);
// "9,800": a count with thousands separators.
std::string with_thousands(double value);

}  // namespace custos::bench
