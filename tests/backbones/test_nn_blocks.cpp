// Shared building blocks (backbones/nn_blocks.h) against their closed-form definitions, evaluated
// element by element in double precision here.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "backbones/nn_blocks.h"
#include "core/error.h"
#include "tests/wave.h"

using namespace longvid;

namespace {

using test::wave;

std::set<std::string> param_names(const torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& p : m.named_parameters(true)) out.insert(p.key());
  return out;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// 1d sin-cos table row, MAE get_1d_sincos_pos_embed_from_grid for one position.
std::vector<double> sincos_row(int64_t dim, double pos) {
  std::vector<double> row(dim);
  const int64_t half = dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double omega = 1.0 / std::pow(10000.0, static_cast<double>(i) / (static_cast<double>(dim) / 2.0));
    row[i] = std::sin(pos * omega);
    row[half + i] = std::cos(pos * omega);
  }
  return row;
}

double gelu_tanh(double x) {
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}

}  // namespace

TEST_CASE("nn_blocks: 1d sin-cos position table is MAE get_1d_sincos_pos_embed_from_grid") {
  const std::vector<double> pos{0.0, 1.0, 2.5, 7.0, 31.0};
  at::Tensor t = nn::sincos_pos_embed_1d(12, at::tensor(pos, at::kDouble).reshape({5, 1}));
  REQUIRE((t.scalar_type() == at::kDouble));
  REQUIRE(t.sizes() == at::IntArrayRef({5, 12}));
  auto a = t.accessor<double, 2>();
  double err = 0;
  for (size_t m = 0; m < pos.size(); ++m) {
    auto row = sincos_row(12, pos[m]);
    for (int64_t d = 0; d < 12; ++d) err = std::max(err, std::abs(a[m][d] - row[d]));
  }
  CHECK(err < 1e-12);
  // Position 0: sin half zeros, cos half ones.
  CHECK(t[0].slice(0, 0, 6).abs().max().item<double>() == 0.0);
  CHECK(t[0].slice(0, 6, 12).eq(1.0).all().item<bool>());
  CHECK_THROWS_AS(nn::sincos_pos_embed_1d(7, at::arange(3)), Error);
}

TEST_CASE("nn_blocks: 2d sin-cos position table is MAE get_2d_sincos_pos_embed (column half first)") {
  const int64_t dim = 16, gh = 3, gw = 4, extra = 2;
  at::Tensor t = nn::sincos_pos_embed_2d(dim, gh, gw, extra);
  REQUIRE(t.sizes() == at::IntArrayRef({extra + gh * gw, dim}));
  auto a = t.accessor<double, 2>();
  double err = 0;
  for (int64_t e = 0; e < extra; ++e)
    for (int64_t d = 0; d < dim; ++d) err = std::max(err, std::abs(a[e][d]));
  for (int64_t r = 0; r < gh; ++r)
    for (int64_t c = 0; c < gw; ++c) {
      // meshgrid(grid_w, grid_h): grid[0] is the column, and its table fills the first half.
      auto first = sincos_row(dim / 2, static_cast<double>(c)), second = sincos_row(dim / 2, static_cast<double>(r));
      const int64_t tok = extra + r * gw + c;
      for (int64_t d = 0; d < dim / 2; ++d) {
        err = std::max(err, std::abs(a[tok][d] - first[d]));
        err = std::max(err, std::abs(a[tok][dim / 2 + d] - second[d]));
      }
    }
  CHECK(err < 1e-12);
  // The square form (DiT/Latte: grid_size = sqrt(num_patches)).
  CHECK(at::equal(nn::sincos_pos_embed_2d(dim, 3), nn::sincos_pos_embed_2d(dim, 3, 3, 0)));
  CHECK_THROWS_AS(nn::sincos_pos_embed_2d(6, 2), Error);  // each half must be even
}

TEST_CASE("nn_blocks: timm Mlp is fc1, tanh-GELU, fc2") {
  nn::MlpImpl mlp(3, 5, 2);
  CHECK(param_names(mlp) == std::set<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(nn::MlpImpl(4, 8).fc2->weight.sizes() == at::IntArrayRef({4, 8}));  // out_features defaults to in
  {
    at::NoGradGuard ng;
    mlp.fc1->weight.copy_(wave({5, 3}, 0.1) * 2.0);
    mlp.fc1->bias.copy_(wave({5}, 0.2));
    mlp.fc2->weight.copy_(wave({2, 5}, 0.3));
    mlp.fc2->bias.copy_(wave({2}, 0.4));
  }
  at::Tensor x = wave({2, 3}, 0.5) * 3.0;
  at::Tensor y = mlp.forward(x);
  REQUIRE(y.sizes() == at::IntArrayRef({2, 2}));
  auto w1 = mlp.fc1->weight.accessor<float, 2>(), w2 = mlp.fc2->weight.accessor<float, 2>();
  auto b1 = mlp.fc1->bias.accessor<float, 1>(), b2 = mlp.fc2->bias.accessor<float, 1>();
  auto xa = x.accessor<float, 2>();
  at::Tensor want = at::empty({2, 2}, at::kDouble);
  for (int64_t n = 0; n < 2; ++n) {
    std::vector<double> h(5);
    for (int64_t j = 0; j < 5; ++j) {
      double s = b1[j];
      for (int64_t i = 0; i < 3; ++i) s += double(w1[j][i]) * xa[n][i];
      h[j] = gelu_tanh(s);
    }
    for (int64_t o = 0; o < 2; ++o) {
      double s = b2[o];
      for (int64_t j = 0; j < 5; ++j) s += double(w2[o][j]) * h[j];
      want[n][o] = s;
    }
  }
  CHECK(max_abs_diff(y, want) < 1e-5);
  // The tanh approximation differs from the exact erf GELU by up to ~1e-3 here: make sure it is the tanh one.
  at::Tensor z = at::linspace(-3.0, 3.0, 13, at::kDouble);
  at::Tensor want_g = at::empty({13}, at::kDouble);
  for (int64_t i = 0; i < 13; ++i) want_g[i] = gelu_tanh(z[i].item<double>());
  CHECK(max_abs_diff(at::gelu(z, "tanh"), want_g) < 1e-12);
}

TEST_CASE("nn_blocks: timestep embedding (LVDM and DiT cos-sin order, diffusers options)") {
  const std::vector<int64_t> ts{0, 1, 7, 50};
  at::Tensor t = at::tensor(ts, at::kLong);
  auto closed = [&](int64_t dim, bool cos_first, double shift, double max_period, double scale) {
    const int64_t half = dim / 2;
    at::Tensor out = at::zeros({static_cast<int64_t>(ts.size()), dim}, at::kDouble);
    for (size_t n = 0; n < ts.size(); ++n)
      for (int64_t i = 0; i < half; ++i) {
        const double arg = scale * ts[n] * std::exp(-std::log(max_period) * i / (half - shift));
        out[n][i] = cos_first ? std::cos(arg) : std::sin(arg);
        out[n][half + i] = cos_first ? std::sin(arg) : std::cos(arg);
      }
    return out;
  };
  at::Tensor lvdm = nn::timestep_embedding(t, 10);
  CHECK((lvdm.scalar_type() == at::kFloat));
  CHECK(max_abs_diff(lvdm, closed(10, true, 0.0, 1e4, 1.0)) < 2e-5);
  at::Tensor odd = nn::timestep_embedding(t, 11);  // zero column appended
  CHECK(at::equal(odd.slice(1, 0, 10), lvdm));
  CHECK(odd.select(1, 10).abs().max().item<float>() == 0.0f);

  nn::TimestepEmbeddingOptions diffusers;  // get_timestep_embedding defaults
  diffusers.cos_first = false;
  diffusers.downscale_freq_shift = 1.0;
  CHECK(max_abs_diff(nn::timestep_embedding(t, 10, diffusers), closed(10, false, 1.0, 1e4, 1.0)) < 2e-5);
  diffusers.cos_first = true;  // flip_sin_to_cos=True
  diffusers.max_period = 1000.0;
  diffusers.scale = 0.5;
  CHECK(max_abs_diff(nn::timestep_embedding(t, 10, diffusers), closed(10, true, 1.0, 1000.0, 0.5)) < 2e-5);
}

TEST_CASE("nn_blocks: LayerNorm with and without affine parameters") {
  nn::LayerNormImpl plain(6, 1e-6, false);  // DiT/Latte norm1/norm2/norm_final
  CHECK(param_names(plain).empty());
  nn::LayerNormImpl affine(6);
  CHECK(param_names(affine) == std::set<std::string>{"weight", "bias"});
  CHECK(affine.eps == 1e-5);
  at::Tensor x = wave({2, 3, 6}) * 4.0 + 1.0;
  auto xa = x.accessor<float, 3>();
  at::Tensor want = at::empty({2, 3, 6}, at::kDouble);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double mean = 0, var = 0;
      for (int64_t d = 0; d < 6; ++d) mean += xa[i][j][d] / 6.0;
      for (int64_t d = 0; d < 6; ++d) var += (xa[i][j][d] - mean) * (xa[i][j][d] - mean) / 6.0;
      for (int64_t d = 0; d < 6; ++d) want[i][j][d] = (xa[i][j][d] - mean) / std::sqrt(var + 1e-6);
    }
  CHECK(max_abs_diff(plain.forward(x), want) < 1e-5);
  nn::LayerNormImpl affine6(6, 1e-6, true);
  {
    at::NoGradGuard ng;
    affine6.weight.fill_(2.0);
    affine6.bias.fill_(-1.0);
  }
  CHECK(max_abs_diff(affine6.forward(x), want * 2.0 - 1.0) < 1e-5);
}

TEST_CASE("nn_blocks: attention is softmax(q k^T / sqrt(d) + mask) v per head") {
  const int64_t B = 2, Lq = 3, Lk = 4, H = 2, D = 3;
  at::Tensor q = wave({B, Lq, H * D}, 0.1), k = wave({B, Lk, H * D}, 0.7), v = wave({B, Lk, H * D}, 1.3);
  // Additive bias [Lq, Lk] (broadcast over B and heads) and a boolean mask that hides the last key.
  at::Tensor bias = wave({Lq, Lk}, 2.0);
  at::Tensor keep = at::ones({Lq, Lk}, at::kBool);
  keep.select(1, Lk - 1).fill_(false);
  auto reference = [&](double scale, int mode) {  // mode 0: none, 1: bias, 2: bool mask
    auto qa = q.accessor<float, 3>(), ka = k.accessor<float, 3>(), va = v.accessor<float, 3>();
    auto ba = bias.accessor<float, 2>();
    at::Tensor out = at::zeros({B, Lq, H * D}, at::kDouble);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Lq; ++i) {
          std::vector<double> w(Lk);
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j < Lk; ++j) {
            double s = 0;
            for (int64_t d = 0; d < D; ++d) s += double(qa[b][i][h * D + d]) * ka[b][j][h * D + d];
            s *= scale;
            if (mode == 1) s += ba[i][j];
            if (mode == 2 && j == Lk - 1) s = -INFINITY;
            w[j] = s;
            mx = std::max(mx, s);
          }
          for (auto& x : w) sum += (x = std::exp(x - mx));
          for (int64_t d = 0; d < D; ++d) {
            double o = 0;
            for (int64_t j = 0; j < Lk; ++j) o += w[j] / sum * va[b][j][h * D + d];
            out[b][i][h * D + d] = o;
          }
        }
    return out;
  };
  const double s = 1.0 / std::sqrt(static_cast<double>(D));
  CHECK(max_abs_diff(nn::attention(q, k, v, H), reference(s, 0)) < 1e-6);
  CHECK(max_abs_diff(nn::attention(q, k, v, H, bias), reference(s, 1)) < 1e-6);
  CHECK(max_abs_diff(nn::attention(q, k, v, H, keep), reference(s, 2)) < 1e-6);
  CHECK(max_abs_diff(nn::attention(q, k, v, H, {}, 0.25), reference(0.25, 0)) < 1e-6);
  CHECK_THROWS_AS(nn::attention(q, k, v, 4), Error);  // 6 channels do not split into 4 heads
}

TEST_CASE("nn_blocks: Conv 1d 2d 3d keep the official parameter names and shapes") {
  nn::ConvImpl c1(2, 3, {3}, {1}, {1}), c2(2, 3, {3, 1}, {1, 1}, {1, 0});
  nn::ConvImpl c3(2, 3, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, true);
  for (auto* c : {&c1, &c2, &c3}) CHECK(param_names(*c) == std::set<std::string>{"weight", "bias"});
  CHECK(c2.weight.sizes() == at::IntArrayRef({3, 2, 3, 1}));
  CHECK(c3.weight.abs().max().item<float>() == 0.0f);  // zero_module
  CHECK(c1.forward(wave({1, 2, 5})).sizes() == at::IntArrayRef({1, 3, 5}));
  CHECK(c3.forward(wave({1, 2, 2, 4, 4})).sizes() == at::IntArrayRef({1, 3, 2, 2, 2}));
  // Conv2d, kernel (3, 1), padding (1, 0): out[o, y, x] = b[o] + sum_{c, dy} w[o, c, dy, 0] in[c, y + dy - 1, x].
  at::Tensor x = wave({1, 2, 4, 3}, 0.4);
  at::Tensor y = c2.forward(x);
  REQUIRE(y.sizes() == at::IntArrayRef({1, 3, 4, 3}));
  auto w = c2.weight.accessor<float, 4>();
  auto bb = c2.bias.accessor<float, 1>();
  auto xa = x.accessor<float, 4>();
  double err = 0;
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t yy = 0; yy < 4; ++yy)
      for (int64_t xx = 0; xx < 3; ++xx) {
        double s = bb[o];
        for (int64_t c = 0; c < 2; ++c)
          for (int64_t dy = 0; dy < 3; ++dy) {
            const int64_t iy = yy + dy - 1;
            if (iy >= 0 && iy < 4) s += double(w[o][c][dy][0]) * xa[0][c][iy][xx];
          }
        err = std::max(err, std::abs(s - y[0][o][yy][xx].item<double>()));
      }
  CHECK(err < 1e-5);
}

TEST_CASE("nn_blocks: GroupNorm32 normalises in float32 and keeps the input dtype") {
  nn::GroupNormImpl gn32(64, 1e-5, true), gn(64, 1e-6, false);
  CHECK(param_names(gn32) == std::set<std::string>{"weight", "bias"});
  at::Tensor x = (wave({2, 64, 3}) * 5.0).to(at::kBFloat16);
  at::Tensor y = gn32.forward(x);
  CHECK((y.scalar_type() == at::kBFloat16));
  CHECK(at::equal(y, at::group_norm(x.to(at::kFloat), 32, {}, {}, 1e-5).to(at::kBFloat16)));
  CHECK(max_abs_diff(gn.forward(x.to(at::kFloat)), at::group_norm(x.to(at::kFloat), 32, {}, {}, 1e-6)) < 1e-6);
  CHECK_THROWS_AS(nn::GroupNormImpl(48, 1e-5, true), Error);
}

TEST_CASE("nn_blocks: ParamOptionsScope builds on the meta device and restores the options") {
  {
    nn::ParamOptionsScope scope(at::kMeta);
    nn::LinearImpl lin(1000, 1000);
    CHECK(lin.weight.device().is_meta());
  }
  CHECK(nn::LinearImpl(2, 2).weight.device().is_cpu());
}
