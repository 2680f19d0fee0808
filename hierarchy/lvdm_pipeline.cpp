#include "hierarchy/lvdm_pipeline.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include <ATen/autocast_mode.h>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/video_io.h"

namespace longvid {

namespace {
LvdmMaskInfo mask_info_from(const Config& cfg, const LvdmUNetConfig& u) {
  LvdmMaskInfo m;
  m.masked = u.conditioning_key == "concat-adm-mask";
  m.noisy_cond = cfg.get_or<bool>("model.params.noisy_cond", false);
  m.max_noise_level = cfg.get_or<int64_t>("model.params.max_noise_level", 0);
  m.p_pred = cfg.get_or<double>("model.params.p_pred", 0.0);
  m.p_interp = cfg.get_or<double>("model.params.p_interp", 0.0);
  if (cfg.get_or<bool>("model.params.interp_consecutive_latents", false))
    m.keyframe_stride = cfg.get_or<int64_t>("model.params.latent_frame_strde", 1);  // (sic, official key)
  if (m.noisy_cond && u.num_classes > 0 && (m.max_noise_level <= 0 || m.max_noise_level > u.num_classes))
    m.max_noise_level = u.num_classes;
  return m;
}

// The config: the given YAML, else the official-structure JSON a longvid-trained safetensors
// carries in its metadata (kConfigMetadataKey). Returns (text, origin for messages).
std::pair<std::string, std::string> model_config_text(const StateDict& sd, const std::filesystem::path& checkpoint,
                                                      const std::filesystem::path& config_path) {
  if (config_path.empty()) {
    auto it = sd.metadata.find(kConfigMetadataKey);
    if (it == sd.metadata.end())
      fail_hint("pass the official YAML with --config, e.g. configs/lvdm_short/sky.yaml",
                "{}: no config given and none stored in the checkpoint (metadata '{}')", checkpoint.string(),
                kConfigMetadataKey);
    return {it->second, checkpoint.string() + " (stored config)"};
  }
  std::ifstream f(config_path);
  if (!f) fail("{}: cannot open config", config_path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return {ss.str(), config_path.string()};
}

std::string file_id(const std::filesystem::path& p) {
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  return fmt::format("{}:{}", std::filesystem::absolute(p).string(), ec ? 0 : size);
}

// --dtype bf16/fp16: weights stay float32 and the networks run under autocast, which picks the
// precision per op (convolutions and matmuls in the low dtype, norms and softmax in float32).
class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype)
      : type_(device.type()), on_(dtype != c10::kFloat && dtype != c10::kDouble) {
    if (!on_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, dtype);
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, prev_enabled_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
    at::autocast::clear_cache();
  }

 private:
  c10::DeviceType type_;
  bool on_, prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::kFloat;
};
}  // namespace

LvdmPipeline::LvdmPipeline(LvdmUNet3D unet, LvdmAutoencoder3D ae, NoiseSchedule schedule, int64_t latent_size,
                           LvdmPipelineOptions opts)
    : unet_(std::move(unet)), ae_(std::move(ae)), schedule_(std::make_shared<NoiseSchedule>(std::move(schedule))),
      latent_size_(latent_size), opts_(opts) {
  unet_->eval();
  ae_->eval();
  unet_->to(opts_.device);
  ae_->to(opts_.device);
}

LvdmPipeline LvdmPipeline::load(const std::filesystem::path& checkpoint, const std::filesystem::path& config_path,
                                const LvdmPipelineOptions& opts) {
  StateDict sd = load_checkpoint(checkpoint);
  auto [cfg_text, cfg_origin] = model_config_text(sd, checkpoint, config_path);
  Config cfg = Config::parse_yaml(cfg_text, cfg_origin);
  auto unet_cfg = LvdmUNetConfig::from_yaml_string(cfg_text, cfg_origin);
  auto ae_cfg = LvdmAe3dConfig::from_config(cfg);
  ae_cfg.validate(cfg_origin);
  auto schedule = NoiseSchedule::lvdm(cfg.get_or<double>("model.params.linear_start", 0.0015),
                                      cfg.get_or<double>("model.params.linear_end", 0.0155),
                                      cfg.get_or<std::string>("model.params.beta_schedule", "linear"),
                                      cfg.get_or<int64_t>("model.params.timesteps", 1000));
  LvdmUNet3D unet(unet_cfg);
  auto mask = mask_info_from(cfg, unet_cfg);
  std::string why;
  auto which = load_lvdm_unet(*unet, sd, choose_lvdm_weights(sd, opts.weights, mask.masked, &why));
  LvdmAutoencoder3D ae(ae_cfg);
  load_lvdm_ae3d(*ae, sd);
  spdlog::info("loaded {} ({} U-Net weights: {}; {:.1f}M U-Net parameters)", checkpoint.string(), to_string(which),
               why, unet->num_parameters() / 1e6);
  int64_t latent = cfg.get_or<int64_t>("model.params.image_size", 32);
  int64_t levels = static_cast<int64_t>(unet_cfg.channel_mult.size());
  if (latent < 1 || latent % (int64_t{1} << (levels - 1)) != 0)
    fail("{}: model.params.image_size {} is not divisible by 2^{} (the U-Net's downsampling)", cfg_origin,
         latent, levels - 1);
  LvdmPipeline p(std::move(unet), std::move(ae), std::move(schedule), latent, opts);
  p.mask_ = mask;
  p.weights_id_ = file_id(checkpoint) + (which == LvdmWeights::Ema ? ":ema" : ":raw");
  return p;
}

void LvdmPipeline::attach_interpolation(const std::filesystem::path& checkpoint,
                                        const std::filesystem::path& config_path) {
  LoadOptions lo;
  StateDict sd = load_checkpoint(checkpoint, lo);
  auto [cfg_text, cfg_origin] = model_config_text(sd, checkpoint, config_path);
  Config cfg = Config::parse_yaml(cfg_text, cfg_origin);
  auto unet_cfg = LvdmUNetConfig::from_yaml_string(cfg_text, cfg_origin);
  const std::string config_name = cfg_origin;
  auto mask = mask_info_from(cfg, unet_cfg);
  if (!mask.masked)
    fail("{}: the interpolation model needs frame-mask conditioning (conditioning_key concat-adm-mask), this one has '{}'",
         config_name, unet_cfg.conditioning_key);
  if (unet_cfg.out_channels != unet_->config().out_channels)
    fail("{}: the interpolation model works on {}-channel latents, the prediction model on {}", config_name,
         unet_cfg.out_channels, unet_->config().out_channels);
  int64_t latent = cfg.get_or<int64_t>("model.params.image_size", 32);
  if (latent != latent_size_)
    fail("{}: the interpolation model works on {}x{} latents, the prediction model on {}x{}", config_name,
         latent, latent, latent_size_, latent_size_);
  LvdmUNet3D unet(unet_cfg);
  std::string why;
  auto which = load_lvdm_unet(*unet, sd, choose_lvdm_weights(sd, opts_.weights, /*long_video_model=*/true, &why));
  unet->eval();
  unet->to(opts_.device);
  spdlog::info("loaded interpolation model {} ({} weights: {}; {:.1f}M parameters)", checkpoint.string(),
               to_string(which), why, unet->num_parameters() / 1e6);
  interp_unet_ = std::move(unet);
  interp_mask_ = mask;
  interp_den_.reset();
  weights_id_ += "+" + file_id(checkpoint) + (which == LvdmWeights::Ema ? ":ema" : ":raw");
}

LongVideoModels LvdmPipeline::long_video_models(LongVideoMode mode) {
  const auto& u = unet_->config();
  if (!mask_.masked)
    fail_hint("use a long-video model (LVDM lvdm_long configs, or one trained with `longvid train`)",
              "this model has no frame-mask conditioning (conditioning_key '{}'), so it cannot continue a video; it "
              "makes single clips of {} latent frames", u.conditioning_key, u.temporal_length);
  if (!mask_.can_predict())
    fail("the model given as the prediction model was trained for interpolation only (p_pred 0)");
  if (!pred_den_) pred_den_ = std::make_unique<LvdmUNetDenoiser>(unet_);
  LongVideoModels m;
  m.geometry = {u.out_channels, latent_size_, latent_size_};
  auto clip_model = [&](LvdmUNet3D& net, LvdmUNetDenoiser* den, const LvdmMaskInfo& info, const char* name) {
    MaskedClipModel c;
    c.denoiser = den;
    c.schedule = schedule_.get();
    c.clip_len = net->config().temporal_length;
    c.noisy_cond = info.noisy_cond;
    c.max_noise_level = info.max_noise_level;
    c.name = name;
    if (c.clip_len < 2) fail("the {} has no temporal_length in its config", name);
    return c;
  };
  m.pred = clip_model(unet_, pred_den_.get(), mask_, "the prediction model");
  if (mode == LongVideoMode::Hierarchical) {
    if (interp_unet_) {
      if (!interp_den_) interp_den_ = std::make_unique<LvdmUNetDenoiser>(interp_unet_);
      m.interp = clip_model(interp_unet_, interp_den_.get(), interp_mask_, "the interpolation model");
    } else {
      if (!mask_.can_interpolate())
        fail_hint("pass --interp-model/--interp-config, or --mode autoregressive",
                  "hierarchical mode needs an interpolation model; the prediction model was trained for prediction only "
                  "(p_interp 0)");
      m.interp = clip_model(unet_, pred_den_.get(), mask_, "the model (used for interpolation too)");
    }
  }
  return m;
}

LvdmPipeline LvdmPipeline::random_tiny_masked(uint64_t weight_seed, int64_t latent_size,
                                              const LvdmPipelineOptions& opts) {
  if (latent_size < 2 || latent_size % 2 || latent_size > 128)
    fail("random tiny model: latent size {} must be even, from 2 to 128", latent_size);
  LvdmUNetConfig u;
  u.in_channels = 5;  // 4 latent channels + the frame mask
  u.out_channels = 4;
  u.model_channels = 32;
  u.num_res_blocks = 1;
  u.attention_resolutions = {2};
  u.channel_mult = {1, 2};
  u.num_heads = 4;
  u.legacy = false;
  u.kernel_size_t = 1;
  u.padding_t = 0;
  u.temporal_length = 4;
  u.use_relative_position = true;
  u.use_scale_shift_norm = true;
  u.num_classes = 251;  // s in 0..250, as configs/lvdm_long
  u.conditioning_key = "concat-adm-mask";
  LvdmAe3dConfig a;
  a.scale_factor = 0.33422927;
  a.shift_factor = 1.4606637;
  torch::manual_seed(weight_seed);
  LvdmUNet3D unet(u);
  LvdmAutoencoder3D ae(a);
  torch::NoGradGuard ng;
  for (auto& p : unet->parameters())
    if (p.abs().max().item<double>() == 0.0) p.normal_(0.0, 0.02);
  LvdmPipeline p(std::move(unet), std::move(ae), NoiseSchedule::lvdm(), latent_size, opts);
  p.mask_.masked = true;
  p.mask_.noisy_cond = true;
  p.mask_.max_noise_level = 250;
  p.mask_.p_pred = 0.5;
  p.mask_.p_interp = 0.4;
  p.weights_id_ = fmt::format("random_tiny_masked:{}:{}", weight_seed, latent_size);
  return p;
}

LvdmPipeline LvdmPipeline::random_tiny(uint64_t weight_seed, const LvdmPipelineOptions& opts) {
  LvdmUNetConfig u;
  u.in_channels = 4;
  u.out_channels = 4;
  u.model_channels = 32;
  u.num_res_blocks = 1;
  u.attention_resolutions = {2};
  u.channel_mult = {1, 2};
  u.num_heads = 4;
  u.legacy = false;
  u.kernel_size_t = 1;
  u.padding_t = 0;
  u.temporal_length = 4;
  u.use_relative_position = true;
  u.use_scale_shift_norm = true;
  LvdmAe3dConfig a;  // the official [4, 8, 8] layout, 32 hidden channels
  a.scale_factor = 0.33422927;  // sky's latent normalisation
  a.shift_factor = 1.4606637;
  torch::manual_seed(weight_seed);  // module initialisers draw from the global generator
  LvdmUNet3D unet(u);
  LvdmAutoencoder3D ae(a);
  // The official zero-initialised output layers would make a random model predict eps = 0.
  torch::NoGradGuard ng;
  for (auto& p : unet->parameters())
    if (p.abs().max().item<double>() == 0.0) p.normal_(0.0, 0.02);
  LvdmPipeline p(std::move(unet), std::move(ae), NoiseSchedule::lvdm(), /*latent_size=*/8, opts);
  p.weights_id_ = fmt::format("random_tiny:{}", weight_seed);
  return p;
}

std::string LvdmPipeline::describe() const {
  const auto& u = unet_->config();
  const auto& a = ae_->config();
  auto f = a.factors();
  return fmt::format("LVDM: U-Net {:.1f}M params (ch {}, {} levels{}), 3D AE {}x{}x{} (T,H,W) z={}, schedule {} {}",
                     unet_->num_parameters() / 1e6, u.model_channels, u.channel_mult.size(),
                     u.conditioning_key.empty() ? "" : ", cond " + u.conditioning_key, f[0], f[1], f[2],
                     a.z_channels, to_string(schedule_->config().kind), schedule_->num_train_timesteps());
}

LvdmPipeline::ClipShape LvdmPipeline::clip_shape(int64_t frames) const {
  if (frames < 1) fail("--frames {}: must be at least 1", frames);
  auto f = ae_->config().factors();
  ClipShape s{};
  s.latent_t = (frames + f[0] - 1) / f[0];
  int64_t lat = latent_size_;
  s.latent_h = s.latent_w = lat;
  s.frames_decoded = s.latent_t * f[0];
  s.height = lat * f[1];
  s.width = lat * f[2];
  return s;
}

at::Tensor video_to_uint8(const at::Tensor& x, Quantize q) {
  auto v = x[0].to(at::kFloat).add(1.0).mul(127.5).clamp(0, 255);  // [3, T, H, W]
  if (q == Quantize::Round) v = v.round();
  return v.to(at::kByte).permute({1, 2, 3, 0}).contiguous().cpu();
}

void LvdmPipeline::decode_to_sink(const at::Tensor& z, int64_t frames, FrameSink& sink, int64_t decode_window) {
  torch::NoGradGuard ng;
  // The decoder runs in float32 whatever --dtype says: low-precision 3D (transposed) convolutions
  // are very slow on CPUs without bf16 units, and the decoder is a small part of the work.
  int64_t emitted = 0;
  int64_t window = decode_window, overlap = decode_window > 1 ? std::min<int64_t>(2, decode_window - 1) : 0;
  if (decode_window < 0) {  // the autoencoder's default windows
    const auto d = ae_->default_decode_window();
    window = d.window;
    overlap = d.overlap;
  }
  ae_->decode_stream(z.to(opts_.device, at::kFloat), window, overlap,
                     [&](const torch::Tensor& chunk) {
                       auto u8 = video_to_uint8(chunk);
                       for (int64_t i = 0; i < u8.size(0) && emitted < frames; ++i, ++emitted) {
                         auto fr = u8[i];
                         sink.push(fr.data_ptr<uint8_t>(), static_cast<int>(fr.size(1)), static_cast<int>(fr.size(0)));
                       }
                     },
                     /*normalized=*/true);
}

at::Tensor LvdmPipeline::generate(int64_t frames, const SamplerOptions& sampler, at::Generator& gen, FrameSink& sink,
                                  const ProgressFn& progress, int64_t decode_window) {
  torch::NoGradGuard ng;
  auto s = clip_shape(frames);
  auto opts = at::TensorOptions().dtype(at::kFloat);
  // Noise is drawn on the CPU generator and moved, so a seed gives the same video on every device.
  auto x_T = at::randn({1, unet_->config().out_channels, s.latent_t, s.latent_h, s.latent_w}, gen, opts)
                 .to(opts_.device);
  LvdmUNetDenoiser denoiser(unet_);
  at::Tensor z;
  {
    AutocastScope autocast(opts_.device, opts_.dtype);
    z = longvid::sample(denoiser, *schedule_, x_T, Conditioning{}, sampler, gen, progress);
  }
  decode_to_sink(z, frames, sink, decode_window);
  return z;
}

}  // namespace longvid
