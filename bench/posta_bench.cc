// posta_bench: figures for the clinic node, measured on this machine against
// the real `posta` binary. See bench/README.md for the targets.
//
//   posta_bench [--patients N] [--search-patients N] [--creates N] [--quick]
//               [--sync-patients N] [--report-encounters N]
//               [--report-dir DIR]
//               [--only import|create|search|rss|sync|bundle|link|reports]
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <zstd.h>

#include "cluster.h"
#include "fault_proxy.h"
#include "process.h"
#include "test_util.h"

namespace {

using nlohmann::json;
using posta::testing::ChildProcess;
using posta::testing::HttpCall;
using posta::testing::PostaBinary;
using posta::testing::Run;
using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// The posta servers now running, so that Die() can stop them: std::exit
// runs no destructors of locals, and a server left behind would hold its
// port and keep writing to the scratch directory.
std::vector<pid_t>& LiveServers() {
  static std::vector<pid_t> pids;
  return pids;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "posta_bench: %s\n", what.c_str());
  for (pid_t pid : LiveServers()) ::kill(pid, SIGTERM);
  std::exit(1);
}

void MustRun(const std::vector<std::string>& argv) {
  auto r = Run(argv, std::chrono::hours(2));
  if (r.exit_code != 0) Die(argv[1] + " failed:\n" + r.output);
}

void MustOk(const posta::Status& status) {
  if (!status.ok()) Die(status.ToString());
}

struct Percentiles {
  double p50_ms, p99_ms, max_ms;
};

Percentiles Summarize(std::vector<double> ms) {
  if (ms.empty()) return {0, 0, 0};
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  return {at(0.50), at(0.99), ms.back()};
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// What `zstd -3` makes of `lines` as one NDJSON file, per line: the yardstick
// the sync and bundle figures are held against.
double ZstdBytesPerRecord(const std::vector<std::string>& lines) {
  std::string raw;
  for (const std::string& line : lines) raw += line + "\n";
  std::string packed(ZSTD_compressBound(raw.size()), '\0');
  const size_t zsize = ZSTD_compress(packed.data(), packed.size(), raw.data(),
                                     raw.size(), 3);
  if (ZSTD_isError(zsize)) Die("zstd");
  return static_cast<double>(zsize) / static_cast<double>(lines.size());
}

// A node in a temp dir, created with `posta init` (unless `existing`).
struct Node {
  explicit Node(const std::string& dir, bool existing = false) : dir(dir) {
    if (existing) return;
    MustRun({PostaBinary(), "init", "--dir", dir, "--role", "clinic",
             "--facility", "bench", "--listen", "127.0.0.1:0"});
  }
  std::string config() const { return dir + "/posta.toml"; }
  std::string dir;
};

// A running `posta serve` on an ephemeral port. `wait`: how long it may take
// to open its store (a migration's backfill can take minutes).
struct Server {
  Server(const Node& node, const std::string& scratch,
         std::chrono::seconds wait = std::chrono::seconds(60)) {
    std::string port_file = scratch + "/port";
    ::unlink(port_file.c_str());
    auto c = ChildProcess::Start({PostaBinary(), "serve", "--config",
                                  node.config(), "--port-file", port_file},
                                 scratch + "/serve.log");
    if (!c.ok()) Die(c.status().ToString());
    child = std::move(c).value();
    LiveServers().push_back(child.pid());
    auto p = posta::testing::WaitForPortFile(port_file, wait);
    if (!p.ok()) Die(p.status().ToString());
    port = *p;
  }
  ~Server() { std::erase(LiveServers(), child.pid()); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ChildProcess child;
  int port = 0;
};

// The floor: the same resources inserted raw, one row each, into a table of
// (type, id, body) in one transaction, WAL and synchronous=FULL as posta uses.
double RawInsertSeconds(const std::vector<std::string>& lines,
                        const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) Die("open raw db");
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE raw(type TEXT NOT NULL, id TEXT NOT NULL, body TEXT "
               "NOT NULL, PRIMARY KEY(type, id));",
               nullptr, nullptr, nullptr);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& l : lines) {
    json j = json::parse(l);
    keys.emplace_back(j.value("resourceType", ""), j.value("id", ""));
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO raw VALUES(?,?,?)", -1, &st, nullptr);
  auto t0 = SteadyClock::now();
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (size_t i = 0; i < lines.size(); ++i) {
    sqlite3_bind_text(st, 1, keys[i].first.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, keys[i].second.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, lines[i].c_str(), static_cast<int>(lines[i].size()),
                      SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) Die(sqlite3_errmsg(db));
    sqlite3_reset(st);
  }
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  double s = SecondsSince(t0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}

// The second floor: exactly the rows posta wrote (every table, every index
// in posta's own schema), read back from its database and inserted raw into
// a fresh database of the same schema, WAL + FULL, in one transaction. The
// gap between posta and this floor is posta's own work (parsing, validation,
// stamps, statements); the gap between this floor and the first is the
// storage format.
double SameRowsRawSeconds(const std::string& posta_db, const std::string& path) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  if (sqlite3_open_v2(posta_db.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK)
    Die("open " + posta_db);
  if (sqlite3_open(path.c_str(), &dst) != SQLITE_OK) Die("open " + path);
  sqlite3_exec(dst, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr,
               nullptr, nullptr);
  struct Table {
    std::string name;
    int columns = 0;
    std::vector<std::vector<std::pair<int, std::string>>> rows;  // (type, bytes)
  };
  std::vector<Table> tables;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(src,
                     "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT "
                     "NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index'",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string type = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(st, 2));
    if (sqlite3_exec(dst, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      Die(std::string("schema: ") + sqlite3_errmsg(dst));
    if (type == "table")
      tables.push_back({reinterpret_cast<const char*>(sqlite3_column_text(st, 1))});
  }
  sqlite3_finalize(st);
  for (Table& t : tables) {
    sqlite3_prepare_v2(src, ("SELECT * FROM " + t.name).c_str(), -1, &st, nullptr);
    t.columns = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::pair<int, std::string>> row;
      for (int c = 0; c < t.columns; ++c) {
        int kind = sqlite3_column_type(st, c);
        const char* bytes = static_cast<const char*>(sqlite3_column_blob(st, c));
        row.emplace_back(kind, std::string(bytes ? bytes : "",
                                           static_cast<size_t>(sqlite3_column_bytes(st, c))));
      }
      t.rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
  }
  auto t0 = SteadyClock::now();
  sqlite3_exec(dst, "BEGIN", nullptr, nullptr, nullptr);
  for (const Table& t : tables) {
    std::string sql = "INSERT INTO " + t.name + " VALUES(";
    for (int c = 0; c < t.columns; ++c) sql += c ? ",?" : "?";
    sql += ")";
    if (sqlite3_prepare_v2(dst, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      Die(std::string("prepare: ") + sqlite3_errmsg(dst));
    for (const auto& row : t.rows) {
      for (int c = 0; c < t.columns; ++c) {
        const auto& [kind, bytes] = row[static_cast<size_t>(c)];
        if (kind == SQLITE_NULL) sqlite3_bind_null(st, c + 1);
        else if (kind == SQLITE_INTEGER)
          sqlite3_bind_int64(st, c + 1, std::stoll(bytes.empty() ? "0" : bytes));
        else if (kind == SQLITE_BLOB)
          sqlite3_bind_blob(st, c + 1, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_STATIC);
        else
          sqlite3_bind_text(st, c + 1, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_STATIC);
      }
      if (sqlite3_step(st) != SQLITE_DONE) Die(sqlite3_errmsg(dst));
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
  }
  sqlite3_exec(dst, "COMMIT", nullptr, nullptr, nullptr);
  double s = SecondsSince(t0);
  sqlite3_close(src);
  sqlite3_close(dst);
  return s;
}

void BenchImport(const std::string& scratch, int patients) {
  std::string file = scratch + "/import.ndjson";
  MustRun({PostaBinary(), "demo", "generate", "--patients",
           std::to_string(patients), "--seed", "7", "--out", file});
  auto lines = ReadLines(file);
  Node node(scratch + "/import-node");
  auto t0 = SteadyClock::now();
  MustRun({PostaBinary(), "import", "--config", node.config(), file});
  double posta_s = SecondsSince(t0);
  double raw_s = RawInsertSeconds(lines, scratch + "/raw.db");
  double same_s = SameRowsRawSeconds(node.dir + "/posta.db", scratch + "/same.db");
  double n = static_cast<double>(lines.size());
  std::printf("import: %zu records (%d patients with their encounters, "
              "observations, appointments)\n", lines.size(), patients);
  std::printf("  posta import      %8.2f s  %9.0f records/s (whole process: "
              "parse, validate, index, history, change log)\n", posta_s, n / posta_s);
  std::printf("  raw SQLite floor  %8.2f s  %9.0f records/s (one INSERT per line, "
              "one transaction)\n", raw_s, n / raw_s);
  std::printf("  posta's own rows  %8.2f s  %9.0f records/s (every row posta wrote, "
              "same schema and indexes, raw, one transaction)\n", same_s, n / same_s);
  std::printf("  ratio to one row per record  %6.2fx (target: within 3x)\n",
              posta_s / raw_s);
  std::printf("  ratio to posta's own rows    %6.2fx\n", posta_s / same_s);
}

std::string NewPatient(int client, int i) {
  json p = {{"resourceType", "Patient"},
            {"identifier", {{{"system", "urn:posta:mrn"},
                             {"value", "B-" + std::to_string(client) + "-" +
                                           std::to_string(i)}}}},
            {"name", {{{"family", "Okafor"}, {"given", {"Ngozi"}}}}},
            {"gender", "female"},
            {"birthDate", "1991-07-14"}};
  return p.dump();
}

void BenchCreate(const std::string& scratch, int creates) {
  Node node(scratch + "/create-node");
  Server server(node, scratch);
  constexpr int kClients = 8;
  std::vector<std::vector<double>> lat(kClients);
  std::atomic<int> failures{0};
  auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < creates / kClients; ++i) {
        auto s = SteadyClock::now();
        auto r = HttpCall(server.port, "POST", "/fhir/Patient", NewPatient(c, i));
        lat[c].push_back(SecondsSince(s) * 1000);
        if (!r.ok() || r->status != 201) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  double total_s = SecondsSince(t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  auto p = Summarize(all);
  std::printf("create: %zu POST /fhir/Patient from %d concurrent clients, "
              "synchronous=FULL, %d failed\n", all.size(), kClients, failures.load());
  std::printf("  %9.0f records/s   p50 %.2f ms   p99 %.2f ms   max %.2f ms "
              "(target: p99 < 10 ms)\n", all.size() / total_s, p.p50_ms, p.p99_ms,
              p.max_ms);
}

void BenchSearch(const std::string& scratch, int patients) {
  std::string file = scratch + "/search.ndjson";
  MustRun({PostaBinary(), "demo", "generate", "--patients",
           std::to_string(patients), "--seed", "11", "--out", file});
  std::vector<std::string> names, identifiers;
  for (const auto& l : ReadLines(file)) {
    json j = json::parse(l);
    if (j["resourceType"] != "Patient") continue;
    if (j.contains("name")) names.push_back(j["name"][0].value("family", ""));
    if (j.contains("identifier"))
      identifiers.push_back(j["identifier"][0].value("value", ""));
  }
  Node node(scratch + "/search-node");
  auto t0 = SteadyClock::now();
  MustRun({PostaBinary(), "import", "--config", node.config(), file});
  std::printf("search: %zu patients loaded in %.1f s\n", names.size(),
              SecondsSince(t0));
  Server server(node, scratch);
  auto run = [&](const std::string& label, const std::vector<std::string>& values,
                 const std::string& param, size_t prefix) {
    std::vector<double> ms;
    size_t hits = 0;
    for (size_t i = 0; i < 1000 && !values.empty(); ++i) {
      std::string v = values[(i * 7919) % values.size()];
      if (prefix) v = v.substr(0, std::min(prefix, v.size()));
      std::string q;
      for (unsigned char ch : v) {
        char buf[4];
        if (std::isalnum(ch) || ch == '-') q.push_back(static_cast<char>(ch));
        else { std::snprintf(buf, sizeof buf, "%%%02X", ch); q += buf; }
      }
      auto s = SteadyClock::now();
      auto r = HttpCall(server.port, "GET", "/fhir/Patient?" + param + "=" + q +
                                                "&_count=20");
      ms.push_back(SecondsSince(s) * 1000);
      if (!r.ok() || r->status != 200) Die("search failed: " + label);
      hits += json::parse(r->body).value("entry", json::array()).size();
    }
    auto p = Summarize(ms);
    std::printf("  %-28s p50 %.2f ms   p99 %.2f ms   max %.2f ms   (%zu queries, "
                "%zu hits; target p99 < 20 ms)\n", label.c_str(), p.p50_ms, p.p99_ms,
                p.max_ms, ms.size(), hits);
  };
  run("name (4-letter prefix)", names, "name", 4);
  run("name (whole family name)", names, "name", 0);
  run("identifier (exact)", identifiers, "identifier", 0);
}

void BenchRss(const std::string& scratch) {
  Node node(scratch + "/rss-node");
  Server server(node, scratch);
  auto h = HttpCall(server.port, "GET", "/health");
  if (!h.ok()) Die("health: " + h.status().ToString());
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let it settle idle
  std::ifstream status("/proc/" + std::to_string(server.child.pid()) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0 || line.rfind("VmHWM:", 0) == 0)
      std::printf("rss: idle posta serve %s (target: under 15 MB)\n", line.c_str());
}

// Sync over loopback through a byte-counting proxy (the socket's view):
// push of a clinic's records to an empty hub, initial pull of them into a
// fresh box of the same clinic, an incremental sync of 1,000 changes; bytes
// on the wire per record against zstd -3 of the records' FHIR JSON; the
// pulling process's peak RSS. With `link_kbit` > 0, the proxy carries
// that many kbit/s each way with `link_delay_ms` one-way delay (a LAN or a
// district link instead of loopback).
void BenchSync(const std::string& scratch, int patients, int link_kbit,
               int link_delay_ms) {
  std::string file = scratch + "/sync.ndjson";
  MustRun({PostaBinary(), "demo", "generate", "--patients",
           std::to_string(patients), "--seed", "11", "--out", file});
  auto lines = ReadLines(file);
  const double n = static_cast<double>(lines.size());
  const double zstd_per_record = ZstdBytesPerRecord(lines);

  // The hub, and clinics enrolled with it through the proxy (before the
  // proxy's counters are reset for each figure).
  posta::testing::Cluster cluster(scratch + "/sync");
  MustOk(cluster.InitHub("region"));
  MustOk(cluster.StartHub());
  auto proxy = posta::testing::FaultProxy::Start(cluster.hub_port());
  if (!proxy.ok()) Die(proxy.status().ToString());
  const std::string hub_url =
      "http://127.0.0.1:" + std::to_string((*proxy)->port());
  auto clinic = [&](const std::string& name) {
    MustOk(cluster.AddClinic(name, "bench", hub_url));
    return cluster.Config(name);
  };
  std::string link = "loopback";
  if (link_kbit > 0) {
    posta::testing::Faults shaped;
    shaped.to_upstream.latency = std::chrono::milliseconds(link_delay_ms);
    shaped.to_upstream.bytes_per_second = static_cast<uint64_t>(link_kbit) * 125;
    shaped.to_client = shaped.to_upstream;
    (*proxy)->SetFaults(shaped);
    link = "a link of " + std::to_string(link_kbit) + " kbit/s each way, " +
           std::to_string(link_delay_ms) + " ms one-way delay";
  }
  const bool have_time = ::access("/usr/bin/time", X_OK) == 0;
  // Runs `posta sync`; returns seconds, and the peak RSS in KiB when
  // /usr/bin/time is there.
  auto sync = [&](const std::string& config, long* rss_kib) {
    std::vector<std::string> argv = {PostaBinary(), "sync", "--config", config};
    if (have_time) argv.insert(argv.begin(), {"/usr/bin/time", "-f", "maxrss_kib=%M"});
    auto t0 = SteadyClock::now();
    auto r = Run(argv, std::chrono::hours(1));
    double s = SecondsSince(t0);
    if (r.exit_code != 0) Die("sync failed:\n" + r.output);
    size_t at = r.output.find("maxrss_kib=");
    if (rss_kib != nullptr) {
      *rss_kib = at == std::string::npos ? 0 : std::stol(r.output.substr(at + 11));
    }
    return s;
  };

  const std::string a = clinic("sync-clinic-a");
  MustRun({PostaBinary(), "import", "--config", a, file});
  (*proxy)->ResetCounters();
  const double push_s = sync(a, nullptr);
  const double push_up = static_cast<double>((*proxy)->bytes_to_upstream());
  const double push_down = static_cast<double>((*proxy)->bytes_to_client());

  const std::string b = clinic("sync-clinic-b");  // a new box, same clinic
  (*proxy)->ResetCounters();
  long pull_rss = 0;
  const double pull_s = sync(b, &pull_rss);
  const double pull_down = static_cast<double>((*proxy)->bytes_to_client());

  // 1,000 changed records on clinic a: patients re-imported with their
  // gender flipped.
  std::string changed;
  int edits = 0;
  for (const std::string& line : lines) {
    if (edits == 1000) break;
    json r = json::parse(line);
    if (r["resourceType"] != "Patient") continue;
    r["gender"] = r["gender"] == "female" ? "male" : "female";
    changed += r.dump() + "\n";
    ++edits;
  }
  {
    std::ofstream out(scratch + "/changes.ndjson");
    out << changed;
  }
  MustRun({PostaBinary(), "import", "--config", a, scratch + "/changes.ndjson"});
  (*proxy)->ResetCounters();
  const double incr_s = sync(a, nullptr);
  const double incr_up = static_cast<double>((*proxy)->bytes_to_upstream());

  std::printf("sync: %zu records (%d patients), %s, synchronous=FULL both sides\n",
              lines.size(), patients, link.c_str());
  std::printf("  push to an empty hub   %8.2f s  %9.0f records/s (target: 40000)\n",
              push_s, n / push_s);
  std::printf("  pull into a fresh box  %8.2f s  %9.0f records/s (target: 40000)\n",
              pull_s, n / pull_s);
  std::printf("  incremental, %d changes  %6.2f s (%.0f bytes up)\n", edits,
              incr_s, incr_up);
  std::printf("  wire per record: push %.0f B up + %.0f B down; pull %.0f B down; "
              "zstd -3 of the FHIR JSON %.0f B\n",
              push_up / n, push_down / n, pull_down / n, zstd_per_record);
  std::printf("  ratio to zstd -3: push %.2fx, pull %.2fx (target: within 1.3x)\n",
              push_up / n / zstd_per_record, pull_down / n / zstd_per_record);
  if (pull_rss > 0) {
    std::printf("  peak RSS of the pulling posta sync: %.1f MB (target: under 40 MB)\n",
                pull_rss / 1024.0);
  } else {
    std::printf("  peak RSS: not measured (/usr/bin/time missing)\n");
  }
  MustOk(cluster.StopHub());
}


// A clinic day's work (300 records) synced over a shaped rural link:
// through the FaultProxy at 64 kbit/s each way with a 1 s round trip, then
// the same with the connection reset mid-push; and, where the kernel
// allows, through `tc tbf` at 64 kbit/s on loopback in a network namespace
// (no netem here, so no delay there).
void BenchLink(const std::string& scratch) {
  // Each clinic's day comes from its own seed, so ids never collide.
  size_t records = 0;
  auto write_day = [&](const std::string& path, int seed) {
    const std::string all = path + ".all";
    MustRun({PostaBinary(), "demo", "generate", "--patients", "60", "--seed",
             std::to_string(seed), "--out", all});
    auto lines = ReadLines(all);
    if (lines.size() < 300) Die("demo generate gave fewer than 300 records");
    lines.resize(300);
    std::ofstream out(path);
    for (const std::string& line : lines) out << line << "\n";
    records = lines.size();
  };

  posta::testing::Cluster cluster(scratch + "/link");
  MustOk(cluster.InitHub("region"));
  MustOk(cluster.StartHub());
  auto proxy = posta::testing::FaultProxy::Start(cluster.hub_port());
  if (!proxy.ok()) Die(proxy.status().ToString());
  posta::testing::Faults shaped;
  shaped.to_upstream.latency = std::chrono::milliseconds(500);
  shaped.to_upstream.bytes_per_second = 8000;  // 64 kbit/s
  shaped.to_client = shaped.to_upstream;
  (*proxy)->SetFaults(shaped);

  struct Figures {
    double seconds;
    uint64_t up, down, connections;
  };
  int clinics = 0;
  auto day = [&](const std::optional<posta::testing::Faults>& first_conn) {
    const std::string name = "link-clinic-" + std::to_string(clinics);
    const std::string dir = cluster.Dir(name);
    // Enrolled over the shaped link, before the counters are reset.
    MustOk(cluster.AddClinic(
        name, name, "http://127.0.0.1:" + std::to_string((*proxy)->port())));
    const std::string day_file = scratch + "/" + name + ".ndjson";
    write_day(day_file, 100 + clinics++);
    MustRun({PostaBinary(), "import", "--config", dir + "/posta.toml",
             day_file});
    (*proxy)->ResetCounters();
    if (first_conn) (*proxy)->SetFaultsForNextConnections(1, *first_conn);
    auto t0 = SteadyClock::now();
    auto r = Run({PostaBinary(), "sync", "--config", dir + "/posta.toml",
                  "--attempts", "10"},
                 std::chrono::minutes(30));
    Figures f{SecondsSince(t0), (*proxy)->bytes_to_upstream(),
              (*proxy)->bytes_to_client(), (*proxy)->connections_accepted()};
    if (r.exit_code != 0) Die("link sync failed:\n" + r.output);
    return f;
  };
  const Figures clean = day(std::nullopt);
  // The same day's work, the connection reset with an RST half-way through
  // what the clean push sent.
  posta::testing::Faults drop = shaped;
  drop.to_upstream.drop_after_bytes = clean.up / 2;
  drop.reset = true;
  const Figures dropped = day(drop);

  std::printf("link: a clinic day, %zu records, through the proxy at 64 kbit/s "
              "each way, 1 s round trip\n", records);
  std::printf("  clean           %7.1f s  %7llu B up  %7llu B down  %llu connection(s)\n",
              clean.seconds, static_cast<unsigned long long>(clean.up),
              static_cast<unsigned long long>(clean.down),
              static_cast<unsigned long long>(clean.connections));
  std::printf("  reset mid-push  %7.1f s  %7llu B up  %7llu B down  %llu connection(s); "
              "sent again: %lld B up (target: at most one batch)\n",
              dropped.seconds, static_cast<unsigned long long>(dropped.up),
              static_cast<unsigned long long>(dropped.down),
              static_cast<unsigned long long>(dropped.connections),
              static_cast<long long>(dropped.up) - static_cast<long long>(clean.up));
  MustOk(cluster.StopHub());

  // tc: the kernel's token bucket on loopback inside a namespace of our own.
  const std::string ns = "posta-bench-" + std::to_string(::getpid());
  auto sh = [](const std::string& cmd) {
    return Run({"/bin/sh", "-c", cmd + " 2>&1"}, std::chrono::minutes(30));
  };
  auto made = sh("ip netns add " + ns + " && ip netns exec " + ns +
                 " ip link set lo mtu 1500 up && ip netns exec " + ns +
                 " tc qdisc add dev lo root tbf rate 64kbit burst 3000 "
                 "latency 2s");
  if (made.exit_code != 0) {
    std::printf("  tc tbf: skipped, cannot shape a namespace here (%s)\n",
                made.output.substr(0, made.output.find('\n')).c_str());
    (void)sh("ip netns del " + ns);
    return;
  }
  // The hub serves inside the namespace, so the clinic enrolls from there.
  posta::testing::Cluster tc(scratch + "/tc");
  MustOk(tc.InitHub("region", "127.0.0.1:18081"));
  MustOk(tc.InitClinic("clinic", "tc", "http://127.0.0.1:18081"));
  auto tc_code = tc.IssueCode("tc");
  if (!tc_code.ok()) Die(tc_code.status().ToString());
  const std::string tc_hub = tc.Dir("hub");
  const std::string tc_clinic = tc.Dir("clinic");
  write_day(scratch + "/tc.ndjson", 200);
  MustRun({PostaBinary(), "import", "--config", tc_clinic + "/posta.toml",
           scratch + "/tc.ndjson"});
  auto h = ChildProcess::Start({"/usr/bin/ip", "netns", "exec", ns,
                                PostaBinary(), "serve", "--config",
                                tc_hub + "/posta.toml", "--port-file",
                                scratch + "/tc-hub.port"},
                               scratch + "/tc-hub.log");
  if (!h.ok()) Die(h.status().ToString());
  if (!posta::testing::WaitForPortFile(scratch + "/tc-hub.port",
                                       std::chrono::seconds(60)).ok()) {
    Die("tc hub did not start");
  }
  auto enrolled = sh("ip netns exec " + ns + " " + PostaBinary() +
                     " enroll --config " + tc_clinic + "/posta.toml --code " +
                     *tc_code);
  if (enrolled.exit_code != 0) Die("tc enroll failed:\n" + enrolled.output);
  auto t0 = SteadyClock::now();
  auto r = sh("ip netns exec " + ns + " " + PostaBinary() +
              " sync --attempts 2 --config " + tc_clinic + "/posta.toml");
  const double tc_s = SecondsSince(t0);
  h->Kill();
  (void)sh("ip netns del " + ns);
  if (r.exit_code != 0) Die("tc sync failed:\n" + r.output);
  std::printf("  tc tbf 64 kbit/s on loopback (no delay: no netem here) "
              "%7.1f s\n", tc_s);
}

// Sync bundles (sync by USB stick) at the sync benchmark's size: a clinic's
// records exported to a bundle file and imported at the hub; then the hub's
// return bundle for a fresh box of the same clinic, imported there. Bytes
// per record against zstd -3 of the records' FHIR JSON.
void BenchBundle(const std::string& scratch, int patients) {
  std::string file = scratch + "/bundle.ndjson";
  MustRun({PostaBinary(), "demo", "generate", "--patients",
           std::to_string(patients), "--seed", "13", "--out", file});
  auto lines = ReadLines(file);
  const double n = static_cast<double>(lines.size());
  const double zstd_per_record = ZstdBytesPerRecord(lines);

  posta::testing::Cluster cluster(scratch + "/bundle");
  MustOk(cluster.InitHub("region"));
  MustOk(cluster.StartHub());  // clinics enroll over the link, once
  MustOk(cluster.AddClinic("bundle-clinic-a", "bench"));
  MustOk(cluster.AddClinic("bundle-clinic-b", "bench"));
  MustOk(cluster.StopHub());   // from here on, only the stick
  const std::string a = cluster.Config("bundle-clinic-a");
  const std::string b = cluster.Config("bundle-clinic-b");
  MustRun({PostaBinary(), "import", "--config", a, file});
  std::string b_id;
  {
    auto store = cluster.OpenReadOnly("bundle-clinic-b");
    if (!store.ok()) Die(store.status().ToString());
    b_id = (*store)->node_id();
  }
  auto timed = [](const std::vector<std::string>& argv) {
    auto t0 = SteadyClock::now();
    MustRun(argv);
    return SecondsSince(t0);
  };
  auto size_of = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    return static_cast<double>(in.tellg());
  };
  const std::string to_hub = scratch + "/to-hub.posta-bundle";
  const std::string to_b = scratch + "/to-b.posta-bundle";
  const double export_s =
      timed({PostaBinary(), "bundle", "export", "--config", a, "--to", to_hub});
  const double import_s = timed({PostaBinary(), "bundle", "import", "--config",
                                 cluster.HubConfig(), to_hub});
  const double ret_export_s =
      timed({PostaBinary(), "bundle", "export", "--config", cluster.HubConfig(),
             "--for", "bench", "--node", b_id, "--to", to_b});
  const double ret_import_s =
      timed({PostaBinary(), "bundle", "import", "--config", b, to_b});
  const double up = size_of(to_hub), down = size_of(to_b);

  std::printf("bundle: %zu records (%d patients), files on local disk, "
              "synchronous=FULL both sides\n", lines.size(), patients);
  std::printf("  clinic export  %8.2f s  %9.0f records/s\n", export_s,
              n / export_s);
  std::printf("  hub import     %8.2f s  %9.0f records/s\n", import_s,
              n / import_s);
  std::printf("  hub export     %8.2f s  %9.0f records/s (return bundle for a "
              "fresh box)\n", ret_export_s, n / ret_export_s);
  std::printf("  clinic import  %8.2f s  %9.0f records/s\n", ret_import_s,
              n / ret_import_s);
  std::printf("  bundle per record: to the hub %.0f B, back %.0f B; zstd -3 of "
              "the FHIR JSON %.0f B (ratio %.2fx, %.2fx)\n",
              up / n, down / n, zstd_per_record, up / n / zstd_per_record,
              down / n / zstd_per_record);
}

// The hub's coordinator reports (docs/reports.md) at `encounters`
// generated encounters spread over 100 facilities. The demo records are
// imported into a hub (all at its own facility), then each record is
// given one of 100 registered facilities straight in SQLite and the report
// tables are dropped, so that opening the hub runs the real schema 8
// backfill over them; then the report endpoints and pages are timed.
// With `keep` (--report-dir), the data lives there and each finished step
// leaves a mark (the NDJSON file itself, `imported`, `spread`), so a later
// run with the same directory starts at the first step not done: the
// million-encounter setup is made once and timed many times.
void BenchReports(const std::string& scratch, int64_t encounters,
                  const std::string& keep) {
  constexpr int kFacilities = 100;
  const std::string data = keep.empty() ? scratch : keep;
  if (!keep.empty()) std::filesystem::create_directories(keep);
  auto done = [&](const std::string& mark) {
    return !keep.empty() && std::filesystem::exists(data + "/" + mark);
  };
  auto mark = [&](const std::string& mark) {
    if (!keep.empty()) std::ofstream(data + "/" + mark) << "done\n";
  };
  // posta demo makes 1.65 encounters per patient on average.
  const int64_t patients = std::max<int64_t>(10, encounters * 100 / 165);
  const std::string file = data + "/reports.ndjson";
  const std::string as_of = "2026-06-30";
  auto t0 = SteadyClock::now();
  if (done("reports.ndjson")) {
    std::printf("reports: reusing %s\n", file.c_str());
  } else {
    MustRun({PostaBinary(), "demo", "generate", "--patients",
             std::to_string(patients), "--seed", "5", "--as-of", as_of,
             "--out", file});
    std::printf("reports: %lld patients generated in %.1f s\n",
                static_cast<long long>(patients), SecondsSince(t0));
  }
  const std::string dir = data + "/reports-hub";
  const std::string config = dir + "/posta.toml";
  if (done("imported")) {
    std::printf("reports: reusing the hub in %s\n", dir.c_str());
  } else {
    std::filesystem::remove_all(dir);  // an import cut short
    MustRun({PostaBinary(), "init", "--dir", dir, "--role", "hub",
             "--facility", "hub", "--listen", "127.0.0.1:0"});
    for (int f = 0; f < kFacilities; ++f) {
      char id[16];
      std::snprintf(id, sizeof id, "f%03d", f);
      MustRun({PostaBinary(), "hub", "facility", "add", "--config", config, id,
               "--name", std::string("Facility ") + id, "--region",
               "region-" + std::to_string(f / 10)});
    }
    t0 = SteadyClock::now();
    MustRun({PostaBinary(), "import", "--config", config, file});
    std::printf("reports: imported into the hub in %.1f s\n",
                SecondsSince(t0));
    mark("imported");
  }

  // Spread the records over the facilities, by patient compartment would be
  // truer, by row id is enough for the figures' sizes.
  t0 = SteadyClock::now();
  if (!done("spread")) {
    sqlite3* db = nullptr;
    if (sqlite3_open((dir + "/posta.db").c_str(), &db) != SQLITE_OK) {
      Die("open hub database");
    }
    const char* sql =
        "BEGIN;"
        "UPDATE records SET facility = printf('f%03d', rid % 100) "
        "WHERE facility = 'hub';"
        "UPDATE versions SET facility = (SELECT r.facility FROM records r "
        "WHERE r.rid = versions.rid) WHERE facility = 'hub';"
        "DROP TABLE report_facts; DROP TABLE report_counts; "
        "DROP TABLE node_reports; PRAGMA user_version = 7; COMMIT;";
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      Die(std::string("spread facilities: ") + (error ? error : "?"));
    }
    sqlite3_close(db);
    std::printf("reports: facilities spread in %.1f s\n", SecondsSince(t0));
    mark("spread");
  }
  {
    // posta serve takes a backup at start when none is recent: a copy and
    // an integrity check of the whole database, which would run beside the
    // timed requests (at a million encounters, gigabytes). Not here.
    std::string text;
    {
      std::ifstream in(config);
      std::stringstream all;
      all << in.rdbuf();
      text = all.str();
    }
    const std::string every = "\nevery_h = 24\n";
    const size_t at = text.find(every);
    if (at != std::string::npos) {
      text.replace(at, every.size(), "\nevery_h = 0\n");
      std::ofstream(config, std::ios::trunc) << text;
    } else if (text.find("\nevery_h = 0\n") == std::string::npos) {
      Die("no [backup] every_h in " + config);
    }
  }
  Node node(dir, /*existing=*/true);
  t0 = SteadyClock::now();
  // The first open after the spread migrates: the backfill.
  Server server(node, scratch, std::chrono::hours(2));
  std::printf("reports: open of the hub (the schema 8 backfill the first "
              "time) %.1f s\n",
              SecondsSince(t0));
  {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir + "/posta.db").c_str(), &db, SQLITE_OPEN_READONLY,
                    nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT (SELECT count(*) FROM records WHERE type = "
                       "'Encounter' AND deleted = 0), (SELECT count(*) FROM "
                       "records), (SELECT count(*) FROM report_counts)",
                       -1, &st, nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) {
      std::printf("reports: %lld encounters, %lld records, %lld count rows, "
                  "%d facilities\n",
                  static_cast<long long>(sqlite3_column_int64(st, 0)),
                  static_cast<long long>(sqlite3_column_int64(st, 1)),
                  static_cast<long long>(sqlite3_column_int64(st, 2)),
                  kFacilities);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  const std::string year = "from=2025-07-01&to=2026-06-30";
  const std::vector<std::pair<std::string, std::string>> targets = {
      {"freshness JSON", "/reports/freshness"},
      {"freshness page", "/ui/freshness"},
      {"activity JSON, months, a year", "/reports/activity?period=month&" + year},
      {"activity JSON, weeks, a year", "/reports/activity?period=week&" + year},
      {"activity page, months, a year", "/ui/activity?period=month&" + year},
      {"activity CSV, weeks, a year", "/reports/activity.csv?period=week&" + year},
      {"activity JSON, one facility", "/reports/activity?facility=f042&" + year},
  };
  for (const auto& [label, target] : targets) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (int i = 0; i < 100; ++i) {
      auto s = SteadyClock::now();
      auto r = HttpCall(server.port, "GET", target, "", {},
                        std::chrono::seconds(60));
      ms.push_back(SecondsSince(s) * 1000);
      if (!r.ok() || r->status != 200) {
        Die("report failed: " + target + ": " +
            (r.ok() ? r->body.substr(0, 300) : r.status().ToString()));
      }
      bytes = r->body.size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("  %-32s p50 %7.2f ms   p95 %7.2f ms   max %7.2f ms   "
                "(%zu KB; target p95 < 300 ms)\n",
                label.c_str(), ms[ms.size() / 2], ms[ms.size() * 95 / 100],
                ms.back(), bytes / 1024);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int patients = 20000, search_patients = 100000, creates = 8000;
  int sync_patients = 11400;  // about 100k records
  int64_t report_encounters = 1000000;
  int sync_link_kbit = 0, sync_link_delay_ms = 0;
  std::string only, report_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {
      patients = 200; search_patients = 500; creates = 200; sync_patients = 100;
      report_encounters = 500;
    } else if (a == "--patients") patients = std::stoi(next());
    else if (a == "--search-patients") search_patients = std::stoi(next());
    else if (a == "--creates") creates = std::stoi(next());
    else if (a == "--sync-patients") sync_patients = std::stoi(next());
    else if (a == "--report-encounters") report_encounters = std::stoll(next());
    else if (a == "--sync-link-kbit") sync_link_kbit = std::stoi(next());
    else if (a == "--sync-link-delay-ms") sync_link_delay_ms = std::stoi(next());
    else if (a == "--report-dir") report_dir = next();
    else if (a == "--only") only = next();
    else Die("unknown option " + a + "\nusage: posta_bench [--quick] [--patients N] "
             "[--search-patients N] [--creates N] [--sync-patients N] "
             "[--sync-link-kbit N] [--sync-link-delay-ms MS] "
             "[--report-encounters N] [--report-dir DIR] "
             "[--only import|create|search|rss|sync|bundle|link|reports]");
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as measured
  posta::testing::TempDir scratch;
  std::printf("posta_bench: binary %s, %u cores\n", PostaBinary().c_str(),
              std::thread::hardware_concurrency());
  if (only.empty() || only == "import") BenchImport(scratch.path(), patients);
  if (only.empty() || only == "create") BenchCreate(scratch.path(), creates);
  if (only.empty() || only == "search") BenchSearch(scratch.path(), search_patients);
  if (only.empty() || only == "rss") BenchRss(scratch.path());
  if (only.empty() || only == "sync") BenchSync(scratch.path(), sync_patients, sync_link_kbit,
                                                  sync_link_delay_ms);
  if (only.empty() || only == "bundle") {
    BenchBundle(scratch.path(), sync_patients);
  }
  if (only == "link") BenchLink(scratch.path());
  if (only == "reports") BenchReports(scratch.path(), report_encounters, report_dir);
  return 0;
}
