// Helpers shared by the subcommands: config and store opening, the
// streaming output file, and time formatting.
#include <fcntl.h>
#include <malloc.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/logging.h"
#include "cli/progress.h"

namespace posta::node::cli {

namespace {

Status ErrnoStatus(const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return Status::NoSpace(path, std::strerror(err));
  }
  if (err == EACCES || err == EPERM) {
    return Status::PermissionDenied(path, std::strerror(err));
  }
  if (err == ENOENT) return Status::NotFound(path, std::strerror(err));
  return Status::IOError(path, std::strerror(err));
}

class StreamOutput final : public OutputFile {
 public:
  explicit StreamOutput(std::ostream& out) : out_(out) {}
  Status Write(std::string_view data) override {
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out_) return Status::IOError("stdout", "write failed");
    return Status::Ok();
  }
  Status Commit() override {
    out_.flush();
    if (!out_) return Status::IOError("stdout", "write failed");
    return Status::Ok();
  }

 private:
  std::ostream& out_;
};

class PartialFileOutput final : public OutputFile {
 public:
  PartialFileOutput(std::string path, int fd)
      : path_(std::move(path)), partial_(path_ + ".partial"), fd_(fd) {}

  ~PartialFileOutput() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(partial_.c_str());
  }

  static constexpr size_t kBufferBytes = 1 << 20;

  Status Write(std::string_view data) override {
    buffer_.append(data);
    if (buffer_.size() >= kBufferBytes) return Flush();
    return Status::Ok();
  }

  Status Commit() override {
    POSTA_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return ErrnoStatus(partial_, errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus(partial_, errno);
    if (::rename(partial_.c_str(), path_.c_str()) != 0) {
      return ErrnoStatus(path_, errno);
    }
    committed_ = true;
    // The rename is durable only once the directory is synced.
    std::string dir = std::filesystem::path(path_).parent_path().string();
    int dir_fd =
        ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    return Status::Ok();
  }

 private:
  Status Flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(partial_, errno);
      }
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return Status::Ok();
  }

  const std::string path_;
  const std::string partial_;
  int fd_;
  std::string buffer_;
  bool committed_ = false;
};

}  // namespace

Result<NodeConfig> LoadNodeConfig(const std::string& path, bool apply_log_level,
                                  base::Env& env) {
  POSTA_ASSIGN_OR_RETURN(NodeConfig config, LoadConfig(path, env));
  if (apply_log_level) SetLogLevel(config.log_level);
  return config;
}

Result<std::unique_ptr<storage::RecordStore>> OpenStore(
    const NodeConfig& config, bool read_only, base::Env& env,
    size_t cache_bytes) {
  const std::string path = config.DatabasePath();
  if (!env.FileExists(path)) return Status::NotFound(path, kNoDatabase);
  storage::StoreOptions options;
  options.path = path;
  options.facility = config.facility;
  options.role = config.role;
  options.read_only = read_only;
  options.synchronous = config.synchronous == "normal"
                            ? storage::StoreOptions::Synchronous::kNormal
                            : storage::StoreOptions::Synchronous::kFull;
  if (cache_bytes > 0) options.cache_bytes = cache_bytes;
  options.min_free_bytes = config.min_free_bytes;
  options.min_free_setting = "[storage] min_free_mb";
  options.free_bytes = [&env](const std::string& dir) {
    return env.FreeBytes(dir);
  };
  // The open reads every page first (PRAGMA quick_check), which takes
  // minutes on a hub of gigabytes: say so, so that the wait is not taken
  // for a hang, and say how long it took.
  constexpr uint64_t kSayOpeningFrom = uint64_t{512} << 20;
  const Result<uint64_t> bytes = env.FileSize(path);
  const bool big = bytes.ok() && *bytes >= kSayOpeningFrom;
  const auto started = std::chrono::steady_clock::now();
  if (big) {
    spdlog::info("opening {} ({}): it is checked page by page first, "
                 "which takes minutes at this size",
                 path, FormatBytes(static_cast<int64_t>(*bytes)));
  }
  Result<std::unique_ptr<storage::RecordStore>> store =
      storage::OpenRecordStore(options);
  // The open's check filled SQLite's page cache, and the store emptied it:
  // the memory freed goes back to the system, not to an idle heap.
  ::malloc_trim(0);
  if (big && store.ok()) {
    spdlog::info("checked and opened {} in {:.0f} s", path,
                 std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - started)
                     .count());
  }
  return store;
}

Result<OpenedNode> OpenNode(const std::string& config_path,
                            bool apply_log_level, bool read_only,
                            base::Env& env) {
  OpenedNode node;
  POSTA_ASSIGN_OR_RETURN(node.config,
                         LoadNodeConfig(config_path, apply_log_level, env));
  POSTA_ASSIGN_OR_RETURN(node.store, OpenStore(node.config, read_only, env));
  return node;
}

Result<std::unique_ptr<OutputFile>> OutputFile::Open(
    const std::string& path, std::ostream& stdout_stream) {
  if (path == "-") {
    return std::unique_ptr<OutputFile>(new StreamOutput(stdout_stream));
  }
  const std::string partial = path + ".partial";
  // O_NOFOLLOW: a symbolic link planted at the temporary name (on a shared
  // USB stick, say) must not redirect the write somewhere else.
  int fd = ::open(partial.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0 && errno == ELOOP) {
    return Status::InvalidArgument(
        partial, "is a symbolic link; refusing to write through it (remove "
                 "it and run the command again)");
  }
  if (fd < 0) return ErrnoStatus(partial, errno);
  return std::unique_ptr<OutputFile>(new PartialFileOutput(path, fd));
}

std::string FormatAgo(int64_t then_ms, int64_t now_ms) {
  int64_t seconds = (now_ms - then_ms) / 1000;
  if (seconds < -5) return "in the future";
  if (seconds < 60) return "just now";
  auto plural = [](int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  if (seconds < 3600) return plural(seconds / 60, "minute");
  if (seconds < 86400) return plural(seconds / 3600, "hour");
  return plural(seconds / 86400, "day");
}

size_t DisplayWidth(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(),
      [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// At most `width` characters, the last one "…" when cut; never splits a
// UTF-8 character.
std::string Shorten(std::string_view text, size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    bool starts_char = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_char && ++chars > width - 1) break;
    out.push_back(text[i]);
  }
  return out + "…";
}

std::string PadRight(std::string text, size_t width) {
  size_t w = DisplayWidth(text);
  if (w < width) text.append(width - w, ' ');
  return text;
}

void PrintColumns(std::ostream& out,
                  const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 < row.size() ? PadRight(row[i], widths[i] + 2) : row[i];
    }
    out << line << "\n";
  }
}

storage::AuditActor CliActor() {
  storage::AuditActor actor;
  const passwd* pw = ::getpwuid(::geteuid());
  actor.actor = "cli:" + (pw != nullptr && pw->pw_name != nullptr
                              ? std::string(pw->pw_name)
                              : "uid " + std::to_string(::geteuid()));
  return actor;
}

}  // namespace posta::node::cli
