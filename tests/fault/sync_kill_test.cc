// I2, sync safety: a clinic's `posta sync` and the hub it talks to are
// killed with SIGKILL at random moments of a sync, again and again, while
// the clinic keeps gaining records. After every kill the hub is restarted
// and the sync is run to the end: the hub then holds exactly the clinic's
// records (equal replica digests), each version once (the hub's change log
// has one entry per clinic version), and both databases pass an integrity
// check.
//
// POSTA_SYNC_KILL_CYCLES sets the number of cycles (default 200) and
// POSTA_SYNC_KILL_RECORDS the records imported before each (default 150:
// enough that a sync is often still under way when the kill comes, few
// enough that a soak of thousands of cycles stays in hours), POSTA_KILL_SEED
// the seed (default fixed; printed). Prints the kill -9 figures line
// (kill_figures.h).
#include <signal.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cluster.h"
#include "kill_figures.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using testing::ChildProcess;
using testing::PostaBinary;
using testing::TempDir;

class SyncKillTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(cluster_.InitHub("region")); }

  // Starts the hub; returns its port.
  int StartHub() {
    Status started = cluster_.StartHub();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return started.ok() ? cluster_.hub_port() : 0;
  }

  // Rewrites the clinic's hub URL (the hub's port changes at each start).
  void PointClinicAt(int port) {
    const std::string config = dir_.File("clinic/posta.toml");
    auto text = base::Env::Default().ReadFile(config, 1 << 20);
    ASSERT_OK(text);
    std::string body = *text;
    const size_t at = body.find("\nhub_url = ");
    ASSERT_NE(at, std::string::npos);
    const size_t end = body.find('\n', at + 1);
    body.replace(at + 1, end - at - 1,
                 "hub_url = \"http://127.0.0.1:" + std::to_string(port) + "\"");
    ASSERT_OK(base::Env::Default().WriteFileAtomic(config, body, 0640));
  }

  void AddPatients(int first, int count) {
    std::string text;
    for (int i = first; i < first + count; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "2c6f3a10-6f0e-4b9a-9c55-%012d", i);
      text += nlohmann::json{{"resourceType", "Patient"},
                             {"id", id},
                             {"name", {{{"family", "F" + std::to_string(i)}}}},
                             {"gender", i % 2 ? "male" : "female"}}
                  .dump() +
              "\n";
    }
    auto r = testing::ImportNdjson(dir_.File("clinic/posta.toml"),
                                   dir_.File("batch.ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  std::unique_ptr<storage::RecordStore> OpenReadOnly(const std::string& dir) {
    auto store = cluster_.OpenReadOnly(dir);
    EXPECT_TRUE(testing::IsOk(store));
    return std::move(store).value();
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
};

TEST_F(SyncKillTest, KilledSyncsResumeWithoutLossOrDuplicates) {
  const int cycles =
      static_cast<int>(testing::EnvCount("POSTA_SYNC_KILL_CYCLES", 200));
  const int per_cycle =
      static_cast<int>(testing::EnvCount("POSTA_SYNC_KILL_RECORDS", 150));
  const uint64_t seed =
      static_cast<uint64_t>(testing::EnvCount("POSTA_KILL_SEED", 20261123));
  std::printf("sync kill test: seed %llu (POSTA_KILL_SEED), %d cycles\n",
              static_cast<unsigned long long>(seed), cycles);
  int port = StartHub();
  ASSERT_GT(port, 0);
  ASSERT_OK(cluster_.AddClinic("clinic", "clinic-k"));

  std::mt19937 rng(static_cast<std::mt19937::result_type>(seed));
  int next = 0;
  int hub_kills = 0;
  int clinic_kills = 0;
  int mid_sync = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    AddPatients(next, per_cycle);
    next += per_cycle;
    auto sync =
        ChildProcess::Start({PostaBinary(), "sync", "--config",
                             dir_.File("clinic/posta.toml"), "--attempts", "1"},
                            dir_.File("sync.log"));
    ASSERT_OK(sync);
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<>(5, 250)(rng)));
    // Did the kill cut a sync short, or come after it ended?
    if (!sync->Wait(std::chrono::milliseconds(0)).ok()) ++mid_sync;
    if (rng() % 2 == 0) {
      cluster_.KillHub();
      ++hub_kills;
      sync->Kill();
    } else {
      sync->Kill();
      ++clinic_kills;
      cluster_.KillHub();
    }
    port = StartHub();
    ASSERT_GT(port, 0);
    PointClinicAt(port);
  }
  // The link heals: one sync to the end.
  auto done = testing::Run(
      {PostaBinary(), "sync", "--config", dir_.File("clinic/posta.toml")},
      std::chrono::seconds(300));
  ASSERT_EQ(done.exit_code, 0) << done.output;

  testing::KillFigures figures;
  figures.cycles = cycles;
  figures.acknowledged = next;  // each import exited 0: acknowledged
  auto clinic = OpenReadOnly("clinic");
  auto hub = OpenReadOnly("hub");
  for (auto* store : {&clinic, &hub}) {
    if (Status s = (*store)->CheckIntegrity(); !s.ok()) {
      ++figures.integrity_failures;
      ADD_FAILURE() << s.ToString();
    }
  }
  for (const char* node : {"clinic", "hub"}) {
    auto verify = testing::Run({PostaBinary(), "audit", "verify", "--config",
                                dir_.File(std::string(node) + "/posta.toml")});
    if (verify.exit_code != 0) {
      ++figures.integrity_failures;
      ADD_FAILURE() << node << ": posta audit verify: " << verify.output;
    }
  }
  // Every clinic version is in the hub's log exactly once.
  auto Logged = [](storage::RecordStore& store) {
    std::map<std::string, int> logged;
    auto changes = store.ChangesSince(0, 100'000'000);
    EXPECT_OK(changes);
    if (changes.ok()) {
      for (const auto& c : *changes)
        ++logged[c.id + "@" + c.version.ToString()];
    }
    return logged;
  };
  const std::map<std::string, int> clinic_log = Logged(*clinic);
  const std::map<std::string, int> hub_log = Logged(*hub);
  for (const auto& [version, count] : hub_log) {
    if (count > 1) {
      figures.duplicated += count - 1;
      ADD_FAILURE() << "the hub logged " << version << " " << count << " times";
    }
  }
  for (const auto& [version, count] : clinic_log) {
    if (hub_log.count(version) == 0) {
      ++figures.lost;
      ADD_FAILURE() << "the hub lacks " << version;
    }
  }
  ASSERT_OK_AND_ASSIGN(std::string clinic_digest,
                       clinic->ReplicaDigest("clinic-k"));
  ASSERT_OK_AND_ASSIGN(std::string hub_digest, hub->ReplicaDigest("clinic-k"));
  EXPECT_EQ(clinic_digest, hub_digest);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats clinic_stats, clinic->Stats());
  ASSERT_OK_AND_ASSIGN(storage::StoreStats hub_stats, hub->Stats());
  EXPECT_EQ(hub_stats.live_records[storage::ResourceType::kPatient], next);
  EXPECT_EQ(hub_stats.last_seq, clinic_stats.last_seq);
  std::printf(
      "sync kill test: %d cycles (%d hub kills, %d clinic kills; %d during "
      "a sync, the others after it ended), %d records\n",
      cycles, hub_kills, clinic_kills, mid_sync, next);
  testing::PrintKillFigures("posta sync and hub serve", figures);
  (void)cluster_.StopHub(std::chrono::seconds(20));
}

}  // namespace
}  // namespace posta
