// Status → HTTP: the one table that says which HTTP status and which FHIR
// OperationOutcome issue code each Status code becomes.
#pragma once

#include <string_view>

#include "posta/base/status.h"

namespace posta::node {

struct HttpMapping {
  int http_status;              // e.g. 404
  std::string_view issue_code;  // FHIR IssueType, e.g. "not-found"
};

// kOk → 200. Every internal failure (kIOError, kCorruption, kInternal,
// kVersionMismatch) → 500 "exception".
HttpMapping MapStatus(Status::Code code);

}  // namespace posta::node
