// Conversions between Record and the columns of the records and versions
// tables (docs/storage-format.md).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/base/status.h"
#include "posta/storage/record.h"
#include "sqlite_util.h"

namespace posta::storage::internal {

using StampMap = std::map<std::string, base::HlcStamp>;

// The columns RecordFromRow reads, in its order, from kCurrentRecords (the
// current version of each record) or kAllVersions (every version).
inline constexpr std::string_view kRecordColumns =
    "r.type, r.id, v.facility, v.content, v.version, v.stamps, v.deleted";
inline constexpr int kRecordColumnCount = 7;
inline constexpr std::string_view kCurrentRecords =
    "records r JOIN versions v ON v.seq = r.head";
inline constexpr std::string_view kAllVersions =
    "versions v JOIN records r ON r.rid = v.rid";

// A stamp map as stored: "" when empty, else a JSON object of field name to
// stamp text, keys sorted.
std::string EncodeStampMap(const StampMap& stamps);
Result<StampMap> DecodeStampMap(std::string_view text);

// The top-level keys of a stored content object, in order. Corruption when
// it is not a JSON object.
Result<std::vector<std::string>> ContentKeys(std::string_view content);

// versions.stamps: the entries of `full` that the version does not imply.
// A field of the content whose stamp is the version's own is left out.
std::string EncodeCompactStamps(const StampMap& full,
                                const base::HlcStamp& version,
                                const std::vector<std::string>& content_keys);
// The full field stamps of a version from its compact form.
Result<StampMap> ExpandStamps(std::string_view compact,
                              const base::HlcStamp& version,
                              std::string_view content);

// Sets stamps[field] = stamp; when the field had a stamp before, records
// that one in `bases` (when not null).
void SetStamp(StampMap& stamps, const std::string& field,
              const base::HlcStamp& stamp, StampMap* bases);

// Reads kRecordColumns starting at column `first`. Corruption when a stored
// value does not parse. Without `with_stamps`, field_stamps is left empty
// (and the content is not scanned for its keys).
Result<Record> RecordFromRow(const Statement& st, int first = 0,
                             bool with_stamps = true);

}  // namespace posta::storage::internal
