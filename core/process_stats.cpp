#include "core/process_stats.h"

#include <fstream>
#include <sstream>
#include <string>

namespace longvid {

namespace {
int64_t status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = key;
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) {
      std::istringstream is(line.substr(k.size()));
      int64_t kib = -1;
      is >> kib;
      return kib;
    }
  return -1;
}
}  // namespace

int64_t rss_kib() { return status_kib("VmRSS:"); }
int64_t peak_rss_kib() { return status_kib("VmHWM:"); }

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace longvid
