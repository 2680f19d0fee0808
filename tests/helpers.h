// Shared test helpers: scratch directories, running the longvid CLI as a user would.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace longvid::test {

// The fixtures: this checkout's tests/data, or $LONGVID_TEST_DATA_DIR for a test binary run from
// another checkout (tools/bench/gpu_check.sh --prebuilt; the tests that use data_dir(), which the
// CUDA tests do).
inline std::filesystem::path data_dir() {
  const char* env = std::getenv("LONGVID_TEST_DATA_DIR");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(LONGVID_TEST_DATA);
}

// A fresh, empty directory under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag = "t");
  ~ScratchDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Names of the entries in the directory (to check that nothing half-written was left behind).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the built `longvid` binary with the given arguments (each shell-quoted).
CliResult run_cli(const std::vector<std::string>& args);
// Runs any program the same way.
CliResult run_program(const std::string& program, const std::vector<std::string>& args);

// Starts the longvid CLI in the background (stdin /dev/null, stdout and stderr to `log`); returns
// its process id (reap it with waitpid).
int spawn_cli(const std::vector<std::string>& args, const std::filesystem::path& log);

// Sets an environment variable (seen by the CLI runs started meanwhile) and restores it on exit.
// OMP_NUM_THREADS=1 keeps CLI-heavy tests fast on a loaded machine: torch's thread pool would
// oversubscribe the cores (5x slower); runs compared with each other must all use it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// Marks an opt-in test whose precondition is absent: prints "LONGVID_SKIPPED: <reason>" on stdout,
// which ctest's SKIP_REGULAR_EXPRESSION (tests/CMakeLists.txt) reports as "Skipped". The caller
// returns right after, before any check.
void report_skipped(const std::string& reason);

// Number of non-empty lines in s.
int count_lines(const std::string& s);

}  // namespace longvid::test
