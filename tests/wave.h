// Deterministic test values in [-1, 1] (ATen only: for tests that need no <torch/torch.h>).
#pragma once
#include <ATen/ATen.h>

namespace longvid::test {

inline at::Tensor wave(at::IntArrayRef shape, double phase = 0.0) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return at::sin(at::arange(n, at::kDouble) * 0.731 + phase).to(at::kFloat).reshape(shape);
}

}  // namespace longvid::test
