// Parity-test helpers shared by the backbone tests: the deterministic parameter fill of the fixture
// generators (tests/data/gen/det_fill.py) and the relative-error checks of every parity test.
#pragma once
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace longvid::test {

// The deterministic parameter fill of tests/data/gen/det_fill.py (det_param): a pure function of the
// parameter's name and element index, computed exactly in int64 / float64, then rounded to float32.
inline uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char b : s) {
    h ^= b;
    h *= 0x01000193u;
  }
  return h;
}

// det_fill.py det_unit(name, n): n values with mean 0 and variance 1 (float64), a pure function of
// (name, index).
inline at::Tensor det_unit(const std::string& name, int64_t n) {
  const int64_t m32 = 0xFFFFFFFFLL;
  at::Tensor x = at::arange(n, at::kLong);
  x = at::bitwise_and(x * int64_t{0x9E3779B1} + static_cast<int64_t>(fnv1a32(name)), m32);
  for (int r = 0; r < 2; ++r) {
    x = at::bitwise_xor(x, at::bitwise_right_shift(x, 16));
    x = at::bitwise_and(x * int64_t{0x045D9F3B}, m32);
  }
  x = at::bitwise_xor(x, at::bitwise_right_shift(x, 16));
  return (x.to(at::kDouble) / 4294967296.0 - 0.5) * std::sqrt(12.0);
}

inline at::Tensor det_param(const std::string& name, at::IntArrayRef shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  at::Tensor r = det_unit(name, n);
  at::Tensor v;
  if (shape.size() >= 2)
    v = r * (1.0 / std::sqrt(static_cast<double>(n / shape[0])));
  else if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
    v = r * 0.1 + 1.0;
  else
    v = r * 0.1;
  return v.to(at::kFloat).reshape(shape);
}

// Fills every parameter except those named in `skip` (e.g. Latte's fixed sin-cos tables) with
// det_param(prefix + name): det_fill.py det_fill(model, skip, prefix). The prefix tells apart models
// whose parameters have the same names (e.g. "pred." / "interp.").
inline void det_fill(torch::nn::Module& m, const std::vector<std::string>& skip = {}, const std::string& prefix = "") {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters(true)) {
    bool skipped = false;
    for (const auto& s : skip) skipped = skipped || p.key() == s;
    if (!skipped) p.value().copy_(det_param(prefix + p.key(), p.value().sizes()));
  }
}

struct Err {
  double rel_fro, max_abs, rel_max;
};
inline Err compare(const at::Tensor& got, const at::Tensor& want) {
  REQUIRE(got.sizes() == want.sizes());
  at::Tensor d = (got.to(at::kDouble) - want.to(at::kDouble));
  Err e;
  e.rel_fro = d.norm().item<double>() / want.to(at::kDouble).norm().item<double>();
  e.max_abs = d.abs().max().item<double>();
  e.rel_max = e.max_abs / want.abs().max().item<double>();
  return e;
}
inline void check_parity(const char* what, const at::Tensor& got, const at::Tensor& want, double bound = 1e-5) {
  Err e = compare(got, want);
  MESSAGE(std::string(what) << ": rel_fro " << e.rel_fro << ", max_abs " << e.max_abs << ", max_abs/max|ref| " << e.rel_max);
  CHECK(e.rel_fro <= bound);
  CHECK(e.rel_max <= bound);
}

}  // namespace longvid::test
