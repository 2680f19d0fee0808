// The collapse guard (hierarchy/collapse_guard.h): clips whose new latents lost their conditions'
// spatial structure are sampled again. Unit checks of the measure and the retry rule, the guard
// inside a long-video run (off / nothing flagged / everything flagged, resume), and the bundled
// text model's real collapse (docs/hierarchy.md, "The collapse guard").
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/collapse_guard.h"
#include "hierarchy/long_video.h"
#include "tests/helpers.h"
#include "train/physics_score.h"

using namespace longvid;

TEST_CASE("collapse guard: structure_ratio is the latents' spatial std over the reference's, worst frame") {
  auto gen = make_generator(3);
  auto z = at::randn({1, 4, 3, 8, 8}, gen, at::kFloat);
  auto ref = z.std({3, 4}, false, true);  // [1, 4, 3, 1, 1]
  CHECK(structure_ratio(z, ref) == doctest::Approx(1.0).epsilon(1e-6));
  auto z2 = z.clone();
  z2.select(2, 1).mul_(0.25).add_(5.0);  // frame 1 flattened (the mean does not count)
  CHECK(structure_ratio(z2, ref) == doctest::Approx(0.25).epsilon(1e-6));
  // One reference for every frame, as for a new keyframe against the keyframe it continues.
  auto ref1 = ref.select(2, 0).unsqueeze(2) * 2.0;
  auto expect = (z.std({3, 4}, false, true) / ref1).mean(1).min().item<double>();
  CHECK(structure_ratio(z, ref1) == doctest::Approx(expect).epsilon(1e-6));
  CHECK_THROWS_AS(structure_ratio(z.squeeze(0), ref), Error);

  CHECK(retry_seed(42, 0) == 42u);
  std::set<uint64_t> seeds{42};
  for (int64_t a = 1; a <= 8; ++a) seeds.insert(retry_seed(42, a));
  CHECK(seeds.size() == 9);                    // every attempt draws new noise
  CHECK(retry_seed(42, 1) != retry_seed(43, 1));  // and depends on the clip
}

TEST_CASE("collapse guard: retries until an attempt holds, else keeps the most structured attempt") {
  // Attempt a's "clip" is a scalar tensor holding its structure.
  auto run = [](std::vector<double> q, int64_t retries, CollapseCounts& n, std::vector<int64_t>& asked) {
    CollapseGuard g;
    g.retries = retries;
    g.ratio = 0.4;
    return guard_collapse(
               at::full({1}, q[0], at::kDouble), [](const at::Tensor& t) { return t.item<double>(); },
               [&](int64_t a) {
                 asked.push_back(a);
                 return at::full({1}, q.at(static_cast<size_t>(a)), at::kDouble);
               },
               g, n, "test clip")
        .item<double>();
  };
  CollapseCounts n;
  std::vector<int64_t> asked;
  CHECK(run({0.9}, 3, n, asked) == 0.9);  // holds: no retry
  CHECK(asked.empty());
  CHECK(run({0.1, 0.5, 0.2, 0.3}, 3, n, asked) == 0.5);  // the first attempt that holds ends it
  CHECK(asked == std::vector<int64_t>{1});
  asked.clear();
  CHECK(run({0.1, 0.3, 0.2, 0.25}, 3, n, asked) == 0.3);  // none holds: the best is kept
  CHECK(asked == std::vector<int64_t>{1, 2, 3});
  CHECK(n.checked == 3);
  CHECK(n.resampled == 2);
  CHECK(n.attempts == 4);
  CHECK(n.kept_below == 1);
}

namespace {

// eps = 0.1·x + mask·0.3 + s/1000 (tests/hierarchy/test_long_video.cpp's toy): every clip depends on
// its noise and conditions.
class Toy : public Denoiser {
 public:
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override {
    auto e = x * 0.1 + t.to(at::kFloat).view({-1, 1, 1, 1, 1}) * 1e-5;
    if (c.mask.defined()) e = e + c.mask * 0.3;
    if (c.cond_noise_level.defined()) e = e + c.cond_noise_level.to(at::kFloat).view({-1, 1, 1, 1, 1}) * 1e-3;
    return e;
  }
};

struct Collect : LatentSink {
  std::vector<at::Tensor> parts;
  void push(const at::Tensor& z) override { parts.push_back(z.clone()); }
  at::Tensor all() const { return at::cat(parts, 2); }
};

}  // namespace

TEST_CASE("collapse guard: in a long video, off or unflagged leaves the video, flagged clips are sampled again") {
  auto sched = NoiseSchedule::lvdm();
  Toy den;
  LongVideoModels m;
  m.geometry = {4, 4, 4};
  m.pred = {&den, &sched, 4, true, 250, false, "toy prediction"};
  m.interp = {&den, &sched, 5, true, 250, false, "toy interpolation"};
  auto plan = LongVideoPlan::make(120, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  LongVideoOptions o;
  o.sampler.steps = 4;
  o.seed = 9;
  auto video = [&](const CollapseGuard& g, CollapseCounts* n = nullptr, LongVideoRunOptions ro = {}) {
    LongVideoOptions oo = o;
    oo.collapse = g;
    ro.collapse_counts = n;
    Collect c;
    generate_long_video(plan, m, oo, c, ro);
    return c.all();
  };
  const int64_t clips = static_cast<int64_t>(plan.pred_clips.size()) - 1 + static_cast<int64_t>(plan.infill_jobs.size());
  REQUIRE(clips >= 6);

  const auto off = video({0, 0.4});
  CollapseCounts n;
  CHECK(at::equal(video({3, 1e-9}, &n), off));  // measured, nothing below: the same video
  CHECK(n.checked == clips);
  CHECK(n.resampled == 0);

  // Every clip flagged: each takes all its attempts, the video changes, and stays reproducible.
  CollapseCounts all;
  const auto flagged = video({2, 1e9}, &all);
  CHECK(all.checked == clips);
  CHECK(all.resampled == clips);
  CHECK(all.attempts == 2 * clips);
  CHECK(all.kept_below == clips);
  CHECK_FALSE(at::equal(flagged, off));
  CHECK(flagged.sizes() == off.sizes());
  CHECK(at::equal(video({2, 1e9}), flagged));

  // Resumed after a kill: the same video (retry seeds depend only on the clip and the attempt).
  test::ScratchDir dir("collapse_resume");
  LongVideoOptions og = o;
  og.collapse = {2, 1e9};
  const auto fp = long_video_fingerprint(plan, og, "toy");
  CHECK(fp != long_video_fingerprint(plan, o, "toy"));
  {
    LongVideoState st(dir / "run", fp);
    LongVideoRunOptions ro;
    ro.state = &st;
    ro.stop_after_rounds = 2;
    video({2, 1e9}, nullptr, ro);
  }
  LongVideoState st(dir / "run", fp);
  LongVideoRunOptions ro;
  ro.state = &st;
  ro.resume = true;
  CHECK(at::equal(video({2, 1e9}, nullptr, ro), flagged));
}

namespace {
// Frames of a video whose texture is above `thr` (train/physics_score.h: clean frames 1.0-1.4,
// the bundled decoder's rendering of a collapsed latent 5-8).
int64_t textured_frames(const std::filesystem::path& p, double thr) {
  auto v = read_video(p).contiguous();  // [T, H, W, 3] uint8
  int64_t n = 0;
  for (int64_t t = 0; t < v.size(0); ++t)
    if (frame_texture(v[t].data_ptr<uint8_t>(), static_cast<int>(v.size(2)), static_cast<int>(v.size(1))) > thr) ++n;
  return n;
}
}  // namespace

TEST_CASE("collapse guard: the bundled text model's collapsed keyframes are sampled again") {
  // Seed 4 of this prompt: the second prediction clip's keyframes (4-6) come out flat (structure
  // 0.31; docs/hierarchy.md). Off, they decode as mottled frames; with the guard, a later draw holds.
  test::ScratchDir dir("collapse_text");
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");  // fast on a loaded machine; every run alike
  const std::vector<std::string> base{"generate", "-p", "two red squares moving left", "--seed", "4",
                                      "--frames", "100", "--steps", "50"};
  auto args = [&](const std::string& out, const std::string& retries) {
    auto a = base;
    for (std::string s : {"--collapse-retries", retries.c_str(), "-o", out.c_str()}) a.push_back(s);
    return a;
  };
  auto off = test::run_cli(args((dir / "off.y4m").string(), "0"));
  INFO(off.err);
  REQUIRE(off.exit_code == 0);
  auto on = test::run_cli(args((dir / "on.y4m").string(), "3"));
  INFO(on.err);
  REQUIRE(on.exit_code == 0);
  CHECK(off.err.find("sampled again") == std::string::npos);
  CHECK(on.err.find("keyframes 4-6: structure 0.31") != std::string::npos);
  CHECK(on.err.find("0 still below") != std::string::npos);
  CHECK(textured_frames(dir / "off.y4m", 3.0) >= 4);
  CHECK(textured_frames(dir / "on.y4m", 3.0) == 0);
}
