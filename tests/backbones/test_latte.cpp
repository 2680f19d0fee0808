// Latte: parity with the official Vchitect/Latte models/latte.py (fixtures from
// tests/data/gen/gen_latte.py), official presets and parameter counts, checkpoint layouts, and one
// official sampler step (diffusion/ SpacedDiffusion p_sample with forward_with_cfg).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "backbones/latte.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "sampler/sampler.h"
#include "tests/backbones/fixtures.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace longvid;
using test::check_parity;

namespace {

std::filesystem::path fixture(const std::string& name) { return test::data_dir() / "latte" / name; }

using test::swap_fc;  // tests/backbones/fixtures.h
LatteConfig tiny_cond_config() { return test::latte_tiny_cond_config(); }

LatteConfig tiny_uncond_config() {  // gen_latte.py: the unconditional tiny model
  LatteConfig c;
  c.input_size = 8;
  c.patch_size = 4;
  c.in_channels = 4;
  c.hidden_size = 32;
  c.depth = 2;
  c.num_heads = 2;
  c.num_frames = 4;
  c.extras = 1;
  c.learn_sigma = false;
  return c;
}

Latte load_tiny(const LatteConfig& cfg, const std::string& file) {
  Latte m(cfg);
  load_latte(*m, load_checkpoint(fixture(file)));
  m->eval();
  return m;
}

at::Tensor det_input(const std::string& name, at::IntArrayRef shape) {
  // gen_latte.py: det_unit(name, n).float().reshape(shape).
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return test::det_unit(name, n).to(at::kFloat).reshape(shape);
}

// The det fixtures store frames 0 and 15 of the output (official layout) and the mean and mean
// |.| of every (frame, channel) over H, W: the full 8-channel output would not fit the fixture budget.
void check_det_output(const char* what, const at::Tensor& out_engine, const StateDict& io) {
  at::Tensor out = swap_fc(out_engine);  // (N, F, C, H, W)
  check_parity(what, out.index_select(1, io.get("out_frame_index")), io.get("out_frames"));
  std::string m = std::string(what) + " (frame/channel means)";
  check_parity(m.c_str(), out[0].mean({2, 3}), io.get("out_mean_fc"));
  std::string am = std::string(what) + " (frame/channel mean |.|)";
  check_parity(am.c_str(), out[0].abs().mean({2, 3}), io.get("out_absmean_fc"));
}

bool slow_tests_enabled() {
  const char* v = std::getenv("LONGVID_SLOW_TESTS");
  return v && std::string(v) == "1";
}

}  // namespace

TEST_CASE("latte: presets and official parameter counts") {
  // Counts of the official models/latte.py (gen_latte.py metadata; the 673,681,568 for XL/2).
  auto xl2 = LatteConfig::preset("Latte-XL/2");
  xl2.extras = 2;
  xl2.num_classes = 101;
  Latte m(xl2, at::kMeta);
  CHECK(xl2.preset_name() == "Latte-XL/2");
  CHECK(m->num_trainable_parameters() - 102 * 1152 == 673681568);
  CHECK(m->num_trainable_parameters() == 673681568 + 117504);
  auto s4 = LatteConfig::preset("Latte-S/4");
  CHECK(s4.depth == 12);
  CHECK(s4.hidden_size == 384);
  CHECK(s4.num_heads == 6);
  CHECK(s4.patch_size == 4);
  CHECK_THROWS_WITH_AS(LatteConfig::preset("Latte-XXL/2"), doctest::Contains("Latte-S|B|L|XL"), Error);
  LatteConfig odd = tiny_cond_config();
  odd.depth = 3;
  CHECK_THROWS_WITH_AS(static_cast<void>(Latte{odd}), doctest::Contains("depth 3 must be even"), Error);
}

TEST_CASE("latte: tiny class-conditional model matches the official Latte (forward, forward_with_cfg)") {
  auto m = load_tiny(tiny_cond_config(), "latte_tiny.safetensors");
  StateDict io = load_checkpoint(fixture("latte_tiny_io.safetensors"));
  torch::NoGradGuard ng;
  at::Tensor out = m->forward(swap_fc(io.get("x")), io.get("t"), io.get("y"));
  check_parity("tiny cond forward", swap_fc(out), io.get("out"));
  // forward_with_cfg: [half; half], y = [label; null], scale 4 on the first C (= 4) channels; the
  // variance channels stay per branch. GuidedDenoiser runs the same two branches batched.
  LatteDenoiser den(m);
  at::Tensor xc = swap_fc(io.get("xc")).narrow(0, 0, 1);
  Conditioning cond, uncond;
  cond.class_label = io.get("yc").narrow(0, 0, 1);
  uncond.class_label = io.get("yc").narrow(0, 1, 1);
  GuidedDenoiser guided(den, uncond, 4.0, GuidanceMode::Cfg);
  at::Tensor g = guided.forward(xc, io.get("tc").narrow(0, 0, 1), cond);
  CHECK(guided.last_batched());
  check_parity("tiny forward_with_cfg (cond half)", swap_fc(g), io.get("cfg_out").narrow(0, 0, 1));
  // No label = the null class (the unconditional branch).
  at::Tensor null_out = m->forward(swap_fc(io.get("x")), io.get("t"));
  at::Tensor null_ref = m->forward(swap_fc(io.get("x")), io.get("t"), at::full({2}, 5, at::kLong));
  CHECK(at::equal(null_out, null_ref));
  CHECK_THROWS_WITH_AS(m->forward(swap_fc(io.get("x")), io.get("t"), at::full({2}, 6, at::kLong)),
                       doctest::Contains("class label out of range"), Error);
}

TEST_CASE("latte: tiny unconditional model (patch 4, no learned sigma) matches the official Latte") {
  auto m = load_tiny(tiny_uncond_config(), "latte_tiny_uncond.safetensors");
  StateDict io = load_checkpoint(fixture("latte_tiny_uncond_io.safetensors"));
  torch::NoGradGuard ng;
  check_parity("tiny uncond", swap_fc(m->forward(swap_fc(io.get("x")), io.get("t"))), io.get("out"));
}

TEST_CASE("latte: the official pickle {model, ema} loads the EMA weights, as utils.find_model") {
  StateDict io = load_checkpoint(fixture("latte_tiny_uncond_io.safetensors"));
  StateDict sd = load_checkpoint(fixture("latte_tiny_uncond.pt"));
  CHECK(sd.source == "ema");
  auto cfg = LatteConfig::from_state_dict(sd, /*num_heads_hint=*/2);
  CHECK(cfg.depth == 2);
  CHECK(cfg.hidden_size == 32);
  CHECK(cfg.patch_size == 4);
  CHECK(cfg.input_size == 8);
  CHECK(cfg.num_frames == 4);
  CHECK(cfg.extras == 1);
  CHECK_FALSE(cfg.learn_sigma);
  Latte m(cfg);
  load_latte(*m, sd);
  torch::NoGradGuard ng;
  check_parity("pickle ema", swap_fc(m->forward(swap_fc(io.get("x")), io.get("t"))), io.get("out"));
  // The raw weights are another set: they must not give the EMA output.
  LoadOptions lo;
  lo.select = "model";
  Latte raw(cfg);
  load_latte(*raw, load_checkpoint(fixture("latte_tiny_uncond.pt"), lo));
  CHECK(test::compare(swap_fc(raw->forward(swap_fc(io.get("x")), io.get("t"))), io.get("out")).rel_fro > 1e-2);
  // The head count is not in the weights of a non-published width.
  CHECK_THROWS_WITH_AS(LatteConfig::from_state_dict(sd), doctest::Contains("head count"), Error);
}

TEST_CASE("latte: bad weights are refused with one line naming keys and shapes") {
  StateDict sd = load_checkpoint(fixture("latte_tiny.safetensors"));
  auto wrong_depth = tiny_cond_config();
  wrong_depth.depth = 6;
  Latte a(wrong_depth);
  CHECK_THROWS_WITH_AS(load_latte(*a, sd), doctest::Contains("missing: blocks.4."), Error);
  auto wrong_patch = tiny_cond_config();
  wrong_patch.patch_size = 4;
  Latte b(wrong_patch);
  try {
    load_latte(*b, sd);
    FAIL("a patch-4 model took patch-2 weights");
  } catch (const Error& e) {
    std::string w = e.what();
    CHECK(w.find("x_embedder.proj.weight") != std::string::npos);
    CHECK(w.find('\n') == std::string::npos);
  }
}

TEST_CASE("latte: Latte-S/4 (deterministic weights, 16 frames, 32x32 latents) matches the official model") {
  StateDict io = load_checkpoint(fixture("latte_s4_uncond_det.safetensors"));
  auto cfg = LatteConfig::preset("Latte-S/4");
  cfg.extras = 1;
  cfg.input_size = 32;
  cfg.num_frames = 16;
  Latte m(cfg);
  test::det_fill(*m, {"pos_embed", "temp_embed"});
  torch::NoGradGuard ng;
  at::Tensor x = swap_fc(det_input("input", {1, 16, 4, 32, 32}));
  CHECK(m->num_trainable_parameters() == io.get("param_counts")[1].item<int64_t>());
  check_det_output("Latte-S/4 det", m->forward(x, io.get("t")), io);
}

TEST_CASE("latte: Latte-XL/2 (673.7M parameters) matches the official model (opt-in LONGVID_SLOW_TESTS=1)") {
  if (!slow_tests_enabled()) {
    test::report_skipped("opt-in test (58 s, 3.1 GiB): set LONGVID_SLOW_TESTS=1 to run it");
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  StateDict io = load_checkpoint(fixture("latte_xl2_det.safetensors"));
  auto cfg = LatteConfig::preset("Latte-XL/2");
  cfg.extras = 2;
  cfg.num_classes = 101;
  Latte m(cfg);
  test::det_fill(*m, {"pos_embed", "temp_embed"});
  torch::NoGradGuard ng;
  at::Tensor x = swap_fc(det_input("input", {1, 16, 4, 32, 32}));
  at::Tensor out = m->forward(x, io.get("t"), io.get("y"));
  MESSAGE("XL/2: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  CHECK(m->num_trainable_parameters() == io.get("param_counts")[1].item<int64_t>());
  check_det_output("Latte-XL/2 det", out, io);
}

TEST_CASE("latte: one official sampler step (respaced DDPM 250, learned range, CFG 4) equals diffusion.p_sample") {
  auto m = load_tiny(tiny_cond_config(), "latte_tiny.safetensors");
  StateDict io = load_checkpoint(fixture("latte_tiny_pstep.safetensors"));
  LatteDenoiser den(m);
  Conditioning cond, uncond;
  cond.class_label = at::full({1}, 3, at::kLong);
  uncond.class_label = at::full({1}, 5, at::kLong);
  GuidedDenoiser guided(den, uncond, 4.0, GuidanceMode::Cfg);
  auto sched = NoiseSchedule::guided_diffusion("linear", 1000);
  SamplerOptions o;
  o.method = "ddpm";
  o.steps = 250;
  o.spacing = "respaced";
  o.clip_denoised = false;
  for (const char* tag : {"first", "mid"}) {
    const std::string p = tag;
    CAPTURE(p);
    const int64_t index = io.get(p + ".t")[0].item<int64_t>();  // the respaced index the official code passes
    const int64_t k = 249 - index;                           // our step number (0 = noisiest)
    at::Tensor x_t = swap_fc(io.get(p + ".x_t")).narrow(0, 0, 1);
    at::Tensor noise = swap_fc(io.get(p + ".noise")).narrow(0, 0, 1);
    at::Tensor got, got_x0;
    StepHooks hooks;
    hooks.before_model = [&](int i, int64_t t, at::Tensor& x, at::Tensor&) {
      if (i == k) {
        CHECK(t == io.get(p + ".timestep")[0].item<int64_t>());
        x.copy_(x_t);
      }
    };
    hooks.after_step = [&](int i, int64_t, at::Tensor& x, at::Tensor& x0) {
      if (i == k) {
        got = x.clone();
        got_x0 = x0.clone();
      }
    };
    NoiseFn noise_fn = [&](int i, const at::Tensor& like) { return i == k ? noise : at::zeros_like(like); };
    at::Generator g = make_generator(1);
    torch::NoGradGuard ng;
    // Steps after k are cheap (tiny model) and irrelevant; the hooks capture step k.
    sample(guided, sched, at::zeros_like(x_t), cond, o, g, {}, hooks, noise_fn);
    REQUIRE(got.defined());
    check_parity("pred_xstart", swap_fc(got_x0), io.get(p + ".pred_xstart").narrow(0, 0, 1));
    check_parity("sample", swap_fc(got), io.get(p + ".sample").narrow(0, 0, 1));
  }
}
