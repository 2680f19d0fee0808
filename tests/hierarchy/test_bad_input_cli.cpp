// Bad input to the commands that write videos: out-of-range encoder options, a disk that fills up
// during a long run. Each gives one error line, leaves no partial output, and keeps a long run
// resumable.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/video_io.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::string shq(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void check_one_error(const test::CliResult& r, const std::string& want) {
  CHECK(r.exit_code == 1);
  const auto at = r.err.find("longvid: error: ");
  CHECK(at != std::string::npos);
  CHECK(r.err.find("longvid: error: ", at + 1) == std::string::npos);  // one error line
  CHECK(r.err.find('\n', at) + 1 >= r.err.size());                       // the last line
  CHECK(r.err.find(want) != std::string::npos);
}

}  // namespace

TEST_CASE("bad input: --crf outside the encoder's range is refused with the range") {
  test::ScratchDir dir("crf");
  write_video(dir / "in.y4m", torch::zeros({4, 16, 16, 3}, torch::kUInt8));
  const std::string in = (dir / "in.y4m").string();
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::vector<Case> cases = {
      {{"generate", "--model", "random", "--crf", "1000", "-o", (dir / "o.y4m").string()}, "--crf 1000: out of range"},
      {{"generate", "--model", "random", "--crf", "-2", "-o", (dir / "o.y4m").string()}, "--crf -2: out of range"},
      {{"video", "convert", in, (dir / "o.y4m").string(), "--crf", "64"}, "has no crf"},
  };
  if (ffmpeg_available()) {
    cases.push_back({{"generate", "--model", "random", "--crf", "1000", "-o", (dir / "o.mp4").string()},
                     "libx264 takes 0-51"});
    cases.push_back({{"generate", "--model", "random", "--crf", "52", "-o", (dir / "o.mp4").string()}, "0-51"});
    cases.push_back({{"generate", "--model", "random", "--crf", "64", "-o", (dir / "o.webm").string()},
                     "libvpx-vp9 takes 0-63"});
    cases.push_back({{"extend", in, "--model", "random", "--random-latent-size", "2", "--frames", "8", "--crf", "99",
                      "-o", (dir / "o.mp4").string()},
                     "0-51"});
    cases.push_back({{"video", "convert", in, (dir / "o.mp4").string(), "--crf", "1000"}, "0-51"});
  }
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args);
    INFO(fmt::format("{}", fmt::join(c.args, " ")), " -> ", r.err);
    check_one_error(r, c.want);
    CHECK(r.err.find("VP9/AV1 (webm): 0-63") != std::string::npos);  // every codec's range
  }
  CHECK(dir.entries() == std::vector<std::string>{"in.y4m"});
}

TEST_CASE("bad input: a disk that fills up stops generate at the first failed write, resumable") {
  // A file-size limit (ulimit -f, SIGXFSZ ignored) makes every write past it fail with EFBIG, as a
  // full disk does with ENOSPC; the limit is above the run's state files and far below the video.
  test::ScratchDir dir("diskfull");
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");  // fast on a loaded machine; all runs alike
  const auto out = dir / "v.y4m", ref = dir / "ref.y4m";
  const std::vector<std::string> args = {"generate", "--model", "random", "--frames", "512", "--steps", "2",
                                         "--random-latent-size", "4", "--uncond-guidance", "0", "--seed", "6",
                                         "--decode-window", "8", "--decode-overlap", "2"};
  auto cmd = [&](const fs::path& o, bool resume) {
    std::string c;
    for (const auto& a : args) c += " " + shq(a);
    return c + " -o " + shq(o.string()) + (resume ? " --resume" : "");
  };
  auto full = test::run_program("/bin/sh", {"-c", "trap '' XFSZ; ulimit -f 400; exec " + shq(LONGVID_CLI) + cmd(out, false)});
  INFO(full.err);
  check_one_error(full, "v.y4m");
  CHECK(full.err.find("File too large") != std::string::npos);
  // Stopped at the first failed write: the state holds fewer rounds than the run has.
  const auto state = dir / "v.y4m.longvid-run" / "state.safetensors";
  REQUIRE(fs::exists(state));
  auto meta = nlohmann::json::parse(load_checkpoint(state).metadata.at("longvid.long_video_state"));
  const int64_t done = meta.at("rounds_done").get<int64_t>();
  MESSAGE("the write failed after " << done << " committed rounds");
  CHECK(done >= 1);
  CHECK(done < 10);  // 512 frames: 15 rounds
  CHECK(dir.entries() == std::vector<std::string>{"v.y4m.longvid-run"});  // no partial output
  // Space again: --resume finishes the run, equal to an uninterrupted one.
  auto again = test::run_program("/bin/sh", {"-c", "exec " + shq(LONGVID_CLI) + cmd(out, true)});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  auto straight = test::run_program("/bin/sh", {"-c", "exec " + shq(LONGVID_CLI) + cmd(ref, false)});
  REQUIRE(straight.exit_code == 0);
  CHECK(slurp(out) == slurp(ref));
  CHECK(dir.entries() == std::vector<std::string>{"ref.y4m", "v.y4m"});
}

TEST_CASE("bad input: nonsense option values and a convert onto its input give one error line, no output") {
  test::ScratchDir dir("nonsense");
  write_video(dir / "in.y4m", torch::zeros({4, 16, 16, 3}, torch::kUInt8));
  const std::string in = (dir / "in.y4m").string(), out = (dir / "o.y4m").string();
  const std::string before = slurp(dir / "in.y4m");
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"generate", "--model", "random", "--decode-window", "-9", "-o", out}, "--decode-window -9"},
      {{"generate", "--model", "random", "--decode-overlap", "-5", "-o", out}, "--decode-overlap -5"},
      {{"extend", in, "--model", "random", "--frames", "8", "--decode-window", "-9", "-o", out}, "--decode-window -9"},
      {{"generate", "--model", "random", "--random-latent-size", "100000", "-o", out}, "from 2 to 128"},
      {{"video", "convert", in, in}, "the output would replace the input"},
      {{"video", "convert", in, (dir / "." / "in.y4m").string()}, "the output would replace the input"},
  };
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args);
    INFO(fmt::format("{}", fmt::join(c.args, " ")), " -> ", r.err);
    check_one_error(r, c.want);
  }
  CHECK(dir.entries() == std::vector<std::string>{"in.y4m"});
  CHECK(slurp(dir / "in.y4m") == before);
}

TEST_CASE("bad input: a condition noise level the model was not trained with fails before the run starts") {
  // The level is checked before the first clip: no half-made run directory, no output.
  test::ScratchDir dir("noiselevel");
  auto r = test::run_cli({"generate", "--model", "random", "--frames", "64", "--steps", "1", "--random-latent-size", "2",
                          "--cond-noise-level", "250", "-o", (dir / "v.y4m").string()});
  INFO(r.err);
  check_one_error(r, "--cond-noise-level 250");
  CHECK(r.err.find("noise levels 0..249") != std::string::npos);
  CHECK(dir.entries().empty());
}
