// A hub's reports for coordinators: how fresh each facility's data is, and
// what happened there per week or month. Both are answered by SQL over
// small tables the hub keeps up to date in the same transaction as every
// version it stores (report_facts, report_counts; docs/storage-format.md),
// never by loading records. docs/reports.md describes the figures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/status.h"

namespace posta::storage {

// Vital signs counted as out of range (docs/reports.md). Fixed: the counts
// are kept per period as records are written, so changing a threshold would
// need every record read again.
inline constexpr double kFeverCelsius = 38.0;       // LOINC 8310-5, >=
inline constexpr double kHighSystolicMmHg = 140.0;  // LOINC 8480-6, >=

// The ICD-10 chapter (roman numeral "I" .. "XXII") of a code such as "A09",
// "J06.9" or "i10"; "uncoded" when it is not an ICD-10 code.
std::string Icd10Chapter(std::string_view code);
// A chapter's title ("Certain infectious and parasitic diseases"); "No
// ICD-10 code" for "uncoded"; "" for anything else.
std::string_view Icd10ChapterTitle(std::string_view chapter);
// Every chapter in order, "uncoded" last.
const std::vector<std::string>& Icd10Chapters();
// The position of `chapter` in Icd10Chapters(); Icd10Chapters().size()
// for a name that is not one.
size_t Icd10ChapterIndex(std::string_view chapter);

// Which facilities a report covers.
struct ReportScope {
  // Only the facilities of this region (facilities.region); nullopt: all
  // registered facilities (an administrator).
  std::optional<std::string> region;
  // Only this facility (within the region); nullopt: all of them.
  std::optional<std::string> facility;
};

// One facility's sync freshness. Times are wall-clock milliseconds; 0 means
// never / unknown.
struct FreshnessRow {
  std::string facility;
  std::string name;
  std::string region;
  int64_t nodes = 0;             // enrolled nodes, revoked ones left out
  int64_t last_sync_ms = 0;      // the last sync a node completed (its
                                 // final pull answered)
  int64_t last_seen_ms = 0;      // the last hello
  int64_t last_record_ms = 0;    // newest record created at the facility
  int64_t pending_changes = -1;  // said at the last hello; -1 unknown
  std::string software;          // the node's version text; "" unknown
  int64_t open_conflicts = 0;
};

struct FreshnessReport {
  std::vector<FreshnessRow> rows;  // by facility id
  // Wall time of the newest version the hub holds (its data's "as of");
  // 0 when it holds none.
  int64_t updated_ms = 0;
};

enum class ReportPeriod { kWeek, kMonth };

struct ActivityQuery {
  ReportScope scope;
  ReportPeriod period = ReportPeriod::kMonth;
  // Inclusive days "YYYY-MM-DD"; the periods that hold them are reported
  // (a week starts on Monday).
  std::string from;
  std::string to;
};

// One facility in one period. Days are those of the records' own dates
// (Encounter period.start, Observation effective, Appointment start; a
// Patient's first version here), as written at the clinic.
struct ActivityRow {
  std::string facility;
  std::string period;  // its first day, "YYYY-MM-DD"
  int64_t new_patients = 0;
  int64_t encounters = 0;
  int64_t fever = 0;          // temperature >= kFeverCelsius
  int64_t high_systolic = 0;  // systolic >= kHighSystolicMmHg
  int64_t appointments = 0;   // booked for a day in the period
  int64_t kept = 0;           // fulfilled, arrived, checked-in
  int64_t missed = 0;         // noshow
  int64_t cancelled = 0;
};

struct ChapterRow {
  std::string facility;
  std::string period;
  std::string chapter;  // Icd10Chapter
  int64_t encounters = 0;
};

struct ActivityReport {
  // Every facility in scope × every period of the range, zeros included,
  // by facility then period.
  std::vector<ActivityRow> rows;
  // Non-zero counts only, by facility, period, chapter order.
  std::vector<ChapterRow> chapters;
  std::vector<std::string> periods;  // first days, in order
  int64_t updated_ms = 0;            // as FreshnessReport::updated_ms
};

// What a clinic told the hub at hello (docs/sync-protocol.md).
struct NodeReport {
  std::string node_id;
  std::string facility;
  std::string software;          // "" unknown
  int64_t pending_changes = -1;  // -1: an older clinic that does not say
  int64_t hello_ms = 0;
};

// The first day of the period holding `day` ("YYYY-MM-DD"); InvalidArgument
// naming `what` when `day` is not a valid date.
Result<std::string> PeriodStart(ReportPeriod period, std::string_view day,
                                std::string_view what);

}  // namespace posta::storage
