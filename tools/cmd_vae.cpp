// longvid vae reconstruct | encode | decode: a video autoencoder on real video files.
//
//   longvid vae reconstruct --vae CKPT [--config YAML] INPUT -o OUTPUT   (prints the PSNR)
//   longvid vae encode      --vae CKPT [--config YAML] INPUT -o latents.safetensors
//   longvid vae decode      --vae CKPT [--config YAML] latents.safetensors -o OUT.mp4
//
// --vae: the LVDM 3D AE (ae_*.ckpt, a full LVDM model .ckpt with first_stage_model.*, or
// safetensors with those names) or SD's 2D AutoencoderKL applied per frame (a diffusers folder
// with config.json, a diffusers / SD safetensors, an SD-style .ckpt with first_stage_model.*);
// the kind is detected from the tensors (--kind overrides).
// Video -> [1, 3, T, H, W] in [-1, 1] (x / 127.5 - 1); decoded frames -> uint8 by
// round(((x + 1) * 127.5).clamp(0, 255)). A size that is not a multiple of the spatial factor is
// padded by replication and cropped back; a frame count that is not a multiple of the temporal
// factor is padded by repeating the last frame and trimmed after decoding. Encoding reads the
// input in chunks through encode_stream (windows of --encode-window latent frames overlapping by
// --encode-overlap, blended) and decoding streams through decode_stream (--window / --overlap)
// into the writer: neither the input nor the output video is ever held whole (only the latents,
// 1/192 of the video's size for the LVDM AE, 1/48 for SD's VAE). --tile / --tile-overlap tile
// large frames spatially (linear blending over the overlap), for encode and decode.
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
#include "tools/cli.h"
#include "vae3d/video_autoencoder.h"

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
// The window defaults live with each autoencoder (default_decode_window / default_encode_window);
// -1 on the command line picks them.

const char* latent_format(const VideoAutoencoder& ae) {
  return ae.kind() == "lvdm3d" ? "longvid.lvdm_ae3d.latent/1" : "longvid.frame_ae_kl.latent/1";
}

void add_common(cxxopts::Options& o) {
  o.add_options()
    ("vae", "autoencoder: LVDM 3D AE .ckpt / full LVDM .ckpt (first_stage_model.*), SD / diffusers AutoencoderKL (.ckpt, .safetensors, or a diffusers folder with config.json)", cxxopts::value<std::string>()->default_value(""))
    ("kind", "auto | lvdm3d | frame2d (auto: detected from the tensors)", cxxopts::value<std::string>()->default_value("auto"))
    ("config", "autoencoder config (official videoae / LVDM YAML, LDM YAML or diffusers config.json); empty = a diffusers folder's config.json or inferred from the weights' shapes", cxxopts::value<std::string>()->default_value(""))
    ("o,output", "output path", cxxopts::value<std::string>()->default_value(""))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16", cxxopts::value<std::string>()->default_value("fp32"))
    ("window", "latent frames per decode window (0 = all at once; -1 = the autoencoder's default: lvdm3d 32, frame2d 8 frames per batch)", cxxopts::value<int64_t>()->default_value("-1"))
    ("overlap", "latent frames shared by neighbouring decode windows (-1 = default: lvdm3d 8)", cxxopts::value<int64_t>()->default_value("-1"))
    ("encode-window", "latent frames per encode window (0 = all at once; -1 = the autoencoder's default: lvdm3d 64, frame2d 8 frames per batch)", cxxopts::value<int64_t>()->default_value("-1"))
    ("encode-overlap", "latent frames shared (and blended) by neighbouring encode windows (-1 = default: lvdm3d 16)", cxxopts::value<int64_t>()->default_value("-1"))
    ("tile", "spatial tile size in pixels for encoding and decoding, a multiple of the spatial factor (0 = off)", cxxopts::value<int64_t>()->default_value("0"))
    ("tile-overlap", "pixels shared (and blended linearly) by neighbouring tiles (-1 = tile / 4, rounded down to the spatial factor)", cxxopts::value<int64_t>()->default_value("-1"))
    ("start", "first frame to use (input video for encode/reconstruct, decoded frames for decode)", cxxopts::value<int64_t>()->default_value("0"))
    ("frames", "number of frames (-1 = to the end)", cxxopts::value<int64_t>()->default_value("-1"))
    ("fps", "output frame rate; empty = the source's", cxxopts::value<std::string>()->default_value(""))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("input", "input file", cxxopts::value<std::vector<std::string>>())
    ("h,help", "show this help");
  o.parse_positional({"input"});
  o.positional_help("INPUT");
}

struct Common {
  std::string input, output, vae, config, kind;
  DevicePolicy policy;
  int64_t window, overlap, enc_window, enc_overlap, start, frames;
  SpatialTiling tiling;
  std::string fps;
  int crf;
};

std::shared_ptr<VideoAutoencoder> load_ae(const Common& c) {
  VideoAutoencoderLoadOptions lo;
  lo.kind = c.kind;
  lo.config = c.config;
  lo.policy = c.policy;
  auto ae = load_video_autoencoder(c.vae, lo);
  SpatialTiling tiling = c.tiling;
  if (tiling.overlap < 0) {
    const int64_t f = ae->factors()[1];
    tiling.overlap = tiling.tile > 0 ? tiling.tile / 4 / f * f : 0;
  }
  ae->set_tiling(tiling);
  spdlog::debug("vae: {} ({}), factors {}x{}x{}, {} latent channels{}", c.vae, ae->kind(), ae->factors()[0],
               ae->factors()[1], ae->factors()[2], ae->latent_channels(),
               tiling.enabled() ? fmt::format(", tiles {} overlap {}", tiling.tile, tiling.overlap) : "");
  return ae;
}

// The window options, with -1 resolved to the autoencoder's defaults.
TemporalWindow decode_window(const Common& c, const VideoAutoencoder& ae) {
  auto d = ae.default_decode_window();
  TemporalWindow w{c.window < 0 ? d.window : c.window, c.overlap < 0 ? (c.window < 0 ? d.overlap : 0) : c.overlap};
  if (ae.kind() != "lvdm3d") w.overlap = 0;  // frame-wise: no seams
  if (w.window > 0 && w.overlap >= w.window)
    fail("--overlap {}: must be smaller than --window {}", w.overlap, w.window);
  return w;
}
TemporalWindow encode_window(const Common& c, const VideoAutoencoder& ae) {
  auto d = ae.default_encode_window();
  TemporalWindow w{c.enc_window < 0 ? d.window : c.enc_window,
                   c.enc_overlap < 0 ? (c.enc_window < 0 ? d.overlap : 0) : c.enc_overlap};
  if (ae.kind() != "lvdm3d") w.overlap = 0;
  if (w.window > 0 && w.overlap >= w.window)
    fail("--encode-overlap {}: must be smaller than --encode-window {}", w.overlap, w.window);
  return w;
}

// Reads the selected frames of the input in chunks as model input [1, 3, n, H', W'] in [-1, 1],
// padded (replicate) to the spatial factor; counts the frames.
class InputSource {
 public:
  InputSource(const Common& c, const VideoAutoencoder& ae, int64_t chunk)
      : path_(c.input), policy_(c.policy), chunk_(std::max<int64_t>(1, chunk)) {
    require_readable_video(c.input);
    ReadOptions ro;
    ro.start = c.start;
    ro.count = c.frames;
    reader_ = std::make_unique<VideoReader>(c.input, ro);
    w_ = reader_->width();
    h_ = reader_->height();
    const int64_t fh = ae.factors()[1], fw = ae.factors()[2];
    ph_ = (fh - h_ % fh) % fh;
    pw_ = (fw - w_ % fw) % fw;
    if (ph_ || pw_)
      spdlog::info("{}: {}x{} is not a multiple of {}x{}: padding to {}x{} by replicating the edges, cropped back after "
                   "decoding", c.input, w_, h_, fw, fh, w_ + pw_, h_ + ph_);
    fps_ = reader_->info().fps;
    start_ = c.start;
    frames_opt_ = c.frames;
  }
  at::Tensor operator()() {
    std::vector<at::Tensor> frames;
    while (static_cast<int64_t>(frames.size()) < chunk_ && reader_->next(rgb_))
      frames.push_back(torch::from_blob(rgb_.data(), {h_, w_, 3}, at::kByte).clone());
    if (frames.empty()) {
      if (count_ == 0) fail("{}: no frames selected (--start {}, --frames {})", path_, start_, frames_opt_);
      return {};
    }
    count_ += static_cast<int64_t>(frames.size());
    auto x = torch::stack(frames).permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat).div(127.5).sub(1.0);
    if (ph_ || pw_)
      x = torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({0, pw_, 0, ph_, 0, 0}).mode(torch::kReplicate));
    return x.to(policy_.device, policy_.dtype);
  }
  int64_t width() const { return w_; }
  int64_t height() const { return h_; }
  int64_t count() const { return count_; }
  Fps fps() const { return fps_; }

 private:
  std::string path_;
  DevicePolicy policy_;
  int64_t chunk_;
  std::unique_ptr<VideoReader> reader_;
  std::vector<uint8_t> rgb_;
  int64_t w_ = 0, h_ = 0, ph_ = 0, pw_ = 0, count_ = 0, start_ = 0, frames_opt_ = -1;
  Fps fps_;
};

// encode_stream of the input: the posterior means, collected (latents are small), on the CPU.
at::Tensor encode_input(const Common& c, VideoAutoencoder& ae, InputSource& src) {
  auto w = encode_window(c, ae);
  std::vector<at::Tensor> parts;
  torch::NoGradGuard ng;
  int64_t padded = ae.encode_stream([&]() { return src(); }, w.window, w.overlap,
                                    [&](const DiagonalGaussian& p) { parts.push_back(p.mean.to(at::kFloat).cpu()); });
  if (padded)
    spdlog::info("{}: {} frames is not a multiple of {}: repeating the last frame {} time(s), trimmed after decoding",
                 c.input, src.count(), ae.factors()[0], padded);
  auto z = torch::cat(parts, 2).contiguous();
  spdlog::info("{} frames {}x{} -> latent {} (encode window {}, overlap {})", src.count(), src.width(), src.height(),
               fmt::format("{}", fmt::join(z.sizes(), "x")), w.window, w.overlap);
  return z;
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
  if (c.vae.empty()) fail("--vae: no autoencoder checkpoint given");
  c.kind = a["kind"].as<std::string>();
  if (c.kind != "auto" && c.kind != "lvdm3d" && c.kind != "frame2d")
    fail("--kind '{}': expected auto, lvdm3d or frame2d", c.kind);
  c.config = a["config"].as<std::string>();
  c.policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  c.window = a["window"].as<int64_t>();
  c.overlap = a["overlap"].as<int64_t>();
  c.enc_window = a["encode-window"].as<int64_t>();
  c.enc_overlap = a["encode-overlap"].as<int64_t>();
  c.tiling.tile = a["tile"].as<int64_t>();
  c.tiling.overlap = a["tile-overlap"].as<int64_t>();
  c.start = a["start"].as<int64_t>();
  c.frames = a["frames"].as<int64_t>();
  c.fps = a["fps"].as<std::string>();
  c.crf = a["crf"].as<int>();
  if (c.window < -1) fail("--window {}: must be >= 0 (or -1 for the default)", c.window);
  if (c.enc_window < -1) fail("--encode-window {}: must be >= 0 (or -1 for the default)", c.enc_window);
  if (c.window > 0 && c.overlap >= c.window)
    fail("--overlap {}: must be >= 0 and smaller than --window {}", c.overlap, c.window);
  if (c.enc_window > 0 && c.enc_overlap >= c.enc_window)
    fail("--encode-overlap {}: must be >= 0 and smaller than --encode-window {}", c.enc_overlap, c.enc_window);
  if (c.overlap < -1 || c.enc_overlap < -1) fail("--overlap / --encode-overlap: must be >= 0 (or -1 for the default)");
  if (c.tiling.tile < 0 || c.tiling.overlap < -1) fail("--tile / --tile-overlap: must be >= 0 (--tile-overlap -1: tile / 4)");
  if (c.tiling.tile > 0 && c.tiling.overlap >= c.tiling.tile)
    fail("--tile-overlap {}: must be smaller than --tile {}", c.tiling.overlap, c.tiling.tile);
  if (c.start < 0) fail("--start {}: must be >= 0", c.start);
  if (c.frames == 0 || c.frames < -1) fail("--frames {}: must be positive (or -1 for all)", c.frames);
  return c;
}

void check_output_differs(const Common& c) {
  std::error_code ec;
  if (std::filesystem::equivalent(c.input, c.output, ec)) fail("-o {}: the output would overwrite the input", c.output);
}

int run_reconstruct(int argc, char** argv) {
  cxxopts::Options o("longvid vae reconstruct", "Encode and decode a video with a video autoencoder; prints the PSNR.");
  add_common(o);
  bool help = false;
  auto c = parse_common(o, argc, argv, &help);
  if (help) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  check_output_differs(c);
  require_readable_video(c.input);
  auto ae = load_ae(c);
  InputSource src(c, *ae, 16);
  WriteOptions wo;
  wo.fps = c.fps.empty() ? (src.fps().num > 0 ? src.fps() : Fps{24, 1}) : Fps::parse(c.fps);
  wo.crf = c.crf;
  VideoWriter writer(c.output, wo);  // opened before the work: a bad output path fails early
  auto z = encode_input(c, *ae, src);
  const int64_t T = src.count(), H = src.height(), W = src.width();
  // The PSNR against the input, read a second time frame by frame (the input is never held whole).
  ReadOptions ro;
  ro.start = c.start;
  ro.count = T;
  VideoReader again(c.input, ro);
  std::vector<uint8_t> rgb;
  double se = 0.0;
  ChunkToFrames to_frames(writer, W, H, 0, T);
  to_frames.on_frame = [&](const at::Tensor& fr) {
    if (!again.next(rgb)) fail("{}: the input ended early on the second read", c.input);
    auto ref = torch::from_blob(rgb.data(), {H, W, 3}, at::kByte).to(at::kDouble);
    se += (fr.to(at::kDouble) - ref).pow(2).sum().item<double>();
  };
  auto w = decode_window(c, *ae);
  {
    torch::NoGradGuard ng;
    ae->decode_stream(z.to(c.policy.device, c.policy.dtype), w.window, w.overlap,
                      [&](const at::Tensor& ch) { to_frames(ch); });
  }
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
  cxxopts::Options o("longvid vae encode", "Encode a video into autoencoder latents (safetensors), streamed.");
  add_common(o);
  bool help = false;
  auto c = parse_common(o, argc, argv, &help);
  if (help) return std::printf("%s\n", o.help().c_str()), cli::kExitOk;
  check_output_differs(c);
  require_readable_video(c.input);
  auto ae = load_ae(c);
  InputSource src(c, *ae, 16);
  auto z = encode_input(c, *ae, src);
  StateDict sd;
  sd.set("latent", z);
  std::map<std::string, std::string> meta = {
      {"format", latent_format(*ae)},
      {"kind", ae->kind()},
      {"config", ae->config_json()},
      {"normalized", "false"},  // the raw posterior mean (decode: no denormalisation)
      {"fps", (src.fps().num > 0 ? src.fps() : Fps{24, 1}).str()},
      {"frames", std::to_string(src.count())},
      {"width", std::to_string(src.width())},
      {"height", std::to_string(src.height())},
      {"source", std::filesystem::path(c.input).filename().string()},
      {"start", std::to_string(c.start)},
  };
  save_safetensors(c.output, sd, meta);
  spdlog::info("wrote {}: latent {} for {} frames {}x{}", c.output, fmt::format("{}", fmt::join(z.sizes(), "x")),
               src.count(), src.width(), src.height());
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
  cxxopts::Options o("longvid vae decode", "Decode autoencoder latents (from vae encode) into a video, streamed.");
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
  auto ae = load_ae(c);
  if (lat.metadata.count("kind") && lat.metadata.at("kind") != ae->kind())
    fail("{}: latents of a {} autoencoder, but --vae {} is a {} autoencoder", c.input, lat.metadata.at("kind"), c.vae,
         ae->kind());
  if (z.size(1) != ae->latent_channels())
    fail("{}: latent has {} channels but the autoencoder --vae {} expects {}", c.input, z.size(1), c.vae,
         ae->latent_channels());
  auto f = ae->factors();
  if (z.size(2) * f[0] < T || z.size(3) * f[1] < H || z.size(4) * f[2] < W)
    fail("{}: latent [{}] is too small for {} frames {}x{} with this autoencoder's factors {}x{}x{}", c.input,
         fmt::join(z.sizes(), ", "), T, W, H, f[0], f[1], f[2]);
  int64_t count = c.frames < 0 ? T - c.start : std::min(c.frames, T - c.start);
  auto w = decode_window(c, *ae);
  VideoWriter writer(c.output, wo);
  torch::NoGradGuard ng;
  ChunkToFrames to_frames(writer, W, H, c.start, count);
  ae->decode_stream(z.to(c.policy.device, c.policy.dtype), w.window, w.overlap,
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
      "  bench       seams | rss | encode-seams | encode-rss | tiles: measurements (random-weight AEs)\n"
      "  --vae: LVDM 3D AE or SD / diffusers AutoencoderKL (file or diffusers folder), detected by content\n"
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

LONGVID_COMMAND("vae", "video autoencoders (LVDM 3D, SD 2D per frame): reconstruct | encode | decode a video", longvid::run_vae);
