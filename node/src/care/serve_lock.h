// ServeLock: `posta serve` holds an exclusive flock on data_dir/serve.lock
// for as long as it runs, so commands that must not run beside it (`posta
// restore`) can tell. The kernel drops the lock when the process ends, even
// by kill -9, so a crash never leaves a stale lock behind.
#pragma once

#include <memory>
#include <string>

#include "posta/base/status.h"

namespace posta::node {

class ServeLock {
 public:
  // Takes the lock without waiting. Conflict naming the holder's pid (as
  // written in the file) when another process holds it; IOError when the
  // file cannot be opened.
  static Result<std::unique_ptr<ServeLock>> Acquire(
      const std::string& data_dir);
  ~ServeLock();
  ServeLock(const ServeLock&) = delete;
  ServeLock& operator=(const ServeLock&) = delete;

  static std::string PathFor(const std::string& data_dir);

 private:
  explicit ServeLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace posta::node
