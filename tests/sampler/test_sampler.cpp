#include <doctest/doctest.h>

#include "core/error.h"
#include "core/rng.h"
#include "sampler/sampler.h"
#include "tests/sampler/sampler_fixture.h"

using namespace longvid;
using longvid::test::rel_err;
using longvid::test::SamplerFixture;
using longvid::test::ToyDenoiser;
using longvid::test::bank_noise;

namespace {

// Per-step relative error bound. Measured (docs/STATUS.md): 0 for every sampler on the CPU of
// earlier sessions; up to 9.1e-7 (LVDM DDIM eta 1, pred_x0) on an AVX-512 Xeon, whose vectorised
// float32 kernels round differently. 2e-6 covers both with room; the project's fp32 bound is 1e-5.
constexpr double kTol = 2e-6;


struct Recorder {
  std::vector<at::Tensor> x, x0;
  std::vector<int64_t> t;
  StepHook hook() {
    return [this](int, int64_t tt, at::Tensor& xx, at::Tensor& p) {
      x.push_back(xx.clone());
      x0.push_back(p.clone());
      t.push_back(tt);
    };
  }
};

// Max over steps of the per-step relative error; fails the test if any step exceeds kTol.
double check_traj(const char* name, const std::vector<at::Tensor>& mine, const at::Tensor& ref) {
  REQUIRE_MESSAGE(static_cast<int64_t>(mine.size()) == ref.size(0), name);
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const double e = rel_err(mine[i], ref[static_cast<int64_t>(i)]);
    worst = std::max(worst, e);
    CHECK_MESSAGE(e <= kTol, name << " step " << i << " rel err " << e);
  }
  return worst;
}

std::vector<int64_t> to_vec(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

Prediction parse_pred(const std::string& p) {
  if (p == "epsilon") return Prediction::Eps;
  if (p == "v_prediction") return Prediction::V;
  return Prediction::Sample;
}

}  // namespace

TEST_CASE("sampler: LVDM DDIM (eta 1 and 0) matches the official DDIMSampler step by step") {
  const auto& fx = SamplerFixture::get();
  auto sched = NoiseSchedule::lvdm(0.0015, 0.0155, "linear");
  auto x_T = fx["ddim/x_T"];
  auto bank = fx["ddim/noise_bank"];
  for (int eta : {1, 0}) {
    const std::string tag = "lvdm_ddim_eta" + std::to_string(eta);
    SamplerOptions o = test::lvdm_ddim_options(eta);
    auto ts = sampling_timesteps(o, 1000);
    auto ref_ts = to_vec(fx[tag + "/timesteps"]);
    std::reverse(ref_ts.begin(), ref_ts.end());
    CHECK(ts == ref_ts);
    CHECK(ts.front() == 981);
    CHECK(ts.back() == 1);
    ToyDenoiser toy;
    Recorder rec;
    auto gen = make_generator(0);
    StepHooks hooks;
    hooks.after_step = rec.hook();
    auto out = sample(toy, sched, x_T, {}, o, gen, {}, hooks, bank_noise(bank));
    const double ex = check_traj((tag + " x").c_str(), rec.x, fx[tag + "/traj"]);
    const double e0 = check_traj((tag + " pred_x0").c_str(), rec.x0, fx[tag + "/pred_x0"]);
    CHECK(at::equal(out, rec.x.back()));
    CHECK(toy.calls == 50);
    std::printf("[parity] LVDM DDIM eta=%d S=50: max rel err per step x %.3g, pred_x0 %.3g\n", eta, ex, e0);
  }
}

TEST_CASE("sampler: LVDM DDPM p_sample_loop (1000 ancestral steps) matches the official code") {
  const auto& fx = SamplerFixture::get();
  auto sched = NoiseSchedule::lvdm(0.0015, 0.0155, "linear");
  SamplerOptions o;
  o.method = "ddpm";
  o.steps = 1000;
  ToyDenoiser toy;
  Recorder rec;
  StepHooks hooks;
  hooks.after_step = rec.hook();
  auto gen = make_generator(0);
  auto out = sample(toy, sched, fx["lvdm_ddpm/x_T"], {}, o, gen, {}, hooks, bank_noise(fx["lvdm_ddpm/noise_bank"]));
  CHECK(rec.t.front() == 999);
  CHECK(rec.t.back() == 0);
  const double e = check_traj("lvdm ddpm", rec.x, fx["lvdm_ddpm/traj"]);
  std::printf("[parity] LVDM DDPM T=1000: max rel err per step %.3g\n", e);
}

TEST_CASE("sampler: LVDM long-video prediction step (condition overwrite + cfg_original guidance)") {
  const auto& fx = SamplerFixture::get();
  auto sched = NoiseSchedule::lvdm(0.0015, 0.0155, "linear");
  const auto& m = fx.meta()["lvdm_long"];
  const double scale = m["scale"];
  const int64_t s = m["s"];
  auto x_T = fx["lvdm_long/x_T"];
  const int64_t B = x_T.size(0);
  // the condition latent is q_sampled once at level s (LVDM add_conditions_long_video)
  auto s_vec = at::full({B}, s, at::kLong);
  auto noisy = sched.q_sample(fx["lvdm_long/cond_z0"], s_vec, fx["lvdm_long/cond_noise"]);
  CHECK(rel_err(noisy, fx["lvdm_long/noisy_cond"]) == 0.0);
  Conditioning cond, uc;
  cond.mask = at::zeros({B, 1, x_T.size(2), x_T.size(3), x_T.size(4)});
  cond.mask.narrow(2, 0, 1).fill_(1);
  cond.cond_noise_level = s_vec;
  uc.mask = at::zeros_like(cond.mask);  // unconditional: zero mask, no s
  ToyDenoiser toy;
  GuidedDenoiser guided(toy, uc, scale, parse_guidance_mode("cfg_original"));
  SamplerOptions o;  // DDIM 50, eta 1, LVDM spacing (the defaults)
  Recorder rec;
  StepHooks hooks;
  hooks.before_model = overwrite_frames_hook(noisy, {0});
  hooks.after_step = rec.hook();
  auto gen = make_generator(0);
  sample(guided, sched, x_T, cond, o, gen, {}, hooks, bank_noise(fx["lvdm_long/noise_bank"]));
  CHECK_FALSE(guided.last_batched());  // uncond has no s: two passes, as LVDM
  CHECK(toy.calls == 100);
  const double e = check_traj("lvdm long", rec.x, fx["lvdm_long/traj"]);
  std::printf("[parity] LVDM long-video DDIM + cfg_original w=%.2f + overwrite: max rel err per step %.3g\n", scale, e);
}

TEST_CASE("sampler: diffusers DDIMScheduler / DPMSolverMultistepScheduler parity") {
  const auto& fx = SamplerFixture::get();
  auto x_T = fx["ddim/x_T"];
  auto bank = fx["ddim/noise_bank"];
  for (const auto& [name, run] : fx.meta()["diffusers_runs"].items()) {
    const auto& cfg = run["config"];
    const std::string kind = cfg["beta_schedule"];
    const double b0 = cfg.value("beta_start", 0.0001), b1 = cfg.value("beta_end", 0.02);
    auto sched = NoiseSchedule::diffusers(kind, b0, b1);
    SamplerOptions o;
    o.method = run["scheduler"] == "ddim" ? "ddim" : "dpmpp_2m";
    o.steps = run["steps"];
    o.eta = run["eta"];
    o.spacing = cfg.value("timestep_spacing", o.method == "ddim" ? "leading" : "linspace");
    o.steps_offset = cfg.value("steps_offset", 0);
    o.set_alpha_to_one = cfg.value("set_alpha_to_one", true);
    o.clip_denoised = cfg.value("clip_sample", false);
    auto ts = sampling_timesteps(o, 1000);
    CHECK_MESSAGE(ts == to_vec(fx[name + "/timesteps"]), name);
    ToyDenoiser toy;
    toy.pred = parse_pred(run["prediction"]);
    Recorder rec;
    StepHooks hooks;
    hooks.after_step = rec.hook();
    auto gen = make_generator(0);
    sample(toy, sched, x_T, {}, o, gen, {}, hooks, bank_noise(bank));
    const double e = check_traj(name.c_str(), rec.x, fx[name + "/traj"]);
    double e0 = 0;
    if (o.method == "ddim") e0 = check_traj((name + " pred_x0").c_str(), rec.x0, fx[name + "/pred_x0"]);
    std::printf("[parity] diffusers %-10s %-8s %-17s %-9s S=%-2d eta=%.1f pred=%-12s: max rel err per step %.3g%s\n",
                name.c_str(), o.method.c_str(), kind.c_str(), o.spacing.c_str(), o.steps, o.eta,
                run["prediction"].get<std::string>().c_str(), e,
                o.method == "ddim" ? fmt::format(" (pred_x0 {:.3g})", e0).c_str() : "");
  }
}

TEST_CASE("sampler: guided-diffusion / Latte respaced DDPM (learned range, fixed large) and DDIM") {
  const auto& fx = SamplerFixture::get();
  auto sched = NoiseSchedule::guided_diffusion("linear");
  SamplerOptions o250;
  o250.method = "ddpm";
  o250.steps = 250;
  auto sp = sampling_timesteps(o250, 1000);
  std::reverse(sp.begin(), sp.end());
  CHECK(sp == to_vec(fx["latte/space250"]));
  auto x_T = fx["ddim/x_T"];
  auto bank = fx["ddim/noise_bank"];
  for (const auto& [name, run] : fx.meta()["latte_runs"].items()) {
    SamplerOptions o;
    o.method = run["method"];
    o.steps = run["steps"];
    o.eta = run["eta"];
    o.spacing = "respaced";  // ddim: guided-diffusion ddim_sample; ddpm always respaces when steps < T
    const bool learn = run["learn_sigma"];
    o.variance = learn ? "auto" : "fixed_large";
    CHECK_MESSAGE(sampling_timesteps(o, 1000) == to_vec(fx[name + "/timesteps"]), name);
    ToyDenoiser toy;
    toy.learned = learn;
    toy.var_from_x = true;
    Recorder rec;
    StepHooks hooks;
    hooks.after_step = rec.hook();
    auto gen = make_generator(0);
    sample(toy, sched, x_T, {}, o, gen, {}, hooks, bank_noise(bank));
    const double e = check_traj(name.c_str(), rec.x, fx[name + "/traj"]);
    const double e0 = check_traj((name + " pred_x0").c_str(), rec.x0, fx[name + "/pred_x0"]);
    std::printf("[parity] Latte/guided-diffusion %-22s S=25: max rel err per step x %.3g, pred_x0 %.3g\n",
                name.c_str(), e, e0);
  }
}

TEST_CASE("sampler: timestep lists match diffusers set_timesteps and LVDM make_ddim_timesteps") {
  const auto& fx = SamplerFixture::get();
  int n = 0;
  for (const auto& [key, ref] : fx.meta()["timesteps"].items()) {
    const auto a = key.find('/'), b = key.rfind('/');
    SamplerOptions o;
    o.method = key.substr(0, a) == "ddim" ? "ddim" : "dpmpp_2m";
    o.spacing = key.substr(a + 1, b - a - 1);
    o.steps = std::stoi(key.substr(b + 1));
    o.steps_offset = o.spacing == "leading" ? 1 : 0;
    if (ref.is_string()) {
      CHECK_THROWS_AS_MESSAGE(sampling_timesteps(o, 1000), Error, key);
    } else {
      CHECK_MESSAGE(sampling_timesteps(o, 1000) == ref.get<std::vector<int64_t>>(), key);
    }
    ++n;
  }
  CHECK(n == 14 * 7);
}

TEST_CASE("sampler: timestep spacings") {
  SamplerOptions o;
  o.steps = 50;
  auto lv = sampling_timesteps(o, 1000);
  REQUIRE(lv.size() == 50);
  CHECK(lv[0] == 981);
  CHECK(lv[1] == 961);
  CHECK(lv[49] == 1);
  o.spacing = "leading";
  o.steps_offset = 1;
  auto le = sampling_timesteps(o, 1000);
  CHECK(le.front() == 981);
  CHECK(le.back() == 1);
  o.spacing = "trailing";
  o.steps_offset = 0;
  auto tr = sampling_timesteps(o, 1000);
  CHECK(tr.front() == 999);
  CHECK(tr.back() == 19);
  o.method = "ddpm";
  o.steps = 1000;
  auto full = sampling_timesteps(o, 1000);
  CHECK(full.size() == 1000);
  CHECK(full.front() == 999);
  o.steps = 250;  // guided-diffusion space_timesteps(1000, "250") (Latte)
  auto sp = sampling_timesteps(o, 1000);
  REQUIRE(sp.size() == 250);
  CHECK(sp.front() == 999);
  CHECK(sp.back() == 0);
  CHECK(sp[248] == 4);
}

TEST_CASE("sampler: same seed is bit-identical, different seed differs") {
  auto sched = NoiseSchedule::lvdm();
  for (const char* method : {"ddim", "ddpm", "dpmpp_2m"}) {
    SamplerOptions o;
    o.method = method;
    o.steps = std::string(method) == "ddpm" ? 100 : 10;
    o.spacing = "auto";
    auto run = [&](uint64_t seed) {
      auto gen = make_generator(seed);
      auto x_T = at::randn({2, 4, 2, 4, 4}, gen);
      ToyDenoiser toy;
      return sample(toy, sched, x_T, {}, o, gen);
    };
    auto a = run(42), b = run(42), c = run(43);
    CHECK_MESSAGE(at::equal(a, b), method);
    CHECK_MESSAGE(!at::equal(a, c), method);
    CHECK((a.scalar_type() == at::kFloat));
    CHECK(std::isfinite(a.abs().max().item<double>()));
  }
}

TEST_CASE("sampler: float64 and half states") {
  auto sched = NoiseSchedule::lvdm();
  auto gen0 = make_generator(11);
  auto x_T = at::randn({1, 4, 2, 2, 2}, gen0);
  for (const char* spacing : {"lvdm", "trailing", "respaced"}) {
    for (const char* method : {"ddim", "dpmpp_2m", "ddpm"}) {
      SamplerOptions o;
      o.method = method;
      o.spacing = spacing;
      o.steps = 20;
      o.eta = 0.0;  // deterministic: float32 and float64 runs must agree closely
      ToyDenoiser toy;
      auto g1 = make_generator(1), g2 = make_generator(1), g3 = make_generator(1);
      auto a = sample(toy, sched, x_T, {}, o, g1);
      auto b = sample(toy, sched, x_T.to(at::kDouble), {}, o, g2);
      auto h = sample(toy, sched, x_T.to(at::kHalf), {}, o, g3);
      CHECK((b.scalar_type() == at::kDouble));
      CHECK((h.scalar_type() == at::kFloat));
      if (std::string(method) != "ddpm") CHECK_MESSAGE(rel_err(a, b) < 1e-4, method << " " << spacing);
      CHECK(std::isfinite(b.abs().max().item<double>()));
    }
  }
}

TEST_CASE("sampler: bad options fail with one clear longvid::Error") {
  auto sched = NoiseSchedule::lvdm();
  ToyDenoiser toy;
  auto x = at::randn({1, 4, 2, 2, 2});
  auto gen = make_generator(0);
  auto run = [&](SamplerOptions o) { return sample(toy, sched, x, {}, o, gen); };
  SamplerOptions o;
  o.steps = 0;
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("at least 1"), Error);
  o.steps = 1001;
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("exceeds the 1000 training timesteps"), Error);
  o = {};
  o.method = "euler_a";
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("--sampler euler_a: unknown sampler"), Error);
  o = {};
  o.spacing = "karras";
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("unknown timestep spacing 'karras'"), Error);
  o = {};
  o.eta = -1;
  CHECK_THROWS_AS(run(o), Error);
  o = {};
  o.steps = 1000;  // LVDM spacing would index alphas_cumprod[1000]
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("LVDM spacing"), Error);
  o = {};
  o.method = "ddpm";
  o.steps = 10;
  o.variance = "learned_range";  // the toy has no variance channels
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("learned-sigma"), Error);
  o.variance = "fixed_huge";
  CHECK_THROWS_WITH_AS(run(o), doctest::Contains("unknown --variance"), Error);
  o = {};
  CHECK_THROWS_AS(sample(toy, sched, at::Tensor(), {}, o, gen), Error);
  CHECK(toy.calls == 0);
  CHECK_THROWS_AS(parse_guidance_mode("pag"), Error);
}

TEST_CASE("sampler: learned-sigma outputs use the first C channels") {
  auto sched = NoiseSchedule::lvdm();
  auto gen0 = make_generator(5);
  auto x_T = at::randn({1, 4, 2, 2, 2}, gen0);
  for (const char* method : {"ddim", "dpmpp_2m", "ddpm"}) {
    SamplerOptions o;
    o.method = method;
    o.steps = std::string(method) == "ddpm" ? 50 : 10;
    o.spacing = "auto";
    ToyDenoiser plain, learned;
    learned.learned = true;
    learned.var_value = -1.0;  // learned_range frac 0 == fixed-small posterior variance
    auto g1 = make_generator(9), g2 = make_generator(9);
    auto a = sample(plain, sched, x_T, {}, o, g1);
    auto b = sample(learned, sched, x_T, {}, o, g2);
    CHECK_MESSAGE(at::equal(a, b), method);
  }
  // learned_range with frac 1 uses log(beta): a different (larger) variance
  SamplerOptions o;
  o.method = "ddpm";
  o.steps = 50;
  ToyDenoiser hi;
  hi.learned = true;
  hi.var_value = 1.0;
  ToyDenoiser plain;
  auto g1 = make_generator(9), g2 = make_generator(9);
  CHECK_FALSE(at::equal(sample(plain, sched, x_T, {}, o, g1), sample(hi, sched, x_T, {}, o, g2)));
}

TEST_CASE("guidance: cfg and lvdm_uncond formulas, batching, identities") {
  ToyDenoiser toy;
  auto gen = make_generator(1);
  auto x = at::randn({2, 4, 3, 2, 2}, gen);
  auto t = at::tensor({500, 20}, at::kLong);
  Conditioning c, u;
  c.mask = at::ones({2, 1, 3, 2, 2});
  u.mask = at::zeros({2, 1, 3, 2, 2});
  auto e_c = toy.forward(x, t, c), e_u = toy.forward(x, t, u);
  REQUIRE_FALSE(at::equal(e_c, e_u));
  GuidedDenoiser cfg(toy, u, 7.5, GuidanceMode::Cfg);
  auto g = cfg.forward(x, t, c);
  CHECK(cfg.last_batched());
  CHECK(toy.last_batch == 4);
  CHECK(at::allclose(g, e_u + 7.5 * (e_c - e_u), 1e-6, 1e-6));
  GuidedDenoiser cfg2(toy, u, 7.5, GuidanceMode::Cfg, /*allow_batching=*/false);
  CHECK(at::equal(cfg2.forward(x, t, c), g));  // batched == two passes, bit for bit
  CHECK_FALSE(cfg2.last_batched());
  GuidedDenoiser lv(toy, u, 0.1, GuidanceMode::LvdmUncond);
  CHECK(at::allclose(lv.forward(x, t, c), e_c + 0.1 * (e_c - e_u), 1e-6, 1e-6));
  // identities: only the conditional pass runs
  const int before = toy.calls;
  GuidedDenoiser one(toy, u, 1.0, GuidanceMode::Cfg), zero(toy, u, 0.0, GuidanceMode::LvdmUncond);
  CHECK(at::equal(one.forward(x, t, c), e_c));
  CHECK(at::equal(zero.forward(x, t, c), e_c));
  CHECK(toy.calls == before + 2);
  // an unconditional field of batch 1 is expanded to the batch (e.g. one empty-prompt embedding)
  Conditioning u1;
  u1.mask = at::zeros({1, 1, 3, 2, 2});
  GuidedDenoiser g1(toy, u1, 7.5, GuidanceMode::Cfg);
  CHECK(at::equal(g1.forward(x, t, c), g));
  CHECK(g1.last_batched());
  // learned sigma: only the first C channels are guided; variance channels come from the cond pass
  ToyDenoiser ls;
  ls.learned = true;
  ls.var_value = 0.25;
  GuidedDenoiser gl(ls, u, 3.0, GuidanceMode::Cfg);
  CHECK(gl.learned_sigma());
  auto out = gl.forward(x, t, c);
  REQUIRE(out.size(1) == 8);
  CHECK(at::allclose(out.narrow(1, 0, 4), e_u + 3.0 * (e_c - e_u), 1e-6, 1e-6));
  CHECK(at::equal(out.narrow(1, 4, 4), at::full_like(e_c, 0.25)));
}

TEST_CASE("sampler: hooks and progress are called once per step") {
  auto sched = NoiseSchedule::lvdm();
  ToyDenoiser toy;
  auto gen = make_generator(2);
  auto x_T = at::randn({1, 4, 2, 2, 2}, gen);
  SamplerOptions o;
  o.steps = 20;
  std::vector<std::pair<int64_t, int64_t>> prog;
  int before = 0, after = 0;
  StepHooks hooks;
  hooks.before_model = [&](int i, int64_t, at::Tensor& x, at::Tensor& p) {
    CHECK(i == before);
    CHECK_FALSE(p.defined());
    ++before;
  };
  hooks.after_step = [&](int i, int64_t, at::Tensor&, at::Tensor& p) {
    CHECK(i == after);
    CHECK(p.defined());
    ++after;
  };
  auto x_copy = x_T.clone();
  sample(toy, sched, x_T, {}, o, gen, [&](int64_t d, int64_t n) { prog.emplace_back(d, n); }, hooks);
  CHECK(before == 20);
  CHECK(after == 20);
  REQUIRE(prog.size() == 20);
  CHECK((prog.back() == std::make_pair<int64_t, int64_t>(20, 20)));
  CHECK(at::equal(x_T, x_copy));  // the caller's x_T is never modified
  // the overwrite hook pins frame 0 of the state before every model call
  auto pin = at::full({1, 4, 1, 2, 2}, 0.5);
  std::vector<at::Tensor> seen;
  StepHooks h2;
  h2.before_model = overwrite_frames_hook(pin, {0});
  auto chained = h2.before_model;
  h2.before_model = [&](int i, int64_t t, at::Tensor& x, at::Tensor& p) {
    chained(i, t, x, p);
    seen.push_back(x.narrow(2, 0, 1).clone());
  };
  sample(toy, sched, x_T, {}, o, gen, {}, h2);
  for (const auto& s : seen) CHECK(at::equal(s, pin));
  CHECK_THROWS_AS(overwrite_frames_hook(pin, {0, 1}), Error);
}
