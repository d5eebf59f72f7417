// posta demo seed|generate: realistic demo records, straight into a node or
// as NDJSON for `posta import`.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "posta/node/demo_data.h"

namespace posta::node::cli {

namespace {

Result<DemoOptions> MakeDemoOptions(size_t patients, uint64_t seed,
                                    const std::string& as_of,
                                    base::Clock& clock) {
  if (patients < 1 || patients > 10000000) {
    return Status::InvalidArgument("--patients",
                                   "must be between 1 and 10000000");
  }
  DemoOptions options;
  options.patients = patients;
  options.seed = seed;
  if (as_of.empty()) {
    // Today (UTC), so a rerun the same day gives the same records.
    constexpr int64_t kDayMs = 86400000;
    options.as_of_ms = clock.WallNowMillis() / kDayMs * kDayMs;
  } else {
    POSTA_ASSIGN_OR_RETURN(options.as_of_ms, ParseDemoDate(as_of));
  }
  return options;
}

}  // namespace

Status RunDemoSeed(const DemoSeedOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      DemoOptions demo,
      MakeDemoOptions(options.patients, options.seed, options.as_of, io.clock));
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));

  ProgressDisplay display(
      io.err,
      {.label = "demo seed", .item_name = "records", .tty = io.err_is_tty},
      io.clock);
  DemoGenerator generator(demo);
  std::vector<storage::WriteOp> ops;
  int64_t records = 0, created = 0, unchanged = 0, updated = 0, rejected = 0;
  std::string first_rejection;
  auto flush = [&]() -> Status {
    if (ops.empty()) return Status::Ok();
    POSTA_ASSIGN_OR_RETURN(auto outcomes, node.store->WriteBatch(ops));
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const storage::WriteOutcome& o = outcomes[i];
      if (!o.status.ok()) {
        if (rejected++ == 0) {
          first_rejection =
              std::string(storage::ResourceTypeName(ops[i].type)) + "/" +
              ops[i].id + ": " + o.status.message();
        }
      } else if (o.created) {
        ++created;
      } else if (o.changed) {
        ++updated;
      } else {
        ++unchanged;
      }
    }
    ops.clear();
    // Progress counts patients: their total is known from the start.
    display.Update(static_cast<int64_t>(generator.patients_started()),
                   static_cast<int64_t>(demo.patients), records);
    return Status::Ok();
  };
  while (auto resource = generator.Next()) {
    ++records;
    // Upserts, so seeding the same seed and date again changes nothing.
    ops.push_back(storage::WriteOp{.kind = storage::WriteKind::kUpsert,
                                   .type = resource->type,
                                   .id = std::move(resource->id),
                                   .body = std::move(resource->json)});
    if (ops.size() >= options.batch_size) {
      Status s = flush();
      if (!s.ok()) {
        display.Finish();
        return s.WithContext("demo seed");
      }
    }
  }
  Status s = flush();
  display.Finish();
  if (!s.ok()) return s.WithContext("demo seed");

  io.out << "demo seed: " << demo.patients << " patients, " << records
         << " records: " << created << " created, " << updated << " updated, "
         << unchanged << " unchanged, " << rejected << " rejected\n";
  if (rejected > 0) {
    return Status::Internal(
        "demo seed",
        std::to_string(rejected) +
            " generated records were rejected; first: " + first_rejection);
  }
  return Status::Ok();
}

Status RunDemoLocations(const DemoLocationsOptions& options, Io& io) {
  for (const std::string& facility : options.facilities) {
    if (!IsValidFacilityId(facility)) {
      return Status::InvalidArgument(
          "--facility",
          "\"" + facility.substr(0, 64) +
              "\" must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    }
  }
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/false, io.env));
  std::vector<storage::WriteOp> ops;
  for (const std::string& facility : options.facilities) {
    DemoResource location = DemoFacilityLocation(facility);
    ops.push_back(storage::WriteOp{.kind = storage::WriteKind::kUpsert,
                                   .type = location.type,
                                   .id = std::move(location.id),
                                   .body = std::move(location.json)});
  }
  POSTA_ASSIGN_OR_RETURN(auto outcomes, node.store->WriteBatch(ops));
  int64_t created = 0, unchanged = 0, updated = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const storage::WriteOutcome& o = outcomes[i];
    if (!o.status.ok()) {
      return o.status.WithContext("demo locations: Location/" + ops[i].id);
    }
    (o.created ? created : o.changed ? updated : unchanged) += 1;
  }
  io.out << "demo locations: " << outcomes.size() << " Locations: " << created
         << " created, " << updated << " updated, " << unchanged
         << " unchanged\n";
  return Status::Ok();
}

Status RunDemoGenerate(const DemoGenerateOptions& options, Io& io) {
  POSTA_ASSIGN_OR_RETURN(
      DemoOptions demo,
      MakeDemoOptions(options.patients, options.seed, options.as_of, io.clock));
  POSTA_ASSIGN_OR_RETURN(auto out, OutputFile::Open(options.out_path, io.out));
  DemoGenerator generator(demo);
  int64_t records = 0;
  std::string line;
  while (auto resource = generator.Next()) {
    ++records;
    line = std::move(resource->json);
    line += '\n';
    POSTA_RETURN_IF_ERROR(out->Write(line));
  }
  POSTA_RETURN_IF_ERROR(out->Commit());
  if (options.out_path != "-") {
    io.out << "wrote " << records << " records for " << demo.patients
           << " patients to " << options.out_path << "\n";
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
