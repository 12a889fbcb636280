// custos-bench: sets up a custody workload on a running Custos network,
// signs it, drives the gateways for a fixed time and reports committed tx/s,
// latency percentiles, read latencies and failures, with the throughput as a
// ratio of this machine's signature-verification bound (BRIEF.md §6).
//
// Exit codes: 0 the run completed and committed something; 1 setup failed,
// nothing committed, or a result file could not be written; 2 usage error.
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/driver.h"
#include "bench/http.h"
#include "bench/report.h"
#include "bench/workload.h"
#include "core/keys.h"
#include "wallet/http_client.h"

namespace custos::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kConcurrencyMax = 256;
constexpr int kItemsPerWorkerMax = 10'000;
constexpr double kDurationMaxS = 3600;
constexpr double kVerifyMeasureS = 1.0;
// Blocks read before timing to pick the tx reads' transactions from (fewer
// if the chain is shorter).
constexpr std::size_t kTxReadBlocks = 100;
constexpr std::size_t kTxReadPicks = 200;  // transactions read in turn
// Closed loop has no rate to size the workload by: enough handovers for
// this many tx/s over the whole run (pass --txs for more). Batches go
// further: enough for the 15,000 tx/s of the 1-node target on a fast machine.
constexpr double kClosedLoopPresignTxS = 3000;
constexpr double kClosedLoopBatchPresignTxS = 15'000;
constexpr int kItemsPerWorkerDefault = 8;
// A node takes at most http.batch_txs_max (default 1000) per batch.
constexpr int kBatchMax = 10'000;
constexpr std::size_t kTxsMax = 5'000'000;

struct Options {
  std::string network_dir;
  std::vector<std::string> gateways;
  int concurrency = 4;
  double duration_s = 10;
  double rate_tx_s = 0;
  double reads_per_s = 0;
  double tx_reads_per_s = 0;
  int items_per_worker = 0;  // 0: kItemsPerWorkerDefault, or batch when larger
  int batch = 1;
  int history_events = 100;
  int pairs = 0;
  std::size_t txs = 0;
  int cores = 0;
  int nodes = 0;
  double timeout_s = 15;
  std::string out_json;
  std::string out_svg;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "custos-bench: usage error: " << message << "\nRun 'custos-bench --help'.\n";
  std::exit(kExitUsage);
}

// ECDSA verifies per second on this thread: a signature over 32 bytes (as a
// tx id is signed), verified for about a second.
double measure_verify_rate() {
  PrivateKey key = PrivateKey::generate();
  PublicKey pub = key.public_key();
  std::array<std::uint8_t, 32> message{};
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::uint8_t>(i);
  Signature sig = key.sign(message);
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  std::size_t n = 0;
  double elapsed = 0;
  while (elapsed < kVerifyMeasureS) {
    for (int i = 0; i < 100; ++i) {
      if (!verify_compact(pub, message, sig.compact)) std::abort();  // a valid signature
    }
    n += 100;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return static_cast<double>(n) / elapsed;
}

Json machine_info() {
  Json m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) m["cpu_model"] = line.substr(colon + 2);
      break;
    }
  }
  m["hardware_concurrency"] = std::thread::hardware_concurrency();
  utsname u{};
  if (uname(&u) == 0) {
    m["kernel"] = std::string(u.sysname) + " " + u.release;
    m["host"] = u.nodename;
  }
  return m;
}

void check_writable(const std::string& path, const char* option) {
  if (path.empty()) return;
  auto parent = std::filesystem::absolute(path).parent_path();
  if (!std::filesystem::is_directory(parent)) {
    usage_error(std::string(option) + " " + path + ": folder " + parent.string() +
                " does not exist");
  }
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "custos-bench: error: cannot write " << path << "\n";
    return false;
  }
  return true;
}

int run(const Options& o) {
  auto network = load_network(o.network_dir);
  if (!network) {
    std::cerr << "custos-bench: error: " << network.error().message << "\n";
    return kExitFailure;
  }
  std::vector<std::string> gateways = o.gateways.empty() ? network->gateways : o.gateways;
  const int nodes = o.nodes > 0 ? o.nodes : network->nodes;
  const int cores =
      o.cores > 0 ? o.cores : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int pairs = o.pairs > 0 ? o.pairs : o.concurrency;
  const int readers = (o.reads_per_s > 0 ? 2 : 0) + (o.tx_reads_per_s > 0 ? 1 : 0);
  if (network->http_threads > 0 &&
      o.concurrency + readers > network->http_threads * static_cast<int>(gateways.size())) {
    std::cerr << "custos-bench: warning: " << o.concurrency + readers
              << " keep-alive connections for " << gateways.size() << " gateway(s) of "
              << network->http_threads
              << " http.threads each: connections beyond that wait for a free thread\n";
  }
  // A writer sends an item's next handover only after the previous one
  // committed, so a batch of B needs B items per writer.
  const int items_per_worker =
      o.items_per_worker > 0 ? o.items_per_worker : std::max(kItemsPerWorkerDefault, o.batch);
  std::size_t txs = o.txs;
  if (txs == 0) {
    double rate = o.rate_tx_s > 0 ? o.rate_tx_s * 1.1
                  : o.batch > 1   ? kClosedLoopBatchPresignTxS
                                  : kClosedLoopPresignTxS;
    txs = static_cast<std::size_t>(std::ceil(rate * o.duration_s));
    if (o.rate_tx_s == 0 && o.batch > 1) {
      std::cerr << "custos-bench: closed loop: pre-signing " << with_thousands(rate)
                << " handovers/s x " << o.duration_s
                << " s; a network that commits faster runs out (pass a larger --txs)\n";
    }
  }
  const std::size_t items = static_cast<std::size_t>(o.concurrency) * items_per_worker;
  txs = std::max(txs, items);

  WorkloadOptions wo;
  wo.gateway = gateways[0];
  wo.workers = o.concurrency;
  wo.items_per_worker = items_per_worker;
  wo.batch = o.batch;
  wo.history_events = o.reads_per_s > 0 ? o.history_events : 0;
  wo.pairs = pairs;
  wo.handovers = txs;
  wo.threads = cores;
  wo.timeout_s = o.timeout_s;
  auto workload = prepare_workload(*network, wo);
  if (!workload) {
    std::cerr << "custos-bench: error: " << workload.error().message << "\n";
    return kExitFailure;
  }

  TxSample tx_sample;
  if (o.tx_reads_per_s > 0) {
    auto sample = sample_committed_txs(*workload, network->network_id, gateways[0],
                                       kTxReadBlocks, kTxReadPicks, o.timeout_s);
    if (!sample) {
      std::cerr << "custos-bench: error: " << sample.error().message << "\n";
      return kExitFailure;
    }
    tx_sample = std::move(sample).value();
    std::cerr << "setup: " << tx_sample.ids.size() << " committed transactions to read, from "
              << "random blocks of " << std::lround(tx_sample.mean_block_txs)
              << " txs on average, of a ledger of " << tx_sample.ledger_txs << "\n";
  }

  std::cerr << "measuring single-core ECDSA verify rate (" << kVerifyMeasureS << " s)\n";
  const double verifies_per_s = measure_verify_rate();
  const double bound = cores * verifies_per_s / nodes;
  const std::string mode = o.rate_tx_s > 0 ? "open loop" : "closed loop";
  std::cout << "verify: " << with_thousands(verifies_per_s) << "/s on one core; bound "
            << with_thousands(bound) << " tx/s (" << cores << " cores, " << nodes << " nodes)\n";
  std::cout << "running " << mode
            << (o.rate_tx_s > 0 ? " at " + with_thousands(o.rate_tx_s) + " tx/s" : std::string())
            << ", batch " << o.batch << ", concurrency " << o.concurrency << ", " << o.duration_s
            << " s, reads " << o.reads_per_s << "/s, " << workload->handovers
            << " handovers pre-signed\n";

  RunOptions ro;
  ro.gateways = gateways;
  ro.network_id = network->network_id;
  ro.concurrency = o.concurrency;
  ro.duration_s = o.duration_s;
  ro.rate_tx_s = o.rate_tx_s;
  ro.batch = o.batch;
  ro.reads_per_s = o.reads_per_s;
  ro.tx_reads_per_s = o.tx_reads_per_s;
  ro.tx_ids = tx_sample.ids;
  ro.timeout_s = o.timeout_s;
  Recorder recorder;
  RunSummary summary = run_load(ro, *workload, recorder);

  Report r;
  r.config = {{"network_dir", o.network_dir},
              {"gateways", gateways},
              {"mode", mode},
              {"batch", o.batch},
              {"concurrency", o.concurrency},
              {"duration_s", o.duration_s},
              {"rate_tx_s", o.rate_tx_s},
              {"reads_per_s", o.reads_per_s},
              {"tx_reads_per_s", o.tx_reads_per_s},
              {"items_per_worker", items_per_worker},
              {"history_events", o.reads_per_s > 0 ? o.history_events : 0},
              {"timeout_s", o.timeout_s}};
  r.machine = machine_info();
  r.workload = {{"run_id", workload->run_id},
                {"identities", workload->identities},
                {"items", workload->item_ids.size()},
                {"handovers_presigned", workload->handovers},
                {"artefacts", workload->artefacts}};
  r.verifies_per_s = verifies_per_s;
  r.cores = cores;
  r.nodes = nodes;
  r.bound_tx_s = bound;
  r.duration_s = o.duration_s;
  r.committed = recorder.committed_between(0, o.duration_s);
  r.committed_tx_s = static_cast<double>(r.committed) / o.duration_s;
  auto commits = recorder.latencies(Kind::kCommit);
  auto history = recorder.latencies(Kind::kHistory);
  auto verify = recorder.latencies(Kind::kVerify);
  auto tx_reads = recorder.latencies(Kind::kTx);
  r.commit = percentiles(commits);
  r.history = percentiles(history);
  r.verify = percentiles(verify);
  r.tx = percentiles(tx_reads);
  r.tx_per_s = static_cast<double>(r.tx.count) / o.duration_s;
  r.tx_reads = {{"ids", tx_sample.ids.size()},
                {"mean_block_txs", tx_sample.mean_block_txs},
                {"ledger_txs", tx_sample.ledger_txs}};
  r.history_per_s = static_cast<double>(r.history.count) / o.duration_s;
  r.verify_per_s = static_cast<double>(r.verify.count) / o.duration_s;
  r.failures = recorder.failures();
  r.series = recorder.series(static_cast<int>(std::ceil(o.duration_s)));
  r.run = summary;
  print_report(r, std::cout);

  bool written = true;
  if (!o.out_json.empty()) written &= write_file(o.out_json, report_json(r).dump(2) + "\n");
  if (!o.out_svg.empty()) written &= write_file(o.out_svg, report_svg(r));
  if (!written) return kExitFailure;
  if (r.commit.count == 0) {
    std::cerr << "custos-bench: error: nothing was committed (see the failures above)\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace
}  // namespace custos::bench

int main(int argc, char** argv) {
  using namespace custos::bench;
  Options o;
  CLI::App app{
      "custos-bench: drives a running Custos network with custody handovers and reads and\n"
      "reports committed tx/s, latency percentiles and failures, with throughput as a ratio\n"
      "of this machine's signature-verification bound (cores x verifies/s / nodes).\n"
      "Exit status: 0 done, 1 setup failed or nothing committed, 2 usage error.",
      "custos-bench"};
  app.add_option("--network-dir", o.network_dir,
                 "Network folder made by ./scripts/run --detach --data DIR")
      ->required();
  app.add_option("--gateway", o.gateways,
                 "Gateway URL; repeat for several, used round-robin (default: every node's)");
  app.add_option("--concurrency", o.concurrency, "Writer threads, one connection each")
      ->check(CLI::Range(1, kConcurrencyMax));
  app.add_option("--duration", o.duration_s, "Seconds of timed load")
      ->check(CLI::Range(1.0, kDurationMaxS));
  app.add_option("--rate", o.rate_tx_s,
                 "Open loop: handovers per second, sent on a fixed schedule (default: closed "
                 "loop)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--reads-per-s", o.reads_per_s,
                 "Reads per second beside the writes: half item histories, half artefact "
                 "verdicts (default 0)")
      ->check(CLI::Range(0.0, 1e5));
  app.add_option("--tx-reads-per-s", o.tx_reads_per_s,
                 "Reads per second of committed transactions with their inclusion proofs "
                 "(GET /v1/transactions/{id}), picked before timing from random blocks of the "
                 "whole ledger (default 0)")
      ->check(CLI::Range(0.0, 1e5));
  app.add_option("--history-events", o.history_events,
                 "Events of the item the history reads read, set up before timing (default "
                 "100; 0: read the writers' items instead)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--batch", o.batch,
                 "Handovers per request: 1 sends each alone to POST /v1/transactions (default); "
                 "more sends up to N of a writer's items at once to POST /v1/transactions/batch")
      ->check(CLI::Range(1, kBatchMax));
  app.add_option("--items-per-worker", o.items_per_worker,
                 "Items each writer owns (default 8, or --batch when larger; at least --batch)")
      ->check(CLI::Range(1, kItemsPerWorkerMax));
  app.add_option("--identities", o.pairs,
                 "Custodian pairs (police, lab) to enrol (default: one per writer)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--txs", o.txs,
                 "Handovers to pre-sign (default: rate x duration x 1.1; closed loop 3000/s x "
                 "duration, with --batch 15000/s x duration)")
      ->check(CLI::Range(std::size_t{1}, kTxsMax));
  app.add_option("--cores", o.cores, "Cores for the bound (default: this machine's)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--nodes", o.nodes, "Nodes for the bound (default: nodeN.json in the folder)")
      ->check(CLI::Range(1, 256));
  app.add_option("--timeout", o.timeout_s, "Seconds to wait for one answer (default 15)")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--out", o.out_json, "Write the results as JSON to this file");
  app.add_option("--svg", o.out_svg, "Write the latency and throughput chart to this SVG file");
  app.footer(
      "Example: ./scripts/run --nodes 1 --detach --data /tmp/bench1\n"
      "         custos-bench --network-dir /tmp/bench1 --duration 10 --concurrency 8 \\\n"
      "             --reads-per-s 100 --out results.json --svg latency.svg");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "custos-bench: usage error: " << e.what() << "\nRun 'custos-bench --help'.\n";
    return 2;
  }
  for (const auto& g : o.gateways) {
    auto url = custos::wallet::parse_gateway_url(g);
    if (!url) usage_error("--gateway " + g + ": " + url.error().message);
  }
  if (o.items_per_worker > 0 && o.items_per_worker < o.batch) {
    usage_error("--items-per-worker " + std::to_string(o.items_per_worker) + " is below --batch " +
                std::to_string(o.batch) +
                ": a batch holds one handover of each of a writer's items");
  }
  check_writable(o.out_json, "--out");
  check_writable(o.out_svg, "--svg");
  return run(o);
}
