// The SQL behind RecordStore::Search, exposed so tests can EXPLAIN it.
#pragma once

#include <string>
#include <vector>

#include "resources/resources.h"

namespace posta::storage::internal {

// Most conditions one query may carry.
inline constexpr size_t kMaxSearchConditions = 32;

// Parameter numbers of the SQL below: ?1 is the type name (read when there
// are no ranges); range i (0-based) binds ?(2+3i) its parameter's key number
// (SearchKeyCodeOf), ?(3+3i) lower (the value when exact), ?(4+3i) upper
// (only when not exact and non-empty);
// then the rid to start after and the row limit.
inline int SearchParamBase(size_t i) { return 2 + 3 * static_cast<int>(i); }
inline int SearchAfterParam(size_t n) { return 2 + 3 * static_cast<int>(n); }
inline int SearchLimitParam(size_t n) { return 3 + 3 * static_cast<int>(n); }

// With an owner scope (`scoped`): ?(4+3n) binds the owners as a JSON array
// of strings (OwnersJson), read through json_each, so no owner is ever
// spliced into the SQL.
inline int SearchOwnersParam(size_t n) { return 4 + 3 * static_cast<int>(n); }

// One page of live records matching every range, by rid: columns
// "rid, " + kRecordColumns. With no ranges, every live record of the type.
// When `scoped`, only records whose current owner is one of the bound
// owners; the owner is checked before the page is cut.
std::string SearchPageSql(const std::vector<KeyRange>& ranges, bool scoped);
// The number of live records matching every range: the same bindings
// without the page start and the limit.
std::string SearchCountSql(const std::vector<KeyRange>& ranges, bool scoped);

// The owners of an OwnerScope as the JSON array the SQL above binds.
std::string OwnersJson(const std::vector<std::string>& owners);

// Page tokens: opaque text holding the last rid of the previous page.
std::string EncodePageToken(int64_t rid);
// InvalidArgument("page_token", ...) for text this store did not issue.
Result<int64_t> DecodePageToken(std::string_view token);

}  // namespace posta::storage::internal
