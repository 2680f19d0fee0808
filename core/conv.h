// 3D convolution for inference on the CPU with the faster of oneDNN and im2col + GEMM per shape.
//
// For a float32 CPU conv3d, PyTorch takes oneDNN only when batch > 1 or N*C*T*H > 20480 (ATen
// ConvUtils.h use_mkldnn, a rule written for 2D), and otherwise its im2col + GEMM kernel
// (slow_conv3d). On the 2-core build machine (2 threads; docs/performance.md, "Session 18") that rule
// is wrong both ways for video networks:
//  - small channel counts (the default model's U-Net and autoencoder) go to im2col + GEMM, which is
//    2.8-4.2x slower than oneDNN there (64 -> 64 channels, 16x16x16: 2.85 ms against 0.75 ms);
//  - the deepest level of a large U-Net (sky.yaml: 2048 -> 1024 channels at 4x4x4, a 72 MiB
//    weight) goes to oneDNN in the official model (a Python process), which streams the weight
//    several times: 32.3 ms against 14.0 ms (batch 2, as with guidance: 41.0 against 29.6 ms). In
//    longvid's own process at::conv3d already took im2col there at batch 1 (not traced why), so the
//    sky U-Net's forward did not change; the choice is made explicit here, for every batch.
// conv3d() picks im2col + GEMM when the weight has at least 32 MiB and the output at most 128
// positions (batch x T x H x W), and oneDNN otherwise. Both compute the same convolution in fp32
// (relative difference about 3e-7). Training (a tensor that requires grad), autocast, other dtypes and
// devices keep at::conv3d, and so does everything with LONGVID_CONV=aten (for A/B runs).
#pragma once
#include <ATen/ATen.h>

namespace longvid {

enum class Conv3dPath { aten, onednn, gemm };

// The path conv3d() takes for these arguments (dilation 1, groups 1).
Conv3dPath conv3d_path(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding);

// at::conv3d(x, weight, bias, stride, padding) (dilation 1, groups 1); `bias` may be undefined.
at::Tensor conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding);

}  // namespace longvid
