// Native InceptionI3d (backbones/inception_i3d.h) and the I3D FVD protocols against the official
// VideoGPT / LVDM code: fixtures from tests/data/gen/gen_i3d.py (weights are not committed: both sides
// fill them from the same seeded torch generator, formula documented in the generator).
#include <doctest/doctest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "backbones/inception_i3d.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "eval/detector.h"
#include "tests/helpers.h"

using namespace longvid;

namespace {

std::string d(const char* name) { return (test::data_dir() / "eval" / name).string(); }

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).abs().max() / b.to(at::kDouble).abs().max()).item<double>();
}

// gen_i3d.py `fill`: sorted keys, one generator, randn per tensor.
StateDict deterministic_i3d_weights(InceptionI3d& net) {
  std::map<std::string, at::Tensor> entries;
  for (const auto& p : net->named_parameters()) entries[p.key()] = p.value();
  for (const auto& b : net->named_buffers()) entries[b.key()] = b.value();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(20261124);
  StateDict sd;
  auto ends = [](const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  };
  for (const auto& [k, v] : entries) {  // std::map: byte order, as Python's sorted()
    if (ends(k, "num_batches_tracked")) {
      sd.set(k, v.clone());
      continue;
    }
    at::Tensor r = at::randn(v.sizes(), gen, at::TensorOptions().dtype(at::kFloat));
    at::Tensor w;
    if (ends(k, "conv3d.weight")) {
      const double fan_in = double(v.size(1) * v.size(2) * v.size(3) * v.size(4));
      w = r * std::sqrt(2.0 / fan_in);
    } else if (ends(k, "conv3d.bias") || ends(k, "bn.bias") || ends(k, "running_mean")) {
      w = r * 0.1;
    } else if (ends(k, "bn.weight")) {
      w = 1 + r * 0.1;
    } else if (ends(k, "running_var")) {
      w = at::exp(r * 0.2);
    } else {
      FAIL("unexpected key " << k);
    }
    sd.set(k, w);
  }
  return sd;
}

}  // namespace

TEST_CASE("i3d native inception i3d matches videogpt and lvdm pytorch_i3d") {
  StateDict ref = load_checkpoint(d("i3d_parity.safetensors"));
  InceptionI3d net;
  StateDict sd = deterministic_i3d_weights(net);
  CHECK(sd.size() == net->named_parameters().size() + net->named_buffers().size());
  load_inception_i3d(net, sd);
  CHECK(torch::equal(sd.get("Conv3d_1a_7x7.conv3d.weight").flatten().slice(0, 0, 64), ref.get("weight_head")));
  auto x = at::randn({1, 3, 9, 193, 193}, at::make_generator<at::CPUGeneratorImpl>(7), at::TensorOptions().dtype(at::kFloat));
  REQUIRE(torch::equal(x.flatten().slice(0, 0, 64), ref.get("input_head")));
  torch::NoGradGuard ng;
  std::map<std::string, at::Tensor> eps;
  at::Tensor logits = net->forward_with(x, {"Mixed_5c", "Logits"}, &eps);
  const double e5c = max_rel(eps.at("Mixed_5c"), ref.get("mixed_5c"));
  const double et = max_rel(eps.at("Logits"), ref.get("logits_t"));
  const double el = max_rel(logits, ref.get("logits"));
  MESSAGE("max rel err: Mixed_5c " << e5c << ", pre-mean logits " << et << ", logits " << el);
  CHECK(e5c <= 1e-5);
  CHECK(et <= 1e-5);
  CHECK(el <= 1e-5);
  CHECK(logits.sizes() == at::IntArrayRef({1, 400}));
  // Inputs the reference's AvgPool3d([2, 7, 7]) + squeeze cannot take are refused in one line.
  CHECK_THROWS_AS(net->forward(at::zeros({1, 3, 9, 64, 64})), Error);
  CHECK_THROWS_AS(net->forward(at::zeros({1, 4, 9, 224, 224})), Error);
}

TEST_CASE("i3d protocol preprocessing matches videogpt and lvdm") {
  StateDict ref = load_checkpoint(d("i3d_preprocess.safetensors"));
  for (const char* shape : {"wide", "tall"}) {
    at::Tensor clip = ref.get(std::string("clip_") + shape);
    for (const char* proto : {"videogpt", "lvdm", "tf"}) {
      // "tf" has no PyTorch reference; it is the LVDM stretch (TF-GAN: bilinear resize to 224², [-1, 1]).
      const std::string key = std::string(std::string(proto) == "tf" ? "lvdm" : proto) + "_" + shape;
      at::Tensor got = eval::i3d_preprocess(clip, proto, 16);
      at::Tensor want = ref.get(key);
      REQUIRE(got.sizes() == want.sizes());
      const double err = (got - want).abs().max().item<double>();
      const std::string msg = std::string(proto) + " " + shape + ": max abs err " + std::to_string(err);
      MESSAGE(msg);
      CHECK(err <= 1e-6);  // values in [-1, 1]; float32 rounding of the same operations
    }
  }
  CHECK_THROWS_AS(eval::i3d_preprocess(at::zeros({1, 2, 8, 8, 3}, at::kFloat), "lvdm", 16), Error);
  CHECK_THROWS_AS(eval::i3d_preprocess(at::zeros({1, 2, 8, 8, 3}, at::kByte), "nope", 16), Error);
}

TEST_CASE("i3d detector loads i3d_pretrained_400 state dicts natively") {
  test::ScratchDir dir("i3ddet");
  InceptionI3d net;
  StateDict sd = deterministic_i3d_weights(net);
  const auto path = dir / "i3d_pretrained_400.safetensors";
  save_safetensors(path, sd);
  load_inception_i3d(net, sd);
  auto det = eval::load_detector(path, "lvdm");
  CHECK(det->feature_dim() == 400);
  at::Tensor clips = at::randint(0, 256, {1, 9, 20, 24, 3}, at::kByte);
  at::Tensor f = det->features(clips);
  torch::NoGradGuard ng;
  at::Tensor want = net->forward(eval::i3d_preprocess(clips, "lvdm")).to(at::kDouble);
  CHECK(f.sizes() == at::IntArrayRef({1, 400}));
  CHECK(max_rel(f, want) <= 1e-6);
  // Missing file: names the file the protocol needs.
  try {
    eval::load_detector(dir / "missing.pt", "videogpt");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("i3d_pretrained_400.pt") != std::string::npos);
  }
  // A state dict that is not InceptionI3d.
  StateDict other;
  other.set("conv.weight", at::zeros({2, 2}));
  save_safetensors(dir / "other.safetensors", other);
  CHECK_THROWS_AS(eval::load_detector(dir / "other.safetensors", "videogpt"), Error);
}

TEST_CASE("i3d torchscript detectors with the wrong signature or output are refused") {
  at::Tensor clips = at::zeros({2, 4, 8, 8, 3}, at::kByte);
  for (const char* name : {"bad_sig_detector_ts.pt", "bad_shape_detector_ts.pt"}) {
    auto det = eval::load_detector(d(name), "stylegan-v");
    try {
      det->features(clips);
      FAIL("no error for " << name);
    } catch (const Error& e) {
      const std::string msg = std::string(name) + ": " + e.what();
      MESSAGE(msg);
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  }
}
