// posta import: NDJSON (one FHIR resource per line) into the store, in
// transactions of --batch lines; each bad line is rejected alone.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/progress.h"

namespace posta::node::cli {

namespace {

// Deeper JSON is refused before the store sees it (bounded work per line).
constexpr int kMaxDepth = 32;
// A batch is flushed early past this many body bytes, so memory stays
// bounded whatever --batch says.
constexpr size_t kMaxBatchBytes = 8 << 20;
constexpr int64_t kProgressLines = 100;

// Reads '\n'-terminated lines of at most `max_bytes` (a trailing '\r' is
// dropped). A longer line is consumed to its end and reported as too long
// without being held in memory.
class LineReader {
 public:
  enum class Kind { kLine, kTooLong, kEnd };

  LineReader(std::istream& in, size_t max_bytes)
      : in_(in), max_bytes_(max_bytes), buffer_(64 << 10) {}

  Result<Kind> Next(std::string& line) {
    line.clear();
    bool too_long = false;
    bool any = false;
    while (true) {
      if (pos_ == len_) {
        if (in_.bad()) return Status::IOError("input", "read failed");
        in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
        len_ = static_cast<size_t>(in_.gcount());
        pos_ = 0;
        if (in_.bad()) return Status::IOError("input", "read failed");
        if (len_ == 0) {
          if (!any) return Kind::kEnd;
          ++line_number_;
          return Finish(line, too_long);
        }
      }
      any = true;
      const char* start = buffer_.data() + pos_;
      const char* nl =
          static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
      size_t take = nl ? static_cast<size_t>(nl - start) : len_ - pos_;
      if (!too_long) {
        if (line.size() + take > max_bytes_ + 1) {  // +1: a '\r' may follow
          too_long = true;
          line.clear();
        } else {
          line.append(start, take);
        }
      }
      pos_ += take;
      bytes_ += static_cast<int64_t>(take);
      if (nl) {
        ++pos_;
        ++bytes_;
        ++line_number_;
        return Finish(line, too_long);
      }
    }
  }

  int64_t line_number() const { return line_number_; }
  int64_t bytes() const { return bytes_; }

 private:
  Kind Finish(std::string& line, bool too_long) {
    if (!too_long && !line.empty() && line.back() == '\r') line.pop_back();
    if (too_long || line.size() > max_bytes_) {
      line.clear();
      return Kind::kTooLong;
    }
    return Kind::kLine;
  }

  std::istream& in_;
  const size_t max_bytes_;
  std::vector<char> buffer_;
  size_t pos_ = 0;
  size_t len_ = 0;
  int64_t line_number_ = 0;
  int64_t bytes_ = 0;
};

// SAX handler that finds the top-level "resourceType" and "id" without
// building a document, and stops past kMaxDepth.
class LineScan {
 public:
  using json = nlohmann::json;
  bool null() { return Value(nullptr); }
  bool boolean(bool) { return Value(nullptr); }
  bool number_integer(json::number_integer_t) { return Value(nullptr); }
  bool number_unsigned(json::number_unsigned_t) { return Value(nullptr); }
  bool number_float(json::number_float_t, const std::string&) {
    return Value(nullptr);
  }
  bool string(std::string& s) { return Value(&s); }
  bool binary(json::binary_t&) { return Value(nullptr); }
  bool start_object(std::size_t) { return Open(true); }
  bool start_array(std::size_t) { return Open(false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    std::string what = e.what();
    size_t cut = what.find("] ");
    error_ = Status::Malformed(
        "body", "not JSON: " +
                    (cut == std::string::npos ? what : what.substr(cut + 2)));
    return false;
  }

  Status error_;
  bool root_is_object_ = false;
  std::optional<std::string> resource_type_;
  bool resource_type_not_string_ = false;
  std::optional<std::string> id_;
  bool id_not_string_ = false;

 private:
  bool Open(bool object) {
    if (depth_ == 0) root_is_object_ = object;
    if (depth_ == 1) Value(nullptr);
    if (++depth_ > kMaxDepth) {
      error_ =
          Status::Malformed("body", "nested deeper than " +
                                        std::to_string(kMaxDepth) + " levels");
      return false;
    }
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }
  bool Value(const std::string* s) {
    if (depth_ != 1) return true;
    if (key_ == "resourceType") {
      if (s)
        resource_type_ = *s;
      else
        resource_type_not_string_ = true;
    } else if (key_ == "id") {
      if (s)
        id_ = *s;
      else
        id_not_string_ = true;
    }
    key_.clear();
    return true;
  }

  int depth_ = 0;
  std::string key_;
};

// What one line asks for, or why it is rejected.
Result<storage::WriteOp> LineToOp(std::string&& line) {
  LineScan scan;
  try {
    nlohmann::json::sax_parse(line, &scan);
  } catch (const std::exception& e) {  // nlohmann may throw; stop it here
    return Status::Malformed("body", e.what());
  }
  if (!scan.error_.ok()) return scan.error_;
  if (!scan.root_is_object_)
    return Status::Malformed("body", "not a JSON object");
  if (scan.resource_type_not_string_) {
    return Status::InvalidArgument("resourceType", "must be a string");
  }
  if (!scan.resource_type_)
    return Status::InvalidArgument("resourceType", "missing");
  std::optional<storage::ResourceType> type =
      storage::ParseResourceType(*scan.resource_type_);
  if (!type) {
    return Status::InvalidArgument("resourceType",
                                   "\"" + *scan.resource_type_ +
                                       "\" is not one of Location, Patient, "
                                       "Encounter, Observation, Appointment");
  }
  const std::string type_name(storage::ResourceTypeName(*type));
  if (scan.id_not_string_) {
    return Status::InvalidArgument(type_name + ".id", "must be a string");
  }
  storage::WriteOp op;
  op.type = *type;
  if (scan.id_) {
    op.kind = storage::WriteKind::kUpsert;
    op.id = *scan.id_;
  } else {
    op.kind = storage::WriteKind::kCreate;
  }
  op.body = std::move(line);
  return op;
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Batches are written in order, each in its own transaction, while the next
// one is read and parsed: the main thread reads, parses and validates batch
// N+1 (RecordStore::PrepareWrites) while a writer thread stores batch N, so
// the two halves of an import run on two cores. Batch N+1 is written only
// after batch N committed, so a failed transaction still leaves exactly the
// lines before it stored.
class Importer {
 public:
  Importer(storage::RecordStore* store, const ImportSettings& settings,
           const RejectionFn& on_rejection)
      : store_(store), settings_(settings), on_rejection_(on_rejection) {}

  ~Importer() {
    if (in_flight_ && in_flight_->writer.joinable()) in_flight_->writer.join();
  }

  void Reject(int64_t line, const Status& status) {
    LineRejection r{line, status.message()};
    ++summary_.rejected;
    if (on_rejection_) on_rejection_(r);
    if (summary_.first_rejections.size() < settings_.max_listed_rejections) {
      summary_.first_rejections.push_back(std::move(r));
    }
  }

  // Lines rejected before the store are held until their batch is written,
  // so every rejection is reported in line order.
  void RejectEarly(int64_t line, Status status) {
    if (settings_.dry_run) {
      Reject(line, status);
      return;
    }
    next_.early.push_back({line, std::move(status)});
  }

  Status Add(int64_t line_number, std::string&& line) {
    ++summary_.read;
    Result<storage::WriteOp> op = LineToOp(std::move(line));
    if (op.ok() && !settings_.actor.actor.empty()) op->actor = &settings_.actor;
    if (!op.ok()) {
      RejectEarly(line_number, op.status());
    } else if (settings_.dry_run) {
      Status valid = storage::ValidateResource(op->type, op->body);
      if (valid.ok()) {
        ++summary_.valid;
      } else {
        Reject(line_number, valid);
      }
      return Status::Ok();
    } else {
      pending_bytes_ += op->body.size();
      next_.ops.push_back(std::move(op).value());
      next_.lines.push_back(line_number);
    }
    if (next_.ops.size() >= settings_.batch_size ||
        next_.early.size() >= settings_.batch_size ||
        pending_bytes_ >= kMaxBatchBytes) {
      return Flush();
    }
    return Status::Ok();
  }

  // Prepares the batch being read and hands it to a writer thread once the
  // batch before it is stored and reported.
  Status Flush() {
    auto batch = std::make_unique<Batch>(std::move(next_));
    next_ = Batch();
    pending_bytes_ = 0;
    std::unique_ptr<storage::PreparedWrites> prepared;
    if (!batch->ops.empty()) prepared = store_->PrepareWrites(batch->ops);
    POSTA_RETURN_IF_ERROR(Finish());
    if (prepared) {
      batch->writer = std::thread(
          [store = store_, b = batch.get(), p = std::move(prepared)]() mutable {
            b->outcomes.emplace(store->WritePrepared(std::move(p)));
          });
    }
    in_flight_ = std::move(batch);
    return Status::Ok();
  }

  // Waits for the batch being written and reports its outcomes.
  Status Finish() {
    if (!in_flight_) return Status::Ok();
    std::unique_ptr<Batch> batch = std::move(in_flight_);
    if (batch->writer.joinable()) batch->writer.join();
    std::vector<std::pair<int64_t, Status>> rejected = std::move(batch->early);
    if (!batch->ops.empty()) {
      POSTA_CHECK(batch->outcomes.has_value());
      Result<std::vector<storage::WriteOutcome>>& outcomes = *batch->outcomes;
      if (!outcomes.ok()) {
        return outcomes.status().WithContext(
            "lines " + std::to_string(batch->lines.front()) + "-" +
            std::to_string(batch->lines.back()) +
            " not stored (earlier lines are)");
      }
      POSTA_CHECK(outcomes->size() == batch->ops.size());
      for (size_t i = 0; i < batch->ops.size(); ++i) {
        const storage::WriteOutcome& o = (*outcomes)[i];
        if (!o.status.ok()) {
          rejected.push_back({batch->lines[i], o.status});
        } else if (o.created) {
          ++summary_.created;
        } else if (o.changed) {
          ++summary_.updated;
        } else {
          ++summary_.unchanged;
        }
      }
    }
    std::stable_sort(
        rejected.begin(), rejected.end(),
        [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [line, status] : rejected) Reject(line, status);
    return Status::Ok();
  }

  ImportSummary& summary() { return summary_; }

 private:
  struct Batch {
    std::vector<storage::WriteOp> ops;
    std::vector<int64_t> lines;
    std::vector<std::pair<int64_t, Status>> early;
    std::thread writer;
    std::optional<Result<std::vector<storage::WriteOutcome>>> outcomes;
  };

  storage::RecordStore* store_;
  const ImportSettings& settings_;
  const RejectionFn& on_rejection_;
  Batch next_;                        // being read
  std::unique_ptr<Batch> in_flight_;  // being written
  size_t pending_bytes_ = 0;
  ImportSummary summary_;
};

}  // namespace

Result<ImportSummary> ImportNdjson(storage::RecordStore* store,
                                   std::istream& in,
                                   const ImportSettings& settings,
                                   const ImportProgressFn& progress,
                                   const RejectionFn& on_rejection) {
  POSTA_CHECK(store != nullptr || settings.dry_run);
  POSTA_CHECK(settings.batch_size > 0);
  Importer importer(store, settings, on_rejection);
  LineReader reader(in, settings.max_line_bytes);
  std::string line;
  while (true) {
    POSTA_ASSIGN_OR_RETURN(LineReader::Kind kind, reader.Next(line));
    if (kind == LineReader::Kind::kEnd) break;
    if (kind == LineReader::Kind::kTooLong) {
      ++importer.summary().read;
      importer.RejectEarly(
          reader.line_number(),
          Status::TooLarge("line", "longer than " +
                                       std::to_string(settings.max_line_bytes) +
                                       " bytes"));
      continue;
    }
    if (IsBlank(line)) continue;
    POSTA_RETURN_IF_ERROR(importer.Add(reader.line_number(), std::move(line)));
    if (progress && importer.summary().read % kProgressLines == 0) {
      progress(reader.bytes(), importer.summary().read);
    }
  }
  POSTA_RETURN_IF_ERROR(importer.Flush());
  POSTA_RETURN_IF_ERROR(importer.Finish());
  importer.summary().bytes = reader.bytes();
  if (progress) progress(reader.bytes(), importer.summary().read);
  return std::move(importer.summary());
}

Status RunImport(const ImportOptions& options, std::istream& stdin_stream,
                 Io& io) {
  if (options.settings.batch_size < 1 || options.settings.batch_size > 10000) {
    return Status::InvalidArgument("--batch", "must be between 1 and 10000");
  }
  POSTA_ASSIGN_OR_RETURN(
      NodeConfig config,
      LoadNodeConfig(options.config_path, options.apply_config_log_level,
                     io.env));

  std::ifstream file;
  std::istream* in = &stdin_stream;
  int64_t total_bytes = 0;
  const bool from_stdin = options.input_path == "-";
  if (!from_stdin) {
    if (!io.env.FileExists(options.input_path)) {
      return Status::NotFound(options.input_path, "no such file");
    }
    file.open(options.input_path, std::ios::binary);
    if (!file) return Status::IOError(options.input_path, std::strerror(errno));
    in = &file;
    auto size = io.env.FileSize(options.input_path);
    if (size.ok()) total_bytes = static_cast<int64_t>(*size);
  }
  const std::string input_name = from_stdin ? "stdin" : options.input_path;

  std::unique_ptr<storage::RecordStore> store;
  if (!options.settings.dry_run) {
    POSTA_ASSIGN_OR_RETURN(store,
                           OpenStore(config, /*read_only=*/false, io.env));
  }

  std::unique_ptr<OutputFile> report;
  Status report_status;
  if (!options.report_path.empty()) {
    POSTA_ASSIGN_OR_RETURN(report,
                           OutputFile::Open(options.report_path, io.out));
  }
  RejectionFn on_rejection = [&](const LineRejection& r) {
    if (!report || !report_status.ok()) return;
    nlohmann::ordered_json j;
    j["line"] = r.line;
    j["reason"] = r.reason;
    report_status = report->Write(j.dump() + "\n");
  };

  ProgressDisplay display(
      io.err,
      {.label = "import",
       .unit = total_bytes > 0 ? ProgressDisplay::Unit::kBytes
                               : ProgressDisplay::Unit::kItems,
       .tty = io.err_is_tty},
      io.clock);
  ImportProgressFn progress = [&](int64_t bytes, int64_t records) {
    display.Update(total_bytes > 0 ? bytes : records, total_bytes, records);
  };

  spdlog::debug("import: {} into {}{}", input_name, config.DatabasePath(),
                options.settings.dry_run ? " (dry run)" : "");
  ImportSettings settings = options.settings;
  settings.actor = CliActor();
  Result<ImportSummary> result =
      ImportNdjson(store.get(), *in, settings, progress, on_rejection);
  display.Finish();
  if (!result.ok()) return result.status().WithContext("import " + input_name);
  const ImportSummary& s = *result;
  if (report) {
    POSTA_RETURN_IF_ERROR(report_status);
    POSTA_RETURN_IF_ERROR(report->Commit());
  }

  for (const LineRejection& r : s.first_rejections) {
    io.out << "line " << r.line << ": " << r.reason << "\n";
  }
  int64_t unlisted =
      s.rejected - static_cast<int64_t>(s.first_rejections.size());
  if (unlisted > 0) {
    io.out << "... and " << unlisted << " more rejected lines"
           << (report ? " (all in " + options.report_path + ")"
                      : std::string(" (list them all with --report FILE)"))
           << "\n";
  }
  if (options.settings.dry_run) {
    io.out << "dry run: read " << s.read << " records: " << s.valid
           << " valid, " << s.rejected << " rejected; nothing was written\n";
  } else {
    io.out << "read " << s.read << " records: " << s.created << " created, "
           << s.updated << " updated, " << s.unchanged << " unchanged, "
           << s.rejected << " rejected\n";
    // Each record has its own entry; this one says what the run was.
    storage::AuditEvent event;
    event.who = settings.actor;
    event.action = "import";
    event.resource = input_name;
    event.outcome = s.rejected > 0 ? "partial" : "ok";
    event.detail = std::to_string(s.read) + " read, " +
                   std::to_string(s.created) + " created, " +
                   std::to_string(s.updated) + " updated, " +
                   std::to_string(s.unchanged) + " unchanged, " +
                   std::to_string(s.rejected) + " rejected";
    POSTA_RETURN_IF_ERROR(
        store->AppendAudit(event, storage::AuditDurability::kCommitted)
            .WithContext("import " + input_name + ": audit entry"));
  }
  if (s.rejected > 0) {
    std::string why =
        s.rejected == s.read
            ? "all " + std::to_string(s.read) + " records rejected"
            : std::to_string(s.rejected) + " of " + std::to_string(s.read) +
                  " records rejected";
    if (!options.settings.dry_run) {
      why += s.rejected == s.read ? "; nothing was stored"
                                  : "; the others were stored";
    }
    return Status::InvalidArgument("import " + input_name, why);
  }
  return Status::Ok();
}

}  // namespace posta::node::cli
