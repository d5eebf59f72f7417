#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "posta/base/random.h"
#include "posta/node/demo_data.h"
#include "posta/storage/record_store.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;
using storage::ResourceType;

std::unique_ptr<storage::RecordStore> NewStore(const std::string& path,
                                               const std::string& facility) {
  storage::StoreOptions so;
  so.path = path;
  so.create_if_missing = true;
  so.facility = facility;
  auto store = storage::OpenRecordStore(so);
  EXPECT_OK(store);
  return store.ok() ? std::move(store).value() : nullptr;
}

const char kPatientId[] = "0b6c4c3e-2a1f-4d7e-9c51-6f1a2b3c4d5e";

std::string Patient(const std::string& id, const std::string& family) {
  std::string s = R"({"resourceType":"Patient",)";
  if (!id.empty()) s += R"("id":")" + id + R"(",)";
  return s + R"("name":[{"family":")" + family + R"("}],"gender":"female"})";
}

std::string Encounter(const std::string& patient_id) {
  return R"({"resourceType":"Encounter","status":"finished",)"
         R"("class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},)"
         R"("subject":{"reference":"Patient/)" +
         patient_id + R"("}})";
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = NewStore(dir_.File("a.db"), "clinic-a"); }
  ImportSummary Import(const std::string& text, ImportSettings settings = {}) {
    std::istringstream in(text);
    auto r = ImportNdjson(store_.get(), in, settings);
    EXPECT_OK(r);
    return r.ok() ? std::move(r).value() : ImportSummary{};
  }
  TempDir dir_;
  std::unique_ptr<storage::RecordStore> store_;
};

TEST_F(ImportTest, BadLinesAreReportedByLineNumberAndGoodOnesKept) {
  const std::string text =
      Patient(kPatientId, "Diallo") + "\n" +  // 1
      "\n" +                                  // 2 blank
      "{not json\n" +                         // 3
      R"({"resourceType":"Medication"})"
      "\n" +       // 4
      "[1,2]\n" +  // 5
      R"({"resourceType":"Patient","gender":"female","birthDate":"1990-13-45","name":[{"family":"X"}]})"
      "\n" +  // 6
      Encounter(kPatientId) +
      "\r\n" +                                                    // 7 (CRLF)
      Encounter("11111111-1111-4111-8111-111111111111") + "\n" +  // 8 dangling
      "   \t\n" +                                                 // 9 blank
      "# a comment\n" +                                           // 10
      R"({"id":5,"resourceType":"Patient"})"
      "\n" +                  // 11
      Patient("", "Okafor");  // 12, no final newline
  ImportSummary s = Import(text, {.batch_size = 3});
  EXPECT_EQ(s.read, 10);
  EXPECT_EQ(s.created, 3);  // lines 1, 7, 12
  EXPECT_EQ(s.rejected, 7);
  std::vector<int64_t> lines;
  for (const LineRejection& r : s.first_rejections) lines.push_back(r.line);
  EXPECT_EQ(lines, (std::vector<int64_t>{3, 4, 5, 6, 8, 10, 11}));
  EXPECT_NE(s.first_rejections[0].reason.find("not JSON"), std::string::npos);
  EXPECT_NE(s.first_rejections[1].reason.find("Medication"), std::string::npos);
  EXPECT_NE(s.first_rejections[2].reason.find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(s.first_rejections[3].reason.find("Patient.birthDate"),
            std::string::npos)
      << s.first_rejections[3].reason;
  EXPECT_NE(s.first_rejections[6].reason.find("Patient.id"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(storage::Record p,
                       store_->Get(ResourceType::kPatient, kPatientId));
  EXPECT_NE(p.content.find("Diallo"), std::string::npos);
}

// Each batch is written on another thread while the next is parsed; a batch
// whose transaction fails stops the import with exactly the lines before it
// stored, though the next batch was already prepared.
TEST_F(ImportTest, FailedTransactionStopsTheImportWithEarlierLinesStored) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("a.db").c_str(), &db), SQLITE_OK);
  // The clock update that ends every write transaction fails once more than
  // three records exist.
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER full BEFORE UPDATE ON meta "
                         "WHEN (SELECT count(*) FROM records) > 3 "
                         "BEGIN SELECT RAISE(ABORT, 'disk full'); END",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  store_ = NewStore(dir_.File("a.db"), "clinic-a");
  ASSERT_NE(store_, nullptr);
  std::string text;
  for (int i = 0; i < 9; ++i)
    text += Patient("", "P" + std::to_string(i)) + "\n";
  std::istringstream in(text);
  Result<ImportSummary> r = ImportNdjson(store_.get(), in, {.batch_size = 3});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(
      r.status().message().find("lines 4-6 not stored (earlier lines are)"),
      std::string::npos)
      << r.status().ToString();
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, store_->Stats());
  EXPECT_EQ(stats.live_records[ResourceType::kPatient], 3);
}

TEST_F(ImportTest, RerunLeavesRecordsWithIdsUnchanged) {
  const std::string text =
      Patient(kPatientId, "Diallo") + "\n" + Encounter(kPatientId) + "\n";
  ImportSummary first = Import(text);
  EXPECT_EQ(first.created, 2);
  ImportSummary second = Import(text);
  EXPECT_EQ(second.unchanged, 1);  // the Patient, by id
  EXPECT_EQ(second.created, 1);    // the Encounter has no id: a new record
  ImportSummary edit = Import(Patient(kPatientId, "Diallo-Sow") + "\n");
  EXPECT_EQ(edit.updated, 1);
  EXPECT_EQ(edit.rejected, 0);
}

TEST_F(ImportTest, OverlongLineIsRejectedAndReadingGoesOn) {
  std::string big = R"({"resourceType":"Patient","name":[{"family":")" +
                    std::string(5000, 'x') + R"("}]})";
  ImportSummary s = Import(big + "\n" + Patient(kPatientId, "A") + "\n" + big,
                           {.max_line_bytes = 1024});
  EXPECT_EQ(s.read, 3);
  EXPECT_EQ(s.created, 1);
  ASSERT_EQ(s.rejected, 2);
  EXPECT_EQ(s.first_rejections[0].line, 1);
  EXPECT_EQ(s.first_rejections[1].line, 3);
  EXPECT_NE(s.first_rejections[0].reason.find("longer than 1024"),
            std::string::npos);
}

TEST_F(ImportTest, DeepNestingIsRejectedBeforeTheStore) {
  std::string deep = R"({"resourceType":"Patient","x":)" +
                     std::string(100000, '[') + std::string(100000, ']') + "}";
  ImportSummary s = Import(deep + "\n");
  ASSERT_EQ(s.rejected, 1);
  EXPECT_NE(s.first_rejections[0].reason.find("nested deeper"),
            std::string::npos);
}

TEST_F(ImportTest, DryRunValidatesWithoutAStore) {
  std::istringstream in(Patient(kPatientId, "A") + "\n{}\n");
  ASSERT_OK_AND_ASSIGN(ImportSummary s,
                       ImportNdjson(nullptr, in, {.dry_run = true}));
  EXPECT_EQ(s.valid, 1);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_EQ(s.created, 0);
}

TEST_F(ImportTest, ListsAtMostTheFirstRejectionsButCountsAll) {
  std::string text;
  for (int i = 0; i < 120; ++i) text += "nope\n";
  int reported = 0;
  std::istringstream in(text);
  ASSERT_OK_AND_ASSIGN(ImportSummary s,
                       ImportNdjson(store_.get(), in, {}, {},
                                    [&](const LineRejection&) { ++reported; }));
  EXPECT_EQ(s.rejected, 120);
  EXPECT_EQ(s.first_rejections.size(), 50u);
  EXPECT_EQ(reported, 120);
}

TEST(ExportImportTest, RoundTripIntoASecondStoreKeepsIdsAndContent) {
  TempDir dir;
  auto source = NewStore(dir.File("a.db"), "clinic-a");
  auto target = NewStore(dir.File("b.db"), "clinic-b");
  ASSERT_TRUE(source && target);
  std::stringstream seed;
  DemoGenerator g({.patients = 60, .seed = 21});
  while (auto r = g.Next()) seed << r->json << "\n";
  ASSERT_OK_AND_ASSIGN(ImportSummary seeded,
                       ImportNdjson(source.get(), seed, {}));
  ASSERT_EQ(seeded.rejected, 0);
  // A deleted record is not exported.
  storage::SearchQuery q;
  q.type = ResourceType::kAppointment;
  q.count = 1;
  ASSERT_OK_AND_ASSIGN(storage::SearchPage page, source->Search(q));
  ASSERT_EQ(page.records.size(), 1u);
  const std::string deleted_id = page.records[0].id;
  ASSERT_OK(source
                ->Write({.kind = storage::WriteKind::kDelete,
                         .type = ResourceType::kAppointment,
                         .id = deleted_id})
                .status);

  std::string exported;
  ASSERT_OK_AND_ASSIGN(ExportSummary ex,
                       ExportNdjson(*source, storage::kAllResourceTypes,
                                    [&](std::string_view d) {
                                      exported.append(d);
                                      return Status::Ok();
                                    }));
  EXPECT_EQ(ex.records, seeded.created - 1);

  std::istringstream in(exported);
  ASSERT_OK_AND_ASSIGN(ImportSummary imported,
                       ImportNdjson(target.get(), in, {}));
  EXPECT_EQ(imported.rejected, 0)
      << (imported.first_rejections.empty()
              ? ""
              : imported.first_rejections[0].reason);
  EXPECT_EQ(imported.created, ex.records);

  // Every exported record is in the target with the same content.
  std::istringstream lines(exported);
  std::string line;
  int64_t compared = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    auto type =
        storage::ParseResourceType(j["resourceType"].get<std::string>());
    ASSERT_TRUE(type);
    const std::string id = j["id"];
    ASSERT_OK_AND_ASSIGN(storage::Record a, source->Get(*type, id));
    ASSERT_OK_AND_ASSIGN(storage::Record b, target->Get(*type, id));
    EXPECT_EQ(a.content, b.content) << id;
    EXPECT_EQ(b.facility, "clinic-b");
    ++compared;
  }
  EXPECT_EQ(compared, ex.records);
  EXPECT_TRUE(target->Get(ResourceType::kAppointment, deleted_id)
                  .status()
                  .IsNotFound());

  // Importing the same export again changes nothing.
  std::istringstream again(exported);
  ASSERT_OK_AND_ASSIGN(ImportSummary rerun,
                       ImportNdjson(target.get(), again, {}));
  EXPECT_EQ(rerun.unchanged, ex.records);
}

TEST(ExportImportTest, ExportsReferencedTypesFirst) {
  TempDir dir;
  auto store = NewStore(dir.File("a.db"), "clinic-a");
  std::stringstream seed;
  DemoGenerator g({.patients = 5, .seed = 2});
  while (auto r = g.Next()) seed << r->json << "\n";
  ASSERT_OK(ImportNdjson(store.get(), seed, {}));
  std::vector<std::string> order;
  ASSERT_OK(
      ExportNdjson(*store, storage::kAllResourceTypes, [&](std::string_view d) {
        std::istringstream in{std::string(d)};
        std::string line;
        while (std::getline(in, line)) {
          std::string t = nlohmann::json::parse(line)["resourceType"];
          if (order.empty() || order.back() != t) order.push_back(t);
        }
        return Status::Ok();
      }));
  EXPECT_EQ(order, (std::vector<std::string>{"Patient", "Encounter",
                                             "Observation", "Appointment"}));
}

}  // namespace
}  // namespace posta::node::cli
