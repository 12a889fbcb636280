// `custos bundle verify`: checks a court bundle offline against the
// network's genesis file (bundle/bundle.h, docs/verification.md).
#pragma once

#include <string>

namespace custos::wallet {

// The bundle file is at most this large: a history of thousands of events
// with their transactions and proofs fits many times over.
inline constexpr std::size_t kBundleBytesMax = std::size_t{256} << 20;

// Prints the report (text, or JSON with as_json) to stdout and returns the
// exit status: 0 verified, 1 not verified or unreadable input (the reason on
// stderr for unreadable input).
int cmd_bundle_verify(const std::string& bundle_path, const std::string& genesis_path,
                      bool as_json);

}  // namespace custos::wallet
