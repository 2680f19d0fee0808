// The VideoAutoencoder interface: encode_stream (temporal windows, blended) and spatial tiling for
// both autoencoders, loading by content, and the vae CLI on a 2D (diffusers-layout) VAE.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "vae3d/lvdm_autoencoder3d.h"
#include "vae3d/video_autoencoder.h"

using namespace longvid;

namespace {

LvdmAutoencoder3D small_lvdm() {
  LvdmAe3dConfig c;
  c.n_hiddens = 16;
  c.decoder_n_hiddens = 16;
  torch::manual_seed(11);
  LvdmAutoencoder3D ae(c);
  ae->eval();
  return ae;
}

FrameAutoencoderKLConfig tiny_frame_cfg() {
  FrameAutoencoderKLConfig c;
  c.block_out_channels = {32, 64};  // spatial factor 2
  c.layers_per_block = 1;
  return c;
}

FrameAutoencoderKL tiny_frame_ae() {
  torch::manual_seed(12);
  FrameAutoencoderKL ae(tiny_frame_cfg());
  ae->eval();
  return ae;
}

// Smooth moving pattern + a little noise, [1, 3, T, H, W] in [-1, 1].
at::Tensor clip(int64_t T, int64_t H, int64_t W) {
  auto t = torch::arange(T, torch::kFloat).view({1, 1, T, 1, 1});
  auto y = torch::arange(H, torch::kFloat).view({1, 1, 1, H, 1});
  auto x = torch::arange(W, torch::kFloat).view({1, 1, 1, 1, W});
  auto c = torch::arange(3, torch::kFloat).view({1, 3, 1, 1, 1});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto v = 0.7 * torch::sin(0.3 * x + 0.2 * y + 0.25 * t + 2.0 * c);
  return (v + 0.05 * at::randn(v.sizes(), gen, at::TensorOptions().dtype(at::kFloat))).clamp(-1, 1);
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).norm() / b.to(at::kDouble).norm()).item<double>();
}

}  // namespace

TEST_CASE("encode_stream (LVDM 3D): one pass when the video fits a window, bounded windows blended otherwise") {
  auto ae = small_lvdm();
  torch::NoGradGuard ng;
  const int64_t T_lat = 24;
  auto video = clip(T_lat * 4, 16, 16);  // latent 24 x 2 x 2
  auto full = ae->encode(video);

  // window >= length (and window 0): exactly the full encode, whatever the source chunks.
  for (int64_t chunk : {1, 7, 96}) {
    auto p = ae->encode_windowed(video, 32, 8, chunk);
    CHECK(torch::equal(p.mean, full.mean));
    CHECK(torch::equal(p.logvar, full.logvar));
  }
  auto p0 = ae->encode_windowed(video, 0, 0);
  CHECK(torch::equal(p0.mean, full.mean));

  // The defaults: windows of 64 latents overlapping by 16, on 80 latents (two windows). The
  // tolerance is the error measured here with margin (see docs/vae.md for the bench figures);
  // random weights amplify it.
  auto d = ae->default_encode_window();
  CHECK(d.window == 64);
  CHECK(d.overlap == 16);
  auto longer = clip(80 * 4, 16, 16);
  auto full_long = ae->encode(longer);
  auto pw = ae->encode_windowed(longer, d.window, d.overlap, 7);
  REQUIRE(pw.mean.sizes() == full_long.mean.sizes());
  double e_mean = rel(pw.mean, full_long.mean), e_logvar = rel(pw.logvar, full_long.logvar);
  MESSAGE("encode_stream(64, 16) vs full encode, 80 latents 2x2: rel err mean "
          << e_mean << ", logvar " << e_logvar << ", max abs mean " << (pw.mean - full_long.mean).abs().max().item<double>());
  CHECK(e_mean > 0);  // windows really were used
  CHECK(e_mean <= 0.06);
  CHECK(e_logvar <= 0.06);
  // A smaller window on the first clip: the source's chunking does not matter.
  pw = ae->encode_windowed(video, 8, 2, 7);
  // The first window's non-overlapped latents see the same frames but a different GroupNorm
  // population, so they differ too; chunking of the source does not matter.
  auto pw1 = ae->encode_windowed(video, 8, 2, 1);
  CHECK(torch::allclose(pw1.mean, pw.mean, 1e-6, 1e-6));

  // Window bookkeeping on a length that is not a multiple of the stride (final window moved back)
  // and a frame count that is not a multiple of 4 (last frame repeated).
  auto odd = video.slice(2, 0, 4 * 21 + 2);
  std::vector<int64_t> chunks;
  int64_t pos = 0;
  auto padded = ae->encode_stream(
      [&]() -> at::Tensor {
        if (pos >= odd.size(2)) return {};
        auto c = odd.slice(2, pos, std::min(odd.size(2), pos + 5));
        pos += c.size(2);
        return c;
      },
      8, 2, [&](const DiagonalGaussian& p) { chunks.push_back(p.mean.size(2)); });
  CHECK(padded == 2);
  int64_t total = 0;
  for (auto n : chunks) {
    total += n;
    CHECK(n <= 8);
  }
  CHECK(total == 22);

  CHECK_THROWS_AS(ae->encode_windowed(video, 4, 4), Error);
}

TEST_CASE("encode_stream and decode_stream (frame VAE): every window gives the full result") {
  auto ae = tiny_frame_ae();
  torch::NoGradGuard ng;
  auto video = clip(5, 8, 8);
  auto full = ae->encode(video);
  for (int64_t w : {0, 1, 2, 8}) {
    auto p = ae->encode_windowed(video, w, 0, 3);
    CHECK(torch::allclose(p.mean, full.mean, 1e-6, 1e-6));
  }
  VideoAutoencoder& base = *ae;
  auto dec = base.decode(full.mean);
  std::vector<at::Tensor> parts;
  base.decode_stream(full.mean, 2, 1, [&](const at::Tensor& x) { parts.push_back(x); });
  CHECK(parts.size() == 3);
  CHECK(rel(torch::cat(parts, 2), dec) < 1e-5);  // batch sizes differ: float rounding only
  CHECK(base.factors() == std::array<int64_t, 3>{1, 2, 2});
  CHECK(base.kind() == "frame2d");
  // Sampling takes the caller's generator: same seed, same latent.
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(3), g2 = at::make_generator<at::CPUGeneratorImpl>(3);
  CHECK(torch::equal(base.encode_latent(video, g1), base.encode_latent(video, g2)));
  CHECK(torch::equal(base.encode_latent(video), ae->normalize_latent(full.mode())));
}

TEST_CASE("spatial tiling: blending weights reproduce the input, exact when the tile covers the frame") {
  // Identity and 2x nearest upsampling through tiled_apply give back the (upsampled) input: the
  // weights of overlapping tiles sum to one everywhere (including a moved-back last tile).
  auto x = torch::randn({1, 2, 3, 13, 10});
  auto same = tiled_apply(x, 4, 2, 1, 1, [](const at::Tensor& t) { return t.clone(); });
  CHECK(torch::allclose(same, x, 1e-6, 1e-6));
  auto up = [](const at::Tensor& t) { return t.repeat_interleave(2, -1).repeat_interleave(2, -2); };
  CHECK(torch::allclose(tiled_apply(x, 5, 1, 1, 2, up), up(x), 1e-6, 1e-6));
  auto down = [](const at::Tensor& t) { return t.slice(-1, 0, t.size(-1), 2).slice(-2, 0, t.size(-2), 2); };
  auto x2 = up(x);
  CHECK(torch::allclose(tiled_apply(x2, 4, 2, 2, 1, down), x, 1e-6, 1e-6));
  CHECK(tile_starts(10, 4, 2) == std::vector<int64_t>{0, 2, 4, 6});
  CHECK(tile_starts(9, 4, 1) == std::vector<int64_t>{0, 3, 5});
  CHECK(tile_starts(4, 4, 1) == std::vector<int64_t>{0});

  torch::NoGradGuard ng;
  {
    auto ae = small_lvdm();
    auto video = clip(4, 48, 64);
    auto full = ae->encode(video);
    auto dec = ae->decode(full.mean);
    ae->set_tiling({64, 16});  // >= the frame: one tile
    CHECK(torch::equal(ae->encode(video).mean, full.mean));
    CHECK(torch::equal(ae->decode(full.mean), dec));
    ae->set_tiling({32, 16});
    auto te = ae->encode(video);
    auto td = ae->decode(full.mean);
    REQUIRE(td.sizes() == dec.sizes());
    double e = rel(te.mean, full.mean), d = rel(td, dec);
    MESSAGE("LVDM 3D tiles 32/16 on 64x48: encode rel err " << e << ", decode rel err " << d);
    // Tiles this small (4 latents) change the GroupNorm statistics a lot with random weights; the
    // bounds only guard against gross errors (bench tiles measures realistic sizes).
    CHECK(e > 0);
    CHECK(e < 1.0);
    CHECK(d < 1.0);
    CHECK_THROWS_AS(ae->set_tiling({12, 4}), Error);  // not a multiple of 8
    CHECK_THROWS_AS(ae->set_tiling({16, 16}), Error);
    // decode_stream uses the tiles too.
    std::vector<at::Tensor> parts;
    ae->decode_stream(full.mean, 0, 0, [&](const at::Tensor& t) { parts.push_back(t); });
    CHECK(torch::equal(parts.at(0), td));
  }
  {
    auto ae = tiny_frame_ae();
    auto video = clip(2, 32, 24);
    auto full = ae->encode(video);
    auto dec = ae->decode(full.mean);
    ae->set_tiling({32, 4});
    CHECK(torch::equal(ae->encode(video).mean, full.mean));
    CHECK(torch::equal(ae->decode(full.mean), dec));
    ae->set_tiling({16, 8});
    auto te = ae->encode(video);
    CHECK(te.mean.sizes() == full.mean.sizes());
    double e = rel(te.mean, full.mean), d = rel(ae->decode(full.mean), dec);
    MESSAGE("frame VAE tiles 16/8 on 24x32: encode rel err " << e << ", decode rel err " << d);
    CHECK(e < 1.0);
    CHECK(d < 1.5);
  }
}

// ---- CLI with a 2D VAE -----------------------------------------------------------------------------

namespace {

void write_frame_vae(const std::filesystem::path& path, const std::string& prefix = "",
                     const std::string& bad_key = "") {
  auto ae = tiny_frame_ae();
  StateDict sd;
  for (const auto& p : ae->named_parameters(true)) {
    auto t = p.value().detach().clone();
    if (p.key() == bad_key) t = torch::zeros({t.size(0), t.size(1) + 1});
    sd.set(prefix + p.key(), t);
  }
  save_safetensors(path, sd);
}

at::Tensor clip_u8(int64_t T, int64_t H, int64_t W) {
  return clip(T, H, W)[0].permute({1, 2, 3, 0}).add(1).mul(127.5).round().clamp(0, 255).to(torch::kByte).contiguous();
}

}  // namespace

TEST_CASE("vae CLI with a 2D frame VAE: diffusers folder, safetensors, kind detection, tiles, bad tensors") {
  test::ScratchDir dir("vaefr");
  auto folder = dir / "vae";
  std::filesystem::create_directories(folder);
  write_frame_vae(folder / "diffusion_pytorch_model.safetensors");
  {
    std::ofstream f(folder / "config.json");
    f << tiny_frame_cfg().to_json();
  }
  auto file = dir / "vae_prefixed.safetensors";
  write_frame_vae(file, "vae.");
  auto in = dir / "in.y4m";
  write_video(in, clip_u8(5, 21, 27));  // odd size: padded to 28x22 (factor 2), cropped back

  auto out = dir / "out.y4m";
  auto r = test::run_cli({"vae", "reconstruct", "--vae", folder.string(), in.string(), "-o", out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("PSNR") != std::string::npos);
  CHECK(r.err.find("padding to 28x22") != std::string::npos);
  CHECK(read_video(out).sizes() == at::IntArrayRef({5, 21, 27, 3}));

  auto z1 = dir / "z1.safetensors", z2 = dir / "z2.safetensors", z3 = dir / "z3.safetensors";
  REQUIRE(test::run_cli({"vae", "encode", "--vae", folder.string(), in.string(), "-o", z1.string()}).exit_code == 0);
  REQUIRE(test::run_cli({"vae", "encode", "--vae", file.string(), "--kind", "frame2d", in.string(), "-o", z2.string(),
                         "--encode-window", "2"})
              .exit_code == 0);
  auto a = load_checkpoint(z1), b = load_checkpoint(z2);
  CHECK(a.metadata.at("kind") == "frame2d");
  CHECK(a.get("latent").sizes() == at::IntArrayRef({1, 4, 5, 11, 14}));
  CHECK(rel(b.get("latent"), a.get("latent")) < 1e-5);  // batches of 8 vs 2 frames: rounding only
  // Tiled: runs, same shapes, near the untiled latents.
  auto rt = test::run_cli({"vae", "encode", "--vae", file.string(), in.string(), "-o", z3.string(), "--tile", "16",
                           "--tile-overlap", "8"});
  INFO(rt.err);
  REQUIRE(rt.exit_code == 0);
  auto c = load_checkpoint(z3);
  CHECK(c.get("latent").sizes() == a.get("latent").sizes());
  CHECK(!torch::equal(c.get("latent"), a.get("latent")));
  auto dec = dir / "dec.y4m";
  auto rd = test::run_cli({"vae", "decode", "--vae", folder.string(), z1.string(), "-o", dec.string(), "--tile", "8",
                           "--tile-overlap", "4"});
  INFO(rd.err);
  REQUIRE(rd.exit_code == 0);
  CHECK(read_video(dec).sizes() == at::IntArrayRef({5, 21, 27, 3}));

  // Bad input: one error line, nothing written.
  auto bad = dir / "bad.safetensors";
  write_frame_vae(bad, "", "encoder.mid_block.attentions.0.to_q.weight");
  auto o2 = (dir / "o2.y4m").string();
  std::filesystem::create_directories(dir / "empty");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {{"vae", "reconstruct", "--vae", bad.string(), in.string(), "-o", o2},
       {"encoder.mid_block.attentions.0.to_q.weight", "[64, 64]", "[64, 65]"}},
      {{"vae", "reconstruct", "--vae", file.string(), "--kind", "lvdm3d", in.string(), "-o", o2}, {"frame2d"}},
      {{"vae", "reconstruct", "--vae", file.string(), "--kind", "3d", in.string(), "-o", o2}, {"--kind"}},
      {{"vae", "reconstruct", "--vae", file.string(), "--tile", "7", in.string(), "-o", o2}, {"--tile"}},
      {{"vae", "decode", "--vae", file.string(), (dir / "lat.safetensors").string(), "-o", o2}, {"lat.safetensors"}},
      {{"vae", "reconstruct", "--vae", (dir / "empty").string(), in.string(), "-o", o2}, {"config.json"}},
  };
  for (const auto& cs : cases) {
    auto res = test::run_cli(cs.args);
    INFO(fmt::format("{}", fmt::join(cs.args, " ")));
    INFO(res.err);
    CHECK(res.exit_code == 1);
    CHECK(test::count_lines(res.err) <= 2);  // the error (+ an optional hint)
    for (const auto& e : cs.expect) CHECK(res.err.find(e) != std::string::npos);
    CHECK(!std::filesystem::exists(o2));
  }
}
