// consensus-sim: replays one seed of the Raft simulator, or sweeps a range.
// Exit status 0 when every run kept the safety and liveness properties, 1
// otherwise (the failure and its replay command go to stderr).
#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "consensus/tests/simulator.h"

int main(int argc, char** argv) {
  custos::consensus::sim::Options o;
  std::uint64_t seeds = 1;
  CLI::App app{"Replay the deterministic Raft simulator from a seed"};
  app.add_option("--seed", o.seed, "first seed")->required();
  app.add_option("--steps", o.steps, "random-phase steps (clock ticks)");
  app.add_option("--nodes", o.nodes, "cluster size")->check(CLI::Range(1, 9));
  app.add_option("--seeds", seeds, "number of consecutive seeds to run");
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  custos::consensus::sim::SweepTotals totals;
  for (std::uint64_t i = 0; i < seeds; ++i) {
    custos::consensus::sim::Options run = o;
    run.seed = o.seed + i;
    custos::consensus::sim::Simulator sim(run);
    custos::Status s = sim.run();
    totals.add(sim, s);
    if (!s.ok()) {
      std::fprintf(stderr, "seed %llu: %s: %s\n", static_cast<unsigned long long>(run.seed),
                   s.error().code.c_str(), s.error().message.c_str());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n", totals.summary(seconds).c_str());
  return totals.failed == 0 ? 0 : 1;
}
