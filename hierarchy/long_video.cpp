#include "hierarchy/long_video.h"
#include "hierarchy/collapse_guard.h"
#include "hierarchy/text_guidance.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"

namespace longvid {

namespace fs = std::filesystem;

uint64_t clip_seed(uint64_t seed, ClipKind kind, int64_t index) {
  // splitmix64 over (seed, kind, index): well mixed, and stable across platforms and versions.
  auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed);
  h = mix(h ^ static_cast<uint64_t>(kind));
  h = mix(h ^ static_cast<uint64_t>(index));
  return h >> 1;  // at::Generator seeds are taken as uint64; keep them printable as int64 too
}

LongVideoOptions::Anchor parse_anchor(const std::string& s) {
  if (s == "none") return LongVideoOptions::Anchor::None;
  if (s == "mean") return LongVideoOptions::Anchor::Mean;
  if (s == "meanstd") return LongVideoOptions::Anchor::MeanStd;
  fail("--anchor {}: choose none, mean or meanstd", s);
}

std::string to_string(LongVideoOptions::Anchor a) {
  switch (a) {
    case LongVideoOptions::Anchor::Mean: return "mean";
    case LongVideoOptions::Anchor::MeanStd: return "meanstd";
    default: return "none";
  }
}

at::Tensor anchor_latent_stats(const at::Tensor& z, const at::Tensor& ref_mean, const at::Tensor& ref_std,
                               LongVideoOptions::Anchor mode) {
  if (mode == LongVideoOptions::Anchor::None) return z;
  auto m = z.mean({3, 4}, true);
  if (mode == LongVideoOptions::Anchor::Mean) return z - m + ref_mean;
  auto sd = z.std({3, 4}, /*unbiased=*/false, true).clamp_min(1e-6);
  return (z - m) / sd * ref_std + ref_mean;
}

namespace {
std::pair<at::Tensor, at::Tensor> latent_stats(const at::Tensor& z) {
  return {z.mean({3, 4}, true), z.std({3, 4}, /*unbiased=*/false, true)};
}

// A text model's last attempt attends to the negative prompt instead of the clip's prompt: what
// collapses is the conditional path (the bundled text model: 15 of 100 prompted clips hold a
// collapsed frame, 3 of 100 with the empty prompt), and some conditions make the prompted model
// collapse at every draw (docs/hierarchy.md, "The collapse guard").
std::vector<at::Tensor> retry_contexts(const std::vector<at::Tensor>& ctx, int64_t attempt, const LongVideoOptions& o) {
  if (ctx.empty() || attempt == 0 || attempt < o.collapse.retries || !o.text.uncond.defined()) return ctx;
  return std::vector<at::Tensor>(ctx.size(), o.text.uncond);
}

void report_collapse(const CollapseCounts& c, const CollapseGuard& guard, const LongVideoRunOptions& run) {
  if (run.collapse_counts) *run.collapse_counts = c;
  if (c.resampled > 0)
    spdlog::info("collapse guard: {} of {} clips sampled again ({} more attempts), {} still below {}", c.resampled,
                 c.checked, c.attempts, c.kept_below, guard.ratio);
}
}  // namespace

void check_cond_noise_level(const MaskedClipModel& model, int64_t s) {
  if (s < 0 || !model.noisy_cond) return;
  if (model.max_noise_level > 0 && s >= model.max_noise_level)
    fail("--cond-noise-level {}: {} was trained with noise levels 0..{}", s, model.name, model.max_noise_level - 1);
  if (s >= model.schedule->num_train_timesteps())
    fail("--cond-noise-level {}: must be below the {} diffusion steps", s, model.schedule->num_train_timesteps());
}

at::Tensor sample_masked_clip(const MaskedClipModel& model, const LatentGeometry& geo, const at::Tensor& cond,
                              const std::vector<int64_t>& positions, const LongVideoOptions& opts, at::Generator& gen,
                              const ProgressFn& progress, bool full_mask, const std::vector<at::Tensor>& contexts) {
  std::vector<at::Generator> gens{gen};  // a handle: draws advance the caller's generator
  return sample_masked_clips(model, geo, {cond}, positions, opts, gens, progress, full_mask, contexts);
}


at::Tensor sample_masked_clips(const MaskedClipModel& model, const LatentGeometry& geo, const std::vector<at::Tensor>& conds,
                               const std::vector<int64_t>& positions, const LongVideoOptions& opts,
                               std::vector<at::Generator>& gens, const ProgressFn& progress, bool full_mask,
                               const std::vector<at::Tensor>& contexts) {
  torch::NoGradGuard ng;
  const int64_t B = static_cast<int64_t>(conds.size());
  if (B == 0 || gens.size() != conds.size()) fail("long video: internal error: {} clips, {} generators", B, gens.size());
  if (!model.denoiser || !model.schedule) fail("long video: {} is not loaded", model.name);
  const int64_t L = model.clip_len, C = geo.channels, h = geo.height, w = geo.width;
  const auto has = [](const at::Tensor& c) { return c.defined() && c.numel() > 0; };
  const bool has_cond = has(conds[0]);
  for (const auto& cond : conds) {
    if (has(cond) != has_cond) fail("long video: internal error: conditioned and unconditional clips in one batch");
    if (has_cond && (cond.dim() != 5 || cond.size(0) != 1 || cond.size(1) != C || cond.size(3) != h ||
                     cond.size(4) != w || cond.size(2) != static_cast<int64_t>(positions.size())))
      fail("long video: condition latents must be [1, {}, {}, {}, {}], got {}", C, positions.size(), h, w,
           c10::str(cond.sizes()));
  }
  if (has_cond)
    for (auto p : positions)
      if (p < 0 || p >= L) fail("long video: condition slot {} is outside the {}-frame clip of {}", p, L, model.name);
  const auto cpu_f32 = at::TensorOptions().dtype(at::kFloat);
  const bool perturb = has_cond && model.noisy_cond && opts.cond_noise_level >= 0;
  const int64_t s = opts.cond_noise_level;
  if (perturb) check_cond_noise_level(model, s);
  // Per clip, from its own generator: the condition noise (add_conditions_long_video:
  // torch.randn_like(cond_frames), drawn before x_T), then x_T. Drawn on the CPU and moved, so a
  // seed gives the same video on every device.
  std::vector<at::Tensor> cs, xs;
  for (int64_t i = 0; i < B; ++i) {
    auto& gen = gens[static_cast<size_t>(i)];
    if (has_cond) {
      at::Tensor c_s = conds[static_cast<size_t>(i)].to(at::kCPU, at::kFloat);
      if (perturb)
        c_s = model.schedule->q_sample(c_s, at::full({1}, s, at::TensorOptions().dtype(at::kLong)),
                                       at::randn(c_s.sizes(), gen, cpu_f32));
      cs.push_back(c_s);
    }
    xs.push_back(at::randn({1, C, L, h, w}, gen, cpu_f32));
  }
  auto x_T = at::cat(xs, 0).to(opts.device);
  auto dev_f32 = at::TensorOptions().dtype(at::kFloat).device(opts.device);
  Conditioning c;
  c.mask = at::zeros({B, 1, L, h, w}, dev_f32);
  for (auto p : positions) c.mask.select(2, p).fill_(1.0);
  if (has_cond && full_mask) c.mask.fill_(1.0);
  if (perturb) c.cond_noise_level = at::full({B}, s, at::TensorOptions().dtype(at::kLong)).to(opts.device);
  StepHooks hooks;
  if (has_cond) hooks.before_model = overwrite_frames_hook(at::cat(cs, 0).to(opts.device), positions);
  // Each step's noise from each clip's generator, as the one-clip sampler draws it.
  NoiseFn noise = [&gens, cpu_f32](int, const at::Tensor& like) {
    std::vector<at::Tensor> parts;
    for (auto& g : gens) parts.push_back(at::randn(like[0].unsqueeze(0).sizes(), g, cpu_f32));
    return at::cat(parts, 0).to(like.device());
  };
  if (!contexts.empty()) {
    if (static_cast<int64_t>(contexts.size()) != B || !opts.text.uncond.defined())
      fail("long video: internal error: {} text contexts for {} clips", contexts.size(), B);
    c.context = at::cat(contexts, 0).to(opts.device, at::kFloat);
    TextMaskGuidance guided(*model.denoiser, opts.text.uncond.to(opts.device, at::kFloat), opts.text.scale,
                            has_cond ? opts.uncond_guidance : 0.0);
    return sample(guided, *model.schedule, x_T, c, opts.sampler, gens[0], progress, hooks, noise);
  }
  // An unconditional clip (the first one) needs no guidance: its e_u equals e_c, and
  // e_c + w·(e_c − e_u) = e_c (the official code runs both passes to get the same numbers).
  if (has_cond && opts.uncond_guidance != 0.0) {
    Conditioning u;
    u.mask = at::zeros({B, 1, L, h, w}, dev_f32);
    GuidedDenoiser guided(*model.denoiser, u, opts.uncond_guidance, GuidanceMode::LvdmUncond,
                          /*allow_batching=*/false);
    return sample(guided, *model.schedule, x_T, c, opts.sampler, gens[0], progress, hooks, noise);
  }
  return sample(*model.denoiser, *model.schedule, x_T, c, opts.sampler, gens[0], progress, hooks, noise);
}

// ---- state ------------------------------------------------------------------------------------

namespace {
constexpr const char* kStateFile = "state.safetensors";
constexpr const char* kLogFile = "latents.f32";
constexpr const char* kMetaKey = "longvid.long_video_state";
}  // namespace

LongVideoState::LongVideoState(fs::path dir, std::string fingerprint)
    : dir_(std::move(dir)), fingerprint_(std::move(fingerprint)) {}

LongVideoState::~LongVideoState() { close_log(); }

void LongVideoState::close_log() {
  if (log_) std::fclose(log_);
  log_ = nullptr;
}

bool LongVideoState::exists() const { return fs::exists(dir_ / kStateFile); }

void LongVideoState::remove() {
  close_log();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void LongVideoState::start_new() {
  close_log();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) fail("{}: cannot create the run's state directory: {}", dir_.string(), ec.message());
  fs::remove(dir_ / kStateFile, ec);
  log_ = std::fopen((dir_ / kLogFile).c_str(), "wb");
  if (!log_) fail("{}: cannot write the latent log", (dir_ / kLogFile).string());
  logged_ = 0;
}

void LongVideoState::append(const at::Tensor& z) {
  if (!log_) fail("long video state: append before start");
  // [1, C, n, h, w] -> n records of C*h*w float32, frame-major so that truncation keeps whole frames.
  auto frames = z.to(at::kCPU, at::kFloat).squeeze(0).transpose(0, 1).contiguous();  // [n, C, h, w]
  size_t bytes = static_cast<size_t>(frames.numel()) * sizeof(float);
  if (std::fwrite(frames.data_ptr<float>(), 1, bytes, log_) != bytes)
    fail("{}: write failed (disk full?)", (dir_ / kLogFile).string());
  logged_ += frames.size(0);
}

void LongVideoState::commit(int64_t rounds_done, const std::map<int64_t, at::Tensor>& keyframes) {
  if (!log_) fail("long video state: commit before start");
  if (std::fflush(log_) != 0 || ::fsync(fileno(log_)) != 0)
    fail("{}: flush failed (disk full?)", (dir_ / kLogFile).string());
  StateDict sd;
  std::vector<int64_t> idx;
  for (const auto& [k, t] : keyframes) {
    sd.set(fmt::format("keyframe.{}", k), t.to(at::kCPU, at::kFloat).contiguous());
    idx.push_back(k);
  }
  nlohmann::json j;
  j["fingerprint"] = fingerprint_;
  j["rounds_done"] = rounds_done;
  j["latents_logged"] = logged_;
  j["keyframes"] = idx;
  save_safetensors(dir_ / kStateFile, sd, {{kMetaKey, j.dump()}});  // atomic (temp + rename)
}

LongVideoState::Loaded LongVideoState::load_and_replay(const LatentGeometry& geo, LatentSink& sink, int64_t chunk) {
  close_log();
  const fs::path state_path = dir_ / kStateFile, log_path = dir_ / kLogFile;
  StateDict sd = load_checkpoint(state_path);
  auto it = sd.metadata.find(kMetaKey);
  if (it == sd.metadata.end()) fail("{}: not a longvid long-video state file", state_path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    fail("{}: corrupt state ({})", state_path.string(), e.what());
  }
  if (j.value("fingerprint", std::string()) != fingerprint_)
    fail_hint("run with the same model, options and seed as the interrupted run, or delete the state directory",
              "{}: the interrupted run used different settings; cannot resume it with these", dir_.string());
  Loaded L;
  L.rounds_done = j.at("rounds_done").get<int64_t>();
  L.latents_logged = j.at("latents_logged").get<int64_t>();
  for (int64_t k : j.at("keyframes").get<std::vector<int64_t>>())
    L.keyframes[k] = sd.get(fmt::format("keyframe.{}", k));

  const int64_t per = geo.channels * geo.height * geo.width;
  const uintmax_t need = static_cast<uintmax_t>(L.latents_logged) * per * sizeof(float);
  std::error_code ec;
  uintmax_t have = fs::file_size(log_path, ec);
  if (ec || have < need)
    fail("{}: the latent log is shorter than its state says ({} of {} bytes)", log_path.string(), ec ? 0 : have, need);
  if (have > need) fs::resize_file(log_path, need);  // latents written after the last commit

  std::FILE* f = std::fopen(log_path.c_str(), "rb");
  if (!f) fail("{}: cannot read", log_path.string());
  for (int64_t done = 0; done < L.latents_logged;) {
    int64_t n = std::min(chunk, L.latents_logged - done);
    auto buf = at::empty({n, geo.channels, geo.height, geo.width}, at::kFloat);
    size_t bytes = static_cast<size_t>(n * per) * sizeof(float);
    if (std::fread(buf.data_ptr<float>(), 1, bytes, f) != bytes) {
      std::fclose(f);
      fail("{}: short read", log_path.string());
    }
    sink.push(buf.transpose(0, 1).unsqueeze(0));  // [1, C, n, h, w]
    done += n;
  }
  std::fclose(f);
  log_ = std::fopen(log_path.c_str(), "ab");
  if (!log_) fail("{}: cannot append", log_path.string());
  logged_ = L.latents_logged;
  return L;
}

// ---- the run ----------------------------------------------------------------------------------

std::string long_video_fingerprint(const LongVideoPlan& plan, const LongVideoOptions& o, const std::string& models_id) {
  nlohmann::json j;
  j["plan"] = nlohmann::json::parse(plan.to_json());
  j["sampler"] = {o.sampler.method, o.sampler.steps, o.sampler.eta, o.sampler.spacing};
  j["s"] = o.cond_noise_level;
  j["w"] = o.uncond_guidance;
  j["cond_frames"] = o.cond_frames;
  j["full_pred_mask"] = o.lvdm_full_pred_mask;
  if (o.anchor != LongVideoOptions::Anchor::None) j["anchor"] = to_string(o.anchor);
  if (o.infill_batch != 1) j["infill_batch"] = o.infill_batch;  // batched ops round differently
  if (o.collapse.on()) j["collapse"] = {o.collapse.retries, o.collapse.ratio};
  j["seed"] = o.seed;
  if (o.text) j["text"] = o.text.id;
  j["models"] = models_id;
  return j.dump();
}

int64_t generate_long_video(const LongVideoPlan& plan, const LongVideoModels& models, const LongVideoOptions& opts,
                            LatentSink& out, const LongVideoRunOptions& run) {
  torch::NoGradGuard ng;
  const bool hier = plan.mode == LongVideoMode::Hierarchical;
  if (models.pred.clip_len != plan.pred_len)
    fail("long video: the plan expects prediction clips of {} latents, {} makes {}", plan.pred_len, models.pred.name,
         models.pred.clip_len);
  if (hier && models.interp.clip_len != plan.interp_len)
    fail("long video: the plan expects interpolation clips of {} latents, {} makes {}", plan.interp_len,
         models.interp.name, models.interp.clip_len);
  if (opts.cond_frames != plan.cond_frames) fail("long video: options and plan disagree on --cond-frames");
  // Before any clip runs or any state is written: a bad option must not leave a half-made run behind.
  check_cond_noise_level(models.pred, opts.cond_noise_level);
  if (hier) check_cond_noise_level(models.interp, opts.cond_noise_level);

  std::map<int64_t, at::Tensor> kf;  // keyframes still needed, [1, C, 1, h, w] on the CPU
  int64_t pushed = 0, first_round = 0;
  const int64_t rounds = static_cast<int64_t>(plan.pred_clips.size());
  if (run.resume) {
    if (!run.state) fail("--resume needs a state directory");
    auto L = run.state->load_and_replay(models.geometry, out);
    first_round = L.rounds_done;
    pushed = L.latents_logged;
    kf = std::move(L.keyframes);
    spdlog::info("resuming from {}: {} of {} rounds done, {} of {} latents", run.state->dir().string(), first_round,
                 rounds, pushed, plan.latents);
  } else {
    if (plan.continues) {
      for (int64_t k = 1 - plan.cond_frames; k <= 0; ++k)
        if (!run.given_keyframes.count(k)) fail("extend: internal error: given keyframe {} is missing", k);
      kf = run.given_keyframes;
    }
    if (run.state) run.state->start_new();
  }

  auto emit = [&](const at::Tensor& z) {
    int64_t n = std::min<int64_t>(z.size(2), plan.latents - pushed);
    if (n <= 0) return;
    auto part = z.slice(2, 0, n).contiguous();
    out.push(part);
    if (run.state) run.state->append(part);
    pushed += n;
  };
  CollapseCounts counts;
  int64_t clips_done = 0;
  for (int64_t r = 0; r < first_round; ++r)
    clips_done += 1 + static_cast<int64_t>(plan.infill_jobs_after(r).size());
  auto report = [&] {
    if (run.progress) run.progress({clips_done, plan.clips_total(), pushed, plan.latents});
  };
  report();

  for (int64_t r = first_round; r < rounds; ++r) {
    const auto& pc = plan.pred_clips[static_cast<size_t>(r)];
    at::Tensor cond;
    std::vector<int64_t> pos;
    const bool conditioned = r > 0 || plan.continues;
    if (conditioned) {
      std::vector<at::Tensor> parts;
      for (int64_t k = pc.first_new - plan.cond_frames; k < pc.first_new; ++k) {
        auto it = kf.find(k);
        if (it == kf.end()) fail("long video: internal error: keyframe {} is not available", k);
        parts.push_back(it->second);
        pos.push_back(static_cast<int64_t>(pos.size()));
      }
      cond = at::cat(parts, 2);
    }
    std::vector<at::Tensor> ctx;
    if (opts.text && models.pred.takes_text) ctx.push_back(opts.text.context(pc.first_new * plan.stride, (pc.first_new + pc.num_new - 1) * plan.stride));
    const uint64_t pred_seed = clip_seed(opts.seed, ClipKind::Prediction, r);
    auto sample_pred = [&](int64_t attempt) {
      auto gen = make_generator(retry_seed(pred_seed, attempt));
      return sample_masked_clip(models.pred, models.geometry, cond, pos, opts, gen, run.step_progress,
                                opts.lvdm_full_pred_mask, retry_contexts(ctx, attempt, opts))
          .cpu();
    };
    auto clip = sample_pred(0);
    const int64_t slot0 = conditioned ? plan.cond_frames : 0;
    if (conditioned && opts.collapse.on()) {
      // The new keyframes against the keyframe they continue.
      const auto ref = latent_stats(kf.at(pc.first_new - 1)).second;
      clip = guard_collapse(clip, [&](const at::Tensor& c) { return structure_ratio(c.slice(2, slot0, slot0 + pc.num_new), ref); },
                            sample_pred, opts.collapse, counts,
                            fmt::format("keyframes {}-{}", pc.first_new, pc.first_new + pc.num_new - 1));
    }
    if (conditioned && opts.anchor != LongVideoOptions::Anchor::None) {
      // New keyframes take the statistics of the keyframe they continue.
      auto [m, sd] = latent_stats(kf.at(pc.first_new - 1));
      clip = at::cat({clip.slice(2, 0, slot0),
                      anchor_latent_stats(clip.slice(2, slot0), m, sd, opts.anchor)}, 2);
    }
    for (int64_t i = 0; i < pc.num_new; ++i)
      kf[pc.first_new + i] = clip.slice(2, slot0 + i, slot0 + i + 1).clone();
    ++clips_done;

    // Latent 0 first: generated by clip 0, or given (extend: the input's last latent).
    if (r == 0 && (hier || plan.continues)) emit(kf.at(0));
    if (!hier) {
      emit(clip.slice(2, slot0, slot0 + pc.num_new));
      report();
    } else {
      const auto jobs = plan.infill_jobs_after(r);
      const size_t per = opts.infill_batch > 0 ? static_cast<size_t>(opts.infill_batch) : std::max<size_t>(jobs.size(), 1);
      for (size_t j0 = 0; j0 < jobs.size(); j0 += per) {
        const size_t j1 = std::min(jobs.size(), j0 + per);
        std::vector<at::Tensor> conds, ctx;
        std::vector<at::Generator> gens;
        for (size_t j = j0; j < j1; ++j) {
          conds.push_back(at::cat({kf.at(jobs[j]), kf.at(jobs[j] + 1)}, 2));
          gens.push_back(make_generator(clip_seed(opts.seed, ClipKind::Interpolation, jobs[j])));
          if (opts.text && models.interp.takes_text) {  // an interpolation model without text gets none
            const auto& job = plan.infill_jobs[static_cast<size_t>(jobs[j])];
            ctx.push_back(opts.text.context(job.first_latent, job.first_latent + std::max<int64_t>(job.count, 1) - 1));
          }
        }
        auto mids = sample_masked_clips(models.interp, models.geometry, conds, {0, plan.interp_len - 1}, opts, gens,
                                        run.step_progress, false, ctx)
                        .cpu();
        for (size_t j = j0; j < j1; ++j) {
          const int64_t k = jobs[j];
          const auto& job = plan.infill_jobs[static_cast<size_t>(k)];
          at::Tensor mid = mids.slice(0, static_cast<int64_t>(j - j0), static_cast<int64_t>(j - j0) + 1);
          // In-between latents take the blend of their keyframes' statistics by position.
          auto [m0, s0] = latent_stats(kf.at(k));
          auto [m1, s1] = latent_stats(kf.at(k + 1));
          auto a = at::arange(1, 1 + job.count, at::kFloat).div_(static_cast<double>(plan.interp_len - 1))
                       .view({1, 1, job.count, 1, 1});
          const at::Tensor ref_std = s0 * (1 - a) + s1 * a;
          if (opts.collapse.on() && job.count > 0) {
            // A collapsed in-between clip is sampled again on its own (rare: no batching).
            auto sample_one = [&](int64_t attempt) {
              auto gen = make_generator(retry_seed(clip_seed(opts.seed, ClipKind::Interpolation, k), attempt));
              std::vector<at::Tensor> c1;
              if (!ctx.empty()) c1.push_back(ctx[j - j0]);
              return sample_masked_clip(models.interp, models.geometry, conds[j - j0], {0, plan.interp_len - 1},
                                        opts, gen, run.step_progress, false, retry_contexts(c1, attempt, opts))
                  .cpu();
            };
            mid = guard_collapse(mid, [&](const at::Tensor& c) { return structure_ratio(c.slice(2, 1, 1 + job.count), ref_std); },
                                 sample_one, opts.collapse, counts,
                                 fmt::format("latents {}-{}", job.first_latent, job.first_latent + job.count - 1));
          }
          at::Tensor between = mid.slice(2, 1, 1 + job.count);
          if (opts.anchor != LongVideoOptions::Anchor::None)
            between = anchor_latent_stats(between, m0 * (1 - a) + m1 * a, ref_std, opts.anchor);
          emit(between);
          emit(kf.at(k + 1));
          ++clips_done;
          report();
        }
      }
      if (plan.infill_jobs_after(r).empty()) report();
    }
    // Keep only what later clips need: the last cond_frames keyframes (and the last one, the left
    // end of the next infill job).
    const int64_t made = pc.first_new + pc.num_new;
    const int64_t keep_from = made - std::max<int64_t>(plan.cond_frames, 1);
    for (auto it = kf.begin(); it != kf.end();) it = it->first < keep_from ? kf.erase(it) : std::next(it);

    const bool last = r + 1 == rounds;
    if (run.state && (last || (r + 1) % std::max<int64_t>(run.checkpoint_every, 1) == 0)) run.state->commit(r + 1, kf);
    if (run.stop_after_rounds >= 0 && r + 1 >= run.stop_after_rounds && !last) {
      report_collapse(counts, opts.collapse, run);
      return pushed;
    }
  }
  report_collapse(counts, opts.collapse, run);
  if (pushed != plan.latents)
    fail("long video: internal error: {} latents made for a plan of {}", pushed, plan.latents);
  return pushed;
}

}  // namespace longvid
