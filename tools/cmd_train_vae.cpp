// longvid train-vae: the LVDM 3D autoencoder objective (see train/vae_trainer.h) on a folder of videos.
//
//   longvid train-vae --data DIR -o RUN [--steps N] [--disc-start K] [--resume]
//   longvid train-vae --data DIR -o RUN --init-from MODEL --train decoder --fg-weight W   (a decoder for the same latents)
//
// RUN/model.safetensors   the AE in the official layout (encoder.*, decoder.*, quant_conv.conv.*,
//                         post_quant_conv.conv.*, loss.logvar, loss.discriminator.*); metadata
//                         "longvid.config" = official videoae config as JSON (+ latent scale/shift)
// RUN/train_state.safetensors   both Adam states + step + data position (for --resume)
// RUN/log.jsonl           one line per step
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "tools/cli.h"
#include "train/clip_source.h"
#include "train/dataset.h"
#include "train/distributed.h"
#include "train/vae_trainer.h"

namespace longvid {
namespace {

std::array<int64_t, 3> parse_triple(const std::string& s, const char* opt) {
  std::array<int64_t, 3> out{};
  std::stringstream ss(s);
  std::string item;
  int i = 0;
  while (std::getline(ss, item, ',')) {
    if (i >= 3) fail("{} '{}': expected three comma-separated integers (T,H,W)", opt, s);
    try {
      size_t used = 0;
      out[i++] = std::stoll(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail("{} '{}': expected three comma-separated integers (T,H,W)", opt, s);
    }
  }
  if (i != 3) fail("{} '{}': expected three comma-separated integers (T,H,W)", opt, s);
  return out;
}

int run_train_vae(int argc, char** argv) {
  cxxopts::Options o("longvid train-vae", "train an LVDM 3D video autoencoder (L1 + KL + PatchGAN)");
  o.add_options()
    ("data", "folder of training videos (mp4/webm/y4m/gif, recursive)", cxxopts::value<std::string>()->default_value(""))
    ("o,output", "run folder (model.safetensors, train_state.safetensors, log.jsonl)", cxxopts::value<std::string>()->default_value(""))
    ("n-hiddens", "base width of encoder and decoder (multiple of 32: GroupNorm(32))", cxxopts::value<int64_t>()->default_value("32"))
    ("downsample", "T,H,W downsampling factors (powers of two)", cxxopts::value<std::string>()->default_value("4,8,8"))
    ("z-channels", "latent channels", cxxopts::value<int64_t>()->default_value("4"))
    ("frames", "frames per training clip", cxxopts::value<int64_t>()->default_value("16"))
    ("frame-stride", "take every n-th frame of the video", cxxopts::value<int64_t>()->default_value("1"))
    ("size", "frame size (shorter side resized, centre crop)", cxxopts::value<int64_t>()->default_value("64"))
    ("batch", "global batch (split over ranks)", cxxopts::value<int64_t>()->default_value("1"))
    ("steps", "total steps", cxxopts::value<int64_t>()->default_value("1000"))
    ("lr", "Adam learning rate (betas 0.5, 0.9), AE and discriminator", cxxopts::value<double>()->default_value("3.6e-5"))
    ("kl-weight", "KL weight", cxxopts::value<double>()->default_value("0"))
    ("disc-start", "step at which the discriminator loss switches on", cxxopts::value<int64_t>()->default_value("50001"))
    ("disc-weight", "discriminator weight (times the adaptive weight)", cxxopts::value<double>()->default_value("0.5"))
    ("disc-factor", "discriminator factor after --disc-start", cxxopts::value<double>()->default_value("1.0"))
    ("disc-layers", "PatchGAN layers", cxxopts::value<int64_t>()->default_value("3"))
    ("learn-logvar", "also optimise loss.logvar (the official training does not)")
    ("init-from", "start from this autoencoder (a train-vae model, an AE .ckpt, or a diffusion model's first_stage_model.*); its architecture replaces --n-hiddens/--downsample/--z-channels", cxxopts::value<std::string>()->default_value(""))
    ("train", "all | decoder (decoder + post_quant_conv only: the encoder, hence the latent space and every model trained on it, stays as --init-from's)", cxxopts::value<std::string>()->default_value("all"))
    ("fg-weight", "extra L1 weight of foreground pixels (those off their frame's median colour by more than --fg-threshold); 0 = the official loss", cxxopts::value<double>()->default_value("0"))
    ("fg-threshold", "foreground: largest channel difference from the frame's median colour, on the [-1, 1] scale", cxxopts::value<double>()->default_value("0.1"))
    ("lpips", "LPIPS weights for the perceptual term (not supported yet)", cxxopts::value<std::string>()->default_value(""))
    ("latent-stats", "clips used to measure the latent scale/shift saved with the model", cxxopts::value<int64_t>()->default_value("8"))
    ("seed", "seed", cxxopts::value<int64_t>()->default_value("0"))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("save-every", "checkpoint every K steps (and at the end)", cxxopts::value<int64_t>()->default_value("500"))
    ("stop-after", "stop (with a checkpoint) after this many steps of this invocation", cxxopts::value<int64_t>()->default_value("0"))
    ("resume", "continue the run in --output")
    ("log-every", "print a line every K steps", cxxopts::value<int64_t>()->default_value("10"))
    ("loader", "stream (train/dataset.h: background decoding) | memory (all videos decoded once into RAM)", cxxopts::value<std::string>()->default_value("stream"))
    ("workers", "decoding threads of the stream loader", cxxopts::value<int>()->default_value("2"))
    ("h,help", "show this help");
  auto r = o.parse(argc, argv);
  if (r.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  if (!r["lpips"].as<std::string>().empty())
    fail("--lpips: the LPIPS perceptual loss is not implemented in longvid yet; train without it (L1 + KL + GAN)");
  namespace fs = std::filesystem;
  std::string out = r["output"].as<std::string>();
  if (out.empty()) fail("-o/--output: no run folder given");
  const bool resume = r.count("resume") > 0;
  fs::path model_file = fs::path(out) / "model.safetensors", state_file = fs::path(out) / "train_state.safetensors";
  if (resume && (!fs::exists(model_file) || !fs::exists(state_file)))
    fail("--resume: {} has no model.safetensors + train_state.safetensors to continue from", out);
  if (!resume && fs::exists(model_file))
    fail("{} already holds a run (model.safetensors); pass --resume to continue it or choose another -o", out);

  VaeTrainOptions v;
  v.lr = r["lr"].as<double>();
  v.clip_frames = r["frames"].as<int64_t>();
  v.kl_weight = r["kl-weight"].as<double>();
  v.disc_start = r["disc-start"].as<int64_t>();
  v.disc_weight = r["disc-weight"].as<double>();
  v.disc_factor = r["disc-factor"].as<double>();
  v.disc_layers = r["disc-layers"].as<int64_t>();
  v.learn_logvar = r.count("learn-logvar") > 0;
  v.batch_size = r["batch"].as<int64_t>();
  v.steps = r["steps"].as<int64_t>();
  int64_t seed = r["seed"].as<int64_t>();
  if (seed < 0) fail("--seed {}: must be >= 0", seed);
  v.seed = static_cast<uint64_t>(seed);
  const int64_t save_every = r["save-every"].as<int64_t>(), log_every = std::max<int64_t>(1, r["log-every"].as<int64_t>());
  if (save_every < 1) fail("--save-every {}: must be >= 1", save_every);

  const std::string init_from = r["init-from"].as<std::string>(), train_what = r["train"].as<std::string>();
  if (train_what != "all" && train_what != "decoder") fail("--train {}: must be all or decoder", train_what);
  v.decoder_only = train_what == "decoder";
  if (v.decoder_only && init_from.empty())
    fail("--train decoder: needs --init-from (the autoencoder whose encoder, and so latent space, is kept)");
  v.fg_weight = r["fg-weight"].as<double>();
  v.fg_threshold = r["fg-threshold"].as<double>();
  std::optional<LvdmAutoencoder3D> init;
  LvdmAe3dConfig a;
  if (!init_from.empty()) {
    for (const char* k : {"n-hiddens", "downsample", "z-channels"})
      if (r.count(k)) fail("--{}: the architecture comes from --init-from {}; leave it out", k, init_from);
    init = load_lvdm_ae3d_file(init_from);
    a = (*init)->config();
    // The decoder learns to render the latents of the kept encoder: it must see clips as long as
    // the encoder's training window, and the latent statistics stay the source's.
    if (v.decoder_only) v.clip_frames = 0;
  } else {
    a.n_hiddens = a.decoder_n_hiddens = r["n-hiddens"].as<int64_t>();
    a.downsample = a.upsample = parse_triple(r["downsample"].as<std::string>(), "--downsample");
    a.z_channels = a.embed_dim = r["z-channels"].as<int64_t>();
  }
  a.validate("train-vae options");
  auto policy = make_device_policy(r["device"].as<std::string>(), "fp32");
  auto pg = init_process_group_from_env(policy.device.is_cuda());
  const int rank = pg ? pg->rank() : 0;

  FolderClipOptions fo;
  fo.root = r["data"].as<std::string>();
  fo.clip_frames = r["frames"].as<int64_t>();
  fo.frame_stride = r["frame-stride"].as<int64_t>();
  fo.size = r["size"].as<int64_t>();
  fo.seed = v.seed;
  auto f = a.factors();
  if (fo.clip_frames % f[0] != 0 || fo.size % f[1] != 0)
    fail("--frames {} / --size {}: must be multiples of the autoencoder's factors {} (time) / {} (space)",
         fo.clip_frames, fo.size, f[0], f[1]);
  std::unique_ptr<ClipSource> data_ptr;
  int64_t num_videos = 0;
  const std::string loader = r["loader"].as<std::string>();
  if (loader == "memory") {
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
    const int64_t G = v.batch_size;
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
  ClipSource& data = *data_ptr;
  nlohmann::json data_json{{"data_root", fo.root.string()}, {"resolution", fo.size}, {"video_length", fo.clip_frames},
                           {"frame_stride", fo.frame_stride}, {"num_videos", num_videos}};
  torch::manual_seed(v.seed);
  LvdmAutoencoder3D ae = init ? *init : LvdmAutoencoder3D(a);
  LvdmVaeTrainer trainer(ae, v, policy.device, pg.get());
  if (v.decoder_only) trainer.set_latent_stats(a.scale_factor, a.shift_factor);
  if (resume) trainer.resume(model_file, state_file);
  std::ofstream log;
  if (rank == 0) {
    fs::create_directories(out);
    log.open(fs::path(out) / "log.jsonl", resume ? std::ios::app : std::ios::trunc);
    if (!log) fail("{}: cannot write log.jsonl", out);
    spdlog::info("train-vae: {}; {} from step {}", data.describe(), policy.device.str(), trainer.steps_done());
  }
  const int64_t stop_after = r["stop-after"].as<int64_t>(), stats_n = r["latent-stats"].as<int64_t>();
  auto checkpoint = [&] {
    if (stats_n > 0 && !v.decoder_only) trainer.measure_latent_stats(data, stats_n);
    trainer.save(model_file, state_file, data_json.dump());
  };
  int64_t done = 0;
  std::vector<double> recs;
  double secs = 0;
  while (trainer.steps_done() < v.steps && (stop_after == 0 || done < stop_after)) {
    auto st = trainer.step(data);
    ++done;
    recs.push_back(st.rec_loss);
    secs += st.seconds;
    if (rank == 0) {
      nlohmann::json j{{"step", st.step}, {"loss", st.loss}, {"rec_loss", st.rec_loss}, {"kl_loss", st.kl_loss},
                       {"g_loss", st.g_loss}, {"d_weight", st.d_weight}, {"disc_loss", st.disc_loss},
                       {"logvar", st.logvar}, {"seconds", st.seconds}};
      log << j.dump() << "\n";
      log.flush();
      if (st.step % log_every == 0 || st.step == v.steps)
        spdlog::info("step {}/{}  rec {:.5f}  kl {:.3g}  g {:.4f}  d {:.4f}  {:.2f} steps/s", st.step, v.steps,
                     st.rec_loss, st.kl_loss, st.g_loss, st.disc_loss, 1.0 / st.seconds);
    }
    if (st.step % save_every == 0) checkpoint();
  }
  checkpoint();
  if (pg) pg->barrier();
  if (rank == 0 && !recs.empty()) {
    size_t n = std::max<size_t>(1, recs.size() / 10);
    double first = 0, last = 0;
    for (size_t i = 0; i < n; ++i) {
      first += recs[i] / n;
      last += recs[recs.size() - n + i] / n;
    }
    std::printf("train-vae: %lld steps in %.1f s (%.3f steps/s); L1 %.5f (first %zu) -> %.5f (last %zu); saved %s\n",
                static_cast<long long>(recs.size()), secs, recs.size() / secs, first, n, last, n,
                model_file.string().c_str());
  }
  return cli::kExitOk;
}

}  // namespace

LONGVID_COMMAND("train-vae", "train an LVDM 3D video autoencoder (L1 + KL + PatchGAN hinge)", run_train_vae);

}  // namespace longvid
