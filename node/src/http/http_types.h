// Plain HTTP request and response values shared by the server (Beast, hidden
// in server.cc) and the API handlers. No Beast or asio type appears here.
#pragma once

#include <cstdint>
#include <string>
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
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/fhir+json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

}  // namespace posta::node
