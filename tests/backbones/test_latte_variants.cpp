// Latte beyond the release: the paper's variants 2-4 and tube embedding (no reference code exists,
// so the tests check what each variant must and must not mix, against explicit reference math and
// against the released variant where they coincide).
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "backbones/latte.h"
#include "backbones/latte_blocks.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "tests/module_state.h"
#include "tests/parity.h"

using namespace longvid;

namespace {

LatteConfig small(int64_t variant, int64_t depth = 2) {
  LatteConfig c;
  c.input_size = 8;
  c.patch_size = 2;
  c.in_channels = 4;
  c.hidden_size = 32;
  c.depth = depth;
  c.num_heads = 4;
  c.num_frames = 4;
  c.extras = 1;
  c.learn_sigma = false;
  c.variant = variant;
  return c;
}

// Every parameter random and non-zero (the adaLN gates too), fixed by the seed.
Latte make(const LatteConfig& c, int64_t seed) {
  torch::manual_seed(seed);
  Latte m(c);
  torch::NoGradGuard ng;
  for (auto& p : m->named_parameters())
    if (p.key() != "pos_embed" && p.key() != "temp_embed") p.value().normal_(0, 0.3);
  m->eval();
  return m;
}

using test::state_of;  // tests/module_state.h

// How much output frame 0 moves when input frame 2 changes (0: no temporal mixing).
double cross_frame_effect(Latte& m) {
  torch::NoGradGuard ng;
  auto x = torch::randn({1, 4, 4, 8, 8});
  auto t = torch::full({1}, 300, torch::kLong);
  auto x2 = x.clone();
  x2.select(2, 2).add_(1.0);
  return (m->forward(x, t) - m->forward(x2, t)).select(2, 0).abs().max().item<double>();
}

}  // namespace

TEST_CASE("latte variants: variant 2 with one spatial and one temporal block is the released variant 1") {
  auto v1 = make(small(1, 2), 1);
  auto v2cfg = small(2, 2);
  Latte v2(v2cfg);
  load_latte(*v2, state_of(*v1));
  v2->eval();
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 4, 4, 8, 8});
  auto t = torch::tensor({10, 900});
  CHECK(at::allclose(v1->forward(x, t), v2->forward(x, t), 1e-6, 1e-6));
  // With four blocks the order differs (S T S T against S S T T): another function.
  auto w1 = make(small(1, 4), 2);
  Latte w2(small(2, 4));
  load_latte(*w2, state_of(*w1));
  w2->eval();
  CHECK_FALSE(at::allclose(w1->forward(x, t), w2->forward(x, t), 1e-3, 1e-3));
}

TEST_CASE("latte variants: every variant mixes frames, and with the temporal paths switched off none does") {
  for (int64_t v : {1, 2, 3, 4}) {
    CAPTURE(v);
    auto m = make(small(v, 2), 3);
    CHECK(cross_frame_effect(m) > 1e-3);
  }
  // Variant 3 with the temporal attention's gate at zero: frames are independent.
  auto m3 = make(small(3, 1), 4);
  {
    torch::NoGradGuard ng;
    auto w = m3->named_parameters()["blocks.0.adaLN_modulation.1.weight"];
    auto b = m3->named_parameters()["blocks.0.adaLN_modulation.1.bias"];
    w.narrow(0, 5 * 32, 32).zero_();  // gate of the temporal branch (chunk 5 of 9)
    b.narrow(0, 5 * 32, 32).zero_();
  }
  CHECK(cross_frame_effect(m3) < 1e-6);
}

TEST_CASE("latte variants: variant 4 attention equals explicit per-head math (half the heads over space, half over time)") {
  using namespace latte_detail;
  torch::manual_seed(5);
  AttentionImpl attn(32, 4);
  const TokenGrid g{2, 3, 5};  // B, F, P
  auto x = torch::randn({g.B * g.F, g.P, 32});
  torch::NoGradGuard ng;
  auto got = attn.forward_split(x, g);
  // Reference: per head, softmax(q k^T / sqrt(d)) v over the group the head attends to.
  auto qkv = attn.qkv->forward(x).reshape({g.B, g.F, g.P, 3, 4, 8}).to(torch::kDouble);
  auto out = torch::zeros({g.B, g.F, g.P, 4, 8}, torch::kDouble);
  for (int64_t h = 0; h < 4; ++h) {
    auto q = qkv.select(3, 0).select(3, h), k = qkv.select(3, 1).select(3, h), v = qkv.select(3, 2).select(3, h);
    if (h < 2) {  // spatial: within a frame, over its P patches: [B, F, P, d]
      auto a = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(8.0), -1);
      out.select(3, h).copy_(torch::matmul(a, v));
    } else {  // temporal: within a patch, over the F frames
      auto qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2);  // [B, P, F, d]
      auto a = torch::softmax(torch::matmul(qt, kt.transpose(-1, -2)) / std::sqrt(8.0), -1);
      out.select(3, h).copy_(torch::matmul(a, vt).transpose(1, 2));
    }
  }
  auto want = attn.proj->forward(out.reshape({g.B * g.F, g.P, 32}).to(torch::kFloat));
  test::check_parity("variant 4 split heads", got, want);
}

TEST_CASE("latte variants: tube embedding (Conv3d patches of t frames) and its shapes, configs and errors") {
  // Tubes of two latent frames.
  auto tcfg = small(1, 2);
  tcfg.tube_frames = 2;
  Latte tube(tcfg);
  tube->eval();
  CHECK(tube->named_parameters()["x_embedder.proj.weight"].sizes() == at::IntArrayRef({32, 4, 2, 2, 2}));
  CHECK(tube->named_parameters()["temp_embed"].size(1) == 2);  // 4 frames / tubes of 2
  CHECK(tube->named_parameters()["final_layer.linear.weight"].size(0) == 2 * 2 * 2 * 4);
  torch::NoGradGuard ng;
  auto x = torch::randn({1, 4, 4, 8, 8});
  auto t = torch::full({1}, 500, torch::kLong);
  CHECK(tube->forward(x, t).sizes() == x.sizes());
  CHECK_THROWS_WITH_AS(tube->forward(torch::randn({1, 4, 3, 8, 8}), t), doctest::Contains("multiple of the tube length 2"),
                       Error);
  // A 2-frame tube whose kernel is zero on its second frame and whose final layer predicts the
  // same values for both frames sees only the even frames: frame 1 changes nothing.
  {
    auto w = tube->named_parameters()["x_embedder.proj.weight"];
    w.normal_(0, 0.3);
    w.select(2, 1).zero_();
    auto dx = x.clone();
    dx.select(2, 1).add_(1.0);
    CHECK(at::equal(tube->forward(x, t), tube->forward(dx, t)));
  }
  // The shapes say what was stored: from_state_dict reads the tube length and the frames back.
  auto cfg = LatteConfig::from_state_dict(state_of(*tube), 4);
  CHECK(cfg.tube_frames == 2);
  CHECK(cfg.num_frames == 4);
  CHECK(cfg.patch_size == 2);
  // Variant 3 is recognised from its keys; 2 and 4 share the released keys and come from a config.
  auto v3 = make(small(3, 1), 7);
  CHECK(LatteConfig::from_state_dict(state_of(*v3), 4).variant == 3);
  auto yaml = LatteConfig::from_yaml_string("hidden_size: 32\ndepth: 3\nnum_heads: 4\npatch_size: 2\ninput_size: 8\n"
                                            "num_frames: 4\nvariant: 4\ntube_frames: 2\n");
  CHECK(yaml.variant == 4);
  CHECK(yaml.tube_frames == 2);
  auto bad = small(1, 2);
  bad.variant = 5;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("variant 5"), Error);
  bad = small(2, 3);
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("depth 3 must be even"), Error);
  bad = small(1, 2);
  bad.tube_frames = 3;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("not a multiple of tube_frames 3"), Error);
}
