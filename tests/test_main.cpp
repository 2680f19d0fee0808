#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>
#include <iostream>
#include <string>

#include "core/log.h"

namespace {

// How many test cases passed the filters of this run (set by the listener below).
int g_cases_passing_filters = -1;

// Records the run's statistics; prints nothing.
struct FilterCountListener : doctest::IReporter {
  explicit FilterCountListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override {
    g_cases_passing_filters = static_cast<int>(s.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("longvid_filter_count", 1, FilterCountListener);

}  // namespace

// --longvid-expect-one-case (added by ctest to every discovered test, tests/CMakeLists.txt): the run
// fails unless its --test-case filter selected exactly one test case. doctest itself exits 0 when a
// filter matches nothing, so a name that ctest splits or mangles (';') would otherwise "pass"
// without running anything; a name that is a wildcard or case-insensitive prefix of others would run
// several cases under one ctest name.
int main(int argc, char** argv) {
  longvid::init_logging(-1);
  bool expect_one = false;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--longvid-expect-one-case") == 0) expect_one = true;
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  if (expect_one && !ctx.shouldExit() && g_cases_passing_filters != 1) {
    std::cerr << "longvid_tests: the --test-case filter selected " << g_cases_passing_filters
              << " test cases, expected exactly 1 (a test name with ';', ',', '*' or '?', or one that differs "
                 "from another only in case?)\n";
    return rc ? rc : 3;
  }
  return rc;
}
