// Samplers: turn a Denoiser into a denoised latent, given x_T, conditioning and a schedule.
// Stateless between calls; all randomness comes from the passed at::Generator (or a NoiseFn),
// so the same seed gives a bit-identical result.
//
// Methods (SamplerOptions::method):
//   "ddpm"      ancestral sampling as LVDM's p_sample_loop (posterior mean, fixed-small variance
//               posterior_log_variance_clipped, noise (0.5·logvar).exp(), none at t = 0).
//               steps == num_train_timesteps: the full chain; fewer: respaced as guided-diffusion
//               space_timesteps(T, "steps") (Latte: 250). Learned-sigma models (Latte) use the
//               learned_range variance, as guided-diffusion.
//   "ddim"      DDIM with eta. spacing "lvdm": LVDM's DDIMSampler (timesteps range(0,T,T//S)+1,
//               alphas_prev[0] = ᾱ[0], float32 buffers; quirk: when T % (T//S) != 0 this gives
//               more than S steps, e.g. S = 30 -> 31 steps 991, 958, …, 1; S values that would
//               reach timestep T, e.g. 3 or 333, are rejected); "leading" | "trailing" | "linspace":
//               diffusers' DDIMScheduler (steps_offset, set_alpha_to_one); "respaced":
//               guided-diffusion ddim_sample on SpacedDiffusion(space_timesteps(T, "S")) (Latte).
//   "dpmpp_2m"  DPM-Solver++(2M) as diffusers' DPMSolverMultistepScheduler(algorithm_type=
//               "dpmsolver++", solver_order=2, solver_type="midpoint", final_sigmas_type="zero",
//               lower_order_final); spacing as diffusers (default "linspace"), or "lvdm".
//               Aliases: "dpm++2m", "dpmpp2m", "dpm-solver++".
//
// Precision: the state x is float32 (float64 if x_T is float64); half/bfloat16 x_T is upcast.
// Per-step coefficients are formed exactly as the reference forms them (float32 buffers and
// float32 scalar math, see comments naming each quirk in sampler.cpp). Model outputs are cast
// to the state's dtype; learned-sigma outputs use their first C channels as the prediction.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backbones/denoiser.h"
#include "core/progress.h"
#include "sampler/schedule.h"

namespace longvid {

struct SamplerOptions {
  std::string method = "ddim";    // ddim | ddpm | dpmpp_2m
  int steps = 50;                 // 1..num_train_timesteps
  double eta = 1.0;               // DDIM only (LVDM scripts: 1.0)
  std::string spacing = "lvdm";   // lvdm | leading | trailing | linspace | respaced; "auto": lvdm for ddim, linspace for dpmpp_2m
  int steps_offset = 0;           // diffusers "leading" spacing offset (SD 1.x configs: 1)
  bool set_alpha_to_one = true;   // diffusers DDIM: ᾱ_prev of the last step = 1 (false: ᾱ[0])
  bool clip_denoised = false;     // clamp pred_x0 to [-1, 1] (diffusers clip_sample; LVDM latents: off)
  // dpmpp_2m: diffusers' flag, kept for config compatibility; with order 2 and final sigma 0
  // diffusers (and this code) always take a first-order last step, so it changes nothing.
  bool lower_order_final = true;
  // ddpm variance: "auto" (learned_range for learned-sigma models, else fixed_small),
  // "fixed_small" (posterior variance, LVDM), "fixed_large" (guided-diffusion / Latte with
  // learn_sigma=False: log(append(posterior_variance[1], betas[1:]))), "learned_range".
  std::string variance = "auto";
};

// Called with the step index (0 = first, noisiest), the timestep t, the state and pred_x0.
using StepHook = std::function<void(int step_index, int64_t t, at::Tensor& x, at::Tensor& pred_x0)>;

struct StepHooks {
  // Before the model sees x_t; pred_x0 is undefined. In-place edits of x are seen by the model
  // AND by the update (LVDM re-imposes condition latents this way: apply_model overwrites
  // x[:, :, :T_cond] in place, so pred_x0 is formed from the overwritten x).
  StepHook before_model;
  // After the update: x = the next state x_{t_prev}, pred_x0 = this step's x0 prediction
  // (edits to x carry over, e.g. RePaint-style blending).
  StepHook after_step;
};

// Supplies the noise of step `step_index` shaped like `like` (parity tests replay stored noise).
using NoiseFn = std::function<at::Tensor(int step_index, const at::Tensor& like)>;

// The timesteps a method visits, noisiest first (for ddpm: the respaced or full chain).
std::vector<int64_t> sampling_timesteps(const SamplerOptions& opts, int64_t num_train_timesteps);

// Validates options (throws longvid::Error with one clear line); returns the canonical method
// name ("ddim", "ddpm", "dpmpp_2m").
std::string check_sampler_options(const SamplerOptions& opts, int64_t num_train_timesteps);

at::Tensor sample(Denoiser& model, const NoiseSchedule& sched, at::Tensor x_T, const Conditioning& cond,
                  const SamplerOptions& opts, at::Generator& gen, const ProgressFn& progress = {},
                  const StepHooks& hooks = {}, const NoiseFn& noise_fn = {});

// ---- guidance --------------------------------------------------------------------------------

enum class GuidanceMode {
  Cfg,          // e = e_u + s·(e_c − e_u)      (classifier-free guidance; identity at s = 1)
  LvdmUncond,   // e = e_c + w·(e_c − e_u)      (LVDM uc_type='cfg_original'; identity at w = 0)
};
GuidanceMode parse_guidance_mode(const std::string& name);  // "cfg" | "lvdm_uncond" (= "cfg_original")

// A Denoiser combining a conditional and an unconditional pass of `model`. forward(x, t, c)
// uses `c` as the conditional branch and the stored `uncond` as the unconditional one. When
// both Conditionings have the same fields with the same shapes, the two passes run as one
// batched forward ([uncond; cond] along dim 0, as LVDM/LDM); otherwise two forwards.
// Learned-sigma outputs: only the first C channels are guided; the variance channels are the
// conditional branch's (DiT/Latte forward_with_cfg).
class GuidedDenoiser : public Denoiser {
 public:
  GuidedDenoiser(Denoiser& model, Conditioning uncond, double scale, GuidanceMode mode = GuidanceMode::Cfg,
                 bool allow_batching = true);
  at::Tensor forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c) override;
  Prediction prediction() const override { return model_.prediction(); }
  bool learned_sigma() const override { return model_.learned_sigma(); }
  // True when the last forward ran the two branches as one batch.
  bool last_batched() const { return last_batched_; }
  // True when guidance is an identity for this scale and mode (only the conditional pass runs).
  bool is_identity() const;

 private:
  Denoiser& model_;
  Conditioning uncond_;
  double scale_;
  GuidanceMode mode_;
  bool allow_batching_;
  bool last_batched_ = false;
};

// LVDM long-video condition re-imposition as a before_model hook: x[:, :, frames[i]] = values[:, :, i]
// (values: [B, C, frames.size(), H, W], e.g. q_sample'd condition latents drawn once).
StepHook overwrite_frames_hook(at::Tensor values, std::vector<int64_t> frames);

}  // namespace longvid
