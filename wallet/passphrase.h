// Where the client gets a keystore passphrase from.
#pragma once

#include <string>

#include "core/result.h"

namespace custos::wallet {

// CUSTOS_PASSPHRASE when it is set (scripts, CI), otherwise a prompt on the
// controlling terminal with echo off. With confirm, the prompt asks twice and
// refuses a mismatch. Errors: "no_passphrase" when there is neither the
// variable nor a terminal, "passphrase_mismatch", "bad_passphrase" (empty).
Result<std::string> obtain_passphrase(const std::string& prompt, bool confirm);

}  // namespace custos::wallet
