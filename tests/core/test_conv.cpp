// longvid::conv3d (core/conv.h) and longvid::linear (core/linear.h): the path each picks per shape,
// and that every path computes at::conv3d / at::linear (against a float64 reference).
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "core/conv.h"
#include "core/linear.h"
#include "core/op_profile.h"
#include "tests/wave.h"

using namespace longvid;

namespace {

using test::wave;

// The ops a call dispatches (core/op_profile.h), by name with their call counts.
std::map<std::string, int64_t> dispatched_ops(const std::function<void()>& f) {
  OpProfile p;
  f();
  std::map<std::string, int64_t> calls;
  for (const auto& o : p.ops()) calls[o.name] += o.calls;
  return calls;
}

// Relative error (Frobenius) against a float64 reference.
double relative_error(const at::Tensor& a, const at::Tensor& ref, const char* what) {
  const double e = ((a.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
  const std::string label = std::string(what) + " relative error ";
  MESSAGE(label << e);
  return e;
}

// How many calls of `name` f dispatches.
int64_t calls_of(const std::function<void()>& f, const char* name) {
  const auto ops = dispatched_ops(f);
  const auto it = ops.find(name);
  return it == ops.end() ? 0 : it->second;
}

at::Tensor reference_conv3d(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::IntArrayRef st,
                           at::IntArrayRef pd) {
  return at::conv3d(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble), st, pd);
}

}  // namespace

TEST_CASE("conv3d: oneDNN or im2col-GEMM picked per shape, the same convolution as at::conv3d") {
  const char* env = std::getenv("LONGVID_CONV");
  const bool onednn = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() &&
                      (!env || !*env || std::strcmp(env, "auto") == 0);
  // The chosen kernel is called directly, not through aten::convolution (PyTorch's own choice).
  // Relative error (Frobenius) against the float64 reference; measured 4.4e-8 .. 3.4e-7 on the 2-core build
  // machine, held to 1e-6.
  auto rel = [](const at::Tensor& a, const at::Tensor& ref) { return relative_error(a, ref, "conv3d"); };
  // Small channels (the default model's shapes): oneDNN, where PyTorch's rule takes im2col + GEMM.
  at::Tensor x = wave({1, 16, 4, 8, 8}, 0.2), w = wave({24, 16, 1, 3, 3}, 0.9) * 0.1, b = wave({24}, 1.3);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  CHECK(rel(conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}), reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  if (onednn) {
    const auto ops = dispatched_ops([&] { conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}); });
    CHECK(ops.count("aten::mkldnn_convolution") == 1);
    CHECK(ops.count("aten::convolution") == 0);
  }
  CHECK(rel(conv3d(x, w, b, {1, 2, 2}, {0, 1, 1}), reference_conv3d(x, w, b, {1, 2, 2}, {0, 1, 1})) < 1e-6);
  at::Tensor wt = wave({24, 16, 3, 3, 3}, 0.5) * 0.1;  // temporal kernel 3
  CHECK(rel(conv3d(x, wt, b, {1, 1, 1}, {1, 1, 1}), reference_conv3d(x, wt, b, {1, 1, 1}, {1, 1, 1})) < 1e-6);
  // no bias (the autoencoders' convolutions without one)
  const at::Tensor no_bias = at::zeros({24}, at::kDouble);
  CHECK(rel(conv3d(x, w, at::Tensor(), {1, 1, 1}, {0, 1, 1}), reference_conv3d(x, w, no_bias, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  // a channels-last input (oneDNN's output then is channels-last too)
  at::Tensor xcl = x.contiguous(at::MemoryFormat::ChannelsLast3d);
  CHECK(rel(conv3d(xcl, w, b, {1, 1, 1}, {0, 1, 1}), reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  // A 36 MiB weight on 64 output positions (sky.yaml's deepest level): im2col + GEMM (oneDNN's matmul).
  at::Tensor xb = wave({1, 1024, 4, 4, 4}, 0.1), wb = wave({1024, 1024, 1, 3, 3}, 0.3) * 0.01,
             bb = wave({1024}, 0.7);
  CHECK(conv3d_path(xb, wb, {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::gemm : Conv3dPath::aten));
  CHECK(rel(conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}), reference_conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  if (onednn) {
    const auto ops = dispatched_ops([&] { conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}); });
    CHECK(ops.count(onednn_linear_available() ? "mkldnn::_linear_pointwise" : "aten::slow_conv3d") == 1);
    CHECK(ops.count("aten::convolution") == 0);
    // the same in channels-last (the result keeps the input's layout)
    const at::Tensor y = conv3d(xb.contiguous(at::MemoryFormat::ChannelsLast3d), wb, bb, {1, 1, 1}, {0, 1, 1});
    CHECK(y.is_contiguous(at::MemoryFormat::ChannelsLast3d));
    CHECK(rel(y, reference_conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1})) < 1e-6);
  }
  // ... and oneDNN once the output has more positions (batch 9 -> 576).
  CHECK(conv3d_path(xb.expand({9, -1, -1, -1, -1}), wb, {1, 1, 1}, {0, 1, 1}) ==
        (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  // Training (a tensor that requires grad), autocast, other dtypes: at::conv3d.
  at::Tensor wg = w.clone().requires_grad_(true);
  CHECK(conv3d_path(x, wg, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(dispatched_ops([&] { conv3d(x, wg, b, {1, 1, 1}, {0, 1, 1}); }).count("aten::convolution") == 1);
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

TEST_CASE("conv3d in bf16 (a model cast by --dtype bf16): oneDNN, packed when opted in, near float64") {
  const char* env = std::getenv("LONGVID_CONV");
  // oneDNN takes bf16 only on CPUs that have the instructions for it (AVX-512 BW/VL/DQ or AVX-NE-CONVERT).
  const bool onednn = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() &&
                      (!env || !*env || std::strcmp(env, "aten") != 0) && onednn_bf16_ok();
  MESSAGE("oneDNN bf16 convolutions on this CPU: " << onednn_bf16_ok());
  // bf16 rounding of the inputs and weights (7 stored mantissa bits: up to 2^-8 each): measured 2.5e-3
  // relative; held to 1e-2.
  auto rel = [](const at::Tensor& a, const at::Tensor& ref) { return relative_error(a.to(at::kFloat), ref, "bf16 conv3d"); };
  const at::Tensor x = wave({1, 16, 4, 8, 8}, 0.2), w = wave({24, 16, 1, 3, 3}, 0.9) * 0.1, b = wave({24}, 1.3);
  const at::Tensor xh = x.to(at::kBFloat16), wh = w.to(at::kBFloat16), bh = b.to(at::kBFloat16);
  const at::Tensor ref = reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1});
  CHECK(conv3d_path(xh, wh, {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  // The 36 MiB-weight shape stays on oneDNN in bf16 (the im2col + GEMM rule is float32's).
  CHECK(conv3d_path(wave({1, 1024, 4, 4, 4}, 0.1).to(at::kBFloat16), at::empty({1024, 1024, 1, 3, 3}, at::kBFloat16),
                    {1, 1, 1}, {0, 1, 1}) == (onednn ? Conv3dPath::onednn : Conv3dPath::aten));
  const at::Tensor y = conv3d(xh, wh, bh, {1, 1, 1}, {0, 1, 1});
  CHECK((y.scalar_type() == at::kBFloat16));
  CHECK(rel(y, ref) < 1e-2);
  if (onednn) CHECK(at::equal(y, at::conv3d(xh, wh, bh, {1, 1, 1}, {0, 1, 1})));  // the kernel ATen picks for bf16 too
  // Mixed dtypes are ATen's to refuse.
  CHECK(conv3d_path(xh, w, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK_THROWS(conv3d(xh, w, b, {1, 1, 1}, {0, 1, 1}));
  CHECK(conv3d_path(x.to(at::kHalf), w.to(at::kHalf), {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  if (!onednn) return;
  const bool was = conv3d_packing();
  set_conv3d_packing(true);
  PackedConvWeight cache;
  conv3d(xh, wh, bh, {1, 1, 1}, {0, 1, 1}, &cache);  // records the sizes
  CHECK(prepack_conv3d(cache, wh, {1, 1, 1}, {0, 1, 1}));
  CHECK(calls_of([&] { CHECK(rel(conv3d(xh, wh, bh, {1, 1, 1}, {0, 1, 1}, &cache), ref) < 1e-2); },
                 "mkldnn::_convolution_pointwise") == 1);
  set_conv3d_packing(was);
}

TEST_CASE("conv3d on a packed weight (opt-in): packed once, repacked when the weight changes, the same convolution") {
  const char* env = std::getenv("LONGVID_CONV");
  const bool packs = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && (!env || !*env || std::strcmp(env, "aten") != 0);
  const bool was = conv3d_packing();
  set_conv3d_packing(true);  // (opt-in: LONGVID_CONV=packed)
  // Relative error (Frobenius) against float64: measured 3.0e-8 .. 1.2e-6 (oneDNN's brgemm kernel on the
  // packed weight sums in another order than the unpacked one, 4e-8 .. 3e-7), held to 2e-6.
  auto rel = [](const at::Tensor& a, const at::Tensor& ref) { return relative_error(a, ref, "packed conv3d"); };
  PackedConvWeight cache;
  at::Tensor x = wave({1, 16, 4, 8, 8}, 0.2), w = wave({24, 16, 1, 3, 3}, 0.9) * 0.1, b = wave({24}, 1.3);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}, true) == (packs ? Conv3dPath::packed : Conv3dPath::aten));
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}, false) != Conv3dPath::packed);
  // The first call runs unpacked and records the input's sizes; prepack_conv3d packs for them.
  const char* reorder = "aten::mkldnn_reorder_conv3d_weight";
  if (packs) {
    CHECK(calls_of([&] { CHECK(rel(conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache), reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1})) < 1e-6); },
                reorder) == 0);
    CHECK(!cache.packed.defined());
    CHECK(cache.input_sizes == std::vector<int64_t>{1, 16, 4, 8, 8});
    CHECK(calls_of([&] { CHECK(prepack_conv3d(cache, w, {1, 1, 1}, {0, 1, 1})); }, reorder) == 1);
    CHECK(cache.packed.defined());
    CHECK(!prepack_conv3d(cache, w, {1, 1, 1}, {0, 1, 1}));  // already packed
    CHECK(rel(conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache), reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1})) < 2e-6);
    // The second call reuses the packed weight and runs oneDNN's inference operator on it.
    CHECK(calls_of([&] { conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache); }, reorder) == 0);
    CHECK(calls_of([&] { conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache); }, "mkldnn::_convolution_pointwise") == 1);
    // Another input size and a stride: the same packed weight, still the same convolution.
    const at::Tensor x2 = wave({2, 16, 3, 10, 6}, 0.4);
    CHECK(rel(conv3d(x2, w, b, {1, 2, 2}, {0, 1, 1}, &cache), reference_conv3d(x2, w, b, {1, 2, 2}, {0, 1, 1})) < 2e-6);
    // The weight changed in place (its version counter moves): packed again, and the new weight is used.
    w.mul_(-0.5);
    CHECK(calls_of([&] { CHECK(rel(conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache), reference_conv3d(x, w, b, {1, 1, 1}, {0, 1, 1})) < 2e-6); },
                reorder) == 1);
    // Another weight tensor with the same cache (a module whose parameter was replaced): packed again.
    at::Tensor w2 = wave({24, 16, 1, 3, 3}, 2.1) * 0.1;
    CHECK(calls_of([&] { CHECK(rel(conv3d(x, w2, b, {1, 1, 1}, {0, 1, 1}, &cache), reference_conv3d(x, w2, b, {1, 1, 1}, {0, 1, 1})) < 2e-6); },
                reorder) == 1);
    // The sky U-Net's deepest shape, a temporal kernel, no bias, a channels-last input.
    at::Tensor xb = wave({1, 1024, 4, 4, 4}, 0.1), wb = wave({1024, 1024, 1, 3, 3}, 0.3) * 0.01, bb = wave({1024}, 0.7);
    PackedConvWeight cb;
    conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}, &cb);
    CHECK(prepack_conv3d(cb, wb, {1, 1, 1}, {0, 1, 1}));
    CHECK(rel(conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1}, &cb), reference_conv3d(xb, wb, bb, {1, 1, 1}, {0, 1, 1})) < 2e-6);
    PackedConvWeight ct;
    at::Tensor wt = wave({24, 16, 3, 3, 3}, 0.5) * 0.1;
    conv3d(x, wt, at::Tensor(), {1, 1, 1}, {1, 1, 1}, &ct);
    CHECK(prepack_conv3d(ct, wt, {1, 1, 1}, {1, 1, 1}));
    CHECK(rel(conv3d(x, wt, at::Tensor(), {1, 1, 1}, {1, 1, 1}, &ct),
              reference_conv3d(x, wt, at::zeros({24}, at::kDouble), {1, 1, 1}, {1, 1, 1})) < 2e-6);
    CHECK(rel(conv3d(x.contiguous(at::MemoryFormat::ChannelsLast3d), wt, b, {1, 1, 1}, {1, 1, 1}, &ct),
              reference_conv3d(x, wt, b, {1, 1, 1}, {1, 1, 1})) < 2e-6);
  }
  // Training never packs: a weight that requires grad goes to at::conv3d, and the cache stays as it was.
  at::Tensor wg = w.clone().requires_grad_(true);
  CHECK(conv3d_path(x, wg, {1, 1, 1}, {0, 1, 1}, true) == Conv3dPath::aten);
  CHECK(calls_of([&] { conv3d(x, wg, b, {1, 1, 1}, {0, 1, 1}, &cache); }, "aten::convolution") == 1);
  // Packing off (the default): a cache is never filled.
  set_conv3d_packing(false);
  PackedConvWeight off;
  conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &off);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}, true) != Conv3dPath::packed);
  CHECK(!prepack_conv3d(off, w, {1, 1, 1}, {0, 1, 1}));
  CHECK(!off.packed.defined());
  set_conv3d_packing(was);
}

TEST_CASE("linear: oneDNN's matmul above 4M multiply-adds, the same product as at::linear") {
  const char* env = std::getenv("LONGVID_LINEAR");
  const bool onednn = onednn_linear_available() && at::globalContext().userEnabledMkldnn() &&
                      (!env || !*env || std::strcmp(env, "auto") == 0);
  // Relative error (Frobenius) against float64: measured 1.4e-7, held to 1e-6.
  auto rel = [](const at::Tensor& a, const at::Tensor& ref) { return relative_error(a, ref, "linear"); };
  // [2, 256, 96] x [192, 96]^T: 9.4M multiply-adds.
  const at::Tensor x = wave({2, 256, 96}, 0.2), w = wave({192, 96}, 0.6) * 0.1, b = wave({192}, 1.1);
  const at::Tensor ref = at::linear(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble));
  CHECK(linear_path(x, w) == (onednn ? LinearPath::onednn : LinearPath::aten));
  CHECK(rel(linear(x, w, b), ref) < 1e-6);
  CHECK(rel(linear(x, w, at::Tensor()), at::linear(x.to(at::kDouble), w.to(at::kDouble))) < 1e-6);
  // a transposed (non-contiguous) input
  const at::Tensor xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  CHECK(!xt.is_contiguous());
  CHECK(rel(linear(xt, w, b), ref) < 1e-6);
  if (onednn) {
    const auto ops = dispatched_ops([&] { linear(x, w, b); });
    CHECK(ops.count("mkldnn::_linear_pointwise") == 1);
    CHECK(ops.count("aten::linear") == 0);
  }
  // Small products, training, other dtypes, a 1-D input: at::linear.
  CHECK(linear_path(wave({4, 96}), w) == LinearPath::aten);
  CHECK(linear_path(x, w.clone().requires_grad_(true)) == LinearPath::aten);
  CHECK(linear_path(x.to(at::kDouble), w.to(at::kDouble)) == LinearPath::aten);
  CHECK(linear_path(wave({96}), w) == LinearPath::aten);
  CHECK(linear_path(wave({2, 256, 95}), w) == LinearPath::aten);  // mismatched K: ATen reports it
  CHECK_THROWS(linear(wave({2, 256, 95}), w, b));
}
