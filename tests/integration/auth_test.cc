// A real `posta serve` with [http] auth = "required": users added with
// `posta user add` beside it, login over HTTP, a role refused, logout, and
// `posta user disable` ending a session of the running server; the audit
// trail of it through GET /audit and `posta audit`, and an edit of the
// trail found by `posta audit verify`.
#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;
using testing::TempDir;

constexpr char kPatient[] = R"({"resourceType":"Patient",
  "name":[{"family":"García","given":["José"]}],"gender":"male",
  "birthDate":"1984-02-29"})";

class AuthServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = dir_.File("clinic");
    auto r = testing::Run({PostaBinary(), "init", "--dir", node_dir_, "--role",
                           "clinic", "--facility", "clinic-a", "--listen",
                           "127.0.0.1:0"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    config_ = node_dir_ + "/posta.toml";
    std::ifstream in(config_);
    std::stringstream text;
    text << in.rdbuf();
    std::string toml = text.str();
    const std::string from = "auth = \"auto\"";
    size_t at = toml.find(from);
    ASSERT_NE(at, std::string::npos) << toml;
    toml.replace(at, from.size(), "auth = \"required\"");
    std::ofstream(config_) << toml;
  }

  testing::RunResult AddUser(const std::string& name, const std::string& role,
                             const std::string& password) {
    return testing::Run({"/bin/sh", "-c",
                         "printf '%s\\n' \"$0\" | \"$1\" user add --config "
                         "\"$2\" --password-stdin --role \"$3\" \"$4\"",
                         password, PostaBinary(), config_, role, name});
  }

  void StartServer() {
    std::string port_file = dir_.File("port");
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", config_, "--port-file", port_file},
        dir_.File("serve.log"));
    ASSERT_OK(child);
    server_ = std::move(child).value();
    auto port = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    ASSERT_OK(port)
        << testing::Run({"/bin/cat", dir_.File("serve.log")}).output;
    port_ = *port;
  }

  std::string Login(const std::string& user, const std::string& password,
                    int* status = nullptr) {
    auto r = HttpCall(port_, "POST", "/auth/login",
                      json{{"user", user}, {"password", password}}.dump(),
                      {{"Content-Type", "application/json"}});
    EXPECT_OK(r);
    if (!r.ok()) return {};
    if (status) *status = r->status;
    json body = json::parse(r->body, nullptr, false);
    return body.is_object() ? body.value("token", "") : "";
  }

  static std::vector<std::pair<std::string, std::string>> Bearer(
      const std::string& token) {
    return {{"Authorization", "Bearer " + token},
            {"Content-Type", "application/fhir+json"}};
  }

  TempDir dir_;
  std::string node_dir_;
  std::string config_;
  ChildProcess server_;
  int port_ = 0;
};

TEST_F(AuthServeTest, LoginRolesAndLogout) {
  auto added = AddUser("ada", "admin", "admin password");
  ASSERT_EQ(added.exit_code, 0) << added.output;
  added = AddUser("rita", "registrar", "registrar password");
  ASSERT_EQ(added.exit_code, 0) << added.output;
  auto short_one = AddUser("sam", "clinician", "short");
  EXPECT_EQ(short_one.exit_code, 1);
  EXPECT_NE(short_one.output.find("shorter than 8 characters"),
            std::string::npos)
      << short_one.output;
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // Nothing without a token but /health.
  auto anonymous = HttpCall(port_, "POST", "/fhir/Patient", kPatient,
                            {{"Content-Type", "application/fhir+json"}});
  ASSERT_OK(anonymous);
  EXPECT_EQ(anonymous->status, 401) << anonymous->body;
  EXPECT_EQ(anonymous->Header("WWW-Authenticate"), "Bearer realm=\"posta\"");
  auto health = HttpCall(port_, "GET", "/health");
  ASSERT_OK(health);
  EXPECT_EQ(health->status, 200);

  int status = 0;
  EXPECT_EQ(Login("rita", "wrong password", &status), "");
  EXPECT_EQ(status, 401);

  const std::string admin = Login("ada", "admin password");
  ASSERT_FALSE(admin.empty());
  auto created =
      HttpCall(port_, "POST", "/fhir/Patient", kPatient, Bearer(admin));
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string patient = json::parse(created->body)["id"];
  const std::string encounter =
      json{{"resourceType", "Encounter"},
           {"status", "finished"},
           {"class", {{"code", "AMB"}}},
           {"subject", {{"reference", "Patient/" + patient}}}}
          .dump();
  auto visit =
      HttpCall(port_, "POST", "/fhir/Encounter", encounter, Bearer(admin));
  ASSERT_OK(visit);
  ASSERT_EQ(visit->status, 201) << visit->body;

  const std::string rita = Login("rita", "registrar password");
  ASSERT_FALSE(rita.empty());
  auto read =
      HttpCall(port_, "GET", "/fhir/Patient/" + patient, "", Bearer(rita));
  ASSERT_OK(read);
  EXPECT_EQ(read->status, 200) << read->body;
  auto refused =
      HttpCall(port_, "POST", "/fhir/Encounter", encounter, Bearer(rita));
  ASSERT_OK(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_NE(refused->body.find("role registrar: may not write Encounter"),
            std::string::npos)
      << refused->body;
  auto encounters =
      HttpCall(port_, "GET", "/fhir/Encounter", "", Bearer(admin));
  ASSERT_OK(encounters);
  EXPECT_EQ(json::parse(encounters->body)["total"], 1) << encounters->body;

  auto out = HttpCall(port_, "POST", "/auth/logout", "", Bearer(rita));
  ASSERT_OK(out);
  EXPECT_EQ(out->status, 200) << out->body;
  auto after =
      HttpCall(port_, "GET", "/fhir/Patient/" + patient, "", Bearer(rita));
  ASSERT_OK(after);
  EXPECT_EQ(after->status, 401) << after->body;

  // Disabled beside the running server: its session ends at once.
  auto disabled = testing::Run(
      {PostaBinary(), "user", "disable", "--config", config_, "ada"});
  ASSERT_EQ(disabled.exit_code, 0) << disabled.output;
  auto gone = HttpCall(port_, "GET", "/fhir/Patient", "", Bearer(admin));
  ASSERT_OK(gone);
  EXPECT_EQ(gone->status, 401) << gone->body;

  auto list = testing::Run(
      {PostaBinary(), "user", "list", "--config", config_, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("\"name\":\"ada\""), std::string::npos);
  EXPECT_EQ(list.output.find("scrypt"), std::string::npos);
}

TEST_F(AuthServeTest, AuditTrailOfChangesReadsAndDenials) {
  ASSERT_EQ(AddUser("ada", "admin", "admin password").exit_code, 0);
  ASSERT_EQ(AddUser("rita", "registrar", "registrar password").exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string admin = Login("ada", "admin password");
  const std::string rita = Login("rita", "registrar password");
  ASSERT_FALSE(admin.empty());
  ASSERT_FALSE(rita.empty());
  auto created =
      HttpCall(port_, "POST", "/fhir/Patient", kPatient, Bearer(admin));
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string patient = json::parse(created->body)["id"];
  auto read =
      HttpCall(port_, "GET", "/fhir/Patient/" + patient, "", Bearer(rita));
  ASSERT_OK(read);
  ASSERT_EQ(read->status, 200);
  // A registrar may delete a patient, not read observations.
  auto deleted =
      HttpCall(port_, "DELETE", "/fhir/Patient/" + patient, "", Bearer(rita));
  ASSERT_OK(deleted);
  ASSERT_EQ(deleted->status, 200) << deleted->body;
  auto forbidden =
      HttpCall(port_, "GET", "/fhir/Observation", "", Bearer(rita));
  ASSERT_OK(forbidden);
  ASSERT_EQ(forbidden->status, 403);
  auto anonymous = HttpCall(port_, "GET", "/fhir/Patient/" + patient);
  ASSERT_OK(anonymous);
  ASSERT_EQ(anonymous->status, 401);

  // Only the admin reads the trail.
  auto not_hers = HttpCall(port_, "GET", "/audit", "", Bearer(rita));
  ASSERT_OK(not_hers);
  EXPECT_EQ(not_hers->status, 403) << not_hers->body;
  auto trail = HttpCall(port_, "GET", "/audit?_count=1000", "", Bearer(admin));
  ASSERT_OK(trail);
  ASSERT_EQ(trail->status, 200) << trail->body;
  json entries = json::parse(trail->body)["entries"];
  auto has = [&](const std::string& actor, const std::string& action,
                 const std::string& resource) {
    for (const json& e : entries) {
      if (e["actor"] == actor && e["action"] == action &&
          e["resource"] == resource) {
        EXPECT_EQ(e["address"].get<std::string>().rfind("127.0.0.1:", 0), 0u)
            << e.dump();
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has("ada", "create", "Patient/" + patient)) << trail->body;
  EXPECT_TRUE(has("rita", "read", "Patient/" + patient)) << trail->body;
  EXPECT_TRUE(has("rita", "delete", "Patient/" + patient)) << trail->body;
  EXPECT_TRUE(has("rita", "denied", "Observation")) << trail->body;
  EXPECT_TRUE(has("anonymous", "denied", "Patient/" + patient)) << trail->body;
  EXPECT_TRUE(has("rita", "denied", "/audit")) << trail->body;
  EXPECT_TRUE(has("ada", "login", "")) << trail->body;

  // The command line reads the same trail beside the running server.
  auto cli = testing::Run({PostaBinary(), "audit", "--config", config_,
                           "--actor", "rita", "--action", "denied", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("\"resource\":\"Observation\""), std::string::npos)
      << cli.output;
  auto table = testing::Run({PostaBinary(), "audit", "--config", config_});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("ACTOR"), std::string::npos) << table.output;
  auto verified =
      testing::Run({PostaBinary(), "audit", "verify", "--config", config_});
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("0 breaks"), std::string::npos)
      << verified.output;

  // Someone with the file rewrites who deleted the patient.
  server_.Kill();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((node_dir_ + "/posta.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE audit_log SET actor = 'ada' "
                         "WHERE action = 'delete'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto broken =
      testing::Run({PostaBinary(), "audit", "verify", "--config", config_});
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  EXPECT_NE(broken.output.find("broken at seq"), std::string::npos)
      << broken.output;
  EXPECT_NE(broken.output.find("audit chain of node"), std::string::npos)
      << broken.output;
}

TEST_F(AuthServeTest, WritesModeBeyondLoopbackIsRefused) {
  std::ifstream in(config_);
  std::stringstream text;
  text << in.rdbuf();
  std::string toml = text.str();
  toml.replace(toml.find("auth = \"required\""),
               std::string("auth = \"required\"").size(), "auth = \"writes\"");
  toml.replace(toml.find("listen = \"127.0.0.1:0\""),
               std::string("listen = \"127.0.0.1:0\"").size(),
               "listen = \"0.0.0.0:0\"");
  std::ofstream(config_) << toml;
  auto r = testing::Run({PostaBinary(), "serve", "--config", config_});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("http.auth: \"writes\" leaves reads open"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace posta
