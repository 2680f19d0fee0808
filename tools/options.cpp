#include "tools/options.h"

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid::cli {

void add_model_options(cxxopts::Options& o, const std::string& group, const std::string& model_help,
                       bool default_model) {
  auto model = cxxopts::value<std::string>();
  if (default_model) model->default_value("");
  o.add_options(group)
    ("model,pred-model", model_help, model)
    ("config,pred-config", "model config (official YAML; default: the config stored in the checkpoint)", cxxopts::value<std::string>()->default_value(""))
    ("interp-model", "interpolation model checkpoint (long videos, hierarchical mode)", cxxopts::value<std::string>()->default_value(""))
    ("interp-config", "interpolation model config", cxxopts::value<std::string>()->default_value(""))
    ("vae", "autoencoder for models whose checkpoint holds none (Latte: a diffusers vae/ folder or an SD VAE file; LVDM models exported with --no-autoencoder: the model file they were trained with)", cxxopts::value<std::string>()->default_value(""))
    ("tokenizer", "tokenizer of a text-conditioned model's text encoder (LVDM text2video: a folder with CLIP's vocab.json + merges.txt, or openai's bpe_simple_vocab_16e6.txt)", cxxopts::value<std::string>()->default_value(""))
    ("random-latent-size", "with --model random: latent size of the random-weight model (frames are 8x larger)", cxxopts::value<int64_t>()->default_value("8"))
    ("weights", "raw or EMA weights of a checkpoint that holds both: raw | ema | auto (what the model's own scripts sample with; LVDM: EMA for long-video models, raw for short clips)", cxxopts::value<std::string>()->default_value("auto"))
    ("ema", "alias of --weights ema", cxxopts::value<bool>()->default_value("false"));
}

ModelSpec read_model_options(const cxxopts::ParseResult& a) {
  ModelSpec s;
  if (a.count("model") || a["model"].has_default()) s.model = a["model"].as<std::string>();
  if (s.model == "default") s.model.clear();
  s.config = a["config"].as<std::string>();
  s.interp_model = a["interp-model"].as<std::string>();
  s.interp_config = a["interp-config"].as<std::string>();
  s.vae = a["vae"].as<std::string>();
  s.tokenizer = a["tokenizer"].as<std::string>();
  s.random_latent_size = a["random-latent-size"].as<int64_t>();
  WeightsChoice w = parse_weights_choice(a["weights"].as<std::string>());
  if (a["ema"].as<bool>()) {
    if (a.count("weights") && w != WeightsChoice::Ema)
      fail("--ema and --weights {}: contradict each other (--ema means --weights ema)", a["weights"].as<std::string>());
    w = WeightsChoice::Ema;
  }
  s.load.weights = w;
  return s;
}

void add_sampler_options(cxxopts::Options& o, const std::string& group) {
  o.add_options(group)
    ("steps", "sampling steps (default: the model's scripts: LVDM 50, Latte 250)", cxxopts::value<int>())
    ("sampler", "ddim | ddpm | dpmpp-2m (default: the model's scripts: LVDM ddim, Latte ddpm)", cxxopts::value<std::string>())
    ("eta", "DDIM eta (default: LVDM's scripts 1.0, Latte's 0)", cxxopts::value<double>());
}

SamplerOptions read_sampler_options(const cxxopts::ParseResult& a, const SamplerOptions& base) {
  SamplerOptions s = base;
  if (a.count("sampler")) {
    s.method = a["sampler"].as<std::string>();
    // Latte's respaced chain serves ddpm and ddim; DPM-Solver++ takes its own spacing.
    if (s.spacing == "respaced" && check_sampler_options([&] { auto t = s; t.spacing = "auto"; return t; }(), 1000) == "dpmpp_2m")
      s.spacing = "auto";
  }
  if (a.count("steps")) s.steps = a["steps"].as<int>();
  if (a.count("eta")) s.eta = a["eta"].as<double>();
  s.method = check_sampler_options(s, 1000);  // canonical name; bad options fail before any work
  return s;
}

SamplerOptions neutral_sampler() {
  SamplerOptions s = lvdm_script_sampler();
  s.spacing = "linspace";  // accepts any step count: the model's own spacing is checked after loading
  return s;
}

SamplerOptions lvdm_script_sampler() {
  SamplerOptions s;
  s.method = "ddim";
  s.steps = 50;
  s.eta = 1.0;
  s.spacing = "auto";
  return s;
}

void add_device_options(cxxopts::Options& o, const std::string& group) {
  o.add_options(group)
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16: the denoiser's precision (bf16/fp16: its weights are cast; norms, softmax and the sampler stay fp32; the autoencoder runs in fp32)", cxxopts::value<std::string>()->default_value("fp32"))
    ("autocast", "with --dtype bf16|fp16: keep fp32 weights and run the denoiser under autocast instead", cxxopts::value<bool>()->default_value("false"))
    ("vae-dtype", "fp32 | bf16 | fp16: the autoencoder's precision (bf16 is several times faster on CPUs with AMX and on GPUs; fp32 by default)", cxxopts::value<std::string>()->default_value("fp32"));
}

void add_long_video_options(cxxopts::Options& o) {
  o.add_options("long video")
    ("mode", "hierarchical (keyframes + interpolation) | autoregressive; default: hierarchical when an interpolation model is available", cxxopts::value<std::string>()->default_value(""))
    ("cond-noise-level", "noise level s of the condition latents (conditional latent perturbation; -1 = none)", cxxopts::value<int64_t>()->default_value("100"))
    ("uncond-guidance", "unconditional guidance weight w: e = e_c + w (e_c - e_u) (0 = off)", cxxopts::value<double>()->default_value("0.1"))
    ("cond-frames", "latent frames a prediction clip is conditioned on", cxxopts::value<int64_t>()->default_value("1"))
    ("anchor", "latent statistics anchoring against drift: mean | meanstd | none (each new latent takes the per-channel mean [and std] of its conditions; none = LVDM's released sampling)", cxxopts::value<std::string>()->default_value("mean"))
    ("infill-batch", "interpolation clips sampled together as one batch (0 = all that a prediction clip makes ready; 1 = one by one)", cxxopts::value<int64_t>()->default_value("0"))
    ("collapse-retries", "collapse guard: a clip whose new latents lost most of their conditions' spatial structure is sampled again with fresh noise up to N times, the most structured attempt kept (text models: the last attempt without the prompt); 0 = off, LVDM's released sampling", cxxopts::value<int64_t>()->default_value("3"))
    ("collapse-ratio", "collapse guard: a clip has collapsed when a new latent's spatial std, averaged over channels, is below this fraction of its conditions'", cxxopts::value<double>()->default_value("0.4"))
    ("lvdm-pred-mask", "mark every frame of a prediction clip in the mask, as LVDM's released sampling script does (a quirk; training marks only the condition frames)", cxxopts::value<bool>()->default_value("false"))
    ("resume", "continue an interrupted run of the same command (see --state)", cxxopts::value<bool>()->default_value("false"))
    ("state", "directory of the run's checkpoint (default: <output>.longvid-run; removed when the run ends)", cxxopts::value<std::string>()->default_value(""))
    ("checkpoint-every", "write the run's checkpoint every N prediction clips", cxxopts::value<int64_t>()->default_value("1"))
    ("stats", "write drift statistics per window of frames to this JSON file", cxxopts::value<std::string>()->default_value(""))
    ("stats-window", "frames per --stats window", cxxopts::value<int64_t>()->default_value("64"))
    ("decode-overlap", "latent frames shared by neighbouring decode windows (long videos; -1: the autoencoder's default, 8 for LVDM's)", cxxopts::value<int64_t>()->default_value("-1"))
    ("stop-after", "testing: stop after N prediction clips as if killed (the checkpoint stays)", cxxopts::value<int64_t>()->default_value("-1"));
}

void read_long_video_options(const cxxopts::ParseResult& a, GenerateRequest& r) {
  r.mode = a["mode"].as<std::string>();
  r.long_video.cond_noise_level = a["cond-noise-level"].as<int64_t>();
  r.long_video.uncond_guidance = a["uncond-guidance"].as<double>();
  r.long_video.cond_frames = a["cond-frames"].as<int64_t>();
  r.long_video.lvdm_full_pred_mask = a["lvdm-pred-mask"].as<bool>();
  r.long_video.anchor = parse_anchor(a["anchor"].as<std::string>());
  r.long_video.infill_batch = a["infill-batch"].as<int64_t>();
  if (r.long_video.infill_batch < 0) fail("--infill-batch {}: must be >= 0", r.long_video.infill_batch);
  r.long_video.collapse.retries = a["collapse-retries"].as<int64_t>();
  r.long_video.collapse.ratio = a["collapse-ratio"].as<double>();
  if (r.long_video.collapse.retries < 0 || r.long_video.collapse.retries > 100)
    fail("--collapse-retries {}: choose 0 (off) to 100", r.long_video.collapse.retries);
  if (!(r.long_video.collapse.ratio > 0 && r.long_video.collapse.ratio <= 1))
    fail("--collapse-ratio {}: must be in (0, 1]", r.long_video.collapse.ratio);
  r.resume = a["resume"].as<bool>();
  r.state_dir = a["state"].as<std::string>();
  r.checkpoint_every = a["checkpoint-every"].as<int64_t>();
  r.stats_path = a["stats"].as<std::string>();
  r.stats_window = a["stats-window"].as<int64_t>();
  r.decode_overlap = a["decode-overlap"].as<int64_t>();
  r.decode_window = a["decode-window"].as<int64_t>();
  r.stop_after_rounds = a["stop-after"].as<int64_t>();
  check_generate_request(r);
}

int64_t parse_whole_number(const std::string& s, const char* what) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) fail("{} must be a whole number (got '{}')", what, s);
  return v;
}

}  // namespace longvid::cli
