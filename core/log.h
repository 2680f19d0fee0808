// Logging through spdlog. Everything logs to stderr; stdout is kept for command output
// (inspect listings, JSON). verbosity: -1 quiet (warnings+), 0 info, 1 debug (-v), 2 trace (-vv).
#pragma once
#include <spdlog/spdlog.h>

namespace longvid {
void init_logging(int verbosity);
}  // namespace longvid
