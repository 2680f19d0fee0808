// Progress reporting for long work: a bar on a terminal
//   "denoise |=========>          | 17/50  2.31 s/it  ETA 1m16s"
// and plain lines (every ~10% or 10 s) when stderr is not a terminal (logs, CI).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace longvid {

// Callback samplers and planners call after each unit of work: (done, total).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  void update(int64_t done);          // absolute position
  void step(int64_t n = 1) { update(done_ + n); }
  void finish();                      // prints the final line (idempotent)
  ProgressFn fn();                    // adapter for APIs that take a ProgressFn

  // Formatting helpers (exposed for tests).
  static std::string format_duration(double seconds);
  static std::string format_rate(double seconds_per_item);
  std::string render(int width) const;

 private:
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
  int64_t last_printed_done_ = -1;
};

}  // namespace longvid
