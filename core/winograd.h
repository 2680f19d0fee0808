// Winograd F(2x2, 3x3) convolution for the CPU, float32 inference (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", CVPR 2016).
//
// LVDM's U-Nets spend most of a sampler step in spatial 3x3 convolutions (Conv3d with kernel (1, 3, 3),
// padding (0, 1, 1)), and oneDNN runs them at this CPU's float32 peak: the only way left to make them
// faster is to do fewer multiplications. F(2x2, 3x3) computes each 2x2 block of outputs from a 4x4
// input tile with 16 multiply-adds per channel pair instead of 36 (2.25x fewer), as 16 GEMMs
// [tiles, Cin] x [Cin, Cout] between a transform of the input tiles and one of the weight:
//   V = B^T d B (input tile d, 4x4), U = G g G^T (weight g, 3x3), Y = A^T (U . V) A (2x2 outputs).
// Its transforms only add, subtract and halve, so the float32 error stays small: at most 2.3x that of
// oneDNN's direct kernel in the tests (1.1e-7 to 1.6e-6 relative to a float64 reference,
// tests/core/test_winograd.cpp), and the models' errors against the official code stay the same size.
// F(4x4, 3x3) would cut 4x but its transforms (coefficients up to 8 and 1/24) grow the error by an
// order of magnitude, past the 1e-5 the parity tests allow.
//
// The weight is transformed on every call, into memory the allocator reuses: no copy of the model is
// kept, and the transform costs about what oneDNN's reorder of the plain weight into its blocked
// layout did. Keeping the transforms (LONGVID_CONV=packed, core/conv.h: the U-Nets' conv modules'
// PackedConvWeight holds them; the autoencoders' kernel always transforms per call) makes a sky U-Net
// forward about 6 % faster again but costs 16/9 of those weights once more (1.1 GiB for sky.yaml), and
// allocating that much fresh memory cost this VM 3 s in the first forward, more than a 5-step clip
// gains (docs/performance.md, "Session 25"). The transformed inputs and GEMM results are bounded
// too: frames (and bands of tile rows) go in chunks of about 96 MiB.
// Used by core/conv.h's conv3d() for the shapes where it wins (winograd_conv3d_wins);
// LONGVID_WINOGRAD=0 turns it off for A/B runs.
#pragma once
#include <ATen/ATen.h>

namespace longvid {

// Whether winograd_conv3d computes this convolution: a float32 CPU input [B, C, T, H, W], a weight
// [Cout, C, kt, 3, 3] with kt 1 or 3, stride 1 and padding (0, p, p) with p 0 or 1. Two kernels: the
// U-Nets' (1, 3, 3) convolutions with padding 1 on NCDHW activations, and the autoencoders'
// channels-last ones on their pre-padded input (p = 0, kt = 3: each frame's tiles are transformed
// once and the kt temporal taps are summed as GEMMs, so the multiplications drop by 2.25x there too).
bool winograd_conv3d_supported(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride,
                               at::IntArrayRef padding);

// Whether it is also faster than oneDNN's direct convolution (measured on the build machine,
// docs/performance.md "Session 25"): at least 256 channels in and out for NCDHW inputs (the (1, 3, 3)
// kernel with padding 1 only) and 128 for channels-last ones, at least 1024 output positions per call (the weight's transform is paid per
// call, the saving per position) and frames of at least 8x8, and LONGVID_WINOGRAD is not 0.
bool winograd_conv3d_wins(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding);
bool winograd_enabled();

// While one is alive, winograd_conv3d_wins holds for every supported convolution unless
// LONGVID_WINOGRAD=0 (the tests run whole small models through the Winograd path this way).
class WinogradEverywhere {
 public:
  WinogradEverywhere();
  ~WinogradEverywhere();
  WinogradEverywhere(const WinogradEverywhere&) = delete;
  WinogradEverywhere& operator=(const WinogradEverywhere&) = delete;

 private:
  bool previous_;
};

// How many convolutions winograd_conv3d has computed in this process.
int64_t winograd_conv3d_calls();

// The channels-last kernel's working set per band of tile rows (96 MiB; <= 0: that default); returns
// the previous value (tests make it small to run several bands).
int64_t set_winograd_chunk_bytes(int64_t bytes);

// The transform U = G g G^T of a [Cout, Cin, 1, 3, 3] or [Cout, Cin, 3, 3] weight: [16, Cout, Cin]
// (16/9 of the weight's size).
at::Tensor winograd_weight(const at::Tensor& weight);

// Whether winograd_conv3d takes this bias: undefined, or a CPU float32 vector of Cout values.
bool winograd_bias_ok(const at::Tensor& bias, const at::Tensor& weight);

// Whether winograd_conv3d would use a kept `transformed` weight for this call (the NCDHW kernel).
bool winograd_takes_transform(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding);

// conv3d(x, weight, bias, stride 1, padding) by F(2x2, 3x3) for a supported convolution; `bias` may be
// undefined; `transformed`: winograd_weight(weight) kept by the caller (only where
// winograd_takes_transform), or undefined (then it is computed for this call). The result has x's
// memory format (NCDHW or channels-last 3D).
at::Tensor winograd_conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           at::IntArrayRef padding, const at::Tensor& transformed = {});

}  // namespace longvid
