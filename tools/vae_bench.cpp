// longvid vae bench seams | rss: measurements behind the decode_stream defaults (not unit tests).
//
//   longvid vae bench seams [--latent-frames 256] [--latent-size 8] [--configs 4:0,8:2,...]
//       decode_stream vs one full decode of the same random latents with a random-weight AE
//       (n_hiddens 16, official [4, 8, 8] strides): max abs error, PSNR (peak-to-peak 2, i.e.
//       [-1, 1] video), frames that differ, largest chunk handed to the sink.
//   longvid vae bench rss --latent-frames N [--latent-size 8] -o OUT.y4m [--window --overlap]
//       decodes N random latent frames streamed into a writer; prints the process's peak RSS
//       (VmHWM). tools/bench/vae_stream.sh runs it for 64 and 1,024 latent frames and
//       compares.
//   longvid vae bench encode-seams [--latent-frames 64] [--latent-size 8] [--configs 16:4,...]
//       encode_stream vs one full encode of a synthetic video (random-weight LVDM AE): max abs and
//       relative error of the posterior mean and logvar per window:overlap.
//   longvid vae bench encode-rss --latent-frames N: peak RSS of encode_stream over a synthetic
//       video generated chunk by chunk (latents discarded); vae_stream.sh compares 64 vs 1,024.
//   longvid vae bench tiles [--kind all] [--size 256] [--configs 128:32,...]: spatially tiled vs
//       untiled encode (latent error) and decode (max abs error, PSNR) for both autoencoders.
#include <cxxopts.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/video_io.h"
#include "core/process_stats.h"
#include "tools/cli.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

namespace {

LvdmAutoencoder3D bench_ae() {
  LvdmAe3dConfig c;
  c.n_hiddens = 16;
  c.decoder_n_hiddens = 16;
  torch::manual_seed(0);
  LvdmAutoencoder3D ae(c);
  ae->eval();
  return ae;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int bench_seams(int argc, char** argv) {
  cxxopts::Options o("longvid vae bench seams", "decode_stream vs full decode (random-weight AE, random latents)");
  o.add_options()
    ("latent-frames", "latent frames", cxxopts::value<int64_t>()->default_value("256"))
    ("latent-size", "latent height = width", cxxopts::value<int64_t>()->default_value("8"))
    ("configs", "window:overlap pairs", cxxopts::value<std::string>()->default_value("4:0,4:2,8:0,8:2,8:4,16:2,16:4,16:8,32:4,32:8"))
    ("threads", "intra-op threads (0 = LibTorch default)", cxxopts::value<int>()->default_value("0"))
    ("h,help", "show this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  if (a["threads"].as<int>() > 0) torch::set_num_threads(a["threads"].as<int>());
  const int64_t T = a["latent-frames"].as<int64_t>(), S = a["latent-size"].as<int64_t>();
  auto ae = bench_ae();
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto z = at::randn({1, 4, T, S, S}, gen, at::TensorOptions().dtype(at::kFloat));
  auto t0 = std::chrono::steady_clock::now();
  auto full = ae->decode(z);
  double t_full = seconds_since(t0);
  std::printf("full decode: latent %lld frames %lldx%lld -> %lld frames %lldx%lld, %.1f s, output std %.3f\n",
              static_cast<long long>(T), static_cast<long long>(S), static_cast<long long>(S),
              static_cast<long long>(full.size(2)), static_cast<long long>(full.size(3)),
              static_cast<long long>(full.size(4)), t_full, full.std().item<double>());
  std::printf("%6s %7s %12s %12s %10s %14s %12s %8s\n", "window", "overlap", "max_abs_err", "mean_abs_err", "psnr_dB",
              "frames_differ", "max_chunk", "time_s");
  std::stringstream ss(a["configs"].as<std::string>());
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto colon = item.find(':');
    if (colon == std::string::npos) fail("--configs '{}': expected window:overlap", item);
    int64_t w = std::stoll(item.substr(0, colon)), ov = std::stoll(item.substr(colon + 1));
    std::vector<at::Tensor> parts;
    int64_t max_chunk = 0;
    auto t1 = std::chrono::steady_clock::now();
    ae->decode_stream(z, w, ov, [&](const at::Tensor& x) {
      parts.push_back(x);
      max_chunk = std::max(max_chunk, x.size(2));
    });
    double t = seconds_since(t1);
    auto s = torch::cat(parts, 2);
    auto d = (s - full).abs();
    auto per_frame = d.amax({0, 1, 3, 4});
    int64_t differ = (per_frame > 1e-4).sum().item<int64_t>();
    double mse = d.pow(2).mean().item<double>();
    double psnr = mse > 0 ? 10 * std::log10(4.0 / mse) : INFINITY;
    std::printf("%6lld %7lld %12.3e %12.3e %10.2f %8lld/%-5lld %12lld %8.1f\n", static_cast<long long>(w),
                static_cast<long long>(ov), d.max().item<double>(), d.mean().item<double>(), psnr,
                static_cast<long long>(differ), static_cast<long long>(full.size(2)),
                static_cast<long long>(max_chunk), t);
    std::fflush(stdout);
  }
  return cli::kExitOk;
}

int bench_rss(int argc, char** argv) {
  cxxopts::Options o("longvid vae bench rss", "peak RSS of a streamed decode into a writer");
  o.add_options()
    ("latent-frames", "latent frames", cxxopts::value<int64_t>()->default_value("64"))
    ("latent-size", "latent height = width", cxxopts::value<int64_t>()->default_value("8"))
    ("window", "decode window (the vae CLI default)", cxxopts::value<int64_t>()->default_value("32"))
    ("overlap", "decode overlap (the vae CLI default)", cxxopts::value<int64_t>()->default_value("8"))
    ("o,output", "output video", cxxopts::value<std::string>()->default_value("bench.y4m"))
    ("h,help", "show this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  const int64_t T = a["latent-frames"].as<int64_t>(), S = a["latent-size"].as<int64_t>();
  auto ae = bench_ae();
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  // Latents are tiny next to frames (1/(3*4*64/4) of the output): the whole latent is held.
  auto z = at::randn({1, 4, T, S, S}, gen, at::TensorOptions().dtype(at::kFloat));
  int64_t rss_before = peak_rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  VideoWriter writer(a["output"].as<std::string>());
  ae->decode_stream(z, a["window"].as<int64_t>(), a["overlap"].as<int64_t>(), [&](const at::Tensor& x) {
    auto u8 = video_to_uint8(x, Quantize::Round);
    for (int64_t i = 0; i < u8.size(0); ++i) {
      auto fr = u8[i];
      writer.push(fr.data_ptr<uint8_t>(), static_cast<int>(fr.size(1)), static_cast<int>(fr.size(0)));
    }
  });
  writer.close();
  std::printf("latent_frames %lld frames_written %lld size %lldx%lld peak_rss_kib %lld (before decode %lld) time_s %.1f\n",
              static_cast<long long>(T), static_cast<long long>(writer.frames_written()), static_cast<long long>(S * 8),
              static_cast<long long>(S * 8), static_cast<long long>(peak_rss_kib()), static_cast<long long>(rss_before),
              seconds_since(t0));
  return cli::kExitOk;
}

// A smooth moving pattern plus a little noise, [1, 3, n, H, W] in [-1, 1], frames [t0, t0 + n):
// deterministic per frame index, so chunks of a long video can be made one at a time.
at::Tensor synthetic_video(int64_t t0, int64_t n, int64_t H, int64_t W) {
  auto t = torch::arange(t0, t0 + n, torch::kFloat).view({1, 1, n, 1, 1});
  auto y = torch::arange(H, torch::kFloat).view({1, 1, 1, H, 1});
  auto x = torch::arange(W, torch::kFloat).view({1, 1, 1, 1, W});
  auto c = torch::arange(3, torch::kFloat).view({1, 3, 1, 1, 1});
  auto v = 0.6 * torch::sin(0.21 * x + 0.13 * y + 0.17 * t + 2.0 * c) +
           0.3 * torch::cos(0.05 * x * (1.0 + 0.3 * c) - 0.11 * t + 0.07 * y);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + static_cast<uint64_t>(t0));
  return (v + 0.05 * at::randn(v.sizes(), gen, at::TensorOptions().dtype(at::kFloat))).clamp(-1, 1);
}

FrameAutoencoderKL bench_frame_ae() {
  FrameAutoencoderKLConfig c;
  c.block_out_channels = {32, 32, 64, 64};  // factor 8, like SD's VAE, narrow
  c.layers_per_block = 1;
  torch::manual_seed(0);
  FrameAutoencoderKL ae(c);
  ae->eval();
  return ae;
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).norm() / b.to(at::kDouble).norm()).item<double>();
}
double psnr2(const at::Tensor& a, const at::Tensor& b) {  // peak-to-peak 2 ([-1, 1] video)
  double mse = (a - b).pow(2).mean().item<double>();
  return mse > 0 ? 10 * std::log10(4.0 / mse) : INFINITY;
}

std::vector<std::pair<int64_t, int64_t>> parse_pairs(const std::string& s, const char* opt) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto colon = item.find(':');
    if (colon == std::string::npos) fail("{} '{}': expected a:b pairs", opt, item);
    out.emplace_back(std::stoll(item.substr(0, colon)), std::stoll(item.substr(colon + 1)));
  }
  return out;
}

int bench_encode_seams(int argc, char** argv) {
  cxxopts::Options o("longvid vae bench encode-seams",
                     "encode_stream vs one full encode (random-weight LVDM AE, synthetic video)");
  o.add_options()
    ("latent-frames", "latent frames (video frames / 4)", cxxopts::value<int64_t>()->default_value("64"))
    ("latent-size", "latent height = width", cxxopts::value<int64_t>()->default_value("8"))
    ("configs", "window:overlap pairs (latent frames)", cxxopts::value<std::string>()->default_value("4:0,4:2,8:0,8:2,8:4,16:0,16:4,16:8,32:4,32:8"))
    ("h,help", "show this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  const int64_t T = a["latent-frames"].as<int64_t>(), S = a["latent-size"].as<int64_t>();
  auto ae = bench_ae();
  torch::NoGradGuard ng;
  auto video = synthetic_video(0, T * 4, S * 8, S * 8);
  auto t0 = std::chrono::steady_clock::now();
  auto full = ae->encode(video);
  std::printf("full encode: %lld frames %lldx%lld -> latent %lld frames %lldx%lld, %.1f s; mean std %.3f, logvar mean %.3f\n",
              static_cast<long long>(T * 4), static_cast<long long>(S * 8), static_cast<long long>(S * 8),
              static_cast<long long>(full.mean.size(2)), static_cast<long long>(S), static_cast<long long>(S),
              seconds_since(t0), full.mean.std().item<double>(), full.logvar.mean().item<double>());
  std::printf("%6s %7s %14s %12s %14s %12s %12s %8s\n", "window", "overlap", "mean_max_abs", "mean_rel", "logvar_max_abs",
              "logvar_rel", "frames_eq", "time_s");
  for (auto [w, ov] : parse_pairs(a["configs"].as<std::string>(), "--configs")) {
    auto t1 = std::chrono::steady_clock::now();
    auto p = ae->encode_windowed(video, w, ov, 16);
    double t = seconds_since(t1);
    auto eq = ((p.mean - full.mean).abs().amax({0, 1, 3, 4}) == 0).sum().item<int64_t>();
    std::printf("%6lld %7lld %14.3e %12.3e %14.3e %12.3e %7lld/%-4lld %8.1f\n", static_cast<long long>(w),
                static_cast<long long>(ov), (p.mean - full.mean).abs().max().item<double>(), rel(p.mean, full.mean),
                (p.logvar - full.logvar).abs().max().item<double>(), rel(p.logvar, full.logvar),
                static_cast<long long>(eq), static_cast<long long>(T), t);
    std::fflush(stdout);
  }
  return cli::kExitOk;
}

int bench_encode_rss(int argc, char** argv) {
  cxxopts::Options o("longvid vae bench encode-rss", "peak RSS of a streamed encode (encode_stream)");
  o.add_options()
    ("latent-frames", "latent frames (video frames / 4)", cxxopts::value<int64_t>()->default_value("64"))
    ("latent-size", "latent height = width", cxxopts::value<int64_t>()->default_value("8"))
    ("window", "encode window (-1 = the default)", cxxopts::value<int64_t>()->default_value("-1"))
    ("overlap", "encode overlap (-1 = the default)", cxxopts::value<int64_t>()->default_value("-1"))
    ("chunk", "frames per source chunk", cxxopts::value<int64_t>()->default_value("16"))
    ("h,help", "show this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  const int64_t T = a["latent-frames"].as<int64_t>() * 4, S = a["latent-size"].as<int64_t>();
  const int64_t chunk = a["chunk"].as<int64_t>();
  auto ae = bench_ae();
  auto d = ae->default_encode_window();
  int64_t w = a["window"].as<int64_t>() < 0 ? d.window : a["window"].as<int64_t>();
  int64_t ov = a["overlap"].as<int64_t>() < 0 ? d.overlap : a["overlap"].as<int64_t>();
  torch::NoGradGuard ng;
  int64_t rss_before = peak_rss_kib(), pos = 0, latents = 0;
  double checksum = 0;
  auto t0 = std::chrono::steady_clock::now();
  ae->encode_stream(
      [&]() -> at::Tensor {
        if (pos >= T) return {};
        auto c = synthetic_video(pos, std::min(chunk, T - pos), S * 8, S * 8);
        pos += c.size(2);
        return c;
      },
      w, ov,
      [&](const DiagonalGaussian& p) {  // the latents are discarded: memory is the encoder's alone
        latents += p.mean.size(2);
        checksum += p.mean.sum().item<double>();
      });
  std::printf("latent_frames %lld frames_read %lld size %lldx%lld window %lld overlap %lld peak_rss_kib %lld (before "
              "encode %lld) time_s %.1f checksum %.6g\n",
              static_cast<long long>(latents), static_cast<long long>(pos), static_cast<long long>(S * 8),
              static_cast<long long>(S * 8), static_cast<long long>(w), static_cast<long long>(ov),
              static_cast<long long>(peak_rss_kib()), static_cast<long long>(rss_before), seconds_since(t0), checksum);
  return cli::kExitOk;
}

// Spatial tiling vs untiled, encode and decode, for both autoencoders.
int bench_tiles(int argc, char** argv) {
  cxxopts::Options o("longvid vae bench tiles", "spatially tiled vs untiled encode / decode (random-weight AEs)");
  o.add_options()
    ("kind", "lvdm3d | frame2d | all", cxxopts::value<std::string>()->default_value("all"))
    ("size", "frame height = width (pixels)", cxxopts::value<int64_t>()->default_value("256"))
    ("frames", "video frames (lvdm3d: a multiple of 4)", cxxopts::value<int64_t>()->default_value("8"))
    ("configs", "tile:overlap pairs (pixels)", cxxopts::value<std::string>()->default_value("128:0,128:16,128:32,128:64,96:32,64:16,64:32"))
    ("h,help", "show this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  const int64_t S = a["size"].as<int64_t>(), T = a["frames"].as<int64_t>();
  const std::string kind = a["kind"].as<std::string>();
  auto pairs = parse_pairs(a["configs"].as<std::string>(), "--configs");
  torch::NoGradGuard ng;
  auto video = synthetic_video(0, T, S, S);
  auto run = [&](VideoAutoencoder& ae) {
    ae.set_tiling({});
    auto t0 = std::chrono::steady_clock::now();
    auto full = ae.encode(video);
    auto dec = ae.decode(full.mean);
    std::printf("%s: %lld frames %lldx%lld, untiled encode + decode %.1f s; latent mean std %.3f, decoded std %.3f\n",
                ae.kind().c_str(), static_cast<long long>(T), static_cast<long long>(S), static_cast<long long>(S),
                seconds_since(t0), full.mean.std().item<double>(), dec.std().item<double>());
    std::printf("%5s %7s | %13s %10s %13s | %12s %10s %9s %8s\n", "tile", "overlap", "enc_mean_max", "enc_rel",
                "enc_logv_max", "dec_max_abs", "dec_rel", "dec_psnr", "time_s");
    for (auto [tile, ov] : pairs) {
      ae.set_tiling({tile, ov});
      auto t1 = std::chrono::steady_clock::now();
      auto p = ae.encode(video);
      auto d = ae.decode(full.mean);  // the untiled latent: decoder seams alone
      double t = seconds_since(t1);
      std::printf("%5lld %7lld | %13.3e %10.3e %13.3e | %12.3e %10.3e %9.2f %8.1f\n", static_cast<long long>(tile),
                  static_cast<long long>(ov), (p.mean - full.mean).abs().max().item<double>(), rel(p.mean, full.mean),
                  (p.logvar - full.logvar).abs().max().item<double>(), (d - dec).abs().max().item<double>(),
                  rel(d, dec), psnr2(d, dec), t);
      std::fflush(stdout);
    }
    ae.set_tiling({});
  };
  if (kind == "lvdm3d" || kind == "all") {
    auto ae = bench_ae();
    run(*ae);
  }
  if (kind == "frame2d" || kind == "all") {
    auto ae = bench_frame_ae();
    run(*ae);
  }
  return cli::kExitOk;
}

}  // namespace

int run_vae_bench(int argc, char** argv) {
  if (argc < 2) fail("vae bench: say what to measure (seams, rss, encode-seams, encode-rss or tiles)");
  std::string what = argv[1];
  std::string name = "longvid vae bench " + what;
  std::vector<char*> sub{name.data()};
  for (int i = 2; i < argc; ++i) sub.push_back(argv[i]);
  if (what == "seams") return bench_seams(static_cast<int>(sub.size()), sub.data());
  if (what == "rss") return bench_rss(static_cast<int>(sub.size()), sub.data());
  if (what == "encode-seams") return bench_encode_seams(static_cast<int>(sub.size()), sub.data());
  if (what == "encode-rss") return bench_encode_rss(static_cast<int>(sub.size()), sub.data());
  if (what == "tiles") return bench_tiles(static_cast<int>(sub.size()), sub.data());
  fail("vae bench: unknown measurement '{}' (seams, rss, encode-seams, encode-rss or tiles)", what);
}

}  // namespace longvid
