// Diagnosis of the long-video chain of a frame-mask LVDM model (docs/hierarchy.md, "Why long
// videos collapsed"). Built as build/diag_chain; not part of the CLI. VIDEO: a real video of the
// training distribution (e.g. `longvid synth -o real --videos 1 --frames 256 --seed 777`).
//   diag_chain MODEL VIDEO stats
//       per-channel mean/std of the normalised latents (4-frame and whole-video encoder windows)
//   diag_chain MODEL VIDEO loss [CLIPS]
//       held-out eps L1 error at the free latents by mask kind (unconditional / prediction /
//       interpolation), diffusion step t and condition noise level s (keyframes 3 latents apart)
//   diag_chain MODEL VIDEO chain STEPS [S] [W] [DDIM] [START_KF] [SEED] [ANCHOR]
//       autoregressive keyframes from the real keyframe START_KF: statistics of each generated
//       keyframe next to the real one (DIAG_C3=1: one line per step, channel 3's means)
//   diag_chain MODEL VIDEO trace SEED [DDIM]
//       the first (unconditional) keyframe clip of `generate --seed SEED`: per step, each latent's
//       x0-prediction std and the decoded x0's texture (the scorer's frame_texture, noise > 6.5);
//       then the first interpolation clip, and the latent statistics of both
// Text models: DIAG_PROMPT="..." is the context of every clip (unset: the empty prompt); DIAG_VAE=FILE
// gives the autoencoder of a model file that holds none.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/long_video.h"
#include "pipeline/lvdm_family.h"
#include "train/physics_score.h"
#include "vae3d/video_autoencoder.h"

using namespace longvid;

static at::Tensor encode_video(VideoPipeline& pipe, const at::Tensor& u8, int64_t window_frames) {
  torch::NoGradGuard ng;
  auto x = u8.permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat) / 127.5 - 1.0;  // [1,3,T,H,W]
  std::vector<at::Tensor> zs;
  const int64_t T = x.size(2);
  for (int64_t t0 = 0; t0 < T; t0 += window_frames) {
    auto post = pipe.autoencoder->encode(x.slice(2, t0, std::min(T, t0 + window_frames)));
    zs.push_back(post.mean);
  }
  return pipe.autoencoder->normalize_latent(at::cat(zs, 2));
}

static void print_stats(const char* name, const at::Tensor& z) {
  // z [1, C, t, h, w]: per-channel mean / std over everything
  auto m = z.mean({0, 2, 3, 4}), s = z.std({0, 2, 3, 4});
  std::string out = fmt::format("{:<28}", name);
  for (int64_t c = 0; c < z.size(1); ++c) out += fmt::format(" c{} {:+.3f}/{:.3f}", c, m[c].item<double>(), s[c].item<double>());
  std::puts(out.c_str());
}

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::fprintf(stderr, "usage: diag_chain MODEL VIDEO [stats|loss|chain] [args]\n");
      return 2;
    }
    std::string what = argc > 3 ? argv[3] : "stats";
    ModelSource src;
    src.checkpoint = argv[1];
    if (const char* v = std::getenv("DIAG_VAE")) src.autoencoder = v;  // models that hold no AE
    auto pipe = load_pipeline(src);
    auto u8 = read_video(argv[2]);
    std::printf("video %s: %ld frames\n", argv[2], (long)u8.size(0));
    torch::NoGradGuard ng;
    auto z1 = encode_video(pipe, u8, 4);
    if (what == "stats") {
      print_stats("real, 4-frame windows", z1);
      auto z64 = encode_video(pipe, u8, 256);
      print_stats("real, 256-frame windows", z64);
      for (int64_t k = 0; k < std::min<int64_t>(z1.size(2), 12); ++k)
        print_stats(fmt::format("  latent {}", k).c_str(), z1.slice(2, k, k + 1));
      return 0;
    }
    const auto& sched = *pipe.schedule;
    auto unet = lvdm_unet_of(pipe);
    unet->eval();
    const int64_t stride = 3, L = 4;
    at::Tensor ctx;  // text models: the context every clip attends to
    if (pipe.text_encoder) {
      const char* p = std::getenv("DIAG_PROMPT");
      ctx = pipe.text_encoder->encode({p ? p : ""});
      std::printf("context: \"%s\"\n", p ? p : "");
    }
    if (what == "loss") {
      // eps L1 error at the free frames, by mode, t and s, over clips of real latents.
      std::vector<int64_t> ts{20, 100, 300, 600, 900}, ss{0, 50, 100, 200};
      const int64_t nclips = argc > 4 ? std::atoll(argv[4]) : 6;
      for (int mode = 0; mode < 3; ++mode) {
        for (int64_t s : ss) {
          if (mode == 0 && s != 0) continue;
          std::string line = fmt::format("{:<7} s={:<4}", mode == 0 ? "uncond" : mode == 1 ? "pred" : "interp", s);
          for (int64_t t : ts) {
            double err = 0;
            int64_t n = 0;
            for (int64_t i = 0; i < nclips; ++i) {
              int64_t start = i * 7 % (z1.size(2) - stride * (L - 1) - 1);
              at::Tensor z = mode == 2 ? z1.slice(2, start, start + L) : z1.slice(2, start, start + stride * (L - 1) + 1, stride);
              auto g = make_generator(1000 + i * 31 + t);
              auto eps_t = at::randn(z.sizes(), g, at::kFloat), eps_s = at::randn(z.sizes(), g, at::kFloat);
              auto m = at::zeros({1, 1, L, z.size(3), z.size(4)});
              if (mode == 1) m.select(2, 0).fill_(1);
              if (mode == 2) { m.select(2, 0).fill_(1); m.select(2, L - 1).fill_(1); }
              auto tt = at::full({1}, t, at::kLong), st = at::full({1}, s, at::kLong);
              auto x_t = sched.q_sample(z, tt, eps_t), x_s = sched.q_sample(z, st, eps_s);
              auto xn = x_t * (1 - m) + x_s * m;
              at::Tensor out = unet->forward(at::cat({xn, m}, 1), tt, ctx, st);
              auto free = 1 - m;
              err += ((out - eps_t).abs() * free).sum().item<double>() / (free.sum().item<double>() * z.size(1));
              ++n;
            }
            line += fmt::format("  t{}: {:.4f}", t, err / n);
          }
          std::puts(line.c_str());
        }
      }
      return 0;
    }
    if (what == "chain") {
      // Autoregressive keyframes from real keyframe 0 (or from a generated start): stats per step.
      const int64_t steps = argc > 4 ? std::atoll(argv[4]) : 6;
      const int64_t s = argc > 5 ? std::atoll(argv[5]) : 100;
      const double w = argc > 6 ? std::atof(argv[6]) : 0.0;
      const int64_t ddim = argc > 7 ? std::atoll(argv[7]) : 50;
      auto models = long_video_models(pipe, LongVideoMode::Hierarchical);
      LongVideoOptions o;
      o.cond_noise_level = s;
      o.uncond_guidance = w;
      o.sampler.method = "ddim";
      o.sampler.steps = ddim;
      o.sampler.eta = 1.0;
      o.sampler.spacing = "auto";
      if (ctx.defined()) {  // text guidance scale 1: e(m,T) + w (e(m,T) - e(0,T))
        o.text.uncond = pipe.text_encoder->encode({""});
        o.text.context = [ctx](int64_t, int64_t) { return ctx; };
      }
      const int64_t k0 = argc > 8 ? std::atoll(argv[8]) : 0;  // start keyframe (latent k0 * stride)
      const uint64_t seed = argc > 9 ? std::atoll(argv[9]) : 7;
      if (k0 < 0 || k0 * stride >= z1.size(2)) {
        std::fprintf(stderr, "error: START_KF %lld: the video has keyframes 0..%lld\n", (long long)k0,
                     (long long)((z1.size(2) - 1) / stride));
        return 1;
      }
      z1 = z1.slice(2, k0 * stride);
      at::Tensor cond = z1.slice(2, 0, 1);
      print_stats("real kf 0", cond);
      const bool verbose_only_c3 = std::getenv("DIAG_C3") != nullptr;
      for (int64_t k = 0; k < steps; ++k) {
        auto gen = make_generator(clip_seed(seed, ClipKind::Prediction, k));
        auto clip = sample_masked_clip(models.pred, models.geometry, cond, {0}, o, gen, {}, false,
                                       ctx.defined() ? std::vector<at::Tensor>{ctx} : std::vector<at::Tensor>{});
        if (argc > 10) {
          auto mode = parse_anchor(argv[10]);
          auto m = cond.mean({3, 4}, true), sd = cond.std({3, 4}, false, true);
          clip = anchor_latent_stats(clip, m, sd, mode);
        }
        if (verbose_only_c3) {
          std::string l = fmt::format("step {:3d} c3 mean:", k);
          for (int64_t j = 1; j < L; ++j) l += fmt::format(" {:+.2f}", clip.select(2, j).select(1, 3).mean().item<double>());
          l += "  std:";
          for (int64_t j = 1; j < L; ++j) l += fmt::format(" {:.3f}", clip.select(2, j).std().item<double>());
          std::puts(l.c_str());
          cond = clip.slice(2, L - 1, L).contiguous();
          continue;
        }
        for (int64_t j = 1; j < L; ++j) {
          int64_t idx = k * 3 + j;
          auto real = idx * stride < z1.size(2) ? z1.slice(2, idx * stride, idx * stride + 1) : at::Tensor();
          print_stats(fmt::format("gen kf {}", idx).c_str(), clip.slice(2, j, j + 1));
          if (real.defined()) print_stats(fmt::format("real kf {}", idx).c_str(), real);
        }
        cond = clip.slice(2, L - 1, L).contiguous();
      }
      return 0;
    }
    if (what == "trace") {
      const uint64_t seed = argc > 4 ? std::atoll(argv[4]) : 1;
      auto models = long_video_models(pipe, LongVideoMode::Hierarchical);
      SamplerOptions so;
      so.method = "ddim";
      so.steps = argc > 5 ? std::atoi(argv[5]) : 50;
      so.eta = 1.0;
      so.spacing = "lvdm";
      auto gen = make_generator(clip_seed(seed, ClipKind::Prediction, 0));
      const auto& g = models.geometry;
      const int64_t Lc = models.pred.clip_len;
      auto x_T = at::randn({1, g.channels, Lc, g.height, g.width}, gen, at::kFloat);
      Conditioning c;
      c.mask = at::zeros({1, 1, Lc, g.height, g.width});
      if (ctx.defined()) c.context = ctx;
      // One line: each latent's std, then the texture of each decoded frame (every `every`-th), as
      // `longvid synth score` measures it on the written video.
      auto report = [&](const std::string& head, const at::Tensor& z, int64_t every) {
        std::string l = head + " std:";
        for (int64_t j = 0; j < z.size(2); ++j) l += fmt::format(" {:.3f}", z.select(2, j).std().item<double>());
        auto u8 = video_to_uint8(pipe.autoencoder->decode_latent(z)).contiguous();  // [T, H, W, 3]
        l += "  texture/frame:";
        for (int64_t f = 0; f < u8.size(0); f += every)
          l += fmt::format(" {:.1f}", frame_texture(u8[f].data_ptr<uint8_t>(), static_cast<int>(u8.size(2)),
                                                    static_cast<int>(u8.size(1))));
        std::puts(l.c_str());
      };
      StepHooks hooks;
      hooks.after_step = [&](int i, int64_t t, at::Tensor&, at::Tensor& x0) {
        if (i % 5 == 4 || i <= 2) report(fmt::format("step {:2d} t {:4d} x0", i, (long long)t), x0, 4);
      };
      // generate's first clip: its generator, x_T then each step's noise, and guidance scale 1 (the
      // bundled text model's) make sample_masked_clip's clip bit for bit (checked once: max diff 0).
      const auto kfc = sample(*models.pred.denoiser, *models.pred.schedule, x_T, c, so, gen, {}, hooks);
      // The interpolation clip between its first two keyframes, as generate makes it.
      LongVideoOptions o;
      o.sampler = so;
      if (ctx.defined()) {
        o.text.uncond = pipe.text_encoder->encode({""});
        o.text.context = [ctx](int64_t, int64_t) { return ctx; };
      }
      std::vector<at::Tensor> cv = ctx.defined() ? std::vector<at::Tensor>{ctx} : std::vector<at::Tensor>{};
      auto g1 = make_generator(clip_seed(seed, ClipKind::Interpolation, 0));
      auto mid = sample_masked_clip(models.interp, g, kfc.slice(2, 0, 2), {0, models.interp.clip_len - 1}, o, g1, {}, false, cv);
      report("keyframes   ", kfc, 1);
      report("interp      ", mid, 1);
      print_stats("kf 0", kfc.slice(2, 0, 1));
      print_stats("kf 1", kfc.slice(2, 1, 2));
      for (int64_t j = 1; j + 1 < mid.size(2); ++j) print_stats(fmt::format("mid {}", j).c_str(), mid.slice(2, j, j + 1));
      return 0;
    }
    std::fprintf(stderr, "unknown: %s\n", what.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
