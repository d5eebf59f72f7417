// /health and /metrics for a node that looks after itself: the disk guard's
// floor, a wall clock behind the last stamp, and the scheduled backups.
#include <gtest/gtest.h>

#include "api_fixture.h"
#include "care/backups.h"

namespace posta::node::testing {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST_F(ApiTest, BelowTheFloorWritesGet507AndReadsAndHealthGoOn) {
  std::string id = CreatePatient("Okafor", "Ada");
  // Reopen the store with a floor and a probe saying 10 MiB are free.
  api_.reset();
  store_.reset();
  storage::StoreOptions store_options;
  store_options.path = dir_.File("posta.db");
  store_options.facility = "fac-1";
  store_options.clock = &store_clock_;
  store_options.min_free_bytes = 64 * kMiB;
  store_options.min_free_setting = "[storage] min_free_mb";
  store_options.free_bytes = [](const std::string&) -> Result<uint64_t> {
    return 10 * kMiB;
  };
  ASSERT_OK_AND_ASSIGN(store_, storage::OpenRecordStore(store_options));
  ApiOptions options;
  options.data_dir = dir_.path();
  options.min_free_bytes = 64 * kMiB;
  api_ = std::make_unique<Api>(*store_, metrics_, options, clock_);
  const std::string before = Digest();

  HttpResponse refused =
      Handle(Request("POST", "/fhir/Patient", PatientJson("Bello", "Ife")));
  EXPECT_EQ(refused.status, 507) << refused.body;
  EXPECT_NE(refused.body.find("10 MiB free, below the floor of 64 MiB "
                              "([storage] min_free_mb)"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(Handle(Request("DELETE", "/fhir/Patient/" + id)).status, 507);
  EXPECT_EQ(Digest(), before);

  EXPECT_EQ(Handle(Request("GET", "/fhir/Patient/" + id)).status, 200);
  HttpResponse health = Handle(Request("GET", "/health"));
  ASSERT_EQ(health.status, 200);
  nlohmann::json body = Body(health);
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["disk"]["writes_refused"], true) << health.body;
  EXPECT_EQ(body["disk"]["floor_bytes"], 64 * kMiB);
  EXPECT_NE(body["disk"]["error"].get<std::string>().find("min_free_mb"),
            std::string::npos);
}

TEST_F(ApiTest, HealthSaysWhenTheClockWasBehindTheLastStamp) {
  CreatePatient("Okafor", "Ada");  // stamped 2024-03-09
  nlohmann::json body = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(body["clock"]["status"], "ok");

  // The box boots in 1970: reopened, the store carries its clock forward.
  store_clock_.SetWall(0);
  Open(ApiOptions{});
  body = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["clock"]["status"], "behind_last_stamp") << body.dump();
  EXPECT_EQ(body["clock"]["wall_clock_at_start"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(body["clock"]["last_stamp"], "2024-03-09T16:00:00.000Z");

  // Stamps stay monotonic: a write now still orders after the old one.
  std::string id = CreatePatient("Bello", "Ife");
  auto record = store_->Get(storage::ResourceType::kPatient, id);
  ASSERT_OK(record);
  EXPECT_GE(record->version.wall_ms, 1710000000000);
}

TEST_F(ApiTest, HealthAndMetricsShowTheScheduledBackups) {
  BackupState state;
  state.enabled = true;
  state.dir = "/var/lib/posta/backups";
  state.last_success_ms = 1710000000000;
  state.last_bytes = 4096;
  state.last_attempt_ms = 1710000000000;
  state.next_ms = 1710086400000;
  state.backups_ok = 1;
  state.backups_failed = 2;
  ApiOptions options;
  options.backup_state = [&state] { return state; };
  Open(options);
  nlohmann::json body = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(body["status"], "ok") << body.dump();
  EXPECT_EQ(body["backup"]["last_success"], "2024-03-09T16:00:00.000Z");
  EXPECT_EQ(body["backup"]["last_bytes"], 4096);
  EXPECT_EQ(body["backup"]["next"], "2024-03-10T16:00:00.000Z");
  EXPECT_TRUE(body["backup"]["last_error"].is_null());

  state.last_error = "NoSpace: /backups: full";
  body = Body(Handle(Request("GET", "/health")));
  EXPECT_EQ(body["status"], "degraded");
  EXPECT_EQ(body["backup"]["last_error"], "NoSpace: /backups: full");

  std::string metrics = Handle(Request("GET", "/metrics")).body;
  EXPECT_NE(metrics.find("posta_backups_total{result=\"ok\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("posta_backups_total{result=\"failed\"} 2\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("posta_backup_last_success_timestamp_seconds "
                         "1710000000.000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace posta::node::testing
