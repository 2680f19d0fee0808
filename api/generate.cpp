// generate_video and the long-video run behind generate / extend / fvd --model.
#include "api/generate.h"
#include "api/interpolate.h"

#include <torch/torch.h>

#include <fstream>
#include <optional>

#include "api/long_run.h"
#include "api/prompt_schedule.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "hierarchy/drift_stats.h"
#include "hierarchy/stream_decoder.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace fs = std::filesystem;

void check_generate_request(const GenerateRequest& r) {
  if (r.frames < 1) fail("--frames {}: must be at least 1", r.frames);
  if (r.checkpoint_every < 1) fail("--checkpoint-every {}: must be at least 1", r.checkpoint_every);
  if (r.stats_window < 1) fail("--stats-window {}: must be at least 1", r.stats_window);
  if (r.decode_overlap < -1)
    fail("--decode-overlap {}: must be >= 0, or -1 for the autoencoder's default", r.decode_overlap);
  if (r.decode_window < -1)
    fail("--decode-window {}: must be >= 0 (0 = all at once), or -1 for the autoencoder's default", r.decode_window);
  if (r.long_video.cond_noise_level < -1)
    fail("--cond-noise-level {}: must be >= 0, or -1 for none", r.long_video.cond_noise_level);
  if (!r.mode.empty()) parse_long_video_mode(r.mode);
}

LongVideoMode pick_mode(const VideoPipeline& pipe, const std::string& mode_arg) {
  if (!mode_arg.empty()) return parse_long_video_mode(mode_arg);
  if (pipe.has_interpolation_model() || pipe.main.caps.can_interpolate()) return LongVideoMode::Hierarchical;
  return LongVideoMode::Autoregressive;
}

namespace detail {

namespace {
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

GenerateRequest resolve_long_request(VideoPipeline& pipe, GenerateRequest req) {
  req.long_video.seed = req.seed;
  req.long_video.sampler = req.sampler;
  req.long_video.mode = pick_mode(pipe, req.mode);
  req.long_video.device = pipe.device;
  // The autoencoder's stream defaults (LVDM's AEs: 32:8 latent frames; an AE trained on short clips:
  // its training clip length).
  const auto d = pipe.autoencoder->default_decode_window();
  if (req.decode_window < 0) req.decode_window = d.window;
  if (req.decode_overlap < 0)
    req.decode_overlap = req.decode_window == d.window ? d.overlap : std::min<int64_t>(8, req.decode_window / 4);
  if (pipe.main.caps.context_dim > 0) {
    req.long_video.text = long_video_text(pipe, req);
  } else if (!req.prompt_schedule.empty()) {
    fail("--prompt-file with a schedule: the model takes no text");
  }
  return req;
}

int64_t run_long_video(VideoPipeline& pipe, const LongVideoPlan& plan, const GenerateRequest& req, FrameSink& sink,
                       const LongRunInput& in) {
  const auto& opts = req.long_video;
  auto models = long_video_models(pipe, plan.mode);
  spdlog::info("{}", plan.describe());
  spdlog::info("conditional latent perturbation s = {}, unconditional guidance w = {}, anchor {}, {} {} steps, seed {}",
               opts.cond_noise_level, opts.uncond_guidance, to_string(opts.anchor), opts.sampler.method,
               opts.sampler.steps, opts.seed);
  if (int64_t ks = pipe.main.caps.keyframe_stride; ks > 1 && !pipe.has_interpolation_model()) {
    if (plan.mode != LongVideoMode::Hierarchical)
      spdlog::warn("this model makes keyframes {} latents apart (trained with --interp-consecutive): "
                   "--mode autoregressive places them next to each other, so motion runs {}x too fast", ks, ks);
    else if (plan.stride != ks)
      spdlog::warn("this model makes keyframes {} latents apart but the plan spaces them {} apart", ks, plan.stride);
  }
  if (opts.cond_noise_level >= 0 && !models.pred.noisy_cond)
    spdlog::warn("the prediction model was not trained with noisy conditions (noisy_cond): --cond-noise-level is ignored");

  std::optional<LongVideoState> state;
  bool resume = req.resume;
  if (!req.state_dir.empty()) {
    state.emplace(req.state_dir, long_video_fingerprint(plan, opts, pipe.weights_id + pipe.precision_id()));
    if (resume && !state->exists()) {
      // Adding --resume to the command always gives the video: it continues what was checkpointed,
      // or starts afresh when nothing was (killed before the first checkpoint, or never started).
      std::error_code ec;
      if (fs::exists(req.state_dir, ec))
        spdlog::info("--resume: {} holds no checkpoint yet (the run stopped before its first one): starting afresh",
                     req.state_dir.string());
      else
        spdlog::info("--resume: nothing to resume at {}: starting the run", req.state_dir.string());
      resume = false;
    } else if (!resume && state->exists()) {
      fail_hint("add --resume to continue it, or delete that directory to start again",
                "{}: an interrupted run of this output is there", req.state_dir.string());
    }
  } else if (resume) {
    fail("--resume: this run keeps no checkpoint (no state directory)");
  }

  const int64_t ft = pipe.factors()[0];
  const int64_t ctx = in.context.defined() ? in.context.size(2) : 0;
  // Frames of the context latents and of a given latent 0 are already in the output.
  const int64_t skip = (ctx + (plan.continues ? 1 : 0)) * ft;
  const int64_t keep = plan.frames - (plan.continues ? ft : 0);
  CountingSink counted(sink);
  StreamingVideoDecoder dec(pipe.autoencoder, ctx + plan.latents, keep, req.decode_window, req.decode_overlap, counted,
                            pipe.device, skip);
  std::optional<DriftStats> stats;
  if (!req.stats_path.empty()) {
    stats.emplace(req.stats_window, ft);
    dec.on_frames = [&](const at::Tensor& u8) { stats->on_frames(u8); };
  }
  if (ctx > 0) dec.push(in.context);
  Tee tee(dec, stats ? &*stats : nullptr);

  std::optional<Progress> progress;
  if (req.show_progress) progress.emplace("clips", plan.clips_total());
  LongVideoRunOptions ro;
  ro.state = state ? &*state : nullptr;
  ro.resume = resume;
  ro.checkpoint_every = req.checkpoint_every;
  ro.given_keyframes = in.given;
  ro.stop_after_rounds = req.stop_after_rounds;
  if (progress) {
    auto pfn = progress->fn();
    ro.progress = [pfn](const LongVideoProgress& p) { pfn(p.clips_done, p.clips_total); };
  }
  int64_t pushed = 0;
  {
    // --autocast: the denoisers under autocast (the autoencoder turns it off for its own passes).
    AutocastScope autocast(pipe.device, pipe.autocast_dtype());
    pushed = generate_long_video(plan, models, opts, tee, ro);
  }
  if (pushed < plan.latents) {
    spdlog::warn("stopped after {} prediction clips (--stop-after); continue with --resume", req.stop_after_rounds);
    return -1;
  }
  if (progress) progress->finish();
  if (stats) stats->write(req.stats_path, plan.to_json());
  if (state) state->remove();
  return counted.frames();
}

}  // namespace detail

int64_t generate_video(VideoPipeline& pipe, const GenerateRequest& req_in, FrameSink& sink) {
  pipe.check_params_not_freed();
  check_generate_request(req_in);
  check_sampler_options(req_in.sampler, pipe.schedule->num_train_timesteps());
  const int64_t frames = req_in.frames;
  const int64_t ft = pipe.factors()[0];
  const auto& caps = pipe.main.caps;
  if (req_in.class_label >= 0 && caps.num_classes == 0)
    fail("--class {}: the model is not class-conditional", req_in.class_label);
  if (req_in.class_label >= caps.num_classes && caps.num_classes > 0)
    fail("--class {}: the model knows classes 0 to {}", req_in.class_label, caps.num_classes - 1);
  if (req_in.cfg_scale >= 0 && req_in.cfg_scale != 1.0 && caps.num_classes == 0 && caps.context_dim == 0)
    fail("--cfg-scale {}: the model takes no class or text condition to guide", req_in.cfg_scale);
  if ((req_in.has_prompt || !req_in.prompt_schedule.empty()) && caps.context_dim == 0)
    fail("-p/--prompt: the model takes no text (it has no text encoder)");
  if (req_in.has_prompt && !req_in.prompt_schedule.empty()) fail("give a prompt or a prompt schedule, not both");
  if (!req_in.prompt_schedule.empty()) check_prompt_schedule(req_in.prompt_schedule, "prompt schedule");
  if (caps.context_dim > 0 && !pipe.text_encoder)
    fail("the model is text-conditioned but no text encoder is loaded");
  const int64_t clip_frames = caps.clip_len * ft;
  const bool longer_than_clip = caps.clip_len > 0 && frames > clip_frames;
  // A model whose unconditional clips are sparse keyframes (train --interp-consecutive) makes
  // every video hierarchically: keyframes, then the latents between them.
  const bool keyframe_model = caps.keyframe_stride > 1;
  const bool long_video = pipe.has_interpolation_model() || !req_in.mode.empty() || req_in.resume ||
                          (longer_than_clip && caps.masked) || keyframe_model;
  if (longer_than_clip && !long_video)
    spdlog::warn("the model was trained on clips of {} frames and has no frame-mask conditioning to continue them: "
                 "generating all {} frames as one clip", clip_frames, frames);
  if (long_video) {
    GenerateRequest req = detail::resolve_long_request(pipe, req_in);
    auto models = long_video_models(pipe, req.long_video.mode);  // checks the models can do the mode
    auto plan = LongVideoPlan::make(frames, ft, models.pred.clip_len, req.long_video.cond_frames,
                                    models.interp.clip_len, req.long_video.mode);
    const auto f = pipe.factors();
    spdlog::info("seed {}  |  {} frames {}x{}", req.seed, frames, models.geometry.width * f[2],
                 models.geometry.height * f[1]);
    int64_t n = detail::run_long_video(pipe, plan, req, sink);
    if (n >= 0) sink.close();
    return n;
  }
  if (req_in.prompt_schedule.size() > 1)
    fail("a prompt schedule of {} prompts needs a long video (keyframes + interpolation); this model makes the "
         "{} frames as one clip",
         req_in.prompt_schedule.size(), frames);
  auto shape = pipe.clip_shape(frames);
  if (shape.frames_decoded != frames)
    spdlog::info("--frames {}: the autoencoder makes frames in groups of {}; generating {} and keeping the first {}",
                 frames, ft, shape.frames_decoded, frames);
  spdlog::info("seed {}  |  {} frames {}x{}  |  {} {} steps", req_in.seed, frames, shape.width, shape.height,
               req_in.sampler.method, req_in.sampler.steps);
  auto gen = make_generator(req_in.seed);
  std::optional<Progress> progress;
  if (req_in.show_progress) progress.emplace("sampling", req_in.sampler.steps);
  // One clip: decoded at once, or in the autoencoder's windows when it was trained on shorter clips.
  const int64_t dw =
      req_in.decode_window >= 0 ? req_in.decode_window : (pipe.autoencoder->trained_window() > 0 ? -1 : 0);
  Conditioning cond, uncond;
  const double cfg = req_in.cfg_scale < 0 ? pipe.default_cfg_scale : req_in.cfg_scale;
  if (caps.num_classes > 0) {
    int64_t y = req_in.class_label;
    if (y < 0) {  // sample.py: y = torch.randint(0, num_classes, (1,)); here from a generator of the seed
      auto label_gen = make_generator(req_in.seed ^ 0x6c6162656cULL);
      y = at::randint(caps.num_classes, {1}, label_gen, at::TensorOptions().dtype(at::kLong)).item<int64_t>();
      spdlog::info("class {} (drawn from the seed; --class N chooses), guidance scale {}", y, cfg);
    } else {
      spdlog::info("class {}, guidance scale {}", y, cfg);
    }
    cond.class_label = at::full({1}, y, at::TensorOptions().dtype(at::kLong)).to(pipe.device);
    uncond.class_label = at::full({1}, caps.num_classes, at::TensorOptions().dtype(at::kLong)).to(pipe.device);
  }
  if (caps.context_dim > 0) {
    const std::string& prompt = req_in.prompt_schedule.empty() ? req_in.prompt : req_in.prompt_schedule[0].second;
    spdlog::info("prompt \"{}\"{}, guidance scale {}", prompt,
                 req_in.negative_prompt.empty() ? std::string() : " (negative \"" + req_in.negative_prompt + "\")", cfg);
    auto [pc, nc] = pipe.text_encoder->encode_pair(prompt, req_in.negative_prompt);
    cond.context = pc.to(pipe.device);
    uncond.context = nc.to(pipe.device);
  }
  detail::CountingSink counted(sink);
  pipe.generate(frames, req_in.sampler, gen, counted, progress ? progress->fn() : ProgressFn{}, dw, cond,
                caps.num_classes > 0 || caps.context_dim > 0 ? cfg : 1.0, uncond);
  if (progress) progress->finish();
  sink.close();
  return counted.frames();
}


fs::path default_state_dir(const fs::path& output) {
  std::string s = output.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();  // "frames/" -> "frames"
  fs::path p(s);
  if (s.find('%') != std::string::npos) {  // a PNG pattern "dir/%05d.png": next to its directory
    p = p.parent_path();
    if (p.empty()) return ".longvid-run";
  }
  return p.string() + ".longvid-run";
}

int64_t generate_video_file(VideoPipeline& pipe, GenerateRequest req, const fs::path& output,
                            const WriteOptions& wopts) {
  if (req.state_dir.empty()) req.state_dir = default_state_dir(output);
  if (req.resume) remove_stale_temps(output);  // core/fs.h
  WriteOptions wo = wopts;
  std::optional<IFNet> rife_net;
  if (req.rife) {
    check_rife_options(*req.rife);
    rife_net = load_rife_model(req.rife_model, &*req.rife);
    wo.fps = Fps{static_cast<int>(wopts.fps.num * req.rife->multi), wopts.fps.den};
  }
  VideoWriter writer(output, wo);
  int64_t n = 0;
  if (rife_net) {
    RifeInterpolatingSink rife(*rife_net, *req.rife, writer);
    n = generate_video(pipe, req, rife);
    if (n >= 0)
      spdlog::info("RIFE x{}: {} frames -> {} ({} duplicates, {} scene cuts)", req.rife->multi, rife.stats().frames_in,
                   rife.stats().frames_out, rife.stats().duplicates, rife.stats().scene_cuts);
  } else {
    n = generate_video(pipe, req, writer);
  }
  if (n >= 0) spdlog::info("wrote {} ({} frames, {} fps)", output.string(), writer.frames_written(), wo.fps.str());
  return n;  // stopped early: the writer's destructor removes the partial output; the state stays
}

fs::path numbered_output(const fs::path& output, int64_t k) {
  const VideoFormat f = video_format_for(output);
  if (f == VideoFormat::PNGSequence)
    fail("{}: several videos need a file output to number (.mp4 .webm .gif .y4m), not PNG frames", output.string());
  return output.parent_path() / fmt::format("{}_{:03d}{}", output.stem().string(), k, output.extension().string());
}

fs::path prompts_index(const fs::path& output) {
  return output.parent_path() / (output.stem().string() + ".prompts.tsv");
}

std::vector<std::string> read_prompt_file(const fs::path& path) {
  const std::string text = read_text_file(path, "prompt file");
  std::vector<std::string> prompts;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    std::string line = text.substr(i, j - i);
    const auto b = line.find_first_not_of(" \t\r\f\v");
    const auto e = line.find_last_not_of(" \t\r\f\v");
    if (b != std::string::npos) prompts.push_back(line.substr(b, e - b + 1));
    i = j + 1;
  }
  if (prompts.empty()) fail("{}: the prompt file holds no prompt", path.string());
  return prompts;
}

std::vector<fs::path> generate_video_files(VideoPipeline& pipe, const GenerateRequest& req,
                                           const std::vector<std::string>& prompts, int64_t n_samples,
                                           const fs::path& output, const WriteOptions& wopts) {
  if (n_samples < 1) fail("--n-samples must be >= 1 (got {})", n_samples);
  if (!req.state_dir.empty())
    fail("--state {}: several videos keep one state directory each, next to each file", req.state_dir.string());
  std::vector<std::optional<std::string>> ps;
  if (prompts.empty() && !req.prompt_schedule.empty()) {
    std::string all;  // the schedule, for the index
    for (const auto& [f, p] : req.prompt_schedule) all += (all.empty() ? "" : " | ") + std::to_string(f) + ": " + p;
    ps.push_back(all);
  } else if (prompts.empty()) {
    ps.push_back(req.has_prompt ? std::optional<std::string>(req.prompt) : std::nullopt);
  }
  else
    for (const auto& p : prompts) ps.emplace_back(p);
  const fs::path index = prompts_index(output);
  std::string listing = "file\tseed\tprompt\n";
  std::vector<fs::path> written;
  int64_t k = 0;
  for (const auto& p : ps) {
    for (int64_t j = 0; j < n_samples; ++j, ++k) {
      GenerateRequest r = req;
      r.seed = req.seed + static_cast<uint64_t>(k);
      r.has_prompt = p.has_value() && req.prompt_schedule.empty();
      r.prompt = r.has_prompt ? p.value_or("") : req.prompt;
      const fs::path file = numbered_output(output, k);
      spdlog::info("video {} of {}: {}{}", k + 1, static_cast<int64_t>(ps.size()) * n_samples, file.string(),
                   p ? " \"" + *p + "\"" : std::string());
      if (generate_video_file(pipe, r, file, wopts) < 0) return written;  // stopped early (testing)
      written.push_back(file);
      std::string tab_free = r.prompt;
      for (char& c : tab_free)
        if (c == '\t' || c == '\n') c = ' ';
      listing += fmt::format("{}\t{}\t{}\n", file.filename().string(), r.seed, tab_free);
      write_text_atomically(index, listing);
    }
  }
  return written;
}

}  // namespace longvid
