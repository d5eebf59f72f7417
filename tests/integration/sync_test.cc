// A hub and three clinics as real `posta` processes on loopback with real
// SQLite files: offline work on every clinic, then `posta sync` on each;
// the replicas converge scope by scope, concurrent edits surface as
// conflicts on both sides, no clinic ever holds another facility's
// patients unless one is transferred to it, and a link that loses the
// hub's answer loses nothing. The clinics' audit trails reach the hub, and
// one edited at a clinic is flagged there.
#include <signal.h>
#include <sqlite3.h>

#include <cstdio>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster.h"
#include "fault_proxy.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::TempDir;

std::string Patient(const std::string& id, const std::string& family,
                    const std::string& gender) {
  return json{{"resourceType", "Patient"},
              {"id", id},
              {"name", {{{"family", family}, {"given", {"Ana"}}}}},
              {"gender", gender},
              {"birthDate", "1990-01-01"}}
      .dump();
}

class SyncIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(cluster_.InitHub("region"));
    ASSERT_OK(cluster_.StartHub());
    hub_port_ = cluster_.hub_port();
  }

  void TearDown() override {
    Status stopped = cluster_.StopHub(std::chrono::seconds(20));
    EXPECT_TRUE(stopped.ok()) << stopped.ToString();
  }

  std::string Config(const std::string& clinic) {
    return cluster_.Config(clinic);
  }

  // A clinic of facility `clinic`, syncing through `hub_port` (the hub's,
  // or a proxy's) and enrolled there.
  void InitClinic(const std::string& clinic, int hub_port) {
    ASSERT_OK(cluster_.AddClinic(
        clinic, clinic, "http://127.0.0.1:" + std::to_string(hub_port)));
  }

  void Import(const std::string& clinic, const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    auto r = testing::ImportNdjson(Config(clinic),
                                   dir_.File(clinic + "-import.ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  testing::RunResult Sync(const std::string& clinic,
                          std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {PostaBinary(), "sync", "--config",
                                     Config(clinic)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::Run(argv, std::chrono::seconds(120));
  }

  std::unique_ptr<storage::RecordStore> OpenReadOnly(const std::string& dir) {
    auto store = cluster_.OpenReadOnly(dir);
    EXPECT_TRUE(testing::IsOk(store));
    return std::move(store).value();
  }

  std::string Digest(const std::string& dir, const std::string& facility) {
    auto digest = OpenReadOnly(dir)->ReplicaDigest(facility);
    EXPECT_TRUE(testing::IsOk(digest));
    return digest.ok() ? *digest : "";
  }

  // Starts `posta serve` for an initialized clinic; its port in *port.
  ChildProcess ServeClinic(const std::string& clinic, int* port) {
    const std::string port_file = dir_.File(clinic + ".port");
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", Config(clinic), "--port-file",
         port_file},
        dir_.File(clinic + ".log"));
    EXPECT_TRUE(testing::IsOk(child));
    auto got = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    EXPECT_TRUE(testing::IsOk(got))
        << testing::Run({"/bin/cat", dir_.File(clinic + ".log")}).output;
    *port = got.ok() ? *got : 0;
    return child.ok() ? std::move(child).value() : ChildProcess();
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
  int hub_port_ = 0;
};

TEST_F(SyncIntegrationTest, AuditTrailReachesTheHubAndAnEditIsFlagged) {
  InitClinic("clinic-a", hub_port_);
  int port = 0;
  ChildProcess clinic = ServeClinic("clinic-a", &port);
  ASSERT_NE(port, 0);
  const std::string id = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b99";
  auto put = HttpCall(port, "PUT", std::string("/fhir/Patient/") + id,
                      Patient(id, "Diaz", "female"),
                      {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(put);
  ASSERT_EQ(put->status, 201) << put->body;
  auto read = HttpCall(port, "GET", std::string("/fhir/Patient/") + id);
  ASSERT_OK(read);
  ASSERT_EQ(read->status, 200);
  // The trail needs a login even where the API is open: a denial.
  auto refused = HttpCall(port, "GET", "/audit");
  ASSERT_OK(refused);
  ASSERT_EQ(refused->status, 401);
  // A clean stop commits the reads' entries.
  clinic.Signal(SIGTERM);
  ASSERT_OK(clinic.Wait(std::chrono::seconds(20)));

  auto synced = Sync("clinic-a");
  ASSERT_EQ(synced.exit_code, 0) << synced.output;
  std::string node_id = OpenReadOnly("clinic-a")->node_id();
  auto mine = OpenReadOnly("clinic-a")->AuditChainSince(node_id, 0, 1000);
  ASSERT_OK(mine);
  auto held = OpenReadOnly("hub")->AuditChainSince(node_id, 0, 1000);
  ASSERT_OK(held);
  ASSERT_EQ(held->size(), mine->size());
  std::set<std::string> actions;
  for (size_t i = 0; i < held->size(); ++i) {
    EXPECT_EQ((*held)[i].hash, (*mine)[i].hash);
    actions.insert((*held)[i].action + " " + (*held)[i].resource);
  }
  EXPECT_TRUE(actions.count("create Patient/" + id)) << synced.output;
  EXPECT_TRUE(actions.count("read Patient/" + id));
  EXPECT_TRUE(actions.count("denied /audit"));

  // An entry edited at the clinic before it is sent: the hub flags the
  // node, and says so in /health and /metrics.
  Import("clinic-a", {Patient("0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b98", "Ruiz",
                              "male")});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((cluster_.Dir("clinic-a") + "/posta.db").c_str(), &db),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE audit_log SET actor = 'nobody' WHERE seq = "
                         "(SELECT max(seq) FROM audit_log)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto again = Sync("clinic-a");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto health = HttpCall(hub_port_, "GET", "/health");
  ASSERT_OK(health);
  json broken = json::parse(health->body)["audit"]["broken_chains"];
  ASSERT_EQ(broken.size(), 1u) << health->body;
  EXPECT_EQ(broken[0]["node"], node_id);
  auto metrics = HttpCall(hub_port_, "GET", "/metrics");
  ASSERT_OK(metrics);
  EXPECT_NE(metrics->body.find("posta_audit_broken_chains 1"),
            std::string::npos);
  EXPECT_NE(cluster_.HubLog().find("audit chain of node " + node_id),
            std::string::npos)
      << cluster_.HubLog();
  // The hub's own chain holds, with the break recorded in it; verify names
  // the clinic's.
  auto verify = testing::Run(
      {PostaBinary(), "audit", "verify", "--config", cluster_.HubConfig()});
  EXPECT_EQ(verify.exit_code, 1) << verify.output;
  EXPECT_NE(verify.output.find("node " + node_id + ": broken at seq"),
            std::string::npos)
      << verify.output;
}

constexpr char kA1[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b01";
constexpr char kA2[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b02";
constexpr char kB1[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b03";
constexpr char kC1[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b04";

TEST_F(SyncIntegrationTest, ThreeClinicsConvergeWithConflictsAndScope) {
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    InitClinic(clinic, hub_port_);
  }
  // Offline work on all three.
  Import("clinic-a", {Patient(kA1, "Alvarez", "female"),
                      Patient(kA2, "Arce", "male")});
  Import("clinic-b", {Patient(kB1, "Benitez", "female")});
  Import("clinic-c", {Patient(kC1, "Cruz", "male")});
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    auto r = Sync(clinic);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("caught up"), std::string::npos) << r.output;
  }

  // A coordinator corrects a patient at the hub while clinic-a, offline,
  // changes the same field: a conflict.
  auto put = HttpCall(hub_port_, "PUT", std::string("/fhir/Patient/") + kA1,
                      Patient(kA1, "Alvarez-Hub", "female"),
                      {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(put);
  ASSERT_EQ(put->status, 200) << put->body;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Import("clinic-a", {Patient(kA1, "Alvarez-Clinic", "female")});
  auto r = Sync("clinic-a");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Conflicts on both sides, the same one.
  auto hub_conflicts = HttpCall(hub_port_, "GET", "/conflicts");
  ASSERT_OK(hub_conflicts);
  json listed = json::parse(hub_conflicts->body);
  ASSERT_EQ(listed["conflicts"].size(), 1u) << hub_conflicts->body;
  auto clinic_conflicts = OpenReadOnly("clinic-a")->ListConflicts(true, 10);
  ASSERT_OK(clinic_conflicts);
  ASSERT_EQ(clinic_conflicts->size(), 1u);
  EXPECT_EQ((*clinic_conflicts)[0].id, listed["conflicts"][0]["id"]);

  // Every scope converged; nobody holds another facility's patient.
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    EXPECT_EQ(Digest(clinic, clinic), Digest("hub", clinic)) << clinic;
  }
  auto b = OpenReadOnly("clinic-b");
  for (const char* foreign : {kA1, kA2, kC1}) {
    EXPECT_EQ(b->Get(storage::ResourceType::kPatient, foreign).status().code(),
              Status::Code::kNotFound);
  }
  ASSERT_OK_AND_ASSIGN(storage::StoreStats hub_stats,
                       OpenReadOnly("hub")->Stats());
  EXPECT_EQ(hub_stats.live_records[storage::ResourceType::kPatient], 4);
}

TEST_F(SyncIntegrationTest, AHubLocationReachesEveryClinicReadOnly) {
  for (const char* clinic : {"clinic-a", "clinic-b"}) {
    InitClinic(clinic, hub_port_);
  }
  // The demo's facility list, written at the hub: shared.
  auto seeded = testing::Run({PostaBinary(), "demo", "locations", "--config",
                              dir_.File("hub/posta.toml"), "--facility",
                              "clinic-a", "--facility", "clinic-b"});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.output;
  EXPECT_NE(seeded.output.find("2 created"), std::string::npos)
      << seeded.output;
  auto created = HttpCall(
      hub_port_, "POST", "/fhir/Location",
      json{{"resourceType", "Location"}, {"name", "Regional hospital"}}.dump(),
      {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string id = json::parse(created->body)["id"];
  Import("clinic-a", {Patient(kA1, "Alvarez", "female")});
  Import("clinic-b", {Patient(kB1, "Benitez", "female")});
  for (const char* clinic : {"clinic-a", "clinic-b"}) {
    auto r = Sync(clinic);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  for (const char* clinic : {"clinic-a", "clinic-b"}) {
    auto store = OpenReadOnly(clinic);
    ASSERT_OK_AND_ASSIGN(storage::Record got,
                         store->Get(storage::ResourceType::kLocation, id));
    EXPECT_EQ(got.facility, storage::kSharedFacility) << clinic;
    ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, store->Stats());
    EXPECT_EQ(stats.live_records[storage::ResourceType::kLocation], 3)
        << clinic;
    EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], 1)
        << clinic;  // its own only
    EXPECT_EQ(Digest(clinic, "*"), Digest("hub", "*")) << clinic;
    EXPECT_EQ(Digest(clinic, clinic), Digest("hub", clinic)) << clinic;
  }
  // A clinic's import cannot change the shared Location.
  auto r = testing::ImportNdjson(
      Config("clinic-a"), dir_.File("rename.ndjson"),
      json{{"resourceType", "Location"}, {"id", id}, {"name", "Renamed"}}
              .dump() +
          "\n");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("edited at the hub"), std::string::npos) << r.output;
}

json Encounter(const std::string& id, const std::string& patient) {
  return json{{"resourceType", "Encounter"},
              {"id", id},
              {"status", "finished"},
              {"class", {{"code", "AMB"}}},
              {"subject", {{"reference", "Patient/" + patient}}},
              {"period", {{"start", "2026-11-01T10:00:00Z"}}}};
}

// A nurse at clinic-a moves a patient to clinic-b over the API; after the
// syncs clinic-b holds the patient and its encounters with their history,
// clinic-c holds nothing of them, and clinic-a refuses to edit them.
TEST_F(SyncIntegrationTest, APatientTransferredAtAClinicMovesWithItsHistory) {
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    InitClinic(clinic, hub_port_);
  }
  constexpr char kVisit1[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b11";
  constexpr char kVisit2[] = "0b6f3a10-6f0e-4b9a-9c55-1f2d3e4a5b12";
  Import("clinic-a", {Patient(kA1, "Alvarez", "female"),
                      Patient(kA2, "Arce", "male"),
                      Encounter(kVisit1, kA1).dump(),
                      Encounter(kVisit2, kA1).dump()});
  Import("clinic-a", {Patient(kA1, "Alvarez", "male")});  // a second version
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    auto r = Sync(clinic);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  int port = 0;
  ChildProcess a = ServeClinic("clinic-a", &port);
  ASSERT_NE(port, 0);
  const std::string path = std::string("/fhir/Patient/") + kA1;
  const json params = {
      {"resourceType", "Parameters"},
      {"parameter", {{{"name", "facility"}, {"valueString", "clinic-b"}}}}};
  auto moved = HttpCall(port, "POST", path + "/$transfer", params.dump(),
                        {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(moved);
  ASSERT_EQ(moved->status, 200) << moved->body;
  json answer = json::parse(moved->body);
  EXPECT_EQ(answer["resourceType"], "Parameters");
  EXPECT_NE(moved->body.find(R"({"name":"Encounter","valueInteger":2})"),
            std::string::npos)
      << moved->body;
  // Moving it again from here is refused: clinic-a no longer owns it.
  auto again = HttpCall(port, "POST", path + "/$transfer", params.dump(),
                        {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(again);
  EXPECT_EQ(again->status, 403) << again->body;
  // And so is an edit, naming the new facility.
  auto put = HttpCall(port, "PUT", path, Patient(kA1, "Edited", "female"),
                      {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(put);
  EXPECT_EQ(put->status, 403) << put->body;
  EXPECT_NE(put->body.find("was transferred to facility clinic-b; it is "
                           "edited there"),
            std::string::npos)
      << put->body;
  a.Signal(SIGTERM);
  auto stopped = a.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(stopped.ok() && stopped->exit_code == 0)
      << testing::Run({"/bin/cat", dir_.File("clinic-a.log")}).output;

  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c", "clinic-a"}) {
    auto r = Sync(clinic);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto b = OpenReadOnly("clinic-b");
  ASSERT_OK_AND_ASSIGN(storage::Record at_b,
                       b->Get(storage::ResourceType::kPatient, kA1));
  EXPECT_EQ(at_b.facility, "clinic-b");
  ASSERT_OK_AND_ASSIGN(auto history,
                       b->History(storage::ResourceType::kPatient, kA1, 10));
  ASSERT_EQ(history.size(), 3u);  // two made at clinic-a, then the move
  EXPECT_EQ(history[1].facility, "clinic-a");
  EXPECT_EQ(history[2].facility, "clinic-a");
  for (const char* visit : {kVisit1, kVisit2}) {
    ASSERT_OK_AND_ASSIGN(storage::Record e,
                         b->Get(storage::ResourceType::kEncounter, visit));
    EXPECT_EQ(e.facility, "clinic-b");
    ASSERT_OK_AND_ASSIGN(
        auto versions, b->History(storage::ResourceType::kEncounter, visit, 10));
    EXPECT_EQ(versions.size(), 2u);
  }
  EXPECT_EQ(b->Get(storage::ResourceType::kPatient, kA2).status().code(),
            Status::Code::kNotFound);
  auto c = OpenReadOnly("clinic-c");
  for (const char* id : {kA1, kA2}) {
    EXPECT_EQ(c->Get(storage::ResourceType::kPatient, id).status().code(),
              Status::Code::kNotFound);
  }
  for (const char* visit : {kVisit1, kVisit2}) {
    EXPECT_EQ(c->Get(storage::ResourceType::kEncounter, visit).status().code(),
              Status::Code::kNotFound);
  }
  ASSERT_OK_AND_ASSIGN(storage::Record at_a,
                       OpenReadOnly("clinic-a")->Get(
                           storage::ResourceType::kPatient, kA1));
  EXPECT_EQ(at_a.facility, "clinic-b");
  for (const char* clinic : {"clinic-a", "clinic-b", "clinic-c"}) {
    EXPECT_EQ(Digest(clinic, clinic), Digest("hub", clinic)) << clinic;
  }
}

TEST_F(SyncIntegrationTest, ALostAnswerIsRetriedWithoutLossOrDuplicate) {
  ASSERT_OK_AND_ASSIGN(auto proxy, testing::FaultProxy::Start(hub_port_));
  InitClinic("clinic-a", proxy->port());
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "1b6f3a10-6f0e-4b9a-9c55-1f2d3e4a%04d", i);
    lines.push_back(Patient(id, "Family" + std::to_string(i), "female"));
  }
  Import("clinic-a", lines);
  // The hub commits the push, but its answer never arrives.
  testing::Faults lose_answer;
  lose_answer.drop_response = true;
  proxy->SetFaultsForNextConnections(2, lose_answer);
  auto r = Sync("clinic-a", {"--attempts", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(Digest("clinic-a", "clinic-a"), Digest("hub", "clinic-a"));
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats,
                       OpenReadOnly("hub")->Stats());
  EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], 30);
  EXPECT_EQ(stats.last_seq, 30);  // each record stored once
}

TEST_F(SyncIntegrationTest, AnUnreachableHubIsReportedNotHidden) {
  // Nothing listens on port 1 (so the clinic cannot enroll either).
  ASSERT_OK(cluster_.InitClinic("clinic-a", "clinic-a", "http://127.0.0.1:1"));
  Import("clinic-a", {Patient(kA1, "Alvarez", "female")});
  auto r = Sync("clinic-a", {"--attempts", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unreachable"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace posta
