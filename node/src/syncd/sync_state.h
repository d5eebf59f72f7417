// SyncState: what a clinic knows of its own sync, for /health, /metrics and
// `posta status`. Plain data; SyncRunner fills it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "posta/base/status.h"
#include "posta/storage/record_store.h"

namespace posta::node {

// What the node knows of its sync, for people.
struct SyncState {
  bool enabled = false;        // a hub_url is configured
  bool running = false;        // a sync is in progress
  bool hub_reachable = false;  // the last attempt reached the hub
  int64_t last_success_ms = 0;
  int64_t last_attempt_ms = 0;
  std::string last_error;  // empty after a success
  // The last attempt failed in a way no retry cures until a person acts:
  // the hub refused this node (not enrolled, revoked, another scope) or
  // its TLS certificate or pin did not match. Cleared by a success.
  bool needs_technician = false;
  int64_t syncs_ok = 0;
  int64_t syncs_failed = 0;
  int64_t records_pushed = 0;
  int64_t records_pulled = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  int64_t conflicts_found = 0;
  int64_t next_attempt_ms = 0;
};

// What the database says of sync, whether or not a sync runs now.
struct SyncSummary {
  // Clinic: the hub, once it has been reached.
  bool has_hub = false;
  storage::PeerState hub;
  // Clinic: local changes the hub has not acknowledged.
  int64_t pending = 0;
  // Hub: every clinic that has said hello.
  std::vector<storage::PeerState> clinics;
  int64_t open_conflicts = 0;
  int64_t clock_flags = 0;
};

Result<SyncSummary> SummarizeSync(storage::RecordStore& store,
                                  const storage::StoreStats& stats);

}  // namespace posta::node
