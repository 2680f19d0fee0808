#include "tools/long_video_run.h"

#include <regex>

#include "core/assets.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "hierarchy/drift_stats.h"
#include "hierarchy/stream_decoder.h"

namespace longvid::cli {

namespace fs = std::filesystem;

void add_long_video_options(cxxopts::Options& o) {
  o.add_options("long video")
    ("mode", "hierarchical (keyframes + interpolation) | autoregressive; default: hierarchical when an interpolation model is available", cxxopts::value<std::string>()->default_value(""))
    ("cond-noise-level", "noise level s of the condition latents (conditional latent perturbation; -1 = none)", cxxopts::value<int64_t>()->default_value("100"))
    ("uncond-guidance", "unconditional guidance weight w: e = e_c + w (e_c - e_u) (0 = off)", cxxopts::value<double>()->default_value("0.1"))
    ("cond-frames", "latent frames a prediction clip is conditioned on", cxxopts::value<int64_t>()->default_value("1"))
    ("anchor", "latent statistics anchoring against drift: mean | meanstd | none (each new latent takes the per-channel mean [and std] of its conditions; none = LVDM's released sampling)", cxxopts::value<std::string>()->default_value("mean"))
    ("lvdm-pred-mask", "mark every frame of a prediction clip in the mask, as LVDM's released sampling script does (a quirk; training marks only the condition frames)", cxxopts::value<bool>()->default_value("false"))
    ("resume", "continue an interrupted run of the same command (see --state)", cxxopts::value<bool>()->default_value("false"))
    ("state", "directory of the run's checkpoint (default: <output>.longvid-run; removed when the run ends)", cxxopts::value<std::string>()->default_value(""))
    ("checkpoint-every", "write the run's checkpoint every N prediction clips", cxxopts::value<int64_t>()->default_value("1"))
    ("stats", "write drift statistics per window of frames to this JSON file", cxxopts::value<std::string>()->default_value(""))
    ("stats-window", "frames per --stats window", cxxopts::value<int64_t>()->default_value("64"))
    ("decode-overlap", "latent frames shared by neighbouring decode windows (long videos; -1: the autoencoder's default, 8 for LVDM's)", cxxopts::value<int64_t>()->default_value("-1"))
    ("stop-after", "testing: stop after N prediction clips as if killed (the checkpoint stays)", cxxopts::value<int64_t>()->default_value("-1"));
}

void add_weights_options(cxxopts::Options& o, const std::string& group) {
  o.add_options(group)
    ("weights", "U-Net weights of an LVDM checkpoint: raw | ema | auto (EMA for long-video models, as LVDM's long-video script samples; raw for short-clip models, as its short-clip scripts)", cxxopts::value<std::string>()->default_value("auto"))
    ("ema", "alias of --weights ema", cxxopts::value<bool>()->default_value("false"));
}

LvdmWeights read_weights_option(const cxxopts::ParseResult& a) {
  LvdmWeights w = parse_lvdm_weights(a["weights"].as<std::string>());
  if (a["ema"].as<bool>()) {
    if (a.count("weights") && w != LvdmWeights::Ema)
      fail("--ema and --weights {}: contradict each other (--ema means --weights ema)", a["weights"].as<std::string>());
    w = LvdmWeights::Ema;
  }
  return w;
}

void read_long_video_options(const cxxopts::ParseResult& a, LongRun& run) {
  run.mode_arg = a["mode"].as<std::string>();
  if (!run.mode_arg.empty()) run.opts.mode = parse_long_video_mode(run.mode_arg);
  run.opts.cond_noise_level = a["cond-noise-level"].as<int64_t>();
  run.opts.uncond_guidance = a["uncond-guidance"].as<double>();
  run.opts.cond_frames = a["cond-frames"].as<int64_t>();
  run.resume = a["resume"].as<bool>();
  run.opts.lvdm_full_pred_mask = a["lvdm-pred-mask"].as<bool>();
  run.opts.anchor = parse_anchor(a["anchor"].as<std::string>());
  run.state_dir = a["state"].as<std::string>();
  run.checkpoint_every = a["checkpoint-every"].as<int64_t>();
  if (run.checkpoint_every < 1) fail("--checkpoint-every {}: must be at least 1", run.checkpoint_every);
  run.stats_path = a["stats"].as<std::string>();
  run.stats_window = a["stats-window"].as<int64_t>();
  if (run.stats_window < 1) fail("--stats-window {}: must be at least 1", run.stats_window);
  run.decode_overlap = a["decode-overlap"].as<int64_t>();
  if (run.decode_overlap < -1)
    fail("--decode-overlap {}: must be >= 0, or -1 for the autoencoder's default", run.decode_overlap);
  run.decode_window = a["decode-window"].as<int64_t>();
  if (run.decode_window < -1)
    fail("--decode-window {}: must be >= 0 (0 = all at once), or -1 for the autoencoder's default", run.decode_window);
  run.stop_after_rounds = a["stop-after"].as<int64_t>();
  if (run.opts.cond_noise_level < -1) fail("--cond-noise-level {}: must be >= 0, or -1 for none", run.opts.cond_noise_level);
}

void resolve_decode_windows(LvdmPipeline& pipe, LongRun& run) {
  const auto d = pipe.autoencoder()->default_decode_window();
  if (run.decode_window < 0) run.decode_window = d.window;
  if (run.decode_overlap < 0) run.decode_overlap = run.decode_window == d.window ? d.overlap : std::min<int64_t>(8, run.decode_window / 4);
}

LongVideoMode pick_mode(const LvdmPipeline& pipe, const std::string& mode_arg) {
  if (!mode_arg.empty()) return parse_long_video_mode(mode_arg);
  if (pipe.has_interpolation_model() || pipe.mask_info().can_interpolate()) return LongVideoMode::Hierarchical;
  return LongVideoMode::Autoregressive;
}

namespace {

// Temp files an earlier, killed run of this output left (core/fs.h temp_path_for naming).
void remove_stale_temps(const fs::path& out) {
  fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  std::string prefix = "." + out.filename().string() + ".tmp";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && n.size() >= prefix.size() + 8) {
      spdlog::info("removing {} (left by the interrupted run)", e.path().string());
      fs::remove_all(e.path(), ec);
    }
  }
}

class Tee : public LatentSink {
 public:
  Tee(LatentSink& a, DriftStats* s) : a_(a), s_(s) {}
  void push(const at::Tensor& z) override {
    if (s_) s_->on_latents(z);
    a_.push(z);
  }

 private:
  LatentSink& a_;
  DriftStats* s_;
};

}  // namespace

int64_t run_long_video(LvdmPipeline& pipe, const LongVideoPlan& plan, LongRun& run) {
  auto models = pipe.long_video_models(plan.mode);
  spdlog::info("{}", plan.describe());
  spdlog::info("conditional latent perturbation s = {}, unconditional guidance w = {}, anchor {}, {} {} steps, seed {}",
               run.opts.cond_noise_level, run.opts.uncond_guidance, to_string(run.opts.anchor), run.opts.sampler.method,
               run.opts.sampler.steps, run.opts.seed);
  if (int64_t ks = pipe.mask_info().keyframe_stride; ks > 1 && !pipe.has_interpolation_model()) {
    if (plan.mode != LongVideoMode::Hierarchical)
      spdlog::warn("this model makes keyframes {} latents apart (trained with --interp-consecutive): "
                   "--mode autoregressive places them next to each other, so motion runs {}x too fast", ks, ks);
    else if (plan.stride != ks)
      spdlog::warn("this model makes keyframes {} latents apart but the plan spaces them {} apart", ks, plan.stride);
  }
  if (run.opts.cond_noise_level >= 0 && !models.pred.noisy_cond)
    spdlog::warn("the prediction model was not trained with noisy conditions (noisy_cond): --cond-noise-level is ignored");

  fs::path state_dir = run.state_dir.empty() ? fs::path(run.output.string() + ".longvid-run") : run.state_dir;
  LongVideoState state(state_dir, long_video_fingerprint(plan, run.opts, pipe.weights_id()));
  if (run.resume) {
    // Adding --resume to the command always gives the video: it continues what was checkpointed,
    // or starts afresh when nothing was (killed before the first checkpoint, or never started).
    std::error_code ec;
    if (!state.exists()) {
      if (fs::exists(state_dir, ec))
        spdlog::info("--resume: {} holds no checkpoint yet (the run stopped before its first one): starting afresh",
                     state_dir.string());
      else
        spdlog::info("--resume: nothing to resume at {}: starting the run", state_dir.string());
      run.resume = false;
    }
    remove_stale_temps(run.output);
  } else if (state.exists()) {
    fail_hint("add --resume to continue it, or delete that directory to start again",
              "{}: an interrupted run of this output is there", state_dir.string());
  }

  VideoWriter writer(run.output, run.wopts);
  if (run.write_prefix) run.write_prefix(writer);
  const int64_t ft = pipe.ae_config().factors()[0];
  const int64_t ctx = run.context.defined() ? run.context.size(2) : 0;
  // Frames of the context latents and of a given latent 0 are already in the output.
  const int64_t skip = (ctx + (plan.continues ? 1 : 0)) * ft;
  const int64_t keep = plan.frames - (plan.continues ? ft : 0);
  StreamingVideoDecoder dec(pipe.autoencoder(), ctx + plan.latents, keep, run.decode_window, run.decode_overlap, writer,
                            run.opts.device, skip);
  std::optional<DriftStats> stats;
  if (!run.stats_path.empty()) {
    stats.emplace(run.stats_window, ft);
    dec.on_frames = [&](const at::Tensor& u8) { stats->on_frames(u8); };
  }
  if (ctx > 0) dec.push(run.context);
  Tee tee(dec, stats ? &*stats : nullptr);

  Progress progress("clips", plan.clips_total());
  LongVideoRunOptions ro;
  ro.state = &state;
  ro.resume = run.resume;
  ro.checkpoint_every = run.checkpoint_every;
  ro.given_keyframes = run.given;
  ro.stop_after_rounds = run.stop_after_rounds;
  auto pfn = progress.fn();
  ro.progress = [&](const LongVideoProgress& p) { pfn(p.clips_done, p.clips_total); };
  int64_t pushed = generate_long_video(plan, models, run.opts, tee, ro);
  if (pushed < plan.latents) {
    spdlog::warn("stopped after {} prediction clips (--stop-after); continue with --resume", run.stop_after_rounds);
    return -1;  // the writer's destructor removes the partial output; the state stays
  }
  progress.finish();
  writer.close();
  if (stats) stats->write(run.stats_path, plan.to_json());
  state.remove();
  spdlog::info("wrote {} ({} frames, {} fps)", run.output.string(), writer.frames_written(), run.wopts.fps.str());
  return writer.frames_written();
}

std::string sampler_method(const std::string& cli_name) {
  if (cli_name == "ddim" || cli_name == "ddpm") return cli_name;
  if (cli_name == "dpmpp-2m" || cli_name == "dpmpp_2m" || cli_name == "dpm++2m") return "dpmpp_2m";
  fail("--sampler {}: unknown sampler (choose ddim, ddpm or dpmpp-2m)", cli_name);
}

int64_t generate_video(LvdmPipeline& pipe, int64_t frames, const SamplerOptions& sopts, uint64_t seed,
                       const fs::path& out, const WriteOptions& wopts, int64_t decode_window, LongRun run) {
  const int64_t ft = pipe.ae_config().factors()[0];
  const int64_t clip_frames = pipe.unet_config().temporal_length * ft;
  const bool longer_than_clip = pipe.unet_config().temporal_length > 0 && frames > clip_frames;
  // A model whose unconditional clips are sparse keyframes (train --interp-consecutive) makes
  // every video hierarchically: keyframes, then the latents between them.
  const bool keyframe_model = pipe.mask_info().keyframe_stride > 1;
  const bool long_video = pipe.has_interpolation_model() || !run.mode_arg.empty() || run.resume ||
                          (longer_than_clip && pipe.mask_info().masked) || keyframe_model;
  if (longer_than_clip && !long_video)
    spdlog::warn("the model was trained on clips of {} frames and has no frame-mask conditioning to continue them: "
                 "generating all {} frames as one clip", clip_frames, frames);
  if (long_video) {
    run.opts.seed = seed;
    run.opts.sampler = sopts;
    run.opts.mode = pick_mode(pipe, run.mode_arg);
    run.output = out;
    run.wopts = wopts;
    run.decode_window = decode_window;
    resolve_decode_windows(pipe, run);
    auto models = pipe.long_video_models(run.opts.mode);  // checks the models can do the mode
    auto plan = LongVideoPlan::make(frames, ft, models.pred.clip_len, run.opts.cond_frames, models.interp.clip_len,
                                    run.opts.mode);
    spdlog::info("seed {}  |  {} frames {}x{}", seed, frames, models.geometry.width * pipe.ae_config().factors()[2],
                   models.geometry.height * pipe.ae_config().factors()[1]);
    return run_long_video(pipe, plan, run);
  }
  VideoWriter writer(out, wopts);
  auto shape = pipe.clip_shape(frames);
  if (shape.frames_decoded != frames)
    spdlog::info("--frames {}: the autoencoder makes frames in groups of {}; generating {} and keeping the first {}",
                 frames, ft, shape.frames_decoded, frames);
  spdlog::info("seed {}  |  {} frames {}x{}  |  {} {} steps", seed, frames, shape.width, shape.height, sopts.method,
                 sopts.steps);
  auto gen = make_generator(seed);
  Progress progress("sampling", sopts.steps);
  // One clip: decoded at once, or in the autoencoder's windows when it was trained on shorter clips.
  const int64_t dw = decode_window >= 0 ? decode_window : (pipe.ae_config().stream_window > 0 ? -1 : 0);
  pipe.generate(frames, sopts, gen, writer, progress.fn(), dw);
  progress.finish();
  writer.close();
  spdlog::info("wrote {} ({} frames, {} fps)", out.string(), writer.frames_written(), wopts.fps.str());
  return writer.frames_written();
}

LvdmPipeline load_generation_model(const std::string& model, const std::string& config, const std::string& imodel,
                                   const std::string& iconfig, int64_t random_latent_size, LvdmPipelineOptions popts) {
  if (imodel.empty() && !iconfig.empty()) fail("--interp-config given without --interp-model");
  if (model.empty() || model == "random") {
    if (!config.empty()) fail("--config given without --model");
    if (!imodel.empty()) fail("--interp-model given without --model (the prediction model)");
  }
  if (model == "random") {
    spdlog::warn("--model random: a tiny LVDM-shaped model with random weights (structured noise, not content)");
    return LvdmPipeline::random_tiny_masked(/*weight_seed=*/0, random_latent_size, popts);
  }
  if (model.empty()) {
    auto path = find_asset(kDefaultModelAsset, "pass --model, or set LONGVID_ASSETS to the folder holding default/");
    spdlog::info("default model: {}", path.string());
    return LvdmPipeline::load(path.string(), "", popts);
  }
  auto pipe = LvdmPipeline::load(model, config, popts);
  if (!imodel.empty()) pipe.attach_interpolation(imodel, iconfig);
  return pipe;
}

}  // namespace longvid::cli
