// The guard that makes every ctest test select exactly one doctest case (tests/test_main.cpp).
#include <doctest/doctest.h>

#include "tests/helpers.h"

namespace {

longvid::test::CliResult run_self(const std::vector<std::string>& args) {
  // run_cli runs the longvid CLI; here the test binary itself is wanted.
  return longvid::test::run_program(std::filesystem::read_symlink("/proc/self/exe").string(), args);
}

}  // namespace

TEST_CASE("test names: guard probe alpha") { CHECK(true); }
TEST_CASE("test names: guard probe beta") { CHECK(true); }

TEST_CASE("test names: a ctest name must select exactly one doctest case") {
  auto one = run_self({"--test-case=test names: guard probe alpha", "--longvid-expect-one-case"});
  CHECK(one.exit_code == 0);
  // Two cases under one name (a wildcard, or a name that is another's prefix up to case).
  auto two = run_self({"--test-case=test names: guard probe*", "--longvid-expect-one-case"});
  CHECK(two.exit_code != 0);
  CHECK(two.err.find("selected 2 test cases, expected exactly 1") != std::string::npos);
  // What ctest ran for the halves of a name split at ';': nothing matched, doctest alone exits 0.
  auto none = run_self({"--test-case=vae3d: loading reports every problem at once", "--longvid-expect-one-case"});
  CHECK(none.exit_code != 0);
  CHECK(none.err.find("selected 0 test cases") != std::string::npos);
  auto plain = run_self({"--test-case=vae3d: loading reports every problem at once"});
  CHECK(plain.exit_code == 0);
}
