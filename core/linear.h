// Matrix products for inference on the CPU through oneDNN instead of MKL.
//
// PyTorch's float32 CPU GEMM (at::linear, at::mm, and the im2col convolution slow_conv3d) is MKL's
// sgemm. On the AMD EPYC (Zen 5) build machine MKL takes a slower code path than its Intel one: at 2
// threads it runs at about 200 GFLOP/s, while oneDNN's matmul, the same JIT library PyTorch already
// uses for convolutions, runs at 450-500 GFLOP/s (docs/performance.md, "Session 19": 2.2x on a
// 4096 x 256 x 1024 linear, 2.8x on T5-XXL's 4096 -> 10240 feed-forward). PyTorch reaches oneDNN's
// matmul for float32 only through its `mkldnn::_linear_pointwise` operator (the one inductor uses),
// which this calls through the dispatcher.
//
// linear() takes oneDNN for CPU float32 inference when the product has at least 4 M multiply-adds
// (below that the call overhead, ~10 us, outweighs the gain), and at::linear otherwise. Both compute
// the same product in fp32 (relative difference about 1e-6: another summation order). Training (a
// tensor that requires grad), autocast, other dtypes and devices keep at::linear, and so does
// everything with LONGVID_LINEAR=aten (for A/B runs).
#pragma once
#include <ATen/ATen.h>

namespace c10 {
class OperatorHandle;
}

namespace longvid {

enum class LinearPath { aten, onednn };

// The path linear() takes for x [..., K] and weight [N, K].
LinearPath linear_path(const at::Tensor& x, const at::Tensor& weight);

// at::linear(x, weight, bias); `bias` may be undefined.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// x [M, K] @ weight [N, K]^T + bias through oneDNN whenever it is available (any size; CPU float32,
// no grad: the caller checks). Used by the im2col convolution of core/conv.
at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// True when PyTorch was built with oneDNN's linear operator (checked once).
bool onednn_linear_available();

// The dispatcher's handle of a `mkldnn::` operator (e.g. "mkldnn::_linear_pointwise"), or null when
// this PyTorch has no oneDNN or not that operator. Look it up once (a function-local static).
const c10::OperatorHandle* find_onednn_operator(const char* name);

}  // namespace longvid
