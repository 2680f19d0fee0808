// Shared by the sampler tests: the parity fixture reader (tests/data/sampler/sampler_fixtures.*,
// written by tests/data/gen/make_sampler_fixtures.py) and the closed-form toy denoiser that the
// generator script evaluates in Python with the same op order.
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backbones/denoiser.h"
#include "sampler/sampler.h"
#include "tests/helpers.h"

namespace longvid::test {

class SamplerFixture {
 public:
  static const SamplerFixture& get() {
    static SamplerFixture f;
    return f;
  }
  // Arrays are stored little-endian (x86/ARM hosts read them as is).
  at::Tensor operator[](const std::string& name) const {
    auto it = index_.find(name);
    REQUIRE_MESSAGE(it != index_.end(), "fixture array missing: " << name);
    const auto& e = *it;
    const std::string dt = e["dtype"];
    at::ScalarType st = dt == "float32" ? at::kFloat : dt == "float64" ? at::kDouble : at::kLong;
    std::vector<int64_t> shape = e["shape"].get<std::vector<int64_t>>();
    const size_t off = e["offset"].get<size_t>();
    auto t = at::from_blob(const_cast<char*>(blob_.data() + off), shape, at::TensorOptions().dtype(st)).clone();
    REQUIRE(off + t.nbytes() <= blob_.size());
    return t;
  }
  const nlohmann::json& meta() const { return meta_; }

 private:
  SamplerFixture() {
    const auto dir = data_dir() / "sampler";
    std::ifstream j(dir / "sampler_fixtures.json");
    REQUIRE_MESSAGE(j.good(), "missing " << (dir / "sampler_fixtures.json").string());
    nlohmann::json doc = nlohmann::json::parse(j);
    index_ = doc["arrays"];
    meta_ = doc["meta"];
    std::ifstream b(dir / "sampler_fixtures.bin", std::ios::binary);
    std::stringstream ss;
    ss << b.rdbuf();
    blob_ = ss.str();
  }
  nlohmann::json index_, meta_;
  std::string blob_;
};

// Replays bank[step] as the per-step noise.
inline NoiseFn bank_noise(const at::Tensor& bank) {
  return [bank](int step, const at::Tensor&) { return bank[step]; };
}

// The official LVDM DDIMSampler of the fixture: 50 steps, its uniform spacing, eta as given.
inline SamplerOptions lvdm_ddim_options(int eta) {
  SamplerOptions o;
  o.method = "ddim";
  o.steps = 50;
  o.eta = eta;
  o.spacing = "lvdm";
  return o;
}

// eps = tanh(0.5 x)·t/1000 + 0.1 sin x [+ 0.2·mask·cos x] [+ 0.001 s]  (toy_eps in the script)
class ToyDenoiser : public Denoiser {
 public:
  Prediction pred = Prediction::Eps;
  bool learned = false;      // append C extra channels (learned sigma)
  double var_value = -1.0;   // value of the extra channels (-1: learned_range = posterior variance)
  bool var_from_x = false;   // extra channels = 0.5·tanh(x) (toy_var in the script) instead
  int calls = 0;
  int64_t last_batch = 0;

  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override {
    ++calls;
    last_batch = x.size(0);
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[0] = -1;
    auto tt = (t.to(at::kFloat) / 1000.0).view(shape);
    auto e = at::tanh(x * 0.5) * tt + at::sin(x) * 0.1;
    if (c.mask.defined()) e = e + c.mask * at::cos(x) * 0.2;
    if (c.cond_noise_level.defined()) e = e + (c.cond_noise_level.to(at::kFloat) * 0.001).view(shape);
    if (learned) e = at::cat({e, var_from_x ? at::tanh(x) * 0.5 : at::full_like(e, var_value)}, 1);
    return e;
  }
  Prediction prediction() const override { return pred; }
  bool learned_sigma() const override { return learned; }
};

// max|a - b| / max|b|: error relative to the reference's scale (elementwise relative error is
// meaningless where the reference crosses zero).
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  auto ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  const double den = bd.abs().max().item<double>();
  const double num = (ad - bd).abs().max().item<double>();
  return den > 0 ? num / den : num;
}

}  // namespace longvid::test
