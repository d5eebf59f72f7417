// Env: every file-system access outside SQLite goes through here, so tests can
// fail a write or fill the disk without touching the real machine
// (leveldb's Env). SQLite's own I/O is covered by a test VFS instead.
#pragma once

#include <cstdint>
#include <string>

#include "posta/base/status.h"

namespace posta::base {

// Threading: implementations are safe to call from any thread.
class Env {
 public:
  virtual ~Env() = default;

  // The process-wide real file system. Never destroyed.
  static Env& Default();

  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Bytes available to an unprivileged writer on the file system of `path`.
  virtual Result<uint64_t> FreeBytes(const std::string& path) = 0;
  // Creates `path` and missing parents; OK if it already exists.
  virtual Status CreateDirs(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path,
                                       uint64_t max_bytes) = 0;
  // Writes a whole file so that a crash leaves the old content or the new,
  // never a mix: temp file, fsync, rename, fsync of the directory.
  // `mode` is the permission of a newly created file.
  virtual Status WriteFileAtomic(const std::string& path,
                                 const std::string& contents,
                                 unsigned mode = 0644) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
};

// Forwards every call to another Env; subclass it to fail some of them.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}
  bool FileExists(const std::string& p) override { return target_.FileExists(p); }
  Result<uint64_t> FileSize(const std::string& p) override {
    return target_.FileSize(p);
  }
  Result<uint64_t> FreeBytes(const std::string& p) override {
    return target_.FreeBytes(p);
  }
  Status CreateDirs(const std::string& p) override { return target_.CreateDirs(p); }
  Result<std::string> ReadFile(const std::string& p, uint64_t max) override {
    return target_.ReadFile(p, max);
  }
  Status WriteFileAtomic(const std::string& p, const std::string& c,
                         unsigned mode) override {
    return target_.WriteFileAtomic(p, c, mode);
  }
  Status RemoveFile(const std::string& p) override { return target_.RemoveFile(p); }

 protected:
  Env& target_;
};

}  // namespace posta::base
