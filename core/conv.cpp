// 3D convolution path choice — see conv.h.
#include "core/conv.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

#include "core/error.h"
#include "core/linear.h"
#include "core/winograd.h"

namespace longvid {

namespace {

enum class Mode { aten, automatic, packed };

Mode mode() {
  static const Mode m = [] {
    const char* v = std::getenv("LONGVID_CONV");
    if (!v || !*v || std::strcmp(v, "auto") == 0) return Mode::automatic;
    if (std::strcmp(v, "aten") == 0) return Mode::aten;
    if (std::strcmp(v, "packed") == 0) return Mode::packed;
    fail("LONGVID_CONV={}: expected auto (the default), packed or aten", v);
  }();
  return m;
}

bool dispatch_enabled() { return mode() != Mode::aten; }

std::atomic<bool>& packing_flag() {
  static std::atomic<bool> flag{mode() == Mode::packed};
  return flag;
}

// mkldnn::_convolution_pointwise(Tensor X, Tensor W, Tensor? B, int[] padding, int[] stride, int[] dilation,
// int groups, str attr, Scalar?[] scalars, str? algorithm)
const c10::OperatorHandle* packed_conv_op() {
  static const c10::OperatorHandle* op = find_onednn_operator("mkldnn::_convolution_pointwise");
  return op;
}

// Packs `weight` for inputs of `input_sizes` into the cache (caller holds cache.mutex).
void pack_locked(PackedConvWeight& cache, const at::Tensor& weight, at::IntArrayRef input_sizes, at::IntArrayRef stride,
                 at::IntArrayRef padding) {
  cache.packed = at::mkldnn_reorder_conv3d_weight(weight.contiguous().to_mkldnn(), padding, stride, {1, 1, 1}, 1,
                                                  input_sizes);
  cache.packed_from.take(weight);
}

// The packed weight for this call: the cached one, packed again if the weight changed since; or
// undefined before prepack_conv3d packed it (the first call's input sizes are recorded then).
at::Tensor packed_for_call(PackedConvWeight& cache, const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride,
                           at::IntArrayRef padding) {
  std::lock_guard<std::mutex> lock(cache.mutex);
  if (!cache.packed.defined()) {
    if (cache.input_sizes.empty()) cache.input_sizes = x.sizes().vec();
    return {};
  }
  if (!cache.packed_from.matches(weight)) pack_locked(cache, weight, x.sizes(), stride, padding);
  return cache.packed;
}

// The cached Winograd transform of `weight`, made again if the weight changed since.
at::Tensor winograd_for_call(PackedConvWeight& cache, const at::Tensor& weight) {
  std::lock_guard<std::mutex> lock(cache.mutex);
  if (!cache.winograd.defined() || !cache.winograd_from.matches(weight)) {
    cache.winograd = winograd_weight(weight);
    cache.winograd_from.take(weight);
  }
  return cache.winograd;
}

at::Tensor conv3d_packed(const at::Tensor& x, const at::Tensor& packed, const at::Tensor& bias, at::IntArrayRef stride,
                         at::IntArrayRef padding) {
  std::vector<c10::IValue> stack;
  stack.reserve(10);
  stack.emplace_back(x);
  stack.emplace_back(packed);
  stack.emplace_back(bias.defined() ? c10::IValue(bias.is_contiguous() ? bias : bias.contiguous()) : c10::IValue());
  stack.emplace_back(padding.vec());
  stack.emplace_back(stride.vec());
  stack.emplace_back(std::vector<int64_t>{1, 1, 1});
  stack.emplace_back(int64_t{1});
  stack.emplace_back(std::string("none"));
  stack.emplace_back(c10::List<std::optional<c10::Scalar>>());
  stack.emplace_back(std::string(""));
  packed_conv_op()->callBoxed(&stack);
  return stack.at(0).toTensor();
}

constexpr int64_t kGemmMinWeightBytes = int64_t{24} << 20;
constexpr int64_t kGemmMaxPositions = 512;

// im2col (the padded input unfolded into [positions, Cin * kT * kH * kW]) times the weight [Cout, Cin *
// kT * kH * kW] through oneDNN's matmul; the result in the input's memory format.
at::Tensor conv3d_im2col(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                         at::IntArrayRef padding) {
  if (!onednn_linear_available())
    return at::slow_conv3d(x.contiguous(), weight.contiguous(), weight.sizes().slice(2), bias, stride, padding);
  const bool padded = padding[0] > 0 || padding[1] > 0 || padding[2] > 0;
  const at::Tensor xp =
      padded ? at::constant_pad_nd(x, {padding[2], padding[2], padding[1], padding[1], padding[0], padding[0]}, 0) : x;
  const int64_t n = x.size(0), cout = weight.size(0);
  const at::Tensor u = xp.unfold(2, weight.size(2), stride[0])
                           .unfold(3, weight.size(3), stride[1])
                           .unfold(4, weight.size(4), stride[2]);  // [N, C, To, Ho, Wo, kT, kH, kW]
  const int64_t to = u.size(2), ho = u.size(3), wo = u.size(4);
  const at::Tensor cols = u.permute({0, 2, 3, 4, 1, 5, 6, 7}).reshape({n * to * ho * wo, -1});
  const at::Tensor y =
      onednn_linear(cols, weight.reshape({cout, -1}), bias).view({n, to, ho, wo, cout}).permute({0, 4, 1, 2, 3});
  return x.suggest_memory_format() == at::MemoryFormat::ChannelsLast3d ? y : y.contiguous();
}

}  // namespace

// Whether oneDNN runs bf16 convolutions on this CPU (ATen refuses them without AVX-512 BW/VL/DQ or
// AVX-NE-CONVERT, and at::conv3d then falls back to its own kernel): probed once on a 1-voxel input.
bool onednn_bf16_ok() {
  static const bool ok = [] {
    try {
      const auto o = at::TensorOptions().dtype(at::kBFloat16);
      at::NoGradGuard ng;
      (void)at::mkldnn_convolution(at::ones({1, 1, 1, 1, 1}, o), at::ones({1, 1, 1, 1, 1}, o), {}, {0, 0, 0},
                                   {1, 1, 1}, {1, 1, 1}, 1);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }();
  return ok;
}

Conv3dPath conv3d_path(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                       bool packable) {
  if (!dispatch_enabled() || !at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn() || !x.device().is_cpu() ||
      !weight.device().is_cpu() || x.dim() != 5 || weight.dim() != 5 || x.numel() == 0 ||
      (x.scalar_type() != at::kFloat && !(x.scalar_type() == at::kBFloat16 && onednn_bf16_ok())) ||
      weight.scalar_type() != x.scalar_type() ||
      at::autocast::is_autocast_enabled(at::kCPU) ||
      (at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad())) || stride.size() != 3 ||
      padding.size() != 3 || x.size(1) != weight.size(1))
    return Conv3dPath::aten;  // (and anything ATen must refuse: it reports the error)
  int64_t positions = x.size(0);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t span = x.size(2 + i) + 2 * padding[i];
    if (stride[i] <= 0 || padding[i] < 0 || span < weight.size(2 + i)) return Conv3dPath::aten;
    positions *= (span - weight.size(2 + i)) / stride[i] + 1;
  }
  if (winograd_conv3d_supported(x, weight, stride, padding) && winograd_conv3d_wins(x, weight, padding))
    return Conv3dPath::winograd;
  if (packable && conv3d_packing() && packed_conv_op()) return Conv3dPath::packed;
  if (x.scalar_type() != at::kFloat) return Conv3dPath::onednn;  // bf16 where oneDNN takes it (ATen's choice too)
  const int64_t weight_bytes = weight.numel() * static_cast<int64_t>(sizeof(float));
  if (weight_bytes >= kGemmMinWeightBytes && positions <= kGemmMaxPositions) return Conv3dPath::gemm;
  return Conv3dPath::onednn;
}

at::Tensor conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding, PackedConvWeight* cache) {
  switch (conv3d_path(x, weight, stride, padding, cache != nullptr)) {
    case Conv3dPath::packed:
      if (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == x.scalar_type())) {
        const at::Tensor packed = packed_for_call(*cache, x, weight, stride, padding);
        if (packed.defined()) return conv3d_packed(x, packed, bias, stride, padding);
        return conv3d(x, weight, bias, stride, padding, nullptr);  // not packed yet: as without a cache
      }
      return at::conv3d(x, weight, bias, stride, padding);
    case Conv3dPath::winograd:  // (no autograd: a bias that requires grad takes at::conv3d)
      if (winograd_bias_ok(bias, weight) && !(bias.defined() && at::GradMode::is_enabled() && bias.requires_grad()))
        return winograd_conv3d(x, weight, bias, padding,
                               cache && conv3d_packing() && winograd_takes_transform(x, weight, padding)
                                   ? winograd_for_call(*cache, weight)
                                   : at::Tensor());
      return at::conv3d(x, weight, bias, stride, padding);
    case Conv3dPath::gemm: return conv3d_im2col(x, weight, bias, stride, padding);
    case Conv3dPath::onednn:
      return at::mkldnn_convolution(x, weight, bias, padding, stride, {1, 1, 1}, 1);
    default: return at::conv3d(x, weight, bias, stride, padding);
  }
}

bool prepack_conv3d(PackedConvWeight& cache, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding) {
  std::lock_guard<std::mutex> lock(cache.mutex);
  if (cache.packed.defined() || cache.input_sizes.empty()) return false;
  // A probe input of the recorded sizes (one element broadcast: nothing more allocated) for the path.
  const at::Tensor x = at::empty({1}, weight.options().requires_grad(false)).expand(cache.input_sizes);
  if (conv3d_path(x, weight, stride, padding, true) != Conv3dPath::packed) return false;
  pack_locked(cache, weight, cache.input_sizes, stride, padding);
  return true;
}

bool conv3d_packing() { return dispatch_enabled() && packing_flag().load(); }

void set_conv3d_packing(bool on) { packing_flag().store(on); }

}  // namespace longvid
