// `longvid train-rife`: the objective on a tiny run, resume bit for bit, the saved IFNet loads and
// interpolates, and bad options give one line.
#include <doctest/doctest.h>

#include "backbones/ifnet.h"
#include "core/assets.h"
#include "core/checkpoint.h"
#include "tests/helpers.h"
#include "train/rife_trainer.h"

using namespace longvid;

TEST_CASE("train-rife: resume equals an uninterrupted run, and the model loads as an IFNet") {
  test::ScratchDir dir("trainrife");
  auto data = dir / "data";
  auto r0 = test::run_cli({"-q", "synth", "-o", data.string(), "--videos", "2", "--frames", "12", "--size", "64",
                           "--seed", "3", "--format", "y4m"});
  REQUIRE(r0.exit_code == 0);
  auto a = dir / "a.safetensors", b = dir / "b.safetensors";
  const std::vector<std::string> common = {"train-rife", "--data", data.string(), "--steps", "4", "--batch", "2",
                                           "--warmup", "2", "--workers", "0", "--log-every", "2", "--save-every", "0"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = common;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  auto ra = test::run_cli(with({"-o", a.string()}));
  INFO(ra.err);
  REQUIRE(ra.exit_code == 0);
  CHECK(ra.out.find("4 steps") != std::string::npos);
  auto rb1 = test::run_cli(with({"-o", b.string(), "--stop-after", "2"}));
  REQUIRE(rb1.exit_code == 0);
  CHECK(rb1.out.find("stopped after 2 steps") != std::string::npos);
  CHECK(!std::filesystem::exists(b));  // nothing but the state until it finishes
  auto rb2 = test::run_cli(with({"-o", b.string(), "--resume"}));
  INFO(rb2.err);
  REQUIRE(rb2.exit_code == 0);
  CHECK(rb2.err.find("resumed at step 2") != std::string::npos);
  StateDict sa = load_checkpoint(a), sb = load_checkpoint(b);
  REQUIRE(sa.keys() == sb.keys());
  for (const auto& k : sa.keys()) CHECK_MESSAGE(at::equal(sa.get(k), sb.get(k)), k);
  CHECK(!std::filesystem::exists(b.string() + ".train-state"));
  // The file is an IFNet of the tiny preset's widths (the 4.26 layout) and interpolates.
  IFNet net = load_ifnet(a);
  CHECK(net->config().block_c == rife_train_preset("tiny").block_c);
  torch::NoGradGuard ng;
  at::Tensor x = at::rand({1, 3, 64, 64});
  at::Tensor y = net->forward(x, x, torch::tensor({0.5}), 1.0);
  CHECK(y.sizes() == x.sizes());
  RifeEvalResult e = eval_rife(net, {data}, 64, 4, 4, 1);
  CHECK(e.samples == 4);
  CHECK(e.psnr_blend > 10);
}

TEST_CASE("train-rife: bad options give one line") {
  test::ScratchDir dir("trainrifebad");
  auto out = (dir / "m.safetensors").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"train-rife", "-o", out}, "train-rife needs --data"},
      {{"train-rife", "--data", dir.path().string(), "-o", out, "--max-interval", "1"}, "--max-interval must be >= 2"},
      {{"train-rife", "--data", dir.path().string(), "-o", out, "--size", "48"}, "--size 48: must be a multiple of 64"},
      {{"train-rife", "--data", dir.path().string(), "-o", out, "--preset", "huge"}, "--preset 'huge'"},
      {{"train-rife", "--eval-only", out}, "--eval-only needs --eval-data"},
  };
  for (const auto& [args, want] : cases) {
    auto r = test::run_cli(args);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(want) != std::string::npos, r.err);
  }
  CHECK(dir.entries().empty());
}

TEST_CASE("train-rife: the bundled IFNet follows the sprites, beating blending on held-out frames") {
  test::ScratchDir dir("riftbundled");
  auto data = dir / "heldout";
  auto r0 = test::run_cli({"-q", "synth", "-o", data.string(), "--videos", "2", "--frames", "24", "--size", "64",
                           "--seed", "4242", "--format", "y4m"});
  REQUIRE(r0.exit_code == 0);
  IFNet net = load_ifnet(find_asset(kDefaultRifeAsset));
  CHECK(net->config().version == "longvid-tiny (4.26 layout)");
  RifeEvalResult e = eval_rife(net, {data}, 64, 64, 4, 12345);
  MESSAGE("bundled IFNet on " << e.samples << " held-out frames: " << e.psnr_model << " dB, blending "
                              << e.psnr_blend << " dB, repeating " << e.psnr_repeat << " dB");
  CHECK(e.samples == 64);
  CHECK(e.psnr_model > e.psnr_blend + 2.0);
  CHECK(e.psnr_model > e.psnr_repeat + 4.0);
}
