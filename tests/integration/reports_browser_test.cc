// The hub's report pages in a real headless Chromium against a real `posta
// serve`: demo records imported into a hub, each page loaded with console
// logging on, its tables checked against figures this test computes from
// the records it imported, and a screenshot of each page kept as an
// artefact (POSTA_ARTIFACT_DIR, under the build directory). A coordinator's
// login goes through the real server over HTTP.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::TempDir;

constexpr char kChromium[] = "/usr/bin/chromium";

// What the activity page should show for one month, computed here from the
// imported records by the rules docs/reports.md states.
struct Month {
  int64_t encounters = 0, fever = 0, high_systolic = 0, booked = 0, kept = 0,
          missed = 0, cancelled = 0;
};

std::string Today() {
  time_t now = time(nullptr);
  struct tm utc;
  gmtime_r(&now, &utc);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &utc);
  return buf;
}

std::string DaysFrom(const std::string& day, int days) {
  struct tm t = {};
  strptime(day.c_str(), "%Y-%m-%d", &t);
  time_t at = timegm(&t) + static_cast<time_t>(days) * 86400;
  struct tm utc;
  gmtime_r(&at, &utc);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &utc);
  return buf;
}

bool HasLoinc(const json& codeable, const std::string& code) {
  if (!codeable.contains("coding")) return false;
  for (const json& c : codeable["coding"]) {
    if (c.value("system", "") == "http://loinc.org" &&
        c.value("code", "") == code) {
      return true;
    }
  }
  return false;
}

class ReportsBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium
                   << " is not installed (scripts/deps.sh installs Debian's "
                      "chromium); the report pages were not loaded in a "
                      "browser";
    }
    hub_dir_ = dir_.File("hub");
    auto r =
        testing::Run({PostaBinary(), "init", "--dir", hub_dir_, "--role", "hub",
                      "--facility", "clinic-a", "--listen", "127.0.0.1:0"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    config_ = hub_dir_ + "/posta.toml";
    for (auto [id, name, region] :
         {std::tuple{"clinic-a", "Clinic A — Thiès", "north"},
          std::tuple{"clinic-b", "Clinic B", "south"}}) {
      r = testing::Run({PostaBinary(), "hub", "facility", "add", "--config",
                        config_, id, "--name", name, "--region", region});
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
    r = testing::Run({"/bin/sh", "-c",
                      "printf '%s\\n' 'a long passphrase' | \"$0\" user add "
                      "--config \"$1\" --password-stdin --role coordinator "
                      "--region north nora",
                      PostaBinary(), config_});
    ASSERT_EQ(r.exit_code, 0) << r.output;

    // Demo records for a year up to today, imported at clinic-a.
    today_ = Today();
    const std::string ndjson = dir_.File("demo.ndjson");
    r = testing::Run({PostaBinary(), "demo", "generate", "--patients", "60",
                      "--seed", "11", "--as-of", today_, "--out", ndjson});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = testing::Run({PostaBinary(), "import", "--config", config_, ndjson},
                     std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    Expect(ndjson);

    artefacts_ = POSTA_ARTIFACT_DIR;
    std::filesystem::create_directories(artefacts_);
    std::string port_file = dir_.File("port");
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", config_, "--port-file", port_file},
        dir_.File("serve.log"));
    ASSERT_OK(child);
    server_ = std::move(child).value();
    auto port = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    ASSERT_OK(port)
        << testing::Run({"/bin/cat", dir_.File("serve.log")}).output;
    port_ = *port;
  }

  // The months' figures from the NDJSON, by each record's own date.
  void Expect(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      json r = json::parse(line);
      const std::string type = r["resourceType"];
      if (type == "Patient") {
        ++patients_;
      } else if (type == "Encounter") {
        Month& m =
            months_[r["period"]["start"].get<std::string>().substr(0, 7)];
        ++m.encounters;
        ++encounters_;
      } else if (type == "Observation") {
        Month& m =
            months_[r["effectiveDateTime"].get<std::string>().substr(0, 7)];
        if (HasLoinc(r["code"], "8310-5") &&
            r["valueQuantity"]["value"].get<double>() >= 38.0) {
          ++m.fever;
        }
        for (const json& c : r.value("component", json::array())) {
          if (HasLoinc(c["code"], "8480-6") &&
              c["valueQuantity"]["value"].get<double>() >= 140) {
            ++m.high_systolic;
          }
        }
      } else if (type == "Appointment") {
        Month& m = months_[r["start"].get<std::string>().substr(0, 7)];
        ++m.booked;
        const std::string status = r["status"];
        if (status == "fulfilled") ++m.kept;
        if (status == "noshow") ++m.missed;
        if (status == "cancelled") ++m.cancelled;
      }
    }
  }

  struct Page {
    std::string dom;
    std::string log;
  };

  // Loads `path` in headless Chromium: the DOM after load, and what the
  // browser logged (console messages included). Saves screenshots at a
  // projector's and a phone's size.
  Page Load(const std::string& path, const std::string& name) {
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
    std::vector<std::string> common = {
        kChromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--user-data-dir=" + dir_.File("chromium-" + name)};
    std::vector<std::string> dump = common;
    dump.push_back("--dump-dom");
    dump.push_back(url);
    testing::RunResult r = testing::Run(dump, std::chrono::seconds(90));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    Page page;
    // --dump-dom writes the document to stdout; the log lines start with '['.
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
      (line.rfind("[", 0) == 0 ? page.log : page.dom) += line + "\n";
    }
    for (auto [suffix, size] :
         {std::pair{"wide", "1366,2400"}, std::pair{"phone", "412,2400"}}) {
      std::vector<std::string> shot = common;
      const std::string file =
          artefacts_ + "/reports-" + name + "-" + suffix + ".png";
      shot.push_back("--hide-scrollbars");
      shot.push_back(std::string("--window-size=") + size);
      shot.push_back("--screenshot=" + file);
      shot.push_back(url);
      testing::RunResult s = testing::Run(shot, std::chrono::seconds(90));
      EXPECT_EQ(s.exit_code, 0) << s.output;
      EXPECT_TRUE(std::filesystem::exists(file)) << s.output;
    }
    return page;
  }

  static void ExpectNoConsoleErrors(const Page& page) {
    std::istringstream lines(page.log);
    std::string line;
    while (std::getline(lines, line)) {
      EXPECT_EQ(line.find(":CONSOLE"), std::string::npos) << line;
      EXPECT_EQ(line.find("Refused to"), std::string::npos) << line;
      EXPECT_EQ(line.find("Failed to load resource"), std::string::npos)
          << line;
    }
  }

  // data-k → text of the cells in the <tr> whose opening tag has `attrs`.
  static std::map<std::string, std::string> Cells(const std::string& dom,
                                                  const std::string& attrs) {
    std::map<std::string, std::string> out;
    size_t at = dom.find("<tr " + attrs + ">");
    if (at == std::string::npos) return out;
    const size_t end = dom.find("</tr>", at);
    const std::string row = dom.substr(at, end - at);
    static const std::regex cell(
        R"re(<td[^>]*data-k="([a-z_]+)"[^>]*>(.*?)</td>)re");
    for (auto it = std::sregex_iterator(row.begin(), row.end(), cell);
         it != std::sregex_iterator(); ++it) {
      out[(*it)[1]] = (*it)[2];
    }
    return out;
  }

  TempDir dir_;
  std::string hub_dir_;
  std::string config_;
  std::string today_;
  std::string artefacts_;
  ChildProcess server_;
  int port_ = 0;
  std::map<std::string, Month> months_;  // "YYYY-MM" →
  int64_t patients_ = 0;
  int64_t encounters_ = 0;
};

TEST_F(ReportsBrowserTest, PagesShowTheFiguresOfTheRecords) {
  ASSERT_GT(encounters_, 50);
  const std::string from = DaysFrom(today_, -400);
  const std::string to = DaysFrom(today_, 70);
  Page activity =
      Load("/ui/activity?period=month&from=" + from + "&to=" + to, "activity");
  ExpectNoConsoleErrors(activity);
  ASSERT_NE(activity.dom.find("Data last updated"), std::string::npos)
      << activity.dom.substr(0, 2000);
  EXPECT_NE(activity.dom.find("<svg"), std::string::npos);
  int64_t months_checked = 0, encounters_seen = 0;
  for (const auto& [month, want] : months_) {
    std::map<std::string, std::string> got =
        Cells(activity.dom, "data-period=\"" + month + "-01\"");
    ASSERT_FALSE(got.empty()) << "no row for " << month;
    EXPECT_EQ(got["encounters"], std::to_string(want.encounters)) << month;
    EXPECT_EQ(got["fever"], std::to_string(want.fever)) << month;
    EXPECT_EQ(got["high_systolic"], std::to_string(want.high_systolic))
        << month;
    EXPECT_EQ(got["booked"], std::to_string(want.booked)) << month;
    EXPECT_EQ(got["kept"], std::to_string(want.kept)) << month;
    EXPECT_EQ(got["missed"], std::to_string(want.missed)) << month;
    EXPECT_EQ(got["cancelled"], std::to_string(want.cancelled)) << month;
    encounters_seen += std::stoll(got["encounters"]);
    ++months_checked;
  }
  EXPECT_GT(months_checked, 10);
  EXPECT_EQ(encounters_seen, encounters_);
  // Every patient was registered on the hub today.
  std::map<std::string, std::string> now =
      Cells(activity.dom, "data-period=\"" + today_.substr(0, 7) + "-01\"");
  EXPECT_EQ(now["new_patients"], std::to_string(patients_));

  Page freshness = Load("/ui/freshness", "freshness");
  ExpectNoConsoleErrors(freshness);
  std::map<std::string, std::string> a =
      Cells(freshness.dom, "data-facility=\"clinic-a\"");
  EXPECT_EQ(a["status"], "silent");  // no clinic has synced
  EXPECT_EQ(a["pending"], "unknown");
  EXPECT_NE(a["last_record"].find(today_), std::string::npos)
      << a["last_record"];
  EXPECT_NE(freshness.dom.find("Data last updated"), std::string::npos);

  Page conflicts = Load("/ui/conflicts", "conflicts");
  ExpectNoConsoleErrors(conflicts);
  EXPECT_NE(conflicts.dom.find("No open conflicts"), std::string::npos);

  Page login = Load("/ui/login", "login");
  ExpectNoConsoleErrors(login);
  EXPECT_NE(login.dom.find("name=\"password\""), std::string::npos);
}

// The activity JSON over real HTTP, in its shape of series (one number
// per period for each figure, the chapters' titles once in a legend), and
// the CSV file, hold the same figures the page does: those this test
// computes from the imported records.
TEST_F(ReportsBrowserTest, JsonAndCsvHoldTheFiguresOfTheRecords) {
  ASSERT_GT(encounters_, 50);
  const std::string range = "period=month&from=" + DaysFrom(today_, -400) +
                            "&to=" + DaysFrom(today_, 70);
  auto answer = HttpCall(port_, "GET", "/reports/activity?" + range, "", {});
  ASSERT_OK(answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  const json body = json::parse(answer->body);
  const json& periods = body["periods"];
  ASSERT_GT(periods.size(), 12u);
  ASSERT_EQ(body["chapters"].size(), 23u);  // 22 chapters and "uncoded"
  EXPECT_EQ(body["chapters"].back()["chapter"], "uncoded");
  ASSERT_EQ(body["facilities"].size(), 2u);
  const json& a = body["facilities"][0];
  ASSERT_EQ(a["facility"], "clinic-a");
  EXPECT_EQ(a["name"], "Clinic A — Thiès");
  auto series = [&](const json& s, size_t i) {
    EXPECT_EQ(s.size(), periods.size());
    return i < s.size() ? s[i].get<int64_t>() : -1;
  };
  int64_t encounters_seen = 0, new_patients = 0;
  for (size_t i = 0; i < periods.size(); ++i) {
    const std::string month = periods[i].get<std::string>().substr(0, 7);
    auto it = months_.find(month);
    const Month want = it == months_.end() ? Month{} : it->second;
    EXPECT_EQ(series(a["encounters"], i), want.encounters) << month;
    EXPECT_EQ(series(a["feverObservations"], i), want.fever) << month;
    EXPECT_EQ(series(a["highSystolicObservations"], i), want.high_systolic)
        << month;
    EXPECT_EQ(series(a["appointments"]["booked"], i), want.booked) << month;
    EXPECT_EQ(series(a["appointments"]["kept"], i), want.kept) << month;
    EXPECT_EQ(series(a["appointments"]["missed"], i), want.missed) << month;
    EXPECT_EQ(series(a["appointments"]["cancelled"], i), want.cancelled)
        << month;
    // Every encounter is in one chapter, or uncoded.
    int64_t by_chapter = 0;
    for (const auto& [chapter, counts] : a["encountersByChapter"].items()) {
      by_chapter += series(counts, i);
    }
    EXPECT_EQ(by_chapter, want.encounters) << month;
    encounters_seen += series(a["encounters"], i);
    new_patients += series(a["newPatients"], i);
  }
  EXPECT_EQ(encounters_seen, encounters_);
  EXPECT_EQ(new_patients, patients_);  // all registered today
  const json& b = body["facilities"][1];
  EXPECT_EQ(b["facility"], "clinic-b");
  EXPECT_EQ(b["encounters"], json(std::vector<int64_t>(periods.size(), 0)));

  // The CSV: one line per facility and month, the same figures.
  auto csv = HttpCall(port_, "GET", "/reports/activity.csv?" + range, "", {});
  ASSERT_OK(csv);
  ASSERT_EQ(csv->status, 200) << csv->body;
  std::istringstream lines(csv->body);
  std::string line;
  int64_t rows = 0, csv_encounters = 0;
  std::getline(lines, line);  // the header
  while (std::getline(lines, line)) {
    ++rows;
    // facility,period_start,new_patients,encounters,…
    std::vector<std::string> cells;
    std::istringstream row(line.substr(0, line.find('\r')));
    for (std::string cell; std::getline(row, cell, ',');) {
      cells.push_back(cell);
    }
    ASSERT_EQ(cells.size(), 10u + 23u) << line;
    if (cells[0] == "clinic-a") csv_encounters += std::stoll(cells[3]);
  }
  EXPECT_EQ(rows, static_cast<int64_t>(2 * periods.size()));
  EXPECT_EQ(csv_encounters, encounters_);
}

// The login form against the real server: a coordinator of the north
// region gets a session cookie and sees clinic-a only.
TEST_F(ReportsBrowserTest, ACoordinatorLogsInAndSeesTheirRegion) {
  auto login =
      HttpCall(port_, "POST", "/ui/login",
               "user=nora&password=a+long+passphrase&next=%2Fui%2Ffreshness",
               {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_OK(login);
  ASSERT_EQ(login->status, 303) << login->body;
  const std::string cookie = login->Header("Set-Cookie");
  ASSERT_EQ(cookie.rfind("posta_session=", 0), 0u) << cookie;
  const std::string pair = cookie.substr(0, cookie.find(';'));
  auto page = HttpCall(port_, "GET", "/ui/freshness", "", {{"Cookie", pair}});
  ASSERT_OK(page);
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_NE(page->body.find("data-facility=\"clinic-a\""), std::string::npos);
  EXPECT_EQ(page->body.find("data-facility=\"clinic-b\""), std::string::npos);
  EXPECT_NE(page->body.find("region north"), std::string::npos);
  auto csv =
      HttpCall(port_, "GET", "/reports/freshness.csv", "", {{"Cookie", pair}});
  ASSERT_OK(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(csv->body.rfind("\xEF\xBB\xBF"
                            "facility,",
                            0),
            0u);
}

}  // namespace
}  // namespace posta
