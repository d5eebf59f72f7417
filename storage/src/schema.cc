#include "schema.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "posta/storage/record.h"
#include "posta/storage/record_store.h"
#include "posta/storage/replication.h"
#include "record_rows.h"
#include "report_facts.h"
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

// Version 3: lean rows and replication. Content is stored once, in the
// version that holds it (records.head points at the current one); field
// stamps and base stamps keep only what the version itself does not imply;
// conflicts, peers and clock flags join. Old tables are renamed aside,
// copied by MigrateToV3 and dropped.
constexpr std::string_view kSchemaV3 = R"sql(
DROP INDEX records_deleted;
DROP INDEX versions_by_record;
DROP INDEX search_index_by_record;
ALTER TABLE search_index RENAME TO search_index_v2;
ALTER TABLE versions RENAME TO versions_v2;
ALTER TABLE records RENAME TO records_v2;
CREATE TABLE records (
  rid      INTEGER PRIMARY KEY,
  type     TEXT NOT NULL,
  id       TEXT NOT NULL,
  facility TEXT NOT NULL,
  head     INTEGER NOT NULL,
  deleted  INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  UNIQUE (type, id)
);
CREATE INDEX records_deleted ON records (type) WHERE deleted = 1;
CREATE TABLE versions (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  rid     INTEGER NOT NULL,
  version TEXT NOT NULL,
  content TEXT NOT NULL,
  stamps  TEXT NOT NULL,
  bases   TEXT NOT NULL,
  deleted INTEGER NOT NULL CHECK (deleted IN (0, 1))
);
CREATE UNIQUE INDEX versions_by_record ON versions (rid, version);
CREATE TABLE search_index (
  type  TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  rid   INTEGER NOT NULL,
  PRIMARY KEY (type, param, value, rid)
) WITHOUT ROWID;
CREATE TABLE conflicts (
  cid          TEXT PRIMARY KEY NOT NULL,
  type         TEXT NOT NULL,
  record_id    TEXT NOT NULL,
  facility     TEXT NOT NULL,
  field        TEXT NOT NULL,
  winner_value TEXT,
  winner_stamp TEXT NOT NULL,
  loser_value  TEXT,
  loser_stamp  TEXT NOT NULL,
  state        INTEGER NOT NULL CHECK (state IN (0, 1)),
  state_stamp  TEXT NOT NULL,
  resolution   TEXT NOT NULL,
  resolved_by  TEXT NOT NULL,
  seq          INTEGER NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE INDEX conflicts_open ON conflicts (type, record_id) WHERE state = 0;
CREATE TABLE peers (
  node_id      TEXT PRIMARY KEY NOT NULL,
  facility     TEXT NOT NULL,
  role         TEXT NOT NULL,
  received_seq INTEGER NOT NULL,
  acked_seq    INTEGER NOT NULL,
  last_sync_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE clock_flags (
  type      TEXT NOT NULL,
  record_id TEXT NOT NULL,
  field     TEXT NOT NULL,
  stamp     TEXT NOT NULL,
  seen_ms   INTEGER NOT NULL,
  PRIMARY KEY (type, record_id, field, stamp)
) WITHOUT ROWID;
)sql";

// Version 4: an owner per version, so that history shows who owned each
// version and a hub can tell which versions to send to which facility when
// a record moves (docs/sync-protocol.md). `facility` is the owner this
// version gave the record; `moved_from` the owner before it when this
// version changed it on this node, else ''. Existing versions take their
// record's owner (nothing ever moved before version 4).
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE versions ADD COLUMN facility TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN moved_from TEXT NOT NULL DEFAULT '';
UPDATE versions SET facility =
  (SELECT r.facility FROM records r WHERE r.rid = versions.rid);
)sql";

// Version 5: enrollment (a hub's facilities, one-time enrollment codes and
// enrolled nodes). Self-contained: only new tables, nothing else touched.
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE facilities (
  id         TEXT PRIMARY KEY NOT NULL,
  name       TEXT NOT NULL,
  region     TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE enrollment_codes (
  code_hash  TEXT PRIMARY KEY NOT NULL,
  facility   TEXT NOT NULL REFERENCES facilities (id),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms    INTEGER NOT NULL,
  used_by    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE enrolled_nodes (
  node_id         TEXT PRIMARY KEY NOT NULL,
  facility        TEXT NOT NULL,
  credential_hash TEXT NOT NULL UNIQUE,
  enrolled_ms     INTEGER NOT NULL,
  revoked_ms      INTEGER NOT NULL,
  last_seen_ms    INTEGER NOT NULL,
  last_address    TEXT NOT NULL,
  flagged_ms      INTEGER NOT NULL,
  flag            TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Version 6: local user accounts and their login sessions. Only new
// tables. A session belongs to a user; ending a user's sessions is a DELETE
// by user, hence the index.
constexpr std::string_view kSchemaV6 = R"sql(
CREATE TABLE users (
  name          TEXT PRIMARY KEY NOT NULL,
  role          TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  region        TEXT NOT NULL DEFAULT '',
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_ms    INTEGER NOT NULL,
  changed_ms    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sessions (
  token_hash   TEXT PRIMARY KEY NOT NULL,
  user         TEXT NOT NULL REFERENCES users (name),
  created_ms   INTEGER NOT NULL,
  expires_ms   INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user);
)sql";

// Version 7: the audit trail, one hash chain per node (this node's own, and
// on a hub the chains received from clinics), and the received chains found
// broken. Only new tables.
constexpr std::string_view kSchemaV7 = R"sql(
CREATE TABLE audit_log (
  pos            INTEGER PRIMARY KEY,
  node_id        TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  at_ms          INTEGER NOT NULL,
  facility       TEXT NOT NULL,
  actor          TEXT NOT NULL,
  role           TEXT NOT NULL,
  remote_address TEXT NOT NULL,
  action         TEXT NOT NULL,
  resource       TEXT NOT NULL,
  version        TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  detail         TEXT NOT NULL,
  prev_hash      TEXT NOT NULL,
  hash           TEXT NOT NULL,
  UNIQUE (node_id, seq)
);
CREATE INDEX audit_by_time ON audit_log (at_ms);
CREATE TABLE audit_breaks (
  node_id  TEXT PRIMARY KEY NOT NULL,
  seq      INTEGER NOT NULL,
  why      TEXT NOT NULL,
  found_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 8: a hub's report tables (docs/reports.md). report_facts holds
// what each live record counts for (one row per record, by its rid);
// report_counts the sums per facility, period ("W"/"M" + its first day) and
// metric that the reports read by range. node_reports keeps what each clinic
// said at its last hello and when its last sync completed. Only new tables.
constexpr std::string_view kSchemaV8 = R"sql(
CREATE TABLE report_facts (
  rid        INTEGER PRIMARY KEY,
  facility   TEXT NOT NULL,
  day        TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  metrics    TEXT NOT NULL
);
CREATE INDEX report_facts_created ON report_facts (facility, created_ms);
CREATE TABLE report_counts (
  facility TEXT NOT NULL,
  period   TEXT NOT NULL,
  metric   TEXT NOT NULL,
  n        INTEGER NOT NULL,
  PRIMARY KEY (facility, period, metric)
) WITHOUT ROWID;
CREATE TABLE node_reports (
  node_id         TEXT PRIMARY KEY NOT NULL,
  facility        TEXT NOT NULL,
  software        TEXT NOT NULL,
  pending_changes INTEGER NOT NULL,
  hello_ms        INTEGER NOT NULL,
  synced_ms       INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 9: tiers (hubs syncing to hubs, docs/sync-protocol.md "Tiers").
// `versions.via` is the peer a version was received from as it was made
// ('' for this node's own writes and merges), so a hub leaves out of a
// pull, and of a push to its own upstream hub, what it received from that
// very peer. `region` on codes and enrolled nodes marks a hub node's
// credential and the region its scope covers. Only added columns; existing
// rows take '' (versions received before this version are sent back to
// their sender at most once more, and ignored there). A column already
// there is left as it is, so the step stands alone whatever ran before it.
Status MigrateToV9(Connection& conn) {
  constexpr std::pair<std::string_view, std::string_view> kAdded[] = {
      {"versions", "via"},
      {"enrollment_codes", "region"},
      {"enrolled_nodes", "region"}};
  for (const auto& [table, column] : kAdded) {
    POSTA_ASSIGN_OR_RETURN(
        int64_t present,
        conn.QueryInt("SELECT count(*) FROM pragma_table_info('" +
                          std::string(table) + "') WHERE name = '" +
                          std::string(column) + "'",
                      "schema version 9: columns of " + std::string(table)));
    if (present != 0) continue;
    POSTA_RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + std::string(table) +
                                        " ADD COLUMN " + std::string(column) +
                                        " TEXT NOT NULL DEFAULT ''",
                                    "create schema version 9"));
  }
  return Status::Ok();
}

// Version 10: a leaner search index. search_keys holds what search_index
// held, with the (type, param) of each row as one small number
// (SearchKeyCodes) and a reference as the bare id of its target: a row is
// about half the bytes, and a write dirties about half the pages. A
// reference row naming another type than its parameter's target could
// never be found (search asks for the target), and is left out. The step
// stands alone: a database that already has search_keys and no
// search_index is left as it is.
Status MigrateToV10(Connection& conn) {
  POSTA_RETURN_IF_ERROR(conn.Exec(R"sql(
CREATE TABLE IF NOT EXISTS search_keys (
  key   INTEGER NOT NULL,
  value TEXT NOT NULL,
  rid   INTEGER NOT NULL,
  PRIMARY KEY (key, value, rid)
) WITHOUT ROWID;
)sql",
                                  "create schema version 10"));
  POSTA_ASSIGN_OR_RETURN(
      int64_t old_index,
      conn.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                    "AND name = 'search_index'",
                    "schema version 10: the search index"));
  if (old_index == 0) return Status::Ok();
  std::string codes;
  for (const SearchKeyCode& code : SearchKeyCodes()) {
    if (!codes.empty()) codes += ",\n";
    codes += "('" + std::string(ResourceTypeName(code.type)) + "', '" +
             std::string(code.param) + "', " + std::to_string(code.code) +
             ", '" + std::string(code.target) + "')";
  }
  // A reference row holds "<Type>/<id>", or already the bare id when the
  // index was filled by this posta's parser earlier in the same upgrade.
  return conn.Exec(
      "WITH codes (type, param, code, target) AS (VALUES\n" + codes +
          ")\n"
          "INSERT OR IGNORE INTO search_keys (key, value, rid)\n"
          "  SELECT c.code,\n"
          "         CASE WHEN c.target = '' OR instr(s.value, '/') = 0\n"
          "              THEN s.value\n"
          "              ELSE substr(s.value, length(c.target) + 2) END,\n"
          "         s.rid\n"
          "  FROM search_index s JOIN codes c\n"
          "    ON c.type = s.type AND c.param = s.param\n"
          "  WHERE c.target = '' OR instr(s.value, '/') = 0\n"
          "     OR substr(s.value, 1, length(c.target) + 1) = c.target || '/'\n"
          "  ORDER BY 1, 2, 3;\n"
          "DROP TABLE search_index;",
      "migrate to schema version 10");
}

// The report tables are kept on a hub only; a hub's existing records are
// counted now. (A new database has no meta rows yet, and no records.)
Status MigrateToV8(Connection& conn) {
  POSTA_RETURN_IF_ERROR(conn.Exec(kSchemaV8, "create schema version 8"));
  Result<std::string> role = ReadMeta(conn, kMetaRole);
  if (!role.ok()) {
    if (role.status().code() == Status::Code::kNotFound) return Status::Ok();
    return role.status();
  }
  if (*role != "hub") return Status::Ok();
  return BackfillReportFacts(conn);
}

// Copies versions_v2/records_v2/search_index_v2 into the version 3 tables,
// keeping every rid and seq, then drops the old tables.
Status MigrateToV3(Connection& conn) {
  POSTA_ASSIGN_OR_RETURN(
      Statement rows,
      conn.Prepare("SELECT v.seq, r.rid, v.version, v.content, "
                   "v.field_stamps, v.deleted, v.type, v.id "
                   "FROM versions_v2 v JOIN records_v2 r "
                   "ON r.type = v.type AND r.id = v.id ORDER BY v.seq"));
  POSTA_ASSIGN_OR_RETURN(
      Statement insert,
      conn.Prepare("INSERT INTO versions (seq, rid, version, content, stamps, "
                   "bases, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  // Each record's previous version: its full stamps and tombstone flag.
  struct Previous {
    StampMap stamps;
    bool deleted = false;
  };
  std::map<int64_t, Previous> previous;
  const std::string deleted_key(kDeletedField);
  while (true) {
    POSTA_ASSIGN_OR_RETURN(bool row, rows.Step());
    if (!row) break;
    const int64_t seq = rows.ColumnInt(0);
    const int64_t rid = rows.ColumnInt(1);
    const std::string where = "migration to schema 3: " + rows.ColumnText(6) +
                              "/" + rows.ColumnText(7);
    Result<base::HlcStamp> version = base::HlcStamp::Parse(rows.ColumnView(2));
    if (!version.ok()) {
      return Status::Corruption(where, version.status().message());
    }
    const std::string content = rows.ColumnText(3);
    Result<StampMap> stamps = DecodeStampMap(rows.ColumnView(4));
    if (!stamps.ok()) {
      return Status::Corruption(where, stamps.status().message());
    }
    const bool deleted = rows.ColumnInt(5) != 0;
    auto [it, first] = previous.try_emplace(rid);
    Previous& before = it->second;
    StampMap full = std::move(stamps).value();
    StampMap bases;
    for (const auto& [field, stamp] : full) {
      auto old = before.stamps.find(field);
      if (stamp == *version && old != before.stamps.end()) {
        bases.emplace(field, old->second);
      }
    }
    // Version 2 did not stamp deletes and revivals: the version that turned
    // the flag gets the stamp now.
    auto old_deleted = before.stamps.find(deleted_key);
    if (!first && deleted != before.deleted) {
      if (old_deleted != before.stamps.end()) {
        bases.emplace(deleted_key, old_deleted->second);
      }
      full[deleted_key] = *version;
    } else if (old_deleted != before.stamps.end()) {
      full[deleted_key] = old_deleted->second;
    }
    POSTA_ASSIGN_OR_RETURN(std::vector<std::string> keys,
                           ContentKeys(content));
    insert.BindInt(1, seq);
    insert.BindInt(2, rid);
    insert.BindText(3, version->ToString());
    insert.BindText(4, content);
    insert.BindText(5, EncodeCompactStamps(full, *version, keys));
    insert.BindText(6, EncodeStampMap(bases));
    insert.BindInt(7, deleted ? 1 : 0);
    POSTA_RETURN_IF_ERROR(insert.Run());
    insert.Reset();
    before.stamps = std::move(full);
    before.deleted = deleted;
  }
  return conn.Exec(R"sql(
INSERT INTO records (rid, type, id, facility, head, deleted)
  SELECT r.rid, r.type, r.id, r.facility,
         (SELECT v.seq FROM versions_v2 v
           WHERE v.type = r.type AND v.id = r.id AND v.version = r.version),
         r.deleted
  FROM records_v2 r;
INSERT INTO search_index (type, param, value, rid)
  SELECT type, param, value, rid FROM search_index_v2;
DROP TABLE search_index_v2;
DROP TABLE versions_v2;
DROP TABLE records_v2;
)sql",
                   "migrate to schema version 3");
}

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
    case 3:
      POSTA_RETURN_IF_ERROR(conn.Exec(kSchemaV3, "create schema version 3"));
      return MigrateToV3(conn);
    case 4:
      return conn.Exec(kSchemaV4, "create schema version 4");
    case 5:
      return conn.Exec(kSchemaV5, "create schema version 5");
    case 6:
      return conn.Exec(kSchemaV6, "create schema version 6");
    case 7:
      return conn.Exec(kSchemaV7, "create schema version 7");
    case 8:
      return MigrateToV8(conn);
    case 9:
      return MigrateToV9(conn);
    case 10:
      return MigrateToV10(conn);
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
