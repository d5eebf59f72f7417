#include "wal_checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "sqlite_util.h"
#include "test_util.h"

namespace posta::storage::internal {
namespace {

using posta::testing::TempDir;

constexpr int64_t kPageBytes = 4096;

int64_t FileBytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size)
                                        : -1;
}

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = Connection::Open(
        path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        "", 1000);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    writer_ = std::move(conn).value();
    ASSERT_TRUE(writer_->Exec("PRAGMA journal_mode = WAL", "wal").ok());
    ASSERT_TRUE(
        writer_->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", "t")
            .ok());
  }

  // One commit of `rows` rows of about a page each.
  void Commit(int rows) {
    ASSERT_TRUE(writer_->Exec("BEGIN", "begin").ok());
    for (int i = 0; i < rows; ++i) {
      ASSERT_TRUE(
          writer_->Exec("INSERT INTO t (v) VALUES (randomblob(4000))", "insert")
              .ok());
    }
    ASSERT_TRUE(writer_->Exec("COMMIT", "commit").ok());
  }

  TempDir dir_;
  const std::string path_ = dir_.File("t.db");
  std::unique_ptr<Connection> writer_;
};

TEST_F(WalCheckpointerTest, AFewWritesStartNoThread) {
  WalCheckpointer checkpointer(*writer_, path_, "", kPageBytes);
  for (int i = 0; i < 20; ++i) Commit(10);  // about 200 pages
  EXPECT_EQ(checkpointer.background_runs(), 0);
}

TEST_F(WalCheckpointerTest, ManyWritesAreCopiedAndTheLogStaysBounded) {
  // Thresholds of 200 and 1,000 pages instead of 1,000 and 16,000, so that
  // the test writes little.
  constexpr int kWriterPages = 1000;
  auto checkpointer = std::make_unique<WalCheckpointer>(
      *writer_, path_, "", kPageBytes, 200 * kPageBytes,
      kWriterPages * kPageBytes);
  // 40 commits of about 100 pages: 4,000 pages in all, four times the
  // writer's threshold, so without any checkpoint the log would pass it.
  int64_t largest_log = 0;
  for (int i = 0; i < 40; ++i) {
    Commit(100);
    largest_log = std::max(largest_log, FileBytes(path_ + "-wal"));
  }
  // The thread was asked and has run (it is waited for, not timed).
  for (int i = 0; i < 1000 && checkpointer->background_runs() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(checkpointer->background_runs(), 1);
  // At most the writer's threshold plus one commit, with room for the
  // log's frame headers.
  EXPECT_LE(largest_log, (kWriterPages + 120) * (kPageBytes + 24) + 32);
  // Stopped: the writer's close is the last and copies everything.
  checkpointer.reset();
  writer_.reset();
  EXPECT_LT(FileBytes(path_ + "-wal"), 1);  // removed at the last close
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), 40 * 100);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// The thread's own copies keep the log short: the writer's threshold is
// never reached here, and each commit after a completed copy starts the
// log over. (A connection that had read nothing copied nothing, so the log
// grew by every commit.)
TEST_F(WalCheckpointerTest, CopiesOnTheThreadLetTheLogStartOver) {
  constexpr int kCommits = 10;
  constexpr int kRows = 210;  // about 210 pages: each commit asks the thread
  WalCheckpointer checkpointer(*writer_, path_, "", kPageBytes,
                               200 * kPageBytes, 1000000 * kPageBytes);
  for (int i = 0; i < kCommits; ++i) {
    Commit(kRows);
    // This commit's copy is waited for, not timed.
    for (int w = 0; w < 1000 && checkpointer.background_runs() < i + 1; ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(checkpointer.background_runs(), i + 1);
  }
  // Two commits' pages at most, against the ten of a log never started
  // over.
  EXPECT_LE(FileBytes(path_ + "-wal"), 2 * (kRows + 10) * (kPageBytes + 24));
}

// The thresholds are bytes of log, not pages: with pages four times as
// large, a quarter as many ask for a copy.
TEST_F(WalCheckpointerTest, ThresholdsAreBytesWhateverThePageSize) {
  writer_.reset();
  const std::string path = dir_.File("big_pages.db");
  ASSERT_OK_AND_ASSIGN(
      writer_,
      Connection::Open(path,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX,
                       "", 1000));
  ASSERT_TRUE(writer_->Exec("PRAGMA page_size = 16384", "page size").ok());
  ASSERT_TRUE(writer_->Exec("PRAGMA journal_mode = WAL", "wal").ok());
  ASSERT_TRUE(
      writer_->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", "t")
          .ok());
  WalCheckpointer checkpointer(*writer_, path, "", 4 * kPageBytes);
  // About 300 pages of 16 KiB, 4.7 MiB: past kAskBytes, though short of
  // the 1,000 pages that ask at 4 KiB.
  ASSERT_TRUE(writer_->Exec("BEGIN", "begin").ok());
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(writer_
                    ->Exec("INSERT INTO t (v) VALUES (randomblob(16000))",
                           "insert")
                    .ok());
  }
  ASSERT_TRUE(writer_->Exec("COMMIT", "commit").ok());
  for (int i = 0; i < 1000 && checkpointer.background_runs() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(checkpointer.background_runs(), 1);
}

TEST_F(WalCheckpointerTest, StoppingHandsCheckpointsBackToSqlite) {
  {
    WalCheckpointer checkpointer(*writer_, path_, "", kPageBytes);
    Commit(10);
  }
  // SQLite's automatic checkpoint again: after 1,200 pages the log was
  // copied, and the next commit started it over.
  for (int i = 0; i < 5; ++i) Commit(300);
  int log = -1, copied = -1;
  ASSERT_EQ(sqlite3_wal_checkpoint_v2(writer_->db(), "main",
                                      SQLITE_CHECKPOINT_PASSIVE, &log, &copied),
            SQLITE_OK);
  EXPECT_LT(log, 1000);
}

}  // namespace
}  // namespace posta::storage::internal
