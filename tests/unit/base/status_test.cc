#include "posta/base/status.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace posta {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, MessageSaysWhatThenWhy) {
  Status s = Status::InvalidArgument("Patient.birthDate", "not an ISO date");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "Patient.birthDate: not an ISO date");
  EXPECT_EQ(s.ToString(), "InvalidArgument: Patient.birthDate: not an ISO date");
}

TEST(StatusTest, WithContextPrefixes) {
  Status s = Status::IOError("/data/posta.db", "disk full").WithContext("import");
  EXPECT_EQ(s.message(), "import: /data/posta.db: disk full");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(StatusTest, OnlyTransientErrorsAreRetryable) {
  EXPECT_TRUE(Status::Unavailable("hub").IsRetryable());
  EXPECT_TRUE(Status::IOError("f").IsRetryable());
  EXPECT_FALSE(Status::Corruption("db").IsRetryable());
  EXPECT_FALSE(Status::InvalidArgument("x").IsRetryable());
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("x", "odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  POSTA_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::Ok();
}

TEST(ResultTest, ValueOrStatus) {
  ASSERT_OK_AND_ASSIGN(int h, Half(8));
  EXPECT_EQ(h, 4);
  Result<int> bad = Half(3);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  int out = 0;
  EXPECT_FALSE(UseHalf(3, &out).ok());
  EXPECT_OK(UseHalf(10, &out));
  EXPECT_EQ(out, 5);
}

}  // namespace
}  // namespace posta
