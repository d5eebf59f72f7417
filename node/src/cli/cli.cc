// The `posta` command line: CLI11 parsing, logging set-up, dispatch to one
// function per subcommand (commands.h), and the one place a Status becomes
// an exit code and a hint.
#include "posta/node/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/audit_cmd.h"
#include "cli/bundle_cmd.h"
#include "cli/cli_options.h"
#include "cli/commands.h"
#include "cli/logging.h"
#include "cli/sync_cmd.h"
#include "cli/user_cmd.h"

namespace posta::node {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

CLI::Validator FacilityId() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return IsValidFacilityId(s)
                   ? std::string()
                   : "must be 1 to 64 characters of A-Z a-z 0-9 . _ -";
      },
      "ID");
}

CLI::Validator Listen() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto parsed = ParseListenAddress(s, /*min_port=*/0);
        return parsed.ok() ? std::string() : parsed.status().message();
      },
      "IP:PORT");
}

// What to do next, for the failures where a next step is known.
std::string Hint(const Status& status, const std::string& command) {
  const std::string& m = status.message();
  switch (status.code()) {
    case Status::Code::kNotFound:
      if (m.find(cli::kNoDatabase) != std::string::npos) {
        std::string db = m.substr(0, m.find(": "));
        std::string dir = std::filesystem::path(db).parent_path().string();
        return "run `posta init --dir " + dir +
               " --role clinic --facility ID` first (`posta init --config "
               "FILE` for a config written beforehand), or fix [node] "
               "data_dir";
      }
      if (m.rfind("config", 0) == 0) {
        return "pass the file written by `posta init` (DIR/posta.toml)";
      }
      return {};
    case Status::Code::kVersionMismatch:
      return "this data was written by a newer posta; upgrade posta";
    case Status::Code::kIOError:
      if (m.find("in use") != std::string::npos) {
        return "another posta is running? stop it, or change [http] listen in "
               "the config";
      }
      return {};
    case Status::Code::kPermissionDenied:
      if (command == "transfer" && m.find("facility") != std::string::npos) {
        return "a patient is transferred on the hub, or at the clinic that "
               "owns it";
      }
      // The hub's refusals, TLS failures and refused sync bundles say what
      // to do themselves.
      if (m.find("hub refused") != std::string::npos ||
          m.find("TLS") != std::string::npos ||
          m.find("sync bundle") != std::string::npos) {
        return {};
      }
      return "run as the user that owns the data directory (usually posta)";
    case Status::Code::kNoSpace:
      return "free some disk space and run the command again";
    case Status::Code::kCorruption:
      if (command == "audit verify") {
        return "entries from that seq on were changed or removed outside "
               "posta; keep a copy of the database for investigation";
      }
      return "stop posta and restore the latest backup (see docs/cli.md)";
    case Status::Code::kConflict:
      if (command == "conflicts resolve") {
        return "see how it was resolved with `posta conflicts show`";
      }
      return {};
    case Status::Code::kMalformed:
    case Status::Code::kInvalidArgument:
      if (command == "conflicts resolve" && m.find("--") == std::string::npos &&
          m.find("prefix matches") == std::string::npos) {
        return "the value must make a valid record (the message names the "
               "field), or keep a side with --keep winner|loser";
      }
      if (command == "import" && m.find("rejected") != std::string::npos) {
        return "fix the rejected lines (listed above, all of them with "
               "--report FILE) and import those lines again";
      }
      return {};
    default:
      return {};
  }
}

int ReportFailure(const Status& status, const std::string& command) {
  std::cout.flush();
  std::cerr << "posta: " << status.message() << "\n";
  std::string hint = Hint(status, command);
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  return kExitFailure;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app(
      "posta: offline-first record store and sync daemon for "
      "clinics",
      "posta");
  app.set_version_flag("--version", cli::VersionText());
  std::string log_level = "info";
  CLI::Option* log_level_option =
      app.add_option("--log-level", log_level,
                     "Least severe messages logged to stderr (default: the "
                     "config's [log] level, else info)")
          ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.require_subcommand(1);
  app.fallthrough();

  cli::InitOptions init_opts;
  CLI::App* init = app.add_subcommand(
      "init", "Create a node: DIR/posta.toml and an empty database");
  CLI::Option* init_dir = init->add_option("--dir", init_opts.dir,
                                           "Directory to create (mode 0750)");
  CLI::Option* init_role =
      init->add_option("--role", init_opts.role, "clinic or hub")
          ->check(CLI::IsMember({"clinic", "hub"}))
          ->capture_default_str();
  CLI::Option* init_facility =
      init->add_option("--facility", init_opts.facility,
                       "This facility's id: 1-64 of A-Z a-z 0-9 . _ -")
          ->check(FacilityId());
  CLI::Option* init_listen =
      init->add_option("--listen", init_opts.listen, "Local API address")
          ->check(Listen())
          ->capture_default_str();
  CLI::Option* init_hub = init->add_option(
      "--hub", init_opts.hub_url,
      "The hub a clinic syncs with, e.g. http://10.0.0.5:8081");
  CLI::Option* init_force = init->add_flag(
      "--force", init_opts.force,
      "Rewrite an existing posta.toml (a database is never replaced)");
  init->add_option("--config", init_opts.config_path,
                   "Instead of --dir: a posta.toml that already exists "
                   "(e.g. the package's /etc/posta/posta.toml); creates its "
                   "data_dir and database")
      ->excludes(init_dir)
      ->excludes(init_facility)
      ->excludes(init_role)
      ->excludes(init_listen)
      ->excludes(init_hub)
      ->excludes(init_force);
  // --dir with --facility, or --config alone; usage errors (exit 2) either
  // way.
  init->parse_complete_callback([&init_opts] {
    if (init_opts.config_path.empty()) {
      if (init_opts.dir.empty()) {
        throw CLI::RequiredError("--dir (or --config FILE)");
      }
      if (init_opts.facility.empty()) throw CLI::RequiredError("--facility");
    }
  });

  cli::ServeOptions serve_opts;
  CLI::App* serve = app.add_subcommand("serve", "Run the node's HTTP API");
  cli::AddConfigOption(serve, serve_opts.config_path);
  serve->add_option("--port-file", serve_opts.port_file,
                    "Write the bound port to this file once listening");

  cli::StatusOptions status_opts;
  CLI::App* status = app.add_subcommand("status", "Show what the node holds");
  cli::AddConfigOption(status, status_opts.config_path);
  status->add_flag("--json", status_opts.json,
                   "One JSON object instead of text");

  cli::ImportOptions import_opts;
  CLI::App* import = app.add_subcommand(
      "import", "Import FHIR resources from NDJSON (one per line)");
  cli::AddConfigOption(import, import_opts.config_path);
  import
      ->add_option("--batch", import_opts.settings.batch_size,
                   "Lines per transaction")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  import->add_flag("--dry-run", import_opts.settings.dry_run,
                   "Validate every line; write nothing");
  import->add_option("--report", import_opts.report_path,
                     "Write every rejected line (line, reason) here as NDJSON");
  import
      ->add_option("FILE", import_opts.input_path,
                   "NDJSON file, or - for stdin")
      ->required();

  cli::ExportOptions export_opts;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Write every live record as NDJSON, Locations and Patients first");
  cli::AddConfigOption(export_cmd, export_opts.config_path);
  export_cmd->add_option("--out", export_opts.out_path, "File, or - for stdout")
      ->capture_default_str();
  export_cmd
      ->add_option("--type", export_opts.type,
                   "Only this type: Location, Patient, Encounter, Observation "
                   "or Appointment")
      ->check(CLI::IsMember(
          {"Location", "Patient", "Encounter", "Observation", "Appointment"}));

  cli::BackupOptions backup_opts;
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy the database to DEST, consistently, and verify the copy");
  cli::AddConfigOption(backup, backup_opts.config_path);
  backup
      ->add_option("DEST", backup_opts.dest,
                   "New file to write (never overwritten)")
      ->required();

  cli::RestoreOptions restore_opts;
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Put a backup back as the node's database (the node must be stopped)");
  cli::AddConfigOption(restore, restore_opts.config_path);
  restore
      ->add_option("FILE", restore_opts.file,
                   "A backup written by posta backup or by posta serve")
      ->required();
  restore->add_flag("--force-other-node", restore_opts.force_other_node,
                    "Accept another node's or facility's backup (a box that "
                    "replaces that node; two boxes with one node id break "
                    "sync)");

  cli::DoctorOptions doctor_opts;
  CLI::App* doctor = app.add_subcommand(
      "doctor",
      "Check this node and say what is wrong and what to do; exit 0 only "
      "when every check passes");
  cli::AddConfigOption(doctor, doctor_opts.config_path);

  cli::SyncCmdOptions sync_opts;
  CLI::App* sync_cmd = app.add_subcommand(
      "sync", "Sync with the hub now: push, pull, and report what moved");
  sync_cmd->add_option("--config", sync_opts.config_path,
                       "The node's posta.toml");
  sync_cmd
      ->add_option("--attempts", sync_opts.attempts,
                   "Tries on a dropped link before giving up")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sync_cmd->add_option("--dump", sync_opts.dump_path,
                       "Print the JSON view of a captured sync message file");
  sync_cmd->callback([&] {
    if (sync_opts.dump_path.empty() && sync_opts.config_path.empty()) {
      throw CLI::RequiredError("--config");
    }
  });

  CLI::App* bundle = app.add_subcommand(
      "bundle",
      "Sync by USB stick: write or apply a sync bundle file (not a FHIR "
      "Bundle)");
  bundle->require_subcommand(1);
  cli::BundleExportOptions bundle_export_opts;
  CLI::App* bundle_export = bundle->add_subcommand(
      "export",
      "Write what the other side has not acknowledged to a bundle file");
  cli::AddConfigOption(bundle_export, bundle_export_opts.config_path);
  bundle_export
      ->add_option("--to", bundle_export_opts.to,
                   "The bundle file to write (on the stick)")
      ->required();
  bundle_export->add_option(
      "--for", bundle_export_opts.facility,
      "Hub only: the facility of the clinic the bundle is for");
  bundle_export->add_option(
      "--node", bundle_export_opts.node,
      "Hub only: the clinic's node id, when its facility has several");
  bundle_export->add_flag("--force", bundle_export_opts.force,
                          "Replace the file if it exists");
  cli::BundleImportOptions bundle_import_opts;
  CLI::App* bundle_import = bundle->add_subcommand(
      "import", "Verify a bundle file and apply it, with a progress display");
  cli::AddConfigOption(bundle_import, bundle_import_opts.config_path);
  bundle_import
      ->add_option("FILE", bundle_import_opts.file, "The bundle file to apply")
      ->required();

  CLI::App* conflicts = app.add_subcommand(
      "conflicts", "Values sync set aside: list, show and resolve them");
  conflicts->require_subcommand(1);
  cli::ConflictsListOptions conflicts_list_opts;
  CLI::App* conflicts_list =
      conflicts->add_subcommand("list", "Open conflicts, newest first");
  cli::AddConfigOption(conflicts_list, conflicts_list_opts.config_path);
  conflicts_list->add_flag("--all", conflicts_list_opts.all,
                           "Resolved conflicts too");
  conflicts_list->add_flag("--json", conflicts_list_opts.json,
                           "One JSON object per line instead of a table");
  cli::ConflictsShowOptions conflicts_show_opts;
  CLI::App* conflicts_show =
      conflicts->add_subcommand("show", "Every detail of one conflict");
  cli::AddConfigOption(conflicts_show, conflicts_show_opts.config_path);
  conflicts_show->add_flag("--json", conflicts_show_opts.json,
                           "One JSON object instead of text");
  conflicts_show
      ->add_option("ID", conflicts_show_opts.id,
                   "Conflict id, or a unique prefix of it")
      ->required();
  cli::ConflictsResolveOptions conflicts_resolve_opts;
  CLI::App* conflicts_resolve = conflicts->add_subcommand(
      "resolve", "Decide a conflict: keep a side, or write a value");
  cli::AddConfigOption(conflicts_resolve, conflicts_resolve_opts.config_path);
  CLI::Option* keep_option =
      conflicts_resolve
          ->add_option("--keep", conflicts_resolve_opts.keep,
                       "winner (what the record holds) or loser (what was "
                       "set aside)")
          ->check(CLI::IsMember({"winner", "loser"}));
  CLI::Option* value_option = conflicts_resolve->add_option(
      "--value", conflicts_resolve_opts.value,
      "Write this JSON value instead, e.g. '\"other\"'");
  CLI::Option* remove_option = conflicts_resolve->add_flag(
      "--remove", conflicts_resolve_opts.remove, "Remove the field instead");
  keep_option->excludes(value_option)->excludes(remove_option);
  value_option->excludes(remove_option);
  conflicts_resolve->add_option("--by", conflicts_resolve_opts.by,
                                "Who decided (kept with the conflict)");
  conflicts_resolve
      ->add_option("ID", conflicts_resolve_opts.id,
                   "Conflict id, or a unique prefix of it")
      ->required();

  cli::TransferOptions transfer_opts;
  CLI::App* transfer = app.add_subcommand(
      "transfer",
      "Move a patient, with its encounters, observations and appointments, "
      "to another facility");
  cli::AddConfigOption(transfer, transfer_opts.config_path);
  transfer
      ->add_option("--to", transfer_opts.to,
                   "The facility that takes the patient over")
      ->required();
  transfer->add_flag("--json", transfer_opts.json,
                     "The FHIR Parameters the API answers, instead of text");
  transfer
      ->add_option("RECORD", transfer_opts.record, "Patient/<id>, or the id")
      ->required();

  cli::EnrollOptions enroll_opts;
  CLI::App* enroll = app.add_subcommand(
      "enroll", "Enroll this clinic's box with its hub using a one-time code");
  cli::AddConfigOption(enroll, enroll_opts.config_path);
  enroll->add_option("--hub", enroll_opts.hub_url,
                     "The hub's URL, e.g. https://10.0.0.5:8081 (kept in the "
                     "config; default: the config's [sync] hub_url, on a "
                     "hub its [sync] upstream)");
  enroll
      ->add_option("--code", enroll_opts.code,
                   "The enrollment code from the hub's administrator")
      ->required();
  enroll->add_option("--ca-file", enroll_opts.ca_file,
                     "PEM file of the CA that signed the hub's certificate "
                     "(absolute path; kept in the config)");
  enroll->add_option("--pin", enroll_opts.pin,
                     "The hub's public key pin, sha256//BASE64 (kept in the "
                     "config)");

  CLI::App* hub = app.add_subcommand(
      "hub",
      "A hub's administration: facilities, enrollment codes, nodes, TLS");
  hub->require_subcommand(1);
  CLI::App* hub_facility =
      hub->add_subcommand("facility", "Facilities this hub serves");
  hub_facility->require_subcommand(1);
  cli::HubFacilityAddOptions facility_add_opts;
  CLI::App* facility_add =
      hub_facility->add_subcommand("add", "Register a facility");
  cli::AddConfigOption(facility_add, facility_add_opts.config_path,
                       "The hub's posta.toml");
  facility_add
      ->add_option("ID", facility_add_opts.id,
                   "Facility id: 1-64 of A-Z a-z 0-9 . _ -")
      ->required()
      ->check(FacilityId());
  facility_add
      ->add_option("--name", facility_add_opts.name, "Its name, for people")
      ->required();
  facility_add->add_option("--region", facility_add_opts.region,
                           "Its region (optional)");
  cli::HubListOptions facility_list_opts;
  CLI::App* facility_list =
      hub_facility->add_subcommand("list", "Registered facilities");
  cli::AddConfigOption(facility_list, facility_list_opts.config_path,
                       "The hub's posta.toml");
  facility_list->add_flag("--json", facility_list_opts.json,
                          "One JSON object per line instead of a table");
  cli::HubEnrollCodeOptions code_opts;
  CLI::App* enroll_code = hub->add_subcommand(
      "enroll-code", "Issue a one-time enrollment code for a facility's box");
  cli::AddConfigOption(enroll_code, code_opts.config_path,
                       "The hub's posta.toml");
  enroll_code
      ->add_option("--facility", code_opts.facility,
                   "The facility the box will belong to")
      ->required()
      ->check(FacilityId());
  enroll_code->add_option(
      "--region", code_opts.region,
      "For a hub's box (a district hub syncing up to this one): the region "
      "whose facilities it serves");
  enroll_code
      ->add_option("--expires", code_opts.expires,
                   "How long the code stays valid: 30m, 48h, 7d (at most "
                   "30d)")
      ->capture_default_str();
  CLI::App* hub_node = hub->add_subcommand("node", "Enrolled nodes");
  hub_node->require_subcommand(1);
  cli::HubListOptions node_list_opts;
  CLI::App* node_list = hub_node->add_subcommand(
      "list", "Enrolled nodes: facility, enrolled, last seen, revoked");
  cli::AddConfigOption(node_list, node_list_opts.config_path,
                       "The hub's posta.toml");
  node_list->add_flag("--json", node_list_opts.json,
                      "One JSON object per line instead of a table");
  cli::HubNodeRevokeOptions revoke_opts;
  CLI::App* node_revoke = hub_node->add_subcommand(
      "revoke", "Refuse a node's syncs from now on (its data stays)");
  cli::AddConfigOption(node_revoke, revoke_opts.config_path,
                       "The hub's posta.toml");
  node_revoke->add_option("NODE_ID", revoke_opts.node_id, "The node's id")
      ->required();

  std::shared_ptr<cli::UserCommands> user_cmds = cli::AddUserCommands(app);
  std::shared_ptr<cli::AuditCommands> audit_cmds = cli::AddAuditCommands(app);
  cli::HubTlsInitOptions tls_init_opts;
  CLI::App* hub_tls = hub->add_subcommand("tls", "The hub's HTTPS certificate");
  hub_tls->require_subcommand(1);
  CLI::App* tls_init = hub_tls->add_subcommand(
      "init", "Make a self-signed certificate and print the pin for clinics");
  cli::AddConfigOption(tls_init, tls_init_opts.config_path,
                       "The hub's posta.toml");
  tls_init->add_option("--name", tls_init_opts.names,
                       "A host name clinics use for the hub (repeatable)");
  tls_init->add_option("--ip", tls_init_opts.ips,
                       "An IP address clinics use for the hub (repeatable)");
  tls_init->add_flag("--force", tls_init_opts.force,
                     "Replace an existing certificate (clinics need the new "
                     "pin)");

  CLI::App* version = app.add_subcommand("version", "Print the version");

  CLI::App* demo = app.add_subcommand("demo", "Realistic demo records");
  demo->require_subcommand(1);
  cli::DemoSeedOptions seed_opts;
  CLI::App* seed = demo->add_subcommand(
      "seed", "Generate demo records straight into a node's database");
  cli::AddConfigOption(seed, seed_opts.config_path);
  seed->add_option("--patients", seed_opts.patients, "Patients to generate")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  seed->add_option("--seed", seed_opts.seed, "Random seed")
      ->capture_default_str();
  seed->add_option("--as-of", seed_opts.as_of,
                   "Reference date YYYY-MM-DD (default: today, UTC)");
  cli::DemoLocationsOptions locations_opts;
  CLI::App* locations = demo->add_subcommand(
      "locations", "Write one Location per facility (shared, on a hub)");
  cli::AddConfigOption(locations, locations_opts.config_path);
  locations
      ->add_option("--facility", locations_opts.facilities,
                   "A facility id (repeat for several)")
      ->required();
  cli::DemoGenerateOptions gen_opts;
  CLI::App* generate = demo->add_subcommand(
      "generate", "Write demo records as NDJSON (for posta import)");
  generate->add_option("--patients", gen_opts.patients, "Patients to generate")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  generate->add_option("--seed", gen_opts.seed, "Random seed")
      ->capture_default_str();
  generate->add_option("--as-of", gen_opts.as_of,
                       "Reference date YYYY-MM-DD (default: today, UTC)");
  generate->add_option("--out", gen_opts.out_path, "File, or - for stdout")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help and --version print, exit 0
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "posta: " << e.what() << "\n"
              << "hint: see `posta --help` or `posta <command> --help`\n";
    return kExitUsage;
  }

  cli::ConfigureLogging(log_level);
  const bool from_config = log_level_option->count() == 0;
  serve_opts.apply_config_log_level = from_config;
  status_opts.apply_config_log_level = from_config;
  import_opts.apply_config_log_level = from_config;
  export_opts.apply_config_log_level = from_config;
  backup_opts.apply_config_log_level = from_config;
  restore_opts.apply_config_log_level = from_config;
  doctor_opts.apply_config_log_level = from_config;
  sync_opts.apply_config_log_level = from_config;
  bundle_export_opts.apply_config_log_level = from_config;
  bundle_import_opts.apply_config_log_level = from_config;
  seed_opts.apply_config_log_level = from_config;
  conflicts_list_opts.apply_config_log_level = from_config;
  conflicts_show_opts.apply_config_log_level = from_config;
  conflicts_resolve_opts.apply_config_log_level = from_config;
  transfer_opts.apply_config_log_level = from_config;
  enroll_opts.apply_config_log_level = from_config;
  facility_add_opts.apply_config_log_level = from_config;
  facility_list_opts.apply_config_log_level = from_config;
  code_opts.apply_config_log_level = from_config;
  node_list_opts.apply_config_log_level = from_config;
  revoke_opts.apply_config_log_level = from_config;

  cli::Io io{
      .out = std::cout, .err = std::cerr, .err_is_tty = ::isatty(2) == 1};
  std::string command;
  Status result;
  if (init->parsed()) {
    command = "init";
    result = cli::RunInit(init_opts, io);
  } else if (serve->parsed()) {
    command = "serve";
    result = cli::RunServe(serve_opts, io);
  } else if (status->parsed()) {
    command = "status";
    result = cli::RunStatus(status_opts, io);
  } else if (import->parsed()) {
    command = "import";
    result = cli::RunImport(import_opts, std::cin, io);
  } else if (export_cmd->parsed()) {
    command = "export";
    result = cli::RunExport(export_opts, io);
  } else if (sync_cmd->parsed()) {
    command = "sync";
    result = cli::RunSync(sync_opts, io);
  } else if (bundle_export->parsed()) {
    command = "bundle export";
    result = cli::RunBundleExport(bundle_export_opts, io);
  } else if (bundle_import->parsed()) {
    command = "bundle import";
    result = cli::RunBundleImport(bundle_import_opts, io);
  } else if (backup->parsed()) {
    command = "backup";
    result = cli::RunBackup(backup_opts, io);
  } else if (restore->parsed()) {
    command = "restore";
    result = cli::RunRestore(restore_opts, io);
  } else if (doctor->parsed()) {
    command = "doctor";
    result = cli::RunDoctor(doctor_opts, io);
  } else if (conflicts_list->parsed()) {
    command = "conflicts list";
    result = cli::RunConflictsList(conflicts_list_opts, io);
  } else if (conflicts_show->parsed()) {
    command = "conflicts show";
    result = cli::RunConflictsShow(conflicts_show_opts, io);
  } else if (conflicts_resolve->parsed()) {
    command = "conflicts resolve";
    result = cli::RunConflictsResolve(conflicts_resolve_opts, io);
  } else if (transfer->parsed()) {
    command = "transfer";
    result = cli::RunTransfer(transfer_opts, io);
  } else if (enroll->parsed()) {
    command = "enroll";
    result = cli::RunEnroll(enroll_opts, io);
  } else if (facility_add->parsed()) {
    command = "hub facility add";
    result = cli::RunHubFacilityAdd(facility_add_opts, io);
  } else if (facility_list->parsed()) {
    command = "hub facility list";
    result = cli::RunHubFacilityList(facility_list_opts, io);
  } else if (enroll_code->parsed()) {
    command = "hub enroll-code";
    result = cli::RunHubEnrollCode(code_opts, io);
  } else if (node_list->parsed()) {
    command = "hub node list";
    result = cli::RunHubNodeList(node_list_opts, io);
  } else if (node_revoke->parsed()) {
    command = "hub node revoke";
    result = cli::RunHubNodeRevoke(revoke_opts, io);
  } else if (cli::RunParsedUserCommand(*user_cmds, from_config, io, &command,
                                       &result)) {
    // posta user ...
  } else if (cli::RunParsedAuditCommand(*audit_cmds, from_config, io, &command,
                                        &result)) {
    // posta audit ...
  } else if (tls_init->parsed()) {
    command = "hub tls init";
    result = cli::RunHubTlsInit(tls_init_opts, io);
  } else if (version->parsed()) {
    command = "version";
    result = cli::RunVersion(io);
  } else if (seed->parsed()) {
    command = "demo seed";
    result = cli::RunDemoSeed(seed_opts, io);
  } else if (locations->parsed()) {
    command = "demo locations";
    result = cli::RunDemoLocations(locations_opts, io);
  } else if (generate->parsed()) {
    command = "demo generate";
    result = cli::RunDemoGenerate(gen_opts, io);
  }
  std::cout.flush();
  if (!result.ok()) return ReportFailure(result, command);
  return kExitOk;
}

}  // namespace posta::node
