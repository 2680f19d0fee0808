#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace longvid {

using clock_type = std::chrono::steady_clock;

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) != 0),
      start_(clock_type::now()), last_print_(start_) {}

Progress::~Progress() {
  if (done_ > 0 && !finished_) finish();
}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto t = static_cast<int64_t>(std::llround(s));
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

std::string Progress::format_rate(double spi) {
  if (!std::isfinite(spi) || spi <= 0) return "? it/s";
  if (spi >= 1.0) return fmt::format("{:.2f} s/it", spi);
  return fmt::format("{:.2f} it/s", 1.0 / spi);
}

std::string Progress::render(int width) const {
  double elapsed = std::chrono::duration<double>(clock_type::now() - start_).count();
  double spi = done_ > 0 ? elapsed / static_cast<double>(done_) : NAN;
  double eta = done_ > 0 ? spi * static_cast<double>(total_ - done_) : NAN;
  std::string bar;
  if (width > 0 && total_ > 0) {
    int filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(done_) / static_cast<double>(total_));
    filled = std::max(0, std::min(width, filled));
    bar = "|" + std::string(static_cast<size_t>(filled), '=');
    if (filled < width) bar += ">" + std::string(static_cast<size_t>(width - filled - 1), ' ');
    bar += "| ";
  }
  std::string tail = done_ >= total_ ? fmt::format("{} total", format_duration(elapsed))
                                     : fmt::format("ETA {}", format_duration(eta));
  return fmt::format("{} {}{}/{}  {}  {}", label_, bar, done_, total_, format_rate(spi), tail);
}

void Progress::update(int64_t done) {
  done_ = std::min(done, total_);
  if (!enabled_) return;
  auto now = clock_type::now();
  if (tty_) {
    if (now - last_print_ < std::chrono::milliseconds(100) && done_ < total_) return;
    std::fprintf(stderr, "\r\033[K%s", render(30).c_str());
    std::fflush(stderr);
  } else {
    // Plain lines: every 10% of the work or every 10 seconds, whichever comes first.
    int64_t tenth = std::max<int64_t>(1, total_ / 10);
    bool due = done_ / tenth != last_printed_done_ / tenth || now - last_print_ > std::chrono::seconds(10);
    if (!due || done_ >= total_) return;  // the last line is printed by finish()
    std::fprintf(stderr, "%s\n", render(0).c_str());
    last_printed_done_ = done_;
  }
  last_print_ = now;
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s\n", render(30).c_str());
  else
    std::fprintf(stderr, "%s\n", render(0).c_str());
  std::fflush(stderr);
}

ProgressFn Progress::fn() {
  return [this](int64_t done, int64_t total) {
    total_ = total;
    update(done);
    if (done >= total) finish();  // the rate covers this work only, not what the caller does next
  };
}

}  // namespace longvid
