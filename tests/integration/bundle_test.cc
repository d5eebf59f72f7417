// Sync bundles between real `posta` processes: a clinic that enrolled once
// and then has no link carries `posta bundle export` files to the hub and
// back; a clinic alternates between its link and bundles and ends
// converged with nothing twice; the command line refuses to overwrite a
// file, a tampered file, and a bundle carried to the wrong node.
#include <sys/stat.h>

#include <fstream>
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

std::string Patient(const std::string& family, int i) {
  return json{{"resourceType", "Patient"},
              {"name", {{{"family", family + std::to_string(i)}}}},
              {"gender", i % 2 ? "female" : "male"},
              {"birthDate", "1990-01-01"}}
      .dump();
}

class BundleIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(cluster_.InitHub("region"));
    ASSERT_OK(cluster_.StartHub());
  }
  void TearDown() override {
    if (cluster_.hub().running()) {
      Status stopped = cluster_.StopHub(std::chrono::seconds(20));
      EXPECT_TRUE(stopped.ok()) << stopped.ToString();
    }
  }

  void Write(const std::string& clinic, const std::string& family, int n) {
    std::string text;
    for (int i = 0; i < n; ++i) text += Patient(family, i) + "\n";
    auto r = testing::ImportNdjson(
        cluster_.Config(clinic), dir_.File(clinic + family + ".ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  RunResult Posta(std::vector<std::string> args) {
    args.insert(args.begin(), PostaBinary());
    return testing::Run(args, std::chrono::seconds(120));
  }

  RunResult Export(const std::string& node, const std::string& file,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "bundle", "export", "--config", cluster_.Config(node), "--to", file};
    args.insert(args.end(), extra.begin(), extra.end());
    return Posta(args);
  }

  RunResult Import(const std::string& node, const std::string& file) {
    return Posta({"bundle", "import", "--config", cluster_.Config(node), file});
  }

  std::string Digest(const std::string& node, const std::string& facility) {
    auto store = cluster_.OpenReadOnly(node);
    EXPECT_TRUE(testing::IsOk(store));
    if (!store.ok()) return "";
    auto digest = (*store)->ReplicaDigest(facility);
    return digest.ok() ? *digest : "";
  }

  int64_t VersionsBy(const std::string& node, const std::string& origin) {
    auto store = cluster_.OpenReadOnly(node);
    EXPECT_TRUE(testing::IsOk(store));
    storage::ChangeFilter filter;
    filter.only_origin = origin;
    auto n = (*store)->CountChanges(filter);
    return n.ok() ? *n : -1;
  }

  std::string NodeId(const std::string& node) {
    auto store = cluster_.OpenReadOnly(node);
    EXPECT_TRUE(testing::IsOk(store));
    return store.ok() ? (*store)->node_id() : "";
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
};

TEST_F(BundleIntegrationTest, ClinicWithNoLinkSyncsByStick) {
  ASSERT_OK(cluster_.AddClinic("remote", "remote"));
  // From here on the clinic has no link: its hub URL leads nowhere.
  ASSERT_OK(
      cluster_.EditConfig("remote", cluster_.HubUrl(), "http://127.0.0.1:9"));
  Write("remote", "Offline", 300);
  const std::string stick = dir_.File("stick");
  ASSERT_EQ(::mkdir(stick.c_str(), 0700), 0);
  const std::string to_hub = stick + "/remote.posta-bundle";

  RunResult r = Export("remote", to_hub);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("300 records"), std::string::npos) << r.output;
  // Never overwritten without --force.
  r = Export("remote", to_hub);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  ASSERT_EQ(Export("remote", to_hub, {"--force"}).exit_code, 0);

  // A changed byte: refused, nothing applied.
  std::string bytes = testing::ReadWholeFile(to_hub);
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x10;
  const std::string tampered = dir_.File("tampered.posta-bundle");
  {
    std::ofstream out(tampered, std::ios::binary);
    out << bad;
  }
  const std::string hub_before = Digest("hub", "remote");
  r = Import("hub", tampered);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("does not verify"), std::string::npos) << r.output;
  EXPECT_EQ(Digest("hub", "remote"), hub_before);

  // Cut short: the complete batches land, and it says what is missing.
  const std::string cut = dir_.File("cut.posta-bundle");
  {
    std::ofstream out(cut, std::ios::binary);
    out << bytes.substr(0, bytes.size() - 100);
  }
  r = Import("hub", cut);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("trailer is missing"), std::string::npos) << r.output;

  r = Import("hub", to_hub);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Digest("hub", "remote"), Digest("remote", "remote"));
  // Again: nothing new.
  r = Import("hub", to_hub);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 batches applied"), std::string::npos) << r.output;

  // The return bundle: the hub's ack, and what the hub holds for the clinic.
  const std::string back = stick + "/back.posta-bundle";
  r = Export("hub", back, {"--for", "remote"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Carried to the wrong node: refused, naming both.
  ASSERT_OK(cluster_.AddClinic("other", "other"));
  r = Import("other", back);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(NodeId("remote")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(NodeId("other")), std::string::npos) << r.output;

  r = Import("remote", back);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Nothing is left to carry.
  ASSERT_EQ(Export("remote", stick + "/next.posta-bundle").exit_code, 0);
  r = Import("hub", stick + "/next.posta-bundle");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 batches applied (0 records"), std::string::npos)
      << r.output;
  auto status =
      Posta({"status", "--config", cluster_.Config("remote"), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\"pending_changes\":0"), std::string::npos)
      << status.output;
}

TEST_F(BundleIntegrationTest, LinkAndStickAlternateAndConverge) {
  ASSERT_OK(cluster_.AddClinic("north", "north"));
  ASSERT_OK(cluster_.AddClinic("north-2", "north"));  // a second box
  auto sync = [&](const std::string& node) {
    auto r = Posta({"sync", "--config", cluster_.Config(node)});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  };
  Write("north", "Link", 40);
  sync("north");
  Write("north", "Stick", 40);
  Write("north-2", "Other", 30);
  sync("north-2");  // the hub has news for north too
  const std::string file = dir_.File("north-1.posta-bundle");
  ASSERT_EQ(Export("north", file).exit_code, 0);
  ASSERT_EQ(Import("hub", file).exit_code, 0);
  const std::string back = dir_.File("back-1.posta-bundle");
  RunResult r = Export("hub", back, {"--for", "north"});
  EXPECT_NE(r.exit_code, 0);  // two boxes of north: which one?
  EXPECT_NE(r.output.find("--node"), std::string::npos) << r.output;
  ASSERT_EQ(Export("hub", back, {"--for", "north", "--node", NodeId("north")})
                .exit_code,
            0);
  Write("north", "Link2-", 10);
  sync("north");              // the link comes back before the stick does
  r = Import("north", back);  // late: what it carries is held already
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 batches applied"), std::string::npos) << r.output;
  Write("north", "Stick2-", 10);
  const std::string file2 = dir_.File("north-2.posta-bundle");
  ASSERT_EQ(Export("north", file2).exit_code, 0);
  ASSERT_EQ(Import("hub", file2).exit_code, 0);
  sync("north");
  sync("north-2");
  EXPECT_EQ(Digest("north", "north"), Digest("hub", "north"));
  EXPECT_EQ(Digest("north-2", "north"), Digest("hub", "north"));
  EXPECT_EQ(VersionsBy("hub", NodeId("north")),
            VersionsBy("north", NodeId("north")));
  EXPECT_EQ(VersionsBy("north", NodeId("north")), 100);
  EXPECT_EQ(VersionsBy("north", NodeId("north-2")), 30);
}

}  // namespace
}  // namespace posta
