#include "posta/node/demo_data.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "test_util.h"

namespace posta::node {
namespace {

using ::posta::testing::TempDir;

std::vector<DemoResource> GenerateAll(const DemoOptions& options) {
  DemoGenerator g(options);
  std::vector<DemoResource> out;
  while (auto r = g.Next()) out.push_back(std::move(*r));
  return out;
}

TEST(DemoDataTest, SameSeedSameRecords) {
  DemoOptions o{.patients = 40, .seed = 7};
  auto a = GenerateAll(o);
  auto b = GenerateAll(o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].json, b[i].json);
  }
  o.seed = 8;
  auto c = GenerateAll(o);
  EXPECT_NE(a.front().json, c.front().json);
}

TEST(DemoDataTest, ShapeAndDependencyOrder) {
  auto all = GenerateAll({.patients = 200, .seed = 3});
  std::set<std::string> seen;
  std::map<storage::ResourceType, int> counts;
  std::set<std::string> codes;
  bool accented = false;
  for (const DemoResource& r : all) {
    ASSERT_TRUE(base::IsUuid(r.id));
    auto j = nlohmann::json::parse(r.json);
    EXPECT_EQ(j["id"], r.id);
    EXPECT_EQ(j["resourceType"],
              std::string(storage::ResourceTypeName(r.type)));
    ++counts[r.type];
    // Every reference points back to something already generated.
    auto check_ref = [&](const nlohmann::json& ref) {
      std::string text = ref["reference"];
      EXPECT_TRUE(seen.count(text.substr(text.find('/') + 1))) << text;
    };
    if (j.contains("subject")) check_ref(j["subject"]);
    if (j.contains("encounter")) check_ref(j["encounter"]);
    if (j.contains("participant")) check_ref(j["participant"][0]["actor"]);
    if (r.type == storage::ResourceType::kPatient) {
      EXPECT_EQ(j["identifier"][0]["system"], "urn:posta:mrn");
      std::string text = j["name"][0]["text"];
      for (unsigned char ch : text) accented |= ch >= 0x80;
    }
    if (r.type == storage::ResourceType::kObservation) {
      codes.insert(j["code"]["coding"][0]["code"].get<std::string>());
    }
    seen.insert(r.id);
  }
  EXPECT_EQ(counts[storage::ResourceType::kPatient], 200);
  EXPECT_GT(counts[storage::ResourceType::kEncounter], 200);
  EXPECT_GT(counts[storage::ResourceType::kObservation],
            counts[storage::ResourceType::kEncounter] * 2);
  EXPECT_GT(counts[storage::ResourceType::kAppointment], 100);
  EXPECT_TRUE(accented);
  EXPECT_EQ(codes,
            (std::set<std::string>{"8310-5", "29463-7", "85354-9", "8867-4"}));
  auto first = nlohmann::json::parse(all.front().json);
  EXPECT_EQ(first["identifier"][0]["value"], "MRN-000001");
}

TEST(DemoDataTest, EveryRecordPassesValidation) {
  for (const DemoResource& r : GenerateAll({.patients = 300, .seed = 11})) {
    EXPECT_OK(storage::ValidateResource(r.type, r.json)) << r.json;
  }
}

TEST(DemoDataTest, ImportsIntoARealStoreWithZeroRejections) {
  TempDir dir;
  storage::StoreOptions so;
  so.path = dir.File("posta.db");
  so.create_if_missing = true;
  so.facility = "demo";
  ASSERT_OK_AND_ASSIGN(auto store, storage::OpenRecordStore(so));

  std::stringstream ndjson;
  size_t count = 0;
  DemoGenerator g({.patients = 150, .seed = 5});
  while (auto r = g.Next()) {
    ndjson << r->json << "\n";
    ++count;
  }
  ASSERT_OK_AND_ASSIGN(
      cli::ImportSummary s,
      cli::ImportNdjson(store.get(), ndjson, {.batch_size = 97}));
  EXPECT_EQ(s.rejected, 0) << (s.first_rejections.empty()
                                   ? ""
                                   : s.first_rejections[0].reason);
  EXPECT_EQ(s.created, static_cast<int64_t>(count));
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, store->Stats());
  EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], 150);
}

TEST(DemoDataTest, ParsesDates) {
  ASSERT_OK_AND_ASSIGN(int64_t ms, ParseDemoDate("2025-06-01"));
  EXPECT_EQ(ms, kDefaultDemoAsOfMillis);
  for (const char* bad : {"2025-6-1", "2025-02-30", "1969-12-31", "20250601",
                          "2025-06-01x", ""}) {
    EXPECT_FALSE(ParseDemoDate(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace posta::node
