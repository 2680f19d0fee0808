// The longvid command line: each subcommand lives in tools/cmd_<name>.cpp and registers itself
// with LONGVID_COMMAND. main.cpp handles global flags, dispatch and error reporting.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace longvid::cli {

// A subcommand gets its own argv: argv[0] is "longvid <name>".
using CommandFn = std::function<int(int argc, char** argv)>;

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

bool register_command(Command cmd);
const std::vector<Command>& commands();

// Common exit codes.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;   // a longvid::Error (bad input, bad file, ...)
constexpr int kExitUsage = 2;   // bad command line

}  // namespace longvid::cli

#define LONGVID_CLI_CAT2(a, b) a##b
#define LONGVID_CLI_CAT(a, b) LONGVID_CLI_CAT2(a, b)
#define LONGVID_COMMAND(name, summary, fn) \
  static const bool LONGVID_CLI_CAT(longvid_cmd_registered_, __LINE__) = \
      ::longvid::cli::register_command({name, summary, fn})
