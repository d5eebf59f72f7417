#include "schema.h"

#include <nlohmann/json.hpp>

#include "posta/storage/record.h"
#include "posta/storage/record_store.h"
#include "resources/resources.h"

namespace posta::storage {

int CurrentSchemaVersion() { return internal::kSchemaVersion; }

namespace internal {
namespace {

// Version 1: the meta table, current records, and versions (history and
// change log in one table). tests/fixtures/schema_v1.sql repeats this text;
// a test checks that the two agree.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
  rid             INTEGER PRIMARY KEY,
  type            TEXT NOT NULL,
  id              TEXT NOT NULL,
  facility        TEXT NOT NULL,
  content         TEXT NOT NULL,
  version         TEXT NOT NULL,
  field_stamps    TEXT NOT NULL,
  deleted         INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  last_updated_ms INTEGER NOT NULL,
  UNIQUE (type, id)
);
CREATE INDEX records_deleted ON records (type) WHERE deleted = 1;
CREATE TABLE versions (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  type            TEXT NOT NULL,
  id              TEXT NOT NULL,
  version         TEXT NOT NULL,
  content         TEXT NOT NULL,
  field_stamps    TEXT NOT NULL,
  deleted         INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  last_updated_ms INTEGER NOT NULL,
  facility        TEXT NOT NULL,
  FOREIGN KEY (type, id) REFERENCES records (type, id)
);
CREATE UNIQUE INDEX versions_by_record ON versions (type, id, version);
)sql";

// Version 2: the search index, filled from the live records already stored.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE search_index (
  type  TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  rid   INTEGER NOT NULL REFERENCES records (rid),
  PRIMARY KEY (type, param, value, rid)
) WITHOUT ROWID;
CREATE INDEX search_index_by_record ON search_index (rid);
)sql";

Status BackfillSearchIndex(Connection& conn) {
  POSTA_ASSIGN_OR_RETURN(
      Statement rows, conn.Prepare("SELECT rid, type, id, content FROM records "
                                   "WHERE deleted = 0 ORDER BY rid"));
  POSTA_ASSIGN_OR_RETURN(
      Statement insert,
      conn.Prepare("INSERT OR IGNORE INTO search_index (type, param, value, "
                   "rid) VALUES (?1, ?2, ?3, ?4)"));
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    int64_t rid = rows.ColumnInt(0);
    std::string type_name = rows.ColumnText(1);
    std::string id = rows.ColumnText(2);
    std::string where = "migration to schema 2: " + type_name + "/" + id;
    std::optional<ResourceType> type = ParseResourceType(type_name);
    if (!type) return Status::Corruption(where, "unknown resource type");
    // Stored content lacks resourceType and id; put them back so the body
    // parses as the resource it was accepted as.
    std::string body;
    try {
      nlohmann::json json = nlohmann::json::parse(rows.ColumnView(3));
      if (!json.is_object()) {
        return Status::Corruption(where, "content is not a JSON object");
      }
      json["resourceType"] = type_name;
      json["id"] = id;
      body = json.dump();
    } catch (const nlohmann::json::exception& e) {
      return Status::Corruption(where, e.what());
    }
    Result<ParsedResource> parsed = ParseResource(*type, body, id);
    if (!parsed.ok())
      return Status::Corruption(where, parsed.status().message());
    for (const SearchKey& key : parsed->search_keys) {
      insert.BindText(1, type_name);
      insert.BindText(2, key.param);
      insert.BindText(3, key.value);
      insert.BindInt(4, rid);
      POSTA_RETURN_IF_ERROR(insert.Run());
      insert.Reset();
    }
  }
  return Status::Ok();
}

Status MigrateOne(Connection& conn, int to_version) {
  switch (to_version) {
    case 1:
      return conn.Exec(kSchemaV1, "create schema version 1");
    case 2:
      POSTA_RETURN_IF_ERROR(conn.Exec(kSchemaV2, "create schema version 2"));
      return BackfillSearchIndex(conn);
  }
  return Status::Internal("migration", "no migration to schema version " +
                                           std::to_string(to_version));
}

}  // namespace

Status Migrate(Connection& conn, int from_version, int to_version) {
  POSTA_CHECK(0 <= from_version && from_version <= to_version &&
              to_version <= kSchemaVersion);
  for (int v = from_version + 1; v <= to_version; ++v) {
    POSTA_RETURN_IF_ERROR(MigrateOne(conn, v));
  }
  if (to_version != from_version) {
    POSTA_RETURN_IF_ERROR(
        conn.Exec("PRAGMA user_version = " + std::to_string(to_version),
                  "set schema version"));
  }
  return Status::Ok();
}

Status InsertMeta(Connection& conn, const NewDatabaseInfo& info) {
  base::HlcStamp zero{0, 0, info.node_id};
  POSTA_RETURN_IF_ERROR(WriteMeta(conn, kMetaNodeId, info.node_id));
  POSTA_RETURN_IF_ERROR(WriteMeta(conn, kMetaFacility, info.facility));
  POSTA_RETURN_IF_ERROR(WriteMeta(conn, kMetaRole, info.role));
  POSTA_RETURN_IF_ERROR(
      WriteMeta(conn, kMetaCreatedAt, FormatInstant(info.created_at_ms)));
  return WriteMeta(conn, kMetaHlc, zero.ToString());
}

Result<std::string> ReadMeta(Connection& conn, std::string_view key) {
  POSTA_ASSIGN_OR_RETURN(Statement st,
                         conn.Prepare("SELECT value FROM meta WHERE key = ?1"));
  st.BindText(1, key);
  POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return Status::NotFound(
        "meta " + std::string(key) + " (" + conn.path() + ")", "missing");
  }
  return st.ColumnText(0);
}

Status WriteMeta(Connection& conn, std::string_view key,
                 std::string_view value) {
  POSTA_ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  st.BindText(1, key);
  st.BindText(2, value);
  return st.Run();
}

}  // namespace internal
}  // namespace posta::storage
