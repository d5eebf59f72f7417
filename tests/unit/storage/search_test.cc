// Search: every parameter kind, accent folding, paging, and index-only plans.
#include <sqlite3.h>

#include <set>

#include "resources/resources.h"
#include "store_search.h"
#include "store_test_util.h"

namespace posta::storage::testing {
namespace {

class SearchTest : public StoreFixture {
 protected:
  void SetUp() override {
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    jose_ = Add(PatientBody("García", "José", "male", "1980-04-02", "MRN-1"));
    maria_ =
        Add(PatientBody("López", "María", "female", "1990-12-31", "MRN-2"));
    ana_ = Add(PatientBody("Pérez", "Ana", "female", "1985-06-15", "MRN-3"));
    joseph_ =
        Add(PatientBody("Smith", "Joseph", "male", "2001-01-01", "MRN-4"));
  }

  std::string Add(const std::string& body,
                  ResourceType type = ResourceType::kPatient) {
    WriteOutcome out = store_->Write(CreateOp(type, body));
    EXPECT_TRUE(posta::testing::IsOk(out.status)) << out.status.ToString();
    return out.record.id;
  }

  // The ids found for `conditions`, all pages.
  std::set<std::string> Find(std::vector<SearchCondition> conditions,
                             ResourceType type = ResourceType::kPatient) {
    SearchQuery query;
    query.type = type;
    query.conditions = std::move(conditions);
    query.count = 1000;
    auto page = store_->Search(query);
    EXPECT_TRUE(posta::testing::IsOk(page));
    std::set<std::string> ids;
    if (!page.ok()) return ids;
    for (const Record& record : page->records) ids.insert(record.id);
    return ids;
  }

  std::unique_ptr<RecordStore> store_;
  std::string jose_, maria_, ana_, joseph_;
};

using Ids = std::set<std::string>;

TEST_F(SearchTest, StringPrefixFoldsCaseAndAccents) {
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "jose"}}),
            (Ids{jose_, joseph_}));
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "JOSÉ"}}),
            (Ids{jose_, joseph_}));
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "garc"}}), (Ids{jose_}));
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "maria"}}), (Ids{maria_}));
  EXPECT_EQ(Find({{"name", SearchOp::kExact, "José"}}), (Ids{jose_}));
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "zzz"}}), Ids{});
}

TEST_F(SearchTest, Tokens) {
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "female"}}),
            (Ids{maria_, ana_}));
  EXPECT_EQ(Find({{"identifier", SearchOp::kDefault, "MRN-3"}}), (Ids{ana_}));
  EXPECT_EQ(Find({{"identifier", SearchOp::kDefault, "urn:clinic:mrn|MRN-2"}}),
            (Ids{maria_}));
  EXPECT_EQ(Find({{"identifier", SearchOp::kDefault, "urn:other|MRN-2"}}),
            Ids{});
}

TEST_F(SearchTest, Dates) {
  EXPECT_EQ(Find({{"birthdate", SearchOp::kDefault, "1980-04-02"}}),
            (Ids{jose_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kEq, "1990"}}), (Ids{maria_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kEq, "1985-06"}}), (Ids{ana_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kGe, "1985-06-15"}}),
            (Ids{maria_, ana_, joseph_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kLt, "1985"}}), (Ids{jose_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kGt, "1990-12-31"}}), (Ids{joseph_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kLe, "1985-06-15"}}),
            (Ids{jose_, ana_}));
}

TEST_F(SearchTest, ConditionsCombine) {
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "male"},
                  {"birthdate", SearchOp::kGe, "2000"}}),
            (Ids{joseph_}));
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "female"},
                  {"name", SearchOp::kDefault, "ana"},
                  {"birthdate", SearchOp::kLt, "1990"}}),
            (Ids{ana_}));
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "female"},
                  {"name", SearchOp::kDefault, "jose"}}),
            Ids{});
}

TEST_F(SearchTest, References) {
  std::string e1 = Add(EncounterBody(jose_), ResourceType::kEncounter);
  std::string e2 =
      Add(EncounterBody(jose_, "in-progress", "2024-04-01T08:30:00Z"),
          ResourceType::kEncounter);
  std::string e3 = Add(EncounterBody(ana_), ResourceType::kEncounter);
  EXPECT_EQ(Find({{"patient", SearchOp::kDefault, "Patient/" + jose_}},
                 ResourceType::kEncounter),
            (Ids{e1, e2}));
  EXPECT_EQ(
      Find({{"patient", SearchOp::kDefault, ana_}}, ResourceType::kEncounter),
      (Ids{e3}));
  EXPECT_EQ(
      Find({{"date", SearchOp::kGe, "2024-03-06"}}, ResourceType::kEncounter),
      (Ids{e2}));
  EXPECT_EQ(Find({{"status", SearchOp::kDefault, "finished"},
                  {"patient", SearchOp::kDefault, jose_}},
                 ResourceType::kEncounter),
            (Ids{e1}));
}

TEST_F(SearchTest, UpdatesAndDeletesReindex) {
  ASSERT_OK(store_
                ->Write(UpdateOp(ResourceType::kPatient, maria_,
                                 PatientBody("López", "Marta", "female",
                                             "1990-12-31", "MRN-2")))
                .status);
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "maria"}}), Ids{});
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "marta"}}), (Ids{maria_}));
  ASSERT_OK(store_->Write(DeleteOp(ResourceType::kPatient, ana_)).status);
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "female"}}), (Ids{maria_}));
  EXPECT_EQ(Find({}), (Ids{jose_, maria_, joseph_}));
  WriteOp revive =
      UpdateOp(ResourceType::kPatient, ana_,
               PatientBody("Pérez", "Ana", "female", "1985-06-15", "MRN-3"),
               WriteKind::kUpsert);
  ASSERT_OK(store_->Write(revive).status);
  EXPECT_EQ(Find({{"gender", SearchOp::kDefault, "female"}}),
            (Ids{maria_, ana_}));
}

TEST_F(SearchTest, HostileValuesAreJustValues) {
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "'; DROP TABLE records; --"}}),
            Ids{});
  EXPECT_EQ(Find({{"identifier", SearchOp::kDefault, "x' OR '1'='1"}}), Ids{});
  ASSERT_OK_AND_ASSIGN(Record still,
                       store_->Get(ResourceType::kPatient, jose_));
  EXPECT_EQ(still.id, jose_);
}

TEST_F(SearchTest, BadQueriesAreInvalidArgument) {
  SearchQuery query;
  query.conditions = {{"shoe-size", SearchOp::kDefault, "42"}};
  EXPECT_EQ(store_->Search(query).status().code(),
            Status::Code::kInvalidArgument);
  query.conditions = {{"birthdate", SearchOp::kDefault, "yesterday"}};
  EXPECT_EQ(store_->Search(query).status().code(),
            Status::Code::kInvalidArgument);
  query.conditions = {{"gender", SearchOp::kGe, "male"}};
  EXPECT_EQ(store_->Search(query).status().code(),
            Status::Code::kInvalidArgument);
  query.conditions.clear();
  for (const char* token : {"garbage", "p", "pzz", "p-1", "p0"}) {
    query.page_token = token;
    EXPECT_EQ(store_->Search(query).status().code(),
              Status::Code::kInvalidArgument)
        << token;
  }
  query.page_token.clear();
  query.conditions.assign(internal::kMaxSearchConditions + 1,
                          {"gender", SearchOp::kDefault, "male"});
  EXPECT_EQ(store_->Search(query).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(SearchTest, PagesWithTokensAndTotal) {
  std::vector<WriteOp> ops;
  for (int i = 0; i < 25; ++i) {
    ops.push_back(
        CreateOp(ResourceType::kPatient,
                 PatientBody("Test", "Paging", "unknown", "2010-01-01",
                             "P-" + std::to_string(i))));
  }
  ASSERT_OK_AND_ASSIGN(auto outcomes, store_->WriteBatch(ops));
  for (bool with_condition : {true, false}) {
    SearchQuery query;
    if (with_condition)
      query.conditions = {{"name", SearchOp::kDefault, "test"}};
    query.count = 10;
    query.want_total = true;
    std::vector<std::string> seen;
    int pages = 0;
    while (true) {
      ASSERT_OK_AND_ASSIGN(SearchPage page, store_->Search(query));
      ++pages;
      ASSERT_TRUE(page.total.has_value());
      EXPECT_EQ(*page.total, with_condition ? 25 : 29);
      for (const Record& r : page.records) seen.push_back(r.id);
      if (page.next_page_token.empty()) break;
      EXPECT_EQ(page.records.size(), 10u);
      query.page_token = page.next_page_token;
    }
    EXPECT_EQ(pages, 3);
    ASSERT_EQ(seen.size(), with_condition ? 25u : 29u);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(),
              seen.size());
    if (with_condition) {
      // Stable order: the order of creation.
      for (size_t i = 0; i < 25; ++i) EXPECT_EQ(seen[i], outcomes[i].record.id);
    }
  }
}

TEST_F(SearchTest, CountIsClamped) {
  SearchQuery query;
  query.count = 0;
  ASSERT_OK_AND_ASSIGN(SearchPage page, store_->Search(query));
  EXPECT_EQ(page.records.size(), 1u);
  EXPECT_FALSE(page.next_page_token.empty());
  EXPECT_FALSE(page.total.has_value());
  query.count = 100000;
  ASSERT_OK_AND_ASSIGN(SearchPage all, store_->Search(query));
  EXPECT_EQ(all.records.size(), 4u);
  EXPECT_TRUE(all.next_page_token.empty());
}

// Schema 10 turns schema 9's index (type and parameter names, references
// as "<Type>/<id>") into key numbers and bare ids; every search answers as
// before, and a reference row no search could find is left out.
TEST_F(SearchTest, UpgradeFromNamedRowsKeepsEveryAnswer) {
  const std::string e1 = Add(EncounterBody(jose_), ResourceType::kEncounter);
  const std::string e2 = Add(EncounterBody(ana_), ResourceType::kEncounter);
  const int64_t rows = QueryRaw(DbPath(), "SELECT count(*) FROM search_keys");
  ASSERT_GT(rows, 20);
  store_.reset();
  std::string codes;
  for (const internal::SearchKeyCode& code : internal::SearchKeyCodes()) {
    codes += std::string(codes.empty() ? "" : ", ") + "('" +
             std::string(ResourceTypeName(code.type)) + "', '" +
             std::string(code.param) + "', " + std::to_string(code.code) +
             ", '" + std::string(code.target) + "')";
  }
  ExecRaw(
      DbPath(),
      "CREATE TABLE search_index (type TEXT NOT NULL, param TEXT NOT NULL, "
      "value TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (type, param, "
      "value, rid)) WITHOUT ROWID; "
      "WITH codes (type, param, code, target) AS (VALUES " +
          codes +
          ") INSERT INTO search_index SELECT c.type, c.param, "
          "CASE c.target WHEN '' THEN k.value ELSE c.target || '/' || k.value "
          "END, k.rid FROM search_keys k JOIN codes c ON c.code = k.key; "
          "INSERT INTO search_index VALUES ('Encounter', 'patient', "
          "'Location/x', 1); "
          "DROP TABLE search_keys; PRAGMA user_version = 9;");
  ASSERT_EQ(QueryRaw(DbPath(), "SELECT count(*) FROM search_index"), rows + 1);

  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(QueryRaw(DbPath(), "PRAGMA user_version"), 10);
  EXPECT_EQ(QueryRaw(DbPath(), "SELECT count(*) FROM search_keys"), rows);
  EXPECT_EQ(QueryRaw(DbPath(),
                     "SELECT count(*) FROM sqlite_schema WHERE "
                     "name = 'search_index'"),
            0);
  EXPECT_EQ(Find({{"patient", SearchOp::kDefault, "Patient/" + jose_}},
                 ResourceType::kEncounter),
            (Ids{e1}));
  EXPECT_EQ(
      Find({{"patient", SearchOp::kDefault, ana_}}, ResourceType::kEncounter),
      (Ids{e2}));
  EXPECT_EQ(Find({{"name", SearchOp::kDefault, "jose"}}),
            (Ids{jose_, joseph_}));
  EXPECT_EQ(Find({{"identifier", SearchOp::kDefault, "urn:clinic:mrn|MRN-2"}}),
            (Ids{maria_}));
  EXPECT_EQ(Find({{"birthdate", SearchOp::kLt, "1985"}}), (Ids{jose_}));
  // Rows written after the upgrade are found with the old ones.
  const std::string e3 = Add(EncounterBody(jose_), ResourceType::kEncounter);
  EXPECT_EQ(
      Find({{"patient", SearchOp::kDefault, jose_}}, ResourceType::kEncounter),
      (Ids{e1, e3}));
  EXPECT_OK(store_->CheckIntegrity());
}

// Every plan step that touches records or search_keys must be an index
// search, never a scan.
std::vector<std::string> Plan(sqlite3* db, const std::string& sql) {
  std::vector<std::string> lines;
  sqlite3_stmt* st = nullptr;
  std::string explain = "EXPLAIN QUERY PLAN " + sql;
  EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &st, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db) << " in " << sql;
  while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
    lines.emplace_back(
        reinterpret_cast<const char*>(sqlite3_column_text(st, 3)));
  }
  sqlite3_finalize(st);
  return lines;
}

// An owner scope is applied in SQL before the page is cut: pages are full,
// totals count only records in scope, and the scope follows a transfer.
TEST_F(SearchTest, OwnerScopeFiltersBeforePaging) {
  // jose_ and ana_ move to clinic-b; maria_ and joseph_ stay.
  ASSERT_OK(store_->Transfer(ResourceType::kPatient, jose_, "clinic-b"));
  ASSERT_OK(store_->Transfer(ResourceType::kPatient, ana_, "clinic-b"));
  auto find = [&](std::vector<SearchCondition> conditions, OwnerScope owners,
                  size_t count, int64_t* total) {
    SearchQuery query;
    query.conditions = std::move(conditions);
    query.count = count;
    query.owners = std::move(owners);
    query.want_total = true;
    Ids ids;
    while (true) {
      auto page = store_->Search(query);
      EXPECT_TRUE(posta::testing::IsOk(page));
      if (!page.ok()) break;
      // A page is short only when it is the last.
      if (!page->next_page_token.empty()) {
        EXPECT_EQ(page->records.size(), count);
      }
      if (page->total) *total = *page->total;
      for (const Record& r : page->records) ids.insert(r.id);
      if (page->next_page_token.empty()) break;
      query.page_token = page->next_page_token;
      query.want_total = false;
    }
    return ids;
  };
  const std::vector<std::string> b = {"clinic-b"};
  int64_t total = -1;
  EXPECT_EQ(find({}, b, 1, &total), (Ids{jose_, ana_}));
  EXPECT_EQ(total, 2);
  EXPECT_EQ(find({}, std::vector<std::string>{kFacility, "*"}, 1, &total),
            (Ids{maria_, joseph_}));
  EXPECT_EQ(total, 2);
  EXPECT_EQ(find({{"gender", SearchOp::kDefault, "male"}}, b, 1, &total),
            (Ids{jose_}));
  EXPECT_EQ(total, 1);
  EXPECT_EQ(find({{"name", SearchOp::kDefault, "jo"}},
                 std::vector<std::string>{kFacility}, 1, &total),
            (Ids{joseph_}));
  EXPECT_EQ(total, 1);
  // An empty scope sees nothing; no scope sees everything.
  EXPECT_EQ(find({}, std::vector<std::string>{}, 5, &total), Ids{});
  EXPECT_EQ(total, 0);
  EXPECT_EQ(find({}, std::nullopt, 1, &total),
            (Ids{jose_, maria_, ana_, joseph_}));
  EXPECT_EQ(total, 4);
  // Owners that look like SQL are only values.
  EXPECT_EQ(find({}, std::vector<std::string>{"' OR 1=1 --", "x\") OR (\"1"}, 5,
                 &total),
            Ids{});
}

void ExpectNoTableScan(sqlite3* db, const std::string& sql) {
  std::vector<std::string> plan = Plan(db, sql);
  ASSERT_FALSE(plan.empty());
  std::string all;
  for (const std::string& line : plan) all += line + "\n";
  for (const std::string& line : plan) {
    bool scan = line.rfind("SCAN", 0) == 0;
    bool ours = line.find("records") != std::string::npos ||
                line.find("search_keys") != std::string::npos;
    EXPECT_FALSE(scan && ours) << sql << "\n" << all;
  }
}

TEST_F(SearchTest, PlansUseIndexesOnly) {
  std::vector<std::vector<SearchCondition>> queries = {
      {{"name", SearchOp::kDefault, "jose"}},
      {{"name", SearchOp::kExact, "jose"}},
      {{"birthdate", SearchOp::kGe, "1985"}},
      {{"gender", SearchOp::kDefault, "male"},
       {"birthdate", SearchOp::kLt, "1990"}},
      {{"gender", SearchOp::kDefault, "male"},
       {"name", SearchOp::kDefault, "jo"},
       {"identifier", SearchOp::kDefault, "MRN-1"}},
  };
  sqlite3* db = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
      SQLITE_OK);
  for (const auto& conditions : queries) {
    std::vector<internal::KeyRange> ranges;
    for (const SearchCondition& c : conditions) {
      auto range = internal::ConditionToRange(ResourceType::kPatient, c);
      ASSERT_OK(range);
      ranges.push_back(*range);
    }
    for (bool scoped : {false, true}) {
      ExpectNoTableScan(db, internal::SearchPageSql(ranges, scoped));
      ExpectNoTableScan(db, internal::SearchCountSql(ranges, scoped));
    }
  }
  // A listing without conditions walks records by rid from the page start.
  for (bool scoped : {false, true}) {
    std::vector<std::string> listing =
        Plan(db, internal::SearchPageSql({}, scoped));
    ASSERT_FALSE(listing.empty());
    EXPECT_EQ(listing[0].rfind("SEARCH r USING INTEGER PRIMARY KEY", 0), 0u)
        << listing[0];
    ExpectNoTableScan(db, internal::SearchCountSql({}, scoped));
  }
  sqlite3_close(db);
}

}  // namespace
}  // namespace posta::storage::testing
