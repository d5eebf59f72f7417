#include "care/backups.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "posta/base/check.h"

namespace posta::node {

namespace {

constexpr std::string_view kPrefix = "posta-";
constexpr std::string_view kSuffix = "Z.db";

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

std::string BackupFileName(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char name[64];
  std::snprintf(name, sizeof name, "posta-%04d%02d%02d-%02d%02d%02dZ.db",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return name;
}

std::optional<int64_t> ParseBackupFileName(std::string_view name) {
  // "posta-" + 8 digits + "-" + 6 digits + "Z.db"
  if (name.size() != kPrefix.size() + 15 + kSuffix.size() ||
      name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  std::string_view stamp = name.substr(kPrefix.size(), 15);
  if (stamp[8] != '-') return std::nullopt;
  for (size_t i = 0; i < stamp.size(); ++i) {
    if (i != 8 && (stamp[i] < '0' || stamp[i] > '9')) return std::nullopt;
  }
  auto num = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (stamp[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Result<std::vector<BackupFile>> ListBackups(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<BackupFile> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::IOError(dir, ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError(dir, ec.message());
    std::optional<int64_t> taken =
        ParseBackupFileName(it->path().filename().string());
    if (!taken || !it->is_regular_file(ec)) continue;
    BackupFile file;
    file.path = it->path().string();
    file.taken_ms = *taken;
    file.bytes = it->file_size(ec);
    if (ec) file.bytes = 0;
    out.push_back(std::move(file));
  }
  std::sort(out.begin(), out.end(),
            [](const BackupFile& a, const BackupFile& b) {
              return a.taken_ms > b.taken_ms;
            });
  return out;
}

BackupScheduler::BackupScheduler(const NodeConfig& config,
                                 storage::RecordStore& store,
                                 base::Clock& clock, base::Env& env)
    : config_(config), store_(store), clock_(clock), env_(env) {
  state_.enabled = config_.backup_every.count() > 0;
  state_.dir = config_.BackupDir();
  Result<std::vector<BackupFile>> existing = ListBackups(state_.dir);
  if (existing.ok() && !existing->empty()) {
    state_.last_success_ms = existing->front().taken_ms;
    state_.last_bytes = existing->front().bytes;
    state_.last_path = existing->front().path;
  } else if (!existing.ok()) {
    spdlog::warn("backups: cannot list {}: {}", state_.dir,
                 existing.status().ToString());
  }
  state_.next_ms = state_.last_success_ms == 0
                       ? clock_.WallNowMillis()
                       : state_.last_success_ms + config_.backup_every.count();
}

BackupScheduler::~BackupScheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackupScheduler::Start() {
  POSTA_CHECK(config_.backup_every.count() > 0);
  thread_ = std::thread([this] { Run(); });
}

BackupState BackupScheduler::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Status BackupScheduler::RunOnce() {
  const int64_t now = clock_.WallNowMillis();
  {
    std::lock_guard lock(mu_);
    state_.last_attempt_ms = now;
  }
  const std::string& dir = state_.dir;
  std::string dest = dir + "/" + BackupFileName(now);
  Status status = [&]() -> Status {
    POSTA_RETURN_IF_ERROR(env_.CreateDirs(dir));
    if (env_.FileExists(dest)) {
      return Status::Conflict(dest, "a backup of this second exists already");
    }
    // The copy is about the size of the database; it must not take the
    // disk below the floor that keeps writes possible.
    POSTA_ASSIGN_OR_RETURN(storage::StoreStats stats, store_.Stats());
    Result<uint64_t> free = env_.FreeBytes(dir);
    const uint64_t needed =
        static_cast<uint64_t>(stats.database_bytes) + config_.min_free_bytes;
    if (free.ok() && *free < needed) {
      return Status::NoSpace(
          dir, Mib(*free) + " free; a backup of " +
                   Mib(static_cast<uint64_t>(stats.database_bytes)) +
                   " would leave less than the floor of " +
                   Mib(config_.min_free_bytes) +
                   " ([storage] min_free_mb); free space or set [backup] dir "
                   "on another disk");
    }
    return store_.Backup(dest, {});
  }();
  std::lock_guard lock(mu_);
  if (!status.ok()) {
    state_.last_error = status.ToString();
    ++state_.backups_failed;
    return status;
  }
  Result<uint64_t> size = env_.FileSize(dest);
  state_.last_success_ms = now;
  state_.last_bytes = size.ok() ? *size : 0;
  state_.last_path = dest;
  state_.last_error.clear();
  ++state_.backups_ok;
  Result<std::vector<BackupFile>> all = ListBackups(dir);
  if (all.ok()) {
    for (size_t i = static_cast<size_t>(config_.backup_keep); i < all->size();
         ++i) {
      Status removed = env_.RemoveFile((*all)[i].path);
      if (!removed.ok()) {
        spdlog::warn("backups: cannot remove old backup: {}",
                     removed.ToString());
      }
    }
  }
  return Status::Ok();
}

void BackupScheduler::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const int64_t now = clock_.WallNowMillis();
    // A wall clock set back (a board booting in 1970, then corrected the
    // other way) must not put the next backup years away.
    state_.next_ms =
        std::min(state_.next_ms, now + config_.backup_every.count());
    if (now < state_.next_ms) {
      // Waits on the steady clock: a wall clock set back (or forward) by
      // NTP moves the schedule at the next check, never sleeps for years.
      const auto wait = std::chrono::milliseconds(
          std::min<int64_t>(state_.next_ms - now, 60 * 1000));
      cv_.wait_for(lock, wait, [this] { return stopping_; });
      continue;
    }
    lock.unlock();
    Status status = RunOnce();
    const BackupState done = state();
    if (status.ok()) {
      spdlog::info("backup written to {} ({}), verified", done.last_path,
                   Mib(done.last_bytes));
    } else {
      spdlog::error("scheduled backup failed (next try in {} min): {}",
                    std::chrono::duration_cast<std::chrono::minutes>(
                        std::min<std::chrono::milliseconds>(
                            kBackupRetry, config_.backup_every))
                        .count(),
                    status.ToString());
    }
    lock.lock();
    const int64_t after = clock_.WallNowMillis();
    state_.next_ms = status.ok()
                         ? after + config_.backup_every.count()
                         : after + std::min<std::chrono::milliseconds>(
                                       kBackupRetry, config_.backup_every)
                                       .count();
  }
}

}  // namespace posta::node
