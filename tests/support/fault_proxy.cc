#include "fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>

#include "posta/base/check.h"

namespace posta::testing {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Bytes held per direction before the proxy stops reading, so a slow link
// pushes back on the sender through TCP as a real one does.
constexpr size_t kMaxQueued = 256 * 1024;
constexpr size_t kMaxChunk = 64 * 1024;

void CloseFd(int& fd, bool rst) {
  if (fd < 0) return;
  if (rst) {
    linger l{};
    l.l_onoff = 1;
    l.l_linger = 0;  // close() then sends RST and drops unsent data
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  ::close(fd);
  fd = -1;
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

void NoDelay(int fd) {
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Status Errno(std::string_view what) {
  return Status::Unavailable(what, std::strerror(errno));
}

}  // namespace

struct FaultProxy::Pipe {
  struct Chunk {
    std::string data;
    size_t sent = 0;
    SteadyClock::time_point due;
  };
  bool to_upstream = false;
  std::deque<Chunk> queue;
  size_t queued = 0;                  // unsent bytes in queue
  uint64_t accepted = 0;              // bytes taken for forwarding, ever
  SteadyClock::time_point link_free;  // when the paced link is idle again
  bool eof = false;                   // the source sent FIN
  bool shut = false;                  // the FIN was passed on
  bool cut_pending = false;           // drop_after_bytes hit: cut when drained
};

struct FaultProxy::Conn {
  uint64_t id = 0;
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  std::optional<Faults> pinned;
  Pipe up;    // client → upstream
  Pipe down;  // upstream → client

  int From(const Pipe& p) const { return p.to_upstream ? client : upstream; }
  int To(const Pipe& p) const { return p.to_upstream ? upstream : client; }
  void Kill(bool rst) {
    CloseFd(client, rst);
    CloseFd(upstream, rst);
    dead = true;
  }
};

namespace {

size_t ChunkSize(const LinkFaults& lf) {
  if (lf.bytes_per_second == 0) return kMaxChunk;
  // About 20 chunks a second keeps pacing smooth.
  return std::clamp<size_t>(lf.bytes_per_second / 20, 1, kMaxChunk);
}

}  // namespace

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(int upstream_port) {
  return Start(upstream_port, "127.0.0.1");
}

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(
    int upstream_port, const std::string& upstream_host, uint64_t seed) {
  if (upstream_port <= 0 || upstream_port > 65535) {
    return Status::InvalidArgument("fault proxy upstream port",
                                   std::to_string(upstream_port));
  }
  in_addr upstream_ip{};
  if (::inet_pton(AF_INET, upstream_host.c_str(), &upstream_ip) != 1) {
    return Status::InvalidArgument(
        "fault proxy upstream host",
        "\"" + upstream_host + "\" is not an IPv4 address");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("fault proxy socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = Errno("fault proxy listen");
    ::close(fd);
    return s;
  }
  int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    Status s = Errno("fault proxy eventfd");
    ::close(fd);
    return s;
  }
  std::unique_ptr<FaultProxy> proxy(new FaultProxy(
      fd, ntohs(addr.sin_port), upstream_port, upstream_ip.s_addr, wake, seed));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Run(); });
  return proxy;
}

FaultProxy::FaultProxy(int listen_fd, int port, int upstream_port,
                       uint32_t upstream_ip, int wake_fd, uint64_t seed)
    : listen_fd_(listen_fd),
      port_(port),
      upstream_port_(upstream_port),
      upstream_ip_(upstream_ip),
      wake_fd_(wake_fd),
      rng_state_(seed) {}

sockaddr_in FaultProxy::UpstreamAddress() const {
  sockaddr_in addr = Loopback(upstream_port_);
  addr.sin_addr.s_addr = upstream_ip_;
  return addr;
}

double FaultProxy::NextUniform() {
  // splitmix64: small, seeded, and the same sequence on every run.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

FaultProxy::~FaultProxy() {
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void FaultProxy::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void FaultProxy::SetFaults(const Faults& faults) {
  {
    std::lock_guard lock(mu_);
    faults_ = faults;
  }
  Wake();
}

Faults FaultProxy::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

void FaultProxy::SetFaultsForNextConnections(int n, const Faults& faults) {
  std::lock_guard lock(mu_);
  pinned_left_ = std::max(n, 0);
  pinned_ = faults;
}

void FaultProxy::FailNextConnections(int n) {
  Faults refuse;
  refuse.refuse = true;
  SetFaultsForNextConnections(n, refuse);
}

void FaultProxy::CutAll() {
  {
    std::lock_guard lock(mu_);
    cut_all_ = true;
  }
  Wake();
}

void FaultProxy::Stall(std::chrono::milliseconds d) {
  {
    std::lock_guard lock(mu_);
    stall_until_ = std::max(stall_until_, SteadyClock::now() + d);
  }
  stalls_.fetch_add(1);
  Wake();
}

void FaultProxy::SetSchedule(const LinkSchedule& schedule) {
  {
    std::lock_guard lock(mu_);
    schedule_ = schedule;
    schedule_start_ = SteadyClock::now();
    resets_done_ = 0;
    stalls_done_ = 0;
  }
  Wake();
}

void FaultProxy::ResetCounters() {
  bytes_to_upstream_.store(0);
  bytes_to_client_.store(0);
  accepted_.store(0);
  std::lock_guard lock(mu_);
  all_records_.clear();
}

std::string FaultProxy::AllClientBytes() const {
  std::lock_guard lock(mu_);
  return all_records_;
}

std::string FaultProxy::LastClientBytes() const {
  std::lock_guard lock(mu_);
  return last_record_;
}

void FaultProxy::Record(uint64_t conn_id, const char* data, size_t n) {
  std::lock_guard lock(mu_);
  if (conn_id > last_record_conn_) {
    last_record_conn_ = conn_id;
    last_record_.clear();
  }
  if (conn_id == last_record_conn_) last_record_.append(data, n);
  all_records_.append(data, n);
}

Result<std::string> FaultProxy::ReplayLastRequest(
    std::chrono::milliseconds timeout) {
  std::string bytes = LastClientBytes();
  if (bytes.empty()) {
    return Status::Unavailable("fault proxy replay", "nothing recorded");
  }
  return SendToUpstream(bytes, timeout);
}

Result<std::string> FaultProxy::SendToUpstream(
    std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("fault proxy replay socket");
  sockaddr_in addr = UpstreamAddress();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = Errno("fault proxy replay connect");
    CloseFd(fd, false);
    return s;
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n =
        ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("fault proxy replay send");
      CloseFd(fd, false);
      return s;
    }
    off += static_cast<size_t>(n);
  }
  // The half-close tells a keep-alive server that no request follows, so
  // it answers and then closes.
  (void)::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[16 * 1024];
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  CloseFd(fd, false);
  if (answer.empty()) {
    return Status::Unavailable("fault proxy replay", "no answer from upstream");
  }
  return answer;
}

void FaultProxy::Run() {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    const auto now = SteadyClock::now();
    std::optional<SteadyClock::time_point> wake_at;
    auto wake_by = [&wake_at](SteadyClock::time_point t) {
      if (!wake_at || t < *wake_at) wake_at = t;
    };
    Faults standing;
    bool cut_all = false;
    bool scheduled_reset = false;
    SteadyClock::time_point stall_until;
    {
      std::lock_guard lock(mu_);
      standing = faults_;
      cut_all = std::exchange(cut_all_, false);
      // The schedule: how many periods have passed decides what is due, so
      // a late wakeup never skips or doubles a reset.
      const auto since = now - schedule_start_;
      if (schedule_.reset_every.count() > 0) {
        const auto due = static_cast<uint64_t>(since / schedule_.reset_every);
        if (due > resets_done_) {
          resets_done_ = due;
          scheduled_reset = true;
        }
        wake_by(schedule_start_ +
                schedule_.reset_every * static_cast<int64_t>(resets_done_ + 1));
      }
      if (schedule_.stall_every.count() > 0 &&
          schedule_.stall_for.count() > 0) {
        const auto due = static_cast<uint64_t>(since / schedule_.stall_every);
        if (due > stalls_done_) {
          stalls_done_ = due;
          const SteadyClock::time_point until =
              schedule_start_ +
              schedule_.stall_every * static_cast<int64_t>(due) +
              schedule_.stall_for;
          stall_until_ = std::max(stall_until_, until);
          stalls_.fetch_add(1);
        }
        wake_by(schedule_start_ +
                schedule_.stall_every * static_cast<int64_t>(stalls_done_ + 1));
      }
      stall_until = stall_until_;
    }
    if (cut_all) {
      for (auto& c : conns) c->Kill(standing.reset);
    }
    if (scheduled_reset) {
      scheduled_resets_.fetch_add(1);
      for (auto& c : conns) {
        if (c->dead) continue;
        connections_reset_.fetch_add(1);
        c->Kill(/*rst=*/true);
      }
    }
    std::erase_if(conns, [](const auto& c) { return c->dead; });

    // A stalled link moves nothing until the stall ends.
    const bool stalled = now < stall_until;
    if (stalled) wake_by(stall_until);
    auto can_read = [&](const Conn& c, const Pipe& p, const LinkFaults& lf) {
      if (stalled) return false;
      if (c.connecting || p.eof || p.cut_pending) return false;
      if (p.queued >= kMaxQueued) return false;
      if (lf.bytes_per_second > 0 && p.link_free > now) {
        wake_by(p.link_free);
        return false;
      }
      return true;
    };
    auto want_write = [&](const Pipe& p) {
      if (stalled || p.queue.empty()) return false;
      if (p.queue.front().due <= now) return true;
      wake_by(p.queue.front().due);
      return false;
    };

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& c : conns) {
      const Faults& f = c->pinned ? *c->pinned : standing;
      short ce = 0;
      short ue = 0;
      if (c->connecting) ue |= POLLOUT;
      if (can_read(*c, c->up, f.to_upstream)) ce |= POLLIN;
      if (can_read(*c, c->down, f.to_client)) ue |= POLLIN;
      if (want_write(c->up)) ue |= POLLOUT;
      if (want_write(c->down)) ce |= POLLOUT;
      // A stalled connection is left out of poll() (a negative fd), so a
      // peer's hangup cannot wake the loop over and over until it ends.
      const bool quiet = stalled && !c->connecting;
      fds.push_back({quiet ? -1 : c->client, ce, 0});
      fds.push_back({quiet ? -1 : c->upstream, ue, 0});
    }
    int timeout_ms = -1;
    if (wake_at) {
      auto d = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now);
      timeout_ms = static_cast<int>(std::max<int64_t>(d.count(), 0));
    }
    int r = ::poll(fds.data(), fds.size(), timeout_ms);
    if (r < 0 && errno != EINTR) break;  // cannot happen with valid fds
    if (stop_.load()) break;
    if (r > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof(v));
    }
    const size_t polled = conns.size();
    for (size_t i = 0; i < polled; ++i) {
      Conn& c = *conns[i];
      const Faults& f = c.pinned ? *c.pinned : standing;
      Service(c, r > 0 ? fds[2 + 2 * i].revents : 0,
              r > 0 ? fds[3 + 2 * i].revents : 0, f, stalled);
    }
    if (r > 0 && (fds[1].revents & POLLIN)) AcceptAll(conns);
  }
  for (auto& c : conns) c->Kill(false);
}

void FaultProxy::AcceptAll(std::vector<std::unique_ptr<Conn>>& conns) {
  for (;;) {
    int fd =
        ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of fds: try on the next wakeup
    accepted_.fetch_add(1);
    auto c = std::make_unique<Conn>();
    c->id = next_conn_id_++;
    c->client = fd;
    bool refuse = false;
    bool rst = false;
    {
      std::lock_guard lock(mu_);
      if (pinned_left_ > 0) {
        --pinned_left_;
        c->pinned = pinned_;
      }
      const Faults& f = c->pinned ? *c->pinned : faults_;
      refuse = f.refuse;
      rst = f.reset;
    }
    if (refuse) {
      CloseFd(c->client, rst);
      continue;
    }
    NoDelay(c->client);
    c->upstream =
        ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->upstream < 0) {
      c->Kill(true);
      continue;
    }
    NoDelay(c->upstream);
    sockaddr_in addr = UpstreamAddress();
    if (::connect(c->upstream, reinterpret_cast<sockaddr*>(&addr),
                  sizeof(addr)) == 0) {
      c->connecting = false;
    } else if (errno != EINPROGRESS) {
      c->Kill(true);  // upstream refused: so is the client
      continue;
    }
    c->up.to_upstream = true;
    conns.push_back(std::move(c));
  }
}

void FaultProxy::Service(Conn& c, short client_events, short upstream_events,
                         const Faults& f, bool stalled) {
  if (c.dead) return;
  if (c.connecting) {
    if (client_events & POLLERR) {
      c.Kill(true);
      return;
    }
    if (!(upstream_events & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof(err);
    (void)getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      c.Kill(true);
      return;
    }
    c.connecting = false;
    return;
  }
  // A reset on either side is passed on as a reset.
  if ((client_events | upstream_events) & POLLERR) {
    c.Kill(true);
    return;
  }
  // A stalled link neither reads nor writes; a peer's FIN or reset waits
  // for the stall to end like its data.
  if (stalled) return;
  if (client_events & (POLLIN | POLLHUP)) ReadInto(c, c.up, f.to_upstream, f);
  if (!c.dead && (upstream_events & (POLLIN | POLLHUP))) {
    ReadInto(c, c.down, f.to_client, f);
  }
  for (Pipe* p : {&c.up, &c.down}) {
    if (c.dead) return;
    Flush(c, *p);
    if (c.dead || !p->queue.empty()) continue;
    if (p->cut_pending) {
      c.Kill(f.reset);
      return;
    }
    if (p->eof && !p->shut) {
      (void)::shutdown(c.To(*p), SHUT_WR);
      p->shut = true;
    }
  }
  if (c.up.shut && c.down.shut) c.Kill(false);
}

void FaultProxy::ReadInto(Conn& c, Pipe& p, const LinkFaults& lf,
                          const Faults& f) {
  const auto now = SteadyClock::now();
  if (p.eof || p.cut_pending || p.queued >= kMaxQueued) return;
  if (lf.bytes_per_second > 0 && p.link_free > now) return;
  char buf[kMaxChunk];
  ssize_t n = ::recv(c.From(p), buf, ChunkSize(lf), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    c.Kill(true);
    return;
  }
  if (n == 0) {
    p.eof = true;
    return;
  }
  if (p.to_upstream) Record(c.id, buf, static_cast<size_t>(n));
  if (!p.to_upstream && f.drop_response) {
    c.Kill(f.reset);
    return;
  }
  size_t keep = static_cast<size_t>(n);
  if (lf.drop_after_bytes) {
    const uint64_t limit = *lf.drop_after_bytes;
    const uint64_t left = limit > p.accepted ? limit - p.accepted : 0;
    if (keep > left) {
      keep = static_cast<size_t>(left);
      p.cut_pending = true;
    }
  }
  if (keep == 0) return;
  const bool lost = lf.loss > 0 && NextUniform() < lf.loss;
  if (lost) chunks_lost_.fetch_add(1);
  auto due = now;
  if (lf.bytes_per_second > 0) {
    // The chunk leaves when the link is free and arrives once fully sent;
    // a lost one is sent twice.
    const auto send_time = std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(
            static_cast<double>(keep) /
            static_cast<double>(lf.bytes_per_second)));
    p.link_free = std::max(now, p.link_free) + send_time * (lost ? 2 : 1);
    due = p.link_free;
  }
  due += lf.latency;
  // The queue is sent in order, so a late chunk holds back the ones behind
  // it, as a stream does while it waits for a retransmission.
  if (lost) due += lf.retransmit_delay;
  p.queue.push_back({std::string(buf, keep), 0, due});
  p.queued += keep;
  p.accepted += keep;
}

void FaultProxy::Flush(Conn& c, Pipe& p) {
  const auto now = SteadyClock::now();
  while (!p.queue.empty() && p.queue.front().due <= now) {
    Pipe::Chunk& chunk = p.queue.front();
    ssize_t n = ::send(c.To(p), chunk.data.data() + chunk.sent,
                       chunk.data.size() - chunk.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      c.Kill(true);
      return;
    }
    (p.to_upstream ? bytes_to_upstream_ : bytes_to_client_)
        .fetch_add(static_cast<uint64_t>(n));
    chunk.sent += static_cast<size_t>(n);
    p.queued -= static_cast<size_t>(n);
    if (chunk.sent == chunk.data.size()) p.queue.pop_front();
  }
}

LoopbackServer::LoopbackServer(std::function<void(int)> handler)
    : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  POSTA_CHECK(
      listen_fd_ >= 0 &&
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
      ::listen(listen_fd_, 64) == 0 &&
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

LoopbackServer::~LoopbackServer() {
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept()
  accept_thread_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

int LoopbackServer::accepted() {
  std::lock_guard lock(mu_);
  return accepted_;
}

bool LoopbackServer::WaitForClosed(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closed_ >= n; });
}

void LoopbackServer::AcceptLoop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 && errno == EINTR) continue;
    if (fd < 0) return;
    std::lock_guard lock(mu_);
    open_.insert(fd);
    ++accepted_;
    threads_.emplace_back([this, fd] {
      handler_(fd);
      std::lock_guard lock(mu_);
      open_.erase(fd);
      ::close(fd);
      ++closed_;
      cv_.notify_all();
    });
  }
}

}  // namespace posta::testing
