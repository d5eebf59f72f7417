#include "store_search.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "record_rows.h"
#include "sqlite_store.h"

namespace posta::storage::internal {
namespace {

// Record ids of live records whose index values fall in every range, each
// once. Only the (key, value, rid) primary key of search_keys is read:
// every SELECT here is an index range.
std::string MatchSql(const std::vector<KeyRange>& ranges, bool with_after) {
  std::string sql;
  for (size_t i = 0; i < ranges.size(); ++i) {
    int p = SearchParamBase(i);
    if (i > 0) sql.append(" INTERSECT ");
    sql.append(ranges.size() == 1 ? "SELECT DISTINCT rid" : "SELECT rid");
    sql.append(" FROM search_keys WHERE key = ?" + std::to_string(p));
    sql.append(ranges[i].exact ? " AND value = ?" : " AND value >= ?");
    sql.append(std::to_string(p + 1));
    if (!ranges[i].exact && !ranges[i].upper.empty()) {
      sql.append(" AND value < ?" + std::to_string(p + 2));
    }
    if (with_after) {
      sql.append(" AND rid > ?" +
                 std::to_string(SearchAfterParam(ranges.size())));
    }
  }
  return sql;
}

// Binds the type and ranges, and the page start when the SQL has one.
void BindSearch(Statement& st, ResourceType type,
                const std::vector<KeyRange>& ranges,
                std::optional<int64_t> after_rid, const OwnerScope& owners) {
  st.BindText(1, ResourceTypeName(type));
  for (size_t i = 0; i < ranges.size(); ++i) {
    int p = SearchParamBase(i);
    st.BindInt(p, SearchKeyCodeOf(type, ranges[i].param));
    st.BindText(p + 1, ranges[i].lower);
    if (!ranges[i].exact && !ranges[i].upper.empty()) {
      st.BindText(p + 2, ranges[i].upper);
    }
  }
  if (after_rid) st.BindInt(SearchAfterParam(ranges.size()), *after_rid);
  if (owners)
    st.BindText(SearchOwnersParam(ranges.size()), OwnersJson(*owners));
}

}  // namespace

namespace {

// " AND <column> IN (the bound owners)", or nothing when not scoped.
std::string OwnerCondition(std::string_view column, size_t n, bool scoped) {
  if (!scoped) return "";
  return " AND " + std::string(column) + " IN (SELECT value FROM json_each(?" +
         std::to_string(SearchOwnersParam(n)) + "))";
}

}  // namespace

std::string SearchPageSql(const std::vector<KeyRange>& ranges, bool scoped) {
  const std::string after = std::to_string(SearchAfterParam(ranges.size()));
  const std::string limit = std::to_string(SearchLimitParam(ranges.size()));
  const size_t n = ranges.size();
  if (ranges.empty()) {
    // A plain listing walks records in rid order from the page start; the
    // page limit bounds the walk.
    return "SELECT r.rid, " + std::string(kRecordColumns) +
           " FROM records r NOT INDEXED CROSS JOIN versions v "
           "ON v.seq = r.head WHERE r.rid > ?" +
           after + " AND r.type = ?1 AND r.deleted = 0" +
           OwnerCondition("r.facility", n, scoped) + " ORDER BY r.rid LIMIT ?" +
           limit;
  }
  // The page is cut from the index's rids before any record is read: only
  // the rows of the page are joined. Tombstones have no index rows. With a
  // scope, each matching rid's owner is looked up (by primary key) before
  // the cut, so a page is full whenever enough records are in scope.
  std::string page_rids;
  if (scoped) {
    page_rids = "SELECT m.rid FROM (" + MatchSql(ranges, /*with_after=*/true) +
                ") AS m CROSS JOIN records o ON o.rid = m.rid WHERE 1" +
                OwnerCondition("o.facility", n, scoped) +
                " ORDER BY m.rid LIMIT ?" + limit;
  } else {
    page_rids = "SELECT rid FROM (" + MatchSql(ranges, /*with_after=*/true) +
                ") ORDER BY rid LIMIT ?" + limit;
  }
  return "SELECT r.rid, " + std::string(kRecordColumns) + " FROM (" +
         page_rids +
         ") AS matches CROSS JOIN records r ON r.rid = matches.rid "
         "CROSS JOIN versions v ON v.seq = r.head "
         "WHERE r.deleted = 0 ORDER BY matches.rid";
}

std::string SearchCountSql(const std::vector<KeyRange>& ranges, bool scoped) {
  const size_t n = ranges.size();
  if (ranges.empty()) {
    if (scoped) {
      return "SELECT count(*) FROM records WHERE type = ?1 AND deleted = 0" +
             OwnerCondition("facility", n, scoped);
    }
    return "SELECT (SELECT count(*) FROM records WHERE type = ?1) - "
           "(SELECT count(*) FROM records WHERE type = ?1 AND deleted = 1)";
  }
  if (scoped) {
    return "SELECT count(*) FROM (" + MatchSql(ranges, /*with_after=*/false) +
           ") AS m CROSS JOIN records o ON o.rid = m.rid WHERE 1" +
           OwnerCondition("o.facility", n, scoped);
  }
  return "SELECT count(*) FROM (" + MatchSql(ranges, /*with_after=*/false) +
         ")";
}

std::string OwnersJson(const std::vector<std::string>& owners) {
  return nlohmann::json(owners).dump();
}

std::string EncodePageToken(int64_t rid) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, rid, 16);
  return "p" + std::string(buf, end);
}

Result<int64_t> DecodePageToken(std::string_view token) {
  auto bad =
      Status::InvalidArgument("page_token", "not a token from this store");
  if (token.size() < 2 || token.size() > 17 || token[0] != 'p') return bad;
  int64_t rid = 0;
  auto [end, ec] =
      std::from_chars(token.data() + 1, token.data() + token.size(), rid, 16);
  if (ec != std::errc() || end != token.data() + token.size() || rid <= 0) {
    return bad;
  }
  return rid;
}

Result<SearchPage> SqliteStore::Search(const SearchQuery& query) {
  if (query.conditions.size() > kMaxSearchConditions) {
    return Status::InvalidArgument(
        "search",
        "more than " + std::to_string(kMaxSearchConditions) + " conditions");
  }
  std::vector<KeyRange> ranges;
  ranges.reserve(query.conditions.size());
  for (const SearchCondition& condition : query.conditions) {
    POSTA_ASSIGN_OR_RETURN(KeyRange range,
                           ConditionToRange(query.type, condition));
    ranges.push_back(std::move(range));
  }
  int64_t after_rid = 0;
  if (!query.page_token.empty()) {
    POSTA_ASSIGN_OR_RETURN(after_rid, DecodePageToken(query.page_token));
  }
  const size_t count = std::clamp<size_t>(query.count, 1, 1000);

  POSTA_ASSIGN_OR_RETURN(ReadLease lease, AcquireReader());
  Connection& conn = lease.conn();
  // One snapshot for the page and the total.
  Transaction snapshot(conn, /*immediate=*/false);
  POSTA_RETURN_IF_ERROR(snapshot.Begin());
  SearchPage page;
  {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare(SearchPageSql(ranges, query.owners.has_value())));
    BindSearch(st, query.type, ranges, after_rid, query.owners);
    // One row more than the page tells whether another page follows.
    st.BindInt(SearchLimitParam(ranges.size()),
               static_cast<int64_t>(count) + 1);
    int64_t last_rid = 0;
    while (true) {
      POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (page.records.size() == count) {
        page.next_page_token = EncodePageToken(last_rid);
        break;
      }
      last_rid = st.ColumnInt(0);
      POSTA_ASSIGN_OR_RETURN(Record record,
                             RecordFromRow(st, 1, /*with_stamps=*/false));
      page.records.push_back(std::move(record));
    }
  }
  if (query.want_total) {
    POSTA_ASSIGN_OR_RETURN(
        Statement st,
        conn.Prepare(SearchCountSql(ranges, query.owners.has_value())));
    BindSearch(st, query.type, ranges, std::nullopt, query.owners);
    POSTA_ASSIGN_OR_RETURN(bool row, st.Step());
    page.total = row ? st.ColumnInt(0) : 0;
  }
  POSTA_RETURN_IF_ERROR(snapshot.Commit());
  return page;
}

}  // namespace posta::storage::internal
