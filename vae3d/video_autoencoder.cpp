#include "vae3d/video_autoencoder.h"

#include <ATen/autocast_mode.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

// ---- posterior ------------------------------------------------------------------------------------

DiagonalGaussian DiagonalGaussian::from_moments(const torch::Tensor& moments) {
  auto parts = torch::chunk(moments, 2, 1);
  return {parts[0], torch::clamp(parts[1], -30.0, 20.0)};
}

torch::Tensor DiagonalGaussian::sample(at::Generator gen) const {
  auto noise = torch::randn(mean.sizes(), gen, mean.options().device(gen.device()));
  return mean + std() * noise.to(mean.device());
}

// ---- tiling -----------------------------------------------------------------------------------------

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  if (tile <= 0 || size <= tile) return {0};
  const int64_t stride = tile - overlap;
  std::vector<int64_t> s;
  for (int64_t p = 0; p + tile < size; p += stride) s.push_back(p);
  s.push_back(size - tile);  // the last tile ends at the edge (moved back when needed)
  return s;
}

namespace {

// Blend weights of one tile along one axis, in output units: ramps over the bands shared with the
// previous / next tile ((k + 0.5) / band and its mirror), 1 elsewhere.
torch::Tensor axis_weights(const std::vector<int64_t>& starts, size_t i, int64_t tile_cells, int64_t out_len,
                           int64_t per_cell, const torch::TensorOptions& opts) {
  auto w = torch::ones({out_len}, opts.dtype(torch::kFloat).device(torch::kCPU));
  const int64_t a = starts[i], b = a + tile_cells;
  if (i > 0) {
    int64_t band = (starts[i - 1] + tile_cells - a) * per_cell;
    band = std::min(band, out_len);
    if (band > 0) w.slice(0, 0, band).mul_((torch::arange(band, torch::kFloat) + 0.5) / double(band));
  }
  if (i + 1 < starts.size()) {
    int64_t band = (b - starts[i + 1]) * per_cell;
    band = std::min(band, out_len);
    if (band > 0)
      w.slice(0, out_len - band, out_len).mul_((double(band) - 0.5 - torch::arange(band, torch::kFloat)) / double(band));
  }
  return w.to(opts.device()).to(opts.dtype());
}

}  // namespace

torch::Tensor tiled_apply(const torch::Tensor& x, int64_t tile, int64_t overlap, int64_t in_per_cell,
                          int64_t out_per_cell, const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  const int64_t nd = x.dim();
  const int64_t H = x.size(nd - 2) / in_per_cell, W = x.size(nd - 1) / in_per_cell;  // in cells
  if (tile <= 0 || (H <= tile && W <= tile)) return fn(x);
  if (overlap < 0 || overlap >= tile) fail("tiling: overlap {} must be >= 0 and smaller than the tile {}", overlap, tile);
  const auto ys = tile_starts(H, tile, overlap), xs = tile_starts(W, tile, overlap);
  const int64_t th = std::min(tile, H), tw = std::min(tile, W);
  torch::Tensor out, wsum;
  for (size_t i = 0; i < ys.size(); ++i) {
    for (size_t j = 0; j < xs.size(); ++j) {
      auto in = x.slice(nd - 2, ys[i] * in_per_cell, (ys[i] + th) * in_per_cell)
                    .slice(nd - 1, xs[j] * in_per_cell, (xs[j] + tw) * in_per_cell);
      auto y = fn(in);
      const int64_t oh = th * out_per_cell, ow = tw * out_per_cell;
      if (y.size(-2) != oh || y.size(-1) != ow)
        fail("tiling: a {}x{} tile gave {}x{}, expected {}x{}", in.size(-1), in.size(-2), y.size(-1), y.size(-2), ow, oh);
      if (!out.defined()) {
        auto shape = y.sizes().vec();
        shape[shape.size() - 2] = H * out_per_cell;
        shape[shape.size() - 1] = W * out_per_cell;
        out = torch::zeros(shape, y.options());
        wsum = torch::zeros({H * out_per_cell, W * out_per_cell}, y.options());
      }
      auto wy = axis_weights(ys, i, th, oh, out_per_cell, y.options());
      auto wx = axis_weights(xs, j, tw, ow, out_per_cell, y.options());
      auto w = wy.unsqueeze(1) * wx.unsqueeze(0);  // [oh, ow]
      out.slice(-2, ys[i] * out_per_cell, ys[i] * out_per_cell + oh)
          .slice(-1, xs[j] * out_per_cell, xs[j] * out_per_cell + ow)
          .add_(y * w);
      wsum.slice(0, ys[i] * out_per_cell, ys[i] * out_per_cell + oh)
          .slice(1, xs[j] * out_per_cell, xs[j] * out_per_cell + ow)
          .add_(w);
    }
  }
  return out / wsum;
}

// ---- VideoAutoencoder ---------------------------------------------------------------------------

bool VideoAutoencoder::default_channels_last() {
  const char* v = std::getenv("LONGVID_AE_LAYOUT");
  if (!v || !*v || std::strcmp(v, "channels-last") == 0) return true;
  if (std::strcmp(v, "ncdhw") == 0) return false;
  fail("LONGVID_AE_LAYOUT={}: expected channels-last (the default) or ncdhw", v);
}

bool VideoAutoencoder::use_channels_last(const torch::Tensor& x, int64_t weight_dim) {
  const auto dt = x.scalar_type();  // oneDNN's dtypes (no float64 kernels); not measured on CUDA
  const bool want = channels_last_ && x.device().is_cpu() && !torch::GradMode::is_enabled() &&
                    (dt == at::kFloat || dt == at::kBFloat16 || dt == at::kHalf);
  if (want != weights_channels_last_) {  // (also back to NCDHW when the module moved to another device)
    torch::NoGradGuard no_grad;
    const auto format = !want ? at::MemoryFormat::Contiguous
                              : (weight_dim == 5 ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::ChannelsLast);
    for (auto& p : module().parameters())
      if (p.dim() == weight_dim) p.set_data(p.contiguous(format));
    weights_channels_last_ = want;
  }
  return want;
}

void VideoAutoencoder::set_tiling(SpatialTiling t) {
  if (t.tile < 0) fail("--tile {}: must be >= 0 (0 = off)", t.tile);
  if (t.tile > 0) {
    const int64_t f = factors()[1];
    if (factors()[2] != f) fail("tiling: the autoencoder's H and W factors differ ({} vs {})", f, factors()[2]);
    if (t.tile % f || t.overlap % f)
      fail("--tile {} / --tile-overlap {}: both must be multiples of the autoencoder's spatial factor {}", t.tile,
           t.overlap, f);
    if (t.overlap < 0 || t.overlap >= t.tile)
      fail("--tile-overlap {}: must be >= 0 and smaller than --tile {}", t.overlap, t.tile);
  }
  tiling_ = t;
}

void VideoAutoencoder::set_compute_dtype(at::ScalarType dtype) {
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf)
    fail("autoencoder compute dtype {}: expected fp32, bf16 or fp16", c10::toString(dtype));
  if (dtype == compute_dtype_) return;
  module().to(dtype);
  compute_dtype_ = dtype;
}

// Inference in the compute dtype: the input cast to it, the output back to float32.
namespace {
// Inference runs in the compute dtype, also inside a caller's autocast scope (a long video sampled
// with --autocast decodes as it streams): autocast is off for those passes. Passes with grad
// (training under autocast) keep it.
struct AutocastOff {
  bool inference = !at::GradMode::is_enabled();
  bool cpu = inference && at::autocast::is_autocast_enabled(at::kCPU);
  bool cuda = inference && at::autocast::is_autocast_enabled(at::kCUDA);
  AutocastOff() {
    if (cpu) at::autocast::set_autocast_enabled(at::kCPU, false);
    if (cuda) at::autocast::set_autocast_enabled(at::kCUDA, false);
  }
  ~AutocastOff() {
    if (cpu) at::autocast::set_autocast_enabled(at::kCPU, true);
    if (cuda) at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;
};

template <class F>
torch::Tensor in_dtype(at::ScalarType dt, const torch::Tensor& x, F&& f) {
  if (dt == at::kFloat || x.scalar_type() == dt) return f(x);
  return f(x.to(dt)).to(x.scalar_type());
}
}  // namespace

torch::Tensor VideoAutoencoder::encode_moments(const torch::Tensor& video) {
  AutocastOff no_autocast;
  if (compute_dtype_ != at::kFloat && video.scalar_type() != compute_dtype_)
    return in_dtype(compute_dtype_, video, [&](const torch::Tensor& v) { return encode_moments(v); });
  if (!tiling_.enabled()) return encode_moments_untiled(video);
  const int64_t f = factors()[1];
  if (video.dim() >= 2 && (video.size(-1) % f || video.size(-2) % f))
    fail("tiled encode: frame {}x{} is not a multiple of the spatial factor {} (pad first)", video.size(-1),
         video.size(-2), f);
  return tiled_apply(video, tiling_.tile / f, tiling_.overlap / f, f, 1,
                     [&](const torch::Tensor& t) { return encode_moments_untiled(t); });
}

DiagonalGaussian VideoAutoencoder::encode(const torch::Tensor& video) {
  return DiagonalGaussian::from_moments(encode_moments(video));
}

torch::Tensor VideoAutoencoder::decode(const torch::Tensor& z) {
  AutocastOff no_autocast;
  if (compute_dtype_ != at::kFloat && z.scalar_type() != compute_dtype_)
    return in_dtype(compute_dtype_, z, [&](const torch::Tensor& v) { return decode(v); });
  if (!tiling_.enabled()) return decode_untiled(z);
  const int64_t f = factors()[1];
  return tiled_apply(z, tiling_.tile / f, tiling_.overlap / f, 1, f,
                     [&](const torch::Tensor& t) { return decode_untiled(t); });
}

torch::Tensor VideoAutoencoder::encode_latent(const torch::Tensor& video, std::optional<at::Generator> gen) {
  auto post = encode(video);
  return normalize_latent(gen ? post.sample(*gen) : post.mode());
}

DiagonalGaussian VideoAutoencoder::encode_windowed(const torch::Tensor& video, int64_t window, int64_t overlap,
                                                   int64_t source_chunk) {
  const int64_t T = video.size(2);
  int64_t pos = 0;
  std::vector<torch::Tensor> means, logvars;
  encode_stream(
      [&]() -> torch::Tensor {
        if (pos >= T) return {};
        auto c = video.slice(2, pos, std::min(T, pos + std::max<int64_t>(1, source_chunk)));
        pos += c.size(2);
        return c;
      },
      window, overlap,
      [&](const DiagonalGaussian& p) {
        means.push_back(p.mean);
        logvars.push_back(p.logvar);
      });
  return {torch::cat(means, 2), torch::cat(logvars, 2)};
}

// ---- loading ------------------------------------------------------------------------------------

std::string detect_autoencoder_kind(const StateDict& sd) {
  for (const std::string prefix : {"", "first_stage_model.", "vae."}) {
    for (const auto& n : {prefix + "encoder.conv_first.conv.weight", prefix + "encoder.conv_first.weight"})
      if (sd.contains(n) && sd.get(n).dim() == 5) return "lvdm3d";
    const auto n = prefix + "encoder.conv_in.weight";
    if (sd.contains(n) && sd.get(n).dim() == 4) return "frame2d";
  }
  return "";
}

namespace {

std::filesystem::path diffusers_weights(const std::filesystem::path& dir) {
  for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"})
    if (std::filesystem::is_regular_file(dir / name)) return dir / name;
  fail("{}: a diffusers folder needs diffusion_pytorch_model.safetensors (or .bin) next to config.json", dir.string());
}

}  // namespace

std::shared_ptr<VideoAutoencoder> load_video_autoencoder(const std::filesystem::path& path_in,
                                                         const VideoAutoencoderLoadOptions& opts) {
  if (path_in.empty()) fail("--vae: no autoencoder checkpoint given");
  if (opts.kind != "auto" && opts.kind != "lvdm3d" && opts.kind != "frame2d")
    fail("--kind '{}': expected auto, lvdm3d or frame2d", opts.kind);
  std::filesystem::path path = path_in, config = opts.config;
  std::string kind = opts.kind;
  bool folder = false;
  if (std::filesystem::is_directory(path)) {
    // A diffusers AutoencoderKL folder, or a pipeline folder with a vae/ subfolder.
    if (!std::filesystem::is_regular_file(path / "config.json") &&
        std::filesystem::is_regular_file(path / "vae" / "config.json"))
      path = path / "vae";
    if (!std::filesystem::is_regular_file(path / "config.json"))
      fail("{}: a folder given as --vae must be a diffusers AutoencoderKL folder (config.json + "
           "diffusion_pytorch_model.safetensors)",
           path_in.string());
    if (config.empty()) config = path / "config.json";
    path = diffusers_weights(path);
    folder = true;
  } else {
    require_readable_file(path, "--vae checkpoint");
  }
  auto sd = load_checkpoint(path);
  const std::string detected = detect_autoencoder_kind(sd);
  if (kind == "auto") {
    kind = detected;
    if (kind.empty())
      fail_hint("pass --kind lvdm3d|frame2d if the names are right but unusual",
                "{}: not a video autoencoder checkpoint ({} tensors, e.g. '{}'): no LVDM 3D "
                "'encoder.conv_first.conv.weight' or 2D 'encoder.conv_in.weight' under '', 'first_stage_model.' or "
                "'vae.'",
                path.string(), sd.size(), sd.empty() ? std::string() : sd.keys().front());
  } else if (!detected.empty() && detected != kind) {
    fail("{}: --kind {} but the weights are a {} autoencoder", path.string(), kind, detected);
  }
  if (folder && kind != "frame2d") fail("{}: a diffusers folder holds a 2D AutoencoderKL, not --kind {}", path_in.string(), kind);

  std::shared_ptr<VideoAutoencoder> out;
  if (kind == "lvdm3d") {
    LvdmAe3dConfig cfg;
    if (config.empty() && sd.metadata.count(kConfigMetadataKey)) {
      // A longvid-trained model (train-vae, train, export) carries its config.
      cfg = LvdmAe3dConfig::from_config(Config::parse_json(sd.metadata.at(kConfigMetadataKey), path.string()));
      cfg.validate(path.string());
    } else if (config.empty()) {
      cfg = LvdmAe3dConfig::infer(sd, lvdm_ae3d_prefix(sd));
    } else {
      require_readable_file(config, "--config");
      cfg = LvdmAe3dConfig::from_config(Config::load(config));
      cfg.validate(config.string());
    }
    spdlog::debug("vae (lvdm3d) config: {}", cfg.to_json());
    auto ae = std::make_shared<LvdmAutoencoder3DImpl>(cfg);
    ae->to(opts.policy.device, opts.policy.dtype);
    load_lvdm_ae3d(*ae, sd);
    ae->eval();
    out = ae;
  } else {
    FrameAutoencoderKLConfig cfg;
    auto state = frame_ae_kl_state(sd);
    if (config.empty()) {
      cfg = FrameAutoencoderKLConfig::infer(state);
    } else {
      require_readable_file(config, "--config");
      cfg = FrameAutoencoderKLConfig::from_config(Config::load(config));
    }
    spdlog::debug("vae (frame2d) config: {}", cfg.to_json());
    auto ae = std::make_shared<FrameAutoencoderKLImpl>(cfg);
    ae->to(opts.policy.device, opts.policy.dtype);
    LoadIntoOptions lo;
    lo.strict = true;
    lo.ignore = {"loss.*"};
    load_into(*ae, state, lo);
    ae->eval();
    out = ae;
  }
  return out;
}

}  // namespace longvid
