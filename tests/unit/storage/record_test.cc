#include "posta/storage/record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "posta/storage/record_store.h"
#include "record_rows.h"
#include "test_util.h"

namespace posta::storage {
namespace {

TEST(ResourceTypeTest, NamesRoundTrip) {
  for (ResourceType type : kAllResourceTypes) {
    auto parsed = ParseResourceType(ResourceTypeName(type));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(ResourceTypeName(ResourceType::kObservation), "Observation");
  EXPECT_FALSE(ParseResourceType("patient").has_value());
  EXPECT_FALSE(ParseResourceType("").has_value());
}

TEST(FormatInstantTest, FormatsUtcWithMillis) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(1709632800123), "2024-03-05T10:00:00.123Z");
  EXPECT_EQ(FormatInstant(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(-1), "1969-12-31T23:59:59.999Z");
}

TEST(RenderResourceTest, PutsStoreFieldsFirst) {
  Record record;
  record.type = ResourceType::kPatient;
  record.id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  record.facility = "clinic-a";
  record.content = R"({"birthDate":"1980-04-02","gender":"male"})";
  record.version = base::HlcStamp{1709632800000, 3, "7f3a9c2e4b1d0a55"};
  record.last_updated_ms = 1709632800000;
  std::string text = RenderResource(record);
  EXPECT_EQ(text.rfind(R"({"resourceType":"Patient","id":")", 0), 0u) << text;
  auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json["id"], record.id);
  EXPECT_EQ(json["meta"]["versionId"], "1709632800000.0003.7f3a9c2e4b1d0a55");
  EXPECT_EQ(json["meta"]["lastUpdated"], "2024-03-05T10:00:00.000Z");
  EXPECT_EQ(json["meta"]["tag"][0]["system"], "urn:posta:facility");
  EXPECT_EQ(json["meta"]["tag"][0]["code"], "clinic-a");
  EXPECT_EQ(json["gender"], "male");
  EXPECT_EQ(json["birthDate"], "1980-04-02");
}

TEST(RenderResourceTest, EmptyContent) {
  Record record;
  record.id = "0b0e8d8e-5a43-4d3c-9d54-4a3b1b7a0c11";
  record.content = "{}";
  auto json = nlohmann::json::parse(RenderResource(record));
  EXPECT_EQ(json.size(), 3u);
}

TEST(ValidateResourceTest, ReportsBadBodies) {
  EXPECT_EQ(ValidateResource(ResourceType::kPatient, "not json").code(),
            Status::Code::kMalformed);
  EXPECT_EQ(ValidateResource(ResourceType::kPatient,
                             R"({"resourceType":"Encounter"})")
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_OK(ValidateResource(
      ResourceType::kPatient,
      R"({"resourceType":"Patient","name":[{"family":"García"}],"gender":"male"})"));
}

TEST(SchemaVersionTest, IsTen) { EXPECT_EQ(CurrentSchemaVersion(), 10); }

}  // namespace
}  // namespace posta::storage

namespace posta::storage::internal {
namespace {

// The keys of an object in document order, as the JSON parser reads them.
std::vector<std::string> ParsedKeys(std::string_view text) {
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto& item : doc.items()) keys.push_back(item.key());
  return keys;
}

TEST(ContentKeysTest, ReadsTheOutermostKeysInOrder) {
  const std::string texts[] = {
      "{}",
      " { } ",
      R"({"gender":"female"})",
      R"({"name":[{"family":"Okafor","given":["Ada","N"]}],"active":true,)"
      R"("birthDate":"1990-01-02","deceasedBoolean":false,"x":null})",
      R"({"valueQuantity":{"value":-37.25e1,"unit":"°C"},"n":0,"m":1E+3})",
      "{\n  \"a\" : [ [], {}, [1, [2, {\"b\": \"}]\"}]] ] ,\t\"c\":\"\"\r\n}",
      R"({"note":"a \"quoted\" \\ word \u00e9 } ] , :","z":{"y":{"x":[]}}})",
      R"({"esc\"aped":1,"plain":2})",  // an escaped key: the parser's answer
      R"({"text":"José","display":"Ходжа"})",
  };
  for (const std::string& text : texts) {
    Result<std::vector<std::string>> keys = ContentKeys(text);
    ASSERT_TRUE(keys.ok()) << text << ": " << keys.status().ToString();
    EXPECT_EQ(*keys, ParsedKeys(text)) << text;
  }
}

TEST(ContentKeysTest, AnythingButAnObjectIsCorruption) {
  const std::string texts[] = {
      "",        "[]",         "\"a\"",          "1",
      "{",       "{\"a\"}",    "{\"a\":}",       "{\"a\":1,}",
      "{} {}",   "{\"a\":[1}", "{\"a\":\"b}",    "{\"a\":1 \"b\":2}",
      "{a:1}",   "{\"a\":{\"b\"}}", "{\"a\":\"\\\"}", "{\"a\":[1,]}",
  };
  for (const std::string& text : texts) {
    Result<std::vector<std::string>> keys = ContentKeys(text);
    EXPECT_EQ(keys.status().code(), Status::Code::kCorruption) << text;
  }
}

}  // namespace
}  // namespace posta::storage::internal
