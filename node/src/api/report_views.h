// Private to the API: the coordinators' reports on a hub (docs/reports.md).
// report_routes.cc routes /reports/* (JSON and CSV) and /ui/* (pages),
// admits the caller (a bearer token or the pages' session cookie) and asks
// the store; report_pages.cc renders the pages: plain HTML with inline CSS
// and server-drawn SVG charts, no script, nothing fetched from elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/handlers.h"
#include "posta/storage/reports.h"

namespace posta::node {

// The session cookie the pages use (HttpOnly, SameSite=Strict).
inline constexpr std::string_view kSessionCookie = "posta_session";

// Who looks at a report, and what they may see and do.
struct ReportViewer {
  std::string user;  // "" when the API is open and nobody logged in
  std::string role;  // "" likewise (then everything is shown)
  // The region a coordinator is limited to; nullopt: every facility.
  std::optional<std::string> region;
  bool may_resolve = false;  // conflicts: the role may write them
};

// fresh, late or silent.
std::string_view FreshnessStatus(const storage::FreshnessRow& row,
                                 int64_t now_ms, const ApiOptions& options);

// The freshness report after the viewer's filter and sort.
struct FreshnessView {
  storage::FreshnessReport report;
  std::vector<std::string> status;  // per row of report.rows
  std::string status_filter;        // "" or fresh, late, silent
  std::string sort;                 // a sort key, "-" first for descending
  int64_t now_ms = 0;
  int64_t fresh_h = 0;
  int64_t late_h = 0;
};

struct ActivityView {
  storage::ActivityReport report;
  storage::ActivityQuery query;
  std::vector<storage::FacilityEntry> facilities;  // in scope, for the form
  int64_t now_ms = 0;
};

struct ConflictsView {
  std::vector<storage::Conflict> conflicts;  // open, in the viewer's scope
  int64_t updated_ms = 0;
  int64_t now_ms = 0;
  std::string notice;  // after a resolve: what happened
};

// report_pages.cc. Complete HTML documents.
std::string RenderLoginPage(std::string_view message, std::string_view next);
std::string RenderFreshnessPage(const ReportViewer& viewer,
                                const FreshnessView& view);
std::string RenderActivityPage(const ReportViewer& viewer,
                               const ActivityView& view);
std::string RenderConflictsPage(const ReportViewer& viewer,
                                const ConflictsView& view);
std::string RenderErrorPage(const ReportViewer& viewer, int status,
                            std::string_view message);

// report_routes.cc: everything under /reports and /ui. `route` is set to
// the metric label of the route matched.
HttpResponse HandleReportRequest(ApiContext& ctx, const HttpRequest& request,
                                 const RequestTarget& target,
                                 std::string_view& route);

}  // namespace posta::node
