// kill -9 during `longvid generate`, then the same command with --resume: the video equals an
// uninterrupted run's, byte for byte. The kill lands at chosen points of the run (polled from the
// run's state directory), and the test fails unless the process was really killed mid-run.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

// 256 frames of the tiny model: 64 latents, 7 prediction rounds (+ 21 interpolation clips).
const std::vector<std::string> kBase = {"generate", "--model", "random", "--frames", "256", "--steps", "2",
                                        "--random-latent-size", "4", "--uncond-guidance", "0", "--seed", "9",
                                        "--decode-window", "8", "--decode-overlap", "2"};

std::vector<std::string> with(std::vector<std::string> extra) {
  auto a = kBase;
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// rounds_done of the committed state, -1 when there is none (yet).
int64_t rounds_done(const fs::path& state_dir) {
  std::error_code ec;
  if (!fs::exists(state_dir / "state.safetensors", ec)) return -1;
  try {
    auto sd = load_checkpoint(state_dir / "state.safetensors");
    return nlohmann::json::parse(sd.metadata.at("longvid.long_video_state")).at("rounds_done").get<int64_t>();
  } catch (...) {
    return -1;  // replaced while being read: poll again
  }
}

// Starts the run and SIGKILLs it once `ready()` holds. Returns false (with the reason in `why`) if
// the run ended on its own before the kill (then nothing was interrupted).
bool run_and_kill(const std::vector<std::string>& args, const fs::path& log, const std::function<bool()>& ready,
                  std::string& why) {
  int pid = test::spawn_cli(args, log);
  REQUIRE(pid > 0);
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (true) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      why = "the run ended (status " + std::to_string(status) + ") before the kill point was reached: " + slurp(log);
      return false;
    }
    if (ready()) break;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(300)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      why = "the kill point was not reached in 300 s";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
    why = "the run finished before the SIGKILL landed (status " + std::to_string(status) + ")";
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("long_video: kill -9 at three points of generate, then --resume, gives the uninterrupted video") {
  test::ScratchDir dir("lvkill");
  // One thread per run (test::ScopedEnv): every run here uses the same count.
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");
  auto ref = dir / "ref.y4m", out = dir / "out.y4m";
  const fs::path state = dir / "out.y4m.longvid-run";
  auto r0 = test::run_cli(with({"-o", ref.string()}));
  REQUIRE(r0.exit_code == 0);
  const std::string want = slurp(ref);
  REQUIRE(want.size() > 1000);

  struct Point {
    const char* name;
    std::vector<std::string> extra;
    std::function<bool()> ready;
    bool checkpointed;  // a state.safetensors exists after the kill
  };
  std::error_code ec;
  const Point points[] = {
      // No checkpoint until the end (--checkpoint-every 1000): killed while latents are logged but
      // none is committed; --resume must start afresh.
      {"before the first checkpoint",
       {"--checkpoint-every", "1000"},
       [&] { return fs::file_size(state / "latents.f32", ec) >= 4096 && !ec; },
       false},
      {"after the first committed round", {}, [&] { return rounds_done(state) >= 1; }, true},
      {"after a later committed round", {}, [&] { return rounds_done(state) >= 4; }, true},
  };
  for (const auto& pt : points) {
    const std::string name = pt.name;
    INFO("kill point: " << name);
    auto args = with({"-o", out.string()});
    args.insert(args.end(), pt.extra.begin(), pt.extra.end());
    std::string why;
    bool killed = run_and_kill(args, dir / "log.txt", pt.ready, why);
    INFO(why);
    REQUIRE(killed);  // the kill must land mid-run, or the test proves nothing
    fs::remove(dir / "log.txt");
    CHECK_FALSE(fs::exists(out));
    const int64_t done = rounds_done(state);
    MESSAGE(name << ": killed with " << done << " of 7 rounds committed");
    if (pt.checkpointed) {
      REQUIRE(done >= 1);
      // Without --resume: refused, nothing lost.
      auto r1 = test::run_cli(args);
      CHECK(r1.exit_code == 1);
      CHECK(r1.err.find("--resume") != std::string::npos);
      // As if also killed during a latent-log append (bytes past the committed length) and during
      // the output's final write (a temp file of the output left behind).
      std::ofstream(state / "latents.f32", std::ios::app | std::ios::binary) << std::string(100, 'x');
      std::ofstream(dir / ".out.y4m.tmp0badf00d.y4m") << "partial";
    } else {
      CHECK(done == -1);
      CHECK(fs::exists(state / "latents.f32"));
    }
    auto resume_args = args;
    resume_args.push_back("--resume");
    auto r2 = test::run_cli(resume_args);
    INFO(r2.err);
    REQUIRE(r2.exit_code == 0);
    if (pt.checkpointed)
      CHECK(r2.err.find("resuming from") != std::string::npos);
    else
      CHECK(r2.err.find("holds no checkpoint yet") != std::string::npos);
    CHECK(slurp(out) == want);
    auto names = dir.entries();
    CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>{"ref.y4m", "out.y4m"});
    fs::remove(out);
  }
}

TEST_CASE("long_video: --resume with no state directory just runs") {
  test::ScratchDir dir("lvnostate");
  auto out = dir / "v.y4m";
  auto r = test::run_cli({"generate", "--model", "random", "--frames", "40", "--steps", "2", "--random-latent-size", "4",
                          "--seed", "2", "--resume", "-o", out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("nothing to resume") != std::string::npos);
  CHECK(fs::exists(out));
  CHECK(dir.entries() == std::vector<std::string>{"v.y4m"});
}
