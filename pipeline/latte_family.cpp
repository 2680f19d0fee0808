// The Latte family: official Latte checkpoints (sample/sample.py: get_models(args) +
// utils.find_model + create_diffusion(str(num_sampling_steps)) + AutoencoderKL vae) as a VideoPipeline.
#include "pipeline/latte_family.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/weight_arena.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace {


// An official Latte YAML (configs/*/..._sample.yaml) has a top-level `model: Latte-...`.
bool is_latte_config(const std::string& text) {
  try {
    Config c = Config::parse_yaml(text, "config");
    if (c.has("model") && c.at("model").is_scalar()) return c.get<std::string>("model").rfind("Latte", 0) == 0;
    return c.has("hidden_size") && c.has("depth") && c.has("num_frames");  // explicit sizes (longvid form)
  } catch (const std::exception&) {
    return false;
  }
}

std::string detect(const StateDict& sd) {
  if (sd.has_prefix("x_embedder.") && sd.has_prefix("t_embedder.") && sd.has_prefix("blocks.0.") &&
      sd.contains("temp_embed"))
    return "latte";
  return "";  // diffusers' LatteTransformer3DModel (Latte-1): pipeline/latte_t2v_family
}

std::string describe(const StateDict& sd, const std::string& /*layout*/) {
  try {
    auto c = LatteConfig::from_state_dict(sd);
    std::string name = c.preset_name();
    return fmt::format("{} (x_embedder, blocks.N, temp_embed): depth {}, width {}, patch {}, {} frames, "
                       "{}x{} latents, {}{}",
                       name.empty() ? std::string("Latte") : name, c.depth, c.hidden_size, c.patch_size, c.num_frames,
                       c.input_size, c.input_size,
                       c.extras == 2 ? fmt::format("{} classes", c.num_classes)
                                     : (c.extras == 78 ? std::string("text (77x768)") : std::string("unconditional")),
                       c.learn_sigma ? ", learned sigma" : "");
  } catch (const Error&) {
    return "Latte (x_embedder, t_embedder, blocks.N, temp_embed)";
  }
}

// The weights utils.find_model samples with: "ema" when the checkpoint has it, else "model".
StateDict choose_weights(const StateDict& sd, const std::filesystem::path& path, WeightsChoice w, std::string* which) {
  bool has_model = false, has_ema = false;
  for (const auto& e : sd.structure) {
    has_model = has_model || e.name == "model";
    has_ema = has_ema || e.name == "ema";
  }
  if (w == WeightsChoice::Raw && sd.source == "ema") {
    if (!has_model) fail("{}: --weights raw: the checkpoint holds only EMA weights ('ema')", path.string());
    LoadOptions lo;
    lo.select = "model";
    *which = "raw ('model')";
    return load_checkpoint(path, lo);
  }
  if (w == WeightsChoice::Ema && sd.source != "ema")
    fail("{}: --weights ema: the checkpoint has no EMA weights (no top-level 'ema'{})", path.string(),
         sd.format == "safetensors" ? "; a safetensors file holds one set" : "");
  *which = sd.source == "ema" ? "EMA ('ema', as utils.find_model)" : (sd.source == "model" ? "raw ('model')" : "as stored");
  return sd;
}

// The pipeline around a loaded network: caps, the schedule and sample.py's sampler defaults.
VideoPipeline assemble(Latte net, const LatteConfig& cfg, std::shared_ptr<VideoAutoencoder> ae,
                       const std::optional<Config>& yaml, const PipelineLoadOptions& opts) {
  VideoPipeline p;
  p.family = "latte";
  DenoiserCaps caps;
  caps.latent_channels = cfg.in_channels;
  caps.latent_height = caps.latent_width = cfg.input_size;
  caps.clip_len = cfg.num_frames;
  caps.prediction = Prediction::Eps;
  caps.learned_sigma = cfg.learn_sigma;
  caps.num_classes = cfg.extras == 2 ? cfg.num_classes : 0;
  caps.context_dim = cfg.extras == 78 ? 768 : 0;
  const std::string name = cfg.preset_name();
  p.main.describe = fmt::format("{} {:.1f}M params ({} frames, {}x{} latents, {})", name.empty() ? "Latte" : name,
                                net->num_trainable_parameters() / 1e6, cfg.num_frames, cfg.input_size, cfg.input_size,
                                caps.num_classes > 0 ? fmt::format("{} classes", caps.num_classes)
                                                     : std::string(cfg.extras == 78 ? "text" : "unconditional"));
  p.main.caps = caps;
  p.main.net = std::make_shared<LatteDenoiser>(std::move(net));
  p.autoencoder = std::move(ae);
  // diffusion/__init__.py create_diffusion: linear betas (1e-4 .. 0.02) over 1000 steps.
  p.schedule = std::make_shared<NoiseSchedule>(NoiseSchedule::guided_diffusion("linear", 1000));
  // sample/sample.py: DDPM (or DDIM) on SpacedDiffusion(space_timesteps(1000, str(num_sampling_steps))),
  // clip_denoised=False; learned-range variance when learn_sigma.
  SamplerOptions s;
  s.method = yaml ? yaml->get_or<std::string>("sample_method", "ddpm") : "ddpm";
  s.steps = yaml ? yaml->get_or<int>("num_sampling_steps", 250) : 250;
  s.spacing = "respaced";
  s.eta = 0.0;  // guided-diffusion ddim_sample_loop default
  s.clip_denoised = false;
  p.default_sampler = s;
  p.default_cfg_scale = yaml ? yaml->get_or<double>("cfg_scale", caps.num_classes > 0 ? 7.0 : 1.0)
                             : (caps.num_classes > 0 ? 7.0 : 1.0);
  if (caps.num_classes == 0) p.default_cfg_scale = 1.0;  // sample.py's forward_with_cfg needs labels
  p.device = opts.device;
  set_precision(p, opts);
  return p;
}

VideoPipeline random_from_config(const std::string& text, const std::string& origin, uint64_t seed,
                                 const PipelineLoadOptions& opts) {
  torch::manual_seed(static_cast<int64_t>(seed));
  LatteConfig cfg = LatteConfig::from_yaml_string(text, origin);
  Config yaml = Config::parse_yaml(text, origin);
  Latte net(cfg);
  net->eval();
  net->to(opts.device);
  apply_precision(*net, opts);
  FrameAutoencoderKLConfig vae_cfg;  // Stable Diffusion's VAE (sd-vae-ft-*: the shapes Latte uses)
  vae_cfg.latent_channels = cfg.in_channels;
  FrameAutoencoderKL vae(vae_cfg);
  vae->eval();
  vae->to(opts.device);
  spdlog::warn("random weights for the Latte model of {} ({:.1f}M parameters) and an SD-shaped VAE: for benchmarks, "
               "not content",
               origin, net->num_trainable_parameters() / 1e6);
  VideoPipeline p = assemble(std::move(net), cfg, vae.ptr(), yaml, opts);
  p.weights_id = fmt::format("random:{}:{}", origin, seed);
  return p;
}

VideoPipeline load(const StateDict& sd_in, const ModelSource& src, const PipelineLoadOptions& opts) {
  if (src.autoencoder.empty())
    fail_hint("pass --vae: the Latte folder's vae/ (diffusers), or a Stable Diffusion VAE (sd-vae-ft-ema)",
              "{}: Latte checkpoints hold no autoencoder", src.checkpoint.string());
  if (!src.tokenizer.empty())
    fail("--tokenizer {}: the Latte model {} takes no text (its extras are class labels or none)",
         src.tokenizer.string(), src.checkpoint.string());
  std::string which;
  StateDict sd = choose_weights(sd_in, src.checkpoint, opts.weights, &which);
  // The config: the official YAML, else the one a longvid-saved file carries, else the shapes.
  LatteConfig cfg;
  std::string origin;
  std::optional<Config> yaml;
  if (!src.config.empty()) {
    std::string text = read_text_file(src.config, "config");
    cfg = LatteConfig::from_yaml_string(text, src.config.string());
    yaml = Config::parse_yaml(text, src.config.string());
    origin = src.config.string();
  } else if (auto it = sd.metadata.find(kConfigMetadataKey); it != sd.metadata.end()) {
    origin = src.checkpoint.string() + " (stored config)";
    cfg = LatteConfig::from_yaml_string(it->second, origin);
    yaml = Config::parse_yaml(it->second, origin);
  } else {
    cfg = LatteConfig::from_state_dict(sd);
    origin = src.checkpoint.string() + " (shapes)";
  }
  Latte net{nullptr};
  {
    WeightArenaScope arena(use_weight_arena(opts));  // the weights in a few large blocks (core/weight_arena.h)
    net = Latte(cfg);
  }
  try {
    load_latte(*net, sd);
  } catch (const Error& e) {
    std::string name = cfg.preset_name();
    fail("{}: the weights do not fit {} (depth {}, width {}, patch {}, {} frames, {}x{} latents) from {}: {}",
         src.checkpoint.string(), name.empty() ? std::string("the Latte config") : name, cfg.depth, cfg.hidden_size,
         cfg.patch_size, cfg.num_frames, cfg.input_size, cfg.input_size, origin, e.what());
  }
  net->eval();
  net->to(opts.device);
  apply_precision(*net, opts);

  VideoAutoencoderLoadOptions ao;
  ao.policy.device = opts.device;
  auto ae = load_video_autoencoder(src.autoencoder, ao);
  if (ae->latent_channels() != cfg.in_channels)
    fail("{}: the autoencoder makes {}-channel latents, the Latte model takes {}", src.autoencoder.string(),
         ae->latent_channels(), cfg.in_channels);

  VideoPipeline p = assemble(std::move(net), cfg, std::move(ae), yaml, opts);
  p.weights_id = checkpoint_file_id(src.checkpoint) + (sd.source == "model" ? ":raw" : ":ema") + "+" + checkpoint_file_id(src.autoencoder);
  spdlog::info("loaded {} ({} weights; {:.1f}M trainable parameters; config from {})", src.checkpoint.string(), which,
               latte_net_of(p)->num_trainable_parameters() / 1e6, origin);
  return p;
}

}  // namespace

ModelFamily latte_family() {
  ModelFamily f;
  f.id = "latte";
  f.description = "Latte video transformer (Vchitect/Latte) + per-frame SD VAE";
  f.detect = detect;
  f.describe = describe;
  f.is_config = is_latte_config;
  f.random = random_from_config;
  f.load = load;
  return f;
}

Latte latte_net_of(const VideoPipeline& pipe) {
  auto* den = dynamic_cast<LatteDenoiser*>(pipe.main.net.get());
  if (!den) fail("not a Latte pipeline (family '{}')", pipe.family);
  return den->net();
}

}  // namespace longvid
