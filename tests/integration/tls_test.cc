// TLS between real processes: a hub set up with `posta hub tls init` serves
// HTTPS and a clinic enrolled with the printed --pin syncs; a clinic with a
// wrong pin (or none) refuses to sync and says why, and the hub stores
// nothing from it; a hub without TLS refuses plain-HTTP sync unless
// allow_plain_http is on.
#include <nlohmann/json.hpp>

#include "cluster.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using testing::PostaBinary;
using testing::RunResult;

// A pin of the right form that no key here has.
constexpr const char* kWrongPin =
    "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

class TlsProcessTest : public ::testing::Test {
 protected:
  RunResult Posta(std::vector<std::string> args) {
    args.insert(args.begin(), PostaBinary());
    return testing::Run(args, std::chrono::seconds(120));
  }

  RunResult Sync(const std::string& clinic) {
    return Posta(
        {"sync", "--config", cluster_.Config(clinic), "--attempts", "3"});
  }

  void AddPatient(const std::string& clinic) {
    RunResult r = testing::ImportNdjson(
        cluster_.Config(clinic), dir_.File(clinic + ".ndjson"),
        R"({"resourceType":"Patient","name":[{"family":"Ayala"}]})"
        "\n");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  int64_t HubPatients() {
    auto store = cluster_.OpenReadOnly("hub");
    EXPECT_TRUE(testing::IsOk(store));
    auto stats = (*store)->Stats();
    EXPECT_TRUE(testing::IsOk(stats));
    return stats->live_records[storage::ResourceType::kPatient];
  }

  testing::TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
};

TEST_F(TlsProcessTest, PinnedClinicSyncsWithATlsHub) {
  ASSERT_OK(cluster_.InitHub("region", "127.0.0.1:0", /*tls=*/true));
  ASSERT_OK(cluster_.StartHub());
  EXPECT_NE(cluster_.HubLog().find("listening on https://127.0.0.1:"),
            std::string::npos)
      << cluster_.HubLog();
  ASSERT_OK(cluster_.AddClinic("a", "clinic-a"));
  const std::string config = testing::ReadWholeFile(cluster_.Config("a"));
  EXPECT_NE(config.find("hub_url = \"https://127.0.0.1:"), std::string::npos);
  EXPECT_NE(config.find("hub_pin = \"" + cluster_.hub_pin() + "\""),
            std::string::npos)
      << config;
  AddPatient("a");
  RunResult r = Sync("a");
  ASSERT_EQ(r.exit_code, 0) << r.output << cluster_.HubLog();
  EXPECT_EQ(HubPatients(), 1);

  // The hub's port speaks TLS only: plain HTTP is told so, and served
  // nothing else.
  RunResult plain = testing::Run(
      {"/usr/bin/curl", "-s", "-w", " %{http_code}",
       "http://127.0.0.1:" + std::to_string(cluster_.hub_port()) + "/health"},
      std::chrono::seconds(30));
  EXPECT_EQ(plain.output,
            "this port speaks HTTPS: use https:// instead of http://\n 400")
      << plain.output;
}

TEST_F(TlsProcessTest, WrongPinIsRefusedAndSaysWhy) {
  ASSERT_OK(cluster_.InitHub("region", "127.0.0.1:0", /*tls=*/true));
  ASSERT_OK(cluster_.StartHub());
  ASSERT_OK(cluster_.AddClinic("a", "clinic-a"));
  AddPatient("a");
  // Another certificate than the one pinned: as if something stood in for
  // the hub.
  ASSERT_OK(cluster_.EditConfig("a", cluster_.hub_pin(), kWrongPin));
  RunResult r = Sync("a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("presented a certificate that does not match the "
                          "pinned key " +
                          std::string(kWrongPin)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("someone may be standing in for the hub"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(HubPatients(), 0);
  r = Posta({"status", "--config", cluster_.Config("a")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("sync refused"), std::string::npos) << r.output;

  // No pin and no CA: a self-signed hub is not trusted on the system's CAs.
  ASSERT_OK(cluster_.EditConfig(
      "a", std::string("hub_pin = \"") + kWrongPin + "\"", "hub_pin = \"\""));
  r = Sync("a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("pin the hub with posta enroll --pin"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(HubPatients(), 0);
}

TEST_F(TlsProcessTest, PlainHubRefusesSyncUnlessAllowedOnLoopback) {
  // Cluster's default: plain HTTP with allow_plain_http on loopback.
  ASSERT_OK(cluster_.InitHub());
  ASSERT_OK(cluster_.StartHub());
  ASSERT_OK(cluster_.AddClinic("a", "clinic-a"));
  const std::string old_url = cluster_.HubUrl();
  ASSERT_OK(cluster_.StopHub());
  ASSERT_OK(cluster_.EditConfig("hub", "allow_plain_http = true",
                                "allow_plain_http = false"));
  ASSERT_OK(cluster_.StartHub());
  // The hub came back on a new port; point the clinic at it.
  ASSERT_OK(cluster_.EditConfig("a", "\"" + old_url + "\"",
                                "\"" + cluster_.HubUrl() + "\""));
  AddPatient("a");
  // Enrolling is refused too, before the code is even looked at.
  RunResult r =
      Posta({"enroll", "--config", cluster_.Config("a"), "--hub",
             cluster_.HubUrl(), "--code", "7KQ2-M9XD-C4TR-0HWB-E5NZ"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("tls_required"), std::string::npos) << r.output;
  r = Posta({"sync", "--config", cluster_.Config("a"), "--attempts", "3"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("hub refused (403 tls_required)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("posta hub tls init"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(HubPatients(), 0);
  EXPECT_NE(cluster_.HubLog().find("refused plain-HTTP"), std::string::npos);
  // Each refusal is a denial in the hub's audit trail.
  auto hub = cluster_.OpenReadOnly("hub");
  ASSERT_TRUE(testing::IsOk(hub));
  storage::AuditFilter denied;
  denied.action = "denied";
  auto page = (*hub)->ReadAudit(denied);
  ASSERT_TRUE(testing::IsOk(page));
  ASSERT_FALSE(page->entries.empty());
  EXPECT_EQ(page->entries.front().resource, "sync");
  EXPECT_NE(page->entries.front().detail.find("403 tls_required"),
            std::string::npos)
      << page->entries.front().detail;
}

}  // namespace
}  // namespace posta
