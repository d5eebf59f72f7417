// A node that looks after itself: the [storage]/[backup] settings, scheduled
// backups, `posta restore` and `posta doctor`, each broken on purpose in a
// temporary node.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "care/backups.h"
#include "care/serve_lock.h"
#include "cli/commands.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Free space as the test says, for the disk guard and doctor; and, when
// db_bytes is set, the database file's size, for the opening notice.
class FreeSpaceEnv final : public base::EnvWrapper {
 public:
  FreeSpaceEnv() : EnvWrapper(base::Env::Default()) {}
  Result<uint64_t> FreeBytes(const std::string&) override { return free; }
  Result<uint64_t> FileSize(const std::string& path) override {
    if (db_bytes != 0 && path.ends_with("/posta.db")) return db_bytes;
    return EnvWrapper::FileSize(path);
  }
  uint64_t free = uint64_t{10} << 30;
  uint64_t db_bytes = 0;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces `from` (once; it must be there) by `to` in the file at `path`.
void Edit(const std::string& path, const std::string& from,
          const std::string& to) {
  std::string text = ReadAll(path);
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << path;
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::trunc) << text;
}

// Garbage over pages 2 to 4: b-tree pages SQLite's checks must refuse.
void Corrupt(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(4096);
  std::string junk(3 * 4096, '\x5a');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

// Runs a statement on a database file with SQLite directly.
void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

class CareTest : public ::testing::Test {
 protected:
  // Ahead of the real clock the store stamps writes with, as a box whose
  // clock is right.
  CareTest() : clock_(base::SystemClock().WallNowMillis() + 200000) {}

  Io MakeIo() {
    return Io{.out = out_, .err = err_, .clock = clock_, .env = env_};
  }

  // A clinic in tmp/<name>, with a patient written.
  std::string NewNode(const std::string& name,
                      const std::string& facility = "clinic-001") {
    const std::string dir = tmp_.File(name);
    Io io = MakeIo();
    EXPECT_OK(RunInit({.dir = dir, .facility = facility}, io));
    EXPECT_OK(RunDemoSeed({.config_path = dir + "/posta.toml",
                           .patients = 3,
                           .as_of = "2025-05-01"},
                          io));
    Out();
    return dir;
  }

  std::string Out() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  int64_t Patients(const std::string& dir) {
    Io io = MakeIo();
    EXPECT_OK(
        RunStatus({.config_path = dir + "/posta.toml", .json = true}, io));
    auto j = nlohmann::json::parse(Out());
    return j["records"]["Patient"];
  }

  // A fake systemctl that reports `state` for posta.service.
  std::string FakeSystemctl(const std::string& load,
                            const std::string& active) {
    const std::string path = tmp_.File("systemctl-" + load + "-" + active);
    std::ofstream(path) << "#!/bin/sh\n"
                        << "if [ \"$1\" = show ]; then echo " << load
                        << "; exit 0; fi\n"
                        << "echo " << active << "\n"
                        << "[ " << active << " = active ]\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  // Runs doctor; returns its status and leaves its report in *report.
  Status Doctor(const std::string& dir, std::string* report,
                const std::string& systemctl = "") {
    Io io = MakeIo();
    DoctorOptions options{.config_path = dir + "/posta.toml"};
    options.systemctl =
        systemctl.empty() ? FakeSystemctl("loaded", "active") : systemctl;
    Status s = RunDoctor(options, io);
    *report = Out();
    return s;
  }

  // The report's line for one check.
  static std::string Line(const std::string& report, const std::string& name) {
    std::istringstream lines(report);
    std::string line;
    while (std::getline(lines, line)) {
      // "[ok]   name: ...", "[FAIL] name: ..."
      if (line.compare(7, name.size() + 2, name + ": ") == 0) return line;
    }
    return "";
  }

  // Takes a backup the way `posta serve` does.
  Status ScheduledBackup(const std::string& dir) {
    auto node = OpenNode(dir + "/posta.toml", false, false, env_);
    if (!node.ok()) return node.status();
    BackupScheduler backups(node->config, *node->store, clock_, env_);
    return backups.RunOnce();
  }

  TempDir tmp_;
  base::ManualClock clock_;
  FreeSpaceEnv env_;
  std::ostringstream out_;
  std::ostringstream err_;
};

// ---- settings ----

TEST_F(CareTest, ConfigReadsTheFloorAndTheBackupSchedule) {
  const char kBase[] = "[node]\nfacility = \"f\"\ndata_dir = \"/d\"\n";
  ASSERT_OK_AND_ASSIGN(NodeConfig defaults, ParseConfig(kBase, "t.toml"));
  EXPECT_EQ(defaults.min_free_bytes, 64 * kMiB);
  EXPECT_EQ(defaults.backup_every, std::chrono::hours(24));
  EXPECT_EQ(defaults.backup_keep, 7);
  EXPECT_EQ(defaults.BackupDir(), "/d/backups");

  ASSERT_OK_AND_ASSIGN(
      NodeConfig c,
      ParseConfig(std::string(kBase) +
                      "[storage]\nmin_free_mb = 0\n"
                      "[backup]\ndir = \"/mnt/usb\"\nevery_h = 6\nkeep = 3\n",
                  "t.toml"));
  EXPECT_EQ(c.min_free_bytes, 0u);
  EXPECT_EQ(c.BackupDir(), "/mnt/usb");
  EXPECT_EQ(c.backup_every, std::chrono::hours(6));
  EXPECT_EQ(c.backup_keep, 3);
  ASSERT_OK_AND_ASSIGN(NodeConfig again, ParseConfig(RenderConfig(c), "r"));
  EXPECT_EQ(again, c);

  Status bad =
      ParseConfig(std::string(kBase) + "[backup]\nkeep = 0\n", "t.toml")
          .status();
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("backup.keep"), std::string::npos);
  bad = ParseConfig(std::string(kBase) + "[backup]\nevry_h = 1\n", "t.toml")
            .status();
  EXPECT_NE(bad.message().find("unknown key"), std::string::npos);
  bad = ParseConfig(std::string(kBase) + "[storage]\nmin_free_mb = -1\n",
                    "t.toml")
            .status();
  EXPECT_NE(bad.message().find("storage.min_free_mb"), std::string::npos);
}

TEST_F(CareTest, RelativeBackupDirIsTakenFromTheConfigsDirectory) {
  const std::string cfg = tmp_.File("posta.toml");
  std::ofstream(cfg) << "[node]\nfacility = \"f\"\ndata_dir = \"data\"\n"
                        "[backup]\ndir = \"copies/\"\n";
  ASSERT_OK_AND_ASSIGN(NodeConfig c, LoadConfig(cfg));
  EXPECT_EQ(c.BackupDir(), tmp_.File("copies"));
}

// ---- opening a big database ----

// The lines the default logger writes while it lives.
class LogLines {
 public:
  LogLines()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_st>(text_)) {
    auto logger = std::make_shared<spdlog::logger>("test", sink_);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogLines() { spdlog::set_default_logger(previous_); }
  std::string Text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
};

TEST_F(CareTest, OpeningABigDatabaseSaysItIsCheckedAndHowLongItTook) {
  const std::string dir = NewNode("n");
  env_.db_bytes = uint64_t{3} << 30;
  {
    LogLines log;
    ASSERT_OK(OpenNode(dir + "/posta.toml", /*apply_log_level=*/false,
                       /*read_only=*/true, env_)
                  .status());
    const std::string text = log.Text();
    EXPECT_NE(text.find("opening " + dir + "/posta.db (3.0 GiB): it is "
                        "checked page by page first"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("checked and opened " + dir + "/posta.db in "),
              std::string::npos)
        << text;
  }
  // A clinic's database of a few MB opens without a word.
  env_.db_bytes = 40 * kMiB;
  LogLines log;
  ASSERT_OK(OpenNode(dir + "/posta.toml", false, true, env_).status());
  EXPECT_EQ(log.Text(), "");
}

// ---- the disk guard through the commands ----

TEST_F(CareTest, BelowTheFloorImportIsRefusedNamingTheKey) {
  const std::string dir = NewNode("n");
  const std::string file = tmp_.File("p.ndjson");
  Io io = MakeIo();
  ASSERT_OK(
      RunExport({.config_path = dir + "/posta.toml", .out_path = file}, io));
  const std::string other = NewNode("m");
  env_.free = 5 * kMiB;
  std::istringstream no_stdin;
  Status s = RunImport(
      {.config_path = other + "/posta.toml", .input_path = file}, no_stdin, io);
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_NE(s.message().find("5 MiB free"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("below the floor of 64 MiB ([storage] "
                             "min_free_mb)"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(Patients(other), 3);  // reads go on; nothing was added

  ASSERT_OK(RunStatus({.config_path = other + "/posta.toml"}, io));
  EXPECT_NE(Out().find("writes refused"), std::string::npos);
}

// ---- scheduled backups ----

TEST_F(CareTest, BackupFileNamesRoundTrip) {
  const int64_t ms = 1763900000000;  // 2025-11-23T12:13:20Z
  EXPECT_EQ(BackupFileName(ms), "posta-20251123-121320Z.db");
  EXPECT_EQ(ParseBackupFileName(BackupFileName(ms)), ms);
  EXPECT_FALSE(ParseBackupFileName("posta-20251123-121320Z.db.partial"));
  EXPECT_FALSE(ParseBackupFileName("posta.db"));
  EXPECT_FALSE(ParseBackupFileName("posta-2025112x-121320Z.db"));
}

TEST_F(CareTest, ScheduledBackupsAreVerifiedAndOnlyTheLastNKept) {
  const std::string dir = NewNode("n");
  Edit(dir + "/posta.toml", "keep = 7", "keep = 2");
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(ScheduledBackup(dir));
    clock_.Advance(std::chrono::hours(1));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<BackupFile> kept,
                       ListBackups(dir + "/backups"));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_GT(kept[0].taken_ms, kept[1].taken_ms);
  EXPECT_GT(kept[0].bytes, 0u);
  // Each is a sound database of this node.
  ASSERT_OK_AND_ASSIGN(storage::DatabaseFileInfo info,
                       storage::InspectDatabaseFile(kept[0].path));
  EXPECT_EQ(info.facility, "clinic-001");
  EXPECT_FALSE(std::filesystem::exists(kept[0].path + ".partial"));

  Io io = MakeIo();
  ASSERT_OK(RunStatus({.config_path = dir + "/posta.toml", .json = true}, io));
  auto j = nlohmann::json::parse(Out());
  EXPECT_EQ(j["backup"]["count"], 2);
  EXPECT_EQ(j["backup"]["last_path"], kept[0].path);
}

TEST_F(CareTest, ABackupThatWouldFillTheDiskIsRefused) {
  const std::string dir = NewNode("n");
  env_.free = 64 * kMiB;  // the floor exactly: no room for a copy
  auto node = OpenNode(dir + "/posta.toml", false, false, env_);
  ASSERT_OK(node);
  BackupScheduler backups(node->config, *node->store, clock_, env_);
  Status s = backups.RunOnce();
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_NE(s.message().find("[backup] dir"), std::string::npos);
  BackupState state = backups.state();
  EXPECT_EQ(state.backups_failed, 1);
  EXPECT_EQ(state.last_success_ms, 0);
  EXPECT_FALSE(state.last_error.empty());
}

// ---- restore ----

TEST_F(CareTest, RestorePutsABackupBackAndKeepsTheReplacedDatabase) {
  const std::string dir = NewNode("n");
  const std::string backup = tmp_.File("b.db");
  Io io = MakeIo();
  ASSERT_OK(
      RunBackup({.config_path = dir + "/posta.toml", .dest = backup}, io));
  ASSERT_OK(RunDemoSeed({.config_path = dir + "/posta.toml",
                         .patients = 5,
                         .seed = 9,
                         .as_of = "2025-06-01"},
                        io));
  Out();
  EXPECT_EQ(Patients(dir), 8);

  ASSERT_OK(
      RunRestore({.config_path = dir + "/posta.toml", .file = backup}, io));
  const std::string said = Out();
  EXPECT_NE(said.find("restored " + backup), std::string::npos) << said;
  EXPECT_EQ(Patients(dir), 3);
  // The replaced database is kept beside it, whole.
  std::string side;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("posta.db.before-restore-", 0) == 0 &&
        name.find("-wal") == std::string::npos) {
      side = entry.path().string();
    }
  }
  ASSERT_FALSE(side.empty()) << said;
  EXPECT_NE(said.find(side), std::string::npos);
  ASSERT_OK_AND_ASSIGN(storage::DatabaseFileInfo info,
                       storage::InspectDatabaseFile(side));
  EXPECT_EQ(info.facility, "clinic-001");
  EXPECT_FALSE(std::filesystem::exists(dir + "/posta.db.restoring"));
}

TEST_F(CareTest, RestoreRefusesWhileTheNodeServes) {
  const std::string dir = NewNode("n");
  const std::string backup = tmp_.File("b.db");
  Io io = MakeIo();
  ASSERT_OK(
      RunBackup({.config_path = dir + "/posta.toml", .dest = backup}, io));
  // flock belongs to an open file description: a lock taken through
  // another open in this process conflicts like another process's.
  ASSERT_OK_AND_ASSIGN(auto lock, ServeLock::Acquire(dir));
  Status s =
      RunRestore({.config_path = dir + "/posta.toml", .file = backup}, io);
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("posta serve is running"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("pid " + std::to_string(::getpid())),
            std::string::npos)
      << s.message();
  lock.reset();
  EXPECT_OK(
      RunRestore({.config_path = dir + "/posta.toml", .file = backup}, io));
}

TEST_F(CareTest, RestoreRefusesFilesThatAreNotASoundPostaDatabase) {
  const std::string dir = NewNode("n");
  const std::string cfg = dir + "/posta.toml";
  Io io = MakeIo();
  const std::string before = ReadAll(dir + "/posta.db");

  const std::string text = tmp_.File("notes.txt");
  std::ofstream(text) << "not a database at all\n";
  Status s = RunRestore({.config_path = cfg, .file = text}, io);
  EXPECT_EQ(s.code(), Status::Code::kMalformed);
  EXPECT_NE(s.message().find("not a posta database"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(text), std::string::npos);

  const std::string foreign = tmp_.File("foreign.db");
  Sql(foreign, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
  s = RunRestore({.config_path = cfg, .file = foreign}, io);
  EXPECT_EQ(s.code(), Status::Code::kMalformed);

  const std::string newer = tmp_.File("newer.db");
  ASSERT_OK(RunBackup({.config_path = cfg, .dest = newer}, io));
  Sql(newer, "PRAGMA user_version = 999;");
  s = RunRestore({.config_path = cfg, .file = newer}, io);
  EXPECT_EQ(s.code(), Status::Code::kVersionMismatch);
  EXPECT_NE(s.message().find("999"), std::string::npos) << s.message();

  const std::string corrupt = tmp_.File("corrupt.db");
  ASSERT_OK(RunBackup({.config_path = cfg, .dest = corrupt}, io));
  Corrupt(corrupt);
  s = RunRestore({.config_path = cfg, .file = corrupt}, io);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("choose another"), std::string::npos)
      << s.message();

  // Every refusal left the node's database as it was.
  EXPECT_TRUE(ReadAll(dir + "/posta.db") == before);
  EXPECT_FALSE(std::filesystem::exists(dir + "/posta.db.restoring"));
  Out();
}

TEST_F(CareTest, RestoreRefusesAnotherNodesBackupUnlessForced) {
  const std::string mine = NewNode("mine");
  const std::string same_facility = NewNode("twin");
  const std::string elsewhere = NewNode("else", "clinic-002");
  Io io = MakeIo();
  const std::string twin_backup = tmp_.File("twin.db");
  const std::string else_backup = tmp_.File("else.db");
  ASSERT_OK(RunBackup(
      {.config_path = same_facility + "/posta.toml", .dest = twin_backup}, io));
  ASSERT_OK(RunBackup(
      {.config_path = elsewhere + "/posta.toml", .dest = else_backup}, io));

  const std::string cfg = mine + "/posta.toml";
  Status s = RunRestore({.config_path = cfg, .file = else_backup}, io);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(s.message().find("clinic-002"), std::string::npos) << s.message();
  s = RunRestore({.config_path = cfg, .file = twin_backup}, io);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(s.message().find("two boxes with one node id"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--force-other-node"), std::string::npos);

  ASSERT_OK(RunRestore(
      {.config_path = cfg, .file = twin_backup, .force_other_node = true}, io));
  EXPECT_NE(Out().find("must not sync again"), std::string::npos);
}

// ---- doctor ----

TEST_F(CareTest, DoctorPassesOnAHealthyNode) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  std::string report;
  Status s = Doctor(dir, &report);
  EXPECT_OK(s) << report;
  EXPECT_NE(Line(report, "config").find("[ok]"), std::string::npos) << report;
  EXPECT_NE(Line(report, "database").find("schema version"), std::string::npos);
  EXPECT_NE(Line(report, "hub reachable").find("[skip]"), std::string::npos);
  EXPECT_NE(Line(report, "systemd unit").find("[ok]"), std::string::npos);
  EXPECT_NE(report.find("0 failed"), std::string::npos) << report;
}

TEST_F(CareTest, DoctorSaysWhenTheConfigIsInvalid) {
  const std::string dir = NewNode("n");
  Edit(dir + "/posta.toml", "min_free_mb = 64", "min_free_mb = \"lots\"");
  std::string report;
  Status s = Doctor(dir, &report);
  EXPECT_EQ(s.code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "config");
  EXPECT_NE(line.find("[FAIL]"), std::string::npos) << report;
  EXPECT_NE(line.find("to fix:"), std::string::npos);
  EXPECT_NE(Line(report, "database").find("[skip]"), std::string::npos);
}

TEST_F(CareTest, DoctorFailsADataDirectoryOpenToEveryone) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "data directory");
  EXPECT_NE(line.find("[FAIL]"), std::string::npos) << report;
  EXPECT_NE(line.find("chmod 750"), std::string::npos) << line;
  EXPECT_NE(report.find("1 failed"), std::string::npos) << report;
}

TEST_F(CareTest, DoctorFailsADataDirectoryThisUserCannotUse) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root may use any directory; the mode check cannot fail";
  }
  const std::string dir = NewNode("n");
  ASSERT_EQ(::chmod(dir.c_str(), 0500), 0);
  std::string report;
  Status s = Doctor(dir, &report);
  ::chmod(dir.c_str(), 0750);
  EXPECT_EQ(s.code(), Status::Code::kPreconditionFailed);
  EXPECT_NE(Line(report, "data directory").find("cannot be read and written"),
            std::string::npos)
      << report;
}

TEST_F(CareTest, DoctorFailsACorruptDatabase) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  Corrupt(dir + "/posta.db");
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "database");
  EXPECT_NE(line.find("[FAIL]"), std::string::npos) << report;
  EXPECT_NE(line.find("posta restore"), std::string::npos) << line;
}

TEST_F(CareTest, DoctorFailsADatabaseFromANewerPosta) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  Sql(dir + "/posta.db", "PRAGMA user_version = 999;");
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "database");
  EXPECT_NE(line.find("999"), std::string::npos) << report;
  EXPECT_NE(line.find("newer posta"), std::string::npos) << line;
}

TEST_F(CareTest, DoctorFailsLowDiskFromTheSeamAndFromAnAbsurdFloor) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  env_.free = 10 * kMiB;
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "free disk");
  EXPECT_NE(line.find("[FAIL] free disk: 10 MiB free, below the floor of 64 "
                      "MiB ([storage] min_free_mb)"),
            std::string::npos)
      << report;

  env_.free = uint64_t{10} << 30;
  Edit(dir + "/posta.toml", "min_free_mb = 64", "min_free_mb = 1073741824");
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  EXPECT_NE(Line(report, "free disk").find("[FAIL]"), std::string::npos)
      << report;
}

TEST_F(CareTest, DoctorFailsAClockBehindTheLastStamp) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  clock_.SetWall(0);  // a board that booted in 1970
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "clock");
  EXPECT_NE(line.find("[FAIL] clock: now 1970-01-01"), std::string::npos)
      << report;
  EXPECT_NE(line.find("behind the last stamp"), std::string::npos) << line;
  EXPECT_NE(line.find("timedatectl"), std::string::npos) << line;
}

TEST_F(CareTest, DoctorFailsAnUnreachableHubAndAMissingCredential) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  // Port 9 (discard): nothing listens there on a test machine.
  std::string cfg = ReadAll(dir + "/posta.toml");
  cfg.replace(cfg.find("hub_url = \"\""), 12,
              "hub_url = \"http://127.0.0.1:9\"");
  std::ofstream(dir + "/posta.toml") << cfg;
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  EXPECT_NE(Line(report, "hub reachable").find("[FAIL]"), std::string::npos)
      << report;
  EXPECT_NE(Line(report, "hub reachable").find("unreachable"),
            std::string::npos)
      << report;
  std::string credential = Line(report, "credential");
  EXPECT_NE(credential.find("[FAIL] credential: none"), std::string::npos)
      << report;
  EXPECT_NE(credential.find("posta enroll"), std::string::npos);
  EXPECT_NE(Line(report, "TLS pin").find("[skip]"), std::string::npos);
  EXPECT_NE(Line(report, "last sync").find("never synced"), std::string::npos);
}

TEST_F(CareTest, DoctorFailsAnOldLastSync) {
  const std::string dir = NewNode("n");
  std::string cfg = ReadAll(dir + "/posta.toml");
  cfg.replace(cfg.find("hub_url = \"\""), 12,
              "hub_url = \"http://127.0.0.1:9\"");
  std::ofstream(dir + "/posta.toml") << cfg;
  {
    auto node = OpenNode(dir + "/posta.toml", false, false, env_);
    ASSERT_OK(node);
    storage::PeerState hub;
    hub.node_id = "00000000000000aa";
    hub.facility = "hub";
    hub.role = "hub";
    hub.last_sync_ms = clock_.WallNowMillis() - 3 * 24 * 3600 * 1000LL;
    ASSERT_OK(node->store->UpdatePeer(hub));
  }
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "last sync");
  EXPECT_NE(line.find("[FAIL] last sync: last sync 3 days ago"),
            std::string::npos)
      << report;
}

TEST_F(CareTest, DoctorFailsAMissingOrOldBackup) {
  const std::string dir = NewNode("n");
  std::string report;
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  std::string line = Line(report, "last backup");
  EXPECT_NE(line.find("[FAIL] last backup: no backup in " + dir + "/backups"),
            std::string::npos)
      << report;
  EXPECT_NE(line.find("posta backup --config"), std::string::npos) << line;

  ASSERT_OK(ScheduledBackup(dir));
  ASSERT_OK(Doctor(dir, &report));
  clock_.Advance(std::chrono::hours(72));
  EXPECT_EQ(Doctor(dir, &report).code(), Status::Code::kPreconditionFailed);
  EXPECT_NE(Line(report, "last backup")
                .find("[FAIL] last backup: newest "
                      "backup 3 days ago"),
            std::string::npos)
      << report;
}

TEST_F(CareTest, DoctorReportsTheServiceState) {
  const std::string dir = NewNode("n");
  ASSERT_OK(ScheduledBackup(dir));
  std::string report;
  EXPECT_EQ(Doctor(dir, &report, FakeSystemctl("loaded", "failed")).code(),
            Status::Code::kPreconditionFailed);
  std::string line = Line(report, "systemd unit");
  EXPECT_NE(line.find("[FAIL] systemd unit: posta.service is failed"),
            std::string::npos)
      << report;
  EXPECT_NE(line.find("journalctl -u posta"), std::string::npos);

  // Not installed as a service is no fault on a dev box.
  EXPECT_OK(Doctor(dir, &report, FakeSystemctl("not-found", "inactive")));
  EXPECT_NE(Line(report, "systemd unit").find("[skip]"), std::string::npos)
      << report;
  EXPECT_OK(Doctor(dir, &report, tmp_.File("no-such-systemctl")));
  EXPECT_NE(Line(report, "systemd unit").find("no systemctl"),
            std::string::npos)
      << report;
}

}  // namespace
}  // namespace posta::node::cli
