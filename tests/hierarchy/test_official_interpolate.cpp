// LVDM's released interpolate() (scripts/sample_long_videos_utils.py) against longvid's plan: what
// the official loop covers, computed by a line-for-line model of that loop.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "hierarchy/long_video_plan.h"

using namespace longvid;

namespace {

// The official loop, for K keyframe latents `stride` latents apart (interpolation clips of
// stride + 1 latents):
//   n_steps = len(range(0, t-3, 3))            # t = K
//   for i in trange(n_steps):
//       cond_z0 = base_samples[:, :, i:i+2]     # keyframes i and i+1
//       ext = sample[:, :, 1:-1]                # stride - 1 in-between latents
//       long_samples += [cond_z0[:, :, 0:1], ext] (+ [cond_z0[:, :, 1:]] when i == n_steps - 1)
//   torch.cat(long_samples, dim=2)              # raises on an empty list
// Returns the latents of the output, in the plan's numbering (keyframe k is latent k * stride).
std::vector<int64_t> official_interpolate_latents(int64_t K, int64_t stride) {
  int64_t n_steps = 0;
  for (int64_t i = 0; i < K - 3; i += 3) ++n_steps;  // len(range(0, K - 3, 3))
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n_steps; ++i) {
    out.push_back(i * stride);                                             // cond_z0[:, :, 0:1]
    for (int64_t j = 1; j < stride; ++j) out.push_back(i * stride + j);   // ext
    if (i == n_steps - 1) out.push_back((i + 1) * stride);                 // cond_z0[:, :, 1:]
  }
  if (out.empty()) throw std::runtime_error("torch.cat(): expected a non-empty list of Tensors");
  return out;
}

}  // namespace

TEST_CASE("long_video: the official interpolate() fills a contiguous prefix of the plan") {
  // LVDM sky models: f 4, prediction clips of 4 latents (1 condition), interpolation clips of 5.
  auto p = LongVideoPlan::make(1024, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  REQUIRE(p.latents == 256);
  REQUIRE(p.stride == 4);
  REQUIRE(p.keyframes == 65);
  auto off = official_interpolate_latents(p.keyframes, p.stride);
  // n_steps = len(range(0, 62, 3)) = 21 pairs: keyframes 0..21, latents 0..84 = 85 of the
  // (K - 1) * stride + 1 = 257 latents the keyframes span, i.e. 340 of 1,024 frames.
  CHECK(off.size() == 85);
  CHECK((p.keyframes - 1) * p.stride + 1 == 257);
  CHECK(static_cast<int64_t>(off.size()) * p.temporal_factor == 340);
  for (size_t j = 0; j < off.size(); ++j) CHECK(off[j] == static_cast<int64_t>(j));  // a contiguous prefix
  // Its pairs are the plan's first 21 infill jobs, in the same order; the plan's other 43 jobs are
  // what the official loop drops (it does not visit every third pair: i runs 0, 1, 2, ...).
  const int64_t n_steps = (static_cast<int64_t>(off.size()) - 1) / p.stride;
  CHECK(n_steps == 21);
  REQUIRE(static_cast<int64_t>(p.infill_jobs.size()) == p.keyframes - 1);
  for (int64_t i = 0; i < n_steps; ++i) {
    const auto& job = p.infill_jobs[static_cast<size_t>(i)];
    CHECK(job.left == i);
    CHECK(job.first_latent == i * p.stride + 1);
    CHECK(job.count == p.stride - 1);
    for (int64_t j = 0; j < p.stride - 1; ++j)
      CHECK(p.source_of(job.first_latent + j).index == i);  // the same latent, made by the same job
  }
  // The plan covers every latent of the video; the official output stops at latent 84.
  for (int64_t j = 0; j < p.latents; ++j) {
    auto s = p.source_of(j);
    CHECK((s.keyframe ? s.index * p.stride == j : p.infill_jobs.at(static_cast<size_t>(s.index)).left * p.stride < j));
  }
  CHECK(p.latents - static_cast<int64_t>(off.size()) == 171);

  // Other lengths: the prefix grows with K roughly as K / 3 pairs (a third of the video).
  for (int64_t frames : {37, 64, 100, 400, 4096}) {
    auto q = LongVideoPlan::make(frames, 4, 4, 1, 5, LongVideoMode::Hierarchical);
    INFO("frames " << frames << ", K " << q.keyframes);
    auto o = official_interpolate_latents(q.keyframes, q.stride);
    const int64_t pairs = (q.keyframes - 3 + 2) / 3;  // ceil((K - 3) / 3)
    CHECK(static_cast<int64_t>(o.size()) == pairs * q.stride + 1);
    CHECK(static_cast<int64_t>(o.size()) <= q.latents);
  }
  // K <= 3 (here up to 2 * stride + 1 latents, 36 frames): no pair at all, torch.cat([]) raises;
  // the plan makes the video.
  for (int64_t frames : {1, 16, 36}) {
    auto q = LongVideoPlan::make(frames, 4, 4, 1, 5, LongVideoMode::Hierarchical);
    INFO("frames " << frames << ", K " << q.keyframes);
    CHECK(q.keyframes <= 3);
    CHECK_THROWS_AS(official_interpolate_latents(q.keyframes, q.stride), std::runtime_error);
    CHECK(q.latents >= 1);
  }
  CHECK(LongVideoPlan::make(37, 4, 4, 1, 5, LongVideoMode::Hierarchical).keyframes == 4);
  CHECK(official_interpolate_latents(4, 4).size() == 5);
}
