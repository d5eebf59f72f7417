// Shared fixture for tests that call Api::Handle directly against a real
// store in a temporary directory.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api.h"
#include "api/metrics.h"
#include "http/http_types.h"
#include "posta/base/clock.h"
#include "posta/storage/record_store.h"
#include "test_util.h"

namespace posta::node::testing {

inline constexpr const char* kHost = "clinic.local:8080";
inline constexpr const char* kBase = "http://clinic.local:8080";

inline HttpRequest Request(std::string method, std::string target,
                           std::string body = {},
                           std::string content_type = "application/fhir+json") {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.headers.emplace_back("Host", kHost);
  if (!content_type.empty() && !body.empty()) {
    request.headers.emplace_back("Content-Type", std::move(content_type));
  }
  request.body = std::move(body);
  request.remote_address = "127.0.0.1:40000";
  return request;
}

inline nlohmann::json Body(const HttpResponse& response) {
  return nlohmann::json::parse(response.body, nullptr,
                               /*allow_exceptions=*/false);
}

inline std::string HeaderOf(const HttpResponse& response,
                            const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

inline std::string PatientJson(const std::string& family,
                               const std::string& given,
                               const std::string& birth_date = "1990-04-12") {
  nlohmann::json body = {
      {"resourceType", "Patient"},
      {"name", {{{"family", family}, {"given", {given}}}}},
      {"gender", "female"},
      {"birthDate", birth_date},
  };
  return body.dump();
}

// Checks an error answer: HTTP status, OperationOutcome shape, issue code.
inline ::testing::AssertionResult IsOutcome(const HttpResponse& response,
                                            int status,
                                            const std::string& code = {}) {
  if (response.status != status) {
    return ::testing::AssertionFailure()
           << "status " << response.status << " != " << status << ": "
           << response.body;
  }
  nlohmann::json body = Body(response);
  if (body.is_discarded() || body.value("resourceType", "") !=
                                 "OperationOutcome") {
    return ::testing::AssertionFailure()
           << "not an OperationOutcome: " << response.body;
  }
  const nlohmann::json& issue = body["issue"][0];
  if (!issue.contains("diagnostics") || !issue["diagnostics"].is_string()) {
    return ::testing::AssertionFailure() << "no diagnostics: " << response.body;
  }
  if (!code.empty() && issue.value("code", "") != code) {
    return ::testing::AssertionFailure()
           << "issue code " << issue.value("code", "") << " != " << code;
  }
  if (response.content_type.rfind("application/fhir+json", 0) != 0) {
    return ::testing::AssertionFailure()
           << "content type " << response.content_type;
  }
  return ::testing::AssertionSuccess();
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(ApiOptions{}); }

  void Open(ApiOptions options) {
    api_.reset();
    store_.reset();
    storage::StoreOptions store_options;
    store_options.path = dir_.File("posta.db");
    store_options.create_if_missing = true;
    store_options.facility = "fac-1";
    store_options.clock = &store_clock_;
    auto store = storage::OpenRecordStore(store_options);
    ASSERT_OK(store);
    store_ = std::move(store).value();
    if (options.data_dir.empty()) options.data_dir = dir_.path();
    if (options.version.empty()) options.version = "9.9.9";
    api_ = std::make_unique<Api>(*store_, metrics_, options, clock_);
  }

  HttpResponse Handle(const HttpRequest& request) {
    return api_->Handle(request);
  }

  // Creates a patient and returns its id.
  std::string CreatePatient(const std::string& family,
                            const std::string& given,
                            const std::string& birth_date = "1990-04-12") {
    HttpResponse response = Handle(Request(
        "POST", "/fhir/Patient", PatientJson(family, given, birth_date)));
    EXPECT_EQ(response.status, 201) << response.body;
    return Body(response).value("id", "");
  }

  std::string Digest() {
    auto digest = store_->ContentDigest();
    EXPECT_OK(digest);
    return digest.ok() ? *digest : std::string();
  }

  posta::testing::TempDir dir_;
  base::ManualClock store_clock_{1710000000000};  // 2024-03-09
  base::ManualClock clock_{1710000000000};
  Metrics metrics_;
  std::unique_ptr<storage::RecordStore> store_;
  std::unique_ptr<Api> api_;
};

}  // namespace posta::node::testing
