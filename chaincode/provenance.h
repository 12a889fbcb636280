// The provenance module (chaincode "provenance"): cultural artefacts described
// with the Object ID fields, their holders, and their provenance kept as one
// hash chain of events per artefact; and verify_artefact(), the customs
// verdict the gateway computes at read time.
//
// State layout (values are JSON; docs/provenance.md has the full tables):
//   artefact/<artefact_id>                       the artefact: Object ID fields, dating,
//                                                Annex category, origin, photos, holder,
//                                                open flags, head_event_hash
//   artefact_photo/<photo hash>/<artefact_id>    {"artefact_id"}: finds artefacts by
//                                                photo hash with a prefix scan
// History: key artefact/<artefact_id>, seq 0 = registration, one event per
// function; each event carries the previous event's hash (the custody event
// format, with "artefact_id" and a declared "date" instead of "item_id" and
// "declared_at_ms", hashed by compute_event_hash()).
//
// Functions: register, find, export_licence, transfer, import, inspection,
// theft_report, seizure, restitution, clear_flag. Who may call each, its
// arguments and the code each failed check gives are in docs/provenance.md.
//
// Holders are parties: {"identity": id} for museums, dealers and authorities
// enrolled on the network, or {"commitment": 64 hex} for a private owner, who
// is never named on the chain (brief §2). docs/provenance.md §2 says why.
//
// Deterministic and thread-compatible: the module object is immutable, and
// verify_artefact() reads only its arguments (no clock: ages are computed
// from declared dates).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chaincode/chaincode.h"
#include "core/result.h"

namespace custos::chaincode {

inline constexpr std::string_view kProvenanceChaincode = "provenance";

// --- legal thresholds -----------------------------------------------------------------
//
// Dates are ISO 8601 calendar dates (YYYY-MM-DD).

// UNESCO Convention on the Means of Prohibiting and Preventing the Illicit
// Import, Export and Transfer of Ownership of Cultural Property, adopted in
// Paris on 14 November 1970: the date the art market uses as the cut-off for
// documented provenance.
inline constexpr std::string_view kUnescoConventionDate = "1970-11-14";

// Regulation (EU) 2019/880 on the introduction and the import of cultural
// goods. Art. 4 (import licence) and Art. 5 (importer statement) apply from
// the day the ICG electronic system of Art. 8 went live, at the latest
// 28 June 2025 (Art. 16); imports declared before that needed neither.
inline constexpr std::string_view kImportRulesFromDate = "2025-06-28";
// Annex Part B, categories (c) and (d): archaeological objects and dismembered
// elements of monuments "more than 250 years old" need an import licence
// (Art. 4(1)), whatever their value.
inline constexpr std::int64_t kImportLicenceAgeAboveYears = 250;
// Annex Part C, the other categories: "more than 200 years old" ...
inline constexpr std::int64_t kImporterStatementAgeAboveYears = 200;
// ... and of a value of "EUR 18 000 or more per item" need an importer
// statement (Art. 5(1)). In euro cents (integer minor units, no floats).
inline constexpr std::int64_t kImporterStatementValueMinEurCents = 1'800'000;

// Annex Part A categories (the UNESCO 1970 Art. 1 list), "a" to "l"; of them,
// "c" (products of archaeological excavations or discoveries) and "d"
// (elements of dismembered monuments or archaeological sites) are Part B.
bool is_annex_category(std::string_view category);
bool is_archaeological_category(std::string_view category);

// ISO 3166-1 alpha-2: the 249 officially assigned codes (not the reserved or
// user-assigned ones such as "UK", "EU" or "XK"). The list is sorted.
std::span<const std::string_view> assigned_country_codes();
bool is_assigned_country_code(std::string_view code);
// The 27 EU member states by ISO code ("GR" for Greece). Goods created or
// discovered there are outside Regulation 2019/880 (Art. 1(2)).
bool is_eu_member_state(std::string_view code);

// --- bounds -----------------------------------------------------------------------------
inline constexpr std::size_t kProvenanceTextBytesMax = 500;  // every short free-text argument
inline constexpr std::size_t kArtefactDescriptionBytesMax = 2000;
inline constexpr std::size_t kArtefactPhotosMax = 16;
// dated_year_max: ISO 8601 year numbers (0 = 1 BC, -499 = 500 BC), from
// before the oldest meteorite to the year of the block.
inline constexpr std::int64_t kDatedYearMin = -5'000'000'000;
// A declared date may be one day after the block's UTC date: the people
// recording it declare their local date, which can run ahead of UTC.
inline constexpr std::int64_t kDeclaredDateAheadMaxDays = 1;

// --- state keys -------------------------------------------------------------------------
std::string artefact_state_key(std::string_view artefact_id);    // artefact/<id>
std::string artefact_history_key(std::string_view artefact_id);  // artefact/<id> (history)
std::string artefact_photo_prefix(std::string_view photo_hash);  // artefact_photo/<hash>/
std::string artefact_photo_state_key(std::string_view photo_hash, std::string_view artefact_id);

std::unique_ptr<Module> make_provenance_module();

// --- the event hash chain -----------------------------------------------------------------
//
// Checks an artefact's complete history, oldest first from seq 0: each event
// names `artefact_id`, has the next seq, links to the previous event's hash
// (kNoPrevEventHash for seq 0) and carries an event_hash that recomputes
// (compute_event_hash). Errors ("bad_history") name the first bad event. An
// empty list is accepted.
Status verify_artefact_history(std::string_view artefact_id, const std::vector<Json>& events);

// --- the customs verdict ------------------------------------------------------------------
inline constexpr std::string_view kVerdictClear = "CLEAR";
inline constexpr std::string_view kVerdictReview = "REVIEW";
inline constexpr std::string_view kVerdictAlert = "ALERT";

// Reason codes of a verdict, stable like result codes (docs/provenance.md §5).
namespace reason {
inline constexpr const char* kReportedStolen = "REPORTED_STOLEN";                       // ALERT
inline constexpr const char* kSeized = "SEIZED";                                        // ALERT
inline constexpr const char* kImportLicenceMissing = "IMPORT_LICENCE_MISSING";          // ALERT
inline constexpr const char* kHistoryInvalid = "HISTORY_INVALID";                       // ALERT
inline constexpr const char* kImporterStatementMissing = "IMPORTER_STATEMENT_MISSING";  // REVIEW
inline constexpr const char* kNoPre1970Provenance = "NO_PRE_1970_PROVENANCE";           // REVIEW
inline constexpr const char* kOwnershipChainBroken = "OWNERSHIP_CHAIN_BROKEN";          // REVIEW
}  // namespace reason

// The verdict on an artefact, given its state (the value at
// artefact_state_key) and its complete history, oldest first:
//
//   {"artefact_id", "head_event_hash": hex | null, "verdict": "CLEAR" | "REVIEW" | "ALERT",
//    "reasons": [{"code", "severity": "REVIEW" | "ALERT", "detail", "event_seq": n | null}]}
//
// Every reason that applies is listed, ordered by event_seq (reasons about
// the whole history, with a null event_seq, last). The verdict is ALERT if
// any reason is, else REVIEW if there is any reason, else CLEAR. A history
// that does not verify, or does not end at the state's head, gives ALERT with
// the single reason HISTORY_INVALID: nothing else can be judged from it.
// Pure and deterministic; never throws, whatever the input.
Json verify_artefact(const Json& artefact, const std::vector<Json>& events);

}  // namespace custos::chaincode
