// posta sync: shakes hands with the hub, pushes, pulls, and prints what
// moved. Retries a dropped link with backoff; every completed batch stays
// done, so a retry resumes.
#include "cli/sync_cmd.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "cli/progress.h"
#include "posta/base/random.h"
#include "posta/sync/backoff.h"
#include "posta/sync/sync_client.h"
#include "posta/sync/wire.h"
#include "syncd/sync_runner.h"

namespace posta::node::cli {
namespace {

// "sync: pushed 1200 (340 KiB sent), pulled 80 (21 KiB received)"
std::string Describe(const sync::SyncProgress& p) {
  return "sync " + p.phase + ": pushed " + std::to_string(p.pushed) + " (" +
         FormatBytes(static_cast<int64_t>(p.bytes_sent)) + " sent), pulled " +
         std::to_string(p.pulled) + " (" +
         FormatBytes(static_cast<int64_t>(p.bytes_received)) + " received)";
}

Status Dump(const std::string& path, Io& io) {
  POSTA_ASSIGN_OR_RETURN(std::string bytes,
                         io.env.ReadFile(path, size_t{64} << 20));
  POSTA_ASSIGN_OR_RETURN(std::string json, sync::DumpJson(bytes));
  io.out << json << "\n";
  return Status::Ok();
}

}  // namespace

Status RunSync(const SyncCmdOptions& options, Io& io) {
  if (!options.dump_path.empty()) return Dump(options.dump_path, io);
  POSTA_ASSIGN_OR_RETURN(
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));
  if (config.hub_url.empty()) {
    return Status::InvalidArgument(
        config.source_path + ": sync." + std::string(HubUrlKey(config)),
        config.role == "hub" ? "this hub has no hub above it (clinics sync "
                               "to it); a district hub names its upstream "
                               "hub here"
                             : "no hub configured; set [sync] hub_url");
  }
  // A one-off sync keeps its memory small: a modest page cache, pulled
  // batches of 1 MiB (the pull of a whole facility streams through them),
  // and two malloc arenas. Pushed batches may grow to 4 MiB: the hub holds
  // them, and each is one durable commit there (measured, a push of 99,409
  // records took 3.73-3.80 s in 4 MiB batches, 4.13-4.38 s in 1 MiB). Its
  // threads (the next pulled batch is decoded and checked on the side
  // while one is stored) would otherwise each take an arena, and what one
  // thread frees of another's allocations stays in the other's arena:
  // measured, a pull of 99,409 records peaked at 42-46 MB with the default
  // arenas, 35-36 MB with two, and ran as fast.
  ::mallopt(M_ARENA_MAX, 2);
  POSTA_ASSIGN_OR_RETURN(auto store,
                         OpenStore(config, /*read_only=*/false, io.env,
                                   /*cache_bytes=*/size_t{4} << 20));
  POSTA_ASSIGN_OR_RETURN(auto transport,
                         sync::NewHttpTransport(TransportOptionsFor(config)));
  POSTA_ASSIGN_OR_RETURN(std::string credential,
                         LoadCredential(config, io.env));
  POSTA_RETURN_IF_ERROR(transport->SetBearerToken(credential));
  // A second connection sends the next pushed batch while the hub applies
  // the one before.
  POSTA_ASSIGN_OR_RETURN(auto second,
                         sync::NewHttpTransport(TransportOptionsFor(config)));
  POSTA_RETURN_IF_ERROR(second->SetBearerToken(credential));
  sync::SyncOptions sync_options;
  sync_options.max_clock_skew = config.max_clock_skew;
  sync_options.software = POSTA_VERSION;
  sync_options.max_pull_batch_bytes = size_t{1} << 20;
  sync::SyncClient client(*store, *transport, io.clock, sync_options);
  client.SetSecondTransport(second.get());

  // Lines (not a terminal) start after a quiet first interval.
  auto last_draw = io.err_is_tty
                       ? io.clock.MonotonicNow() - std::chrono::hours(1)
                       : io.clock.MonotonicNow();
  bool drawn = false;
  // Whether the attempt under way has moved anything: an attempt a reset
  // cut after some batches got through starts the backoff again from its
  // first delay, so a link that drops every minute is retried at once
  // rather than after ever longer waits.
  bool moved = false;
  auto show = [&](const sync::SyncProgress& p) {
    if (p.moved()) moved = true;
    const auto now = io.clock.MonotonicNow();
    const auto interval = io.err_is_tty ? std::chrono::milliseconds(100)
                                        : std::chrono::milliseconds(10000);
    if (p.phase != "done" && now - last_draw < interval) return;
    last_draw = now;
    if (io.err_is_tty) {
      io.err << "\r\033[K" << Describe(p) << std::flush;
      drawn = true;
    } else if (p.phase != "done") {
      io.err << Describe(p) << "\n";
    }
  };

  base::Random random;
  sync::Backoff backoff(sync::BackoffPolicy{std::chrono::seconds(2),
                                            std::chrono::seconds(60), 2.0,
                                            0.5},
                        random);
  sync::SyncResult total;
  Status last;
  for (int attempt = 1; attempt <= std::max(1, options.attempts); ++attempt) {
    moved = false;
    Result<sync::SyncResult> result = client.SyncOnce(show);
    if (drawn) {
      io.err << "\n";
      drawn = false;
    }
    RecordSyncOutcome(config, result.status(), io.env);
    if (result.ok()) {
      total.pushed += result->pushed;
      total.pulled += result->pulled;
      total.conflicts += result->conflicts;
      total.bytes_sent += result->bytes_sent;
      total.bytes_received += result->bytes_received;
      io.out << "synced with hub " << result->hub_node_id << " ("
             << config.hub_url << "): pushed " << total.pushed
             << " records, pulled " << total.pulled << ", "
             << total.conflicts << " new conflicts; "
             << FormatBytes(static_cast<int64_t>(total.bytes_sent))
             << " sent, "
             << FormatBytes(static_cast<int64_t>(total.bytes_received))
             << " received; caught up\n";
      if (std::abs(result->clock_offset_ms) > 5 * 60 * 1000) {
        io.out << "warning: this box's clock is "
               << std::abs(result->clock_offset_ms) / 60000 << " minutes "
               << (result->clock_offset_ms > 0 ? "behind" : "ahead of")
               << " the hub's; set the date and time\n";
      }
      if (result->audit_broken_seq != 0) {
        io.out << "warning: the hub found this box's audit trail broken at "
                  "entry "
               << result->audit_broken_seq
               << " (changed outside posta); run posta audit verify\n";
      }
      return Status::Ok();
    }
    last = result.status();
    if (last.code() != Status::Code::kUnavailable ||
        attempt == options.attempts) {
      break;
    }
    if (moved) backoff.Reset();
    const auto wait = backoff.Next();
    io.err << "sync: attempt " << attempt << " failed (" << last.ToString()
           << "); retrying in " << (wait.count() + 999) / 1000 << " s\n";
    std::this_thread::sleep_for(wait);
  }
  return last.WithContext("sync with " + config.hub_url);
}

}  // namespace posta::node::cli
