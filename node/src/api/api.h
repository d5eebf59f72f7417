// Api: the clinic's local HTTP API as a plain request → response function.
// FHIR R4 REST for Location, Patient, Encounter, Observation and
// Appointment under /fhir, sync conflicts under /conflicts (plain JSON), the
// hub's sync endpoints under /sync/v1 (handed to a SyncEndpoint), plus
// /health and /metrics. No Beast here: the server adapts HTTP.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "auth/sessions.h"
#include "care/backups.h"
#include "http/http_types.h"
#include "posta/sync/hub_service.h"
#include "syncd/sync_state.h"
#include "posta/base/clock.h"
#include "posta/base/env.h"
#include "posta/storage/record_store.h"

namespace posta::node {

class Metrics;

// The hub's sync protocol behind POST /sync/v1/{op}. The API routes and
// counts the request; the endpoint answers it in full, errors included.
// Threading: Handle may be called from many threads at once.
class SyncEndpoint {
 public:
  virtual ~SyncEndpoint() = default;
  // `op` is "enroll", "hello", "push", "pull" or "audit"; `request` is as
  // received (method POST, body, Content-Type and Authorization unchecked).
  // Exceptions are caught by Api::Handle and answered 500.
  virtual HttpResponse Handle(std::string_view op,
                              const HttpRequest& request) = 0;
};

struct ApiOptions {
  std::string role = "clinic";  // shown in /health
  std::string version;          // posta version, shown in /health
  std::string data_dir;         // for free-disk figures in /health
  // Absolute base for links (Location, Bundle next), e.g.
  // "http://127.0.0.1:8080". Empty: taken from the request's Host header.
  std::string base_url;
  size_t max_page_size = 1000;  // _count cap
  // Not owned; must outlive Api. Null: /sync/v1/* answers 404 ("this node
  // is not a hub"). Default: null.
  SyncEndpoint* sync = nullptr;
  // A clinic's background sync, for /health and /metrics; empty when the
  // node does not sync.
  std::function<SyncState()> sync_state;
  // The disk guard's floor ([storage] min_free_mb), shown in /health; the
  // store enforces it.
  uint64_t min_free_bytes = 0;
  // Scheduled backups, for /health and /metrics; empty when `posta serve`
  // does not run them.
  std::function<BackupState()> backup_state;
  // A hub's sync counters, for /metrics; empty on a clinic.
  std::function<sync::HubCounters()> hub_counters;
  // Who must log in, and how long sessions last (docs/api.md,
  // "Authentication"). Default: open, as on loopback with auth = "auto".
  auth::AuthOptions auth;
  // A hub's freshness thresholds ([reports] in the config, docs/reports.md):
  // a facility whose last completed sync is at most this old is fresh, then
  // late, then silent.
  std::chrono::hours fresh_after{48};
  std::chrono::hours late_after{168};
};

// Threading: Handle may be called from many threads at once.
class Api {
 public:
  // `store`, `metrics`, `clock` and `env` are not owned and must outlive Api.
  Api(storage::RecordStore& store, Metrics& metrics, const ApiOptions& options,
      base::Clock& clock = base::SystemClock(),
      base::Env& env = base::Env::Default());
  ~Api();

  // Never throws. Every 4xx/5xx body is a FHIR OperationOutcome; a 500 body
  // says only that an internal error occurred, with an id matching the log.
  HttpResponse Handle(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace posta::node
