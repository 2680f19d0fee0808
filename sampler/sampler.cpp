#include "sampler/sampler.h"

#include <cmath>
#include <set>

#include "core/error.h"

namespace longvid {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string canonical_method(const std::string& m_in) {
  const std::string m = lower(m_in);
  if (m == "ddim") return "ddim";
  if (m == "ddpm" || m == "ancestral") return "ddpm";
  if (m == "dpmpp_2m" || m == "dpmpp-2m" || m == "dpm++2m" || m == "dpmpp2m" || m == "dpm-solver++" ||
      m == "dpmsolver++" || m == "dpm++_2m")
    return "dpmpp_2m";
  fail("--sampler {}: unknown sampler (choose ddim, ddpm or dpmpp-2m)", m_in);
}

std::string canonical_spacing(const std::string& method, const std::string& s_in) {
  const std::string s = lower(s_in);
  if (s == "auto" || s.empty()) return method == "dpmpp_2m" ? "linspace" : "lvdm";
  if (s == "lvdm" || s == "leading" || s == "trailing" || s == "linspace" || s == "respaced") return s;
  fail("unknown timestep spacing '{}' (expected lvdm, leading, trailing, linspace or respaced)", s_in);
}

// numpy.round / Python round: half to even (default FP rounding mode).
int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

// np.linspace(0, stop, num) as numpy computes it (i·step, last element = stop).
std::vector<double> np_linspace0(double stop, int64_t num) {
  std::vector<double> y(static_cast<size_t>(num));
  if (num == 1) {
    y[0] = 0.0;
    return y;
  }
  const double step = stop / static_cast<double>(num - 1);
  for (int64_t i = 0; i < num; ++i) y[static_cast<size_t>(i)] = static_cast<double>(i) * step;
  y.back() = stop;
  return y;
}

// np.arange(start, 0, -step) for float step, as numpy fills it: length ceil(start/step),
// values start + i·delta with delta = (start - step) - start.
std::vector<double> np_arange_down(double start, double step) {
  const auto n = static_cast<int64_t>(std::ceil((0.0 - start) / -step));
  std::vector<double> y;
  if (n <= 0) return y;
  y.resize(static_cast<size_t>(n));
  y[0] = start;
  const double delta = (start + -step) - start;
  for (int64_t i = 1; i < n; ++i) y[static_cast<size_t>(i)] = start + static_cast<double>(i) * delta;
  return y;
}

// LVDM make_ddim_timesteps('uniform'): range(0, T, T // S) + 1, ascending.
std::vector<int64_t> lvdm_ddim_timesteps(int64_t S, int64_t T) {
  const int64_t c = T / S;
  std::vector<int64_t> ts;
  for (int64_t v = 0; v < T; v += c) ts.push_back(v + 1);
  return ts;
}

// guided-diffusion space_timesteps(T, "S") (one section): the kept original timesteps, ascending.
std::vector<int64_t> respaced_timesteps(int64_t S, int64_t T) {
  const double frac = S <= 1 ? 1.0 : static_cast<double>(T - 1) / static_cast<double>(S - 1);
  std::set<int64_t> taken;
  double cur = 0.0;
  for (int64_t i = 0; i < S; ++i) {
    taken.insert(round_half_even(cur));
    cur += frac;
  }
  return {taken.begin(), taken.end()};
}

// Descending timesteps of a method/spacing pair (no validation of range).
std::vector<int64_t> raw_timesteps(const std::string& method, const std::string& spacing, int64_t S, int64_t T,
                                   int64_t offset) {
  std::vector<int64_t> ts;
  if (method == "ddpm" || spacing == "respaced") {
    if (S == T) {
      for (int64_t t = T - 1; t >= 0; --t) ts.push_back(t);
    } else {
      ts = respaced_timesteps(S, T);
      std::reverse(ts.begin(), ts.end());
    }
    return ts;
  }
  if (spacing == "lvdm") {
    ts = lvdm_ddim_timesteps(S, T);
    std::reverse(ts.begin(), ts.end());
    return ts;
  }
  if (method == "ddim") {
    // diffusers DDIMScheduler.set_timesteps
    if (spacing == "linspace") {
      for (double v : np_linspace0(static_cast<double>(T - 1), S)) ts.push_back(round_half_even(v));
      std::reverse(ts.begin(), ts.end());
    } else if (spacing == "leading") {
      const int64_t r = T / S;
      for (int64_t i = S - 1; i >= 0; --i) ts.push_back(i * r + offset);
    } else {  // trailing
      for (double v : np_arange_down(static_cast<double>(T), static_cast<double>(T) / S))
        ts.push_back(round_half_even(v) - 1);
    }
    return ts;
  }
  // diffusers DPMSolverMultistepScheduler.set_timesteps (lambda_min_clipped = -inf: last_timestep = T)
  if (spacing == "linspace") {
    auto v = np_linspace0(static_cast<double>(T - 1), S + 1);
    for (int64_t i = S; i >= 1; --i) ts.push_back(round_half_even(v[static_cast<size_t>(i)]));
  } else if (spacing == "leading") {
    const int64_t r = T / (S + 1);
    for (int64_t i = S; i >= 1; --i) ts.push_back(i * r + offset);
  } else {  // trailing
    for (double v : np_arange_down(static_cast<double>(T), static_cast<double>(T) / S))
      ts.push_back(round_half_even(v) - 1);
  }
  return ts;
}

at::TensorOptions scalar_opts(const at::Tensor& x) { return x.options(); }

// A 0-d tensor of the state's dtype holding `v` rounded to that dtype (torch.full(size, v) with
// the default float32 dtype in LVDM; 0-d float32 tensors in diffusers).
at::Tensor sc(double v, const at::Tensor& x) { return at::scalar_tensor(v, scalar_opts(x)); }

struct ModelOut {
  at::Tensor out;  // first C channels, state dtype
  at::Tensor var;  // learned-sigma channels (undefined otherwise)
};

ModelOut eval_model(Denoiser& model, const at::Tensor& x, int64_t t, const Conditioning& cond) {
  const int64_t B = x.size(0), C = x.size(1);
  auto tt = at::full({B}, t, at::TensorOptions().dtype(at::kLong).device(x.device()));
  auto out = model.forward(x, tt, cond);
  if (!out.defined() || out.dim() != x.dim() || out.size(0) != B)
    fail("denoiser returned a tensor of shape {} for input {}", out.defined() ? c10::str(out.sizes()) : "(none)",
         c10::str(x.sizes()));
  ModelOut r;
  if (model.learned_sigma()) {
    if (out.size(1) != 2 * C) fail("learned-sigma denoiser returned {} channels for {} (expected {})", out.size(1), C, 2 * C);
    r.var = out.narrow(1, C, C).to(x.scalar_type());
    r.out = out.narrow(1, 0, C).to(x.scalar_type());
  } else {
    if (out.size(1) != C) fail("denoiser returned {} channels for a {}-channel latent", out.size(1), C);
    r.out = out.to(x.scalar_type());
  }
  return r;
}

class NoiseSource {
 public:
  NoiseSource(at::Generator& gen, const NoiseFn& fn) : gen_(gen), fn_(fn) {}
  at::Tensor operator()(int step, const at::Tensor& like) {
    at::Tensor n;
    if (fn_) {
      n = fn_(step, like);
      if (!n.defined() || n.sizes() != like.sizes()) fail("noise provider returned a tensor of the wrong shape");
      return n.to(like.options());
    }
    if (gen_.device() == like.device()) return at::randn(like.sizes(), gen_, like.options());
    return at::randn(like.sizes(), gen_, like.options().device(gen_.device())).to(like.device());
  }

 private:
  at::Generator& gen_;
  const NoiseFn& fn_;
};

void report(const ProgressFn& progress, int64_t done, int64_t total) {
  if (progress) progress(done, total);
}

// ---------------------------------------------------------------------------------------------
// DDIM, LVDM's DDIMSampler (spacing "lvdm").
at::Tensor ddim_lvdm(Denoiser& model, const NoiseSchedule& sched, at::Tensor x, const Conditioning& cond,
                     const SamplerOptions& o, const std::vector<int64_t>& ts_desc, NoiseSource& noise,
                     const ProgressFn& progress, const StepHooks& hooks) {
  const int64_t N = static_cast<int64_t>(ts_desc.size());
  std::vector<int64_t> ts(ts_desc.rbegin(), ts_desc.rend());  // ascending, as ddim_timesteps
  // Quirk "LVDM DDIM float32 buffers": make_ddim_sampling_parameters reads the model's float32
  // alphas_cumprod buffer: ddim_alphas = ac32[ts] (float32); alphas_prev = [ac32[0]] + ac32[ts[:-1]]
  // as a float64 numpy array ("alphas_prev[0] = ᾱ[0]", not 1); sigmas are computed in float64
  // from those float32 values except the division by (1 - alphas): `ndarray / tensor` defers to
  // Tensor.__rtruediv__ = reciprocal() * other, so 1 / (1 - a) is a float32 reciprocal:
  //   sigma = eta * sqrt((1 - prev) * f64(recip32(1 - a32)) * (1 - f64(a32) / prev)).
  // Every per-step scalar is then rounded to float32 by torch.full, and the update runs in float32.
  const at::Tensor ac32 = sched.f32().alphas_cumprod;
  const float* ac = ac32.data_ptr<float>();
  std::vector<float> a(static_cast<size_t>(N)), sqrt1m(static_cast<size_t>(N));
  std::vector<double> prev(static_cast<size_t>(N)), sigma(static_cast<size_t>(N));
  for (int64_t k = 0; k < N; ++k) {
    a[k] = ac[ts[k]];
    prev[k] = k == 0 ? static_cast<double>(ac[0]) : static_cast<double>(ac[ts[k - 1]]);
    const float one_minus_a = 1.0f - a[k];
    const float recip = 1.0f / one_minus_a;
    sigma[k] = o.eta * std::sqrt((1 - prev[k]) * static_cast<double>(recip) *
                                 (1 - static_cast<double>(a[k]) / prev[k]));
    sqrt1m[k] = std::sqrt(one_minus_a);  // np.sqrt(1. - ddim_alphas) on float32
  }
  const Prediction pred = model.prediction();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t index = N - i - 1, t = ts[index];
    at::Tensor none;
    if (hooks.before_model) hooks.before_model(static_cast<int>(i), t, x, none);
    auto mo = eval_model(model, x, t, cond);
    const auto& e_out = mo.out;
    auto a_t = sc(a[index], x), a_prev = sc(prev[index], x), sigma_t = sc(sigma[index], x);
    auto s1m = sc(sqrt1m[index], x);
    at::Tensor pred_x0, e_t;
    switch (pred) {
      case Prediction::Eps:
        e_t = e_out;
        pred_x0 = (x - s1m * e_t) / a_t.sqrt();
        break;
      case Prediction::V:
        pred_x0 = a_t.sqrt() * x - s1m * e_out;
        e_t = a_t.sqrt() * e_out + s1m * x;
        break;
      case Prediction::Sample:
        pred_x0 = e_out;
        e_t = (x - a_t.sqrt() * pred_x0) / s1m;
        break;
    }
    if (o.clip_denoised) pred_x0 = pred_x0.clamp(-1., 1.);
    auto dir_xt = (1. - a_prev - sigma_t.pow(2)).sqrt() * e_t;
    at::Tensor x_prev = a_prev.sqrt() * pred_x0 + dir_xt;
    if (sigma[index] != 0.0) x_prev = x_prev + sigma_t * noise(static_cast<int>(i), x);
    x = x_prev;
    if (hooks.after_step) hooks.after_step(static_cast<int>(i), t, x, pred_x0);
    report(progress, i + 1, N);
  }
  return x;
}

// DDIM, diffusers' DDIMScheduler.step (spacings leading / trailing / linspace).
at::Tensor ddim_diffusers(Denoiser& model, const NoiseSchedule& sched, at::Tensor x, const Conditioning& cond,
                          const SamplerOptions& o, const std::vector<int64_t>& ts, NoiseSource& noise,
                          const ProgressFn& progress, const StepHooks& hooks) {
  const int64_t N = static_cast<int64_t>(ts.size()), T = sched.num_train_timesteps();
  // diffusers keeps alphas_cumprod as a float32 tensor; scalars are 0-d float32 tensors.
  const at::Tensor ac = x.scalar_type() == at::kDouble ? sched.f64().alphas_cumprod : sched.f32().alphas_cumprod;
  const auto acv = ac.to(x.options());
  const at::Tensor final_ac = o.set_alpha_to_one ? sc(1.0, x) : acv[0];
  const Prediction pred = model.prediction();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = ts[i];
    // Quirk "diffusers DDIM prev_timestep": prev = t - T // S whatever the spacing (for
    // "linspace" this is not the next timestep of the list).
    const int64_t prev_t = t - T / o.steps;
    at::Tensor none;
    if (hooks.before_model) hooks.before_model(static_cast<int>(i), t, x, none);
    auto mo = eval_model(model, x, t, cond);
    auto alpha_prod_t = acv[t];
    auto alpha_prod_t_prev = prev_t >= 0 ? acv[prev_t] : final_ac;
    auto beta_prod_t = 1 - alpha_prod_t;
    at::Tensor x0, eps;
    switch (pred) {
      case Prediction::Eps:
        x0 = (x - beta_prod_t.pow(0.5) * mo.out) / alpha_prod_t.pow(0.5);
        eps = mo.out;
        break;
      case Prediction::Sample:
        x0 = mo.out;
        eps = (x - alpha_prod_t.pow(0.5) * x0) / beta_prod_t.pow(0.5);
        break;
      case Prediction::V:
        x0 = alpha_prod_t.pow(0.5) * x - beta_prod_t.pow(0.5) * mo.out;
        eps = alpha_prod_t.pow(0.5) * mo.out + beta_prod_t.pow(0.5) * x;
        break;
    }
    if (o.clip_denoised) x0 = x0.clamp(-1.0, 1.0);
    auto beta_prod_t_prev = 1 - alpha_prod_t_prev;
    auto variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev);
    auto std_dev_t = variance.pow(0.5) * o.eta;
    auto dir = (1 - alpha_prod_t_prev - std_dev_t.pow(2)).pow(0.5) * eps;
    at::Tensor x_prev = alpha_prod_t_prev.pow(0.5) * x0 + dir;
    if (o.eta > 0) x_prev = x_prev + std_dev_t * noise(static_cast<int>(i), x);
    x = x_prev;
    if (hooks.after_step) hooks.after_step(static_cast<int>(i), t, x, x0);
    report(progress, i + 1, N);
  }
  return x;
}

// DPM-Solver++(2M), diffusers' DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint,
// final_sigmas_type "zero").
at::Tensor dpmpp_2m(Denoiser& model, const NoiseSchedule& sched, at::Tensor x, const Conditioning& cond,
                    const SamplerOptions& o, const std::vector<int64_t>& ts, const ProgressFn& progress,
                    const StepHooks& hooks) {
  const int64_t N = static_cast<int64_t>(ts.size());
  // sigma = ((1 - ᾱ) / ᾱ) ** 0.5 computed on the float32 ᾱ tensor, gathered at the timesteps
  // (np.interp at integer points is exact), final sigma 0, stored as float32.
  const at::Tensor ac = x.scalar_type() == at::kDouble ? sched.f64().alphas_cumprod : sched.f32().alphas_cumprod;
  const at::Tensor sig_all = ((1 - ac) / ac).pow(0.5);
  std::vector<at::Tensor> sig;
  for (int64_t t : ts) sig.push_back(sig_all[t].to(x.options()));
  sig.push_back(sc(0.0, x));
  auto alpha_sigma = [](const at::Tensor& s) {
    auto alpha = 1 / (s.pow(2) + 1).pow(0.5);
    return std::make_pair(alpha, s * alpha);
  };
  const Prediction pred = model.prediction();
  at::Tensor m_prev;  // previous x0 prediction
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = ts[i];
    at::Tensor none;
    if (hooks.before_model) hooks.before_model(static_cast<int>(i), t, x, none);
    auto mo = eval_model(model, x, t, cond);
    auto [alpha_s0, sigma_s0] = alpha_sigma(sig[i]);
    at::Tensor x0;
    switch (pred) {
      case Prediction::Eps: x0 = (x - sigma_s0 * mo.out) / alpha_s0; break;
      case Prediction::Sample: x0 = mo.out; break;
      case Prediction::V: x0 = alpha_s0 * x - sigma_s0 * mo.out; break;
    }
    if (o.clip_denoised) x0 = x0.clamp(-1.0, 1.0);  // diffusers has thresholding only; clip is ours
    auto [alpha_t, sigma_t] = alpha_sigma(sig[i + 1]);
    auto lambda_t = at::log(alpha_t) - at::log(sigma_t);
    auto lambda_s0 = at::log(alpha_s0) - at::log(sigma_s0);
    auto h = lambda_t - lambda_s0;
    // lower_order_final: with final sigma 0 diffusers always takes a first-order last step.
    const bool first_order = i == 0 || i == N - 1;
    at::Tensor x_next;
    if (first_order) {
      x_next = (sigma_t / sigma_s0) * x - (alpha_t * (at::exp(-h) - 1.0)) * x0;
    } else {
      auto [alpha_s1, sigma_s1] = alpha_sigma(sig[i - 1]);
      auto lambda_s1 = at::log(alpha_s1) - at::log(sigma_s1);
      auto h_0 = lambda_s0 - lambda_s1;
      auto r0 = h_0 / h;
      const auto& D0 = x0;
      auto D1 = (1.0 / r0) * (x0 - m_prev);
      x_next = (sigma_t / sigma_s0) * x - (alpha_t * (at::exp(-h) - 1.0)) * D0 -
               0.5 * (alpha_t * (at::exp(-h) - 1.0)) * D1;
    }
    m_prev = x0;
    x = x_next;
    if (hooks.after_step) hooks.after_step(static_cast<int>(i), t, x, x0);
    report(progress, i + 1, N);
  }
  return x;
}

// guided-diffusion SpacedDiffusion: betas'_i = 1 - ᾱ[use_i] / ᾱ[use_{i-1}], a new float64
// schedule whose index i maps to the original timestep use_i (ascending) for the model.
NoiseSchedule respaced_schedule(const NoiseSchedule& base, const std::vector<int64_t>& use) {
  const double* ac = base.f64().alphas_cumprod.data_ptr<double>();
  std::vector<double> nb;
  double last = 1.0;
  for (int64_t t : use) {
    nb.push_back(1 - ac[t] / last);
    last = ac[t];
  }
  return NoiseSchedule::from_betas(at::tensor(nb, at::TensorOptions().dtype(at::kDouble)),
                                   ScheduleConvention::GuidedDiffusion);
}

// DDIM as guided-diffusion's ddim_sample on a SpacedDiffusion (Latte's DDIM). Tables are the
// float64 respaced ones rounded to float32 at extraction (_extract_into_tensor(...).float());
// eps is re-derived from pred_x0; the last step (index 0) has ᾱ_prev = 1 and no noise.
at::Tensor ddim_respaced(Denoiser& model, const NoiseSchedule& base, at::Tensor x, const Conditioning& cond,
                         const SamplerOptions& o, const std::vector<int64_t>& ts_desc, NoiseSource& noise,
                         const ProgressFn& progress, const StepHooks& hooks) {
  const int64_t N = static_cast<int64_t>(ts_desc.size());
  const std::vector<int64_t> use(ts_desc.rbegin(), ts_desc.rend());
  const NoiseSchedule s = respaced_schedule(base, use);
  const ScheduleTables tab = s.tables_for(x);
  const Prediction pred = model.prediction();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t idx = N - 1 - i, t = use[idx];
    at::Tensor none;
    if (hooks.before_model) hooks.before_model(static_cast<int>(i), t, x, none);
    auto mo = eval_model(model, x, t, cond);
    at::Tensor x0;
    switch (pred) {
      case Prediction::Eps:
        x0 = tab.sqrt_recip_alphas_cumprod[idx] * x - tab.sqrt_recipm1_alphas_cumprod[idx] * mo.out;
        break;
      case Prediction::Sample: x0 = mo.out; break;
      case Prediction::V:
        x0 = tab.sqrt_alphas_cumprod[idx] * x - tab.sqrt_one_minus_alphas_cumprod[idx] * mo.out;
        break;
    }
    if (o.clip_denoised) x0 = x0.clamp(-1, 1);
    auto eps = (tab.sqrt_recip_alphas_cumprod[idx] * x - x0) / tab.sqrt_recipm1_alphas_cumprod[idx];
    auto ab = tab.alphas_cumprod[idx], abp = tab.alphas_cumprod_prev[idx];
    auto sigma = o.eta * at::sqrt((1 - abp) / (1 - ab)) * at::sqrt(1 - ab / abp);
    at::Tensor x_prev = x0 * at::sqrt(abp) + at::sqrt(1 - abp - sigma.pow(2)) * eps;
    if (idx != 0 && o.eta > 0) x_prev = x_prev + sigma * noise(static_cast<int>(i), x);
    x = x_prev;
    if (hooks.after_step) hooks.after_step(static_cast<int>(i), t, x, x0);
    report(progress, i + 1, N);
  }
  return x;
}

// Ancestral DDPM: LVDM p_sample_loop (full chain) or guided-diffusion respacing.
at::Tensor ddpm(Denoiser& model, const NoiseSchedule& base, at::Tensor x, const Conditioning& cond,
                const SamplerOptions& o, const std::vector<int64_t>& ts_desc, NoiseSource& noise,
                const ProgressFn& progress, const StepHooks& hooks) {
  const int64_t N = static_cast<int64_t>(ts_desc.size()), T = base.num_train_timesteps();
  std::vector<int64_t> use(ts_desc.rbegin(), ts_desc.rend());  // ascending original timesteps
  std::optional<NoiseSchedule> spaced;
  if (N != T) spaced = respaced_schedule(base, use);
  const NoiseSchedule& s = spaced ? *spaced : base;
  const ScheduleTables tab = s.tables_for(x);
  std::string var = lower(o.variance);
  if (var == "auto") var = model.learned_sigma() ? "learned_range" : "fixed_small";
  if (var == "learned_range" && !model.learned_sigma())
    fail("--variance learned_range needs a learned-sigma model (2C output channels)");
  at::Tensor log_betas;  // learned_range upper bound: float32(log(float64 betas)) (guided-diffusion)
  if (var == "learned_range") log_betas = s.f64().betas.log().to(x.options());
  at::Tensor fixed_logvar = tab.posterior_log_variance_clipped;
  if (var == "fixed_large") {
    // guided-diffusion FIXED_LARGE: log(append(posterior_variance[1], betas[1:])) in float64.
    const auto& d = s.f64();
    auto v = d.betas.clone();
    if (v.numel() > 1) v[0] = d.posterior_variance[1];
    fixed_logvar = v.log().to(x.options());
  }
  const Prediction pred = model.prediction();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t idx = N - 1 - i, t = use[idx];
    at::Tensor none;
    if (hooks.before_model) hooks.before_model(static_cast<int>(i), t, x, none);
    auto mo = eval_model(model, x, t, cond);
    at::Tensor x_recon;
    switch (pred) {
      case Prediction::Eps:  // predict_start_from_noise
        x_recon = tab.sqrt_recip_alphas_cumprod[idx] * x - tab.sqrt_recipm1_alphas_cumprod[idx] * mo.out;
        break;
      case Prediction::Sample: x_recon = mo.out; break;
      case Prediction::V:
        x_recon = tab.sqrt_alphas_cumprod[idx] * x - tab.sqrt_one_minus_alphas_cumprod[idx] * mo.out;
        break;
    }
    if (o.clip_denoised) x_recon = x_recon.clamp(-1., 1.);
    auto mean = tab.posterior_mean_coef1[idx] * x_recon + tab.posterior_mean_coef2[idx] * x;
    at::Tensor x_prev;
    if (idx == 0) {
      x_prev = mean;  // "no noise when t == 0" (LVDM adds 0·noise: identical)
    } else {
      at::Tensor logvar = fixed_logvar[idx];
      if (var == "learned_range") {
        // guided-diffusion LEARNED_RANGE: interpolate between posterior and beta log-variances.
        auto frac = (mo.var + 1) / 2;
        logvar = frac * log_betas[idx] + (1 - frac) * logvar;
      }
      x_prev = mean + (0.5 * logvar).exp() * noise(static_cast<int>(i), x);
    }
    x = x_prev;
    if (hooks.after_step) hooks.after_step(static_cast<int>(i), t, x, x_recon);
    report(progress, i + 1, N);
  }
  return x;
}

}  // namespace

std::string check_sampler_options(const SamplerOptions& o, int64_t T) {
  const std::string method = canonical_method(o.method);
  const std::string spacing = canonical_spacing(method, o.spacing);
  if (o.steps < 1) fail("--steps must be at least 1 (got {})", o.steps);
  if (o.steps > T) fail("--steps {} exceeds the {} training timesteps of the schedule", o.steps, T);
  if (!(o.eta >= 0.0) || !std::isfinite(o.eta)) fail("--eta must be a finite value >= 0 (got {})", o.eta);
  if (o.steps_offset < 0) fail("steps_offset must be >= 0 (got {})", o.steps_offset);
  const std::string var = lower(o.variance);
  if (var != "auto" && var != "fixed_small" && var != "fixed_large" && var != "learned_range")
    fail("unknown --variance '{}' (expected auto, fixed_small, fixed_large or learned_range)", o.variance);
  auto ts = raw_timesteps(method, spacing, o.steps, T, o.steps_offset);
  for (int64_t t : ts) {
    if (t < 0 || t >= T) {
      if (spacing == "lvdm")
        fail("--steps {} is not usable with LVDM spacing: its timesteps range(0, {}, {}) + 1 reach {} >= {} "
             "(the official sampler fails there too); try e.g. --steps 50",
             o.steps, T, T / o.steps, t, T);
      fail("--steps {} with '{}' spacing gives timestep {} outside [0, {}) (steps_offset {})", o.steps, spacing, t, T,
           o.steps_offset);
    }
  }
  return method;
}

std::vector<int64_t> sampling_timesteps(const SamplerOptions& o, int64_t T) {
  const std::string method = check_sampler_options(o, T);
  return raw_timesteps(method, canonical_spacing(method, o.spacing), o.steps, T, o.steps_offset);
}

at::Tensor sample(Denoiser& model, const NoiseSchedule& sched, at::Tensor x_T, const Conditioning& cond,
                  const SamplerOptions& opts, at::Generator& gen, const ProgressFn& progress,
                  const StepHooks& hooks, const NoiseFn& noise_fn) {
  const int64_t T = sched.num_train_timesteps();
  const std::string method = check_sampler_options(opts, T);
  const std::string spacing = canonical_spacing(method, opts.spacing);
  if (!x_T.defined() || x_T.dim() < 2 || !at::isFloatingType(x_T.scalar_type()))
    fail("sampler: x_T must be a floating-point tensor [B, C, ...]");
  // State dtype: float32 (float64 kept); copy so hooks never edit the caller's tensor.
  const auto dt = x_T.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor x = x_T.to(dt).clone();
  const auto ts = raw_timesteps(method, spacing, opts.steps, T, opts.steps_offset);
  NoiseSource noise(gen, noise_fn);
  at::NoGradGuard no_grad;
  if (method == "ddpm") return ddpm(model, sched, x, cond, opts, ts, noise, progress, hooks);
  if (method == "dpmpp_2m") return dpmpp_2m(model, sched, x, cond, opts, ts, progress, hooks);
  if (spacing == "lvdm") return ddim_lvdm(model, sched, x, cond, opts, ts, noise, progress, hooks);
  if (spacing == "respaced") return ddim_respaced(model, sched, x, cond, opts, ts, noise, progress, hooks);
  return ddim_diffusers(model, sched, x, cond, opts, ts, noise, progress, hooks);
}

// ---- guidance --------------------------------------------------------------------------------

GuidanceMode parse_guidance_mode(const std::string& name) {
  const std::string n = lower(name);
  if (n == "cfg") return GuidanceMode::Cfg;
  if (n == "lvdm_uncond" || n == "cfg_original" || n == "lvdm") return GuidanceMode::LvdmUncond;
  fail("unknown guidance mode '{}' (expected cfg or lvdm_uncond)", name);
}

GuidedDenoiser::GuidedDenoiser(Denoiser& model, Conditioning uncond, double scale, GuidanceMode mode,
                               bool allow_batching)
    : model_(model), uncond_(std::move(uncond)), scale_(scale), mode_(mode), allow_batching_(allow_batching) {
  if (!std::isfinite(scale)) fail("guidance scale must be finite");
}

bool GuidedDenoiser::is_identity() const {
  // LVDM: p_sample_ddim skips the unconditional pass at scale 1 (cfg); its scripts pass no
  // unconditional conditioning for cfg_original at scale 0.
  return mode_ == GuidanceMode::Cfg ? scale_ == 1.0 : scale_ == 0.0;
}

namespace {

bool same_field(const at::Tensor& a, const at::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && a.device() == b.device();
}

at::Tensor cat2(const at::Tensor& u, const at::Tensor& c) { return u.defined() ? at::cat({u, c}, 0) : at::Tensor(); }

}  // namespace

at::Tensor GuidedDenoiser::forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) {
  last_batched_ = false;
  if (is_identity()) return model_.forward(x, t, c);
  // An unconditional field given for batch 1 (e.g. the empty-prompt embedding) serves any batch.
  const int64_t B = x.size(0);
  auto fit = [B](const at::Tensor& f) {
    if (!f.defined() || f.dim() == 0 || f.size(0) != 1 || B == 1) return f;
    auto sz = f.sizes().vec();
    sz[0] = B;
    return f.expand(sz);
  };
  Conditioning u;
  u.mask = fit(uncond_.mask);
  u.cond_latent = fit(uncond_.cond_latent);
  u.cond_noise_level = fit(uncond_.cond_noise_level);
  u.class_label = fit(uncond_.class_label);
  u.context = fit(uncond_.context);
  const bool batch = allow_batching_ && same_field(c.mask, u.mask) && same_field(c.cond_latent, u.cond_latent) &&
                     same_field(c.cond_noise_level, u.cond_noise_level) &&
                     same_field(c.class_label, u.class_label) && same_field(c.context, u.context);
  at::Tensor e_c, e_u;
  if (batch) {
    Conditioning cc;
    cc.mask = cat2(u.mask, c.mask);
    cc.cond_latent = cat2(u.cond_latent, c.cond_latent);
    cc.cond_noise_level = cat2(u.cond_noise_level, c.cond_noise_level);
    cc.class_label = cat2(u.class_label, c.class_label);
    cc.context = cat2(u.context, c.context);
    auto out = model_.forward(at::cat({x, x}, 0), at::cat({t, t}, 0), cc);
    auto halves = out.chunk(2, 0);
    e_u = halves[0];
    e_c = halves[1];
    last_batched_ = true;
  } else {
    e_c = model_.forward(x, t, c);
    e_u = model_.forward(x, t, u);
  }
  at::Tensor var;
  if (model_.learned_sigma()) {
    const int64_t C = e_c.size(1) / 2;
    var = e_c.narrow(1, C, C);
    e_c = e_c.narrow(1, 0, C);
    e_u = e_u.narrow(1, 0, C);
  }
  at::Tensor g = mode_ == GuidanceMode::Cfg ? e_u + scale_ * (e_c - e_u) : e_c + scale_ * (e_c - e_u);
  return var.defined() ? at::cat({g, var}, 1) : g;
}

StepHook overwrite_frames_hook(at::Tensor values, std::vector<int64_t> frames) {
  if (!values.defined() || values.dim() != 5 || values.size(2) != static_cast<int64_t>(frames.size()))
    fail("overwrite_frames_hook: values must be [B, C, {}, H, W]", frames.size());
  return [values = std::move(values), frames = std::move(frames)](int, int64_t, at::Tensor& x, at::Tensor&) {
    auto v = values.to(x.options());
    for (size_t i = 0; i < frames.size(); ++i) {
      const int64_t f = frames[i];
      if (f < 0 || f >= x.size(2)) fail("overwrite_frames_hook: frame {} outside the {} latent frames", f, x.size(2));
      x.select(2, f).copy_(v.select(2, static_cast<int64_t>(i)));
    }
  };
}

}  // namespace longvid
