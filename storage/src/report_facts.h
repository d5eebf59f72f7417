// The hub's report tables (docs/storage-format.md, schema 7): one
// report_facts row per live record that a report counts, and report_counts,
// the per-facility, per-period sums of those rows that the reports read.
// Both change with every stored version, in its transaction.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "posta/storage/reports.h"
#include "sqlite_util.h"

namespace posta::storage::internal {

// Metric names of report_counts.metric.
inline constexpr std::string_view kMetricPatients = "patients";
inline constexpr std::string_view kMetricEncounters = "encounters";
inline constexpr std::string_view kMetricChapterPrefix = "chapter:";
inline constexpr std::string_view kMetricFever = "fever";
inline constexpr std::string_view kMetricHighSystolic = "high_systolic";
inline constexpr std::string_view kMetricAppointments = "appointments";
inline constexpr std::string_view kMetricKept = "kept";
inline constexpr std::string_view kMetricMissed = "missed";
inline constexpr std::string_view kMetricCancelled = "cancelled";

// What one record adds to the reports.
struct ReportFact {
  std::string day;                   // "YYYY-MM-DD"
  std::vector<std::string> metrics;  // each counted once
  friend bool operator==(const ReportFact&, const ReportFact&) = default;
};

// The fact of a live record's stored content (JSON without resourceType
// and id); nullopt when no report counts it (a Location, an Observation in
// range, anything entered in error). `created_ms` dates a Patient, and any
// record whose own date is missing.
std::optional<ReportFact> FactOf(ResourceType type, std::string_view content,
                                 int64_t created_ms);

// FactOf before the record's creation time is known: the same fact, with
// an empty `day` when the record is to be dated by its creation. The write
// path computes it while preparing an op, outside the write transaction.
std::optional<ReportFact> ContentFactOf(ResourceType type,
                                        std::string_view content);
// The same, of the content's parsed document.
std::optional<ReportFact> DocumentFactOf(ResourceType type,
                                         const nlohmann::json& content);

// report_counts.period of a day: "W" + its week's Monday or "M" + its
// month's first day.
std::string PeriodKey(ReportPeriod period, std::string_view period_start);

// The first day of the period after the one starting on `period_start`.
// REQUIRES: `period_start` is a valid date.
std::string NextPeriodStart(ReportPeriod period, std::string_view period_start);

// Days from `from` to `to` (negative when `to` is earlier); InvalidArgument
// naming the field when either is not a date.
Result<int64_t> DaysBetween(std::string_view from, std::string_view to);

// Changes to report_counts, held until Flush writes each row's sum once.
// The records of one batch fall in a few dozen (facility, period, metric)
// rows, and each of those was otherwise updated once per record.
class ReportCounts {
 public:
  // Adds `delta` to each metric of the fact, in its week and in its month.
  // Corruption when the fact's day is not a date.
  Status Add(const std::string& facility, const ReportFact& fact,
             int64_t delta);
  // Changes held; Truncate(n) forgets those after the first n (an op
  // rolled back to its savepoint).
  size_t size() const { return deltas_.size(); }
  void Truncate(size_t n) { deltas_.resize(std::min(n, deltas_.size())); }
  void Clear() { deltas_.clear(); }
  // Writes the sums into report_counts and clears. REQUIRES: a write
  // transaction is open on `conn`.
  Status Flush(Connection& conn);

 private:
  struct Delta {
    std::string facility;
    std::string period;  // PeriodKey
    std::string metric;
    int64_t n = 0;
    // The report_counts row it changes.
    auto Row() const { return std::tie(facility, period, metric); }
  };
  std::vector<Delta> deltas_;
};

// Replaces the report rows of record `rid` after a new version: removes
// what the previous version counted, then counts `next` (when live, under
// its owner), its report_counts changes into `counts` (for the caller to
// flush before the commit). A record new here (`is_new`) is dated by
// `wall_ms`; an existing one keeps the date its first counted version had.
// `content_fact`, when given, is ContentFactOf(next) computed beforehand;
// otherwise it is computed here. REQUIRES: a write transaction is open on
// `conn`.
Status UpdateReportFacts(
    Connection& conn, ReportCounts& counts, int64_t rid, bool is_new,
    const Record& next, int64_t wall_ms,
    const std::optional<ReportFact>* content_fact = nullptr);

// Fills both tables from the live records (the migration to schema 7, on a
// hub). REQUIRES: a write transaction, both tables empty.
Status BackfillReportFacts(Connection& conn);

}  // namespace posta::storage::internal
