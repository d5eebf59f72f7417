// FHIR OperationOutcome bodies: every 4xx/5xx answer of the API (and of the
// HTTP server itself) carries one.
#pragma once

#include <string>
#include <string_view>

#include "http/http_types.h"
#include "posta/base/random.h"
#include "posta/base/status.h"

namespace posta::node {

// {"resourceType":"OperationOutcome","issue":[{"severity":..,"code":..,
// "diagnostics":..,"expression":[..]}]}. `expression` is left out when
// empty; `diagnostics` is cut to 1 KiB.
std::string OperationOutcomeJson(std::string_view severity,
                                 std::string_view issue_code,
                                 std::string_view diagnostics,
                                 std::string_view expression = {});

// The field path a message names, "Patient.birthDate" for
// "Patient.birthDate: not an ISO date" (also after context prefixes such as
// "write: Patient.birthDate: ..."), or "" when it names none.
std::string FieldPathOf(std::string_view message);

// The first issue's diagnostics of an OperationOutcome body, or "" when
// `body` is not one.
std::string OutcomeDiagnostics(std::string_view body);

// A fresh error id for a 5xx answer, logged beside the full Status.
std::string NewErrorId(base::Random& random);

// An error answer for `status` (REQUIRES: !status.ok()), mapped through
// MapStatus. 4xx: diagnostics is the Status message. 5xx: the full Status is
// logged with a new error id and the body shows only a generic text and that
// id; 503 also carries Retry-After.
HttpResponse StatusResponse(const Status& status, base::Random& random);

// An error answer with an explicit HTTP status and issue code (405, 415 ...).
HttpResponse OutcomeResponse(int http_status, std::string_view issue_code,
                             std::string_view diagnostics);

}  // namespace posta::node
