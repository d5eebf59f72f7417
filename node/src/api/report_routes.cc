// The coordinators' reports on a hub: freshness and activity as JSON, CSV
// and pages, and the open conflicts page (docs/reports.md). Figures come
// from the store's report SQL (posta/storage/reports.h); this file admits
// the caller, limits a coordinator to the facilities of their region, and
// shapes the answers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <span>

#include "api/handlers.h"
#include "api/operation_outcome.h"
#include "api/report_views.h"
#include "posta/storage/replication.h"

namespace posta::node {
namespace {

constexpr std::string_view kRouteReports = "/reports/{report}";
constexpr std::string_view kRouteUi = "/ui/{page}";
constexpr std::string_view kRouteResolve = "/ui/conflicts/{id}/resolve";
constexpr int64_t kDayMs = 24 * 3600 * 1000;
// The open conflicts a page lists at most.
constexpr size_t kMaxConflicts = 1000;

HttpResponse JsonAnswer(const nlohmann::ordered_json& body) {
  HttpResponse response;
  response.content_type = "application/json";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = DumpJson(body) + "\n";
  return response;
}

// Pages carry no script and load nothing from elsewhere; the policy says
// so to the browser too.
HttpResponse PageAnswer(int status, std::string html) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.body = std::move(html);
  return response;
}

HttpResponse Redirect(std::string location) {
  HttpResponse response;
  response.status = 303;
  response.content_type = "text/plain; charset=utf-8";
  response.headers.emplace_back("Location", std::move(location));
  response.headers.emplace_back("Cache-Control", "no-store");
  response.body = "see other\n";
  return response;
}

// RFC 4180: a cell with a comma, quote or line break is quoted, quotes
// doubled. A cell a spreadsheet would take for a formula (= + - @) gets a
// leading apostrophe: names come from the field.
std::string CsvCell(std::string_view text) {
  std::string cell(text);
  if (!cell.empty() &&
      (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@')) {
    bool number = cell[0] == '-' && cell.size() > 1 &&
                  cell.find_first_not_of("0123456789.", 1) == std::string::npos;
    if (!number) cell.insert(0, "'");
  }
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// The start of every CSV file: UTF-8 with a byte order mark, so that Excel
// reads the accents right.
constexpr std::string_view kCsvByteOrderMark = "\xEF\xBB\xBF";

// A CSV file's text (kCsvByteOrderMark, a header row, CRLF line ends) as a
// download.
HttpResponse CsvFile(std::string body, std::string_view filename) {
  HttpResponse response;
  response.content_type = "text/csv; charset=utf-8";
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back(
      "Content-Disposition",
      "attachment; filename=\"" + std::string(filename) + "\"");
  response.body = std::move(body);
  return response;
}

HttpResponse CsvAnswer(const std::vector<std::vector<std::string>>& rows,
                       std::string_view filename) {
  std::string body(kCsvByteOrderMark);
  for (const std::vector<std::string>& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) body.push_back(',');
      body += CsvCell(row[i]);
    }
    body += "\r\n";
  }
  return CsvFile(std::move(body), filename);
}

nlohmann::ordered_json InstantOrNull(int64_t ms) {
  if (ms <= 0) return nullptr;
  return storage::FormatInstant(ms);
}

std::string InstantOrEmpty(int64_t ms) {
  return ms <= 0 ? std::string() : storage::FormatInstant(ms);
}

// The value of cookie `name` in a Cookie header ("a=1; posta_session=…").
std::optional<std::string> CookieValue(const HttpRequest& request,
                                       std::string_view name) {
  std::string header = request.Header("Cookie");
  std::string_view rest = header;
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return std::string(pair.substr(eq + 1));
    }
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

// The request with its session cookie presented as a bearer token, so the
// pages pass the same check as every endpoint (Admit).
HttpRequest WithCookieToken(const HttpRequest& request) {
  HttpRequest copy = request;
  if (request.HasHeader("Authorization")) return copy;
  std::optional<std::string> token = CookieValue(request, kSessionCookie);
  if (token && !token->empty()) {
    copy.headers.emplace_back("Authorization", "Bearer " + *token);
  }
  return copy;
}

// A form POST must come from this server's own pages: a browser sends
// Origin, and its host must be the Host asked for. (The cookie is also
// SameSite=Strict.)
bool SameOrigin(const HttpRequest& request) {
  if (!request.HasHeader("Origin")) return true;
  std::string origin = request.Header("Origin");
  size_t scheme = origin.find("://");
  if (scheme == std::string::npos) return false;
  return origin.substr(scheme + 3) == request.Header("Host");
}

ReportViewer ViewerOf(const std::optional<auth::Principal>& who) {
  ReportViewer viewer;
  if (!who) {
    viewer.may_resolve = true;  // open API: anyone may resolve
    return viewer;
  }
  viewer.user = who->user;
  viewer.role = who->role;
  if (who->role == "coordinator") viewer.region = who->region;
  viewer.may_resolve =
      auth::Authorize(who->role, "conflicts", auth::Access::kWrite).ok();
  return viewer;
}

storage::ReportScope ScopeOf(const ReportViewer& viewer) {
  storage::ReportScope scope;
  scope.region = viewer.region;
  return scope;
}

// The ids of the facilities the viewer may see.
Result<std::set<std::string>> FacilitiesSeen(ApiContext& ctx,
                                             const ReportViewer& viewer) {
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> all,
                         ctx.store.ListFacilities());
  std::set<std::string> out;
  for (const storage::FacilityEntry& f : all) {
    if (!viewer.region || f.region == *viewer.region) out.insert(f.id);
  }
  return out;
}

// ---- Freshness ----

Result<FreshnessView> LoadFreshness(ApiContext& ctx, const ReportViewer& viewer,
                                    const std::vector<QueryParam>& query) {
  POSTA_RETURN_IF_ERROR(CheckQueryParams(query, {"status", "sort"}));
  FreshnessView view;
  view.sort = "facility";
  for (const QueryParam& p : query) {
    if (p.name == "status") {
      if (p.value != "" && p.value != "fresh" && p.value != "late" &&
          p.value != "silent") {
        return Status::Malformed(
            "status",
            "'" + p.value.substr(0, 32) + "' is not fresh, late or silent");
      }
      view.status_filter = p.value;
    } else if (p.name == "sort") {
      static constexpr std::string_view kKeys[] = {
          "facility", "status",    "last_sync", "last_record",
          "pending",  "conflicts", "version"};
      std::string_view key = p.value;
      if (!key.empty() && key.front() == '-') key.remove_prefix(1);
      if (std::find(std::begin(kKeys), std::end(kKeys), key) ==
          std::end(kKeys)) {
        return Status::Malformed(
            "sort", "'" + p.value.substr(0, 32) +
                        "' is not one of facility, status, last_sync, "
                        "last_record, pending, conflicts, version (a leading "
                        "- sorts descending)");
      }
      view.sort = p.value;
    }
  }
  POSTA_ASSIGN_OR_RETURN(storage::FreshnessReport report,
                         ctx.store.ReportFreshness(ScopeOf(viewer)));
  view.now_ms = ctx.clock.WallNowMillis();
  view.fresh_h = ctx.options.fresh_after.count();
  view.late_h = ctx.options.late_after.count();
  struct Item {
    storage::FreshnessRow row;
    std::string status;
  };
  std::vector<Item> items;
  for (storage::FreshnessRow& row : report.rows) {
    std::string status(FreshnessStatus(row, view.now_ms, ctx.options));
    if (!view.status_filter.empty() && status != view.status_filter) continue;
    items.push_back({std::move(row), std::move(status)});
  }
  const bool descending = !view.sort.empty() && view.sort.front() == '-';
  const std::string key = descending ? view.sort.substr(1) : view.sort;
  auto rank = [](const std::string& status) {
    return status == "silent" ? 0 : status == "late" ? 1 : 2;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const Item& a, const Item& b) {
                     auto cmp = [&](const Item& x, const Item& y) {
                       if (key == "status")
                         return rank(x.status) < rank(y.status);
                       if (key == "last_sync")
                         return x.row.last_sync_ms < y.row.last_sync_ms;
                       if (key == "last_record")
                         return x.row.last_record_ms < y.row.last_record_ms;
                       if (key == "pending")
                         return x.row.pending_changes < y.row.pending_changes;
                       if (key == "conflicts")
                         return x.row.open_conflicts < y.row.open_conflicts;
                       if (key == "version")
                         return x.row.software < y.row.software;
                       return x.row.facility < y.row.facility;
                     };
                     return descending ? cmp(b, a) : cmp(a, b);
                   });
  view.report.updated_ms = report.updated_ms;
  for (Item& item : items) {
    view.report.rows.push_back(std::move(item.row));
    view.status.push_back(std::move(item.status));
  }
  return view;
}

nlohmann::ordered_json FreshnessJson(const ReportViewer& viewer,
                                     const FreshnessView& view) {
  nlohmann::ordered_json body;
  body["updated"] = InstantOrNull(view.report.updated_ms);
  body["generated"] = storage::FormatInstant(view.now_ms);
  body["region"] = viewer.region ? nlohmann::ordered_json(*viewer.region)
                                 : nlohmann::ordered_json();
  body["thresholds"] = {{"freshHours", view.fresh_h},
                        {"lateHours", view.late_h}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < view.report.rows.size(); ++i) {
    const storage::FreshnessRow& r = view.report.rows[i];
    nlohmann::ordered_json j;
    j["facility"] = r.facility;
    j["name"] = r.name;
    j["region"] = r.region;
    j["status"] = view.status[i];
    j["lastSync"] = InstantOrNull(r.last_sync_ms);
    j["lastSeen"] = InstantOrNull(r.last_seen_ms);
    j["lastRecord"] = InstantOrNull(r.last_record_ms);
    j["pendingChanges"] = r.pending_changes < 0
                              ? nlohmann::ordered_json()
                              : nlohmann::ordered_json(r.pending_changes);
    j["nodeVersion"] = r.software.empty() ? nlohmann::ordered_json()
                                          : nlohmann::ordered_json(r.software);
    j["openConflicts"] = r.open_conflicts;
    j["nodes"] = r.nodes;
    list.push_back(std::move(j));
  }
  body["facilities"] = std::move(list);
  return body;
}

HttpResponse FreshnessCsv(const FreshnessView& view) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"facility", "name", "region", "status", "last_sync",
                  "last_seen", "last_record", "pending_changes", "node_version",
                  "open_conflicts", "nodes"});
  for (size_t i = 0; i < view.report.rows.size(); ++i) {
    const storage::FreshnessRow& r = view.report.rows[i];
    rows.push_back(
        {r.facility, r.name, r.region, view.status[i],
         InstantOrEmpty(r.last_sync_ms), InstantOrEmpty(r.last_seen_ms),
         InstantOrEmpty(r.last_record_ms),
         r.pending_changes < 0 ? "unknown" : std::to_string(r.pending_changes),
         r.software.empty() ? "unknown" : r.software,
         std::to_string(r.open_conflicts), std::to_string(r.nodes)});
  }
  return CsvAnswer(rows, "freshness-" +
                             storage::FormatInstant(view.now_ms).substr(0, 10) +
                             ".csv");
}

// ---- Activity ----

Result<ActivityView> LoadActivity(ApiContext& ctx, const ReportViewer& viewer,
                                  const std::vector<QueryParam>& query) {
  POSTA_RETURN_IF_ERROR(
      CheckQueryParams(query, {"period", "from", "to", "facility"}));
  ActivityView view;
  view.now_ms = ctx.clock.WallNowMillis();
  view.query.scope = ScopeOf(viewer);
  view.query.period = storage::ReportPeriod::kMonth;
  // Default: the year up to today.
  view.query.to = storage::FormatInstant(view.now_ms).substr(0, 10);
  view.query.from =
      storage::FormatInstant(view.now_ms - 364 * kDayMs).substr(0, 10);
  for (const QueryParam& p : query) {
    if (p.name == "period") {
      if (p.value == "week") {
        view.query.period = storage::ReportPeriod::kWeek;
      } else if (p.value != "month") {
        return Status::Malformed(
            "period", "'" + p.value.substr(0, 32) + "' is not week or month");
      }
    } else if (p.name == "from" && !p.value.empty()) {
      view.query.from = p.value;
    } else if (p.name == "to" && !p.value.empty()) {
      view.query.to = p.value;
    } else if (p.name == "facility" && !p.value.empty()) {
      view.query.scope.facility = p.value;
    }
  }
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::FacilityEntry> all,
                         ctx.store.ListFacilities());
  for (storage::FacilityEntry& f : all) {
    if (!viewer.region || f.region == *viewer.region) {
      view.facilities.push_back(std::move(f));
    }
  }
  if (view.query.scope.facility) {
    const std::string& wanted = *view.query.scope.facility;
    if (std::none_of(view.facilities.begin(), view.facilities.end(),
                     [&](const auto& f) { return f.id == wanted; })) {
      return Status::NotFound("facility " + wanted.substr(0, 64),
                              viewer.region
                                  ? "not a facility of region " + *viewer.region
                                  : std::string("not registered on this hub"));
    }
  }
  Result<storage::ActivityReport> report = ctx.store.ReportActivity(view.query);
  if (!report.ok()) {
    // A date or range the store refuses came in the query: a bad request.
    if (report.status().code() == Status::Code::kInvalidArgument) {
      return Status::Malformed(report.status().message());
    }
    return report.status();
  }
  view.report = std::move(report).value();
  return view;
}

std::string PeriodName(storage::ReportPeriod period) {
  return period == storage::ReportPeriod::kWeek ? "week" : "month";
}

// The activity report's figures for one facility, as series over the
// report's periods: its rows (one per period, in order) and its encounters
// by chapter, one series per chapter in Icd10Chapters() order (empty for a
// chapter with no encounter at the facility in the whole range).
struct FacilitySeries {
  std::string_view facility;
  std::span<const storage::ActivityRow> rows;
  std::vector<std::vector<int64_t>> by_chapter;
};

// Calls `visit` with each facility's series in turn. The report's rows
// (every facility × every period) and its chapter counts are both sorted by
// facility then period (reports.h), so one pass over each pairs them up
// with no lookup per row: at a year of weeks and 100 facilities that is
// 5,300 rows and some 40,000 chapter counts.
template <typename Visit>
void ForEachFacility(const storage::ActivityReport& report, Visit visit) {
  const size_t periods = report.periods.size();
  if (periods == 0) return;
  const size_t chapters = storage::Icd10Chapters().size();
  size_t next = 0;  // the next of report.chapters to place
  FacilitySeries f;
  for (size_t begin = 0; begin + periods <= report.rows.size();
       begin += periods) {
    f.facility = report.rows[begin].facility;
    f.rows = std::span(report.rows).subspan(begin, periods);
    f.by_chapter.assign(chapters, {});
    for (size_t p = 0; p < periods; ++p) {
      const storage::ActivityRow& row = f.rows[p];
      for (; next < report.chapters.size() &&
             report.chapters[next].facility == row.facility &&
             report.chapters[next].period == row.period;
           ++next) {
        const storage::ChapterRow& c = report.chapters[next];
        const size_t k = storage::Icd10ChapterIndex(c.chapter);
        if (k >= chapters) continue;
        if (f.by_chapter[k].empty()) f.by_chapter[k].assign(periods, 0);
        f.by_chapter[k][p] = c.encounters;
      }
    }
    visit(f);
  }
}

void AppendInt(std::string& out, int64_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// "key":[n,n,…] of one figure of a facility's rows.
void AppendSeries(std::string& out, std::string_view key,
                  std::span<const storage::ActivityRow> rows,
                  int64_t storage::ActivityRow::*figure) {
  out += '"';
  out += key;
  out += "\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out += ',';
    AppendInt(out, rows[i].*figure);
  }
  out += ']';
}

// The activity report as JSON text (docs/reports.md): each facility once,
// with each figure as a series of numbers in the order of "periods", and
// the chapters' titles once in a legend. Rows of objects, each with its
// facility, period and keys (and a chapter's title per chapter count),
// made a year of weeks at 100 facilities 6.3 MB; as series it is about a
// twentieth of that. The series are written straight into the text rather
// than built as a document first.
std::string ActivityJson(const ReportViewer& viewer, const ActivityView& view) {
  nlohmann::ordered_json head;
  head["updated"] = InstantOrNull(view.report.updated_ms);
  head["generated"] = storage::FormatInstant(view.now_ms);
  head["region"] = viewer.region ? nlohmann::ordered_json(*viewer.region)
                                 : nlohmann::ordered_json();
  head["period"] = PeriodName(view.query.period);
  head["from"] = view.query.from;
  head["to"] = view.query.to;
  head["periods"] = view.report.periods;
  head["thresholds"] = {{"feverCelsius", storage::kFeverCelsius},
                        {"systolicMmHg", storage::kHighSystolicMmHg}};
  nlohmann::ordered_json legend = nlohmann::ordered_json::array();
  for (const std::string& c : storage::Icd10Chapters()) {
    legend.push_back(
        {{"chapter", c}, {"title", storage::Icd10ChapterTitle(c)}});
  }
  head["chapters"] = std::move(legend);
  std::string out = DumpJson(head);
  out.pop_back();  // the closing brace: the facilities follow
  // Some 3 bytes a number: 8 figures and about 8 chapters per period.
  out.reserve(out.size() + view.report.rows.size() * 16 * 3 + 1024);
  std::map<std::string_view, const storage::FacilityEntry*> registry;
  for (const storage::FacilityEntry& f : view.facilities) {
    registry[f.id] = &f;
  }
  const std::vector<std::string>& chapters = storage::Icd10Chapters();
  using Row = storage::ActivityRow;
  out += ",\"facilities\":[";
  bool first = true;
  ForEachFacility(view.report, [&](const FacilitySeries& f) {
    if (!first) out += ',';
    first = false;
    out += "{\"facility\":" + JsonString(f.facility);
    auto known = registry.find(f.facility);
    if (known != registry.end()) {
      out += ",\"name\":" + JsonString(known->second->name) +
             ",\"region\":" + JsonString(known->second->region);
    } else {  // removed from the registry since the report was read
      out += ",\"name\":null,\"region\":null";
    }
    out += ',';
    AppendSeries(out, "newPatients", f.rows, &Row::new_patients);
    out += ',';
    AppendSeries(out, "encounters", f.rows, &Row::encounters);
    out += ',';
    AppendSeries(out, "feverObservations", f.rows, &Row::fever);
    out += ',';
    AppendSeries(out, "highSystolicObservations", f.rows, &Row::high_systolic);
    out += ",\"appointments\":{";
    AppendSeries(out, "booked", f.rows, &Row::appointments);
    out += ',';
    AppendSeries(out, "kept", f.rows, &Row::kept);
    out += ',';
    AppendSeries(out, "missed", f.rows, &Row::missed);
    out += ',';
    AppendSeries(out, "cancelled", f.rows, &Row::cancelled);
    out += "},\"encountersByChapter\":{";
    bool first_chapter = true;
    for (size_t k = 0; k < chapters.size(); ++k) {
      if (f.by_chapter[k].empty()) continue;
      if (!first_chapter) out += ',';
      first_chapter = false;
      out += JsonString(chapters[k]);
      out += ":[";
      for (size_t p = 0; p < f.by_chapter[k].size(); ++p) {
        if (p > 0) out += ',';
        AppendInt(out, f.by_chapter[k][p]);
      }
      out += ']';
    }
    out += "}}";
  });
  out += "]}\n";
  return out;
}

// One row per facility and period, one column per figure and per chapter,
// written straight into the file's text.
HttpResponse ActivityCsv(const ActivityView& view) {
  const std::vector<std::string>& chapters = storage::Icd10Chapters();
  std::string body(kCsvByteOrderMark);
  body +=
      "facility,period_start,new_patients,encounters,fever_observations,"
      "high_systolic_observations,appointments_booked,appointments_kept,"
      "appointments_missed,appointments_cancelled";
  for (const std::string& c : chapters) {
    body += ",encounters_icd10_";
    body += c;
  }
  body += "\r\n";
  // About 2 bytes a cell.
  body.reserve(body.size() +
               view.report.rows.size() * (10 + chapters.size()) * 3);
  ForEachFacility(view.report, [&](const FacilitySeries& f) {
    const std::string facility = CsvCell(f.facility);
    for (size_t p = 0; p < f.rows.size(); ++p) {
      const storage::ActivityRow& r = f.rows[p];
      body += facility;
      body += ',';
      body += r.period;  // YYYY-MM-DD: nothing to quote
      for (int64_t n : {r.new_patients, r.encounters, r.fever, r.high_systolic,
                        r.appointments, r.kept, r.missed, r.cancelled}) {
        body += ',';
        AppendInt(body, n);
      }
      for (const std::vector<int64_t>& series : f.by_chapter) {
        body += ',';
        AppendInt(body, series.empty() ? 0 : series[p]);
      }
      body += "\r\n";
    }
  });
  return CsvFile(std::move(body), "activity-" + PeriodName(view.query.period) +
                                      "-" + view.query.from + "-" +
                                      view.query.to + ".csv");
}

// ---- Conflicts ----

Result<ConflictsView> LoadConflicts(ApiContext& ctx,
                                    const ReportViewer& viewer) {
  ConflictsView view;
  view.now_ms = ctx.clock.WallNowMillis();
  POSTA_ASSIGN_OR_RETURN(std::set<std::string> seen,
                         FacilitiesSeen(ctx, viewer));
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::Conflict> open,
                         ctx.store.ListConflicts(true, kMaxConflicts));
  for (storage::Conflict& c : open) {
    if (!viewer.region || seen.count(c.facility) > 0) {
      view.conflicts.push_back(std::move(c));
    }
  }
  // The freshness query also says how new the hub's data is.
  POSTA_ASSIGN_OR_RETURN(storage::FreshnessReport fresh,
                         ctx.store.ReportFreshness(ScopeOf(viewer)));
  view.updated_ms = fresh.updated_ms;
  return view;
}

// ---- Admission ----

// Admits the caller to the reports: a bearer token or the pages' cookie,
// checked like every endpoint. For a page, a missing or ended session
// sends the browser to the login form instead of a 401.
std::optional<HttpResponse> AdmitViewer(ApiContext& ctx,
                                        const HttpRequest& request,
                                        auth::Access access, bool page,
                                        ReportViewer* viewer) {
  const HttpRequest with_token = WithCookieToken(request);
  std::optional<auth::Principal> who;
  std::optional<HttpResponse> refused =
      Admit(ctx, with_token, "reports", access, &who);
  if (refused) {
    if (page && refused->status == 401) {
      std::string next = request.target.substr(0, 200);
      return Redirect("/ui/login?next=" + PercentEncode(next));
    }
    if (page) {
      ReportViewer nobody;
      return PageAnswer(refused->status,
                        RenderErrorPage(nobody, refused->status,
                                        "your account may not see the "
                                        "reports; a coordinator or an "
                                        "administrator may"));
    }
    return refused;
  }
  *viewer = ViewerOf(who);
  return std::nullopt;
}

HttpResponse PageError(ApiContext& ctx, const ReportViewer& viewer,
                       const Status& status) {
  HttpResponse json = StatusResponse(status, ctx.random);
  return PageAnswer(json.status,
                    RenderErrorPage(viewer, json.status, status.ToString()));
}

// ---- Login and logout for the pages ----

Result<std::vector<QueryParam>> FormFields(const HttpRequest& request) {
  std::string type = request.Header("Content-Type");
  type = type.substr(0, type.find(';'));
  if (!EqualsIgnoreCase(type, "application/x-www-form-urlencoded")) {
    return Status::Malformed("Content-Type",
                             "'" + type.substr(0, 64) +
                                 "' is not a form; post "
                                 "application/x-www-form-urlencoded");
  }
  POSTA_ASSIGN_OR_RETURN(RequestTarget parsed,
                         ParseRequestTarget("/?" + request.body));
  return std::move(parsed.query);
}

std::string FieldOf(const std::vector<QueryParam>& fields,
                    std::string_view name) {
  for (const QueryParam& p : fields) {
    if (p.name == name) return p.value;
  }
  return {};
}

// Only a page of this server: never an open redirect.
std::string SafeNext(const std::string& next) {
  if (next.rfind("/ui/", 0) == 0 && next.find("//") == std::string::npos &&
      next.find('\\') == std::string::npos) {
    return next;
  }
  return "/ui/freshness";
}

HttpResponse LoginPost(ApiContext& ctx, const HttpRequest& request) {
  Result<std::vector<QueryParam>> fields = FormFields(request);
  if (!fields.ok()) {
    return PageAnswer(400, RenderLoginPage(fields.status().ToString(), ""));
  }
  const std::string user = FieldOf(*fields, "user");
  const std::string next = SafeNext(FieldOf(*fields, "next"));
  Result<auth::LoginOutcome> out =
      ctx.auth.Login(user, FieldOf(*fields, "password"));
  if (!out.ok()) {
    if (out.status().code() == Status::Code::kPermissionDenied) {
      spdlog::warn("refused login as '{}' from {}",
                   storage::IsValidUserName(user)
                       ? user
                       : std::string("(not a user name)"),
                   request.remote_address);
      return PageAnswer(401, RenderLoginPage(auth::kBadLogin, next));
    }
    return PageError(ctx, ReportViewer{}, out.status());
  }
  spdlog::info("user {} ({}) logged in to the reports from {}",
               out->principal.user, out->principal.role,
               request.remote_address);
  HttpResponse response = Redirect(next);
  const int64_t max_age = std::max<int64_t>(
      0, (out->session.expires_ms - ctx.clock.WallNowMillis()) / 1000);
  response.headers.emplace_back(
      "Set-Cookie", std::string(kSessionCookie) + "=" + out->token +
                        "; Path=/; Max-Age=" + std::to_string(max_age) +
                        "; HttpOnly; SameSite=Strict");
  return response;
}

HttpResponse LogoutPost(ApiContext& ctx, const HttpRequest& request) {
  std::optional<std::string> token = CookieValue(request, kSessionCookie);
  if (token && !token->empty()) {
    Status ended = ctx.auth.Logout(*token);
    if (!ended.ok() && ended.code() != Status::Code::kNotFound) {
      return PageError(ctx, ReportViewer{}, ended);
    }
  }
  HttpResponse response = Redirect("/ui/login");
  response.headers.emplace_back(
      "Set-Cookie", std::string(kSessionCookie) +
                        "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  return response;
}

HttpResponse ResolvePost(ApiContext& ctx, const HttpRequest& request,
                         const std::string& id) {
  ReportViewer viewer;
  if (auto refused = AdmitViewer(ctx, request, auth::Access::kRead,
                                 /*page=*/true, &viewer)) {
    return *refused;
  }
  if (!viewer.may_resolve) {
    return PageAnswer(403, RenderErrorPage(viewer, 403,
                                           "role " + viewer.role +
                                               " may not resolve conflicts; "
                                               "an administrator may"));
  }
  if (!IsConflictId(id)) {
    return PageError(ctx, viewer,
                     Status::NotFound("conflict '" + id.substr(0, 64) + "'",
                                      "no such conflict"));
  }
  Result<std::vector<QueryParam>> fields = FormFields(request);
  if (!fields.ok()) return PageError(ctx, viewer, fields.status());
  const std::string choose = FieldOf(*fields, "choose");
  if (choose != "winner" && choose != "loser") {
    return PageError(ctx, viewer,
                     Status::Malformed("choose", "must be winner or loser"));
  }
  Result<storage::Conflict> conflict = ctx.store.GetConflict(id);
  if (!conflict.ok()) return PageError(ctx, viewer, conflict.status());
  if (viewer.region) {
    Result<std::set<std::string>> seen = FacilitiesSeen(ctx, viewer);
    if (!seen.ok()) return PageError(ctx, viewer, seen.status());
    if (seen->count(conflict->facility) == 0) {
      return PageError(ctx, viewer,
                       Status::NotFound("conflict " + id, "no such conflict"));
    }
  }
  // Through the conflicts endpoint itself, as if its JSON had been posted.
  nlohmann::json body = {{"choose", choose}};
  if (!viewer.user.empty()) body["by"] = viewer.user;
  HttpRequest resolve = WithCookieToken(request);
  resolve.method = "POST";
  resolve.body = body.dump();
  std::vector<QueryParam> no_query;
  ConflictCall call{resolve, id, no_query};
  HttpResponse answer = HandleResolveConflict(ctx, call);
  if (answer.status != 200) {
    std::string why = answer.body;
    nlohmann::json outcome = nlohmann::json::parse(answer.body, nullptr, false);
    if (!outcome.is_discarded() && outcome.contains("issue") &&
        outcome["issue"].is_array() && !outcome["issue"].empty()) {
      why = outcome["issue"][0].value("diagnostics", why);
    }
    return PageAnswer(answer.status,
                      RenderErrorPage(viewer, answer.status, why));
  }
  spdlog::info("conflict {} resolved ({}) by {} through the reports pages", id,
               choose, viewer.user.empty() ? "(open API)" : viewer.user);
  return Redirect("/ui/conflicts?resolved=" + id);
}

}  // namespace

std::string_view FreshnessStatus(const storage::FreshnessRow& row,
                                 int64_t now_ms, const ApiOptions& options) {
  if (row.last_sync_ms <= 0) return "silent";
  const int64_t age = now_ms - row.last_sync_ms;
  if (age <= std::chrono::milliseconds(options.fresh_after).count()) {
    return "fresh";
  }
  if (age <= std::chrono::milliseconds(options.late_after).count()) {
    return "late";
  }
  return "silent";
}

HttpResponse HandleReportRequest(ApiContext& ctx, const HttpRequest& request,
                                 const RequestTarget& target,
                                 std::string_view& route) {
  const std::vector<std::string>& seg = target.segments;
  const bool ui = seg[0] == "ui";
  route = ui ? kRouteUi : kRouteReports;
  if (ctx.options.role != "hub") {
    return OutcomeResponse(
        404, "not-found",
        "the reports are on the hub; this node is a " + ctx.options.role);
  }
  auto method_is =
      [&](std::string_view allowed) -> std::optional<HttpResponse> {
    if (request.method == allowed) return std::nullopt;
    HttpResponse response =
        OutcomeResponse(405, "not-supported",
                        "method " + request.method.substr(0, 16) +
                            " not allowed on " + request.target.substr(0, 64) +
                            "; allowed: " + std::string(allowed));
    response.headers.emplace_back("Allow", std::string(allowed));
    return response;
  };

  if (!ui) {
    if (seg.size() != 2) {
      return OutcomeResponse(404, "not-found",
                             "no such report; /reports/freshness, "
                             "/reports/activity (add .csv for a file)");
    }
    const std::string& name = seg[1];
    const bool csv = name.size() > 4 && name.ends_with(".csv");
    const std::string report = csv ? name.substr(0, name.size() - 4) : name;
    if (report != "freshness" && report != "activity") {
      return OutcomeResponse(
          404, "not-found",
          "no such report '" + name.substr(0, 64) +
              "'; freshness, activity (add .csv for a file)");
    }
    if (auto bad = method_is("GET")) return *bad;
    ReportViewer viewer;
    if (auto refused = AdmitViewer(ctx, request, auth::Access::kRead,
                                   /*page=*/false, &viewer)) {
      return *refused;
    }
    if (report == "freshness") {
      Result<FreshnessView> view = LoadFreshness(ctx, viewer, target.query);
      if (!view.ok()) return StatusResponse(view.status(), ctx.random);
      return csv ? FreshnessCsv(*view)
                 : JsonAnswer(FreshnessJson(viewer, *view));
    }
    Result<ActivityView> view = LoadActivity(ctx, viewer, target.query);
    if (!view.ok()) return StatusResponse(view.status(), ctx.random);
    if (csv) return ActivityCsv(*view);
    HttpResponse response;
    response.content_type = "application/json";
    response.headers.emplace_back("Cache-Control", "no-store");
    response.body = ActivityJson(viewer, *view);
    return response;
  }

  // ---- Pages ----
  const std::string page = seg.size() >= 2 ? seg[1] : "";
  if (seg.size() == 1 || (seg.size() == 2 && page.empty())) {
    if (auto bad = method_is("GET")) return *bad;
    return Redirect("/ui/freshness");
  }
  if (seg.size() == 2 && page == "login") {
    if (request.method == "POST") {
      if (!SameOrigin(request)) {
        return PageAnswer(403, RenderLoginPage("a login must come from this "
                                               "server's own page",
                                               ""));
      }
      return LoginPost(ctx, request);
    }
    if (auto bad = method_is("GET")) return *bad;
    std::string next;
    for (const QueryParam& p : target.query) {
      if (p.name == "next") next = SafeNext(p.value);
    }
    return PageAnswer(200, RenderLoginPage("", next));
  }
  if (seg.size() == 2 && page == "logout") {
    if (auto bad = method_is("POST")) return *bad;
    if (!SameOrigin(request)) {
      return PageAnswer(403, RenderLoginPage("cross-site request refused", ""));
    }
    return LogoutPost(ctx, request);
  }
  if (seg.size() == 4 && page == "conflicts" && seg[3] == "resolve") {
    route = kRouteResolve;
    if (auto bad = method_is("POST")) return *bad;
    if (!SameOrigin(request)) {
      return PageAnswer(403, RenderErrorPage(ReportViewer{}, 403,
                                             "cross-site request refused"));
    }
    return ResolvePost(ctx, request, seg[2]);
  }
  if (seg.size() != 2 ||
      (page != "freshness" && page != "activity" && page != "conflicts")) {
    return PageAnswer(404, RenderErrorPage(ReportViewer{}, 404,
                                           "no such page; /ui/freshness, "
                                           "/ui/activity, /ui/conflicts"));
  }
  if (auto bad = method_is("GET")) return *bad;
  ReportViewer viewer;
  if (auto refused = AdmitViewer(ctx, request, auth::Access::kRead,
                                 /*page=*/true, &viewer)) {
    return *refused;
  }
  if (page == "freshness") {
    Result<FreshnessView> view = LoadFreshness(ctx, viewer, target.query);
    if (!view.ok()) return PageError(ctx, viewer, view.status());
    return PageAnswer(200, RenderFreshnessPage(viewer, *view));
  }
  if (page == "activity") {
    Result<ActivityView> view = LoadActivity(ctx, viewer, target.query);
    if (!view.ok()) return PageError(ctx, viewer, view.status());
    return PageAnswer(200, RenderActivityPage(viewer, *view));
  }
  std::string notice;
  for (const QueryParam& p : target.query) {
    if (p.name == "resolved" && IsConflictId(p.value)) {
      notice = "Conflict " + p.value + " resolved.";
    } else {
      return PageError(ctx, viewer,
                       Status::Malformed(p.name.substr(0, 32),
                                         "not a parameter of this page"));
    }
  }
  Result<ConflictsView> view = LoadConflicts(ctx, viewer);
  if (!view.ok()) return PageError(ctx, viewer, view.status());
  view->notice = std::move(notice);
  return PageAnswer(200, RenderConflictsPage(viewer, *view));
}

}  // namespace posta::node
