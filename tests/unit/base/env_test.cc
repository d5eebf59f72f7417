#include "posta/base/env.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace posta::base {
namespace {

using posta::testing::TempDir;

TEST(EnvTest, WriteAtomicThenRead) {
  TempDir dir;
  Env& env = Env::Default();
  std::string path = dir.File("a/b/c.txt");
  ASSERT_OK(env.CreateDirs(dir.File("a/b")));
  ASSERT_OK(env.WriteFileAtomic(path, "hello"));
  ASSERT_OK_AND_ASSIGN(std::string got, env.ReadFile(path, 100));
  EXPECT_EQ(got, "hello");
  ASSERT_OK(env.WriteFileAtomic(path, "replaced"));
  ASSERT_OK_AND_ASSIGN(got, env.ReadFile(path, 100));
  EXPECT_EQ(got, "replaced");
  EXPECT_FALSE(env.FileExists(path + ".tmp"));
  ASSERT_OK_AND_ASSIGN(uint64_t size, env.FileSize(path));
  EXPECT_EQ(size, 8u);
}

TEST(EnvTest, ReadIsBounded) {
  TempDir dir;
  Env& env = Env::Default();
  ASSERT_OK(env.WriteFileAtomic(dir.File("big"), std::string(1000, 'x')));
  auto r = env.ReadFile(dir.File("big"), 999);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooLarge);
}

TEST(EnvTest, MissingFileIsNotFound) {
  TempDir dir;
  auto r = Env::Default().ReadFile(dir.File("nope"), 10);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
}

TEST(EnvTest, FreeBytesOfTempDir) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(uint64_t free, Env::Default().FreeBytes(dir.path()));
  EXPECT_GT(free, 0u);
}

// A wrapper can refuse writes, as a full disk would.
class FullDiskEnv : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  Status WriteFileAtomic(const std::string& p, const std::string&,
                         unsigned) override {
    return Status::NoSpace(p, "No space left on device");
  }
};

TEST(EnvTest, WrapperInjectsFaults) {
  TempDir dir;
  FullDiskEnv env(Env::Default());
  Status s = env.WriteFileAtomic(dir.File("x"), "data", 0644);
  EXPECT_EQ(s.code(), Status::Code::kNoSpace);
  EXPECT_TRUE(s.IsRetryable());
  EXPECT_FALSE(env.FileExists(dir.File("x")));
}

}  // namespace
}  // namespace posta::base
