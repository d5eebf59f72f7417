#include "record_rows.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

namespace posta::storage::internal {
namespace {

// Collects the keys of the outermost object without building a document.
class TopLevelKeys final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit TopLevelKeys(std::vector<std::string>* keys) : keys_(keys) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return depth_ > 0; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (depth_ == 0 && seen_root_) return false;
    seen_root_ = true;
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return depth_ > 0; }
  bool end_array() override { return true; }
  bool key(string_t& key) override {
    if (depth_ == 1) keys_->push_back(key);
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }
  bool is_object() const { return seen_root_; }

 private:
  std::vector<std::string>* keys_;
  int depth_ = 0;
  bool seen_root_ = false;
};

// The keys of the outermost object, read by skipping over the values
// without lexing them: about ten times quicker than the SAX parser on
// stored content, which every read of a record's stamps goes through.
// nullopt whenever the text is anything but a plain object this reader is
// sure of (a key with an escape, something malformed): ContentKeys then
// asks the parser, which decodes escapes and names what is wrong.
class KeyScanner {
 public:
  explicit KeyScanner(std::string_view text) : s_(text) {}

  std::optional<std::vector<std::string>> Keys() {
    std::vector<std::string> keys;
    SkipSpace();
    if (i_ == s_.size() || s_[i_] != '{' || !SkipValue(0, &keys)) {
      return std::nullopt;
    }
    SkipSpace();
    if (i_ != s_.size()) return std::nullopt;
    return keys;
  }

 private:
  // Deeper than this is left to the parser.
  static constexpr int kMaxDepth = 64;

  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' ||
                              s_[i_] == '\r' || s_[i_] == '\t')) {
      ++i_;
    }
  }
  // A string without escapes, its text between the quotes.
  std::optional<std::string_view> PlainString() {
    if (!Eat('"')) return std::nullopt;
    const size_t start = i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"') return s_.substr(start, i_++ - start);
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20) break;
      ++i_;
    }
    return std::nullopt;
  }
  // Any string: an escape takes the character after it.
  bool SkipString() {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i_ == s_.size()) return false;
        ++i_;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return false;
      }
    }
    return false;
  }
  // An object's key: kept in `keys` when given (a plain string only),
  // else skipped.
  bool Key(std::vector<std::string>* keys) {
    if (keys == nullptr) return SkipString();
    std::optional<std::string_view> key = PlainString();
    if (!key) return false;
    keys->emplace_back(*key);
    return true;
  }
  // One value; `keys`, when given, takes the keys of the object it is.
  bool SkipValue(int depth, std::vector<std::string>* keys = nullptr) {
    SkipSpace();
    if (i_ == s_.size() || depth > kMaxDepth) return false;
    const char c = s_[i_];
    if (c == '"') return SkipString();
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      SkipSpace();
      if (Eat(close)) return true;
      while (true) {
        if (c == '{') {
          SkipSpace();
          if (!Key(keys)) return false;
          SkipSpace();
          if (!Eat(':')) return false;
        }
        if (!SkipValue(depth + 1)) return false;
        SkipSpace();
        if (Eat(',')) continue;
        return Eat(close);
      }
    }
    // A number or a literal: its characters only.
    const size_t start = i_;
    while (i_ < s_.size()) {
      const char d = s_[i_];
      const bool part = (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
                        d == '-' || d == '+' || d == '.' || d == 'E';
      if (!part) break;
      ++i_;
    }
    return i_ > start;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string EncodeStampMap(const StampMap& stamps) {
  if (stamps.empty()) return std::string();
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [field, stamp] : stamps) json[field] = stamp.ToString();
  return json.dump();
}

Result<StampMap> DecodeStampMap(std::string_view text) {
  StampMap out;
  if (text.empty()) return out;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Corruption("stamps", "not a JSON object");
  }
  for (const auto& [field, value] : json.items()) {
    if (!value.is_string()) {
      return Status::Corruption("stamps." + field, "not a stamp");
    }
    POSTA_ASSIGN_OR_RETURN(base::HlcStamp stamp,
                           base::HlcStamp::Parse(value.get<std::string>()));
    out.emplace(field, std::move(stamp));
  }
  return out;
}

Result<std::vector<std::string>> ContentKeys(std::string_view content) {
  if (std::optional<std::vector<std::string>> quick =
          KeyScanner(content).Keys()) {
    return std::move(*quick);
  }
  std::vector<std::string> keys;
  TopLevelKeys sax(&keys);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(content.begin(), content.end(), &sax);
  } catch (const nlohmann::json::exception&) {
    ok = false;
  }
  if (!ok || !sax.is_object()) {
    return Status::Corruption("content", "not a JSON object");
  }
  return keys;
}

std::string EncodeCompactStamps(const StampMap& full,
                                const base::HlcStamp& version,
                                const std::vector<std::string>& content_keys) {
  StampMap compact;
  for (const auto& [field, stamp] : full) {
    const bool implied =
        stamp == version && std::find(content_keys.begin(), content_keys.end(),
                                      field) != content_keys.end();
    if (!implied) compact.emplace(field, stamp);
  }
  return EncodeStampMap(compact);
}

Result<StampMap> ExpandStamps(std::string_view compact,
                              const base::HlcStamp& version,
                              std::string_view content) {
  POSTA_ASSIGN_OR_RETURN(StampMap stamps, DecodeStampMap(compact));
  POSTA_ASSIGN_OR_RETURN(std::vector<std::string> keys, ContentKeys(content));
  for (std::string& key : keys) stamps.try_emplace(std::move(key), version);
  return stamps;
}

void SetStamp(StampMap& stamps, const std::string& field,
              const base::HlcStamp& stamp, StampMap* bases) {
  auto [it, added] = stamps.try_emplace(field, stamp);
  if (added) return;
  if (bases != nullptr) (*bases)[field] = it->second;
  it->second = stamp;
}

Result<Record> RecordFromRow(const Statement& st, int first,
                             bool with_stamps) {
  Record record;
  std::string_view type_name = st.ColumnView(first);
  std::optional<ResourceType> type = ParseResourceType(type_name);
  record.id = st.ColumnText(first + 1);
  std::string where = std::string(type_name) + "/" + record.id;
  if (!type) return Status::Corruption(where, "unknown resource type");
  record.type = *type;
  record.facility = st.ColumnText(first + 2);
  record.content = st.ColumnText(first + 3);
  Result<base::HlcStamp> version =
      base::HlcStamp::Parse(st.ColumnView(first + 4));
  if (!version.ok()) {
    return Status::Corruption(where, version.status().message());
  }
  record.version = std::move(version).value();
  if (with_stamps) {
    auto stamps =
        ExpandStamps(st.ColumnView(first + 5), record.version, record.content);
    if (!stamps.ok()) {
      return Status::Corruption(where, stamps.status().message());
    }
    record.field_stamps = std::move(stamps).value();
  }
  record.deleted = st.ColumnInt(first + 6) != 0;
  record.last_updated_ms = record.version.wall_ms;
  return record;
}

}  // namespace posta::storage::internal
