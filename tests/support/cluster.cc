#include "cluster.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "posta/base/env.h"

namespace posta::testing {
namespace {

// Runs `argv`; Internal with the command and its output unless it exits 0.
Result<std::string> MustRun(const std::vector<std::string>& argv) {
  RunResult r = Run(argv, std::chrono::seconds(120));
  if (r.exit_code != 0) {
    std::string command;
    for (const std::string& a : argv) command += a + " ";
    return Status::Internal(
        command, "exit " + std::to_string(r.exit_code) + ": " + r.output);
  }
  return r.output;
}

}  // namespace

Cluster::Cluster(std::string root) : root_(std::move(root)) {}

Cluster::~Cluster() {
  if (hub_.running()) (void)StopHub();
}

std::string Cluster::Dir(const std::string& name) const {
  return root_ + "/" + name;
}

Result<std::unique_ptr<storage::RecordStore>> Cluster::OpenReadOnly(
    const std::string& name) const {
  storage::StoreOptions options;
  options.path = Dir(name) + "/posta.db";
  options.read_only = true;
  return storage::OpenRecordStore(options);
}

std::string Cluster::Config(const std::string& name) const {
  return Dir(name) + "/posta.toml";
}

std::string Cluster::HubUrl() const {
  return (hub_pin_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
         std::to_string(hub_port_);
}

Status Cluster::EditConfig(const std::string& name, const std::string& from,
                           const std::string& to) {
  base::Env& env = base::Env::Default();
  POSTA_ASSIGN_OR_RETURN(std::string text, env.ReadFile(Config(name), 1 << 16));
  const size_t at = text.find(from);
  if (at == std::string::npos) {
    return Status::NotFound(Config(name), "no \"" + from + "\" in it");
  }
  text.replace(at, from.size(), to);
  return env.WriteFileAtomic(Config(name), text, 0640);
}

std::string Cluster::HubLog() const {
  return Run({"/bin/cat", root_ + "/hub.log"}).output;
}

Status Cluster::InitHub(const std::string& facility, const std::string& listen,
                        bool tls) {
  POSTA_RETURN_IF_ERROR(base::Env::Default().CreateDirs(root_));
  POSTA_RETURN_IF_ERROR(
      MustRun({PostaBinary(), "init", "--dir", Dir("hub"), "--role", "hub",
               "--facility", facility, "--listen", listen})
          .status());
  if (!tls) {
    hub_pin_.clear();
    return EditConfig("hub", "allow_plain_http = false",
                      "allow_plain_http = true");
  }
  POSTA_ASSIGN_OR_RETURN(
      std::string out,
      MustRun({PostaBinary(), "hub", "tls", "init", "--config", HubConfig()}));
  // "pin:         sha256//<44 characters>"
  const size_t at = out.find("pin:");
  const size_t pin = out.find("sha256//", at);
  if (at == std::string::npos || pin == std::string::npos) {
    return Status::Internal("posta hub tls init", "no pin in: " + out);
  }
  hub_pin_ = out.substr(pin, 8 + 44);
  return Status::Ok();
}

Status Cluster::StartHub() {
  const std::string port_file = root_ + "/hub.port";
  ::unlink(port_file.c_str());
  std::vector<std::string> argv = hub_prefix_;
  for (std::string a :
       {PostaBinary(), std::string("serve"), std::string("--config"),
        HubConfig(), std::string("--port-file"), port_file}) {
    argv.push_back(std::move(a));
  }
  POSTA_ASSIGN_OR_RETURN(hub_, ChildProcess::Start(argv, root_ + "/hub.log"));
  Result<int> port = WaitForPortFile(port_file, std::chrono::seconds(30));
  if (!port.ok()) return port.status().WithContext("hub log: " + HubLog());
  hub_port_ = *port;
  return Status::Ok();
}

Status Cluster::StopHub(std::chrono::milliseconds timeout) {
  hub_.Signal(SIGTERM);
  POSTA_ASSIGN_OR_RETURN(RunResult done, hub_.Wait(timeout));
  if (done.exit_code != 0) {
    return Status::Internal(
        "hub", "exit " + std::to_string(done.exit_code) + "; log: " + HubLog());
  }
  return Status::Ok();
}

Status Cluster::RegisterFacility(const std::string& facility,
                                 const std::string& region) {
  POSTA_RETURN_IF_ERROR(
      MustRun({PostaBinary(), "hub", "facility", "add", "--config", HubConfig(),
               facility, "--name", "Facility " + facility, "--region", region})
          .status());
  registered_.push_back(facility);
  return Status::Ok();
}

Result<std::string> Cluster::IssueCode(const std::string& facility) {
  if (std::find(registered_.begin(), registered_.end(), facility) ==
      registered_.end()) {
    POSTA_RETURN_IF_ERROR(
        MustRun({PostaBinary(), "hub", "facility", "add", "--config",
                 HubConfig(), facility, "--name", "Facility " + facility})
            .status());
    registered_.push_back(facility);
  }
  POSTA_ASSIGN_OR_RETURN(
      std::string out, MustRun({PostaBinary(), "hub", "enroll-code", "--config",
                                HubConfig(), "--facility", facility}));
  // "enrollment code for facility F: XXXX-XXXX-XXXX-XXXX-XXXX"
  const std::string marker = facility + ": ";
  const size_t at = out.find(marker);
  if (at == std::string::npos) {
    return Status::Internal("posta hub enroll-code", "no code in: " + out);
  }
  return out.substr(at + marker.size(), 24);
}

Status Cluster::InitClinic(const std::string& name, const std::string& facility,
                           const std::string& hub_url) {
  facility_of_[name] = facility;
  return MustRun({PostaBinary(), "init", "--dir", Dir(name), "--role", "clinic",
                  "--facility", facility, "--hub",
                  hub_url.empty() ? HubUrl() : hub_url, "--listen",
                  "127.0.0.1:0"})
      .status();
}

Status Cluster::EnrollClinic(const std::string& name) {
  auto it = facility_of_.find(name);
  if (it == facility_of_.end()) {
    return Status::NotFound("clinic " + name, "not made by InitClinic");
  }
  POSTA_ASSIGN_OR_RETURN(std::string code, IssueCode(it->second));
  std::vector<std::string> argv = {PostaBinary(), "enroll", "--config",
                                   Config(name),  "--code", code};
  if (!hub_pin_.empty()) {
    argv.push_back("--pin");
    argv.push_back(hub_pin_);
  }
  return MustRun(argv).status();
}

Status Cluster::AddClinic(const std::string& name, const std::string& facility,
                          const std::string& hub_url) {
  POSTA_RETURN_IF_ERROR(InitClinic(name, facility, hub_url));
  return EnrollClinic(name);
}

}  // namespace posta::testing
