#include "config/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <span>

#include "http/tls.h"
#include "posta/storage/replication.h"

namespace posta::node {

namespace {

constexpr std::string_view kSections[] = {"node", "http",    "storage", "sync",
                                          "backup", "reports", "log"};
constexpr std::string_view kNodeKeys[] = {"role", "facility", "data_dir"};
constexpr std::string_view kHttpKeys[] = {
    "listen",          "max_body_bytes",   "max_header_bytes",
    "read_timeout_ms", "idle_timeout_ms",  "max_connections",
    "worker_threads",  "auth",             "session_idle_min",
    "session_max_h",   "tls_cert",         "tls_key"};
constexpr std::string_view kStorageKeys[] = {"synchronous", "min_free_mb"};
constexpr std::string_view kBackupKeys[] = {"dir", "every_h", "keep"};
constexpr std::string_view kSyncKeys[] = {
    "hub_url",       "upstream",         "interval_s",
    "after_write_s", "max_clock_skew_h", "proxy",
    "hub_ca_file",   "hub_pin",          "allow_plain_http"};

// "sha256//<44 base64 characters>", several joined by ';' (curl's
// --pinnedpubkey form).
bool IsPublicKeyPin(std::string_view pin) {
  if (pin.size() > 1024) return false;
  while (true) {
    const size_t end = pin.find(';');
    std::string_view one = pin.substr(0, end);
    if (one.rfind("sha256//", 0) != 0) return false;
    one.remove_prefix(8);
    if (one.size() != 44 || one.back() != '=') return false;
    for (char ch : one.substr(0, 43)) {
      const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
      if (!ok) return false;
    }
    if (end == std::string_view::npos) return true;
    pin.remove_prefix(end + 1);
  }
}

// "http://host[:port][/path]" or "https://...", no spaces or controls.
bool IsUsableUrl(std::string_view url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return false;
  }
  if (url.size() > 512 || url.size() <= std::string_view("https://").size()) {
    return false;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return true;
}
constexpr std::string_view kLogKeys[] = {"level"};

constexpr std::string_view kRoles[] = {"clinic", "hub"};
constexpr std::string_view kAuthModes[] = {"auto", "required", "writes"};
constexpr std::string_view kSynchronousLevels[] = {"full", "normal"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn",
                                           "error"};

constexpr size_t kMaxDataDirBytes = 4096;

// Bounds on every number, shared by parsing and the rendered comments.
struct IntBounds {
  int64_t min;
  int64_t max;
};
constexpr IntBounds kMaxBodyBytes{1024, 64 << 20};
constexpr IntBounds kMaxHeaderBytes{1024, 1 << 20};
constexpr IntBounds kReadTimeoutMs{100, 600000};
constexpr IntBounds kIdleTimeoutMs{100, 3600000};
constexpr IntBounds kMaxConnections{1, 10000};
constexpr IntBounds kWorkerThreads{1, 64};
constexpr IntBounds kSessionIdleMin{1, 7 * 24 * 60};
constexpr IntBounds kSessionMaxH{1, 90 * 24};
constexpr IntBounds kSyncIntervalS{10, 7 * 24 * 3600};
constexpr IntBounds kSyncAfterWriteS{1, 3600};
constexpr IntBounds kMaxClockSkewH{1, 24 * 365};
constexpr IntBounds kMinFreeMb{0, int64_t{1} << 30};
constexpr IntBounds kBackupEveryH{0, 24 * 365};
constexpr IntBounds kBackupKeep{1, 1000};
constexpr IntBounds kReportHours{1, 24 * 366};
constexpr std::string_view kReportsKeys[] = {"fresh_h", "late_h"};

std::string Join(std::span<const std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

bool Contains(std::span<const std::string_view> words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

// Reads the keys of one section, naming "<file>: <section>.<key>" in errors.
class SectionReader {
 public:
  SectionReader(const std::string& source, std::string_view section,
                const toml::table* table)
      : source_(source), section_(section), table_(table) {}

  Status CheckKnown(std::span<const std::string_view> known) const {
    if (table_ == nullptr) return Status::Ok();
    for (auto&& [key, value] : *table_) {
      if (!Contains(known, key.str())) {
        return Status::InvalidArgument(
            Where(key.str()), "unknown key; known keys: " + Join(known));
      }
    }
    return Status::Ok();
  }

  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Leaves *out alone when the key is absent.
  Status String(std::string_view key, std::string* out) const {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::Ok();
    if (!node->is_string()) {
      return Status::InvalidArgument(
          Where(key), "must be a string, not " + std::string(TypeName(*node)));
    }
    *out = node->as_string()->get();
    return Status::Ok();
  }

  Status Bool(std::string_view key, bool* out) const {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::Ok();
    if (!node->is_boolean()) {
      return Status::InvalidArgument(
          Where(key),
          "must be true or false, not " + std::string(TypeName(*node)));
    }
    *out = node->as_boolean()->get();
    return Status::Ok();
  }

  Status OneOf(std::string_view key, std::span<const std::string_view> allowed,
               std::string* out) const {
    std::string value = *out;
    POSTA_RETURN_IF_ERROR(String(key, &value));
    if (!Contains(allowed, value)) {
      return Status::InvalidArgument(
          Where(key), "\"" + value + "\" is not one of " + Join(allowed));
    }
    *out = value;
    return Status::Ok();
  }

  Status Integer(std::string_view key, IntBounds bounds, int64_t* out) const {
    const toml::node* node = Find(key);
    if (node == nullptr) return Status::Ok();
    if (!node->is_integer()) {
      return Status::InvalidArgument(
          Where(key),
          "must be an integer, not " + std::string(TypeName(*node)));
    }
    int64_t value = node->as_integer()->get();
    if (value < bounds.min || value > bounds.max) {
      return Status::InvalidArgument(
          Where(key), "must be between " + std::to_string(bounds.min) +
                          " and " + std::to_string(bounds.max) + ", not " +
                          std::to_string(value));
    }
    *out = value;
    return Status::Ok();
  }

  Status Size(std::string_view key, IntBounds bounds, size_t* out) const {
    int64_t value = static_cast<int64_t>(*out);
    POSTA_RETURN_IF_ERROR(Integer(key, bounds, &value));
    *out = static_cast<size_t>(value);
    return Status::Ok();
  }

  Status Millis(std::string_view key, IntBounds bounds,
                std::chrono::milliseconds* out) const {
    int64_t value = out->count();
    POSTA_RETURN_IF_ERROR(Integer(key, bounds, &value));
    *out = std::chrono::milliseconds(value);
    return Status::Ok();
  }

  std::string Where(std::string_view key) const {
    return source_ + ": " + std::string(section_) + "." + std::string(key);
  }

 private:
  const toml::node* Find(std::string_view key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }

  const std::string& source_;
  std::string_view section_;
  const toml::table* table_;
};

Status ReadNode(const SectionReader& r, NodeConfig& c) {
  POSTA_RETURN_IF_ERROR(r.CheckKnown(kNodeKeys));
  POSTA_RETURN_IF_ERROR(r.OneOf("role", kRoles, &c.role));
  POSTA_RETURN_IF_ERROR(r.String("facility", &c.facility));
  if (c.facility.empty()) {
    return Status::InvalidArgument(r.Where("facility"),
                                   "required: this facility's id");
  }
  if (!IsValidFacilityId(c.facility)) {
    return Status::InvalidArgument(
        r.Where("facility"), "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
  }
  POSTA_RETURN_IF_ERROR(r.String("data_dir", &c.data_dir));
  if (c.data_dir.empty()) {
    return Status::InvalidArgument(r.Where("data_dir"),
                                   "required: the directory holding posta.db");
  }
  if (c.data_dir.size() > kMaxDataDirBytes ||
      c.data_dir.find('\0') != std::string::npos) {
    return Status::InvalidArgument(r.Where("data_dir"),
                                   "not a usable path (too long or has NUL)");
  }
  return Status::Ok();
}

Status ReadHttp(const SectionReader& r, NodeConfig& c) {
  POSTA_RETURN_IF_ERROR(r.CheckKnown(kHttpKeys));
  std::string listen = FormatListenAddress(c.listen_address, c.listen_port);
  POSTA_RETURN_IF_ERROR(r.String("listen", &listen));
  Result<ListenAddress> parsed = ParseListenAddress(listen, /*min_port=*/0);
  if (!parsed.ok()) {
    return Status::InvalidArgument(r.Where("listen"),
                                   parsed.status().message());
  }
  c.listen_address = parsed->host;
  c.listen_port = parsed->port;
  POSTA_RETURN_IF_ERROR(
      r.Size("max_body_bytes", kMaxBodyBytes, &c.max_body_bytes));
  POSTA_RETURN_IF_ERROR(
      r.Size("max_header_bytes", kMaxHeaderBytes, &c.max_header_bytes));
  POSTA_RETURN_IF_ERROR(
      r.Millis("read_timeout_ms", kReadTimeoutMs, &c.read_timeout));
  POSTA_RETURN_IF_ERROR(
      r.Millis("idle_timeout_ms", kIdleTimeoutMs, &c.idle_timeout));
  POSTA_RETURN_IF_ERROR(
      r.Size("max_connections", kMaxConnections, &c.max_connections));
  POSTA_RETURN_IF_ERROR(
      r.Size("worker_threads", kWorkerThreads, &c.worker_threads));
  POSTA_RETURN_IF_ERROR(r.OneOf("auth", kAuthModes, &c.auth));
  // Reads open to the network would expose every record: refused.
  if (c.auth == "writes" && !IsLoopbackHost(c.listen_address)) {
    return Status::InvalidArgument(
        r.Where("auth"),
        "\"writes\" leaves reads open, which is allowed on loopback only; "
        "this node listens on " + c.listen_address +
            ": use \"auto\" or \"required\"");
  }
  int64_t idle_min = c.session_idle.count() / 60000;
  POSTA_RETURN_IF_ERROR(
      r.Integer("session_idle_min", kSessionIdleMin, &idle_min));
  c.session_idle = std::chrono::minutes(idle_min);
  int64_t max_h = c.session_max.count() / 3600000;
  POSTA_RETURN_IF_ERROR(r.Integer("session_max_h", kSessionMaxH, &max_h));
  c.session_max = std::chrono::hours(max_h);
  POSTA_RETURN_IF_ERROR(r.String("tls_cert", &c.tls_cert));
  POSTA_RETURN_IF_ERROR(r.String("tls_key", &c.tls_key));
  for (const auto& [key, value] :
       {std::pair{"tls_cert", &c.tls_cert}, std::pair{"tls_key", &c.tls_key}}) {
    if (value->size() > kMaxDataDirBytes ||
        value->find('\0') != std::string::npos) {
      return Status::InvalidArgument(r.Where(key),
                                     "not a usable path (too long or has NUL)");
    }
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return Status::InvalidArgument(
        r.Where(c.tls_cert.empty() ? "tls_cert" : "tls_key"),
        "set tls_cert and tls_key together (posta hub tls init writes both)");
  }
  return Status::Ok();
}

// The hub this node syncs with, into c.hub_url: a clinic's `hub_url`; a
// hub's `upstream` (the hub above it), where `hub_url`, the name configs
// used before, still works. Both on one hub must agree, or which one is
// meant is a guess.
Status ReadHubUrl(const SectionReader& r, NodeConfig& c) {
  const std::string_view key = HubUrlKey(c);
  if (c.role != "hub" && r.Has("upstream")) {
    return Status::InvalidArgument(
        r.Where("upstream"),
        "names the hub above a hub (role = \"hub\"); a clinic names its hub "
        "with hub_url");
  }
  std::string legacy;
  POSTA_RETURN_IF_ERROR(r.String("hub_url", &legacy));
  if (key != "hub_url") {
    POSTA_RETURN_IF_ERROR(r.String(key, &c.hub_url));
    if (!c.hub_url.empty() && !legacy.empty() && legacy != c.hub_url) {
      return Status::InvalidArgument(
          r.Where(key), "\"" + c.hub_url.substr(0, 80) +
                            "\" differs from sync.hub_url (\"" +
                            legacy.substr(0, 80) +
                            "\"); on a hub hub_url is the older name of "
                            "upstream: keep upstream and remove hub_url");
    }
  }
  const std::string_view from = c.hub_url.empty() ? "hub_url" : key;
  if (c.hub_url.empty()) c.hub_url = legacy;
  if (!c.hub_url.empty() && !IsUsableUrl(c.hub_url)) {
    return Status::InvalidArgument(r.Where(from),
                                   "\"" + c.hub_url.substr(0, 80) +
                                       "\" is not an http:// or https:// URL");
  }
  return Status::Ok();
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

std::string Range(IntBounds b) {
  return std::to_string(b.min) + " to " + std::to_string(b.max);
}

}  // namespace

std::string NodeConfig::DatabasePath() const { return data_dir + "/posta.db"; }
std::string NodeConfig::CredentialPath() const {
  return data_dir + "/credential";
}
std::string NodeConfig::BackupDir() const {
  return backup_dir.empty() ? data_dir + "/backups" : backup_dir;
}

std::string_view HubUrlKey(const NodeConfig& config) {
  return config.role == "hub" ? "upstream" : "hub_url";
}

bool IsValidFacilityId(std::string_view id) {
  return storage::IsValidFacilityId(id);
}

bool IsLoopbackHost(std::string_view host) {
  return host.rfind("127.", 0) == 0 || host == "::1";
}

Result<ListenAddress> ParseListenAddress(std::string_view text,
                                         uint16_t min_port) {
  const std::string what(text);
  std::string_view host;
  std::string_view port;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return Status::InvalidArgument(what, "expected [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    v6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument(what,
                                     "expected host:port, e.g. 127.0.0.1:8080");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned char addr[16];
  const std::string host_text(host);
  if (host_text.empty() ||
      inet_pton(v6 ? AF_INET6 : AF_INET, host_text.c_str(), addr) != 1) {
    return Status::InvalidArgument(
        what, "host must be an IP address such as 127.0.0.1 or [::1]");
  }
  unsigned value = 0;
  auto [end, ec] =
      std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      value < min_port || value > 65535) {
    return Status::InvalidArgument(
        what,
        "port must be a number from " + std::to_string(min_port) + " to 65535");
  }
  return ListenAddress{host_text, static_cast<uint16_t>(value)};
}

std::string FormatListenAddress(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

Result<NodeConfig> ParseConfig(const std::string& toml_text,
                               const std::string& source) {
  if (toml_text.size() > kMaxConfigBytes) {
    return Status::TooLarge(source, "config files are limited to " +
                                        std::to_string(kMaxConfigBytes) +
                                        " bytes");
  }
  toml::table root;
  // toml++ reports syntax errors by exception; they stop here.
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return Status::Malformed(source + ":" + std::to_string(begin.line) + ":" +
                                 std::to_string(begin.column),
                             e.description());
  }

  for (auto&& [key, value] : root) {
    if (!Contains(kSections, key.str())) {
      return Status::InvalidArgument(
          source + ": " + std::string(key.str()),
          std::string(value.is_table() ? "unknown section" : "unknown key") +
              "; known sections: " + Join(kSections));
    }
    if (!value.is_table()) {
      return Status::InvalidArgument(source + ": " + std::string(key.str()),
                                     "must be a [" + std::string(key.str()) +
                                         "] section, not " +
                                         std::string(TypeName(value)));
    }
  }

  NodeConfig c;
  POSTA_RETURN_IF_ERROR(
      ReadNode(SectionReader(source, "node", root["node"].as_table()), c));
  POSTA_RETURN_IF_ERROR(
      ReadHttp(SectionReader(source, "http", root["http"].as_table()), c));

  SectionReader storage(source, "storage", root["storage"].as_table());
  POSTA_RETURN_IF_ERROR(storage.CheckKnown(kStorageKeys));
  POSTA_RETURN_IF_ERROR(
      storage.OneOf("synchronous", kSynchronousLevels, &c.synchronous));
  {
    int64_t mb = static_cast<int64_t>(c.min_free_bytes >> 20);
    POSTA_RETURN_IF_ERROR(storage.Integer("min_free_mb", kMinFreeMb, &mb));
    c.min_free_bytes = static_cast<uint64_t>(mb) << 20;
  }

  SectionReader backup(source, "backup", root["backup"].as_table());
  POSTA_RETURN_IF_ERROR(backup.CheckKnown(kBackupKeys));
  POSTA_RETURN_IF_ERROR(backup.String("dir", &c.backup_dir));
  if (c.backup_dir.size() > kMaxDataDirBytes ||
      c.backup_dir.find('\0') != std::string::npos) {
    return Status::InvalidArgument(backup.Where("dir"),
                                   "not a usable path (too long or has NUL)");
  }
  {
    int64_t hours = c.backup_every.count() / 3600000;
    POSTA_RETURN_IF_ERROR(backup.Integer("every_h", kBackupEveryH, &hours));
    c.backup_every = std::chrono::hours(hours);
    int64_t keep = c.backup_keep;
    POSTA_RETURN_IF_ERROR(backup.Integer("keep", kBackupKeep, &keep));
    c.backup_keep = static_cast<int>(keep);
  }

  SectionReader sync(source, "sync", root["sync"].as_table());
  POSTA_RETURN_IF_ERROR(sync.CheckKnown(kSyncKeys));
  POSTA_RETURN_IF_ERROR(ReadHubUrl(sync, c));
  POSTA_RETURN_IF_ERROR(sync.String("proxy", &c.sync_proxy));
  POSTA_RETURN_IF_ERROR(sync.String("hub_ca_file", &c.hub_ca_file));
  if (!c.hub_ca_file.empty() && c.hub_ca_file.front() != '/') {
    return Status::InvalidArgument(
        sync.Where("hub_ca_file"),
        "\"" + c.hub_ca_file.substr(0, 80) + "\" is not an absolute path");
  }
  POSTA_RETURN_IF_ERROR(sync.Bool("allow_plain_http", &c.allow_plain_http));
  POSTA_RETURN_IF_ERROR(sync.String("hub_pin", &c.hub_pin));
  if (!c.hub_pin.empty() && !IsPublicKeyPin(c.hub_pin)) {
    return Status::InvalidArgument(
        sync.Where("hub_pin"),
        "\"" + c.hub_pin.substr(0, 80) +
            "\" is not a key pin; write sha256// and the base64 of the SHA-256 "
            "of the hub's public key (several joined by ;)");
  }
  {
    int64_t seconds = c.sync_interval.count() / 1000;
    POSTA_RETURN_IF_ERROR(sync.Integer("interval_s", kSyncIntervalS, &seconds));
    c.sync_interval = std::chrono::seconds(seconds);
    seconds = c.sync_after_write.count() / 1000;
    POSTA_RETURN_IF_ERROR(
        sync.Integer("after_write_s", kSyncAfterWriteS, &seconds));
    c.sync_after_write = std::chrono::seconds(seconds);
    int64_t hours = c.max_clock_skew.count() / 3600000;
    POSTA_RETURN_IF_ERROR(
        sync.Integer("max_clock_skew_h", kMaxClockSkewH, &hours));
    c.max_clock_skew = std::chrono::hours(hours);
  }

  SectionReader reports(source, "reports", root["reports"].as_table());
  POSTA_RETURN_IF_ERROR(reports.CheckKnown(kReportsKeys));
  POSTA_RETURN_IF_ERROR(
      reports.Integer("fresh_h", kReportHours, &c.reports_fresh_h));
  POSTA_RETURN_IF_ERROR(
      reports.Integer("late_h", kReportHours, &c.reports_late_h));
  if (c.reports_late_h < c.reports_fresh_h) {
    return Status::InvalidArgument(
        reports.Where("late_h"),
        std::to_string(c.reports_late_h) + " is below fresh_h (" +
            std::to_string(c.reports_fresh_h) +
            "); a facility is late only after it stops being fresh");
  }

  SectionReader log(source, "log", root["log"].as_table());
  POSTA_RETURN_IF_ERROR(log.CheckKnown(kLogKeys));
  POSTA_RETURN_IF_ERROR(log.OneOf("level", kLogLevels, &c.log_level));
  return c;
}

Result<NodeConfig> LoadConfig(const std::string& path, base::Env& env) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return Status::IOError(path, ec.message());
  absolute = absolute.lexically_normal();

  Result<std::string> text = env.ReadFile(absolute.string(), kMaxConfigBytes);
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kTooLarge) {
      return Status::TooLarge(path, "config files are limited to " +
                                        std::to_string(kMaxConfigBytes) +
                                        " bytes");
    }
    return text.status().WithContext("config");
  }
  POSTA_ASSIGN_OR_RETURN(NodeConfig config, ParseConfig(*text, path));
  config.source_path = absolute.string();
  std::filesystem::path data_dir(config.data_dir);
  if (data_dir.is_relative()) {
    data_dir = absolute.parent_path() / data_dir;
  }
  std::string resolved = data_dir.lexically_normal().string();
  // "dir/." normalizes to "dir/"; keep paths without a trailing slash.
  while (resolved.size() > 1 && resolved.back() == '/') resolved.pop_back();
  config.data_dir = resolved;
  if (!config.backup_dir.empty()) {
    std::filesystem::path dir(config.backup_dir);
    if (dir.is_relative()) dir = absolute.parent_path() / dir;
    std::string normal = dir.lexically_normal().string();
    while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    config.backup_dir = normal;
  }
  if (!config.tls_cert.empty()) {
    // Taken from the config's directory, like data_dir; checked now so a
    // wrong file stops the node at start, not at a clinic's first sync.
    for (std::string* file : {&config.tls_cert, &config.tls_key}) {
      std::filesystem::path p(*file);
      if (p.is_relative()) {
        *file = (absolute.parent_path() / p).lexically_normal().string();
      }
    }
    POSTA_RETURN_IF_ERROR(CheckTlsFiles(config.tls_cert, config.tls_key,
                                        path + ": http.tls_cert",
                                        path + ": http.tls_key"));
  }
  return config;
}

std::string RenderConfig(const NodeConfig& c) {
  const NodeConfig d;  // the defaults, shown in each comment
  std::string o;
  o += "# posta node configuration (TOML).\n";
  o += "# Every key is listed with its value; the comment above each says "
       "what\n";
  o += "# it does and its default. Unknown keys are refused at start.\n";
  o += "# Reference: docs/cli.md.\n";

  o += "\n[node]\n";
  o += "# \"clinic\" (a health post's own box) or \"hub\" (receives the "
       "clinics'\n";
  o += "# changes). Stored in the database by `posta init`. Default: "
       "\"clinic\".\n";
  o += "role = " + Quote(c.role) + "\n";
  o += "# This facility's id, owner of every record created here: 1 to 64 of\n";
  o += "# A-Z a-z 0-9 . _ -. Must match the database. Required, no default.\n";
  o += "facility = " + Quote(c.facility) + "\n";
  o += "# Directory holding posta.db. A relative path is taken from the\n";
  o += "# directory of this file. Required, no default.\n";
  o += "data_dir = " + Quote(c.data_dir) + "\n";

  o += "\n[http]\n";
  o += "# Address and port of the local API, as \"ip:port\" or "
       "\"[ipv6]:port\".\n";
  o += "# Keep it on loopback unless the clinic's network needs it; port 0\n";
  o += "# picks a free port. Default: " +
       Quote(FormatListenAddress(d.listen_address, d.listen_port)) + ".\n";
  o += "listen = " +
       Quote(FormatListenAddress(c.listen_address, c.listen_port)) + "\n";
  o += "# Largest request body accepted; bigger ones get 413 before they are\n";
  o += "# read. " + Range(kMaxBodyBytes) +
       ". Default: " + std::to_string(d.max_body_bytes) + " (1 MiB).\n";
  o += "max_body_bytes = " + std::to_string(c.max_body_bytes) + "\n";
  o += "# Largest request head (request line and headers). " +
       Range(kMaxHeaderBytes) +
       ".\n# Default: " + std::to_string(d.max_header_bytes) + " (16 KiB).\n";
  o += "max_header_bytes = " + std::to_string(c.max_header_bytes) + "\n";
  o += "# Time allowed to receive a whole request, in milliseconds; slower\n";
  o += "# clients are disconnected. " + Range(kReadTimeoutMs) +
       ". Default: " + std::to_string(d.read_timeout.count()) + ".\n";
  o += "read_timeout_ms = " + std::to_string(c.read_timeout.count()) + "\n";
  o +=
      "# How long an idle keep-alive connection stays open, in milliseconds.\n";
  o += "# " + Range(kIdleTimeoutMs) +
       ". Default: " + std::to_string(d.idle_timeout.count()) + ".\n";
  o += "idle_timeout_ms = " + std::to_string(c.idle_timeout.count()) + "\n";
  o += "# Open connections allowed at once; beyond it new ones get 503.\n";
  o += "# " + Range(kMaxConnections) +
       ". Default: " + std::to_string(d.max_connections) + ".\n";
  o += "max_connections = " + std::to_string(c.max_connections) + "\n";
  o += "# Threads running API requests (they may wait on the database).\n";
  o += "# " + Range(kWorkerThreads) +
       ". Default: " + std::to_string(d.worker_threads) + ".\n";
  o += "worker_threads = " + std::to_string(c.worker_threads) + "\n";
  o += "# Who must log in (POST /auth/login, then Authorization: Bearer):\n";
  o += "# \"auto\": everyone when listening beyond loopback, nobody on\n";
  o += "# loopback; \"required\": everyone; \"writes\": writes only (loopback\n";
  o += "# only). Default: " + Quote(d.auth) + ".\n";
  o += "auth = " + Quote(c.auth) + "\n";
  o += "# Minutes a session may stay unused before it ends. " +
       Range(kSessionIdleMin) + ".\n# Default: " +
       std::to_string(d.session_idle.count() / 60000) + " (12 h).\n";
  o += "session_idle_min = " + std::to_string(c.session_idle.count() / 60000) +
       "\n";
  o += "# Hours after login when a session ends however it is used. " +
       Range(kSessionMaxH) + ".\n# Default: " +
       std::to_string(d.session_max.count() / 3600000) + " (7 days).\n";
  o += "session_max_h = " + std::to_string(c.session_max.count() / 3600000) +
       "\n";
  o += "# PEM certificate and private key: when both are set the node serves\n";
  o += "# HTTPS only (TLS 1.2+). A hub needs them for sync; `posta hub tls\n";
  o += "# init` makes a self-signed pair and sets both. Relative paths are\n";
  o += "# taken from the directory of this file. Default: \"\" (plain HTTP).\n";
  o += "tls_cert = " + Quote(c.tls_cert) + "\n";
  o += "tls_key = " + Quote(c.tls_key) + "\n";

  o += "\n[storage]\n";
  o += "# \"full\": an acknowledged write survives a power cut (use this "
       "where\n";
  o +=
      "# power fails). \"normal\": faster, survives a crash of posta but may\n";
  o +=
      "# lose the last writes on power loss. Default: " + Quote(d.synchronous) +
      ".\n";
  o += "synchronous = " + Quote(c.synchronous) + "\n";
  o += "# The disk guard, in MiB: while the disk holding data_dir has less\n";
  o += "# free space than this, new writes are refused (HTTP 507) and sync\n";
  o += "# does not pull, so a full disk never corrupts anything; reads go on\n";
  o += "# and /health says so. 0 turns it off. " + Range(kMinFreeMb) +
       ".\n# Default: " + std::to_string(d.min_free_bytes >> 20) + ".\n";
  o += "min_free_mb = " + std::to_string(c.min_free_bytes >> 20) + "\n";

  o += "\n[sync]\n";
  if (HubUrlKey(c) == "upstream") {
    o += "# The hub above this one, which it syncs with as a clinic does (a\n";
    o += "# district hub syncing to its national hub), e.g.\n";
    o += "# \"https://national.example:8443\". `posta enroll --hub` sets it.\n";
    o += "# Empty: this is the top hub. (hub_url, its older name, is read\n";
    o += "# too.)\n";
  } else {
    o += "# The hub this clinic syncs with, e.g. \"http://10.0.0.5:8081\";\n";
    o += "# `posta enroll --hub` sets it. Empty: this clinic does not sync.\n";
    o += "# (A hub names the hub above it with `upstream` instead.)\n";
  }
  o += std::string(HubUrlKey(c)) + " = " + Quote(c.hub_url) + "\n";
  o += "# Seconds between syncs when nothing else starts one.\n";
  o += "# " + Range(kSyncIntervalS) + ". Default: " +
       std::to_string(d.sync_interval.count() / 1000) + ".\n";
  o += "interval_s = " + std::to_string(c.sync_interval.count() / 1000) + "\n";
  o += "# Seconds after a local write before a sync starts.\n";
  o += "# " + Range(kSyncAfterWriteS) + ". Default: " +
       std::to_string(d.sync_after_write.count() / 1000) + ".\n";
  o += "after_write_s = " + std::to_string(c.sync_after_write.count() / 1000) +
       "\n";
  o += "# Hours a peer's clock may run ahead before its changes are flagged\n";
  o += "# and cannot win merges (and a clinic that far ahead is refused).\n";
  o += "# " + Range(kMaxClockSkewH) + ". Default: " +
       std::to_string(d.max_clock_skew.count() / 3600000) + ".\n";
  o += "max_clock_skew_h = " +
       std::to_string(c.max_clock_skew.count() / 3600000) + "\n";
  o += "# HTTP proxy for the hub link, e.g. \"http://10.0.0.1:3128\". Empty:\n";
  o += "# the environment's http_proxy/https_proxy/no_proxy; \"none\": never.\n";
  o += "proxy = " + Quote(c.sync_proxy) + "\n";
  o += "# For an https hub: a PEM file (absolute path) of the CA that\n";
  o += "# signed the hub's certificate, trusted instead of the system's.\n";
  o += "# Default: \"\" (the system's CAs).\n";
  o += "hub_ca_file = " + Quote(c.hub_ca_file) + "\n";
  o += "# For an https hub: the hub's public key pin,\n";
  o += "# \"sha256//<base64>\"; another key is refused even with a valid\n";
  o += "# certificate. Default: \"\" (no pin).\n";
  o += "hub_pin = " + Quote(c.hub_pin) + "\n";
  o += "# A hub: accept sync over plain HTTP from this machine (loopback)\n";
  o += "# when it has no tls_cert. For tests and demos on one box only; any\n";
  o += "# other plain-HTTP sync is refused. Default: false.\n";
  o += std::string("allow_plain_http = ") +
       (c.allow_plain_http ? "true" : "false") + "\n";

  o += "\n[backup]\n";
  o += "# While `posta serve` runs it takes a verified backup (SQLite online\n";
  o += "# backup, then PRAGMA integrity_check on the copy) into this\n";
  o += "# directory. Empty: data_dir/backups. A relative path is taken from\n";
  o += "# the directory of this file. Better on another disk. Default: \"\".\n";
  o += "dir = " + Quote(c.backup_dir) + "\n";
  o += "# Hours between backups; one is taken at start when the newest is\n";
  o += "# older. 0: no scheduled backups. " + Range(kBackupEveryH) +
       ".\n# Default: " + std::to_string(d.backup_every.count() / 3600000) +
       ".\n";
  o += "every_h = " + std::to_string(c.backup_every.count() / 3600000) + "\n";
  o += "# Backups kept; older ones are removed. " + Range(kBackupKeep) +
       ". Default: " + std::to_string(d.backup_keep) + ".\n";
  o += "keep = " + std::to_string(c.backup_keep) + "\n";
  o += "\n[reports]\n";
  o += "# A hub's freshness report: a facility whose last completed sync is\n";
  o += "# at most this many hours old is fresh. Default: " +
       std::to_string(d.reports_fresh_h) + ".\n";
  o += "fresh_h = " + std::to_string(c.reports_fresh_h) + "\n";
  o += "# ... at most this many hours old is late; older, or never, silent.\n";
  o += "# Not below fresh_h. Default: " + std::to_string(d.reports_late_h) +
       ".\n";
  o += "late_h = " + std::to_string(c.reports_late_h) + "\n";

  o += "\n[log]\n";
  o +=
      "# Least severe messages logged to stderr: trace, debug, info, warn or\n";
  o += "# error. `posta --log-level` overrides it. Default: " +
       Quote(d.log_level) + ".\n";
  o += "level = " + Quote(c.log_level) + "\n";
  return o;
}

}  // namespace posta::node
