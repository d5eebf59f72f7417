// Deterministic simulation: one seed is one small world — a hub and 2-4
// clinic nodes (two of them nodes of the same facility, so they edit the
// same patients) on real SQLite files — driven through tens of seeded steps
// of local edits, syncs over a faulty link, crashes at named crash points
// with restart, and clock jumps. Then every link and clock heals, the nodes
// sync to quiescence, and the Ledger checks the invariants of
// RELIABILITY.md. The same seed replays the same run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace posta::sim {

struct SimOptions {
  int steps = 40;
  // Crash at named crash points (needs a POSTA_CRASH_POINTS build).
  bool crash_points = true;
};

// What one or many seeds did, for the summary line.
struct SimStats {
  int64_t seeds = 0;
  int64_t steps = 0;
  int64_t writes = 0;           // acknowledged local writes
  int64_t syncs = 0;            // SyncOnce calls under faults
  int64_t failed_syncs = 0;     // of those, the ones that did not finish
  int64_t tainted_records = 0;  // records given a far-future stamp
  std::map<std::string, int64_t> faults;  // injected, by kind
  // Seeds that failed, and failures that were an acknowledged value lost
  // (I1, I2, I4) or a version stored twice (I2), over all seeds.
  int64_t failed_seeds = 0;
  int64_t lost = 0;
  int64_t duplicated = 0;
  void Add(const SimStats& other);
  std::string Summary() const;
};

struct SimResult {
  std::vector<std::string> failures;  // empty: every invariant held
  SimStats stats;
  std::vector<std::string> trace;  // what the run did, step by step
};

SimResult RunSeed(uint64_t seed, const SimOptions& options = {});

}  // namespace posta::sim
