// LvdmUNet3D: parity with the official LVDM openaimodel3d.UNetModel (fixtures from
// tests/data/gen/lvdm_unet3d.py), official YAML configs, official checkpoint layouts.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/winograd.h"
#include "tests/backbones/fixtures.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace longvid;

namespace {

using test::lvdm_config;  // tests/backbones/fixtures.h
using test::lvdm_fixture;
using test::check_parity;
using test::det_fill;

bool slow_tests_enabled() {
  const char* v = std::getenv("LONGVID_SLOW_TESTS");
  return v && std::string(v) == "1";
}

}  // namespace

TEST_CASE("lvdm_unet3d: official YAML configs build the official parameter counts") {
  // Counts printed by the official UNetModel (YingqingHe/LVDM@d251dcc) for these configs.
  struct Case {
    const char* file;
    int64_t params;
  } cases[] = {{"sky.yaml", 548904580},        {"taichi.yaml", 548904580}, {"ucf.yaml", 548904580},
               {"sky_pred.yaml", 549163908},   {"sky_interp.yaml", 549181060},
               {"text2video.yaml", 958924964}};
  for (const auto& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config(c.file));
    LvdmUNet3D m(cfg, at::kMeta);
    CHECK(m->num_parameters() == c.params);
  }
  auto sky = LvdmUNetConfig::from_yaml_file(lvdm_config("sky.yaml"));
  CHECK(sky.model_channels == 256);
  CHECK(sky.channel_mult == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(sky.padding_t == 0);
  CHECK(sky.use_relative_position);
  CHECK(sky.num_classes == -1);
  CHECK(sky.conditioning_key.empty());
  auto pred = LvdmUNetConfig::from_yaml_file(lvdm_config("sky_pred.yaml"));
  CHECK(pred.in_channels == 5);
  CHECK(pred.num_classes == 251);
  CHECK(pred.conditioning_key == "concat-adm-mask");
  auto t2v = LvdmUNetConfig::from_yaml_file(lvdm_config("text2video.yaml"));
  CHECK(t2v.use_temporal_transformer);
  CHECK(t2v.context_dim == 768);
  CHECK(t2v.conditioning_key == "crossattn");
}

TEST_CASE("lvdm_unet3d: config errors name the key") {
  CHECK_THROWS_WITH_AS(LvdmUNetConfig::from_yaml_string("model: {params: {}}", "x.yaml"),
                       doctest::Contains("model.params.unet_config.params"), Error);
  CHECK_THROWS_WITH_AS(
      LvdmUNetConfig::from_yaml_string("model: {params: {unet_config: {params: {channel_mult: 3}}}}", "x.yaml"),
      doctest::Contains("channel_mult"), Error);
  LvdmUNetConfig c;
  c.num_heads = -1;
  CHECK_THROWS_WITH_AS(LvdmUNet3D(c, at::kMeta), doctest::Contains("num_heads"), Error);
}

TEST_CASE("lvdm_unet3d: small long-video config matches the official model (concat-adm-mask)") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml"));
  LvdmUNet3D m(cfg);
  m->eval();
  StateDict ckpt = load_checkpoint(lvdm_fixture("unet3d_small.safetensors"));
  StateDict io = load_checkpoint(lvdm_fixture("unet3d_small_io.safetensors"));
  CHECK(m->num_parameters() == io.get("param_count").item<int64_t>());
  CHECK(load_lvdm_unet(*m, ckpt) == LvdmWeights::Raw);

  torch::NoGradGuard ng;
  const auto &x = io.get("x"), &t = io.get("t"), &s = io.get("s"), &mask = io.get("mask");
  check_parity("small, x|mask, y=s", m->forward(at::cat({x, mask}, 1), t, {}, s), io.get("out_plain"));
  check_parity("small, uncond (zero mask, no y)", m->forward(at::cat({x, at::zeros_like(mask)}, 1), t),
               io.get("out_uncond"));
  // FrameInterpPredLatentDiffusion.apply_model puts the noisy condition frames into x first.
  at::Tensor xin = x * (1 - mask) + io.get("cond_latent") * mask;
  check_parity("small, apply_model prediction", m->forward(at::cat({xin, mask}, 1), t, {}, s), io.get("out_pred"));
}

TEST_CASE("lvdm_unet3d: Denoiser adapter builds the input like LVDM's apply_model") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml"));
  LvdmUNet3D net(cfg);
  net->eval();
  load_lvdm_unet(*net, load_checkpoint(lvdm_fixture("unet3d_small.safetensors")));
  StateDict io = load_checkpoint(lvdm_fixture("unet3d_small_io.safetensors"));
  LvdmUNetDenoiser den(net);
  CHECK(den.prediction() == Prediction::Eps);
  CHECK_FALSE(den.learned_sigma());
  torch::NoGradGuard ng;
  const auto &x = io.get("x"), &t = io.get("t");
  // conditional: mask, noisy condition frames, condition noise level s (-> label_emb)
  Conditioning c;
  c.mask = io.get("mask");
  c.cond_latent = io.get("cond_latent");
  c.cond_noise_level = io.get("s");
  at::Tensor x_copy = x.clone();
  check_parity("denoiser, prediction", den.forward(x, t, c), io.get("out_pred"));
  CHECK(at::equal(x, x_copy));  // the caller's x_t is not modified
  // unconditional branch of the guidance: no mask, no s
  check_parity("denoiser, uncond", den.forward(x, t, Conditioning{}), io.get("out_uncond"));
  // batch-1 fields serve the whole batch
  Conditioning c1;
  c1.mask = io.get("mask").slice(0, 0, 1);
  c1.cond_latent = io.get("cond_latent");
  c1.cond_noise_level = io.get("s");
  check_parity("denoiser, batch-1 mask", den.forward(x, t, c1), io.get("out_pred"));
  // errors the caller can make
  Conditioning bad;
  bad.mask = torch::zeros({2, 1, 4, 8, 8});
  CHECK_THROWS_WITH_AS(den.forward(x, t, bad), doctest::Contains("Conditioning.mask"), Error);
  Conditioning lbl;
  lbl.class_label = io.get("s");
  CHECK_THROWS_WITH_AS(den.forward(x, t, lbl), doctest::Contains("class_label"), Error);
  // a concat-adm-mask config without the mask channel is rejected up front
  auto c4 = cfg;
  c4.in_channels = 4;
  CHECK_THROWS_WITH_AS(LvdmUNetDenoiser(LvdmUNet3D(c4, at::kMeta)), doctest::Contains("in_channels"), Error);
}

TEST_CASE("lvdm_unet3d: EMA names (dots removed) load through the name map") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml"));
  StateDict raw = load_checkpoint(lvdm_fixture("unet3d_small.safetensors"));
  // An official-layout checkpoint with both copies: raw, and EMA (= raw * 0.5 here, to tell them apart).
  StateDict both;
  const std::string pre = "model.diffusion_model.";
  for (const auto& k : raw.keys()) {
    both.set(k, raw.get(k));
    if (k.rfind(pre, 0) != 0) continue;
    std::string flat;
    for (char ch : k.substr(pre.size()))
      if (ch != '.') flat.push_back(ch);
    both.set("model_ema.diffusion_model" + flat, raw.get(k).to(at::kFloat) * 0.5);
  }
  both.set("model_ema.decay", torch::tensor(0.9999));
  both.set("model_ema.num_updates", torch::tensor(1000, at::kInt));

  LvdmUNet3D m(cfg);
  CHECK(m->named_parameters().contains("input_blocks.0.0.weight"));
  CHECK(m->named_parameters().contains("label_emb.weight"));
  CHECK(m->named_parameters().contains("out.2.weight"));
  CHECK(m->named_parameters().contains("middle_block.1.relative_position_k.embeddings_table"));
  CHECK(load_lvdm_unet(*m, both, LvdmWeights::Ema) == LvdmWeights::Ema);
  auto p = m->named_parameters();
  CHECK(at::equal(p["input_blocks.1.0.out_layers.3.weight"],
                  raw.get(pre + "input_blocks.1.0.out_layers.3.weight").to(at::kFloat) * 0.5));
  CHECK(at::equal(p["label_emb.weight"], raw.get(pre + "label_emb.weight").to(at::kFloat) * 0.5));
  // Auto prefers the raw weights (as the short-video scripts load them).
  CHECK(load_lvdm_unet(*m, both) == LvdmWeights::Raw);
  CHECK(at::equal(p["label_emb.weight"], raw.get(pre + "label_emb.weight").to(at::kFloat)));

  auto map = lvdm_unet_name_map(*m, LvdmWeights::Ema);
  CHECK(map.at("model_ema.diffusion_modelinput_blocks00weight") == "input_blocks.0.0.weight");
  CHECK(map.at("model_ema.diffusion_modelout2bias") == "out.2.bias");
  // No EMA in a checkpoint: a clear error.
  CHECK_THROWS_WITH_AS(load_lvdm_unet(*m, raw, LvdmWeights::Ema), doctest::Contains("model_ema"), Error);
}

TEST_CASE("lvdm_unet3d: config/checkpoint mismatch names the keys and both shapes") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml"));
  cfg.in_channels = 4;     // the checkpoint has the mask channel (5)
  cfg.num_classes = -1;    // and label_emb
  LvdmUNet3D m(cfg);
  StateDict ckpt = load_checkpoint(lvdm_fixture("unet3d_small.safetensors"));
  std::string msg;
  try {
    load_lvdm_unet(*m, ckpt);
  } catch (const Error& e) {
    msg = e.what();
  }
  MESSAGE(msg);
  CHECK(msg.find("input_blocks.0.0.weight") != std::string::npos);
  CHECK(msg.find("32, 5, 1, 3, 3") != std::string::npos);
  CHECK(msg.find("32, 4, 1, 3, 3") != std::string::npos);
  CHECK(msg.find("label_emb.weight") != std::string::npos);
}

TEST_CASE("lvdm_unet3d: forward rejects bad inputs with one line") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml"));
  LvdmUNet3D m(cfg);
  torch::NoGradGuard ng;
  auto t = torch::tensor({1, 2}, at::kLong);
  CHECK_THROWS_WITH_AS(m->forward(torch::zeros({2, 4, 3, 8, 8}), t), doctest::Contains("in_channels"), Error);
  CHECK_THROWS_WITH_AS(m->forward(torch::zeros({2, 5, 3, 7, 7}), t), doctest::Contains("divisible"), Error);
  CHECK_THROWS_WITH_AS(m->forward(torch::zeros({2, 5, 3, 8, 8}), t.slice(0, 0, 1)), doctest::Contains("timesteps"),
                       Error);
}

TEST_CASE("lvdm_unet3d: T2V (SpatialTemporalTransformer, cross-attention) matches the official model") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_t2v_small.yaml"));
  LvdmUNet3D m(cfg);
  m->eval();
  det_fill(*m);
  StateDict io = load_checkpoint(lvdm_fixture("unet3d_t2v_small_det.safetensors"));
  CHECK(m->num_parameters() == io.get("param_count").item<int64_t>());
  CHECK(static_cast<int64_t>(m->parameters().size()) == io.get("param_tensors").item<int64_t>());
  torch::NoGradGuard ng;
  check_parity("t2v small", m->forward(io.get("x"), io.get("t"), io.get("context")), io.get("out"));
  LvdmUNetDenoiser den(m);
  Conditioning c;
  c.context = io.get("context");
  check_parity("t2v small, denoiser", den.forward(io.get("x"), io.get("t"), c), io.get("out"));
  CHECK_THROWS_WITH_AS(den.forward(io.get("x"), io.get("t"), Conditioning{}), doctest::Contains("context"), Error);
}

TEST_CASE("lvdm_unet3d: kernel_size_t 3, resblock_updown, num_head_channels match the official model") {
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_kt3_small.yaml"));
  LvdmUNet3D m(cfg);
  m->eval();
  det_fill(*m);
  StateDict io = load_checkpoint(lvdm_fixture("unet3d_kt3_small_det.safetensors"));
  CHECK(m->num_parameters() == io.get("param_count").item<int64_t>());
  CHECK(static_cast<int64_t>(m->parameters().size()) == io.get("param_tensors").item<int64_t>());
  torch::NoGradGuard ng;
  check_parity("kt3 small", m->forward(io.get("x"), io.get("t")), io.get("out"));
}

TEST_CASE("lvdm_unet3d: with Winograd F(2x2, 3x3) for every spatial convolution, the small configs match the official model") {
  // The large U-Nets take core/winograd.h's path for their (1, 3, 3) convolutions of >= 256 channels;
  // these small fixtures run it for all of them (WinogradEverywhere), against the same official outputs.
  if (!winograd_enabled()) {
    test::report_skipped("LONGVID_WINOGRAD=0: the Winograd path is off");
    return;
  }
  WinogradEverywhere everywhere;
  torch::NoGradGuard ng;
  const int64_t before = winograd_conv3d_calls();
  {
    LvdmUNet3D m(LvdmUNetConfig::from_yaml_file(lvdm_config("unet3d_small.yaml")));
    m->eval();
    load_lvdm_unet(*m, load_checkpoint(lvdm_fixture("unet3d_small.safetensors")));
    StateDict io = load_checkpoint(lvdm_fixture("unet3d_small_io.safetensors"));
    const auto &x = io.get("x"), &t = io.get("t"), &s = io.get("s"), &mask = io.get("mask");
    check_parity("winograd, small, x|mask, y=s", m->forward(at::cat({x, mask}, 1), t, {}, s), io.get("out_plain"));
  }
  for (const char* name : {"unet3d_t2v_small", "unet3d_kt3_small"}) {
    LvdmUNet3D m(LvdmUNetConfig::from_yaml_file(lvdm_config(std::string(name) + ".yaml")));
    m->eval();
    det_fill(*m);
    StateDict io = load_checkpoint(lvdm_fixture(std::string(name) + "_det.safetensors"));
    const at::Tensor out = io.contains("context") ? m->forward(io.get("x"), io.get("t"), io.get("context"))
                                                  : m->forward(io.get("x"), io.get("t"));
    check_parity((std::string("winograd, ") + name).c_str(), out, io.get("out"));
  }
  const int64_t calls = winograd_conv3d_calls() - before;
  MESSAGE("Winograd convolutions: " << calls);
  const char* env = std::getenv("LONGVID_CONV");
  if (at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && !(env && std::string(env) == "aten"))
    CHECK(calls >= 20);
}

TEST_CASE("lvdm_unet3d: sky.yaml (548.9M parameters) matches the official model (opt-in LONGVID_SLOW_TESTS=1)") {
  if (!slow_tests_enabled()) {
    test::report_skipped("opt-in test (98 s, 3.1 GB): set LONGVID_SLOW_TESTS=1 to run it");
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto cfg = LvdmUNetConfig::from_yaml_file(lvdm_config("sky.yaml"));
  LvdmUNet3D m(cfg);
  m->eval();
  StateDict io = load_checkpoint(lvdm_fixture("unet3d_sky_det.safetensors"));
  CHECK(m->num_parameters() == 548904580);
  CHECK(m->num_parameters() == io.get("param_count").item<int64_t>());
  CHECK(static_cast<int64_t>(m->parameters().size()) == io.get("param_tensors").item<int64_t>());
  det_fill(*m);
  auto t1 = std::chrono::steady_clock::now();
  torch::NoGradGuard ng;
  at::Tensor out = m->forward(io.get("x"), io.get("t"));
  auto t2 = std::chrono::steady_clock::now();
  MESSAGE("sky: build+fill " << std::chrono::duration<double>(t1 - t0).count() << " s, forward "
                             << std::chrono::duration<double>(t2 - t1).count() << " s");
  check_parity("sky.yaml", out, io.get("out"));
}
