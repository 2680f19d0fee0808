// longvid::conv3d (core/conv.h): the path it picks per shape, and that every path computes
// at::conv3d (against a float64 reference).
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>

#include "core/conv.h"
#include "core/op_profile.h"

using namespace longvid;

namespace {

// Deterministic test values in [-1, 1].
at::Tensor wave(at::IntArrayRef shape, double phase = 0.0) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return at::sin(at::arange(n, at::kDouble) * 0.731 + phase).to(at::kFloat).reshape(shape);
}

}  // namespace

TEST_CASE("conv3d: oneDNN or im2col-GEMM picked per shape, the same convolution as at::conv3d") {
  const char* env = std::getenv("LONGVID_CONV");
  const bool onednn = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() &&
                      (!env || !*env || std::strcmp(env, "auto") == 0);
  // The ops a call dispatches (core/op_profile.h): the chosen kernel is called directly, not through
  // aten::convolution (PyTorch's own choice).
  auto ops_of = [](const std::function<void()>& f) {
    OpProfile p;
    f();
    std::set<std::string> names;
    for (const auto& o : p.ops()) names.insert(o.name);
    return names;
  };
  // Relative error (Frobenius) against the float64 reference; measured 4.4e-8 .. 3.4e-7 on the 2-core build
  // machine, held to 1e-6.
  auto rel = [](const at::Tensor& a, const at::Tensor& ref) {
    const double e = ((a.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
    MESSAGE("conv3d relative error " << e);
    return e;
  };
  auto reference = [](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::IntArrayRef st,
                      at::IntArrayRef pd) {
    return at::conv3d(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble), st, pd);
  };
  // Small channels (the default model's shapes): oneDNN, where PyTorch's rule takes im2col + GEMM.
  at::Tensor x = wave({1, 16, 4, 8, 8}, 0.2), w = wave({24, 16, 1, 3, 3}, 0.9) * 0.1, b = wave({24}, 1.3);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  CHECK(rel(conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}), reference(x, w, b, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  if (onednn) {
    const auto ops = ops_of([&] { conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}); });
    CHECK(ops.count("aten::mkldnn_convolution") == 1);
    CHECK(ops.count("aten::convolution") == 0);
  }
  CHECK(rel(conv3d(x, w, b, {1, 2, 2}, {0, 1, 1}), reference(x, w, b, {1, 2, 2}, {0, 1, 1})) < 1e-6);
  at::Tensor wt = wave({24, 16, 3, 3, 3}, 0.5) * 0.1;  // temporal kernel 3
  CHECK(rel(conv3d(x, wt, b, {1, 1, 1}, {1, 1, 1}), reference(x, wt, b, {1, 1, 1}, {1, 1, 1})) < 1e-6);
  // no bias (the autoencoders' convolutions without one)
  const at::Tensor no_bias = at::zeros({24}, at::kDouble);
  CHECK(rel(conv3d(x, w, at::Tensor(), {1, 1, 1}, {0, 1, 1}), reference(x, w, no_bias, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  // a channels-last input (oneDNN's output then is channels-last too)
  at::Tensor xcl = x.contiguous(at::MemoryFormat::ChannelsLast3d);
  CHECK(rel(conv3d(xcl, w, b, {1, 1, 1}, {0, 1, 1}), reference(x, w, b, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  // A 36 MiB weight on 64 output positions (sky.yaml's deepest level): im2col + GEMM.
  at::Tensor xb = wave({1, 1024, 4, 4, 4}, 0.1), wb = wave({1024, 1024, 1, 3, 3}, 0.3) * 0.01,
             bb = wave({1024}, 0.7);
  CHECK(conv3d_path(xb, wb, {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::gemm : Conv3dPath::aten));
  CHECK(rel(conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}), reference(xb, wb, bb, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  if (onednn) {
    const auto ops = ops_of([&] { conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}); });
    CHECK(ops.count("aten::slow_conv3d") == 1);
    CHECK(ops.count("aten::convolution") == 0);
  }
  // ... and oneDNN once the output has more positions (batch 3 -> 192).
  CHECK(conv3d_path(xb.expand({3, -1, -1, -1, -1}), wb, {1, 1, 1}, {0, 1, 1}) ==
        (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  // Training (a tensor that requires grad), autocast, other dtypes: at::conv3d.
  at::Tensor wg = w.clone().requires_grad_(true);
  CHECK(conv3d_path(x, wg, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(ops_of([&] { conv3d(x, wg, b, {1, 1, 1}, {0, 1, 1}); }).count("aten::convolution") == 1);
  // Shapes ATen must refuse or handle itself: stride 0, a kernel larger than the padded input, no
  // batch, mismatched channels.
  CHECK(conv3d_path(x, w, {1, 0, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(conv3d_path(wave({1, 16, 2, 8, 8}), wave({24, 16, 3, 3, 3}), {2, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(conv3d_path(at::empty({0, 16, 4, 8, 8}), w, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(conv3d_path(wave({1, 8, 4, 8, 8}), w, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK_THROWS(conv3d(x, w, b, {1, 0, 1}, {0, 1, 1}));
  CHECK(conv3d_path(x.to(at::kDouble), w.to(at::kDouble), {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  {
    at::autocast::set_autocast_enabled(at::kCPU, true);
    const bool path_aten = conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten;
    at::autocast::set_autocast_enabled(at::kCPU, false);
    CHECK(path_aten);
  }
}
