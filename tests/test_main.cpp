#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "core/log.h"

int main(int argc, char** argv) {
  longvid::init_logging(-1);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
