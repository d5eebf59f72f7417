// A clinic whose disk is below its floor (StoreOptions::min_free_bytes)
// still pushes its own changes but pulls nothing, and catches up once space
// returns.
#include <atomic>

#include "sync_fixture.h"

namespace posta::sync::testing {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class DiskFloorTest : public SyncFixture {};

TEST_F(DiskFloorTest, BelowItsFloorAClinicPushesButDoesNotPull) {
  Node a = Clinic("clinic-a");
  const std::string from_a = Create(*a.store, "Achieng");
  Sync(a);

  // A second box of the same facility, with a floor and a probe.
  std::atomic<uint64_t> free{10 * kMiB};
  storage::StoreOptions options;
  options.path = dir_.File("b.db");
  options.create_if_missing = true;
  options.facility = "clinic-a";
  options.clock = &clinic_clock_;
  options.random = &random_;
  options.min_free_bytes = 64 * kMiB;
  options.min_free_setting = "[storage] min_free_mb";
  options.free_bytes = [&free](const std::string&) -> Result<uint64_t> {
    return free.load();
  };
  Node b;
  free = 100 * kMiB;  // room to write its own patient first
  ASSERT_OK_AND_ASSIGN(b.store, storage::OpenRecordStore(options));
  b.transport = std::make_unique<LoopTransport>(*hub_);
  b.client = std::make_unique<SyncClient>(*b.store, *b.transport, clinic_clock_,
                                          SyncOptions{});
  Enroll(b);
  const std::string from_b = Create(*b.store, "Wanjiru");

  free = 10 * kMiB;
  Result<SyncResult> refused = b.client->SyncOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kNoSpace);
  EXPECT_NE(refused.status().message().find("pull"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("[storage] min_free_mb"),
            std::string::npos);
  // Its own change reached the hub; nothing came down.
  EXPECT_OK(hub_store_->Get(ResourceType::kPatient, from_b));
  EXPECT_TRUE(
      b.store->Get(ResourceType::kPatient, from_a).status().IsNotFound());

  free = 100 * kMiB;
  ASSERT_OK(b.client->SyncOnce());
  EXPECT_OK(b.store->Get(ResourceType::kPatient, from_a));
}

}  // namespace
}  // namespace posta::sync::testing
