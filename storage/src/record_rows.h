// Conversions between Record and the columns of the records and versions
// tables (docs/storage-format.md).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "posta/base/hlc.h"
#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "sqlite_util.h"

namespace posta::storage::internal {

// The columns RecordFromRow reads, in its order, for "SELECT <these> FROM
// records" or "... FROM versions".
inline constexpr std::string_view kRecordColumns =
    "type, id, facility, content, version, field_stamps, deleted, "
    "last_updated_ms";
inline constexpr int kRecordColumnCount = 8;

// field_stamps as stored: a JSON object of field name to stamp text,
// keys sorted.
std::string EncodeFieldStamps(
    const std::map<std::string, base::HlcStamp>& stamps);
Result<std::map<std::string, base::HlcStamp>> DecodeFieldStamps(
    std::string_view text);

// Reads kRecordColumns starting at column `first`. Corruption when a stored
// value does not parse.
Result<Record> RecordFromRow(const Statement& st, int first = 0);

// "Patient/<id>", for messages.
std::string RecordName(ResourceType type, std::string_view id);

}  // namespace posta::storage::internal
