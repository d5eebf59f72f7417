// Enrollment through the real command line: the hub's administrator
// registers a facility and issues a code, a technician enrolls the clinic's
// box, the hub lists and revokes it, and the clinic's sync says plainly what
// to do when it is not (or no longer) let in.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "cluster.h"
#include "posta/storage/audit.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::PostaBinary;
using testing::RunResult;

class EnrollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(cluster_.InitHub("region"));
    ASSERT_OK(cluster_.StartHub());
  }

  RunResult Posta(std::vector<std::string> args) {
    args.insert(args.begin(), PostaBinary());
    return testing::Run(args, std::chrono::seconds(120));
  }

  RunResult Hub(std::vector<std::string> args) {
    args.insert(args.begin(), "hub");
    args.push_back("--config");
    args.push_back(cluster_.HubConfig());
    return Posta(args);
  }

  RunResult Sync(const std::string& clinic) {
    return Posta(
        {"sync", "--config", cluster_.Config(clinic), "--attempts", "3"});
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

TEST_F(EnrollTest, HubCommandsSayWhatIsWrong) {
  RunResult r = Hub({"facility", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no facilities"), std::string::npos) << r.output;
  r = Hub({"enroll-code", "--facility", "clinic-a"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("facility clinic-a: not registered on this hub; add "
                          "it with posta hub facility add"),
            std::string::npos)
      << r.output;
  r = Hub({"facility", "add", "clinic-a", "--name", "Clinic A", "--region",
           "north"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Hub({"facility", "add", "clinic-a", "--name", "Again"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("already registered"), std::string::npos) << r.output;
  r = Hub({"facility", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json f = json::parse(r.output);
  EXPECT_EQ(f["id"], "clinic-a");
  EXPECT_EQ(f["name"], "Clinic A");
  EXPECT_EQ(f["region"], "north");

  for (const char* bad : {"45d", "2x", "h", "0h"}) {
    r = Hub({"enroll-code", "--facility", "clinic-a", "--expires", bad});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find(std::string("--expires ") + bad), std::string::npos)
        << r.output;
  }
  r = Hub({"node", "revoke", "00000000000000aa"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("never enrolled with this hub"), std::string::npos)
      << r.output;

  // Hub commands on a clinic, enroll on a hub.
  ASSERT_OK(cluster_.InitClinic("a", "clinic-a"));
  r = Posta({"hub", "node", "list", "--config", cluster_.Config("a")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("this node is a clinic; posta hub commands run on "
                          "the hub"),
            std::string::npos)
      << r.output;
  // A hub enrolls only with a hub above it (docs/sync-protocol.md,
  // "Tiers"): with none named, it is told to name one.
  r = Posta({"enroll", "--config", cluster_.HubConfig(), "--code",
             "7KQ2-M9XD-C4TR-0HWB-E5NZ"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no hub to enroll with; pass --hub URL"),
            std::string::npos)
      << r.output;
}

TEST_F(EnrollTest, EnrollSyncRevokeAndEnrollAgain) {
  ASSERT_OK(cluster_.InitClinic("a", "clinic-a"));
  auto imported = testing::ImportNdjson(
      cluster_.Config("a"), dir_.File("a.ndjson"),
      R"({"resourceType":"Patient","name":[{"family":"Ayala"}],"gender":"female"})"
      "\n");
  ASSERT_EQ(imported.exit_code, 0) << imported.output;

  // Not enrolled: refused at once (no retries), with what to do.
  RunResult r = Sync("a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("this node is not enrolled with hub"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("run posta enroll"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(HubPatients(), 0);

  // Codes that do not work, and one that does.
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code", "12-34"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("a code has 20"), std::string::npos) << r.output;
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code",
             "7KQ2-M9XD-C4TR-0HWB-E5NZ"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not know this enrollment code"),
            std::string::npos)
      << r.output;
  ASSERT_OK_AND_ASSIGN(std::string code, cluster_.IssueCode("clinic-a"));
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code", code});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("enrolled node"), std::string::npos) << r.output;
  struct stat st;
  ASSERT_EQ(::stat((cluster_.Dir("a") + "/credential").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The same code again: used.
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code", code});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("already used at"), std::string::npos) << r.output;

  r = Sync("a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(HubPatients(), 1);
  r = Hub({"node", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json node = json::parse(r.output);
  const std::string node_id = node["node_id"];
  EXPECT_EQ(node["facility"], "clinic-a");
  EXPECT_TRUE(node["last_seen"].is_string()) << r.output;
  EXPECT_NE(node["last_address"].get<std::string>().find("127.0.0.1"),
            std::string::npos);
  EXPECT_TRUE(node["revoked"].is_null());

  // Revoked: the next sync is refused with when and what to do; its data
  // stays on the hub; status shows the refusal.
  r = Hub({"node", "revoke", node_id});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Sync("a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("node " + node_id + " was revoked on hub"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("run posta enroll"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("retrying"), std::string::npos) << r.output;
  EXPECT_EQ(HubPatients(), 1);
  r = Posta({"status", "--config", cluster_.Config("a")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("sync refused"), std::string::npos) << r.output;
  r = Hub({"node", "list"});
  EXPECT_NE(r.output.find("revoked"), std::string::npos) << r.output;

  // A new code lets it back (recording a key pin for when the hub speaks
  // https; a malformed pin is refused before the code is used); the
  // refusal is cleared.
  ASSERT_OK_AND_ASSIGN(code, cluster_.IssueCode("clinic-a"));
  const std::string pin =
      "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=";
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code", code,
             "--pin", "sha256//nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("is not a key pin"), std::string::npos) << r.output;
  r = Posta({"enroll", "--config", cluster_.Config("a"), "--code", code,
             "--pin", pin});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(testing::ReadWholeFile(cluster_.Config("a"))
                .find("hub_pin = \"" + pin + "\""),
            std::string::npos);
  r = Sync("a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Posta({"status", "--config", cluster_.Config("a")});
  EXPECT_EQ(r.output.find("sync refused"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("enrolled      yes"), std::string::npos) << r.output;

  // Every refusal above is a denial in the hub's audit trail, and each
  // enrollment an entry of its own.
  auto hub = cluster_.OpenReadOnly("hub");
  ASSERT_OK(hub);
  storage::AuditFilter filter;
  filter.limit = 1000;
  ASSERT_OK_AND_ASSIGN(storage::AuditPage page, (*hub)->ReadAudit(filter));
  std::string denials;
  int enrollments = 0;
  for (const storage::AuditEntry& e : page.entries) {
    if (e.action == "denied") denials += e.detail + "\n";
    if (e.action == "enroll") ++enrollments;
  }
  for (const char* refusal :
       {"401 not_enrolled", "401 bad_code", "403 code_used", "401 revoked"}) {
    EXPECT_NE(denials.find(refusal), std::string::npos)
        << refusal << " not among the hub's denials:\n"
        << denials;
  }
  EXPECT_EQ(enrollments, 2);
}

}  // namespace
}  // namespace posta
