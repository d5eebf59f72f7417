// The only translation unit that includes Beast and Asio.
//
// TLS: with ServerOptions::tls_cert_file every connection is a
// Session<TlsStream> that starts with the server handshake (bounded by
// read_timeout) before kIdle, and ends with a TLS close_notify (bounded like
// the lingering close) instead of a half-close. Plain connections are
// Session<PlainStream>; the rest of the phases are shared.
//
// Threads: 1–2 I/O threads run the io_context (accept, read, write); a
// thread pool of ServerOptions::worker_threads runs the handler, which may
// block on the database. Each connection lives on its own strand; the
// handler's answer is posted back to it.
//
// Connection phases (Session::phase_), one asynchronous operation at a time:
//   kIdle     waiting for the first byte of a request (read_timeout on a new
//             connection, idle_timeout after a keep-alive answer)
//   kReading  header, then body; read_timeout covers the whole request
//   kHandling the handler runs on a worker; no timer
//   kWriting  the answer goes out (read_timeout bounds a client that never
//             reads)
//   kClosing  send side shut; unread input is drained for a short, bounded
//             time so the client sees the answer, not a reset
// kIdle → kReading → kHandling → kWriting → kIdle (keep-alive) or kClosing.
// A bad header, an oversized header or body, or shutdown leads to kWriting
// of an error answer and then kClosing. Shutdown(kGraceful) closes kIdle
// connections at once and lets the others finish their current request;
// kNow closes all.
#include "http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <iterator>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/operation_outcome.h"
#include "http/tls.h"
#include "posta/base/random.h"

namespace posta::node {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr size_t kReadChunk = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr const char* kFhirJson = "application/fhir+json; charset=utf-8";
// The content type of a TLS handshake record, the first byte a TLS client
// sends.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

// The whole answer to plain HTTP on the HTTPS port.
const std::string& PlainHttpHint() {
  static const std::string hint = [] {
    const std::string body =
        "this port speaks HTTPS: use https:// instead of http://\n";
    return "HTTP/1.1 400 Bad Request\r\nServer: posta\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  return hint;
}

// What the server needs of a connection, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Runs on the session's strand.
  virtual void OnShutdown(HttpServer::ShutdownMode mode) = 0;
  virtual asio::any_io_executor executor() = 0;
};

bool IsHttpParseError(const error_code& ec) {
  return ec.category() ==
         http::make_error_code(http::error::bad_target).category();
}

bool IsValidHeader(const std::string& name, const std::string& value) {
  if (name.empty() || name.size() > 256 || value.size() > 8192) return false;
  for (char c : name) {
    if (c <= ' ' || c == ':' || c >= 127) return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) ==
         std::string::npos;
}

std::string EndpointText(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

// Everything the server shares among its connections. Members used by a
// Session's destructor are declared before the io_context, so they outlive
// any session it still holds when it is destroyed.
struct Core {
  Core(const ServerOptions& opts, HttpHandler h)
      : options(opts),
        handler(std::move(h)),
        acceptor(asio::make_strand(ioc)),
        accept_retry(acceptor.get_executor()),
        workers(std::max<size_t>(1, opts.worker_threads)) {}

  void DoAccept();
  void OnAccept(const error_code& ec, tcp::socket socket);
  bool Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(SessionBase* session);
  HttpResponse RunHandler(const HttpRequest& request);

  const ServerOptions options;
  const HttpHandler handler;
  base::Random random;  // error ids

  std::mutex mu;
  bool stopping = false;  // guarded by mu
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>>
      sessions;                            // guarded by mu
  std::atomic<bool> stopping_flag{false};  // stopping, readable without mu
  std::atomic<size_t> active{0};     // connections counted against the max
  std::atomic<size_t> rejecting{0};  // over-limit connections being refused

  // Set before the first accept, when the server speaks HTTPS.
  std::unique_ptr<ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor;           // on its own strand
  asio::steady_timer accept_retry;  // same strand as the acceptor
  asio::thread_pool workers;
  std::vector<std::thread> io_threads;
  uint16_t port = 0;

  std::mutex wait_mu;
  bool joined = false;  // guarded by wait_mu
};

template <typename Stream>
class Session final : public SessionBase,
                      public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(Core& core, tcp::socket socket, bool reject)
      : core_(core),
        stream_(MakeStream(core, std::move(socket))),
        reject_(reject) {
    error_code ec;
    tcp::endpoint remote = Lowest().socket().remote_endpoint(ec);
    if (!ec) remote_ = EndpointText(remote);
  }

  ~Session() override {
    core_.Unregister(this);
    if (reject_) {
      --core_.rejecting;
    } else {
      --core_.active;
    }
  }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   [self = this->shared_from_this()] { self->Handshake(); });
  }

  void OnShutdown(HttpServer::ShutdownMode mode) override {
    if (mode == HttpServer::ShutdownMode::kNow || phase_ == Phase::kIdle) {
      CloseNow();
    }
    // kReading, kHandling, kWriting: the answer goes out with
    // "Connection: close"; kClosing: the drain ends on its own.
  }

  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kClosing };

  static Stream MakeStream(Core& core, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *core.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  // TLS first, within read_timeout from accept: a client that stalls the
  // handshake holds its slot no longer than one that stalls a request.
  // The first byte tells a TLS client (a handshake record, 0x16) from one
  // speaking plain HTTP to this port, which is told so in plain HTTP
  // instead of getting an empty reply; the byte is then handed to the
  // handshake.
  void Handshake() {
    if constexpr (kTls) {
      Lowest().expires_after(core_.options.read_timeout);
      Lowest().async_read_some(
          asio::buffer(&first_byte_, 1),
          [self = this->shared_from_this()](const error_code& ec, size_t n) {
            if (ec || n != 1) return self->CloseNow();
            if (self->first_byte_ != kTlsHandshakeRecord) {
              return self->RefusePlainHttp();
            }
            self->stream_.async_handshake(
                ssl::stream_base::server, asio::buffer(&self->first_byte_, 1),
                [self](const error_code& ec2, size_t) {
                  if (ec2) {
                    spdlog::debug("http: {} TLS handshake failed: {}",
                                  self->remote_, ec2.message());
                    return self->CloseNow();
                  }
                  self->Begin();
                });
          });
    } else {
      Begin();
    }
  }

  // Plain HTTP on the HTTPS port: one plain-text 400 saying so, then the
  // usual lingering close (bounded), so the client reads it.
  void RefusePlainHttp() {
    phase_ = Phase::kClosing;
    spdlog::debug("http: {} spoke plain HTTP to the HTTPS port", remote_);
    asio::async_write(
        Lowest(), asio::buffer(PlainHttpHint()),
        [self = this->shared_from_this()](const error_code& ec, size_t) {
          if (ec) return self->CloseNow();
          error_code ignored;
          self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
          self->Lowest().expires_after(
              std::min(self->core_.options.read_timeout, kMaxLinger));
          self->DrainPlain();
        });
  }

  void DrainPlain() {
    Lowest().async_read_some(
        asio::buffer(drain_buf_),
        [self = this->shared_from_this()](const error_code& ec, size_t) {
          if (ec) return self->CloseNow();
          self->DrainPlain();
        });
  }

  void Begin() {
    if (reject_) {
      std::string id = NewErrorId(core_.random);
      spdlog::warn("http: refusing {}: {} connections open (max {}); error {}",
                   remote_, core_.active.load(), core_.options.max_connections,
                   id);
      HttpResponse response;
      response.status = 503;
      response.content_type = kFhirJson;
      response.body = OperationOutcomeJson(
          "error", "exception",
          "too many open connections; retry later; reference " + id);
      response.headers.emplace_back("Retry-After", "1");
      Reply(std::move(response), /*keep_alive=*/false);
      return;
    }
    WaitForRequest();
  }

  void WaitForRequest() {
    phase_ = Phase::kIdle;
    if (core_.stopping_flag) {
      CloseNow();
      return;
    }
    if (buffer_.size() > 0) {  // a pipelined request is already here
      Lowest().expires_after(core_.options.read_timeout);
      ReadHeader();
      return;
    }
    Lowest().expires_after(first_request_ ? core_.options.read_timeout
                                          : core_.options.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](const error_code& ec, size_t n) {
          self->OnFirstBytes(ec, n);
        });
  }

  void OnFirstBytes(const error_code& ec, size_t n) {
    if (ec) return CloseNow();  // closed, silent too long, or shut down
    buffer_.commit(n);
    // The read timeout covers the whole request from its first byte; on a
    // new connection it has run since accept.
    if (!first_request_) Lowest().expires_after(core_.options.read_timeout);
    ReadHeader();
  }

  void ReadHeader() {
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(
        core_.options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    // Security: a Content-Length above this fails in the header phase, so
    // an oversized body is refused before any of it is read or allocated.
    parser_->body_limit(static_cast<uint64_t>(core_.options.max_body_bytes));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](const error_code& ec, size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(const error_code& ec) {
    if (ec) {
      OnReadError(ec);
      return;
    }
    if (std::optional<std::pair<int, std::string>> refused = CheckHeader()) {
      return Fail(refused->first, refused->second);
    }
    if (parser_->is_done()) return Dispatch();
    if (EqualsIgnoreCase(parser_->get()[http::field::expect], "100-continue")) {
      asio::async_write(
          stream_, asio::buffer(kContinue.data(), kContinue.size()),
          [self = this->shared_from_this()](const error_code& ec2, size_t) {
            ec2 ? self->CloseNow() : self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  // Refusals decided by the header alone, before any body byte is read.
  std::optional<std::pair<int, std::string>> CheckHeader() const {
    const auto& header = parser_->get();
    const size_t fields =
        static_cast<size_t>(std::distance(header.begin(), header.end()));
    if (fields > core_.options.max_header_fields) {
      return std::pair<int, std::string>(
          431, "more than " + std::to_string(core_.options.max_header_fields) +
                   " header fields");
    }
    // Security: nothing here inflates a body, so a compressed one would be
    // taken for its bytes; refusing it says so, and no gzip or deflate bomb
    // is ever inflated. Sync messages carry their own bounded zstd.
    for (const auto& field : header) {
      if (field.name() != http::field::content_encoding) continue;
      if (!EqualsIgnoreCase(field.value(), "identity")) {
        return std::pair<int, std::string>(
            415, "Content-Encoding '" +
                     std::string(field.value().substr(0, 64)) +
                     "' not accepted: send the body uncompressed");
      }
    }
    return std::nullopt;
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](const error_code& ec, size_t) {
          ec ? self->OnReadError(ec) : self->Dispatch();
        });
  }

  void OnReadError(const error_code& ec) {
    if (ec == http::error::header_limit) {
      Fail(431, "request header larger than " +
                    std::to_string(core_.options.max_header_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      Fail(413, "request body larger than " +
                    std::to_string(core_.options.max_body_bytes) + " bytes");
    } else if (ec == http::error::end_of_stream ||
               ec == http::error::partial_message || !IsHttpParseError(ec)) {
      // The client went away, timed out (tcp_stream closed the socket), or
      // the server is shutting down: nobody is left to answer.
      if (ec == beast::error::timeout) {
        spdlog::debug("http: {} read timed out", remote_);
      }
      CloseNow();
    } else {
      Fail(400, "malformed HTTP request: " + ec.message());
    }
  }

  void Fail(int status, const std::string& diagnostics) {
    spdlog::debug("http: {} answered {}: {}", remote_, status, diagnostics);
    HttpResponse response;
    response.status = status;
    response.content_type = kFhirJson;
    response.body = OperationOutcomeJson("error",
                                         status == 400   ? "structure"
                                         : status == 415 ? "not-supported"
                                                         : "too-costly",
                                         diagnostics);
    Reply(std::move(response), /*keep_alive=*/false);
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    Lowest().expires_never();
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    keep_alive_ = message.keep_alive();
    head_ = message.method() == http::verb::head;
    version_ = message.version();

    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_;

    // The work guard keeps the io_context running while the handler runs,
    // so the answer always has a thread to be written on.
    auto work = asio::make_work_guard(core_.ioc);
    asio::post(core_.workers,
               [self = this->shared_from_this(), request = std::move(request),
                work = std::move(work)]() mutable {
                 HttpResponse response = self->core_.RunHandler(request);
                 asio::any_io_executor strand = self->executor();
                 asio::post(strand, [self = std::move(self),
                                     response = std::move(response),
                                     work = std::move(work)]() mutable {
                   self->Reply(std::move(response), self->keep_alive_);
                 });
               });
  }

  void Reply(HttpResponse response, bool keep_alive) {
    phase_ = Phase::kWriting;
    bool close = !keep_alive || core_.stopping_flag;
    if (response.status < 100 || response.status > 599) {
      spdlog::error("http: handler returned status {}", response.status);
      response.status = 500;
    }
    auto& res = response_.emplace();
    res.version(version_);
    res.result(static_cast<unsigned>(response.status));
    res.set(http::field::server, "posta");
    res.set(http::field::date,
            HttpDate(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()));
    if (!response.content_type.empty() &&
        IsValidHeader("Content-Type", response.content_type)) {
      res.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      if (!IsValidHeader(name, value)) {
        spdlog::error("http: dropped invalid response header '{}'",
                      name.substr(0, 64));
        continue;
      }
      res.insert(name, value);
    }
    res.keep_alive(!close);
    res.body() = std::move(response.body);
    res.prepare_payload();
    if (head_) res.body().clear();  // Content-Length stays that of the body
    spdlog::debug("http: {} answered {}", remote_, response.status);

    Lowest().expires_after(core_.options.read_timeout);
    http::async_write(
        stream_, res,
        [self = this->shared_from_this(), close](const error_code& ec, size_t) {
          self->OnWritten(ec, close);
        });
  }

  void OnWritten(const error_code& ec, bool close) {
    response_.reset();
    if (ec) return CloseNow();
    if (close) return LingeringClose();
    first_request_ = false;
    WaitForRequest();
  }

  // Closing with unread input makes the kernel send a reset, which can
  // destroy the answer before the client reads it; so shut the send side
  // and read what is left for a short, bounded time first.
  void LingeringClose() {
    phase_ = Phase::kClosing;
    if constexpr (kTls) {
      // close_notify tells the client the answer is whole; then wait
      // (bounded) for its own before closing.
      Lowest().expires_after(std::min(core_.options.read_timeout, kMaxLinger));
      stream_.async_shutdown([self = this->shared_from_this()](
                                 const error_code&) { self->CloseNow(); });
      return;
    }
    error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    Lowest().expires_after(std::min(core_.options.read_timeout, kMaxLinger));
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = this->shared_from_this()](const error_code& ec, size_t n) {
          if (ec) return self->CloseNow();
          self->buffer_.commit(n);
          self->Drain();
        });
  }

  void CloseNow() {
    phase_ = Phase::kClosing;
    error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  Core& core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  unsigned char first_byte_ = 0;       // TLS: the connection's first byte
  std::array<char, 512> drain_buf_{};  // plain HTTP refused on TLS
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::string remote_;
  Phase phase_ = Phase::kIdle;
  const bool reject_;
  bool first_request_ = true;
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
};

void Core::DoAccept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        [this](const error_code& ec, tcp::socket socket) {
                          OnAccept(ec, std::move(socket));
                        });
}

void Core::OnAccept(const error_code& ec, tcp::socket socket) {
  if (ec) {
    if (ec == asio::error::operation_aborted || stopping_flag) return;
    // Out of descriptors, say: wait a little instead of spinning.
    spdlog::warn("http: accept failed: {}", ec.message());
    accept_retry.expires_after(kAcceptRetry);
    accept_retry.async_wait([this](const error_code& wait_ec) {
      if (!wait_ec && !stopping_flag) DoAccept();
    });
    return;
  }
  if (stopping_flag) {
    error_code ignored;
    socket.close(ignored);
    return;
  }
  bool reject = active.load() >= options.max_connections;
  if (reject) {
    // Refusals are bounded too; past that, a flood is simply closed.
    if (rejecting.load() >= std::max<size_t>(options.max_connections, 16)) {
      error_code ignored;
      socket.close(ignored);
      DoAccept();
      return;
    }
    ++rejecting;
  } else {
    ++active;
  }
  if (tls) {
    auto session =
        std::make_shared<Session<TlsStream>>(*this, std::move(socket), reject);
    if (Register(session)) session->Start();
  } else {
    auto session = std::make_shared<Session<PlainStream>>(
        *this, std::move(socket), reject);
    if (Register(session)) session->Start();
  }
  DoAccept();
}

bool Core::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard<std::mutex> lock(mu);
  if (stopping) return false;
  sessions.emplace(session.get(), session);
  return true;
}

void Core::Unregister(SessionBase* session) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.erase(session);
}

HttpResponse Core::RunHandler(const HttpRequest& request) {
  std::string failure;
  try {
    return handler(request);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  std::string id = NewErrorId(random);
  spdlog::error("http 500 error {}: handler threw: {}", id, failure);
  HttpResponse response;
  response.status = 500;
  response.content_type = kFhirJson;
  response.body = OperationOutcomeJson("error", "exception",
                                       "internal error; reference " + id);
  return response;
}

// TLS 1.2 and 1.3 only, forward-secret AEAD suites for 1.2 (1.3's are all
// so), the server's order, no renegotiation, no compression.
Result<std::unique_ptr<ssl::context>> MakeTlsContext(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return Status::InvalidArgument("tls_cert and tls_key",
                                   "set both (or neither, for plain HTTP)");
  }
  POSTA_RETURN_IF_ERROR(
      CheckTlsFiles(options.tls_cert_file, options.tls_key_file));
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  const std::string cert_what = "tls_cert " + options.tls_cert_file;
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:"
                              "ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:"
                              "ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:"
                              "ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return Status::Internal("TLS context", "cannot set protocols or ciphers");
  }
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_NO_COMPRESSION);
  error_code ec;
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) return Status::InvalidArgument(cert_what, ec.message());
  context->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument("tls_key " + options.tls_key_file,
                                   ec.message());
  }
  return context;
}

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<Core> core;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const ServerOptions& options, HttpHandler handler) {
  POSTA_CHECK(handler != nullptr);
  auto core = std::make_unique<Core>(options, std::move(handler));
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    POSTA_ASSIGN_OR_RETURN(core->tls, MakeTlsContext(options));
  }
  std::string where =
      "listen " + options.address + ":" + std::to_string(options.port);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) return Status::InvalidArgument(where, "not an IP address");
  tcp::endpoint endpoint(address, options.port);
  core->acceptor.open(endpoint.protocol(), ec);
  if (ec) return Status::IOError(where, ec.message());
  // Lets a restarted daemon bind while old connections sit in TIME_WAIT; a
  // port another process listens on still fails with EADDRINUSE.
  core->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return Status::IOError(where, ec.message());
  core->acceptor.bind(endpoint, ec);
  if (ec) return Status::IOError(where, ec.message());
  core->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError(where, ec.message());
  tcp::endpoint bound = core->acceptor.local_endpoint(ec);
  if (ec) return Status::IOError(where, ec.message());
  core->port = bound.port();
  core->DoAccept();

  size_t io_threads = std::thread::hardware_concurrency() > 1 ? 2 : 1;
  for (size_t i = 0; i < io_threads; ++i) {
    core->io_threads.emplace_back([c = core.get()] {
      // Handlers do not throw; this only keeps a surprise (bad_alloc) from
      // taking the whole process down with std::terminate.
      while (true) {
        try {
          c->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread caught: {}", e.what());
        }
      }
    });
  }
  spdlog::info("http: listening on {}", EndpointText(bound));
  auto impl = std::make_unique<Impl>();
  impl->core = std::move(core);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Shutdown(ShutdownMode::kNow);
  Wait();
}

uint16_t HttpServer::port() const { return impl_->core->port; }

void HttpServer::Shutdown(ShutdownMode mode) {
  Core& core = *impl_->core;
  std::vector<std::weak_ptr<SessionBase>> sessions;
  {
    std::lock_guard<std::mutex> lock(core.mu);
    core.stopping = true;
    core.stopping_flag = true;
    sessions.reserve(core.sessions.size());
    for (const auto& entry : core.sessions) sessions.push_back(entry.second);
  }
  asio::post(core.acceptor.get_executor(), [c = &core] {
    error_code ignored;
    c->acceptor.close(ignored);
    c->accept_retry.cancel();
  });
  for (const std::weak_ptr<SessionBase>& weak : sessions) {
    if (std::shared_ptr<SessionBase> session = weak.lock()) {
      asio::post(session->executor(),
                 [session, mode] { session->OnShutdown(mode); });
    }
  }
}

void HttpServer::Wait() {
  Core& core = *impl_->core;
  std::lock_guard<std::mutex> lock(core.wait_mu);
  if (core.joined) return;
  for (std::thread& thread : core.io_threads) thread.join();
  core.workers.join();
  core.joined = true;
}

}  // namespace posta::node
