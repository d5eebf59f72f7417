// Test helpers shared by every layer's tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "posta/base/status.h"

namespace posta::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string File(const std::string& name) const;

 private:
  std::string path_;
};

// The whole content of `path` as bytes; "" when it cannot be read. For
// replaying fuzz seed corpora.
std::string ReadWholeFile(const std::string& path);

// A fuzz seed corpus: file name and bytes.
using Seeds = std::vector<std::pair<std::string, std::string>>;

// Every file of the corpus directory `dir`, in name order.
Seeds ReadCorpus(const std::string& dir);

// Writes each seed into `dir` as a file of its name (the corpus tests'
// WriteSeeds tool, after a format change). Stops at the first failure.
Status WriteCorpus(const std::string& dir, const Seeds& seeds);

inline ::testing::AssertionResult IsOk(const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}
template <typename T>
::testing::AssertionResult IsOk(const Result<T>& r) {
  return IsOk(r.status());
}

}  // namespace posta::testing

#define ASSERT_OK(expr) ASSERT_TRUE(::posta::testing::IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(::posta::testing::IsOk(expr))

#define POSTA_TEST_CONCAT_INNER_(a, b) a##b
#define POSTA_TEST_CONCAT_(a, b) POSTA_TEST_CONCAT_INNER_(a, b)
// ASSERT_OK_AND_ASSIGN(auto x, Fn()); — fails the test when Fn() is an error.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(POSTA_TEST_CONCAT_(posta_r_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  ASSERT_OK(tmp);                                   \
  lhs = std::move(tmp).value()
