#include "syncd/sync_runner.h"

#include <spdlog/spdlog.h>

#include "posta/base/env.h"
#include "posta/base/random.h"
#include "posta/sync/backoff.h"
#include "posta/sync/credentials.h"

namespace posta::node {

Result<SyncSummary> SummarizeSync(storage::RecordStore& store,
                                  const storage::StoreStats& stats) {
  SyncSummary out;
  out.open_conflicts = stats.open_conflicts;
  out.clock_flags = stats.clock_flags;
  POSTA_ASSIGN_OR_RETURN(std::vector<storage::PeerState> peers,
                         store.ListPeers());
  for (storage::PeerState& peer : peers) {
    if (peer.role == "hub") {
      out.has_hub = true;
      out.hub = std::move(peer);
    } else {
      out.clinics.push_back(std::move(peer));
    }
  }
  if (stats.role == "clinic") {
    storage::ChangeFilter filter;
    filter.after_seq = out.has_hub ? out.hub.acked_seq : 0;
    filter.only_origin = store.node_id();
    POSTA_ASSIGN_OR_RETURN(out.pending, store.CountChanges(filter));
  } else if (out.has_hub) {
    // A hub with a hub above it relays everything but what came from there.
    storage::ChangeFilter filter;
    filter.after_seq = out.hub.acked_seq;
    filter.exclude_origin = out.hub.node_id;
    POSTA_ASSIGN_OR_RETURN(out.pending, store.CountChanges(filter));
  }
  return out;
}

sync::TransportOptions TransportOptionsFor(const NodeConfig& config) {
  sync::TransportOptions options;
  options.base_url = config.hub_url;
  options.proxy = config.sync_proxy;
  options.ca_file = config.hub_ca_file;
  options.pinned_public_key = config.hub_pin;
  options.user_agent = std::string("posta/") + POSTA_VERSION;
  return options;
}

Result<std::string> LoadCredential(const NodeConfig& config, base::Env& env) {
  const std::string path = config.CredentialPath();
  if (!env.FileExists(path)) return std::string();
  POSTA_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path, 4096));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  if (!sync::IsWellFormedCredential(text)) {
    return Status::InvalidArgument(
        path, "does not hold a credential; enroll again with posta enroll");
  }
  return text;
}

bool NeedsTechnician(const Status& status) {
  return status.code() == Status::Code::kPermissionDenied;
}

namespace {
std::string RefusalPath(const NodeConfig& config) {
  return config.data_dir + "/sync-refused";
}
}  // namespace

void RecordSyncOutcome(const NodeConfig& config, const Status& outcome,
                       base::Env& env) {
  const std::string path = RefusalPath(config);
  if (outcome.ok()) {
    if (env.FileExists(path)) (void)env.RemoveFile(path);
  } else if (NeedsTechnician(outcome)) {
    (void)env.WriteFileAtomic(path, outcome.message() + "\n", 0640);
  }
}

std::string LastSyncRefusal(const NodeConfig& config, base::Env& env) {
  const std::string path = RefusalPath(config);
  if (!env.FileExists(path)) return {};
  Result<std::string> text = env.ReadFile(path, 4096);
  if (!text.ok()) return {};
  while (!text->empty() && text->back() == '\n') text->pop_back();
  return *text;
}

SyncRunner::SyncRunner(const NodeConfig& config, storage::RecordStore& store,
                       base::Clock& clock)
    : config_(config), store_(store), clock_(clock) {
  state_.enabled = true;
}

SyncRunner::~SyncRunner() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SyncRunner::Start() {
  thread_ = std::thread([this] { Run(); });
}

void SyncRunner::Poke() {
  std::lock_guard lock(mu_);
  poked_ = true;
  cv_.notify_all();
}

SyncState SyncRunner::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void SyncRunner::Run() {
  base::Random random;
  sync::Backoff backoff(sync::BackoffPolicy{}, random);
  // Two connections: the second sends the next pushed batch while the hub
  // applies the one before.
  auto transport = sync::NewHttpTransport(TransportOptionsFor(config_));
  auto second = sync::NewHttpTransport(TransportOptionsFor(config_));
  if (!transport.ok() || !second.ok()) {
    std::lock_guard lock(mu_);
    state_.last_error =
        (transport.ok() ? second.status() : transport.status()).ToString();
    spdlog::error("sync disabled: {}", state_.last_error);
    return;
  }
  sync::SyncOptions options;
  options.max_clock_skew = config_.max_clock_skew;
  options.software = POSTA_VERSION;
  sync::SyncClient client(store_, **transport, clock_, options);
  client.SetSecondTransport(second->get());
  std::chrono::milliseconds wait{0};  // sync at start
  while (true) {
    {
      std::unique_lock lock(mu_);
      state_.next_attempt_ms = clock_.WallNowMillis() + wait.count();
      // Wakes early for a poke, then waits out the after-write delay so a
      // burst of writes goes in one sync.
      cv_.wait_for(lock, wait, [this] { return stop_ || poked_; });
      if (stop_) return;
      if (poked_) {
        poked_ = false;
        cv_.wait_for(lock, config_.sync_after_write, [this] { return stop_; });
        if (stop_) return;
      }
      state_.running = true;
      state_.last_attempt_ms = clock_.WallNowMillis();
    }
    // An attempt cut after some batches got through starts the backoff
    // again, so a link that drops every minute is retried at once.
    bool moved = false;
    Result<sync::SyncResult> result = [&]() -> Result<sync::SyncResult> {
      // Read each time: `posta enroll` may have run since the last sync.
      POSTA_ASSIGN_OR_RETURN(std::string credential,
                             LoadCredential(config_, base::Env::Default()));
      POSTA_RETURN_IF_ERROR((*transport)->SetBearerToken(credential));
      POSTA_RETURN_IF_ERROR((*second)->SetBearerToken(credential));
      return client.SyncOnce([&moved](const sync::SyncProgress& p) {
        if (p.moved()) moved = true;
      });
    }();
    RecordSyncOutcome(config_, result.status(), base::Env::Default());
    std::lock_guard lock(mu_);
    state_.running = false;
    if (result.ok()) {
      backoff.Reset();
      state_.hub_reachable = true;
      state_.last_success_ms = clock_.WallNowMillis();
      state_.last_error.clear();
      state_.needs_technician = false;
      ++state_.syncs_ok;
      state_.records_pushed += result->pushed;
      state_.records_pulled += result->pulled;
      state_.bytes_sent += result->bytes_sent;
      state_.bytes_received += result->bytes_received;
      state_.conflicts_found += result->conflicts;
      if (result->pushed > 0 || result->pulled > 0) {
        spdlog::info("sync: pushed {}, pulled {}, {} new conflicts",
                     result->pushed, result->pulled, result->conflicts);
      }
      wait = config_.sync_interval;
    } else {
      const Status& s = result.status();
      state_.hub_reachable = s.code() != Status::Code::kUnavailable;
      state_.last_error = s.ToString();
      state_.needs_technician = NeedsTechnician(s);
      ++state_.syncs_failed;
      if (moved) backoff.Reset();
      wait = backoff.Next();
      // No retry helps until a technician acts (enrolls the node again, or
      // fixes the facility): try again on the schedule only, and say so.
      if (NeedsTechnician(s) || wait > config_.sync_interval) {
        wait = config_.sync_interval;
      }
      if (NeedsTechnician(s)) {
        spdlog::error("sync refused by the hub (next try in {} s): {}",
                      wait.count() / 1000, state_.last_error);
      } else {
        spdlog::warn("sync failed (next try in {} s): {}", wait.count() / 1000,
                     state_.last_error);
      }
    }
  }
}

namespace {

// An event of the hub's sync endpoint, committed before the answer.
void RecordHubEvent(storage::RecordStore& store,
                    const storage::AuditEvent& event) {
  Status s = store.AppendAudit(event, storage::AuditDurability::kCommitted);
  if (!s.ok()) {
    spdlog::error("audit: could not record {} of {}: {}", event.action,
                  event.who.actor, s.ToString());
  }
}

}  // namespace

HubEndpoint::HubEndpoint(storage::RecordStore& store, base::Clock& clock,
                         const NodeConfig& config)
    : service_(store, clock, [&] {
        sync::HubOptions options;
        options.max_clock_skew = config.max_clock_skew;
        options.software = POSTA_VERSION;
        // Every refusal of who or what is logged and recorded in the
        // hub's audit chain before the answer goes out.
        options.on_denied = [&store](const sync::Denial& d) {
          spdlog::warn("sync {} {} from {} (node {}): {}", d.status, d.code,
                       d.remote_address,
                       d.node_id.empty() ? "unauthenticated" : d.node_id,
                       d.message);
          storage::AuditEvent event;
          event.who.actor =
              d.node_id.empty() ? "anonymous" : "node:" + d.node_id;
          event.who.remote_address = d.remote_address;
          event.action = "denied";
          event.outcome = "denied";
          event.resource = "sync";
          event.detail =
              std::to_string(d.status) + " " + d.code + ": " + d.message;
          RecordHubEvent(store, event);
        };
        options.on_audit_broken = [](const storage::AuditBreak& b) {
          // The store has flagged the node and recorded it in the hub's
          // own chain.
          spdlog::error("audit chain of node {} is broken at seq {}: {}",
                        b.node_id, b.seq, b.why);
        };
        options.on_flagged = [&store](const std::string& node_id,
                                      const std::string& why) {
          spdlog::warn("node {} flagged: {}; see posta hub node list", node_id,
                       why);
          storage::AuditEvent event;
          event.who.actor = "node:" + node_id;
          event.action = std::string(storage::kAuditFlagged);
          event.outcome = "denied";
          event.resource = "sync";
          event.detail = why;
          RecordHubEvent(store, event);
        };
        return options;
      }()) {}

HttpResponse HubEndpoint::Handle(std::string_view op,
                                 const HttpRequest& request) {
  const std::string authorization = request.Header("Authorization");
  sync::SyncReply reply = service_.Handle(sync::SyncRequest{
      op, request.body, authorization, request.remote_address});
  HttpResponse response;
  response.status = reply.status;
  response.content_type = reply.content_type;
  response.body = std::move(reply.body);
  return response;
}

}  // namespace posta::node
