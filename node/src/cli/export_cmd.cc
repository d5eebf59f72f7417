// posta export: every live record as NDJSON, referenced types first, so
// that `posta import` of the file into an empty node resolves every
// reference.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/progress.h"

namespace posta::node::cli {

namespace {
constexpr size_t kPageSize = 1000;
}  // namespace

Result<ExportSummary> ExportNdjson(
    storage::RecordStore& store, std::span<const storage::ResourceType> types,
    const std::function<Status(std::string_view)>& write,
    const storage::ProgressFn& progress) {
  POSTA_ASSIGN_OR_RETURN(storage::StoreStats stats, store.Stats());
  int64_t total = 0;
  for (storage::ResourceType type : types) {
    auto it = stats.live_records.find(type);
    if (it != stats.live_records.end()) total += it->second;
  }
  ExportSummary summary;
  std::string chunk;
  for (storage::ResourceType type : types) {
    storage::SearchQuery query;
    query.type = type;
    query.count = kPageSize;
    while (true) {
      POSTA_ASSIGN_OR_RETURN(storage::SearchPage page, store.Search(query));
      chunk.clear();
      for (const storage::Record& record : page.records) {
        if (record.deleted) continue;
        chunk += storage::RenderResource(record);
        chunk += '\n';
        ++summary.records;
      }
      summary.bytes += static_cast<int64_t>(chunk.size());
      POSTA_RETURN_IF_ERROR(write(chunk));
      // Records written while exporting may push the count past the total.
      if (progress) progress(summary.records, std::max(total, summary.records));
      if (page.next_page_token.empty()) break;
      query.page_token = std::move(page.next_page_token);
    }
  }
  return summary;
}

Status RunExport(const ExportOptions& options, Io& io) {
  std::vector<storage::ResourceType> types(storage::kAllResourceTypes.begin(),
                                           storage::kAllResourceTypes.end());
  if (!options.type.empty()) {
    std::optional<storage::ResourceType> type =
        storage::ParseResourceType(options.type);
    if (!type) {
      return Status::InvalidArgument(
          "--type", "\"" + options.type +
                        "\" is not one of Location, Patient, Encounter, "
                        "Observation, Appointment");
    }
    types = {*type};
  }
  POSTA_ASSIGN_OR_RETURN(
      OpenedNode node,
      OpenNode(options.config_path, options.apply_config_log_level,
               /*read_only=*/true, io.env));
  POSTA_ASSIGN_OR_RETURN(auto out, OutputFile::Open(options.out_path, io.out));

  ProgressDisplay display(io.err, {.label = "export", .tty = io.err_is_tty},
                          io.clock);
  auto result = ExportNdjson(
      *node.store, types,
      [&](std::string_view data) { return out->Write(data); },
      [&](int64_t done, int64_t total) { display.Update(done, total, done); });
  display.Finish();
  if (!result.ok()) return result.status().WithContext("export");
  POSTA_RETURN_IF_ERROR(out->Commit());

  const bool to_stdout = options.out_path == "-";
  // The summary never goes into the exported stream itself.
  std::ostream& summary_out = to_stdout ? io.err : io.out;
  summary_out << "exported " << result->records << " records ("
              << FormatBytes(result->bytes) << ")"
              << (to_stdout ? std::string() : " to " + options.out_path)
              << "\n";
  return Status::Ok();
}

}  // namespace posta::node::cli
