// Benchmarks of a VideoPipeline — see bench.h.
#include "api/bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <thread>

#include "api/generate.h"
#include "backbones/inception_i3d.h"
#include "core/device.h"
#include "core/error.h"
#include "core/flops.h"
#include "core/log.h"
#include "core/process_stats.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace {

// Counts frames, keeps nothing.
class NullSink : public FrameSink {
 public:
  void push(const FrameView&) override { ++frames_; }
  void close() override {}
  int64_t frames() const { return frames_; }

 private:
  int64_t frames_ = 0;
};

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Warm-up runs, then `iters` timed runs; peak RSS and GPU memory over all of them.
BenchRow time_case(const VideoPipeline& pipe, const BenchRequest& req, const std::string& name, const std::string& what,
                   const std::function<void()>& fn) {
  BenchRow row;
  row.name = name;
  row.what = what;
  const bool rss_reset = reset_peak_rss();
  reset_gpu_peak_memory(pipe.device);
  // The first run counts the FLOPs: a warm-up run, or with --warmup 0 the first timed run (the
  // counting then adds its small per-op overhead to that run).
  for (int64_t i = 0; i < req.warmup; ++i) {
    if (i == 0) {
      FlopCounter counter;
      fn();
      row.flops = counter.flops();
    } else {
      fn();
    }
    synchronize(pipe.device);
  }
  double total = 0, best = 0;
  for (int64_t i = 0; i < req.iters; ++i) {
    std::optional<FlopCounter> counter;
    if (req.warmup == 0 && i == 0) counter.emplace();
    auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(pipe.device);
    double s = seconds(t0);
    if (counter) row.flops = counter->flops();
    total += s;
    best = i == 0 ? s : std::min(best, s);
  }
  row.iters = req.iters;
  row.mean_s = req.iters > 0 ? total / static_cast<double>(req.iters) : 0;
  row.min_s = best;
  if (rss_reset) row.peak_rss_mib = static_cast<double>(peak_rss_kib()) / 1024.0;
  if (int64_t g = gpu_peak_memory_bytes(pipe.device); g >= 0) row.peak_gpu_mib = static_cast<double>(g) / 1048576.0;
  if (req.profile > 0) {  // after the peaks are read: they cover the warm-up and timed runs only
    OpProfile profile;
    fn();
    synchronize(pipe.device);
    auto ops = profile.ops();
    row.profiled_s = profile.total_s();
    if (ops.size() > static_cast<size_t>(req.profile)) ops.resize(static_cast<size_t>(req.profile));
    row.ops = std::move(ops);
  }
  return row;
}

// The conditioning a denoiser of these caps is benchmarked with: a prediction clip (first latent
// given, s = 0) for frame-mask models, class 0 for class-conditional ones, zero text otherwise.
Conditioning bench_condition(const DenoiserCaps& caps, const at::Tensor& x, at::Generator& gen) {
  Conditioning c;
  const auto opts = x.options();
  if (caps.masked) {
    c.mask = at::zeros({x.size(0), 1, x.size(2), x.size(3), x.size(4)}, opts);
    c.mask.narrow(2, 0, 1).fill_(1.0);
    c.cond_latent = at::randn(x.sizes(), gen, opts.device(at::kCPU)).to(x.device());
    if (caps.noisy_cond) c.cond_noise_level = at::zeros({x.size(0)}, opts.dtype(at::kLong));
  }
  if (caps.num_classes > 0) c.class_label = at::zeros({x.size(0)}, opts.dtype(at::kLong));
  if (caps.context_dim > 0) c.context = at::zeros({x.size(0), 77, caps.context_dim}, opts);
  return c;
}

SamplerOptions bench_sampler(const VideoPipeline& pipe, const BenchRequest& req) {
  SamplerOptions s = pipe.default_sampler;
  s.steps = static_cast<int>(req.steps);
  try {
    check_sampler_options(s, pipe.schedule->num_train_timesteps());
  } catch (const Error&) {
    if (s.method != "ddim") throw;
    s.spacing = "linspace";  // LVDM's spacing cannot make this many steps (sampler.h): time the same work
    check_sampler_options(s, pipe.schedule->num_train_timesteps());
  }
  return s;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& bench_cases() {
  static const std::vector<std::pair<std::string, std::string>> cases = {
      {"denoiser", "one forward of the main denoiser on a clip"},
      {"step", "one sampler step (the model's sampler and guidance), averaged over --steps"},
      {"clip", "a whole clip: --steps sampler steps + decoding"},
      {"decode", "the autoencoder decoding --latent-frames latent frames, streamed in its default windows"},
      {"encode", "the autoencoder encoding the video of --latent-frames latent frames in its default windows"},
      {"long", "a video of --long-frames frames (keyframes + interpolation when the model can)"},
      {"i3d", "the FVD detector (random-weight InceptionI3d) on --batch clips of 16x224x224"},
  };
  return cases;
}

std::vector<BenchRow> run_benchmarks(VideoPipeline& pipe, const BenchRequest& req) {
  for (const auto& c : req.cases) {
    bool known = false;
    for (const auto& k : bench_cases()) known = known || k.first == c;
    if (!known) fail("bench: unknown case '{}' (denoiser, step, clip, decode, encode, long, i3d)", c);
  }
  if (req.iters < 1 || req.warmup < 0 || req.batch < 1 || req.steps < 1 || req.latent_frames < 1 || req.long_frames < 1)
    fail("bench: --iters, --batch, --steps, --latent-frames and --long-frames must be >= 1 (--warmup >= 0)");
  torch::NoGradGuard ng;
  const auto& caps = pipe.main.caps;
  const int64_t clip_t = caps.clip_len > 0 ? caps.clip_len : 16;
  const auto f = pipe.factors();
  auto gen = make_generator(req.seed);
  const auto dev = at::TensorOptions().device(pipe.device);
  std::vector<BenchRow> rows;
  for (const auto& c : req.cases) {
    spdlog::info("bench: {}", c);
    if (c == "denoiser") {
      auto x = at::randn({req.batch, caps.latent_channels, clip_t, caps.latent_height, caps.latent_width}, gen).to(pipe.device);
      auto t = at::full({req.batch}, int64_t{500}, dev.dtype(at::kLong));
      auto cond = bench_condition(caps, x, gen);
      AutocastScope autocast(pipe.device, pipe.autocast_dtype());  // one scope over all runs, as generate's over its steps
      rows.push_back(time_case(pipe, req, c,
                               fmt::format("{} x [{}, {}, {}, {}, {}]", pipe.main.describe, req.batch,
                                           caps.latent_channels, clip_t, caps.latent_height, caps.latent_width),
                               [&] { pipe.main.net->forward(x, t, cond); }));
    } else if (c == "step" || c == "clip") {
      auto s = bench_sampler(pipe, req);
      const int64_t frames = clip_t * f[0];
      NullSink sink;
      if (c == "step") {
        auto x_T = at::randn({1, caps.latent_channels, clip_t, caps.latent_height, caps.latent_width}, gen).to(pipe.device);
        Conditioning cond = caps.num_classes > 0 ? bench_condition(caps, x_T, gen) : Conditioning{};
        Conditioning uncond;
        if (caps.num_classes > 0) uncond.class_label = at::full({1}, caps.num_classes, dev.dtype(at::kLong));
        const double cfg = caps.num_classes > 0 ? pipe.default_cfg_scale : 1.0;
        AutocastScope autocast(pipe.device, pipe.autocast_dtype());
        auto row = time_case(pipe, req, c, fmt::format("{} {} steps{}", s.method, s.steps, cfg != 1.0 ? fmt::format(", CFG {}", cfg) : ""),
                             [&] {
                               if (cfg != 1.0) {
                                 GuidedDenoiser g(*pipe.main.net, uncond, cfg, GuidanceMode::Cfg);
                                 sample(g, *pipe.schedule, x_T, cond, s, gen);
                               } else {
                                 sample(*pipe.main.net, *pipe.schedule, x_T, cond, s, gen);
                               }
                             });
        // per step, like every figure of the row (the op profile's calls too, rounded)
        const double n = static_cast<double>(s.steps);
        row.mean_s /= n;
        row.min_s /= n;
        row.flops /= n;
        row.profiled_s /= n;
        for (auto& op : row.ops) {
          op.self_s /= n;
          op.calls = static_cast<int64_t>(std::llround(static_cast<double>(op.calls) / n));
        }
        rows.push_back(row);
      } else {
        GenerateRequest g;
        g.frames = frames;
        g.sampler = s;
        g.seed = req.seed;
        g.show_progress = false;
        g.class_label = caps.num_classes > 0 ? 0 : -1;
        rows.push_back(time_case(pipe, req, c, fmt::format("{} frames, {} {} steps, decoded", frames, s.method, s.steps),
                                 [&] { generate_video(pipe, g, sink); }));
      }
    } else if (c == "decode") {
      auto z = at::randn({1, caps.latent_channels, req.latent_frames, caps.latent_height, caps.latent_width}, gen);
      NullSink sink;
      rows.push_back(time_case(pipe, req, c,
                               fmt::format("{} latent frames -> {} frames {}x{}", req.latent_frames, req.latent_frames * f[0],
                                           caps.latent_width * f[2], caps.latent_height * f[1]),
                               [&] { pipe.decode_to_sink(z, req.latent_frames * f[0], sink, -1); }));
    } else if (c == "encode") {
      auto video = (at::rand({1, pipe.autoencoder->video_channels(), req.latent_frames * f[0], caps.latent_height * f[1],
                              caps.latent_width * f[2]},
                             gen) * 2 - 1).to(pipe.device);
      const auto w = pipe.autoencoder->default_encode_window();
      rows.push_back(time_case(pipe, req, c,
                               fmt::format("{} frames {}x{} -> {} latent frames (window {}, overlap {})", video.size(2),
                                           video.size(4), video.size(3), req.latent_frames, w.window, w.overlap),
                               [&] { pipe.autoencoder->encode_windowed(video, w.window, w.overlap); }));
    } else if (c == "long") {
      GenerateRequest g;
      g.frames = req.long_frames;
      g.sampler = bench_sampler(pipe, req);
      g.sampler.steps = pipe.default_sampler.steps;  // the model's own steps: the run a user makes
      g.seed = req.seed;
      g.show_progress = false;
      NullSink sink;
      rows.push_back(time_case(pipe, req, c, fmt::format("{} frames, {} {} steps", req.long_frames, g.sampler.method, g.sampler.steps),
                               [&] { generate_video(pipe, g, sink); }));
    } else if (c == "i3d") {
      torch::manual_seed(static_cast<int64_t>(req.seed));
      InceptionI3d net;
      net->eval();
      net->to(pipe.device);
      auto x = (at::rand({req.batch, 3, 16, 224, 224}, gen) * 2 - 1).to(pipe.device);
      rows.push_back(time_case(pipe, req, c, fmt::format("InceptionI3d (random weights) x [{}, 3, 16, 224, 224]", req.batch),
                               [&] { net->forward(x); }));
    }
  }
  return rows;
}

std::string bench_json(const VideoPipeline& pipe, const BenchRequest& req, const std::vector<BenchRow>& rows) {
  nlohmann::ordered_json j;
  j["machine"] = {{"device", pipe.device.str()},
                  {"gpu", gpu_name(pipe.device)},
                  {"dtype", c10::toString(pipe.dtype)},
                  {"autocast", pipe.autocast},
                  {"vae_dtype", pipe.autoencoder ? c10::toString(pipe.autoencoder->compute_dtype()) : "none"},
                  {"torch_threads", at::get_num_threads()},
                  {"hardware_threads", std::thread::hardware_concurrency()},
                  {"torch", TORCH_VERSION}};
  j["model"] = pipe.describe();
  j["request"] = {{"iters", req.iters}, {"warmup", req.warmup}, {"batch", req.batch},
                  {"steps", req.steps}, {"latent_frames", req.latent_frames}, {"long_frames", req.long_frames},
                  {"seed", req.seed},   {"peak_tflops", req.peak_tflops}, {"profile", req.profile}};
  auto& out = j["rows"] = nlohmann::ordered_json::array();
  for (const auto& r : rows) {
    nlohmann::ordered_json o = {{"name", r.name},         {"what", r.what},          {"iters", r.iters},
                                {"mean_s", r.mean_s},     {"min_s", r.min_s},        {"it_per_s", r.it_per_s()},
                                {"gflop", r.flops / 1e9}, {"gflop_per_s", r.gflops_per_s()}};
    o["peak_rss_mib"] = r.peak_rss_mib >= 0 ? nlohmann::ordered_json(r.peak_rss_mib) : nlohmann::ordered_json(nullptr);
    o["peak_gpu_mib"] = r.peak_gpu_mib >= 0 ? nlohmann::ordered_json(r.peak_gpu_mib) : nlohmann::ordered_json(nullptr);
    o["mfu"] = req.peak_tflops > 0 ? nlohmann::ordered_json(r.gflops_per_s() / (req.peak_tflops * 1e3))
                                   : nlohmann::ordered_json(nullptr);
    if (req.profile > 0) {
      o["profiled_s"] = r.profiled_s;
      auto& ops = o["ops"] = nlohmann::ordered_json::array();
      for (const auto& op : r.ops) ops.push_back({{"name", op.name}, {"self_s", op.self_s}, {"calls", op.calls}});
    }
    out.push_back(o);
  }
  return j.dump(1);
}

}  // namespace longvid
