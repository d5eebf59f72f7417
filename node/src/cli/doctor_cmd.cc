// posta doctor: checks a node and says, line by line, what is wrong and what
// to do about it. Read-only: it may run beside `posta serve`.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include "care/backups.h"
#include "cli/commands.h"
#include "posta/storage/record.h"
#include "posta/sync/http_transport.h"
#include "posta/sync/messages.h"
#include "posta/sync/sync_client.h"
#include "syncd/sync_runner.h"

namespace posta::node::cli {

namespace {

enum class Verdict { kOk, kFail, kSkip };

struct Check {
  std::string name;
  Verdict verdict = Verdict::kSkip;
  std::string found;  // what the check saw
  std::string todo;   // what to do; empty when nothing
};

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::string Octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// Runs `command` through the shell; its stdout (trimmed) and exit code.
struct CommandOutput {
  int exit_code = -1;
  std::string out;
};
CommandOutput RunCommand(const std::string& command) {
  CommandOutput result;
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
    if (result.out.size() < 4096) result.out += buf;
  }
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!result.out.empty() &&
         (result.out.back() == '\n' || result.out.back() == ' ')) {
    result.out.pop_back();
  }
  return result;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// True when `program` names an executable file, directly or on PATH.
bool ProgramExists(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return ::access(program.c_str(), X_OK) == 0;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

Check SystemdCheck(const std::string& systemctl) {
  Check c{"systemd unit"};
  // A dev box or a container: posta runs by hand, which is not a fault.
  if (!ProgramExists(systemctl)) {
    c.found = "not installed as a service (no systemctl on this machine)";
    return c;
  }
  const std::string quoted = ShellQuote(systemctl);
  CommandOutput load =
      RunCommand(quoted + " show -p LoadState --value posta.service");
  if (load.exit_code != 0 || load.out.empty()) {
    c.found = "not installed as a service (systemd is not running here)";
    return c;
  }
  if (load.out == "not-found") {
    c.found = "not installed as a service (no posta.service unit)";
    return c;
  }
  CommandOutput active = RunCommand(quoted + " is-active posta.service");
  if (active.out == "active") {
    c.verdict = Verdict::kOk;
    c.found = "posta.service is active";
    return c;
  }
  c.verdict = Verdict::kFail;
  c.found = "posta.service is " + (active.out.empty() ? "unknown" : active.out);
  c.todo =
      "sudo systemctl start posta; see why it stopped with journalctl "
      "-u posta";
  return c;
}

}  // namespace

Status RunDoctor(const DoctorOptions& options, Io& io) {
  std::vector<Check> checks;
  const int64_t now = io.clock.WallNowMillis();

  // ---- config ----
  Result<NodeConfig> loaded = LoadNodeConfig(
      options.config_path, options.apply_config_log_level, io.env);
  {
    Check c{"config"};
    if (loaded.ok()) {
      c.verdict = Verdict::kOk;
      c.found = loaded->source_path + ": " + loaded->role + " of facility " +
                loaded->facility + ", data in " + loaded->data_dir;
    } else {
      c.verdict = Verdict::kFail;
      c.found = loaded.status().ToString();
      c.todo =
          "fix the named key (every key is described in the file posta "
          "init writes, and in docs/cli.md)";
    }
    checks.push_back(std::move(c));
  }
  const std::vector<std::string> rest = {
      "data directory", "database",      "free disk",
      "clock",          "hub reachable", "TLS pin",
      "credential",     "last sync",     "last backup"};
  if (!loaded.ok()) {
    for (const std::string& name : rest) {
      checks.push_back({name, Verdict::kSkip,
                        "not checked without a valid "
                        "config",
                        ""});
    }
    checks.push_back(SystemdCheck(options.systemctl));
  } else {
    const NodeConfig& config = *loaded;
    const std::string config_arg = "--config " + config.source_path;

    // ---- data directory ----
    {
      Check c{"data directory"};
      struct stat st;
      if (::stat(config.data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        c.verdict = Verdict::kFail;
        c.found = config.data_dir + " is missing or not a directory";
        c.todo = "create the node with posta init, or fix [node] data_dir";
      } else if (::access(config.data_dir.c_str(), R_OK | W_OK | X_OK) != 0) {
        c.verdict = Verdict::kFail;
        c.found = config.data_dir + " (mode " + Octal(st.st_mode) +
                  ", owner uid " + std::to_string(st.st_uid) +
                  ") cannot be read and written by this user (uid " +
                  std::to_string(::getuid()) + ")";
        c.todo =
            "run as the user that owns it (usually posta), or chown -R "
            "posta: " +
            config.data_dir;
      } else if ((st.st_mode & 0007) != 0) {
        c.verdict = Verdict::kFail;
        c.found = config.data_dir +
                  " is open to every user of this machine "
                  "(mode " +
                  Octal(st.st_mode) + "); it holds patient records";
        c.todo = "chmod 750 " + config.data_dir;
      } else {
        c.verdict = Verdict::kOk;
        c.found = config.data_dir + " (mode " + Octal(st.st_mode) + ")";
      }
      checks.push_back(std::move(c));
    }

    // ---- database ----
    std::unique_ptr<storage::RecordStore> store;
    {
      Check c{"database"};
      Result<std::unique_ptr<storage::RecordStore>> opened =
          OpenStore(config, /*read_only=*/true, io.env);
      Status status =
          opened.ok() ? (*opened)->CheckIntegrity() : opened.status();
      Result<storage::StoreStats> stats =
          status.ok() ? (*opened)->Stats()
                      : Result<storage::StoreStats>(status);
      if (stats.ok()) {
        c.verdict = Verdict::kOk;
        c.found = config.DatabasePath() + ": integrity ok, schema version " +
                  std::to_string(stats->schema_version) + ", " +
                  Mib(static_cast<uint64_t>(stats->database_bytes)) +
                  ", node " + stats->node_id;
        store = std::move(opened).value();
      } else {
        const Status& s = stats.status();
        c.verdict = Verdict::kFail;
        c.found = s.ToString();
        switch (s.code()) {
          case Status::Code::kNotFound:
            c.todo =
                "create it with posta init, or restore a backup: posta "
                "restore " +
                config_arg + " FILE";
            break;
          case Status::Code::kVersionMismatch:
            c.todo =
                "a newer posta wrote this database: install that "
                "version (or newer) again";
            break;
          case Status::Code::kCorruption:
            c.todo =
                "stop the node and restore the newest backup: posta "
                "restore " +
                config_arg + " " + config.BackupDir() + "/<newest>";
            break;
          default:
            c.todo =
                "check the data directory's owner and mode, then run "
                "posta doctor again";
        }
      }
      checks.push_back(std::move(c));
    }

    // ---- free disk ----
    {
      Check c{"free disk"};
      Result<uint64_t> free = io.env.FreeBytes(config.data_dir);
      if (!free.ok()) {
        c.verdict = Verdict::kFail;
        c.found = "cannot read free space: " + free.status().ToString();
        c.todo = "check that " + config.data_dir + " exists";
      } else if (*free < config.min_free_bytes) {
        c.verdict = Verdict::kFail;
        c.found = Mib(*free) + " free, below the floor of " +
                  Mib(config.min_free_bytes) +
                  " ([storage] min_free_mb): the node refuses new writes";
        c.todo = "free space on that disk (old logs, old backups in " +
                 config.BackupDir() +
                 "), or move [backup] dir to another "
                 "disk";
      } else {
        c.verdict = Verdict::kOk;
        c.found =
            Mib(*free) + " free (floor " + Mib(config.min_free_bytes) + ")";
      }
      checks.push_back(std::move(c));
    }

    // ---- the hub: one handshake answers reachability, the pin, the
    // credential and the hub's clock ----
    const bool is_hub = config.role == "hub";
    // A hub with a hub above it (a district hub) checks its upstream link
    // as a clinic checks its hub.
    const bool syncs = !config.hub_url.empty();
    std::optional<Result<sync::HelloReply>> hello;
    int64_t hello_sent_ms = 0;
    Result<std::string> credential = std::string();
    if (syncs) {
      credential = LoadCredential(config, io.env);
      Result<std::unique_ptr<sync::Transport>> transport =
          sync::NewHttpTransport(TransportOptionsFor(config));
      if (!transport.ok()) {
        hello = Result<sync::HelloReply>(transport.status());
      } else {
        if (credential.ok() && !credential->empty()) {
          (void)(*transport)->SetBearerToken(*credential);
        }
        sync::Hello h;
        h.node_id = store ? store->node_id() : std::string("unknown");
        h.facility = config.facility;
        h.role = std::string(is_hub ? sync::kRoleHub : sync::kRoleClinic);
        hello_sent_ms = io.clock.WallNowMillis();
        h.clock_ms = hello_sent_ms;
        h.software = POSTA_VERSION;
        hello = sync::SayHello(**transport, h);
      }
    }
    const std::string hub_refused = "hub refused (";
    auto refused_by_hub = [&](const Status& s) {
      return s.message().find(hub_refused) != std::string::npos;
    };
    // The hub refuses a hello stamped too far ahead of its clock: that is
    // this clock's fault, not the credential's.
    const bool clock_refused =
        hello && !hello->ok() &&
        hello->status().message().find("clock_skew") != std::string::npos;
    const bool tls_failed =
        hello && !hello->ok() &&
        hello->status().code() == Status::Code::kPermissionDenied &&
        !refused_by_hub(hello->status());

    // ---- clock ----
    {
      Check c{"clock"};
      c.verdict = Verdict::kOk;
      c.found = "now " + storage::FormatInstant(now);
      if (store) {
        // A minute of slack: a stamp folded in from a hub whose clock is a
        // little ahead is not this machine's fault.
        const int64_t last = store->last_stamp_at_open_ms();
        if (last > now + 60 * 1000) {
          c.verdict = Verdict::kFail;
          c.found += ", behind the last stamp this node stored (" +
                     storage::FormatInstant(last) + ")";
          c.todo =
              "set the date (timedatectl set-ntp true, or date -s); "
              "until then versions are carried forward from the stored "
              "clock";
        }
      }
      if (clock_refused && c.verdict == Verdict::kOk) {
        c.verdict = Verdict::kFail;
        c.found += "; " + hello->status().ToString();
        c.todo = "set the date (timedatectl set-ntp true, or date -s)";
      }
      if (hello && hello->ok() && c.verdict == Verdict::kOk) {
        const int64_t offset = (*hello)->clock_ms - hello_sent_ms;
        const int64_t away = offset < 0 ? -offset : offset;
        if (away > options.max_hub_clock_offset.count()) {
          c.verdict = Verdict::kFail;
          c.found += ", " + std::to_string(away / 1000) + " s " +
                     (offset > 0 ? "behind" : "ahead of") + " the hub's";
          c.todo =
              "set the date (timedatectl set-ntp true, or date -s); a "
              "clock far ahead makes this node's edits lose merges";
        } else {
          c.found +=
              ", within " + std::to_string(away / 1000 + 1) + " s of the hub's";
        }
      }
      checks.push_back(std::move(c));
    }

    // ---- hub reachable ----
    const std::string link_key = "[sync] " + std::string(HubUrlKey(config));
    const std::string not_syncing =
        is_hub ? "this node is the top hub (no " + link_key + ")"
               : "no " + link_key + ": this clinic does not sync";
    {
      Check c{"hub reachable"};
      if (!syncs) {
        c.found = not_syncing;
      } else if (hello->ok() || refused_by_hub(hello->status()) || tls_failed) {
        c.verdict = Verdict::kOk;
        c.found = config.hub_url + " answered";
        if (hello->ok()) c.found += " (hub node " + (*hello)->node_id + ")";
      } else {
        c.verdict = Verdict::kFail;
        c.found = hello->status().ToString();
        c.todo =
            "check the link and the hub (is posta serve running there?), "
            "and " +
            link_key + " and proxy";
      }
      checks.push_back(std::move(c));
    }

    // ---- TLS pin ----
    {
      Check c{"TLS pin"};
      if (!syncs) {
        c.found = not_syncing;
      } else if (config.hub_url.rfind("https://", 0) != 0) {
        c.found =
            "plain http hub (no TLS; only for one machine or a trusted "
            "link)";
      } else if (tls_failed) {
        c.verdict = Verdict::kFail;
        c.found = hello->status().ToString();
        c.todo =
            "compare [sync] hub_pin with the pin posta hub tls init "
            "printed on the hub; if the hub's key changed, enroll again "
            "with posta enroll --pin";
      } else if (config.hub_pin.empty()) {
        c.found = "no pin configured (the system's CAs vouch for the hub)";
      } else if (hello->ok() || refused_by_hub(hello->status())) {
        c.verdict = Verdict::kOk;
        c.found = "the hub's key matches [sync] hub_pin";
      } else {
        c.found = "not checked: the hub was not reached";
      }
      checks.push_back(std::move(c));
    }

    // ---- credential ----
    {
      Check c{"credential"};
      if (!syncs) {
        c.found = not_syncing;
      } else if (!credential.ok()) {
        c.verdict = Verdict::kFail;
        c.found = credential.status().ToString();
        c.todo = "enroll again: posta enroll " + config_arg +
                 " --code CODE (a code from the hub's administrator)";
      } else if (credential->empty()) {
        c.verdict = Verdict::kFail;
        c.found = "none in " + config.CredentialPath() + " (not enrolled)";
        c.todo = "enroll: posta enroll " + config_arg +
                 " --code CODE (posta hub enroll-code on the hub makes one)";
      } else if (hello->ok()) {
        c.verdict = Verdict::kOk;
        c.found = "accepted by the hub";
      } else if (clock_refused) {
        c.found =
            "present; not checked: the hub refused this clock (see clock)";
      } else if (refused_by_hub(hello->status())) {
        c.verdict = Verdict::kFail;
        c.found = hello->status().ToString();
        c.todo =
            "the hub does not accept this node's credential: ask its "
            "administrator for a new code and run posta enroll " +
            config_arg + " --code CODE";
      } else {
        c.found = "present; not checked: the hub was not reached";
      }
      checks.push_back(std::move(c));
    }

    // ---- last sync ----
    {
      Check c{"last sync"};
      if (!syncs) {
        c.found = not_syncing;
      } else if (!store) {
        c.found = "not checked without a readable database";
      } else {
        int64_t last = 0;
        Result<std::vector<storage::PeerState>> peers = store->ListPeers();
        if (peers.ok()) {
          for (const storage::PeerState& p : *peers) {
            if (p.role == sync::kRoleHub) last = std::max(last, p.last_sync_ms);
          }
        }
        if (last == 0) {
          c.verdict = Verdict::kFail;
          c.found = "never synced with the hub";
          c.todo = "run posta sync " + config_arg + " and read its error";
        } else if (now - last > options.max_sync_age.count()) {
          c.verdict = Verdict::kFail;
          c.found = "last sync " + FormatAgo(last, now) + " (" +
                    storage::FormatInstant(last) + ")";
          c.todo = "see the lines above and posta status; posta sync " +
                   config_arg + " shows the error";
        } else {
          c.verdict = Verdict::kOk;
          c.found = "last sync " + FormatAgo(last, now);
        }
      }
      checks.push_back(std::move(c));
    }

    // ---- last backup ----
    {
      Check c{"last backup"};
      const std::string dir = config.BackupDir();
      Result<std::vector<BackupFile>> backups = ListBackups(dir);
      const std::string take_one =
          "mkdir -p " + dir + " && posta backup " + config_arg + " " + dir +
          "/" + BackupFileName(now) + " (posta serve takes one at start)";
      if (!backups.ok()) {
        c.verdict = Verdict::kFail;
        c.found = backups.status().ToString();
        c.todo = "check that this user may read " + dir;
      } else if (config.backup_every.count() == 0 && backups->empty()) {
        c.found = "scheduled backups are off ([backup] every_h = 0)";
      } else if (backups->empty()) {
        c.verdict = Verdict::kFail;
        c.found = "no backup in " + dir;
        c.todo = take_one;
      } else {
        const BackupFile& newest = backups->front();
        const int64_t limit =
            2 * std::max<int64_t>(config.backup_every.count(), 3600000);
        if (now - newest.taken_ms > limit) {
          c.verdict = Verdict::kFail;
          c.found = "newest backup " + FormatAgo(newest.taken_ms, now) + ": " +
                    newest.path;
          c.todo =
              "is posta serve running? its log says why a backup "
              "failed; or now: " +
              take_one;
        } else {
          c.verdict = Verdict::kOk;
          c.found = "newest backup " + FormatAgo(newest.taken_ms, now) + " (" +
                    Mib(newest.bytes) + "): " + newest.path;
        }
      }
      checks.push_back(std::move(c));
    }

    checks.push_back(SystemdCheck(options.systemctl));
  }

  int failed = 0;
  int skipped = 0;
  for (const Check& c : checks) {
    const char* verdict = c.verdict == Verdict::kOk     ? "[ok]  "
                          : c.verdict == Verdict::kFail ? "[FAIL]"
                                                        : "[skip]";
    // SQLite's complaints span lines; a report keeps one line per check.
    std::string found = c.found;
    std::replace(found.begin(), found.end(), '\n', ' ');
    io.out << verdict << " " << c.name << ": " << found;
    if (!c.todo.empty()) io.out << "; to fix: " << c.todo;
    io.out << "\n";
    if (c.verdict == Verdict::kFail) ++failed;
    if (c.verdict == Verdict::kSkip) ++skipped;
  }
  io.out << checks.size()
         << " checks: " << checks.size() - static_cast<size_t>(failed + skipped)
         << " ok, " << failed << " failed, " << skipped
         << " not applicable here\n";
  if (failed > 0) {
    return Status::PreconditionFailed(
        "doctor", std::to_string(failed) + " check" + (failed == 1 ? "" : "s") +
                      " failed (see above)");
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
