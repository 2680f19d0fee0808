// core/winograd.h: Winograd F(2x2, 3x3) against a float64 convolution, and where conv3d() takes it.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/conv.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "core/winograd.h"
#include "tests/wave.h"

using namespace longvid;

namespace {

using test::wave;

at::Tensor reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                     std::vector<int64_t> padding = {0, 1, 1}) {
  return at::conv3d(x.to(at::kDouble), w.to(at::kDouble), b.defined() ? b.to(at::kDouble) : at::Tensor(), {1, 1, 1},
                    padding);
}

double rel(const at::Tensor& a, const at::Tensor& ref) {
  return ((a.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
}

// Restore the process-wide settings a test changes, whatever happens in it.
struct PackingGuard {
  bool was = conv3d_packing();
  explicit PackingGuard(bool on) { set_conv3d_packing(on); }
  ~PackingGuard() { set_conv3d_packing(was); }
};
struct ChunkGuard {
  int64_t was;
  explicit ChunkGuard(int64_t bytes) : was(set_winograd_chunk_bytes(bytes)) {}
  ~ChunkGuard() { set_winograd_chunk_bytes(was); }
};

}  // namespace

TEST_CASE("winograd: F(2x2, 3x3) computes a (1, 3, 3) convolution with at most 3x the direct kernel's error") {
  struct Case {
    std::vector<int64_t> x, w;
    bool bias, channels_last;
  };
  // Odd and tiny frames (partial and all-padding tiles), batch and time, no bias, channels-last input,
  // and a sky.yaml shape (256 -> 256 channels).
  const std::vector<Case> cases = {
      {{1, 8, 1, 4, 4}, {8, 8, 1, 3, 3}, true, false},      {{2, 16, 3, 9, 7}, {24, 16, 1, 3, 3}, true, false},
      {{1, 16, 2, 1, 1}, {8, 16, 1, 3, 3}, true, false},    {{1, 16, 2, 5, 6}, {32, 16, 1, 3, 3}, false, false},
      {{1, 16, 2, 7, 10}, {16, 16, 1, 3, 3}, true, true},  {{1, 256, 2, 16, 16}, {256, 256, 1, 3, 3}, true, false},
  };
  for (const auto& c : cases) {
    const at::Tensor x0 = wave(c.x, 0.3) + 0.05 * wave(c.x, 2.1).pow(3);
    const at::Tensor x = c.channels_last ? x0.contiguous(at::MemoryFormat::ChannelsLast3d) : x0;
    const at::Tensor w = wave(c.w, 0.9) / std::sqrt(static_cast<double>(c.w[1] * 9));
    const at::Tensor b = c.bias ? wave({c.w[0]}, 1.7) * 0.1 : at::Tensor();
    REQUIRE(winograd_conv3d_supported(x, w, {1, 1, 1}, {0, 1, 1}));
    const at::Tensor y = winograd_conv3d(x, w, b, {0, 1, 1});
    const at::Tensor ref = reference(x, w, b);
    REQUIRE(y.sizes() == ref.sizes());
    CHECK(y.is_contiguous(c.channels_last ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous));
    const double e = rel(y, ref);
    const double direct = rel(at::conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}), ref);
    MESSAGE("winograd " << c.x[1] << "->" << c.w[0] << " at " << c.x[3] << "x" << c.x[4] << ": " << e
                        << " (direct " << direct << ", ratio " << e / direct << ")");
    // Measured 1.4e-7 .. 5.4e-7 (direct 6.7e-8 .. 3.2e-7), at most 2.1x the direct kernel's, on the
    // build machine.
    CHECK(e < 1e-6);
    CHECK(e < 3.0 * direct + 1e-7);
  }
  // An input with a leading stride (a narrowed batch) is read right.
  const at::Tensor big = wave({3, 16, 2, 6, 6}, 0.4);
  const at::Tensor xs = big.narrow(0, 1, 2), w = wave({16, 16, 1, 3, 3}, 0.2) * 0.08, b = wave({16}, 0.6);
  CHECK(rel(winograd_conv3d(xs, w, b, {0, 1, 1}), reference(xs, w, b)) < 1e-6);
}

TEST_CASE("winograd: conv3d() takes it for a large U-Net's spatial convolutions only, LONGVID_WINOGRAD=0 off") {
  const char* env = std::getenv("LONGVID_CONV");
  const bool dispatch = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() &&
                        !(env && std::strcmp(env, "aten") == 0);
  const char* wenv = std::getenv("LONGVID_WINOGRAD");
  const bool on = dispatch && !(wenv && std::strcmp(wenv, "0") == 0);
  CHECK(winograd_enabled() == !(wenv && std::strcmp(wenv, "0") == 0));
  const at::Tensor x = wave({1, 256, 4, 16, 16}, 0.1), w = wave({256, 256, 1, 3, 3}, 0.5) * 0.02,
                   b = wave({256}, 0.3);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}) == (on ? Conv3dPath::winograd : dispatch ? Conv3dPath::onednn
                                                                                           : Conv3dPath::aten));
  if (on) {
    OpProfile p;
    const at::Tensor y = conv3d(x, w, b, {1, 1, 1}, {0, 1, 1});
    std::map<std::string, int64_t> calls;
    for (const auto& o : p.ops()) calls[o.name] += o.calls;
    CHECK(calls["aten::bmm"] == 1);
    CHECK(calls["aten::mkldnn_convolution"] == 0);
    CHECK(rel(y, reference(x, w, b)) < 1e-6);
  }
  // 8x8 frames: from 1024 output positions on (16 frames, not 4).
  CHECK((conv3d_path(wave({1, 256, 16, 8, 8}), w, {1, 1, 1}, {0, 1, 1}) == Conv3dPath::winograd) == on);
  CHECK(conv3d_path(wave({1, 256, 4, 8, 8}), w, {1, 1, 1}, {0, 1, 1}) != Conv3dPath::winograd);
  // Not: fewer than 256 channels (the default model's U-Net), frames under 8x8, another kernel, stride
  // or padding, a tensor that requires grad, bf16.
  const at::Tensor x128 = wave({1, 128, 4, 16, 16}), w128 = wave({128, 128, 1, 3, 3});
  CHECK(conv3d_path(x128, w128, {1, 1, 1}, {0, 1, 1}) != Conv3dPath::winograd);
  const at::Tensor x4 = wave({1, 256, 64, 4, 4});
  CHECK(conv3d_path(x4, w, {1, 1, 1}, {0, 1, 1}) != Conv3dPath::winograd);
  CHECK(conv3d_path(x, w, {1, 2, 2}, {0, 1, 1}) != Conv3dPath::winograd);
  CHECK(conv3d_path(x, w, {1, 1, 1}, {1, 1, 1}) != Conv3dPath::winograd);
  const at::Tensor w3 = wave({256, 256, 3, 3, 3}) * 0.01;
  CHECK(conv3d_path(wave({1, 256, 4, 16, 16}), w3, {1, 1, 1}, {1, 1, 1}) != Conv3dPath::winograd);
  CHECK(conv3d_path(x, w.clone().requires_grad_(), {1, 1, 1}, {0, 1, 1}) == Conv3dPath::aten);
  CHECK(conv3d_path(x.to(at::kBFloat16), w.to(at::kBFloat16), {1, 1, 1}, {0, 1, 1}) != Conv3dPath::winograd);
  CHECK_FALSE(winograd_conv3d_supported(x.to(at::kDouble), w.to(at::kDouble), {1, 1, 1}, {0, 1, 1}));
  // The autoencoders' channels-last 3x3x3 convolutions on a pre-padded input: from 128 channels; an
  // NCDHW input of that kind stays on oneDNN (not measured).
  const at::Tensor xa = wave({1, 128, 6, 18, 18}).contiguous(at::MemoryFormat::ChannelsLast3d);
  const at::Tensor wa = wave({128, 128, 3, 3, 3}) * 0.01;
  CHECK((conv3d_path(xa, wa, {1, 1, 1}, {0, 0, 0}) == Conv3dPath::winograd) == on);
  CHECK(conv3d_path(xa.contiguous(), wa, {1, 1, 1}, {0, 0, 0}) != Conv3dPath::winograd);
  const at::Tensor xa64 = wave({1, 64, 6, 18, 18}).contiguous(at::MemoryFormat::ChannelsLast3d);
  CHECK(conv3d_path(xa64, wave({64, 64, 3, 3, 3}), {1, 1, 1}, {0, 0, 0}) != Conv3dPath::winograd);
}

TEST_CASE("winograd: with packing on, a conv module keeps the weight's transform and makes it again when the weight changes") {
  if (!at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn() || !winograd_enabled()) return;
  const char* env = std::getenv("LONGVID_CONV");
  if (env && std::strcmp(env, "aten") == 0) return;
  PackingGuard packing(true);
  PackedConvWeight cache;
  const at::Tensor x = wave({1, 256, 16, 8, 8}, 0.2);
  at::Tensor w = wave({256, 256, 1, 3, 3}, 0.7) * 0.02;
  const at::Tensor b = wave({256}, 0.4);
  REQUIRE(conv3d_path(x, w, {1, 1, 1}, {0, 1, 1}, true) == Conv3dPath::winograd);
  const at::Tensor y0 = conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache);
  REQUIRE(cache.winograd.defined());
  CHECK(at::equal(cache.winograd, winograd_weight(w)));
  CHECK(at::equal(y0, winograd_conv3d(x, w, b, {0, 1, 1})));  // the same values as transformed per call
  const void* kept = cache.winograd.data_ptr();
  (void)conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache);
  CHECK(cache.winograd.data_ptr() == kept);  // reused
  w.mul_(0.5);  // changed in place (the version counter moves)
  const at::Tensor y1 = conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &cache);
  CHECK(at::equal(cache.winograd, winograd_weight(w)));
  CHECK(rel(y1, reference(x, w, b)) < 1e-6);
  set_conv3d_packing(false);
  PackedConvWeight unused;
  (void)conv3d(x, w, b, {1, 1, 1}, {0, 1, 1}, &unused);
  CHECK_FALSE(unused.winograd.defined());  // packing off: nothing kept
}

TEST_CASE("winograd: the channels-last kernel (temporal taps, pre-padded input) computes the autoencoders' convolutions") {
  struct Case {
    std::vector<int64_t> x, w;
    int64_t pad;
    bool bias, channels_last;
    int64_t chunk_bytes;  // 0: the default
  };
  // The LVDM 3D AE's SamePadConv3d: kernel 3x3x3 on an input padded beforehand (padding 0); also
  // kernel (1, 3, 3), padding 1, an NCDHW input, odd sizes, batch 2, bands of one and of four tile rows,
  // and chunks of one output frame.
  const std::vector<Case> cases = {
      {{1, 16, 6, 10, 10}, {24, 16, 3, 3, 3}, 0, true, true, 0},
      {{2, 8, 5, 9, 7}, {8, 8, 3, 3, 3}, 0, false, true, 0},
      {{1, 16, 4, 7, 8}, {16, 16, 1, 3, 3}, 1, true, true, 0},
      {{1, 8, 5, 6, 6}, {16, 8, 3, 3, 3}, 1, true, false, 0},
      {{2, 16, 7, 10, 9}, {16, 16, 3, 3, 3}, 0, true, true, 1},
      {{1, 16, 8, 12, 12}, {16, 16, 3, 3, 3}, 0, true, true, 300000},
      {{1, 16, 4, 11, 13}, {16, 16, 3, 3, 3}, 1, true, true, 1},  // one output frame (+ halo) and tile row at a time
      {{1, 128, 4, 18, 18}, {128, 128, 3, 3, 3}, 0, true, true, 0},
  };
  for (const auto& c : cases) {
    const at::Tensor x0 = wave(c.x, 0.8) + 0.05 * wave(c.x, 1.1).pow(3);
    const at::Tensor x = c.channels_last ? x0.contiguous(at::MemoryFormat::ChannelsLast3d) : x0;
    const at::Tensor w = (wave(c.w, 0.4) / std::sqrt(static_cast<double>(c.w[1] * c.w[2] * 9)))
                             .contiguous(at::MemoryFormat::ChannelsLast3d);  // the AE keeps its weights so
    const at::Tensor b = c.bias ? wave({c.w[0]}, 0.9) * 0.1 : at::Tensor();
    const std::vector<int64_t> padding{0, c.pad, c.pad};
    REQUIRE(winograd_conv3d_supported(x, w, {1, 1, 1}, padding));
    if (c.w[2] == 3) CHECK_FALSE(winograd_takes_transform(x, w, padding));
    at::Tensor y;
    {
      ChunkGuard chunk(c.chunk_bytes);
      y = winograd_conv3d(x, w, b, padding);
    }
    const at::Tensor ref = reference(x, w, b, padding);
    REQUIRE(y.sizes() == ref.sizes());
    CHECK(y.is_contiguous(c.channels_last ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous));
    const double e = rel(y, ref);
    const double direct = rel(at::conv3d(x, w, b, {1, 1, 1}, padding), ref);
    MESSAGE("winograd (channels-last kernel) " << c.x[1] << "->" << c.w[0] << " kernel " << c.w[2] << "x3x3 at "
                                               << c.x[3] << "x" << c.x[4] << ": " << e << " (direct " << direct
                                               << ", ratio " << e / direct << ")");
    // Measured 1.1e-7 .. 1.6e-6 (direct 1.9e-7 .. 9.0e-7), at most 2.3x the direct kernel's, on the
    // build machine.
    CHECK(e < 3e-6);
    CHECK(e < 3.0 * direct + 1e-7);
  }
  // Not supported: kernel 4 (the autoencoders' down-sampling), stride 2, padding 2, too few frames.
  const at::Tensor x = wave({1, 8, 4, 8, 8}).contiguous(at::MemoryFormat::ChannelsLast3d);
  CHECK_FALSE(winograd_conv3d_supported(x, wave({8, 8, 4, 4, 4}), {1, 1, 1}, {0, 0, 0}));
  CHECK_FALSE(winograd_conv3d_supported(x, wave({8, 8, 3, 3, 3}), {1, 2, 2}, {0, 0, 0}));
  CHECK_FALSE(winograd_conv3d_supported(x, wave({8, 8, 3, 3, 3}), {1, 1, 1}, {0, 2, 2}));
  CHECK_FALSE(winograd_conv3d_supported(wave({1, 8, 2, 8, 8}), wave({8, 8, 3, 3, 3}), {1, 1, 1}, {0, 0, 0}));
}

TEST_CASE("winograd: chunks of frames, non-dense inputs, a bias that requires grad, and calls it refuses") {
  const at::Tensor w = wave({16, 16, 1, 3, 3}, 0.2) * 0.08, b = wave({16}, 0.6);
  // The NCDHW kernel one frame at a time (B x T = 6 frames).
  const at::Tensor x = wave({2, 16, 3, 9, 7}, 0.5);
  {
    ChunkGuard chunk(1);
    CHECK(rel(winograd_conv3d(x, w, b, {0, 1, 1}), reference(x, w, b)) < 1e-6);
  }
  // A channels-last tensor narrowed in time (dense in neither layout): the result is channels-last, as
  // at::conv3d's would be.
  const at::Tensor xn = wave({2, 16, 5, 8, 8}, 0.7).contiguous(at::MemoryFormat::ChannelsLast3d).narrow(2, 1, 3);
  REQUIRE_FALSE(xn.is_contiguous());
  REQUIRE_FALSE(xn.is_contiguous(at::MemoryFormat::ChannelsLast3d));
  const at::Tensor yn = winograd_conv3d(xn, w, b, {0, 1, 1});
  CHECK(yn.suggest_memory_format() == at::MemoryFormat::ChannelsLast3d);
  CHECK(rel(yn, reference(xn, w, b)) < 1e-6);
  // A bias that requires grad (a frozen weight): conv3d() keeps autograd (at::conv3d), not Winograd.
  {
    WinogradEverywhere everywhere;
    const at::Tensor bg = b.clone().requires_grad_();
    const at::Tensor y = conv3d(x, w, bg, {1, 1, 1}, {0, 1, 1});
    CHECK(y.requires_grad());
    y.sum().backward();
    REQUIRE(bg.grad().defined());
    CHECK(at::allclose(bg.grad(), at::full({16}, static_cast<double>(2 * 3 * 9 * 7), at::kFloat)));
  }
  // What it refuses, with one line: an unsupported padding, a bias of the wrong size.
  CHECK_THROWS_AS(winograd_conv3d(x, w, b, {0, 2, 2}), Error);
  CHECK_THROWS_WITH_AS(winograd_conv3d(x, w, wave({8}), {0, 1, 1}), doctest::Contains("bias"), Error);
}
