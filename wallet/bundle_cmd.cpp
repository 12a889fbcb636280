#include "wallet/bundle_cmd.h"

#include <iostream>

#include "bundle/bundle.h"
#include "core/genesis.h"
#include "wallet/files.h"

namespace custos::wallet {
namespace {

constexpr std::size_t kGenesisBytesMax = 1 << 20;

// Reads and parses a JSON file, or prints why not.
std::optional<Json> read_json(const std::string& path, std::size_t max_bytes, const char* what) {
  auto text = read_file_bounded(path, max_bytes);
  if (!text) {
    std::cerr << "custos: error: " << what << " " << path << ": " << text.error().message << "\n";
    return std::nullopt;
  }
  auto json = parse_json_strict(*text);
  if (!json) {
    std::cerr << "custos: error: " << what << " " << path << " is not JSON: "
              << json.error().message << "\n";
    return std::nullopt;
  }
  return std::move(*json);
}

}  // namespace

int cmd_bundle_verify(const std::string& bundle_path, const std::string& genesis_path,
                      bool as_json) {
  auto genesis_json = read_json(genesis_path, kGenesisBytesMax, "genesis file");
  if (!genesis_json) return 1;
  auto genesis = genesis_from_json(*genesis_json);
  if (!genesis) {
    std::cerr << "custos: error: genesis file " << genesis_path << ": " << genesis.error().message
              << "\n";
    return 1;
  }
  auto bundle = read_json(bundle_path, kBundleBytesMax, "bundle");
  if (!bundle) return 1;
  const bundle::VerifyReport report = bundle::verify_bundle(*bundle, *genesis);
  if (as_json) {
    std::cout << report.to_json().dump(2) << "\n";
  } else {
    std::cout << report.to_text();
  }
  return report.ok ? 0 : 1;
}

}  // namespace custos::wallet
