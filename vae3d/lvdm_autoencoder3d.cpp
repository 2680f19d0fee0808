#include "vae3d/lvdm_autoencoder3d.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <set>
#include <string>

#include "core/conv.h"
#include "core/pad.h"
#include "core/error.h"

namespace longvid {

namespace {

// encode_stream defaults (latent frames), from `longvid vae bench encode-seams` (docs/vae.md):
// vs one full encode of 128 latent frames (random-weight AE, 8x8 latent), relative error of the
// posterior mean 15.5% (16:4), 5.5% (32:8), 3.6% (32:16), 3.0% (48:12), 1.9% (64:16). The
// encoder's full-resolution activations are narrower than the decoder's, so a 64-latent encode
// window peaks lower than the 32-latent decode window (bench encode-rss vs rss).
constexpr int64_t kEncodeWindow = 64, kEncodeOverlap = 16;
constexpr const char* kAeTarget = "lvdm.models.autoencoder3d.AutoencoderKL";
constexpr int64_t kGroups = 32;  // Normalize(): GroupNorm(num_groups=32, eps=1e-6, affine=True)
constexpr double kGroupNormEps = 1e-6;
using Dims3 = std::array<int64_t, 3>;
constexpr Dims3 kOne{1, 1, 1}, kK3{3, 3, 3}, kK4{4, 4, 4};

int log2_exact(int64_t v) {
  int n = 0;
  while ((int64_t{1} << n) < v) ++n;
  return (int64_t{1} << n) == v ? n : -1;
}

std::array<int64_t, 3> triple(const Config& cfg, const std::string& key) {
  auto v = cfg.get<std::vector<int64_t>>(key);
  if (v.size() != 3)
    fail("{}.{}: expected 3 values (T, H, W), got {} ({})", cfg.key_path(), key, v.size(), cfg.source());
  return {v[0], v[1], v[2]};
}

// x * sigmoid(x), as the official silu(), in the reference layout; the channels-last inference
// path (VideoAutoencoder::channels_last) takes the fused one-pass at::silu instead (same
// function, float rounding apart; one activation-sized pass and buffer fewer).
torch::Tensor silu_ref(const torch::Tensor& x) {
  if (x.dim() == 5 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) return at::silu(x);
  return x * torch::sigmoid(x);
}

// GroupNorm, then SiLU as silu_ref. Without gradients the SiLU runs in place on the norm's output
// (the same kernels, so the same values): one activation-sized buffer fewer.
torch::Tensor norm_silu(torch::nn::GroupNorm& norm, const torch::Tensor& x) {
  auto a = norm(x);
  if (at::GradMode::is_enabled()) return silu_ref(a);
  if (a.dim() == 5 && !a.is_contiguous() && a.is_contiguous(at::MemoryFormat::ChannelsLast3d)) return at::silu_(a);
  return a.mul_(torch::sigmoid(a));
}

torch::nn::GroupNorm group_norm(int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(kGroups, channels).eps(kGroupNormEps).affine(true));
}

// total pad p = k - s per dim; F.pad order (last dim first): front p/2 + p%2, back p/2.
std::vector<int64_t> same_pad(const std::array<int64_t, 3>& k, const std::array<int64_t, 3>& s) {
  std::vector<int64_t> pad;
  for (int d = 2; d >= 0; --d) {
    int64_t p = k[d] - s[d];
    TORCH_CHECK(p >= 0, "SamePadConv3d: kernel smaller than stride");
    pad.push_back(p / 2 + p % 2);
    pad.push_back(p / 2);
  }
  return pad;
}

torch::Tensor pad_input(const torch::Tensor& x, const std::vector<int64_t>& pad, const std::string& mode) {
  bool any = std::any_of(pad.begin(), pad.end(), [](int64_t p) { return p != 0; });
  if (!any) return x;  // F.pad with zero pads returns the input values unchanged
  // Replicate (the official default): the same values as F.pad, by copies (core/pad.h: ATen's kernel
  // was 13 % of a float32 decode).
  static const bool aten_pad = [] {  // LONGVID_AE_PAD=aten: ATen's kernel (A/B runs)
    const char* v = std::getenv("LONGVID_AE_PAD");
    return v && std::string(v) == "aten";
  }();
  if (!aten_pad && mode == "replicate" && x.dim() == 5 && !(at::GradMode::is_enabled() && x.requires_grad()))
    return replicate_pad3d(x, pad);
  return torch::pad(x, pad, mode);
}

// Per-level strides from the per-dim factors, as the official code: while a dim still has
// halvings left it gets stride 2.
std::vector<std::array<int64_t, 3>> level_strides(const std::array<int64_t, 3>& factors) {
  std::array<int, 3> n{};
  for (int d = 0; d < 3; ++d) n[d] = log2_exact(factors[d]);
  int levels = *std::max_element(n.begin(), n.end());
  std::vector<std::array<int64_t, 3>> out;
  for (int i = 0; i < levels; ++i) {
    std::array<int64_t, 3> s{};
    for (int d = 0; d < 3; ++d) s[d] = n[d] - i > 0 ? 2 : 1;
    out.push_back(s);
  }
  return out;
}

}  // namespace

// ---- config -------------------------------------------------------------------------------------

LvdmAe3dConfig LvdmAe3dConfig::from_config(const Config& cfg) {
  LvdmAe3dConfig c;
  Config ae;
  if (cfg.has("model.params.first_stage_config")) {
    Config fs = cfg.at("model.params.first_stage_config");
    if (fs.is_scalar() || fs.is_null())
      fail("{}: model.params.first_stage_config: expected the autoencoder's config, got {} (line {})", cfg.source(),
           fs.is_null() ? "null" : "'" + fs.get<std::string>("") + "'", fs.line());
    auto target = fs.get<std::string>("target");
    if (target != kAeTarget)
      fail("{}: model.params.first_stage_config.target is '{}', not LVDM's 3D autoencoder ({})", cfg.source(), target,
           kAeTarget);
    ae = fs.at("params");
    c.scale_factor = cfg.get_or<double>("model.params.scale_factor", 1.0);
    c.shift_factor = cfg.get_or<double>("model.params.shift_factor", 0.0);
  } else if (cfg.has("model.params.ddconfig")) {
    auto target = cfg.get_or<std::string>("model.target", kAeTarget);
    if (target != kAeTarget)
      fail("{}: model.target is '{}', not LVDM's 3D autoencoder ({})", cfg.source(), target, kAeTarget);
    ae = cfg.at("model.params");
  } else if (cfg.has("ddconfig")) {
    ae = cfg;
  } else {
    fail("{}: not an LVDM 3D autoencoder config (no model.params.first_stage_config, model.params.ddconfig or "
         "ddconfig)",
         cfg.source());
  }
  if (ae.has("scale_factor")) c.scale_factor = ae.get<double>("scale_factor");
  if (ae.has("shift_factor")) c.shift_factor = ae.get<double>("shift_factor");
  c.stream_window = ae.get_or<int64_t>("longvid_stream_window", 0);
  if (c.stream_window < 0) fail("{}: longvid_stream_window {}: must be >= 0", cfg.source(), c.stream_window);

  Config dd = ae.at("ddconfig");
  c.embed_dim = ae.get<int64_t>("embed_dim");
  if (!dd.get<bool>("double_z"))
    fail("{}.double_z: must be true (the official AutoencoderKL asserts it) ({})", dd.key_path(), cfg.source());
  c.z_channels = dd.get<int64_t>("z_channels");

  auto check_target = [&](const Config& part, const char* cls) {
    if (!part.has("target")) return;
    auto t = part.get<std::string>("target");
    std::string want = std::string("lvdm.models.modules.aemodules3d.") + cls;
    if (t != want) fail("{}.target is '{}', expected '{}' ({})", part.key_path(), t, want, cfg.source());
  };
  Config enc = dd.at("encoder");
  check_target(enc, "Encoder");
  Config ep = enc.at("params");
  c.n_hiddens = ep.get<int64_t>("n_hiddens");
  c.downsample = triple(ep, "downsample");
  c.image_channel = ep.get_or<int64_t>("image_channel", 3);
  auto norm = ep.get_or<std::string>("norm_type", "group");
  if (norm != "group")
    fail("{}.norm_type is '{}': only 'group' is supported (batch = SyncBatchNorm, a training-only setup) ({})",
         ep.key_path(), norm, cfg.source());
  c.padding_type = ep.get_or<std::string>("padding_type", "replicate");
  if (ep.get<int64_t>("z_channels") != c.z_channels || ep.get<bool>("double_z") != true)
    fail("{}: z_channels/double_z differ from {} ({})", ep.key_path(), dd.key_path(), cfg.source());

  Config dec = dd.at("decoder");
  check_target(dec, "Decoder");
  Config dp = dec.at("params");
  c.decoder_n_hiddens = dp.get<int64_t>("n_hiddens");
  c.upsample = triple(dp, "upsample");
  auto dnorm = dp.get_or<std::string>("norm_type", "group");
  if (dnorm != "group")
    fail("{}.norm_type is '{}': only 'group' is supported ({})", dp.key_path(), dnorm, cfg.source());
  if (dp.get<int64_t>("z_channels") != c.z_channels)
    fail("{}.z_channels ({}) differs from {}.z_channels ({}) ({})", dp.key_path(), dp.get<int64_t>("z_channels"),
         dd.key_path(), c.z_channels, cfg.source());
  if (dp.get<int64_t>("image_channel") != c.image_channel)
    fail("{}.image_channel ({}) differs from the encoder's ({}) ({})", dp.key_path(),
         dp.get<int64_t>("image_channel"), c.image_channel, cfg.source());
  c.validate(cfg.source());
  return c;
}

void LvdmAe3dConfig::validate(const std::string& source) const {
  auto check_factors = [&](const std::array<int64_t, 3>& f, const char* what) {
    for (int d = 0; d < 3; ++d)
      if (f[d] < 1 || log2_exact(f[d]) < 0)
        fail("{}: {}[{}] = {}: expected a power of two", source, what, d, f[d]);
    if (*std::max_element(f.begin(), f.end()) < 2) fail("{}: {}: at least one factor must be >= 2", source, what);
  };
  check_factors(downsample, "downsample");
  check_factors(upsample, "upsample");
  if (n_hiddens < 1 || decoder_n_hiddens < 1 || z_channels < 1 || embed_dim < 1 || image_channel < 1)
    fail("{}: n_hiddens, z_channels, embed_dim and image_channel must be positive", source);
  // Every GroupNorm'd width must be divisible by 32.
  int enc_levels = static_cast<int>(level_strides(downsample).size());
  for (int i = 0; i < enc_levels; ++i) {
    int64_t w = n_hiddens << (i + 1);
    if (w % kGroups)
      fail("{}: encoder n_hiddens {}: level {} has {} channels, not divisible by GroupNorm's 32 groups", source,
           n_hiddens, i, w);
  }
  int dec_levels = static_cast<int>(level_strides(upsample).size());
  for (int i = 0; i < dec_levels; ++i) {
    int64_t w = decoder_n_hiddens << (dec_levels - i);
    if (w % kGroups)
      fail("{}: decoder n_hiddens {}: level {} has {} channels, not divisible by GroupNorm's 32 groups", source,
           decoder_n_hiddens, i, w);
  }
  static const std::set<std::string> modes{"replicate", "reflect", "circular", "constant"};
  if (!modes.count(padding_type))
    fail("{}: padding_type '{}': expected replicate, reflect, circular or constant", source, padding_type);
  if (scale_factor == 0.0) fail("{}: scale_factor must not be 0", source);
}

std::array<int64_t, 3> LvdmAe3dConfig::factors() const {
  std::array<int64_t, 3> f{1, 1, 1};
  for (const auto& s : level_strides(downsample))
    for (int d = 0; d < 3; ++d) f[d] *= s[d];
  return f;
}

std::string LvdmAe3dConfig::to_json() const {
  return fmt::format(
      "{{\"n_hiddens\":{},\"decoder_n_hiddens\":{},\"downsample\":[{},{},{}],\"upsample\":[{},{},{}],"
      "\"z_channels\":{},\"embed_dim\":{},\"image_channel\":{},\"padding_type\":\"{}\",\"scale_factor\":{},"
      "\"shift_factor\":{},\"longvid_stream_window\":{}}}",
      n_hiddens, decoder_n_hiddens, downsample[0], downsample[1], downsample[2], upsample[0], upsample[1],
      upsample[2], z_channels, embed_dim, image_channel, padding_type, scale_factor, shift_factor, stream_window);
}

// ---- building blocks ---------------------------------------------------------------------------

namespace lvdm_ae3d {

SamePadConv3dImpl::SamePadConv3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel,
                                     std::array<int64_t, 3> stride, bool bias, std::string padding_type_)
    : pad(same_pad(kernel, stride)), padding_type(std::move(padding_type_)) {
  conv = register_module(
      "conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, {kernel[0], kernel[1], kernel[2]})
                                    .stride({stride[0], stride[1], stride[2]})
                                    .padding(0)
                                    .bias(bias)));
}

// nn.Conv3d's forward through longvid::conv3d (core/conv.h: oneDNN or im2col + GEMM per shape for
// inference on the CPU; at::conv3d otherwise).
torch::Tensor SamePadConv3dImpl::forward(torch::Tensor x) {
  // (padding 0: the module pads its input itself)
  auto padded = pad_input(x, pad, padding_type);
  x.reset();  // the unpadded input, if no one else holds it, is freed before the output is allocated
  return longvid::conv3d(padded, conv->weight, conv->bias, conv->options.stride(), {0, 0, 0});
}

SamePadConvTranspose3dImpl::SamePadConvTranspose3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel,
                                                       std::array<int64_t, 3> stride, bool bias,
                                                       std::string padding_type_)
    : pad(same_pad(kernel, stride)), padding_type(std::move(padding_type_)) {
  convt = register_module(
      "convt", torch::nn::ConvTranspose3d(torch::nn::ConvTranspose3dOptions(in, out, {kernel[0], kernel[1], kernel[2]})
                                              .stride({stride[0], stride[1], stride[2]})
                                              .padding({kernel[0] - 1, kernel[1] - 1, kernel[2] - 1})
                                              .bias(bias)));
}

torch::Tensor SamePadConvTranspose3dImpl::forward(torch::Tensor x) {
  auto padded = pad_input(x, pad, padding_type);
  x.reset();
  return convt(padded);
}

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out) : in_channels(in), out_channels(out) {
  norm1 = register_module("norm1", group_norm(in));
  conv1 = register_module("conv1", SamePadConv3d(in, out, kK3));
  norm2 = register_module("norm2", group_norm(in));  // (sic) in_channels, as the official code
  conv2 = register_module("conv2", SamePadConv3d(out, out, kK3));
  if (in != out) conv_shortcut = register_module("conv_shortcut", SamePadConv3d(in, out, kK3));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  if (at::GradMode::is_enabled()) {  // training: the official expression, nothing in place
    auto h = conv1(silu_ref(norm1(x)));
    h = conv2(silu_ref(norm2(h)));
    return (conv_shortcut ? conv_shortcut(x) : x) + h;
  }
  auto h = conv1(norm_silu(norm1, x));  // the activation is moved into conv1 and freed once padded
  auto a = norm_silu(norm2, h);
  h.reset();
  h = conv2(std::move(a));
  // h + s == s + h in IEEE arithmetic: in place, the official values (out of place where the two
  // differ in dtype or layout, so the result's dtype and layout stay those of s + h).
  const torch::Tensor s = conv_shortcut ? conv_shortcut(x) : x;
  if (h.scalar_type() == s.scalar_type() && h.sizes() == s.sizes() && h.strides() == s.strides()) return h.add_(s);
  return s + h;
}

EncoderBlockImpl::EncoderBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> stride,
                                   const std::string& padding_type) {
  down = register_module("down", SamePadConv3d(in, out, kK4, stride, true, padding_type));
  res = register_module("res", ResBlock(out, out));  // (sic) the ResBlock pads with replicate
}

torch::Tensor EncoderBlockImpl::forward(torch::Tensor x) {
  auto h = down(std::move(x));
  return res(h);
}

EncoderFinalBlockImpl::EncoderFinalBlockImpl(int64_t in, int64_t out, const std::string& padding_type) {
  norm = register_module("0", group_norm(in));
  conv = register_module("2", SamePadConv3d(in, out, kK3, kOne, true, padding_type));
}

torch::Tensor EncoderFinalBlockImpl::forward(const torch::Tensor& x) { return conv(norm_silu(norm, x)); }

EncoderImpl::EncoderImpl(const LvdmAe3dConfig& c) {
  conv_first = register_module(
      "conv_first", SamePadConv3d(c.image_channel, c.n_hiddens, kK3, kOne, true, c.padding_type));
  conv_blocks = register_module("conv_blocks", torch::nn::ModuleList());
  auto strides = level_strides(c.downsample);
  int64_t out = c.n_hiddens;
  for (size_t i = 0; i < strides.size(); ++i) {
    int64_t in = c.n_hiddens << i;
    out = c.n_hiddens << (i + 1);
    conv_blocks->push_back(EncoderBlock(in, out, strides[i], c.padding_type));
  }
  final_block = register_module("final_block", EncoderFinalBlock(out, 2 * c.z_channels, c.padding_type));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_first(x);
  for (const auto& block : *conv_blocks) h = block->as<EncoderBlock>()->forward(std::move(h));
  return final_block(h);
}

DecoderBlockImpl::DecoderBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> stride) {
  up = register_module("up", SamePadConvTranspose3d(in, out, kK4, stride));
  res1 = register_module("res1", ResBlock(out, out));
  res2 = register_module("res2", ResBlock(out, out));
}

torch::Tensor DecoderBlockImpl::forward(torch::Tensor x) {
  auto h = up(std::move(x));
  h = res1(h);  // (the old h is freed when res1 returns, not held to the end of one long expression)
  return res2(h);
}

DecoderImpl::DecoderImpl(const LvdmAe3dConfig& c) {
  conv_blocks = register_module("conv_blocks", torch::nn::ModuleList());
  auto strides = level_strides(c.upsample);
  const int64_t levels = static_cast<int64_t>(strides.size());
  int64_t in = c.z_channels, out = 0;
  for (int64_t i = 0; i < levels; ++i) {
    if (i > 0) in = c.decoder_n_hiddens << (levels - i + 1);
    out = c.decoder_n_hiddens << (levels - i);
    conv_blocks->push_back(DecoderBlock(in, out, strides[i]));
  }
  conv_out = register_module("conv_out", SamePadConv3d(out, c.image_channel, kK3));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = z;
  for (const auto& block : *conv_blocks) h = block->as<DecoderBlock>()->forward(std::move(h));
  return conv_out(std::move(h));
}

}  // namespace lvdm_ae3d

// ---- posterior and the autoencoder ---------------------------------------------------------------

LvdmAutoencoder3DImpl::LvdmAutoencoder3DImpl(LvdmAe3dConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  encoder = register_module("encoder", lvdm_ae3d::Encoder(cfg_));
  decoder = register_module("decoder", lvdm_ae3d::Decoder(cfg_));
  quant_conv = register_module("quant_conv", lvdm_ae3d::SamePadConv3d(2 * cfg_.z_channels, 2 * cfg_.embed_dim,
                                                                      kOne));
  post_quant_conv =
      register_module("post_quant_conv", lvdm_ae3d::SamePadConv3d(cfg_.embed_dim, cfg_.z_channels, kOne));
}

torch::Tensor LvdmAutoencoder3DImpl::encode_moments_untiled(const torch::Tensor& video) {
  if (video.dim() != 5 || video.size(1) != cfg_.image_channel)
    fail("LVDM 3D autoencoder: expected a video [B, {}, T, H, W], got {}", cfg_.image_channel,
         fmt::format("{}", fmt::join(video.sizes(), "x")));
  if (!use_channels_last(video, 5)) return quant_conv(encoder(video));
  return quant_conv(encoder(video.contiguous(at::MemoryFormat::ChannelsLast3d))).contiguous();
}

torch::Tensor LvdmAutoencoder3DImpl::decode_untiled(const torch::Tensor& z) {
  if (z.dim() != 5 || z.size(1) != cfg_.embed_dim)
    fail("LVDM 3D autoencoder: expected a latent [B, {}, t, h, w], got {}", cfg_.embed_dim,
         fmt::format("{}", fmt::join(z.sizes(), "x")));
  if (!use_channels_last(z, 5)) return decoder(post_quant_conv(z));
  return decoder(post_quant_conv(z.contiguous(at::MemoryFormat::ChannelsLast3d))).contiguous();
}

torch::Tensor LvdmAutoencoder3DImpl::normalize_latent(const torch::Tensor& z) const {
  return cfg_.scale_factor * (z + cfg_.shift_factor);
}

torch::Tensor LvdmAutoencoder3DImpl::denormalize_latent(const torch::Tensor& z) const {
  return (1.0 / cfg_.scale_factor) * z - cfg_.shift_factor;
}

void LvdmAutoencoder3DImpl::decode_stream(const torch::Tensor& z, int64_t window, int64_t overlap,
                                          const VideoChunkSink& sink, bool normalized) {
  if (z.dim() != 5) fail("LVDM 3D autoencoder: expected a latent [B, C, t, h, w] to decode");
  const int64_t T = z.size(2);
  if (window <= 0) {
    sink(decode(normalized ? denormalize_latent(z) : z));
    return;
  }
  if (overlap < 0 || overlap >= window)
    fail("decode: temporal overlap {} must be >= 0 and smaller than the window ({} latent frames)", overlap, window);
  const int64_t ft = cfg_.factors()[0];  // the official code hard-codes 4 (its configs' factor)
  const int64_t drop_r = overlap / 2, drop_l = overlap - drop_r;
  const int64_t max_x_t = window * ft;
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (int64_t start = 0; start <= T; start += window - overlap) {
    int64_t end = std::min(start + window, T);
    if (end > start) spans.emplace_back(start, end);  // (the official loop may add an empty one)
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    auto zi = z.slice(2, spans[i].first, spans[i].second);
    auto x = decode(normalized ? denormalize_latent(zi) : zi);
    const int64_t n = x.size(2);
    // Python slicing semantics of the reference: [:max_x_t - drop_r_x], [drop_l_x:], [drop_l_x:max_x_t - drop_r_x].
    int64_t lo = i == 0 ? 0 : std::min(drop_l * ft, n);
    int64_t hi = i + 1 == spans.size() ? n : std::min(max_x_t - drop_r * ft, n);
    if (hi > lo) sink(x.slice(2, lo, hi));
  }
}

torch::Tensor LvdmAutoencoder3DImpl::decode_overlapped(const torch::Tensor& z, int64_t window, int64_t overlap,
                                                       bool normalized) {
  std::vector<torch::Tensor> parts;
  decode_stream(z, window, overlap, [&](const torch::Tensor& x) { parts.push_back(x); }, normalized);
  return torch::cat(parts, 2);
}

// Defaults measured with `longvid vae bench seams` (decode) and `vae bench encode-seams` (encode);
// docs/vae.md has the tables.
// An AE trained on short clips (stream_window > 0): windows of the training clip length.
TemporalWindow LvdmAutoencoder3DImpl::default_decode_window() const {
  if (cfg_.stream_window > 0) return {cfg_.stream_window, cfg_.stream_window / 4};
  return {32, 8};
}
TemporalWindow LvdmAutoencoder3DImpl::default_encode_window() const {
  if (cfg_.stream_window > 0) return {cfg_.stream_window, cfg_.stream_window / 4};
  return {kEncodeWindow, kEncodeOverlap};
}

int64_t LvdmAutoencoder3DImpl::encode_stream(const VideoChunkSource& source, int64_t window, int64_t overlap,
                                             const PosteriorChunkSink& sink) {
  if (window > 0 && (overlap < 0 || overlap >= window))
    fail("encode: temporal overlap {} must be >= 0 and smaller than the window ({} latent frames)", overlap, window);
  const int64_t ft = cfg_.factors()[0];
  // The source's chunks as they came (first video frame, frames): no copy per chunk; a window's
  // frames are gathered into one tensor only when it is encoded (one allocation of the same size
  // each time, which the allocator reuses).
  std::deque<std::pair<int64_t, torch::Tensor>> chunks;
  int64_t total = 0;
  auto frames = [&](int64_t a, int64_t b) {  // video frames [a, b)
    std::vector<torch::Tensor> parts;
    for (const auto& [s0, t] : chunks) {
      const int64_t e0 = s0 + t.size(2);
      if (e0 <= a || s0 >= b) continue;
      parts.push_back(t.slice(2, std::max(a, s0) - s0, std::min(b, e0) - s0));
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 2);
  };
  auto drop_before = [&](int64_t a) {  // forget frames before a (whole chunks only)
    while (!chunks.empty() && chunks.front().first + chunks.front().second.size(2) <= a) chunks.pop_front();
  };
  torch::Tensor pending;       // moments of latents [emitted, emitted + overlap) from the last window
  int64_t emitted = 0;         // latent frames handed to the sink
  int64_t next_start = 0;      // latent index where the next window starts (== emitted once one ran)
  int64_t last_start = -1;     // start of the last window encoded
  auto emit = [&](const torch::Tensor& m) {
    if (m.size(2) == 0) return;
    sink(DiagonalGaussian::from_moments(m));
    emitted += m.size(2);
  };
  // m's latents [offset, offset + overlap) are the pending ones: blend them (old 1 - w, new w).
  auto blend_head = [&](const torch::Tensor& m, int64_t offset) {
    if (!pending.defined() || overlap == 0) return m;
    auto out = m.clone();
    auto w = (torch::arange(overlap, m.options().dtype(torch::kFloat)) + 0.5).div(double(overlap)).to(m.dtype());
    w = w.view({1, 1, overlap, 1, 1});
    auto head = out.slice(2, offset, offset + overlap);
    head.copy_(pending * (1 - w) + head * w);
    return out;
  };
  std::vector<int64_t> frame_shape;
  while (true) {
    auto c = source();
    if (!c.defined()) break;
    if (c.dim() != 5 || c.size(1) != cfg_.image_channel || c.size(2) < 1)
      fail("encode: expected video chunks [B, {}, n >= 1, H, W], got [{}]", cfg_.image_channel,
           fmt::join(c.sizes(), ", "));
    if (frame_shape.empty()) {
      frame_shape = {c.size(0), c.size(3), c.size(4)};
    } else if (frame_shape != std::vector<int64_t>{c.size(0), c.size(3), c.size(4)}) {
      fail("encode: a chunk of the video changed size ({}x{} after {}x{})", c.size(4), c.size(3), frame_shape[2],
           frame_shape[1]);
    }
    chunks.emplace_back(total, c);
    total += c.size(2);
    if (window <= 0) continue;
    while (total >= (next_start + window) * ft) {
      auto m = encode_moments(frames(next_start * ft, (next_start + window) * ft));
      emit(blend_head(m, 0).slice(2, 0, window - overlap));
      pending = overlap > 0 ? m.slice(2, window - overlap, window).clone() : torch::Tensor();
      last_start = next_start;
      next_start += window - overlap;
      drop_before(last_start * ft);  // keep the last window's frames: the final window may move back into it
    }
  }
  if (total == 0) fail("encode: the video has no frames");
  const int64_t padded = (ft - total % ft) % ft;
  if (padded) {
    const auto& lastc = chunks.back().second;
    auto last = lastc.slice(2, lastc.size(2) - 1);
    chunks.emplace_back(total, last.expand({last.size(0), last.size(1), padded, last.size(3), last.size(4)}));
    total += padded;
  }
  const int64_t T_lat = total / ft;
  if (last_start < 0) {  // at most one window: one pass, as encode()
    emit(encode_moments(frames(0, total)));
    return padded;
  }
  if (emitted + overlap >= T_lat) {  // the video ended with the last window
    if (pending.defined()) emit(pending.slice(2, 0, T_lat - emitted));
    return padded;
  }
  const int64_t fs = std::max<int64_t>(0, T_lat - window);  // >= last_start: its frames are kept
  auto m = encode_moments(frames(fs * ft, total));
  const int64_t offset = emitted - fs;
  emit(blend_head(m, offset).slice(2, offset));
  return padded;
}

std::vector<int64_t> LvdmAutoencoder3DImpl::latent_shape(at::IntArrayRef s) const {
  if (s.size() != 5) fail("LVDM 3D autoencoder: expected a video shape [B, C, T, H, W]");
  auto f = cfg_.factors();
  for (int d = 0; d < 3; ++d)
    if (s[2 + d] % f[d])
      fail("LVDM 3D autoencoder: video {} {} is not divisible by the autoencoder's factor {}",
           d == 0 ? "length" : (d == 1 ? "height" : "width"), s[2 + d], f[d]);
  return {s[0], cfg_.embed_dim, s[2] / f[0], s[3] / f[1], s[4] / f[2]};
}

}  // namespace longvid
