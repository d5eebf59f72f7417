// Power loss and I/O errors at every file operation of a local write and of
// an applied peer batch, through the power-loss VFS (powerloss_vfs.h).
//
// Each sweep first runs the operation once without a fault to count its
// file operations (N) and to learn the state it leaves; then, for each op
// 1..N+1 (N+1: the first op after the call returned, i.e. a power cut right
// after the acknowledgement):
//   - power loss: the process stops at that op, the files are rewritten as
//     a power cut could leave them (PowerCut, several seeded choices of the
//     unsynced writes), and the store is reopened with the normal VFS;
//   - I/O errors: that op fails, once or from then on, with the error a
//     disk gives; the fault clears, the next write must succeed, and a
//     power cut right after it must keep what was acknowledged.
// After each case: PRAGMA integrity_check is ok; what the operation writes
// (record, history, change log, audit entries, peer cursor) is all there or
// all absent; and if the call returned OK it is there (I1).
//
// POSTA_VFS_SEEDS (default 4) sets the power-cut choices per crash point;
// tests/soak/vfs.sh runs with more.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/metrics.h"
#include "http/http_types.h"
#include "posta/base/clock.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "posta/sync/merge.h"
#include "powerloss_vfs.h"
#include "test_util.h"

namespace posta::testing {
namespace {

using storage::RecordStore;
using storage::ResourceType;
using storage::StoreOptions;
using storage::WriteKind;
using storage::WriteOp;

constexpr int64_t kNowMs = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr const char* kFacility = "fac-1";
// The patient every update changes, and the one a create adds.
constexpr const char* kUpdatedId = "6f1c3a52-0d3e-4c1b-9a51-3c2f0e7d1a01";
constexpr const char* kCreatedId = "6f1c3a52-0d3e-4c1b-9a51-3c2f0e7d1a02";
// The write that follows an I/O error, to show the store recovered.
constexpr const char* kRecoveryId = "6f1c3a52-0d3e-4c1b-9a51-3c2f0e7d1a03";
// The write before the fault when the WAL should exist already.
constexpr const char* kWarmId = "6f1c3a52-0d3e-4c1b-9a51-3c2f0e7d1a04";

std::string PatientBody(const std::string& family) {
  return R"({"resourceType":"Patient","name":[{"family":")" + family +
         R"(","given":["Ama"]}],"gender":"female","birthDate":"1990-04-12"})";
}

std::string PeerId(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "7a2d9b10-1c2e-4f3a-8b4c-5d6e7f80%04d", i);
  return buf;
}

int SeedsPerOp() {
  const char* env = std::getenv("POSTA_VFS_SEEDS");
  if (env == nullptr || *env == '\0') return 4;
  return std::max(1, std::atoi(env));
}

// What the sweeps count and print.
struct Figures {
  int64_t ops = 0;     // counted file ops of the operation
  int64_t points = 0;  // crash or fault points visited
  int64_t cases = 0;   // runs (points x seeds or fault kinds)
  std::map<std::string, int64_t> by_kind;  // cut modes or fault kinds
  int64_t torn = 0;                        // cuts that tore a write
  int64_t acknowledged = 0;                // the call returned OK
  int64_t present = 0;  // the operation's effects found after reopen
  int64_t absent = 0;
  int64_t lost_acknowledged = 0;
  int64_t integrity_failures = 0;
  int64_t partial = 0;   // some effects present, some not
  int64_t reopened = 0;  // recovery needed a new store
  int64_t unclear_errors = 0;

  void Print(const std::string& what) const {
    std::string kinds;
    for (const auto& [name, n] : by_kind) {
      kinds += " " + name + "=" + std::to_string(n);
    }
    std::printf(
        "[vfs] %s: ops swept %lld, points %lld, cases %lld (%s), torn %lld, "
        "acknowledged %lld, present %lld, absent %lld, lost acknowledged "
        "%lld, integrity failures %lld, partial %lld, recovered by reopen "
        "%lld, unclear errors %lld\n",
        what.c_str(), static_cast<long long>(ops),
        static_cast<long long>(points), static_cast<long long>(cases),
        kinds.empty() ? "" : kinds.c_str() + 1, static_cast<long long>(torn),
        static_cast<long long>(acknowledged), static_cast<long long>(present),
        static_cast<long long>(absent),
        static_cast<long long>(lost_acknowledged),
        static_cast<long long>(integrity_failures),
        static_cast<long long>(partial), static_cast<long long>(reopened),
        static_cast<long long>(unclear_errors));
    std::fflush(stdout);
  }
};

// PRAGMA integrity_check through a plain connection with the default VFS:
// "ok", or SQLite's first complaint.
std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    result = std::string("open: ") + sqlite3_errmsg(db);
    sqlite3_close(db);
    return result;
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) ==
      SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(st, 0);
      result = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    } else {
      result = std::string("step: ") + sqlite3_errmsg(db);
    }
  } else {
    result = std::string("prepare: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return result;
}

// kClose: closing a store whose WAL holds six acknowledged creates, which
// checkpoints the WAL into the main file and removes it.
enum class Operation { kCreate, kUpdate, kApply, kClose };

const char* OperationName(Operation op) {
  switch (op) {
    case Operation::kCreate:
      return "create";
    case Operation::kUpdate:
      return "update";
    case Operation::kApply:
      return "apply";
    case Operation::kClose:
      return "close";
  }
  return "?";
}

class PowerLossTest : public ::testing::Test {
 protected:
  // A clinic database with 20 patients, and a batch of 20 versions from a
  // hub (new patients and a new version of one the clinic has), made once.
  static void SetUpTestSuite() {
    shared_ = new Shared;
    shared_->dir = std::make_unique<TempDir>();
    shared_->template_path = shared_->dir->File("template.db");
    base::ManualClock clock(kNowMs);
    base::Random random(1);

    StoreOptions hub_options;
    hub_options.path = shared_->dir->File("hub.db");
    hub_options.create_if_missing = true;
    hub_options.facility = kFacility;
    hub_options.role = "hub";
    hub_options.clock = &clock;
    hub_options.random = &random;
    auto hub = storage::OpenRecordStore(hub_options);
    ASSERT_OK(hub);

    StoreOptions options = BaseOptions(shared_->template_path);
    options.create_if_missing = true;
    options.clock = &clock;
    options.random = &random;
    auto clinic = storage::OpenRecordStore(options);
    ASSERT_OK(clinic);
    storage::AuditActor nurse{"nurse", "clinician", "127.0.0.1"};
    for (int i = 0; i < 20; ++i) {
      WriteOp op;
      op.kind = WriteKind::kCreate;
      op.id = i == 0 ? kUpdatedId : PeerId(100 + i);
      op.body = PatientBody("Clinic" + std::to_string(i));
      op.actor = &nurse;
      auto out = (*clinic)->Write(op);
      ASSERT_OK(out.status);
      clock.Advance(std::chrono::milliseconds(10));
    }
    // The hub learns the clinic's patient and changes it, and has its own.
    ASSERT_OK_AND_ASSIGN(auto mine, (*clinic)->ReadChanges({}));
    sync::FieldMerger merger(clock);
    storage::PeerState clinic_peer;
    clinic_peer.node_id = (*clinic)->node_id();
    clinic_peer.facility = kFacility;
    clinic_peer.role = "clinic";
    clinic_peer.received_seq = mine.last_seq;
    ASSERT_OK((*hub)->ApplyChanges(mine.changes, mine.conflicts, merger,
                                   clinic_peer));
    for (int i = 0; i < 20; ++i) {
      WriteOp op;
      op.kind = i == 0 ? WriteKind::kUpdate : WriteKind::kCreate;
      op.id = i == 0 ? PeerId(101) : PeerId(i);
      op.body = PatientBody("Hub" + std::to_string(i));
      auto out = (*hub)->Write(op);
      ASSERT_OK(out.status);
      clock.Advance(std::chrono::milliseconds(10));
    }
    storage::ChangeFilter filter;
    filter.exclude_origin = (*clinic)->node_id();
    ASSERT_OK_AND_ASSIGN(shared_->batch, (*hub)->ReadChanges(filter));
    ASSERT_EQ(shared_->batch.changes.size(), 20u);
    for (const auto& change : shared_->batch.changes) {
      shared_->batch_ids.push_back(change.record.id);
    }
    shared_->peer.node_id = (*hub)->node_id();
    shared_->peer.facility = kFacility;
    shared_->peer.role = "hub";
    shared_->peer.received_seq = shared_->batch.last_seq;
    shared_->peer.last_sync_ms = kNowMs + 60000;
  }

  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(shared_, nullptr);
    ASSERT_TRUE(std::filesystem::exists(shared_->template_path));
    path_ = dir_.File("case.db");
    PowerLossVfs::Get().Reset();
  }

  static StoreOptions BaseOptions(const std::string& path) {
    StoreOptions options;
    options.path = path;
    options.facility = kFacility;
    return options;
  }

  // A fresh copy of the template at path_.
  void PrepareCase() {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(path_ + suffix);
    }
    std::filesystem::copy_file(shared_->template_path, path_);
  }

  // Opens path_; through the power-loss VFS when `vfs`.
  Result<std::unique_ptr<RecordStore>> Open(
      bool vfs,
      StoreOptions::Synchronous sync = StoreOptions::Synchronous::kFull) {
    StoreOptions options = BaseOptions(path_);
    options.clock = &clock_;
    options.random = &random_;
    options.synchronous = sync;
    if (vfs) options.vfs = PowerLossVfs::Get().name();
    return storage::OpenRecordStore(options);
  }

  // With warm_, a write before the fault is armed, so the operation
  // appends to a WAL that exists and was synced (a running node's case)
  // instead of creating it.
  Status WarmUp(RecordStore& store) {
    if (!warm_) return Status::Ok();
    WriteOp w;
    w.kind = WriteKind::kCreate;
    w.id = kWarmId;
    w.body = PatientBody("Warm");
    return store.Write(w).status;
  }

  // What runs before the fault is armed: the warm-up, and for kClose the
  // writes the close must keep.
  Status Setup(Operation op, RecordStore& store) {
    POSTA_RETURN_IF_ERROR(WarmUp(store));
    if (op != Operation::kClose) return Status::Ok();
    for (const std::string& id : CloseIds()) {
      WriteOp w;
      w.kind = WriteKind::kCreate;
      w.id = id;
      w.body = PatientBody("Closing");
      POSTA_RETURN_IF_ERROR(store.Write(w).status);
    }
    return Status::Ok();
  }

  static std::vector<std::string> CloseIds() {
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(PeerId(200 + i));
    return ids;
  }

  // Runs the operation; kClose closes (resets) `store`.
  Status Run(Operation op, std::unique_ptr<RecordStore>& store) {
    if (op == Operation::kClose) {
      store.reset();
      return Status::Ok();
    }
    return Run(op, *store);
  }

  Status Run(Operation op, RecordStore& store) {
    static const storage::AuditActor kNurse{"nurse", "clinician", "10.0.0.7"};
    WriteOp w;
    w.actor = &kNurse;
    switch (op) {
      case Operation::kCreate:
        w.kind = WriteKind::kCreate;
        w.id = kCreatedId;
        w.body = PatientBody("Created");
        return store.Write(w).status;
      case Operation::kUpdate:
        w.kind = WriteKind::kUpdate;
        w.id = kUpdatedId;
        w.body = PatientBody("Updated");
        return store.Write(w).status;
      case Operation::kClose:
        return Status::Internal("op", "close needs the store's owner");
      case Operation::kApply: {
        sync::FieldMerger merger(clock_);
        return store
            .ApplyChanges(shared_->batch.changes, shared_->batch.conflicts,
                          merger, shared_->peer)
            .status();
      }
    }
    return Status::Internal("op", "unknown");
  }

  // Everything `op` writes, as text: for each of its records the current
  // version, content and history length; its change-log entries; its audit
  // entries; and, for a batch, the peer cursor.
  std::string Effects(Operation op, RecordStore& store) {
    std::vector<std::string> ids;
    std::string audit_actor;
    if (op == Operation::kCreate) ids = {kCreatedId};
    if (op == Operation::kUpdate) ids = {kUpdatedId};
    if (op == Operation::kClose) ids = CloseIds();
    if (op == Operation::kApply) {
      ids = shared_->batch_ids;
      audit_actor = "node:" + shared_->peer.node_id;
    }
    std::set<std::string> id_set(ids.begin(), ids.end());
    std::string out;
    for (const std::string& id : ids) {
      auto record = store.Get(ResourceType::kPatient, id);
      out += id + ": ";
      if (!record.ok()) {
        out += record.status().code() == Status::Code::kNotFound
                   ? "absent\n"
                   : "error " + record.status().ToString() + "\n";
        continue;
      }
      auto history = store.History(ResourceType::kPatient, id, 100);
      out += record->version.ToString() + " " + record->content + " history " +
             (history.ok() ? std::to_string(history->size()) : "error") + "\n";
    }
    auto changes = store.ChangesSince(0, 100000);
    if (!changes.ok()) return out + "changes: error\n";
    for (const auto& change : *changes) {
      if (id_set.count(change.id) != 0) {
        out += "change " + change.id + " " + change.version.ToString() + "\n";
      }
    }
    storage::AuditFilter filter;
    filter.limit = 1000;
    auto audit = store.ReadAudit(filter);
    if (!audit.ok()) return out + "audit: error\n";
    for (const auto& entry : audit->entries) {
      const size_t slash = entry.resource.find('/');
      const std::string id =
          slash == std::string::npos ? "" : entry.resource.substr(slash + 1);
      if (id_set.count(id) != 0 ||
          (!audit_actor.empty() && entry.actor == audit_actor)) {
        out += "audit " + entry.action + " " + entry.resource + " " +
               entry.version + " " + entry.detail + "\n";
      }
    }
    if (op == Operation::kApply) {
      auto peer = store.GetPeer(shared_->peer.node_id);
      out += "peer " +
             (peer.ok() ? std::to_string(peer->received_seq)
                        : std::string("absent")) +
             "\n";
    }
    return out;
  }

  // The operation's effects on the template (before) and after a run
  // without faults, and its counted ops and their kinds.
  struct Baseline {
    std::string before;
    std::string after;
    std::vector<uint32_t> ops;
  };
  void MakeBaseline(Operation op, uint32_t mask, Baseline* out) {
    PrepareCase();
    {
      ASSERT_OK_AND_ASSIGN(auto store, Open(false));
      ASSERT_OK(WarmUp(*store));
      out->before = Effects(op, *store);
    }
    PrepareCase();
    PowerLossVfs& vfs = PowerLossVfs::Get();
    vfs.Reset();
    {
      ASSERT_OK_AND_ASSIGN(auto store, Open(true));
      ASSERT_OK(Setup(op, *store));
      VfsFault count;
      count.ops = mask;
      vfs.Arm(count);
      ASSERT_OK(Run(op, store));
      out->ops = vfs.op_log();
    }
    vfs.Reset();
    ASSERT_OK_AND_ASSIGN(auto store, Open(false));
    out->after = Effects(op, *store);
    ASSERT_NE(out->before, out->after);
  }

  // Reopens path_ with the normal VFS after a cut and checks it; returns
  // the effects text ("" when it did not open).
  std::string CheckAfterCut(Operation op, Figures& f,
                            const std::string& label) {
    std::string integrity = IntegrityCheck(path_);
    if (integrity != "ok") {
      ++f.integrity_failures;
      ADD_FAILURE() << label << ": integrity_check: " << integrity;
      return "";
    }
    auto store = Open(false);
    if (!store.ok()) {
      ++f.integrity_failures;
      ADD_FAILURE() << label << ": reopen: " << store.status().ToString();
      return "";
    }
    auto verified = (*store)->VerifyAudit();
    if (!verified.ok()) {
      ++f.integrity_failures;
      ADD_FAILURE() << label << ": audit: " << verified.status().ToString();
    }
    return Effects(op, **store);
  }

  // Classifies the effects found; `must_be_present` when acknowledged.
  void Judge(const std::string& effects, const Baseline& base, bool acked,
             Figures& f, const std::string& label, bool expect_loss = false) {
    if (effects.empty()) return;
    if (effects == base.after) {
      ++f.present;
    } else if (effects == base.before) {
      ++f.absent;
      if (acked) {
        ++f.lost_acknowledged;
        if (!expect_loss) {
          ADD_FAILURE() << label << ": acknowledged but lost after reopen";
        }
      }
    } else {
      ++f.partial;
      ADD_FAILURE() << label << ": partly applied:\n"
                    << effects << "\nbefore:\n"
                    << base.before << "\nafter:\n"
                    << base.after;
    }
  }

  // Power loss at every mutating op 1..N+1 of `op`, SeedsPerOp() cuts each.
  Figures SweepPowerLoss(Operation op, StoreOptions::Synchronous sync,
                         bool expect_loss) {
    Figures f;
    Baseline base;
    MakeBaseline(op, kVfsMutatingOps, &base);
    if (::testing::Test::HasFatalFailure()) return f;
    f.ops = static_cast<int64_t>(base.ops.size());
    PowerLossVfs& vfs = PowerLossVfs::Get();
    const int seeds = SeedsPerOp();
    for (int64_t n = 1; n <= f.ops + 1; ++n) {
      ++f.points;
      for (int seed = 0; seed < seeds; ++seed) {
        const CutMode mode = static_cast<CutMode>(seed % 4);
        const std::string label = std::string(OperationName(op)) +
                                  " crash at op " + std::to_string(n) +
                                  " cut " + CutModeName(mode) + " seed " +
                                  std::to_string(seed);
        PrepareCase();
        vfs.Reset();
        bool acked = false;
        {
          auto store = Open(true, sync);
          if (!store.ok()) {
            ADD_FAILURE() << label << ": open: " << store.status().ToString();
            return f;
          }
          if (Status setup = Setup(op, **store); !setup.ok()) {
            ADD_FAILURE() << label << ": setup: " << setup.ToString();
            return f;
          }
          VfsFault crash;
          crash.kind = VfsFault::Kind::kCrash;
          crash.at_op = n;
          vfs.Arm(crash);
          Status st = Run(op, *store);
          acked = st.ok();
          if (!acked && st.code() != Status::Code::kIOError) {
            ++f.unclear_errors;
            ADD_FAILURE() << label << ": " << st.ToString();
          }
          // Closing: the crash point, if not reached yet, is the first op
          // of the close (a power cut right after the acknowledgement).
        }
        // (A close has no op after it: its last point cuts a closed store.)
        if (op != Operation::kClose) {
          EXPECT_TRUE(vfs.crashed()) << label;
        }
        const CutReport cut =
            vfs.PowerCut(mode, static_cast<uint64_t>(seed) * 7919 + n);
        EXPECT_FALSE(cut.write_failed) << label;
        ++f.cases;
        ++f.by_kind[CutModeName(mode)];
        if (cut.torn_bytes >= 0) ++f.torn;
        if (acked) ++f.acknowledged;
        Judge(CheckAfterCut(op, f, label), base, acked, f, label, expect_loss);
      }
    }
    return f;
  }

  // An I/O error at every op 1..N of `op` (reads included), once and
  // forever, writes failing as an I/O error and as a full disk.
  Figures SweepIoErrors(Operation op) {
    Figures f;
    Baseline base;
    MakeBaseline(op, kVfsAllOps, &base);
    if (::testing::Test::HasFatalFailure()) return f;
    f.ops = static_cast<int64_t>(base.ops.size());
    PowerLossVfs& vfs = PowerLossVfs::Get();
    for (int64_t n = 1; n <= f.ops; ++n) {
      ++f.points;
      const uint32_t kind = base.ops[static_cast<size_t>(n - 1)];
      std::vector<int> errors = {0};
      if (kind == kVfsWrite) errors = {SQLITE_IOERR_WRITE, SQLITE_FULL};
      for (bool forever : {false, true}) {
        for (int error : errors) {
          std::string kind_name = std::string(VfsOpName(kind)) +
                                  (error == SQLITE_FULL ? "-full" : "") +
                                  (forever ? "-forever" : "-once");
          const std::string label = std::string(OperationName(op)) +
                                    " fault at op " + std::to_string(n) + " " +
                                    kind_name;
          PrepareCase();
          vfs.Reset();
          bool acked = false;
          {
            auto store = Open(true);
            if (!store.ok()) {
              ADD_FAILURE() << label << ": open: " << store.status().ToString();
              return f;
            }
            if (Status setup = Setup(op, **store); !setup.ok()) {
              ADD_FAILURE() << label << ": setup: " << setup.ToString();
              return f;
            }
            VfsFault fault;
            fault.kind = forever ? VfsFault::Kind::kFailForever
                                 : VfsFault::Kind::kFailOnce;
            fault.at_op = n;
            fault.ops = kVfsAllOps;
            fault.write_error = error;
            vfs.Arm(fault);
            Status st = Run(op, *store);
            acked = st.ok();
            EXPECT_GE(vfs.injected(), 1) << label;
            if (!acked) {
              // The error names the database and is one a caller maps to
              // a 5xx/507, never a client error.
              const bool clear =
                  (st.code() == Status::Code::kIOError ||
                   st.code() == Status::Code::kNoSpace) &&
                  st.ToString().find(path_) != std::string::npos &&
                  (error != SQLITE_FULL || kind != kVfsWrite ||
                   st.code() == Status::Code::kNoSpace);
              if (!clear) {
                ++f.unclear_errors;
                ADD_FAILURE() << label << ": " << st.ToString();
              }
            }
            // The fault clears; the next write works on the same store, or
            // after a reopen.
            vfs.Disarm();
            if (*store == nullptr) {  // closed by the operation
              store = Open(true);
              if (!store.ok()) {
                ADD_FAILURE()
                    << label
                    << ": reopen after close: " << store.status().ToString();
                return f;
              }
            }
            WriteOp next;
            next.kind = WriteKind::kCreate;
            next.id = kRecoveryId;
            next.body = PatientBody("Recovery");
            Status again = (*store)->Write(next).status;
            if (!again.ok()) {
              store->reset();
              ++f.reopened;
              store = Open(true);
              if (!store.ok()) {
                ADD_FAILURE() << label << ": reopen after the fault: "
                              << store.status().ToString();
                return f;
              }
              again = (*store)->Write(next).status;
            }
            EXPECT_OK(again) << label;
            // A power cut right after that acknowledgement.
            VfsFault crash;
            crash.kind = VfsFault::Kind::kCrash;
            crash.at_op = 1;
            vfs.Arm(crash);
          }
          vfs.PowerCut(CutMode::kDropAll, static_cast<uint64_t>(n));
          ++f.cases;
          ++f.by_kind[kind_name];
          if (acked) ++f.acknowledged;
          std::string effects = CheckAfterCut(op, f, label);
          Judge(effects, base, acked, f, label);
          auto store = Open(false);
          if (store.ok()) {
            auto recovered = (*store)->Get(ResourceType::kPatient, kRecoveryId);
            EXPECT_OK(recovered) << label << ": the write after the fault";
            if (!recovered.ok()) ++f.lost_acknowledged;
          }
        }
      }
    }
    return f;
  }

  struct Shared {
    std::unique_ptr<TempDir> dir;
    std::string template_path;
    storage::ChangeBatch batch;
    std::vector<std::string> batch_ids;
    storage::PeerState peer;
  };
  static Shared* shared_;

  TempDir dir_;
  std::string path_;
  bool warm_ = false;
  base::ManualClock clock_{kNowMs + 3600000};
  base::Random random_{7};
};

PowerLossTest::Shared* PowerLossTest::shared_ = nullptr;

void ExpectClean(const Figures& f) {
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.unclear_errors, 0);
  // The last point is after the acknowledgement, so some cases kept it.
  EXPECT_GT(f.acknowledged, 0);
  EXPECT_GT(f.present, 0);
  EXPECT_GT(f.absent, 0);
}

// Each sweep runs twice: the operation as the first write after open
// (it creates the WAL) and after another write (it appends to a WAL that
// exists).
TEST_F(PowerLossTest, CreateIsAllOrNothingAtEveryCrashPoint) {
  for (bool warm : {false, true}) {
    warm_ = warm;
    Figures f = SweepPowerLoss(Operation::kCreate,
                               StoreOptions::Synchronous::kFull, false);
    f.Print(std::string("power loss, create, ") +
            (warm ? "existing WAL" : "new WAL") + " (synchronous=FULL)");
    ExpectClean(f);
  }
}

TEST_F(PowerLossTest, UpdateIsAllOrNothingAtEveryCrashPoint) {
  for (bool warm : {false, true}) {
    warm_ = warm;
    Figures f = SweepPowerLoss(Operation::kUpdate,
                               StoreOptions::Synchronous::kFull, false);
    f.Print(std::string("power loss, update, ") +
            (warm ? "existing WAL" : "new WAL") + " (synchronous=FULL)");
    ExpectClean(f);
  }
}

TEST_F(PowerLossTest, AppliedBatchAndCursorAreAllOrNothingAtEveryCrashPoint) {
  for (bool warm : {false, true}) {
    warm_ = warm;
    Figures f = SweepPowerLoss(Operation::kApply,
                               StoreOptions::Synchronous::kFull, false);
    f.Print(std::string("power loss, apply batch of 20, ") +
            (warm ? "existing WAL" : "new WAL") + " (synchronous=FULL)");
    ExpectClean(f);
  }
}

// A crash anywhere in the checkpoint at close loses none of the writes the
// WAL held (they were acknowledged before the close began).
TEST_F(PowerLossTest, CheckpointAtCloseKeepsEveryAcknowledgedWrite) {
  Figures f = SweepPowerLoss(Operation::kClose,
                             StoreOptions::Synchronous::kFull, false);
  f.Print("power loss, close with 6 writes in the WAL (synchronous=FULL)");
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.absent, 0);
  EXPECT_EQ(f.present, f.cases);
}

TEST_F(PowerLossTest, CheckpointAtCloseSurvivesAnIoErrorAtEveryOp) {
  Figures f = SweepIoErrors(Operation::kClose);
  f.Print("I/O errors, close with 6 writes in the WAL");
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.absent, 0);
}

// Opening a database whose WAL a crash left full (six acknowledged creates,
// not checkpointed) with an I/O error at every op of the open, reads
// included (quick_check, WAL recovery): the open fails with an error naming
// the database, or succeeds with every write there; and a later open with
// a working disk finds them all.
TEST_F(PowerLossTest, OpeningAfterACrashSurvivesAnIoErrorAtEveryOp) {
  PowerLossVfs& vfs = PowerLossVfs::Get();
  const std::string hot = dir_.File("hot.db");
  PrepareCase();
  vfs.Reset();
  {
    ASSERT_OK_AND_ASSIGN(auto store, Open(true));
    ASSERT_OK(Setup(Operation::kClose, *store));
    VfsFault crash;
    crash.kind = VfsFault::Kind::kCrash;
    crash.at_op = 1;
    vfs.Arm(crash);
  }
  vfs.PowerCut(CutMode::kKeepAll, 1);
  ASSERT_TRUE(std::filesystem::exists(path_ + "-wal"));
  std::filesystem::copy_file(path_, hot);
  std::filesystem::copy_file(path_ + "-wal", hot + "-wal");
  auto restore_hot = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_ + suffix);
    }
    std::filesystem::copy_file(hot, path_);
    std::filesystem::copy_file(hot + "-wal", path_ + "-wal");
  };
  std::string after;
  {
    restore_hot();
    ASSERT_OK_AND_ASSIGN(auto store, Open(false));
    after = Effects(Operation::kClose, *store);
    ASSERT_EQ(after.find("absent"), std::string::npos) << after;
  }
  std::vector<uint32_t> kinds;
  restore_hot();
  vfs.Reset();
  {
    VfsFault count;
    count.ops = kVfsAllOps;
    vfs.Arm(count);
    ASSERT_OK_AND_ASSIGN(auto store, Open(true));
    kinds = vfs.op_log();
    vfs.Arm(VfsFault{});
  }
  Figures f;
  f.ops = static_cast<int64_t>(kinds.size());
  for (size_t n = 1; n <= kinds.size(); ++n) {
    ++f.points;
    for (bool forever : {false, true}) {
      const std::string kind_name = std::string(VfsOpName(kinds[n - 1])) +
                                    (forever ? "-forever" : "-once");
      const std::string label =
          "open with op " + std::to_string(n) + " " + kind_name;
      restore_hot();
      vfs.Reset();
      VfsFault fault;
      fault.kind =
          forever ? VfsFault::Kind::kFailForever : VfsFault::Kind::kFailOnce;
      fault.at_op = static_cast<int64_t>(n);
      fault.ops = kVfsAllOps;
      vfs.Arm(fault);
      {
        auto store = Open(true);
        vfs.Disarm();
        ++f.cases;
        ++f.by_kind[kind_name];
        if (store.ok()) {
          ++f.acknowledged;
          EXPECT_EQ(Effects(Operation::kClose, **store), after) << label;
        } else {
          const Status& st = store.status();
          const bool clear = st.code() == Status::Code::kIOError &&
                             st.ToString().find(path_) != std::string::npos;
          if (!clear) {
            ++f.unclear_errors;
            ADD_FAILURE() << label << ": " << st.ToString();
          }
        }
      }
      vfs.Reset();
      Judge(CheckAfterCut(Operation::kClose, f, label),
            Baseline{std::string(), after, {}}, true, f, label);
    }
  }
  f.Print("I/O errors, opening a crashed store (WAL recovery)");
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.unclear_errors, 0);
  EXPECT_EQ(f.present, f.cases);
}

// fsyncgate: the commit's xSync fails once, and (as on Linux) the writes it
// covered are lost to the disk while reads still see them. The write is not
// acknowledged; the next one is, and survives a power cut; the failed one
// is gone whole.
TEST_F(PowerLossTest, AFailedFsyncIsNeverAcknowledged) {
  warm_ = true;
  Baseline base;
  MakeBaseline(Operation::kCreate, kVfsMutatingOps, &base);
  ASSERT_FALSE(HasFatalFailure());
  int64_t last_sync = 0;
  for (size_t i = 0; i < base.ops.size(); ++i) {
    if (base.ops[i] == kVfsSync) last_sync = static_cast<int64_t>(i) + 1;
  }
  ASSERT_GT(last_sync, 0);
  PrepareCase();
  PowerLossVfs& vfs = PowerLossVfs::Get();
  vfs.Reset();
  {
    ASSERT_OK_AND_ASSIGN(auto store, Open(true));
    ASSERT_OK(Setup(Operation::kCreate, *store));
    VfsFault fault;
    fault.kind = VfsFault::Kind::kFailOnce;
    fault.at_op = last_sync;
    vfs.Arm(fault);
    Status st = Run(Operation::kCreate, *store);
    EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
    EXPECT_EQ(vfs.injected(), 1);
    WriteOp next;
    next.kind = WriteKind::kCreate;
    next.id = kRecoveryId;
    next.body = PatientBody("Recovery");
    ASSERT_OK(store->Write(next).status);
    VfsFault crash;
    crash.kind = VfsFault::Kind::kCrash;
    crash.at_op = 1;
    vfs.Arm(crash);
  }
  vfs.PowerCut(CutMode::kDropAll, 1);
  Figures f;
  EXPECT_EQ(CheckAfterCut(Operation::kCreate, f, "failed fsync"), base.before);
  ASSERT_OK_AND_ASSIGN(auto store, Open(false));
  EXPECT_OK(store->Get(ResourceType::kPatient, kRecoveryId));
}

// The sweep can fail: with synchronous=NORMAL a commit is not synced, so a
// power cut that drops the unsynced writes loses an acknowledged write.
// Integrity and all-or-nothing still hold.
TEST_F(PowerLossTest, NormalSynchronousLosesAcknowledgedWrites) {
  Figures f = SweepPowerLoss(Operation::kCreate,
                             StoreOptions::Synchronous::kNormal, true);
  f.Print("power loss, create (synchronous=NORMAL, loss expected)");
  EXPECT_GT(f.lost_acknowledged, 0)
      << "a power cut after an unsynced commit must lose it in the model";
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
}

// And a disk that acknowledges xSync without keeping anything loses an
// acknowledged write even with synchronous=FULL.
TEST_F(PowerLossTest, ADiskThatLiesAboutSyncLosesAcknowledgedWrites) {
  Baseline base;
  MakeBaseline(Operation::kCreate, kVfsMutatingOps, &base);
  ASSERT_FALSE(HasFatalFailure());
  PrepareCase();
  PowerLossVfs& vfs = PowerLossVfs::Get();
  vfs.Reset();
  vfs.set_lie_about_sync(true);
  {
    ASSERT_OK_AND_ASSIGN(auto store, Open(true));
    ASSERT_OK(Run(Operation::kCreate, store));
    VfsFault crash;
    crash.kind = VfsFault::Kind::kCrash;
    crash.at_op = 1;
    vfs.Arm(crash);
  }
  vfs.PowerCut(CutMode::kDropAll, 1);
  Figures f;
  EXPECT_EQ(CheckAfterCut(Operation::kCreate, f, "lying disk"), base.before);
}

TEST_F(PowerLossTest, CreateFailsCleanlyOnAnIoErrorAtEveryOp) {
  warm_ = true;
  Figures f = SweepIoErrors(Operation::kCreate);
  f.Print("I/O errors, create, existing WAL");
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.unclear_errors, 0);
}

TEST_F(PowerLossTest, UpdateFailsCleanlyOnAnIoErrorAtEveryOp) {
  Figures f = SweepIoErrors(Operation::kUpdate);
  f.Print("I/O errors, update, new WAL");
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.unclear_errors, 0);
}

TEST_F(PowerLossTest, AppliedBatchFailsCleanlyOnAnIoErrorAtEveryOp) {
  warm_ = true;
  Figures f = SweepIoErrors(Operation::kApply);
  f.Print("I/O errors, apply batch of 20, existing WAL");
  EXPECT_GT(f.ops, 0);
  EXPECT_EQ(f.lost_acknowledged, 0);
  EXPECT_EQ(f.integrity_failures, 0);
  EXPECT_EQ(f.partial, 0);
  EXPECT_EQ(f.unclear_errors, 0);
}

// What a clinic app is told: POST /fhir/Patient with a disk that fails at
// every op of the write, from then on: a 507 (disk full) or 500 (I/O
// error) OperationOutcome, never a 201, nothing stored; once the disk
// works again the same store takes the next POST.
TEST_F(PowerLossTest, ApiAnswers5xxAndStoresNothingOnAFailingDisk) {
  auto post = [](node::Api& api) {
    node::HttpRequest request;
    request.method = "POST";
    request.target = "/fhir/Patient";
    request.headers.emplace_back("Host", "clinic.local:8080");
    request.headers.emplace_back("Content-Type", "application/fhir+json");
    request.body = PatientBody("Api");
    request.remote_address = "127.0.0.1:40000";
    return api.Handle(request);
  };
  node::ApiOptions api_options;
  api_options.data_dir = dir_.path();
  api_options.version = "9.9.9";
  PowerLossVfs& vfs = PowerLossVfs::Get();

  std::vector<uint32_t> kinds;
  PrepareCase();
  vfs.Reset();
  {
    ASSERT_OK_AND_ASSIGN(auto store, Open(true));
    node::Metrics metrics;
    node::Api api(*store, metrics, api_options, clock_);
    VfsFault count;
    count.ops = kVfsAllOps;
    vfs.Arm(count);
    ASSERT_EQ(post(api).status, 201);
    kinds = vfs.op_log();
  }
  ASSERT_FALSE(kinds.empty());
  Figures f;
  f.ops = static_cast<int64_t>(kinds.size());
  for (size_t n = 1; n <= kinds.size(); ++n) {
    std::vector<int> errors = {0};
    if (kinds[n - 1] == kVfsWrite) errors = {SQLITE_IOERR_WRITE, SQLITE_FULL};
    ++f.points;
    for (int error : errors) {
      const std::string label = "POST with op " + std::to_string(n) + " (" +
                                VfsOpName(kinds[n - 1]) + ") failing " +
                                (error == SQLITE_FULL ? "full" : "io");
      PrepareCase();
      vfs.Reset();
      ASSERT_OK_AND_ASSIGN(auto store, Open(true));
      ASSERT_OK_AND_ASSIGN(auto before, store->ContentDigest());
      node::Metrics metrics;
      node::Api api(*store, metrics, api_options, clock_);
      VfsFault fault;
      fault.kind = VfsFault::Kind::kFailForever;
      fault.at_op = static_cast<int64_t>(n);
      fault.ops = kVfsAllOps;
      fault.write_error = error;
      vfs.Arm(fault);
      node::HttpResponse response = post(api);
      vfs.Disarm();
      ++f.cases;
      ++f.by_kind[std::string(VfsOpName(kinds[n - 1])) +
                  (error == SQLITE_FULL ? "-full" : "")];
      const int expected = error == SQLITE_FULL ? 507 : 500;
      EXPECT_EQ(response.status, expected) << label << ": " << response.body;
      if (response.status == 201) ++f.acknowledged;
      auto body = nlohmann::json::parse(response.body, nullptr, false);
      ASSERT_FALSE(body.is_discarded()) << label << ": " << response.body;
      EXPECT_EQ(body.value("resourceType", ""), "OperationOutcome") << label;
      const std::string text =
          body["issue"][0].value("diagnostics", std::string());
      EXPECT_NE(text.find(error == SQLITE_FULL ? "insufficient storage"
                                               : "storage error"),
                std::string::npos)
          << label << ": " << text;
      EXPECT_NE(text.find("reference"), std::string::npos) << label;
      ASSERT_OK_AND_ASSIGN(auto after, store->ContentDigest());
      EXPECT_EQ(after, before) << label;
      EXPECT_EQ(post(api).status, 201) << label << ": after the fault";
    }
  }
  f.Print("API POST /fhir/Patient, disk failing from each op on");
}

}  // namespace
}  // namespace posta::testing
