#include "config/config_edit.h"

#include <nlohmann/json.hpp>
#include <vector>

namespace posta::node {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// True for a table header line ("[sync]"), with the table's name.
bool TableHeader(std::string_view line, std::string_view* name) {
  line = Trim(line);
  if (line.size() < 2 || line.front() != '[' || line[1] == '[') return false;
  const size_t close = line.find(']');
  if (close == std::string_view::npos) return false;
  *name = Trim(line.substr(1, close - 1));
  return true;
}

bool SetsKey(std::string_view line, std::string_view key) {
  line = Trim(line);
  if (line.substr(0, key.size()) != key) return false;
  line = Trim(line.substr(key.size()));
  return !line.empty() && line.front() == '=';
}

}  // namespace

std::string SetConfigString(std::string_view text, std::string_view table,
                            std::string_view key, std::string_view value) {
  // A JSON string is a valid TOML basic string (same escapes).
  const std::string setting =
      std::string(key) + " = " + nlohmann::json(std::string(value)).dump();
  std::vector<std::string> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  // `text` ending with a newline leaves an empty last element, restored by
  // the join below.
  size_t header = lines.size();
  for (size_t i = 0; i < lines.size() && header == lines.size(); ++i) {
    std::string_view name;
    if (TableHeader(lines[i], &name) && name == table) header = i;
  }
  if (header == lines.size()) {
    std::string out(text);
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out + "\n[" + std::string(table) + "]\n" + setting + "\n";
  }
  size_t end = header + 1;
  std::string_view ignored;
  while (end < lines.size() && !TableHeader(lines[end], &ignored)) ++end;
  bool replaced = false;
  size_t last = header;  // the table's last line that is not blank
  for (size_t i = header + 1; i < end; ++i) {
    if (!replaced && SetsKey(lines[i], key)) {
      lines[i] = setting;
      replaced = true;
    }
    if (!Trim(lines[i]).empty()) last = i;
  }
  if (!replaced) {
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(last) + 1,
                 setting);
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    out += lines[i];
  }
  return out;
}

}  // namespace posta::node
