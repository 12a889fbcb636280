// Helpers shared by the doctest suites.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "core/json.h"

namespace custos::testing {

inline std::string source_path(const std::string& relative) {
  return std::string(CUSTOS_SOURCE_DIR) + "/" + relative;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Published vectors live in tests/vectors/ (copied from shared/testvectors).
inline Json read_vector_json(const std::string& name) {
  return Json::parse(read_text(source_path("tests/vectors/" + name)));
}

}  // namespace custos::testing
