// The ledger a kill -9 test keeps outside the system under test: every
// write a node acknowledged, with the version it answered. The test's
// writer threads record into it while the nodes run; the checks after a
// kill read it.
//
// Keys name a record ("Patient/<id>"); a version is acknowledged once and
// only ever follows the key's earlier versions, so the latest per key is
// what a record must hold at least.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace posta::testing {

struct Ack {
  std::string key;      // "Type/id"
  std::string version;  // meta.versionId as answered
  bool deleted = false;
  std::string marker;  // a field value the writer chose, to compare content
};

class AckLedger {
 public:
  // `at_hub`: the hub acknowledged it (counted apart, for the figures).
  void Record(Ack ack, bool at_hub = false) {
    std::lock_guard lock(mu_);
    versions_.insert(ack.key + "@" + ack.version);
    latest_[ack.key] = ack;
    unchecked_.push_back(std::move(ack));
    ++(at_hub ? hub_acks_ : node_acks_);
    cv_.notify_all();
  }
  // Waits until at least `n` acknowledgements in all, at most `timeout`.
  bool WaitForAcks(int64_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return node_acks_ + hub_acks_ >= n; });
  }
  int64_t acks() {
    std::lock_guard lock(mu_);
    return node_acks_ + hub_acks_;
  }
  int64_t hub_acks() {
    std::lock_guard lock(mu_);
    return hub_acks_;
  }
  // The last acknowledged version of each key.
  std::map<std::string, Ack> latest() {
    std::lock_guard lock(mu_);
    return latest_;
  }
  // Every acknowledged version, as "key@version".
  std::set<std::string> versions() {
    std::lock_guard lock(mu_);
    return versions_;
  }
  // The acknowledgements recorded since the previous call (all of them at
  // the first), in the order they were recorded; for checks that look
  // only at what is new.
  std::vector<Ack> TakeUnchecked() {
    std::lock_guard lock(mu_);
    std::vector<Ack> taken;
    taken.swap(unchecked_);
    return taken;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Ack> latest_;
  std::set<std::string> versions_;
  std::vector<Ack> unchecked_;
  int64_t node_acks_ = 0;
  int64_t hub_acks_ = 0;
};

}  // namespace posta::testing
