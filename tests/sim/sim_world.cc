#include "sim_world.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "ledger.h"
#include "posta/base/clock.h"
#include "posta/base/crash_point.h"
#include "posta/base/random.h"
#include "posta/storage/record_store.h"
#include "posta/sync/hub_service.h"
#include "posta/sync/sync_client.h"
#include "sync_fixture.h"
#include "test_util.h"

namespace posta::sim {
namespace {

using storage::ResourceType;
using storage::WriteKind;
using storage::WriteOp;
using sync::testing::LoopTransport;

constexpr int64_t kHour = int64_t{3600} * 1000;
constexpr int64_t kDay = 24 * kHour;
// The hub's bound on clock skew (HubOptions' default, which the sim keeps).
constexpr int64_t kSkewMs = kDay;
constexpr int64_t kYear2099 = 4070908800000;  // 2099-01-01
constexpr const char* kHubFacility = "region-hub";

// Thrown by the crash handler in place of SIGKILL. Not a std::exception, so
// that nothing between the crash point and the world's catch swallows it.
struct SimCrash {
  size_t point;
};

// The crash point armed for the step running now (one world at a time per
// process): the `countdown`-th hit of `point` throws.
struct Armed {
  size_t point = base::kCrashPoints.size();
  int countdown = 0;
};
Armed g_armed;

void OnCrashPoint(size_t index) {
  if (index != g_armed.point || --g_armed.countdown > 0) return;
  g_armed = Armed();
  throw SimCrash{index};
}

std::string PointName(size_t index) {
  return std::string(base::kCrashPoints[index].name);
}

class World;

// A link to the hub that loses, repeats, replays and holds requests, and
// drops answers after the hub committed. Delivery itself goes through the
// sync tests' LoopTransport, reconnected to each new hub after a restart.
class FaultLink final : public sync::Transport {
 public:
  FaultLink(World& world, std::string address)
      : world_(world), address_(std::move(address)) {}

  // Per-request odds of each fault, in percent; all zero on a healed link.
  int drop_request = 0;
  int drop_answer = 0;
  int duplicate = 0;
  int stale = 0;
  int delay = 0;
  // Requests held back by `delay`, delivered later (or never).
  std::vector<std::pair<std::string, std::string>> held;

  void Connect(sync::HubService& hub) {
    loop_ = std::make_unique<LoopTransport>(hub);
    loop_->address = address_;
    (void)loop_->SetBearerToken(token_);
  }
  void Heal() { drop_request = drop_answer = duplicate = stale = delay = 0; }

  Status SetBearerToken(std::string_view token) override {
    token_ = std::string(token);
    return loop_ ? loop_->SetBearerToken(token) : Status::Ok();
  }
  Result<sync::HttpResponse> Post(std::string_view path,
                                  std::string_view content_type,
                                  std::string_view body) override;
  uint64_t bytes_sent() const override { return sent_; }
  uint64_t bytes_received() const override { return received_; }

  // Straight to the hub, no faults: what the network finally delivers.
  Result<sync::HttpResponse> Deliver(std::string_view path,
                                     std::string_view body);

 private:
  World& world_;
  std::string address_;
  std::string token_;
  std::unique_ptr<LoopTransport> loop_;
  std::map<std::string, std::vector<std::string>> history_;  // by op
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

struct ClinicNode {
  std::string facility;
  std::string file;
  std::unique_ptr<base::ManualClock> clock;
  std::unique_ptr<storage::RecordStore> store;
  std::unique_ptr<FaultLink> link;
  std::unique_ptr<sync::SyncClient> client;
  std::string node_id;
};

class World {
 public:
  World(uint64_t seed, const SimOptions& options)
      : options_(options), rng_(seed), store_random_(seed * 7919 + 17) {}

  SimResult Run();

  // Called by the links.
  base::Random& rng() { return rng_; }
  void Count(const std::string& fault) { ++result_.stats.faults[fault]; }
  void Trace(const std::string& line) { result_.trace.push_back(line); }
  bool hub_down = false;
  // The hub died: its files are kept as they are now, for its restart.
  void CrashHub() {
    hub_down = true;
    KeepFiles("hub.db");
  }

 private:
  std::unique_ptr<storage::RecordStore> OpenStore(const std::string& file,
                                                  const std::string& facility,
                                                  const std::string& role,
                                                  base::Clock& clock);
  // A crash leaves the files as the OS holds them, but here the crashed
  // node's objects are still destroyed, and a store's close commits its
  // deferred audit entries and checkpoints the WAL, as a killed process
  // never would. So the files are copied aside when the crash unwinds
  // (committed work only: the open transaction rolled back) and put back
  // after the close, before the restart reopens them.
  void KeepFiles(const std::string& file);
  void PutBackFiles(const std::string& file);
  void StartHub();
  void RestartHub(const std::string& why);
  void StartClinic(ClinicNode& c);
  void RestartClinic(size_t i, const std::string& why, bool crashed = false);
  bool AddClinic(const std::string& facility);
  void LocalWrite(int who);
  std::string NewBody(const storage::Record* before);
  void SyncStep(size_t i);
  void DeliverHeld(size_t i);
  void ClockStep();
  void Fail(const std::string& what) { result_.failures.push_back(what); }
  bool Heal();
  std::string Name(size_t i) const {
    return clinics_[i]->facility + "#" + std::to_string(i);
  }

  SimOptions options_;
  base::Random rng_;           // every choice the run makes
  base::Random store_random_;  // the stores' ids
  posta::testing::TempDir dir_;
  base::ManualClock hub_clock_{sync::testing::kNov2026};
  std::unique_ptr<storage::RecordStore> hub_store_;
  std::unique_ptr<sync::HubService> hub_;
  std::vector<std::unique_ptr<ClinicNode>> clinics_;
  std::map<std::string, std::vector<std::string>> ids_;  // by facility
  Ledger ledger_;
  SimResult result_;
};

Result<sync::HttpResponse> FaultLink::Deliver(std::string_view path,
                                              std::string_view body) {
  if (world_.hub_down || loop_ == nullptr) {
    return Status::Unavailable("hub", "connection refused (hub down)");
  }
  try {
    return loop_->Post(path, sync::kContentType, body);
  } catch (const SimCrash& crash) {
    world_.CrashHub();
    world_.Count("crash " + PointName(crash.point));
    world_.Trace("  hub crashed at " + PointName(crash.point));
    return Status::Unavailable("hub", "connection reset (hub crashed)");
  }
}

Result<sync::HttpResponse> FaultLink::Post(std::string_view path,
                                           std::string_view,
                                           std::string_view body) {
  sent_ += body.size();
  const std::string op(path.substr(path.rfind('/') + 1));
  base::Random& rng = world_.rng();
  auto roll = [&](int percent) {
    return percent > 0 && rng.Uniform(100) < static_cast<uint64_t>(percent);
  };
  std::vector<std::string>& past = history_[op];
  if (roll(stale) && !past.empty()) {
    // A stale request the network kept, arriving first (a reorder).
    world_.Count("stale " + op);
    (void)Deliver(path, past[rng.Uniform(past.size())]);
  }
  if (roll(drop_request)) {
    world_.Count("drop request");
    return Status::Unavailable("hub", "link down");
  }
  if (roll(delay)) {
    world_.Count("delay");
    held.emplace_back(std::string(path), std::string(body));
    return Status::Unavailable("hub", "timed out");
  }
  Result<sync::HttpResponse> answer = Deliver(path, body);
  if (roll(duplicate)) {
    world_.Count("duplicate");
    answer = Deliver(path, body);
  }
  if (past.size() >= 6) past.erase(past.begin());
  past.emplace_back(body);
  if (roll(drop_answer)) {
    world_.Count("drop answer");
    return Status::Unavailable("hub", "connection lost mid-request");
  }
  if (answer.ok()) received_ += answer->body.size();
  return answer;
}

std::unique_ptr<storage::RecordStore> World::OpenStore(
    const std::string& file, const std::string& facility,
    const std::string& role, base::Clock& clock) {
  storage::StoreOptions options;
  options.path = dir_.File(file);
  options.create_if_missing = true;
  options.facility = facility;
  options.role = role;
  options.clock = &clock;
  options.random = &store_random_;
  // The sim's crashes are process-level (an exception unwinding a node,
  // whose files stay as the OS had them), never power loss, so NORMAL
  // loses nothing they can provoke and spares thousands of fsyncs per run.
  // Power loss under FULL is tests/fault's job.
  options.synchronous = storage::StoreOptions::Synchronous::kNormal;
  auto store = storage::OpenRecordStore(options);
  if (!store.ok()) {
    Fail("open " + file + ": " + store.status().ToString());
    return nullptr;
  }
  return std::move(store).value();
}

void World::KeepFiles(const std::string& file) {
  namespace fs = std::filesystem;
  for (const char* suffix : {"", "-wal"}) {
    const fs::path live = dir_.File(file) + suffix;
    const fs::path kept = dir_.File(file) + suffix + ".crash";
    std::error_code ec;
    fs::remove(kept, ec);
    if (fs::exists(live)) fs::copy_file(live, kept, ec);
    if (ec) Fail("keep " + live.string() + ": " + ec.message());
  }
}

void World::PutBackFiles(const std::string& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    const fs::path live = dir_.File(file) + suffix;
    const fs::path kept = dir_.File(file) + suffix + ".crash";
    if (fs::exists(kept)) {
      fs::rename(kept, live, ec);
    } else {
      fs::remove(live, ec);
    }
    if (ec) Fail("put back " + live.string() + ": " + ec.message());
  }
  fs::remove(dir_.File(file) + "-shm", ec);  // rebuilt from the WAL
}

void World::StartHub() {
  hub_store_ = OpenStore("hub.db", kHubFacility, "hub", hub_clock_);
  if (hub_store_ == nullptr) return;
  hub_ = std::make_unique<sync::HubService>(*hub_store_, hub_clock_);
  hub_down = false;
  for (auto& c : clinics_) c->link->Connect(*hub_);
}

void World::RestartHub(const std::string& why) {
  Trace("  hub restarts (" + why + ")");
  const bool crashed = hub_down;
  hub_.reset();
  hub_store_.reset();
  if (crashed) PutBackFiles("hub.db");
  StartHub();
}

void World::StartClinic(ClinicNode& c) {
  c.store = OpenStore(c.file, c.facility, "clinic", *c.clock);
  if (c.store == nullptr) return;
  sync::SyncOptions options;
  // Small batches, so a sync has several and crashes fall between them.
  options.batch_bytes = 2 << 10;
  options.min_batch_bytes = 1 << 10;
  options.max_batch_bytes = 4 << 10;
  // One step at a time, in the order the seed gives: a pull asked ahead on
  // a thread of its own would race the clinic's crash points with the
  // hub's, and a seed would no longer replay.
  options.ask_ahead = false;
  c.client =
      std::make_unique<sync::SyncClient>(*c.store, *c.link, *c.clock, options);
}

void World::RestartClinic(size_t i, const std::string& why, bool crashed) {
  Trace("  " + Name(i) + " restarts (" + why + ")");
  ClinicNode& c = *clinics_[i];
  c.client.reset();
  c.store.reset();
  if (crashed) PutBackFiles(c.file);
  StartClinic(c);
}

bool World::AddClinic(const std::string& facility) {
  auto c = std::make_unique<ClinicNode>();
  c->facility = facility;
  c->file = "clinic" + std::to_string(clinics_.size()) + ".db";
  c->clock = std::make_unique<base::ManualClock>(hub_clock_.WallNowMillis());
  c->link = std::make_unique<FaultLink>(
      *this, "10.0.0." + std::to_string(clinics_.size() + 10) + ":40000");
  c->link->Connect(*hub_);
  StartClinic(*c);
  if (c->store == nullptr) return false;
  c->node_id = c->store->node_id();
  sync::EnrollRequest request;
  request.code =
      sync::testing::IssueEnrollmentCode(*hub_store_, hub_clock_, facility);
  request.node_id = c->node_id;
  request.facility = facility;
  Result<sync::EnrollReply> reply = sync::Enroll(*c->link, request);
  if (!reply.ok()) {
    Fail("enroll " + facility + ": " + reply.status().ToString());
    return false;
  }
  (void)c->link->SetBearerToken(reply->credential);
  clinics_.push_back(std::move(c));
  return true;
}

// A Patient body: `before`'s content with one or two fields changed (or a
// new patient when null). Few values per field, so concurrent edits often
// collide; gender and birthDate are sometimes removed.
std::string World::NewBody(const storage::Record* before) {
  static const char* kFamilies[] = {"Garcia", "Okafor", "Nguyen", "Haddad",
                                    "Silva"};
  static const char* kGenders[] = {"female", "male", "other", "unknown"};
  static const char* kBirths[] = {"1980-04-02", "1975-11-30", "2001-06-15"};
  nlohmann::json body = nlohmann::json::object();
  if (before != nullptr) {
    body = nlohmann::json::parse(before->content, nullptr, false);
    if (!body.is_object()) body = nlohmann::json::object();
  }
  auto set = [&](int field) {
    switch (field) {
      case 0:
        body["name"] = {
            {{"family", kFamilies[rng_.Uniform(5)]}, {"given", {"Ana"}}}};
        break;
      case 1:
        if (rng_.Uniform(5) == 0) {
          body.erase("gender");
        } else {
          body["gender"] = kGenders[rng_.Uniform(4)];
        }
        break;
      case 2:
        if (rng_.Uniform(5) == 0) {
          body.erase("birthDate");
        } else {
          body["birthDate"] = kBirths[rng_.Uniform(3)];
        }
        break;
      default:
        body["identifier"] = {
            {{"system", "urn:mrn"},
             {"value", "M" + std::to_string(rng_.Uniform(4))}}};
    }
  };
  if (before == nullptr || !body.contains("name")) {
    for (int f = 0; f < 4; ++f) set(f);
  } else {
    int edits = 1 + static_cast<int>(rng_.Uniform(2));
    for (int e = 0; e < edits; ++e) set(static_cast<int>(rng_.Uniform(4)));
  }
  body["resourceType"] = "Patient";
  return body.dump();
}

// One local write at clinic `who`, or at the hub when `who` < 0.
void World::LocalWrite(int who) {
  const bool at_hub = who < 0;
  storage::RecordStore& store =
      at_hub ? *hub_store_ : *clinics_[static_cast<size_t>(who)]->store;
  const std::string node = store.node_id();
  const std::string where = at_hub ? "hub" : Name(static_cast<size_t>(who));
  std::vector<std::string> candidates;
  if (at_hub) {
    for (const auto& [f, ids] : ids_) {
      candidates.insert(candidates.end(), ids.begin(), ids.end());
    }
  } else {
    candidates = ids_[clinics_[static_cast<size_t>(who)]->facility];
  }
  WriteOp op;
  op.type = ResourceType::kPatient;
  std::optional<storage::Record> before;
  const uint64_t u = rng_.Uniform(100);
  if (candidates.empty() || (u < 25 && !at_hub)) {
    op.kind = WriteKind::kCreate;
    op.body = NewBody(nullptr);
  } else {
    op.id = candidates[rng_.Uniform(candidates.size())];
    Result<storage::Record> current = store.Get(op.type, op.id);
    if (current.ok()) before = *current;
    if (before && !before->deleted) {
      op.kind = u < 85 ? WriteKind::kUpdate : WriteKind::kDelete;
      if (op.kind == WriteKind::kUpdate) op.body = NewBody(&*before);
    } else if (at_hub) {
      return;  // the hub only edits what it holds
    } else {
      // Re-create: revive a deleted record, or create at this node a
      // patient another node of the facility created (not yet synced).
      op.kind = WriteKind::kUpsert;
      op.body = NewBody(nullptr);
    }
  }
  storage::WriteOutcome out = store.Write(op);
  static const char* kKinds[] = {"create", "update", "upsert", "delete"};
  const std::string what = where + " " + kKinds[static_cast<int>(op.kind)] +
                           " " + (out.status.ok() ? out.record.id : op.id);
  if (!out.status.ok()) {
    Trace(what + ": " + out.status.ToString());
    if (out.status.code() != Status::Code::kGone &&
        out.status.code() != Status::Code::kNotFound) {
      Fail("write refused: " + what + ": " + out.status.ToString());
    }
    return;
  }
  if (!out.changed) return;
  Trace(what + " -> " + out.record.version.ToString());
  ++result_.stats.writes;
  const bool tainted =
      out.record.version.wall_ms > hub_clock_.WallNowMillis() + kSkewMs - kHour;
  std::string failure = ledger_.RecordWrite(node, before ? &*before : nullptr,
                                            out.record, tainted);
  if (!failure.empty()) Fail(failure);
  if (op.kind == WriteKind::kCreate)
    ids_[out.record.facility].push_back(out.record.id);
}

void World::SyncStep(size_t i) {
  ClinicNode& c = *clinics_[i];
  auto odds = [&] {
    return rng_.Uniform(100) < 40 ? 5 + static_cast<int>(rng_.Uniform(25)) : 0;
  };
  c.link->drop_request = odds();
  c.link->drop_answer = odds();
  c.link->duplicate = odds();
  c.link->stale = odds();
  c.link->delay = odds();
  std::string armed;
  if (options_.crash_points && base::kCrashPointsBuilt &&
      rng_.Uniform(100) < 35) {
    g_armed.point = rng_.Uniform(base::kCrashPoints.size());
    g_armed.countdown = 1 + static_cast<int>(rng_.Uniform(3));
    armed = ", crash armed at " + PointName(g_armed.point) + ":" +
            std::to_string(g_armed.countdown);
  }
  Trace(Name(i) + " syncs" + armed);
  ++result_.stats.syncs;
  try {
    Result<sync::SyncResult> r = c.client->SyncOnce();
    if (r.ok()) {
      Trace("  pushed " + std::to_string(r->pushed) + ", pulled " +
            std::to_string(r->pulled));
    } else {
      ++result_.stats.failed_syncs;
      Trace("  " + r.status().ToString());
    }
  } catch (const SimCrash& crash) {
    ++result_.stats.failed_syncs;
    Count("crash " + PointName(crash.point));
    KeepFiles(c.file);
    RestartClinic(i, "crashed at " + PointName(crash.point), true);
  }
  g_armed = Armed();
  c.link->Heal();
  if (hub_down) RestartHub("after its crash");
}

void World::DeliverHeld(size_t i) {
  FaultLink& link = *clinics_[i]->link;
  if (link.held.empty()) return;
  Trace(Name(i) + ": " + std::to_string(link.held.size()) +
        " delayed requests arrive");
  for (const auto& [path, body] : link.held) (void)link.Deliver(path, body);
  link.held.clear();
  if (hub_down) RestartHub("after its crash");
}

void World::ClockStep() {
  const size_t i = rng_.Uniform(clinics_.size());
  base::ManualClock& clock = *clinics_[i]->clock;
  const int64_t hub_now = hub_clock_.WallNowMillis();
  const uint64_t u = rng_.Uniform(100);
  std::string kind;
  if (u < 30) {
    kind = "clock forward days";
    clock.SetWall(clock.WallNowMillis() +
                  (2 + static_cast<int64_t>(rng_.Uniform(4))) * kDay);
  } else if (u < 60) {
    kind = "clock back days";
    clock.SetWall(clock.WallNowMillis() -
                  (1 + static_cast<int64_t>(rng_.Uniform(5))) * kDay);
  } else if (u < 70) {
    kind = "clock 1970";
    clock.SetWall(static_cast<int64_t>(rng_.Uniform(3600)) * 1000);
  } else if (u < 78) {
    kind = "clock 2099";
    clock.SetWall(kYear2099 + static_cast<int64_t>(rng_.Uniform(kDay)));
  } else {
    kind = "clock skew minutes";
    clock.SetWall(hub_now + static_cast<int64_t>(rng_.Uniform(20 * 60000)) -
                  10 * 60000);
  }
  Count(kind);
  Trace(Name(i) + " " + kind + " -> " + std::to_string(clock.WallNowMillis()));
}

bool World::Heal() {
  Trace("heal");
  g_armed = Armed();
  for (size_t i = 0; i < clinics_.size(); ++i) {
    clinics_[i]->link->Heal();
    DeliverHeld(i);
  }
  if (hub_down) RestartHub("heal");
  for (auto& c : clinics_) {
    c->clock->SetWall(hub_clock_.WallNowMillis() +
                      static_cast<int64_t>(rng_.Uniform(60000)));
  }
  // Quiet: a round in which the hub did not change (so every clinic pulled
  // all it holds) and no clinic pushed, pulled or found anything. A batch
  // may carry conflicts alone, which the counts of records miss, hence the
  // hub's newest conflict too.
  auto hub_state = [&]() -> std::string {
    Result<std::string> digest = hub_store_->ContentDigest();
    Result<std::vector<storage::Conflict>> newest =
        hub_store_->ListConflicts(/*open_only=*/false, 1);
    return (digest.ok() ? *digest : digest.status().ToString()) + "|" +
           (newest.ok() && !newest->empty() ? std::to_string((*newest)[0].seq)
                                            : "-");
  };
  for (int round = 0; round < 12; ++round) {
    const std::string before = hub_state();
    bool moved = false;
    for (size_t i = 0; i < clinics_.size(); ++i) {
      Result<sync::SyncResult> r = clinics_[i]->client->SyncOnce();
      if (!r.ok()) {
        Fail("after healing, " + Name(i) +
             " cannot sync: " + r.status().ToString());
        return false;
      }
      if (r->pushed > 0 || r->pulled > 0 || r->conflicts > 0) moved = true;
    }
    if (hub_state() != before) moved = true;
    hub_clock_.Advance(std::chrono::seconds(1));
    for (auto& c : clinics_) c->clock->Advance(std::chrono::seconds(1));
    if (!moved) return true;
  }
  Fail("after healing, the nodes do not reach quiescence in 12 rounds");
  return false;
}

SimResult World::Run() {
  StartHub();
  if (hub_store_ == nullptr) return result_;
  // Facilities: "north" has two nodes (same patients, concurrent edits);
  // "south" and a third north node come with some seeds.
  for (const char* f : {"north", "south"}) {
    if (!hub_store_
             ->AddFacility({f, std::string("Facility ") + f, "",
                            hub_clock_.WallNowMillis()})
             .ok()) {
      Fail(std::string("add facility ") + f);
      return result_;
    }
  }
  std::vector<std::string> layout = {"north", "north"};
  if (rng_.Uniform(2) == 0) layout.push_back("south");
  if (rng_.Uniform(4) == 0) layout.push_back("north");
  for (const std::string& f : layout) {
    if (!AddClinic(f)) return result_;
  }
  base::SetCrashPointHandler(&OnCrashPoint);
  for (int step = 0; step < options_.steps && result_.failures.empty();
       ++step) {
    ++result_.stats.steps;
    hub_clock_.Advance(std::chrono::milliseconds(1 + rng_.Uniform(60000)));
    for (auto& c : clinics_) {
      c->clock->Advance(std::chrono::milliseconds(1 + rng_.Uniform(60000)));
    }
    const uint64_t u = rng_.Uniform(100);
    const size_t i = rng_.Uniform(clinics_.size());
    if (u < 40) {
      LocalWrite(static_cast<int>(i));
    } else if (u < 47) {
      LocalWrite(-1);
    } else if (u < 72) {
      SyncStep(i);
    } else if (u < 78) {
      DeliverHeld(i);
    } else if (u < 88) {
      ClockStep();
    } else if (u < 94) {
      Count("restart");
      RestartClinic(i, "restart");
    } else {
      Count("restart");
      RestartHub("restart");
    }
    if (hub_store_ == nullptr) break;
    for (auto& c : clinics_) {
      if (c->store == nullptr) return result_;
    }
  }
  if (result_.failures.empty() && Heal()) {
    NodeView hub{hub_store_->node_id(), "", hub_store_.get()};
    std::vector<NodeView> clinics;
    for (auto& c : clinics_) {
      clinics.push_back({c->node_id, c->facility, c->store.get()});
    }
    for (std::string& f :
         ledger_.Check(hub, clinics, hub_clock_.WallNowMillis(), kSkewMs)) {
      Fail(f);
    }
  }
  base::SetCrashPointHandler(nullptr);
  result_.stats.seeds = 1;
  result_.stats.failed_seeds = result_.failures.empty() ? 0 : 1;
  for (const std::string& f : result_.failures) {
    if (f.find(" twice") != std::string::npos) {
      ++result_.stats.duplicated;
    } else if (f.rfind("I1", 0) == 0 || f.rfind("I4: Patient", 0) == 0 ||
               f.rfind("I2: the hub lacks", 0) == 0) {
      ++result_.stats.lost;
    }
  }
  result_.stats.tainted_records =
      static_cast<int64_t>(ledger_.tainted_records());
  return result_;
}

}  // namespace

void SimStats::Add(const SimStats& o) {
  seeds += o.seeds;
  steps += o.steps;
  writes += o.writes;
  syncs += o.syncs;
  failed_syncs += o.failed_syncs;
  tainted_records += o.tainted_records;
  for (const auto& [k, v] : o.faults) faults[k] += v;
  failed_seeds += o.failed_seeds;
  lost += o.lost;
  duplicated += o.duplicated;
}

std::string SimStats::Summary() const {
  std::ostringstream s;
  s << "seeds=" << seeds << " steps=" << steps << " acked_writes=" << writes
    << " syncs=" << syncs << " (unfinished " << failed_syncs << ")"
    << " far_future_records=" << tainted_records << " faults:";
  int64_t crashes = 0;
  for (const auto& [k, v] : faults) {
    if (k.rfind("crash ", 0) == 0) {
      crashes += v;
    } else {
      s << " [" << k << "]=" << v;
    }
  }
  s << " [crash]=" << crashes << " lost=" << lost
    << " duplicated=" << duplicated << " failed_seeds=" << failed_seeds;
  return s.str();
}

SimResult RunSeed(uint64_t seed, const SimOptions& options) {
  World world(seed, options);
  return world.Run();
}

}  // namespace posta::sim
