// NetnsLink: a real, shaped network link for process tests. A network
// namespace of the test's own holds one end of a veth pair; the kernel caps
// the bandwidth both ways with `tc ... tbf` and nftables drops a share of
// the packets coming in at each end (real loss: TCP retransmits). A hub
// started inside the namespace (Wrap) is reached at inner_address() from
// the test's namespace; a FaultProxy in front adds the delay, stalls and
// resets the kernel here cannot (no sch_netem).
//
//   ASSERT_OK_AND_ASSIGN(auto link, NetnsLink::Create({}));  // or skip
//   argv = link->Wrap({PostaBinary(), "serve", ...});
//
// Create needs root (CAP_NET_ADMIN), `ip`, `tc` with sch_tbf and `nft`;
// without them it fails with FailedPrecondition saying which, and the test
// skips with that reason. Names carry the test process's pid, so parallel
// runs do not collide; Create removes what an earlier run that was killed
// left behind (namespaces, links and tables whose pid is gone), and the
// destructor removes everything it made, whether the test passed or not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "posta/base/status.h"

namespace posta::testing {

struct NetnsLinkOptions {
  // Bandwidth each way, bits per second; 0 for no cap. 64 kbit/s is a
  // 2G (EDGE) or thin satellite link. Default: 64000.
  uint64_t rate_bits_per_second = 64000;
  // Share of packets dropped at each end, in percent (0..100). Default: 20.
  int loss_percent = 20;
};

class NetnsLink {
 public:
  static Result<std::unique_ptr<NetnsLink>> Create(
      const NetnsLinkOptions& options);
  ~NetnsLink();
  NetnsLink(const NetnsLink&) = delete;
  NetnsLink& operator=(const NetnsLink&) = delete;

  const std::string& name() const { return name_; }
  // The namespace's end of the veth (where a server inside listens) and
  // the test namespace's end.
  const std::string& inner_address() const { return inner_; }
  const std::string& outer_address() const { return outer_; }
  // `argv` run inside the namespace: ip netns exec <name> argv... (ip execs
  // the command, so the child's pid is the command's).
  std::vector<std::string> Wrap(const std::vector<std::string>& argv) const;
  // Packets nftables dropped so far, both ends together.
  Result<uint64_t> DroppedPackets() const;

 private:
  NetnsLink() = default;
  Status Setup(const NetnsLinkOptions& options);
  void Teardown();

  std::string name_;       // the namespace, and the nftables table
  std::string outer_dev_;  // veth end in the test's namespace
  std::string inner_dev_;  // veth end in the link's namespace
  std::string outer_;
  std::string inner_;
  bool made_ = false;
};

}  // namespace posta::testing
