// The real reduced-precision path (`--dtype bf16`, nn::cast_for_inference): weights cast to bf16
// except the norms', which stay float32 and normalise in float32; the networks take and return
// float32, so the sampler's arithmetic stays in float32. Each backbone is checked against its
// official fp32 fixture; the bounds hold bf16's rounding (7 stored mantissa bits: up to 2^-8 = 3.9e-3
// per value, compounded over the layers: measured 0.9e-2 to 2.8e-2 relative, Frobenius, on an Intel
// Xeon with AMX; held to 4e-2), and the U-Net is held to within 25 % of autocast's error (measured
// 2.76e-2 against 2.67e-2).
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <string>

#include "backbones/latte.h"
#include "backbones/latte_t2v.h"
#include "backbones/lvdm_unet3d.h"
#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/fs.h"
#include "pipeline/video_pipeline.h"
#include "tests/backbones/fixtures.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace longvid;

namespace {

// Every parameter's dtype: bf16, except GroupNorm/LayerNorm weights (float32). Returns the count of
// float32 parameters found (the norms').
int64_t check_cast(torch::nn::Module& m) {
  int64_t fp32 = 0, bf16 = 0, bad = 0;
  for (const auto& mod : m.modules(true)) {
    const bool norm = dynamic_cast<nn::GroupNormImpl*>(mod.get()) || dynamic_cast<nn::LayerNormImpl*>(mod.get());
    for (const auto& p : mod->named_parameters(false)) {
      if (!p.value().is_floating_point()) continue;
      if (p.value().scalar_type() == at::kBFloat16 && !norm) ++bf16;
      else if (p.value().scalar_type() == at::kFloat && norm) ++fp32;
      else ++bad;
    }
  }
  CHECK(bad == 0);
  CHECK(bf16 > 0);
  return fp32;
}

void check_bf16(const char* what, const at::Tensor& got, const at::Tensor& want, double bound) {
  CHECK((got.scalar_type() == at::kFloat));  // the sampler gets float32
  const auto e = test::compare(got, want);
  MESSAGE(std::string(what) << " bf16 weights vs the official fp32 output: rel_fro " << e.rel_fro << ", max_abs/max|ref| "
               << e.rel_max);
  CHECK(e.rel_fro <= bound);
  CHECK(e.rel_fro > 1e-6);  // it really ran in bf16
}

}  // namespace

TEST_CASE("reduced precision: cast_for_inference casts all but the norms, and only to bf16 / fp16") {
  auto rootp = std::make_shared<torch::nn::Module>();
  torch::nn::Module& root = *rootp;
  auto lin = root.register_module("lin", std::make_shared<nn::LinearImpl>(8, 8));
  auto gn = root.register_module("gn", std::make_shared<nn::GroupNormImpl>(8, 1e-5, false, 4));
  auto ln = root.register_module("ln", std::make_shared<nn::LayerNormImpl>(8));
  CHECK(nn::cast_for_inference(root, at::kFloat) == 0);
  CHECK((lin->weight.scalar_type() == at::kFloat));
  CHECK(nn::cast_for_inference(root, at::kBFloat16) == 8 * 8 + 8);
  CHECK((lin->weight.scalar_type() == at::kBFloat16));
  CHECK((lin->bias.scalar_type() == at::kBFloat16));
  CHECK((gn->weight.scalar_type() == at::kFloat));
  CHECK((ln->bias.scalar_type() == at::kFloat));
  CHECK(check_cast(root) == 4);
  CHECK(nn::cast_for_inference(root, at::kBFloat16) == 0);  // already cast

  // The norms take bf16 activations, normalise in float32 and return bf16.
  torch::NoGradGuard ng;
  at::Tensor x = (at::arange(2 * 8 * 6, at::kFloat).reshape({2, 8, 6}).sin() * 3).to(at::kBFloat16);
  gn->weight.copy_(at::linspace(0.5, 1.5, 8));
  at::Tensor y = gn->forward(x);
  CHECK((y.scalar_type() == at::kBFloat16));
  at::Tensor ref = at::group_norm(x.to(at::kFloat), 4, gn->weight, gn->bias, 1e-5);
  CHECK(test::compare(y.to(at::kFloat), ref).rel_max < 8e-3);
  at::Tensor xl = x.transpose(1, 2).contiguous();  // [2, 6, 8]
  at::Tensor yl = ln->forward(xl);
  CHECK((yl.scalar_type() == at::kBFloat16));
  CHECK(at::equal(yl, at::layer_norm(xl.to(at::kFloat), {8}, ln->weight, ln->bias, 1e-5).to(at::kBFloat16)));
}

TEST_CASE("reduced precision: LVDM U-Nets with bf16 weights stay near the official fp32 outputs") {
  torch::NoGradGuard ng;
  {  // concat-adm-mask (the default model's kind), official fixture weights
    auto build = [] {
      LvdmUNet3D m(LvdmUNetConfig::from_yaml_file(test::lvdm_config("unet3d_small.yaml")));
      m->eval();
      load_lvdm_unet(*m, load_checkpoint(test::lvdm_fixture("unet3d_small.safetensors")));
      return m;
    };
    LvdmUNet3D m = build(), ref = build();
    nn::cast_for_inference(*m, at::kBFloat16);
    CHECK(check_cast(*m) > 0);
    StateDict io = load_checkpoint(test::lvdm_fixture("unet3d_small_io.safetensors"));
    const auto &x = io.get("x"), &t = io.get("t"), &s = io.get("s"), &mask = io.get("mask");
    const at::Tensor xin = at::cat({x, mask}, 1);
    check_bf16("small x|mask", m->forward(xin, t, {}, s), io.get("out_plain"), 4e-2);
    check_bf16("small uncond", m->forward(at::cat({x, at::zeros_like(mask)}, 1), t), io.get("out_uncond"), 4e-2);
    // About as far from the official output as autocast (float32 weights cast per op) gets.
    at::Tensor autocast_out;
    {
      AutocastScope scope(c10::Device(c10::kCPU), at::kBFloat16);
      autocast_out = ref->forward(xin, t, {}, s).to(at::kFloat);
    }
    const double e_cast = test::compare(m->forward(xin, t, {}, s), io.get("out_plain")).rel_fro;
    const double e_auto = test::compare(autocast_out, io.get("out_plain")).rel_fro;
    MESSAGE("small x|mask: bf16 weights " << e_cast << ", autocast " << e_auto);
    CHECK(e_cast <= 1.25 * e_auto);
  }
  {  // cross-attention: a float32 text context into bf16 weights
    LvdmUNet3D m(LvdmUNetConfig::from_yaml_file(test::lvdm_config("unet3d_t2v_small.yaml")));
    m->eval();
    test::det_fill(*m);
    nn::cast_for_inference(*m, at::kBFloat16);
    StateDict io = load_checkpoint(test::lvdm_fixture("unet3d_t2v_small_det.safetensors"));
    LvdmUNetDenoiser den(m);
    Conditioning c;
    c.context = io.get("context");
    check_bf16("t2v small", den.forward(io.get("x"), io.get("t"), c), io.get("out"), 4e-2);
  }
  {  // kernel_size_t 3, resblock_updown, legacy heads (the two above have relative temporal positions)
    LvdmUNet3D m(LvdmUNetConfig::from_yaml_file(test::lvdm_config("unet3d_kt3_small.yaml")));
    m->eval();
    test::det_fill(*m);
    nn::cast_for_inference(*m, at::kBFloat16);
    StateDict io = load_checkpoint(test::lvdm_fixture("unet3d_kt3_small_det.safetensors"));
    check_bf16("kt3 small", m->forward(io.get("x"), io.get("t")), io.get("out"), 4e-2);
  }
}

TEST_CASE("reduced precision: Latte and Latte-1 with bf16 weights stay near the official fp32 outputs") {
  torch::NoGradGuard ng;
  {
    Latte m(test::latte_tiny_cond_config());
    load_latte(*m, load_checkpoint(test::data_dir() / "latte" / "latte_tiny.safetensors"));
    m->eval();
    nn::cast_for_inference(*m, at::kBFloat16);
    CHECK(check_cast(*m) == 0);  // Latte's LayerNorms have no affine parameters
    StateDict io = load_checkpoint(test::data_dir() / "latte" / "latte_tiny_io.safetensors");
    at::Tensor out = m->forward(test::swap_fc(io.get("x")), io.get("t"), io.get("y"));
    check_bf16("latte tiny", test::swap_fc(out), io.get("out"), 4e-2);
  }
  {
    const auto dir = test::data_dir() / "latte1";
    auto cfg = LatteT2VConfig::from_json(read_text_file(dir / "tiny_transformer_config.json"), "tiny config");
    LatteT2V net(cfg);
    load_into(*net, load_checkpoint(dir / "tiny_transformer.safetensors"));
    net->eval();
    nn::cast_for_inference(*net, at::kBFloat16);
    auto io = load_checkpoint(dir / "tiny_transformer_io.safetensors");
    check_bf16("latte-1 tiny", net->forward(io.get("hidden_states"), io.get("timestep"), io.get("encoder_hidden_states")),
               io.get("sample"), 4e-2);
  }
}
