#include "sampler/schedule.h"

#include <cmath>

#include "core/error.h"

namespace longvid {

namespace {

constexpr double kPi = 3.14159265358979323846;  // == numpy.pi == math.pi

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

at::TensorOptions opt_f64() { return at::TensorOptions().dtype(at::kDouble); }
at::TensorOptions opt_f32() { return at::TensorOptions().dtype(at::kFloat); }

}  // namespace

BetaSchedule parse_beta_schedule(const std::string& word_in, const std::string& convention_in) {
  const std::string word = lower(word_in), conv = lower(convention_in);
  if (conv == "ldm" || conv == "lvdm") {
    // LDM/LVDM make_beta_schedule: "linear" squares a linspace of square roots (= diffusers
    // scaled_linear) and "sqrt_linear" is the plain linspace: the names are misleading.
    if (word == "linear") return BetaSchedule::ScaledLinear;
    if (word == "sqrt_linear") return BetaSchedule::Linear;
    if (word == "cosine") return BetaSchedule::Cosine;
    if (word == "sqrt") return BetaSchedule::Sqrt;
  } else if (conv == "diffusers") {
    if (word == "linear") return BetaSchedule::Linear;
    if (word == "scaled_linear") return BetaSchedule::ScaledLinear;
    if (word == "squaredcos_cap_v2") return BetaSchedule::Cosine;
  } else if (conv == "guided-diffusion" || conv == "latte") {
    if (word == "linear") return BetaSchedule::Linear;
    if (word == "cosine" || word == "squaredcos_cap_v2") return BetaSchedule::Cosine;
  } else {
    fail("unknown beta-schedule convention '{}' (expected ldm, diffusers or guided-diffusion)", convention_in);
  }
  fail("unknown beta schedule '{}' for {} configs", word_in, convention_in);
}

std::string to_string(BetaSchedule kind) {
  switch (kind) {
    case BetaSchedule::ScaledLinear: return "scaled_linear";
    case BetaSchedule::Linear: return "linear";
    case BetaSchedule::Cosine: return "cosine";
    case BetaSchedule::Sqrt: return "sqrt";
  }
  return "?";
}

at::Tensor make_betas(const ScheduleConfig& cfg) {
  const int64_t T = cfg.num_train_timesteps;
  if (T < 1) fail("num_train_timesteps must be >= 1 (got {})", T);
  const double b0 = cfg.beta_start, b1 = cfg.beta_end;
  if (cfg.convention == ScheduleConvention::Diffusers) {
    // diffusers: torch float32 from the start (quirk "diffusers float32 betas").
    switch (cfg.kind) {
      case BetaSchedule::Linear: return at::linspace(b0, b1, T, opt_f32()).to(at::kDouble);
      case BetaSchedule::ScaledLinear:
        return at::linspace(std::pow(b0, 0.5), std::pow(b1, 0.5), T, opt_f32()).pow(2).to(at::kDouble);
      case BetaSchedule::Cosine: {
        // betas_for_alpha_bar(T, max_beta=0.999, "cosine"): Python float math, then float32.
        auto alpha_bar = [](double t) {
          const double c = std::cos((t + 0.008) / 1.008 * kPi / 2);
          return c * c;
        };
        std::vector<double> b(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) {
          const double t1 = static_cast<double>(i) / T, t2 = static_cast<double>(i + 1) / T;
          b[static_cast<size_t>(i)] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999);
        }
        return at::tensor(b, opt_f64()).to(at::kFloat).to(at::kDouble);
      }
      case BetaSchedule::Sqrt: fail("beta schedule 'sqrt' has no diffusers equivalent");
    }
  }
  if (cfg.convention == ScheduleConvention::GuidedDiffusion) {
    // numpy.linspace: start + i * ((stop - start) / (num - 1)), last element = stop.
    auto np_linspace = [T](double a, double b) {
      std::vector<double> y(static_cast<size_t>(T));
      const double step = T > 1 ? (b - a) / static_cast<double>(T - 1) : 0.0;
      for (int64_t i = 0; i < T; ++i) y[static_cast<size_t>(i)] = static_cast<double>(i) * step + a;
      if (T > 1) y.back() = b;
      return at::tensor(y, opt_f64());
    };
    switch (cfg.kind) {
      case BetaSchedule::Linear: return np_linspace(b0, b1);
      case BetaSchedule::ScaledLinear: return np_linspace(std::pow(b0, 0.5), std::pow(b1, 0.5)).pow(2);  // "quad"
      case BetaSchedule::Cosine: {
        auto alpha_bar = [](double t) {
          const double c = std::cos((t + 0.008) / 1.008 * kPi / 2);
          return c * c;
        };
        std::vector<double> b(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) {
          const double t1 = static_cast<double>(i) / T, t2 = static_cast<double>(i + 1) / T;
          b[static_cast<size_t>(i)] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999);
        }
        return at::tensor(b, opt_f64());
      }
      case BetaSchedule::Sqrt: fail("beta schedule 'sqrt' has no guided-diffusion equivalent");
    }
  }
  // LDM / LVDM make_beta_schedule (float64 torch, then numpy).
  switch (cfg.kind) {
    case BetaSchedule::ScaledLinear: return at::linspace(std::pow(b0, 0.5), std::pow(b1, 0.5), T, opt_f64()).pow(2);
    case BetaSchedule::Linear: return at::linspace(b0, b1, T, opt_f64());
    case BetaSchedule::Sqrt: return at::linspace(b0, b1, T, opt_f64()).pow(0.5);
    case BetaSchedule::Cosine: {
      const double s = cfg.cosine_s;
      auto ts = at::arange(T + 1, opt_f64()) / static_cast<double>(T) + s;
      auto a = ts / (1 + s) * kPi / 2;
      a = at::cos(a).pow(2);
      a = a / a[0];
      auto betas = 1 - a.slice(0, 1) / a.slice(0, 0, T);
      return betas.clamp(0.0, 0.999);
    }
  }
  fail("unknown beta schedule");
}

NoiseSchedule::NoiseSchedule(const ScheduleConfig& cfg) : NoiseSchedule(cfg, make_betas(cfg)) {}

NoiseSchedule::NoiseSchedule(const ScheduleConfig& cfg, const at::Tensor& betas_in) : cfg_(cfg) {
  auto betas = betas_in.to(at::kDouble).contiguous().cpu();
  if (betas.dim() != 1 || betas.size(0) < 1) fail("betas must be a non-empty 1-D tensor");
  if (!(betas.gt(0).all().item<bool>() && betas.le(1).all().item<bool>()))
    fail("betas must lie in (0, 1]");
  T_ = betas.size(0);
  cfg_.num_train_timesteps = T_;
  at::Tensor ac;
  if (cfg_.convention == ScheduleConvention::Diffusers) {
    // diffusers: alphas = 1 - betas and ᾱ = cumprod in float32.
    ac = at::cumprod(1.0 - betas.to(at::kFloat), 0).to(at::kDouble);
  } else {
    ac = at::cumprod(1.0 - betas, 0);  // numpy float64
  }
  build(betas, ac);
}

void NoiseSchedule::build(const at::Tensor& betas, const at::Tensor& ac) {
  ScheduleTables& d = f64_;
  d.betas = betas;
  d.alphas = cfg_.convention == ScheduleConvention::Diffusers ? (1.0 - betas.to(at::kFloat)).to(at::kDouble)
                                                              : 1.0 - betas;
  d.alphas_cumprod = ac;
  d.alphas_cumprod_prev = at::cat(std::vector<at::Tensor>{at::ones({1}, opt_f64()), ac.slice(0, 0, T_ - 1)});
  const auto& acp = d.alphas_cumprod_prev;
  // LVDM register_schedule (v_posterior = 0), op order kept.
  d.sqrt_alphas_cumprod = ac.sqrt();
  d.sqrt_one_minus_alphas_cumprod = (1. - ac).sqrt();
  d.log_one_minus_alphas_cumprod = (1. - ac).log();
  d.sqrt_recip_alphas_cumprod = (1. / ac).sqrt();
  d.sqrt_recipm1_alphas_cumprod = (1. / ac - 1).sqrt();
  d.posterior_variance = betas * (1. - acp) / (1. - ac);
  d.posterior_log_variance_clipped = at::clamp_min(d.posterior_variance, 1e-20).log();
  if (cfg_.convention == ScheduleConvention::GuidedDiffusion && T_ > 1) {
    // guided-diffusion clips differently: log(append(posterior_variance[1], posterior_variance[1:])).
    d.posterior_log_variance_clipped = d.posterior_log_variance_clipped.clone();
    d.posterior_log_variance_clipped[0] = d.posterior_variance[1].log();
  }
  d.posterior_mean_coef1 = betas * acp.sqrt() / (1. - ac);
  d.posterior_mean_coef2 = (1. - acp) * d.alphas.sqrt() / (1. - ac);

  // Quirk "LVDM float32 buffers": every table computed in float64, then stored as float32.
  auto r = [](const at::Tensor& t) { return t.to(at::kFloat); };
  f32_ = {r(d.betas), r(d.alphas), r(d.alphas_cumprod), r(d.alphas_cumprod_prev),
          r(d.sqrt_alphas_cumprod), r(d.sqrt_one_minus_alphas_cumprod), r(d.log_one_minus_alphas_cumprod),
          r(d.sqrt_recip_alphas_cumprod), r(d.sqrt_recipm1_alphas_cumprod), r(d.posterior_variance),
          r(d.posterior_log_variance_clipped), r(d.posterior_mean_coef1), r(d.posterior_mean_coef2)};
}

NoiseSchedule NoiseSchedule::from_betas(const at::Tensor& betas, ScheduleConvention conv) {
  ScheduleConfig cfg;
  cfg.convention = conv;
  cfg.num_train_timesteps = betas.numel();
  return NoiseSchedule(cfg, betas);
}

NoiseSchedule NoiseSchedule::lvdm(double linear_start, double linear_end, const std::string& beta_schedule,
                                  int64_t timesteps) {
  ScheduleConfig cfg;
  cfg.kind = parse_beta_schedule(beta_schedule, "ldm");
  cfg.beta_start = linear_start;
  cfg.beta_end = linear_end;
  cfg.num_train_timesteps = timesteps;
  cfg.convention = ScheduleConvention::Ldm;
  return NoiseSchedule(cfg);
}

NoiseSchedule NoiseSchedule::guided_diffusion(const std::string& name, int64_t timesteps) {
  ScheduleConfig cfg;
  cfg.kind = parse_beta_schedule(name, "guided-diffusion");
  const double scale = 1000.0 / static_cast<double>(timesteps);
  cfg.beta_start = scale * 0.0001;
  cfg.beta_end = scale * 0.02;
  cfg.num_train_timesteps = timesteps;
  cfg.convention = ScheduleConvention::GuidedDiffusion;
  return NoiseSchedule(cfg);
}

NoiseSchedule NoiseSchedule::diffusers(const std::string& beta_schedule, double beta_start, double beta_end,
                                       int64_t num_train_timesteps) {
  ScheduleConfig cfg;
  cfg.kind = parse_beta_schedule(beta_schedule, "diffusers");
  cfg.beta_start = beta_start;
  cfg.beta_end = beta_end;
  cfg.num_train_timesteps = num_train_timesteps;
  cfg.convention = ScheduleConvention::Diffusers;
  return NoiseSchedule(cfg);
}

ScheduleTables NoiseSchedule::tables_for(const at::Tensor& x) const {
  const bool dbl = x.scalar_type() == at::kDouble;
  const ScheduleTables& s = dbl ? f64_ : f32_;
  auto o = x.options();
  auto c = [&](const at::Tensor& t) { return t.to(o); };
  return {c(s.betas), c(s.alphas), c(s.alphas_cumprod), c(s.alphas_cumprod_prev), c(s.sqrt_alphas_cumprod),
          c(s.sqrt_one_minus_alphas_cumprod), c(s.log_one_minus_alphas_cumprod), c(s.sqrt_recip_alphas_cumprod),
          c(s.sqrt_recipm1_alphas_cumprod), c(s.posterior_variance), c(s.posterior_log_variance_clipped),
          c(s.posterior_mean_coef1), c(s.posterior_mean_coef2)};
}

at::Tensor NoiseSchedule::extract(const at::Tensor& table, const at::Tensor& t, const at::Tensor& like) const {
  if (t.dim() != 1 || t.size(0) != like.size(0))
    fail("timesteps must be a [B] tensor matching the batch ({} given for batch {})", c10::str(t.sizes()), like.size(0));
  auto tt = t.to(like.device(), at::kLong);
  if (tt.lt(0).any().item<bool>() || tt.ge(T_).any().item<bool>())
    fail("timestep out of range [0, {})", T_);
  const bool dbl = like.scalar_type() == at::kDouble;
  auto tab = (dbl ? table.to(at::kDouble) : table).to(like.device());
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return tab.index_select(0, tt).view(shape).to(like.scalar_type());
}

// The five helpers pick the float32 view for non-float64 inputs (LVDM buffers).
#define LV_TAB(name) (x.scalar_type() == at::kDouble ? f64_.name : f32_.name)

at::Tensor NoiseSchedule::q_sample(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const {
  const auto& x = x0;
  return extract(LV_TAB(sqrt_alphas_cumprod), t, x0) * x0 +
         extract(LV_TAB(sqrt_one_minus_alphas_cumprod), t, x0) * noise;
}

at::Tensor NoiseSchedule::x0_from_eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& eps) const {
  return extract(LV_TAB(sqrt_recip_alphas_cumprod), t, x) * x - extract(LV_TAB(sqrt_recipm1_alphas_cumprod), t, x) * eps;
}

at::Tensor NoiseSchedule::eps_from_x0(const at::Tensor& x, const at::Tensor& t, const at::Tensor& x0) const {
  return (extract(LV_TAB(sqrt_recip_alphas_cumprod), t, x) * x - x0) / extract(LV_TAB(sqrt_recipm1_alphas_cumprod), t, x);
}

at::Tensor NoiseSchedule::v_from_eps(const at::Tensor& x0, const at::Tensor& eps, const at::Tensor& t) const {
  const auto& x = x0;
  return extract(LV_TAB(sqrt_alphas_cumprod), t, x) * eps - extract(LV_TAB(sqrt_one_minus_alphas_cumprod), t, x) * x0;
}

at::Tensor NoiseSchedule::x0_from_v(const at::Tensor& x, const at::Tensor& t, const at::Tensor& v) const {
  return extract(LV_TAB(sqrt_alphas_cumprod), t, x) * x - extract(LV_TAB(sqrt_one_minus_alphas_cumprod), t, x) * v;
}

at::Tensor NoiseSchedule::eps_from_v(const at::Tensor& x, const at::Tensor& t, const at::Tensor& v) const {
  return extract(LV_TAB(sqrt_alphas_cumprod), t, x) * v + extract(LV_TAB(sqrt_one_minus_alphas_cumprod), t, x) * x;
}

#undef LV_TAB

}  // namespace longvid
