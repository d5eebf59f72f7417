// A real `posta serve` process on an ephemeral loopback port with a real
// SQLite file: what a clinic app sees over HTTP, across a clean restart.
#include <signal.h>

#include <nlohmann/json.hpp>

#include "posta/storage/record_store.h"
#include "process.h"
#include "test_util.h"

namespace posta {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::HttpCall;
using testing::PostaBinary;

using testing::TempDir;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = dir_.File("clinic");
    auto r = testing::Run({PostaBinary(), "init", "--dir", node_dir_, "--role", "clinic",
                  "--facility", "clinic-a", "--listen", "127.0.0.1:0"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    config_ = node_dir_ + "/posta.toml";
  }

  // Starts `posta serve` and waits for it to report its port.
  void StartServer() {
    std::string port_file = dir_.File("port");
    ::unlink(port_file.c_str());
    auto child = ChildProcess::Start(
        {PostaBinary(), "serve", "--config", config_, "--port-file", port_file},
        dir_.File("serve.log"));
    ASSERT_OK(child);
    server_ = std::move(child).value();
    auto port = testing::WaitForPortFile(port_file, std::chrono::seconds(20));
    ASSERT_OK(port) << ServeLog();
    port_ = *port;
  }

  std::string ServeLog() {
    auto r = testing::Run({"/bin/cat", dir_.File("serve.log")});
    return r.output;
  }

  TempDir dir_;
  std::string node_dir_;
  std::string config_;
  ChildProcess server_;
  int port_ = 0;
};

constexpr char kPatient[] = R"({
  "resourceType": "Patient",
  "identifier": [{"system": "urn:posta:mrn", "value": "MRN-000001"}],
  "name": [{"family": "García", "given": ["José"]}],
  "gender": "male",
  "birthDate": "1984-02-29"
})";

TEST_F(ServeTest, CreateReadSearchSurviveCleanRestart) {
  ASSERT_NO_FATAL_FAILURE(StartServer());

  auto created = HttpCall(port_, "POST", "/fhir/Patient", kPatient);
  ASSERT_OK(created);
  ASSERT_EQ(created->status, 201) << created->body;
  json patient = json::parse(created->body);
  std::string id = patient["id"];
  std::string version = patient["meta"]["versionId"];
  EXPECT_EQ(created->Header("ETag"), "W/\"" + version + "\"");
  EXPECT_NE(created->Header("Location").find("/fhir/Patient/" + id), std::string::npos);

  auto found = HttpCall(port_, "GET", "/fhir/Patient?name=jose");
  ASSERT_OK(found);
  ASSERT_EQ(found->status, 200) << found->body;
  json bundle = json::parse(found->body);
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  ASSERT_EQ(bundle["entry"].size(), 1u) << found->body;
  EXPECT_EQ(bundle["entry"][0]["resource"]["id"], id);

  auto health = HttpCall(port_, "GET", "/health");
  ASSERT_OK(health);
  EXPECT_EQ(health->status, 200) << health->body;

  // First SIGTERM: finish and exit cleanly.
  server_.Signal(SIGTERM);
  auto exited = server_.Wait(std::chrono::seconds(20));
  ASSERT_OK(exited);
  EXPECT_EQ(exited->exit_code, 0) << ServeLog();

  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto read = HttpCall(port_, "GET", "/fhir/Patient/" + id);
  ASSERT_OK(read);
  ASSERT_EQ(read->status, 200);
  EXPECT_EQ(json::parse(read->body)["meta"]["versionId"], version);
  EXPECT_EQ(json::parse(read->body)["name"][0]["family"], "García");
  server_.Signal(SIGTERM);
  ASSERT_OK(server_.Wait(std::chrono::seconds(20)));

  auto status = testing::Run({PostaBinary(), "status", "--config", config_, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  json s = json::parse(status.output.substr(status.output.find('{')));
  EXPECT_EQ(s["facility"], "clinic-a");
}

TEST_F(ServeTest, RefusesToStartTwiceOnOnePort) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Point a second node's config at the first one's port.
  std::string other = dir_.File("other");
  auto r = testing::Run({PostaBinary(), "init", "--dir", other, "--role", "clinic",
                "--facility", "clinic-b", "--listen",
                "127.0.0.1:" + std::to_string(port_)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto second = testing::Run({PostaBinary(), "serve", "--config", other + "/posta.toml"},
                    std::chrono::seconds(20));
  EXPECT_NE(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find(std::to_string(port_)), std::string::npos)
      << second.output;
}

TEST_F(ServeTest, ServeWithoutDatabaseSaysToInit) {
  std::string empty = dir_.File("empty");
  auto r = testing::Run({PostaBinary(), "init", "--dir", empty, "--role", "clinic",
                "--facility", "x", "--listen", "127.0.0.1:0"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ::unlink((empty + "/posta.db").c_str());
  auto serve = testing::Run({PostaBinary(), "serve", "--config", empty + "/posta.toml"},
                   std::chrono::seconds(20));
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_NE(serve.output.find("posta init"), std::string::npos) << serve.output;
}

}  // namespace
}  // namespace posta
