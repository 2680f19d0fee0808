#include "vae3d/frame_autoencoder_kl.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <regex>
#include <set>

#include "core/error.h"

namespace longvid {

namespace F = torch::nn::functional;

// ---- config -------------------------------------------------------------------------------------

FrameAutoencoderKLConfig FrameAutoencoderKLConfig::from_config(const Config& root) {
  FrameAutoencoderKLConfig c;
  Config cfg = root;
  // LVDM-T2V / LDM diffusion configs: model.params.first_stage_config.params; AE configs: model.params.
  for (const char* p : {"model.params.first_stage_config.params", "first_stage_config.params", "model.params"})
    if (root.has(p)) {
      cfg = root.at(p);
      break;
    }
  if (cfg.has("ddconfig")) {  // original LDM layout
    auto dd = cfg.at("ddconfig");
    int64_t ch = dd.get<int64_t>("ch");
    c.block_out_channels.clear();
    for (auto m : dd.get<std::vector<int64_t>>("ch_mult")) c.block_out_channels.push_back(ch * m);
    c.layers_per_block = dd.get<int64_t>("num_res_blocks");
    c.in_channels = dd.get_or<int64_t>("in_channels", 3);
    c.out_channels = dd.get_or<int64_t>("out_ch", 3);
    c.latent_channels = cfg.get_or<int64_t>("embed_dim", dd.get<int64_t>("z_channels"));
    if (dd.get<int64_t>("z_channels") != c.latent_channels)
      fail("{}: ddconfig.z_channels {} differs from embed_dim {} (not supported)", root.source(),
           dd.get<int64_t>("z_channels"), c.latent_channels);
    if (dd.has("attn_resolutions") && !dd.get<std::vector<int64_t>>("attn_resolutions").empty())
      fail("{}: ddconfig.attn_resolutions must be empty (SD's VAE has attention only in the mid block)", root.source());
    if (root.has("model.params.scale_factor")) c.scaling_factor = root.get<double>("model.params.scale_factor");
  } else {  // diffusers config.json
    c.in_channels = cfg.get_or<int64_t>("in_channels", c.in_channels);
    c.out_channels = cfg.get_or<int64_t>("out_channels", c.out_channels);
    c.block_out_channels = cfg.get_or<std::vector<int64_t>>("block_out_channels", c.block_out_channels);
    c.layers_per_block = cfg.get_or<int64_t>("layers_per_block", c.layers_per_block);
    c.latent_channels = cfg.get_or<int64_t>("latent_channels", c.latent_channels);
    c.norm_num_groups = cfg.get_or<int64_t>("norm_num_groups", c.norm_num_groups);
    c.use_quant_conv = cfg.get_or<bool>("use_quant_conv", c.use_quant_conv);
    c.use_post_quant_conv = cfg.get_or<bool>("use_post_quant_conv", c.use_post_quant_conv);
    c.mid_block_add_attention = cfg.get_or<bool>("mid_block_add_attention", c.mid_block_add_attention);
    c.scaling_factor = cfg.get_or<double>("scaling_factor", c.scaling_factor);
    c.shift_factor = cfg.get_or<double>("shift_factor", c.shift_factor);
    if (cfg.has("down_block_types"))
      for (const auto& t : cfg.get<std::vector<std::string>>("down_block_types"))
        if (t != "DownEncoderBlock2D") fail("{}: down_block_types: '{}' is not supported (DownEncoderBlock2D only)", root.source(), t);
    if (cfg.has("up_block_types"))
      for (const auto& t : cfg.get<std::vector<std::string>>("up_block_types"))
        if (t != "UpDecoderBlock2D") fail("{}: up_block_types: '{}' is not supported (UpDecoderBlock2D only)", root.source(), t);
  }
  c.validate(root.source());
  return c;
}

void FrameAutoencoderKLConfig::validate(const std::string& source) const {
  if (block_out_channels.empty()) fail("{}: block_out_channels is empty", source);
  if (layers_per_block < 1 || latent_channels < 1 || in_channels < 1 || out_channels < 1 || norm_num_groups < 1)
    fail("{}: layers_per_block, latent_channels, in/out_channels and norm_num_groups must be positive", source);
  for (auto ch : block_out_channels)
    if (ch < 1 || ch % norm_num_groups)
      fail("{}: block_out_channels {}: {} is not divisible by norm_num_groups {}", source,
           fmt::format("{}", fmt::join(block_out_channels, ",")), ch, norm_num_groups);
  if (scaling_factor == 0.0) fail("{}: scaling_factor must not be 0", source);
}

std::string FrameAutoencoderKLConfig::to_json() const {
  return fmt::format(
      "{{\"_class_name\":\"AutoencoderKL\",\"in_channels\":{},\"out_channels\":{},\"block_out_channels\":[{}],"
      "\"layers_per_block\":{},\"latent_channels\":{},\"norm_num_groups\":{},\"use_quant_conv\":{},"
      "\"use_post_quant_conv\":{},\"mid_block_add_attention\":{},\"scaling_factor\":{},\"shift_factor\":{}}}",
      in_channels, out_channels, fmt::join(block_out_channels, ","), layers_per_block, latent_channels,
      norm_num_groups, use_quant_conv, use_post_quant_conv, mid_block_add_attention, scaling_factor, shift_factor);
}

FrameAutoencoderKLConfig FrameAutoencoderKLConfig::infer(const StateDict& sd, const std::string& prefix) {
  std::string src = sd.path.empty() ? std::string("state dict") : sd.path.string();
  auto shape = [&](const std::string& name) {
    if (!sd.contains(prefix + name)) fail("{}: no '{}{}': not a diffusers AutoencoderKL", src, prefix, name);
    return sd.get(prefix + name).sizes().vec();
  };
  FrameAutoencoderKLConfig c;
  c.in_channels = shape("encoder.conv_in.weight")[1];
  c.out_channels = shape("decoder.conv_out.weight")[0];
  c.latent_channels = shape("decoder.conv_in.weight")[1];
  c.block_out_channels.clear();
  for (int i = 0; sd.contains(fmt::format("{}encoder.down_blocks.{}.resnets.0.conv1.weight", prefix, i)); ++i)
    c.block_out_channels.push_back(shape(fmt::format("encoder.down_blocks.{}.resnets.0.conv1.weight", i))[0]);
  c.layers_per_block = 0;
  while (sd.contains(fmt::format("{}encoder.down_blocks.0.resnets.{}.conv1.weight", prefix, c.layers_per_block)))
    ++c.layers_per_block;
  c.use_quant_conv = sd.contains(prefix + "quant_conv.weight");
  c.use_post_quant_conv = sd.contains(prefix + "post_quant_conv.weight");
  c.mid_block_add_attention = sd.contains(prefix + "encoder.mid_block.attentions.0.to_q.weight");
  // norm_num_groups is not stored in the weights: 32 (every released SD-family VAE).
  c.validate(src);
  return c;
}

// ---- modules ------------------------------------------------------------------------------------

namespace frame_ae_kl {

namespace {
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = -1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad < 0 ? k / 2 : pad));
}
torch::nn::GroupNorm gn(int64_t groups, int64_t ch) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, ch).eps(1e-6));
}
}  // namespace

ResnetBlockImpl::ResnetBlockImpl(int64_t in, int64_t out, int64_t groups) {
  norm1 = register_module("norm1", gn(groups, in));
  conv1 = register_module("conv1", conv(in, out, 3));
  norm2 = register_module("norm2", gn(groups, out));
  conv2 = register_module("conv2", conv(out, out, 3));
  if (in != out) conv_shortcut = register_module("conv_shortcut", conv(in, out, 1, 1, 0));
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv1(F::silu(norm1(x)));
  h = conv2(F::silu(norm2(h)));
  return (conv_shortcut ? conv_shortcut(x) : x) + h;
}

AttentionImpl::AttentionImpl(int64_t c, int64_t groups) {
  group_norm = register_module("group_norm", gn(groups, c));
  to_q = register_module("to_q", torch::nn::Linear(c, c));
  to_k = register_module("to_k", torch::nn::Linear(c, c));
  to_v = register_module("to_v", torch::nn::Linear(c, c));
  to_out = register_module("to_out", torch::nn::ModuleList());
  to_out->push_back(torch::nn::Linear(c, c));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto h = group_norm(x).view({B, C, H * W}).transpose(1, 2);  // [B, HW, C]
  auto q = to_q(h), k = to_k(h), v = to_v(h);
  // One head of width C; softmax in float32 (diffusers: upcast_softmax / SDPA).
  auto scores = torch::matmul(q.to(torch::kFloat), k.to(torch::kFloat).transpose(1, 2)) / std::sqrt(double(C));
  auto a = torch::matmul(scores.softmax(-1), v.to(torch::kFloat)).to(x.scalar_type());
  auto o = to_out[0]->as<torch::nn::Linear>()->forward(a);
  return o.transpose(1, 2).reshape({B, C, H, W}) + x;
}

MidBlockImpl::MidBlockImpl(int64_t c, int64_t groups, bool attention) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  attentions = register_module("attentions", torch::nn::ModuleList());
  resnets->push_back(ResnetBlock(c, c, groups));
  if (attention) attentions->push_back(Attention(c, groups));
  resnets->push_back(ResnetBlock(c, c, groups));
}

torch::Tensor MidBlockImpl::forward(const torch::Tensor& x) {
  auto h = resnets[0]->as<ResnetBlockImpl>()->forward(x);
  if (!attentions->is_empty()) h = attentions[0]->as<AttentionImpl>()->forward(h);
  return resnets[1]->as<ResnetBlockImpl>()->forward(h);
}

ResampleBlockImpl::ResampleBlockImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, int resample_)
    : resample(resample_) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) resnets->push_back(ResnetBlock(i == 0 ? in : out, out, groups));
  if (resample != 0) {
    samplers = register_module(resample < 0 ? "downsamplers" : "upsamplers", torch::nn::ModuleList());
    auto s = std::make_shared<torch::nn::Module>();
    sampler_conv = s->register_module("conv", resample < 0 ? conv(out, out, 3, 2, 0) : conv(out, out, 3));
    samplers->push_back(s);
  }
}

torch::Tensor ResampleBlockImpl::forward(const torch::Tensor& x) {
  auto h = x;
  for (const auto& r : *resnets) h = r->as<ResnetBlockImpl>()->forward(h);
  if (resample == 0) return h;
  auto& c = sampler_conv;
  if (resample < 0) return c->forward(F::pad(h, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kConstant).value(0)));
  auto up = F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
  return c->forward(up);
}

EncoderImpl::EncoderImpl(const FrameAutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  conv_in = register_module("conv_in", conv(c.in_channels, ch[0], 3));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  int64_t prev = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    bool last = i + 1 == ch.size();
    down_blocks->push_back(ResampleBlock(prev, ch[i], c.layers_per_block, c.norm_num_groups, last ? 0 : -1));
    prev = ch[i];
  }
  mid_block = register_module("mid_block", MidBlock(ch.back(), c.norm_num_groups, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", gn(c.norm_num_groups, ch.back()));
  conv_out = register_module("conv_out", conv(ch.back(), 2 * c.latent_channels, 3));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);
  for (const auto& b : *down_blocks) h = b->as<ResampleBlockImpl>()->forward(h);
  h = mid_block(h);
  return conv_out(F::silu(conv_norm_out(h)));
}

DecoderImpl::DecoderImpl(const FrameAutoencoderKLConfig& c) {
  std::vector<int64_t> rev(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  conv_in = register_module("conv_in", conv(c.latent_channels, rev[0], 3));
  mid_block = register_module("mid_block", MidBlock(rev[0], c.norm_num_groups, c.mid_block_add_attention));
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  int64_t prev = rev[0];
  for (size_t i = 0; i < rev.size(); ++i) {
    bool last = i + 1 == rev.size();
    up_blocks->push_back(ResampleBlock(prev, rev[i], c.layers_per_block + 1, c.norm_num_groups, last ? 0 : 1));
    prev = rev[i];
  }
  conv_norm_out = register_module("conv_norm_out", gn(c.norm_num_groups, rev.back()));
  conv_out = register_module("conv_out", conv(rev.back(), c.out_channels, 3));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = mid_block(conv_in(z));
  for (const auto& b : *up_blocks) h = b->as<ResampleBlockImpl>()->forward(h);
  return conv_out(F::silu(conv_norm_out(h)));
}

}  // namespace frame_ae_kl

FrameAutoencoderKLImpl::FrameAutoencoderKLImpl(FrameAutoencoderKLConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  encoder = register_module("encoder", frame_ae_kl::Encoder(cfg_));
  decoder = register_module("decoder", frame_ae_kl::Decoder(cfg_));
  const int64_t L = cfg_.latent_channels;
  if (cfg_.use_quant_conv) quant_conv = register_module("quant_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * L, 2 * L, 1)));
  if (cfg_.use_post_quant_conv)
    post_quant_conv = register_module("post_quant_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(L, L, 1)));
}

torch::Tensor FrameAutoencoderKLImpl::image_moments(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != cfg_.in_channels)
    fail("FrameAutoencoderKL: expected images [N, {}, H, W]", cfg_.in_channels);
  const bool cl = use_channels_last(images, 4);  // NHWC inference (video_autoencoder.h)
  auto m = encoder(cl ? images.contiguous(at::MemoryFormat::ChannelsLast) : images);
  if (quant_conv) m = quant_conv(m);
  return cl ? m.contiguous() : m;
}

DiagonalGaussian FrameAutoencoderKLImpl::encode_images(const torch::Tensor& images) {
  return DiagonalGaussian::from_moments(image_moments(images));
}

torch::Tensor FrameAutoencoderKLImpl::decode_images(const torch::Tensor& z) {
  if (z.dim() != 4 || z.size(1) != cfg_.latent_channels)
    fail("FrameAutoencoderKL: expected latents [N, {}, h, w]", cfg_.latent_channels);
  const bool cl = use_channels_last(z, 4);
  auto x = cl ? z.contiguous(at::MemoryFormat::ChannelsLast) : z;
  auto out = decoder(post_quant_conv ? post_quant_conv(x) : x);
  return cl ? out.contiguous() : out;
}

namespace {
// [B, C, T, H, W] <-> [B*T, C, H, W]
torch::Tensor to_frames(const torch::Tensor& v) {
  return v.permute({0, 2, 1, 3, 4}).reshape({v.size(0) * v.size(2), v.size(1), v.size(3), v.size(4)});
}
torch::Tensor to_video(const torch::Tensor& f, int64_t B) {
  const int64_t T = f.size(0) / B;
  return f.view({B, T, f.size(1), f.size(2), f.size(3)}).permute({0, 2, 1, 3, 4}).contiguous();
}
}  // namespace

torch::Tensor FrameAutoencoderKLImpl::encode_moments_untiled(const torch::Tensor& video) {
  if (video.dim() != 5) fail("FrameAutoencoderKL: expected a video [B, C, T, H, W]");
  return to_video(image_moments(to_frames(video)), video.size(0));
}

torch::Tensor FrameAutoencoderKLImpl::decode_untiled(const torch::Tensor& z) {
  if (z.dim() != 5) fail("FrameAutoencoderKL: expected a latent [B, C, t, h, w] to decode");
  return to_video(decode_images(to_frames(z)), z.size(0));
}

DiagonalGaussian FrameAutoencoderKLImpl::encode(const torch::Tensor& video, int64_t per) {
  if (video.dim() != 5) fail("FrameAutoencoderKL: expected a video [B, C, T, H, W]");
  const int64_t T = video.size(2);
  if (per <= 0) per = T;
  std::vector<torch::Tensor> moments;
  for (int64_t t = 0; t < T; t += per) moments.push_back(encode_moments(video.slice(2, t, std::min(T, t + per))));
  return DiagonalGaussian::from_moments(torch::cat(moments, 2));
}

void FrameAutoencoderKLImpl::decode_stream(const torch::Tensor& z, int64_t per, const VideoChunkSink& sink,
                                           bool normalized) {
  if (z.dim() != 5) fail("FrameAutoencoderKL: expected a latent [B, C, t, h, w] to decode");
  const int64_t T = z.size(2);
  if (per <= 0) per = T;
  for (int64_t t = 0; t < T; t += per) {
    auto zi = z.slice(2, t, std::min(T, t + per));
    if (normalized) zi = denormalize_latent(zi);
    sink(VideoAutoencoder::decode(zi));
  }
}

void FrameAutoencoderKLImpl::decode_stream(const torch::Tensor& z, int64_t window, int64_t /*overlap*/,
                                           const VideoChunkSink& sink, bool normalized) {
  decode_stream(z, window, sink, normalized);
}

torch::Tensor FrameAutoencoderKLImpl::decode(const torch::Tensor& z, int64_t per) {
  std::vector<torch::Tensor> parts;
  decode_stream(z, per, [&](const torch::Tensor& x) { parts.push_back(x); });
  return torch::cat(parts, 2);
}

int64_t FrameAutoencoderKLImpl::encode_stream(const VideoChunkSource& source, int64_t window, int64_t /*overlap*/,
                                              const PosteriorChunkSink& sink) {
  torch::Tensor buf;
  int64_t total = 0;
  auto flush = [&](int64_t n) {
    sink(DiagonalGaussian::from_moments(encode_moments(buf.slice(2, 0, n))));
    buf = n < buf.size(2) ? buf.slice(2, n).clone() : torch::Tensor();
  };
  while (true) {
    auto c = source();
    if (!c.defined()) break;
    if (c.dim() != 5 || c.size(1) != cfg_.in_channels || c.size(2) < 1)
      fail("encode: expected video chunks [B, {}, n >= 1, H, W], got [{}]", cfg_.in_channels, fmt::join(c.sizes(), ", "));
    total += c.size(2);
    buf = buf.defined() ? torch::cat({buf, c}, 2) : c;
    if (window <= 0) {
      flush(buf.size(2));
      continue;
    }
    while (buf.defined() && buf.size(2) >= window) flush(window);
  }
  if (total == 0) fail("encode: the video has no frames");
  if (buf.defined() && buf.size(2) > 0) flush(buf.size(2));
  return 0;
}

torch::Tensor FrameAutoencoderKLImpl::normalize_latent(const torch::Tensor& z) const {
  return (z - cfg_.shift_factor) * cfg_.scaling_factor;
}
torch::Tensor FrameAutoencoderKLImpl::denormalize_latent(const torch::Tensor& z) const {
  return z / cfg_.scaling_factor + cfg_.shift_factor;
}

// ---- checkpoints --------------------------------------------------------------------------------

std::optional<std::string> ldm_to_diffusers_vae_name(const std::string& name, int64_t num_levels) {
  if (name.rfind("loss.", 0) == 0) return std::nullopt;
  static const std::regex down_block(R"(^encoder\.down\.(\d+)\.block\.(\d+)\.(.*)$)");
  static const std::regex down_sample(R"(^encoder\.down\.(\d+)\.downsample\.conv\.(.*)$)");
  static const std::regex up_block(R"(^decoder\.up\.(\d+)\.block\.(\d+)\.(.*)$)");
  static const std::regex up_sample(R"(^decoder\.up\.(\d+)\.upsample\.conv\.(.*)$)");
  static const std::regex mid(R"(^(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(\w+)\.(weight|bias)$)");
  static const std::regex norm_out(R"(^(encoder|decoder)\.norm_out\.(.*)$)");
  auto resnet_part = [](const std::string& s) { return s.rfind("nin_shortcut.", 0) == 0 ? "conv_shortcut." + s.substr(13) : s; };
  std::smatch m;
  if (std::regex_match(name, m, down_block))
    return fmt::format("encoder.down_blocks.{}.resnets.{}.{}", m[1].str(), m[2].str(), resnet_part(m[3]));
  if (std::regex_match(name, m, down_sample))
    return fmt::format("encoder.down_blocks.{}.downsamplers.0.conv.{}", m[1].str(), m[2].str());
  if (std::regex_match(name, m, up_block))
    return fmt::format("decoder.up_blocks.{}.resnets.{}.{}", num_levels - 1 - std::stoll(m[1]), m[2].str(),
                       resnet_part(m[3]));
  if (std::regex_match(name, m, up_sample))
    return fmt::format("decoder.up_blocks.{}.upsamplers.0.conv.{}", num_levels - 1 - std::stoll(m[1]), m[2].str());
  if (std::regex_match(name, m, mid)) {
    std::string part = m[3], leaf = m[4];
    if (m[2] == "attn_1") {
      static const std::map<std::string, std::string> attn{
          {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
      auto it = attn.find(part);
      if (it == attn.end()) return name;
      return fmt::format("{}.mid_block.attentions.0.{}.{}", m[1].str(), it->second, leaf);
    }
    return fmt::format("{}.mid_block.resnets.{}.{}.{}", m[1].str(), m[2] == "block_1" ? 0 : 1,
                       part == "nin_shortcut" ? "conv_shortcut" : part, leaf);
  }
  if (std::regex_match(name, m, norm_out)) return fmt::format("{}.conv_norm_out.{}", m[1].str(), m[2].str());
  return name;
}

std::string frame_ae_kl_prefix(const StateDict& sd) {
  for (const auto& k : sd.keys()) {
    if (k.rfind("first_stage_model.", 0) == 0) return "first_stage_model.";
    if (k.rfind("vae.encoder.", 0) == 0) return "vae.";
  }
  return "";
}

StateDict frame_ae_kl_state(const StateDict& sd) {
  const std::string prefix = frame_ae_kl_prefix(sd);
  bool ldm = false;
  std::set<int64_t> levels;
  static const std::regex down(R"(^encoder\.down\.(\d+)\.)");
  for (const auto& k : sd.keys()) {
    if (k.rfind(prefix, 0) != 0) continue;
    std::string n = k.substr(prefix.size());
    std::smatch m;
    if (std::regex_search(n, m, down)) {
      ldm = true;
      levels.insert(std::stoll(m[1]));
    }
  }
  StateDict out;
  out.path = sd.path;
  out.metadata = sd.metadata;
  out.format = sd.format;
  for (const auto& k : sd.keys()) {
    if (k.rfind(prefix, 0) != 0) continue;
    std::string n = k.substr(prefix.size());
    auto t = sd.get(k);
    if (ldm) {
      auto mapped = ldm_to_diffusers_vae_name(n, static_cast<int64_t>(levels.size()));
      if (!mapped) continue;
      // LDM's attention projections are 1x1 convs: [C, C, 1, 1] -> Linear [C, C].
      if (mapped->find(".attentions.0.to_") != std::string::npos && t.dim() == 4) t = t.flatten(1);
      n = *mapped;
    } else {
      // Pre-0.14 diffusers names of the mid-block attention.
      static const std::vector<std::pair<std::string, std::string>> old{
          {".attentions.0.query.", ".attentions.0.to_q."}, {".attentions.0.key.", ".attentions.0.to_k."},
          {".attentions.0.value.", ".attentions.0.to_v."}, {".attentions.0.proj_attn.", ".attentions.0.to_out.0."}};
      for (const auto& [a, b] : old) {
        auto p = n.find(a);
        if (p != std::string::npos) n = n.substr(0, p) + b + n.substr(p + a.size());
      }
    }
    out.set(n, t);
  }
  return out;
}

void load_frame_autoencoder_kl(FrameAutoencoderKLImpl& ae, const StateDict& sd) {
  auto state = frame_ae_kl_state(sd);
  LoadIntoOptions opts;
  opts.strict = true;
  opts.ignore = {"loss.*"};
  load_into(ae, state, opts);
}

}  // namespace longvid
