// HttpServer on a real loopback port, driven by a raw-socket client: limits,
// timeouts, connection cap, keep-alive and shutdown. Every wait is bounded
// (poll with a deadline); nothing sleeps to synchronize.
#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <optional>
#include <string>

#include "api_fixture.h"
#include "http/tls.h"
#include "posta/sync/http_transport.h"

namespace posta::node::testing {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{5000};  // upper bound for anything to happen

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A blocking HTTP/1.1 client on a raw socket; every read has a deadline.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until `done(buffer_)` says enough, the peer closes, or the
  // deadline passes. Returns false on timeout.
  template <typename Done>
  bool ReadUntil(Done done, milliseconds timeout = kWait) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(buffer_)) {
      auto left = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        eof_ = true;
        return done(buffer_);
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  // One response (status line, headers, Content-Length body).
  // `head`: the answer to a HEAD request, whose Content-Length has no body.
  std::optional<RawResponse> ReadResponse(milliseconds timeout = kWait,
                                          bool head = false) {
    size_t header_end = std::string::npos;
    if (!ReadUntil(
            [&](const std::string& b) {
              header_end = b.find("\r\n\r\n");
              return header_end != std::string::npos;
            },
            timeout)) {
      return std::nullopt;
    }
    RawResponse response;
    std::string block = buffer_.substr(0, header_end);
    size_t line_end = block.find("\r\n");
    std::string status_line = block.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    size_t pos = line_end == std::string::npos ? block.size() : line_end + 2;
    while (pos < block.size()) {
      size_t end = block.find("\r\n", pos);
      if (end == std::string::npos) end = block.size();
      std::string line = block.substr(pos, end - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[name] = value;
      pos = end + 2;
    }
    size_t length = 0;
    if (response.headers.count("content-length")) {
      length = std::stoul(response.headers["content-length"]);
    }
    size_t body_start = header_end + 4;
    if (response.status == 100 || head) length = 0;
    if (length > 0 && !ReadUntil([&](const std::string& b) {
          return b.size() >= body_start + length;
        })) {
      return std::nullopt;
    }
    response.body = buffer_.substr(body_start, length);
    buffer_.erase(0, body_start + length);
    return response;
  }

  // True when the server closes the connection within `timeout`.
  bool WaitClosed(milliseconds timeout = kWait) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) eof_ = true;
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

std::string Get(const std::string& target, bool close = false) {
  return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = request.method + " " + request.target + " " + request.body;
  return response;
}

class ServerTest : public ::testing::Test {
 protected:
  void Start(HttpHandler handler = Echo) {
    auto server = HttpServer::Start(options_, std::move(handler));
    ASSERT_OK(server);
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  ServerOptions options_ = [] {
    ServerOptions o;
    o.max_body_bytes = 1024;
    o.max_header_bytes = 1024;
    o.read_timeout = milliseconds(200);
    o.idle_timeout = milliseconds(200);
    o.worker_threads = 2;
    return o;
  }();
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerTest, AnswersWithStandardHeadersAndKeepsAlive) {
  options_.read_timeout = milliseconds(5000);
  options_.idle_timeout = milliseconds(5000);
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(Get("/x?i=" + std::to_string(i))));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "GET /x?i=" + std::to_string(i) + " ");
    EXPECT_EQ(response->headers["server"], "posta");
    EXPECT_EQ(response->headers["content-type"], "text/plain");
    EXPECT_FALSE(response->headers["date"].empty());
    EXPECT_EQ(response->headers["content-length"],
              std::to_string(response->body.size()));
  }
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  options_.read_timeout = milliseconds(5000);
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.Send(Get("/a") + Get("/b") + Get("/c", true)));
  for (const char* path : {"/a", "/b", "/c"}) {
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, std::string("GET ") + path + " ");
  }
  EXPECT_TRUE(client.WaitClosed());
}

TEST_F(ServerTest, PostBodyAndExpectContinue) {
  options_.read_timeout = milliseconds(5000);
  Start();
  Client client(server_->port());
  ASSERT_TRUE(
      client.Send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  auto interim = client.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /p hello");
}

TEST_F(ServerTest, HeadGetsHeadersOnly) {
  options_.read_timeout = milliseconds(5000);
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.Send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + Get("/g")));
  auto head = client.ReadResponse(kWait, /*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "8");  // "HEAD /h "
  // No body was sent: the next answer starts right after the header block.
  auto next = client.ReadResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "GET /g ");
}

TEST_F(ServerTest, LyingContentLengthIs413BeforeTheBodyIsSent) {
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  Client client(server_->port());
  ASSERT_TRUE(
      client.Send("POST /fhir/Patient HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/fhir+json\r\n"
                  "Content-Length: 1000000000000\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  Start();
  Client client(server_->port());
  std::string chunk(800, 'x');
  ASSERT_TRUE(client.Send(
      "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "320\r\n" +
      chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.WaitClosed());
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                          std::string(4000, 'a') + "\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("OperationOutcome"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed());
}

TEST_F(ServerTest, OverlongRequestLineIs431) {
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET /fhir/Patient?name=" + std::string(4000, 'a') +
                          " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("request header larger than 1024 bytes"),
            std::string::npos)
      << response->body;
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, TooManyHeaderFieldsAre431) {
  options_.max_header_bytes = 16 << 10;
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\n" + many + "\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("more than 100 header fields"),
            std::string::npos)
      << response->body;
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
  // 100 are fine.
  many.clear();
  for (int i = 0; i < 99; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  Client ok(server_->port());
  ASSERT_TRUE(ok.Send("GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n"));
  response = ok.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// Nothing inflates request bodies, so a compressed one (a gzip or deflate
// bomb included) is refused from its header, before a byte of it is read.
TEST_F(ServerTest, CompressedBodiesAre415BeforeTheBodyIsRead) {
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  for (const char* encoding : {"gzip", "deflate", "br", "zstd", "gzip, gzip"}) {
    SCOPED_TRACE(encoding);
    Client client(server_->port());
    ASSERT_TRUE(client.Send(std::string("POST /fhir/Patient HTTP/1.1\r\n"
                                        "Host: x\r\nContent-Encoding: ") +
                            encoding +
                            "\r\nContent-Type: application/fhir+json\r\n"
                            "Content-Length: 1000\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 415);
    EXPECT_NE(response->body.find("Content-Encoding '" + std::string(encoding) +
                                  "' not accepted: send the body "
                                  "uncompressed"),
              std::string::npos)
        << response->body;
    EXPECT_TRUE(client.WaitClosed());
  }
  EXPECT_EQ(calls.load(), 0);
  Client identity(server_->port());
  ASSERT_TRUE(identity.Send(
      "POST /p HTTP/1.1\r\nHost: x\r\nContent-Encoding: identity\r\n"
      "Content-Length: 2\r\n\r\n{}"));
  auto response = identity.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, MalformedRequestIs400AndClosed) {
  Start();
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET / FTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    Client client(server_->port());
    ASSERT_TRUE(client.Send(bad));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << bad;
    EXPECT_EQ(response->status, 400) << bad;
    EXPECT_TRUE(client.WaitClosed()) << bad;
  }
}

TEST_F(ServerTest, SilentClientIsClosedAfterReadTimeout) {
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  EXPECT_TRUE(client.WaitClosed(kWait));
}

TEST_F(ServerTest, SlowHeaderIsClosedAfterReadTimeout) {
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(client.WaitClosed(kWait));
}

TEST_F(ServerTest, SlowBodyIsClosedAfterReadTimeout) {
  Start();
  Client client(server_->port());
  ASSERT_TRUE(
      client.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                  "\r\nabc"));
  EXPECT_TRUE(client.WaitClosed(kWait));
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  options_.read_timeout = milliseconds(5000);
  options_.idle_timeout = milliseconds(200);
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.Send(Get("/")));
  ASSERT_TRUE(client.ReadResponse());
  EXPECT_TRUE(client.WaitClosed(kWait));
}

TEST_F(ServerTest, ConnectionsBeyondTheMaximumGet503) {
  options_.max_connections = 2;
  options_.read_timeout = milliseconds(10000);
  options_.idle_timeout = milliseconds(10000);
  Start();
  // Two connections, each proven accepted by an answered request.
  auto a = std::make_unique<Client>(server_->port());
  Client b(server_->port());
  for (Client* c : {a.get(), &b}) {
    ASSERT_TRUE(c->Send(Get("/")));
    auto response = c->ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
  }
  Client third(server_->port());
  auto refused = third.ReadResponse();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("OperationOutcome"), std::string::npos);
  EXPECT_TRUE(third.WaitClosed());

  // A freed slot is reusable once the server has seen the close.
  a.reset();
  bool served = false;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    Client next(server_->port());
    if (!next.Send(Get("/"))) continue;
    auto response = next.ReadResponse();
    served = response && response->status == 200;
  }
  EXPECT_TRUE(served);
}

TEST_F(ServerTest, GracefulShutdownFinishesInFlightRequests) {
  options_.read_timeout = milliseconds(10000);
  options_.idle_timeout = milliseconds(10000);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  Start([&](const HttpRequest& r) {
    if (r.target == "/slow" && first.exchange(false)) {
      entered.set_value();
      released.wait_for(std::chrono::seconds(10));
    }
    return Echo(r);
  });
  Client idle(server_->port());
  ASSERT_TRUE(idle.Send(Get("/")));
  ASSERT_TRUE(idle.ReadResponse());

  Client busy(server_->port());
  ASSERT_TRUE(busy.Send(Get("/slow")));
  ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);

  server_->Shutdown(HttpServer::ShutdownMode::kGraceful);
  EXPECT_TRUE(idle.WaitClosed());  // idle connections close at once
  release.set_value();
  auto response = busy.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /slow ");
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(busy.WaitClosed());
  busy.Close();  // ends the server's drain of this connection
  server_->Wait();

  Client late(server_->port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/")) && late.ReadResponse());
}

TEST_F(ServerTest, ShutdownNowClosesEverything) {
  options_.read_timeout = milliseconds(10000);
  options_.idle_timeout = milliseconds(10000);
  Start();
  Client a(server_->port());
  Client b(server_->port());
  ASSERT_TRUE(a.Send(Get("/")));
  ASSERT_TRUE(a.ReadResponse());
  ASSERT_TRUE(b.Send("GET / HTTP/1.1\r\n"));  // half a request
  server_->Shutdown(HttpServer::ShutdownMode::kNow);
  server_->Wait();
  EXPECT_TRUE(a.WaitClosed());
  EXPECT_TRUE(b.WaitClosed());
  server_.reset();  // the destructor after Wait is safe
}

TEST_F(ServerTest, DestructorStopsARunningServer) {
  Start();
  Client a(server_->port());
  ASSERT_TRUE(a.Send(Get("/")));
  ASSERT_TRUE(a.ReadResponse());
  server_.reset();
  EXPECT_TRUE(a.WaitClosed());
}

TEST_F(ServerTest, BindFailureNamesTheAddress) {
  Start();
  ServerOptions same = options_;
  same.port = server_->port();
  auto second = HttpServer::Start(same, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_EQ(second.status().message(),
            "listen 127.0.0.1:" + std::to_string(server_->port()) +
                ": Address already in use");
  same.address = "not-an-ip";
  EXPECT_FALSE(HttpServer::Start(same, Echo).ok());
}

TEST_F(ServerTest, HandlerExceptionsBecome500) {
  Start([](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("private detail");
  });
  Client client(server_->port());
  ASSERT_TRUE(client.Send(Get("/")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body.find("private detail"), std::string::npos);
}

// The whole stack: server → Api → store, over a socket.
class ServerApiTest : public ApiTest {};

TEST_F(ServerApiTest, CreateAndReadOverHttp) {
  ServerOptions options;
  options.read_timeout = milliseconds(5000);
  auto server = HttpServer::Start(
      options, [&](const HttpRequest& r) { return api_->Handle(r); });
  ASSERT_OK(server);
  Client client((*server)->port());
  std::string body = PatientJson("Okafor", "Ada");
  ASSERT_TRUE(
      client.Send("POST /fhir/Patient HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/fhir+json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body));
  auto created = client.ReadResponse();
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  std::string location = created->headers["location"];
  EXPECT_EQ(location.rfind("http://127.0.0.1/fhir/Patient/", 0), 0u);
  std::string id = Body(HttpResponse{201, "", {}, created->body})["id"];

  ASSERT_TRUE(client.Send(Get("/fhir/Patient/" + id)));
  auto read = client.ReadResponse();
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(read->headers["content-type"],
            "application/fhir+json; charset=utf-8");
  EXPECT_EQ(read->headers["etag"], created->headers["etag"]);

  ASSERT_TRUE(client.Send(Get("/fhir/Patient/" + id + "x")));
  auto bad = client.ReadResponse();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  (*server)->Shutdown(HttpServer::ShutdownMode::kGraceful);
  (*server)->Wait();
}

// HTTPS: a server given a certificate and key speaks TLS only.
class TlsServerTest : public ServerTest {
 protected:
  void SetUp() override {
    auto pair =
        MakeSelfSigned({.common_name = "hub", .ip_addresses = {"127.0.0.1"}});
    ASSERT_OK(pair);
    WriteFile(dir_.File("cert.pem"), pair->cert_pem);
    WriteFile(dir_.File("key.pem"), pair->key_pem);
    auto ids = DescribeCertificate(pair->cert_pem, "cert");
    ASSERT_OK(ids);
    pin_ = ids->pin;
    options_.tls_cert_file = dir_.File("cert.pem");
    options_.tls_key_file = dir_.File("key.pem");
  }

  static void WriteFile(const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }

  Result<sync::HttpResponse> PostWithPin(const std::string& pin) {
    sync::TransportOptions options;
    options.base_url = "https://127.0.0.1:" + std::to_string(server_->port());
    options.pinned_public_key = pin;
    options.proxy = std::string(sync::kNoProxy);
    POSTA_ASSIGN_OR_RETURN(auto transport, sync::NewHttpTransport(options));
    return transport->Post("/x", "text/plain", "hello");
  }

  ::posta::testing::TempDir dir_;
  std::string pin_;
};

TEST_F(TlsServerTest, AnswersOverTlsToAClientThatPinsItsKey) {
  options_.read_timeout = milliseconds(5000);
  Start();
  auto response = PostWithPin(pin_);
  ASSERT_OK(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /x hello");
}

TEST_F(TlsServerTest, AnotherKeyIsRefusedByTheClientNamingThePin) {
  options_.read_timeout = milliseconds(5000);
  Start();
  const std::string wrong =
      "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  auto response = PostWithPin(wrong);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(response.status().message().find("does not match the pinned key " +
                                             wrong),
            std::string::npos)
      << response.status().ToString();
  // Without a pin, the system's CAs do not vouch for a self-signed hub.
  response = PostWithPin("");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(response.status().message().find("pin the hub with posta enroll"),
            std::string::npos)
      << response.status().ToString();
}

TEST_F(TlsServerTest, PlainHttpIsToldThePortSpeaksHttps) {
  options_.read_timeout = milliseconds(5000);
  std::atomic<int> calls{0};
  Start([&](const HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/", /*close=*/true)));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(response->body,
            "this port speaks HTTPS: use https:// instead of http://\n");
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
  // TLS clients are unaffected.
  auto ok = PostWithPin(pin_);
  ASSERT_OK(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsServerTest, StalledHandshakeIsClosedAfterReadTimeout) {
  Start();
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  // The first bytes of a TLS record, then nothing.
  ASSERT_TRUE(client.Send(std::string("\x16\x03\x01", 3)));
  EXPECT_TRUE(client.WaitClosed(kWait));
}

TEST_F(TlsServerTest, AKeyOfAnotherCertificateIsRefusedAtStart) {
  auto other = MakeSelfSigned({.common_name = "other"});
  ASSERT_OK(other);
  WriteFile(dir_.File("other.pem"), other->key_pem);
  options_.tls_key_file = dir_.File("other.pem");
  auto server = HttpServer::Start(options_, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(server.status().message().find("is not the key of"),
            std::string::npos)
      << server.status().ToString();
}

}  // namespace
}  // namespace posta::node::testing
