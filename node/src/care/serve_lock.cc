#include "care/serve_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace posta::node {

std::string ServeLock::PathFor(const std::string& data_dir) {
  return data_dir + "/serve.lock";
}

Result<std::unique_ptr<ServeLock>> ServeLock::Acquire(
    const std::string& data_dir) {
  const std::string path = PathFor(data_dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Status::IOError(path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return Status::IOError(path, std::strerror(err));
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) {
      holder.pop_back();
    }
    return Status::Conflict(
        data_dir,
        "a posta serve is running on this data directory" +
            (holder.empty() ? std::string() : " (pid " + holder + ")") +
            "; stop it first (systemctl stop posta, or Ctrl-C)");
  }
  // The pid is for people reading the refusal; the lock is what counts.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    (void)::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<ServeLock>(new ServeLock(fd));
}

ServeLock::~ServeLock() { ::close(fd_); }

}  // namespace posta::node
