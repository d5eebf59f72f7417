#include "record_rows.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace posta::storage::internal {
namespace {

// Collects the keys of the outermost object without building a document.
class TopLevelKeys final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit TopLevelKeys(std::vector<std::string>* keys) : keys_(keys) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return depth_ > 0; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (depth_ == 0 && seen_root_) return false;
    seen_root_ = true;
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return depth_ > 0; }
  bool end_array() override { return true; }
  bool key(string_t& key) override {
    if (depth_ == 1) keys_->push_back(key);
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }
  bool is_object() const { return seen_root_; }

 private:
  std::vector<std::string>* keys_;
  int depth_ = 0;
  bool seen_root_ = false;
};

}  // namespace

std::string EncodeStampMap(const StampMap& stamps) {
  if (stamps.empty()) return std::string();
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [field, stamp] : stamps) json[field] = stamp.ToString();
  return json.dump();
}

Result<StampMap> DecodeStampMap(std::string_view text) {
  StampMap out;
  if (text.empty()) return out;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Corruption("stamps", "not a JSON object");
  }
  for (const auto& [field, value] : json.items()) {
    if (!value.is_string()) {
      return Status::Corruption("stamps." + field, "not a stamp");
    }
    POSTA_ASSIGN_OR_RETURN(base::HlcStamp stamp,
                           base::HlcStamp::Parse(value.get<std::string>()));
    out.emplace(field, std::move(stamp));
  }
  return out;
}

Result<std::vector<std::string>> ContentKeys(std::string_view content) {
  std::vector<std::string> keys;
  TopLevelKeys sax(&keys);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(content.begin(), content.end(), &sax);
  } catch (const nlohmann::json::exception&) {
    ok = false;
  }
  if (!ok || !sax.is_object()) {
    return Status::Corruption("content", "not a JSON object");
  }
  return keys;
}

std::string EncodeCompactStamps(const StampMap& full,
                                const base::HlcStamp& version,
                                const std::vector<std::string>& content_keys) {
  StampMap compact;
  for (const auto& [field, stamp] : full) {
    const bool implied =
        stamp == version && std::find(content_keys.begin(), content_keys.end(),
                                      field) != content_keys.end();
    if (!implied) compact.emplace(field, stamp);
  }
  return EncodeStampMap(compact);
}

Result<StampMap> ExpandStamps(std::string_view compact,
                              const base::HlcStamp& version,
                              std::string_view content) {
  POSTA_ASSIGN_OR_RETURN(StampMap stamps, DecodeStampMap(compact));
  POSTA_ASSIGN_OR_RETURN(std::vector<std::string> keys, ContentKeys(content));
  for (std::string& key : keys) stamps.try_emplace(std::move(key), version);
  return stamps;
}

void SetStamp(StampMap& stamps, const std::string& field,
              const base::HlcStamp& stamp, StampMap* bases) {
  auto [it, added] = stamps.try_emplace(field, stamp);
  if (added) return;
  if (bases != nullptr) (*bases)[field] = it->second;
  it->second = stamp;
}

Result<Record> RecordFromRow(const Statement& st, int first,
                             bool with_stamps) {
  Record record;
  std::string_view type_name = st.ColumnView(first);
  std::optional<ResourceType> type = ParseResourceType(type_name);
  record.id = st.ColumnText(first + 1);
  std::string where = std::string(type_name) + "/" + record.id;
  if (!type) return Status::Corruption(where, "unknown resource type");
  record.type = *type;
  record.facility = st.ColumnText(first + 2);
  record.content = st.ColumnText(first + 3);
  Result<base::HlcStamp> version =
      base::HlcStamp::Parse(st.ColumnView(first + 4));
  if (!version.ok()) {
    return Status::Corruption(where, version.status().message());
  }
  record.version = std::move(version).value();
  if (with_stamps) {
    auto stamps =
        ExpandStamps(st.ColumnView(first + 5), record.version, record.content);
    if (!stamps.ok()) {
      return Status::Corruption(where, stamps.status().message());
    }
    record.field_stamps = std::move(stamps).value();
  }
  record.deleted = st.ColumnInt(first + 6) != 0;
  record.last_updated_ms = record.version.wall_ms;
  return record;
}

}  // namespace posta::storage::internal
