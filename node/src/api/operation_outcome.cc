#include "api/operation_outcome.h"

#include <spdlog/spdlog.h>

#include "api/json_util.h"
#include "api/status_http.h"
#include "posta/storage/record.h"

namespace posta::node {

namespace {

constexpr size_t kMaxDiagnosticsBytes = 1024;

bool IsPathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '[' || c == ']';
}

// "<Type>.<field>[.<field>...]" where Type is a resource type we serve.
bool IsFieldPath(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot + 1 >= text.size()) return false;
  if (!storage::ParseResourceType(text.substr(0, dot))) return false;
  bool segment_empty = true;
  for (char c : text.substr(dot + 1)) {
    if (c == '.') {
      if (segment_empty) return false;
      segment_empty = true;
    } else if (IsPathChar(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty;
}

}  // namespace

std::string OperationOutcomeJson(std::string_view severity,
                                 std::string_view issue_code,
                                 std::string_view diagnostics,
                                 std::string_view expression) {
  nlohmann::json issue = {
      {"severity", std::string(severity)},
      {"code", std::string(issue_code)},
      {"diagnostics",
       std::string(diagnostics.substr(0, kMaxDiagnosticsBytes))},
  };
  if (!expression.empty()) {
    issue["expression"] = nlohmann::json::array({std::string(expression)});
  }
  nlohmann::json outcome = {{"resourceType", "OperationOutcome"},
                            {"issue", nlohmann::json::array({issue})}};
  return DumpJson(outcome);
}

std::string FieldPathOf(std::string_view message) {
  // Context prefixes come first ("write Patient/…: Patient.name: …"), so the
  // first segment that is a field path wins.
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find(": ", start);
    if (end == std::string_view::npos) break;
    std::string_view segment = message.substr(start, end - start);
    if (IsFieldPath(segment)) return std::string(segment);
    start = end + 2;
  }
  return {};
}

std::string NewErrorId(base::Random& random) { return random.Hex(16); }

HttpResponse StatusResponse(const Status& status, base::Random& random) {
  HttpMapping mapping = MapStatus(status.code());
  if (mapping.http_status < 500) {
    return OutcomeResponse(mapping.http_status, mapping.issue_code,
                           status.message());
  }
  std::string id = NewErrorId(random);
  spdlog::error("http {} error {}: {}", mapping.http_status, id,
                status.ToString());
  std::string text;
  switch (status.code()) {
    case Status::Code::kUnavailable:
      text = "temporarily unavailable; retry later; reference " + id;
      break;
    case Status::Code::kNoSpace: {
      // The disk guard's refusal says what a person can act on (free
      // space, the floor, the key); its path stays in the log.
      const std::string& m = status.message();
      const size_t colon = m.find(": ");
      if (m.find("below the floor") != std::string::npos &&
          colon != std::string::npos) {
        text = "insufficient storage on the node: " + m.substr(colon + 2) +
               "; reference " + id;
      } else {
        text = "insufficient storage on the node; reference " + id;
      }
      break;
    }
    case Status::Code::kIOError:
      // A disk or SD card failing: a person can retry, and someone can
      // check the hardware. Which file and what SQLite said stay in the
      // log.
      text =
          "storage error: the node could not read or write its database; "
          "retry, and if it keeps failing tell the technician (`posta "
          "doctor` checks the disk); reference " +
          id;
      break;
    case Status::Code::kCorruption:
      text =
          "storage error: the node's database is damaged, and nothing was "
          "changed; tell the technician (`posta doctor`, then `posta "
          "restore` from a backup); reference " +
          id;
      break;
    default:
      text = "internal error; reference " + id;
      break;
  }
  HttpResponse response =
      OutcomeResponse(mapping.http_status, mapping.issue_code, text);
  if (mapping.http_status == 503) response.headers.emplace_back("Retry-After", "5");
  return response;
}

HttpResponse OutcomeResponse(int http_status, std::string_view issue_code,
                             std::string_view diagnostics) {
  HttpResponse response;
  response.status = http_status;
  response.content_type = std::string(kFhirJsonType);
  std::string expression = FieldPathOf(diagnostics);
  response.body =
      OperationOutcomeJson("error", issue_code, diagnostics, expression);
  return response;
}

std::string OutcomeDiagnostics(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return {};
  auto issues = j.find("issue");
  if (issues == j.end() || !issues->is_array() || issues->empty()) return {};
  const nlohmann::json& first = issues->front();
  if (!first.is_object()) return {};
  auto diagnostics = first.find("diagnostics");
  if (diagnostics == first.end() || !diagnostics->is_string()) return {};
  return diagnostics->get<std::string>();
}

}  // namespace posta::node
