// The `posta` subcommands as plain functions: options in, Status out. cli.cc
// parses argv into these options and maps the Status to an exit code; tests
// call the functions directly with a TempDir.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "posta/base/clock.h"
#include "posta/base/env.h"
#include "posta/base/status.h"
#include "posta/storage/record_store.h"

namespace posta::node::cli {

// Where a command writes and what it reads the time from.
struct Io {
  std::ostream& out;        // results: summaries, JSON, the serve URL
  std::ostream& err;        // progress display
  bool err_is_tty = false;  // draw a progress bar instead of progress lines
  base::Clock& clock = base::SystemClock();
  base::Env& env = base::Env::Default();
};

// The "why" of NotFound(<database path>, kNoDatabase); RunCli turns it into
// a hint to run `posta init`.
inline constexpr std::string_view kNoDatabase =
    "no database (create one with posta init)";

// ---- Helpers shared by the commands (cmd_util.cc) ----

// LoadConfig, then (when `apply_log_level`) the config's [log] level.
Result<NodeConfig> LoadNodeConfig(const std::string& path, bool apply_log_level,
                                  base::Env& env);

// Opens the database named by `config`: NotFound(path, kNoDatabase) when it
// does not exist; the facility must match the one stored. `cache_bytes`
// (when not 0) sizes the page cache (StoreOptions::cache_bytes).
Result<std::unique_ptr<storage::RecordStore>> OpenStore(
    const NodeConfig& config, bool read_only, base::Env& env,
    size_t cache_bytes = 0);

// A node's config and its open database: what most commands start with.
struct OpenedNode {
  NodeConfig config;
  std::unique_ptr<storage::RecordStore> store;
};

// LoadNodeConfig, then OpenStore.
Result<OpenedNode> OpenNode(const std::string& config_path,
                            bool apply_log_level, bool read_only,
                            base::Env& env);

// Writes a file as a stream: into "<path>.partial", then fsync and rename
// over `path` on Commit. Destroying it uncommitted removes the partial file.
// With path "-" it writes to `stdout_stream` instead, unbuffered by us.
class OutputFile {
 public:
  static Result<std::unique_ptr<OutputFile>> Open(const std::string& path,
                                                  std::ostream& stdout_stream);
  virtual ~OutputFile() = default;
  virtual Status Write(std::string_view data) = 0;
  virtual Status Commit() = 0;
};

// Who the audit trail names for changes made from the command line:
// "cli:<os user>" (the effective user).
storage::AuditActor CliActor();

// Characters (not bytes) of UTF-8 text.
size_t DisplayWidth(std::string_view text);
// At most `width` characters, the last one "…" when cut; never splits a
// UTF-8 character.
std::string Shorten(std::string_view text, size_t width);
// `text` padded with spaces to `width` characters.
std::string PadRight(std::string text, size_t width);
// Rows as aligned columns, two spaces apart; the first row is the header.
void PrintColumns(std::ostream& out,
                  const std::vector<std::vector<std::string>>& rows);

// "3 minutes ago", "2 days ago", "just now", "in the future".
std::string FormatAgo(int64_t then_ms, int64_t now_ms);

// ---- posta init ----
struct InitOptions {
  std::string dir;
  std::string role = "clinic";
  std::string facility;
  std::string listen = "127.0.0.1:8080";
  std::string hub_url;  // clinics: the hub to sync with
  bool force = false;   // rewrite an existing posta.toml (never a database)
  // Instead of all of the above: a config that already exists (a package's
  // /etc/posta/posta.toml, edited by hand). Its data_dir is created and its
  // database made with its role and facility; the file is not written.
  std::string config_path;
};
Status RunInit(const InitOptions& options, Io& io);

// ---- posta serve ----
struct ServeOptions {
  std::string config_path;
  std::string port_file;  // written with the bound port once listening
  bool apply_config_log_level = true;
};
// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread
// it starts) and returns after the first one, once in-flight requests have
// finished; a second signal exits the process at once.
Status RunServe(const ServeOptions& options, Io& io);

// ---- posta status ----
struct StatusOptions {
  std::string config_path;
  bool json = false;
  bool apply_config_log_level = true;
};
Status RunStatus(const StatusOptions& options, Io& io);

// ---- posta import ----
struct ImportSettings {
  // Writes per transaction. Larger batches mean fewer commits and WAL
  // checkpoints (5000: about 10% faster than 2000), at the cost of API
  // writes waiting longer behind each one.
  size_t batch_size = 5000;
  size_t max_line_bytes = 1 << 20;    // longer lines are rejected
  bool dry_run = false;               // validate only; store is not used
  size_t max_listed_rejections = 50;  // kept in ImportSummary
  // Who each created or updated record's audit entry names (RunImport:
  // CliActor()); empty: unattributed.
  storage::AuditActor actor;
};

struct LineRejection {
  int64_t line = 0;
  std::string reason;  // the Status message
};

struct ImportSummary {
  int64_t bytes = 0;  // bytes consumed from the input
  int64_t read = 0;   // non-blank lines
  int64_t created = 0;
  int64_t updated = 0;    // including revived deleted records
  int64_t unchanged = 0;  // content equal to what was stored
  int64_t valid = 0;      // dry run: lines that passed validation
  int64_t rejected = 0;
  std::vector<LineRejection> first_rejections;  // at most max_listed
};

// Called every 100 lines and at the end with the bytes consumed and the
// records read.
using ImportProgressFn = std::function<void(int64_t bytes, int64_t records)>;
// Called for every rejected line (for --report).
using RejectionFn = std::function<void(const LineRejection&)>;

// Reads NDJSON (one FHIR resource per line; blank lines skipped) and writes
// it to `store` in transactions of settings.batch_size: a line with an "id"
// is an upsert, one without is a create. A bad line is rejected alone;
// every other line is kept. The Result is an error only when a transaction
// failed or the input could not be read; earlier batches stay committed and
// later ones are not written. Each batch is written on a thread of its own
// while the next is parsed (RecordStore::PrepareWrites). `store` may be
// null when settings.dry_run.
Result<ImportSummary> ImportNdjson(storage::RecordStore* store,
                                   std::istream& in,
                                   const ImportSettings& settings,
                                   const ImportProgressFn& progress = {},
                                   const RejectionFn& on_rejection = {});

struct ImportOptions {
  std::string config_path;
  std::string input_path;   // "-" for stdin
  std::string report_path;  // every rejected line as NDJSON, when set
  ImportSettings settings;
  bool apply_config_log_level = true;
};
// Prints the summary; InvalidArgument when any line was rejected.
Status RunImport(const ImportOptions& options, std::istream& stdin_stream,
                 Io& io);

// ---- posta export ----
struct ExportSummary {
  int64_t records = 0;
  int64_t bytes = 0;
};
// Writes every live record of `types`, in that order, one RenderResource
// line each. `progress(done, total)` after each page.
Result<ExportSummary> ExportNdjson(
    storage::RecordStore& store, std::span<const storage::ResourceType> types,
    const std::function<Status(std::string_view)>& write,
    const storage::ProgressFn& progress = {});

struct ExportOptions {
  std::string config_path;
  std::string out_path = "-";
  std::string type;  // one resource type name; empty for all
  bool apply_config_log_level = true;
};
Status RunExport(const ExportOptions& options, Io& io);

// ---- posta backup ----
struct BackupOptions {
  std::string config_path;
  std::string dest;
  bool apply_config_log_level = true;
};
Status RunBackup(const BackupOptions& options, Io& io);

// ---- posta restore ----
struct RestoreOptions {
  std::string config_path;
  std::string file;  // a backup (posta backup, or a scheduled one)
  // Accept a backup of another node or facility (a box that replaces
  // that node).
  bool force_other_node = false;
  bool apply_config_log_level = true;
};
// Refuses (Conflict) while `posta serve` runs on the data directory;
// refuses a file that is not a posta database (Malformed), fails
// integrity_check (Corruption), has a newer schema (VersionMismatch), or
// belongs to another role, facility or node (PermissionDenied, unless
// force_other_node). The replaced database is kept as
// posta.db.before-restore-<time> in data_dir.
Status RunRestore(const RestoreOptions& options, Io& io);

// ---- posta doctor ----
struct DoctorOptions {
  std::string config_path;
  // The command asked for the service's state; tests point it at a script.
  std::string systemctl = "systemctl";
  // A sync older than this fails the check. Default: 24 h.
  std::chrono::milliseconds max_sync_age{24 * 3600 * 1000};
  // The hub's clock may differ from ours by this much. Default: 5 min.
  std::chrono::milliseconds max_hub_clock_offset{5 * 60 * 1000};
  bool apply_config_log_level = true;
};
// Checks the node and prints one line per check: its verdict (ok, FAIL or
// skip, for a check that does not apply here), what it found, and what to
// do. Ok only when no check failed; otherwise PreconditionFailed with the
// number of failed checks.
Status RunDoctor(const DoctorOptions& options, Io& io);

// ---- posta version ----
std::string VersionText();
Status RunVersion(Io& io);

// ---- posta demo ----
struct DemoSeedOptions {
  std::string config_path;
  size_t patients = 100;
  uint64_t seed = 1;
  std::string as_of;  // "YYYY-MM-DD"; empty for today
  size_t batch_size = 2000;
  bool apply_config_log_level = true;
};
Status RunDemoSeed(const DemoSeedOptions& options, Io& io);

struct DemoGenerateOptions {
  size_t patients = 100;
  uint64_t seed = 1;
  std::string as_of;
  std::string out_path = "-";
};
Status RunDemoGenerate(const DemoGenerateOptions& options, Io& io);

// Writes DemoFacilityLocation(f) for each facility (upserts: running it again
// changes nothing). On a hub the Locations are shared with every clinic.
struct DemoLocationsOptions {
  std::string config_path;
  std::vector<std::string> facilities;  // each a valid facility id
  bool apply_config_log_level = true;
};
Status RunDemoLocations(const DemoLocationsOptions& options, Io& io);

// ---- posta conflicts ----
// Conflicts are values that lost a merge to a concurrent write during sync
// (storage/replication.h). An ID argument is the full 32-hex conflict id
// or a unique prefix of at least kMinConflictPrefix characters.
inline constexpr size_t kMinConflictPrefix = 6;

struct ConflictsListOptions {
  std::string config_path;
  bool all = false;   // resolved ones too; default: open only
  bool json = false;  // one JSON object per line (as GET /conflicts/{id})
  bool apply_config_log_level = true;
};
// Newest first; prints "no open conflicts" (or "no conflicts") when none.
Status RunConflictsList(const ConflictsListOptions& options, Io& io);

struct ConflictsShowOptions {
  std::string config_path;
  std::string id;
  bool json = false;
  bool apply_config_log_level = true;
};
// NotFound when no conflict has the id; InvalidArgument when a prefix
// matches several.
Status RunConflictsShow(const ConflictsShowOptions& options, Io& io);

struct ConflictsResolveOptions {
  std::string config_path;
  std::string id;
  // Exactly one of the three: keep "winner" or "loser", write `value` (a
  // JSON text; "null" removes the field), or remove the field.
  std::string keep;
  std::string value;
  bool remove = false;
  std::string by;  // who decided; at most 200 bytes
  bool apply_config_log_level = true;
};
// Opens the store read-write (beside a running `posta serve`) and prints
// the resolved conflict. Conflict when it was already resolved,
// InvalidArgument when the chosen value does not make a valid record.
Status RunConflictsResolve(const ConflictsResolveOptions& options, Io& io);

struct TransferOptions {
  std::string config_path;
  std::string record;  // "Patient/<id>" or "<id>"
  std::string to;      // the facility that takes it over
  bool json = false;   // the Parameters resource the API answers
  bool apply_config_log_level = true;
};
// Opens the store read-write (beside a running `posta serve`), moves the
// patient and its compartment to `to` and prints what moved. The store's
// refusals (RecordStore::Transfer) come back as they are.
Status RunTransfer(const TransferOptions& options, Io& io);

// ---- posta enroll (a clinic) ----
struct EnrollOptions {
  std::string config_path;
  std::string hub_url;  // when set: the hub to enroll with, kept in the config
  std::string code;     // the one-time code from the hub's administrator
  // For an https hub: kept in the config as [sync] hub_ca_file / hub_pin.
  std::string ca_file;
  std::string pin;
  bool apply_config_log_level = true;
};
// Sends the code and this node's id (and facility) to the hub; on success
// writes the credential to data_dir/credential (mode 0600, replacing an
// older one) and records --hub/--ca-file/--pin in the config. PermissionDenied
// with the hub's message when it refuses; InvalidArgument on a hub node.
Status RunEnroll(const EnrollOptions& options, Io& io);

// ---- posta hub ... (a hub's administration) ----
// Each opens the hub's database beside a running `posta serve` and refuses
// a clinic's config (InvalidArgument naming the role).

struct HubFacilityAddOptions {
  std::string config_path;
  std::string id;
  std::string name;
  std::string region;
  bool apply_config_log_level = true;
};
// Conflict when the facility exists.
Status RunHubFacilityAdd(const HubFacilityAddOptions& options, Io& io);

struct HubListOptions {
  std::string config_path;
  bool json = false;  // one JSON object per line instead of a table
  bool apply_config_log_level = true;
};
Status RunHubFacilityList(const HubListOptions& options, Io& io);
// Enrolled nodes: facility, enrolled, last seen (and from where), revoked,
// flagged.
Status RunHubNodeList(const HubListOptions& options, Io& io);

// Longest an enrollment code may stay valid.
inline constexpr std::chrono::hours kMaxEnrollCodeLife{24 * 30};

struct HubEnrollCodeOptions {
  std::string config_path;
  std::string facility;
  // Set for a code that enrolls a hub (a district hub syncing upstream to
  // this one): its scope is `facility` and every facility registered here
  // with this region. Empty for a clinic's code.
  std::string region;
  std::string expires = "48h";  // "<n>m", "<n>h" or "<n>d"
  bool apply_config_log_level = true;
};
// Prints the new code (shown this once) and when it expires. NotFound for
// an unknown facility; InvalidArgument for an expiry that does not parse
// or passes kMaxEnrollCodeLife.
Status RunHubEnrollCode(const HubEnrollCodeOptions& options, Io& io);

// "30m", "48h", "7d" → a duration; InvalidArgument naming the text.
Result<std::chrono::milliseconds> ParseExpiry(std::string_view text);

struct HubNodeRevokeOptions {
  std::string config_path;
  std::string node_id;
  bool apply_config_log_level = true;
};
// NotFound for a node that never enrolled. The node's next sync gets 401
// revoked; what it synced stays.
Status RunHubNodeRevoke(const HubNodeRevokeOptions& options, Io& io);

// ---- posta hub tls init (tls_cmd.cc) ----
struct HubTlsInitOptions {
  std::string config_path;
  std::vector<std::string> names;  // DNS names clinics may type
  std::vector<std::string> ips;    // IP addresses clinics may type
  bool force = false;              // replace an existing certificate
};
// Makes an EC P-256 key and a self-signed certificate (10 years, CN = the
// facility, subjectAltName = the listen address unless 0.0.0.0/::, and
// --ip/--name), writes them to data_dir/hub-key.pem (0600) and
// hub-cert.pem, sets [http] tls_cert/tls_key, and prints the pin, the
// fingerprint and the `posta enroll ... --pin` line. Conflict when a
// certificate is configured or the files exist, unless `force`.
Status RunHubTlsInit(const HubTlsInitOptions& options, Io& io);

}  // namespace posta::node::cli
