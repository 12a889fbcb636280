// custos-node: one Custos peer with its REST gateway.
//
//   custos-node --config node.json
//
// Stops cleanly on SIGINT or SIGTERM. Exit status 0 after a clean stop, 1 if
// it cannot start (bad config, unreadable genesis, ledger in use).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "api/gateway.h"
#include "node/config.h"
#include "node/node.h"

int main(int argc, char** argv) {
  CLI::App app{"custos-node: a Custos peer and its REST gateway", "custos-node"};
  std::string config_path;
  app.add_option("--config", config_path, "Node configuration file (JSON)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "custos-node: usage error: " << e.what() << "\n";
    return 2;
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto config = custos::node::load_config(config_path);
  if (!config) {
    std::cerr << "custos-node: error: " << config.error().message << "\n";
    return 1;
  }
  auto node = custos::node::Node::open(*config);
  if (!node) {
    std::cerr << "custos-node: error: " << node.error().code << ": " << node.error().message << "\n";
    return 1;
  }
  if (auto s = (*node)->start(); !s) {
    std::cerr << "custos-node: error: " << s.error().message << "\n";
    return 1;
  }
  custos::api::Gateway gateway(**node);
  auto port = gateway.listen(config->listen_host, config->listen_port);
  if (!port) {
    std::cerr << "custos-node: error: " << port.error().message << "\n";
    (*node)->stop();
    return 1;
  }
  auto head = (*node)->ledger().head();
  std::printf("custos-node %s: network %s, height %llu, gateway http://%s:%d\n",
              config->node_id.c_str(), (*node)->genesis().network_id.c_str(),
              static_cast<unsigned long long>(head ? head->height : 0), config->listen_host.c_str(),
              *port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("custos-node %s: stopping (signal %d)\n", config->node_id.c_str(), sig);
  std::fflush(stdout);
  gateway.stop();
  (*node)->stop();
  return 0;
}
