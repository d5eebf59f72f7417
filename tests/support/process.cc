#include "process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "posta/base/env.h"

namespace posta::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Forks and execs argv with stdout and stderr on `out_fd` and stdin on
// /dev/null. Returns the child's pid, or -1 when fork fails.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  auto args = Argv(argv);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

RunResult DecodeWaitStatus(int status) {
  RunResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

// Polls waitpid until the child exits or the deadline passes.
bool WaitPid(pid_t pid, Clock::time_point deadline, int* status) {
  while (true) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string PostaBinary() {
  const char* copy = std::getenv("POSTA_BINARY");
  return copy != nullptr && *copy != '\0' ? copy : POSTA_BINARY;
}

RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return RunResult{};
  pid_t pid = Spawn(argv, pipefd[1]);
  if (pid < 0) {
    RunResult failed{.output = std::string("fork: ") + std::strerror(errno)};
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return failed;
  }
  ::close(pipefd[1]);
  std::string output;
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{pipefd[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n <= 0) continue;
    ssize_t got = ::read(pipefd[0], buf, sizeof buf);
    if (got <= 0) break;
    output.append(buf, static_cast<size_t>(got));
  }
  ::close(pipefd[0]);
  int status = 0;
  if (!WaitPid(pid, deadline, &status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    RunResult r = DecodeWaitStatus(status);
    r.output = output + "\n[killed: timed out]";
    return r;
  }
  RunResult r = DecodeWaitStatus(status);
  r.output = std::move(output);
  return r;
}

RunResult ImportNdjson(const std::string& config_path, const std::string& file,
                       const std::string& ndjson) {
  if (Status s = base::Env::Default().WriteFileAtomic(file, ndjson, 0644);
      !s.ok()) {
    return RunResult{.output = s.ToString()};
  }
  return Run({PostaBinary(), "import", "--config", config_path, file});
}

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::string& log_path) {
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return Status::IOError(log_path, std::strerror(errno));
  pid_t pid = Spawn(argv, log);
  if (pid < 0) {
    Status failed = Status::IOError("fork", std::strerror(errno));
    ::close(log);
    return failed;
  }
  ::close(log);
  ChildProcess child;
  child.pid_ = pid;
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Kill();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Kill(); }

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

Result<RunResult> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Status::NotFound("child", "not running");
  int status = 0;
  if (!WaitPid(pid_, Clock::now() + timeout, &status)) {
    return Status::Unavailable("child " + std::to_string(pid_),
                               "still running after timeout");
  }
  pid_ = -1;
  return DecodeWaitStatus(status);
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Result<int> WaitForPortFile(const std::string& path,
                            std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Unavailable(path, "no port written before the timeout");
}

std::string HttpResult::Header(const std::string& name) const {
  std::string want = Lower(name);
  for (const auto& [k, v] : headers)
    if (Lower(k) == want) return v;
  return "";
}

Result<HttpResult> HttpCall(int port, const std::string& method,
                            const std::string& target, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError("socket", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Status::Unavailable("connect 127.0.0.1:" + std::to_string(port),
                               std::strerror(errno));
  std::ostringstream req;
  req << method << " " << target << " HTTP/1.1\r\nHost: 127.0.0.1:" << port
      << "\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req << k << ": " << v << "\r\n";
    if (Lower(k) == "content-type") has_type = true;
  }
  if (!body.empty() && !has_type) req << "Content-Type: application/fhir+json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    req << "Content-Length: " << body.size() << "\r\n";
  req << "\r\n" << body;
  std::string out = req.str();
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable("send", std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  std::string in;
  auto deadline = Clock::now() + timeout;
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) return Status::Unavailable("recv", "timed out");
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (in.empty()) return Status::Unavailable("recv", std::strerror(errno));
      break;
    }
    if (got == 0) break;
    in.append(buf, static_cast<size_t>(got));
  }
  size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos)
    return Status::Unavailable("response", "cut short before the headers ended");
  HttpResult r;
  std::istringstream head(in.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() < 12) return Status::Unavailable("response", "bad status line");
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    r.headers.emplace_back(line.substr(0, colon), v);
  }
  r.body = in.substr(head_end + 4);
  std::string len = r.Header("Content-Length");
  if (!len.empty() && r.body.size() < static_cast<size_t>(std::atoll(len.c_str())))
    return Status::Unavailable("response", "body cut short");
  return r;
}

}  // namespace posta::testing
