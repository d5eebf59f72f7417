// A hub and its clinics as real `posta` processes, set up the way people
// set them up: `posta init` for each node, the hub's administrator
// registers each facility and issues a one-time code (`posta hub facility
// add`, `posta hub enroll-code`), and each clinic's technician runs `posta
// enroll` with it. Every process test that starts a hub uses this, so
// enrollment lives in one place.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "posta/base/status.h"
#include "process.h"

namespace posta::testing {

class Cluster {
 public:
  // Nodes live in directories under `root`: the hub in root/hub, a clinic
  // in root/<name>.
  explicit Cluster(std::string root);
  // SIGTERMs a hub still running, and waits for it.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // posta init --role hub --facility `facility` --listen `listen`.
  Status InitHub(const std::string& facility = "region",
                 const std::string& listen = "127.0.0.1:0");
  // posta serve for the hub (inheriting this process's environment, so a
  // POSTA_CRASH_AT set by the caller applies), waiting for its port.
  Status StartHub();
  // SIGTERM; Internal when it does not exit 0 within `timeout`.
  Status StopHub(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void KillHub() { hub_.Kill(); }
  ChildProcess& hub() { return hub_; }
  int hub_port() const { return hub_port_; }
  std::string HubUrl() const;  // http://127.0.0.1:<hub_port()>
  std::string HubConfig() const { return Config("hub"); }
  std::string HubLog() const;  // the hub's log so far, for failure messages

  // Registers `facility` on the hub the first time, then issues a new
  // one-time code for it (valid 48 h). Works whether or not the hub serves.
  Result<std::string> IssueCode(const std::string& facility);

  // posta init for clinic `name` of `facility`, syncing with `hub_url`
  // (default: HubUrl()). Not enrolled.
  Status InitClinic(const std::string& name, const std::string& facility,
                    const std::string& hub_url = "");
  // posta enroll for clinic `name` with a new code of its facility, through
  // its configured hub URL. REQUIRES: the hub serves and is reachable there.
  Status EnrollClinic(const std::string& name);
  // InitClinic, then EnrollClinic.
  Status AddClinic(const std::string& name, const std::string& facility,
                   const std::string& hub_url = "");

  std::string Dir(const std::string& name) const;
  std::string Config(const std::string& name) const;

 private:
  std::string root_;
  ChildProcess hub_;
  int hub_port_ = 0;
  std::map<std::string, std::string> facility_of_;  // clinic → facility
  std::vector<std::string> registered_;             // facilities on the hub
};

}  // namespace posta::testing
