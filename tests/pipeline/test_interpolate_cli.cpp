// End-to-end: `longvid interpolate` (y4m in and out, so it runs without FFmpeg too) and
// `generate --rife-multi`, with the narrow IFNet fixture; bad input gives one line and leaves nothing.
#include <doctest/doctest.h>

#include "backbones/ifnet.h"
#include "core/checkpoint.h"
#include "core/video_io.h"
#include "pipeline/rife_interpolator.h"
#include "tests/helpers.h"

using namespace longvid;

namespace {
std::string model() { return (test::data_dir() / "rife" / "ifnet_mini.pkl").string(); }
int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}
}  // namespace

TEST_CASE("interpolate: the CLI writes what the streaming interpolator makes, at multi x the frame rate") {
  test::ScratchDir dir("rife");
  auto in = dir / "in.y4m", out = dir / "out.y4m";
  auto fx = load_checkpoint(test::data_dir() / "rife" / "video_cut.safetensors");
  const at::Tensor video = fx.get("input").slice(0, 0, 6);
  WriteOptions wo;
  wo.fps = Fps{8, 1};
  write_video(in, video, wo);
  auto r = test::run_cli({"interpolate", in.string(), "-o", out.string(), "--multi", "3", "--pad", "128", "--model",
                          model(), "--no-progress"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("6 frames at 8 fps, no audio") != std::string::npos);
  CHECK(r.out.find("16 frames at 24 fps (1 duplicate replaced, 1 scene cut not morphed)") != std::string::npos);
  VideoInfo info = probe_video(out);
  CHECK(info.frame_count == 16);
  CHECK(info.fps.num == 24);
  MemorySink want;
  RifeOptions o;
  o.multi = 3;
  o.pad = 128;
  {
    torch::NoGradGuard ng;
    RifeInterpolatingSink rife(load_ifnet(test::data_dir() / "rife" / "ifnet_mini.pkl"), o, want);
    push_frames(rife, video);
    rife.close();
  }
  CHECK(at::equal(read_video(out), want.tensor()));  // y4m round trip is exact
  // --exp 2 is multi 4.
  auto out4 = dir / "out4.y4m";
  auto r4 = test::run_cli({"interpolate", in.string(), "-o", out4.string(), "--exp", "2", "--model", model(),
                           "--no-progress", "--fps", "30"});
  REQUIRE(r4.exit_code == 0);
  CHECK(probe_video(out4).frame_count == 21);
  CHECK(probe_video(out4).fps.num == 30);
}

TEST_CASE("interpolate: bad input gives one error line, exit 1 and no output") {
  test::ScratchDir dir("rifebad");
  auto in = dir / "in.y4m", out = dir / "out.y4m";
  auto fx = load_checkpoint(test::data_dir() / "rife" / "video_cut.safetensors");
  write_video(in, fx.get("input").slice(0, 0, 3));
  const std::string not_ifnet = (test::data_dir() / "rife" / "video_cut.safetensors").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"interpolate", in.string(), "-o", out.string(), "--multi", "1", "--model", model()}, "--multi must be a whole number >= 2"},
      {{"interpolate", in.string(), "-o", out.string(), "--multi", "2.5", "--model", model()}, "--multi must be a whole number (got '2.5')"},
      {{"interpolate", in.string(), "-o", out.string(), "--scale", "3", "--model", model()}, "--scale must be 0.25, 0.5, 1, 2 or 4"},
      {{"interpolate", in.string(), "-o", out.string(), "--model", not_ifnet}, "not an IFNet checkpoint: no tensor 'block0.conv0.0.0.weight'"},
      {{"interpolate", in.string(), "-o", out.string(), "--checkpoint-every", "0", "--model", model()}, "--checkpoint-every must be >= 1"},
      {{"interpolate", in.string(), "-o", out.string(), "--checkpoint-every", "1e3", "--model", model()}, "--checkpoint-every must be a whole number"},
      {{"interpolate", (dir / "missing.y4m").string(), "-o", out.string(), "--model", model()}, "no such file"},
      {{"interpolate", in.string(), "-o", in.string(), "--model", model()}, "the output would replace the input"},
      {{"interpolate", in.string(), "-o", out.string(), "--pad", "96", "--model", model()}, "--pad 96: must be a multiple of 64"},
      {{"generate", "--model", "random", "--frames", "4", "-o", out.string(), "--rife-multi", "1", "--rife-model", model()}, "--rife-multi must be a whole number >= 2"},
  };
  for (const auto& [args, want] : cases) {
    auto r = test::run_cli(args);
    CAPTURE(args[3]);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(want) != std::string::npos, r.err);
    CHECK(count_lines(r.err) == 1);
  }
  CHECK(dir.entries() == std::vector<std::string>{"in.y4m"});
}

TEST_CASE("interpolate: generate --rife-multi streams the decoded frames through RIFE") {
  test::ScratchDir dir("genrife");
  auto out = dir / "g.y4m";
  auto r = test::run_cli({"generate", "--model", "random", "--frames", "8", "--steps", "2", "--seed", "3", "-o",
                          out.string(), "--rife-multi", "2", "--rife-model", model(), "--fps", "8"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  VideoInfo info = probe_video(out);
  CHECK(info.frame_count == 15);
  CHECK(info.fps.num == 16);
  // Without --rife-model: the bundled IFNet.
  auto out2 = dir / "g2.y4m";
  auto r2 = test::run_cli({"generate", "--model", "random", "--frames", "8", "--steps", "2", "--seed", "3", "-o",
                           out2.string(), "--rife-multi", "3"});
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  CHECK(r2.err.find("longvid-tiny (4.26 layout)") != std::string::npos);
  CHECK(probe_video(out2).frame_count == 22);
}
