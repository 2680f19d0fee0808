// Long videos for any denoiser that takes LVDM's frame-mask conditioning (Conditioning.mask,
// .cond_latent, .cond_noise_level): keyframes generated autoregressively with conditional latent
// perturbation and unconditional guidance, the gaps filled by a masked interpolation model, every
// finished latent handed on in order (to a streaming decoder), the run checkpointed so that a
// killed run resumes to the identical result.
//
// What one clip does is LVDM's scripts/sample_long_videos_utils.py (add_conditions_long_video +
// sample_clip, uc_type 'cfg_original'):
//   * condition latents c (the last cond_frames keyframes for prediction, the two neighbouring
//     keyframes for interpolation) are perturbed once per clip: c_s = q_sample(c, s, n), n ~ N(0, I)
//     drawn first from the clip's generator (randn_like(cond_frames)), and s is the model's label;
//   * x_T ~ N(0, I) is drawn next, then the sampler draws its per-step noise;
//   * before every model call the condition slots of x are overwritten with c_s (apply_model writes
//     x_noisy[:, :, :T_cond] = noisy_cond in place, so the update uses the overwritten x too);
//   * e = e_c + w·(e_c − e_u), where e_u has the all-zero mask and no s (w = 0: no second pass).
// The returned clip keeps whatever the sampler made at the condition slots; the caller keeps the
// original keyframes there (the official code drops sample[:, :, :T_cond] and the interpolation
// clip's ends).
//
// Randomness: clip i of kind K (prediction / interpolation) uses its own generator seeded with
// clip_seed(seed, K, i), so a clip's result depends only on the seed, its conditions and its index:
// resuming, or running infill jobs in another order, cannot change the video.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backbones/denoiser.h"
#include "core/progress.h"
#include "hierarchy/collapse_guard.h"
#include "hierarchy/long_video_plan.h"
#include "sampler/sampler.h"
#include "sampler/schedule.h"

namespace longvid {

// A denoiser usable for masked clips.
struct MaskedClipModel {
  Denoiser* denoiser = nullptr;
  const NoiseSchedule* schedule = nullptr;
  int64_t clip_len = 0;          // latent frames per clip (the U-Net's temporal_length)
  bool noisy_cond = true;        // LVDM noisy_cond: c is perturbed to level s and s is the label
  int64_t max_noise_level = 0;   // s must be < this (the label embedding's size); 0 = unchecked
  bool takes_text = false;       // attends to a text context (its clips get opts.text's contexts)
  std::string name = "model";    // for messages
};

struct LatentGeometry {
  int64_t channels = 4, height = 0, width = 0;
};

// Text-conditioned models: what each clip attends to. A clip making latents [first, last] attends to
// context(first, last) [1, L, D] (a prompt schedule blends the prompts of those latents), with
// classifier-free guidance `scale` against `uncond` [1, L, D] (the negative prompt's context).
// Inside a conditioned clip text guidance composes with LVDM's unconditional guidance w:
//   e = e(m, T) + (scale − 1)·(e(m, T) − e(m, ∅)) + w·(e(m, T) − e(0, T))
// (m: the clip's frame mask and s, T: its text, ∅: the negative prompt, 0: no frame condition).
struct LongVideoText {
  std::function<at::Tensor(int64_t first_latent, int64_t last_latent)> context;
  at::Tensor uncond;
  double scale = 1.0;
  std::string id;  // what determines the contexts (prompts, schedule, negative prompt, scale): fingerprint
  explicit operator bool() const { return static_cast<bool>(context); }
};

struct LongVideoOptions {
  LongVideoMode mode = LongVideoMode::Hierarchical;
  SamplerOptions sampler;          // the official script: DDIM, 50 steps, eta 1
  int64_t cond_noise_level = 100;  // s (official script: 100); < 0: conditions are not perturbed
  double uncond_guidance = 0.1;    // w of e_c + w·(e_c − e_u) (official: 0.1); 0 = off
  int64_t cond_frames = 1;         // T_cond of the prediction model (official: 1)
  // Quirk of the official script (sample_long_videos_utils.autoregressive_pred): it never passes
  // T_cond_pred to add_conditions_long_video, so `mask[:, :, :None] = 1` marks EVERY frame of a
  // prediction clip as a condition (only the first T_cond are overwritten). Training masks only
  // the condition frames (random_temporal_masking), which is what longvid does by default; set
  // this to reproduce the released script's videos (the parity test does).
  bool lvdm_full_pred_mask = false;
  // Latent statistics anchoring (a longvid remedy against drift; LVDM has none): the per-channel
  // spatial statistics of every generated latent are set to those of its conditions: a new
  // keyframe takes its condition keyframe's, an in-between latent the linear blend of its two
  // keyframes' by position. Mean: the mean only (the default: it keeps the default model's
  // 1,024-frame videos from collapsing, docs/hierarchy.md); MeanStd: mean and standard deviation
  // (AdaIN-style); None: LVDM's sampling as released.
  enum class Anchor { None, Mean, MeanStd };
  Anchor anchor = Anchor::Mean;
  // Interpolation clips sampled together, as one batch, among those a prediction clip makes ready
  // (their noise still comes from each clip's own generator, so the video is the one-by-one video
  // up to float rounding of the batched ops; with an elementwise denoiser exactly it). 0: all of a
  // round; 1: one by one (longvid <= 0.7).
  int64_t infill_batch = 0;
  // Collapse guard (hierarchy/collapse_guard.h): a prediction or interpolation clip whose new
  // latents lost most of their conditions' spatial structure is sampled again with fresh noise.
  CollapseGuard collapse;
  LongVideoText text;  // text models only
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::kCPU);
};

LongVideoOptions::Anchor parse_anchor(const std::string& s);  // none | mean | meanstd
std::string to_string(LongVideoOptions::Anchor a);

// Sets the per-channel spatial mean (and std with MeanStd) of every frame of z [1, C, n, h, w] to
// ref_mean / ref_std [1, C, n, 1, 1].
at::Tensor anchor_latent_stats(const at::Tensor& z, const at::Tensor& ref_mean, const at::Tensor& ref_std,
                               LongVideoOptions::Anchor mode);

enum class ClipKind : uint64_t { Prediction = 1, Interpolation = 2 };
uint64_t clip_seed(uint64_t seed, ClipKind kind, int64_t index);

// Fails with one line when s (>= 0) is outside the condition noise levels `model` was trained with.
void check_cond_noise_level(const MaskedClipModel& model, int64_t s);

// One masked clip [1, C, model.clip_len, h, w]. `cond` is [1, C, n, h, w] (undefined: an
// unconditional clip) and `positions` its n slots in the clip. Draws from `gen` in the order above.
// full_mask: the mask marks every frame (see LongVideoOptions::lvdm_full_pred_mask).
// contexts: per clip [1, L, D] (text models; empty: none), guided by opts.text.
at::Tensor sample_masked_clip(const MaskedClipModel& model, const LatentGeometry& geo, const at::Tensor& cond,
                              const std::vector<int64_t>& positions, const LongVideoOptions& opts, at::Generator& gen,
                              const ProgressFn& progress = {}, bool full_mask = false,
                              const std::vector<at::Tensor>& contexts = {});

// Several masked clips sampled as one batch [B, C, clip_len, h, w]: conds[i] [1, C, n, h, w] at the
// same `positions` (all undefined: unconditional clips), clip i drawing from gens[i] exactly as
// sample_masked_clip draws from its `gen` (condition noise, x_T, then each step's noise), so row i
// equals sample_masked_clip(conds[i], gens[i]) up to the float rounding of batched ops.
// sample_masked_clip is this with one clip.
at::Tensor sample_masked_clips(const MaskedClipModel& model, const LatentGeometry& geo, const std::vector<at::Tensor>& conds,
                               const std::vector<int64_t>& positions, const LongVideoOptions& opts,
                               std::vector<at::Generator>& gens, const ProgressFn& progress = {},
                               bool full_mask = false, const std::vector<at::Tensor>& contexts = {});

// Receives the video's latent frames [1, C, n, h, w] in order, each exactly once.
class LatentSink {
 public:
  virtual ~LatentSink() = default;
  virtual void push(const at::Tensor& z) = 0;
};

// Checkpoint of a long-video run: a directory holding state.safetensors (the run's fingerprint,
// rounds done, latents logged, the keyframes the next clips need; written atomically) and
// latents.f32 (every finished latent, appended in order, flushed before the state names it).
class LongVideoState {
 public:
  // `fingerprint`: JSON of everything that determines the result (plan, options, models); a
  // resumed run must have the same one.
  LongVideoState(std::filesystem::path dir, std::string fingerprint);
  const std::filesystem::path& dir() const { return dir_; }
  bool exists() const;  // a state from an earlier run is on disk
  void remove();        // after a finished run

  struct Loaded {
    int64_t rounds_done = 0;
    int64_t latents_logged = 0;
    std::map<int64_t, at::Tensor> keyframes;  // index -> [1, C, 1, h, w]
  };
  // Reads the state (throws longvid::Error if it is unreadable or from a different run) and
  // replays the logged latents into `sink` in chunks (bounded memory).
  Loaded load_and_replay(const LatentGeometry& geo, LatentSink& sink, int64_t chunk = 64);

  void start_new();                     // creates the directory and an empty log
  void append(const at::Tensor& z);     // adds latents to the log (buffered)
  void commit(int64_t rounds_done, const std::map<int64_t, at::Tensor>& keyframes);

 private:
  std::filesystem::path dir_;
  std::string fingerprint_;
  int64_t logged_ = 0;
  std::FILE* log_ = nullptr;
  void close_log();

 public:
  ~LongVideoState();
};

struct LongVideoModels {
  MaskedClipModel pred;
  MaskedClipModel interp;  // unused in autoregressive mode; may be the same denoiser as pred
  LatentGeometry geometry;
};

struct LongVideoProgress {
  int64_t clips_done, clips_total;
  int64_t latents_done, latents_total;
};

struct LongVideoRunOptions {
  LongVideoState* state = nullptr;  // null: no checkpoints
  bool resume = false;              // load `state` and continue
  int64_t checkpoint_every = 1;     // rounds (a prediction clip and the infill jobs it enables)
  std::function<void(const LongVideoProgress&)> progress;
  ProgressFn step_progress;         // per sampler step of the current clip
  // plan.continues: the given keyframes (indices 1 − cond_frames .. 0), [1, C, 1, h, w] each.
  std::map<int64_t, at::Tensor> given_keyframes;
  // Stop after this many rounds as if killed (tests of --resume); < 0: run to the end.
  int64_t stop_after_rounds = -1;
  CollapseCounts* collapse_counts = nullptr;  // when set: what the collapse guard did in this call
};

class VideoPipeline;  // pipeline/video_pipeline.h
// The pipeline's prediction model and interpolation model (the separate one, else the prediction
// model itself) as MaskedClipModels, with the latent geometry. Throws longvid::Error when the
// models cannot do `mode` (no frame-mask conditioning, prediction-only model in hierarchical mode).
LongVideoModels long_video_models(const VideoPipeline& pipe, LongVideoMode mode);

// Runs the plan: returns the number of latents pushed (== plan.latents unless stopped early).
int64_t generate_long_video(const LongVideoPlan& plan, const LongVideoModels& models, const LongVideoOptions& opts,
                            LatentSink& out, const LongVideoRunOptions& run = {});

// The fingerprint of a run (plan + options + a description of the models) for LongVideoState.
std::string long_video_fingerprint(const LongVideoPlan& plan, const LongVideoOptions& opts,
                                   const std::string& models_id);

}  // namespace longvid
