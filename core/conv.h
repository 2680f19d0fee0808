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
// conv3d() picks im2col + GEMM when the weight has at least 24 MiB and the output at most 512
// positions (batch x T x H x W), and oneDNN otherwise. Since session 19 the GEMM is oneDNN's matmul
// (core/linear.h: MKL's sgemm takes a slow path on the AMD build machine), 1.5-1.8x faster than
// slow_conv3d on those shapes. Both compute the same convolution in fp32
// (relative difference about 3e-7). Training (a tensor that requires grad), autocast, other dtypes and
// devices keep at::conv3d, and so does everything with LONGVID_CONV=aten (for A/B runs).
//
// Winograd (session 25): the large U-Nets' spatial (1, 3, 3) convolutions (from 256 channels) and the
// autoencoders' channels-last 3x3x3 ones (from 128), both from 1024 output positions, go to
// core/winograd.h (F(2x2, 3x3): 2.25x fewer multiplications; on the build machine a sky.yaml U-Net
// forward 1.64 -> 1.44-1.47 s, the sky autoencoder's decode of 4 latents 9.40 -> 7.92 s).
//
// Packed weights (session 19). oneDNN computes in its own blocked weight layout, and
// at::mkldnn_convolution reorders the plain weight into it on every call: for the sky U-Net's 2.2 GB
// of weights that is a read and a write of all of them per forward (1024 -> 1024 channels at 4x4x4:
// 10.3 ms of reordering for 5.3 ms of convolution). A module that owns a PackedConvWeight lets conv3d()
// keep the reordered copy (oneDNN's inference layout, `mkldnn::_convolution_pointwise`, the operator
// inductor's weight freezing uses) and reuse it while the weight is unchanged (same storage and
// version counter). The packed copy costs the weight's size in memory once more. oneDNN runs its
// brgemm kernel on it, which sums in another order: a largest error of 1.3e-6 to 3.9e-6 of the
// output's largest value against a float64 reference, where the unpacked kernel reaches 3e-7 to 6e-7
// (both fp32). Packing is opt-in
// (LONGVID_CONV=packed, or set_conv3d_packing): the sky U-Net's forward drops from about 1.05 s to
// 0.90-0.97 s, but in `generate` the sky autoencoder's decode that follows the packed U-Net took 9.8 s
// instead of 6.7 s (more page faults; the memory allocator is involved, the cause is not found), which
// more than ate the gain of a 5-step clip (docs/performance.md, "Session 19").
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <mutex>
#include <vector>

namespace longvid {

enum class Conv3dPath { aten, onednn, gemm, packed, winograd };

// Which weight a kept copy was made from: the tensor (held: its address cannot be reused), its data
// and its version counter, so that a weight changed in place or given new storage is noticed.
struct WeightStamp {
  at::Tensor source;
  const void* data = nullptr;
  int64_t version = -1;
  bool matches(const at::Tensor& weight) const {
    return source.is_same(weight) && data == weight.data_ptr() && version == weight._version();
  }
  void take(const at::Tensor& weight) {
    source = weight;
    data = weight.data_ptr();
    version = weight._version();
  }
};

// A conv module's packed copy of its weight; empty until conv3d() first needs it.
struct PackedConvWeight {
  std::mutex mutex;
  at::Tensor packed;  // opaque oneDNN tensor
  WeightStamp packed_from;
  std::vector<int64_t> input_sizes;  // of the first call, which ran unpacked; packing waits for prepack_conv3d
  // The Winograd transform of the weight (core/winograd.h), made on the first call that takes that path.
  at::Tensor winograd;
  WeightStamp winograd_from;
};

// Whether conv3d() packs the weights of callers that give a cache (LONGVID_CONV=packed; off by default).
bool conv3d_packing();
void set_conv3d_packing(bool on);

// Whether this CPU runs oneDNN's bf16 convolutions (AVX-512 BW/VL/DQ or AVX-NE-CONVERT): bf16 takes the
// oneDNN / packed paths only then, and at::conv3d otherwise.
bool onednn_bf16_ok();

// The path conv3d() takes for these arguments (dilation 1, groups 1); `packable`: a PackedConvWeight
// is given.
Conv3dPath conv3d_path(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding,
                       bool packable = false);

// at::conv3d(x, weight, bias, stride, padding) (dilation 1, groups 1); `bias` may be undefined. With
// `cache`, inference on the CPU in float32 runs on the weight packed once (above).
at::Tensor conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef stride,
                  at::IntArrayRef padding, PackedConvWeight* cache = nullptr);

// conv3d() with a cache runs its first call unpacked and records the input's sizes; prepack_conv3d()
// then packs the weight for those sizes (oneDNN picks its layout and kernel by them) and returns
// whether it did. A model packs all its weights this way at the start of its second forward, when the
// first forward's activations are freed, so that the packed copies lie together in memory and not
// between one forward's activations: packed one by one inside a forward, the sky autoencoder's decode
// after the U-Net took 8.5-12.6 s in `bench` instead of 6-7 s, in page faults (packed this way: 6.0 s;
// in `generate` it is still slower, above).
bool prepack_conv3d(PackedConvWeight& cache, const at::Tensor& weight, at::IntArrayRef stride, at::IntArrayRef padding);

}  // namespace longvid
