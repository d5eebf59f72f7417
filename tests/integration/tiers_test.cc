// Tiers with real `posta` processes (docs/sync-protocol.md, "Tiers"): two
// clinics -> a district hub -> a national hub. The district hub is set up
// as people would: registered at the national hub with its region, enrolled
// there with a hub's code, `[sync] upstream` naming the national hub. Clinic
// A syncs by link, clinic B only by bundle (after enrolling once). Edits at
// every level; every scope converges, the conflict is one conflict on every
// tier, and no change-log entry is there twice.
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>

#include "cluster.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::PostaBinary;
using testing::RunResult;
using testing::TempDir;

constexpr char kPa[] = "1a6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b01";
constexpr char kPb[] = "1a6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b02";
constexpr char kPd[] = "1a6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b03";
constexpr char kPlace[] = "1a6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b04";

std::string Patient(const std::string& id, const std::string& family,
                    const std::string& gender) {
  return json{{"resourceType", "Patient"},
              {"id", id},
              {"name", {{{"family", family}, {"given", {"Ana"}}}}},
              {"gender", gender},
              {"birthDate", "1990-01-01"}}
      .dump();
}

class TiersIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The national hub knows the district and its clinics by region.
    ASSERT_OK(national_.InitHub("national"));
    ASSERT_OK(national_.StartHub());
    for (const char* f : {"district-n", "clinic-a", "clinic-b"}) {
      ASSERT_OK(national_.RegisterFacility(f, "north"));
    }
    // The district hub: a hub whose upstream is the national hub (written
    // by its enrollment below), its own schedule slowed so that the test's
    // `posta sync` runs alone.
    ASSERT_OK(district_.InitHub("district-n"));
    ASSERT_OK(
        district_.EditConfig("hub", "interval_s = 300", "interval_s = 604800"));
    ASSERT_OK(district_.EditConfig("hub", "after_write_s = 10",
                                   "after_write_s = 3600"));
    // A region no registered facility has is refused, saying what to do.
    RunResult unknown =
        Posta({"hub", "enroll-code", "--config", national_.HubConfig(),
               "--facility", "district-n", "--region", "nowhere"});
    EXPECT_NE(unknown.exit_code, 0) << unknown.output;
    EXPECT_NE(unknown.output.find("posta hub facility add --region nowhere"),
              std::string::npos)
        << unknown.output;
    RunResult code =
        Posta({"hub", "enroll-code", "--config", national_.HubConfig(),
               "--facility", "district-n", "--region", "north"});
    ASSERT_EQ(code.exit_code, 0) << code.output;
    const size_t at = code.output.find("north): ");
    ASSERT_NE(at, std::string::npos) << code.output;
    RunResult enrolled =
        Posta({"enroll", "--config", district_.HubConfig(), "--hub",
               national_.HubUrl(), "--code", code.output.substr(at + 8, 24)});
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.output;
    // A hub's config names the hub above it with `upstream`.
    const std::string config = testing::ReadWholeFile(district_.HubConfig());
    EXPECT_NE(config.find("\nupstream = \"" + national_.HubUrl() + "\"\n"),
              std::string::npos)
        << config;
    EXPECT_EQ(config.find("\nhub_url ="), std::string::npos) << config;
    // So does `posta status --json`, beside the older hub_url.
    RunResult status =
        Posta({"status", "--config", district_.HubConfig(), "--json"});
    ASSERT_EQ(status.exit_code, 0) << status.output;
    for (const char* key : {"upstream", "hub_url"}) {
      EXPECT_NE(status.output.find("\"" + std::string(key) + "\":\"" +
                                   national_.HubUrl() + "\""),
                std::string::npos)
          << key << " in " << status.output;
    }
    ASSERT_OK(district_.StartHub());
    ASSERT_OK(district_.RegisterFacility("clinic-a", "north"));
    ASSERT_OK(district_.RegisterFacility("clinic-b", "north"));
    ASSERT_OK(district_.AddClinic("a", "clinic-a"));
    ASSERT_OK(district_.AddClinic("b", "clinic-b"));  // enrolls once by link
  }

  void TearDown() override {
    EXPECT_OK(district_.StopHub(std::chrono::seconds(20)));
    EXPECT_OK(national_.StopHub(std::chrono::seconds(20)));
  }

  RunResult Posta(std::vector<std::string> args) {
    args.insert(args.begin(), PostaBinary());
    return testing::Run(args, std::chrono::seconds(120));
  }

  void SyncClinicA() {
    RunResult r = Posta({"sync", "--config", district_.Config("a")});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void SyncDistrict() {
    RunResult r = Posta({"sync", "--config", district_.HubConfig()});
    ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << district_.HubLog();
  }
  // Clinic B's round trip by stick: its bundle imported at the district,
  // the district's answer imported at B.
  void BundleClinicB(int round) {
    const std::string up = dir_.File("b-up-" + std::to_string(round));
    const std::string down = dir_.File("b-down-" + std::to_string(round));
    RunResult r = Posta(
        {"bundle", "export", "--config", district_.Config("b"), "--to", up});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Posta({"bundle", "import", "--config", district_.HubConfig(), up});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Posta({"bundle", "export", "--config", district_.HubConfig(), "--for",
               "clinic-b", "--to", down});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Posta({"bundle", "import", "--config", district_.Config("b"), down});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  void Import(const std::string& clinic, const std::string& line) {
    RunResult r = testing::ImportNdjson(district_.Config(clinic),
                                        dir_.File(clinic + "-import.ndjson"),
                                        line + "\n");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  void Put(int port, const std::string& target, const std::string& body) {
    auto put = testing::HttpCall(port, "PUT", target, body,
                                 {{"Content-Type", "application/fhir+json"}});
    ASSERT_OK(put);
    ASSERT_TRUE(put->status == 200 || put->status == 201) << put->body;
  }

  std::unique_ptr<storage::RecordStore> Open(testing::Cluster& cluster,
                                             const std::string& name) {
    auto store = cluster.OpenReadOnly(name);
    EXPECT_TRUE(testing::IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string Digest(testing::Cluster& cluster, const std::string& name,
                     const std::string& facility) {
    auto store = Open(cluster, name);
    if (!store) return "";
    auto digest = store->ReplicaDigest(facility);
    EXPECT_TRUE(testing::IsOk(digest));
    return digest.ok() ? *digest : "";
  }

  // Every version in the node's change log once (record and version stamp).
  void ExpectNoDuplicates(testing::Cluster& cluster, const std::string& name) {
    auto store = Open(cluster, name);
    ASSERT_NE(store, nullptr);
    storage::ChangeFilter all;
    all.max_changes = 100000;
    all.max_bytes = size_t{64} << 20;
    ASSERT_OK_AND_ASSIGN(storage::ChangeBatch batch, store->ReadChanges(all));
    std::map<std::string, int> seen;
    for (const storage::ChangeEntry& c : batch.changes) {
      ++seen[c.record.id + "@" + c.record.version.ToString()];
    }
    for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << name << " " << key;
  }

  std::vector<storage::Conflict> Conflicts(testing::Cluster& cluster,
                                           const std::string& name) {
    auto store = Open(cluster, name);
    if (!store) return {};
    auto conflicts = store->ListConflicts(/*open_only=*/false, 100);
    EXPECT_TRUE(testing::IsOk(conflicts));
    return conflicts.ok() ? *conflicts : std::vector<storage::Conflict>{};
  }

  TempDir dir_;
  testing::Cluster national_{dir_.File("national")};
  testing::Cluster district_{dir_.File("district")};
};

TEST_F(TiersIntegrationTest, EditsAtEveryLevelConvergeAndConflictsShowOnce) {
  // Records made at every level.
  Import("a", Patient(kPa, "Mensah", "male"));
  Import("b", Patient(kPb, "Diallo", "female"));
  Put(district_.hub_port(), std::string("/fhir/Patient/") + kPd,
      Patient(kPd, "Kone", "male"));
  Put(national_.hub_port(), std::string("/fhir/Location/") + kPlace,
      json{{"resourceType", "Location"}, {"id", kPlace}, {"name", "Central"}}
          .dump());
  SyncClinicA();
  BundleClinicB(1);
  SyncDistrict();
  {
    auto national = Open(national_, "hub");
    ASSERT_NE(national, nullptr);
    for (const char* id : {kPa, kPb, kPd}) {
      ASSERT_OK(national->Get(storage::ResourceType::kPatient, id).status())
          << id;
    }
  }

  // The national hub and clinic A change A's patient's name at once; the
  // national hub's correction of B's patient goes down by stick.
  Put(national_.hub_port(), std::string("/fhir/Patient/") + kPa,
      Patient(kPa, "Mensah-Owusu", "male"));
  Put(national_.hub_port(), std::string("/fhir/Patient/") + kPb,
      Patient(kPb, "Diallo", "other"));
  Import("a", Patient(kPa, "Mensah Owusu", "male"));
  for (int round = 0; round < 2; ++round) {
    SyncClinicA();
    BundleClinicB(2 + round);
    SyncDistrict();
  }
  SyncClinicA();
  BundleClinicB(4);

  for (const char* facility : {"clinic-a", "clinic-b", "*", "district-n"}) {
    EXPECT_EQ(Digest(district_, "hub", facility),
              Digest(national_, "hub", facility))
        << facility;
  }
  EXPECT_EQ(Digest(district_, "a", "clinic-a"),
            Digest(national_, "hub", "clinic-a"));
  EXPECT_EQ(Digest(district_, "b", "clinic-b"),
            Digest(national_, "hub", "clinic-b"));
  EXPECT_EQ(Digest(district_, "a", "*"), Digest(national_, "hub", "*"));
  EXPECT_EQ(Digest(district_, "b", "*"), Digest(national_, "hub", "*"));
  {
    auto b = Open(district_, "b");
    ASSERT_NE(b, nullptr);
    ASSERT_OK_AND_ASSIGN(storage::Record corrected,
                         b->Get(storage::ResourceType::kPatient, kPb));
    EXPECT_NE(corrected.content.find("other"), std::string::npos);
    ASSERT_OK(b->Get(storage::ResourceType::kLocation, kPlace).status());
    EXPECT_EQ(b->Get(storage::ResourceType::kPatient, kPa).status().code(),
              Status::Code::kNotFound);
    EXPECT_EQ(b->Get(storage::ResourceType::kPatient, kPd).status().code(),
              Status::Code::kNotFound);
  }

  // One conflict, the same on the three tiers that hold A's patient; none
  // at B.
  std::vector<storage::Conflict> at_national = Conflicts(national_, "hub");
  ASSERT_EQ(at_national.size(), 1u);
  EXPECT_EQ(at_national[0].field, "name");
  for (auto [cluster, name] :
       std::vector<std::pair<testing::Cluster*, std::string>>{
           {&district_, "hub"}, {&district_, "a"}}) {
    std::vector<storage::Conflict> here = Conflicts(*cluster, name);
    ASSERT_EQ(here.size(), 1u) << name;
    EXPECT_EQ(here[0].id, at_national[0].id) << name;
  }
  EXPECT_TRUE(Conflicts(district_, "b").empty());

  ExpectNoDuplicates(national_, "hub");
  ExpectNoDuplicates(district_, "hub");
  ExpectNoDuplicates(district_, "a");
  ExpectNoDuplicates(district_, "b");
}

}  // namespace
}  // namespace posta
