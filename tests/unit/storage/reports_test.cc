// The hub's report tables and queries: what each record counts for, kept
// in step with every write, delete and transfer; freshness from the
// enrolled nodes; region scopes; the migration that backfills a hub.
#include "posta/storage/reports.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store_test_util.h"
#include "test_util.h"

namespace posta::storage::testing {
namespace {

TEST(Icd10ChapterTest, MapsCodesToChapters) {
  EXPECT_EQ(Icd10Chapter("A09"), "I");
  EXPECT_EQ(Icd10Chapter("B54"), "I");
  EXPECT_EQ(Icd10Chapter("C50.9"), "II");
  EXPECT_EQ(Icd10Chapter("D48"), "II");
  EXPECT_EQ(Icd10Chapter("D50"), "III");
  EXPECT_EQ(Icd10Chapter("e11.9"), "IV");
  EXPECT_EQ(Icd10Chapter("H59"), "VII");
  EXPECT_EQ(Icd10Chapter("H60"), "VIII");
  EXPECT_EQ(Icd10Chapter("I10"), "IX");
  EXPECT_EQ(Icd10Chapter("J06.9"), "X");
  EXPECT_EQ(Icd10Chapter("O80"), "XV");
  EXPECT_EQ(Icd10Chapter("T98.3"), "XIX");
  EXPECT_EQ(Icd10Chapter("W19"), "XX");
  EXPECT_EQ(Icd10Chapter("Z00.0"), "XXI");
  EXPECT_EQ(Icd10Chapter("U07.1"), "XXII");
  EXPECT_EQ(Icd10Chapter("U99"), "uncoded");
  EXPECT_EQ(Icd10Chapter("J"), "uncoded");
  EXPECT_EQ(Icd10Chapter("123"), "uncoded");
  EXPECT_EQ(Icd10Chapter("7A0"), "uncoded");
  EXPECT_EQ(Icd10ChapterTitle("X"), "Diseases of the respiratory system");
  EXPECT_EQ(Icd10Chapters().size(), 23u);
  EXPECT_EQ(Icd10Chapters().back(), "uncoded");
}

TEST(PeriodStartTest, WeeksStartOnMondayMonthsOnTheFirst) {
  EXPECT_EQ(*PeriodStart(ReportPeriod::kWeek, "2024-03-07", "d"), "2024-03-04");
  EXPECT_EQ(*PeriodStart(ReportPeriod::kWeek, "2024-03-04", "d"), "2024-03-04");
  EXPECT_EQ(*PeriodStart(ReportPeriod::kWeek, "2024-03-03", "d"), "2024-02-26");
  EXPECT_EQ(*PeriodStart(ReportPeriod::kWeek, "2025-01-01", "d"), "2024-12-30");
  EXPECT_EQ(*PeriodStart(ReportPeriod::kMonth, "2024-02-29", "d"),
            "2024-02-01");
  Result<std::string> bad =
      PeriodStart(ReportPeriod::kMonth, "2024-02-30", "from");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("from"), std::string::npos);
  EXPECT_FALSE(PeriodStart(ReportPeriod::kWeek, "2024-3-1", "d").ok());
}

std::string Encounter(const std::string& patient, const std::string& start,
                      const std::string& icd,
                      const std::string& status = "finished") {
  std::string reason;
  if (!icd.empty()) {
    reason =
        R"(,"reasonCode":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":")" +
        icd + R"("}]}])";
  }
  return R"({"resourceType":"Encounter","status":")" + status +
         R"(","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/)" +
         patient + R"("},"period":{"start":")" + start + R"("})" + reason + "}";
}

std::string Temperature(const std::string& patient, const std::string& when,
                        double celsius) {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},"subject":{"reference":"Patient/)" +
         patient + R"("},"effectiveDateTime":")" + when +
         R"(","valueQuantity":{"value":)" + std::to_string(celsius) +
         R"(,"unit":"Cel","system":"http://unitsofmeasure.org","code":"Cel"}})";
}

std::string BloodPressure(const std::string& patient, const std::string& when,
                          int systolic) {
  return R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/)" +
         patient + R"("},"effectiveDateTime":")" + when +
         R"(","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":)" +
         std::to_string(systolic) +
         R"(,"unit":"mmHg"}},{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"unit":"mmHg"}}]})";
}

std::string Appointment(const std::string& patient, const std::string& start,
                        const std::string& status) {
  return R"({"resourceType":"Appointment","status":")" + status +
         R"(","start":")" + start + R"(","end":")" + start.substr(0, 11) +
         R"(23:00:00Z","participant":[{"actor":{"reference":"Patient/)" +
         patient + R"("},"status":"accepted"}]})";
}

class ReportsTest : public StoreFixture {
 protected:
  StoreOptions HubOptions() {
    StoreOptions options = Options(DbPath());
    options.role = "hub";
    return options;
  }
  void SetUp() override {
    auto store = OpenRecordStore(HubOptions());
    ASSERT_OK(store);
    store_ = std::move(store).value();
    ASSERT_OK(store_->AddFacility({"clinic-a", "Clinic A", "north", 1}));
    ASSERT_OK(store_->AddFacility({"clinic-b", "Clinic B", "south", 2}));
  }

  std::string Write(ResourceType type, const std::string& body) {
    WriteOutcome out = store_->Write(CreateOp(type, body));
    EXPECT_OK(out.status);
    return out.record.id;
  }

  ActivityReport Activity(ReportPeriod period, const std::string& from,
                          const std::string& to, ReportScope scope = {}) {
    ActivityQuery q;
    q.scope = std::move(scope);
    q.period = period;
    q.from = from;
    q.to = to;
    Result<ActivityReport> report = store_->ReportActivity(q);
    EXPECT_OK(report);
    return report.ok() ? *report : ActivityReport{};
  }

  static const ActivityRow* Row(const ActivityReport& r, const std::string& f,
                                const std::string& period) {
    for (const ActivityRow& row : r.rows) {
      if (row.facility == f && row.period == period) return &row;
    }
    return nullptr;
  }

  static int64_t Chapter(const ActivityReport& r, const std::string& f,
                         const std::string& period, const std::string& c) {
    for (const ChapterRow& row : r.chapters) {
      if (row.facility == f && row.period == period && row.chapter == c) {
        return row.encounters;
      }
    }
    return 0;
  }

  // A patient with two encounters in March and one in April 2024, vital
  // signs, and appointments of every outcome.
  std::string Seed() {
    const std::string p = Write(ResourceType::kPatient, PatientBody());
    Write(ResourceType::kEncounter,
          Encounter(p, "2024-03-05T09:00:00+02:00", "J06.9"));
    Write(ResourceType::kEncounter,
          Encounter(p, "2024-03-20T09:00:00Z", "A09"));
    Write(ResourceType::kEncounter, Encounter(p, "2024-04-02T09:00:00Z", ""));
    Write(ResourceType::kEncounter,
          Encounter(p, "2024-04-03T09:00:00Z", "I10", "entered-in-error"));
    Write(ResourceType::kObservation,
          Temperature(p, "2024-03-05T09:10:00Z", 38.4));
    Write(ResourceType::kObservation,
          Temperature(p, "2024-03-05T09:11:00Z", 37.9));
    Write(ResourceType::kObservation,
          BloodPressure(p, "2024-03-20T09:10:00Z", 150));
    Write(ResourceType::kObservation,
          BloodPressure(p, "2024-03-21T09:10:00Z", 139));
    Write(ResourceType::kAppointment,
          Appointment(p, "2024-03-06T09:00:00Z", "fulfilled"));
    Write(ResourceType::kAppointment,
          Appointment(p, "2024-03-07T09:00:00Z", "noshow"));
    Write(ResourceType::kAppointment,
          Appointment(p, "2024-04-08T09:00:00Z", "cancelled"));
    Write(ResourceType::kAppointment,
          Appointment(p, "2024-04-09T09:00:00Z", "booked"));
    return p;
  }

  std::unique_ptr<RecordStore> store_;
};

TEST_F(ReportsTest, CountsWhatEachRecordIsFor) {
  Seed();
  ActivityReport r = Activity(ReportPeriod::kMonth, "2024-02-10", "2024-04-30");
  ASSERT_EQ(r.periods, (std::vector<std::string>{"2024-02-01", "2024-03-01",
                                                 "2024-04-01"}));
  // Both facilities, every period, zeros included.
  ASSERT_EQ(r.rows.size(), 6u);
  const ActivityRow* march = Row(r, kFacility, "2024-03-01");
  ASSERT_NE(march, nullptr);
  EXPECT_EQ(march->new_patients, 1);  // created 2024-03-05 (the clock)
  EXPECT_EQ(march->encounters, 2);
  EXPECT_EQ(march->fever, 1);
  EXPECT_EQ(march->high_systolic, 1);
  EXPECT_EQ(march->appointments, 2);
  EXPECT_EQ(march->kept, 1);
  EXPECT_EQ(march->missed, 1);
  EXPECT_EQ(march->cancelled, 0);
  const ActivityRow* april = Row(r, kFacility, "2024-04-01");
  ASSERT_NE(april, nullptr);
  EXPECT_EQ(april->encounters, 1);  // the one entered in error is not
  EXPECT_EQ(april->appointments, 2);
  EXPECT_EQ(april->cancelled, 1);
  EXPECT_EQ(Row(r, "clinic-b", "2024-03-01")->encounters, 0);
  EXPECT_EQ(Chapter(r, kFacility, "2024-03-01", "X"), 1);
  EXPECT_EQ(Chapter(r, kFacility, "2024-03-01", "I"), 1);
  EXPECT_EQ(Chapter(r, kFacility, "2024-04-01", "uncoded"), 1);
  EXPECT_EQ(Chapter(r, kFacility, "2024-04-01", "IX"), 0);
  EXPECT_GT(r.updated_ms, 0);

  // Weeks: the 5th (Tuesday) and 20th (Wednesday) of March fall in the
  // weeks starting on the 4th and the 18th.
  ActivityReport w = Activity(ReportPeriod::kWeek, "2024-03-01", "2024-03-31");
  EXPECT_EQ(w.periods.front(), "2024-02-26");
  EXPECT_EQ(w.periods.back(), "2024-03-25");
  EXPECT_EQ(Row(w, kFacility, "2024-03-04")->encounters, 1);
  EXPECT_EQ(Row(w, kFacility, "2024-03-18")->encounters, 1);
  EXPECT_EQ(Row(w, kFacility, "2024-03-04")->missed, 1);
}

TEST_F(ReportsTest, UpdatesDeletesAndTransfersMoveTheCounts) {
  const std::string p = Seed();
  const std::string e = Write(ResourceType::kEncounter,
                              Encounter(p, "2024-03-25T09:00:00Z", "I10"));
  ActivityReport before =
      Activity(ReportPeriod::kMonth, "2024-03-01", "2024-03-31");
  EXPECT_EQ(Row(before, kFacility, "2024-03-01")->encounters, 3);
  EXPECT_EQ(Chapter(before, kFacility, "2024-03-01", "IX"), 1);

  // A new reason, and a move to April.
  ASSERT_OK(store_
                ->Write(UpdateOp(ResourceType::kEncounter, e,
                                 Encounter(p, "2024-04-25T09:00:00Z", "E11.9")))
                .status);
  ActivityReport after =
      Activity(ReportPeriod::kMonth, "2024-03-01", "2024-04-30");
  EXPECT_EQ(Row(after, kFacility, "2024-03-01")->encounters, 2);
  EXPECT_EQ(Chapter(after, kFacility, "2024-03-01", "IX"), 0);
  EXPECT_EQ(Row(after, kFacility, "2024-04-01")->encounters, 2);
  EXPECT_EQ(Chapter(after, kFacility, "2024-04-01", "IV"), 1);

  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kEncounter, e)).status);
  after = Activity(ReportPeriod::kMonth, "2024-03-01", "2024-04-30");
  EXPECT_EQ(Row(after, kFacility, "2024-04-01")->encounters, 1);
  EXPECT_EQ(Chapter(after, kFacility, "2024-04-01", "IV"), 0);

  // The patient and its records move to clinic-b, counts with them.
  ASSERT_OK(store_->Transfer(ResourceType::kPatient, p, "clinic-b").status());
  after = Activity(ReportPeriod::kMonth, "2024-03-01", "2024-04-30");
  EXPECT_EQ(Row(after, kFacility, "2024-03-01")->encounters, 0);
  EXPECT_EQ(Row(after, kFacility, "2024-03-01")->new_patients, 0);
  EXPECT_EQ(Row(after, "clinic-b", "2024-03-01")->encounters, 2);
  EXPECT_EQ(Row(after, "clinic-b", "2024-03-01")->new_patients, 1);
  EXPECT_EQ(Row(after, "clinic-b", "2024-03-01")->fever, 1);
  EXPECT_EQ(Row(after, "clinic-b", "2024-04-01")->cancelled, 1);
}

// A batch's counts are summed before they are written; an op the batch
// refuses counts for nothing.
TEST_F(ReportsTest, ABatchCountsEachOfItsRecordsOnce) {
  const std::string p = Write(ResourceType::kPatient, PatientBody());
  std::vector<WriteOp> ops;
  for (int day = 1; day <= 9; ++day) {
    ops.push_back(CreateOp(
        ResourceType::kEncounter,
        Encounter(p, "2024-05-0" + std::to_string(day) + "T09:00:00Z",
                  day % 2 == 0 ? "A09" : "J06.9")));
  }
  // Its subject does not exist: refused, nothing of it stored or counted.
  ops.push_back(CreateOp(
      ResourceType::kEncounter,
      Encounter("0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11", "2024-05-10T09:00:00Z",
                "A09")));
  ASSERT_OK_AND_ASSIGN(std::vector<WriteOutcome> outcomes,
                       store_->WriteBatch(ops));
  for (size_t i = 0; i + 1 < outcomes.size(); ++i) ASSERT_OK(outcomes[i].status);
  EXPECT_FALSE(outcomes.back().status.ok());
  ActivityReport r = Activity(ReportPeriod::kMonth, "2024-05-01", "2024-05-31");
  EXPECT_EQ(Row(r, kFacility, "2024-05-01")->encounters, 9);
  EXPECT_EQ(Chapter(r, kFacility, "2024-05-01", "I"), 4);
  EXPECT_EQ(Chapter(r, kFacility, "2024-05-01", "X"), 5);
  ActivityReport w = Activity(ReportPeriod::kWeek, "2024-05-01", "2024-05-31");
  // Wednesday the 1st to Sunday the 5th, then Monday the 6th on.
  EXPECT_EQ(Row(w, kFacility, "2024-04-29")->encounters, 5);
  EXPECT_EQ(Row(w, kFacility, "2024-05-06")->encounters, 4);
}

TEST_F(ReportsTest, ARegionSeesOnlyItsFacilities) {
  Seed();
  ReportScope south;
  south.region = "south";
  ActivityReport r =
      Activity(ReportPeriod::kMonth, "2024-03-01", "2024-03-31", south);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].facility, "clinic-b");
  EXPECT_EQ(r.rows[0].encounters, 0);
  EXPECT_TRUE(r.chapters.empty());
  ASSERT_OK_AND_ASSIGN(FreshnessReport f, store_->ReportFreshness(south));
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].facility, "clinic-b");
  ReportScope nowhere;
  nowhere.region = "east";
  ASSERT_OK_AND_ASSIGN(FreshnessReport none, store_->ReportFreshness(nowhere));
  EXPECT_TRUE(none.rows.empty());
}

TEST_F(ReportsTest, BadRangesAreRefusedByName) {
  ActivityQuery q;
  q.from = "2024-03-01";
  q.to = "2024-13-01";
  EXPECT_EQ(store_->ReportActivity(q).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_NE(store_->ReportActivity(q).status().ToString().find("to"),
            std::string::npos);
  q.to = "2024-02-01";
  EXPECT_EQ(store_->ReportActivity(q).status().code(),
            Status::Code::kInvalidArgument);
  q.from = "2000-01-01";
  q.to = "2024-01-01";
  EXPECT_EQ(store_->ReportActivity(q).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(ReportsTest, FreshnessComesFromTheNodesAndTheRecords) {
  Seed();
  EnrollmentCode code;
  code.code_hash = std::string(64, '1');
  code.facility = kFacility;
  code.expires_ms = kMarch2024 + 100000;
  ASSERT_OK(store_->AddEnrollmentCode(code));
  Redemption r;
  r.code_hash = code.code_hash;
  r.node_id = "00000000000000a1";
  r.credential_hash = std::string(64, 'c');
  r.now_ms = kMarch2024 + 1000;
  ASSERT_OK(store_->RedeemEnrollmentCode(r).status());

  ASSERT_OK_AND_ASSIGN(FreshnessReport before, store_->ReportFreshness({}));
  ASSERT_EQ(before.rows.size(), 2u);
  const FreshnessRow& a = before.rows[0];
  EXPECT_EQ(a.facility, kFacility);
  EXPECT_EQ(a.region, "north");
  EXPECT_EQ(a.nodes, 1);
  EXPECT_EQ(a.last_sync_ms, 0);
  EXPECT_EQ(a.pending_changes, -1);
  EXPECT_EQ(a.software, "");
  EXPECT_EQ(a.last_record_ms, kMarch2024);
  EXPECT_EQ(before.rows[1].nodes, 0);
  EXPECT_EQ(before.rows[1].last_record_ms, 0);

  ASSERT_OK(store_->NoteNodeReport(
      {"00000000000000a1", kFacility, "posta 0.1.0", 17, kMarch2024 + 5000}));
  ASSERT_OK(store_->NoteSyncCompleted("00000000000000a1", kFacility,
                                      kMarch2024 + 6000));
  // A later hello keeps when the last sync completed.
  ASSERT_OK(store_->NoteNodeReport(
      {"00000000000000a1", kFacility, "posta 0.2.0", 3, kMarch2024 + 7000}));
  ASSERT_OK_AND_ASSIGN(FreshnessReport after, store_->ReportFreshness({}));
  EXPECT_EQ(after.rows[0].last_sync_ms, kMarch2024 + 6000);
  EXPECT_EQ(after.rows[0].pending_changes, 3);
  EXPECT_EQ(after.rows[0].software, "posta 0.2.0");
  EXPECT_EQ(after.rows[0].open_conflicts, 0);

  // A revoked node no longer speaks for its facility.
  ASSERT_OK(store_->RevokeEnrolledNode("00000000000000a1", kMarch2024 + 8000)
                .status());
  ASSERT_OK_AND_ASSIGN(FreshnessReport revoked, store_->ReportFreshness({}));
  EXPECT_EQ(revoked.rows[0].nodes, 0);
  EXPECT_EQ(revoked.rows[0].last_sync_ms, 0);
}

int64_t CountRows(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string sql = std::string("SELECT count(*) FROM ") + table;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// The report query reads the counts table by its key, never a scan, and
// the newest record per facility comes from an index.
TEST_F(ReportsTest, QueriesUseTheirIndexes) {
  Seed();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  for (const char* sql :
       {"EXPLAIN QUERY PLAN SELECT period, metric, n FROM report_counts "
        "WHERE facility = ?1 AND period >= ?2 AND period <= ?3 AND n != 0 "
        "ORDER BY period, metric",
        "EXPLAIN QUERY PLAN SELECT max(created_ms) FROM report_facts WHERE "
        "facility = ?1"}) {
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK);
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
      plan += "; ";
    }
    sqlite3_finalize(st);
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << sql << ": " << plan;
    // In the primary key's order, not sorted afterwards.
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos)
        << sql << ": " << plan;
    EXPECT_NE(plan.find("SEARCH"), std::string::npos) << plan;
  }
  sqlite3_close(db);
}

TEST_F(ReportsTest, AClinicKeepsNoReportRows) {
  store_.reset();
  posta::testing::TempDir other;
  StoreOptions options = Options(other.File("clinic.db"));
  ASSERT_OK_AND_ASSIGN(auto clinic, OpenRecordStore(options));
  WriteOutcome out =
      clinic->Write(CreateOp(ResourceType::kPatient, PatientBody()));
  ASSERT_OK(out.status);
  clinic.reset();
  EXPECT_EQ(CountRows(other.File("clinic.db"), "report_facts"), 0);
}

// A version 6 hub (what the previous release wrote) gains the report tables
// at open, filled from the records it holds.
TEST_F(ReportsTest, UpgradeBackfillsAVersionSixHub) {
  Seed();
  ActivityReport before =
      Activity(ReportPeriod::kMonth, "2024-03-01", "2024-04-30");
  const int64_t facts = CountRows(DbPath(), "report_facts");
  EXPECT_GT(facts, 0);
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE node_reports; DROP TABLE report_counts; "
                           "DROP TABLE report_facts; PRAGMA user_version = 7",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto reopened = OpenRecordStore(HubOptions());
  ASSERT_OK(reopened);
  store_ = std::move(reopened).value();
  ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.schema_version, CurrentSchemaVersion());
  EXPECT_EQ(CountRows(DbPath(), "report_facts"), facts);
  ActivityReport after =
      Activity(ReportPeriod::kMonth, "2024-03-01", "2024-04-30");
  ASSERT_EQ(after.rows.size(), before.rows.size());
  for (size_t i = 0; i < after.rows.size(); ++i) {
    EXPECT_EQ(after.rows[i].encounters, before.rows[i].encounters);
    EXPECT_EQ(after.rows[i].new_patients, before.rows[i].new_patients);
    EXPECT_EQ(after.rows[i].fever, before.rows[i].fever);
    EXPECT_EQ(after.rows[i].kept, before.rows[i].kept);
  }
  EXPECT_EQ(after.chapters.size(), before.chapters.size());
  EXPECT_OK(store_->CheckIntegrity());
}

}  // namespace
}  // namespace posta::storage::testing
