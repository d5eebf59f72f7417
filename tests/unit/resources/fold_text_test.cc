#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "resources/resources.h"
#include "resources/search_keys.h"

namespace posta::storage::internal {
namespace {

// UTF-8 of one code point below U+0800.
std::string Utf8(uint32_t code_point) {
  if (code_point < 0x80) return std::string(1, static_cast<char>(code_point));
  return {static_cast<char>(0xC0 | (code_point >> 6)),
          static_cast<char>(0x80 | (code_point & 0x3F))};
}

TEST(FoldTextTest, Examples) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"José", "jose"},
      {"ÇAĞLAR", "caglar"},
      {"GARCÍA", "garcia"},
      {"Ñandú", "nandu"},
      {"Straße", "strasse"},
      {"Æsir", "aesir"},
      {"Øre", "ore"},
      {"Łódź", "lodz"},
      {"Œuvre", "oeuvre"},
      {"Þór", "thor"},
      {"Ĳssel", "ijssel"},
      {"İstanbul ılık", "istanbul ilik"},
      {"ŸÿŽžſ", "yyzzs"},
      {"Đặng", "dặng"},  // U+1EB7 is outside the folded blocks
      {"Ngũgĩ wa Thiong'o", "ngugi wa thiong'o"},
      {"ABC xyz 123 -_.", "abc xyz 123 -_."},
      {"3×4÷2", "3×4÷2"},
      {"Ωμέγα", "Ωμέγα"},
      {"王小明", "王小明"},
      {"😀", "😀"},
      {"e\xCC\x81", "e\xCC\x81"},  // combining accents are left alone
      {"", ""},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(FoldText(in), out) << in;
  }
}

TEST(FoldTextTest, InvalidUtf8PassesThrough) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff\xfe", "\xff\xfe"},
      {"abc\xc3", "abc\xc3"},
      {"\xc3"
       "A",
       "\xc3"
       "a"},
      {"\x80\x80", "\x80\x80"},
      {"\xe2\x82", "\xe2\x82"},
      {std::string("a\0B", 3), std::string("a\0b", 3)},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(FoldText(in), out);
  }
}

TEST(FoldTextTest, EveryLatinLetterFoldsToAsciiLowercase) {
  for (uint32_t cp = 0xC0; cp < 0x180; ++cp) {
    if (cp == 0xD7 || cp == 0xF7) continue;  // × and ÷ are not letters
    const std::string folded = FoldText(Utf8(cp));
    ASSERT_FALSE(folded.empty()) << std::hex << cp;
    for (char c : folded) {
      EXPECT_TRUE(c >= 'a' && c <= 'z') << std::hex << cp << " -> " << folded;
    }
  }
  for (char c = 'A'; c <= 'Z'; ++c) {
    EXPECT_EQ(FoldText(std::string(1, c)), std::string(1, c - 'A' + 'a'));
  }
}

TEST(FoldTextTest, UpperAndLowerCaseFoldAlike) {
  EXPECT_EQ(FoldText("ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝ"),
            FoldText("àáâãäåçèéêëìíîïðñòóôõöøùúûüý"));
  EXPECT_EQ(
      FoldText("ĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĴĶĹĻĽĿŁŃŅŇŊŌŎŐŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŹŻŽ"),
      FoldText("āăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĵķĺļľŀłńņňŋōŏőŕŗřśŝşšţťŧũūŭůűųŵŷźżž"));
}

TEST(FoldTextTest, IsIdempotent) {
  for (const std::string text :
       {"José GARCÍA", "\xc3\xc3\x80", "Straße ẞ", "\xc4\x80\xff"}) {
    EXPECT_EQ(FoldText(FoldText(text)), FoldText(text));
  }
}

TEST(NormalizeTextTest, CollapsesWhitespace) {
  EXPECT_EQ(NormalizeText("  María \t José\n "), "maria jose");
  EXPECT_EQ(NormalizeText(" \t "), "");
}

}  // namespace
}  // namespace posta::storage::internal
