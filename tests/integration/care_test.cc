// A node that looks after itself, as real processes: `posta serve` takes a
// verified backup at start and shows it in /health; `posta restore`
// refuses while the node serves; the disk guard refuses writes with 507
// and keeps reads on a clinic, and refuses a clinic's push on a hub until
// space returns; `posta doctor` against a real HTTPS hub says when the
// pin is wrong or the credential revoked.
#include <signal.h>

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::RunResult;
using testing::TempDir;

constexpr char kPatient[] = R"({
  "resourceType": "Patient",
  "name": [{"family": "Mwangi", "given": ["Amina"]}],
  "gender": "female",
  "birthDate": "1990-04-12"
})";

RunResult Posta(std::vector<std::string> args) {
  args.insert(args.begin(), PostaBinary());
  return testing::Run(args, std::chrono::seconds(120));
}

std::string ReadFile(const std::string& path) {
  return testing::Run({"/bin/cat", path}).output;
}

// The scheduled backups in `dir`.
std::vector<std::string> Backups(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("posta-", 0) == 0 && name.size() > 10 &&
        name.substr(name.size() - 4) == "Z.db") {
      out.push_back(e.path().string());
    }
  }
  return out;
}

class CareProcessTest : public ::testing::Test {
 protected:
  std::string InitClinic(const std::string& name) {
    const std::string dir = dir_.File(name);
    RunResult r = Posta({"init", "--dir", dir, "--role", "clinic", "--facility",
                         "clinic-a", "--listen", "127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir;
  }

  void Serve(const std::string& config) {
    const std::string port_file = dir_.File("port");
    ::unlink(port_file.c_str());
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", config, "--port-file", port_file},
        dir_.File("serve.log"));
    ASSERT_OK(child);
    server_ = std::move(child).value();
    auto port = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    ASSERT_OK(port) << ReadFile(dir_.File("serve.log"));
    port_ = *port;
  }

  void Stop() {
    server_.Signal(SIGTERM);
    auto done = server_.Wait(std::chrono::seconds(30));
    ASSERT_OK(done);
    EXPECT_EQ(done->exit_code, 0) << ReadFile(dir_.File("serve.log"));
  }

  json Health() {
    auto r = HttpCall(port_, "GET", "/health");
    EXPECT_TRUE(testing::IsOk(r));
    return r.ok() ? json::parse(r->body) : json();
  }

  TempDir dir_;
  ChildProcess server_;
  int port_ = 0;
};

TEST_F(CareProcessTest, ServeBacksUpAtStartAndRestoreWaitsForItToStop) {
  const std::string dir = InitClinic("clinic");
  const std::string config = dir + "/posta.toml";
  Serve(config);
  auto created = HttpCall(port_, "POST", "/fhir/Patient", kPatient,
                          {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201) << created->body;

  // The first backup is taken at start (none was there); /health shows it.
  json health;
  for (int i = 0; i < 200; ++i) {
    health = Health();
    if (!health["backup"]["last_success"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(health["backup"]["last_success"].is_string()) << health.dump();
  EXPECT_TRUE(health["backup"]["last_error"].is_null()) << health.dump();
  EXPECT_GT(health["backup"]["last_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(health["clock"]["status"], "ok") << health.dump();
  EXPECT_EQ(health["disk"]["writes_refused"], false) << health.dump();
  std::vector<std::string> backups = Backups(dir + "/backups");
  ASSERT_EQ(backups.size(), 1u);
  auto metrics = HttpCall(port_, "GET", "/metrics");
  ASSERT_OK(metrics);
  EXPECT_NE(metrics->body.find("posta_backups_total{result=\"ok\"} 1"),
            std::string::npos)
      << metrics->body;

  RunResult r = Posta({"restore", "--config", config, backups[0]});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("posta serve is running"), std::string::npos)
      << r.output;
  Stop();

  r = Posta({"restore", "--config", config, backups[0]});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("kept as"), std::string::npos) << r.output;
  r = Posta({"doctor", "--config", config});
  EXPECT_NE(r.output.find("[ok]   database:"), std::string::npos) << r.output;
}

TEST_F(CareProcessTest, BelowTheFloorAClinicRefusesWritesAndKeepsReading) {
  const std::string dir = InitClinic("clinic");
  const std::string config = dir + "/posta.toml";
  Serve(config);
  auto created = HttpCall(port_, "POST", "/fhir/Patient", kPatient,
                          {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201);
  Stop();

  // No disk has 1 PiB free: every write is below the floor.
  std::string text = ReadFile(config);
  text.replace(text.find("min_free_mb = 64"), 16, "min_free_mb = 1073741824");
  {
    std::FILE* f = std::fopen(config.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  Serve(config);
  auto refused = HttpCall(port_, "POST", "/fhir/Patient", kPatient,
                          {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(refused);
  EXPECT_EQ(refused->status, 507) << refused->body;
  EXPECT_NE(refused->body.find("min_free_mb"), std::string::npos)
      << refused->body;
  EXPECT_NE(refused->body.find("below the floor"), std::string::npos);
  auto read = HttpCall(port_, "GET", "/fhir/Patient");
  ASSERT_OK(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_NE(read->body.find("Mwangi"), std::string::npos);
  json health = Health();
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["disk"]["writes_refused"], true) << health.dump();
  EXPECT_EQ(health["disk"]["floor_bytes"], uint64_t{1} << 50);
  Stop();
}

TEST(CareHubTest, AHubBelowItsFloorRefusesPushesUntilSpaceReturns) {
  TempDir dir;
  testing::Cluster cluster(dir.path());
  ASSERT_OK(cluster.InitHub("region"));
  ASSERT_OK(cluster.StartHub());
  ASSERT_OK(cluster.AddClinic("a", "clinic-a"));
  RunResult r = testing::ImportNdjson(
      cluster.Config("a"), dir.File("p.ndjson"),
      R"({"resourceType":"Patient","name":[{"family":"Otieno"}]})"
      "\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // A restarted hub listens on a new ephemeral port: the clinic follows.
  auto restart_hub = [&](const std::string& from, const std::string& to) {
    const std::string old_url = cluster.HubUrl();
    ASSERT_OK(cluster.StopHub());
    ASSERT_OK(cluster.EditConfig("hub", from, to));
    ASSERT_OK(cluster.StartHub());
    ASSERT_OK(cluster.EditConfig("a", old_url, cluster.HubUrl()));
  };
  restart_hub("min_free_mb = 64", "min_free_mb = 1073741824");
  r = Posta({"sync", "--config", cluster.Config("a"), "--attempts", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("507 insufficient_storage"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("min_free_mb"), std::string::npos) << r.output;
  {
    auto hub = cluster.OpenReadOnly("hub");
    ASSERT_OK(hub);
    auto stats = (*hub)->Stats();
    ASSERT_OK(stats);
    EXPECT_EQ(stats->live_records[storage::ResourceType::kPatient], 0);
  }

  restart_hub("min_free_mb = 1073741824", "min_free_mb = 64");
  r = Posta({"sync", "--config", cluster.Config("a"), "--attempts", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto hub = cluster.OpenReadOnly("hub");
  ASSERT_OK(hub);
  auto stats = (*hub)->Stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->live_records[storage::ResourceType::kPatient], 1);
}

TEST(CareHubTest, DoctorChecksTheHubPinAndCredential) {
  TempDir dir;
  testing::Cluster cluster(dir.path());
  ASSERT_OK(cluster.InitHub("region", "127.0.0.1:0", /*tls=*/true));
  ASSERT_OK(cluster.StartHub());
  ASSERT_OK(cluster.AddClinic("a", "clinic-a"));
  const std::string config = cluster.Config("a");
  RunResult r = Posta({"sync", "--config", config, "--attempts", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // A backup where serve would put it, so only what is broken fails.
  char name[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(name, sizeof name, "posta-%Y%m%d-%H%M%SZ.db", &tm);
  std::filesystem::create_directories(cluster.Dir("a") + "/backups");
  r = Posta(
      {"backup", "--config", config, cluster.Dir("a") + "/backups/" + name});
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = Posta({"doctor", "--config", config});
  EXPECT_NE(r.output.find("[ok]   hub reachable:"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[ok]   TLS pin:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[ok]   credential: accepted"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[ok]   last sync:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("within"), std::string::npos) << r.output;
  // The systemd line fails only where a posta.service exists and is down.
  const bool service_down =
      r.output.find("[FAIL] systemd unit") != std::string::npos;
  EXPECT_EQ(r.exit_code, service_down ? 1 : 0) << r.output;

  // Another key's pin: someone else answers as the hub.
  const std::string wrong =
      "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  ASSERT_OK(cluster.EditConfig("a", cluster.hub_pin(), wrong));
  r = Posta({"doctor", "--config", config});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("[FAIL] TLS pin:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("posta hub tls init"), std::string::npos) << r.output;
  ASSERT_OK(cluster.EditConfig("a", wrong, cluster.hub_pin()));

  // Revoked on the hub: the credential line says so and what to do.
  auto clinic = cluster.OpenReadOnly("a");
  ASSERT_OK(clinic);
  const std::string node_id = (*clinic)->node_id();
  clinic->reset();
  r = Posta(
      {"hub", "node", "revoke", node_id, "--config", cluster.HubConfig()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Posta({"doctor", "--config", config});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("[FAIL] credential:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("revoked"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[ok]   hub reachable:"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace posta
