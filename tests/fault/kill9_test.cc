// I1, local durability: `posta serve` is killed with SIGKILL while clients
// stream creates and updates. A ledger kept here, outside the system under
// test, records every write the server acknowledged. After each kill the
// database must pass an integrity check and hold every write acknowledged
// since the previous kill: its change-log entry, logged once, and the record
// at that version or a later one. Every K cycles and at the end the whole
// ledger is checked against the whole database, so a check after a kill
// costs what that cycle wrote, not what the database holds.
//
// POSTA_KILL_CYCLES sets the number of cycles (default 200; a soak runs
// thousands), POSTA_KILL_CHECK_EVERY the cycles between whole checks
// (default 100), POSTA_KILL_SEED the seed (default fixed; printed). Prints
// the kill -9 figures line (kill_figures.h).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "ack_ledger.h"
#include "kill_figures.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::Ack;
using testing::AckLedger;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::TempDir;

std::string PatientBody(const std::string& id, const std::string& family) {
  json p = {{"resourceType", "Patient"},
            {"name", json::array({{{"family", family}, {"given", {"Ama"}}}})},
            {"gender", "female"},
            {"birthDate", "1990-01-01"}};
  if (!id.empty()) p["id"] = id;
  return p.dump();
}

// One client: creates patients and updates the ones it created.
void Writer(int port, int thread, uint64_t seed, std::atomic<bool>& stop,
            AckLedger& ledger) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> mine;
  int n = 0;
  while (!stop.load()) {
    std::string family =
        "F" + std::to_string(thread) + "-" + std::to_string(n++);
    bool update = !mine.empty() && rng() % 10 < 3;
    std::string id = update ? mine[rng() % mine.size()] : "";
    Result<testing::HttpResult> r =
        update ? HttpCall(port, "PUT", "/fhir/Patient/" + id,
                          PatientBody(id, family), {}, std::chrono::seconds(5))
               : HttpCall(port, "POST", "/fhir/Patient",
                          PatientBody("", family), {}, std::chrono::seconds(5));
    if (!r.ok()) continue;  // the server is gone: not acknowledged
    if (r->status != 200 && r->status != 201) continue;
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded()) continue;
    id = body["id"];
    ledger.Record(
        Ack{"Patient/" + id, body["meta"]["versionId"], false, family});
    if (!update) mine.push_back(id);
  }
}

// What the checks have read of the change log so far: each entry's
// "Patient/<id>@<version>", and the last entry, from which the next check
// reads on.
struct LogSeen {
  std::set<std::string> versions;
  int64_t last_seq = 0;
  std::string last;
};

// Reads the change log on from `seen` (all of it when `seen` is empty):
// the last entry read before must still be there (nothing committed was
// lost from the tail), and no version may be logged twice.
void ReadLogOn(storage::RecordStore& store, LogSeen& seen,
               testing::KillFigures& f, int64_t cycle) {
  auto changes =
      store.ChangesSince(std::max<int64_t>(0, seen.last_seq - 1), 10'000'000);
  ASSERT_OK(changes);
  size_t from = 0;
  if (seen.last_seq > 0) {
    const bool kept = !changes->empty() && (*changes)[0].seq == seen.last_seq &&
                      "Patient/" + (*changes)[0].id + "@" +
                              (*changes)[0].version.ToString() ==
                          seen.last;
    if (!kept) {
      ++f.lost;
      ADD_FAILURE() << "cycle " << cycle << ": change-log entry "
                    << seen.last_seq << " (" << seen.last << ") is gone";
    }
    from = kept ? 1 : 0;
  }
  for (size_t i = from; i < changes->size(); ++i) {
    const storage::Change& c = (*changes)[i];
    ASSERT_GT(c.seq, seen.last_seq) << "cycle " << cycle;
    seen.last_seq = c.seq;
    seen.last = "Patient/" + c.id + "@" + c.version.ToString();
    if (!seen.versions.insert(seen.last).second) {
      ++f.duplicated;
      ADD_FAILURE() << "cycle " << cycle << ": " << seen.last
                    << " logged twice";
    }
  }
}

// `version` ("Patient/<id>@<version>"), acknowledged, must be logged.
void CheckLogged(const std::string& version, const LogSeen& seen,
                 testing::KillFigures& f, int64_t cycle) {
  if (seen.versions.count(version) == 0) {
    ++f.lost;
    ADD_FAILURE() << "cycle " << cycle << ": no change-log entry for "
                  << version;
  }
}

// Each of `acks` must be held at the acknowledged version, with its
// content, or at a later one (a later, unacknowledged update may have
// committed before the kill).
void CheckHeld(storage::RecordStore& store, const std::vector<Ack>& acks,
               testing::KillFigures& f, int64_t cycle) {
  for (const Ack& acked : acks) {
    const std::string id = acked.key.substr(acked.key.find('/') + 1);
    auto rec = store.Get(storage::ResourceType::kPatient, id);
    if (!rec.ok() || rec->deleted) {
      ++f.lost;
      ADD_FAILURE() << "cycle " << cycle << ": acknowledged " << acked.key
                    << " lost";
      continue;
    }
    const std::string stored = rec->version.ToString();
    if (stored < acked.version) {
      ++f.lost;
      ADD_FAILURE() << "cycle " << cycle << ": " << acked.key << " is at "
                    << stored << ", older than the acknowledged "
                    << acked.version;
    } else if (stored == acked.version) {
      json content = json::parse(rec->content);
      if (content["name"][0]["family"] != acked.marker) {
        ++f.lost;
        ADD_FAILURE() << "cycle " << cycle << ": " << acked.key << "@" << stored
                      << " does not hold the acknowledged content";
      }
    }
  }
}

TEST(Kill9Test, EveryAcknowledgedWriteSurvivesSigkill) {
  const int64_t cycles = testing::EnvCount("POSTA_KILL_CYCLES", 200);
  const int64_t check_every = testing::EnvCount("POSTA_KILL_CHECK_EVERY", 100);
  const uint64_t seed =
      static_cast<uint64_t>(testing::EnvCount("POSTA_KILL_SEED", 20261123));
  std::printf("kill9: seed %llu (POSTA_KILL_SEED), %lld cycles\n",
              static_cast<unsigned long long>(seed),
              static_cast<long long>(cycles));
  TempDir dir;
  std::string node = dir.File("clinic");
  auto init =
      testing::Run({PostaBinary(), "init", "--dir", node, "--role", "clinic",
                    "--facility", "clinic-k", "--listen", "127.0.0.1:0"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  std::string config = node + "/posta.toml";
  std::string port_file = dir.File("port");

  AckLedger ledger;
  std::mt19937_64 rng(seed);
  testing::KillFigures figures;
  LogSeen seen;
  for (int64_t cycle = 0; cycle < cycles; ++cycle) {
    ::unlink(port_file.c_str());
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", config, "--port-file", port_file},
        dir.File("serve.log"));
    ASSERT_OK(child);
    ChildProcess server = std::move(child).value();
    auto port = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    ASSERT_OK(port) << "cycle " << cycle;

    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back(Writer, *port, t, rng(), std::ref(stop),
                           std::ref(ledger));
    // Kill after a random number of acknowledgements, mid-stream.
    int64_t target = ledger.acks() + 5 + static_cast<int64_t>(rng() % 40);
    bool reached = ledger.WaitForAcks(target, std::chrono::seconds(60));
    server.Kill();
    stop = true;
    for (auto& w : writers) w.join();
    ASSERT_TRUE(reached) << "cycle " << cycle << ": writes stalled";

    storage::StoreOptions options;
    options.path = node + "/posta.db";
    options.read_only = true;
    auto store = storage::OpenRecordStore(options);
    ASSERT_OK(store) << "cycle " << cycle;
    if (Status s = (*store)->CheckIntegrity(); !s.ok()) {
      ++figures.integrity_failures;
      ADD_FAILURE() << "cycle " << cycle << ": " << s.ToString();
    }
    // What this cycle acknowledged (taken before any whole check, so that
    // none is skipped by both).
    const std::vector<Ack> fresh = ledger.TakeUnchecked();
    if ((cycle + 1) % check_every == 0 || cycle + 1 == cycles) {
      // The whole ledger against the whole change log, read afresh.
      LogSeen whole;
      ReadLogOn(**store, whole, figures, cycle);
      std::vector<Ack> latest;
      for (auto& [key, acked] : ledger.latest()) latest.push_back(acked);
      for (const std::string& v : ledger.versions())
        CheckLogged(v, whole, figures, cycle);
      CheckHeld(**store, latest, figures, cycle);
      seen = std::move(whole);
      // Progress, for a soak's log.
      std::printf("kill9: cycle %lld checked whole, %lld writes acknowledged\n",
                  static_cast<long long>(cycle + 1),
                  static_cast<long long>(ledger.acks()));
      std::fflush(stdout);
    } else {
      ReadLogOn(**store, seen, figures, cycle);
      for (const Ack& a : fresh)
        CheckLogged(a.key + "@" + a.version, seen, figures, cycle);
      CheckHeld(**store, fresh, figures, cycle);
    }
    figures.cycles = cycle + 1;
    if (HasFailure()) break;
  }
  figures.acknowledged = ledger.acks();
  testing::PrintKillFigures("serve, local writes", figures);
}
}  // namespace
}  // namespace posta
