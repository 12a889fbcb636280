// The chaincode module interface.
//
// A module is a deterministic function: (state view, call, block context) ->
// outcome (result code, state writes, history appends). No clock but the block
// timestamp, no randomness, no floating point, no iteration over unordered
// containers, no I/O. Replaying the same blocks gives bit-identical state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/json.h"
#include "core/keys.h"
#include "core/tx.h"
#include "ledger/ledger.h"

namespace custos::chaincode {

// Stable result codes. They appear in the tx index, in REST problem
// responses and in docs/custody.md; never rename one.
namespace code {
inline constexpr const char* kOk = "OK";
// envelope and signers (checked by the registry for every module)
inline constexpr const char* kWrongNetwork = "WRONG_NETWORK";
inline constexpr const char* kBadSignature = "BAD_SIGNATURE";
inline constexpr const char* kUnsigned = "UNSIGNED";
inline constexpr const char* kUnknownSigner = "UNKNOWN_SIGNER";
inline constexpr const char* kSignerRevoked = "SIGNER_REVOKED";
inline constexpr const char* kUnknownChaincode = "UNKNOWN_CHAINCODE";
inline constexpr const char* kUnknownFunction = "UNKNOWN_FUNCTION";
inline constexpr const char* kDuplicateTx = "DUPLICATE_TX";
// arguments and permissions (any module)
inline constexpr const char* kBadArgs = "BAD_ARGS";
inline constexpr const char* kRoleForbidden = "ROLE_FORBIDDEN";
inline constexpr const char* kNotOrgAdmin = "NOT_ORG_ADMIN";
inline constexpr const char* kCosignatureMissing = "COSIGNATURE_MISSING";
inline constexpr const char* kUnexpectedSigner = "UNEXPECTED_SIGNER";
// a bounded list in state (org admins, keys, case members, grants, derived items) is full
inline constexpr const char* kLimitReached = "LIMIT_REACHED";
// identity
inline constexpr const char* kOrgNotFound = "ORG_NOT_FOUND";
inline constexpr const char* kIdentityExists = "IDENTITY_EXISTS";
inline constexpr const char* kIdentityNotFound = "IDENTITY_NOT_FOUND";
inline constexpr const char* kKeyInUse = "KEY_IN_USE";
inline constexpr const char* kAlreadyRevoked = "ALREADY_REVOKED";
inline constexpr const char* kLastAdmin = "LAST_ADMIN";  // revoking it would orphan the org
// identity: nodes
inline constexpr const char* kNodeExists = "NODE_EXISTS";  // the id was ever used
inline constexpr const char* kNodeNotFound = "NODE_NOT_FOUND";
inline constexpr const char* kNodeRemoved = "NODE_REMOVED";  // removed nodes stay removed
inline constexpr const char* kLastNode = "LAST_NODE";        // no node would sign heads
// custody
inline constexpr const char* kCaseExists = "CASE_EXISTS";
inline constexpr const char* kCaseNotFound = "CASE_NOT_FOUND";
inline constexpr const char* kNotCaseMember = "NOT_CASE_MEMBER";
inline constexpr const char* kItemExists = "ITEM_EXISTS";
inline constexpr const char* kItemNotFound = "ITEM_NOT_FOUND";
inline constexpr const char* kNotCustodian = "NOT_CUSTODIAN";
inline constexpr const char* kReceiverNotEligible = "RECEIVER_NOT_ELIGIBLE";
inline constexpr const char* kItemFinal = "ITEM_FINAL";
inline constexpr const char* kTimeRegression = "TIME_REGRESSION";
inline constexpr const char* kTimeInFuture = "TIME_IN_FUTURE";
inline constexpr const char* kAuthorisationRequired = "AUTHORISATION_REQUIRED";
inline constexpr const char* kNotLeadOrg = "NOT_LEAD_ORG";
inline constexpr const char* kAlreadyMember = "ALREADY_MEMBER";
inline constexpr const char* kAlreadyGranted = "ALREADY_GRANTED";
// funds
inline constexpr const char* kAgentExists = "AGENT_EXISTS";
inline constexpr const char* kAgentNotFound = "AGENT_NOT_FOUND";
inline constexpr const char* kNotTransferAgent = "NOT_TRANSFER_AGENT";
inline constexpr const char* kWrongAgent = "WRONG_AGENT";  // not this transfer's agent
inline constexpr const char* kTransferExists = "TRANSFER_EXISTS";
inline constexpr const char* kTransferNotFound = "TRANSFER_NOT_FOUND";
inline constexpr const char* kUnknownCurrency = "UNKNOWN_CURRENCY";
inline constexpr const char* kBadAmount = "BAD_AMOUNT";
inline constexpr const char* kR16FieldsMissing = "R16_FIELDS_MISSING";
inline constexpr const char* kWrongPickupCode = "WRONG_PICKUP_CODE";
inline constexpr const char* kAlreadyPaidOut = "ALREADY_PAID_OUT";
inline constexpr const char* kTransferCancelled = "TRANSFER_CANCELLED";
inline constexpr const char* kTransferFrozen = "TRANSFER_FROZEN";
inline constexpr const char* kNotFrozen = "NOT_FROZEN";
inline constexpr const char* kSettlementMismatch = "SETTLEMENT_MISMATCH";
inline constexpr const char* kPositionOverflow = "POSITION_OVERFLOW";
// provenance
inline constexpr const char* kArtefactExists = "ARTEFACT_EXISTS";
inline constexpr const char* kArtefactNotFound = "ARTEFACT_NOT_FOUND";
// the actor neither holds the artefact nor may speak for its holder; or the seller does not hold it
inline constexpr const char* kNotHolder = "NOT_HOLDER";
// not an officially assigned ISO 3166-1 alpha-2 code
inline constexpr const char* kUnknownCountry = "UNKNOWN_COUNTRY";
inline constexpr const char* kImportLicenceRequired = "IMPORT_LICENCE_REQUIRED";
inline constexpr const char* kImporterStatementRequired = "IMPORTER_STATEMENT_REQUIRED";
// reported stolen or seized and not cleared: no transfer, no import
inline constexpr const char* kArtefactFlagged = "ARTEFACT_FLAGGED";
inline constexpr const char* kFlagAlreadySet = "FLAG_ALREADY_SET";
inline constexpr const char* kFlagNotSet = "FLAG_NOT_SET";
}  // namespace code

// Read access to world state as it stands before the current transaction
// (committed state plus the effects of earlier transactions of the block).
class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<Json> get(std::string_view key) const = 0;
  // The same value, shared read-only (null when absent): for readers that
  // do not change it. The default copies get()'s answer.
  virtual SharedJson get_shared(std::string_view key) const {
    auto value = get(key);
    return value ? std::make_shared<const Json>(std::move(*value)) : nullptr;
  }
};

struct BlockContext {
  std::string network_id;
  std::uint64_t height = 0;
  std::int64_t timestamp_ms = 0;  // the only clock chaincode may read
};

// An enrolled, unrevoked identity that signed the transaction.
struct Signer {
  std::string identity_id;
  std::string org;
  std::vector<std::string> roles;  // sorted
  bool has_role(std::string_view role) const;
  bool has_any_role(std::initializer_list<std::string_view> roles) const;
};

// One invocation. signers[i] signed with tx.signatures[i]; signers[0] is the
// submitter (the actor the function is performed by).
struct Call {
  const Transaction& tx;
  const Hash256& tx_id;
  const std::vector<Signer>& signers;
  const BlockContext& block;
  const Signer& actor() const { return signers.front(); }
};

struct Outcome {
  std::string code = code::kOk;
  std::string message;
  std::vector<ledger::StateWrite> writes;
  std::vector<ledger::HistoryAppend> history;

  bool ok() const { return code == code::kOk; }
  static Outcome refuse(std::string code, std::string message);
};

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string_view name() const = 0;
  virtual bool has_function(std::string_view function) const = 0;
  // The cheap checks a node makes when it admits a tx to its mempool: the
  // arguments' shape and the roles the function needs. It is given no state,
  // so it can read none: an offline verifier runs it (Registry::check_static)
  // with signers it resolved itself. No outcome writes.
  virtual Outcome admit(const Call& call) const = 0;
  // The full rules, run when the tx's block executes. On refusal the outcome
  // carries no writes and no history: a failed tx changes nothing.
  virtual Outcome execute(const StateView& state, const Call& call) const = 0;
};

}  // namespace custos::chaincode
