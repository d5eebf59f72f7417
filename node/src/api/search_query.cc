#include "api/search_query.h"

#include <optional>

namespace posta::node {

namespace {

using storage::SearchOp;
using storage::SearchParamInfo;

constexpr size_t kMaxPageTokenBytes = 1024;
constexpr size_t kMaxValueBytes = 1024;

const SearchParamInfo* FindParam(storage::ResourceType type,
                                 std::string_view name) {
  for (const SearchParamInfo& info : storage::SearchParams(type)) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

Result<size_t> ParseCount(const std::string& text, size_t max_page_size) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Malformed("_count", "must be a positive integer");
  }
  size_t first = text.find_first_not_of('0');
  if (first == std::string::npos) {
    return Status::Malformed("_count", "must be at least 1");
  }
  std::string_view digits = std::string_view(text).substr(first);
  if (digits.size() > 9) return max_page_size;  // clamped like any large count
  size_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<size_t>(c - '0');
  return value > max_page_size ? max_page_size : value;
}

// Undoes FHIR's "\," escape and refuses unescaped commas (OR lists).
Result<std::string> UnescapeValue(const std::string& name,
                                  const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size() &&
        (raw[i + 1] == ',' || raw[i + 1] == '\\')) {
      out.push_back(raw[++i]);
    } else if (c == ',') {
      return Status::Malformed(
          name, "lists of values (a,b) are not supported; repeat the "
                "parameter to AND conditions");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<SearchOp> DatePrefix(const std::string& name, std::string& value) {
  auto is_lower = [](char c) { return c >= 'a' && c <= 'z'; };
  if (value.size() < 2 || !is_lower(value[0]) || !is_lower(value[1])) {
    return SearchOp::kDefault;
  }
  std::string prefix = value.substr(0, 2);
  static constexpr std::pair<std::string_view, SearchOp> kPrefixes[] = {
      {"eq", SearchOp::kEq}, {"ge", SearchOp::kGe}, {"gt", SearchOp::kGt},
      {"le", SearchOp::kLe}, {"lt", SearchOp::kLt}};
  for (const auto& [text, op] : kPrefixes) {
    if (prefix == text) {
      value.erase(0, 2);
      return op;
    }
  }
  if (prefix == "ne" || prefix == "sa" || prefix == "eb" || prefix == "ap") {
    return Status::Malformed(name, "date prefix '" + prefix +
                                       "' is not supported; use eq, ge, gt, "
                                       "le or lt");
  }
  return Status::Malformed(name, "unknown date prefix '" + prefix + "'");
}

Result<storage::SearchCondition> ParseCondition(storage::ResourceType type,
                                                const QueryParam& param) {
  std::string_view full = param.name;
  size_t colon = full.find(':');
  std::string name(full.substr(0, colon));
  std::optional<std::string> modifier;
  if (colon != std::string_view::npos) {
    modifier = std::string(full.substr(colon + 1));
  }
  const SearchParamInfo* info = FindParam(type, name);
  if (info == nullptr) {
    return Status::Malformed(
        name.substr(0, 64),
        "unknown search parameter for " +
            std::string(storage::ResourceTypeName(type)) +
            "; supported: " + SearchParamNames(type) + ", _count, _page, "
            "_format");
  }
  if (param.value.empty()) return Status::Malformed(name, "empty value");
  if (param.value.size() > kMaxValueBytes) {
    return Status::Malformed(name, "value longer than " +
                                       std::to_string(kMaxValueBytes) +
                                       " bytes");
  }
  storage::SearchCondition condition;
  condition.param = name;
  POSTA_ASSIGN_OR_RETURN(condition.value, UnescapeValue(name, param.value));

  switch (info->kind) {
    case SearchParamInfo::Kind::kString:
      if (modifier) {
        if (*modifier != "exact") {
          return Status::Malformed(
              name, "modifier ':" + modifier->substr(0, 32) +
                        "' is not supported; only ':exact'");
        }
        condition.op = SearchOp::kExact;
      }
      break;
    case SearchParamInfo::Kind::kReference:
      if (modifier) {
        // subject:Patient=<id> is the same as subject=Patient/<id>.
        if (!storage::ParseResourceType(*modifier)) {
          return Status::Malformed(
              name, "modifier ':" + modifier->substr(0, 32) +
                        "' is not supported; only a resource type");
        }
        condition.value = *modifier + "/" + condition.value;
      }
      break;
    case SearchParamInfo::Kind::kDate: {
      if (modifier) return Status::Malformed(name, "takes no modifier");
      POSTA_ASSIGN_OR_RETURN(condition.op, DatePrefix(name, condition.value));
      if (condition.value.empty()) return Status::Malformed(name, "empty date");
      break;
    }
    case SearchParamInfo::Kind::kToken:
      if (modifier) return Status::Malformed(name, "takes no modifier");
      break;
  }
  return condition;
}

}  // namespace

Status CheckFormat(const std::string& value) {
  if (value == "json" || value == "application/json" ||
      value == "application/fhir+json") {
    return Status::Ok();
  }
  return Status::Malformed("_format", "only json is supported");
}

std::string SearchParamNames(storage::ResourceType type) {
  std::string out;
  for (const SearchParamInfo& info : storage::SearchParams(type)) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

Result<ParsedSearch> ParseSearchQuery(storage::ResourceType type,
                                      const std::vector<QueryParam>& params,
                                      size_t max_page_size) {
  ParsedSearch out;
  out.query.type = type;
  out.query.count = kDefaultPageSize < max_page_size ? kDefaultPageSize
                                                     : max_page_size;
  bool have_count = false;
  bool have_page = false;
  for (const QueryParam& param : params) {
    if (param.name == "_count") {
      if (have_count) return Status::Malformed("_count", "given twice");
      have_count = true;
      POSTA_ASSIGN_OR_RETURN(out.query.count,
                             ParseCount(param.value, max_page_size));
    } else if (param.name == "_page") {
      if (have_page) return Status::Malformed("_page", "given twice");
      have_page = true;
      if (param.value.empty() || param.value.size() > kMaxPageTokenBytes) {
        return Status::Malformed("_page", "not a page token");
      }
      out.query.page_token = param.value;
    } else if (param.name == "_format") {
      POSTA_RETURN_IF_ERROR(CheckFormat(param.value));
    } else {
      POSTA_ASSIGN_OR_RETURN(storage::SearchCondition condition,
                             ParseCondition(type, param));
      out.query.conditions.push_back(std::move(condition));
      out.condition_params.push_back(param);
    }
  }
  // Counting is one extra indexed query; the first page pays it once.
  out.query.want_total = out.query.page_token.empty();
  return out;
}

}  // namespace posta::node
