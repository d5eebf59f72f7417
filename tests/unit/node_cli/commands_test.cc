#include "cli/commands.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/bundle_cmd.h"
#include "config/config.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;

// Runs commands against a TempDir with captured output and a fixed clock.
class CommandsTest : public ::testing::Test {
 protected:
  // Three minutes after now, as the store stamps writes with the real clock.
  CommandsTest() : clock_(base::SystemClock().WallNowMillis() + 200000) {}

  Io MakeIo() { return Io{.out = out_, .err = err_, .clock = clock_}; }

  Status Init(const std::string& dir, bool force = false) {
    Io io = MakeIo();
    return RunInit({.dir = dir,
                    .role = "clinic",
                    .facility = "clinic-001",
                    .listen = "127.0.0.1:8181",
                    .force = force},
                   io);
  }

  std::string Out() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  TempDir tmp_;
  base::ManualClock clock_;
  std::ostringstream out_;
  std::ostringstream err_;
};

unsigned Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(CommandsTest, InitCreatesDirectoryConfigAndDatabase) {
  const std::string dir = tmp_.File("node/a");
  ASSERT_OK(Init(dir));
  EXPECT_EQ(Mode(dir), 0750u);
  EXPECT_EQ(Mode(dir + "/posta.toml"), 0640u);
  std::string out = Out();
  EXPECT_NE(out.find("posta serve --config " + dir + "/posta.toml"),
            std::string::npos)
      << out;

  ASSERT_OK_AND_ASSIGN(NodeConfig c, LoadConfig(dir + "/posta.toml"));
  EXPECT_EQ(c.data_dir, dir);
  EXPECT_EQ(c.facility, "clinic-001");
  EXPECT_EQ(c.listen_port, 8181);
  std::ifstream in(dir + "/posta.toml");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("data_dir = \".\""), std::string::npos);
}

TEST_F(CommandsTest, InitNeverReplacesADatabaseAndForceOnlyRewritesConfig) {
  const std::string dir = tmp_.File("n");
  ASSERT_OK(Init(dir));
  Status again = Init(dir);
  EXPECT_EQ(again.code(), Status::Code::kConflict);
  EXPECT_NE(again.message().find("posta.db"), std::string::npos);
  EXPECT_EQ(Init(dir, /*force=*/true).code(), Status::Code::kConflict);

  // Config present, no database: refused unless --force.
  ASSERT_EQ(std::remove((dir + "/posta.db").c_str()), 0);
  Status exists = Init(dir);
  EXPECT_EQ(exists.code(), Status::Code::kConflict);
  EXPECT_NE(exists.message().find("--force"), std::string::npos);
  EXPECT_OK(Init(dir, /*force=*/true));
}

TEST_F(CommandsTest, InitValidatesItsArguments) {
  Io io = MakeIo();
  EXPECT_FALSE(RunInit({.dir = tmp_.File("x"), .facility = "bad id"}, io).ok());
  EXPECT_FALSE(
      RunInit({.dir = tmp_.File("x"), .role = "server", .facility = "f"}, io)
          .ok());
  EXPECT_FALSE(
      RunInit({.dir = tmp_.File("x"), .facility = "f", .listen = "127.0.0.1"},
              io)
          .ok());
}

// A package ships the config in /etc and the data elsewhere: init takes
// role, facility and data_dir from the file and leaves it as it is.
TEST_F(CommandsTest, InitFromAnExistingConfigCreatesItsDataDirOnly) {
  const std::string cfg = tmp_.File("etc/posta.toml");
  const std::string data = tmp_.File("var/lib/posta");
  ASSERT_EQ(::mkdir(tmp_.File("etc").c_str(), 0755), 0);
  NodeConfig written{.role = "hub", .facility = "region-9", .data_dir = data};
  const std::string text = "# edited by hand\n" + RenderConfig(written);
  std::ofstream(cfg) << text;

  Io io = MakeIo();
  ASSERT_OK(RunInit({.config_path = cfg}, io));
  EXPECT_EQ(Mode(data), 0750u);
  std::string out = Out();
  EXPECT_NE(out.find("created " + data + "/posta.db (hub, facility region-9"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("posta hub tls init --config " + cfg), std::string::npos)
      << out;
  std::ifstream in(cfg);
  std::stringstream after;
  after << in.rdbuf();
  EXPECT_EQ(after.str(), text) << "init --config must not rewrite the file";

  ASSERT_OK_AND_ASSIGN(NodeConfig c, LoadConfig(cfg));
  EXPECT_OK(RunStatus({.config_path = cfg}, io));
  EXPECT_NE(Out().find("region-9"), std::string::npos);

  // Never over an existing database.
  Status again = RunInit({.config_path = cfg}, io);
  EXPECT_EQ(again.code(), Status::Code::kConflict);
  EXPECT_NE(again.message().find(c.DatabasePath()), std::string::npos);
}

TEST_F(CommandsTest, InitFromConfigRefusesAnIncompleteFileAndMixedOptions) {
  Io io = MakeIo();
  // The package's file before the technician has set the facility.
  const std::string cfg = tmp_.File("posta.toml");
  std::ofstream(cfg) << "[node]\nfacility = \"\"\ndata_dir = \"data\"\n";
  Status s = RunInit({.config_path = cfg}, io);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("facility"), std::string::npos) << s.message();
  EXPECT_FALSE(std::ifstream(tmp_.File("data/posta.db")));

  EXPECT_TRUE(RunInit({.config_path = tmp_.File("missing.toml")}, io)
                  .IsNotFound());
  Status mixed =
      RunInit({.facility = "f", .config_path = tmp_.File("posta.toml")}, io);
  EXPECT_EQ(mixed.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(mixed.message().find("--config"), std::string::npos);
}

TEST_F(CommandsTest, CommandsOnAMissingDatabaseSayRunInit) {
  const std::string cfg = tmp_.File("posta.toml");
  std::ofstream(cfg) << "[node]\nfacility = \"f\"\ndata_dir = \"nowhere\"\n";
  Io io = MakeIo();
  Status s = RunStatus({.config_path = cfg}, io);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_NE(s.message().find(kNoDatabase), std::string::npos) << s.message();
}

TEST_F(CommandsTest, SeedStatusExportImportBackup) {
  const std::string a = tmp_.File("a");
  const std::string b = tmp_.File("b");
  ASSERT_OK(Init(a));
  ASSERT_OK(Init(b));
  Out();
  Io io = MakeIo();
  ASSERT_OK(RunDemoSeed({.config_path = a + "/posta.toml",
                         .patients = 25,
                         .seed = 4,
                         .as_of = "2025-05-01"},
                        io));
  EXPECT_NE(Out().find(" 0 rejected"), std::string::npos);
  // Seeding the same seed and date again changes nothing.
  ASSERT_OK(RunDemoSeed({.config_path = a + "/posta.toml",
                         .patients = 25,
                         .seed = 4,
                         .as_of = "2025-05-01"},
                        io));
  EXPECT_NE(Out().find(" 0 created"), std::string::npos);

  ASSERT_OK(RunStatus({.config_path = a + "/posta.toml", .json = true}, io));
  auto status = nlohmann::json::parse(Out());
  EXPECT_EQ(status["facility"], "clinic-001");
  EXPECT_EQ(status["role"], "clinic");
  EXPECT_EQ(status["records"]["Patient"], 25);
  const int64_t live = status["live_records"];
  EXPECT_GT(live, 25);

  ASSERT_OK(RunStatus({.config_path = a + "/posta.toml"}, io));
  std::string text = Out();
  EXPECT_NE(text.find("Patient"), std::string::npos);
  EXPECT_NE(text.find("(3 minutes ago)"), std::string::npos) << text;

  const std::string file = tmp_.File("a.ndjson");
  ASSERT_OK(
      RunExport({.config_path = a + "/posta.toml", .out_path = file}, io));
  EXPECT_FALSE(base::Env::Default().FileExists(file + ".partial"));
  {
    // A symbolic link planted at the temporary name is not written through.
    const std::string victim = tmp_.File("victim.txt");
    { std::ofstream(victim) << "keep me"; }
    const std::string trap = tmp_.File("trap.ndjson");
    std::filesystem::create_symlink(victim, trap + ".partial");
    Status refused =
        RunExport({.config_path = a + "/posta.toml", .out_path = trap}, io);
    EXPECT_FALSE(refused.ok());
    EXPECT_NE(refused.ToString().find("symbolic link"), std::string::npos)
        << refused.ToString();
    std::ifstream in(victim);
    std::string kept((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    EXPECT_EQ(kept, "keep me");
    EXPECT_FALSE(base::Env::Default().FileExists(trap));
  }
  std::istringstream no_stdin;
  ASSERT_OK(RunImport({.config_path = b + "/posta.toml", .input_path = file},
                      no_stdin, io));
  EXPECT_NE(Out().find(" 0 rejected"), std::string::npos);
  ASSERT_OK(RunStatus({.config_path = b + "/posta.toml", .json = true}, io));
  EXPECT_EQ(nlohmann::json::parse(Out())["live_records"], live);

  const std::string backup = tmp_.File("backup.db");
  ASSERT_OK(RunBackup({.config_path = a + "/posta.toml", .dest = backup}, io));
  EXPECT_NE(Out().find("verified"), std::string::npos);
  Status twice =
      RunBackup({.config_path = a + "/posta.toml", .dest = backup}, io);
  EXPECT_EQ(twice.code(), Status::Code::kConflict);
}

// A clock whose monotonic side moves 2 s at every reading: a progress
// display sees each update as overdue, without sleeping.
class SlowTaskClock final : public base::Clock {
 public:
  explicit SlowTaskClock(int64_t wall_ms) : wall_(wall_ms) {}
  int64_t WallNowMillis() override { return wall_.WallNowMillis(); }
  std::chrono::steady_clock::time_point MonotonicNow() override {
    wall_.Advance(std::chrono::seconds(2));
    return wall_.MonotonicNow();
  }

 private:
  base::ManualClock wall_;
};

// `posta bundle export` shows progress as import does (lines without a
// terminal), then its summary: file, batches, records, bytes.
TEST_F(CommandsTest, BundleExportShowsProgressAndASummary) {
  const std::string a = tmp_.File("a");
  ASSERT_OK(Init(a));
  Io io = MakeIo();
  ASSERT_OK(RunDemoSeed({.config_path = a + "/posta.toml",
                         .patients = 5,
                         .seed = 4,
                         .as_of = "2025-05-01"},
                        io));
  // As `posta enroll` leaves a clinic: a credential, and its hub known.
  ASSERT_OK_AND_ASSIGN(NodeConfig config, LoadConfig(a + "/posta.toml"));
  ASSERT_OK(base::Env::Default().WriteFileAtomic(
      config.CredentialPath(), std::string(64, 'c') + "\n", 0600));
  {
    ASSERT_OK_AND_ASSIGN(auto store,
                         OpenStore(config, false, base::Env::Default()));
    storage::PeerState hub;
    hub.node_id = "00000000000000aa";
    hub.role = "hub";
    ASSERT_OK(store->UpdatePeer(hub));
  }
  Out();
  SlowTaskClock slow(clock_.WallNowMillis());
  Io slow_io{.out = out_, .err = err_, .clock = slow};
  const std::string file = tmp_.File("stick.posta-bundle");
  ASSERT_OK(
      RunBundleExport({.config_path = a + "/posta.toml", .to = file}, slow_io));
  const std::string summary = Out();
  // "wrote sync bundle FILE for hub H: 1 batches, N records, S"
  const std::string head =
      "wrote sync bundle " + file + " for hub 00000000000000aa: 1 batches, ";
  ASSERT_EQ(summary.rfind(head, 0), 0u) << summary;
  const std::string records =
      summary.substr(head.size(), summary.find(',', head.size()) - head.size());
  EXPECT_NE(records.find(" records"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" KiB\n"), std::string::npos) << summary;
  const std::string shown = err_.str();
  EXPECT_EQ(shown.rfind("bundle export: 100% " + records + " ", 0), 0u)
      << shown;
  EXPECT_EQ(std::count(shown.begin(), shown.end(), '\n'), 1) << shown;
  err_.str("");
}

TEST_F(CommandsTest, ImportWithRejectionsFailsAndWritesAReport) {
  const std::string a = tmp_.File("a");
  ASSERT_OK(Init(a));
  const std::string input = tmp_.File("in.ndjson");
  std::ofstream(input)
      << R"({"resourceType":"Patient","name":[{"family":"A"}]})"
      << "\nbad\n";
  Io io = MakeIo();
  std::istringstream no_stdin;
  Status s = RunImport({.config_path = a + "/posta.toml",
                        .input_path = input,
                        .report_path = tmp_.File("report.ndjson")},
                       no_stdin, io);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("1 of 2 records rejected"), std::string::npos);
  std::string out = Out();
  EXPECT_NE(out.find("line 2: "), std::string::npos) << out;
  EXPECT_NE(out.find("1 created"), std::string::npos) << out;
  std::ifstream report(tmp_.File("report.ndjson"));
  std::string line;
  ASSERT_TRUE(std::getline(report, line));
  EXPECT_EQ(nlohmann::json::parse(line)["line"], 2);
}

TEST_F(CommandsTest, ImportFromStdin) {
  const std::string a = tmp_.File("a");
  ASSERT_OK(Init(a));
  Io io = MakeIo();
  std::istringstream in(R"({"resourceType":"Patient","name":[{"family":"B"}]})"
                        "\n");
  ASSERT_OK(
      RunImport({.config_path = a + "/posta.toml", .input_path = "-"}, in, io));
  EXPECT_NE(Out().find("1 created"), std::string::npos);
}

TEST_F(CommandsTest, DemoGenerateIsDeterministic) {
  Io io = MakeIo();
  ASSERT_OK(RunDemoGenerate({.patients = 10,
                             .seed = 9,
                             .as_of = "2025-01-01",
                             .out_path = tmp_.File("one.ndjson")},
                            io));
  ASSERT_OK(RunDemoGenerate(
      {.patients = 10, .seed = 9, .as_of = "2025-01-01", .out_path = "-"}, io));
  std::ifstream in(tmp_.File("one.ndjson"));
  std::stringstream file;
  file << in.rdbuf();
  std::string out = Out();
  EXPECT_EQ(out.substr(out.find('\n') + 1), file.str());
  EXPECT_FALSE(RunDemoGenerate({.as_of = "2025-13-01"}, io).ok());
}

TEST_F(CommandsTest, VersionNamesTheSchema) {
  Io io = MakeIo();
  ASSERT_OK(RunVersion(io));
  EXPECT_EQ(Out().rfind("posta ", 0), 0u);
}

}  // namespace
}  // namespace posta::node::cli
