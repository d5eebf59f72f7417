// How a running node takes part in sync.
//
// A clinic with [sync] hub_url runs a SyncRunner: one background thread that
// syncs at start, soon after local writes, on the configured schedule, and
// after failures with exponential backoff and jitter; its state feeds
// /health, /metrics and `posta status`.
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

// The TransportOptions a node's config asks for.
sync::TransportOptions TransportOptionsFor(const NodeConfig& config);

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
  bool stop_ = false;        // guarded by mu_
  bool poked_ = false;       // guarded by mu_
  SyncState state_;          // guarded by mu_
  std::thread thread_;
};

// /sync/v1/{op} on a hub.
class HubEndpoint final : public SyncEndpoint {
 public:
  HubEndpoint(storage::RecordStore& store, base::Clock& clock,
              const NodeConfig& config);
  HttpResponse Handle(std::string_view op, const HttpRequest& request) override;
  sync::HubCounters counters() const { return service_.counters(); }

 private:
  sync::HubService service_;
};

}  // namespace posta::node
