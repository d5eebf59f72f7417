#include "netns_link.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "process.h"

namespace posta::testing {
namespace {

constexpr char kNamePrefix[] = "posta-link-";
constexpr char kTablePrefix[] = "posta_link_";
constexpr char kOuterPrefix[] = "plo";
constexpr char kInnerPrefix[] = "pli";

// The full path of a network tool (the process helpers exec without a
// PATH search); "" when it is not installed.
std::string Tool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs argv with its tool's full path.
RunResult RunTool(std::vector<std::string> argv) {
  const std::string path = Tool(argv[0]);
  if (!path.empty()) argv[0] = path;
  return Run(argv, std::chrono::seconds(20));
}

// Runs a network command; PreconditionFailed with the command and its
// output unless it exits 0 (the machine does not allow it).
Status Net(const std::vector<std::string>& argv) {
  RunResult r = RunTool(argv);
  if (r.exit_code == 0) return Status::Ok();
  std::string command;
  for (const std::string& a : argv) command += (command.empty() ? "" : " ") + a;
  return Status::PreconditionFailed(
      command, "exit " + std::to_string(r.exit_code) + ": " + r.output);
}

// True when `pid` names no live process: what an earlier run left behind.
bool Gone(const std::string& pid_text) {
  if (pid_text.empty() ||
      pid_text.find_first_not_of("0123456789") != std::string::npos) {
    return false;  // not one of ours
  }
  const long pid = std::stol(pid_text);
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// Every word of `text` that starts with `prefix`, the prefix removed.
std::vector<std::string> Suffixes(const std::string& text,
                                  const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    if (word.rfind(prefix, 0) != 0) continue;
    word = word.substr(prefix.size());
    // "plo123@if4:" in `ip -o link`.
    word = word.substr(0, word.find_first_of("@:"));
    out.push_back(word);
  }
  return out;
}

// Removes namespaces, veth ends and nftables tables of runs whose process
// is gone (a test killed before its teardown).
void RemoveLeftovers() {
  for (const std::string& pid :
       Suffixes(RunTool({"ip", "netns", "list"}).output, kNamePrefix)) {
    if (Gone(pid)) (void)RunTool({"ip", "netns", "del", kNamePrefix + pid});
  }
  for (const std::string& pid :
       Suffixes(RunTool({"ip", "-o", "link", "show"}).output, kOuterPrefix)) {
    if (Gone(pid)) (void)RunTool({"ip", "link", "del", kOuterPrefix + pid});
  }
  for (const std::string& pid :
       Suffixes(RunTool({"nft", "list", "tables"}).output, kTablePrefix)) {
    if (Gone(pid)) {
      (void)RunTool({"nft", "delete", "table", "inet", kTablePrefix + pid});
    }
  }
}

// Sums "counter packets N" in `nft list table` output.
uint64_t CountedPackets(const std::string& listing) {
  uint64_t total = 0;
  std::istringstream words(listing);
  std::string word, prev;
  while (words >> word) {
    if (prev == "packets" && !word.empty() &&
        word.find_first_not_of("0123456789") == std::string::npos) {
      total += std::stoull(word);
    }
    prev = word;
  }
  return total;
}

}  // namespace

Result<std::unique_ptr<NetnsLink>> NetnsLink::Create(
    const NetnsLinkOptions& options) {
  if (options.loss_percent < 0 || options.loss_percent > 100) {
    return Status::InvalidArgument(
        "NetnsLinkOptions.loss_percent",
        std::to_string(options.loss_percent) + " is not a percentage (0..100)");
  }
  if (::geteuid() != 0) {
    return Status::PreconditionFailed(
        "network namespace link",
        "not root: ip netns, tc and nft need CAP_NET_ADMIN");
  }
  for (const char* tool : {"ip", "tc", "nft"}) {
    if (Tool(tool).empty()) {
      return Status::PreconditionFailed(
          "network namespace link",
          std::string(tool) +
              " is not installed (Debian: iproute2, nftables; "
              "scripts/deps.sh installs them)");
    }
  }
  RemoveLeftovers();
  std::unique_ptr<NetnsLink> link(new NetnsLink());
  const std::string pid = std::to_string(::getpid());
  link->name_ = kNamePrefix + pid;
  link->outer_dev_ = kOuterPrefix + pid;
  link->inner_dev_ = kInnerPrefix + pid;
  // A /30 of 10.251.0.0/16 per pid, so runs side by side do not share
  // addresses. These exist only on this veth pair, inside this machine.
  const int index = ::getpid() % 16384;
  const std::string net = "10.251." + std::to_string(index / 64) + ".";
  link->outer_ = net + std::to_string((index % 64) * 4 + 1);
  link->inner_ = net + std::to_string((index % 64) * 4 + 2);
  Status s = link->Setup(options);
  if (!s.ok()) return s;  // the destructor removes what was made
  return link;
}

Status NetnsLink::Setup(const NetnsLinkOptions& options) {
  const std::vector<std::string> in_ns = {"ip", "netns", "exec", name_};
  auto inside = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), in_ns.begin(), in_ns.end());
    return argv;
  };
  made_ = true;
  POSTA_RETURN_IF_ERROR(Net({"ip", "netns", "add", name_}));
  POSTA_RETURN_IF_ERROR(Net({"ip", "link", "add", outer_dev_, "type", "veth",
                             "peer", "name", inner_dev_}));
  POSTA_RETURN_IF_ERROR(Net({"ip", "link", "set", inner_dev_, "netns", name_}));
  POSTA_RETURN_IF_ERROR(
      Net({"ip", "addr", "add", outer_ + "/30", "dev", outer_dev_}));
  POSTA_RETURN_IF_ERROR(Net({"ip", "link", "set", outer_dev_, "up"}));
  POSTA_RETURN_IF_ERROR(
      Net(inside({"ip", "addr", "add", inner_ + "/30", "dev", inner_dev_})));
  POSTA_RETURN_IF_ERROR(Net(inside({"ip", "link", "set", inner_dev_, "up"})));
  POSTA_RETURN_IF_ERROR(Net(inside({"ip", "link", "set", "lo", "up"})));
  if (options.rate_bits_per_second > 0) {
    // tbf shapes what leaves a device, so each end gets one. The burst
    // holds one full-size packet; a second of queue before tail drops.
    const std::vector<std::string> tbf = {
        "root",    "tbf",
        "rate",    std::to_string(options.rate_bits_per_second) + "bit",
        "burst",   "4kb",
        "latency", "1000ms"};
    std::vector<std::string> out = {"tc", "qdisc", "add", "dev", outer_dev_};
    out.insert(out.end(), tbf.begin(), tbf.end());
    POSTA_RETURN_IF_ERROR(Net(out));
    std::vector<std::string> in =
        inside({"tc", "qdisc", "add", "dev", inner_dev_});
    in.insert(in.end(), tbf.begin(), tbf.end());
    POSTA_RETURN_IF_ERROR(Net(in));
  }
  if (options.loss_percent > 0) {
    // Dropped where packets come in (an input hook), never on output:
    // a local sender would see a drop on output as an error, not as loss.
    const std::string table = kTablePrefix + std::to_string(::getpid());
    const std::string loss = std::to_string(options.loss_percent);
    for (bool in_link : {false, true}) {
      auto cmd = [&](std::vector<std::string> argv) {
        return in_link ? inside(std::move(argv)) : argv;
      };
      const std::string& dev = in_link ? inner_dev_ : outer_dev_;
      POSTA_RETURN_IF_ERROR(Net(cmd({"nft", "add", "table", "inet", table})));
      POSTA_RETURN_IF_ERROR(
          Net(cmd({"nft", "add", "chain", "inet", table, "in",
                   "{ type filter hook input priority 0; policy accept; }"})));
      POSTA_RETURN_IF_ERROR(Net(cmd({"nft", "add", "rule", "inet", table, "in",
                                     "iifname", dev, "numgen", "random", "mod",
                                     "100", "<", loss, "counter", "drop"})));
    }
  }
  return Status::Ok();
}

NetnsLink::~NetnsLink() { Teardown(); }

void NetnsLink::Teardown() {
  if (!made_) return;
  // Deleting the namespace destroys its veth end, and with it the pair and
  // the namespace's nftables table; the test namespace's table goes by
  // name.
  (void)RunTool({"ip", "netns", "del", name_});
  (void)RunTool({"ip", "link", "del", outer_dev_});
  (void)RunTool({"nft", "delete", "table", "inet",
                 kTablePrefix + std::to_string(::getpid())});
  made_ = false;
}

std::vector<std::string> NetnsLink::Wrap(
    const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {Tool("ip"), "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Result<uint64_t> NetnsLink::DroppedPackets() const {
  const std::string table = kTablePrefix + std::to_string(::getpid());
  RunResult outer = RunTool({"nft", "list", "table", "inet", table});
  RunResult inner = RunTool(Wrap({"nft", "list", "table", "inet", table}));
  if (outer.exit_code != 0 || inner.exit_code != 0) {
    return Status::Unavailable("nft list table " + table,
                               outer.output + inner.output);
  }
  return CountedPackets(outer.output) + CountedPackets(inner.output);
}

}  // namespace posta::testing
