// The coordinators' reports (reports.h): SQL over the report tables, the
// facility registry and the enrolled nodes. Nothing here reads a record.
#include <algorithm>
#include <map>

#include "report_facts.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

// The longest range an activity report covers (ten years).
constexpr int64_t kMaxRangeDays = 3660;

// The facilities of a scope, by id: (id, name, region).
struct FacilityInScope {
  std::string id;
  std::string name;
  std::string region;
};

Result<std::vector<FacilityInScope>> FacilitiesIn(Connection& conn,
                                                  const ReportScope& scope) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st, conn.Prepare("SELECT id, name, region FROM facilities "
                                 "WHERE (?1 IS NULL OR region = ?1) "
                                 "AND (?2 IS NULL OR id = ?2) ORDER BY id"));
  if (scope.region) st.BindText(1, *scope.region);
  if (scope.facility) st.BindText(2, *scope.facility);
  std::vector<FacilityInScope> out;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.ColumnText(0), st.ColumnText(1), st.ColumnText(2)});
  }
  return out;
}

// Wall time of the newest version: the stamp text starts with it.
Result<int64_t> NewestVersionMs(Connection& conn) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("SELECT version FROM versions ORDER BY seq DESC LIMIT 1"));
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return int64_t{0};
  Result<base::HlcStamp> stamp = base::HlcStamp::Parse(st.ColumnView(0));
  if (!stamp.ok()) {
    return Status::Corruption("versions", stamp.status().message());
  }
  return stamp->wall_ms;
}

}  // namespace

Result<FreshnessReport> SqliteStore::ReportFreshness(const ReportScope& scope) {
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  FreshnessReport report;
  POSTA_ASSIGN_OR_RETURN(report.updated_ms, NewestVersionMs(conn));
  POSTA_ASSIGN_OR_RETURN(std::vector<FacilityInScope> facilities,
                         FacilitiesIn(conn, scope));
  std::map<std::string, FreshnessRow*> by_id;
  report.rows.reserve(facilities.size());
  for (FacilityInScope& f : facilities) {
    FreshnessRow& row = report.rows.emplace_back();
    row.facility = std::move(f.id);
    row.name = std::move(f.name);
    row.region = std::move(f.region);
    by_id[row.facility] = &row;
  }
  if (by_id.empty()) return report;
  {
    // Each enrolled node, with what it said at its last hello when it did.
    // The node heard from last speaks for its facility.
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("SELECT n.facility, n.last_seen_ms, "
                     "coalesce(r.synced_ms, 0), coalesce(r.hello_ms, 0), "
                     "coalesce(r.pending_changes, -1), "
                     "coalesce(r.software, '') "
                     "FROM enrolled_nodes n LEFT JOIN node_reports r "
                     "ON r.node_id = n.node_id WHERE n.revoked_ms = 0 "
                     "ORDER BY n.facility, n.last_seen_ms"));
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool more, st.Step());
      if (!more) break;
      auto it = by_id.find(st.ColumnText(0));
      if (it == by_id.end()) continue;
      FreshnessRow& row = *it->second;
      ++row.nodes;
      row.last_seen_ms = std::max(row.last_seen_ms, st.ColumnInt(1));
      row.last_sync_ms = std::max(row.last_sync_ms, st.ColumnInt(2));
      if (st.ColumnInt(3) > 0) {  // ordered by last hello: the last one wins
        row.pending_changes = st.ColumnInt(4);
        row.software = st.ColumnText(5);
      }
    }
  }
  {
    // The newest record per facility: one index probe each.
    POSTA_ASSIGN_OR_RETURN(
        Statement st, conn.Prepare("SELECT max(created_ms) FROM report_facts "
                                   "WHERE facility = ?1"));
    for (FreshnessRow& row : report.rows) {
      st.BindText(1, row.facility);
      POSTA_ASSIGN_OR_RETURN(bool has, st.Step());
      if (has && !st.ColumnIsNull(0)) row.last_record_ms = st.ColumnInt(0);
      st.Reset();
    }
  }
  {
    // Open conflicts are few: the partial index holds only those.
    POSTA_ASSIGN_OR_RETURN(
        Statement st, conn.Prepare("SELECT facility, count(*) FROM conflicts "
                                   "INDEXED BY conflicts_open WHERE state = 0 "
                                   "GROUP BY facility"));
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool more, st.Step());
      if (!more) break;
      auto it = by_id.find(st.ColumnText(0));
      if (it != by_id.end()) it->second->open_conflicts = st.ColumnInt(1);
    }
  }
  return report;
}

Result<ActivityReport> SqliteStore::ReportActivity(const ActivityQuery& query) {
  POSTA_ASSIGN_OR_RETURN(std::string first,
                         PeriodStart(query.period, query.from, "from"));
  POSTA_ASSIGN_OR_RETURN(std::string last,
                         PeriodStart(query.period, query.to, "to"));
  if (query.to < query.from) {
    return Status::InvalidArgument(
        "to", query.to + " is before from (" + query.from + ")");
  }
  // Every period of the range, in order.
  ActivityReport report;
  POSTA_ASSIGN_OR_RETURN(int64_t days, DaysBetween(query.from, query.to));
  if (days > kMaxRangeDays) {
    return Status::InvalidArgument(
        "to", "the range " + query.from + " .. " + query.to +
                  " is longer than ten years; choose a shorter one");
  }
  for (std::string day = first; day <= last;
       day = NextPeriodStart(query.period, day)) {
    report.periods.push_back(day);
  }
  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  POSTA_ASSIGN_OR_RETURN(report.updated_ms, NewestVersionMs(conn));
  POSTA_ASSIGN_OR_RETURN(std::vector<FacilityInScope> facilities,
                         FacilitiesIn(conn, query.scope));
  // The periods' keys in report_counts, in order (as text, as by date).
  std::vector<std::string> period_keys;
  period_keys.reserve(report.periods.size());
  for (const std::string& day : report.periods) {
    period_keys.push_back(PeriodKey(query.period, day));
  }
  const std::vector<std::string>& chapters = Icd10Chapters();

  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("SELECT period, metric, n FROM report_counts "
                   "WHERE facility = ?1 AND period >= ?2 AND period <= ?3 "
                   "AND n != 0 ORDER BY period, metric"));
  const std::string from_key = PeriodKey(query.period, first);
  const std::string to_key = PeriodKey(query.period, last);
  report.rows.reserve(facilities.size() * report.periods.size());
  // Some 8 chapters a period at a busy facility; a guess, so bounded (a
  // long range at many facilities need not hold it all at once).
  report.chapters.reserve(std::min<size_t>(
      facilities.size() * report.periods.size() * 8, size_t{1} << 16));
  for (const FacilityInScope& f : facilities) {
    const size_t base = report.rows.size();
    for (const std::string& period : report.periods) {
      ActivityRow& row = report.rows.emplace_back();
      row.facility = f.id;
      row.period = period;
    }
    // Encounters by period × chapter, in the order the answer wants them.
    std::vector<int64_t> by_chapter(report.periods.size() * chapters.size());
    st.BindText(1, f.id);
    st.BindText(2, from_key);
    st.BindText(3, to_key);
    // The rows come in the primary key's order, by period: the period of
    // each is the one before it or a later one, found by walking forward
    // rather than by a lookup per row.
    size_t p = 0;
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool more, st.Step());
      if (!more) break;
      const std::string_view key = st.ColumnView(0);
      while (p < period_keys.size() && period_keys[p] < key) ++p;
      if (p == period_keys.size()) break;
      if (period_keys[p] != key) continue;  // not a period start: none such
      ActivityRow& row = report.rows[base + p];
      const std::string_view metric = st.ColumnView(1);
      const int64_t n = st.ColumnInt(2);
      if (metric == kMetricPatients) {
        row.new_patients = n;
      } else if (metric == kMetricEncounters) {
        row.encounters = n;
      } else if (metric == kMetricFever) {
        row.fever = n;
      } else if (metric == kMetricHighSystolic) {
        row.high_systolic = n;
      } else if (metric == kMetricAppointments) {
        row.appointments = n;
      } else if (metric == kMetricKept) {
        row.kept = n;
      } else if (metric == kMetricMissed) {
        row.missed = n;
      } else if (metric == kMetricCancelled) {
        row.cancelled = n;
      } else if (metric.starts_with(kMetricChapterPrefix)) {
        const size_t c =
            Icd10ChapterIndex(metric.substr(kMetricChapterPrefix.size()));
        if (c < chapters.size()) by_chapter[p * chapters.size() + c] += n;
      }
    }
    st.Reset();
    for (size_t i = 0; i < by_chapter.size(); ++i) {
      if (by_chapter[i] == 0) continue;
      report.chapters.push_back({f.id, report.periods[i / chapters.size()],
                                 chapters[i % chapters.size()], by_chapter[i]});
    }
  }
  return report;
}

Status SqliteStore::NoteNodeReport(const NodeReport& report) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO node_reports (node_id, facility, software, "
                     "pending_changes, hello_ms, synced_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT (node_id) DO "
                     "UPDATE SET facility = excluded.facility, "
                     "software = excluded.software, "
                     "pending_changes = excluded.pending_changes, "
                     "hello_ms = excluded.hello_ms"));
    st.BindText(1, report.node_id);
    st.BindText(2, report.facility);
    st.BindText(3, report.software.substr(0, 100));
    st.BindInt(4, report.pending_changes);
    st.BindInt(5, report.hello_ms);
    return st.Run();
  });
}

Status SqliteStore::NoteSyncCompleted(const std::string& node_id,
                                      const std::string& facility,
                                      int64_t now_ms) {
  return InWriteTransaction([&](Connection& conn) -> Status {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare("INSERT INTO node_reports (node_id, facility, software, "
                     "pending_changes, hello_ms, synced_ms) "
                     "VALUES (?1, ?2, '', -1, 0, ?3) ON CONFLICT (node_id) DO "
                     "UPDATE SET synced_ms = excluded.synced_ms"));
    st.BindText(1, node_id);
    st.BindText(2, facility);
    st.BindInt(3, now_ms);
    return st.Run();
  });
}

}  // namespace posta::storage::internal
