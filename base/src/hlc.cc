#include "posta/base/hlc.h"

#include <charconv>
#include <cstdio>

namespace posta::base {

std::string HlcStamp::ToString() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%013lld.%04u.", static_cast<long long>(wall_ms),
                counter);
  return std::string(buf) + node;
}

bool IsValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<HlcStamp> HlcStamp::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::Malformed("version stamp \"" + std::string(text.substr(0, 80)) + "\"", why);
  };
  size_t dot1 = text.find('.');
  if (dot1 == std::string_view::npos) return bad("expected wall.counter.node");
  size_t dot2 = text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return bad("expected wall.counter.node");
  HlcStamp s;
  std::string_view wall = text.substr(0, dot1);
  std::string_view counter = text.substr(dot1 + 1, dot2 - dot1 - 1);
  if (wall.empty() || wall.size() > 18) return bad("bad wall time");
  if (counter.empty() || counter.size() > 10) return bad("bad counter");
  auto r1 = std::from_chars(wall.data(), wall.data() + wall.size(), s.wall_ms);
  if (r1.ec != std::errc() || r1.ptr != wall.data() + wall.size() || s.wall_ms < 0)
    return bad("bad wall time");
  auto r2 = std::from_chars(counter.data(), counter.data() + counter.size(),
                            s.counter);
  if (r2.ec != std::errc() || r2.ptr != counter.data() + counter.size())
    return bad("bad counter");
  s.node = std::string(text.substr(dot2 + 1));
  if (!IsValidNodeId(s.node)) return bad("bad node id");
  return s;
}

std::strong_ordering operator<=>(const HlcStamp& a, const HlcStamp& b) {
  if (auto c = a.wall_ms <=> b.wall_ms; c != 0) return c;
  if (auto c = a.counter <=> b.counter; c != 0) return c;
  int n = a.node.compare(b.node);
  return n < 0 ? std::strong_ordering::less
               : n > 0 ? std::strong_ordering::greater
                       : std::strong_ordering::equal;
}

HybridLogicalClock::HybridLogicalClock(Clock& clock, std::string node_id,
                                       HlcStamp last)
    : clock_(clock),
      node_id_(std::move(node_id)),
      last_wall_ms_(last.wall_ms),
      last_counter_(last.counter) {
  wall_clock_was_behind_ = clock_.WallNowMillis() < last.wall_ms;
}

HlcStamp HybridLogicalClock::Now() {
  std::lock_guard lock(mu_);
  int64_t wall = clock_.WallNowMillis();
  if (wall > last_wall_ms_) {
    last_wall_ms_ = wall;
    last_counter_ = 0;
  } else {
    // The wall clock stood still or went back: carry the logical time on.
    if (last_counter_ == UINT32_MAX) {
      ++last_wall_ms_;
      last_counter_ = 0;
    } else {
      ++last_counter_;
    }
  }
  return HlcStamp{last_wall_ms_, last_counter_, node_id_};
}

void HybridLogicalClock::Observe(const HlcStamp& remote) {
  std::lock_guard lock(mu_);
  if (remote.wall_ms > last_wall_ms_ ||
      (remote.wall_ms == last_wall_ms_ && remote.counter > last_counter_)) {
    last_wall_ms_ = remote.wall_ms;
    last_counter_ = remote.counter;
  }
}

HlcStamp HybridLogicalClock::Last() const {
  std::lock_guard lock(mu_);
  return HlcStamp{last_wall_ms_, last_counter_, node_id_};
}

}  // namespace posta::base
