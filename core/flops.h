// Counting the floating-point operations a piece of code runs, from the shapes of the ATen ops it
// dispatches (for benchmarks: GFLOP/s, and MFU against a device's peak). Counted ops, two FLOPs per
// multiply-add: convolution (any rank, transposed too; also oneDNN's and the im2col kernel called
// directly, as longvid::conv3d does), addmm / mm / bmm / baddbmm (so Linear and
// matmul), and scaled_dot_product_attention (QK^T and AV). Ops dispatched inside a counted op (e.g.
// the bmm of SDPA's math path) are not counted twice. Elementwise ops, norms and softmax are not
// counted (the usual convention for MFU).
#pragma once
#include <cstdint>

namespace longvid {

// Counts the ops dispatched on this thread while it lives (RecordFunction callback; the first
// counter of a thread wins, nested counters see nothing).
class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  double flops() const;  // counted so far

 private:
  uint64_t handle_ = 0;
  bool active_ = false;
};

}  // namespace longvid
