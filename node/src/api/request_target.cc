#include "api/request_target.h"

namespace posta::node {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return Status::Malformed("request target", "truncated percent escape");
      }
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return Status::Malformed("request target", "invalid percent escape");
      }
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') {
        return Status::Malformed("request target", "encoded NUL");
      }
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Status::Malformed("request target", "must start with /");
  }
  if (target.find('#') != std::string_view::npos) {
    return Status::Malformed("request target", "fragment not allowed");
  }
  RequestTarget out;
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos
                               ? std::string_view()
                               : target.substr(question + 1);

  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view raw = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos
                                               : slash - start);
    POSTA_ASSIGN_OR_RETURN(std::string segment, PercentDecode(raw, false));
    out.segments.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }

  start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    std::string_view piece = query.substr(
        start, amp == std::string_view::npos ? std::string_view::npos
                                             : amp - start);
    if (!piece.empty()) {
      if (out.query.size() >= kMaxQueryParams) {
        return Status::Malformed(
            "query", "more than " + std::to_string(kMaxQueryParams) +
                         " parameters");
      }
      size_t eq = piece.find('=');
      QueryParam param;
      POSTA_ASSIGN_OR_RETURN(param.name,
                             PercentDecode(piece.substr(0, eq), true));
      if (eq != std::string_view::npos) {
        POSTA_ASSIGN_OR_RETURN(param.value,
                               PercentDecode(piece.substr(eq + 1), true));
      }
      out.query.push_back(std::move(param));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                      c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

std::string EncodeQuery(const std::vector<QueryParam>& params) {
  std::string out;
  for (const QueryParam& param : params) {
    if (!out.empty()) out.push_back('&');
    out += PercentEncode(param.name);
    out.push_back('=');
    out += PercentEncode(param.value);
  }
  return out;
}

}  // namespace posta::node
