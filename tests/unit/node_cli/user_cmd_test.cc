// posta user add | list | disable | passwd against a node made with
// posta init, and their refusals (each leaving the users as they were).
#include "cli/user_cmd.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/password.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;

class UserCmdTest : public ::testing::Test {
 protected:
  void SetUp() override { Init("clinic"); }

  void Init(const std::string& role) {
    dir_ = tmp_.File(role);
    config_ = dir_ + "/posta.toml";
    Io io = MakeIo();
    ASSERT_OK(RunInit({.dir = dir_,
                       .role = role,
                       .facility = "clinic-001",
                       .listen = "127.0.0.1:8181"},
                      io));
    Out();
  }

  Io MakeIo() { return Io{.out = out_, .err = err_, .clock = clock_}; }

  std::string Out() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  Status Add(const std::string& name, const std::string& role,
             const std::string& password, const std::string& region = "") {
    UserAddOptions options;
    options.config_path = config_;
    options.name = name;
    options.role = role;
    options.region = region;
    options.password.from_stdin = true;
    options.scrypt = auth::kTestOnlyScrypt;
    std::istringstream in(password + "\n");
    Io io = MakeIo();
    return RunUserAdd(options, in, io);
  }

  std::vector<storage::UserEntry> Users() {
    storage::StoreOptions options;
    options.path = dir_ + "/posta.db";
    options.facility = "clinic-001";
    options.read_only = true;
    auto store = storage::OpenRecordStore(options);
    EXPECT_OK(store);
    if (!store.ok()) return {};
    auto users = (*store)->ListUsers();
    EXPECT_OK(users);
    return users.ok() ? *users : std::vector<storage::UserEntry>{};
  }

  TempDir tmp_;
  std::string dir_;
  std::string config_;
  std::ostringstream out_;
  std::ostringstream err_;
  base::ManualClock clock_{1710000000000};
};

TEST_F(UserCmdTest, AddThenList) {
  ASSERT_OK(Add("amina", "registrar", "long enough"));
  EXPECT_EQ(Out(), "added user amina (registrar)\n");
  ASSERT_OK(Add("carl", "clinician", "also long enough"));
  Out();
  std::vector<storage::UserEntry> users = Users();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].name, "amina");
  EXPECT_EQ(users[0].created_ms, 1710000000000);
  EXPECT_EQ(*auth::VerifyPassword("long enough", users[0].password_hash), true);

  Io io = MakeIo();
  ASSERT_OK(RunUserList({.config_path = config_}, io));
  std::string table = Out();
  EXPECT_NE(table.find("amina"), std::string::npos) << table;
  EXPECT_NE(table.find("clinician"), std::string::npos) << table;
  EXPECT_EQ(table.find("scrypt"), std::string::npos) << "hash printed";
  ASSERT_OK(RunUserList({.config_path = config_, .json = true}, io));
  std::istringstream lines(Out());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  nlohmann::json first = nlohmann::json::parse(line);
  EXPECT_EQ(first["name"], "amina");
  EXPECT_EQ(first["role"], "registrar");
  EXPECT_EQ(first["disabled"], false);
  EXPECT_EQ(first["created"], "2024-03-09T16:00:00.000Z");
  EXPECT_FALSE(first.contains("password_hash"));
}

TEST_F(UserCmdTest, AddRefusals) {
  ASSERT_OK(Add("amina", "registrar", "long enough"));
  Out();
  Status dup = Add("amina", "admin", "long enough");
  EXPECT_EQ(dup.code(), Status::Code::kConflict);
  EXPECT_EQ(dup.message(), "user amina: already exists");
  Status coordinator = Add("zed", "coordinator", "long enough");
  EXPECT_EQ(coordinator.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(coordinator.message(),
            "role \"coordinator\": not a role on a clinic; use one of "
            "registrar, clinician, admin");
  Status short_password = Add("zed", "admin", "short");
  EXPECT_EQ(short_password.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(short_password.message(),
            "password: shorter than 8 characters; choose a longer one");
  EXPECT_EQ(Add("zed", "admin", "").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Add("Zed!", "admin", "long enough").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Add("zed", "admin", "long enough", "north").code(),
            Status::Code::kInvalidArgument);
  // No terminal and no --password-stdin: told what to do.
  UserAddOptions options;
  options.config_path = config_;
  options.name = "zed";
  options.role = "admin";
  std::istringstream in("long enough\n");
  Io io = MakeIo();
  Status no_tty = RunUserAdd(options, in, io);
  EXPECT_EQ(no_tty.message(),
            "password: no terminal to type it on; pipe it in with "
            "--password-stdin");
  ASSERT_EQ(Users().size(), 1u);
}

TEST_F(UserCmdTest, HubRoles) {
  Init("hub");
  ASSERT_OK(Add("cora", "coordinator", "long enough", "north"));
  ASSERT_OK(Add("root", "admin", "long enough"));
  EXPECT_EQ(Add("rita", "registrar", "long enough").code(),
            Status::Code::kInvalidArgument);
  std::vector<storage::UserEntry> users = Users();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].region, "north");
}

TEST_F(UserCmdTest, DisableEndsSessions) {
  ASSERT_OK(Add("amina", "registrar", "long enough"));
  {
    storage::StoreOptions options;
    options.path = dir_ + "/posta.db";
    options.facility = "clinic-001";
    auto store = storage::OpenRecordStore(options);
    ASSERT_OK(store);
    storage::SessionEntry session{std::string(64, 'a'), "amina", 1, 1 << 30, 1};
    ASSERT_OK((*store)->AddSession(session));
  }
  Out();
  Io io = MakeIo();
  ASSERT_OK(RunUserDisable({.config_path = config_, .name = "amina"}, io));
  EXPECT_EQ(Out(), "disabled user amina; ended 1 session\n");
  EXPECT_TRUE(Users()[0].disabled);
  Status missing =
      RunUserDisable({.config_path = config_, .name = "nobody"}, io);
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.message(), "user nobody: no such user");
}

TEST_F(UserCmdTest, Passwd) {
  ASSERT_OK(Add("amina", "registrar", "long enough"));
  Out();
  const std::string old_hash = Users()[0].password_hash;
  UserPasswdOptions options;
  options.config_path = config_;
  options.name = "amina";
  options.password.from_stdin = true;
  options.scrypt = auth::kTestOnlyScrypt;
  Io io = MakeIo();
  {
    std::istringstream in("tiny\n");
    EXPECT_EQ(RunUserPasswd(options, in, io).code(),
              Status::Code::kInvalidArgument);
    EXPECT_EQ(Users()[0].password_hash, old_hash);
  }
  {
    std::istringstream in("a new long password\n");
    ASSERT_OK(RunUserPasswd(options, in, io));
  }
  EXPECT_EQ(Out(), "changed the password of amina; their sessions ended\n");
  const std::string new_hash = Users()[0].password_hash;
  EXPECT_EQ(*auth::VerifyPassword("a new long password", new_hash), true);
  EXPECT_EQ(*auth::VerifyPassword("long enough", new_hash), false);
  options.name = "nobody";
  std::istringstream in("a new long password\n");
  EXPECT_EQ(RunUserPasswd(options, in, io).code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace posta::node::cli
