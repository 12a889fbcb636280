// The timed part of the bench: writer threads submit the pre-signed
// handovers, reader threads read histories and verdicts, and a progress line
// is printed once a second.
//
// Each writer owns one keep-alive connection (gateways taken round-robin) and
// a disjoint set of items: an item's next handover is sent only after the
// previous one committed, since it names the new custodian as actor.
// With batch B > 1 a writer sends the next handover of up to B of its items
// (distinct items, each idle: its previous handover committed) in one POST
// /v1/transactions/batch?wait=commit, and each committed one counts the
// request's latency. Closed loop: a writer sends its next request when the
// previous answer arrives. Open loop (rate > 0): writer w sends its k-th at
// start + (k + w/N) * N*B/rate and latency counts from that scheduled time,
// so a stalled gateway shows up in the latency instead of silently lowering
// the offered load.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "bench/workload.h"

namespace custos::bench {

struct RunOptions {
  std::vector<std::string> gateways;
  std::string network_id;
  int concurrency = 4;
  double duration_s = 10;
  double rate_tx_s = 0;  // 0: closed loop
  int batch = 1;         // handovers per request; 1: POST /v1/transactions
  double reads_per_s = 0;
  // GET /v1/transactions/{id} of these ids, in turn, at this rate (0: none),
  // with the admin's token.
  double tx_reads_per_s = 0;
  std::vector<std::string> tx_ids;
  double timeout_s = 15;
};

struct RunSummary {
  std::size_t sends_late = 0;     // open loop: sent more than 1 ms after their scheduled time
  std::size_t items_retired = 0;  // items dropped after a handover failed (custodian unknown)
  bool exhausted = false;         // a writer ran out of pre-signed handovers
  double exhausted_at_s = 0;      // when the first one did
};

// Runs for options.duration_s and returns once every thread has finished (a
// request in flight at the end is waited for, up to timeout_s).
RunSummary run_load(const RunOptions& options, const Workload& workload, Recorder& recorder);

}  // namespace custos::bench
