#include <doctest/doctest.h>

#include "core/error.h"
#include "core/rng.h"
#include "sampler/schedule.h"
#include "tests/sampler/sampler_fixture.h"

using namespace longvid;
using longvid::test::rel_err;
using longvid::test::SamplerFixture;

TEST_CASE("schedule: beta-schedule names map explicitly per convention") {
  CHECK(parse_beta_schedule("linear", "lvdm") == BetaSchedule::ScaledLinear);
  CHECK(parse_beta_schedule("sqrt_linear", "ldm") == BetaSchedule::Linear);
  CHECK(parse_beta_schedule("cosine", "ldm") == BetaSchedule::Cosine);
  CHECK(parse_beta_schedule("sqrt", "ldm") == BetaSchedule::Sqrt);
  CHECK(parse_beta_schedule("linear", "diffusers") == BetaSchedule::Linear);
  CHECK(parse_beta_schedule("scaled_linear", "diffusers") == BetaSchedule::ScaledLinear);
  CHECK(parse_beta_schedule("squaredcos_cap_v2", "diffusers") == BetaSchedule::Cosine);
  CHECK(parse_beta_schedule("linear", "latte") == BetaSchedule::Linear);
  CHECK_THROWS_AS(parse_beta_schedule("scaled_linear", "ldm"), Error);
  CHECK_THROWS_AS(parse_beta_schedule("quadratic", "diffusers"), Error);
  CHECK_THROWS_AS(parse_beta_schedule("linear", "k-diffusion"), Error);
  CHECK(to_string(BetaSchedule::ScaledLinear) == "scaled_linear");
}

TEST_CASE("schedule: LVDM make_beta_schedule (float64) matches the official code") {
  const auto& fx = SamplerFixture::get();
  struct Case {
    const char* tag;
    const char* word;
    double b0, b1;
  };
  const Case cases[] = {{"lvdm_linear", "linear", 0.0015, 0.0155},
                        {"lvdm_t2v", "linear", 0.00085, 0.012},
                        {"lvdm_cosine", "cosine", 1e-4, 2e-2},
                        {"lvdm_sqrt_linear", "sqrt_linear", 1e-4, 2e-2},
                        {"lvdm_sqrt", "sqrt", 1e-4, 2e-2}};
  for (const auto& c : cases) {
    auto s = NoiseSchedule::lvdm(c.b0, c.b1, c.word);
    auto ref = fx[std::string("sched/") + c.tag + "/betas64"];
    CHECK((s.f64().betas.scalar_type() == at::kDouble));
    const double e = rel_err(s.f64().betas, ref);
    std::printf("[parity] schedule %-18s betas float64 max rel err %.3g\n", c.tag, e);
    CHECK_MESSAGE(e <= 1e-14, c.tag);
  }
}

TEST_CASE("schedule: LVDM float32 buffers (register_schedule) match bit for bit") {
  const auto& fx = SamplerFixture::get();
  auto s = NoiseSchedule::lvdm(0.0015, 0.0155, "linear");
  const auto& f = s.f32();
  const std::pair<const char*, at::Tensor> bufs[] = {
      {"betas", f.betas},
      {"alphas_cumprod", f.alphas_cumprod},
      {"alphas_cumprod_prev", f.alphas_cumprod_prev},
      {"sqrt_alphas_cumprod", f.sqrt_alphas_cumprod},
      {"sqrt_one_minus_alphas_cumprod", f.sqrt_one_minus_alphas_cumprod},
      {"log_one_minus_alphas_cumprod", f.log_one_minus_alphas_cumprod},
      {"sqrt_recip_alphas_cumprod", f.sqrt_recip_alphas_cumprod},
      {"sqrt_recipm1_alphas_cumprod", f.sqrt_recipm1_alphas_cumprod},
      {"posterior_variance", f.posterior_variance},
      {"posterior_log_variance_clipped", f.posterior_log_variance_clipped},
      {"posterior_mean_coef1", f.posterior_mean_coef1},
      {"posterior_mean_coef2", f.posterior_mean_coef2}};
  double worst = 0;
  for (const auto& [name, mine] : bufs) {
    auto ref = fx[std::string("sched/lvdm_linear/f32/") + name];
    REQUIRE((mine.scalar_type() == at::kFloat));
    // element-wise relative error (all buffers are nonzero except posterior_variance[0])
    auto d = (mine.to(at::kDouble) - ref.to(at::kDouble)).abs() / ref.to(at::kDouble).abs().clamp_min(1e-30);
    const double e = d.max().item<double>();
    worst = std::max(worst, e);
    CHECK_MESSAGE(e <= 1.2e-7, name << " rel err " << e);  // at most one float32 ulp (np.log vs torch.log)
  }
  std::printf("[parity] LVDM float32 buffers: max elementwise rel err %.3g\n", worst);
}

TEST_CASE("schedule: diffusers float32 betas and alphas_cumprod match bit for bit") {
  const auto& fx = SamplerFixture::get();
  struct Case {
    const char* tag;
    const char* word;
    double b0, b1;
  };
  const Case cases[] = {{"diffusers_linear", "linear", 1e-4, 0.02},
                        {"diffusers_scaled_linear", "scaled_linear", 0.00085, 0.012},
                        {"diffusers_squaredcos_cap_v2", "squaredcos_cap_v2", 1e-4, 0.02}};
  for (const auto& c : cases) {
    auto s = NoiseSchedule::diffusers(c.word, c.b0, c.b1);
    auto b = fx[std::string("sched/") + c.tag + "/betas32"];
    auto ac = fx[std::string("sched/") + c.tag + "/alphas_cumprod32"];
    CHECK_MESSAGE(at::equal(s.f32().betas, b), c.tag);
    CHECK_MESSAGE(at::equal(s.f32().alphas_cumprod, ac), c.tag);
    std::printf("[parity] schedule %-28s betas rel err %.3g, alphas_cumprod rel err %.3g\n", c.tag,
                rel_err(s.f32().betas, b), rel_err(s.f32().alphas_cumprod, ac));
  }
  // diffusers' float32 cumprod differs from the float64 LDM one (why the convention exists).
  auto d = NoiseSchedule::diffusers("scaled_linear", 0.00085, 0.012);
  auto l = NoiseSchedule::lvdm(0.00085, 0.012, "linear");
  CHECK(rel_err(d.f64().alphas_cumprod, l.f64().alphas_cumprod) > 1e-7);
  CHECK(at::allclose(d.f64().alphas_cumprod, l.f64().alphas_cumprod, 1e-5, 0));
}

TEST_CASE("schedule: q_sample and eps / x0 / v conversions are consistent") {
  auto s = NoiseSchedule::lvdm();
  auto gen = make_generator(3);
  auto x0 = at::randn({2, 4, 2, 3, 3}, gen, at::kDouble);
  auto eps = at::randn({2, 4, 2, 3, 3}, gen, at::kDouble);
  auto t = at::tensor({7, 900}, at::kLong);
  auto xt = s.q_sample(x0, t, eps);
  CHECK(at::allclose(s.x0_from_eps(xt, t, eps), x0, 1e-10, 1e-10));
  CHECK(at::allclose(s.eps_from_x0(xt, t, x0), eps, 1e-10, 1e-10));
  auto v = s.v_from_eps(x0, eps, t);
  CHECK(at::allclose(s.x0_from_v(xt, t, v), x0, 1e-10, 1e-10));
  CHECK(at::allclose(s.eps_from_v(xt, t, v), eps, 1e-10, 1e-10));
  // float32 inputs use the float32 buffers (LVDM q_sample)
  auto x32 = s.q_sample(x0.to(at::kFloat), t, eps.to(at::kFloat));
  CHECK((x32.scalar_type() == at::kFloat));
  auto manual = s.f32().sqrt_alphas_cumprod.index_select(0, t).view({2, 1, 1, 1, 1}) * x0.to(at::kFloat) +
                s.f32().sqrt_one_minus_alphas_cumprod.index_select(0, t).view({2, 1, 1, 1, 1}) * eps.to(at::kFloat);
  CHECK(at::equal(x32, manual));
  CHECK_THROWS_AS(s.q_sample(x0, at::tensor({0, 1000}, at::kLong), eps), Error);
  CHECK_THROWS_AS(s.q_sample(x0, at::tensor({0}, at::kLong), eps), Error);
  CHECK_THROWS_AS(NoiseSchedule::diffusers("sqrt"), Error);
}
