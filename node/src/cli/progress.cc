#include "cli/progress.h"

#include <algorithm>
#include <cstdio>

namespace posta::node::cli {

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

ProgressDisplay::ProgressDisplay(std::ostream& out, Options options,
                                 base::Clock& clock)
    : out_(out),
      options_(std::move(options)),
      clock_(clock),
      start_(clock.MonotonicNow()),
      last_draw_(start_) {}

std::string ProgressDisplay::Describe(bool bar) const {
  std::string s = options_.label;
  s += bar ? " " : ": ";
  if (total_ > 0) {
    int64_t done = std::min(done_, total_);
    int percent = static_cast<int>(done * 100 / total_);
    if (bar) {
      constexpr int kWidth = 24;
      int filled = static_cast<int>(done * kWidth / total_);
      s += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') +
           "] ";
    }
    s += std::to_string(percent) + "% ";
    if (bar && options_.unit == Unit::kBytes) {
      s += FormatBytes(done_) + "/" + FormatBytes(total_) + " ";
    }
  }
  s += std::to_string(items_) + " " + options_.item_name;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_.MonotonicNow() - start_);
  if (elapsed.count() >= 100) {
    s += " " + std::to_string(items_ * 1000 / elapsed.count()) + "/s";
  }
  return s;
}

void ProgressDisplay::Update(int64_t done, int64_t total, int64_t items) {
  done_ = done;
  total_ = total;
  items_ = items;
  auto now = clock_.MonotonicNow();
  if (options_.tty) {
    if (drawn_ && now - last_draw_ < options_.redraw_interval) return;
    out_ << "\r\033[K" << Describe(/*bar=*/true) << std::flush;
    drawn_ = true;
    last_draw_ = now;
    return;
  }
  if (now - start_ < options_.quiet_period) return;
  int step =
      total > 0 ? static_cast<int>(std::min(done, total) * 10 / total) : 0;
  bool next_step = step > last_step_;
  bool overdue = now - last_draw_ >= options_.line_interval;
  if (!next_step && !overdue) return;
  out_ << Describe(/*bar=*/false) << "\n" << std::flush;
  drawn_ = true;
  last_draw_ = now;
  last_step_ = std::max(step, last_step_);
}

void ProgressDisplay::Finish() {
  if (!drawn_) return;
  if (options_.tty) {
    out_ << "\r\033[K" << Describe(/*bar=*/true) << "\n" << std::flush;
  } else if (total_ == 0 || last_step_ < 10) {
    out_ << Describe(/*bar=*/false) << "\n" << std::flush;
  }
  drawn_ = false;
}

}  // namespace posta::node::cli
