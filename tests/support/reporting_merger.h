// A ChangeMerger for tests that need conflicts made as sync makes them: it
// takes every remote version as it is and reports the conflicts asked for,
// each lost by kOtherNode an hour before the winning write.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "posta/storage/replication.h"

namespace posta::testing {

inline constexpr const char* kOtherNode = "0000000000000001";

struct ConflictSpec {
  std::string field;
  std::optional<std::string> winner;  // JSON text, as the record holds it
  std::optional<std::string> loser;
};

class ReportingMerger final : public storage::ChangeMerger {
 public:
  std::vector<ConflictSpec> specs;

  Outcome Merge(const storage::Record*, History&,
                const storage::ChangeEntry& remote) override {
    constexpr int64_t kHourMs = 3600000;
    const storage::Record& r = remote.record;
    Outcome out;
    out.action = Action::kTakeRemote;
    out.content = r.content;
    out.field_stamps = r.field_stamps;
    out.deleted = r.deleted;
    for (const ConflictSpec& spec : specs) {
      storage::Conflict c;
      c.type = r.type;
      c.record_id = r.id;
      c.facility = r.facility;
      c.field = spec.field;
      c.winner = {spec.winner, r.version};
      c.loser = {spec.loser,
                 base::HlcStamp{r.version.wall_ms - kHourMs, 0, kOtherNode}};
      c.id = storage::ConflictId(c.type, c.record_id, c.field, c.loser.stamp);
      c.state_stamp = r.version;
      out.conflicts.push_back(c);
    }
    return out;
  }
};

}  // namespace posta::testing
