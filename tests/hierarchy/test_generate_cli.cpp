// End-to-end: `longvid generate` with the random-weight tiny model (no model arguments).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/video_io.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {
std::string slurp_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("generate: tiny random model, frame count trimmed, reproducible by seed") {
  test::ScratchDir dir("gen");
  auto a = dir / "a.y4m", b = dir / "b.y4m", c = dir / "c.y4m";
  auto r1 = test::run_cli({"generate", "--model", "random", "--frames", "10", "--steps", "4", "--seed", "7", "-o", a.string()});
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(r1.err.find("random weights") != std::string::npos);   // says so
  CHECK(r1.err.find("generating 12 and keeping the first 10") != std::string::npos);
  auto v = read_video(a);
  CHECK(v.sizes() == at::IntArrayRef({10, 64, 64, 3}));
  CHECK(v.to(at::kFloat).std().item<double>() > 1.0);  // not a constant picture

  auto r2 = test::run_cli({"generate", "--model", "random", "--frames", "10", "--steps", "4", "--seed", "7", "-o", b.string()});
  REQUIRE(r2.exit_code == 0);
  CHECK(slurp_bytes(a) == slurp_bytes(b));  // same seed: bit-identical
  auto r3 = test::run_cli({"generate", "--model", "random", "--frames", "10", "--steps", "4", "--seed", "8", "-o", c.string()});
  REQUIRE(r3.exit_code == 0);
  CHECK(slurp_bytes(a) != slurp_bytes(c));
}

#ifdef LONGVID_WITH_FFMPEG
TEST_CASE("generate: playable mp4 with the requested frame count") {
  test::ScratchDir dir("genmp4");
  auto out = dir / "clip.mp4";
  auto r = test::run_cli({"generate", "--model", "random", "--frames", "16", "--steps", "3", "--sampler", "dpmpp-2m", "--seed", "1", "-o", out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto info = probe_video(out);
  CHECK(info.frame_count == 16);
  CHECK(info.width == 64);
  CHECK(info.height == 64);
  CHECK(info.codec == "h264");
}
#endif

TEST_CASE("generate: bad options give one error line and no output") {
  test::ScratchDir dir("genbad");
  auto out = (dir / "x.y4m").string();
  const std::vector<std::vector<std::string>> cases = {
      {"generate", "--model", "random", "--frames", "0", "-o", out},
      {"generate", "--model", "random", "--sampler", "euler-magic", "-o", out},
      {"generate", "--model", "random", "--steps", "0", "-o", out},
      {"generate", "--model", (dir / "missing.ckpt").string(), "--config", (dir / "missing.yaml").string(), "-o", out},
      {"generate", "--model", (dir / "missing.ckpt").string(), "-o", out},
      {"generate", "--model", "random", "--device", "tpu", "-o", out},
      {"generate", "--model", "random", "-o", (dir / "x.unknownext").string()},
  };
  for (const auto& args : cases) {
    auto r = test::run_cli(args);
    INFO(args[1], " ", args[2], " -> ", r.err);
    CHECK(r.exit_code != 0);
    // One error line (a "hint:" line may follow it; earlier log lines are not errors).
    CHECK(r.err.find("longvid: error: ") != std::string::npos);
    CHECK(r.err.find("error", r.err.find("longvid: error: ") + 15) == std::string::npos);
    CHECK(dir.entries().empty());
  }
}

TEST_CASE("generate: --dtype bf16 casts the weights (or autocasts with --autocast), --vae-dtype bf16 decodes in bf16, near the fp32 video") {
  test::ScratchDir dir("genbf16");
  auto run = [&](const std::string& name, std::vector<std::string> extra, const std::string& says = "") {
    std::vector<std::string> args = {"generate", "--model", "random", "--frames", "4", "--steps", "2", "--sampler",
                                     "dpmpp-2m", "--seed", "2", "-o", (dir / (name + ".y4m")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = test::run_cli(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    if (!says.empty()) CHECK(r.err.find(says) != std::string::npos);  // the model line names the precision
    at::Tensor v = read_video(dir / (name + ".y4m"));
    CHECK(v.sizes() == at::IntArrayRef({4, 64, 64, 3}));
    return v.to(at::kDouble);
  };
  const at::Tensor ref = run("fp32", {});
  struct Case {
    std::string name;
    std::vector<std::string> extra;
    std::string says;
  };
  for (const auto& [name, extra, says] : std::vector<Case>{
           {"bf16", {"--dtype", "bf16"}, "denoiser in BFloat16 (weights cast, norms fp32)"},
           {"autocast", {"--dtype", "bf16", "--autocast"}, "denoiser in BFloat16 (autocast)"},
           {"vae-bf16", {"--vae-dtype", "bf16"}, "autoencoder in BFloat16"}}) {
    const at::Tensor v = run(name, extra, says);
    const double mse = (v - ref).pow(2).mean().item<double>();
    const double psnr = 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-12));
    MESSAGE(name << " vs fp32: PSNR " << psnr << " dB");
    CHECK(mse > 0);       // it ran in bf16
    CHECK(psnr > 30.0);   // and stays near the fp32 video
  }
  for (const char* opt : {"--dtype", "--vae-dtype"}) {
    auto r = test::run_cli({"generate", "--model", "random", "--frames", "4", "--steps", "2", opt, "fp8", "-o",
                            (dir / "bad.y4m").string()});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find(std::string(opt) + " 'fp8'") != std::string::npos);
    CHECK(!fs::exists(dir / "bad.y4m"));
  }
}

TEST_CASE("generate: a long video into a PNG directory or pattern keeps its run state next to it, not inside") {
  test::ScratchDir dir("gen-png");
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  for (const std::string out : {"frames/", "pattern/%05d.png"}) {
    INFO(out);
    const auto target = dir.path() / out;
    auto r = test::run_cli({"generate", "--model", "random", "--random-latent-size", "2", "--frames", "40", "--steps",
                            "2", "--seed", "1", "-o", target.string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto folder = target.string().back() == '/' ? fs::path(target.string().substr(0, target.string().size() - 1))
                                                      : target.parent_path();
    int pngs = 0, other = 0;
    for (const auto& e : fs::directory_iterator(folder)) (e.path().extension() == ".png" ? pngs : other) += 1;
    CHECK(pngs == 40);
    CHECK(other == 0);
    CHECK_FALSE(fs::exists(folder.string() + ".longvid-run"));  // removed when the run ended
  }
}
