// Hostile input against real processes: a coordinator confined to their
// region, role violations over HTTP for each role and area, and slow
// clients (slowloris headers, slow POST bodies) holding connections while
// a real clinic syncs through the same hub. Each refusal is checked for its
// status, its message and that the hub's data did not change.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "cluster.h"
#include "posta/storage/audit.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::TempDir;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string PatientLine(const std::string& family) {
  return json{{"resourceType", "Patient"},
              {"name", {{{"family", family}, {"given", {"Ana"}}}}},
              {"gender", "female"},
              {"birthDate", "1990-01-01"}}
      .dump();
}

Headers Bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token},
          {"Content-Type", "application/fhir+json"}};
}

class HostileTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (clinic_.running()) {
      clinic_.Signal(SIGTERM);
      (void)clinic_.Wait(std::chrono::seconds(20));
    }
    if (cluster_.hub().running()) {
      Status stopped = cluster_.StopHub(std::chrono::seconds(20));
      EXPECT_TRUE(stopped.ok()) << stopped.ToString();
    }
  }

  testing::RunResult AddUser(const std::string& config, const std::string& name,
                             const std::string& role,
                             const std::string& region = "") {
    std::string command =
        "printf '%s\\n' 'a good password' | \"$0\" user add --config \"$1\" "
        "--password-stdin --role \"$2\" \"$3\"";
    if (!region.empty()) command += " --region \"$4\"";
    return testing::Run(
        {"/bin/sh", "-c", command, PostaBinary(), config, role, name, region});
  }

  std::string Login(int port, const std::string& user) {
    auto r =
        HttpCall(port, "POST", "/auth/login",
                 json{{"user", user}, {"password", "a good password"}}.dump(),
                 {{"Content-Type", "application/json"}});
    EXPECT_OK(r);
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    json body = json::parse(r->body, nullptr, false);
    return body.is_object() ? body.value("token", "") : "";
  }

  void Import(const std::string& clinic,
              const std::vector<std::string>& families) {
    std::string text;
    for (const std::string& f : families) text += PatientLine(f) + "\n";
    auto r = testing::ImportNdjson(cluster_.Config(clinic),
                                   dir_.File(clinic + ".ndjson"), text);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  testing::RunResult Sync(const std::string& clinic) {
    return testing::Run(
        {PostaBinary(), "sync", "--config", cluster_.Config(clinic)},
        std::chrono::seconds(120));
  }

  // The hub's stored content (records, versions, change log).
  std::string HubDigest() {
    auto store = cluster_.OpenReadOnly("hub");
    EXPECT_OK(store);
    if (!store.ok()) return {};
    auto digest = (*store)->ContentDigest();
    EXPECT_OK(digest);
    return digest.ok() ? *digest : "";
  }

  // Family names of the patients a search on `port` returns with `token`.
  std::set<std::string> Families(int port, const std::string& token) {
    auto r =
        HttpCall(port, "GET", "/fhir/Patient?_count=100", "", Bearer(token));
    EXPECT_OK(r);
    std::set<std::string> out;
    if (!r.ok()) return out;
    EXPECT_EQ(r->status, 200) << r->body;
    json bundle = json::parse(r->body, nullptr, false);
    for (const json& e : bundle.value("entry", json::array())) {
      out.insert(e["resource"]["name"][0].value("family", ""));
    }
    return out;
  }

  // The one place a test asserts a refusal: the status, the message, that
  // the hub's stored data is what it was, and that the node which refused
  // (`node`: "hub" or a clinic's name) recorded the denial in its audit
  // trail, with the answer's message (a 404 that hides a record out of
  // scope too).
  void ExpectRefusedAndUnchanged(const Result<testing::HttpResult>& r,
                                 int status, const std::string& message,
                                 const std::string& hub_before,
                                 const std::string& node = "hub") {
    ASSERT_OK(r);
    EXPECT_EQ(r->status, status) << r->body;
    json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_EQ(body["issue"][0].value("diagnostics", ""), message) << r->body;
    EXPECT_EQ(HubDigest(), hub_before);
    EXPECT_TRUE(DenialAudited(node, std::to_string(status) + " " + message))
        << "no denied entry in " << node << "'s audit trail with \""
        << status << " " << message << "\"";
  }

  // True when `node`'s own audit trail holds a denial whose detail names
  // `what`.
  bool DenialAudited(const std::string& node, const std::string& what) {
    auto store = cluster_.OpenReadOnly(node);
    EXPECT_OK(store);
    if (!store.ok()) return false;
    storage::AuditFilter filter;
    filter.action = "denied";
    filter.limit = 1000;
    for (;;) {
      auto page = (*store)->ReadAudit(filter);
      EXPECT_OK(page);
      if (!page.ok()) return false;
      for (const storage::AuditEntry& e : page->entries) {
        if (e.outcome == "denied" &&
            e.detail.find(what) != std::string::npos) {
          return true;
        }
      }
      if (page->next_cursor == 0) return false;
      filter.after_cursor = page->next_cursor;
    }
  }

  // `name` as a clinic of `facility`, enrolled, with `families` synced up.
  void AddSyncedClinic(const std::string& name,
                       const std::vector<std::string>& families) {
    ASSERT_OK(cluster_.AddClinic(name, name));
    Import(name, families);
    auto synced = Sync(name);
    ASSERT_EQ(synced.exit_code, 0) << synced.output;
  }

  TempDir dir_;
  testing::Cluster cluster_{dir_.path()};
  ChildProcess clinic_;
};

// A coordinator reads the records of their region's facilities and shared
// reference data, nothing else: another region's patient is 404 like one
// that does not exist, and searches leave it out.
TEST_F(HostileTest, CoordinatorReadsOnlyTheirRegion) {
  ASSERT_OK(cluster_.InitHub("hub-1"));
  ASSERT_OK(cluster_.RegisterFacility("north-1", "north"));
  ASSERT_OK(cluster_.RegisterFacility("north-2", "north"));
  ASSERT_OK(cluster_.RegisterFacility("south-1", "south"));
  const std::string hub = cluster_.HubConfig();
  ASSERT_EQ(AddUser(hub, "nora", "coordinator", "north").exit_code, 0);
  ASSERT_EQ(AddUser(hub, "sam", "coordinator", "south").exit_code, 0);
  ASSERT_EQ(AddUser(hub, "nobody", "coordinator").exit_code, 0);
  ASSERT_EQ(AddUser(hub, "ada", "admin").exit_code, 0);
  ASSERT_OK(cluster_.StartHub());
  const int port = cluster_.hub_port();
  ASSERT_NO_FATAL_FAILURE(AddSyncedClinic("north-1", {"Norte", "Nube"}));
  ASSERT_NO_FATAL_FAILURE(AddSyncedClinic("north-2", {"Niebla"}));
  ASSERT_NO_FATAL_FAILURE(AddSyncedClinic("south-1", {"Sur", "Sol"}));

  const std::string nora = Login(port, "nora");
  const std::string sam = Login(port, "sam");
  const std::string nobody = Login(port, "nobody");
  const std::string ada = Login(port, "ada");
  // Shared reference data, made on the hub.
  auto location = HttpCall(port, "POST", "/fhir/Location",
                           json{{"resourceType", "Location"},
                                {"status", "active"},
                                {"name", "District store"}}
                               .dump(),
                           Bearer(ada));
  ASSERT_OK(location);
  ASSERT_EQ(location->status, 201) << location->body;
  const std::string before = HubDigest();

  using Names = std::set<std::string>;
  EXPECT_EQ(Families(port, nora), (Names{"Norte", "Nube", "Niebla"}));
  EXPECT_EQ(Families(port, sam), (Names{"Sur", "Sol"}));
  EXPECT_EQ(Families(port, nobody), Names{});
  EXPECT_EQ(Families(port, ada),
            (Names{"Norte", "Nube", "Niebla", "Sur", "Sol"}));
  for (const std::string* token : {&nora, &sam, &nobody}) {
    auto locations =
        HttpCall(port, "GET", "/fhir/Location", "", Bearer(*token));
    ASSERT_OK(locations);
    EXPECT_EQ(json::parse(locations->body)["total"], 1) << locations->body;
  }

  // A south patient read by the north coordinator: as absent as an id that
  // was never used.
  auto south = HttpCall(port, "GET", "/fhir/Patient?name=sur", "", Bearer(sam));
  ASSERT_OK(south);
  const std::string id =
      json::parse(south->body)["entry"][0]["resource"].value("id", "");
  ASSERT_FALSE(id.empty()) << south->body;
  ExpectRefusedAndUnchanged(
      HttpCall(port, "GET", "/fhir/Patient/" + id, "", Bearer(nora)), 404,
      "Patient/" + id + ": no such record", before);
  ExpectRefusedAndUnchanged(
      HttpCall(port, "GET", "/fhir/Patient/" + id + "/_history", "",
               Bearer(nora)),
      404, "Patient/" + id + ": no such record", before);
  auto own = HttpCall(port, "GET", "/fhir/Patient/" + id, "", Bearer(sam));
  ASSERT_OK(own);
  EXPECT_EQ(own->status, 200) << own->body;

  auto whoami = HttpCall(port, "GET", "/auth/whoami", "", Bearer(nora));
  ASSERT_OK(whoami);
  EXPECT_EQ(json::parse(whoami->body).value("reads", ""),
            "records of region north (north-1, north-2) and shared reference "
            "data");
  EXPECT_EQ(HubDigest(), before);
}

// Every role against the areas it may not touch, over real HTTP: 403 with
// the role's own words, nothing stored. A hub's coordinator writes nothing;
// a clinic's registrar reads no clinical notes; a clinician manages no
// metrics; nobody but an admin sees /metrics.
TEST_F(HostileTest, RoleViolationsOverHttp) {
  ASSERT_OK(cluster_.InitHub("hub-1"));
  ASSERT_OK(cluster_.RegisterFacility("north-1", "north"));
  const std::string hub = cluster_.HubConfig();
  ASSERT_EQ(AddUser(hub, "nora", "coordinator", "north").exit_code, 0);
  ASSERT_OK(cluster_.StartHub());
  ASSERT_NO_FATAL_FAILURE(AddSyncedClinic("north-1", {"Norte"}));
  const std::string clinic_config = cluster_.Config("north-1");
  ASSERT_EQ(AddUser(clinic_config, "rita", "registrar").exit_code, 0);
  ASSERT_EQ(AddUser(clinic_config, "cleo", "clinician").exit_code, 0);
  const std::string port_file = dir_.File("clinic.port");
  auto child = ChildProcess::Start({PostaBinary(), "serve", "--config",
                                    clinic_config, "--port-file", port_file},
                                   dir_.File("clinic.log"));
  ASSERT_OK(child);
  clinic_ = std::move(child).value();
  auto clinic_port =
      testing::WaitForPortFile(port_file, std::chrono::seconds(20));
  ASSERT_OK(clinic_port);
  const int hub_port = cluster_.hub_port();

  const std::string patient = PatientLine("Nuevo");
  const std::string conflict = "/conflicts/" + std::string(32, 'a');
  struct Case {
    std::string user;
    bool on_hub;
    std::string method, target, body, message;
  };
  const std::string registrar_may =
      "a registrar may read and write Patient, Appointment; read Location, "
      "metadata";
  const std::string clinician_may =
      "a clinician may read and write Patient, Encounter, Observation, "
      "Appointment, $transfer, conflicts; read Location, metadata";
  const std::string coordinator_may = "a coordinator may read everything";
  const std::vector<Case> cases = {
      {"rita", false, "GET", "/fhir/Observation", "",
       "role registrar: may not read Observation; " + registrar_may},
      {"rita", false, "GET", "/fhir/Encounter", "",
       "role registrar: may not read Encounter; " + registrar_may},
      {"rita", false, "POST", "/fhir/Location",
       R"({"resourceType":"Location","status":"active","name":"X"})",
       "role registrar: may not write Location; " + registrar_may},
      {"rita", false, "GET", "/conflicts", "",
       "role registrar: may not read conflicts; " + registrar_may},
      {"rita", false, "GET", "/metrics", "",
       "role registrar: may not read metrics; " + registrar_may},
      {"cleo", false, "GET", "/metrics", "",
       "role clinician: may not read metrics; " + clinician_may},
      {"cleo", false, "POST", "/fhir/Location",
       R"({"resourceType":"Location","status":"active","name":"X"})",
       "role clinician: may not write Location; " + clinician_may},
      {"nora", true, "POST", "/fhir/Patient", patient,
       "role coordinator: may not write Patient; " + coordinator_may},
      {"nora", true, "POST", conflict + "/resolve", R"({"choose":"winner"})",
       "role coordinator: may not write conflicts; " + coordinator_may},
      {"nora", true, "POST",
       "/fhir/Patient/6f1c2a0e-3b7d-4c55-9a1e-2f4b8c9d0e11/$transfer",
       R"({"resourceType":"Parameters"})",
       "role coordinator: may not write $transfer; " + coordinator_may},
      {"nora", true, "DELETE",
       "/fhir/Location/6f1c2a0e-3b7d-4c55-9a1e-2f4b8c9d0e11", "",
       "role coordinator: may not write Location; " + coordinator_may},
  };
  std::map<std::string, std::string> tokens;
  tokens["rita"] = Login(*clinic_port, "rita");
  tokens["cleo"] = Login(*clinic_port, "cleo");
  tokens["nora"] = Login(hub_port, "nora");
  auto clinic_digest = [&] {
    auto store = cluster_.OpenReadOnly("north-1");
    EXPECT_OK(store);
    auto digest = store.ok() ? (*store)->ContentDigest()
                             : Result<std::string>(store.status());
    return digest.ok() ? *digest : std::string();
  };
  const std::string clinic_before = clinic_digest();
  const std::string hub_before = HubDigest();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.user + " " + c.method + " " + c.target);
    Headers headers = Bearer(tokens[c.user]);
    if (c.target.rfind("/conflicts", 0) == 0) {
      headers[1].second = "application/json";
    }
    ExpectRefusedAndUnchanged(HttpCall(c.on_hub ? hub_port : *clinic_port,
                                       c.method, c.target, c.body, headers),
                              403, c.message, hub_before,
                              c.on_hub ? "hub" : "north-1");
    EXPECT_EQ(clinic_digest(), clinic_before);
  }
}

// Slow clients against a hub with a short read timeout: 200 connections
// kept open at all times (half sending a header one byte at a time, half a
// POST body one byte at a time) while a real clinic syncs through the same
// hub. The sync succeeds, and the server closes every slow connection.
TEST_F(HostileTest, SlowClientsAreCutOffWhileARealNodeSyncs) {
  ASSERT_OK(cluster_.InitHub("hub-1"));
  ASSERT_OK(cluster_.EditConfig("hub", "read_timeout_ms = 30000",
                                "read_timeout_ms = 1500"));
  ASSERT_OK(cluster_.EditConfig("hub", "max_connections = 256",
                                "max_connections = 300"));
  ASSERT_OK(cluster_.StartHub());
  const int port = cluster_.hub_port();
  ASSERT_OK(cluster_.AddClinic("clinic-a", "clinic-a"));
  std::vector<std::string> families;
  for (int i = 0; i < 200; ++i) families.push_back("Lento" + std::to_string(i));
  Import("clinic-a", families);

  constexpr size_t kSlow = 200;
  std::atomic<bool> keep_full{true};
  std::atomic<int> closed_by_server{0};
  std::atomic<int> opened{0};
  auto open_one = [&](size_t i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return -1;
    }
    // Half a slowloris header, half a slow POST whose body never ends.
    const std::string start =
        i % 2 == 0 ? "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
                   : "POST /sync/v1/push HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 100000\r\n\r\n";
    (void)send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    ++opened;
    return fd;
  };
  std::vector<int> fds(kSlow, -1);
  for (size_t i = 0; i < kSlow; ++i) fds[i] = open_one(i);
  std::thread trickle([&] {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      size_t open_now = 0;
      for (size_t i = 0; i < kSlow; ++i) {
        if (fds[i] < 0) continue;
        pollfd p{fds[i], POLLIN, 0};
        char buf[512];
        if (poll(&p, 1, 0) > 0) {
          ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN)) {
            ++closed_by_server;
            close(fds[i]);
            fds[i] = keep_full ? open_one(i) : -1;
            continue;
          }
        }
        (void)send(fds[i], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        ++open_now;
      }
      if (!keep_full && open_now == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });

  // The real node syncs while the slow connections hold their slots.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto synced = Sync("clinic-a");
  keep_full = false;
  EXPECT_EQ(synced.exit_code, 0) << synced.output;
  trickle.join();
  auto hub = cluster_.OpenReadOnly("hub");
  ASSERT_OK(hub);
  ASSERT_OK_AND_ASSIGN(storage::StoreStats stats, (*hub)->Stats());
  EXPECT_EQ(stats.live_records[storage::ResourceType::kPatient], 200);
  // Every slow connection was closed by the server, none by the test.
  for (int fd : fds) EXPECT_EQ(fd, -1);
  EXPECT_EQ(closed_by_server.load(), opened.load());
  EXPECT_GE(opened.load(), static_cast<int>(kSlow));
  std::printf("slow connections opened %d, closed by the hub %d\n",
              opened.load(), closed_by_server.load());
  // And the hub still answers at once.
  auto health = HttpCall(port, "GET", "/health");
  ASSERT_OK(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace posta
