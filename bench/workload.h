// The bench's workload, set up on a running network and signed before any
// timing starts.
//
// Setup (not timed), all through the REST gateway with ?wait=commit, in
// batches (POST /v1/transactions/batch) when the run uses them:
//  1. the admins of nl-police and nfi-lab (keystores DIR/wallet/<admin>.key,
//     passphrase $CUSTOS_PASSPHRASE or "custos-demo") enrol `pairs` pairs of
//     fresh identities, bench-RUN-pol-I (investigator, custodian) and
//     bench-RUN-lab-I (custodian), RUN a random run id, keys in memory only;
//  2. bench-RUN-pol-0 opens case C-BENCH-RUN with member org nfi-lab;
//  3. each item E-BENCH-RUN-W-J is registered by the police identity of its pair;
//  4. with history_events N > 0, one more item E-BENCH-RUN-H gets N events
//     (its registration and N-1 handovers, committed one after the other):
//     the item the history reads read, so they read N events.
// Then every handover is built and signed: item by item, the custodian hands
// over to the other identity of its pair and back, the receiver co-signing,
// with declared times that never decrease and stay within the 5 minutes a
// node accepts ahead of block time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/keys.h"
#include "core/result.h"

namespace custos::bench {

// A network folder made by ./scripts/run --detach --data DIR.
struct Network {
  std::string dir;
  std::string network_id;             // from genesis.json
  std::vector<std::string> gateways;  // http://HOST:PORT of every nodeN.json
  int nodes = 0;                      // nodeN.json files
  int http_threads = 0;               // smallest http.threads of the nodes (0: unknown)
};
// Errors "bad_network_dir" naming the file that is missing or malformed.
Result<Network> load_network(const std::string& dir);

struct WorkloadOptions {
  std::string gateway;  // where setup transactions go
  int workers = 1;
  int items_per_worker = 8;
  int pairs = 1;              // identity pairs; items are spread over them
  std::size_t handovers = 0;  // to pre-sign, spread evenly over the items
  int history_events = 100;   // events of the item history reads read (0: none)
  int threads = 1;            // for submitting setup and signing
  int batch = 1;              // > 1: setup goes in batches of this many (the batch route)
  double timeout_s = 15;
};

struct ItemLoad {
  std::string id;
  std::vector<std::string> handovers;  // signed envelopes (JSON text), in order
};

struct Workload {
  std::string run_id;
  std::vector<std::vector<ItemLoad>> per_worker;  // disjoint item sets
  std::vector<std::string> item_ids;
  std::string history_item;            // the item of history_events events, or empty
  std::vector<std::string> artefacts;  // demo artefacts found for verify reads
  std::string reader_identity;         // a case member: reads history and verdicts
  std::optional<PrivateKey> reader_key;
  std::string admin_identity;  // the lead org's admin: reads blocks and any transaction
  std::optional<PrivateKey> admin_key;
  std::size_t handovers = 0;
  int identities = 0;
};

// Runs setup and signing; prints what it does on stderr. Errors: the first
// refused setup transaction, an unreadable keystore, an unreachable gateway.
Result<Workload> prepare_workload(const Network& network, const WorkloadOptions& options);

// A read token for the reader identity (the admin with as_admin), valid for
// `ttl_s` (at most 600).
std::string read_token(const Workload& workload, const std::string& network_id, std::int64_t ttl_s,
                       bool as_admin = false);

// Committed transactions for the tx reads (GET /v1/transactions/{id}, which
// returns a transaction with its inclusion proofs), spread over the whole
// ledger: `picks` random transactions of up to `blocks` distinct blocks at
// random heights 1..head (a block in proportion to its transactions), read
// with the admin's token. Not timed.
struct TxSample {
  std::vector<std::string> ids;
  double mean_block_txs = 0;    // transactions in the blocks they came from, per pick
  std::uint64_t ledger_txs = 0;  // the head's log size: the ledger's transactions
};
Result<TxSample> sample_committed_txs(const Workload& workload, const std::string& network_id,
                                      const std::string& gateway, std::size_t blocks,
                                      std::size_t picks, double timeout_s);

}  // namespace custos::bench
