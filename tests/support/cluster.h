// A hub and its clinics as real `posta` processes, set up the way people
// set them up: `posta init` for each node, the hub's administrator
// registers each facility and issues a one-time code (`posta hub facility
// add`, `posta hub enroll-code`), and each clinic's technician runs `posta
// enroll` with it. Every process test that starts a hub uses this, so
// enrollment lives in one place.
//
// TLS: by default the hub serves plain HTTP with [sync] allow_plain_http =
// true (everything runs on loopback). With InitHub(..., tls = true) it runs
// `posta hub tls init` instead, serves HTTPS, and clinics enroll with the
// printed --pin, as a technician would.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "posta/base/status.h"
#include "posta/storage/record_store.h"
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

  // posta init --role hub --facility `facility` --listen `listen`; then
  // either `posta hub tls init` (tls) or allow_plain_http = true.
  Status InitHub(const std::string& facility = "region",
                 const std::string& listen = "127.0.0.1:0", bool tls = false);
  // posta serve for the hub (inheriting this process's environment, so a
  // POSTA_CRASH_AT set by the caller applies), waiting for its port.
  Status StartHub();
  // Later StartHub calls run `prefix` + the serve command, e.g. `ip netns
  // exec NS` for a hub behind a shaped link (NetnsLink::Wrap). The prefix
  // must exec the command, so the child's pid is the hub's.
  void SetHubCommandPrefix(std::vector<std::string> prefix) {
    hub_prefix_ = std::move(prefix);
  }
  // SIGTERM; Internal when it does not exit 0 within `timeout`.
  Status StopHub(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void KillHub() { hub_.Kill(); }
  ChildProcess& hub() { return hub_; }
  int hub_port() const { return hub_port_; }
  // http://127.0.0.1:<hub_port()>, https:// with TLS.
  std::string HubUrl() const;
  // The pin `posta hub tls init` printed; "" without TLS.
  const std::string& hub_pin() const { return hub_pin_; }
  // Replaces `from` by `to` (once) in node `name`'s posta.toml.
  Status EditConfig(const std::string& name, const std::string& from,
                    const std::string& to);
  std::string HubConfig() const { return Config("hub"); }
  std::string HubLog() const;  // the hub's log so far, for failure messages

  // posta hub facility add `facility` --region `region` (before any code is
  // issued for it; IssueCode then does not register it again).
  Status RegisterFacility(const std::string& facility,
                          const std::string& region);

  // Registers `facility` on the hub the first time, then issues a new
  // one-time code for it (valid 48 h). Works whether or not the hub serves.
  Result<std::string> IssueCode(const std::string& facility);

  // posta init for clinic `name` of `facility`, syncing with `hub_url`
  // (default: HubUrl()). Not enrolled.
  Status InitClinic(const std::string& name, const std::string& facility,
                    const std::string& hub_url = "");
  // posta enroll for clinic `name` with a new code of its facility, through
  // its configured hub URL, with --pin hub_pin() when the hub has TLS.
  // REQUIRES: the hub serves and is reachable there.
  Status EnrollClinic(const std::string& name);
  // InitClinic, then EnrollClinic.
  Status AddClinic(const std::string& name, const std::string& facility,
                   const std::string& hub_url = "");

  std::string Dir(const std::string& name) const;
  std::string Config(const std::string& name) const;
  // The database of node `name` ("hub" or a clinic), opened read-only
  // beside a node that may still be serving it.
  Result<std::unique_ptr<storage::RecordStore>> OpenReadOnly(
      const std::string& name) const;

 private:
  std::string root_;
  ChildProcess hub_;
  int hub_port_ = 0;
  std::string hub_pin_;
  std::vector<std::string> hub_prefix_;
  std::map<std::string, std::string> facility_of_;  // clinic → facility
  std::vector<std::string> registered_;             // facilities on the hub
};

}  // namespace posta::testing
