// The reports' pages: whole HTML documents built on the server, with inline
// CSS and SVG charts drawn here, so they work on a hub with no Internet and
// in any browser, without script. Every chart has a table of the same
// figures beside it; cells carry data-k attributes naming the figure.
#include <algorithm>
#include <cmath>
#include <map>

#include "api/report_views.h"
#include "api/request_target.h"
#include "posta/storage/replication.h"

namespace posta::node {
namespace {

std::string Esc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// "2025-06-01 09:52 UTC" inside <time>, or "never".
std::string TimeCell(int64_t ms, std::string_view never = "never") {
  if (ms <= 0) return std::string(never);
  const std::string iso = storage::FormatInstant(ms);
  return "<time datetime=\"" + iso + "\">" + iso.substr(0, 10) + " " +
         iso.substr(11, 5) + " UTC</time>";
}

constexpr std::string_view kStyle = R"css(
:root{--fg:#111;--bg:#fff;--mute:#555;--line:#ccc;--fresh:#1a7f37;--late:#b35900;--silent:#b3261e;--bar:#1f5fa8}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#12355b;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;align-items:center}
header a{color:#fff;font-weight:600;text-decoration:none;padding:.3rem .2rem}
header a[aria-current]{border-bottom:3px solid #fff}
header .who{margin-left:auto;font-size:.9rem}
header form{display:inline}
main{padding:1rem;max-width:1400px;margin:0 auto}
h1{font-size:1.5rem;margin:.2rem 0 .4rem}
h2{font-size:1.2rem;margin:1.2rem 0 .4rem}
.asof{color:var(--mute);margin:.2rem 0 1rem}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:1rem;align-items:start}
figure{margin:0}
.chart svg{width:100%;height:auto;display:block}
td[data-k=period],td[data-k=last_sync],td[data-k=last_record]{white-space:nowrap}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}
th{background:#eef2f7;position:sticky;top:0}
.st{font-weight:700}
.st-fresh{color:var(--fresh)}.st-late{color:var(--late)}.st-silent{color:var(--silent)}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.5rem 0 1rem}
label{display:flex;flex-direction:column;font-size:.9rem;gap:.15rem}
input,select,button{font:inherit;padding:.35rem .5rem;min-height:2.4rem}
button{cursor:pointer}
.links a{margin-right:1rem}
.notice{background:#e7f5ea;border:1px solid var(--fresh);padding:.5rem}
.error{background:#fdecea;border:1px solid var(--silent);padding:.5rem}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:.9rem}
.login{max-width:24rem;margin:3rem auto;display:flex;flex-direction:column;gap:.8rem}
@media (min-width:1600px){body{font-size:19px}}
)css";

std::string Head(std::string_view title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, "
         "initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>" +
         Esc(title) + " · posta hub</title><style>" + std::string(kStyle) +
         "</style></head><body>";
}

std::string Nav(const ReportViewer& viewer, std::string_view current) {
  std::string out = "<header><nav>";
  static constexpr std::pair<std::string_view, std::string_view> kPages[] = {
      {"freshness", "Freshness"},
      {"activity", "Activity"},
      {"conflicts", "Conflicts"}};
  for (const auto& [path, label] : kPages) {
    out += "<a href=\"/ui/" + std::string(path) + "\"";
    if (path == current) out += " aria-current=\"page\"";
    out += ">" + std::string(label) + "</a> ";
  }
  out += "</nav><span class=\"who\">";
  if (viewer.user.empty()) {
    out += "open access (no login needed here)";
  } else {
    out += Esc(viewer.user) + " · " + Esc(viewer.role);
    if (viewer.region) {
      out += " · region " + (viewer.region->empty() ? std::string("(none)")
                                                    : Esc(*viewer.region));
    }
    out +=
        " <form method=\"post\" action=\"/ui/logout\"><button "
        "type=\"submit\">Log out</button></form>";
  }
  out += "</span></header>";
  return out;
}

std::string AsOf(int64_t updated_ms, int64_t now_ms) {
  return "<p class=\"asof\">Data last updated: <span id=\"updated\">" +
         TimeCell(updated_ms, "no data yet") + "</span> · page made " +
         TimeCell(now_ms) + "</p>";
}

struct Bar {
  std::string label;
  double value = 0;
  std::string shown;   // the value as text
  std::string colour;  // a CSS colour
};

// A horizontal bar chart: one row per bar, label, bar and value, readable
// at a phone's width and on a projector (it scales with its box).
std::string BarChart(std::string_view title, const std::vector<Bar>& bars) {
  constexpr int kWidth = 480, kRow = 30, kValue = 70, kTop = 34;
  // As wide as the longest label needs (about 9 units a character at this
  // font size), so short labels leave the bars room on a phone.
  size_t longest = 1;
  for (const Bar& b : bars)
    longest = std::max(longest, std::min<size_t>(b.label.size(), 26));
  const int kLabel = 16 + 9 * static_cast<int>(longest);
  const int height = kTop + std::max<int>(1, bars.size()) * kRow + 8;
  double max = 0;
  for (const Bar& b : bars) max = std::max(max, b.value);
  std::string out =
      "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
      "viewBox=\"0 0 " +
      std::to_string(kWidth) + " " + std::to_string(height) +
      "\" role=\"img\" aria-label=\"" + Esc(title) + "\"><title>" + Esc(title) +
      "</title>";
  out +=
      "<text x=\"0\" y=\"20\" font-size=\"17\" font-weight=\"700\" "
      "fill=\"#111\">" +
      Esc(title) + "</text>";
  if (bars.empty()) {
    out += "<text x=\"0\" y=\"" + std::to_string(kTop + 20) +
           "\" font-size=\"15\" fill=\"#555\">nothing to show</text>";
  }
  const int span = kWidth - kLabel - kValue - 10;
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const int y = kTop + static_cast<int>(i) * kRow;
    const int w =
        max > 0 ? static_cast<int>(std::lround(span * b.value / max)) : 0;
    std::string label =
        b.label.size() > 26 ? b.label.substr(0, 25) + "…" : b.label;
    out += "<text x=\"" + std::to_string(kLabel - 8) + "\" y=\"" +
           std::to_string(y + 20) +
           "\" font-size=\"15\" text-anchor=\"end\" fill=\"#111\">" +
           Esc(label) + "</text>";
    out += "<rect x=\"" + std::to_string(kLabel) + "\" y=\"" +
           std::to_string(y + 5) + "\" width=\"" +
           std::to_string(std::max(w, 1)) + "\" height=\"" +
           std::to_string(kRow - 10) + "\" fill=\"" +
           (b.colour.empty() ? std::string("#1f5fa8") : b.colour) + "\"/>";
    out += "<text x=\"" + std::to_string(kLabel + std::max(w, 1) + 6) +
           "\" y=\"" + std::to_string(y + 20) +
           "\" font-size=\"15\" fill=\"#111\">" + Esc(b.shown) + "</text>";
  }
  out += "</svg></figure>";
  return out;
}

std::string StatusColour(std::string_view status) {
  if (status == "fresh") return "#1a7f37";
  if (status == "late") return "#b35900";
  return "#b3261e";
}

std::string Option(std::string_view value, std::string_view label,
                   std::string_view chosen) {
  return "<option value=\"" + Esc(value) + "\"" +
         (value == chosen ? " selected" : "") + ">" + Esc(label) + "</option>";
}

std::string Num(int64_t n) { return std::to_string(n); }

std::string Td(std::string_view key, const std::string& text, bool number) {
  return std::string("<td") + (number ? " class=\"n\"" : "") + " data-k=\"" +
         std::string(key) + "\">" + text + "</td>";
}

std::string Hours(int64_t ms) {
  if (ms < 3600 * 1000) return std::to_string(ms / 60000) + " min";
  if (ms < 48LL * 3600 * 1000) return std::to_string(ms / 3600000) + " h";
  return std::to_string(ms / (24LL * 3600000)) + " days";
}

}  // namespace

std::string RenderLoginPage(std::string_view message, std::string_view next) {
  std::string out = Head("Log in");
  out +=
      "<main><form class=\"login\" method=\"post\" action=\"/ui/login\">"
      "<h1>posta hub reports</h1>";
  if (!message.empty()) {
    out += "<p class=\"error\" role=\"alert\">" + Esc(message) + "</p>";
  }
  out +=
      "<label>User <input name=\"user\" autocomplete=\"username\" required "
      "autofocus></label><label>Password <input name=\"password\" "
      "type=\"password\" autocomplete=\"current-password\" required></label>"
      "<input type=\"hidden\" name=\"next\" value=\"" +
      Esc(next) +
      "\"><button type=\"submit\">Log in</button>"
      "<p class=\"asof\">Coordinators see the facilities of their region.</p>"
      "</form></main></body></html>\n";
  return out;
}

std::string RenderErrorPage(const ReportViewer& viewer, int status,
                            std::string_view message) {
  std::string out = Head("Error");
  out += Nav(viewer, "");
  out += "<main><h1>Error " + std::to_string(status) +
         "</h1><p class=\"error\" role=\"alert\">" + Esc(message) +
         "</p><p><a href=\"/ui/freshness\">Back to the reports</a></p></main>"
         "</body></html>\n";
  return out;
}

std::string RenderFreshnessPage(const ReportViewer& viewer,
                                const FreshnessView& view) {
  std::string out = Head("Freshness");
  out += Nav(viewer, "freshness");
  out += "<main><h1>Freshness of each facility's data</h1>";
  out += AsOf(view.report.updated_ms, view.now_ms);
  out += "<p>Fresh: synced within " + std::to_string(view.fresh_h) +
         " h; late: within " + std::to_string(view.late_h) +
         " h; silent: longer, or never.</p>";
  out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/freshness\">"
      "<label>Status <select name=\"status\">" +
      Option("", "all", view.status_filter) +
      Option("fresh", "fresh", view.status_filter) +
      Option("late", "late", view.status_filter) +
      Option("silent", "silent", view.status_filter) +
      "</select></label><label>Sort by <select name=\"sort\">" +
      Option("facility", "facility", view.sort) +
      Option("status", "status (silent first)", view.sort) +
      Option("last_sync", "last sync (oldest first)", view.sort) +
      Option("-last_sync", "last sync (newest first)", view.sort) +
      Option("-pending", "pending changes (most first)", view.sort) +
      Option("-conflicts", "open conflicts (most first)", view.sort) +
      Option("version", "node version", view.sort) +
      "</select></label><button type=\"submit\">Show</button></form>";
  std::vector<QueryParam> params;
  if (!view.status_filter.empty())
    params.push_back({"status", view.status_filter});
  params.push_back({"sort", view.sort});
  const std::string query = EncodeQuery(params);
  out += "<p class=\"links\"><a href=\"/reports/freshness.csv?" + Esc(query) +
         "\" download>Download CSV</a><a href=\"/reports/freshness?" +
         Esc(query) + "\">JSON</a></p>";

  std::vector<Bar> bars;
  for (size_t i = 0; i < view.report.rows.size(); ++i) {
    const storage::FreshnessRow& r = view.report.rows[i];
    Bar b;
    b.label = r.facility;
    b.colour = StatusColour(view.status[i]);
    if (r.last_sync_ms <= 0) {
      b.value = static_cast<double>(view.late_h) * 3600 * 1000 * 1.2;
      b.shown = "never";
    } else {
      const int64_t age = std::max<int64_t>(0, view.now_ms - r.last_sync_ms);
      b.value = static_cast<double>(age);
      b.shown = Hours(age);
    }
    bars.push_back(std::move(b));
  }
  out += "<div class=\"pair\">" +
         BarChart("Time since the last completed sync", bars);
  out +=
      "<div class=\"scroll\"><table id=\"freshness\"><thead><tr>"
      "<th>Facility</th><th>Status</th><th>Last sync</th>"
      "<th>Last record</th><th class=\"n\">Pending</th>"
      "<th>Node version</th><th class=\"n\">Open conflicts</th>"
      "</tr></thead><tbody>";
  for (size_t i = 0; i < view.report.rows.size(); ++i) {
    const storage::FreshnessRow& r = view.report.rows[i];
    out += "<tr data-facility=\"" + Esc(r.facility) + "\">";
    out += "<td data-k=\"facility\"><b>" + Esc(r.facility) + "</b><br>" +
           Esc(r.name) + (r.region.empty() ? "" : " · " + Esc(r.region)) +
           "</td>";
    out += "<td data-k=\"status\" class=\"st st-" + view.status[i] + "\">" +
           view.status[i] + "</td>";
    out += Td("last_sync", TimeCell(r.last_sync_ms), false);
    out += Td("last_record", TimeCell(r.last_record_ms, "none"), false);
    out += Td("pending",
              r.pending_changes < 0 ? "unknown" : Num(r.pending_changes), true);
    out +=
        Td("version", r.software.empty() ? "unknown" : Esc(r.software), false);
    out += Td("conflicts", Num(r.open_conflicts), true);
    out += "</tr>";
  }
  if (view.report.rows.empty()) {
    out += "<tr><td colspan=\"7\">No facility matches.</td></tr>";
  }
  out += "</tbody></table></div></div></main></body></html>\n";
  return out;
}

std::string RenderActivityPage(const ReportViewer& viewer,
                               const ActivityView& view) {
  const bool weekly = view.query.period == storage::ReportPeriod::kWeek;
  std::string out = Head("Activity");
  out += Nav(viewer, "activity");
  out += "<main><h1>Activity per " + std::string(weekly ? "week" : "month") +
         "</h1>";
  out += AsOf(view.report.updated_ms, view.now_ms);
  const std::string chosen_facility =
      view.query.scope.facility ? *view.query.scope.facility : "";
  out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/activity\">"
      "<label>Period <select name=\"period\">" +
      Option("month", "month", weekly ? "week" : "month") +
      Option("week", "week", weekly ? "week" : "month") +
      "</select></label><label>From <input type=\"date\" name=\"from\" "
      "value=\"" +
      Esc(view.query.from) +
      "\"></label><label>To <input type=\"date\" name=\"to\" value=\"" +
      Esc(view.query.to) +
      "\"></label><label>Facility <select name=\"facility\">" +
      Option("", "all", chosen_facility);
  for (const storage::FacilityEntry& f : view.facilities) {
    out += Option(f.id, f.id + " — " + f.name, chosen_facility);
  }
  out += "</select></label><button type=\"submit\">Show</button></form>";
  std::vector<QueryParam> params = {{"period", weekly ? "week" : "month"},
                                    {"from", view.query.from},
                                    {"to", view.query.to}};
  if (!chosen_facility.empty()) params.push_back({"facility", chosen_facility});
  const std::string query = EncodeQuery(params);
  out += "<p class=\"links\"><a href=\"/reports/activity.csv?" + Esc(query) +
         "\" download>Download CSV</a><a href=\"/reports/activity?" +
         Esc(query) + "\">JSON</a></p>";

  // Totals per period over the facilities shown.
  std::vector<storage::ActivityRow> totals;
  for (const std::string& p : view.report.periods) {
    storage::ActivityRow t;
    t.period = p;
    totals.push_back(t);
  }
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < view.report.periods.size(); ++i) {
    at[view.report.periods[i]] = i;
  }
  for (const storage::ActivityRow& r : view.report.rows) {
    storage::ActivityRow& t = totals[at[r.period]];
    t.new_patients += r.new_patients;
    t.encounters += r.encounters;
    t.fever += r.fever;
    t.high_systolic += r.high_systolic;
    t.appointments += r.appointments;
    t.kept += r.kept;
    t.missed += r.missed;
    t.cancelled += r.cancelled;
  }
  std::vector<Bar> bars;
  for (const storage::ActivityRow& t : totals) {
    bars.push_back({weekly ? t.period : t.period.substr(0, 7),
                    static_cast<double>(t.encounters), Num(t.encounters), ""});
  }
  out += "<h2>Encounters</h2><div class=\"pair\">" +
         BarChart("Encounters per " + std::string(weekly ? "week" : "month"),
                  bars);
  out +=
      "<div class=\"scroll\"><table id=\"totals\"><thead><tr>"
      "<th>Period</th><th class=\"n\">New patients</th>"
      "<th class=\"n\">Encounters</th><th class=\"n\">Fever</th>"
      "<th class=\"n\">Systolic ≥ 140</th><th class=\"n\">Booked</th>"
      "<th class=\"n\">Kept</th><th class=\"n\">Missed</th>"
      "<th class=\"n\">Cancelled</th></tr></thead><tbody>";
  for (const storage::ActivityRow& t : totals) {
    out += "<tr data-period=\"" + t.period + "\"><td data-k=\"period\">" +
           t.period + "</td>" + Td("new_patients", Num(t.new_patients), true) +
           Td("encounters", Num(t.encounters), true) +
           Td("fever", Num(t.fever), true) +
           Td("high_systolic", Num(t.high_systolic), true) +
           Td("booked", Num(t.appointments), true) +
           Td("kept", Num(t.kept), true) + Td("missed", Num(t.missed), true) +
           Td("cancelled", Num(t.cancelled), true) + "</tr>";
  }
  out += "</tbody></table></div></div>";

  // Encounters by ICD-10 chapter over the whole range.
  std::map<std::string, int64_t> by_chapter;
  for (const storage::ChapterRow& c : view.report.chapters) {
    by_chapter[c.chapter] += c.encounters;
  }
  std::vector<Bar> chapter_bars;
  std::string chapter_rows;
  for (const std::string& c : storage::Icd10Chapters()) {
    auto it = by_chapter.find(c);
    if (it == by_chapter.end()) continue;
    chapter_bars.push_back(
        {c, static_cast<double>(it->second), Num(it->second), "#6b4fa8"});
    chapter_rows += "<tr data-chapter=\"" + c + "\"><td data-k=\"chapter\">" +
                    c + "</td><td>" + Esc(storage::Icd10ChapterTitle(c)) +
                    "</td>" + Td("encounters", Num(it->second), true) + "</tr>";
  }
  out += "<h2>Encounters by reason (ICD-10 chapter)</h2><div class=\"pair\">" +
         BarChart("Encounters by ICD-10 chapter", chapter_bars);
  out +=
      "<div class=\"scroll\"><table id=\"chapters\"><thead><tr>"
      "<th>Chapter</th><th>Title</th><th class=\"n\">Encounters</th>"
      "</tr></thead><tbody>" +
      chapter_rows + "</tbody></table></div></div>";

  // Every facility and period.
  out +=
      "<h2>By facility</h2><div class=\"scroll\"><table id=\"activity\">"
      "<thead><tr><th>Facility</th><th>Period</th>"
      "<th class=\"n\">New patients</th><th class=\"n\">Encounters</th>"
      "<th class=\"n\">Fever</th><th class=\"n\">Systolic ≥ 140</th>"
      "<th class=\"n\">Booked</th><th class=\"n\">Kept</th>"
      "<th class=\"n\">Missed</th><th class=\"n\">Cancelled</th>"
      "</tr></thead><tbody>";
  for (const storage::ActivityRow& r : view.report.rows) {
    out += "<tr data-facility=\"" + Esc(r.facility) + "\" data-period=\"" +
           r.period + "\"><td data-k=\"facility\">" + Esc(r.facility) +
           "</td><td data-k=\"period\">" + r.period + "</td>" +
           Td("new_patients", Num(r.new_patients), true) +
           Td("encounters", Num(r.encounters), true) +
           Td("fever", Num(r.fever), true) +
           Td("high_systolic", Num(r.high_systolic), true) +
           Td("booked", Num(r.appointments), true) +
           Td("kept", Num(r.kept), true) + Td("missed", Num(r.missed), true) +
           Td("cancelled", Num(r.cancelled), true) + "</tr>";
  }
  out += "</tbody></table></div>";
  out +=
      "<p class=\"asof\">Fever: body temperature (LOINC 8310-5) ≥ 38 °C; "
      "systolic: LOINC 8480-6 ≥ 140 mmHg. Periods start on Monday (weeks) "
      "or the 1st (months), by the date written at the clinic.</p>";
  out += "</main></body></html>\n";
  return out;
}

std::string RenderConflictsPage(const ReportViewer& viewer,
                                const ConflictsView& view) {
  std::string out = Head("Conflicts");
  out += Nav(viewer, "conflicts");
  out += "<main><h1>Open conflicts</h1>";
  out += AsOf(view.updated_ms, view.now_ms);
  if (!view.notice.empty()) {
    out += "<p class=\"notice\" role=\"status\">" + Esc(view.notice) + "</p>";
  }
  out +=
      "<p>When two places changed the same field while apart, sync kept "
      "one value (the record holds it now) and set the other aside. ";
  out += viewer.may_resolve
             ? "Keep the value the record holds, or bring back the other.</p>"
             : "An administrator decides which stays.</p>";
  out +=
      "<div class=\"scroll\"><table id=\"conflicts\"><thead><tr>"
      "<th>Record</th><th>Field</th><th>Value kept</th>"
      "<th>Value set aside</th>";
  if (viewer.may_resolve) out += "<th>Decide</th>";
  out += "</tr></thead><tbody>";
  auto side = [](const storage::ConflictSide& s) {
    std::string text = s.value ? *s.value : "(absent)";
    return "<pre>" + Esc(text) + "</pre><small>" + TimeCell(s.stamp.wall_ms) +
           " · node " + Esc(s.stamp.node) + "</small>";
  };
  for (const storage::Conflict& c : view.conflicts) {
    out += "<tr data-conflict=\"" + c.id + "\"><td data-k=\"record\">" +
           Esc(storage::ResourceTypeName(c.type)) + "/" + Esc(c.record_id) +
           "<br><small>" + Esc(c.facility) + "</small></td>" +
           "<td data-k=\"field\">" +
           (c.field == storage::kDeletedField ? std::string("deleted or not")
                                              : Esc(c.field)) +
           "</td><td data-k=\"winner\">" + side(c.winner) +
           "</td><td data-k=\"loser\">" + side(c.loser) + "</td>";
    if (viewer.may_resolve) {
      out += "<td><form method=\"post\" action=\"/ui/conflicts/" + c.id +
             "/resolve\"><button name=\"choose\" value=\"winner\">Keep "
             "value kept</button> <button name=\"choose\" "
             "value=\"loser\">Use value set aside</button></form></td>";
    }
    out += "</tr>";
  }
  if (view.conflicts.empty()) {
    out += "<tr><td colspan=\"5\">No open conflicts.</td></tr>";
  }
  out += "</tbody></table></div></main></body></html>\n";
  return out;
}

}  // namespace posta::node
