#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_edit.h"
#include "test_util.h"

namespace posta::node {
namespace {

using ::posta::testing::TempDir;

const char kMinimal[] =
    "[node]\n"
    "facility = \"clinic-001\"\n"
    "data_dir = \"/var/lib/posta\"\n";

// The error from parsing `extra` appended to a minimal valid config.
Status ParseWith(const std::string& extra) {
  return ParseConfig(std::string(kMinimal) + extra, "t.toml").status();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(ConfigTest, MinimalConfigTakesEveryDefault) {
  ASSERT_OK_AND_ASSIGN(NodeConfig c, ParseConfig(kMinimal, "t.toml"));
  NodeConfig expected;
  expected.facility = "clinic-001";
  expected.data_dir = "/var/lib/posta";
  EXPECT_EQ(c, expected);
  EXPECT_EQ(c.role, "clinic");
  EXPECT_EQ(c.listen_address, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.synchronous, "full");
  EXPECT_EQ(c.DatabasePath(), "/var/lib/posta/posta.db");
}

TEST(ConfigTest, ReadsEveryKey) {
  ASSERT_OK_AND_ASSIGN(
      NodeConfig c,
      ParseConfig("[node]\nrole = \"hub\"\nfacility = \"hub.north_1\"\n"
                  "data_dir = \"d\"\n"
                  "[http]\nlisten = \"[::1]:9000\"\nmax_body_bytes = 2048\n"
                  "max_header_bytes = 4096\nread_timeout_ms = 1500\n"
                  "idle_timeout_ms = 2500\nmax_connections = 3\n"
                  "worker_threads = 2\n"
                  "[storage]\nsynchronous = \"normal\"\n"
                  "[log]\nlevel = \"debug\"\n",
                  "t.toml"));
  EXPECT_EQ(c.role, "hub");
  EXPECT_EQ(c.facility, "hub.north_1");
  EXPECT_EQ(c.listen_address, "::1");
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.max_body_bytes, 2048u);
  EXPECT_EQ(c.max_header_bytes, 4096u);
  EXPECT_EQ(c.read_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.idle_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.max_connections, 3u);
  EXPECT_EQ(c.worker_threads, 2u);
  EXPECT_EQ(c.synchronous, "normal");
  EXPECT_EQ(c.log_level, "debug");
}

struct BadCase {
  std::string toml;  // appended to kMinimal (or whole, when standalone)
  bool standalone;
  std::string where;   // the message starts with this
  std::string reason;  // and contains this
};

TEST(ConfigTest, EveryBadKeyOrValueNamesFileAndKey) {
  const BadCase cases[] = {
      {"[nodes]\nx = 1\n", false, "t.toml: nodes", "unknown section"},
      {"port = 1\n", true, "t.toml: port", "unknown key"},
      {"[http]\nport = 8080\n", false, "t.toml: http.port",
       "unknown key; known keys: listen, max_body_bytes"},
      {"[storage]\nsync = \"full\"\n", false, "t.toml: storage.sync",
       "known keys: synchronous"},
      {"[log]\nlevels = \"info\"\n", false, "t.toml: log.levels",
       "unknown key"},
      {"[reports]\nfresh_h = 0\n", false, "t.toml: reports.fresh_h",
       "must be between 1 and 8784"},
      {"[reports]\nfresh_h = 72\nlate_h = 24\n", false,
       "t.toml: reports.late_h", "below fresh_h (72)"},
      {"[reports]\nstale_h = 1\n", false, "t.toml: reports.stale_h",
       "unknown key; known keys: fresh_h, late_h"},
      {"[node]\nrole = \"server\"\nfacility = \"f\"\ndata_dir = \"d\"\n", true,
       "t.toml: node.role", "not one of clinic, hub"},
      {"[node]\nrole = 1\nfacility = \"f\"\ndata_dir = \"d\"\n", true,
       "t.toml: node.role", "must be a string, not an integer"},
      {"[node]\ndata_dir = \"d\"\n", true, "t.toml: node.facility", "required"},
      {"[node]\nfacility = \"has space\"\ndata_dir = \"d\"\n", true,
       "t.toml: node.facility", "1 to 64 characters"},
      {"[node]\nfacility = \"f\"\n", true, "t.toml: node.data_dir", "required"},
      {"[node]\nfacility = \"f\"\ndata_dir = \"\"\n", true,
       "t.toml: node.data_dir", "required"},
      {"[http]\nlisten = \"localhost:80\"\n", false, "t.toml: http.listen",
       "IP address"},
      {"[http]\nlisten = \"127.0.0.1\"\n", false, "t.toml: http.listen",
       "host:port"},
      {"[http]\nlisten = \"127.0.0.1:70000\"\n", false, "t.toml: http.listen",
       "port must be a number from 0 to 65535"},
      {"[http]\nlisten = 8080\n", false, "t.toml: http.listen",
       "must be a string"},
      {"[http]\nmax_body_bytes = \"1MB\"\n", false,
       "t.toml: http.max_body_bytes", "must be an integer, not a string"},
      {"[http]\nmax_body_bytes = 10\n", false, "t.toml: http.max_body_bytes",
       "must be between 1024 and 67108864, not 10"},
      {"[http]\nmax_body_bytes = 1.5\n", false, "t.toml: http.max_body_bytes",
       "must be an integer, not a float"},
      {"[http]\nmax_header_bytes = 99999999\n", false,
       "t.toml: http.max_header_bytes", "between 1024 and 1048576"},
      {"[http]\nread_timeout_ms = 0\n", false, "t.toml: http.read_timeout_ms",
       "between 100 and 600000"},
      {"[http]\nidle_timeout_ms = -5\n", false, "t.toml: http.idle_timeout_ms",
       "between 100 and 3600000"},
      {"[http]\nmax_connections = 0\n", false, "t.toml: http.max_connections",
       "between 1 and 10000"},
      {"[http]\nworker_threads = 65\n", false, "t.toml: http.worker_threads",
       "between 1 and 64"},
      {"[storage]\nsynchronous = \"off\"\n", false,
       "t.toml: storage.synchronous", "not one of full, normal"},
      {"[log]\nlevel = \"verbose\"\n", false, "t.toml: log.level",
       "not one of trace, debug, info, warn, error"},
      {"http = 5\n", true, "t.toml: http", "must be a [http] section"},
      {"[sync]\nhub_ca_file = \"ca.pem\"\n", false, "t.toml: sync.hub_ca_file",
       "is not an absolute path"},
      {"[sync]\nhub_pin = \"abc\"\n", false, "t.toml: sync.hub_pin",
       "is not a key pin; write sha256//"},
      {"[sync]\nhub_pin = \"sha256//tooshort=\"\n", false,
       "t.toml: sync.hub_pin", "is not a key pin"},
      {"[sync]\nallow_plain_http = \"yes\"\n", false,
       "t.toml: sync.allow_plain_http", "must be true or false, not a string"},
      {"[http]\ntls_key = \"k.pem\"\n", false, "t.toml: http.tls_cert",
       "set tls_cert and tls_key together"},
  };
  for (const BadCase& c : cases) {
    Status s = c.standalone ? ParseConfig(c.toml, "t.toml").status()
                            : ParseWith(c.toml);
    SCOPED_TRACE(c.toml);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.message().rfind(c.where + ": ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s.message();
  }
}

// A hub may name a hub above it (a district hub syncing to a national
// hub, docs/sync-protocol.md "Tiers").
TEST(ConfigTest, AHubMayNameAHubAboveIt) {
  Result<NodeConfig> c = ParseConfig(
      "[node]\nrole = \"hub\"\nfacility = \"district-n\"\n"
      "data_dir = \"/var/lib/posta\"\n"
      "[sync]\nhub_url = \"https://10.0.0.1:8081\"\n",
      "t.toml");
  ASSERT_OK(c);
  EXPECT_EQ(c->role, "hub");
  EXPECT_EQ(c->hub_url, "https://10.0.0.1:8081");
}

// The same, as the issue writes it: a hub names the hub above it with
// `upstream`; `hub_url` there is its older name and keeps working.
TEST(ConfigTest, AHubNamesItsUpstreamHub) {
  const std::string hub =
      "[node]\nrole = \"hub\"\nfacility = \"district-n\"\n"
      "data_dir = \"/var/lib/posta\"\n[sync]\n";
  ASSERT_OK_AND_ASSIGN(
      NodeConfig c,
      ParseConfig(hub + "upstream = \"https://national.example:8443\"\n",
                  "t.toml"));
  EXPECT_EQ(c.hub_url, "https://national.example:8443");
  EXPECT_EQ(HubUrlKey(c), "upstream");
  // Both, saying the same: accepted.
  ASSERT_OK_AND_ASSIGN(
      NodeConfig both,
      ParseConfig(hub + "upstream = \"https://national.example:8443\"\n"
                        "hub_url = \"https://national.example:8443\"\n",
                  "t.toml"));
  EXPECT_EQ(both, c);
  // An empty upstream leaves hub_url's URL in force.
  ASSERT_OK_AND_ASSIGN(
      NodeConfig legacy,
      ParseConfig(hub + "upstream = \"\"\n"
                        "hub_url = \"https://national.example:8443\"\n",
                  "t.toml"));
  EXPECT_EQ(legacy, c);

  // Both, differing: refused, naming both keys and which to keep.
  Status s = ParseConfig(hub +
                             "upstream = \"https://national.example:8443\"\n"
                             "hub_url = \"https://old.example:8443\"\n",
                         "t.toml")
                 .status();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message().rfind("t.toml: sync.upstream: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find("differs from sync.hub_url "
                             "(\"https://old.example:8443\")"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("keep upstream and remove hub_url"),
            std::string::npos)
      << s.message();

  // A bad URL names the key it was written under.
  s = ParseConfig(hub + "upstream = \"national:8443\"\n", "t.toml").status();
  EXPECT_EQ(s.message().rfind("t.toml: sync.upstream: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find("not an http:// or https:// URL"),
            std::string::npos);
  s = ParseConfig(hub + "hub_url = \"national:8443\"\n", "t.toml").status();
  EXPECT_EQ(s.message().rfind("t.toml: sync.hub_url: ", 0), 0u) << s.message();
}

// A clinic's hub is its hub_url; `upstream` there is refused, even empty.
TEST(ConfigTest, AClinicRefusesUpstream) {
  for (const char* value : {"\"https://10.0.0.1:8443\"", "\"\""}) {
    Status s = ParseWith(std::string("[sync]\nupstream = ") + value + "\n");
    SCOPED_TRACE(value);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.message().rfind("t.toml: sync.upstream: ", 0), 0u)
        << s.message();
    EXPECT_NE(s.message().find("a clinic names its hub with hub_url"),
              std::string::npos)
        << s.message();
  }
  ASSERT_OK_AND_ASSIGN(NodeConfig c, ParseConfig(kMinimal, "t.toml"));
  EXPECT_EQ(HubUrlKey(c), "hub_url");
}

// What `posta init` and `posta enroll` write: `upstream` for a hub, hub_url
// for a clinic, each read back to the same config.
TEST(ConfigTest, RenderWritesEachRolesKeyForTheHub) {
  NodeConfig hub;
  hub.role = "hub";
  hub.facility = "district-n";
  hub.data_dir = ".";
  hub.hub_url = "https://national.example:8443";
  std::string text = RenderConfig(hub);
  EXPECT_NE(text.find("\nupstream = \"https://national.example:8443\"\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("\nhub_url ="), std::string::npos) << text;
  ASSERT_OK_AND_ASSIGN(NodeConfig back, ParseConfig(text, "r.toml"));
  EXPECT_EQ(back, hub);

  NodeConfig clinic = hub;
  clinic.role = "clinic";
  clinic.facility = "clinic-a";
  clinic.hub_url = "https://10.0.0.5:8443";
  text = RenderConfig(clinic);
  EXPECT_NE(text.find("\nhub_url = \"https://10.0.0.5:8443\"\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("\nupstream ="), std::string::npos) << text;
  ASSERT_OK_AND_ASSIGN(back, ParseConfig(text, "r.toml"));
  EXPECT_EQ(back, clinic);
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  Status s =
      ParseConfig("[node]\nfacility = \"f\"\ndata_dir = oops\n", "t.toml")
          .status();
  EXPECT_EQ(s.code(), Status::Code::kMalformed);
  EXPECT_EQ(s.message().rfind("t.toml:3:", 0), 0u) << s.message();
}

TEST(ConfigTest, DuplicateKeyIsASyntaxError) {
  Status s = ParseWith("[node]\nrole = \"hub\"\n");
  EXPECT_EQ(s.code(), Status::Code::kMalformed) << s.ToString();
  EXPECT_EQ(s.message().rfind("t.toml:4:", 0), 0u) << s.message();
}

TEST(ConfigTest, RenderThenParseGivesTheSameConfig) {
  NodeConfig c;
  c.role = "hub";
  c.facility = "district-7";
  c.data_dir = "/srv/posta \"quoted\" \\ dir/Ünïcode";
  c.listen_address = "::1";
  c.listen_port = 0;
  c.max_body_bytes = 4096;
  c.max_header_bytes = 8192;
  c.read_timeout = std::chrono::milliseconds(1234);
  c.idle_timeout = std::chrono::milliseconds(5678);
  c.max_connections = 9;
  c.worker_threads = 3;
  c.auth = "required";
  c.session_idle = std::chrono::minutes(30);
  c.session_max = std::chrono::hours(24);
  c.synchronous = "normal";
  c.log_level = "warn";
  c.hub_ca_file = "/etc/posta/hub-ca.pem";
  c.hub_pin =
      "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=;"
      "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  c.tls_cert = "tls/hub cert.pem";
  c.tls_key = "/etc/posta/hub-key.pem";
  c.allow_plain_http = true;
  c.reports_fresh_h = 12;
  c.reports_late_h = 36;
  ASSERT_OK_AND_ASSIGN(NodeConfig back, ParseConfig(RenderConfig(c), "r.toml"));
  EXPECT_EQ(back, c);

  NodeConfig defaults;
  defaults.facility = "f";
  defaults.data_dir = ".";
  ASSERT_OK_AND_ASSIGN(NodeConfig back2,
                       ParseConfig(RenderConfig(defaults), "r.toml"));
  EXPECT_EQ(back2, defaults);
}

TEST(ConfigTest, RenderedFileCommentsEveryKey) {
  NodeConfig c;
  c.facility = "f";
  c.data_dir = ".";
  const std::string text = RenderConfig(c);
  for (const char* key :
       {"role = ", "facility = ", "data_dir = ", "listen = ",
        "max_body_bytes = ", "max_header_bytes = ", "read_timeout_ms = ",
        "idle_timeout_ms = ", "max_connections = ", "worker_threads = ",
        "auth = ", "session_idle_min = ", "session_max_h = ",
        "synchronous = ", "fresh_h = ", "late_h = ", "level = "}) {
    size_t at = text.find(std::string("\n") + key);
    ASSERT_NE(at, std::string::npos) << key;
    // The line before each key is a comment.
    size_t prev = text.rfind('\n', at - 1);
    EXPECT_EQ(text[prev + 1], '#') << key;
  }
}

TEST(ConfigTest, PackagedExampleIsTheRenderedSample) {
  NodeConfig sample;
  sample.facility = "clinic-001";
  sample.data_dir = "/var/lib/posta";
  std::ifstream in(std::string(POSTA_SOURCE_DIR) +
                   "/packaging/posta.toml.example");
  ASSERT_TRUE(in) << "packaging/posta.toml.example is missing";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), RenderConfig(sample))
      << "regenerate packaging/posta.toml.example from RenderConfig";
}

TEST(ConfigTest, AuthSettings) {
  ASSERT_OK_AND_ASSIGN(NodeConfig defaults, ParseConfig(kMinimal, "t.toml"));
  EXPECT_EQ(defaults.auth, "auto");
  EXPECT_EQ(defaults.session_idle, std::chrono::hours(12));
  EXPECT_EQ(defaults.session_max, std::chrono::hours(7 * 24));
  ASSERT_OK_AND_ASSIGN(
      NodeConfig c, ParseConfig(std::string(kMinimal) +
                                    "[http]\nlisten = \"0.0.0.0:8080\"\nauth = "
                                    "\"required\"\nsession_idle_min = 45\n"
                                    "session_max_h = 48\n",
                                "t.toml"));
  EXPECT_EQ(c.auth, "required");
  EXPECT_EQ(c.session_idle, std::chrono::minutes(45));
  EXPECT_EQ(c.session_max, std::chrono::hours(48));
  EXPECT_OK(ParseWith("[http]\nauth = \"writes\"\n"));
  EXPECT_OK(ParseWith("[http]\nlisten = \"[::1]:8080\"\nauth = \"writes\"\n"));
  // Reads open beyond this machine: refused, saying what to use instead.
  Status open_reads =
      ParseWith("[http]\nlisten = \"0.0.0.0:8080\"\nauth = \"writes\"\n");
  EXPECT_EQ(open_reads.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(open_reads.message(),
            "t.toml: http.auth: \"writes\" leaves reads open, which is "
            "allowed on loopback only; this node listens on 0.0.0.0: use "
            "\"auto\" or \"required\"");
  Status off = ParseWith("[http]\nauth = \"off\"\n");
  EXPECT_EQ(off.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(off.message().find("not one of auto, required, writes"),
            std::string::npos)
      << off.message();
  EXPECT_EQ(ParseWith("[http]\nsession_idle_min = 0\n").code(),
            Status::Code::kInvalidArgument);
}

TEST(ConfigTest, LoadResolvesRelativeDataDirAgainstTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("etc"));
  WriteFile(dir.File("etc/posta.toml"),
            "[node]\nfacility = \"f\"\ndata_dir = \"../data\"\n");
  ASSERT_OK_AND_ASSIGN(NodeConfig c, LoadConfig(dir.File("etc/posta.toml")));
  EXPECT_EQ(c.data_dir, dir.File("data"));
  EXPECT_EQ(c.source_path, dir.File("etc/posta.toml"));

  WriteFile(dir.File("etc/dot.toml"),
            "[node]\nfacility = \"f\"\ndata_dir = \".\"\n");
  ASSERT_OK_AND_ASSIGN(NodeConfig dot, LoadConfig(dir.File("etc/dot.toml")));
  EXPECT_EQ(dot.data_dir, dir.File("etc"));
  EXPECT_EQ(dot.DatabasePath(), dir.File("etc/posta.db"));

  WriteFile(dir.File("etc/abs.toml"),
            "[node]\nfacility = \"f\"\ndata_dir = \"/srv/x\"\n");
  ASSERT_OK_AND_ASSIGN(NodeConfig abs, LoadConfig(dir.File("etc/abs.toml")));
  EXPECT_EQ(abs.data_dir, "/srv/x");
}

TEST(ConfigTest, LoadErrorsNameTheFile) {
  TempDir dir;
  Status missing = LoadConfig(dir.File("none.toml")).status();
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_NE(missing.message().find("none.toml"), std::string::npos);

  WriteFile(dir.File("big.toml"), std::string(kMaxConfigBytes + 1, '#'));
  Status big = LoadConfig(dir.File("big.toml")).status();
  EXPECT_EQ(big.code(), Status::Code::kTooLarge) << big.ToString();

  WriteFile(dir.File("bad.toml"),
            std::string(kMinimal) + "[http]\nmax_connections = 0\n");
  Status bad = LoadConfig(dir.File("bad.toml")).status();
  EXPECT_EQ(bad.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(
      bad.message().rfind(dir.File("bad.toml") + ": http.max_connections", 0),
      0u)
      << bad.message();
}

TEST(ConfigTest, ListenAddresses) {
  ASSERT_OK_AND_ASSIGN(ListenAddress a, ParseListenAddress("127.0.0.1:8080"));
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  ASSERT_OK_AND_ASSIGN(ListenAddress b, ParseListenAddress("[::1]:1"));
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(FormatListenAddress(b.host, b.port), "[::1]:1");
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:0").ok());
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:0", 0).ok());
  for (const char* bad :
       {"", ":80", "127.0.0.1:", "127.0.0.1:x", "1.2.3:80", "::1:80", "[::1]80",
        "[zz]:80", "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1: 80"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(ConfigTest, FacilityIds) {
  EXPECT_TRUE(IsValidFacilityId("clinic-001"));
  EXPECT_TRUE(IsValidFacilityId("A.b_c-9"));
  EXPECT_TRUE(IsValidFacilityId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidFacilityId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidFacilityId(""));
  EXPECT_FALSE(IsValidFacilityId("a b"));
  EXPECT_FALSE(IsValidFacilityId("a/b"));
  EXPECT_FALSE(IsValidFacilityId("José"));
}

// posta enroll records the hub in the config by editing its lines only: a
// technician's comments and other settings stay as written.
TEST(ConfigEditTest, SetsOneKeyAndKeepsEverythingElse) {
  const std::string text =
      "# Clinic 7, installed by Joe; call 555-0100.\n"
      "[node]\n"
      "role = \"clinic\"  # never change\n"
      "\n"
      "[sync]\n"
      "# the district hub\n"
      "hub_url = \"http://10.0.0.5:8081\"\n"
      "interval_s = 600   # slow link\n"
      "\n"
      "[log]\n"
      "level = \"info\"\n";
  EXPECT_EQ(SetConfigString(text, "sync", "hub_url", "https://10.0.0.9:8081"),
            "# Clinic 7, installed by Joe; call 555-0100.\n"
            "[node]\n"
            "role = \"clinic\"  # never change\n"
            "\n"
            "[sync]\n"
            "# the district hub\n"
            "hub_url = \"https://10.0.0.9:8081\"\n"
            "interval_s = 600   # slow link\n"
            "\n"
            "[log]\n"
            "level = \"info\"\n");
  // A key the table lacks goes after its last line; a comment naming the
  // key is not the key.
  const std::string pinned =
      SetConfigString("[sync]\n# hub_pin = \"old\"\nhub_url = \"x\"\n\n[log]\n",
                      "sync", "hub_pin", "sha256//AAAA");
  EXPECT_EQ(pinned,
            "[sync]\n# hub_pin = \"old\"\nhub_url = \"x\"\n"
            "hub_pin = \"sha256//AAAA\"\n\n[log]\n");
  // hub_url in another table is not touched; a missing table is added.
  EXPECT_EQ(
      SetConfigString("[other]\nhub_url = \"a\"", "sync", "hub_url", "b\"c"),
      "[other]\nhub_url = \"a\"\n\n[sync]\nhub_url = \"b\\\"c\"\n");
}

}  // namespace
}  // namespace posta::node
