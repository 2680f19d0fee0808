// Noise schedules: betas, ᾱ (alphas_cumprod) and the derived tables every sampler needs.
//
// Tables are kept in float64 (CPU). Two precision conventions exist in the references:
//  * LDM / LVDM / guided-diffusion ("ldm"): betas and every table computed in float64 (numpy);
//    LVDM then stores its buffers as float32 (register_schedule: to_torch = float32) and its
//    samplers compute from those float32 buffers. `f32()` gives exactly those rounded buffers.
//  * diffusers ("diffusers"): betas built with torch float32 ops and ᾱ = cumprod in float32
//    (DDIMScheduler / DPMSolverMultistepScheduler __init__). The float64 tables then hold the
//    float32 values (widened), so `f32().alphas_cumprod` equals diffusers' tensor bit for bit.
//
// Beta schedule names differ between code bases; the mapping is explicit (parse_beta_schedule):
//   kind            LDM/LVDM word   diffusers word       formula
//   ScaledLinear    "linear"        "scaled_linear"      linspace(√β0, √β1, T)²
//   Linear          "sqrt_linear"   "linear"             linspace(β0, β1, T)       (guided-diffusion, Latte: "linear")
//   Cosine          "cosine"        "squaredcos_cap_v2"  ᾱ(t)=cos²((t/T+s)/(1+s)·π/2), β clipped at 0.999
//   Sqrt            "sqrt"          —                    linspace(β0, β1, T)^½
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace longvid {

enum class BetaSchedule { ScaledLinear, Linear, Cosine, Sqrt };

// Arithmetic of the code base the schedule reproduces (see file comment). GuidedDiffusion
// (= Latte's diffusion/): float64 like Ldm, but betas from numpy.linspace (which differs from
// torch.linspace in the last ulp for about half of the entries) and cosine via betas_for_alpha_bar.
enum class ScheduleConvention { Ldm, Diffusers, GuidedDiffusion };

// Maps a config word to a kind. convention: "ldm" (= "lvdm"), "diffusers", "guided-diffusion"
// (= "latte"). Unknown word or convention -> longvid::Error.
BetaSchedule parse_beta_schedule(const std::string& word, const std::string& convention = "ldm");
// Canonical (diffusers-style) name: "scaled_linear", "linear", "cosine", "sqrt".
std::string to_string(BetaSchedule kind);

struct ScheduleConfig {
  BetaSchedule kind = BetaSchedule::ScaledLinear;
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0015;  // LVDM uncond / long-video configs
  double beta_end = 0.0155;
  double cosine_s = 8e-3;  // LDM cosine offset (diffusers squaredcos_cap_v2 uses 0.008 too)
  ScheduleConvention convention = ScheduleConvention::Ldm;
};

// One set of [T] tables (all of one dtype).
struct ScheduleTables {
  at::Tensor betas, alphas, alphas_cumprod, alphas_cumprod_prev;
  at::Tensor sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod, log_one_minus_alphas_cumprod;
  at::Tensor sqrt_recip_alphas_cumprod, sqrt_recipm1_alphas_cumprod;
  // q(x_{t-1} | x_t, x_0), v_posterior = 0 (LVDM, guided-diffusion)
  at::Tensor posterior_variance;
  at::Tensor posterior_log_variance_clipped;  // LVDM: log(max(var, 1e-20))
  at::Tensor posterior_mean_coef1, posterior_mean_coef2;
};

class NoiseSchedule {
 public:
  explicit NoiseSchedule(const ScheduleConfig& cfg);
  // From explicit float64 betas (e.g. a respaced schedule, or `betas` stored in a checkpoint).
  static NoiseSchedule from_betas(const at::Tensor& betas, ScheduleConvention conv = ScheduleConvention::Ldm);
  // LVDM / LDM config: `linear_start`, `linear_end`, `beta_schedule` word as in their YAML.
  static NoiseSchedule lvdm(double linear_start = 0.0015, double linear_end = 0.0155,
                            const std::string& beta_schedule = "linear", int64_t timesteps = 1000);
  // guided-diffusion / Latte get_named_beta_schedule(name, T): "linear" (β scaled by 1000/T:
  // 1e-4 → 0.02 at T = 1000) or "squaredcos_cap_v2".
  static NoiseSchedule guided_diffusion(const std::string& name = "linear", int64_t timesteps = 1000);
  // diffusers scheduler config (beta_schedule: linear | scaled_linear | squaredcos_cap_v2).
  static NoiseSchedule diffusers(const std::string& beta_schedule, double beta_start = 0.0001,
                                 double beta_end = 0.02, int64_t num_train_timesteps = 1000);

  int64_t num_train_timesteps() const { return T_; }
  const ScheduleConfig& config() const { return cfg_; }
  ScheduleConvention convention() const { return cfg_.convention; }

  const ScheduleTables& f64() const { return f64_; }  // float64
  // float32 view: each float64 table rounded to float32 (LVDM's register_schedule buffers;
  // for the diffusers convention, betas/alphas/alphas_cumprod are diffusers' float32 tensors).
  const ScheduleTables& f32() const { return f32_; }
  // Tables in the precision of `x`: float64 for float64 x, the float32 view otherwise, cast to
  // x's dtype and device.
  ScheduleTables tables_for(const at::Tensor& x) const;

  // Forward process q(x_t | x_0) (LVDM q_sample / diffusers add_noise):
  //   sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·noise, t: [B] int64, coefficients per tables_for(x0).
  at::Tensor q_sample(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const;
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& t) const {
    return q_sample(x0, t, noise);
  }

  // Conversions between parameterisations (t: [B] int64; LVDM predict_start_from_noise etc.).
  at::Tensor x0_from_eps(const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& eps) const;
  at::Tensor eps_from_x0(const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& x0) const;
  at::Tensor v_from_eps(const at::Tensor& x0, const at::Tensor& eps, const at::Tensor& t) const;  // diffusers get_velocity
  at::Tensor x0_from_v(const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& v) const;
  at::Tensor eps_from_v(const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& v) const;

 private:
  NoiseSchedule(const ScheduleConfig& cfg, const at::Tensor& betas);
  void build(const at::Tensor& betas, const at::Tensor& alphas_cumprod);
  at::Tensor extract(const at::Tensor& table, const at::Tensor& t, const at::Tensor& like) const;

  ScheduleConfig cfg_;
  int64_t T_ = 0;
  ScheduleTables f64_, f32_;
};

// Betas as the reference computes them, returned as float64 (values of float32 computations
// for the diffusers convention).
at::Tensor make_betas(const ScheduleConfig& cfg);

}  // namespace longvid
