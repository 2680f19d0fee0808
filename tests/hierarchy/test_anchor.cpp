// Latent statistics anchoring (LongVideoOptions::anchor): the remedy that keeps long videos of the
// default model from drifting (docs/hierarchy.md, "Why long videos collapsed").
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/rng.h"
#include "hierarchy/long_video.h"
#include "tests/helpers.h"

using namespace longvid;

namespace {

// A masked denoiser: every clip it samples has means of its own (noise-driven), as a model that
// does not copy its condition's statistics.
class DriftingDenoiser : public Denoiser {
 public:
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override {
    return x * 0.2 + 0.5;
  }
};

struct Collect : LatentSink {
  std::vector<at::Tensor> parts;
  void push(const at::Tensor& z) override { parts.push_back(z.clone()); }
  at::Tensor all() const { return at::cat(parts, 2); }
};

double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

}  // namespace

TEST_CASE("anchor: per-channel statistics are set to the reference") {
  auto g = make_generator(3);
  auto z = at::randn({1, 4, 3, 5, 6}, g, at::kFloat) * 2 + 1;
  auto rm = at::randn({1, 4, 3, 1, 1}, g, at::kFloat), rs = at::rand({1, 4, 3, 1, 1}, g, at::kFloat) + 0.5;
  CHECK(at::equal(anchor_latent_stats(z, rm, rs, LongVideoOptions::Anchor::None), z));
  auto m = anchor_latent_stats(z, rm, rs, LongVideoOptions::Anchor::Mean);
  CHECK(max_abs(m.mean({3, 4}, true) - rm) < 1e-5);
  CHECK(max_abs(m.std({3, 4}, false, true) - z.std({3, 4}, false, true)) < 1e-5);  // shape kept
  auto ms = anchor_latent_stats(z, rm, rs, LongVideoOptions::Anchor::MeanStd);
  CHECK(max_abs(ms.mean({3, 4}, true) - rm) < 1e-5);
  CHECK(max_abs(ms.std({3, 4}, false, true) - rs) < 1e-5);
  CHECK(parse_anchor("meanstd") == LongVideoOptions::Anchor::MeanStd);
  CHECK_THROWS_WITH_AS(parse_anchor("median"), "--anchor median: choose none, mean or meanstd", Error);
}

TEST_CASE("anchor: a long video keeps the channel means of the first clip's last keyframe") {
  auto sched = NoiseSchedule::lvdm();
  DriftingDenoiser den;
  LongVideoModels models;
  models.geometry = {4, 4, 4};
  models.pred = {&den, &sched, 4, true, 250, false, "drifting prediction"};
  models.interp = {&den, &sched, 4, true, 250, false, "drifting interpolation"};
  LongVideoOptions o;
  o.sampler.steps = 2;
  o.seed = 11;
  o.anchor = LongVideoOptions::Anchor::None;
  auto plan = LongVideoPlan::make(160, 4, 4, 1, 4, LongVideoMode::Hierarchical);  // 40 latents, 14 keyframes

  Collect free_run;
  generate_long_video(plan, models, o, free_run, {});
  auto z0 = free_run.all();
  // Keyframe 3 (latent 9) is the last one of the unconditional first clip; later clips continue it.
  auto kf3 = z0.slice(2, 9, 10).mean({3, 4}, true);
  // Without the anchor every clip's means are its own: the last keyframe's differ from keyframe 3's.
  CHECK(max_abs(z0.slice(2, 39, 40).mean({3, 4}, true) - kf3) > 1e-2);

  o.anchor = LongVideoOptions::Anchor::Mean;
  Collect anchored;
  generate_long_video(plan, models, o, anchored, {});
  auto z = anchored.all();
  REQUIRE(z.size(2) == 40);
  for (int64_t k = 0; k <= 3; ++k)  // the unconditional first clip's keyframes are untouched
    CHECK(at::equal(z.slice(2, 3 * k, 3 * k + 1), z0.slice(2, 3 * k, 3 * k + 1)));
  // From keyframe 3 on, keyframes and in-between latents (blends of equal means) keep its means.
  CHECK(max_abs(z.slice(2, 9).mean({3, 4}, true) - kf3) < 1e-5);
  // Between keyframes 0 and 1 the in-between latents take the blend 1/3, 2/3 of their means.
  auto m0 = z.slice(2, 0, 1).mean({3, 4}, true), m1 = z.slice(2, 3, 4).mean({3, 4}, true);
  CHECK(max_abs(z.slice(2, 1, 2).mean({3, 4}, true) - (m0 * (2.0 / 3) + m1 * (1.0 / 3))) < 1e-5);
  CHECK(max_abs(z.slice(2, 2, 3).mean({3, 4}, true) - (m0 * (1.0 / 3) + m1 * (2.0 / 3))) < 1e-5);
  // The anchor is part of a run's identity: a run cannot be resumed with another anchor.
  LongVideoOptions other = o;
  other.anchor = LongVideoOptions::Anchor::None;
  CHECK(long_video_fingerprint(plan, o, "m") != long_video_fingerprint(plan, other, "m"));
}
