// What ParseResource does for every type: malformed bodies, nesting, numbers,
// encodings, the id and meta, and the content it returns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource_fixtures.h"
#include "test_util.h"

namespace posta::storage::internal::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr ResourceType kPatient = ResourceType::kPatient;

Status ParseText(std::string_view body,
                 ResourceType type = ResourceType::kPatient) {
  return ParseResource(type, body, "").status();
}

// A valid Patient whose extension holds `levels` nested arrays, making the
// document 3 + `levels` deep.
std::string NestedPatient(int levels) {
  return R"({"resourceType":"Patient","identifier":[{"value":"1"}],)"
         R"("extension":[{"url":"http://x","valueX":)" +
         std::string(levels, '[') + std::string(levels, ']') + "}]}";
}

TEST(ParseTest, MalformedBodies) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "body: not valid JSON"},
      {"{", "body: not valid JSON"},
      {"{\"resourceType\": \"Patient\",}", "body: not valid JSON"},
      {"{'resourceType': 'Patient'}", "body: not valid JSON"},
      {"{} {}", "body: not valid JSON"},
      {"[]", "body: expected a JSON object"},
      {"\"Patient\"", "body: expected a JSON object"},
      {"null", "body: expected a JSON object"},
      {"42", "body: expected a JSON object"},
  };
  for (const auto& [body, message] : cases) {
    SCOPED_TRACE(body);
    Status status = ParseText(body);
    EXPECT_EQ(status.code(), Status::Code::kMalformed);
    EXPECT_EQ(status.message(), message);
  }
}

TEST(ParseTest, NestingIsLimitedTo32Levels) {
  EXPECT_OK(ParseText(NestedPatient(29)));
  Status status = ParseText(NestedPatient(30));
  EXPECT_EQ(status, Status::Malformed("body", "nested deeper than 32 levels"));
  // Far too deep, and unbalanced: rejected on the raw text, without a crash.
  EXPECT_EQ(ParseText(std::string(1'000'000, '[')).code(),
            Status::Code::kMalformed);
  EXPECT_EQ(ParseText(std::string(500'000, '{')).code(),
            Status::Code::kMalformed);
}

TEST(ParseTest, BracketsInsideStringsDoNotCount) {
  Json doc = ValidPatient();
  doc["name"][0]["text"] =
      std::string(100, '[') + "\"\\" + std::string(50, '{');
  EXPECT_OK(Parse(kPatient, doc));
}

TEST(ParseTest, Numbers) {
  Json doc = ValidObservation();
  std::string body = doc.dump();
  const std::string value = "38.2";
  const size_t at = body.find(value);
  ASSERT_NE(at, std::string::npos);
  auto with_value = [&](const std::string& number) {
    return std::string(body).replace(at, value.size(), number);
  };
  EXPECT_OK(ParseText(with_value("1e308"), ResourceType::kObservation));
  EXPECT_OK(ParseText(with_value("-0"), ResourceType::kObservation));
  EXPECT_OK(
      ParseText(with_value(std::string(30, '9')), ResourceType::kObservation));
  // Out of a double's range: refused by the parser, so no infinity is ever
  // stored back as null.
  for (const std::string& huge : {std::string(400, '9'), std::string("1e400"),
                                  std::string("-1e400"), std::string("NaN")}) {
    EXPECT_EQ(ParseText(with_value(huge), ResourceType::kObservation).code(),
              Status::Code::kMalformed)
        << huge;
  }
  // Anywhere in the document, even where posta keeps the value opaque.
  EXPECT_EQ(
      ParseText(R"({"resourceType":"Patient","identifier":[{"value":"1"}],)"
                R"("extension":[{"url":"u","valueDecimal":1e999}]})")
          .code(),
      Status::Code::kMalformed);
}

TEST(ParseTest, EncodingProblems) {
  const std::string head = R"({"resourceType":"Patient","name":[{"text":")";
  const std::string tail = R"("}]})";
  EXPECT_OK(ParseText(head + "Zoë 王 😀" + tail));
  EXPECT_OK(ParseText("\xEF\xBB\xBF" + head + "BOM" + tail));
  for (const std::string bad :
       {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\\ud800", "\\uZZZZ", "\x01"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseText(head + bad + tail).code(), Status::Code::kMalformed);
  }
  EXPECT_EQ(ParseText(head + "\\u0007" + tail),
            Status::InvalidArgument("Patient.name[0].text",
                                    "contains a control character"));
  EXPECT_OK(ParseText(head + "line\\nbreak\\ttab" + tail));
}

TEST(ParseTest, MetaIsDroppedAndIdChecked) {
  Json doc = ValidPatient();
  doc["meta"] = 17;  // whatever its shape, it is the store's to write
  ASSERT_OK_AND_ASSIGN(ParsedResource parsed, Parse(kPatient, doc, kPatientId));
  Json content = Json::parse(parsed.content);
  EXPECT_FALSE(content.contains("meta"));
  EXPECT_FALSE(content.contains("id"));
  EXPECT_FALSE(content.contains("resourceType"));
  EXPECT_EQ(content["gender"], "male");

  Status status = Parse(kPatient, doc, kOtherId).status();
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("does not match the record id"));
}

TEST(ParseTest, ContentIsCanonical) {
  const std::string a =
      R"({"resourceType":"Patient","gender":"female","name":[{"family":"Ngũgĩ"}]})";
  const std::string b =
      "{ \"name\" : [ { \"family\" : \"Ng\\u0169g\\u0129\" } ],\n"
      "  \"gender\": \"female\", \"resourceType\": \"Patient\" }";
  ASSERT_OK_AND_ASSIGN(ParsedResource first, ParseResource(kPatient, a, ""));
  ASSERT_OK_AND_ASSIGN(ParsedResource second, ParseResource(kPatient, b, ""));
  EXPECT_EQ(first.content, second.content);
  EXPECT_EQ(first.content,
            R"({"gender":"female","name":[{"family":"Ngũgĩ"}]})");
  EXPECT_THAT(first.top_level_fields, ElementsAre("gender", "name"));
  EXPECT_EQ(first.search_keys, second.search_keys);
}

TEST(ParseTest, ContentParsesBackToTheSameResult) {
  const std::vector<std::pair<ResourceType, Json>> examples = {
      {ResourceType::kPatient, ValidPatient()},
      {ResourceType::kEncounter, ValidEncounter()},
      {ResourceType::kObservation, ValidObservation()},
      {ResourceType::kObservation, BloodPressure()},
      {ResourceType::kAppointment, ValidAppointment()},
      {ResourceType::kLocation, ValidLocation()},
  };
  for (const auto& [type, doc] : examples) {
    SCOPED_TRACE(ResourceTypeName(type));
    ASSERT_OK_AND_ASSIGN(ParsedResource first, Parse(type, doc));
    Json again = Json::parse(first.content);
    again["resourceType"] = std::string(ResourceTypeName(type));
    ASSERT_OK_AND_ASSIGN(ParsedResource second, Parse(type, again));
    EXPECT_EQ(first.content, second.content);
    EXPECT_EQ(first.search_keys, second.search_keys);
    EXPECT_EQ(first.references.size(), second.references.size());
    // Every key belongs to a declared search parameter.
    for (const SearchKey& key : first.search_keys) {
      bool declared = false;
      for (const SearchParamInfo& info : SearchParams(type)) {
        declared = declared || info.name == key.param;
      }
      EXPECT_TRUE(declared) << key.param;
    }
  }
}

TEST(ParseTest, WrongTypeForTheEndpoint) {
  EXPECT_EQ(Parse(ResourceType::kEncounter, ValidPatient()).status(),
            Status::InvalidArgument("Encounter.resourceType",
                                    "expected \"Encounter\""));
  EXPECT_EQ(
      ParseText(R"({"resourceType": 5})"),
      Status::InvalidArgument("Patient.resourceType", "expected \"Patient\""));
}

TEST(ParseTest, LongInputIsCutInMessages) {
  Json doc = ValidPatient();
  doc["gender"] = std::string(1000, 'x');
  Status status = Parse(kPatient, doc).status();
  EXPECT_LT(status.message().size(), 200u);
  EXPECT_THAT(status.message(), HasSubstr("...\" is not one of"));
  doc = ValidPatient();
  doc[std::string(1000, 'k')] = 1;
  status = Parse(kPatient, doc).status();
  EXPECT_LT(status.message().size(), 200u);
  EXPECT_THAT(status.message(), HasSubstr("...: unknown field"));
}

TEST(ParseTest, HugeStringsAreRejected) {
  Json doc = ValidPatient();
  doc["name"][0]["text"] = std::string((1 << 20) + 1, 'a');
  EXPECT_EQ(
      Parse(kPatient, doc).status(),
      Status::InvalidArgument("Patient.name[0].text", "longer than 1 MiB"));
}

// Stored content: the resource without resourceType, id and meta.
std::string ContentOf(Json doc) {
  for (const char* key : {"resourceType", "id", "meta"}) doc.erase(key);
  return doc.dump();
}

TEST(ContentParserTest, SameResultsAsOneAfterAnother) {
  // Enough items for several threads, valid and invalid ones interleaved,
  // so that every thread meets both.
  std::vector<std::string> texts;
  std::vector<ResourceType> types;
  for (int i = 0; i < 700; ++i) {
    Json patient = ValidPatient();
    patient["name"][0]["family"] = "Family" + std::to_string(i);
    switch (i % 5) {
      case 0:
        texts.push_back(ContentOf(patient));
        types.push_back(ResourceType::kPatient);
        break;
      case 1:
        texts.push_back(ContentOf(ValidEncounter()));
        types.push_back(ResourceType::kEncounter);
        break;
      case 2:
        texts.push_back(ContentOf(ValidObservation()));
        types.push_back(ResourceType::kObservation);
        break;
      case 3:
        patient["gender"] = "robot-" + std::to_string(i);
        texts.push_back(ContentOf(patient));
        types.push_back(ResourceType::kPatient);
        break;
      default:
        texts.push_back(i % 2 == 0 ? "{not json" : patient.dump());
        types.push_back(ResourceType::kPatient);
        break;
    }
  }
  std::vector<ContentToParse> items;
  for (size_t i = 0; i < texts.size(); ++i) {
    items.push_back({types[i], texts[i]});
  }
  // Each valid document is visited once, by its own index.
  std::vector<int> visits(items.size(), 0);
  ContentParser parser(items,
                       [&](size_t i, const Json&) { ++visits[i]; });
  ASSERT_EQ(parser.size(), items.size());
  // Taken in order, as the store takes them, while later runs still parse.
  for (size_t i = 0; i < items.size(); ++i) {
    SCOPED_TRACE("item " + std::to_string(i));
    Result<ParsedResource>& taken = parser.Take(i);
    Result<ParsedResource> one = ParseContent(types[i], texts[i]);
    ASSERT_EQ(taken.ok(), one.ok());
    EXPECT_EQ(visits[i], one.ok() ? 1 : 0);
    if (!one.ok()) {
      EXPECT_EQ(taken.status(), one.status());
      continue;
    }
    EXPECT_EQ(taken->top_level_fields, one->top_level_fields);
    EXPECT_EQ(taken->search_keys, one->search_keys);
    // What storing a peer's version does not need is let go.
    EXPECT_TRUE(taken->content.empty());
    EXPECT_TRUE(taken->references.empty());
  }
  // Out of order too: the last item first, from a fresh parser.
  ContentParser backwards(items);
  for (size_t i = items.size(); i-- > 0;) {
    EXPECT_EQ(backwards.Take(i).ok(), ParseContent(types[i], texts[i]).ok())
        << i;
  }
  EXPECT_EQ(ContentParser({}).size(), 0u);
  // A small batch is parsed on the caller's thread, before Take.
  ContentParser small(std::span<const ContentToParse>(items).first(3));
  EXPECT_EQ(small.Take(2).ok(), ParseContent(types[2], texts[2]).ok());
}

}  // namespace
}  // namespace posta::storage::internal::testing
