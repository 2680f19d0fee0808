// longvid bench: benchmarks of a model (api/bench.h) — time, it/s, GFLOP/s from the ops' shapes,
// peak RSS, peak GPU memory, MFU against a given peak; a table on stdout and optionally JSON.
#include <cxxopts.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "api/bench.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "tools/cli.h"
#include "tools/options.h"

namespace longvid {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int run_bench(int argc, char** argv) {
  cxxopts::Options o("longvid bench", "Benchmark a model: denoiser, sampler step, clip, autoencoder, long video, I3D.");
  cli::add_model_options(o, "", "model checkpoint (any family the registry knows); default: the bundled default model; 'random': a tiny random-weight model");
  std::string case_help = "comma-separated cases:";
  for (const auto& [name, what] : bench_cases()) case_help += " " + name + " (" + what + ");";
  o.add_options()
    ("cases", case_help, cxxopts::value<std::string>()->default_value("denoiser,step,clip,decode,encode"))
    ("iters", "timed runs per case (after --warmup; the best is reported as it/s)", cxxopts::value<int64_t>()->default_value("3"))
    ("warmup", "untimed runs first (the first counts the FLOPs)", cxxopts::value<int64_t>()->default_value("1"))
    ("batch", "batch of the denoiser and I3D cases", cxxopts::value<int64_t>()->default_value("1"))
    ("steps", "sampler steps of the step and clip cases", cxxopts::value<int64_t>()->default_value("5"))
    ("latent-frames", "latent frames of the decode and encode cases", cxxopts::value<int64_t>()->default_value("16"))
    ("long-frames", "frames of the long case", cxxopts::value<int64_t>()->default_value("256"))
    ("seed", "random seed of the inputs", cxxopts::value<int64_t>()->default_value("1"))
    ("peak-tflops", "the device's peak TFLOP/s at the compute dtype, for MFU (0: not reported)", cxxopts::value<double>()->default_value("0"))
    ("profile", "after the timed runs, one more run per case profiled per op: print the N ops with the most self time (host wall time: on CUDA mostly launches; 0: off)", cxxopts::value<int64_t>()->default_value("0"))
    ("json", "also write the results as JSON to this file", cxxopts::value<std::string>()->default_value(""))
    ("h,help", "show this help");
  cli::add_device_options(o);
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());
  BenchRequest req;
  req.cases = split_list(a["cases"].as<std::string>());
  if (req.cases.empty()) fail("--cases: give at least one case");
  req.iters = a["iters"].as<int64_t>();
  req.warmup = a["warmup"].as<int64_t>();
  req.batch = a["batch"].as<int64_t>();
  req.steps = a["steps"].as<int64_t>();
  req.latent_frames = a["latent-frames"].as<int64_t>();
  req.long_frames = a["long-frames"].as<int64_t>();
  req.seed = static_cast<uint64_t>(a["seed"].as<int64_t>());
  req.peak_tflops = a["peak-tflops"].as<double>();
  if (req.peak_tflops < 0) fail("--peak-tflops {}: must be >= 0", req.peak_tflops);
  req.profile = a["profile"].as<int64_t>();
  if (req.profile < 0) fail("--profile {}: must be >= 0", req.profile);
  const std::string json_path = a["json"].as<std::string>();
  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  ModelSpec spec = cli::read_model_options(a);
  spec.load.device = policy.device;
  spec.load.dtype = policy.dtype;
  spec.load.autocast = a["autocast"].as<bool>();
  spec.load.vae_dtype = parse_dtype(a["vae-dtype"].as<std::string>(), "--vae-dtype");
  VideoPipeline pipe = load_model(spec);
  spdlog::info("{}", pipe.describe());
  auto rows = run_benchmarks(pipe, req);
  std::printf("%-9s %10s %10s %9s %10s %10s %10s  %s\n", "case", "best s", "mean s", "it/s", "GFLOP", "GFLOP/s",
              "peak MiB", "what");
  for (const auto& r : rows)
    std::printf("%-9s %10.4f %10.4f %9.3f %10.2f %10.2f %10.0f  %s\n", r.name.c_str(), r.min_s, r.mean_s, r.it_per_s(),
                r.flops / 1e9, r.gflops_per_s(), r.peak_gpu_mib >= 0 ? r.peak_gpu_mib : r.peak_rss_mib, r.what.c_str());
  for (const auto& r : rows) {
    if (r.ops.empty()) continue;
    std::printf("\n%s: ops by self time (one profiled run, %.4f s in ops)\n", r.name.c_str(), r.profiled_s);
    for (const auto& op : r.ops)
      std::printf("  %-40s %9.4f s %6.1f %% %8lld calls\n", op.name.c_str(), op.self_s,
                  r.profiled_s > 0 ? 100.0 * op.self_s / r.profiled_s : 0.0, static_cast<long long>(op.calls));
  }
  if (!json_path.empty()) {
    const std::string doc = bench_json(pipe, req, rows);
    write_text_atomically(json_path, doc + "\n");
    spdlog::info("wrote {}", json_path);
  }
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("bench", "benchmark a model (denoiser, sampler step, clip, autoencoder, long video, I3D)",
                longvid::run_bench);
