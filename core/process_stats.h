// Memory of this process (Linux /proc; -1 elsewhere), for benchmarks and memory reports.
#pragma once
#include <cstdint>

namespace longvid {

int64_t rss_kib();       // VmRSS: resident now, KiB
int64_t peak_rss_kib();  // VmHWM: peak resident since start (or since reset_peak_rss), KiB
// Resets VmHWM to the current RSS (writes 5 to /proc/self/clear_refs; Linux >= 4.0). False when
// the kernel refuses (the peak then stays the process's).
bool reset_peak_rss();

}  // namespace longvid
