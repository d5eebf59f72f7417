#include "record_rows.h"

#include <nlohmann/json.hpp>

namespace posta::storage::internal {

std::string EncodeFieldStamps(
    const std::map<std::string, base::HlcStamp>& stamps) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [field, stamp] : stamps) json[field] = stamp.ToString();
  return json.dump();
}

Result<std::map<std::string, base::HlcStamp>> DecodeFieldStamps(
    std::string_view text) {
  std::map<std::string, base::HlcStamp> out;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Corruption("field_stamps", "not a JSON object");
  }
  for (const auto& [field, value] : json.items()) {
    if (!value.is_string()) {
      return Status::Corruption("field_stamps." + field, "not a stamp");
    }
    POSTA_ASSIGN_OR_RETURN(base::HlcStamp stamp,
                           base::HlcStamp::Parse(value.get<std::string>()));
    out.emplace(field, std::move(stamp));
  }
  return out;
}

std::string RecordName(ResourceType type, std::string_view id) {
  std::string out(ResourceTypeName(type));
  out.push_back('/');
  out.append(id);
  return out;
}

Result<Record> RecordFromRow(const Statement& st, int first) {
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
  auto stamps = DecodeFieldStamps(st.ColumnView(first + 5));
  if (!stamps.ok()) return Status::Corruption(where, stamps.status().message());
  record.field_stamps = std::move(stamps).value();
  record.deleted = st.ColumnInt(first + 6) != 0;
  record.last_updated_ms = st.ColumnInt(first + 7);
  return record;
}

}  // namespace posta::storage::internal
