// longvid vae reconstruct | encode | decode: the LVDM 3D autoencoder on real video files.
//
//   longvid vae reconstruct --vae CKPT [--config YAML] INPUT -o OUTPUT   (prints the PSNR)
//   longvid vae encode      --vae CKPT [--config YAML] INPUT -o latents.safetensors
//   longvid vae decode      --vae CKPT [--config YAML] latents.safetensors -o OUT.mp4
//
// Video -> [1, 3, T, H, W] in [-1, 1] (x / 127.5 - 1); decoded frames -> uint8 by
// round(((x + 1) * 127.5).clamp(0, 255)). A size that is not a multiple of the spatial factor is
// padded by replication and cropped back; a frame count that is not a multiple of the temporal
// factor is padded by repeating the last frame and trimmed after decoding. Decoding is streamed
// through decode_stream (windows of --window latent frames overlapping by --overlap) into the
// writer, so the output never sits in memory as a whole. Encoding holds the selected input clip.
#include <cxxopts.hpp>

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/video_io.h"
#include "hierarchy/lvdm_pipeline.h"
#include "tools/cli.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

int run_vae_bench(int argc, char** argv);  // tools/vae_bench.cpp

namespace {

// Defaults chosen with tools/bench/vae_stream.sh (`longvid vae bench seams`): decode_stream vs one
// full decode of 256 random latent frames (random-weight AE, 4x4 latent): PSNR 19.7 dB (4:2),
// 24.0 (8:2), 27.8 (8:4), 31.5 (16:4), 33.8 (16:8), 37.9 (32:8); 8x8 latent: 24.5 (8:2),
// 34.3 (16:4), 39.1 (16:8), 40.5 (32:8). See docs/vae.md. The decoder's GroupNorm takes
// its statistics over the whole window, so larger windows agree better; 32:8 is also the
// cheapest of these (stride 24: 1.33x the frames of a full decode). Peak memory grows with the
// window: lower --window for large models / frames.
constexpr const char* kDefaultWindow = "32";
constexpr const char* kDefaultOverlap = "8";

constexpr const char* kLatentFormat = "longvid.lvdm_ae3d.latent/1";

void add_common(cxxopts::Options& o) {
  o.add_options()
    ("vae", "autoencoder checkpoint: LVDM AE .ckpt, full LVDM model .ckpt (first_stage_model.*) or safetensors", cxxopts::value<std::string>()->default_value(""))
    ("config", "autoencoder config (official videoae / LVDM YAML); empty = inferred from the weights' shapes", cxxopts::value<std::string>()->default_value(""))
    ("o,output", "output path", cxxopts::value<std::string>()->default_value(""))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16", cxxopts::value<std::string>()->default_value("fp32"))
    ("window", "latent frames per decode window (0 = all at once; lower it if memory is short)", cxxopts::value<int64_t>()->default_value(kDefaultWindow))
    ("overlap", "latent frames shared by neighbouring decode windows", cxxopts::value<int64_t>()->default_value(kDefaultOverlap))
    ("start", "first frame to use (input video for encode/reconstruct, decoded frames for decode)", cxxopts::value<int64_t>()->default_value("0"))
    ("frames", "number of frames (-1 = to the end)", cxxopts::value<int64_t>()->default_value("-1"))
    ("fps", "output frame rate; empty = the source's", cxxopts::value<std::string>()->default_value(""))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("input", "input file", cxxopts::value<std::vector<std::string>>())
    ("h,help", "show this help");
  o.parse_positional({"input"});
  o.positional_help("INPUT");
}

struct LoadedAe {
  LvdmAutoencoder3D ae{nullptr};
  DevicePolicy policy;
};

LoadedAe load_ae(const std::string& vae, const std::string& config, const DevicePolicy& policy) {
  if (vae.empty()) fail("--vae: no autoencoder checkpoint given");
  require_readable_file(vae, "--vae checkpoint");
  auto sd = load_checkpoint(vae);
  LvdmAe3dConfig cfg;
  if (config.empty()) {
    cfg = LvdmAe3dConfig::infer(sd, lvdm_ae3d_prefix(sd));
  } else {
    require_readable_file(config, "--config");
    cfg = LvdmAe3dConfig::from_config(Config::load(config));
    cfg.validate(config);
  }
  spdlog::debug("vae config: {}", cfg.to_json());
  LoadedAe r{LvdmAutoencoder3D(cfg), policy};
  r.ae->to(policy.device, policy.dtype);
  load_lvdm_ae3d(*r.ae, sd);
  r.ae->eval();
  return r;
}

// uint8 [T, H, W, 3] -> [1, 3, T', H', W'] in [-1, 1], padded (replicate) to the AE's factors.
at::Tensor to_model_input(const at::Tensor& frames, const LvdmAe3dConfig& cfg, const DevicePolicy& policy,
                          const std::string& what) {
  auto f = cfg.factors();
  int64_t T = frames.size(0), H = frames.size(1), W = frames.size(2);
  int64_t pt = (f[0] - T % f[0]) % f[0], ph = (f[1] - H % f[1]) % f[1], pw = (f[2] - W % f[2]) % f[2];
  auto x = frames.permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat).div(127.5).sub(1.0);
  if (pt)
    spdlog::info("{}: {} frames is not a multiple of {}: repeating the last frame {} time(s), trimmed after decoding",
                 what, T, f[0], pt);
  if (ph || pw)
    spdlog::info("{}: {}x{} is not a multiple of {}x{}: padding to {}x{} by replicating the edges, cropped back after "
                 "decoding", what, W, H, f[2], f[1], W + pw, H + ph);
  if (pt || ph || pw)
    x = torch::nn::functional::pad(
        x, torch::nn::functional::PadFuncOptions({0, pw, 0, ph, 0, pt}).mode(torch::kReplicate));
  return x.to(policy.device, policy.dtype);
}

// Streams decoded chunks [1, 3, n, H', W'] as uint8 frames, cropped to width x height, keeping
// decoded frames [start, start + count) (count < 0: all).
class ChunkToFrames {
 public:
  ChunkToFrames(FrameSink& sink, int64_t width, int64_t height, int64_t start, int64_t count)
      : sink_(sink), w_(width), h_(height), start_(start), count_(count) {}
  void operator()(const at::Tensor& chunk) {
    auto u8 = video_to_uint8(chunk.slice(3, 0, h_).slice(4, 0, w_), Quantize::Round);
    for (int64_t i = 0; i < u8.size(0); ++i, ++index_) {
      if (index_ < start_ || (count_ >= 0 && index_ >= start_ + count_)) continue;
      auto fr = u8[i];
      if (on_frame) on_frame(fr);
      sink_.push(fr.data_ptr<uint8_t>(), static_cast<int>(w_), static_cast<int>(h_));
      ++pushed_;
    }
  }
  int64_t pushed() const { return pushed_; }
  std::function<void(const at::Tensor&)> on_frame;

 private:
  FrameSink& sink_;
  int64_t w_, h_, start_, count_;
  int64_t index_ = 0, pushed_ = 0;
};

struct Common {
  std::string input, output, vae, config;
  DevicePolicy policy;
  int64_t window, overlap, start, frames;
  std::string fps;
  int crf;
};

Common parse_common(cxxopts::Options& o, int argc, char** argv, bool* help) {
  auto a = o.parse(argc, argv);
  *help = a.count("help") > 0;
  Common c;
  if (*help) return c;
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());
  if (!a.count("input")) fail("no input file given");
  auto inputs = a["input"].as<std::vector<std::string>>();
  if (inputs.size() != 1) fail("unexpected argument '{}'", inputs[1]);
  c.input = inputs[0];
  c.output = a["output"].as<std::string>();
  if (c.output.empty()) fail("-o/--output: no output path given");
  c.vae = a["vae"].as<std::string>();
  c.config = a["config"].as<std::string>();
  c.policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  c.window = a["window"].as<int64_t>();
  c.overlap = a["overlap"].as<int64_t>();
  c.start = a["start"].as<int64_t>();
  c.frames = a["frames"].as<int64_t>();
  c.fps = a["fps"].as<std::string>();
  c.crf = a["crf"].as<int>();
  if (c.window < 0) fail("--window {}: must be >= 0", c.window);
  if (c.window > 0 && (c.overlap < 0 || c.overlap >= c.window))
    fail("--overlap {}: must be >= 0 and smaller than --window {}", c.overlap, c.window);
  if (c.start < 0) fail("--start {}: must be >= 0", c.start);
  if (c.frames == 0 || c.frames < -1) fail("--frames {}: must be positive (or -1 for all)", c.frames);
  return c;
}

// Reads the selected frames of the input video (uint8 [T, H, W, 3]) and its frame rate.
at::Tensor read_input(const Common& c, Fps* fps) {
  require_readable_file(c.input, "input video");
  ReadOptions ro;
  ro.start = c.start;
  ro.count = c.frames;
  VideoReader reader(c.input, ro);
  *fps = reader.info().fps;
  std::vector<at::Tensor> frames;
  std::vector<uint8_t> rgb;
  while (reader.next(rgb))
    frames.push_back(torch::from_blob(rgb.data(), {reader.height(), reader.width(), 3}, at::kByte).clone());
  if (frames.empty()) fail("{}: no frames selected (--start {}, --frames {})", c.input, c.start, c.frames);
  return torch::stack(frames);
}

void check_output_differs(const Common& c) {
  std::error_code ec;
  if (std::filesystem::equivalent(c.input, c.output, ec)) fail("-o {}: the output would overwrite the input", c.output);
}

int run_reconstruct(int argc, char** argv) {
  cxxopts::Options o("longvid vae reconstruct", "Encode and decode a video with the LVDM 3D autoencoder; prints the PSNR.");
  add_common(o);
  bool help = false;
  auto c = parse_common(o, argc, argv, &help);
  if (help) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  check_output_differs(c);
  Fps fps;
  auto frames = read_input(c, &fps);
  WriteOptions wo;
  wo.fps = c.fps.empty() ? (fps.num > 0 ? fps : Fps{24, 1}) : Fps::parse(c.fps);
  wo.crf = c.crf;
  VideoWriter writer(c.output, wo);  // opened early: a bad output path fails before the work
  auto ae = load_ae(c.vae, c.config, c.policy);
  const int64_t T = frames.size(0), H = frames.size(1), W = frames.size(2);
  torch::NoGradGuard ng;
  auto x = to_model_input(frames, ae.ae->config(), c.policy, c.input);
  auto z = ae.ae->encode(x).mean;
  spdlog::info("{} frames {}x{} -> latent {}", T, W, H, fmt::format("{}", fmt::join(z.sizes(), "x")));
  x = at::Tensor();
  double se = 0.0;
  int64_t k = 0;
  ChunkToFrames to_frames(writer, W, H, 0, T);
  to_frames.on_frame = [&](const at::Tensor& fr) {
    auto d = fr.to(at::kDouble) - frames[k++].to(at::kDouble);
    se += d.pow(2).sum().item<double>();
  };
  ae.ae->decode_stream(z, c.window, c.overlap, [&](const at::Tensor& ch) { to_frames(ch); });
  if (to_frames.pushed() != T) fail("internal: decoded {} frames, expected {}", to_frames.pushed(), T);
  writer.close();
  double mse = se / static_cast<double>(T * H * W * 3);
  double psnr = mse > 0 ? 10.0 * std::log10(255.0 * 255.0 / mse) : std::numeric_limits<double>::infinity();
  std::printf("PSNR %.2f dB (MSE %.4f over %lld frames %lldx%lld)\n", psnr, mse, static_cast<long long>(T),
              static_cast<long long>(W), static_cast<long long>(H));
  spdlog::info("wrote {} ({} frames, {} fps)", c.output, writer.frames_written(), wo.fps.str());
  return cli::kExitOk;
}

int run_encode(int argc, char** argv) {
  cxxopts::Options o("longvid vae encode", "Encode a video into LVDM 3D autoencoder latents (safetensors).");
  add_common(o);
  bool help = false;
  auto c = parse_common(o, argc, argv, &help);
  if (help) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  check_output_differs(c);
  Fps fps;
  auto frames = read_input(c, &fps);
  auto ae = load_ae(c.vae, c.config, c.policy);
  const int64_t T = frames.size(0), H = frames.size(1), W = frames.size(2);
  torch::NoGradGuard ng;
  auto x = to_model_input(frames, ae.ae->config(), c.policy, c.input);
  auto z = ae.ae->encode(x).mean.to(at::kFloat).cpu().contiguous();
  StateDict sd;
  sd.set("latent", z);
  const auto& cfg = ae.ae->config();
  std::map<std::string, std::string> meta = {
      {"format", kLatentFormat},
      {"config", cfg.to_json()},
      {"normalized", "false"},  // the raw posterior mean (decode: no denormalisation)
      {"fps", (fps.num > 0 ? fps : Fps{24, 1}).str()},
      {"frames", std::to_string(T)},
      {"width", std::to_string(W)},
      {"height", std::to_string(H)},
      {"source", std::filesystem::path(c.input).filename().string()},
      {"start", std::to_string(c.start)},
  };
  save_safetensors(c.output, sd, meta);
  spdlog::info("wrote {}: latent {} for {} frames {}x{}", c.output, fmt::format("{}", fmt::join(z.sizes(), "x")), T, W,
               H);
  return cli::kExitOk;
}

int64_t meta_int(const StateDict& sd, const std::string& key, const std::string& file) {
  auto it = sd.metadata.find(key);
  if (it == sd.metadata.end()) fail("{}: metadata has no '{}' (not written by longvid vae encode?)", file, key);
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) throw std::invalid_argument("x");
    return v;
  } catch (const std::exception&) {
    fail("{}: metadata '{}' = '{}' is not a non-negative integer", file, key, it->second);
  }
}

int run_decode(int argc, char** argv) {
  cxxopts::Options o("longvid vae decode", "Decode LVDM 3D autoencoder latents (from vae encode) into a video.");
  add_common(o);
  bool help = false;
  auto c = parse_common(o, argc, argv, &help);
  if (help) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  check_output_differs(c);
  require_readable_file(c.input, "latent file");
  auto lat = load_checkpoint(c.input);
  if (!lat.contains("latent"))
    fail("{}: no 'latent' tensor (expected a file written by longvid vae encode)", c.input);
  auto z = lat.get("latent");
  if (z.dim() != 5 || z.size(0) != 1) fail("{}: 'latent' has shape {}, expected [1, C, t, h, w]", c.input, fmt::format("[{}]", fmt::join(z.sizes(), ", ")));
  const int64_t T = meta_int(lat, "frames", c.input), W = meta_int(lat, "width", c.input),
                H = meta_int(lat, "height", c.input);
  bool normalized = lat.metadata.count("normalized") && lat.metadata.at("normalized") == "true";
  Fps fps{24, 1};
  if (lat.metadata.count("fps")) fps = Fps::parse(lat.metadata.at("fps"));
  WriteOptions wo;
  wo.fps = c.fps.empty() ? fps : Fps::parse(c.fps);
  wo.crf = c.crf;
  if (c.start >= T) fail("--start {}: the latents hold {} frames", c.start, T);
  auto ae = load_ae(c.vae, c.config, c.policy);
  const auto& cfg = ae.ae->config();
  if (z.size(1) != cfg.embed_dim)
    fail("{}: latent has {} channels but the autoencoder --vae {} expects {}", c.input, z.size(1), c.vae, cfg.embed_dim);
  auto f = cfg.factors();
  if (z.size(2) * f[0] < T || z.size(3) * f[1] < H || z.size(4) * f[2] < W)
    fail("{}: latent [{}] is too small for {} frames {}x{} with this autoencoder's factors {}x{}x{}", c.input,
         fmt::join(z.sizes(), ", "), T, W, H, f[0], f[1], f[2]);
  int64_t count = c.frames < 0 ? T - c.start : std::min(c.frames, T - c.start);
  VideoWriter writer(c.output, wo);
  torch::NoGradGuard ng;
  ChunkToFrames to_frames(writer, W, H, c.start, count);
  ae.ae->decode_stream(z.to(c.policy.device, c.policy.dtype), c.window, c.overlap,
                       [&](const at::Tensor& ch) { to_frames(ch); }, normalized);
  writer.close();
  spdlog::info("wrote {} ({} frames {}x{}, {} fps)", c.output, writer.frames_written(), W, H, wo.fps.str());
  return cli::kExitOk;
}

int run_vae(int argc, char** argv) {
  const char* usage =
      "usage: longvid vae <action> [options]\n"
      "  reconstruct --vae CKPT [--config YAML] INPUT -o OUTPUT    encode + decode a video, print the PSNR\n"
      "  encode      --vae CKPT [--config YAML] INPUT -o LATENTS.safetensors\n"
      "  decode      --vae CKPT [--config YAML] LATENTS.safetensors -o OUTPUT\n"
      "  bench       seams | rss: streaming measurements (random-weight AE)\n"
      "`longvid vae <action> --help` lists the options.\n";
  if (argc < 2) fail("vae: no action given (reconstruct, encode or decode)");
  std::string action = argv[1];
  if (action == "-h" || action == "--help") return std::printf("%s", usage), cli::kExitOk;
  std::string name = "longvid vae " + action;
  std::vector<char*> sub;
  sub.push_back(name.data());
  for (int i = 2; i < argc; ++i) sub.push_back(argv[i]);
  int n = static_cast<int>(sub.size());
  if (action == "reconstruct") return run_reconstruct(n, sub.data());
  if (action == "encode") return run_encode(n, sub.data());
  if (action == "decode") return run_decode(n, sub.data());
  if (action == "bench") return run_vae_bench(argc - 1, argv + 1);
  fail("vae: unknown action '{}' (choose reconstruct, encode or decode)", action);
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("vae", "LVDM 3D autoencoder: reconstruct | encode | decode a video", longvid::run_vae);
