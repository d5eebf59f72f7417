// ProgressDisplay: how a long CLI task (import, export, backup, demo seed)
// shows progress on stderr.
//
// On a terminal: one bar redrawn in place, at most 10 times a second.
// Otherwise (a pipe, a log file, journald): after a quiet first second, one
// line per 10% step, or one every `line_interval` when the total is unknown
// or progress is slow: "import: 40% 12000 records 3100/s".
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "posta/base/clock.h"

namespace posta::node::cli {

// "512 B", "12.3 KiB", "4.0 MiB", "1.2 GiB".
std::string FormatBytes(int64_t bytes);

class ProgressDisplay {
 public:
  enum class Unit {
    kItems,  // done/total count items (records, pages)
    kBytes,  // done/total count bytes; items are counted separately
  };
  struct Options {
    std::string label;  // "import"
    Unit unit = Unit::kItems;
    std::string item_name = "records";
    bool tty = false;  // draw a bar instead of lines
    std::chrono::milliseconds redraw_interval{100};
    std::chrono::milliseconds quiet_period{1000};
    std::chrono::milliseconds line_interval{10000};
  };

  // `out` and `clock` are not owned and must outlive the display.
  ProgressDisplay(std::ostream& out, Options options, base::Clock& clock);

  // `done` and `total` are in the unit (total 0: unknown); `items` is the
  // number of items done, for the rate.
  void Update(int64_t done, int64_t total, int64_t items);
  // Draws the final state and ends the line (if anything was drawn).
  void Finish();

 private:
  std::string Describe(bool bar) const;

  std::ostream& out_;
  const Options options_;
  base::Clock& clock_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
  int last_step_ = 0;  // tenths printed in line mode
  int64_t done_ = 0;
  int64_t total_ = 0;
  int64_t items_ = 0;
};

}  // namespace posta::node::cli
