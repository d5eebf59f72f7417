#include "posta/sync/http_transport.h"

#include <curl/curl.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>

namespace posta::sync {

Transport::~Transport() = default;

namespace {

// libcurl requires one curl_global_init per process before any handle and
// it is not thread-safe on its own. Never cleaned up: handles may outlive
// any owner we could pick.
CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

bool HasLineBreak(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

struct UrlParts {
  std::string scheme;
  std::string hub;  // "host:port", for messages
};

Result<UrlParts> ParseBaseUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return Status::Internal("libcurl", "out of memory");
  UrlParts parts;
  Status status;
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
  if (rc == CURLUE_OK) rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  if (rc == CURLUE_OK) rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
  if (rc == CURLUE_OK) {
    rc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  }
  if (rc != CURLUE_OK) {
    status = Status::InvalidArgument("transport base_url \"" + url + "\"",
                                     curl_url_strerror(rc));
  } else if (std::strcmp(scheme, "http") != 0 &&
             std::strcmp(scheme, "https") != 0) {
    status = Status::InvalidArgument("transport base_url \"" + url + "\"",
                                     "scheme must be http or https");
  } else {
    parts.scheme = scheme;
    parts.hub = std::string(host) + ":" + port;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (!status.ok()) return status;
  return parts;
}

class CurlTransport final : public Transport {
 public:
  CurlTransport(const TransportOptions& options, std::string hub)
      : options_(options), hub_(std::move(hub)), curl_(curl_easy_init()) {
    base_url_ = options_.base_url;
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  }
  ~CurlTransport() override {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // Sets the options that stay fixed for the handle's life.
  Status Configure();

  Result<HttpResponse> Post(std::string_view path,
                            std::string_view content_type,
                            std::string_view body) override;

  Status SetBearerToken(std::string_view token) override {
    if (HasLineBreak(token)) {
      return Status::InvalidArgument("transport bearer token",
                                     "contains a line break");
    }
    options_.bearer_token = std::string(token);
    return Status::Ok();
  }

  uint64_t bytes_sent() const override { return bytes_sent_.load(); }
  uint64_t bytes_received() const override { return bytes_received_.load(); }

 private:
  static size_t OnHeader(char* data, size_t size, size_t n, void* self);
  static size_t OnBody(char* data, size_t size, size_t n, void* self);
  static int OnDebug(CURL* curl, curl_infotype type, char* data, size_t size,
                     void* self);
  // Adds `n` bytes to the response; false once it passes the cap.
  bool CountReceived(size_t n);
  Status ErrorStatus(CURLcode rc) const;

  TransportOptions options_;  // bearer_token changes by SetBearerToken
  const std::string hub_;
  std::string base_url_;  // without a trailing '/'
  CURL* curl_;
  char error_[CURL_ERROR_SIZE] = {};

  // State of the request in flight, written by the callbacks.
  HttpResponse* response_ = nullptr;
  size_t response_bytes_ = 0;
  bool over_cap_ = false;
  bool headers_complete_ = false;

  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
};

template <typename T>
Status SetOpt(CURL* curl, CURLoption option, T value) {
  CURLcode rc = curl_easy_setopt(curl, option, value);
  if (rc != CURLE_OK) {
    return Status::Internal("libcurl option", curl_easy_strerror(rc));
  }
  return Status::Ok();
}

Status CurlTransport::Configure() {
  if (curl_ == nullptr) return Status::Internal("libcurl", "no easy handle");
  CURL* c = curl_;
  // A resolver timeout must not raise SIGALRM in a multi-threaded daemon.
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_NOSIGNAL, 1L));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_ERRORBUFFER, error_));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_PROTOCOLS_STR, "http,https"));
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1}));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_POST, 1L));
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_CONNECTTIMEOUT_MS,
             static_cast<long>(options_.connect_timeout.count())));
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit_bytes));
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_LOW_SPEED_TIME,
             static_cast<long>(options_.low_speed_time.count())));
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_TIMEOUT_MS,
             static_cast<long>(options_.request_timeout.count())));
  if (options_.proxy == kNoProxy) {
    // An empty string disables the proxy, environment included.
    POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_PROXY, ""));
  } else if (!options_.proxy.empty()) {
    POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_PROXY, options_.proxy.c_str()));
  }
  if (!options_.ca_file.empty()) {
    POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_CAINFO, options_.ca_file.c_str()));
  }
  if (!options_.pinned_public_key.empty()) {
    POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_PINNEDPUBLICKEY,
                                 options_.pinned_public_key.c_str()));
  }
  // Security: turning verification off lets anyone on the path read and
  // forge patient records. Tests only.
  // A pin without a CA file is a self-signed hub (posta hub tls init): no
  // CA can vouch for it, so the pin alone decides. libcurl checks the pin
  // whether or not VERIFYPEER is on (CURLOPT_PINNEDPUBLICKEY(3)), and only
  // the holder of the pinned key can complete the handshake.
  const bool pin_only =
      !options_.pinned_public_key.empty() && options_.ca_file.empty();
  const bool verify = options_.verify_tls && !pin_only;
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L));
  // Rejects a declared Content-Length over the cap before the body is
  // downloaded; at 64 kbit/s reading 64 MiB only to discard it takes hours.
  // libcurl 7.88 does not enforce it on bodies of unknown size: OnBody does.
  POSTA_RETURN_IF_ERROR(
      SetOpt(c, CURLOPT_MAXFILESIZE_LARGE,
             static_cast<curl_off_t>(options_.max_response_bytes)));
  if (!options_.user_agent.empty()) {
    POSTA_RETURN_IF_ERROR(
        SetOpt(c, CURLOPT_USERAGENT, options_.user_agent.c_str()));
  }
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_HEADERFUNCTION, &OnHeader));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_HEADERDATA, this));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_WRITEFUNCTION, &OnBody));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_WRITEDATA, this));
  // The debug callback is the one place that sees every byte sent and
  // received; it is only called in verbose mode. Nothing goes to stderr.
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_DEBUGFUNCTION, &OnDebug));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_DEBUGDATA, this));
  POSTA_RETURN_IF_ERROR(SetOpt(c, CURLOPT_VERBOSE, 1L));
  return Status::Ok();
}

int CurlTransport::OnDebug(CURL* /*curl*/, curl_infotype type, char* /*data*/,
                           size_t size, void* self) {
  auto* t = static_cast<CurlTransport*>(self);
  // Plain HTTP bytes as libcurl writes and reads them (inside TLS for
  // https). CURLINFO_REQUEST_SIZE is no substitute: 7.88 counts a small
  // POSTFIELDS body in it and in CURLINFO_SIZE_UPLOAD_T both.
  switch (type) {
    case CURLINFO_HEADER_OUT:
    case CURLINFO_DATA_OUT:
      t->bytes_sent_.fetch_add(size);
      break;
    case CURLINFO_HEADER_IN:
    case CURLINFO_DATA_IN:
      t->bytes_received_.fetch_add(size);
      break;
    default:
      break;
  }
  return 0;
}

bool CurlTransport::CountReceived(size_t n) {
  response_bytes_ += n;
  if (response_bytes_ > options_.max_response_bytes) over_cap_ = true;
  return !over_cap_;
}

size_t CurlTransport::OnHeader(char* data, size_t size, size_t n, void* self) {
  auto* t = static_cast<CurlTransport*>(self);
  const std::string_view line(data, size * n);
  // libcurl 7.88 reports success when the connection closes inside the
  // headers before any Content-Length was seen: the link died, but the
  // caller would get a 200 with an empty body. Track the blank line that
  // ends each header block (interim 1xx and proxy CONNECT blocks included).
  if (line.rfind("HTTP/", 0) == 0) {
    t->headers_complete_ = false;
  } else if (line == "\r\n" || line == "\n") {
    t->headers_complete_ = true;
  }
  // Returning less than size * n makes libcurl abort with CURLE_WRITE_ERROR.
  return t->CountReceived(size * n) ? size * n : 0;
}

size_t CurlTransport::OnBody(char* data, size_t size, size_t n, void* self) {
  auto* t = static_cast<CurlTransport*>(self);
  if (!t->CountReceived(size * n)) return 0;
  t->response_->body.append(data, size * n);
  return size * n;
}

Result<HttpResponse> CurlTransport::Post(std::string_view path,
                                         std::string_view content_type,
                                         std::string_view body) {
  if (HasLineBreak(content_type) || HasLineBreak(path)) {
    return Status::InvalidArgument("hub " + hub_ + " request",
                                   "line break in path or content type");
  }
  std::string url = base_url_;
  if (path.empty() || path.front() != '/') url.push_back('/');
  url.append(path);

  // The headers list must stay alive until curl_easy_perform returns.
  struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& h) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return false;
    (void)headers.release();
    headers.reset(next);
    return true;
  };
  bool added = add_header("Content-Type: " + std::string(content_type)) &&
               // "Expect: 100-continue" costs a round trip (~1 s on a
               // satellite link) before the body goes out.
               add_header("Expect:");
  if (added && !options_.bearer_token.empty()) {
    // Security: the token goes into the request only, never into a log.
    added = add_header("Authorization: Bearer " + options_.bearer_token);
  }
  if (!added) return Status::Internal("libcurl", "out of memory");

  HttpResponse response;
  response_ = &response;
  response_bytes_ = 0;
  over_cap_ = false;
  headers_complete_ = false;
  error_[0] = '\0';

  // For an empty body POSTFIELDS must still be non-null, or libcurl would
  // read the body from stdin.
  const char* data = body.empty() ? "" : body.data();
  Status status = SetOpt(curl_, CURLOPT_URL, url.c_str());
  if (status.ok()) status = SetOpt(curl_, CURLOPT_POSTFIELDS, data);
  if (status.ok()) {
    status = SetOpt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                    static_cast<curl_off_t>(body.size()));
  }
  if (status.ok()) status = SetOpt(curl_, CURLOPT_HTTPHEADER, headers.get());
  if (!status.ok()) return status;

  const CURLcode rc = curl_easy_perform(curl_);

  // Forget pointers into this call's stack before anything can return.
  (void)curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  (void)curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, "");
  response_ = nullptr;

  if (rc != CURLE_OK) return ErrorStatus(rc);
  if (!headers_complete_) {
    return Status::Unavailable("hub " + hub_,
                               "connection lost mid-request: response "
                               "headers cut off");
  }

  long code = 0;
  char* type = nullptr;
  (void)curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
  (void)curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &type);
  response.status = static_cast<int>(code);
  if (type != nullptr) response.content_type = type;
  return response;
}

Status CurlTransport::ErrorStatus(CURLcode rc) const {
  const std::string hub = "hub " + hub_;
  const std::string detail =
      error_[0] != '\0' ? error_ : curl_easy_strerror(rc);
  const std::string cap = std::to_string(options_.max_response_bytes);
  switch (rc) {
    case CURLE_WRITE_ERROR:
      if (over_cap_) {
        return Status::TooLarge(hub + " response",
                                "over max_response_bytes (" + cap + ")");
      }
      return Status::Internal(hub + " response", detail);
    case CURLE_FILESIZE_EXCEEDED:
      return Status::TooLarge(
          hub + " response",
          "Content-Length over max_response_bytes (" + cap + ")");
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      (void)curl_easy_getinfo(curl_, CURLINFO_OS_ERRNO, &os_errno);
      std::string why =
          os_errno != 0 ? std::strerror(static_cast<int>(os_errno)) : detail;
      if (!options_.proxy.empty() && options_.proxy != kNoProxy) {
        why += " (via proxy " + options_.proxy + ")";
      }
      return Status::Unavailable(hub + " unreachable", why);
    }
    case CURLE_COULDNT_RESOLVE_HOST:
      return Status::Unavailable(
          hub + " unreachable",
          "host name not found (DNS or link down): " + detail);
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Status::Unavailable(hub + " unreachable",
                                 "proxy host name not found: " + detail);
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Unavailable(hub, "link too slow or dead: " + detail);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return Status::Unavailable(hub, "connection lost mid-request: " + detail);
    case CURLE_WEIRD_SERVER_REPLY:
      return Status::Unavailable(hub,
                                 "reply is not HTTP (a captive portal, "
                                 "a wrong port or a cut link): " +
                                     detail);
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return Status::PermissionDenied(
          hub,
          "TLS: presented a certificate that does not match the pinned "
          "key " +
              options_.pinned_public_key +
              "; someone may be standing in for the hub, or the hub's "
              "certificate was replaced: check with the hub's "
              "administrator");
    case CURLE_PEER_FAILED_VERIFICATION:
      if (options_.ca_file.empty() && options_.pinned_public_key.empty()) {
        return Status::PermissionDenied(
            hub,
            "TLS: its certificate is not signed by a CA this machine "
            "trusts (a self-signed hub?); pin the hub with posta enroll "
            "--pin sha256//... as printed by posta hub tls init on the "
            "hub: " +
                detail);
      }
      [[fallthrough]];
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
      return Status::PermissionDenied(
          hub,
          "TLS: certificate not trusted (check ca_file, the pinned key, the "
          "hub's name "
          "and the system clock): " +
              detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return Status::Unavailable(hub, "TLS handshake failed: " + detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::InvalidArgument(hub + " URL", detail);
    case CURLE_OUT_OF_MEMORY:
      return Status::Internal(hub, detail);
    default:
      return Status::Unavailable(hub, detail);
  }
}

}  // namespace

Result<std::unique_ptr<Transport>> NewHttpTransport(
    const TransportOptions& options) {
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return Status::Internal("libcurl init", curl_easy_strerror(rc));
  }
  if (HasLineBreak(options.bearer_token)) {
    return Status::InvalidArgument("transport bearer_token",
                                   "contains a line break");
  }
  if (HasLineBreak(options.user_agent)) {
    return Status::InvalidArgument("transport user_agent",
                                   "contains a line break");
  }
  POSTA_ASSIGN_OR_RETURN(UrlParts parts, ParseBaseUrl(options.base_url));
  auto transport = std::make_unique<CurlTransport>(options, parts.hub);
  POSTA_RETURN_IF_ERROR(transport->Configure());
  return std::unique_ptr<Transport>(std::move(transport));
}

}  // namespace posta::sync
