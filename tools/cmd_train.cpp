// longvid train: LVDM latent diffusion training (joint prediction / interpolation masks) on clips
// from a folder of videos, encoded by a frozen LVDM 3D autoencoder. See train/lvdm_trainer.h.
//
//   longvid train --data DIR --ae AE.safetensors -o RUN [--unet tiny | --backbone latte [--variant N]]
//                 [--steps N] [--resume]
//
// RUN/model.safetensors   the model in LVDM's layout (model.diffusion_model.*, model_ema.*,
//                         first_stage_model.*), metadata kConfigMetadataKey = official config as JSON
// RUN/train_state.safetensors   optimizer moments + step + data position (for --resume)
// RUN/log.jsonl           one line per step: step, loss, grad_norm, lr, seconds, samples_per_s
// Data parallel: start one process per device with RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT.
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "tools/cli.h"
#include "train/clip_source.h"
#include "train/latent_cache.h"
#include "train/dataset.h"
#include "train/distributed.h"
#include "train/lvdm_trainer.h"
#include "train/text_data.h"

namespace longvid {
namespace {

std::vector<int64_t> parse_int_list(const std::string& s, const char* opt) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("{} '{}': expected comma-separated integers", opt, s);
    }
  }
  return out;
}

LvdmAutoencoder3D load_or_make_ae(const std::string& ae_path, const std::string& ae_config, uint64_t seed) {
  if (ae_path.empty()) fail("--ae: no autoencoder given (a checkpoint from `longvid train-vae`, an LVDM .ckpt, or 'random')");
  if (ae_path == "random") {
    LvdmAe3dConfig a;  // official [4, 8, 8] layout, 32 hidden channels
    torch::manual_seed(seed + 7);
    return LvdmAutoencoder3D(a);
  }
  return load_lvdm_ae3d_file(ae_path, ae_config);
}

// The U-Net of --unet with the --model-channels / --channel-mult / --num-res-blocks overrides.
LvdmUNetConfig unet_config_from(const cxxopts::ParseResult& r, int64_t z_channels, int64_t max_noise_level,
                                int64_t latent_t, int64_t latent_hw) {
  auto ucfg = lvdm_unet_preset(r["unet"].as<std::string>(), z_channels, max_noise_level, latent_t);
  if (int64_t mc = r["model-channels"].as<int64_t>(); mc != 0) {
    if (mc < 32 || mc % 32 != 0) fail("--model-channels {}: must be a positive multiple of 32", mc);
    ucfg.model_channels = mc;
  }
  if (std::string cm = r["channel-mult"].as<std::string>(); !cm.empty()) {
    ucfg.channel_mult = parse_int_list(cm, "--channel-mult");
    for (auto m : ucfg.channel_mult)
      if (m < 1) fail("--channel-mult {}: values must be >= 1", cm);
    if (ucfg.channel_mult.empty()) fail("--channel-mult: needs at least one value");
  }
  if (int64_t nb = r["num-res-blocks"].as<int64_t>(); nb != 0) {
    if (nb < 1) fail("--num-res-blocks {}: must be >= 1", nb);
    ucfg.num_res_blocks = nb;
  }
  int64_t down = int64_t{1} << (ucfg.channel_mult.size() - 1);
  if (latent_hw % down != 0)
    fail("the latent ({}x{}) must be divisible by {} for the '{}' U-Net (--size)", latent_hw, latent_hw, down,
         r["unet"].as<std::string>());
  return ucfg;
}

int run_train(int argc, char** argv) {
  cxxopts::Options o("longvid train", "LVDM latent diffusion training (prediction + interpolation masks) of a 3D U-Net "
                     "or a Latte video transformer");
  o.add_options()
    ("data", "folder of training videos (mp4/webm/y4m/gif, recursive)", cxxopts::value<std::string>()->default_value(""))
    ("ae", "frozen 3D autoencoder: train-vae output, LVDM .ckpt, or 'random' (tests)", cxxopts::value<std::string>()->default_value(""))
    ("ae-config", "autoencoder config YAML (default: from the checkpoint's metadata or shapes)", cxxopts::value<std::string>()->default_value(""))
    ("scale-factor", "latent scale_factor (z = scale * (z + shift)); empty: the AE config's", cxxopts::value<std::string>()->default_value(""))
    ("shift-factor", "latent shift_factor; empty: the AE config's", cxxopts::value<std::string>()->default_value(""))
    ("o,output", "run folder (model.safetensors, train_state.safetensors, log.jsonl)", cxxopts::value<std::string>()->default_value(""))
    ("backbone", "denoiser network: unet (LVDM's 3D U-Net) | latte (a Latte video transformer with the same "
     "frame-mask conditioning)", cxxopts::value<std::string>()->default_value("unet"))
    ("unet", "U-Net preset: tiny | small | base", cxxopts::value<std::string>()->default_value("tiny"))
    ("latte", "Latte size: tiny (width 128, depth 8) | small (width 256, depth 12) | an official preset (Latte-S/2, ...)",
     cxxopts::value<std::string>()->default_value("tiny"))
    ("variant", "Latte variant: 1 interleaved spatial/temporal blocks (the release) | 2 late fusion | 3 factorized "
     "attention in each block | 4 factorized heads", cxxopts::value<int64_t>()->default_value("1"))
    ("patch", "Latte patch size (0: the size's)", cxxopts::value<int64_t>()->default_value("0"))
    ("tube-frames", "Latte tube embedding: latent frames per 3D patch (1: image-wise, the release)",
     cxxopts::value<int64_t>()->default_value("1"))
    ("model-channels", "override the preset's base width (multiple of 32: GroupNorm(32))", cxxopts::value<int64_t>()->default_value("0"))
    ("channel-mult", "override the preset's width multipliers, e.g. 1,2,2", cxxopts::value<std::string>()->default_value(""))
    ("num-res-blocks", "override the preset's residual blocks per level", cxxopts::value<int64_t>()->default_value("0"))
    ("frames", "frames per training clip", cxxopts::value<int64_t>()->default_value("16"))
    ("frame-stride", "take every n-th frame of the video", cxxopts::value<int64_t>()->default_value("1"))
    ("size", "frame size (shorter side resized, centre crop)", cxxopts::value<int64_t>()->default_value("64"))
    ("batch", "global batch per micro-step (split over ranks)", cxxopts::value<int64_t>()->default_value("2"))
    ("accum", "micro-steps per optimizer step (gradient accumulation)", cxxopts::value<int64_t>()->default_value("1"))
    ("steps", "total optimizer steps", cxxopts::value<int64_t>()->default_value("100"))
    ("lr", "AdamW learning rate", cxxopts::value<double>()->default_value("8e-5"))
    ("weight-decay", "AdamW weight decay", cxxopts::value<double>()->default_value("0.01"))
    ("warmup", "linear warm-up steps", cxxopts::value<int64_t>()->default_value("0"))
    ("lr-schedule", "after the warm-up: constant (the official configs) | cosine (down to --lr-min at --steps)", cxxopts::value<std::string>()->default_value("constant"))
    ("lr-min", "the cosine schedule's final learning rate", cxxopts::value<double>()->default_value("0"))
    ("grad-clip", "max global gradient norm (0 = off)", cxxopts::value<double>()->default_value("1.0"))
    ("ema", "EMA decay (LitEma; 0 = no EMA)", cxxopts::value<double>()->default_value("0.9999"))
    ("loss", "l1 | l2", cxxopts::value<std::string>()->default_value("l1"))
    ("p-pred", "probability of a prediction mask (first n_prev latents given)", cxxopts::value<double>()->default_value("0.5"))
    ("p-interp", "probability of an interpolation mask (first + last latent given)", cxxopts::value<double>()->default_value("0.3"))
    ("n-prevs", "choices of n_prev for prediction masks", cxxopts::value<std::string>()->default_value("1"))
    ("max-noise-level", "condition noise s ~ U{0..N-1} (label_emb has N+1 rows)", cxxopts::value<int64_t>()->default_value("250"))
    ("latent-frame-stride", "keep every n-th latent frame (official prediction config: 4)", cxxopts::value<int64_t>()->default_value("1"))
    ("interp-consecutive", "with --latent-frame-stride S > 1: interpolation samples take consecutive latents (the gap between keyframes S apart) while unconditional/prediction samples stay S apart, so one run gives both models of the hierarchy")
    ("posterior-mean", "train on the posterior mean instead of a sample")
    ("seed", "seed (weights, data order, noise)", cxxopts::value<int64_t>()->default_value("0"))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 (bf16: autocast, CUDA only)", cxxopts::value<std::string>()->default_value("bf16"))
    ("save-every", "checkpoint every K steps (and at the end)", cxxopts::value<int64_t>()->default_value("500"))
    ("stop-after", "stop (with a checkpoint) after this many steps of this invocation (0 = run to --steps)", cxxopts::value<int64_t>()->default_value("0"))
    ("resume", "continue the run in --output")
    ("log-every", "print a line every K steps", cxxopts::value<int64_t>()->default_value("10"))
    ("latent-cache", "cache the frozen AE's posteriors of every training video in this file (built on first use, "
     "checked against the AE after): training then reads latents instead of encoding clips", cxxopts::value<std::string>()->default_value(""))
    ("loader", "stream (train/dataset.h: background decoding) | memory (all videos decoded once into RAM)", cxxopts::value<std::string>()->default_value("stream"))
    ("workers", "decoding threads of the stream loader", cxxopts::value<int>()->default_value("2"))
    ("text-encoder", "none | tiny | small: train a text-conditioned model with a CLIP-style text encoder trained "
     "jointly (cond_stage_trainable) on the captions of `longvid synth` data (needs --latent-cache); its tokenizer is "
     "trained on the captions and written to RUN/tokenizer/", cxxopts::value<std::string>()->default_value("none"))
    ("p-uncond-text", "probability that a sample's caption is dropped to \"\" (classifier-free guidance)",
     cxxopts::value<double>()->default_value("0.1"))
    ("init-from", "start the denoiser from this model's weights where names and shapes match (EMA preferred); "
     "the rest keep their initialisation", cxxopts::value<std::string>()->default_value(""))
    ("h,help", "show this help");
  auto r = o.parse(argc, argv);
  if (r.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  namespace fs = std::filesystem;
  std::string out = r["output"].as<std::string>();
  if (out.empty()) fail("-o/--output: no run folder given");
  const bool resume = r.count("resume") > 0;
  fs::path model_file = fs::path(out) / "model.safetensors", state_file = fs::path(out) / "train_state.safetensors";
  if (resume && (!fs::exists(model_file) || !fs::exists(state_file)))
    fail("--resume: {} has no model.safetensors + train_state.safetensors to continue from", out);
  if (!resume && fs::exists(model_file))
    fail("{} already holds a run (model.safetensors); pass --resume to continue it or choose another -o", out);

  DiffusionTrainOptions t;
  t.loss_type = r["loss"].as<std::string>();
  t.p_pred = r["p-pred"].as<double>();
  t.p_interp = r["p-interp"].as<double>();
  t.n_prevs = parse_int_list(r["n-prevs"].as<std::string>(), "--n-prevs");
  t.max_noise_level = r["max-noise-level"].as<int64_t>();
  t.latent_frame_stride = r["latent-frame-stride"].as<int64_t>();
  t.interp_consecutive = r.count("interp-consecutive") > 0;
  t.sample_posterior = r.count("posterior-mean") == 0;
  t.lr = r["lr"].as<double>();
  t.weight_decay = r["weight-decay"].as<double>();
  t.warmup_steps = r["warmup"].as<int64_t>();
  t.lr_schedule = r["lr-schedule"].as<std::string>();
  t.lr_min = r["lr-min"].as<double>();
  t.grad_clip = r["grad-clip"].as<double>();
  t.ema_decay = r["ema"].as<double>();
  t.batch_size = r["batch"].as<int64_t>();
  t.grad_accum = r["accum"].as<int64_t>();
  t.steps = r["steps"].as<int64_t>();
  t.p_uncond_text = r["p-uncond-text"].as<double>();
  const std::string text_preset = r["text-encoder"].as<std::string>();
  const std::string init_from = r["init-from"].as<std::string>();
  if (resume && !init_from.empty()) fail("--init-from: only for a new run (this one is resumed)");
  int64_t seed = r["seed"].as<int64_t>();
  if (seed < 0) fail("--seed {}: must be >= 0 (a training run must be reproducible)", seed);
  t.seed = static_cast<uint64_t>(seed);
  const int64_t save_every = r["save-every"].as<int64_t>();
  const int64_t log_every = std::max<int64_t>(1, r["log-every"].as<int64_t>());
  if (save_every < 1) fail("--save-every {}: must be >= 1", save_every);
  if (t.ema_decay < 0 || t.ema_decay >= 1) fail("--ema {}: must be in [0, 1)", t.ema_decay);

  auto policy = make_device_policy(r["device"].as<std::string>(), "fp32");
  std::string dtype = r["dtype"].as<std::string>();
  auto dt = parse_dtype(dtype);
  if (dt != at::kFloat && dt != at::kBFloat16) fail("--dtype {}: training supports fp32 or bf16", dtype);
  t.bf16 = dt == at::kBFloat16;
  auto pg = init_process_group_from_env(policy.device.is_cuda());
  const int rank = pg ? pg->rank() : 0;

  FolderClipOptions fo;
  fo.root = r["data"].as<std::string>();
  fo.clip_frames = r["frames"].as<int64_t>();
  fo.frame_stride = r["frame-stride"].as<int64_t>();
  fo.size = r["size"].as<int64_t>();
  fo.seed = t.seed;
  auto ae = load_or_make_ae(r["ae"].as<std::string>(), r["ae-config"].as<std::string>(), t.seed);
  auto num_opt = [&](const char* name) {
    std::string v = r[name].as<std::string>();
    if (v.empty()) return std::nan("");
    try {
      size_t used = 0;
      double d = std::stod(v, &used);
      if (used == v.size() && std::isfinite(d)) return d;
    } catch (const std::exception&) {
    }
    fail("--{} '{}': expected a number", name, v);
  };
  double sf = num_opt("scale-factor"), sh = num_opt("shift-factor");
  if (!std::isnan(sf) || !std::isnan(sh)) {
    LvdmAe3dConfig c = ae->config();
    if (!std::isnan(sf)) c.scale_factor = sf;
    if (!std::isnan(sh)) c.shift_factor = sh;
    LvdmAutoencoder3D ae2(c);
    {
      torch::NoGradGuard ng;
      auto src = ae->named_parameters();
      for (auto& kv : ae2->named_parameters()) kv.value().copy_(src[kv.key()]);
    }
    ae = ae2;
  }
  auto f = ae->config().factors();
  if (fo.clip_frames % f[0] != 0 || fo.size % f[1] != 0)
    fail("--frames {} / --size {}: must be multiples of the autoencoder's factors {} (time) / {} (space)",
         fo.clip_frames, fo.size, f[0], f[1]);
  int64_t latent_t = fo.clip_frames / f[0];
  latent_t = (latent_t + t.latent_frame_stride - 1) / t.latent_frame_stride;
  int64_t latent_hw = fo.size / f[1];
  const std::string backbone = r["backbone"].as<std::string>();
  if (backbone != "unet" && backbone != "latte") fail("--backbone {}: must be unet or latte", backbone);
  for (const char* opt : {"model-channels", "channel-mult", "num-res-blocks", "unet"})
    if (backbone == "latte" && r.count(opt)) fail("--{}: a U-Net option; this run trains --backbone latte", opt);
  for (const char* opt : {"latte", "variant", "patch", "tube-frames"})
    if (backbone == "unet" && r.count(opt)) fail("--{}: a Latte option; pass --backbone latte", opt);
  LvdmUNetConfig ucfg;
  LatteConfig lcfg;
  if (backbone == "unet") {
    ucfg = unet_config_from(r, ae->config().embed_dim, t.max_noise_level, latent_t, latent_hw);
  } else {
    lcfg = latte_train_preset(r["latte"].as<std::string>(), ae->config().embed_dim, t.max_noise_level, latent_t,
                              latent_hw);
    lcfg.variant = r["variant"].as<int64_t>();
    if (int64_t p = r["patch"].as<int64_t>(); p != 0) lcfg.patch_size = p;
    lcfg.tube_frames = r["tube-frames"].as<int64_t>();
    try {
      lcfg.validate();
    } catch (const Error& e) {
      fail("--backbone latte at {}x{} latents, {} latent frames: {}", latent_hw, latent_hw, latent_t, e.what());
    }
  }
  std::unique_ptr<ClipSource> data_ptr;
  std::unique_ptr<LatentCache> cache;
  int64_t num_videos = 0;
  const std::string loader = r["loader"].as<std::string>();
  const std::string cache_file = r["latent-cache"].as<std::string>();
  if (!cache_file.empty()) {
    if (!fs::exists(cache_file)) {
      if (rank == 0) LatentCache::build(fo, *ae, cache_file, ae->default_encode_window().window,
                                        ae->default_encode_window().overlap);
      if (pg) pg->barrier();
    }
    cache = std::make_unique<LatentCache>(cache_file);
    cache->check_matches(*ae, fo.size, fo.frame_stride);
    if (cache->min_latent_frames() < fo.clip_frames / f[0])
      fail("--latent-cache {}: its shortest video has {} latent frames, a clip of {} frames needs {}", cache_file,
           cache->min_latent_frames(), fo.clip_frames, fo.clip_frames / f[0]);
    num_videos = cache->num_videos();
  } else if (loader == "memory") {
    auto fs_src = std::make_unique<FolderClipSource>(fo);
    num_videos = fs_src->num_videos();
    data_ptr = std::move(fs_src);
  } else if (loader == "stream") {
    if (fo.root.empty()) fail("--data: no training data folder given");
    VideoDatasetOptions vo;
    vo.roots = {fo.root};
    vo.clip_frames = fo.clip_frames;
    vo.frame_stride = fo.frame_stride;
    vo.size = fo.size;
    vo.seed = fo.seed;
    vo.workers = r["workers"].as<int>();
    // This rank's shard of each global micro-batch (the trainers read k0 + m*G + r*b .. + b).
    const int world = pg ? pg->world_size() : 1;
    const int64_t G = t.batch_size;
    if (G % world != 0) fail("--batch {}: the global batch must be divisible by WORLD_SIZE {}", G, world);
    vo.shard_block = G / world;
    vo.shard_period = G;
    vo.shard_offset = rank * (G / world);
    auto ds = std::make_unique<VideoDatasetClipSource>(vo);
    num_videos = ds->num_videos();
    data_ptr = std::move(ds);
  } else {
    fail("--loader {}: must be stream or memory", loader);
  }
  const std::string data_desc = cache ? cache->describe() : data_ptr->describe();
  nlohmann::json data_json{{"data_root", fo.root.string()}, {"resolution", fo.size}, {"video_length", fo.clip_frames},
                           {"frame_stride", fo.frame_stride}, {"num_videos", num_videos}};
  if (cache) data_json["latent_cache"] = cache_file;

  // A text model: the tokenizer is trained on the captions (a new run) or read back (--resume).
  std::shared_ptr<TrainableTextEncoder> text;
  std::unique_ptr<SynthCaptions> captions;
  const fs::path tok_dir = fs::path(out) / "tokenizer";
  if (text_preset != "none") {
    if (backbone != "unet") fail("--text-encoder: text conditioning is built for --backbone unet");
    if (!cache) fail("--text-encoder: a text model trains from a latent cache (--latent-cache FILE)");
    captions = std::make_unique<SynthCaptions>(*cache);
    ClipTokenizer tok = resume ? ClipTokenizer::from_dir(tok_dir)
                               : ClipTokenizer::train(captions->corpus(fo.clip_frames), 2000);
    torch::manual_seed(t.seed + 1);
    text = std::make_shared<TrainableTextEncoder>(make_text_encoder(text_preset, std::move(tok)));
    ucfg.use_temporal_transformer = true;
    ucfg.transformer_depth = 1;
    ucfg.context_dim = text->model->config().hidden_size;
    data_json["captions"] = "synth truth (full 0.6 / no motion 0.2 / count 0.2)";
  }

  torch::manual_seed(t.seed);  // network initialisation (identical on every rank)
  TrainableDenoiser net = backbone == "unet" ? trainable_denoiser(LvdmUNet3D(ucfg)) : trainable_denoiser(Latte(lcfg));
  LvdmDiffusionTrainer trainer(net, ae, t, policy.device, pg.get(), text);
  if (captions) trainer.set_captions([c = captions.get()](int64_t v, int64_t f0, int64_t n, double u) {
    return (*c)(v, f0, n, u);
  });
  if (!init_from.empty()) {
    require_readable_file(init_from, "--init-from model");
    const int64_t taken = trainer.init_from(load_checkpoint(init_from));
    if (taken == 0) fail("--init-from {}: no tensor matches this network (another architecture?)", init_from);
    spdlog::info("init from {}: {} of the network's tensors taken", init_from, taken);
  }
  if (resume) trainer.resume(model_file, state_file);
  if (rank == 0) {
    fs::create_directories(out);
    if (text && !resume) text->tokenizer.save(tok_dir);
    if (text)
      spdlog::info("text encoder: CLIP-style, width {}, {} layers, {} tokens; {:.2f}M params; tokenizer {}",
                   text->model->config().hidden_size, text->model->config().num_layers, text->tokenizer.vocab_size(),
                   text->model->num_parameters() / 1e6, tok_dir.string());
    spdlog::info("train: {}; {} {:.2f}M params; latent {}x{}x{}; {} on {}{}", data_desc, net.describe,
                 net.num_parameters() / 1e6, latent_t, latent_hw, latent_hw,
                 resume ? fmt::format("resuming at step {}", trainer.steps_done()) : std::string("from scratch"),
                 policy.device.str(), pg ? fmt::format(" ({})", pg->describe()) : std::string());
  }
  std::ofstream log;
  if (rank == 0) {
    log.open(fs::path(out) / "log.jsonl", resume ? std::ios::app : std::ios::trunc);
    if (!log) fail("{}: cannot write log.jsonl", out);
  }
  const int64_t stop_after = r["stop-after"].as<int64_t>();
  int64_t done_here = 0;
  std::vector<double> losses;
  double secs = 0;
  auto checkpoint = [&] { trainer.save(model_file, state_file, data_json.dump()); };
  while (trainer.steps_done() < t.steps && (stop_after == 0 || done_here < stop_after)) {
    auto st = cache ? trainer.step(*cache, fo.clip_frames / f[0]) : trainer.step(*data_ptr);
    ++done_here;
    losses.push_back(st.loss);
    secs += st.seconds;
    if (rank == 0) {
      nlohmann::json j{{"step", st.step}, {"loss", st.loss}, {"grad_norm", st.grad_norm}, {"lr", st.lr},
                       {"seconds", st.seconds},
                       {"samples_per_s", static_cast<double>(t.batch_size * t.grad_accum) / st.seconds}};
      log << j.dump() << "\n";
      log.flush();
      if (st.step % log_every == 0 || st.step == t.steps)
        spdlog::info("step {}/{}  loss {:.5f}  grad {:.3f}  lr {:.3g}  {:.2f} steps/s", st.step, t.steps, st.loss,
                     st.grad_norm, st.lr, 1.0 / st.seconds);
    }
    if (st.step % save_every == 0) checkpoint();
  }
  checkpoint();  // final (or --stop-after) state
  if (pg) pg->barrier();
  if (rank == 0 && !losses.empty()) {
    size_t n = std::max<size_t>(1, losses.size() / 10);
    double first = 0, last = 0;
    for (size_t i = 0; i < n; ++i) {
      first += losses[i] / n;
      last += losses[losses.size() - n + i] / n;
    }
    std::printf("train: %lld steps in %.1f s (%.3f steps/s); loss %.5f (first %zu) -> %.5f (last %zu); saved %s\n",
                static_cast<long long>(losses.size()), secs, losses.size() / secs, first, n, last, n,
                model_file.string().c_str());
  }
  return cli::kExitOk;
}

}  // namespace

LONGVID_COMMAND("train", "train a latent video diffusion model (U-Net or Latte; prediction + interpolation)",
                run_train);

}  // namespace longvid
