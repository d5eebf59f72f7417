// I1, local durability: `posta serve` is killed with SIGKILL while clients
// stream creates and updates. A ledger kept here, outside the system under
// test, records every write the server acknowledged; after each kill the
// database must hold every acknowledged version, with its change-log entry,
// and pass an integrity check.
//
// POSTA_KILL_CYCLES sets the number of cycles (default 200; a soak runs
// thousands). Prints the kill -9 figures line (kill_figures.h).
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "kill_figures.h"
#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;

using testing::TempDir;

struct Acked {
  std::string version;
  std::string family;
};

// What the harness knows was acknowledged.
class Ledger {
 public:
  void Record(const std::string& id, const std::string& version,
              const std::string& family) {
    std::lock_guard lock(mu_);
    latest_[id] = Acked{version, family};
    all_versions_.insert(id + "@" + version);
    ++acks_;
    cv_.notify_all();
  }
  // Waits until at least `n` acknowledgements in all, at most `timeout`.
  bool WaitForAcks(int64_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return acks_ >= n; });
  }
  int64_t acks() {
    std::lock_guard lock(mu_);
    return acks_;
  }
  std::map<std::string, Acked> latest() {
    std::lock_guard lock(mu_);
    return latest_;
  }
  std::set<std::string> all_versions() {
    std::lock_guard lock(mu_);
    return all_versions_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Acked> latest_;
  std::set<std::string> all_versions_;
  int64_t acks_ = 0;
};

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
            Ledger& ledger) {
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
    ledger.Record(id, body["meta"]["versionId"], family);
    if (!update) mine.push_back(id);
  }
}

int Cycles() {
  const char* env = std::getenv("POSTA_KILL_CYCLES");
  return env ? std::atoi(env) : 200;
}

TEST(Kill9Test, EveryAcknowledgedWriteSurvivesSigkill) {
  TempDir dir;
  std::string node = dir.File("clinic");
  auto init =
      testing::Run({PostaBinary(), "init", "--dir", node, "--role", "clinic",
                    "--facility", "clinic-k", "--listen", "127.0.0.1:0"});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  std::string config = node + "/posta.toml";
  std::string port_file = dir.File("port");

  Ledger ledger;
  std::mt19937_64 rng(20261123);
  const int cycles = Cycles();
  testing::KillFigures figures;
  for (int cycle = 0; cycle < cycles; ++cycle) {
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

    for (const auto& [id, acked] : ledger.latest()) {
      auto rec = (*store)->Get(storage::ResourceType::kPatient, id);
      if (!rec.ok() || rec->deleted) {
        ++figures.lost;
        ADD_FAILURE() << "cycle " << cycle << ": acknowledged " << id
                      << " lost";
        continue;
      }
      std::string stored = rec->version.ToString();
      // A later, unacknowledged update may have committed before the kill.
      if (stored < acked.version) {
        ++figures.lost;
        ADD_FAILURE() << "cycle " << cycle << ": " << id << " is at " << stored
                      << ", older than the acknowledged " << acked.version;
      } else if (stored == acked.version) {
        json content = json::parse(rec->content);
        if (content["name"][0]["family"] != acked.family) {
          ++figures.lost;
          ADD_FAILURE() << "cycle " << cycle << ": " << id << "@" << stored
                        << " does not hold the acknowledged content";
        }
      }
    }
    auto changes = (*store)->ChangesSince(0, 10'000'000);
    ASSERT_OK(changes);
    std::map<std::string, int> logged;
    int64_t prev_seq = 0;
    for (const auto& c : *changes) {
      ASSERT_GT(c.seq, prev_seq);
      prev_seq = c.seq;
      if (++logged[c.id + "@" + c.version.ToString()] == 2) {
        ++figures.duplicated;
        ADD_FAILURE() << "cycle " << cycle << ": " << c.id << "@"
                      << c.version.ToString() << " logged twice";
      }
    }
    for (const auto& v : ledger.all_versions()) {
      if (logged.count(v) == 0) {
        ++figures.lost;
        ADD_FAILURE() << "cycle " << cycle << ": no change-log entry for " << v;
      }
    }
    figures.cycles = cycle + 1;
    if (HasFailure()) break;
  }
  figures.acknowledged = ledger.acks();
  testing::PrintKillFigures("serve, local writes", figures);
}
}  // namespace
}  // namespace posta
