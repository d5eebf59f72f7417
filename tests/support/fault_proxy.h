// Network test support: FaultProxy, and LoopbackServer for the small
// servers tests write themselves.
//
// FaultProxy: a TCP proxy on loopback that plays a bad rural link between a
// clinic and its hub — latency, a thin pipe, a link that dies mid-transfer,
// a reply lost after the hub committed, a hub that cannot be reached — and
// can replay a request to prove a duplicate changes nothing; a link that
// goes silent for a while (Stall) and one reset on a schedule (SetSchedule).
// The netns/tc tools here cannot delay or reset (no netem), hence a
// userspace proxy; real packet loss and a kernel bandwidth cap come from
// NetnsLink (netns_link.h), with this proxy in front for delay and resets.
//
//   ASSERT_OK_AND_ASSIGN(auto proxy, FaultProxy::Start(hub_port));
//   proxy->SetFaults({.to_client = {.drop_after_bytes = 100}});
//   ... point the clinic at 127.0.0.1:proxy->port() ...
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "posta/base/status.h"

struct sockaddr_in;

namespace posta::testing {

// Faults on one direction of every connection.
struct LinkFaults {
  // One-way delay added to each forwarded chunk. A 1 s round trip is
  // 500 ms in each direction. Default: 0.
  std::chrono::milliseconds latency{0};
  // Cap on forwarded bytes per second, paced in small chunks; 0 for none.
  // 64 kbit/s is 8000. Default: 0.
  uint64_t bytes_per_second = 0;
  // When set: after this many bytes have been forwarded in this direction
  // on one connection (counted from the connection's start), the next byte
  // that arrives is not forwarded and both sides are closed. 0 cuts the
  // connection when the first byte arrives. Default: unset.
  std::optional<uint64_t> drop_after_bytes;
  // Packet loss as a stream sees it: each forwarded chunk (about 1/20 s of
  // a paced link, a TCP segment's worth at 64 kbit/s) is "lost" with this
  // probability, so it is sent again — its bytes use the link twice — and
  // it and everything behind it arrive `retransmit_delay` late, as TCP's
  // retransmission makes them. Drawn from the proxy's seeded generator.
  // Default: 0 (no loss).
  double loss = 0;
  // Default: 1 s, TCP's minimum retransmission timeout on a path whose
  // round trip is under a second.
  std::chrono::milliseconds retransmit_delay{std::chrono::seconds(1)};
};

struct Faults {
  LinkFaults to_upstream;  // client → upstream (requests)
  LinkFaults to_client;    // upstream → client (responses)
  // The client's bytes are forwarded; when the upstream's first answer
  // byte arrives it is discarded and both sides are closed: the reply lost
  // after the hub committed. Default: false.
  bool drop_response = false;
  // New connections are accepted and closed at once: the hub is
  // unreachable. The client's connect() succeeds (the kernel accepts), so
  // it sees an empty reply or a reset rather than ECONNREFUSED; a truly
  // refused port is a LoopbackServer destroyed before use. Default: false.
  bool refuse = false;
  // Every close the proxy decides on (a drop, drop_response, refuse,
  // CutAll) is an RST (SO_LINGER 0) instead of a FIN. Default: false.
  bool reset = false;
};

// Faults on a timer, counted from SetSchedule. Zero periods are off.
struct LinkSchedule {
  // Every period, every open connection is cut with an RST: a radio link
  // that drops and comes back. Default: off.
  std::chrono::milliseconds reset_every{0};
  // Every period, the link goes silent for `stall_for`: no byte moves in
  // either direction on any connection (new ones are accepted but carry
  // nothing), then everything resumes where it stopped. Default: off.
  std::chrono::milliseconds stall_every{0};
  std::chrono::milliseconds stall_for{0};
};

// Threading: every method is safe from any thread, and fault changes apply
// to open connections at once (except faults pinned by
// SetFaultsForNextConnections). The proxy runs one poll() thread of its
// own; the destructor stops it and closes every socket.
class FaultProxy {
 public:
  // Listens on 127.0.0.1 on an ephemeral port and forwards each accepted
  // connection to 127.0.0.1:upstream_port. A refused upstream connect is
  // passed on to the client as an RST.
  static Result<std::unique_ptr<FaultProxy>> Start(int upstream_port);
  // The same, forwarding to `upstream_host` (an IPv4 address, e.g. a hub
  // in a network namespace of the test's own) instead of 127.0.0.1.
  static Result<std::unique_ptr<FaultProxy>> Start(
      int upstream_port, const std::string& upstream_host, uint64_t seed = 1);

  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  int upstream_port() const { return upstream_port_; }

  // Replaces the standing faults. Default: none (a clean link).
  void SetFaults(const Faults& faults);
  Faults faults() const;
  // The next `n` accepted connections get `faults` for their whole life
  // instead of the standing faults; later connections get the standing
  // ones again. Replaces any earlier pending count.
  void SetFaultsForNextConnections(int n, const Faults& faults);
  // The next `n` connections are refused (closed at once, FIN).
  void FailNextConnections(int n);
  // Closes every open connection now (RST when the standing faults say
  // reset): the link just went down.
  void CutAll();
  // The link goes silent for `d` from now (see LinkSchedule::stall_for).
  void Stall(std::chrono::milliseconds d);
  // Replaces the schedule; its periods start now. Default: none.
  void SetSchedule(const LinkSchedule& schedule);

  // Scheduled resets so far, and how many open connections they cut (a
  // reset between requests cuts none); scheduled and explicit stalls; and
  // chunks "lost" by LinkFaults::loss. Not cleared by ResetCounters.
  uint64_t scheduled_resets() const { return scheduled_resets_.load(); }
  uint64_t connections_reset() const { return connections_reset_.load(); }
  uint64_t stalls() const { return stalls_.load(); }
  uint64_t chunks_lost() const { return chunks_lost_.load(); }

  // Bytes written to the upstream / to clients, and connections accepted
  // (refused ones included), since Start or ResetCounters.
  uint64_t bytes_to_upstream() const { return bytes_to_upstream_.load(); }
  uint64_t bytes_to_client() const { return bytes_to_client_.load(); }
  uint64_t connections_accepted() const { return accepted_.load(); }
  void ResetCounters();

  // What the most recent connection that sent anything has sent so far
  // (all its requests, for a keep-alive connection), as read from the
  // client, forwarded or not.
  std::string LastClientBytes() const;

  // Everything clients have sent since Start or ResetCounters, every
  // connection's bytes in the order read, forwarded or not: the requests a
  // test counts and sizes (a resend after a cut shows up twice).
  std::string AllClientBytes() const;

  // Sends LastClientBytes() again on a fresh connection straight to the
  // upstream (no faults), half-closes it, and returns everything the
  // upstream answers until it closes or `timeout` passes. Unavailable when
  // nothing was recorded, the connect fails, or nothing came back in time.
  Result<std::string> ReplayLastRequest(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same with any bytes.
  Result<std::string> SendToUpstream(
      std::string_view bytes,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct Conn;  // one proxied connection; loop thread only
  struct Pipe;  // one direction of a Conn

  FaultProxy(int listen_fd, int port, int upstream_port, uint32_t upstream_ip,
             int wake_fd, uint64_t seed);
  void Wake();
  // The loop thread's body, and its steps.
  void Run();
  void AcceptAll(std::vector<std::unique_ptr<Conn>>& conns);
  void Service(Conn& c, short client_events, short upstream_events,
               const Faults& f, bool stalled);
  void ReadInto(Conn& c, Pipe& p, const LinkFaults& lf, const Faults& f);
  void Flush(Conn& c, Pipe& p);
  void Record(uint64_t conn_id, const char* data, size_t n);
  sockaddr_in UpstreamAddress() const;
  double NextUniform();  // [0, 1); loop thread only

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  const uint32_t upstream_ip_;  // network byte order
  const int wake_fd_;           // eventfd: stop, or faults changed

  mutable std::mutex mu_;
  Faults faults_;                                         // guarded by mu_
  int pinned_left_ = 0;                                   // guarded by mu_
  Faults pinned_;                                         // guarded by mu_
  bool cut_all_ = false;                                  // guarded by mu_
  uint64_t last_record_conn_ = 0;                         // guarded by mu_
  std::string last_record_;                               // guarded by mu_
  std::string all_records_;                               // guarded by mu_
  LinkSchedule schedule_;                                 // guarded by mu_
  std::chrono::steady_clock::time_point schedule_start_;  // guarded by mu_
  std::chrono::steady_clock::time_point stall_until_;     // guarded by mu_
  uint64_t resets_done_ = 0;  // guarded by mu_: periods of the schedule
  uint64_t stalls_done_ = 0;  // guarded by mu_: periods of the schedule

  uint64_t next_conn_id_ = 1;  // loop thread only
  uint64_t rng_state_;         // loop thread only (splitmix64)
  std::atomic<uint64_t> scheduled_resets_{0};
  std::atomic<uint64_t> connections_reset_{0};
  std::atomic<uint64_t> stalls_{0};
  std::atomic<uint64_t> chunks_lost_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_to_upstream_{0};
  std::atomic<uint64_t> bytes_to_client_{0};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

// A server on 127.0.0.1 (ephemeral port) that runs `handler(fd)` on a
// thread of its own for each accepted connection and closes fd when the
// handler returns. The destructor shuts every socket down (so blocked
// handlers return) and joins every thread.
class LoopbackServer {
 public:
  // Aborts when no socket can be had: a test cannot run without it.
  explicit LoopbackServer(std::function<void(int fd)> handler);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  // Connections accepted so far.
  int accepted();
  // Waits until `n` handlers have returned; false after `timeout`.
  bool WaitForClosed(
      int n, std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  void AcceptLoop();

  std::function<void(int)> handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  std::vector<std::thread> threads_;  // accept thread only, until joined
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> open_;  // guarded by mu_
  int accepted_ = 0;    // guarded by mu_
  int closed_ = 0;      // guarded by mu_
};

}  // namespace posta::testing
