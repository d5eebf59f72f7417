// Transport: how the sync client reaches the hub. One narrow interface
// (litestream's ReplicaClient) so sync can run over HTTP in production and
// in-process or through a fault wrapper in tests; NewHttpTransport is the
// libcurl implementation. No libcurl type appears here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "posta/base/status.h"

namespace posta::sync {

struct HttpResponse {
  int status = 0;            // HTTP status code, e.g. 200
  std::string content_type;  // "" when the hub sent none
  std::string body;
};

// A request/response channel to one hub.
//
// Errors: Post returns an error only when no complete HTTP response arrived.
// Any HTTP status, 4xx and 5xx included, is a response; the caller maps it.
// Error codes, and whether IsRetryable() is true:
//   Unavailable       hub unreachable (DNS, refused, no route), connect or
//                     transfer timeout, link too slow or dead, connection
//                     lost mid-request, TLS handshake broken off. Retry.
//   PermissionDenied  the hub's TLS certificate is not trusted (wrong
//                     ca_file, wrong host, a clock far off, a key that is
//                     not the pinned one, or a self-signed hub and no pin).
//                     No retry helps until a technician fixes the cause.
//   TooLarge          the response passed max_response_bytes. No retry.
//   InvalidArgument   base_url or proxy cannot be used. No retry.
//   Internal          out of memory or a libcurl misuse (a bug).
// Every message names the hub ("hub 10.0.0.5:8081 ...").
//
// Delivery: a POST that fails may still have reached the hub and been
// committed, and libcurl itself resends a request once when a reused
// keep-alive connection turns out to be dead before any reply byte. Requests
// must therefore be idempotent; the sync protocol makes them so.
class Transport {
 public:
  virtual ~Transport();

  // Sends `body` to `path` (joined to the hub's base URL; starts with '/')
  // with the given Content-Type and waits for the whole response.
  // The views need only live for the duration of the call.
  virtual Result<HttpResponse> Post(std::string_view path,
                                    std::string_view content_type,
                                    std::string_view body) = 0;

  // Sets the credential sent as "Authorization: Bearer <token>" on every
  // later Post ("" sends none). InvalidArgument, keeping the old one, when
  // it holds a CR, LF or other control character. Never logged.
  virtual Status SetBearerToken(std::string_view token) = 0;

  // Running totals since creation, counting failed requests too.
  // Threading: safe to read from any thread while a Post is in flight.
  virtual uint64_t bytes_sent() const = 0;
  virtual uint64_t bytes_received() const = 0;
};

// The value of TransportOptions::proxy that forces a direct connection even
// when http_proxy / https_proxy / all_proxy are set in the environment.
inline constexpr std::string_view kNoProxy = "none";

struct TransportOptions {
  // Scheme, host, port and optional path prefix of the hub; "http" or
  // "https" only. Default: "http://127.0.0.1:8081".
  std::string base_url = "http://127.0.0.1:8081";

  // Longest wait for the TCP (and TLS) connection. Default: 10 s.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};

  // A transfer slower than low_speed_limit_bytes per second for
  // low_speed_time is abandoned as a dead link (Unavailable). This, not a
  // total timeout, is what catches a link that stalls without closing:
  // a large batch at 64 kbit/s may legitimately take minutes.
  // Default: 100 bytes/s for 30 s. low_speed_limit_bytes 0 disables it.
  long low_speed_limit_bytes = 100;
  std::chrono::seconds low_speed_time{30};

  // Upper bound on one whole request, connect included; 0 for none.
  // Default: 0.
  std::chrono::milliseconds request_timeout{0};

  // HTTP proxy URL, e.g. "http://10.0.0.1:3128".
  // Default: "" — libcurl's own environment handling applies, as curl(1)
  // does: http_proxy (lower case only; HTTP_PROXY is ignored by design) for
  // http URLs, https_proxy / HTTPS_PROXY for https URLs, all_proxy /
  // ALL_PROXY for both, and no_proxy / NO_PROXY to exempt hosts (loopback is
  // not exempt unless listed). Verified in transport_test.cc.
  // kNoProxy ("none"): always connect directly, ignoring the environment.
  std::string proxy;

  // PEM file of CA certificates to trust instead of the system store.
  // Default: "" (the system store).
  std::string ca_file;
  // Pin of the hub's public key, checked on https besides the chain:
  // "sha256//<base64 of the SHA-256 of the DER public key>" (several
  // joined by ';'), as curl's --pinnedpubkey. A hub presenting another key
  // is refused (PermissionDenied) even when a CA vouches for it. With a
  // pin and no ca_file (a self-signed hub) the pin alone is checked: no CA
  // chain, no host name.
  // Default: "" (no pin).
  std::string pinned_public_key;
  // Verify the hub's certificate and host name. Only for tests.
  // Default: true.
  bool verify_tls = true;

  // Cap on the response, status line, headers and body together; a larger
  // response fails with TooLarge. A Content-Length over the cap fails before
  // the body is downloaded; a body without one is cut at the cap.
  // Default: 64 MiB.
  size_t max_response_bytes = size_t{64} << 20;

  // Sent as "Authorization: Bearer <token>" when non-empty. Must not
  // contain CR or LF. Never logged.
  std::string bearer_token;

  // Sent as User-Agent when non-empty. Default: "" (no User-Agent header).
  std::string user_agent;
};

// Creates a libcurl transport. InvalidArgument when the options cannot work
// (bad base_url, CR/LF in a header value). No connection is made here.
//
// The transport keeps one libcurl handle and so one keep-alive connection
// to the hub, reused across Post calls.
// Threading: Post is not thread-safe; one thread at a time. Different
// transports may be used from different threads.
//
// Byte counts come from libcurl's debug callback (CURLOPT_DEBUGFUNCTION):
// bytes_sent adds CURLINFO_HEADER_OUT and CURLINFO_DATA_OUT, bytes_received
// CURLINFO_HEADER_IN and CURLINFO_DATA_IN, as each is sent or read, so
// failed and cut-off requests count too. That is the HTTP stream exactly as
// on the wire for plain HTTP (request line, headers, body; status line,
// headers, body with any chunked framing; tested), and inside TLS for
// https. TCP/IP and TLS overhead is not counted.
Result<std::unique_ptr<Transport>> NewHttpTransport(
    const TransportOptions& options);

}  // namespace posta::sync
