// HttpServer: Boost.Beast HTTP/1.1 server on Asio, behind a pimpl so only
// server.cc includes Beast (and OpenSSL).
//
// With a certificate and key it speaks HTTPS only (TLS 1.2 or later) on its
// port; the TLS handshake is bounded by read_timeout like a request.
//
// Bounds every input before allocating: header bytes (431), body bytes (413
// with an OperationOutcome; a Content-Length over the limit is refused before
// any of the body is read, a chunked body as soon as it passes the limit), a
// read timeout for the whole request (a silent or slow client is closed), an
// idle timeout between keep-alive requests, and a maximum number of open
// connections (beyond it, new connections get 503 and are closed). A request
// Beast cannot parse gets 400 and the connection is closed. Every answer
// carries Content-Length, Date and "Server: posta"; HEAD answers carry no
// body. Logs go to spdlog's default logger; sinks are the caller's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/http_types.h"
#include "posta/base/status.h"

namespace posta::node {

struct ServerOptions {
  std::string address = "127.0.0.1";   // Default: loopback only
  uint16_t port = 0;                   // 0 picks a free port
  size_t max_body_bytes = 1 << 20;     // Default: 1 MiB
  size_t max_header_bytes = 16 << 10;  // Default: 16 KiB
  // Header fields of one request (each already within max_header_bytes);
  // more is 431. Default: 100.
  size_t max_header_fields = 100;
  // The whole request from its first byte (or from accept, on a new
  // connection), and separately the writing of each answer.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};  // between requests
  size_t max_connections = 256;
  // Threads running handlers (handlers may block on the database).
  size_t worker_threads = 4;
  // PEM files; both set: HTTPS only. Both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Called on a worker thread, never on an I/O thread. Must not throw.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Threading: Start/port/Shutdown/Wait from any one controlling thread.
class HttpServer {
 public:
  // Binds and starts serving on background threads. IOError when the
  // address cannot be bound (naming address and port); InvalidArgument when
  // the TLS certificate or key cannot be used (naming the file).
  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Shutdown(kNow) and Wait()

  // The bound port (useful when options.port was 0).
  uint16_t port() const;

  enum class ShutdownMode {
    // Stop accepting and close idle connections; a request being read or
    // handled finishes (bounded by read_timeout) and its answer is written
    // with "Connection: close".
    kGraceful,
    // Close every connection at once. A handler already running still runs
    // to its end (it may be inside a database transaction); its answer is
    // dropped.
    kNow,
  };
  // May be called more than once (kGraceful, then kNow). Does not block.
  void Shutdown(ShutdownMode mode);
  // Blocks until every thread of the server has stopped, which happens only
  // after Shutdown.
  void Wait();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace posta::node
