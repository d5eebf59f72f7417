// posta conflicts list | show | resolve against a node whose database holds
// conflicts made as sync makes them: another node's version applied through
// a merger that reports them.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "posta/storage/replication.h"
#include "reporting_merger.h"
#include "test_util.h"

namespace posta::node::cli {
namespace {

using ::posta::testing::TempDir;

using ::posta::testing::ConflictSpec;
using ::posta::testing::kOtherNode;
using ::posta::testing::ReportingMerger;

std::string PatientBody(const std::string& family) {
  return nlohmann::json{{"resourceType", "Patient"},
                        {"name", {{{"family", family}, {"given", {"Ada"}}}}},
                        {"gender", "female"},
                        {"birthDate", "1990-04-12"}}
      .dump();
}

class ConflictsCmdTest : public ::testing::Test {
 protected:
  // Three minutes after now, as the stores stamp writes with the real clock.
  ConflictsCmdTest() : clock_(base::SystemClock().WallNowMillis() + 200000) {}

  void SetUp() override {
    dir_ = tmp_.File("node");
    config_ = dir_ + "/posta.toml";
    Io io = MakeIo();
    ASSERT_OK(RunInit({.dir = dir_,
                       .role = "clinic",
                       .facility = "clinic-001",
                       .listen = "127.0.0.1:8181"},
                      io));
    Out();
  }

  Io MakeIo() { return Io{.out = out_, .err = err_, .clock = clock_}; }

  std::string Out() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

  std::unique_ptr<storage::RecordStore> OpenAt(const std::string& path,
                                               bool read_only = false) {
    storage::StoreOptions options;
    options.path = path;
    options.create_if_missing = !read_only;
    options.read_only = read_only;
    options.facility = "clinic-001";
    auto store = storage::OpenRecordStore(options);
    EXPECT_TRUE(::posta::testing::IsOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // A patient written on another node and synced into the node's database,
  // where the merge reports `specs`. Returns the patient's id.
  std::string SyncPatientWithConflicts(std::vector<ConflictSpec> specs,
                                       const std::string& family = "Okafor") {
    auto origin = OpenAt(tmp_.File("origin.db"));
    auto node = OpenAt(dir_ + "/posta.db");
    if (!origin || !node) return {};
    storage::WriteOp op;
    op.type = storage::ResourceType::kPatient;
    op.body = PatientBody(family);
    storage::WriteOutcome written = origin->Write(op);
    EXPECT_OK(written.status);
    storage::ChangeFilter filter;
    filter.after_seq = origin_seq_;
    auto batch = origin->ReadChanges(filter);
    EXPECT_OK(batch);
    if (!batch.ok()) return {};
    origin_seq_ = batch->last_seq;
    storage::PeerState peer;
    peer.node_id = origin->node_id();
    peer.facility = "clinic-001";
    peer.role = "clinic";
    peer.received_seq = batch->last_seq;
    ReportingMerger merger;
    merger.specs = std::move(specs);
    EXPECT_OK(node->ApplyChanges(batch->changes, batch->conflicts, merger,
                                 peer));
    return written.record.id;
  }

  std::string GenderConflict(std::string* record_id = nullptr) {
    std::string record = SyncPatientWithConflicts(
        {{"gender", std::string("\"female\""), std::string("\"male\"")}});
    if (record_id) *record_id = record;
    return OpenIds().front();
  }

  std::vector<std::string> OpenIds() {
    auto node = OpenAt(dir_ + "/posta.db", /*read_only=*/true);
    auto list = node->ListConflicts(/*open_only=*/true, 100);
    EXPECT_OK(list);
    std::vector<std::string> ids;
    for (const auto& c : *list) ids.push_back(c.id);
    if (ids.empty()) ids.emplace_back();
    return ids;
  }

  nlohmann::json Record(const std::string& id) {
    auto node = OpenAt(dir_ + "/posta.db", /*read_only=*/true);
    auto record = node->Get(storage::ResourceType::kPatient, id);
    EXPECT_OK(record);
    nlohmann::json j = nlohmann::json::parse(record->content, nullptr,
                                             /*allow_exceptions=*/false);
    if (!j.is_object()) j = nlohmann::json::object();
    j["deleted"] = record->deleted;
    return j;
  }

  Status Resolve(ConflictsResolveOptions options) {
    options.config_path = config_;
    Io io = MakeIo();
    return RunConflictsResolve(options, io);
  }

  TempDir tmp_;
  std::string dir_;
  std::string config_;
  int64_t origin_seq_ = 0;
  base::ManualClock clock_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ConflictsCmdTest, ListSaysWhenThereAreNone) {
  Io io = MakeIo();
  ASSERT_OK(RunConflictsList({.config_path = config_}, io));
  EXPECT_EQ(Out(), "no open conflicts\n");
  ASSERT_OK(RunConflictsList({.config_path = config_, .all = true}, io));
  EXPECT_EQ(Out(), "no conflicts\n");
  ASSERT_OK(RunConflictsList({.config_path = config_, .json = true}, io));
  EXPECT_EQ(Out(), "");
}

TEST_F(ConflictsCmdTest, ListShowsATable) {
  std::string long_name =
      R"([{"family":"Abubakar-Oyelaran-Mwangi","given":["Chiamaka"]}])";
  std::string record = SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")},
       {"name", long_name, std::nullopt}});
  std::string deleted = SyncPatientWithConflicts(
      {{std::string(storage::kDeletedField), std::string("false"),
        std::string("true")}},
      "Banda");
  Io io = MakeIo();
  ASSERT_OK(RunConflictsList({.config_path = config_}, io));
  std::string out = Out();
  std::istringstream lines(out);
  std::string header;
  std::getline(lines, header);
  EXPECT_EQ(header.rfind("ID ", 0), 0u) << out;
  for (const char* column : {"RECORD", "FIELD", "WINNER → LOSER", "ORIGINS",
                             "AGE"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column;
  }
  std::string row;
  std::getline(lines, row);  // newest first: the delete conflict
  EXPECT_NE(row.find("Patient/" + deleted), std::string::npos) << out;
  EXPECT_NE(row.find("(delete vs edit)"), std::string::npos) << row;
  EXPECT_NE(row.find("kept → deleted"), std::string::npos) << row;
  EXPECT_NE(out.find("\"female\" → \"male\""), std::string::npos) << out;
  EXPECT_NE(out.find("Patient/" + record), std::string::npos) << out;
  // A long value is cut to 30 characters, the last one "…".
  EXPECT_NE(out.find(long_name.substr(0, 29) + "… → (removed)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find(long_name), std::string::npos);
  EXPECT_NE(out.find(std::string(" / ") + kOtherNode), std::string::npos);
  EXPECT_NE(out.find("3 minutes ago"), std::string::npos) << out;
  int rows = 0;
  for (char c : out) rows += c == '\n';
  EXPECT_EQ(rows, 4);
}

TEST_F(ConflictsCmdTest, ListAsJsonLines) {
  SyncPatientWithConflicts(
      {{"gender", std::string("\"female\""), std::string("\"male\"")},
       {"birthDate", std::string("\"1990-04-12\""), std::nullopt}});
  Io io = MakeIo();
  ASSERT_OK(RunConflictsList({.config_path = config_, .json = true}, io));
  std::istringstream lines(Out());
  std::string line;
  std::vector<nlohmann::json> conflicts;
  while (std::getline(lines, line)) {
    conflicts.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(conflicts.size(), 2u);
  for (const auto& c : conflicts) {
    EXPECT_EQ(c["state"], "open");
    EXPECT_EQ(c["kind"], "field-edit");
    EXPECT_EQ(c["loser"]["origin"], kOtherNode);
  }
  EXPECT_EQ(conflicts[1]["field"], "gender");
  EXPECT_EQ(conflicts[1]["loser"]["value"], "male");
}

TEST_F(ConflictsCmdTest, ShowPrintsEveryDetail) {
  std::string record;
  std::string id = GenderConflict(&record);
  Io io = MakeIo();
  ASSERT_OK(RunConflictsShow({.config_path = config_, .id = id}, io));
  std::string out = Out();
  for (const std::string& want :
       {"conflict     " + id, std::string("field-edit"),
        "Patient/" + record, std::string("clinic-001"),
        std::string("field        gender"), std::string("state        open"),
        std::string("winner       \"female\""),
        std::string("loser        \"male\""),
        std::string("node ") + kOtherNode, std::string("1 hour ago"),
        std::string("posta conflicts resolve --config ") + config_}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  }

  ASSERT_OK(
      RunConflictsShow({.config_path = config_, .id = id, .json = true}, io));
  auto j = nlohmann::json::parse(Out());
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["recordId"], record);
  EXPECT_EQ(j["winner"]["value"], "female");
}

TEST_F(ConflictsCmdTest, ShowTakesAUniquePrefixInAnyCase) {
  std::string id = GenderConflict();
  Io io = MakeIo();
  std::string upper = id.substr(0, 8);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  ASSERT_OK(RunConflictsShow({.config_path = config_, .id = upper}, io));
  EXPECT_NE(Out().find(id), std::string::npos);

  Status short_prefix =
      RunConflictsShow({.config_path = config_, .id = id.substr(0, 5)}, io);
  EXPECT_TRUE(short_prefix.IsNotFound()) << short_prefix.ToString();
  Status bad = RunConflictsShow({.config_path = config_, .id = "zzzzzzzz"}, io);
  EXPECT_TRUE(bad.IsNotFound());
  std::string other = id[0] == 'a' ? std::string(32, 'b') : std::string(32, 'a');
  Status unknown = RunConflictsShow({.config_path = config_, .id = other}, io);
  EXPECT_TRUE(unknown.IsNotFound());
  EXPECT_NE(unknown.message().find("no such conflict"), std::string::npos);
}

TEST_F(ConflictsCmdTest, ResolveKeepingTheLoserWritesTheRecord) {
  std::string record;
  std::string id = GenderConflict(&record);
  EXPECT_EQ(Record(record)["gender"], "female");
  ASSERT_OK(Resolve({.id = id, .keep = "loser", .by = "Nurse Amina"}));
  std::string out = Out();
  EXPECT_NE(out.find("resolved: the loser's value was written back"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("resolved (loser, by Nurse Amina)"), std::string::npos)
      << out;
  EXPECT_EQ(Record(record)["gender"], "male");

  Status again = Resolve({.id = id, .keep = "winner"});
  EXPECT_EQ(again.code(), Status::Code::kConflict);
  EXPECT_NE(again.message().find("already resolved"), std::string::npos);
  EXPECT_EQ(Record(record)["gender"], "male");

  Io io = MakeIo();
  ASSERT_OK(RunConflictsList({.config_path = config_}, io));
  EXPECT_EQ(Out(), "no open conflicts\n");
  ASSERT_OK(RunConflictsList({.config_path = config_, .all = true}, io));
  EXPECT_NE(Out().find(id.substr(0, 12) + " (loser)"), std::string::npos);
}

TEST_F(ConflictsCmdTest, ResolveKeepingTheWinner) {
  std::string record;
  std::string id = GenderConflict(&record);
  ASSERT_OK(Resolve({.id = id, .keep = "winner"}));
  EXPECT_NE(Out().find("the record keeps the winner"), std::string::npos);
  EXPECT_EQ(Record(record)["gender"], "female");
}

TEST_F(ConflictsCmdTest, ResolveWithAValueOrRemovingTheField) {
  std::string record;
  std::string id = GenderConflict(&record);
  Status bad = Resolve({.id = id, .value = "\"sometimes\""});
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("gender"), std::string::npos) << bad.message();
  EXPECT_EQ(Resolve({.id = id, .value = "sometimes"}).code(),
            Status::Code::kInvalidArgument);  // not JSON
  EXPECT_EQ(OpenIds().front(), id);
  ASSERT_OK(Resolve({.id = id.substr(0, 10), .value = "\"other\""}));
  EXPECT_EQ(Record(record)["gender"], "other");

  std::string second_record;
  std::string second = GenderConflict(&second_record);
  ASSERT_OK(Resolve({.id = second, .remove = true}));
  EXPECT_NE(Out().find("the field was removed"), std::string::npos);
  EXPECT_FALSE(Record(second_record).contains("gender"));
}

TEST_F(ConflictsCmdTest, ResolveOfADeleteConflictRestoresTheDeletion) {
  std::string record = SyncPatientWithConflicts(
      {{std::string(storage::kDeletedField), std::string("false"),
        std::string("true")}});
  std::string id = OpenIds().front();
  Io io = MakeIo();
  ASSERT_OK(RunConflictsShow({.config_path = config_, .id = id}, io));
  EXPECT_NE(Out().find("delete-vs-edit"), std::string::npos);
  EXPECT_EQ(Resolve({.id = id, .value = "true"}).code(),
            Status::Code::kInvalidArgument);
  ASSERT_OK(Resolve({.id = id, .keep = "loser"}));
  EXPECT_EQ(Record(record)["deleted"], true);
}

TEST_F(ConflictsCmdTest, ResolveNeedsExactlyOneChoice) {
  std::string id = GenderConflict();
  EXPECT_EQ(Resolve({.id = id}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Resolve({.id = id, .keep = "winner", .remove = true}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Resolve({.id = id, .keep = "both"}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Resolve({.id = id, .keep = "winner", .by = std::string(201, 'x')})
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(OpenIds().front(), id);
}

TEST_F(ConflictsCmdTest, MissingDatabaseSaysRunInit) {
  std::remove((dir_ + "/posta.db").c_str());
  Io io = MakeIo();
  Status s = RunConflictsList({.config_path = config_}, io);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_NE(s.message().find(kNoDatabase), std::string::npos);
}

}  // namespace
}  // namespace posta::node::cli
