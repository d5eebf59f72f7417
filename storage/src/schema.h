// The on-disk schema and its migrations. docs/storage-format.md is the prose
// spec of every table and column named here.
#pragma once

#include <string>
#include <string_view>

#include "posta/base/status.h"
#include "sqlite_util.h"

namespace posta::storage::internal {

// The version PRAGMA user_version holds once every migration has run.
inline constexpr int kSchemaVersion = 10;

// Keys of the meta table.
inline constexpr std::string_view kMetaNodeId = "node_id";
inline constexpr std::string_view kMetaFacility = "facility";
inline constexpr std::string_view kMetaRole = "role";
inline constexpr std::string_view kMetaCreatedAt = "created_at";
inline constexpr std::string_view kMetaHlc = "hlc";

// What a new database records about itself.
struct NewDatabaseInfo {
  std::string node_id;
  std::string facility;
  std::string role;
  int64_t created_at_ms = 0;
};

// Brings the schema from `from_version` to `to_version`, one migration at a
// time. REQUIRES: a write transaction is open on `conn` (the caller commits,
// so every migration of one open lands together or not at all);
// 0 <= from_version <= to_version <= kSchemaVersion. Sets user_version.
Status Migrate(Connection& conn, int from_version, int to_version);

// Inserts the meta rows of a new database. REQUIRES: a write transaction is
// open and the schema is at version >= 1.
Status InsertMeta(Connection& conn, const NewDatabaseInfo& info);

// One meta value; NotFound when the key is absent.
Result<std::string> ReadMeta(Connection& conn, std::string_view key);
Status WriteMeta(Connection& conn, std::string_view key,
                 std::string_view value);

}  // namespace posta::storage::internal
