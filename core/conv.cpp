// 3D convolution path choice — see conv.h.
#include "core/conv.h"

#include <ATen/autocast_mode.h>

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace longvid {

namespace {

bool dispatch_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("LONGVID_CONV");
    if (!v || !*v || std::strcmp(v, "auto") == 0) return true;
    if (std::strcmp(v, "aten") == 0) return false;
    fail("LONGVID_CONV={}: expected auto (the default) or aten", v);
  }();
  return enabled;
}

constexpr int64_t kGemmMinWeightBytes = int64_t{32} << 20;
constexpr int64_t kGemmMaxPositions = 128;

}  // namespace

Conv3dPath conv3d_path(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding) {
  if (!dispatch_enabled() || !at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn() || !x.device().is_cpu() ||
      !weight.device().is_cpu() || x.dim() != 5 || weight.dim() != 5 || x.numel() == 0 ||
      x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat ||
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
  const int64_t weight_bytes = weight.numel() * static_cast<int64_t>(sizeof(float));
  if (weight_bytes >= kGemmMinWeightBytes && positions <= kGemmMaxPositions) return Conv3dPath::gemm;
  return Conv3dPath::onednn;
}

at::Tensor conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding) {
  switch (conv3d_path(x, weight, stride, padding)) {
    case Conv3dPath::gemm:
      return at::slow_conv3d(x.contiguous(), weight.contiguous(), weight.sizes().slice(2), bias, stride, padding);
    case Conv3dPath::onednn:
      return at::mkldnn_convolution(x, weight, bias, padding, stride, {1, 1, 1}, 1);
    default: return at::conv3d(x, weight, bias, stride, padding);
  }
}

}  // namespace longvid
