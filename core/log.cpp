#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace longvid {

void init_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("longvid");
  logger->set_pattern("%^[%L]%$ %v");
  spdlog::level::level_enum lvl = spdlog::level::info;
  if (verbosity < 0) lvl = spdlog::level::warn;
  if (verbosity == 1) lvl = spdlog::level::debug;
  if (verbosity >= 2) lvl = spdlog::level::trace;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace longvid
