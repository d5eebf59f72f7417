// Hybrid logical clock stamps: (wall milliseconds, counter, node id).
//
// Stamps order every write of every node totally: first by wall_ms, then by
// counter, then by node id. A node's HybridLogicalClock never issues a stamp
// at or below one it issued before, even when the wall clock goes backwards
// (a board without a real-time clock boots in 1970), because the last stamp
// is persisted by the store and handed back at start.
//
// Text form (used as FHIR meta.versionId and in the database):
//   "<wall_ms as 13 decimal digits>.<counter as 4+ decimal digits>.<node id>"
// e.g. "1763885524123.0000.7f3a9c2e4b1d0a55". Fixed-width numbers make the
// text sort in stamp order for stamps of the same era.
#pragma once

#include <compare>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "posta/base/clock.h"
#include "posta/base/status.h"

namespace posta::base {

struct HlcStamp {
  int64_t wall_ms = 0;
  uint32_t counter = 0;
  std::string node;  // node id: 1..64 chars of [0-9a-z-]

  bool IsZero() const { return wall_ms == 0 && counter == 0 && node.empty(); }
  std::string ToString() const;
  // Parses the text form; Malformed on anything else.
  static Result<HlcStamp> Parse(std::string_view text);

  friend std::strong_ordering operator<=>(const HlcStamp& a,
                                          const HlcStamp& b);
  friend bool operator==(const HlcStamp& a, const HlcStamp& b) = default;
};

// True when `id` is a valid node id (1..64 chars of [0-9a-z-]).
bool IsValidNodeId(std::string_view id);

// Issues stamps for one node. Threading: safe from any thread.
class HybridLogicalClock {
 public:
  // `last` is the highest stamp this node issued or saw before (zero stamp on
  // a new node). The clock is not owned and must outlive this object.
  HybridLogicalClock(Clock& clock, std::string node_id, HlcStamp last = {});

  // A stamp for a local event, strictly greater than every stamp issued or
  // observed before.
  HlcStamp Now();

  // Folds in a stamp seen from a peer, so later local stamps order after it.
  // The caller bounds how far ahead of the wall clock a peer stamp may be.
  void Observe(const HlcStamp& remote);

  // The highest stamp issued or observed so far.
  HlcStamp Last() const;

  // True when the wall clock read at construction was behind the persisted
  // last stamp: the box's clock is wrong (or was reset) and stamps are being
  // carried forward logically.
  bool wall_clock_was_behind() const { return wall_clock_was_behind_; }

  const std::string& node_id() const { return node_id_; }

 private:
  Clock& clock_;
  const std::string node_id_;
  mutable std::mutex mu_;
  int64_t last_wall_ms_;
  uint32_t last_counter_;
  bool wall_clock_was_behind_ = false;
};

}  // namespace posta::base
