// Per-input driver shared by api_fuzzer and the corpus replay test
// (tests/unit/node_api/api_corpus_test.cc): one input becomes one
// HttpRequest for Api::Handle against a real store, which covers routing,
// request-target and query decoding, If-Match, JSON bodies and the mapping
// of errors to statuses.
//
// Input format (HTTP-like, so seeds stay readable):
//   <method>\n<target>\n(<header name>: <value>\n)*\n<body>
// A missing part is empty; a header line without ':' is a name with an
// empty value.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "api/api.h"
#include "api/metrics.h"
#include "http/http_types.h"
#include "posta/base/clock.h"
#include "posta/storage/record_store.h"

namespace posta::fuzz {

// Inputs longer than this are skipped: they only slow the run down.
inline constexpr size_t kMaxApiInputBytes = 64 << 10;

inline node::HttpRequest DecodeApiInput(std::string_view data) {
  node::HttpRequest request;
  request.remote_address = "127.0.0.1:40000";
  auto next_line = [&data]() {
    const size_t end = data.find('\n');
    std::string_view line = data.substr(0, end);
    data.remove_prefix(end == std::string_view::npos ? data.size() : end + 1);
    return std::string(line);
  };
  request.method = next_line();
  request.target = next_line();
  while (!data.empty()) {
    std::string line = next_line();
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) {
      request.headers.emplace_back(std::move(line), std::string());
      continue;
    }
    std::string_view value = std::string_view(line).substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(line.substr(0, colon), std::string(value));
  }
  request.body = std::string(data);
  return request;
}

// Empty when `response` keeps Api's promises; otherwise what is wrong.
inline std::string CheckApiResponse(const node::HttpResponse& response) {
  const std::string status = std::to_string(response.status);
  if (response.status < 200 || response.status > 599) {
    return "status " + status;
  }
  const bool fhir_json =
      response.content_type.rfind("application/fhir+json", 0) == 0;
  if (response.status < 400 && (!fhir_json || response.body.empty())) {
    return {};  // /metrics text, 204 and the like
  }
  if (!fhir_json) {
    return "status " + status + " with content type " + response.content_type;
  }
  const nlohmann::json body =
      nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("resourceType") ||
      !body["resourceType"].is_string()) {
    return "status " + status + " body is not a resource: " +
           response.body.substr(0, 200);
  }
  if (response.status >= 400 && body["resourceType"] != "OperationOutcome") {
    return "status " + status + " body is not an OperationOutcome";
  }
  return {};
}

// A store in a fresh directory under $TMPDIR (or /tmp) and an Api over it.
class ApiFuzzTarget {
 public:
  ApiFuzzTarget() : clock_(1710000000000) {
    const char* tmp = getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/posta-api-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    dir_ = pattern;
    storage::StoreOptions options;
    options.path = dir_ + "/posta.db";
    options.create_if_missing = true;
    options.facility = "fuzz";
    options.synchronous = storage::StoreOptions::Synchronous::kNormal;
    options.clock = &clock_;
    auto store = storage::OpenRecordStore(options);
    if (!store.ok()) abort();
    store_ = std::move(store).value();
    node::ApiOptions api_options;
    api_options.version = "0.0.0-fuzz";
    api_options.data_dir = dir_;
    api_options.max_page_size = 50;  // bounds the work of one search
    api_ = std::make_unique<node::Api>(*store_, metrics_, api_options, clock_);
  }
  ~ApiFuzzTarget() {
    api_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ApiFuzzTarget(const ApiFuzzTarget&) = delete;
  ApiFuzzTarget& operator=(const ApiFuzzTarget&) = delete;

  node::HttpResponse Handle(std::string_view data) {
    clock_.Advance(std::chrono::milliseconds(1));  // stamps move on like they would in service
    return api_->Handle(DecodeApiInput(data));
  }

  // The store's directory, removed by the destructor.
  const std::string& dir() const { return dir_; }

  // Empty when the answer to `data` passes CheckApiResponse.
  std::string Check(std::string_view data) {
    if (data.size() > kMaxApiInputBytes) return {};
    return CheckApiResponse(Handle(data));
  }

 private:
  std::string dir_;
  base::ManualClock clock_;
  node::Metrics metrics_;
  std::unique_ptr<storage::RecordStore> store_;
  std::unique_ptr<node::Api> api_;
};

}  // namespace posta::fuzz
