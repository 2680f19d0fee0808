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
#include <cxxopts.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/video_io.h"
#include "hierarchy/lvdm_pipeline.h"
#include "tools/cli.h"
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

int64_t peak_rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream is(line.substr(6));
      int64_t kib = 0;
      is >> kib;
      return kib;
    }
  return -1;
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

}  // namespace

int run_vae_bench(int argc, char** argv) {
  if (argc < 2) fail("vae bench: say what to measure (seams or rss)");
  std::string what = argv[1];
  std::string name = "longvid vae bench " + what;
  std::vector<char*> sub{name.data()};
  for (int i = 2; i < argc; ++i) sub.push_back(argv[i]);
  if (what == "seams") return bench_seams(static_cast<int>(sub.size()), sub.data());
  if (what == "rss") return bench_rss(static_cast<int>(sub.size()), sub.data());
  fail("vae bench: unknown measurement '{}' (seams or rss)", what);
}

}  // namespace longvid
