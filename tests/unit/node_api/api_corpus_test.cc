// Replays the api_fuzzer seed corpus, in name order, through one Api over a
// real store exactly as the fuzzer does, so CI covers it without clang: each
// answer has a status in 200..599 and, from 400 up, an OperationOutcome body
// (any FHIR JSON body below 400 is a resource).
#include <gtest/gtest.h>

#include "test_util.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api_fuzz_entry.h"

namespace posta::node {
namespace {

TEST(ApiCorpusTest, EveryAnswerKeepsTheApiContract) {
  const ::posta::testing::Seeds files =
      ::posta::testing::ReadCorpus(POSTA_API_CORPUS_DIR);
  ASSERT_GE(files.size(), 10u);

  fuzz::ApiFuzzTarget target;
  int errors = 0;
  for (const auto& [name, data] : files) {
    SCOPED_TRACE(name);
    ASSERT_LE(data.size(), fuzz::kMaxApiInputBytes);
    const HttpResponse response = target.Handle(data);
    EXPECT_GE(response.status, 200);
    EXPECT_LE(response.status, 599);
    EXPECT_EQ(fuzz::CheckApiResponse(response), "") << response.body;
    if (response.status >= 400) {
      ++errors;
      const nlohmann::json body = nlohmann::json::parse(
          response.body, nullptr, /*allow_exceptions=*/false);
      ASSERT_TRUE(body.is_object()) << response.body;
      EXPECT_EQ(body.value("resourceType", ""), "OperationOutcome");
    }
  }
  // The corpus holds both accepted and refused requests.
  EXPECT_GT(errors, 0);
  EXPECT_LT(errors, static_cast<int>(files.size()));
}

TEST(ApiCorpusTest, DecodeSplitsMethodTargetHeadersAndBody) {
  const HttpRequest request = fuzz::DecodeApiInput(
      "PUT\n/fhir/Patient/x\nIf-Match:  W/\"v\"\nX-Empty\n\n{\n}");
  EXPECT_EQ(request.method, "PUT");
  EXPECT_EQ(request.target, "/fhir/Patient/x");
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[0].first, "If-Match");
  EXPECT_EQ(request.headers[0].second, "W/\"v\"");
  EXPECT_EQ(request.headers[1].first, "X-Empty");
  EXPECT_EQ(request.headers[1].second, "");
  EXPECT_EQ(request.body, "{\n}");
}

}  // namespace
}  // namespace posta::node
