#include "fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace posta::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct ReadResult {
  std::string data;
  bool eof = false;  // orderly close (FIN)
  int error = 0;     // errno, e.g. ECONNRESET
  bool timed_out = false;
};

// Reads until `want` bytes arrived, the peer closed, or `timeout`.
ReadResult Read(int fd, size_t want = SIZE_MAX,
                milliseconds timeout = seconds(10)) {
  ReadResult r;
  const auto deadline = SteadyClock::now() + timeout;
  char buf[16384];
  while (r.data.size() < want) {
    auto left = std::chrono::ceil<milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) == 0) continue;
    ssize_t n = ::recv(fd, buf, std::min(sizeof(buf), want - r.data.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) {
      r.eof = true;
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

std::string Pattern(size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Echoes everything; records how many bytes each connection sent.
struct Echo {
  std::mutex mu;
  std::vector<size_t> received;  // per finished connection

  void operator()(int fd) {
    size_t total = 0;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      total += static_cast<size_t>(n);
      if (!SendAll(fd, std::string_view(buf, static_cast<size_t>(n)))) break;
    }
    std::lock_guard lock(mu);
    received.push_back(total);
  }
};

// A line protocol standing in for a hub:
//   "SEND <n>\n" → n pattern bytes;
//   "REQ <id>\n" → commits <id> and answers "seen <id> <times seen>\n".
struct Lines {
  std::mutex mu;
  std::map<std::string, int> seen;

  void operator()(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t nl;
      while ((nl = in.find('\n')) != std::string::npos) {
        std::string line = in.substr(0, nl);
        in.erase(0, nl + 1);
        std::string reply;
        if (line.rfind("SEND ", 0) == 0) {
          reply = Pattern(std::stoul(line.substr(5)));
        } else if (line.rfind("REQ ", 0) == 0) {
          std::string id = line.substr(4);
          std::lock_guard lock(mu);
          reply = "seen " + id + " " + std::to_string(++seen[id]) + "\n";
        }
        if (!SendAll(fd, reply)) return;
      }
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
  }
  int Seen(const std::string& id) {
    std::lock_guard lock(mu);
    return seen[id];
  }
};

TEST(FaultProxyTest, ForwardsBytesExactlyBothWays) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  const std::string sent = Pattern(1 << 20);
  std::thread writer([&] {
    EXPECT_TRUE(SendAll(fd, sent));
    ::shutdown(fd, SHUT_WR);  // the FIN must travel through the proxy too
  });
  ReadResult got = Read(fd);
  writer.join();
  ::close(fd);
  EXPECT_TRUE(got.eof);
  EXPECT_EQ(got.data.size(), sent.size());
  EXPECT_TRUE(got.data == sent);
  EXPECT_EQ(proxy->bytes_to_upstream(), sent.size());
  EXPECT_EQ(proxy->bytes_to_client(), sent.size());
  EXPECT_EQ(proxy->connections_accepted(), 1u);
  EXPECT_EQ(server.accepted(), 1);

  proxy->ResetCounters();
  EXPECT_EQ(proxy->bytes_to_upstream(), 0u);
  EXPECT_EQ(proxy->bytes_to_client(), 0u);
  EXPECT_EQ(proxy->connections_accepted(), 0u);
}

TEST(FaultProxyTest, DropAfterBytesToClientCutsAtTheCount) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_client.drop_after_bytes = 1000;
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "SEND 50000\n"));
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_TRUE(got.eof);
  EXPECT_EQ(got.data, Pattern(50000).substr(0, 1000));
  EXPECT_EQ(proxy->bytes_to_client(), 1000u);
}

TEST(FaultProxyTest, DropAfterBytesToUpstreamCutsAtTheCount) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_upstream.drop_after_bytes = 300;
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  const std::string sent = Pattern(1000);
  ASSERT_TRUE(SendAll(fd, sent));
  ReadResult got = Read(fd);
  ::close(fd);
  ASSERT_TRUE(server.WaitForClosed(1));
  std::lock_guard lock(echo.mu);
  ASSERT_EQ(echo.received.size(), 1u);
  EXPECT_EQ(echo.received[0], 300u);
  EXPECT_EQ(proxy->bytes_to_upstream(), 300u);
  // Whatever came back before the cut is a prefix of the echo.
  EXPECT_EQ(got.data, sent.substr(0, got.data.size()));
}

TEST(FaultProxyTest, ResetClosesWithRst) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_client.drop_after_bytes = 10;
  f.reset = true;
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "SEND 5000\n"));
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_FALSE(got.eof);
  EXPECT_EQ(got.error, ECONNRESET);
  EXPECT_LE(got.data.size(), 10u);
}

TEST(FaultProxyTest, DropResponseAfterTheUpstreamCommitted) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  int fd = Connect(proxy->port());
  // A clean exchange first; then the fault is set on the open connection.
  ASSERT_TRUE(SendAll(fd, "REQ a\n"));
  EXPECT_EQ(Read(fd, 9).data, "seen a 1\n");
  Faults f;
  f.drop_response = true;
  proxy->SetFaults(f);
  ASSERT_TRUE(SendAll(fd, "REQ b\n"));
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_TRUE(got.eof);
  EXPECT_EQ(got.data, "");
  EXPECT_EQ(lines.Seen("b"), 1);  // the hub did commit it
}

TEST(FaultProxyTest, RefuseClosesNewConnections) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.refuse = true;
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  (void)SendAll(fd, "REQ a\n");
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_TRUE(got.eof || got.error == ECONNRESET);
  EXPECT_EQ(got.data, "");
  EXPECT_EQ(proxy->connections_accepted(), 1u);
  EXPECT_EQ(server.accepted(), 0);
  EXPECT_EQ(lines.Seen("a"), 0);
}

TEST(FaultProxyTest, FailNextConnectionsIsOnceOnly) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  proxy->FailNextConnections(2);
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(proxy->port());
    (void)SendAll(fd, "REQ x\n");
    ReadResult got = Read(fd, 9);
    ::close(fd);
    if (i < 2) {
      EXPECT_EQ(got.data, "") << "connection " << i;
    } else {
      EXPECT_EQ(got.data, "seen x 1\n");
    }
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(FaultProxyTest, UpstreamDownLooksRefused) {
  int dead_port;
  {
    Lines lines;
    LoopbackServer gone(std::ref(lines));
    dead_port = gone.port();
  }
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(dead_port));
  int fd = Connect(proxy->port());
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_EQ(got.error, ECONNRESET);
}

TEST(FaultProxyTest, ReplayLastRequestReachesTheUpstreamAgain) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  EXPECT_EQ(proxy->ReplayLastRequest().status().code(),
            Status::Code::kUnavailable);

  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "REQ batch-17\n"));
  EXPECT_EQ(Read(fd, 16).data, "seen batch-17 1\n");
  ::close(fd);
  EXPECT_EQ(proxy->LastClientBytes(), "REQ batch-17\n");

  ASSERT_OK_AND_ASSIGN(std::string answer, proxy->ReplayLastRequest());
  EXPECT_EQ(answer, "seen batch-17 2\n");
  EXPECT_EQ(lines.Seen("batch-17"), 2);

  ASSERT_OK_AND_ASSIGN(answer, proxy->SendToUpstream("REQ other\n"));
  EXPECT_EQ(answer, "seen other 1\n");
}

TEST(FaultProxyTest, CutAllClosesOpenConnections) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  proxy->CutAll();
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_TRUE(got.eof);
  EXPECT_TRUE(server.WaitForClosed(1));
}

// Timing tests check lower bounds only: a loaded machine is slower, never
// faster.
TEST(FaultProxyTest, LatencyDelaysEachDirection) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_upstream.latency = milliseconds(150);
  f.to_client.latency = milliseconds(150);
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  EXPECT_GE(SteadyClock::now() - start, milliseconds(300));
  ::close(fd);
}

TEST(FaultProxyTest, BandwidthPacesTransfer) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_client.bytes_per_second = 8000;  // 64 kbit/s
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(SendAll(fd, "SEND 16000\n"));
  ReadResult got = Read(fd, 16000);
  const auto elapsed = SteadyClock::now() - start;
  ::close(fd);
  EXPECT_EQ(got.data, Pattern(16000));
  EXPECT_GE(elapsed, milliseconds(1500));
}

TEST(FaultProxyTest, DestructorDoesNotWaitForDelayedData) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  int fd;
  {
    ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
    Faults f;
    f.to_upstream.latency = seconds(60);
    proxy->SetFaults(f);
    fd = Connect(proxy->port());
    ASSERT_TRUE(SendAll(fd, "stuck in the pipe"));
  }  // a hang here fails the test by its timeout
  ReadResult got = Read(fd);
  ::close(fd);
  // RST when the proxy had not read the bytes yet, else FIN.
  EXPECT_TRUE(got.eof || got.error == ECONNRESET);
  EXPECT_FALSE(got.timed_out);
  EXPECT_EQ(got.data, "");
}

TEST(FaultProxyTest, UpstreamHostMustBeAnAddress) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  Result<std::unique_ptr<FaultProxy>> bad =
      FaultProxy::Start(server.port(), "hub.example");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().ToString().find("hub.example"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto proxy,
                       FaultProxy::Start(server.port(), "127.0.0.1"));
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  ::close(fd);
}

TEST(FaultProxyTest, ScheduledResetsCutOpenConnectionsWithRst) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  proxy->SetSchedule({.reset_every = milliseconds(200)});
  ReadResult got = Read(fd);
  ::close(fd);
  EXPECT_EQ(got.error, ECONNRESET);
  EXPECT_GE(proxy->scheduled_resets(), 1u);
  EXPECT_GE(proxy->connections_reset(), 1u);
  // The link comes back: a new connection carries bytes again (it may be
  // cut by a later reset, so look only for the first echo).
  proxy->SetSchedule({});
  fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "pong"));
  EXPECT_EQ(Read(fd, 4).data, "pong");
  ::close(fd);
}

TEST(FaultProxyTest, StallHoldsEveryByteUntilItEnds) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  int fd = Connect(proxy->port());
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  const auto start = SteadyClock::now();
  proxy->Stall(milliseconds(400));
  const std::string sent = Pattern(100000);
  std::thread writer([&] { EXPECT_TRUE(SendAll(fd, sent)); });
  ReadResult got = Read(fd, sent.size());
  writer.join();
  ::close(fd);
  EXPECT_GE(SteadyClock::now() - start, milliseconds(400));
  EXPECT_EQ(got.data, sent);  // nothing lost or reordered by the stall
  EXPECT_EQ(proxy->stalls(), 1u);
}

TEST(FaultProxyTest, ScheduledStallsRecur) {
  Echo echo;
  LoopbackServer server(std::ref(echo));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  proxy->SetSchedule(
      {.stall_every = milliseconds(100), .stall_for = milliseconds(50)});
  int fd = Connect(proxy->port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(SendAll(fd, "ping"));
    EXPECT_EQ(Read(fd, 4).data, "ping");
  }
  std::this_thread::sleep_for(milliseconds(250));
  ASSERT_TRUE(SendAll(fd, "ping"));
  EXPECT_EQ(Read(fd, 4).data, "ping");
  ::close(fd);
  EXPECT_GE(proxy->stalls(), 2u);
}

TEST(FaultProxyTest, LossDelaysAndResendsButDeliversEverything) {
  Lines lines;
  LoopbackServer server(std::ref(lines));
  ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(server.port()));
  Faults f;
  f.to_client.bytes_per_second = 8000;
  f.to_client.loss = 1.0;  // every chunk once lost: twice the link time
  f.to_client.retransmit_delay = milliseconds(300);
  proxy->SetFaults(f);
  int fd = Connect(proxy->port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(SendAll(fd, "SEND 4000\n"));
  ReadResult got = Read(fd, 4000);
  const auto elapsed = SteadyClock::now() - start;
  ::close(fd);
  EXPECT_EQ(got.data, Pattern(4000));
  // 4000 bytes at 8000 B/s take 0.5 s; sent twice, 1 s; plus the delay.
  EXPECT_GE(elapsed, milliseconds(1300));
  EXPECT_GE(proxy->chunks_lost(), 10u);  // 400-byte chunks
}

}  // namespace
}  // namespace posta::testing
