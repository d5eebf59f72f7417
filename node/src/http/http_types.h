// Plain HTTP request and response values shared by the server (Beast, hidden
// in server.cc) and the API handlers. No Beast or asio type appears here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace posta::node {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as received: "/fhir/Patient?name=jo"
  // Header names as received; look up with Header().
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:53422"

  // The first header named `name` (case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
  // True when a header named `name` is present, even with an empty value.
  bool HasHeader(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  // Sent as Content-Type; no Content-Type header when empty.
  std::string content_type = "application/fhir+json";
  // Extra headers. The server adds Content-Length, Date, Server and
  // Connection itself; a header whose name or value holds CR or LF is
  // dropped (and logged) rather than sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Not sent. Set when the answer hides a refusal (a record out of a
  // coordinator's region answered as absent, so ids cannot be probed): why
  // it was refused, for the audit trail, which records it as a denial.
  std::string hidden_denial;
};

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Milliseconds since the Unix epoch as an HTTP date (RFC 9110 IMF-fixdate):
// "Sun, 06 Nov 1994 08:49:37 GMT". Independent of the process locale.
std::string HttpDate(int64_t unix_millis);

}  // namespace posta::node
