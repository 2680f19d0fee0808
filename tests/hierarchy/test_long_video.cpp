// Long videos: the plan, parity of one prediction and one interpolation step with the official
// LVDM sample_long_videos_utils, streaming, resume.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/long_video.h"
#include "pipeline/lvdm_family.h"
#include "vae3d/video_autoencoder.h"
#include "hierarchy/stream_decoder.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace longvid;

namespace {

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() /
         std::max(b.to(at::kDouble).norm().item<double>(), 1e-30);
}

// Every latent of the video comes from exactly one clip slot, and every clip slot the plan runs
// is used (except slots past the end of the video).
void check_plan(const LongVideoPlan& p) {
  const int64_t f = p.temporal_factor;
  REQUIRE(p.latents * f >= p.frames);
  REQUIRE((p.latents - 1) * f < p.frames);
  // keyframes: made once each, by consecutive prediction clips
  std::vector<int> kf_made(static_cast<size_t>(p.keyframes), 0);
  for (size_t c = 0; c < p.pred_clips.size(); ++c) {
    const auto& pc = p.pred_clips[c];
    CHECK(pc.num_new >= 1);
    CHECK(pc.num_new <= (c == 0 && !p.continues ? p.pred_len : p.pred_len - p.cond_frames));
    for (int64_t k = pc.first_new; k < pc.first_new + pc.num_new; ++k) kf_made.at(static_cast<size_t>(k))++;
  }
  for (int64_t k = p.continues ? 1 : 0; k < p.keyframes; ++k) CHECK(kf_made[static_cast<size_t>(k)] == 1);
  CHECK((p.keyframes - 1) * p.stride + 1 >= p.latents);
  if (p.keyframes > 1) CHECK((p.keyframes - 2) * p.stride + 1 < p.latents);  // no useless keyframe
  // latents: one source each
  std::vector<int> hit(static_cast<size_t>(p.latents), 0);
  for (int64_t k = 0; k < p.keyframes; ++k)
    if (k * p.stride < p.latents) hit[static_cast<size_t>(k * p.stride)]++;
  for (const auto& job : p.infill_jobs) {
    CHECK(job.first_latent == job.left * p.stride + 1);
    CHECK(job.count >= 1);
    CHECK(job.count <= p.interp_len - 2);
    for (int64_t j = job.first_latent; j < job.first_latent + job.count; ++j) hit.at(static_cast<size_t>(j))++;
  }
  for (int64_t j = 0; j < p.latents; ++j) {
    INFO("latent " << j);
    CHECK(hit[static_cast<size_t>(j)] == 1);
    auto src = p.source_of(j);
    CHECK(src.keyframe == (j % p.stride == 0));
  }
  // every infill job runs exactly once, after both its keyframes exist
  std::vector<int> job_runs(p.infill_jobs.size(), 0);
  int64_t made = 0;
  for (size_t c = 0; c < p.pred_clips.size(); ++c) {
    made = p.pred_clips[c].first_new + p.pred_clips[c].num_new;
    for (int64_t k : p.infill_jobs_after(static_cast<int64_t>(c))) {
      CHECK(k + 1 < made);
      job_runs.at(static_cast<size_t>(k))++;
    }
  }
  for (int r : job_runs) CHECK(r == 1);
}

// A cheap masked denoiser: eps = 0.1·x + 0.01·(t/1000) + mask·0.3 + s/1000 (enough to make every
// clip depend on its inputs, noise and conditions).
class ToyMasked : public Denoiser {
 public:
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override {
    auto e = x * 0.1 + t.to(at::kFloat).view({-1, 1, 1, 1, 1}) * 1e-5;
    if (c.mask.defined()) e = e + c.mask * 0.3;
    if (c.cond_noise_level.defined()) e = e + c.cond_noise_level.to(at::kFloat).view({-1, 1, 1, 1, 1}) * 1e-3;
    ++calls;
    return e;
  }
  int64_t calls = 0;
};

struct CollectSink : LatentSink {
  std::vector<at::Tensor> parts;
  void push(const at::Tensor& z) override { parts.push_back(z.clone()); }
  at::Tensor all() const { return at::cat(parts, 2); }
  int64_t count() const {
    int64_t n = 0;
    for (auto& p : parts) n += p.size(2);
    return n;
  }
};

LongVideoModels toy_models(ToyMasked& den, const NoiseSchedule& sched, int64_t lp, int64_t li) {
  LongVideoModels m;
  m.geometry = {4, 2, 2};
  m.pred = {&den, &sched, lp, true, 250, false, "toy prediction"};
  m.interp = {&den, &sched, li, true, 250, false, "toy interpolation"};
  return m;
}

}  // namespace

TEST_CASE("long_video: the plan covers every frame exactly once") {
  for (int64_t n : {1, 15, 16, 17, 100, 1000, 1023, 4097}) {
    for (auto mode : {LongVideoMode::Hierarchical, LongVideoMode::Autoregressive}) {
      // (f, pred_len, cond_frames, interp_len): the sky long models, the tiny model, T_cond 2, f 1
      for (auto [f, lp, tc, li] : std::vector<std::array<int64_t, 4>>{{4, 4, 1, 5}, {4, 4, 1, 4}, {4, 8, 2, 5}, {1, 16, 4, 16}}) {
        INFO("N " << n << " mode " << to_string(mode) << " f " << f << " lp " << lp << " tc " << tc << " li " << li);
        auto p = LongVideoPlan::make(n, f, lp, tc, li, mode);
        check_plan(p);
        if (n > 1) {
          auto e = LongVideoPlan::make(n + f, f, lp, tc, li, mode, /*continues=*/true);
          check_plan(e);
        }
      }
    }
  }
  // The official sky numbers: 1024 frames -> 256 latents -> 65 keyframes (pred_length of
  // sample_uncond_long_videos.py), 21 prediction steps after the first clip, 64 infill jobs.
  auto sky = LongVideoPlan::make(1024, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  CHECK(sky.latents == 256);
  CHECK(sky.keyframes == 65);
  CHECK(sky.pred_clips.size() == 1 + 21);
  CHECK(sky.infill_jobs.size() == 64);
}

TEST_CASE("long_video: bad plans are refused with a clear message") {
  CHECK_THROWS_WITH_AS(LongVideoPlan::make(0, 4, 4, 1, 5, LongVideoMode::Hierarchical), "--frames 0: must be at least 1",
                       Error);
  CHECK_THROWS_AS(LongVideoPlan::make(100, 4, 4, 4, 5, LongVideoMode::Hierarchical), Error);  // T_cond = clip
  CHECK_THROWS_AS(LongVideoPlan::make(100, 4, 4, 1, 2, LongVideoMode::Hierarchical), Error);  // nothing to infill
  CHECK_THROWS_AS(parse_long_video_mode("sideways"), Error);
}

TEST_CASE("long_video: the run hands on exactly the plan's latents, in order, for any length") {
  auto sched = NoiseSchedule::lvdm();
  ToyMasked den;
  LongVideoOptions o;
  o.sampler.steps = 2;
  for (int64_t n : {1, 15, 16, 17, 100, 1000, 1023, 4097}) {
    for (auto mode : {LongVideoMode::Hierarchical, LongVideoMode::Autoregressive}) {
      INFO("N " << n << " " << to_string(mode));
      o.mode = mode;
      auto plan = LongVideoPlan::make(n, 4, 4, 1, 5, mode);
      CollectSink sink;
      auto models = toy_models(den, sched, 4, 5);
      CHECK(generate_long_video(plan, models, o, sink, {}) == plan.latents);
      CHECK(sink.count() == plan.latents);
    }
  }
}

TEST_CASE("long_video: keyframes and infill land where the plan says") {
  auto sched = NoiseSchedule::lvdm();
  ToyMasked den;
  LongVideoOptions o;
  o.sampler.steps = 2;
  o.seed = 5;
  o.anchor = LongVideoOptions::Anchor::None;  // the clips as sampled (anchoring: test_anchor.cpp)
  auto plan = LongVideoPlan::make(100, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  auto models = toy_models(den, sched, 4, 5);
  CollectSink hier;
  generate_long_video(plan, models, o, hier, {});
  auto z = hier.all();
  // Keyframes are the prediction clips' outputs: rebuild them clip by clip with the same seeds.
  std::map<int64_t, at::Tensor> kf;
  for (size_t c = 0; c < plan.pred_clips.size(); ++c) {
    const auto& pc = plan.pred_clips[c];
    at::Tensor cond;
    std::vector<int64_t> pos;
    if (c > 0) {
      cond = kf.at(pc.first_new - 1);
      pos = {0};
    }
    auto g = make_generator(clip_seed(o.seed, ClipKind::Prediction, static_cast<int64_t>(c)));
    auto clip = sample_masked_clip(models.pred, models.geometry, cond, pos, o, g);
    int64_t s0 = c == 0 ? 0 : 1;
    for (int64_t i = 0; i < pc.num_new; ++i) kf[pc.first_new + i] = clip.slice(2, s0 + i, s0 + i + 1);
  }
  for (int64_t k = 0; k * plan.stride < plan.latents; ++k) {
    INFO("keyframe " << k);
    CHECK(at::equal(z.slice(2, k * plan.stride, k * plan.stride + 1), kf.at(k)));
  }
  // One infill job: its middle latents sit between its keyframes.
  const auto& job = plan.infill_jobs.at(3);
  auto g = make_generator(clip_seed(o.seed, ClipKind::Interpolation, 3));
  auto mid = sample_masked_clip(models.interp, models.geometry, at::cat({kf.at(3), kf.at(4)}, 2), {0, 4}, o, g);
  CHECK(at::equal(z.slice(2, job.first_latent, job.first_latent + job.count), mid.slice(2, 1, 1 + job.count)));
}

TEST_CASE("long_video: one prediction step and one interpolation step equal LVDM's sample_long_videos_utils") {
  StateDict fx = load_checkpoint(test::data_dir() / "hierarchy" / "long_video_steps.safetensors");
  // The fixture stores no weights: both U-Nets are det_fill'ed, hashing "pred." / "interp." + the
  // official parameter name (gen_long_video.py; our names are the official ones).
  auto make_unet = [&](const std::string& which) {
    std::string yaml = "model:\n  params:\n    conditioning_key: concat-adm-mask\n    unet_config:\n      params: " +
                       fx.metadata.at(which + "_unet") + "\n";
    auto cfg = LvdmUNetConfig::from_yaml_string(yaml, which);
    LvdmUNet3D net(cfg);
    net->eval();
    REQUIRE(fx.metadata.at("weights").rfind("det_fill", 0) == 0);
    test::det_fill(*net, {}, which + ".");
    CHECK(net->num_parameters() == fx.get(which + "_param_count").item<int64_t>());
    CHECK(static_cast<int64_t>(net->parameters().size()) == fx.get(which + "_param_tensors").item<int64_t>());
    return net;
  };
  auto pred_net = make_unet("pred"), interp_net = make_unet("interp");
  LvdmUNetDenoiser pred_den(pred_net), interp_den(interp_net);
  auto sched = NoiseSchedule::lvdm(0.0015, 0.0155, "linear", 1000);
  LongVideoOptions o;
  o.sampler.method = "ddim";
  o.sampler.steps = std::stoi(fx.metadata.at("ddim_steps"));
  o.sampler.eta = 1.0;
  o.cond_noise_level = 100;
  o.uncond_guidance = 0.1;
  LatentGeometry geo{4, 8, 8};
  MaskedClipModel pred{&pred_den, &sched, 4, true, 250, false, "pred"};
  MaskedClipModel interp{&interp_den, &sched, 5, true, 250, false, "interp"};

  // autoregressive_pred(n_pred_steps=1): the unconditional clip, then one clip conditioned on its
  // last latent; one generator throughout, as torch's global one in the reference.
  auto gen = make_generator(std::stoull(fx.metadata.at("pred_seed")));
  auto c0 = sample_masked_clip(pred, geo, {}, {}, o, gen);
  // The released script marks every frame of a prediction clip in the mask (T_cond_pred is never
  // passed): reproduced with full_mask; with the training-consistent mask the result differs.
  auto gen_b = make_generator(std::stoull(fx.metadata.at("pred_seed")));
  auto c0_b = sample_masked_clip(pred, geo, {}, {}, o, gen_b);
  auto c1_b = sample_masked_clip(pred, geo, c0_b.slice(2, 3, 4), {0}, o, gen_b, {}, /*full_mask=*/false);
  auto c1 = sample_masked_clip(pred, geo, c0.slice(2, 3, 4), {0}, o, gen, {}, /*full_mask=*/true);
  CHECK(rel_err(c1_b, c1) > 1e-4);
  auto ours = at::cat({c0, c1.slice(2, 1)}, 2);
  double e_pred = rel_err(ours, fx.get("pred_out"));
  MESSAGE("prediction step: relative error " << e_pred << " (first clip " << rel_err(c0, fx.get("pred_out").slice(2, 0, 4))
          << ", continuation " << rel_err(c1.slice(2, 1), fx.get("pred_out").slice(2, 4)) << ")");
  CHECK(e_pred <= 1e-5);

  auto base = fx.get("interp_base");
  auto g2 = make_generator(std::stoull(fx.metadata.at("interp_seed")));
  auto mid = sample_masked_clip(interp, geo, base.slice(2, 0, 2), {0, 4}, o, g2);
  auto ours_i = at::cat({base.slice(2, 0, 1), mid.slice(2, 1, 4), base.slice(2, 1, 2)}, 2);
  double e_int = rel_err(ours_i, fx.get("interp_out"));
  MESSAGE("interpolation step: relative error " << e_int);
  CHECK(e_int <= 1e-5);
}

TEST_CASE("long_video: streaming decode equals decode_stream of the whole latent video") {
  auto pipe = lvdm_random_tiny_masked(3, 4);
  auto ae = pipe.autoencoder;
  torch::manual_seed(11);
  auto z = torch::randn({1, 4, 21, 4, 4}) * 0.5;
  for (auto [win, ov] : std::vector<std::pair<int64_t, int64_t>>{{8, 2}, {6, 3}, {0, 0}, {5, 0}}) {
    INFO("window " << win << " overlap " << ov);
    std::vector<at::Tensor> chunks;
    {
      torch::NoGradGuard ng;
      if (win > 0)
        ae->decode_stream(z, win, ov, [&](const torch::Tensor& x) { chunks.push_back(video_to_uint8(x)); }, true);
      else
        chunks.push_back(video_to_uint8(ae->decode_latent(z)));
    }
    auto ref = at::cat(chunks, 0);
    MemorySink streamed;
    StreamingVideoDecoder dec(ae, 21, 83, win, ov, streamed);
    std::mt19937 rng(static_cast<unsigned>(win * 7 + ov));
    for (int64_t i = 0; i < 21;) {
      int64_t n = std::min<int64_t>(1 + rng() % 5, 21 - i);
      dec.push(z.slice(2, i, i + n));
      i += n;
    }
    REQUIRE(streamed.size() == 83);  // trimmed to the requested frames
    for (int64_t i = 0; i < 83; ++i) {
      const auto& fr = streamed.frame(i);
      auto r = ref[i].contiguous();
      CHECK(std::memcmp(fr.data(), r.data_ptr<uint8_t>(), fr.size()) == 0);
    }
  }
}

TEST_CASE("long_video: a run stopped and resumed equals an uninterrupted run") {
  auto sched = NoiseSchedule::lvdm();
  ToyMasked den;
  LongVideoOptions o;
  o.sampler.steps = 4;
  o.seed = 77;
  auto plan = LongVideoPlan::make(300, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  auto models = toy_models(den, sched, 4, 5);
  CollectSink straight;
  generate_long_video(plan, models, o, straight, {});

  test::ScratchDir dir("lvstate");
  std::string fp = long_video_fingerprint(plan, o, "toy");
  for (int64_t stop : {2, 3, 6}) {
    INFO("stopped after " << stop << " rounds");
    {
      LongVideoState st(dir / "run", fp);
      LongVideoRunOptions ro;
      ro.state = &st;
      ro.checkpoint_every = 2;  // the resumed run redoes the rounds after the last checkpoint
      ro.stop_after_rounds = stop;
      CollectSink part;
      CHECK(generate_long_video(plan, models, o, part, ro) < plan.latents);
    }
    LongVideoState st(dir / "run", fp);
    REQUIRE(st.exists());
    LongVideoRunOptions ro;
    ro.state = &st;
    ro.resume = true;
    CollectSink resumed;
    CHECK(generate_long_video(plan, models, o, resumed, ro) == plan.latents);
    CHECK(at::equal(resumed.all(), straight.all()));
    st.remove();
  }
  // A different seed cannot resume this state.
  {
    LongVideoState st(dir / "run", fp);
    LongVideoRunOptions ro;
    ro.state = &st;
    ro.stop_after_rounds = 2;
    CollectSink part;
    generate_long_video(plan, models, o, part, ro);
  }
  LongVideoOptions o2 = o;
  o2.seed = 78;
  LongVideoState other(dir / "run", long_video_fingerprint(plan, o2, "toy"));
  LongVideoRunOptions ro;
  ro.state = &other;
  ro.resume = true;
  CollectSink s;
  CHECK_THROWS_AS(generate_long_video(plan, models, o2, s, ro), Error);
}

TEST_CASE("long_video: generate --frames N writes exactly N frames") {
  test::ScratchDir dir("lvcli");
  for (int64_t n : {1, 15, 17, 100}) {
    INFO("N " << n);
    auto out = (dir / ("v" + std::to_string(n) + ".y4m")).string();
    auto r = test::run_cli({"generate", "--model", "random", "--frames", std::to_string(n), "--steps", "2", "--random-latent-size", "4",
                            "--mode", "hierarchical", "--uncond-guidance", "0", "--seed", "1", "-o", out});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(probe_video(out).frame_count == n);
  }
  CHECK(dir.entries().size() == 4);  // no state directories or temp files left
}

TEST_CASE("long_video: extend a real mp4: the input frames unchanged, then the continuation") {
  test::ScratchDir dir("lvext");
  auto in = (dir / "in.mp4").string(), out = (dir / "out.y4m").string();
  auto r0 = test::run_cli({"generate", "--model", "random", "--frames", "40", "--steps", "2", "--random-latent-size", "4", "--seed", "3",
                           "--mode", "autoregressive", "--uncond-guidance", "0", "-o", in});
  REQUIRE(r0.exit_code == 0);
  auto r = test::run_cli({"extend", in, "--model", "random", "--frames", "30", "--steps", "2", "--random-latent-size", "4", "--seed", "4",
                          "-o", out});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto a = read_video(in), b = read_video(out);  // uint8 [T, H, W, 3]
  REQUIRE(a.size(0) == 40);
  REQUIRE(b.size(0) == 70);
  // y4m output is lossless: the input's decoded frames come back bit for bit.
  CHECK(at::equal(b.slice(0, 0, 40), a));
  CHECK_FALSE(at::equal(b.slice(0, 40, 41), b.slice(0, 39, 40)));
  // wrong size / too short / same path: clear errors, nothing written
  auto bad = test::run_cli({"extend", in, "--model", "random", "--frames", "8", "--random-latent-size", "8", "-o", (dir / "x.mp4").string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("32x32") != std::string::npos);
  auto same = test::run_cli({"extend", in, "--model", "random", "--frames", "8", "--random-latent-size", "4", "-o", in});
  CHECK(same.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "x.mp4"));
}

TEST_CASE("long_video: interpolation clips batched per round give the one-by-one video") {
  auto sched = NoiseSchedule::lvdm();
  LongVideoOptions o;
  o.sampler.steps = 2;
  o.seed = 9;
  auto plan = LongVideoPlan::make(100, 4, 4, 1, 5, LongVideoMode::Hierarchical);
  // An elementwise denoiser: batching changes nothing, so the videos are equal bit for bit.
  ToyMasked den;
  auto models = toy_models(den, sched, 4, 5);
  CollectSink one, all, two;
  o.infill_batch = 1;
  generate_long_video(plan, models, o, one, {});
  o.infill_batch = 0;
  generate_long_video(plan, models, o, all, {});
  o.infill_batch = 2;
  generate_long_video(plan, models, o, two, {});
  CHECK(at::equal(one.all(), all.all()));
  CHECK(at::equal(one.all(), two.all()));
  // A real U-Net: equal up to the float rounding of batched convolutions and matmuls.
  auto pipe = lvdm_random_tiny_masked(3, 4);
  auto real = long_video_models(pipe, LongVideoMode::Hierarchical);
  auto rplan = LongVideoPlan::make(40, 4, real.pred.clip_len, 1, real.interp.clip_len, LongVideoMode::Hierarchical);
  CollectSink r1, r0;
  o.infill_batch = 1;
  generate_long_video(rplan, real, o, r1, {});
  o.infill_batch = 0;
  generate_long_video(rplan, real, o, r0, {});
  const double d = (r1.all() - r0.all()).abs().max().item<double>();
  MESSAGE("batched vs one-by-one infill, tiny U-Net: max abs latent difference " << d);
  CHECK(d < 1e-4);
  CHECK(long_video_fingerprint(rplan, o, "m") != [&] { auto p = o; p.infill_batch = 1; return long_video_fingerprint(rplan, p, "m"); }());
}
