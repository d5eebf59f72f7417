// The simulation's oracle: what the stores acknowledged, kept outside them,
// and the checks of RELIABILITY.md's invariants against it once a world has
// healed and synced to quiescence.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "posta/base/hlc.h"
#include "posta/storage/record.h"
#include "posta/storage/record_store.h"

namespace posta::sim {

// One field set by one acknowledged write.
struct FieldWrite {
  std::string node;  // the writer
  base::HlcStamp stamp;
  // The value as compact JSON; nullopt when the write removed the field.
  // For storage::kDeletedField: "true" or "false".
  std::optional<std::string> value;
  // The field's stamp on the writer just before the write (zero when it
  // had none): the write built on that one.
  base::HlcStamp base;
};

// One acknowledged write.
struct Ack {
  std::string node;
  storage::ResourceType type = storage::ResourceType::kPatient;
  std::string id;
  std::string facility;  // the record's owner
  base::HlcStamp version;
};

// A node as the checks see it.
struct NodeView {
  std::string node_id;
  std::string facility;  // "" for the hub
  storage::RecordStore* store = nullptr;
};

class Ledger {
 public:
  // Records a write `node` acknowledged: `before` is the record as the node
  // held it just before (null when absent), `after` the version now
  // current. `tainted` marks a stamp further ahead of the hub's clock than
  // the hub's skew bound (the hub flags it and will not let it win, so the
  // record's replicas may stay apart by design). Returns "" or an I7
  // failure: a stamp not above every stamp the node acknowledged before.
  std::string RecordWrite(const std::string& node,
                          const storage::Record* before,
                          const storage::Record& after, bool tainted);

  size_t acks() const { return acks_.size(); }
  size_t tainted_records() const { return tainted_.size(); }
  bool tainted(const std::string& key) const { return tainted_.count(key); }

  // Every invariant this harness checks, once healed and quiescent; each
  // failure as one line naming the invariant. `hub_now_ms` and `skew_ms`
  // are the hub's clock and its bound (I7).
  std::vector<std::string> Check(const NodeView& hub,
                                 const std::vector<NodeView>& clinics,
                                 int64_t hub_now_ms, int64_t skew_ms) const;

 private:
  // Key: "Patient/<id>".
  struct RecordLedger {
    storage::ResourceType type = storage::ResourceType::kPatient;
    std::string id;
    std::string facility;
    std::map<std::string, std::vector<FieldWrite>> fields;
  };
  void CheckI1(const NodeView& node, std::vector<std::string>& out) const;
  void CheckFields(const NodeView& hub, std::vector<std::string>& out) const;
  void CheckReplicas(const NodeView& hub, const NodeView& clinic,
                     std::vector<std::string>& out) const;

  std::vector<Ack> acks_;
  std::map<std::string, RecordLedger> records_;
  std::map<std::string, base::HlcStamp> last_stamp_;  // by node
  std::map<std::string, bool> tainted_;               // record keys
};

}  // namespace posta::sim
