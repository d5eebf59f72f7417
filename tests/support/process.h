// Child processes for integration and fault tests: start a real `posta`,
// talk to it over loopback, SIGKILL it mid-write.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "posta/base/status.h"

namespace posta::testing {

// The posta binary under test: the environment's POSTA_BINARY when set
// (the soak scripts run a copy, so a rebuild during a long run cannot swap
// it), otherwise the build's own (set by CMake as POSTA_BINARY).
std::string PostaBinary();

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string output;  // stdout and stderr, interleaved
};

// Runs a command to completion, capturing its output. `timeout` bounds it:
// the child is killed and the result says so.
RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Writes `ndjson` to `file` and runs `posta import --config config_path
// file`. A file that cannot be written gives exit_code -1 and the reason.
RunResult ImportNdjson(const std::string& config_path, const std::string& file,
                       const std::string& ndjson);

// A running child process. Killed with SIGKILL when destroyed.
class ChildProcess {
 public:
  // Starts argv[0] with argv; stdout and stderr go to `log_path`.
  static Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                    const std::string& log_path);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  void Signal(int sig);
  // Waits for exit, at most `timeout`; returns the exit status as Run does.
  // Unavailable when it has not exited in time.
  Result<RunResult> Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void Kill();

 private:
  pid_t pid_ = -1;
};

// Waits until `path` exists and holds a port number, at most `timeout`.
Result<int> WaitForPortFile(const std::string& path,
                            std::chrono::milliseconds timeout);

struct HttpResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(const std::string& name) const;
};

// One HTTP/1.1 request on a fresh loopback connection ("Connection: close").
// Unavailable when the connection fails or the reply is cut short.
Result<HttpResult> HttpCall(int port, const std::string& method,
                            const std::string& target,
                            const std::string& body = "",
                            const std::vector<std::pair<std::string, std::string>>&
                                headers = {},
                            std::chrono::milliseconds timeout =
                                std::chrono::seconds(10));

}  // namespace posta::testing
