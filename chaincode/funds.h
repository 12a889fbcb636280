// The funds module (chaincode "funds"): licensed money-transfer agents,
// cross-border transfers between them as a traceable alternative to informal
// hawala, FATF Recommendation 16 ("travel rule") data at or above a threshold,
// net positions between each pair of agents per currency and their settlement,
// freezes by a financial intelligence unit, and a deterministic structuring
// rule. People appear only as salted commitments (the salt stays with the
// agent); no name or ID number is ever on the chain.
//
// State layout (values are JSON; docs/funds.md has the full tables):
//   agent/<agent_id>                          a registered agent: org, licence_ref
//   transfer/<transfer_id>                    the transfer's current state, head_event_hash
//   position/<agent>/<counterparty>/<CUR>     {"net_minor": N}: what counterparty owes agent;
//                                             both sides written, opposite signs
//   settlement/<agent_lo>/<agent_hi>/<CUR>    the pair's settlement count and chain head
//   structuring/<originator_commitment>       recent sub-threshold transfers (bounded)
//   transfer_flagged/<transfer_id>            {"transfer_id"}: flagged transfers by prefix scan
// History: key transfer/<id>, one event per send, payout, cancel, freeze,
// unfreeze and flag; key settlement/<lo>/<hi>/<CUR>, one event per settle.
// Events use custody's envelope and hash (custody.h: compute_event_hash), with
// "item_id" holding the transfer id (or "<lo>/<hi>/<CUR>" for a settlement),
// so verify_item_history() checks these chains unchanged.
//
// Functions: register_agent, send, payout, cancel, settle, freeze, unfreeze.
// Who may call each, its arguments and the code each failed check gives are
// in docs/funds.md.
//
// Deterministic and thread-compatible: the module object is immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chaincode/chaincode.h"

namespace custos::chaincode {

inline constexpr std::string_view kFundsChaincode = "funds";

// FATF R16's de minimis threshold is at most USD/EUR 1,000; for EUR this is
// the default unless the genesis config sets another value.
inline constexpr std::string_view kDefaultR16Currency = "EUR";
inline constexpr std::int64_t kDefaultR16ThresholdMinorEur = 100'000;
// A currency the config gives no threshold for has this one: every transfer
// (amounts are >= 1) needs R16 data. Failing closed is the only choice that
// cannot let an unconfigured currency become a route around the travel rule.
inline constexpr std::int64_t kUnconfiguredR16ThresholdMinor = 1;
// The structuring rule when config.funds.structuring is absent: 5 transfers
// below the threshold from one originator commitment within 24 hours.
inline constexpr std::int64_t kDefaultStructuringCount = 5;
inline constexpr std::int64_t kDefaultStructuringWindowMs = 86'400'000;

// Bounds on arguments.
inline constexpr std::size_t kFundsTextBytesMax = 200;  // licence_ref, purpose, reasons
inline constexpr std::size_t kPickupCodeBytesMax = 128;

// True for an active ISO 4217 alphabetic code of a circulating currency (the
// built-in list in funds.cpp, as published in 2025; fund codes, precious
// metals, XDR and the testing codes XTS / XXX are not money one sends).
bool is_active_currency(std::string_view code);

// The funds settings from the genesis config ("network" -> "config" ->
// "funds"), with the defaults above for whatever is absent.
struct FundsConfig {
  std::map<std::string, std::int64_t, std::less<>> r16_threshold_minor;  // by ISO 4217 code
  std::int64_t structuring_count = kDefaultStructuringCount;
  std::int64_t structuring_window_ms = kDefaultStructuringWindowMs;

  // The R16 threshold for `currency` in minor units: the configured one; for
  // EUR without one, kDefaultR16ThresholdMinorEur; otherwise
  // kUnconfiguredR16ThresholdMinor.
  std::int64_t r16_threshold_for(std::string_view currency) const;
};
// Precondition: the "network" record was written by genesis_state_writes from
// a genesis that passed genesis_from_json (a malformed section is a broken
// invariant and stops the process). No "network" record or no "funds" section
// gives the defaults.
FundsConfig funds_config(const StateView& state) noexcept;

// State keys. Agent ids are identity ids and transfer ids object ids; neither
// contains '/', so the prefixes below list exactly one agent's entries.
std::string agent_state_key(std::string_view agent_id);        // agent/<id>
std::string transfer_state_key(std::string_view transfer_id);  // transfer/<id>
std::string position_state_key(std::string_view agent, std::string_view counterparty,
                               std::string_view currency);   // position/<a>/<b>/<CUR>
std::string agent_positions_prefix(std::string_view agent);  // position/<a>/
inline constexpr std::string_view kPositionsPrefix = "position/";
// The pair's key names the two agents in byte order, whichever is agent_a.
std::string settlement_state_key(std::string_view agent_a, std::string_view agent_b,
                                 std::string_view currency);  // settlement/<lo>/<hi>/<CUR>
std::string structuring_state_key(std::string_view originator_commitment);
inline constexpr std::string_view kTransferFlaggedPrefix = "transfer_flagged/";
std::string transfer_flagged_state_key(std::string_view transfer_id);

// A position key split into its parts, or nullopt if `key` is not one.
struct PositionKey {
  std::string agent;
  std::string counterparty;
  std::string currency;
};
std::optional<PositionKey> parse_position_key(std::string_view key);

// The stored records, or nullopt if absent.
std::optional<Json> find_agent(const StateView& state, std::string_view agent_id);
std::optional<Json> find_transfer(const StateView& state, std::string_view transfer_id);

// The module. admit() checks the arguments' shape (amounts, currency, the R16
// object's form), the signers and the actor's role; execute() repeats that and
// applies the state rules.
std::unique_ptr<Module> make_funds_module();

}  // namespace custos::chaincode
