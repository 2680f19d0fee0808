// Latte-1 from a diffusers folder; see pipeline/latte_t2v_family.h.
#include "pipeline/latte_t2v_family.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/weight_arena.h"
#include "pipeline/t5_text_encoder.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace fs = std::filesystem;

namespace {

std::string detect(const StateDict& sd) {
  if (sd.has_prefix("transformer_blocks.") && sd.has_prefix("temporal_transformer_blocks.") &&
      sd.has_prefix("adaln_single."))
    return "diffusers-latte";
  return "";
}

std::string describe(const StateDict& sd, const std::string&) {
  int64_t layers = 0;
  while (sd.has_prefix(fmt::format("transformer_blocks.{}.", layers))) ++layers;
  std::string width;
  if (sd.contains("proj_out.weight")) width = fmt::format(", width {}", sd.get("proj_out.weight").size(1));
  return fmt::format("diffusers LatteTransformer3DModel (Latte-1: transformer_blocks, temporal_transformer_blocks, "
                     "adaln_single): {} + {} blocks{}",
                     layers, layers, width);
}

nlohmann::json read_json(const fs::path& p, const char* what) {
  try {
    return nlohmann::json::parse(read_text_file(p, what));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not JSON ({})", p.string(), e.what());
  }
}

// A diffusers pipeline folder: model_index.json naming LattePipeline.
bool is_latte_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::exists(dir / "model_index.json", ec)) return false;
  auto j = read_json(dir / "model_index.json", "model_index.json");
  return j.value("_class_name", std::string()) == "LattePipeline";
}

StateDict load_transformer_weights(const fs::path& dir) {
  for (const char* f : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"})
    if (fs::exists(dir / f)) return load_checkpoint(dir / f);
  if (fs::exists(dir / "diffusion_pytorch_model.safetensors.index.json"))
    return load_sharded_safetensors(dir / "diffusion_pytorch_model.safetensors.index.json");
  fail("{}: no diffusion_pytorch_model.safetensors (or its sharded index)", dir.string());
}

VideoPipeline load_folder(const ModelSource& src, const PipelineLoadOptions& opts) {
  const fs::path dir = src.checkpoint;
  for (const char* sub : {"transformer", "vae", "text_encoder", "tokenizer", "scheduler"})
    if (!fs::is_directory(dir / sub)) fail("{}: a LattePipeline folder needs {}/", dir.string(), sub);
  if (!src.config.empty()) fail("--config: a diffusers folder carries its configs ({})", dir.string());
  if (!src.autoencoder.empty() || !src.tokenizer.empty())
    fail("--vae / --tokenizer: the folder {} carries its own (vae/, tokenizer/)", dir.string());
  const fs::path tdir = dir / "transformer";
  LatteT2VConfig cfg = LatteT2VConfig::from_json(read_text_file(tdir / "config.json", "transformer config"),
                                                 (tdir / "config.json").string());
  LatteT2V net{nullptr};
  {
    WeightArenaScope arena(use_weight_arena(opts));  // the weights in a few large blocks (core/weight_arena.h)
    net = LatteT2V(cfg);
  }
  StateDict sd = load_transformer_weights(tdir);
  LoadIntoOptions lo;
  try {
    load_into(*net, sd, lo);
  } catch (const Error& e) {
    fail("{}: the weights do not fit its config ({} layers, width {}): {}", tdir.string(), cfg.num_layers,
         cfg.inner_dim(), e.what());
  }
  net->eval();
  net->to(opts.device);
  apply_precision(*net, opts);

  VideoPipeline p;
  p.family = "latte-t2v";
  DenoiserCaps caps;
  caps.latent_channels = cfg.in_channels;
  caps.latent_height = caps.latent_width = cfg.sample_size;
  caps.clip_len = cfg.video_length;
  caps.learned_sigma = cfg.learned_sigma();
  caps.context_dim = cfg.caption_channels;
  p.main.caps = caps;
  p.main.describe = fmt::format("Latte-1 (diffusers) {:.1f}M params ({} frames, {}x{} latents, T5 text)",
                                net->num_parameters() / 1e6, cfg.video_length, cfg.sample_size, cfg.sample_size);
  p.main.net = std::make_shared<LatteT2VDenoiser>(std::move(net));

  VideoAutoencoderLoadOptions ao;
  ao.policy.device = opts.device;
  ao.kind = "frame2d";
  p.autoencoder = load_video_autoencoder(dir / "vae", ao);
  if (p.autoencoder->latent_channels() != cfg.in_channels)
    fail("{}: the VAE makes {}-channel latents, the transformer takes {}", (dir / "vae").string(),
         p.autoencoder->latent_channels(), cfg.in_channels);

  auto t5 = load_t5_text_encoder(dir / "text_encoder", dir / "tokenizer", opts.device, std::nullopt, 120);
  t5->set_mask_feature(true);
  if (t5->width() != cfg.caption_channels)
    fail("{}: the T5 encoder is {} wide, the transformer's caption projection takes {}", dir.string(), t5->width(),
         cfg.caption_channels);
  p.text_encoder = t5;

  NoiseSchedule sched = NoiseSchedule::diffusers("linear");
  const fs::path sc = dir / "scheduler" / "scheduler_config.json";
  p.default_sampler = diffusers_sampler_defaults(read_text_file(sc, "scheduler config"), sc.string(), &sched);
  p.schedule = std::make_shared<NoiseSchedule>(std::move(sched));
  p.default_cfg_scale = 7.5;  // LattePipeline.__call__ guidance_scale
  p.device = opts.device;
  set_precision(p, opts);
  p.weights_id = checkpoint_file_id(sd.path) + "+" + checkpoint_file_id(dir / "vae") + "+" + t5->weights_id();
  spdlog::info("loaded Latte-1 from {}: {}; {}", dir.string(), p.main.describe, p.text_encoder->describe());
  return p;
}

}  // namespace

SamplerOptions diffusers_sampler_defaults(const std::string& text, const std::string& origin, NoiseSchedule* schedule) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not JSON ({})", origin, e.what());
  }
  const std::string cls = j.value("_class_name", std::string("DDIMScheduler"));
  if (j.value("prediction_type", std::string("epsilon")) != "epsilon")
    fail("{}: prediction_type '{}' is not supported (epsilon)", origin, j.value("prediction_type", std::string()));
  if (schedule)
    *schedule = NoiseSchedule::diffusers(j.value("beta_schedule", std::string("linear")), j.value("beta_start", 0.0001),
                                         j.value("beta_end", 0.02), j.value("num_train_timesteps", int64_t{1000}));
  SamplerOptions s;
  if (cls == "DDIMScheduler") {
    s.method = "ddim";
    s.eta = 0.0;  // LattePipeline.__call__ eta
  } else if (cls == "DDPMScheduler") {
    s.method = "ddpm";
  } else if (cls == "DPMSolverMultistepScheduler") {
    s.method = "dpmpp_2m";
  } else {
    fail("{}: scheduler {} is not supported (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler)", origin, cls);
  }
  s.steps = 50;  // num_inference_steps
  s.spacing = j.value("timestep_spacing", std::string("leading"));
  s.steps_offset = j.value("steps_offset", 0);
  s.set_alpha_to_one = j.value("set_alpha_to_one", true);
  s.clip_denoised = j.value("clip_sample", cls != "DPMSolverMultistepScheduler");
  return s;
}

ModelFamily latte_t2v_family() {
  ModelFamily f;
  f.id = "latte-t2v";
  f.description = "Latte-1 text-to-video (diffusers LattePipeline folder: transformer + SD VAE + T5)";
  f.detect = detect;
  f.describe = describe;
  f.detect_folder = is_latte_folder;
  f.load_folder = load_folder;
  f.load = [](const StateDict&, const ModelSource& src, const PipelineLoadOptions& opts) -> VideoPipeline {
    // transformer/diffusion_pytorch_model.safetensors of a LattePipeline folder: load the folder.
    const fs::path folder = src.checkpoint.parent_path().parent_path();
    if (is_latte_folder(folder)) {
      ModelSource s = src;
      s.checkpoint = folder;
      return load_folder(s, opts);
    }
    fail_hint("pass the LattePipeline folder (model_index.json, transformer/, vae/, text_encoder/, tokenizer/, "
              "scheduler/)",
              "{}: Latte-1 transformer weights alone cannot generate", src.checkpoint.string());
  };
  return f;
}

LatteT2V latte_t2v_net_of(const VideoPipeline& pipe) {
  auto* den = dynamic_cast<LatteT2VDenoiser*>(pipe.main.net.get());
  if (!den) fail("not a Latte-1 pipeline (family '{}')", pipe.family);
  return den->net();
}

}  // namespace longvid
