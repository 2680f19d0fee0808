// longvid fvd: Fréchet Video Distance (and KVD) under a named protocol, with streaming, shardable
// statistics and FVD over time.
//   longvid fvd --real R --fake F --detector D [--protocol stylegan-v] [--num 2048] [--kvd] [--json out.json]
//   longvid fvd stats INPUT -o X.stats --detector D [--protocol P] [--kvd] [--first K --num M]
//   longvid fvd merge a.stats b.stats ... -o all.stats
//   longvid fvd curve --real R --fake LONG --detector D [--step N] [--json c.json] [--svg c.svg]
// R / F: a folder of videos, one video, a .npy / .npz of uint8 [N,T,H,W,3], or a .stats file.
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "eval/clip_input.h"
#include "eval/detector.h"
#include "eval/distances.h"
#include "eval/feature_stats.h"
#include "eval/fvd_run.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "api/fvd.h"
#include "core/process_stats.h"
#include "tools/cli.h"
#include "tools/options.h"


namespace fs = std::filesystem;

namespace longvid::cli {
namespace {

using eval::ClipOptions;
using eval::FeatureStats;

bool is_stats_file(const std::string& p) {
  auto ext = fs::path(p).extension().string();
  return ext == ".stats";
}

void add_clip_options(cxxopts::Options& o) {
  o.add_options("clips")("clip-length", "frames per clip", cxxopts::value<int64_t>()->default_value("16"))(
      "clip-stride", "step between the frames of a clip", cxxopts::value<int64_t>()->default_value("1"))(
      "sampling",
      "clip offsets: random (seeded, per clip) or start (frame 0; one long video: consecutive windows every --hop)",
      cxxopts::value<std::string>()->default_value("random"))(
      "hop", "one long video with --sampling start: frames between clip starts (0: clip span)",
      cxxopts::value<int64_t>()->default_value("0"))(
      "num", "number of clips per set (-1: one per video / every window)",
      cxxopts::value<int64_t>()->default_value("2048"))(
      "first", "index of the first clip (shards: --first K --num M)", cxxopts::value<int64_t>()->default_value("0"))(
      "seed", "seed of the clip offsets (and KVD subsets)", cxxopts::value<uint64_t>()->default_value("0"))(
      "npz-array", "array name inside a .npz (default: the first)", cxxopts::value<std::string>()->default_value(""));
}

void add_detector_options(cxxopts::Options& o) {
  o.add_options("detector")("detector", "detector file (i3d_torchscript.pt, i3d_pretrained_400.pt)",
                            cxxopts::value<std::string>()->default_value(""))(
      "protocol", "stylegan-v | tf | videogpt | lvdm", cxxopts::value<std::string>()->default_value("stylegan-v"))(
      "batch", "clips per detector call", cxxopts::value<int64_t>()->default_value("16"))(
      "device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"));
}

// The fake set generated in the run (fvd --model, fvd stats --model).
void add_generation_options(cxxopts::Options& o) {
  add_model_options(o, "generated fake set",
                    "generate the fake set in the run with this model (checkpoint; 'default': the bundled model; "
                    "'random': a tiny random-weight model) instead of reading --fake",
                    /*default_model=*/false);
  add_sampler_options(o, "generated fake set");
  o.add_options("generated fake set")(
      "seed-start", "seed of generated video i: seed-start + first + i", cxxopts::value<uint64_t>()->default_value("0"))(
      "gen-frames", "frames per generated video (0: the clip span)", cxxopts::value<int64_t>()->default_value("0"))(
      "dtype", "fp32 | bf16 | fp16: the denoiser's precision (bf16/fp16: its weights are cast; norms, softmax and the sampler stay fp32)", cxxopts::value<std::string>()->default_value("fp32"))(
      "autocast", "with --dtype bf16|fp16: keep fp32 weights and run the denoiser under autocast instead", cxxopts::value<bool>()->default_value("false"))(
      "vae-dtype", "fp32 | bf16 | fp16: the autoencoder's precision", cxxopts::value<std::string>()->default_value("fp32"))(
      "keep-videos", "also keep the generated videos in this folder (y4m)", cxxopts::value<std::string>());
}

ClipOptions clip_options(const cxxopts::ParseResult& a) {
  ClipOptions c;
  c.length = a["clip-length"].as<int64_t>();
  c.stride = a["clip-stride"].as<int64_t>();
  c.sampling = a["sampling"].as<std::string>();
  c.hop = a["hop"].as<int64_t>();
  c.num = a["num"].as<int64_t>();
  c.first = a["first"].as<int64_t>();
  c.seed = a["seed"].as<uint64_t>();
  if (c.length < 1 || c.stride < 1) fail("--clip-length and --clip-stride must be >= 1");
  if (c.sampling != "random" && c.sampling != "start") fail("--sampling must be random or start, got '{}'", c.sampling);
  return c;
}

bool help_or_usage(const cxxopts::Options& o, const cxxopts::ParseResult& a) {
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return true;
  }
  return false;
}

// Lazily loaded detector (not needed when both sides are .stats files).
struct DetectorHolder {
  std::string path, protocol;
  c10::Device device{c10::kCPU};
  std::unique_ptr<eval::VideoDetector> det;
  eval::VideoDetector& get() {
    if (!det) {
      if (path.empty()) fail_hint("pass --detector FILE (i3d_torchscript.pt or i3d_pretrained_400.pt)",
                                  "computing features needs a detector");
      det = eval::load_detector(path, protocol, device);
      spdlog::info("detector: {}", det->describe());
    }
    return *det;
  }
};

FeatureStats stats_for(const std::string& input, const ClipOptions& co, bool keep, DetectorHolder& dh,
                       int64_t batch, const std::string& npz_array, const std::string& label) {
  if (is_stats_file(input)) {
    FeatureStats s = FeatureStats::load(input);
    auto it = s.metadata.find("protocol");
    if (it != s.metadata.end() && it->second != dh.protocol)
      fail("{}: statistics computed under protocol '{}', this run uses '{}'", input, it->second, dh.protocol);
    auto cl = s.metadata.find("clip_length");
    if (cl != s.metadata.end() && cl->second != std::to_string(co.length))
      fail("{}: statistics of {}-frame clips, this run uses --clip-length {}", input, cl->second, co.length);
    if (keep && !s.keeps_features())
      fail_hint("recompute it with `longvid fvd stats ... --kvd`", "{}: --kvd needs features, this .stats file has none",
                input);
    spdlog::info("{}: {} clips from {}", label, s.count(), input);
    return s;
  }
  auto in = eval::open_clip_input(input, npz_array);
  auto refs = eval::plan_clips(*in, co);
  if (co.num > in->items() && in->kind() != "video")
    spdlog::warn("{}: {} clips from {} items: items are reused (at other offsets with --sampling random)", label,
                 refs.size(), in->items());
  spdlog::info("{}: {} clips of {} frames from {}", label, refs.size(), co.length, in->describe());
  auto& det = dh.get();
  Progress prog(label, static_cast<int64_t>(refs.size()));
  FeatureStats s = eval::accumulate_stats(*in, refs, co.length, co.stride, det, keep, batch, prog.fn());
  prog.finish();
  s.metadata = co.metadata();
  s.metadata["protocol"] = dh.protocol;
  s.metadata["detector"] = det.describe();
  s.metadata["source"] = in->describe();
  s.metadata["clips"] = fmt::format("{}-{}", co.first, co.first + static_cast<int64_t>(refs.size()) - 1);
  return s;
}


// --num videos generated with seeds seed-start + first + i (i < num), streamed into the detector
// (api/fvd.h); with --keep-videos also written there (y4m).
FeatureStats generated_stats(const cxxopts::ParseResult& a, const ClipOptions& co, bool keep, DetectorHolder& dh,
                             int64_t batch) {
  if (co.num < 1) fail("--num {}: the number of videos to generate must be at least 1", co.num);
  if (co.first < 0) fail("--first {}: must be >= 0", co.first);
  FakeSetRequest r;
  read_sampler_options(a, neutral_sampler());  // checked now; the model's defaults apply after loading
  r.generate.frames = a["gen-frames"].as<int64_t>() > 0 ? a["gen-frames"].as<int64_t>() : co.span();
  r.seed0 = a["seed-start"].as<uint64_t>() + static_cast<uint64_t>(co.first);
  r.first = co.first;
  r.num = co.num;
  r.clip_length = co.length;
  r.clip_stride = co.stride;
  r.keep_features = keep;
  r.batch = batch;
  if (a.count("keep-videos")) r.keep_dir = a["keep-videos"].as<std::string>();
  if (r.generate.frames < co.span())
    fail("--gen-frames {}: shorter than a clip ({} frames with --clip-length {} --clip-stride {})", r.generate.frames,
         co.span(), co.length, co.stride);
  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  ModelSpec spec = read_model_options(a);
  spec.load.device = policy.device;
  spec.load.dtype = policy.dtype;
  spec.load.autocast = a["autocast"].as<bool>();
  spec.load.vae_dtype = parse_dtype(a["vae-dtype"].as<std::string>(), "--vae-dtype");
  VideoPipeline pipe = load_model(spec);
  r.generate.sampler = read_sampler_options(a, pipe.default_sampler);
  check_sampler_options(r.generate.sampler, pipe.schedule->num_train_timesteps());
  auto& det = dh.get();
  const auto& so = r.generate.sampler;
  const uint64_t last = r.seed0 + static_cast<uint64_t>(co.num) - 1;
  spdlog::info("fake: {} videos of {} frames generated with seeds {}..{} ({} {} steps, {})", co.num, r.generate.frames,
               r.seed0, last, so.method, so.steps, pipe.describe());
  Progress prog("fake", co.num);
  FeatureStats s = generated_feature_stats(pipe, r, det, prog.fn());
  prog.finish();
  s.metadata = co.metadata();
  s.metadata["clip_sampling"] = "start";
  s.metadata["protocol"] = dh.protocol;
  s.metadata["detector"] = det.describe();
  s.metadata["source"] = fmt::format("generated: {} ({} frames, {} {} steps, eta {}, seeds {}..{})", pipe.describe(),
                                     r.generate.frames, so.method, so.steps, so.eta, r.seed0, last);
  s.metadata["clips"] = fmt::format("{}-{}", co.first, co.first + co.num - 1);
  return s;
}

eval::ProtocolSpec spec_from(const cxxopts::ParseResult& a) {
  eval::ProtocolSpec spec = eval::protocol_spec(a["protocol"].as<std::string>());
  if (a.count("sqrt")) spec.sqrt = eval::parse_sqrt_method(a["sqrt"].as<std::string>());
  if (a.count("cov")) {
    const auto c = a["cov"].as<std::string>();
    if (c != "n" && c != "n-1") fail("--cov must be n or n-1, got '{}'", c);
    spec.unbiased_cov = c == "n-1";
  }
  return spec;
}

nlohmann::json spec_json(const eval::ProtocolSpec& s) {
  return {{"name", s.name},
          {"covariance", s.unbiased_cov ? "n-1" : "n"},
          {"sqrt", eval::sqrt_method_name(s.sqrt)},
          {"svd_eps", s.svd_eps}};
}

int fvd_main(int argc, char** argv) {
  cxxopts::Options o("longvid fvd", "FVD (and KVD) between a real and a fake set of videos");
  o.add_options()("real", "real set (folder, video, .npy/.npz, .stats)", cxxopts::value<std::string>())(
      "fake", "fake set (folder, video, .npy/.npz, .stats)", cxxopts::value<std::string>())(
      "kvd", "also compute KVD (keeps the features)", cxxopts::value<bool>()->default_value("false"))(
      "kvd-subsets", "KVD: number of subsets", cxxopts::value<int64_t>()->default_value("100"))(
      "kvd-subset-size", "KVD: max subset size", cxxopts::value<int64_t>()->default_value("1000"))(
      "sqrt", "override the protocol's square root: sqrtm | svd", cxxopts::value<std::string>())(
      "cov", "override the protocol's covariance normalisation: n | n-1", cxxopts::value<std::string>())(
      "fake-sampling",
      "clip offsets of the fake set: start (StyleGAN-V reads generated videos from frame 0) or random",
      cxxopts::value<std::string>()->default_value("start"))(
      "json", "write the report as JSON", cxxopts::value<std::string>())("h,help", "this help");
  add_detector_options(o);
  add_clip_options(o);
  add_generation_options(o);
  auto a = o.parse(argc, argv);
  if (help_or_usage(o, a)) return kExitOk;
  const bool generate = a.count("model") > 0;
  if (!a.count("real") || (a.count("fake") > 0) == generate) {
    std::fprintf(stderr, "longvid fvd: error: need --real and one of --fake / --model (see --help)\n");
    return kExitUsage;
  }
  const eval::ProtocolSpec spec = spec_from(a);
  const ClipOptions co = clip_options(a);
  DetectorHolder dh{a["detector"].as<std::string>(), spec.name, parse_device(a["device"].as<std::string>())};
  const bool kvd = a["kvd"].as<bool>();
  const int64_t batch = a["batch"].as<int64_t>();
  const std::string npz = a["npz-array"].as<std::string>();
  const std::string real_p = a["real"].as<std::string>();
  const std::string fake_p = generate ? "model " + a["model"].as<std::string>() : a["fake"].as<std::string>();
  auto t0 = std::chrono::steady_clock::now();
  ClipOptions fco = co;  // StyleGAN-V: real clips at random offsets, generated ones from frame 0
  fco.sampling = a["fake-sampling"].as<std::string>();
  if (fco.sampling != "random" && fco.sampling != "start")
    fail("--fake-sampling must be random or start, got '{}'", fco.sampling);
  FeatureStats real = stats_for(real_p, co, kvd, dh, batch, npz, "real");
  FeatureStats fake =
      generate ? generated_stats(a, fco, kvd, dh, batch) : stats_for(fake_p, fco, kvd, dh, batch, npz, "fake");
  const double fvd = eval::fvd(real, fake, spec);
  double kvd_v = 0;
  eval::KernelOptions ko;
  ko.num_subsets = a["kvd-subsets"].as<int64_t>();
  ko.max_subset_size = a["kvd-subset-size"].as<int64_t>();
  ko.seed = co.seed;
  if (kvd) kvd_v = eval::kernel_distance(real.features(), fake.features(), ko);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json j;
  j["protocol"] = spec_json(spec);
  j["detector"] = dh.det ? dh.det->describe() : (real.metadata.count("detector") ? real.metadata["detector"] : "");
  j["clips"] = co.metadata();
  j["clips"]["num"] = co.num;
  j["clips"]["fake_sampling"] = fco.sampling;
  j["real"] = {{"input", real_p}, {"count", real.count()}, {"metadata", real.metadata}};
  j["fake"] = {{"input", fake_p}, {"count", fake.count()}, {"metadata", fake.metadata}};
  j["feature_dim"] = real.dim();
  j["fvd"] = fvd;
  if (kvd) {
    j["kvd"] = kvd_v;
    j["kvd_x1000"] = kvd_v * 1000.0;  // StyleGAN-V reports its kernel distance multiplied by 1000
    j["kvd_options"] = {{"num_subsets", ko.num_subsets}, {"max_subset_size", ko.max_subset_size}, {"seed", ko.seed}};
  }
  j["seconds"] = secs;
  std::printf("protocol: %s (covariance /%s, %s square root%s)\n", spec.name.c_str(), spec.unbiased_cov ? "(N-1)" : "N",
              eval::sqrt_method_name(spec.sqrt),
              spec.sqrt == eval::SqrtMethod::TfSvd ? fmt::format(", eps {:g}", spec.svd_eps).c_str() : "");
  std::printf("detector: %s\n", j["detector"].get<std::string>().c_str());
  std::printf("clips: length %lld, stride %lld, sampling real %s / fake %s, hop %lld, num %lld, first %lld, seed %llu\n",
              static_cast<long long>(co.length), static_cast<long long>(co.stride), co.sampling.c_str(),
              fco.sampling.c_str(),
              static_cast<long long>(co.hop), static_cast<long long>(co.num), static_cast<long long>(co.first),
              static_cast<unsigned long long>(co.seed));
  std::printf("real: %s (%lld clips)\nfake: %s (%lld clips)\n", real_p.c_str(), static_cast<long long>(real.count()),
              fake_p.c_str(), static_cast<long long>(fake.count()));
  std::printf("FVD: %.6f\n", fvd);
  if (kvd)
    std::printf("KVD: %.8f (x1000: %.5f; %lld subsets of <= %lld, seed %llu)\n", kvd_v, kvd_v * 1000.0, static_cast<long long>(ko.num_subsets),
                static_cast<long long>(ko.max_subset_size), static_cast<unsigned long long>(ko.seed));
  if (a.count("json")) write_text_atomically(a["json"].as<std::string>(), j.dump(2) + "\n");
  return kExitOk;
}

int fvd_stats(int argc, char** argv) {
  cxxopts::Options o("longvid fvd stats", "Feature statistics of a set of clips, saved as a .stats file");
  o.add_options()("input", "folder, video or .npy/.npz", cxxopts::value<std::string>())(
      "o,output", "output .stats file", cxxopts::value<std::string>())(
      "kvd", "keep the features (for KVD)", cxxopts::value<bool>()->default_value("false"))("h,help", "this help");
  add_detector_options(o);
  add_clip_options(o);
  add_generation_options(o);
  o.parse_positional({"input"});
  o.positional_help("INPUT | --model M");
  auto a = o.parse(argc, argv);
  if (help_or_usage(o, a)) return kExitOk;
  const bool generate = a.count("model") > 0;
  if ((a.count("input") > 0) == generate || !a.count("output")) {
    std::fprintf(stderr, "longvid fvd stats: error: need INPUT or --model M, and -o X.stats (see --help)\n");
    return kExitUsage;
  }
  const std::string in = generate ? "" : a["input"].as<std::string>(), out = a["output"].as<std::string>();
  if (!generate && is_stats_file(in)) fail("{}: already a .stats file (use `longvid fvd merge` to combine)", in);
  eval::protocol_spec(a["protocol"].as<std::string>());  // validates the name before any work
  const ClipOptions co = clip_options(a);
  DetectorHolder dh{a["detector"].as<std::string>(), a["protocol"].as<std::string>(),
                    parse_device(a["device"].as<std::string>())};
  auto t0 = std::chrono::steady_clock::now();
  FeatureStats s = generate ? generated_stats(a, co, a["kvd"].as<bool>(), dh, a["batch"].as<int64_t>())
                            : stats_for(in, co, a["kvd"].as<bool>(), dh, a["batch"].as<int64_t>(),
                                        a["npz-array"].as<std::string>(), "stats");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.save(out);
  std::printf("%s: %lld clips, %lld-d features, protocol %s, clips %s (%.2f clips/s, peak RSS %ld KiB)\n",
              out.c_str(), static_cast<long long>(s.count()), static_cast<long long>(s.dim()), dh.protocol.c_str(),
              s.metadata["clips"].c_str(), s.count() / std::max(secs, 1e-9), peak_rss_kib());
  return kExitOk;
}

int fvd_merge(int argc, char** argv) {
  cxxopts::Options o("longvid fvd merge", "Merge .stats shards exactly (same protocol, detector dimension, clips)");
  o.add_options()("inputs", "shards", cxxopts::value<std::vector<std::string>>())(
      "o,output", "merged .stats file", cxxopts::value<std::string>())("h,help", "this help");
  o.parse_positional({"inputs"});
  o.positional_help("A.stats B.stats ...");
  auto a = o.parse(argc, argv);
  if (help_or_usage(o, a)) return kExitOk;
  if (!a.count("inputs") || !a.count("output")) {
    std::fprintf(stderr, "longvid fvd merge: error: need shards and -o OUT.stats (see --help)\n");
    return kExitUsage;
  }
  const auto ins = a["inputs"].as<std::vector<std::string>>();
  FeatureStats all = FeatureStats::load(ins[0]);
  std::string clips = all.metadata.count("clips") ? all.metadata["clips"] : "?";
  for (size_t i = 1; i < ins.size(); ++i) {
    FeatureStats s = FeatureStats::load(ins[i]);
    all.merge(s, ins[0], ins[i]);
    clips += "," + (s.metadata.count("clips") ? s.metadata["clips"] : std::string("?"));
    for (const char* k : {"clip_seed", "clip_sampling", "detector"})
      if (all.metadata[k] != s.metadata[k])
        spdlog::warn("{}: {} '{}' differs from {} ('{}')", ins[i], k, s.metadata[k], ins[0], all.metadata[k]);
  }
  all.metadata["clips"] = clips;
  all.metadata["merged_from"] = std::to_string(ins.size());
  all.save(a["output"].as<std::string>());
  std::printf("%s: %lld clips from %zu shards (clips %s)\n", a["output"].as<std::string>().c_str(),
              static_cast<long long>(all.count()), ins.size(), clips.c_str());
  return kExitOk;
}

int fvd_curve(int argc, char** argv) {
  cxxopts::Options o("longvid fvd curve",
                     "FVD of each window position of long fake videos against the real set (LVDM's FVD over time)");
  o.add_options()("real", "real set (folder, video, .npy/.npz, .stats)", cxxopts::value<std::string>())(
      "fake",
      "long fake videos: a folder / .npy / .npz (one clip per video at each position) or ONE long video "
      "(clips every --segment-hop frames inside a --segment-frame segment at each position)",
      cxxopts::value<std::string>())("step", "frames between window positions (0: --segment for one video, "
                                             "else the clip span)",
                                     cxxopts::value<int64_t>()->default_value("0"))(
      "segment", "one long video: frames per position", cxxopts::value<int64_t>()->default_value("64"))(
      "segment-hop", "one long video: frames between clips inside a segment",
      cxxopts::value<int64_t>()->default_value("1"))(
      "sqrt", "override the protocol's square root: sqrtm | svd", cxxopts::value<std::string>())(
      "cov", "override the protocol's covariance normalisation: n | n-1", cxxopts::value<std::string>())(
      "json", "output JSON", cxxopts::value<std::string>()->default_value("fvd_curve.json"))(
      "svg", "output SVG plot", cxxopts::value<std::string>()->default_value("fvd_curve.svg"))("h,help", "this help");
  add_detector_options(o);
  add_clip_options(o);
  auto a = o.parse(argc, argv);
  if (help_or_usage(o, a)) return kExitOk;
  if (!a.count("real") || !a.count("fake")) {
    std::fprintf(stderr, "longvid fvd curve: error: need --real and --fake (see --help)\n");
    return kExitUsage;
  }
  const eval::ProtocolSpec spec = spec_from(a);
  const ClipOptions co = clip_options(a);
  DetectorHolder dh{a["detector"].as<std::string>(), spec.name, parse_device(a["device"].as<std::string>())};
  const int64_t batch = a["batch"].as<int64_t>();
  const std::string npz = a["npz-array"].as<std::string>();
  const std::string real_p = a["real"].as<std::string>(), fake_p = a["fake"].as<std::string>();
  auto in = eval::open_clip_input(fake_p, npz);
  const bool single = in->kind() == "video";
  const int64_t segment = a["segment"].as<int64_t>(), seg_hop = a["segment-hop"].as<int64_t>();
  const auto plan = eval::plan_curve(*in, co, a["step"].as<int64_t>(), segment, seg_hop);
  const int64_t step = plan.size() > 1 ? plan[1].position - plan[0].position : a["step"].as<int64_t>();
  spdlog::info("curve: {} positions of {} from {}", plan.size(), single ? "segments" : "clips", in->describe());
  FeatureStats real = stats_for(real_p, co, false, dh, batch, npz, "real");
  std::vector<double> xs, ys;
  nlohmann::json pts = nlohmann::json::array();
  auto& det = dh.get();
  Progress prog("curve", static_cast<int64_t>(plan.size()));
  for (const auto& cp : plan) {
    FeatureStats f = eval::accumulate_stats(*in, cp.clips, co.length, co.stride, det, false, batch);
    const double v = eval::fvd(real, f, spec);
    xs.push_back(static_cast<double>(cp.position));
    ys.push_back(v);
    pts.push_back({{"position", cp.position}, {"clips", f.count()}, {"fvd", v}});
    prog.step();
  }
  prog.finish();
  for (const auto& p : pts)
    std::printf("position %lld: FVD %.4f (%lld clips)\n", static_cast<long long>(p["position"].get<int64_t>()),
                p["fvd"].get<double>(), static_cast<long long>(p["clips"].get<int64_t>()));
  nlohmann::json j;
  j["protocol"] = spec_json(spec);
  j["detector"] = det.describe();
  j["clips"] = co.metadata();
  j["real"] = {{"input", real_p}, {"count", real.count()}};
  j["fake"] = {{"input", fake_p}, {"description", in->describe()}, {"single_video", single}};
  j["step"] = step;
  if (single) j["segment"] = {{"frames", segment}, {"hop", seg_hop}};
  j["points"] = pts;
  const std::string title = fmt::format("FVD over time ({}, {}-frame clips)", spec.name, co.length);
  write_text_atomically(a["json"].as<std::string>(), j.dump(2) + "\n");
  write_text_atomically(a["svg"].as<std::string>(), eval::svg_line_plot(xs, ys, title, "first frame of the window", "FVD"));
  std::printf("protocol: %s; %zu positions -> %s, %s\n", spec.name.c_str(), xs.size(),
              a["json"].as<std::string>().c_str(), a["svg"].as<std::string>().c_str());
  return kExitOk;
}


// Measurement behind tools/bench/fvd_stats.sh: the input + accumulation path of `fvd stats`.
// With --detector: the whole path. Without: clips are read exactly as `fvd stats` reads them and
// their features replaced by random float64 [B, --dim] vectors (labelled as such in the output),
// which measures reading + accumulation only.
int fvd_bench(int argc, char** argv) {
  cxxopts::Options o("longvid fvd bench", "Throughput (clips/s) and peak RSS of the statistics path");
  o.add_options()("input", "folder, video or .npy/.npz", cxxopts::value<std::string>())(
      "dim", "feature dimension without a detector", cxxopts::value<int64_t>()->default_value("400"))(
      "kvd", "keep the features", cxxopts::value<bool>()->default_value("false"))("h,help", "this help");
  add_detector_options(o);
  add_clip_options(o);
  o.parse_positional({"input"});
  auto a = o.parse(argc, argv);
  if (help_or_usage(o, a)) return kExitOk;
  if (!a.count("input")) {
    std::fprintf(stderr, "longvid fvd bench: error: need INPUT\n");
    return kExitUsage;
  }
  const ClipOptions co = clip_options(a);
  auto in = eval::open_clip_input(a["input"].as<std::string>(), a["npz-array"].as<std::string>());
  auto refs = eval::plan_clips(*in, co);
  DetectorHolder dh{a["detector"].as<std::string>(), a["protocol"].as<std::string>(),
                    parse_device(a["device"].as<std::string>())};
  const int64_t dim = a["dim"].as<int64_t>();
  const bool with_det = !dh.path.empty();
  double t_feat = 0;
  auto t0 = std::chrono::steady_clock::now();
  eval::FeatureFn fn = [&](const at::Tensor& c) {
    auto s = std::chrono::steady_clock::now();
    at::Tensor f = with_det ? dh.get().features(c) : at::randn({c.size(0), dim}, at::kDouble);
    t_feat += std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
    return f;
  };
  FeatureStats s = eval::accumulate_stats(*in, refs, co.length, co.stride, fn, a["kvd"].as<bool>(),
                                          a["batch"].as<int64_t>());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("clips=%lld features=%s dim=%lld seconds=%.3f clips_per_s=%.2f feature_seconds=%.3f "
              "read_accumulate_clips_per_s=%.2f peak_rss_kib=%ld\n",
              static_cast<long long>(s.count()), with_det ? dh.get().describe().c_str() : "random(no detector)",
              static_cast<long long>(s.dim()), secs, s.count() / secs, t_feat, s.count() / std::max(secs - t_feat, 1e-9),
              peak_rss_kib());
  return kExitOk;
}

int fvd_command(int argc, char** argv) {
  if (argc >= 2) {
    const std::string sub = argv[1];
    auto shift = [&](int (*fn)(int, char**), const char* name) {
      std::string n = std::string("longvid fvd ") + name;
      std::vector<char*> v{n.data()};
      for (int i = 2; i < argc; ++i) v.push_back(argv[i]);
      return fn(static_cast<int>(v.size()), v.data());
    };
    if (sub == "stats") return shift(fvd_stats, "stats");
    if (sub == "merge") return shift(fvd_merge, "merge");
    if (sub == "curve") return shift(fvd_curve, "curve");
    if (sub == "bench") return shift(fvd_bench, "bench");
  }
  return fvd_main(argc, argv);
}

}  // namespace

LONGVID_COMMAND("fvd", "FVD / KVD: fvd --real R --fake F, fvd stats, fvd merge, fvd curve", fvd_command);

}  // namespace longvid::cli
