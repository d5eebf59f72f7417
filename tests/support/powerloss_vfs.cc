#include "powerloss_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

namespace posta::testing {
namespace {

constexpr const char* kVfsName = "posta-test-powerloss";

// A write or truncate not yet made durable.
struct Pending {
  bool truncate = false;
  int64_t offset = 0;  // or the new size, for a truncate
  std::string data;
};

// What the model knows of one file, shared by every handle of its path.
struct FileState {
  bool durable_exists = false;
  std::string durable;  // content after the last xSync
  std::vector<Pending> pending;
  bool is_wal = false;
};

void ApplyTo(std::string& content, const Pending& p) {
  if (p.truncate) {
    content.resize(static_cast<size_t>(p.offset));
    return;
  }
  const size_t end = static_cast<size_t>(p.offset) + p.data.size();
  if (content.size() < end) content.resize(end, '\0');
  std::memcpy(content.data() + p.offset, p.data.data(), p.data.size());
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// All model state, behind one mutex.
struct Model {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<FileState>> files;
  VfsFault fault;
  int64_t ops = 0;
  std::vector<uint32_t> log;
  int64_t injected = 0;
  bool crashed = false;
  bool failing_forever = false;
  bool lie_about_sync = false;

  // Counts an op and decides whether it fails; returns the error or
  // SQLITE_OK. `state` may be null (an untracked file).
  int Decide(uint32_t op, const FileState* state, int error) {
    std::lock_guard lock(mu);
    if (crashed) {
      ++injected;
      return error;
    }
    if ((fault.ops & op) == 0) return SQLITE_OK;
    if (fault.wal_only && (state == nullptr || !state->is_wal)) {
      return SQLITE_OK;
    }
    ++ops;
    log.push_back(op);
    if (failing_forever) {
      ++injected;
      return error;
    }
    if (fault.kind == VfsFault::Kind::kNone || ops != fault.at_op) {
      return SQLITE_OK;
    }
    ++injected;
    if (fault.kind == VfsFault::Kind::kCrash) crashed = true;
    if (fault.kind == VfsFault::Kind::kFailForever) failing_forever = true;
    return error;
  }
};

Model& TheModel() {
  static Model* model = new Model;  // never destroyed: SQLite may outlive us
  return *model;
}

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // allocated right after this struct
  FileState* state;    // null for files the model does not track
};

File* Self(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Self(f)->real; }

int Close(sqlite3_file* f) {
  return Real(f)->pMethods ? Real(f)->pMethods->xClose(Real(f)) : SQLITE_OK;
}

int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  int rc = TheModel().Decide(kVfsRead, Self(f)->state, SQLITE_IOERR_READ);
  if (rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xRead(Real(f), buf, n, off);
}

int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  Model& m = TheModel();
  int error;
  {
    std::lock_guard lock(m.mu);
    error = m.fault.write_error != 0 ? m.fault.write_error : SQLITE_IOERR_WRITE;
  }
  int rc = m.Decide(kVfsWrite, Self(f)->state, error);
  if (rc != SQLITE_OK) return rc;
  rc = Real(f)->pMethods->xWrite(Real(f), buf, n, off);
  if (rc == SQLITE_OK && Self(f)->state != nullptr) {
    std::lock_guard lock(m.mu);
    Self(f)->state->pending.push_back(
        {false, off, std::string(static_cast<const char*>(buf), n)});
  }
  return rc;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  Model& m = TheModel();
  int rc = m.Decide(kVfsTruncate, Self(f)->state, SQLITE_IOERR_TRUNCATE);
  if (rc != SQLITE_OK) return rc;
  rc = Real(f)->pMethods->xTruncate(Real(f), size);
  if (rc == SQLITE_OK && Self(f)->state != nullptr) {
    std::lock_guard lock(m.mu);
    Self(f)->state->pending.push_back({true, size, {}});
  }
  return rc;
}

int Sync(sqlite3_file* f, int flags) {
  Model& m = TheModel();
  FileState* state = Self(f)->state;
  int rc = m.Decide(kVfsSync, state, SQLITE_IOERR_FSYNC);
  if (rc != SQLITE_OK) {
    // A failed fsync: the kernel reports the writeback error once and
    // marks the pages clean, so these writes never reach the disk. (After
    // a crash nothing runs any more: what reaches the disk is PowerCut's
    // choice.)
    std::lock_guard lock(m.mu);
    if (state != nullptr && !m.crashed) state->pending.clear();
    return rc;
  }
  rc = Real(f)->pMethods->xSync(Real(f), flags);
  if (state == nullptr) return rc;
  std::lock_guard lock(m.mu);
  if (rc != SQLITE_OK) {
    state->pending.clear();
    return rc;
  }
  if (m.lie_about_sync) return rc;
  for (const Pending& p : state->pending) ApplyTo(state->durable, p);
  state->pending.clear();
  state->durable_exists = true;
  return rc;
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  {
    std::lock_guard lock(TheModel().mu);
    if (TheModel().crashed) return SQLITE_IOERR_FSTAT;
  }
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) {
  return Real(f)->pMethods->xLock(Real(f), level);
}
int Unlock(sqlite3_file* f, int level) {
  return Real(f)->pMethods->xUnlock(Real(f), level);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) {
  return Real(f)->pMethods->xSectorSize(Real(f));
}
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int page, int size, int extend,
           void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int del) {
  return Real(f)->pMethods->xShmUnmap(Real(f), del);
}

// Version 2 methods: no memory-mapped I/O, so every write goes through
// Write and is seen by the model.
const sqlite3_io_methods kMethods = {2,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     nullptr,
                                     nullptr};

sqlite3_vfs* RealVfs(sqlite3_vfs* vfs) {
  return static_cast<sqlite3_vfs*>(vfs->pAppData);
}

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags,
         int* out_flags) {
  Model& m = TheModel();
  File* file = Self(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->state = nullptr;
  file->base.pMethods = nullptr;
  const bool tracked =
      name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL |
                                   SQLITE_OPEN_MAIN_JOURNAL)) != 0;
  if (tracked) {
    std::lock_guard lock(m.mu);
    if (m.crashed) return SQLITE_CANTOPEN;
    std::unique_ptr<FileState>& state = m.files[name];
    if (state == nullptr) {
      // First sight of this path: what is on disk now counts as durable.
      state = std::make_unique<FileState>();
      std::ifstream in(name, std::ios::binary);
      if (in) {
        state->durable_exists = true;
        state->durable.assign(std::istreambuf_iterator<char>(in), {});
      }
    }
    state->is_wal = (flags & SQLITE_OPEN_WAL) != 0 || EndsWith(name, "-wal");
    file->state = state.get();
  }
  int rc =
      RealVfs(vfs)->xOpen(RealVfs(vfs), name, file->real, flags, out_flags);
  if (file->real->pMethods != nullptr) file->base.pMethods = &kMethods;
  return rc;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  Model& m = TheModel();
  FileState* state = nullptr;
  {
    std::lock_guard lock(m.mu);
    auto it = m.files.find(name);
    if (it != m.files.end()) state = it->second.get();
  }
  int rc = m.Decide(kVfsDelete, state, SQLITE_IOERR_DELETE);
  if (rc != SQLITE_OK) return rc;
  rc = RealVfs(vfs)->xDelete(RealVfs(vfs), name, sync_dir);
  if (rc == SQLITE_OK && state != nullptr) {
    std::lock_guard lock(m.mu);
    state->durable_exists = false;
    state->durable.clear();
    state->pending.clear();
  }
  return rc;
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return RealVfs(vfs)->xAccess(RealVfs(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return RealVfs(vfs)->xFullPathname(RealVfs(vfs), name, n, out);
}
int Randomness(sqlite3_vfs* vfs, int n, char* out) {
  return RealVfs(vfs)->xRandomness(RealVfs(vfs), n, out);
}
int SleepFor(sqlite3_vfs* vfs, int micros) {
  return RealVfs(vfs)->xSleep(RealVfs(vfs), micros);
}
int CurrentTime(sqlite3_vfs* vfs, double* out) {
  return RealVfs(vfs)->xCurrentTime(RealVfs(vfs), out);
}
int GetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return RealVfs(vfs)->xGetLastError(RealVfs(vfs), n, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return RealVfs(vfs)->xCurrentTimeInt64(RealVfs(vfs), out);
}

sqlite3_vfs g_vfs;

void Register() {
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  g_vfs = *real;
  g_vfs.iVersion = 2;
  g_vfs.zName = kVfsName;
  g_vfs.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
  g_vfs.pAppData = real;
  g_vfs.pNext = nullptr;
  g_vfs.xOpen = Open;
  g_vfs.xDelete = Delete;
  g_vfs.xAccess = Access;
  g_vfs.xFullPathname = FullPathname;
  g_vfs.xDlOpen = nullptr;
  g_vfs.xDlError = nullptr;
  g_vfs.xDlSym = nullptr;
  g_vfs.xDlClose = nullptr;
  g_vfs.xRandomness = Randomness;
  g_vfs.xSleep = SleepFor;
  g_vfs.xCurrentTime = CurrentTime;
  g_vfs.xGetLastError = GetLastError;
  g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  sqlite3_vfs_register(&g_vfs, 0);
}

bool WriteAll(int fd, const char* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

// Applies one write or truncate to the file on disk.
bool ApplyOnDisk(int fd, const Pending& p, size_t length) {
  if (p.truncate) return ::ftruncate(fd, p.offset) == 0;
  return WriteAll(fd, p.data.data(), length, p.offset);
}

}  // namespace

const char* VfsOpName(uint32_t op) {
  switch (op) {
    case kVfsRead:
      return "read";
    case kVfsWrite:
      return "write";
    case kVfsTruncate:
      return "truncate";
    case kVfsSync:
      return "sync";
    case kVfsDelete:
      return "delete";
    default:
      return "op";
  }
}

const char* CutModeName(CutMode mode) {
  switch (mode) {
    case CutMode::kDropAll:
      return "drop-all";
    case CutMode::kKeepAll:
      return "keep-all";
    case CutMode::kSomeShuffled:
      return "some-shuffled";
    case CutMode::kSomeTorn:
      return "some-torn";
  }
  return "?";
}

PowerLossVfs::PowerLossVfs() { Register(); }

PowerLossVfs& PowerLossVfs::Get() {
  static PowerLossVfs* vfs = new PowerLossVfs;
  return *vfs;
}

const char* PowerLossVfs::name() const { return kVfsName; }

void PowerLossVfs::Reset() {
  Model& m = TheModel();
  std::lock_guard lock(m.mu);
  m.files.clear();
  m.fault = VfsFault{};
  m.ops = 0;
  m.log.clear();
  m.injected = 0;
  m.crashed = false;
  m.failing_forever = false;
  m.lie_about_sync = false;
}

void PowerLossVfs::Arm(const VfsFault& fault) {
  Model& m = TheModel();
  std::lock_guard lock(m.mu);
  m.fault = fault;
  m.ops = 0;
  m.log.clear();
  m.injected = 0;
  m.failing_forever = false;
}

void PowerLossVfs::Disarm() {
  Model& m = TheModel();
  std::lock_guard lock(m.mu);
  m.fault.kind = VfsFault::Kind::kNone;
  m.failing_forever = false;
}

int64_t PowerLossVfs::ops() const {
  std::lock_guard lock(TheModel().mu);
  return TheModel().ops;
}

bool PowerLossVfs::crashed() const {
  std::lock_guard lock(TheModel().mu);
  return TheModel().crashed;
}

std::vector<uint32_t> PowerLossVfs::op_log() const {
  std::lock_guard lock(TheModel().mu);
  return TheModel().log;
}

int64_t PowerLossVfs::injected() const {
  std::lock_guard lock(TheModel().mu);
  return TheModel().injected;
}

void PowerLossVfs::set_lie_about_sync(bool lie) {
  std::lock_guard lock(TheModel().mu);
  TheModel().lie_about_sync = lie;
}

CutReport PowerLossVfs::PowerCut(CutMode mode, uint64_t seed) {
  Model& m = TheModel();
  CutReport report;
  {
    std::lock_guard lock(m.mu);
    std::mt19937_64 rng(seed);
    for (auto& [path, state] : m.files) {
      ++report.files;
      report.pending += static_cast<int64_t>(state->pending.size());
      if (!state->durable_exists) {
        ::unlink(path.c_str());
        ++report.removed;
        continue;
      }
      // The pending ops that reach the disk, in the order they land.
      std::vector<const Pending*> kept;
      for (const Pending& p : state->pending) {
        const bool keep = mode == CutMode::kKeepAll ||
                          (mode != CutMode::kDropAll && (rng() & 1) != 0);
        if (keep) kept.push_back(&p);
      }
      if (mode == CutMode::kSomeShuffled || mode == CutMode::kSomeTorn) {
        std::shuffle(kept.begin(), kept.end(), rng);
      }
      // One write lands only in part: a prefix of its bytes (a torn page
      // or sector), after whatever else landed.
      const Pending* torn = nullptr;
      size_t torn_length = 0;
      if (mode == CutMode::kSomeTorn) {
        std::vector<const Pending*> writes;
        for (const Pending& p : state->pending) {
          if (!p.truncate && p.data.size() > 1) writes.push_back(&p);
        }
        if (!writes.empty() && report.torn_bytes < 0) {
          torn = writes[rng() % writes.size()];
          torn_length = 1 + rng() % (torn->data.size() - 1);
          report.torn_bytes = static_cast<int64_t>(torn_length);
          kept.erase(std::remove(kept.begin(), kept.end(), torn), kept.end());
        }
      }
      report.kept += static_cast<int64_t>(kept.size());
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) {
        report.write_failed = true;
        continue;
      }
      bool ok = WriteAll(fd, state->durable.data(), state->durable.size(), 0);
      for (const Pending* p : kept)
        ok = ok && ApplyOnDisk(fd, *p, p->data.size());
      if (torn != nullptr) ok = ok && ApplyOnDisk(fd, *torn, torn_length);
      if (::close(fd) != 0 || !ok) report.write_failed = true;
    }
  }
  Reset();
  return report;
}

}  // namespace posta::testing
