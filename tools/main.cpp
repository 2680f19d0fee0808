// longvid: entry point. Global flags, subcommand dispatch, and the one place where errors become
// a single "longvid: error: ..." line and a non-zero exit status.
#include <c10/util/Exception.h>
#include <cxxopts.hpp>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <malloc.h>
#include <iostream>

#include "core/error.h"
#include "core/log.h"
#include "tools/cli.h"

namespace longvid::cli {

static std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
bool register_command(Command cmd) {
  registry().push_back(std::move(cmd));
  return true;
}
const std::vector<Command>& commands() { return registry(); }

}  // namespace longvid::cli

namespace {

void print_usage(FILE* out) {
  std::fprintf(out,
               "longvid %s: long video generation with latent diffusion (LibTorch engine)\n\n"
               "usage: longvid [-v|-vv|-q] <command> [options]\n"
               "       longvid <command> --help\n\ncommands:\n",
               LONGVID_VERSION);
  auto cmds = longvid::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& c : cmds) std::fprintf(out, "  %-12s %s\n", c.name.c_str(), c.summary.c_str());
  std::fprintf(out,
               "\nglobal options:\n"
               "  -v, -vv      debug / trace logging\n"
               "  -q           warnings and errors only\n"
               "  --version    print the version and exit\n"
               "  -h, --help   this help\n");
}

// First line of a message (c10::Error carries a backtrace after it).
std::string first_line(const char* what) {
  std::string s(what ? what : "unknown error");
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

// Keeps freed tensor memory in the process. glibc serves blocks above its mmap threshold (at most 32 MiB)
// with fresh mmaps and returns them with munmap on free, so every large activation of every step
// page-faults its memory in again: at 720p half of RIFE's time went to the kernel (sys 11.4 s of 26.7 s;
// 1.5 s of 14.8 s without). The CLI owns the process, so it sets this; the library does not.
// It also asks PyTorch's CPU allocator for transparent huge pages (THP_MEM_ALLOC_ENABLE=1, read by
// c10 at its first allocation: blocks of 2 MiB and more are 2 MiB-aligned and madvise'd
// MADV_HUGEPAGE), so a large activation faults in 2 MiB at a time: a sky.yaml clip's `generate` (16
// frames of 256², 4.5 GB checkpoint, 2 threads) took 1.45 M page faults and 26.1-27.2 s without,
// 0.17 M and 22.8-23.8 s with, and 0.8 GB less peak memory (docs/performance.md, "Session 23"; where the
// kernel's THP setting is `never`, nothing changes). A THP_MEM_ALLOC_ENABLE already set is kept.
// Trimming is off altogether (-1; mallopt's int cannot say more than 2 GiB, and a heap whose free top
// passed INT_MAX was given back to the kernel after every large free: a 256² decode refaulted its 2 GiB
// working set on every call, 11.9 s instead of 9.4 s a call once warm).
// LONGVID_MALLOC=default keeps glibc's and PyTorch's behaviour.
void configure_allocator() {
  const char* m = std::getenv("LONGVID_MALLOC");
  if (m && std::strcmp(m, "default") == 0) return;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);  // mallopt(3): -1 disables trimming completely
  setenv("THP_MEM_ALLOC_ENABLE", "1", /*overwrite=*/0);
}

namespace {
int run_main(int argc, char** argv);
}  // namespace

// Runs the command, then ends the process without running static destructors: every command has
// closed (and atomically renamed) its outputs when it returns, and the library's teardown (thread
// pools, the allocator's caches, a 4.5 GB checkpoint's mapping) only costs time: 60 ms of a 0.65 s
// `generate` of the default model went to it, 50 of them waiting on a thread pool's futex
// (docs/performance.md, "Session 18"). The streams are flushed first.
int main(int argc, char** argv) {
  const int rc = run_main(argc, argv);
  spdlog::default_logger()->flush();
  const bool out_flushed = std::fflush(stdout) == 0;
  if (!out_flushed) std::fprintf(stderr, "longvid: error: writing standard output failed\n");
  std::fflush(stderr);
  std::_Exit(rc == 0 && !out_flushed ? longvid::cli::kExitError : rc);
}

namespace {
int run_main(int argc, char** argv) {
  using namespace longvid;
  int verbosity = 0;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-v") verbosity = std::max(verbosity, 1);
    else if (a == "-vv") verbosity = 2;
    else if (a == "-q") verbosity = -1;
    else if (a == "--version") {
      std::printf("longvid %s\n", LONGVID_VERSION);
      return 0;
    } else if (a == "-h" || a == "--help") {
      print_usage(stdout);
      return 0;
    } else break;
  }
  if (i >= argc) {
    print_usage(stderr);
    return cli::kExitUsage;
  }
  init_logging(verbosity);
  configure_allocator();
  std::string name = argv[i];
  const cli::Command* cmd = nullptr;
  for (const auto& c : cli::commands())
    if (c.name == name) cmd = &c;
  if (!cmd) {
    std::fprintf(stderr, "longvid: error: unknown command '%s' (see longvid --help)\n", name.c_str());
    return cli::kExitUsage;
  }
  // The subcommand sees "longvid <name>" as argv[0]; global flags after the name pass through
  // as the command's own -v handling is done by cxxopts-less scanning here.
  std::string prog = "longvid " + name;
  std::vector<char*> sub_argv;
  sub_argv.push_back(prog.data());
  for (int k = i + 1; k < argc; ++k) {
    if (std::strcmp(argv[k], "-v") == 0 || std::strcmp(argv[k], "-vv") == 0) {
      spdlog::set_level(std::strcmp(argv[k], "-v") == 0 ? spdlog::level::debug : spdlog::level::trace);
      continue;
    }
    sub_argv.push_back(argv[k]);
  }
  try {
    return cmd->run(static_cast<int>(sub_argv.size()), sub_argv.data());
  } catch (const Error& e) {
    std::fprintf(stderr, "longvid: error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "  hint: %s\n", e.hint().c_str());
    return cli::kExitError;
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "longvid %s: error: %s (see longvid %s --help)\n", name.c_str(), e.what(), name.c_str());
    return cli::kExitUsage;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "longvid: error: %s\n", first_line(e.what_without_backtrace()).c_str());
    return cli::kExitError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "longvid: error: out of memory\n");
    return cli::kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "longvid: error: %s\n", first_line(e.what()).c_str());
    return cli::kExitError;
  }
}
}  // namespace
