#include "chaincode/provenance.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>

#include "chaincode/custody.h"
#include "chaincode/identity.h"
#include "chaincode/module_kit.h"
#include "core/hash.h"
#include "core/tx.h"

namespace custos::chaincode {

namespace {

// ISO 3166-1 alpha-2, every officially assigned code (ISO 3166 Maintenance
// Agency; the same 249 as Debian's iso-codes 4.15), sorted for binary search.
constexpr std::string_view kAssignedCountryCodes[] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

// EU member states since 1 February 2020, sorted.
constexpr std::string_view kEuMemberStates[] = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"};

bool sorted_contains(std::span<const std::string_view> list, std::string_view s) {
  return std::binary_search(list.begin(), list.end(), s);
}

}  // namespace

bool is_annex_category(std::string_view category) {
  return category.size() == 1 && category[0] >= 'a' && category[0] <= 'l';
}
bool is_archaeological_category(std::string_view category) {
  return category == "c" || category == "d";
}

std::span<const std::string_view> assigned_country_codes() {
  return kAssignedCountryCodes;
}
bool is_assigned_country_code(std::string_view code) {
  return sorted_contains(kAssignedCountryCodes, code);
}
bool is_eu_member_state(std::string_view code) {
  return sorted_contains(kEuMemberStates, code);
}

std::string artefact_state_key(std::string_view artefact_id) {
  return "artefact/" + std::string(artefact_id);
}
std::string artefact_history_key(std::string_view artefact_id) {
  // The same string as the state key, as for custody items: the history of
  // a key is the history of the record stored there.
  return artefact_state_key(artefact_id);
}
std::string artefact_photo_prefix(std::string_view photo_hash) {
  return "artefact_photo/" + std::string(photo_hash) + "/";
}
std::string artefact_photo_state_key(std::string_view photo_hash, std::string_view artefact_id) {
  return artefact_photo_prefix(photo_hash) + std::string(artefact_id);
}

Status verify_artefact_history(std::string_view artefact_id, const std::vector<Json>& events) {
  // A complete history: without this, a forged first event with a later seq
  // and the zero prev_event_hash would pass as one.
  if (!events.empty()) {
    const Json& first = events.front();
    auto seq = first.is_object() ? first.find("seq") : first.end();
    if (first.is_object() && (seq == first.end() || !seq->is_number_integer() || *seq != 0)) {
      return make_error("bad_history",
                        "event 0: \"seq\" must be 0: the history starts at 0 and no event is "
                        "missing or repeated");
    }
  }
  return verify_event_chain("artefact_id", "artefact", artefact_id, events, kNoPrevEventHash);
}

namespace {

// --- dates --------------------------------------------------------------------------
//
// A declared date is "YYYY-MM-DD", or with less precision "YYYY-MM" or "YYYY":
// provenance research often knows only the year of a sale. It stands for
// every day from `earliest` to `latest`. Days are compared as the integers
// yyyymmdd, which order like the days they name.

struct DeclaredDate {
  std::string text;
  std::int64_t year = 0;
  std::int64_t earliest = 0;
  std::int64_t latest = 0;
  bool is_day() const { return earliest == latest; }
};

bool is_leap_year(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

std::int64_t days_in_month(std::int64_t year, std::int64_t month) {
  constexpr std::int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

std::int64_t day_key(std::int64_t year, std::int64_t month, std::int64_t day) {
  return year * 10'000 + month * 100 + day;
}

std::optional<std::int64_t> decimal(std::string_view s) {
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Years 0001 to 9999 of the Gregorian calendar.
std::optional<DeclaredDate> parse_date(std::string_view s) {
  if (s.size() != 4 && s.size() != 7 && s.size() != 10) return std::nullopt;
  auto year = decimal(s.substr(0, 4));
  if (!year || *year < 1) return std::nullopt;
  std::int64_t month_first = 1;
  std::int64_t month_last = 12;
  if (s.size() >= 7) {
    auto month = decimal(s.substr(5, 2));
    if (s[4] != '-' || !month || *month < 1 || *month > 12) return std::nullopt;
    month_first = month_last = *month;
  }
  std::int64_t day_first = 1;
  std::int64_t day_last = days_in_month(*year, month_last);
  if (s.size() == 10) {
    auto day = decimal(s.substr(8, 2));
    if (s[7] != '-' || !day || *day < 1 || *day > day_last) return std::nullopt;
    day_first = day_last = *day;
  }
  DeclaredDate d;
  d.text = std::string(s);
  d.year = *year;
  d.earliest = day_key(*year, month_first, day_first);
  d.latest = day_key(*year, month_last, day_last);
  return d;
}

std::string day_text(std::int64_t key) {
  std::string digits = std::to_string(key);  // 5..8 digits: years 1..9999
  digits.insert(0, 8 - digits.size(), '0');
  return digits.substr(0, 4) + "-" + digits.substr(4, 2) + "-" + digits.substr(6, 2);
}

// A date constant of this module, as a day key.
std::int64_t constant_day(std::string_view date) {
  auto d = parse_date(date);
  if (!d || !d->is_day()) std::abort();  // the constants are full dates (tests check them)
  return d->earliest;
}

// The UTC calendar day of a Unix time, as a day key.
std::int64_t utc_day(std::int64_t unix_ms) {
  if (unix_ms < 0) std::abort();  // block timestamps start after the genesis, never before 1970
  std::int64_t days = unix_ms / 86'400'000;
  // Every run of 400 Gregorian years has 146 097 days, so the loops below
  // run at most 400 and 12 times.
  std::int64_t year = 1970 + 400 * (days / 146'097);
  days %= 146'097;
  while (days >= (is_leap_year(year) ? 366 : 365)) {
    days -= is_leap_year(year) ? 366 : 365;
    ++year;
  }
  std::int64_t month = 1;
  while (days >= days_in_month(year, month)) {
    days -= days_in_month(year, month);
    ++month;
  }
  return day_key(year, month, days + 1);
}

// --- parties ------------------------------------------------------------------------

// Who holds an artefact: an enrolled identity (a museum, a dealer, an
// authority), or a private owner as a salted commitment that only the
// recording dealer or museum can open, off the chain.
struct Party {
  std::string kind;  // "identity" | "commitment"
  std::string value;

  bool is_identity() const { return kind == "identity"; }
  bool operator==(const Party&) const = default;
  Json to_json() const { return Json{{kind, value}}; }
  std::string text() const { return kind + " " + in_quotes(value); }

  // An object with exactly one member: "identity" (an identity id) or
  // "commitment" (64 lowercase hex digits).
  static std::optional<Party> from_json(const Json& j) {
    if (!j.is_object() || j.size() != 1 || !j.begin().value().is_string()) return std::nullopt;
    std::string kind = j.begin().key();
    std::string value = j.begin().value().get<std::string>();
    bool ok = (kind == "identity" && is_network_id(value)) ||
              (kind == "commitment" && Hash256::from_hex(value).ok());
    if (!ok) return std::nullopt;
    return Party{std::move(kind), std::move(value)};
  }
};

// --- the artefact record ------------------------------------------------------------
//
// State values are written only by this module, so a malformed one is a
// broken invariant: nlohmann throws, and noexcept turns that into a stop
// rather than an outcome that differs between nodes.

struct ObjectField {
  const char* name;
  bool required;
  std::size_t bytes_max;
};

// The Object ID fields (Getty / ICOM Object ID standard), plus the
// description the standard keeps beside them.
constexpr ObjectField kObjectFields[] = {
    {"type_of_object", true, kProvenanceTextBytesMax},
    {"materials_and_techniques", true, kProvenanceTextBytesMax},
    {"measurements", true, kProvenanceTextBytesMax},
    {"inscriptions_and_markings", false, kProvenanceTextBytesMax},
    {"distinguishing_features", false, kProvenanceTextBytesMax},
    {"title", false, kProvenanceTextBytesMax},
    {"subject", false, kProvenanceTextBytesMax},
    {"date_or_period", true, kProvenanceTextBytesMax},
    {"maker", false, kProvenanceTextBytesMax},
    {"description", true, kArtefactDescriptionBytesMax},
};

// An open theft report or seizure.
struct Flag {
  std::uint64_t event_seq = 0;
  std::string reference;  // the INTERPOL reference or the seizure's authority reference

  Json to_json() const { return Json{{"event_seq", event_seq}, {"reference", reference}}; }
};

Json flag_json(const std::optional<Flag>& f) {
  return f ? f->to_json() : Json(nullptr);
}
std::optional<Flag> flag_from_json(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return Flag{j.at("event_seq").get<std::uint64_t>(), j.at("reference").get<std::string>()};
}

struct ArtefactRecord {
  std::string id;
  Json object;  // the Object ID fields; absent optional ones are null
  std::int64_t dated_year_max = 0;
  std::string category;
  std::string origin_country;
  std::optional<std::string> find_spot;
  std::vector<std::string> photo_hashes;
  Party holder;
  bool archaeological_find = false;  // a find or excavation is recorded
  std::optional<Flag> stolen;
  std::optional<Flag> seized;
  std::uint64_t event_count = 0;
  std::string head_event_hash;
  // No event that changes the artefact's possession or status may be dated
  // wholly before this day (YYYY-MM-DD); null until the first dated one.
  std::optional<std::string> date_floor;
  std::string registered_by;
  std::uint64_t registered_at_height = 0;

  bool flagged() const { return stolen || seized; }
  bool archaeological() const {
    return is_archaeological_category(category) || archaeological_find;
  }

  Json to_json() const {
    return Json{{"id", id},
                {"object", object},
                {"dated_year_max", dated_year_max},
                {"category", category},
                {"origin_country", origin_country},
                {"find_spot", optional_json(find_spot)},
                {"photo_hashes", photo_hashes},
                {"holder", holder.to_json()},
                {"archaeological_find", archaeological_find},
                {"flags", Json{{"stolen", flag_json(stolen)}, {"seized", flag_json(seized)}}},
                {"event_count", event_count},
                {"head_event_hash", head_event_hash},
                {"date_floor", optional_json(date_floor)},
                {"registered_by", registered_by},
                {"registered_at_height", registered_at_height}};
  }
  static ArtefactRecord from_json(const Json& j) noexcept {
    ArtefactRecord a;
    a.id = j.at("id").get<std::string>();
    a.object = j.at("object");
    a.dated_year_max = j.at("dated_year_max").get<std::int64_t>();
    a.category = j.at("category").get<std::string>();
    a.origin_country = j.at("origin_country").get<std::string>();
    a.find_spot = optional_string(j.at("find_spot"));
    a.photo_hashes = j.at("photo_hashes").get<std::vector<std::string>>();
    a.holder = Party::from_json(j.at("holder")).value();
    a.archaeological_find = j.at("archaeological_find").get<bool>();
    a.stolen = flag_from_json(j.at("flags").at("stolen"));
    a.seized = flag_from_json(j.at("flags").at("seized"));
    a.event_count = j.at("event_count").get<std::uint64_t>();
    a.head_event_hash = j.at("head_event_hash").get<std::string>();
    a.date_floor = optional_string(j.at("date_floor"));
    a.registered_by = j.at("registered_by").get<std::string>();
    a.registered_at_height = j.at("registered_at_height").get<std::uint64_t>();
    return a;
  }
};

std::optional<ArtefactRecord> load_artefact(const StateView& state, std::string_view artefact_id) {
  auto j = state.get(artefact_state_key(artefact_id));
  if (!j) return std::nullopt;
  return ArtefactRecord::from_json(*j);
}

// --- the regulation -----------------------------------------------------------------

enum class ImportDocument { kNone, kLicence, kStatement };

struct ImportRequirement {
  ImportDocument document = ImportDocument::kNone;
  std::string why;
};

std::string eur_text(std::int64_t cents) {
  std::string minor = std::to_string(cents % 100);
  return "EUR " + std::to_string(cents / 100) + "." + std::string(2 - minor.size(), '0') + minor;
}

// What Regulation (EU) 2019/880 asks of an import declared on `import_date`
// (a full day). The age is the import's year minus the latest plausible year
// of making: the age the object has certainly reached, so a licence is asked
// for only when the object is certainly old enough to need one.
ImportRequirement import_requirement(std::string_view origin_country, bool archaeological,
                                     std::int64_t dated_year_max, const DeclaredDate& import_date,
                                     std::int64_t value_eur_cents) {
  if (import_date.latest < constant_day(kImportRulesFromDate)) {
    return {ImportDocument::kNone,
            "declared before Arts 4 and 5 of Regulation (EU) 2019/880 "
            "applied (" +
                std::string(kImportRulesFromDate) + ")"};
  }
  if (is_eu_member_state(origin_country)) {
    return {ImportDocument::kNone, "created or discovered in the EU (" +
                                       std::string(origin_country) +
                                       "), outside Regulation (EU) 2019/880 (Art. 1(2))"};
  }
  std::int64_t age_years = import_date.year - dated_year_max;
  std::string age = std::to_string(age_years) + " years old at import";
  if (archaeological) {
    if (age_years > kImportLicenceAgeAboveYears) {
      return {ImportDocument::kLicence,
              "an archaeological object (Annex Part B) " + age + ", more than " +
                  std::to_string(kImportLicenceAgeAboveYears) +
                  ", needs an import licence (Regulation (EU) 2019/880 Art. 4)"};
    }
    return {ImportDocument::kNone, "an archaeological object " + age + ", not more than " +
                                       std::to_string(kImportLicenceAgeAboveYears)};
  }
  if (age_years > kImporterStatementAgeAboveYears &&
      value_eur_cents >= kImporterStatementValueMinEurCents) {
    return {ImportDocument::kStatement,
            "cultural goods (Annex Part C) " + age + ", more than " +
                std::to_string(kImporterStatementAgeAboveYears) + ", worth " +
                eur_text(value_eur_cents) + ", at least " +
                eur_text(kImporterStatementValueMinEurCents) +
                ", need an importer statement (Regulation (EU) 2019/880 Art. 5)"};
  }
  return {ImportDocument::kNone, "cultural goods " + age + " worth " + eur_text(value_eur_cents) +
                                     ": below the Art. 5 thresholds"};
}

// --- events -------------------------------------------------------------------------

// The event's "data": the arguments without the artefact id and the date,
// which the event carries at its top level already.
Json data_from_args(const Json& args) {
  Json data = args;
  data.erase("artefact_id");
  data.erase("date");
  return data;
}

// Appends the artefact's next event to out.history and moves its head to it.
void append_event(ArtefactRecord& a, const Call& call, std::string_view type,
                  const std::optional<DeclaredDate>& date, Json data, Outcome& out) {
  append_chained_event(
      EventChain{artefact_history_key(a.id), "artefact_id", a.id, a.event_count, a.head_event_hash},
      call, type, Json{{"date", date ? Json(date->text) : Json(nullptr)}}, std::move(data), out);
}

// --- argument readers beyond ArgReader's ---------------------------------------------
//
// Each reads a member ArgReader has already admitted (present if required,
// known if present) and notes a problem in `r` the way ArgReader does.

std::optional<std::string> optional_text(ArgReader& r, const Json& args, const char* name,
                                         std::size_t bytes_max) {
  if (!r.ok() || !args.contains(name) || args.at(name).is_null()) return std::nullopt;
  std::string s = r.text(name, bytes_max);
  if (!r.ok()) return std::nullopt;
  return s;
}

std::int64_t read_integer(ArgReader& r, const Json& args, const char* name, std::int64_t min,
                          std::int64_t max) {
  if (!r.ok()) return 0;
  const Json& m = args.at(name);
  bool in_range =
      m.is_number_integer() &&
      !(m.is_number_unsigned() && m.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) &&
      m.get<std::int64_t>() >= min && m.get<std::int64_t>() <= max;
  if (!in_range) {
    r.fail(in_quotes(name) + " must be an integer from " + std::to_string(min) + " to " +
           std::to_string(max));
    return 0;
  }
  return m.get<std::int64_t>();
}

// A required date that is null is refused; an optional one reads as nullopt.
std::optional<DeclaredDate> read_date(ArgReader& r, const Json& args, const char* name,
                                      bool required, bool day_required) {
  if (!r.ok() || !args.contains(name) || (!required && args.at(name).is_null())) {
    return std::nullopt;
  }
  std::string text = r.text(name, 10);
  if (!r.ok()) return std::nullopt;
  auto date = parse_date(text);
  if (!date || (day_required && !date->is_day())) {
    r.fail(in_quotes(name) + (day_required ? " must be a date YYYY-MM-DD"
                                           : " must be a date YYYY-MM-DD, YYYY-MM or YYYY"));
    return std::nullopt;
  }
  return date;
}

// Two upper-case letters; whether the code is assigned is checked apart,
// because an unassigned one gets its own result code.
std::string read_country(ArgReader& r, const char* name) {
  std::string code = r.text(name, 2);
  if (r.ok() && (code.size() != 2 || !std::all_of(code.begin(), code.end(),
                                                  [](char c) { return c >= 'A' && c <= 'Z'; }))) {
    r.fail(in_quotes(name) + " must be an ISO 3166-1 alpha-2 code: two upper-case letters");
  }
  return code;
}

std::optional<Party> read_party(ArgReader& r, const Json& args, const char* name) {
  if (!r.ok()) return std::nullopt;
  auto party = Party::from_json(args.at(name));
  if (!party) {
    r.fail(in_quotes(name) +
           " must be {\"identity\": identity id} or {\"commitment\": 64 lowercase hex digits}");
  }
  return party;
}

Outcome check_countries(std::initializer_list<std::pair<const char*, std::string_view>> codes) {
  for (const auto& [name, code] : codes) {
    if (!is_assigned_country_code(code)) {
      return Outcome::refuse(code::kUnknownCountry,
                             in_quotes(name) + " is " + in_quotes(code) +
                                 ", not an officially assigned ISO 3166-1 alpha-2 code");
    }
  }
  return Outcome{};
}

// --- shared checks ------------------------------------------------------------------

using Roles = std::span<const std::string_view>;

constexpr std::string_view kRegisterRoles[] = {"museum_registrar", "dealer", "customs_officer",
                                               "investigator"};
constexpr std::string_view kDocumentRoles[] = {"museum_registrar", "dealer", "customs_officer",
                                               "investigator"};
constexpr std::string_view kTransferRoles[] = {"museum_registrar", "dealer"};
constexpr std::string_view kCustomsRoles[] = {"customs_officer"};
constexpr std::string_view kFlagRoles[] = {"investigator", "customs_officer"};
constexpr std::string_view kRestitutionRoles[] = {"prosecutor", "judge"};
constexpr std::string_view kClearRoles[] = {"investigator", "customs_officer", "prosecutor",
                                            "judge"};
// Authorities examine documents themselves, so they may add a find or an
// export licence to any artefact's file.
constexpr std::string_view kAuthorityRoles[] = {"customs_officer", "investigator"};

bool holds_any(const Signer& s, Roles roles) {
  return std::any_of(roles.begin(), roles.end(),
                     [&](std::string_view role) { return s.has_role(role); });
}

std::string function_name(std::string_view function) {
  return "provenance." + std::string(function);
}

Outcome check_role(const Signer& s, std::string_view function, Roles roles) {
  if (holds_any(s, roles)) return Outcome{};
  std::string needed;
  for (std::string_view role : roles) needed += (needed.empty() ? "" : ", ") + std::string(role);
  return refuse_role(s, function_name(function), "one of the roles " + needed);
}

// Refuses any co-signer that is not in `expected`.
Outcome refuse_signers_except(const Call& call, std::string_view function,
                              const std::vector<std::string>& expected) {
  for (std::size_t i = 1; i < call.signers.size(); ++i) {
    const std::string& id = call.signers[i].identity_id;
    if (std::find(expected.begin(), expected.end(), id) == expected.end()) {
      return Outcome::refuse(code::kUnexpectedSigner, function_name(function) +
                                                          " was also signed by " + in_quotes(id) +
                                                          ", who takes no part in it");
    }
  }
  return Outcome{};
}

// TIME_IN_FUTURE: the date's first day is after the block's UTC day plus
// kDeclaredDateAheadMaxDays. TIME_REGRESSION: with a floor, every day the
// date may mean is before it (a date known only to the year is before a
// floor in that year only if the whole year is).
Status check_date(const Call& call, const DeclaredDate& date,
                  const std::optional<std::string>& floor) {
  std::int64_t last_day = utc_day(call.block.timestamp_ms + kDeclaredDateAheadMaxDays * 86'400'000);
  if (date.earliest > last_day) {
    return make_error(code::kTimeInFuture, "date " + date.text + " is after " + day_text(last_day) +
                                               ", the block's day plus the allowance");
  }
  if (floor && date.latest < constant_day(*floor)) {
    return make_error(code::kTimeRegression,
                      "date " + date.text + " is before the artefact's last event on " + *floor);
  }
  return ok_status();
}

// An event that changes possession or status happens after the one before:
// its date may not go back, and it moves the floor up to its first day.
void raise_floor(ArtefactRecord& a, const DeclaredDate& date) {
  if (!a.date_floor || constant_day(*a.date_floor) < date.earliest) {
    a.date_floor = day_text(date.earliest);
  }
}

// The first state checks of every function on an existing artefact:
// ARTEFACT_NOT_FOUND, TIME_IN_FUTURE and, for an event that changes
// possession or status (`ordered`), TIME_REGRESSION.
Result<ArtefactRecord> load_for_event(const StateView& state, const Call& call,
                                      const std::string& artefact_id, const DeclaredDate& date,
                                      bool ordered) {
  auto a = load_artefact(state, artefact_id);
  if (!a) return make_error(code::kArtefactNotFound, "no artefact " + in_quotes(artefact_id));
  if (auto t = check_date(call, date, ordered ? a->date_floor : std::nullopt); !t) {
    return t.error();
  }
  return std::move(*a);
}

// Whether the actor may add to the artefact's documentation: an authority
// always; otherwise only the holder itself, or, for a private holder (a
// commitment, who cannot sign), a registered dealer acting for it.
Outcome check_speaks_for_holder(const Signer& actor, const ArtefactRecord& a,
                                std::string_view function) {
  if (holds_any(actor, kAuthorityRoles)) return Outcome{};
  bool holder = a.holder.is_identity() && a.holder.value == actor.identity_id;
  bool dealer_for_private = !a.holder.is_identity() && actor.has_role("dealer");
  if (holder || dealer_for_private) return Outcome{};
  return Outcome::refuse(code::kNotHolder,
                         function_name(function) + " on artefact " + in_quotes(a.id) +
                             " is for its holder (" + a.holder.text() +
                             "), a dealer acting for a private holder, or an authority; " +
                             in_quotes(actor.identity_id) + " is none of them");
}

// A party named as an identity must be enrolled.
Outcome check_identity_party(const StateView& state, const Party& p, const char* name) {
  if (p.is_identity() && !find_identity(state, p.value)) {
    return Outcome::refuse(
        code::kIdentityNotFound,
        in_quotes(name) + " names " + in_quotes(p.value) + ", who is not an enrolled identity");
  }
  return Outcome{};
}

std::int64_t block_year(const Call& call) {
  return utc_day(call.block.timestamp_ms) / 10'000;
}

// --- register -----------------------------------------------------------------------
//   {artefact_id, type_of_object, materials_and_techniques, measurements, description,
//    photo_hashes, date_or_period, dated_year_max, category, origin_country, holder,
//    inscriptions_and_markings?, distinguishing_features?, title?, subject?, maker?,
//    find_spot?, held_since?, document_hash?}
Outcome register_artefact(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(
      args,
      {"artefact_id", "type_of_object", "materials_and_techniques", "measurements", "description",
       "photo_hashes", "date_or_period", "dated_year_max", "category", "origin_country", "holder"},
      {"inscriptions_and_markings", "distinguishing_features", "title", "subject", "maker",
       "find_spot", "held_since", "document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  Json object = Json::object();
  for (const ObjectField& f : kObjectFields) {
    object[f.name] = f.required ? Json(r.text(f.name, f.bytes_max))
                                : optional_json(optional_text(r, args, f.name, f.bytes_max));
  }
  std::vector<std::string> photos = r.text_list("photo_hashes", kArtefactPhotosMax, 64);
  if (r.ok() && photos.empty()) {
    r.fail("\"photo_hashes\" must list at least one photo, by its SHA-256");
  }
  for (const auto& photo : photos) {
    if (r.ok() && !Hash256::from_hex(photo).ok()) {
      r.fail("\"photo_hashes\" entries must be SHA-256 hashes as 64 lowercase hex digits");
    }
  }
  std::int64_t dated_year_max = read_integer(r, args, "dated_year_max", kDatedYearMin, 9999);
  std::string category = r.text("category", 1);
  if (r.ok() && !is_annex_category(category)) {
    r.fail("\"category\" must be a letter \"a\" to \"l\" of Annex Part A of Regulation 2019/880");
  }
  std::string origin_country = read_country(r, "origin_country");
  std::optional<Party> holder = read_party(r, args, "holder");
  std::optional<std::string> find_spot =
      optional_text(r, args, "find_spot", kProvenanceTextBytesMax);
  std::optional<DeclaredDate> held_since = read_date(r, args, "held_since", false, false);
  r.hash_hex_or_null("document_hash");
  if (!r.ok()) return r.refusal();
  if (auto c = check_countries({{"origin_country", origin_country}}); !c.ok()) return c;
  const Signer& actor = call.actor();
  if (auto role = check_role(actor, "register", kRegisterRoles); !role.ok()) return role;
  // An identity is made the holder of nothing without its signature.
  std::vector<std::string> cosigners;
  if (holder->is_identity() && holder->value != actor.identity_id) {
    if (!find_cosigner(call, holder->value)) {
      return Outcome::refuse(code::kCosignatureMissing, "the holder " + in_quotes(holder->value) +
                                                            " must co-sign the registration");
    }
    cosigners.push_back(holder->value);
  }
  if (auto extra = refuse_signers_except(call, "register", cosigners); !extra.ok()) return extra;
  if (!state) return Outcome{};

  if (state->get(artefact_state_key(artefact_id))) {
    return Outcome::refuse(code::kArtefactExists,
                           "artefact " + in_quotes(artefact_id) + " already exists");
  }
  if (dated_year_max > block_year(call)) {
    return Outcome::refuse(
        code::kTimeInFuture,
        "\"dated_year_max\" " + std::to_string(dated_year_max) + " is after the block's year");
  }
  if (held_since) {
    if (auto t = check_date(call, *held_since, std::nullopt); !t) return refuse(t.error());
  }

  ArtefactRecord a;
  a.id = artefact_id;
  a.object = std::move(object);
  a.dated_year_max = dated_year_max;
  a.category = category;
  a.origin_country = origin_country;
  a.find_spot = find_spot;
  a.photo_hashes = photos;
  a.holder = *holder;
  a.registered_by = actor.identity_id;
  a.registered_at_height = call.block.height;
  if (held_since) a.date_floor = day_text(held_since->earliest);

  // The registration records every argument, omitted optional ones as null,
  // so the history alone describes the artefact as registered.
  Json data = args;
  data.erase("artefact_id");
  for (const char* name : {"inscriptions_and_markings", "distinguishing_features", "title",
                           "subject", "maker", "find_spot", "held_since", "document_hash"}) {
    if (!data.contains(name)) data[name] = nullptr;
  }
  Outcome out;
  append_event(a, call, "register", std::nullopt, std::move(data), out);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  for (const auto& photo : photos) {
    out.writes.push_back(
        {artefact_photo_state_key(photo, artefact_id), Json{{"artefact_id", artefact_id}}});
  }
  return out;
}

// --- find {artefact_id, date, licence_ref, find_spot?, document_hash?} ---------------
// The documented find or excavation: it makes the artefact archaeological.
Outcome find(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "licence_ref"}, {"find_spot", "document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  r.text("licence_ref", kProvenanceTextBytesMax);
  std::optional<std::string> find_spot =
      optional_text(r, args, "find_spot", kProvenanceTextBytesMax);
  r.hash_hex_or_null("document_hash");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, function_name("find")); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (auto role = check_role(actor, "find", kDocumentRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, false);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  if (auto speaks = check_speaks_for_holder(actor, a, "find"); !speaks.ok()) return speaks;
  Outcome out;
  append_event(a, call, "find", date, data_from_args(args), out);
  a.archaeological_find = true;
  if (find_spot) a.find_spot = find_spot;
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- export_licence {artefact_id, date, issuing_country, authority, licence_ref,
//                     document_hash?} ---------------------------------------------------
Outcome export_licence(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "issuing_country", "authority", "licence_ref"},
              {"document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  std::string issuing_country = read_country(r, "issuing_country");
  r.text("authority", kProvenanceTextBytesMax);
  r.text("licence_ref", kProvenanceTextBytesMax);
  r.hash_hex_or_null("document_hash");
  if (!r.ok()) return r.refusal();
  if (auto c = check_countries({{"issuing_country", issuing_country}}); !c.ok()) return c;
  if (auto only = require_actor_only(call, function_name("export_licence")); !only.ok()) {
    return only;
  }
  const Signer& actor = call.actor();
  if (auto role = check_role(actor, "export_licence", kDocumentRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, false);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  if (auto speaks = check_speaks_for_holder(actor, a, "export_licence"); !speaks.ok()) {
    return speaks;
  }
  Outcome out;
  append_event(a, call, "export_licence", date, data_from_args(args), out);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- transfer {artefact_id, date, seller, buyer, document_hash?} ---------------------
// Every party that is an identity signs; a private party (a commitment)
// cannot, so a registered dealer records the transfer on its behalf.
Outcome transfer(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "seller", "buyer"}, {"document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  std::optional<Party> seller = read_party(r, args, "seller");
  std::optional<Party> buyer = read_party(r, args, "buyer");
  r.hash_hex_or_null("document_hash");
  if (r.ok() && *seller == *buyer) r.fail("\"seller\" and \"buyer\" are the same party");
  if (!r.ok()) return r.refusal();
  const Signer& actor = call.actor();
  if (auto role = check_role(actor, "transfer", kTransferRoles); !role.ok()) return role;
  bool dealer = actor.has_role("dealer");
  std::vector<std::string> cosigners;
  for (const auto& [what, party] : {std::pair{"seller", &*seller}, std::pair{"buyer", &*buyer}}) {
    if (!party->is_identity()) {
      if (!dealer) {
        return Outcome::refuse(code::kCosignatureMissing,
                               std::string("the ") + what +
                                   " is a private party (a commitment), who cannot sign: a "
                                   "registered dealer records the transfer on its behalf");
      }
    } else if (party->value != actor.identity_id) {
      if (!find_cosigner(call, party->value)) {
        return Outcome::refuse(code::kCosignatureMissing, std::string("the ") + what + " " +
                                                              in_quotes(party->value) +
                                                              " must co-sign the transfer");
      }
      cosigners.push_back(party->value);
    }
  }
  if (auto extra = refuse_signers_except(call, "transfer", cosigners); !extra.ok()) return extra;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  if (*seller != a.holder) {
    return Outcome::refuse(code::kNotHolder,
                           "the seller " + seller->text() + " does not hold artefact " +
                               in_quotes(artefact_id) + "; " + a.holder.text() + " does");
  }
  if (a.flagged()) {
    return Outcome::refuse(code::kArtefactFlagged,
                           "artefact " + in_quotes(artefact_id) + " is " +
                               (a.stolen ? "reported stolen" : "seized") +
                               " and may not change hands until the flag is cleared");
  }
  Outcome out;
  append_event(a, call, "transfer", date, data_from_args(args), out);
  a.holder = *buyer;
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- import {artefact_id, date, importer, customs_office, country_of_dispatch,
//             declared_value_eur_cents, import_licence_ref?, importer_statement_ref?,
//             document_hash?} ------------------------------------------------------------
// Release for free circulation in the EU, recorded by customs as it happens:
// the importer becomes the holder even if the ledger never saw it acquire
// the artefact (the verdict then reports the broken chain).
Outcome import_artefact(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args,
              {"artefact_id", "date", "importer", "customs_office", "country_of_dispatch",
               "declared_value_eur_cents"},
              {"import_licence_ref", "importer_statement_ref", "document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, true);
  std::optional<Party> importer = read_party(r, args, "importer");
  r.text("customs_office", kProvenanceTextBytesMax);
  std::string dispatch = read_country(r, "country_of_dispatch");
  std::int64_t value_eur_cents =
      read_integer(r, args, "declared_value_eur_cents", 0, kJsonIntegerMax);
  std::optional<std::string> licence =
      optional_text(r, args, "import_licence_ref", kProvenanceTextBytesMax);
  std::optional<std::string> statement =
      optional_text(r, args, "importer_statement_ref", kProvenanceTextBytesMax);
  r.hash_hex_or_null("document_hash");
  if (!r.ok()) return r.refusal();
  if (auto c = check_countries({{"country_of_dispatch", dispatch}}); !c.ok()) return c;
  if (auto only = require_actor_only(call, function_name("import")); !only.ok()) return only;
  const Signer& actor = call.actor();
  if (auto role = check_role(actor, "import", kCustomsRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  if (a.flagged()) {
    return Outcome::refuse(code::kArtefactFlagged, "artefact " + in_quotes(artefact_id) + " is " +
                                                       (a.stolen ? "reported stolen" : "seized") +
                                                       ": it may not be imported");
  }
  if (auto known = check_identity_party(*state, *importer, "importer"); !known.ok()) return known;
  ImportRequirement need = import_requirement(a.origin_country, a.archaeological(),
                                              a.dated_year_max, *date, value_eur_cents);
  if (need.document == ImportDocument::kLicence && !licence) {
    return Outcome::refuse(code::kImportLicenceRequired,
                           need.why + ": \"import_licence_ref\" is missing");
  }
  if (need.document == ImportDocument::kStatement && !statement) {
    return Outcome::refuse(code::kImporterStatementRequired,
                           need.why + ": \"importer_statement_ref\" is missing");
  }
  Json data = data_from_args(args);
  data["import_licence_ref"] = optional_json(licence);  // present even when omitted
  data["importer_statement_ref"] = optional_json(statement);
  if (!data.contains("document_hash")) data["document_hash"] = nullptr;
  Outcome out;
  append_event(a, call, "import", date, std::move(data), out);
  a.holder = *importer;
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- inspection {artefact_id, date, customs_office, findings, findings_hash?} --------
Outcome inspection(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "customs_office", "findings"}, {"findings_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  r.text("customs_office", kProvenanceTextBytesMax);
  r.text("findings", kProvenanceTextBytesMax);
  r.hash_hex_or_null("findings_hash");
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, function_name("inspection")); !only.ok()) return only;
  if (auto role = check_role(call.actor(), "inspection", kCustomsRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  Outcome out;
  append_event(a, call, "inspection", date, data_from_args(args), out);
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- theft_report {artefact_id, date, interpol_ref, document_hash?} ------------------
// --- seizure {artefact_id, date, authority_ref, place, document_hash?} ---------------
Outcome raise_flag(const Call& call, const StateView* state, std::string_view function,
                   const char* ref_member, bool stolen) {
  const Json& args = call.tx.args;
  std::optional<DeclaredDate> date;
  std::string artefact_id;
  std::string reference;
  if (stolen) {
    ArgReader r(args, {"artefact_id", "date", "interpol_ref"}, {"document_hash"});
    artefact_id = r.object_id("artefact_id");
    date = read_date(r, args, "date", true, false);
    reference = r.text(ref_member, kProvenanceTextBytesMax);
    r.hash_hex_or_null("document_hash");
    if (!r.ok()) return r.refusal();
  } else {
    ArgReader r(args, {"artefact_id", "date", "authority_ref", "place"}, {"document_hash"});
    artefact_id = r.object_id("artefact_id");
    date = read_date(r, args, "date", true, false);
    reference = r.text(ref_member, kProvenanceTextBytesMax);
    r.text("place", kProvenanceTextBytesMax);
    r.hash_hex_or_null("document_hash");
    if (!r.ok()) return r.refusal();
  }
  if (auto only = require_actor_only(call, function_name(function)); !only.ok()) return only;
  if (auto role = check_role(call.actor(), function, kFlagRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  std::optional<Flag>& flag = stolen ? a.stolen : a.seized;
  if (flag) {
    return Outcome::refuse(code::kFlagAlreadySet,
                           "artefact " + in_quotes(artefact_id) + " is already " +
                               (stolen ? "reported stolen" : "seized") + " (event " +
                               std::to_string(flag->event_seq) + ", " + flag->reference + ")");
  }
  Outcome out;
  flag = Flag{a.event_count, reference};
  append_event(a, call, function, date, data_from_args(args), out);
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

Outcome theft_report(const Call& call, const StateView* state) {
  return raise_flag(call, state, "theft_report", "interpol_ref", true);
}
Outcome seizure(const Call& call, const StateView* state) {
  return raise_flag(call, state, "seizure", "authority_ref", false);
}

// --- restitution {artefact_id, date, to, to_country, authority_ref, document_hash?} --
// The return ordered by an authority ends the matter: the artefact goes to
// `to` and every open flag is cleared by this event.
Outcome restitution(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "to", "to_country", "authority_ref"},
              {"document_hash"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  std::optional<Party> to = read_party(r, args, "to");
  std::string to_country = read_country(r, "to_country");
  r.text("authority_ref", kProvenanceTextBytesMax);
  r.hash_hex_or_null("document_hash");
  if (!r.ok()) return r.refusal();
  if (auto c = check_countries({{"to_country", to_country}}); !c.ok()) return c;
  if (auto only = require_actor_only(call, function_name("restitution")); !only.ok()) return only;
  if (auto role = check_role(call.actor(), "restitution", kRestitutionRoles); !role.ok()) {
    return role;
  }
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  if (auto known = check_identity_party(*state, *to, "to"); !known.ok()) return known;
  Json cleared = Json::array();
  if (a.seized) cleared.push_back("seized");
  if (a.stolen) cleared.push_back("stolen");
  Json data = data_from_args(args);
  data["cleared_flags"] = cleared;
  Outcome out;
  append_event(a, call, "restitution", date, std::move(data), out);
  a.holder = *to;
  a.stolen.reset();
  a.seized.reset();
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

// --- clear_flag {artefact_id, date, flag, authority_ref} -----------------------------
Outcome clear_flag(const Call& call, const StateView* state) {
  const Json& args = call.tx.args;
  ArgReader r(args, {"artefact_id", "date", "flag", "authority_ref"});
  std::string artefact_id = r.object_id("artefact_id");
  std::optional<DeclaredDate> date = read_date(r, args, "date", true, false);
  std::string which = r.text("flag", 16);
  if (r.ok() && which != "stolen" && which != "seized") {
    r.fail("\"flag\" must be \"stolen\" or \"seized\"");
  }
  r.text("authority_ref", kProvenanceTextBytesMax);
  if (!r.ok()) return r.refusal();
  if (auto only = require_actor_only(call, function_name("clear_flag")); !only.ok()) return only;
  if (auto role = check_role(call.actor(), "clear_flag", kClearRoles); !role.ok()) return role;
  if (!state) return Outcome{};

  auto loaded = load_for_event(*state, call, artefact_id, *date, true);
  if (!loaded) return refuse(loaded.error());
  ArtefactRecord& a = *loaded;
  std::optional<Flag>& flag = which == "stolen" ? a.stolen : a.seized;
  if (!flag) {
    return Outcome::refuse(code::kFlagNotSet,
                           "artefact " + in_quotes(artefact_id) + " is not " +
                               (which == "stolen" ? "reported stolen" : "seized"));
  }
  Json data = data_from_args(args);
  data["flag_event_seq"] = flag->event_seq;  // which report or seizure this ends
  Outcome out;
  append_event(a, call, "clear_flag", date, std::move(data), out);
  flag.reset();
  raise_floor(a, *date);
  out.writes.push_back({artefact_state_key(artefact_id), a.to_json()});
  return out;
}

constexpr ModuleFunction kProvenanceFunctions[] = {
    {"register", register_artefact},    {"find", find},
    {"export_licence", export_licence}, {"transfer", transfer},
    {"import", import_artefact},        {"inspection", inspection},
    {"theft_report", theft_report},     {"seizure", seizure},
    {"restitution", restitution},       {"clear_flag", clear_flag},
};

// --- the verdict --------------------------------------------------------------------
//
// verify_artefact() reads data that came over the wire as often as from the
// ledger (an offline check), so it reads every member defensively and never
// throws.

struct Reason {
  const char* code;
  std::string_view severity;
  std::string detail;
  std::optional<std::uint64_t> event_seq;
};

const Json* member(const Json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::optional<std::string> string_member(const Json& j, const char* name) {
  const Json* m = member(j, name);
  if (!m || !m->is_string()) return std::nullopt;
  return m->get<std::string>();
}

std::optional<std::int64_t> integer_member(const Json& j, const char* name) {
  const Json* m = member(j, name);
  if (!m || !m->is_number_integer()) return std::nullopt;
  if (m->is_number_unsigned() &&
      m->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return m->get<std::int64_t>();
}

std::optional<Party> party_member(const Json& j, const char* name) {
  const Json* m = member(j, name);
  return m ? Party::from_json(*m) : std::nullopt;
}

Json verdict_json(std::string_view artefact_id, Json head, std::vector<Reason> reasons) {
  std::stable_sort(reasons.begin(), reasons.end(), [](const Reason& a, const Reason& b) {
    auto key = [](const Reason& r) {
      return r.event_seq.value_or(std::numeric_limits<std::uint64_t>::max());
    };
    return key(a) < key(b);
  });
  bool alert = std::any_of(reasons.begin(), reasons.end(),
                           [](const Reason& r) { return r.severity == kVerdictAlert; });
  std::string_view verdict = alert             ? kVerdictAlert
                             : reasons.empty() ? kVerdictClear
                                               : kVerdictReview;
  Json list = Json::array();
  for (const Reason& r : reasons) {
    list.push_back(Json{{"code", r.code},
                        {"severity", r.severity},
                        {"detail", r.detail},
                        {"event_seq", r.event_seq ? Json(*r.event_seq) : Json(nullptr)}});
  }
  return Json{{"artefact_id", artefact_id},
              {"head_event_hash", std::move(head)},
              {"verdict", verdict},
              {"reasons", std::move(list)}};
}

struct ImportSeen {
  std::uint64_t seq = 0;
  DeclaredDate date;
  std::int64_t value_eur_cents = 0;
  bool has_licence = false;
  bool has_statement = false;
};

}  // namespace

std::unique_ptr<Module> make_provenance_module() {
  return make_table_module(kProvenanceChaincode, kProvenanceFunctions);
}

Json verify_artefact(const Json& artefact, const std::vector<Json>& events) {
  std::string artefact_id = string_member(artefact, "id").value_or("");
  auto invalid = [&](std::string detail, std::optional<std::uint64_t> seq) {
    return verdict_json(artefact_id, nullptr,
                        {Reason{reason::kHistoryInvalid, kVerdictAlert, std::move(detail), seq}});
  };
  auto origin = string_member(artefact, "origin_country");
  auto category = string_member(artefact, "category");
  auto dated_year_max = integer_member(artefact, "dated_year_max");
  auto event_count = integer_member(artefact, "event_count");
  auto head = string_member(artefact, "head_event_hash");
  if (artefact_id.empty() || !origin || !category || !dated_year_max || !event_count || !head) {
    return invalid(
        "the artefact record lacks id, origin_country, category, dated_year_max, "
        "event_count or head_event_hash",
        std::nullopt);
  }
  if (auto chain = verify_artefact_history(artefact_id, events); !chain) {
    return invalid(chain.error().message, std::nullopt);
  }
  // A verdict on part of a history could miss the theft report that came
  // last, so the events must end exactly at the artefact's head.
  if (events.empty() || static_cast<std::int64_t>(events.size()) != *event_count ||
      events.back().at("event_hash") != *head) {
    return invalid("the history has " + std::to_string(events.size()) +
                       " events; the artefact has " + std::to_string(*event_count) + " ending at " +
                       *head + ": events are missing",
                   std::nullopt);
  }

  std::vector<Reason> reasons;
  std::optional<Party> holder;
  bool found = false;
  std::optional<Reason> stolen;
  std::optional<Reason> seized;
  std::optional<DeclaredDate> earliest_lawful;  // the lawful event surely dated earliest
  bool origin_export = false;
  std::vector<ImportSeen> imports;
  auto lawful = [&](const DeclaredDate& d) {
    if (!earliest_lawful || d.latest < earliest_lawful->latest) earliest_lawful = d;
  };
  auto chain_broken = [&](std::uint64_t seq, const std::string& what, const Party& party) {
    reasons.push_back(Reason{reason::kOwnershipChainBroken, kVerdictReview,
                             "the " + what + " " + party.text() + " is not the recorded holder " +
                                 holder->text() + ": no recorded transfer links them",
                             seq});
  };

  for (std::uint64_t seq = 0; seq < events.size(); ++seq) {
    const Json& e = events[seq];
    auto type = string_member(e, "type");
    const Json* data = member(e, "data");
    const Json* date_json = member(e, "date");
    std::optional<DeclaredDate> date;
    if (date_json && date_json->is_string()) date = parse_date(date_json->get<std::string>());
    if (!type || !data || !data->is_object() || !date_json || !(date_json->is_null() || date)) {
      return invalid("event " + std::to_string(seq) + " lacks a type, data or a valid date", seq);
    }
    auto malformed = [&](const std::string& what) {
      return invalid("event " + std::to_string(seq) + " (" + *type + "): " + what, seq);
    };
    if ((seq == 0) != (*type == "register")) {
      return malformed("the registration is event 0, and only it");
    }
    if (seq > 0 && !date) return malformed("no date");

    if (*type == "register") {
      holder = party_member(*data, "holder");
      if (!holder) return malformed("no holder");
      if (auto held = string_member(*data, "held_since")) {
        auto d = parse_date(*held);
        if (!d) return malformed("held_since is not a date");
        lawful(*d);
      }
    } else if (*type == "find") {
      found = true;
      lawful(*date);
    } else if (*type == "export_licence") {
      auto country = string_member(*data, "issuing_country");
      if (!country) return malformed("no issuing_country");
      if (*country == *origin) origin_export = true;
      lawful(*date);
    } else if (*type == "transfer") {
      auto seller = party_member(*data, "seller");
      auto buyer = party_member(*data, "buyer");
      if (!seller || !buyer) return malformed("no seller or buyer");
      if (*seller != *holder) chain_broken(seq, "seller", *seller);
      holder = buyer;
      lawful(*date);
    } else if (*type == "import") {
      auto importer = party_member(*data, "importer");
      auto value = integer_member(*data, "declared_value_eur_cents");
      if (!importer || !value || !date->is_day()) {
        return malformed("no importer, declared value or full date");
      }
      if (*importer != *holder) chain_broken(seq, "importer", *importer);
      holder = importer;
      imports.push_back(ImportSeen{seq, *date, *value,
                                   string_member(*data, "import_licence_ref").has_value(),
                                   string_member(*data, "importer_statement_ref").has_value()});
      lawful(*date);
    } else if (*type == "inspection") {
      // A record of a check; its findings are for people to read.
    } else if (*type == "theft_report") {
      if (!stolen) {
        stolen = Reason{reason::kReportedStolen, kVerdictAlert,
                        "reported stolen on " + date->text + ", INTERPOL reference " +
                            string_member(*data, "interpol_ref").value_or("?") + "; not cleared",
                        seq};
      }
    } else if (*type == "seizure") {
      if (!seized) {
        seized = Reason{reason::kSeized, kVerdictAlert,
                        "seized on " + date->text + " under " +
                            string_member(*data, "authority_ref").value_or("?") + "; not released",
                        seq};
      }
    } else if (*type == "clear_flag") {
      auto flag = string_member(*data, "flag");
      if (flag == "stolen") {
        stolen.reset();
      } else if (flag == "seized") {
        seized.reset();
      } else {
        return malformed("flag is neither \"stolen\" nor \"seized\"");
      }
    } else if (*type == "restitution") {
      holder = party_member(*data, "to");
      if (!holder) return malformed("no \"to\"");
      stolen.reset();
      seized.reset();
    } else {
      return malformed("unknown event type");
    }
  }

  if (stolen) reasons.push_back(*stolen);
  if (seized) reasons.push_back(*seized);
  // Judged with what is known now: a find recorded after an import makes
  // the artefact archaeological for that import too.
  bool archaeological = is_archaeological_category(*category) || found;
  for (const ImportSeen& i : imports) {
    ImportRequirement need =
        import_requirement(*origin, archaeological, *dated_year_max, i.date, i.value_eur_cents);
    if (need.document == ImportDocument::kLicence && !i.has_licence) {
      reasons.push_back(Reason{reason::kImportLicenceMissing, kVerdictAlert,
                               need.why + "; the import of " + i.date.text + " recorded none",
                               i.seq});
    }
    if (need.document == ImportDocument::kStatement && !i.has_statement) {
      reasons.push_back(Reason{reason::kImporterStatementMissing, kVerdictReview,
                               need.why + "; the import of " + i.date.text + " recorded none",
                               i.seq});
    }
  }
  bool documented_before_1970 =
      earliest_lawful && earliest_lawful->latest < constant_day(kUnescoConventionDate);
  if (!documented_before_1970 && !origin_export) {
    std::string start = earliest_lawful ? "the documented history starts " + earliest_lawful->text
                                        : "no dated event documents the artefact's history";
    reasons.push_back(Reason{
        reason::kNoPre1970Provenance, kVerdictReview,
        start + ", not before the UNESCO Convention of " + std::string(kUnescoConventionDate) +
            ", and no export licence from the country of origin " + *origin + " is recorded",
        std::nullopt});
  }
  return verdict_json(artefact_id, *head, std::move(reasons));
}

}  // namespace custos::chaincode
