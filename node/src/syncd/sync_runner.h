// How a running node takes part in sync.
//
// A clinic with [sync] hub_url, or a hub with [sync] upstream (a district
// hub), runs a SyncRunner: one background thread that syncs at start, soon
// after local writes, on the configured schedule, and after failures with
// exponential backoff and jitter; its state feeds /health, /metrics and
// `posta status`.
//
// A hub answers /sync/v1/* through HubEndpoint, which adapts HTTP to
// sync::HubService.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/api.h"
#include "config/config.h"
#include "posta/base/clock.h"
#include "posta/storage/record_store.h"
#include "posta/sync/hub_service.h"
#include "posta/sync/sync_client.h"
#include "syncd/sync_state.h"

namespace posta::node {

// The TransportOptions a node's config asks for (hub URL, proxy, the hub's
// CA file and key pin). The credential is set on the transport apart, by
// LoadCredential before each sync, so a `posta enroll` on a running node
// takes effect at its next sync.
sync::TransportOptions TransportOptionsFor(const NodeConfig& config);

// The clinic's credential from config.CredentialPath(); "" when the node
// has not enrolled (no file). InvalidArgument when the file does not hold
// one (naming the file and what to do).
Result<std::string> LoadCredential(const NodeConfig& config, base::Env& env);

// A failure no retry cures until a technician acts: PermissionDenied — the
// hub refused the node (not enrolled, revoked, another scope) or the hub's
// TLS certificate or key pin did not match.
bool NeedsTechnician(const Status& status);

// Keeps the hub's last such refusal in data_dir/sync-refused for `posta
// status` (another process) to show; a successful sync removes the file.
// Best effort: failing to write it never fails the sync.
void RecordSyncOutcome(const NodeConfig& config, const Status& outcome,
                       base::Env& env);
// The refusal recorded by RecordSyncOutcome; "" when none.
std::string LastSyncRefusal(const NodeConfig& config, base::Env& env);

class SyncRunner {
 public:
  // `store` and `clock` are not owned and must outlive the runner.
  // REQUIRES: !config.hub_url.empty().
  SyncRunner(const NodeConfig& config, storage::RecordStore& store,
             base::Clock& clock);
  // Stops the thread (an in-flight sync finishes its current request).
  ~SyncRunner();

  void Start();
  // Asks for a sync soon (after a local write).
  void Poke();
  SyncState state() const;

 private:
  void Run();

  const NodeConfig config_;
  storage::RecordStore& store_;
  base::Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool poked_ = false;  // guarded by mu_
  SyncState state_;     // guarded by mu_
  std::thread thread_;
};

// /sync/v1/{op} on a hub.
class HubEndpoint final : public SyncEndpoint {
 public:
  HubEndpoint(storage::RecordStore& store, base::Clock& clock,
              const NodeConfig& config);
  HttpResponse Handle(std::string_view op, const HttpRequest& request) override;
  sync::HubCounters counters() const { return service_.counters(); }
  // The service itself, for sync bundles (posta bundle on a hub).
  sync::HubService& service() { return service_; }

 private:
  sync::HubService service_;
};

}  // namespace posta::node
