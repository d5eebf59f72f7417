#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "posta/base/env.h"

namespace posta::base {

namespace {

Status ErrnoStatus(const std::string& path, int err) {
  if (err == ENOENT) return Status::NotFound(path, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return Status::NoSpace(path, std::strerror(err));
  if (err == EACCES || err == EPERM)
    return Status::PermissionDenied(path, std::strerror(err));
  return Status::IOError(path, std::strerror(err));
}

Status WriteAll(int fd, const std::string& path, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

class PosixEnv final : public Env {
 public:
  bool FileExists(const std::string& path) override {
    return ::access(path.c_str(), F_OK) == 0;
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<uint64_t> FreeBytes(const std::string& path) override {
    struct statvfs vfs;
    if (::statvfs(path.c_str(), &vfs) != 0) return ErrnoStatus(path, errno);
    return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }

  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return ErrnoStatus(path, ec.value());
    return Status::Ok();
  }

  Result<std::string> ReadFile(const std::string& path,
                               uint64_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    std::string out;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoStatus(path, err);
      }
      if (n == 0) break;
      if (out.size() + static_cast<size_t>(n) > max_bytes) {
        ::close(fd);
        return Status::TooLarge(path, "larger than " + std::to_string(max_bytes) +
                                          " bytes");
      }
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Status WriteFileAtomic(const std::string& path, const std::string& contents,
                         unsigned mode) override {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus(tmp, errno);
    Status s = WriteAll(fd, tmp, contents);
    if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(tmp, errno);
    ::close(fd);
    if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
      s = ErrnoStatus(path, errno);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);  // best effort: some file systems refuse directory fsync
      ::close(dfd);
    }
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(path, errno);
    return Status::Ok();
  }
};

}  // namespace

Env& Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed
  return *env;
}

}  // namespace posta::base
