#include "chaincode/chaincode.h"

#include <algorithm>
#include <cstdlib>

namespace custos::chaincode {

bool Signer::has_role(std::string_view role) const {
  // Linear, not binary search: a signer holds at most a dozen roles, and a
  // hand-built Signer in a test need not keep them sorted to be answered right.
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool Signer::has_any_role(std::initializer_list<std::string_view> wanted) const {
  return std::any_of(wanted.begin(), wanted.end(),
                     [this](std::string_view role) { return has_role(role); });
}

Outcome Outcome::refuse(std::string refusal_code, std::string message) {
  // A refusal spelled "OK" would be recorded as a success that changed nothing:
  // that is a bug in the caller, not bad input.
  if (refusal_code.empty() || refusal_code == code::kOk) std::abort();
  Outcome outcome;
  outcome.code = std::move(refusal_code);
  outcome.message = std::move(message);
  return outcome;
}

}  // namespace custos::chaincode
