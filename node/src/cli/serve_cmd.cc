// posta serve: the daemon. Opens the store, serves the local API, and stops
// on SIGTERM/SIGINT: the first lets in-flight requests finish, a second
// exits at once.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "api/api.h"
#include "api/metrics.h"
#include "care/backups.h"
#include "care/serve_lock.h"
#include "cli/commands.h"
#include "http/server.h"
#include "posta/storage/record.h"
#include "syncd/plain_sync_guard.h"
#include "syncd/sync_runner.h"

namespace posta::node::cli {

namespace {

// Waits for SIGTERM/SIGINT with sigwait on its own thread, so nothing runs
// in signal-handler context. REQUIRES: both signals are blocked in every
// thread (SignalWatcher::Block before any thread starts).
class SignalWatcher {
 public:
  static Status Block() {
    sigset_t set = Signals();
    int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
    if (err != 0)
      return Status::Internal("pthread_sigmask", std::strerror(err));
    return Status::Ok();
  }

  SignalWatcher() : thread_([this] { Run(); }) {}

  ~SignalWatcher() {
    stopping_ = true;
    // Wakes the sigwait below; with stopping_ set it is not a second signal.
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

  // Blocks until the first signal; returns its name.
  std::string WaitFirst() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !first_.empty(); });
    return first_;
  }

 private:
  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
  }

  void Run() {
    sigset_t set = Signals();
    int count = 0;
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (stopping_) return;
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (++count == 1) {
        std::lock_guard lock(mu_);
        first_ = name;
        cv_.notify_all();
        continue;
      }
      spdlog::warn("second {}: exiting now without waiting for requests", name);
      spdlog::default_logger()->flush();
      // Committed writes are durable in SQLite's WAL; nothing else is lost.
      _exit(1);
    }
  }

  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string first_;
  std::thread thread_;
};

}  // namespace

Status RunServe(const ServeOptions& options, Io& io) {
  // Before any other thread exists, so every thread inherits the mask and
  // only SignalWatcher ever sees the two signals.
  POSTA_RETURN_IF_ERROR(SignalWatcher::Block());

  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  // Held until this function returns; `posta restore` refuses while it is.
  POSTA_ASSIGN_OR_RETURN(std::unique_ptr<ServeLock> serve_lock,
                         ServeLock::Acquire(node.config.data_dir));
  spdlog::info("opened {} ({}, facility {}, node {})",
               node.config.DatabasePath(), node.config.role,
               node.store->facility(), node.store->node_id());
  if (node.store->wall_clock_was_behind()) {
    spdlog::warn(
        "this machine's clock ({}) is behind the last stored stamp ({}); "
        "versions are carried forward from the stored clock until the date "
        "is corrected (a board without a real-time clock? set the date or "
        "enable NTP)",
        storage::FormatInstant(node.store->wall_clock_at_open_ms()),
        storage::FormatInstant(node.store->last_stamp_at_open_ms()));
  }
  if (Status space = node.store->CheckWriteSpace(); !space.ok()) {
    spdlog::error("disk guard: {}", space.ToString());
  }

  Metrics metrics;
  ApiOptions api_options;
  api_options.role = node.config.role;
  api_options.version = POSTA_VERSION;
  api_options.data_dir = node.config.data_dir;
  POSTA_ASSIGN_OR_RETURN(api_options.auth.mode,
                         auth::ResolveAuthMode(node.config.auth,
                                               node.config.listen_address));
  api_options.fresh_after = std::chrono::hours(node.config.reports_fresh_h);
  api_options.late_after = std::chrono::hours(node.config.reports_late_h);
  api_options.auth.idle = node.config.session_idle;
  api_options.auth.absolute = node.config.session_max;
  if (api_options.auth.mode != auth::AuthMode::kOpen) {
    POSTA_ASSIGN_OR_RETURN(std::vector<storage::UserEntry> users,
                           node.store->ListUsers());
    spdlog::info("API logins: {} ({} users)",
                 auth::AuthModeName(api_options.auth.mode), users.size());
    if (users.empty()) {
      spdlog::warn(
          "no users yet: add one with posta user add --config {} NAME --role "
          "admin",
          node.config.source_path);
    }
  }
  // A hub answers sync; a node with a hub above it (a clinic, or a
  // district hub) syncs to it in the background.
  std::unique_ptr<HubEndpoint> hub;
  std::unique_ptr<SyncRunner> runner;
  if (node.config.role == "hub") {
    hub = std::make_unique<HubEndpoint>(*node.store, io.clock, node.config);
    api_options.sync = hub.get();
    api_options.hub_counters = [h = hub.get()] { return h->counters(); };
  }
  if (!node.config.hub_url.empty()) {
    runner = std::make_unique<SyncRunner>(node.config, *node.store, io.clock);
    api_options.sync_state = [r = runner.get()] { return r->state(); };
  }
  api_options.min_free_bytes = node.config.min_free_bytes;
  BackupScheduler backups(node.config, *node.store, io.clock, io.env);
  api_options.backup_state = [&backups] { return backups.state(); };
  Api api(*node.store, metrics, api_options, io.clock, io.env);

  ServerOptions server_options;
  server_options.address = node.config.listen_address;
  server_options.port = node.config.listen_port;
  server_options.max_body_bytes = node.config.max_body_bytes;
  server_options.max_header_bytes = node.config.max_header_bytes;
  server_options.read_timeout = node.config.read_timeout;
  server_options.idle_timeout = node.config.idle_timeout;
  server_options.max_connections = node.config.max_connections;
  server_options.worker_threads = node.config.worker_threads;
  server_options.tls_cert_file = node.config.tls_cert;
  server_options.tls_key_file = node.config.tls_key;
  const bool tls = !node.config.tls_cert.empty();
  const bool allow_plain = node.config.allow_plain_http;
  const bool is_hub = node.config.role == "hub";
  if (is_hub && !tls) {
    spdlog::warn(
        allow_plain
            ? "no TLS certificate: sync is served over plain HTTP to this "
              "machine only (allow_plain_http); run posta hub tls init"
            : "no TLS certificate: clinics' sync is refused; run posta hub "
              "tls init");
  }
  auto server = HttpServer::Start(
      server_options,
      [&api, &runner, tls, allow_plain, is_hub,
       store = node.store.get()](const HttpRequest& request) {
        if (is_hub) {
          if (auto refusal =
                  PlainSyncRefusal(tls, allow_plain, request, store)) {
            return *std::move(refusal);
          }
        }
        HttpResponse response = api.Handle(request);
        // A committed local write: sync it soon.
        if (runner && request.method != "GET" && response.status >= 200 &&
            response.status < 300) {
          runner->Poke();
        }
        return response;
      });
  if (!server.ok()) return server.status().WithContext("serve");

  const std::string url =
      std::string(tls ? "https://" : "http://") +
      FormatListenAddress(node.config.listen_address, (*server)->port());
  spdlog::info("listening on {}", url);
  if (!IsLoopbackHost(node.config.listen_address)) {
    spdlog::warn("the API listens on {}, beyond this machine", url);
  }
  if (!options.port_file.empty()) {
    Status written = io.env.WriteFileAtomic(
        options.port_file, std::to_string((*server)->port()) + "\n", 0644);
    if (!written.ok()) {
      (*server)->Shutdown(HttpServer::ShutdownMode::kNow);
      (*server)->Wait();
      return written.WithContext("--port-file");
    }
  }
  if (runner) {
    runner->Start();
    spdlog::info("syncing with {} every {} s and soon after writes",
                 node.config.hub_url, node.config.sync_interval.count() / 1000);
  }
  if (node.config.backup_every.count() > 0) {
    backups.Start();
    spdlog::info(
        "backing up into {} every {} h, keeping {}", node.config.BackupDir(),
        node.config.backup_every.count() / 3600000, node.config.backup_keep);
  }
  io.out << "posta " << POSTA_VERSION << " serving " << url
         << " (stop with Ctrl-C or SIGTERM)" << std::endl;

  {
    SignalWatcher watcher;
    std::string signal = watcher.WaitFirst();
    spdlog::info("{}: finishing in-flight requests (send it again to exit now)",
                 signal);
    (*server)->Shutdown(HttpServer::ShutdownMode::kGraceful);
    (*server)->Wait();
    server->reset();
    runner.reset();
  }
  spdlog::info("stopped cleanly");
  return Status::Ok();
}

}  // namespace posta::node::cli
