// `longvid vae reconstruct | encode | decode` end to end, with a small random-weight LVDM 3D AE
// (official [4, 8, 8] layout, n_hiddens 16) that the test writes to safetensors itself.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/checkpoint.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {

LvdmAe3dConfig small_cfg() {
  LvdmAe3dConfig c;
  c.n_hiddens = 16;
  c.decoder_n_hiddens = 16;
  return c;  // downsample/upsample {4, 8, 8}: what infer() assumes
}

// Writes the AE's parameters under official names (optionally with a prefix).
void write_random_ae(const std::filesystem::path& path, const std::string& prefix = "") {
  torch::manual_seed(3);
  LvdmAutoencoder3D ae(small_cfg());
  StateDict sd;
  for (const auto& p : ae->named_parameters(true)) sd.set(prefix + p.key(), p.value().detach().clone());
  save_safetensors(path, sd);
}

// A smooth synthetic clip: uint8 [T, H, W, 3].
at::Tensor synthetic_clip(int64_t T, int64_t H, int64_t W) {
  auto t = torch::arange(T, torch::kFloat).view({T, 1, 1, 1});
  auto y = torch::arange(H, torch::kFloat).view({1, H, 1, 1});
  auto x = torch::arange(W, torch::kFloat).view({1, 1, W, 1});
  auto c = torch::arange(3, torch::kFloat).view({1, 1, 1, 3});
  auto v = 127.5 + 100.0 * torch::sin(0.2 * x + 0.15 * y + 0.3 * t + 2.0 * c);
  return v.clamp(0, 255).to(torch::kByte).contiguous();
}

const std::string kWrongYaml = R"(model:
  target: lvdm.models.autoencoder3d.AutoencoderKL
  params:
    embed_dim: 4
    ddconfig:
      double_z: True
      z_channels: 4
      encoder:
        target: lvdm.models.modules.aemodules3d.Encoder
        params: {n_hiddens: 32, downsample: [4, 8, 8], image_channel: 3, norm_type: group, padding_type: replicate, double_z: True, z_channels: 4}
      decoder:
        target: lvdm.models.modules.aemodules3d.Decoder
        params: {n_hiddens: 32, upsample: [4, 8, 8], z_channels: 4, image_channel: 3, norm_type: group}
)";

// Lines of stderr other than the optional "  hint: ..." line under the error.
int error_lines(const std::string& err) {
  int n = 0;
  std::istringstream is(err);
  std::string line;
  while (std::getline(is, line))
    if (!line.empty() && line.rfind("  hint:", 0) != 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("vae CLI: reconstruct a y4m with odd size and frame count (pad + crop back) and print the PSNR") {
  test::ScratchDir dir("vaerec");
  auto ckpt = dir / "ae.safetensors", in = dir / "in.y4m", out = dir / "out.y4m";
  write_random_ae(ckpt);
  WriteOptions wo;
  wo.fps = Fps{12, 1};
  write_video(in, synthetic_clip(10, 20, 28), wo);  // 10 frames (not /4), 28x20 (not /8)
  auto r = test::run_cli({"vae", "reconstruct", "--vae", ckpt.string(), in.string(), "-o", out.string(),
                          "--window", "2", "--overlap", "1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("PSNR") != std::string::npos);
  CHECK(r.err.find("repeating the last frame 2 time(s)") != std::string::npos);
  CHECK(r.err.find("padding to 32x24") != std::string::npos);
  auto v = read_video(out);
  CHECK(v.sizes() == at::IntArrayRef({10, 20, 28, 3}));
  CHECK(probe_video(out).fps.num == 12);
}

TEST_CASE("vae CLI: encode then decode (streamed) matches reconstruct, full LVDM checkpoint layout, ranges") {
  test::ScratchDir dir("vaeenc");
  auto ckpt = dir / "model.safetensors", in = dir / "in.y4m";
  write_random_ae(ckpt, "first_stage_model.");  // as in a full LVDM model checkpoint
  write_video(in, synthetic_clip(12, 16, 16));
  auto lat = dir / "z.safetensors", dec = dir / "dec.y4m", rec = dir / "rec.y4m";
  auto r1 = test::run_cli({"vae", "encode", "--vae", ckpt.string(), in.string(), "-o", lat.string(), "--start", "1",
                           "--frames", "9"});
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  auto sd = load_checkpoint(lat);
  CHECK(sd.get("latent").sizes() == at::IntArrayRef({1, 4, 3, 2, 2}));
  CHECK(sd.metadata.at("frames") == "9");
  CHECK(sd.metadata.at("width") == "16");
  CHECK(sd.metadata.at("height") == "16");
  CHECK(sd.metadata.at("fps") == "24");
  CHECK(sd.metadata.at("config").find("\"n_hiddens\":16") != std::string::npos);

  auto r2 = test::run_cli({"vae", "decode", "--vae", ckpt.string(), lat.string(), "-o", dec.string(), "--window", "2",
                           "--overlap", "1"});
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  auto r3 = test::run_cli({"vae", "reconstruct", "--vae", ckpt.string(), in.string(), "-o", rec.string(), "--start",
                           "1", "--frames", "9", "--window", "2", "--overlap", "1"});
  REQUIRE(r3.exit_code == 0);
  auto a = read_video(dec), b = read_video(rec);
  CHECK(a.sizes() == at::IntArrayRef({9, 16, 16, 3}));
  CHECK(torch::equal(a, b));

  // decode --start/--frames picks decoded frames
  auto part = dir / "part.y4m";
  auto r4 = test::run_cli({"vae", "decode", "--vae", ckpt.string(), lat.string(), "-o", part.string(), "--window", "2",
                           "--overlap", "1", "--start", "3", "--frames", "4"});
  REQUIRE(r4.exit_code == 0);
  auto p = read_video(part);
  CHECK(torch::equal(p, a.slice(0, 3, 7)));
}

TEST_CASE("vae CLI: a PNG sequence (dir/ and dir/%05d.png) is read as video info reads it") {
  if (!ffmpeg_available()) {
    test::report_skipped("built without FFmpeg (LONGVID_FFMPEG=OFF): PNG sequences need it");
    return;
  }
  test::ScratchDir dir("vaepng");
  auto ckpt = dir / "ae.safetensors", in = dir / "in.y4m";
  write_random_ae(ckpt);
  auto clip = synthetic_clip(8, 16, 16);
  write_video(in, clip);
  write_video((dir / "seq/").string(), clip);  // seq/00001.png ...
  auto encode = [&](const std::string& input, const std::string& name) {
    auto r = test::run_cli({"vae", "encode", "--vae", ckpt.string(), input, "-o", (dir / name).string()});
    INFO(input, " -> ", r.err);
    CHECK(r.exit_code == 0);
    return r.exit_code == 0 ? load_checkpoint(dir / name).get("latent") : at::Tensor();
  };
  auto want = encode(in.string(), "z.safetensors");
  REQUIRE(want.defined());
  for (const auto& input : {(dir / "seq/").string(), (dir / "seq").string(), (dir / "seq/%05d.png").string()}) {
    auto info = test::run_cli({"video", "info", input});
    CHECK(info.exit_code == 0);
    auto got = encode(input, "zp.safetensors");
    REQUIRE(got.defined());
    CHECK(torch::equal(got, want));  // PNG is lossless: the same frames, the same latents
  }
  auto rec = test::run_cli({"vae", "reconstruct", "--vae", ckpt.string(), (dir / "seq/").string(), "-o",
                            (dir / "rec.y4m").string()});
  CHECK(rec.exit_code == 0);
  // A folder without PNGs, a pattern that matches nothing: one error line.
  std::filesystem::create_directories(dir / "empty");
  for (const auto& bad : {(dir / "empty/").string(), (dir / "seq/%03d.png").string()}) {
    auto r = test::run_cli({"vae", "encode", "--vae", ckpt.string(), bad, "-o", (dir / "bad.safetensors").string()});
    INFO(bad, " -> ", r.err);
    CHECK(r.exit_code == 1);
    CHECK(error_lines(r.err) == 1);
    CHECK_FALSE(std::filesystem::exists(dir / "bad.safetensors"));
  }
}

#ifdef LONGVID_WITH_FFMPEG
TEST_CASE("vae CLI: decode into mp4") {
  test::ScratchDir dir("vaemp4");
  auto ckpt = dir / "ae.safetensors", in = dir / "in.y4m", lat = dir / "z.safetensors", out = dir / "o.mp4";
  write_random_ae(ckpt);
  write_video(in, synthetic_clip(8, 16, 24));
  REQUIRE(test::run_cli({"vae", "encode", "--vae", ckpt.string(), in.string(), "-o", lat.string()}).exit_code == 0);
  auto r = test::run_cli({"vae", "decode", "--vae", ckpt.string(), lat.string(), "-o", out.string(), "--fps", "10"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto info = probe_video(out);
  CHECK(info.frame_count == 8);
  CHECK(info.width == 24);
  CHECK(info.height == 16);
  CHECK(info.fps.num == 10);
}
#endif

TEST_CASE("vae CLI: bad inputs give one error line and no output file") {
  test::ScratchDir dir("vaebad");
  auto ckpt = dir / "ae.safetensors", in = dir / "in.y4m", yaml = dir / "wrong.yaml", notae = dir / "notae.safetensors";
  write_random_ae(ckpt);
  write_video(in, synthetic_clip(4, 16, 16));
  {
    std::ofstream f(yaml);
    f << kWrongYaml;
  }
  {
    StateDict sd;
    sd.set("model.diffusion_model.x.weight", torch::zeros({2, 2}));
    save_safetensors(notae, sd);
  }
  auto out = (dir / "o.y4m").string();
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> expect;  // substrings of the error line
  };
  const std::vector<Case> cases = {
      {{"vae", "reconstruct", "--vae", ckpt.string(), (dir / "missing.y4m").string(), "-o", out}, {"missing.y4m"}},
      {{"vae", "reconstruct", "--vae", (dir / "nope.ckpt").string(), in.string(), "-o", out}, {"nope.ckpt"}},
      {{"vae", "reconstruct", "--vae", notae.string(), in.string(), "-o", out}, {"notae.safetensors", "encoder.conv_first"}},
      // Wrong architecture: the config says 32 hidden channels, the weights have 16.
      {{"vae", "reconstruct", "--vae", ckpt.string(), "--config", yaml.string(), in.string(), "-o", out},
       {"encoder.conv_first.conv.weight", "[32, 3, 3, 3, 3]", "[16, 3, 3, 3, 3]"}},
      {{"vae", "decode", "--vae", ckpt.string(), in.string(), "-o", out}, {"in.y4m"}},
      {{"vae", "reconstruct", "--vae", ckpt.string(), in.string(), "-o", out, "--window", "2", "--overlap", "2"},
       {"--overlap"}},
      {{"vae", "reconstruct", "--vae", ckpt.string(), in.string(), "-o", out, "--start", "9"}, {"in.y4m"}},
      {{"vae", "frobnicate"}, {"frobnicate"}},
  };
  for (const auto& c : cases) {
    auto r = test::run_cli(c.args);
    INFO(fmt::format("{}", fmt::join(c.args, " ")));
    INFO(r.err);
    CHECK(r.exit_code != 0);
    CHECK(error_lines(r.err) == 1);
    for (const auto& e : c.expect) CHECK(r.err.find(e) != std::string::npos);
    CHECK(!std::filesystem::exists(out));
  }
  CHECK(dir.entries().size() == 4);  // only the inputs: nothing half-written
}
