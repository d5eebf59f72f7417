// I1, I2, I3 and I8 together, against real processes: a clinic `posta
// serve` that syncs with a hub `posta serve` on its own schedule (at start
// and a second after local writes), while clients write to both over HTTP:
// at the clinic they create, update and delete Patients and Encounters; at
// the hub they correct Patients the clinic has finished with, which must
// come down to the clinic. The harness SIGKILLs the clinic, the hub or both
// at random moments (seeded), restarts them and goes on.
//
// A ledger kept here, outside the system under test, records every write a
// node acknowledged, with its version. Every K cycles, and at the end, the
// link heals (the clinic restarts cleanly and syncs until nothing is
// pending) and both sides are checked against the ledger:
//   - lost: an acknowledged version missing from either side's change log,
//     or a record whose current version is older than the last one
//     acknowledged (or, being that one, has other content);
//   - duplicated: a version logged more than once on either side (a
//     version is keyed by its stamp, which names the node that made it
//     and orders its writes, so this is "each origin change exactly once");
//   - integrity failures: `PRAGMA integrity_check` or `posta audit verify`
//     failing on either side;
//   - and the clinic's replica digests are equal on both sides (I3).
//
// POSTA_CLUSTER_KILL_CYCLES sets the cycles (default 200; a soak runs
// thousands), POSTA_CLUSTER_KILL_CHECK_EVERY the cycles between checks
// (default 100), POSTA_KILL_SEED the seed (default fixed; printed).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "ack_ledger.h"
#include "cluster.h"
#include "kill_figures.h"
#include "posta/base/hlc.h"
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

constexpr char kFacility[] = "clinic-k";

// Binds a loopback socket to `port` (0: the kernel picks) and closes it;
// the port bound, or 0 when it is taken.
int TryBind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  int bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  ::close(fd);
  return bound;
}

// A loopback port nobody listens on now. The hub keeps one port across its
// restarts, because the running clinic's hub_url names it; the port is
// taken below the kernel's ephemeral range, because while the hub is down a
// port of that range can go to any process's bind(0) or outgoing
// connection (a soak runs several of these tests side by side, each
// restarting its nodes), and the hub could then not restart.
int FreePort() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  const int first = std::max(1024, low - 16384);
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 100 && first < low; ++attempt) {
    const int port = std::uniform_int_distribution<>(first, low - 1)(rng);
    if (TryBind(port) == port) return port;
  }
  return TryBind(0);
}

// The version an answer names: meta.versionId of a resource, else the ETag
// (a DELETE answers with an OperationOutcome and the deletion's ETag).
std::string AnsweredVersion(const testing::HttpResult& r) {
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("meta") &&
      body["meta"].contains("versionId")) {
    return body["meta"]["versionId"];
  }
  std::string etag = r.Header("ETag");  // W/"<vid>"
  const size_t open = etag.find('"');
  const size_t close = etag.rfind('"');
  if (open == std::string::npos || close <= open) return "";
  return etag.substr(open + 1, close - open - 1);
}

bool VersionAtLeast(const std::string& a, const std::string& b) {
  auto x = base::HlcStamp::Parse(a);
  auto y = base::HlcStamp::Parse(b);
  return x.ok() && y.ok() && *x >= *y;
}

// Patients the clinic's writers are done with, for the hub to correct:
// handed over right after an acknowledged write, so the hub corrects the
// version the clinic acknowledged last (or its own later one), never
// concurrently with the clinic.
class Handoff {
 public:
  void Give(const std::string& id, const std::string& version) {
    std::lock_guard lock(mu_);
    pool_.emplace_back(id, version);
  }
  bool Pick(std::mt19937_64& rng, std::pair<std::string, std::string>* out) {
    std::lock_guard lock(mu_);
    if (pool_.empty()) return false;
    *out = pool_[rng() % pool_.size()];
    return true;
  }
  void Advance(const std::string& id, const std::string& version) {
    std::lock_guard lock(mu_);
    for (auto& [i, v] : pool_) {
      if (i == id) v = version;
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> pool_;
};

json PatientBody(const std::string& id, const std::string& family) {
  json p = {{"resourceType", "Patient"},
            {"name", json::array({{{"family", family}, {"given", {"Ama"}}}})},
            {"gender", "female"},
            {"birthDate", "1990-01-01"}};
  if (!id.empty()) p["id"] = id;
  return p;
}

json EncounterBody(const std::string& id, const std::string& patient,
                   const std::string& marker) {
  json e = {{"resourceType", "Encounter"},
            {"status", "finished"},
            {"class", {{"code", "AMB"}}},
            {"serviceType", {{"text", marker}}},
            {"subject", {{"reference", "Patient/" + patient}}},
            {"period", {{"start", "2026-11-01T10:00:00Z"}}}};
  if (!id.empty()) e["id"] = id;
  return e;
}

const std::vector<std::pair<std::string, std::string>> kJson = {
    {"Content-Type", "application/fhir+json"}};

// Waits a little when the node is down, so a dead server is not spun on.
void Pause() { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }

// One client of the clinic: creates Patients and Encounters, updates and
// deletes its own, and hands some Patients over to the hub.
void ClinicWriter(std::atomic<int>& port, int thread, uint64_t seed,
                  std::atomic<bool>& stop, AckLedger& ledger,
                  Handoff& handoff) {
  std::mt19937_64 rng(seed);
  struct Patient {
    std::string id;
    int encounters = 0;  // created (or tried): such a patient is kept
  };
  std::vector<Patient> patients;
  std::vector<std::pair<std::string, std::string>> encounters;  // id, patient
  int n = 0;
  while (!stop.load()) {
    const std::string marker =
        "T" + std::to_string(thread) + "x" + std::to_string(n++);
    const int p = port.load();
    const auto timeout = std::chrono::seconds(5);
    const unsigned op = rng() % 100;
    Result<testing::HttpResult> r = Status::Unavailable("no request", "");
    std::string key;
    bool deleted = false;
    size_t pick = 0;
    enum { kNew, kPatient, kEncounter, kDropPatient, kDropEncounter } what;
    if (patients.empty() || op < 30) {
      what = kNew;
      r = HttpCall(p, "POST", "/fhir/Patient", PatientBody("", marker).dump(),
                   kJson, timeout);
    } else if (op < 50) {
      what = kPatient;
      pick = rng() % patients.size();
      const std::string& id = patients[pick].id;
      key = "Patient/" + id;
      r = HttpCall(p, "PUT", "/fhir/" + key, PatientBody(id, marker).dump(),
                   kJson, timeout);
    } else if (op < 65 || (op < 88 && encounters.empty())) {
      what = kEncounter;  // a new one
      pick = rng() % patients.size();
      ++patients[pick].encounters;
      r = HttpCall(p, "POST", "/fhir/Encounter",
                   EncounterBody("", patients[pick].id, marker).dump(), kJson,
                   timeout);
    } else if (op < 80) {
      what = kEncounter;  // an update
      pick = rng() % encounters.size();
      const auto& [id, patient] = encounters[pick];
      key = "Encounter/" + id;
      r = HttpCall(p, "PUT", "/fhir/" + key,
                   EncounterBody(id, patient, marker).dump(), kJson, timeout);
    } else if (op < 88) {
      what = kDropEncounter;
      pick = rng() % encounters.size();
      key = "Encounter/" + encounters[pick].first;
      deleted = true;
      r = HttpCall(p, "DELETE", "/fhir/" + key, "", {}, timeout);
      encounters.erase(encounters.begin() + static_cast<long>(pick));
    } else {
      // A patient without encounters is deleted; one with some is handed
      // over to the hub once its last write was acknowledged (below).
      what = kDropPatient;
      pick = rng() % patients.size();
      if (patients[pick].encounters > 0) continue;
      key = "Patient/" + patients[pick].id;
      deleted = true;
      r = HttpCall(p, "DELETE", "/fhir/" + key, "", {}, timeout);
      patients.erase(patients.begin() + static_cast<long>(pick));
    }
    if (!r.ok()) {  // the server is gone: not acknowledged
      Pause();
      continue;
    }
    if (r->status != 200 && r->status != 201) continue;
    const std::string version = AnsweredVersion(*r);
    if (version.empty()) continue;
    if (key.empty()) {  // a create: the server minted the id
      json body = json::parse(r->body, nullptr, false);
      if (!body.is_object() || !body.contains("id")) continue;
      const std::string id = body["id"];
      if (what == kNew) {
        key = "Patient/" + id;
        patients.push_back(Patient{id, 0});
      } else {
        key = "Encounter/" + id;
        encounters.emplace_back(id, patients[pick].id);
      }
    }
    ledger.Record(Ack{key, version, deleted, deleted ? "" : marker});
    if (what == kPatient && rng() % 4 == 0) {
      handoff.Give(patients[pick].id, version);
      patients.erase(patients.begin() + static_cast<long>(pick));
    }
  }
}

// The hub's client: corrects handed-over Patients once the hub holds the
// version the clinic acknowledged last, with If-Match on what it holds.
void HubWriter(int port, uint64_t seed, std::atomic<bool>& stop,
               AckLedger& ledger, Handoff& handoff) {
  std::mt19937_64 rng(seed);
  int n = 0;
  while (!stop.load()) {
    std::pair<std::string, std::string> pick;
    if (!handoff.Pick(rng, &pick)) {
      Pause();
      continue;
    }
    const auto& [id, min_version] = pick;
    const std::string key = "Patient/" + id;
    auto got =
        HttpCall(port, "GET", "/fhir/" + key, "", {}, std::chrono::seconds(5));
    if (!got.ok() || got->status != 200) {  // down, or not synced yet
      Pause();
      continue;
    }
    const std::string held = AnsweredVersion(*got);
    if (!VersionAtLeast(held, min_version)) {
      Pause();
      continue;
    }
    const std::string marker = "H" + std::to_string(n++);
    auto put =
        HttpCall(port, "PUT", "/fhir/" + key, PatientBody(id, marker).dump(),
                 {{"Content-Type", "application/fhir+json"},
                  {"If-Match", "W/\"" + held + "\""}},
                 std::chrono::seconds(5));
    if (!put.ok() || put->status != 200) continue;
    const std::string version = AnsweredVersion(*put);
    if (version.empty()) continue;
    ledger.Record(Ack{key, version, false, marker}, /*at_hub=*/true);
    handoff.Advance(id, version);
  }
}

class ClusterKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_port_ = FreePort();
    ASSERT_GT(hub_port_, 0);
    const std::string listen = "127.0.0.1:" + std::to_string(hub_port_);
    ASSERT_OK(cluster_.InitHub("region", listen));
    // Restarts stay fast: no backup at start.
    ASSERT_OK(cluster_.EditConfig("hub", "every_h = 24", "every_h = 0"));
    ASSERT_OK(cluster_.StartHub());
    ASSERT_EQ(cluster_.hub_port(), hub_port_);
    hub_up_ = true;
    ASSERT_OK(cluster_.AddClinic("clinic", kFacility, "http://" + listen));
    ASSERT_OK(cluster_.EditConfig("clinic", "every_h = 24", "every_h = 0"));
    ASSERT_OK(cluster_.EditConfig("clinic", "after_write_s = 10",
                                  "after_write_s = 1"));
    ASSERT_OK(
        cluster_.EditConfig("clinic", "interval_s = 300", "interval_s = 10"));
  }

  void TearDown() override {
    StopWriters();
    clinic_.Kill();
  }

  std::string ClinicLog() {
    return testing::Run({"/bin/cat", dir_.File("clinic.log")}).output;
  }

  Status StartClinic() {
    const std::string port_file = dir_.File("clinic.port");
    ::unlink(port_file.c_str());
    POSTA_ASSIGN_OR_RETURN(
        clinic_, ChildProcess::Start(
                     {PostaBinary(), "serve", "--config",
                      cluster_.Config("clinic"), "--port-file", port_file},
                     dir_.File("clinic.log")));
    Result<int> port =
        testing::WaitForPortFile(port_file, std::chrono::seconds(30));
    if (!port.ok())
      return port.status().WithContext("clinic log: " + ClinicLog());
    clinic_port_ = *port;
    return Status::Ok();
  }

  void StartWriters(std::mt19937_64& rng) {
    stop_ = false;
    for (int t = 0; t < 3; ++t) {
      writers_.emplace_back(ClinicWriter, std::ref(clinic_port_), t, rng(),
                            std::ref(stop_), std::ref(ledger_),
                            std::ref(handoff_));
    }
    writers_.emplace_back(HubWriter, hub_port_, rng(), std::ref(stop_),
                          std::ref(ledger_), std::ref(handoff_));
  }

  void StopWriters() {
    stop_ = true;
    for (auto& w : writers_) w.join();
    writers_.clear();
  }

  // True when the clinic's /health says a sync is running.
  bool ClinicSyncing() {
    auto health = HttpCall(clinic_port_, "GET", "/health", "", {},
                           std::chrono::seconds(2));
    if (!health.ok() || health->status != 200) return false;
    json h = json::parse(health->body, nullptr, false);
    return h.is_object() && h["sync"].is_object() &&
           h["sync"]["running"] == true;
  }

  // Heals: both nodes up, the clinic restarted cleanly (it syncs at start)
  // and polled on /health until a sync succeeded with nothing pending.
  void Heal() {
    if (!hub_up_) {
      ASSERT_OK(cluster_.StartHub());
      hub_up_ = true;
    }
    if (clinic_.running()) {
      clinic_.Signal(SIGTERM);
      auto done = clinic_.Wait(std::chrono::seconds(30));
      ASSERT_OK(done);
      ASSERT_EQ(done->exit_code, 0) << ClinicLog();
    }
    ASSERT_OK(StartClinic());
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::minutes(3);
    json sync;
    while (std::chrono::steady_clock::now() < deadline) {
      auto health = HttpCall(clinic_port_, "GET", "/health");
      if (health.ok() && health->status == 200) {
        json h = json::parse(health->body, nullptr, false);
        if (h.is_object() && h["sync"].is_object()) {
          sync = h["sync"];
          if (!sync["last_success"].is_null() && !sync["running"].get<bool>() &&
              sync["pending_changes"] == 0) {
            return;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the clinic did not catch up with the hub: " << sync.dump()
           << "\nclinic log: " << ClinicLog();
  }

  // Counts one failure of a check; names the first few, so that a broken
  // soak run does not print thousands.
  void Fail(int64_t& counter, const std::string& what) {
    ++counter;
    if (++reported_ <= 20) ADD_FAILURE() << what;
    if (reported_ == 20) ADD_FAILURE() << "(further failures counted only)";
  }

  // The checks after a heal; adds to the figures.
  void Check(testing::KillFigures& f) {
    ledger_.TakeUnchecked();  // the whole ledger is checked here
    auto clinic = cluster_.OpenReadOnly("clinic");
    auto hub = cluster_.OpenReadOnly("hub");
    ASSERT_OK(clinic);
    ASSERT_OK(hub);
    for (auto* store : {&*clinic, &*hub}) {
      Status s = (*store)->CheckIntegrity();
      if (!s.ok()) Fail(f.integrity_failures, s.ToString());
    }
    for (const char* node : {"clinic", "hub"}) {
      auto verify = testing::Run({PostaBinary(), "audit", "verify", "--config",
                                  cluster_.Config(node)});
      if (verify.exit_code != 0) {
        Fail(f.integrity_failures,
             std::string(node) + ": posta audit verify: " + verify.output);
      }
    }

    // Each side's change log, counted by "Type/id@version".
    std::map<std::string, int> logged[2];
    int side = 0;
    for (auto* store : {&*clinic, &*hub}) {
      auto changes = (*store)->ChangesSince(0, 100'000'000);
      ASSERT_OK(changes);
      for (const auto& c : *changes) {
        ++logged[side][std::string(storage::ResourceTypeName(c.type)) + "/" +
                       c.id + "@" + c.version.ToString()];
      }
      ++side;
    }
    for (int s = 0; s < 2; ++s) {
      for (const auto& [v, count] : logged[s]) {
        for (int extra = 1; extra < count; ++extra) {
          Fail(f.duplicated, std::string(s ? "hub" : "clinic") + " logged " +
                                 v + " " + std::to_string(count) + " times");
        }
      }
    }
    for (const std::string& v : ledger_.versions()) {
      for (int s = 0; s < 2; ++s) {
        if (logged[s].count(v) == 0) {
          Fail(f.lost, "acknowledged " + v + " is not in the " +
                           (s ? "hub" : "clinic") + "'s change log");
        }
      }
    }
    for (const auto& [key, acked] : ledger_.latest()) {
      const size_t slash = key.find('/');
      auto type = storage::ParseResourceType(key.substr(0, slash));
      ASSERT_TRUE(type.has_value()) << key;
      const std::string id = key.substr(slash + 1);
      side = 0;
      for (auto* store : {&*clinic, &*hub}) {
        const char* name = side++ ? "hub" : "clinic";
        auto rec = (*store)->Get(*type, id);
        if (!rec.ok()) {
          Fail(f.lost, std::string(name) + ": acknowledged " + key +
                           " lost: " + rec.status().ToString());
          continue;
        }
        const std::string held = rec->version.ToString();
        if (!VersionAtLeast(held, acked.version)) {
          Fail(f.lost, std::string(name) + ": " + key + " is at " + held +
                           ", older than the acknowledged " + acked.version);
          continue;
        }
        if (held != acked.version) continue;  // a later, unacknowledged write
        std::string marker;
        if (!rec->deleted) {
          json content = json::parse(rec->content, nullptr, false);
          marker = *type == storage::ResourceType::kPatient
                       ? content["name"][0]["family"].get<std::string>()
                       : content["serviceType"]["text"].get<std::string>();
        }
        if (rec->deleted != acked.deleted || marker != acked.marker) {
          Fail(f.lost, std::string(name) + ": " + key + "@" + held +
                           " holds \"" + marker + "\"" +
                           (rec->deleted ? " (deleted)" : "") +
                           ", acknowledged \"" + acked.marker + "\"" +
                           (acked.deleted ? " (deleted)" : ""));
        }
      }
    }
    ASSERT_OK_AND_ASSIGN(std::string clinic_digest,
                         (*clinic)->ReplicaDigest(kFacility));
    ASSERT_OK_AND_ASSIGN(std::string hub_digest,
                         (*hub)->ReplicaDigest(kFacility));
    EXPECT_EQ(clinic_digest, hub_digest) << "replicas differ after the heal";
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
  int hub_port_ = 0;
  bool hub_up_ = false;
  ChildProcess clinic_;
  std::atomic<int> clinic_port_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> writers_;
  AckLedger ledger_;
  Handoff handoff_;
  int reported_ = 0;  // failures named so far
};

TEST_F(ClusterKillTest, ClinicAndHubKilledDuringWritesAndSync) {
  const int64_t cycles = testing::EnvCount("POSTA_CLUSTER_KILL_CYCLES", 200);
  const int64_t check_every =
      testing::EnvCount("POSTA_CLUSTER_KILL_CHECK_EVERY", 100);
  const uint64_t seed =
      static_cast<uint64_t>(testing::EnvCount("POSTA_KILL_SEED", 20261123));
  std::printf("cluster kill: seed %llu (POSTA_KILL_SEED), %lld cycles\n",
              static_cast<unsigned long long>(seed),
              static_cast<long long>(cycles));
  std::mt19937_64 rng(seed);
  testing::KillFigures figures;
  int64_t kills[3] = {0, 0, 0};  // clinic, hub, both
  int64_t kills_mid_sync = 0;    // of the clinic, while /health said syncing
  ASSERT_OK(StartClinic());
  StartWriters(rng);
  for (int64_t cycle = 1; cycle <= cycles; ++cycle) {
    if (!hub_up_) {
      ASSERT_OK(cluster_.StartHub()) << "cycle " << cycle;
      hub_up_ = true;
    }
    if (!clinic_.running()) {
      ASSERT_OK(StartClinic()) << "cycle " << cycle;
    }
    // Kill after a random number of acknowledgements, then a random pause,
    // so kills land in writes, in syncs at start and after writes, and in
    // the hub's applying of a push.
    const int64_t target =
        ledger_.acks() + 3 + static_cast<int64_t>(rng() % 25);
    const bool reached = ledger_.WaitForAcks(target, std::chrono::seconds(60));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    const unsigned which = rng() % 3;
    ++kills[which];
    if (which != 1 && ClinicSyncing()) ++kills_mid_sync;
    if (which != 1) clinic_.Kill();
    if (which != 0) {
      cluster_.KillHub();
      hub_up_ = false;
    }
    figures.cycles = cycle;
    ASSERT_TRUE(reached) << "cycle " << cycle
                         << ": writes stalled; clinic log: " << ClinicLog();
    if (cycle % check_every == 0 || cycle == cycles) {
      StopWriters();
      Heal();
      if (HasFatalFailure()) break;
      Check(figures);
      figures.acknowledged = ledger_.acks();
      // Progress, for a soak's log.
      std::printf(
          "cluster kill: cycle %lld checked, %lld writes acknowledged\n",
          static_cast<long long>(cycle),
          static_cast<long long>(figures.acknowledged));
      std::fflush(stdout);
      if (HasFailure()) break;
      if (cycle < cycles) StartWriters(rng);
    }
  }
  StopWriters();
  figures.acknowledged = ledger_.acks();
  std::printf(
      "cluster kill: %lld clinic kills, %lld hub kills, %lld both (%lld of "
      "the clinic during its sync); %lld writes acknowledged by the hub, %zu "
      "records\n",
      static_cast<long long>(kills[0]), static_cast<long long>(kills[1]),
      static_cast<long long>(kills[2]), static_cast<long long>(kills_mid_sync),
      static_cast<long long>(ledger_.hub_acks()), ledger_.latest().size());
  testing::PrintKillFigures("clinic and hub serve", figures);
  EXPECT_EQ(figures.lost, 0);
  EXPECT_EQ(figures.duplicated, 0);
  EXPECT_EQ(figures.integrity_failures, 0);
  EXPECT_GT(ledger_.hub_acks(), 0) << "no correction at the hub was tried";
  (void)cluster_.StopHub(std::chrono::seconds(20));
}

}  // namespace
}  // namespace posta
