// The LVDM family: loading official LVDM checkpoints (scripts/sample_*.py load_model: the config's
// model.params + the checkpoint's state_dict) into a VideoPipeline.
#include "pipeline/lvdm_family.h"

#include <fmt/format.h>


#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/weight_arena.h"
#include "backbones/latte.h"
#include "pipeline/clip_text_encoder.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

namespace {

// The denoiser network of LVDM's latent-diffusion wrapper, from model.params.unet_config: LVDM's
// U-Net (openaimodel3d.*UNet*), or a masked Latte trained by longvid (target kLatteTarget) -- the
// wrapper instantiates its unet_config target as LDM's instantiate_from_config does.
struct Net {
  LvdmUNet3D unet{nullptr};
  Latte latte{nullptr};
  torch::nn::Module& module() { return unet ? static_cast<torch::nn::Module&>(*unet) : *latte; }
  int64_t num_parameters() {
    int64_t n = 0;
    for (const auto& p : module().parameters()) n += p.numel();
    return n;
  }
};

bool is_latte_target(const Config& cfg) {
  return cfg.get_or<std::string>("model.params.unet_config.target", "") == kLatteTarget;
}

Net build_net(const Config& cfg, const std::string& cfg_text, const std::string& origin, bool weight_arena) {
  Net n;
  WeightArenaScope arena(weight_arena);  // the weights in a few large blocks (core/weight_arena.h)
  if (is_latte_target(cfg)) {
    if (!cfg.has("model.params.unet_config.params"))
      fail("{}: model.params.unet_config (target {}) has no params", origin, kLatteTarget);
    auto lc = LatteConfig::from_yaml_string(cfg.at("model.params.unet_config.params").to_json(), origin);
    n.latte = Latte(lc);
  } else {
    n.unet = LvdmUNet3D(LvdmUNetConfig::from_yaml_string(cfg_text, origin));
  }
  return n;
}

DenoiserCaps caps_from(const Config& cfg, const Net& n, int64_t latent_size) {
  DenoiserCaps m;
  int64_t num_classes = 0;
  if (n.unet) {
    const auto& u = n.unet->config();
    m.latent_channels = u.out_channels;
    m.clip_len = u.temporal_length;
    m.context_dim = u.use_temporal_transformer && u.context_dim > 0 ? u.context_dim : 0;
    m.masked = u.conditioning_key == "concat-adm-mask";
    num_classes = u.num_classes;
  } else {
    const auto& c = n.latte->config();
    m.latent_channels = c.in_channels;
    m.clip_len = c.num_frames;
    m.masked = c.masked;
    m.learned_sigma = c.learn_sigma;
    num_classes = c.extras == 2 ? c.num_classes : 0;
  }
  m.latent_height = m.latent_width = latent_size;
  m.prediction = Prediction::Eps;
  m.noisy_cond = cfg.get_or<bool>("model.params.noisy_cond", false);
  m.max_noise_level = cfg.get_or<int64_t>("model.params.max_noise_level", 0);
  m.p_pred = cfg.get_or<double>("model.params.p_pred", 0.0);
  m.p_interp = cfg.get_or<double>("model.params.p_interp", 0.0);
  if (cfg.get_or<bool>("model.params.interp_consecutive_latents", false))
    m.keyframe_stride = cfg.get_or<int64_t>("model.params.latent_frame_strde", 1);  // (sic, official key)
  if (m.noisy_cond && num_classes > 0 && (m.max_noise_level <= 0 || m.max_noise_level > num_classes))
    m.max_noise_level = num_classes;
  // A label table that is not the noise level s is a class label.
  if (num_classes > 0 && !m.noisy_cond) m.num_classes = num_classes;
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
  return {read_text_file(config_path, "config"), config_path.string()};
}

std::string describe_net(Net& n) {
  if (n.latte) {
    const auto& c = n.latte->config();
    return fmt::format("Latte variant {} {:.1f}M params (width {}, depth {}, patch {}, frame-mask conditioning, {} "
                       "latent frames)",
                       c.variant, n.num_parameters() / 1e6, c.hidden_size, c.depth, c.patch_size, c.num_frames);
  }
  const auto& u = n.unet->config();
  return fmt::format("LVDM 3D U-Net {:.1f}M params (ch {}, {} levels{}, {} latent frames)", n.num_parameters() / 1e6,
                     u.model_channels, u.channel_mult.size(),
                     u.conditioning_key.empty() ? "" : ", cond " + u.conditioning_key, u.temporal_length);
}

PipelineDenoiser make_denoiser(Net n, DenoiserCaps caps, const PipelineLoadOptions& opts) {
  n.module().eval();
  n.module().to(opts.device);
  apply_precision(n.module(), opts);
  PipelineDenoiser d;
  d.describe = describe_net(n);
  d.caps = caps;
  if (n.unet)
    d.net = std::make_shared<LvdmUNetDenoiser>(std::move(n.unet));
  else
    d.net = std::make_shared<LatteDenoiser>(std::move(n.latte));
  return d;
}

// The first stage: LVDM's 3D autoencoder (lvdm.models.autoencoder3d), or, for the text-to-video
// model, the per-frame 2D KL autoencoder of LDM / Stable Diffusion (lvdm.models.autoencoder with an
// LDM ddconfig: ch, ch_mult).
struct FirstStage {
  LvdmAutoencoder3D ae3d{nullptr};
  FrameAutoencoderKL frame{nullptr};
  torch::nn::Module& module() { return ae3d ? static_cast<torch::nn::Module&>(*ae3d) : *frame; }
  std::shared_ptr<VideoAutoencoder> video() const {
    return ae3d ? std::static_pointer_cast<VideoAutoencoder>(ae3d.ptr())
                : std::static_pointer_cast<VideoAutoencoder>(frame.ptr());
  }
};

FirstStage build_first_stage(const Config& cfg, const std::string& origin) {
  FirstStage f;
  if (cfg.has("model.params.first_stage_config.params.ddconfig.ch_mult")) {
    auto c = FrameAutoencoderKLConfig::from_config(cfg);
    c.validate(origin);
    f.frame = FrameAutoencoderKL(c);
  } else {
    auto c = LvdmAe3dConfig::from_config(cfg);
    c.validate(origin);
    f.ae3d = LvdmAutoencoder3D(c);
  }
  return f;
}

void load_first_stage(FirstStage& f, const StateDict& sd) {
  if (f.ae3d)
    load_lvdm_ae3d(*f.ae3d, sd);
  else
    load_frame_autoencoder_kl(*f.frame, sd);
}

VideoPipeline assemble(PipelineDenoiser main, FirstStage ae, NoiseSchedule schedule, const PipelineLoadOptions& opts) {
  ae.module().eval();
  ae.module().to(opts.device);
  VideoPipeline p;
  p.family = "lvdm";
  p.main = std::move(main);
  p.autoencoder = ae.video();
  p.schedule = std::make_shared<NoiseSchedule>(std::move(schedule));
  p.device = opts.device;
  set_precision(p, opts);
  // LVDM's scripts (sample_uncond.py, sample_long_videos.py): DDIM 50 steps, eta 1.
  p.default_sampler.method = "ddim";
  p.default_sampler.steps = 50;
  p.default_sampler.eta = 1.0;
  p.default_sampler.spacing = "auto";
  return p;
}

int64_t latent_size_of(const Config& cfg, const Net& n, const std::string& origin) {
  int64_t latent = 32;
  if (cfg.has("model.params.image_size") && cfg.at("model.params.image_size").is_list()) {  // text2video: [32, 32]
    auto hw = cfg.get<std::vector<int64_t>>("model.params.image_size");
    if (hw.size() != 2 || hw[0] != hw[1]) fail("{}: model.params.image_size must be square", origin);
    latent = hw[0];
  } else {
    latent = cfg.get_or<int64_t>("model.params.image_size", 32);
  }
  if (n.latte) {
    if (latent != n.latte->config().input_size)
      fail("{}: model.params.image_size {} differs from the Latte input_size {}", origin, latent,
           n.latte->config().input_size);
    return latent;
  }
  int64_t levels = static_cast<int64_t>(n.unet->config().channel_mult.size());
  if (latent < 1 || latent % (int64_t{1} << (levels - 1)) != 0)
    fail("{}: model.params.image_size {} is not divisible by 2^{} (the U-Net's downsampling)", origin, latent,
         levels - 1);
  return latent;
}

// The parts an official config describes (weights as the modules initialise them).
struct Built {
  Net net;
  FirstStage ae;
  NoiseSchedule schedule;
  DenoiserCaps caps;
  // The text encoder's head count when the config states it (cond_stage_config.params.num_heads, a
  // longvid key for reduced models); -1: width / 64, as every CLIP text tower.
  int64_t text_num_heads = -1;
};

Built build_from_config(const std::string& cfg_text, const std::string& cfg_origin, bool weight_arena) {
  Config cfg = Config::parse_yaml(cfg_text, cfg_origin);
  Built b{build_net(cfg, cfg_text, cfg_origin, weight_arena), build_first_stage(cfg, cfg_origin),
          NoiseSchedule::lvdm(cfg.get_or<double>("model.params.linear_start", 0.0015),
                              cfg.get_or<double>("model.params.linear_end", 0.0155),
                              cfg.get_or<std::string>("model.params.beta_schedule", "linear"),
                              cfg.get_or<int64_t>("model.params.timesteps", 1000)),
          {}};
  b.caps = caps_from(cfg, b.net, latent_size_of(cfg, b.net, cfg_origin));
  b.text_num_heads = cfg.get_or<int64_t>("model.params.cond_stage_config.params.num_heads", -1);
  return b;
}

VideoPipeline random_from_config(const std::string& cfg_text, const std::string& origin, uint64_t seed,
                                 const PipelineLoadOptions& opts) {
  torch::manual_seed(static_cast<int64_t>(seed));  // module initialisers draw from the global generator
  Built b = build_from_config(cfg_text, origin, use_weight_arena(opts));
  {
    // The official zero-initialised output layers would make a random model predict eps = 0.
    torch::NoGradGuard ng;
    for (auto& p : b.net.module().parameters())
      if (p.abs().max().item<double>() == 0.0) p.normal_(0.0, 0.02);
  }
  spdlog::warn("random weights for the model of {} ({:.1f}M denoiser parameters): for benchmarks, not content",
               origin, b.net.num_parameters() / 1e6);
  auto p = assemble(make_denoiser(std::move(b.net), b.caps, opts), std::move(b.ae), std::move(b.schedule), opts);
  p.weights_id = fmt::format("random:{}:{}", origin, seed);
  return p;
}

VideoPipeline load(const StateDict& sd, const ModelSource& src_in, const PipelineLoadOptions& opts) {
  auto [cfg_text, cfg_origin] = model_config_text(sd, src_in.checkpoint, src_in.config);
  Built b = build_from_config(cfg_text, cfg_origin, use_weight_arena(opts));
  // A model trained here with its text encoder has its tokenizer files next to it (RUN/tokenizer/,
  // or what `longvid export` writes beside the exported file).
  ModelSource src = src_in;
  if (b.caps.context_dim > 0 && src.tokenizer.empty() &&
      std::filesystem::exists(src.checkpoint.parent_path() / "tokenizer" / "vocab.json"))
    src.tokenizer = src.checkpoint.parent_path() / "tokenizer";
  // FrozenCLIPEmbedder: the weights are in the checkpoint (cond_stage_model.transformer.*), the
  // tokenizer is not (the official code downloads openai/clip-vit-large-patch14's). Checked before
  // any weight is loaded.
  if (b.caps.context_dim > 0 && src.tokenizer.empty())
    fail_hint("pass --tokenizer: a folder with openai/clip-vit-large-patch14's vocab.json + merges.txt, or openai "
              "CLIP's bpe_simple_vocab_16e6.txt (gunzipped)",
              "{}: a text-to-video model: its CLIP text encoder needs its tokenizer files", src.checkpoint.string());
  if (b.caps.context_dim == 0 && !src.tokenizer.empty())
    fail("--tokenizer {}: the model {} takes no text", src.tokenizer.string(), src.checkpoint.string());
  FirstStage ae = std::move(b.ae);
  auto schedule = std::move(b.schedule);
  auto caps = b.caps;
  const int64_t text_heads = b.text_num_heads;
  std::string why;
  auto which = load_lvdm_unet(b.net.module(), sd, choose_lvdm_weights(sd, opts.weights, caps.masked, &why));
  // A model exported without its autoencoder (`longvid export --no-autoencoder`: models trained on
  // one frozen AE share it) takes it from --vae, a file holding first_stage_model.* (or a bare AE).
  if (!sd.has_prefix("first_stage_model.")) {
    if (src.autoencoder.empty())
      fail_hint("pass --vae FILE: the model it was trained with, or the autoencoder it names",
                "{}: this model file holds no autoencoder (first_stage_model.*)", src.checkpoint.string());
    StateDict ae_sd = load_checkpoint(src.autoencoder);
    try {
      load_first_stage(ae, ae_sd);
    } catch (const Error& e) {
      fail("--vae {}: not the autoencoder of {}: {}", src.autoencoder.string(), src.checkpoint.string(), e.what());
    }
  } else {
    if (!src.autoencoder.empty())
      fail("--vae {}: the model {} carries its own autoencoder", src.autoencoder.string(), src.checkpoint.string());
    load_first_stage(ae, sd);
  }
  spdlog::info("loaded {} ({} {} weights: {}; {:.1f}M denoiser parameters)", src.checkpoint.string(),
               to_string(which), b.net.latte ? "Latte" : "U-Net", why, b.net.num_parameters() / 1e6);
  auto p = assemble(make_denoiser(std::move(b.net), caps, opts), std::move(ae), std::move(schedule), opts);
  p.weights_id = checkpoint_file_id(src.checkpoint) + (which == LvdmWeights::Ema ? ":ema" : ":raw");
  if (!src.autoencoder.empty()) p.weights_id += "+vae:" + checkpoint_file_id(src.autoencoder);
  if (caps.context_dim > 0) {
    // A training run's file holds the text encoder's EMA copy beside the raw one: take it with the
    // U-Net's EMA weights (LitEma naming: "model_ema." + the key without dots).
    StateDict ema_text;
    if (which == LvdmWeights::Ema)
      for (const auto& k : sd.keys())
        if (k.rfind("cond_stage_model.", 0) == 0) {
          std::string flat = "model_ema.";
          for (char ch : k)
            if (ch != '.') flat += ch;
          if (!sd.contains(flat)) {
            ema_text = StateDict();
            break;
          }
          ema_text.set(k, sd.get(flat));
        }
    const bool use_ema_text = !ema_text.empty();
    p.text_encoder = load_clip_text_encoder(use_ema_text ? ema_text : sd, src.tokenizer, opts.device, false, text_heads);
    if (p.text_encoder->width() != caps.context_dim)
      fail("{}: the text encoder is {} wide, the U-Net attends to a context of {}", src.checkpoint.string(),
           p.text_encoder->width(), caps.context_dim);
    p.weights_id += "+" + checkpoint_file_id(src.tokenizer);
    // scripts/sample_text2video.py: DDIM 50, eta 1, unconditional_guidance_scale 15; a model trained
    // here states its own (model.params.unconditional_guidance_scale, a longvid key).
    p.default_cfg_scale = Config::parse_yaml(cfg_text, cfg_origin)
                              .get_or<double>("model.params.unconditional_guidance_scale", caps.masked ? 5.0 : 15.0);
    spdlog::info("text encoder: {}", p.text_encoder->describe());
  }
  return p;
}

void attach_interpolation(VideoPipeline& pipe, const StateDict& sd, const ModelSource& src,
                          const PipelineLoadOptions& opts) {
  auto [cfg_text, cfg_origin] = model_config_text(sd, src.interp_checkpoint, src.interp_config);
  Config cfg = Config::parse_yaml(cfg_text, cfg_origin);
  Net net = build_net(cfg, cfg_text, cfg_origin, use_weight_arena(opts));
  const int64_t latent = latent_size_of(cfg, net, cfg_origin);
  auto caps = caps_from(cfg, net, latent);
  if (!caps.masked)
    fail("{}: the interpolation model needs frame-mask conditioning (conditioning_key concat-adm-mask)", cfg_origin);
  // A text prediction model may take an interpolation model without text (its clips are conditioned
  // on both end keyframes, which carry the prompt's content); the other way round, or two widths, not.
  if (caps.context_dim != pipe.main.caps.context_dim && caps.context_dim != 0)
    fail("{}: the interpolation model attends to a {}-wide text context while the prediction model {}: it must "
         "take the same text, or none",
         cfg_origin, caps.context_dim,
         pipe.main.caps.context_dim > 0 ? fmt::format("attends to a {}-wide one", pipe.main.caps.context_dim)
                                        : std::string("takes none"));
  if (caps.latent_channels != pipe.main.caps.latent_channels)
    fail("{}: the interpolation model works on {}-channel latents, the prediction model on {}", cfg_origin,
         caps.latent_channels, pipe.main.caps.latent_channels);
  if (latent != pipe.main.caps.latent_height || latent != pipe.main.caps.latent_width)
    fail("{}: the interpolation model works on {}x{} latents, the prediction model on {}x{}", cfg_origin, latent,
         latent, pipe.main.caps.latent_height, pipe.main.caps.latent_width);
  std::string why;
  auto which = load_lvdm_unet(net.module(), sd, choose_lvdm_weights(sd, opts.weights, /*long_video_model=*/true, &why));
  spdlog::info("loaded interpolation model {} ({} weights: {}; {:.1f}M parameters)", src.interp_checkpoint.string(),
               to_string(which), why, net.num_parameters() / 1e6);
  pipe.interp = make_denoiser(std::move(net), caps, opts);
  pipe.weights_id += "+" + checkpoint_file_id(src.interp_checkpoint) + (which == LvdmWeights::Ema ? ":ema" : ":raw");
}

std::string detect(const StateDict& sd) {
  if (!sd.has_prefix("model.diffusion_model.") && !sd.has_prefix("model_ema.diffusion_model")) return "";
  if (sd.has_prefix("cond_stage_model.transformer.")) return "lvdm-t2v";
  if (sd.has_prefix("first_stage_model.")) return "lvdm-short";
  return "lvdm-unet";
}

std::string describe(const StateDict& sd, const std::string& layout) {
  std::string ema = sd.has_prefix("model_ema.") ? ", with EMA weights (model_ema.*)" : "";
  if (layout == "lvdm-t2v")
    return std::string("LVDM text-conditioned model (model.diffusion_model.*") +
           (sd.has_prefix("first_stage_model.") ? " + first_stage_model.*" : ", no autoencoder: load with --vae") +
           " + cond_stage_model.transformer.*" + ema + ")";
  if (layout == "lvdm-short") {
    // A longvid-trained model names its denoiser network in the stored config (unet_config.target).
    auto it = sd.metadata.find(kConfigMetadataKey);
    if (it != sd.metadata.end() && it->second.find(kLatteTarget) != std::string::npos)
      return "LVDM latent diffusion with a Latte denoiser trained by longvid (model.diffusion_model.* + "
             "first_stage_model.*" + ema + ")";
    return "LVDM short-video model (model.diffusion_model.* + first_stage_model.*" + ema + ")";
  }
  return "LVDM 3D U-Net only (model.diffusion_model.*" + ema + ")";
}

LvdmUNetConfig tiny_unet_config(bool masked) {
  LvdmUNetConfig u;
  u.in_channels = masked ? 5 : 4;  // masked: 4 latent channels + the frame mask
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
  if (masked) {
    u.num_classes = 251;  // s in 0..250, as configs/lvdm_long
    u.conditioning_key = "concat-adm-mask";
  }
  return u;
}

VideoPipeline random_tiny_impl(uint64_t weight_seed, int64_t latent_size, bool masked,
                               const PipelineLoadOptions& opts) {
  auto u = tiny_unet_config(masked);
  LvdmAe3dConfig a;             // the official [4, 8, 8] layout, 32 hidden channels
  a.scale_factor = 0.33422927;  // sky's latent normalisation
  a.shift_factor = 1.4606637;
  torch::manual_seed(weight_seed);  // module initialisers draw from the global generator
  LvdmUNet3D unet(u);
  LvdmAutoencoder3D ae(a);
  {
    // The official zero-initialised output layers would make a random model predict eps = 0.
    torch::NoGradGuard ng;
    for (auto& p : unet->parameters())
      if (p.abs().max().item<double>() == 0.0) p.normal_(0.0, 0.02);
  }
  DenoiserCaps caps;
  caps.latent_channels = 4;
  caps.latent_height = caps.latent_width = latent_size;
  caps.clip_len = u.temporal_length;
  if (masked) {
    caps.masked = true;
    caps.noisy_cond = true;
    caps.max_noise_level = 250;
    caps.p_pred = 0.5;
    caps.p_interp = 0.4;
  }
  auto p = assemble(make_denoiser(Net{std::move(unet), Latte{nullptr}}, caps, opts), FirstStage{std::move(ae), nullptr},
                    NoiseSchedule::lvdm(), opts);
  p.weights_id = masked ? fmt::format("random_tiny_masked:{}:{}", weight_seed, latent_size)
                        : fmt::format("random_tiny:{}", weight_seed);
  return p;
}

}  // namespace

ModelFamily lvdm_family() {
  ModelFamily f;
  f.id = "lvdm";
  f.description = "LVDM: factorized 3D U-Net + 3D video autoencoder (YingqingHe/LVDM; longvid-trained models)";
  f.detect = detect;
  f.describe = describe;
  f.is_config = [](const std::string& text) {
    try {
      return Config::parse_yaml(text, "config").has("model.params.unet_config");
    } catch (const std::exception&) {
      return false;
    }
  };
  f.load = load;
  f.random = random_from_config;
  f.attach_interpolation = attach_interpolation;
  return f;
}

VideoPipeline lvdm_random_tiny(uint64_t weight_seed, const PipelineLoadOptions& opts) {
  return random_tiny_impl(weight_seed, 8, /*masked=*/false, opts);
}

VideoPipeline lvdm_random_tiny_masked(uint64_t weight_seed, int64_t latent_size, const PipelineLoadOptions& opts) {
  if (latent_size < 2 || latent_size % 2 || latent_size > 128)
    fail("random tiny model: latent size {} must be even, from 2 to 128", latent_size);
  return random_tiny_impl(weight_seed, latent_size, /*masked=*/true, opts);
}

LvdmUNet3D lvdm_unet_of(const VideoPipeline& pipe, bool interpolation) {
  const auto& d = interpolation ? pipe.interp : pipe.main;
  auto* den = dynamic_cast<LvdmUNetDenoiser*>(d.net.get());
  if (!den) fail("not an LVDM pipeline (family '{}')", pipe.family);
  return den->net();
}

}  // namespace longvid
