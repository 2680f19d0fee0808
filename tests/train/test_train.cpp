// longvid train: resume == uninterrupted (in process and through the CLI), 2-process gloo == 1
// process, joint mask draws, model file loadable by the generation side, bad input.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/video_io.h"
#include "pipeline/model_registry.h"
#include "tests/helpers.h"
#include "train/clip_source.h"
#include "train/lvdm_trainer.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

DiffusionTrainOptions tiny_opts() {
  DiffusionTrainOptions o;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.warmup_steps = 2;
  o.ema_decay = 0.999;
  o.seed = 3;
  return o;
}

// Random AE ([4, 8, 8], 32 hidden) and the tiny U-Net for 8-frame 32x32 clips (latent 2x4x4).
std::unique_ptr<LvdmDiffusionTrainer> make_trainer(const DiffusionTrainOptions& o) {
  torch::manual_seed(11);
  LvdmAe3dConfig a;
  a.scale_factor = 0.5;
  a.shift_factor = 0.1;
  LvdmAutoencoder3D ae(a);
  torch::manual_seed(o.seed);
  LvdmUNet3D unet(lvdm_unet_preset("tiny", 4, o.max_noise_level, 2));
  return std::make_unique<LvdmDiffusionTrainer>(unet, ae, o, at::kCPU);
}

at::Tensor random_clips(int64_t n) {
  at::Generator g = at::detail::createCPUGenerator(5);
  return at::rand({n, 3, 8, 32, 32}, g) * 2 - 1;
}

double rel_diff(const StateDict& a, const StateDict& b, const std::string& prefix) {
  double num = 0, den = 0;
  int n = 0;
  for (const auto& k : a.keys()) {
    if (k.rfind(prefix, 0) != 0) continue;
    REQUIRE(b.contains(k));
    auto x = a.get(k).to(at::kDouble), y = b.get(k).to(at::kDouble);
    num += (x - y).pow(2).sum().item<double>();
    den += y.pow(2).sum().item<double>();
    ++n;
  }
  REQUIRE(n > 0);
  return std::sqrt(num / std::max(den, 1e-30));
}

// Small y4m videos of a moving square over a coloured background.
void write_videos(const fs::path& dir, int n, int frames = 12, int size = 32) {
  fs::create_directories(dir);
  for (int v = 0; v < n; ++v) {
    at::Tensor x = at::zeros({frames, size, size, 3}, at::kByte);
    x.select(3, v % 3).fill_(60 + 40 * v);
    for (int f = 0; f < frames; ++f) {
      int p = (f * 2 + v * 5) % (size - 8);
      x[f].slice(0, p, p + 8).slice(1, 4, 12).fill_(230);
    }
    write_video(dir / ("v" + std::to_string(v) + ".y4m"), x);
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> cli_args(const fs::path& data, const fs::path& out, int steps) {
  return {"train", "--data", data.string(), "--ae", "random", "-o", out.string(), "--frames", "8", "--size", "32",
          "--steps", std::to_string(steps), "--batch", "4", "--lr", "1e-3", "--seed", "1", "--save-every", "100"};
}

}  // namespace

TEST_CASE("train joint masks follow p_pred p_interp and n_prevs") {
  auto o = tiny_opts();
  o.p_pred = 0.5;
  o.p_interp = 0.3;
  o.n_prevs = {1, 2};
  auto tr = make_trainer(o);
  int counts[3] = {0, 0, 0};
  for (int64_t k = 0; k < 2000; ++k) {
    auto d = tr->draw(k, 4, 2, 2);
    counts[d.mode]++;
    CHECK(d.t >= 0);
    CHECK(d.t < 1000);
    CHECK(d.s >= 0);
    CHECK(d.s < 250);
    auto m = d.mask.select(3, 0).select(3, 0).flatten();
    if (d.mode == 2) CHECK(m.equal(at::tensor({1.f, 0.f, 0.f, 1.f})));
    if (d.mode == 1) CHECK((m.equal(at::tensor({1.f, 0.f, 0.f, 0.f})) || m.equal(at::tensor({1.f, 1.f, 0.f, 0.f}))));
    if (d.mode == 0) CHECK(m.sum().item<float>() == 0);
  }
  CHECK(std::abs(counts[1] / 2000.0 - 0.5) < 0.05);
  CHECK(std::abs(counts[2] / 2000.0 - 0.3) < 0.05);
  // A draw is a pure function of (seed, k).
  CHECK(tr->draw(17, 4, 2, 2).t == tr->draw(17, 4, 2, 2).t);
}

TEST_CASE("train interp-consecutive gives interpolation samples the gap between strided keyframes") {
  auto o = tiny_opts();
  o.latent_frame_stride = 3;
  o.interp_consecutive = true;
  auto tr = make_trainer(o);
  at::Tensor z = at::arange(12, at::kFloat).view({1, 1, 12, 1, 1});
  auto frames = [](const at::Tensor& t) { return t.flatten(); };
  CHECK(frames(tr->select_latents(z, 0)).equal(at::tensor({0.f, 3.f, 6.f, 9.f})));  // unconditional: keyframes
  CHECK(frames(tr->select_latents(z, 1)).equal(at::tensor({0.f, 3.f, 6.f, 9.f})));  // prediction: keyframes
  CHECK(frames(tr->select_latents(z, 2)).equal(at::tensor({0.f, 1.f, 2.f, 3.f})));  // interpolation: one gap
  o.interp_consecutive = false;  // the official training: every sample strided
  auto tr2 = make_trainer(o);
  CHECK(frames(tr2->select_latents(z, 2)).equal(at::tensor({0.f, 3.f, 6.f, 9.f})));
  // A step on 16-frame clips (4 latents, stride 3 -> 2 per sample) runs and is reproducible.
  o.interp_consecutive = true;
  o.p_interp = 0.5;
  at::Generator g = at::detail::createCPUGenerator(9);
  TensorClipSource data(at::rand({2, 3, 16, 32, 32}, g) * 2 - 1);
  auto a = make_trainer(o), b = make_trainer(o);
  double la = a->step(data).loss, lb = b->step(data).loss;
  CHECK(std::isfinite(la));
  CHECK(la == lb);
}

TEST_CASE("train resume equals uninterrupted training in process") {
  test::ScratchDir dir("train-resume");
  auto o = tiny_opts();
  TensorClipSource data(random_clips(6));
  auto a = make_trainer(o);
  for (int i = 0; i < 3; ++i) a->step(data);
  a->save(dir / "a.safetensors", dir / "a_state.safetensors");

  auto b = make_trainer(o);
  b->step(data);
  b->save(dir / "b.safetensors", dir / "b_state.safetensors");
  b.reset();
  auto c = make_trainer(o);
  c->resume(dir / "b.safetensors", dir / "b_state.safetensors");
  CHECK(c->steps_done() == 1);
  for (int i = 0; i < 2; ++i) c->step(data);
  c->save(dir / "c.safetensors", dir / "c_state.safetensors");

  auto sa = load_checkpoint(dir / "a.safetensors"), sc = load_checkpoint(dir / "c.safetensors");
  REQUIRE(sa.keys() == sc.keys());
  for (const auto& k : sa.keys()) {
    INFO(k);
    CHECK(sa.get(k).equal(sc.get(k)));  // bit for bit: raw, EMA and frozen AE
  }
  // And training moved the weights.
  auto sb = load_checkpoint(dir / "b.safetensors");
  CHECK(rel_diff(sb, sa, "model.diffusion_model.") > 1e-4);
}

TEST_CASE("train model file rebuilds from its metadata and loads as an LVDM checkpoint") {
  test::ScratchDir dir("train-model");
  auto o = tiny_opts();
  TensorClipSource data(random_clips(2));
  auto tr = make_trainer(o);
  tr->step(data);
  tr->save(dir / "m.safetensors", dir / "s.safetensors", R"({"resolution": 32, "video_length": 8})");
  auto sd = load_checkpoint(dir / "m.safetensors");
  REQUIRE(sd.metadata.count("longvid.config"));
  Config cfg = Config::parse_json(sd.metadata.at("longvid.config"), "m.safetensors");
  CHECK(cfg.get<std::string>("model.target") == "lvdm.models.ddpm3d.FrameInterpPredLatentDiffusion");
  CHECK(cfg.get<std::string>("model.params.conditioning_key") == "concat-adm-mask");
  CHECK(cfg.get<int64_t>("model.params.max_noise_level") == 250);
  CHECK(cfg.get<int64_t>("model.params.image_size") == 4);
  CHECK(cfg.get<double>("model.params.p_pred") == doctest::Approx(0.5));
  CHECK(cfg.get<double>("model.params.scale_factor") == doctest::Approx(0.5));
  auto ucfg = LvdmUNetConfig::from_yaml_string(sd.metadata.at("longvid.config"), "m.safetensors");
  CHECK(ucfg.in_channels == 5);
  CHECK(ucfg.num_classes == 251);
  LvdmUNet3D unet(ucfg);
  CHECK(load_lvdm_unet(*unet, sd) == LvdmWeights::Raw);
  LvdmUNet3D unet_ema(ucfg);
  CHECK(load_lvdm_unet(*unet_ema, sd, LvdmWeights::Ema) == LvdmWeights::Ema);
  auto acfg = LvdmAe3dConfig::from_config(cfg);
  CHECK(acfg.shift_factor == doctest::Approx(0.1));
  LvdmAutoencoder3D ae(acfg);
  load_lvdm_ae3d(*ae, sd);
  // The loaded raw weights equal the trainer's.
  auto mine = tr->network().named_parameters();
  for (const auto& kv : unet->named_parameters()) CHECK(kv.value().equal(mine[kv.key()]));
}

TEST_CASE("train CLI resume equals uninterrupted") {
  test::ScratchDir dir("train-cli");
  write_videos(dir / "data", 3);
  auto r1 = test::run_cli(cli_args(dir / "data", dir / "full", 3));
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(r1.out.find("train: 3 steps") != std::string::npos);
  CHECK(test::count_lines(slurp(dir / "full" / "log.jsonl")) == 3);

  auto args = cli_args(dir / "data", dir / "part", 3);
  args.push_back("--stop-after");
  args.push_back("1");
  auto r2 = test::run_cli(args);
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  auto args3 = cli_args(dir / "data", dir / "part", 3);
  args3.push_back("--resume");
  auto r3 = test::run_cli(args3);
  INFO(r3.err);
  REQUIRE(r3.exit_code == 0);
  CHECK(test::count_lines(slurp(dir / "part" / "log.jsonl")) == 3);
  auto a = load_checkpoint(dir / "full" / "model.safetensors"), b = load_checkpoint(dir / "part" / "model.safetensors");
  REQUIRE(a.keys() == b.keys());
  for (const auto& k : a.keys()) {
    INFO(k);
    CHECK(a.get(k).equal(b.get(k)));
  }
  // A finished run is not overwritten by accident.
  auto again = test::run_cli(cli_args(dir / "data", dir / "full", 3));
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("--resume") != std::string::npos);
}

TEST_CASE("train gloo 2 processes equal 1 process with the same global batch") {
  test::ScratchDir dir("train-ddp");
  write_videos(dir / "data", 4);
  auto one = test::run_cli(cli_args(dir / "data", dir / "one", 2));
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  // Two ranks on this machine over gloo (env as torchrun sets it).
  int port = 20000 + static_cast<int>(getpid() % 20000);
  std::string cmd;
  for (int rank = 0; rank < 2; ++rank) {
    // GLOO_SOCKET_IFNAME=lo: the loopback device, whatever the machine's hostname resolves to.
    std::string line = "GLOO_SOCKET_IFNAME=lo RANK=" + std::to_string(rank) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                       std::to_string(port) + " '" + std::string(LONGVID_CLI) + "'";
    for (const auto& a : cli_args(dir / "data", dir / "two", 2)) line += " '" + a + "'";
    line += " > '" + (dir / ("r" + std::to_string(rank) + ".log")).string() + "' 2>&1";
    cmd += line + " & p" + std::to_string(rank) + "=$!; ";
  }
  cmd += "wait $p0; s0=$?; wait $p1; s1=$?; exit $((s0 + s1))";
  int status = std::system(("bash -c \"" + cmd + "\"").c_str());
  INFO(slurp(dir / "r0.log"));
  INFO(slurp(dir / "r1.log"));
  REQUIRE(status == 0);
  auto a = load_checkpoint(dir / "one" / "model.safetensors"), b = load_checkpoint(dir / "two" / "model.safetensors");
  double raw = rel_diff(b, a, "model.diffusion_model."), ema = rel_diff(b, a, "model_ema.");
  MESSAGE("2-proc vs 1-proc rel. error: raw ", raw, ", EMA ", ema);
  CHECK(raw <= 1e-5);
  CHECK(ema <= 1e-5);
  CHECK(slurp(dir / "r0.log").find("gloo, rank 0 of 2") != std::string::npos);
}

TEST_CASE("train bad input gives one clear error") {
  test::ScratchDir dir("train-bad");
  write_videos(dir / "data", 1, 6);
  auto no_data = test::run_cli(cli_args(dir / "missing", dir / "o1", 2));
  CHECK(no_data.exit_code == 1);
  CHECK(no_data.err.find("no such file or directory") != std::string::npos);
  auto empty_dir = dir / "empty";
  fs::create_directories(empty_dir);
  auto empty = test::run_cli(cli_args(empty_dir, dir / "o2", 2));
  CHECK(empty.exit_code == 1);
  CHECK(empty.err.find("no videos found") != std::string::npos);
  auto short_video = test::run_cli(cli_args(dir / "data", dir / "o3", 2));  // 6 frames < 8
  CHECK(short_video.exit_code == 1);
  CHECK(short_video.err.find("needs 8") != std::string::npos);
  write_videos(dir / "data2", 1);
  // One run on data2 with `extra` options: exit 1 with `needle` in its error.
  auto refused = [&](const char* out, std::vector<std::string> extra, const std::string& needle) {
    auto a = cli_args(dir / "data2", dir / out, 2);
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = test::run_cli(a);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(needle) != std::string::npos);
  };
  refused("o4", {"--p-pred", "0.8", "--p-interp", "0.5"}, "sum to at most 1");
  refused("o5", {"--size", "36"}, "multiples of the autoencoder");
  refused("o6", {"--unet", "huge"}, "unknown preset");
  auto nores = cli_args(dir / "data2", dir / "o7", 2);
  nores.push_back("--resume");
  auto r = test::run_cli(nores);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("nothing") == std::string::npos);
  CHECK(r.err.find("--resume") != std::string::npos);
  refused("o8", {"--lr-schedule", "linear"}, "--lr-schedule linear: must be constant or cosine");
  refused("o9", {"--lr-schedule", "cosine", "--lr-min", "1"}, "--lr-min 1: must be in 0..--lr");
  for (auto o : {"o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9"}) CHECK_FALSE(fs::exists(dir / o / "model.safetensors"));
}

TEST_CASE("train learning rate: linear warm-up, then constant or a cosine down to lr-min") {
  DiffusionTrainOptions o;
  o.lr = 1e-3;
  o.warmup_steps = 10;
  o.steps = 110;
  CHECK(diffusion_lr(o, 0) == doctest::Approx(1e-4));
  CHECK(diffusion_lr(o, 9) == doctest::Approx(1e-3));
  CHECK(diffusion_lr(o, 60) == doctest::Approx(1e-3));  // constant: the official configs
  o.lr_schedule = "cosine";
  o.lr_min = 1e-5;
  CHECK(diffusion_lr(o, 4) == doctest::Approx(5e-4));   // the warm-up is the same
  CHECK(diffusion_lr(o, 10) == doctest::Approx(1e-3));  // the cosine starts where the warm-up ends
  CHECK(diffusion_lr(o, 60) == doctest::Approx((1e-3 + 1e-5) / 2));
  CHECK(diffusion_lr(o, 110) == doctest::Approx(1e-5));
  CHECK(diffusion_lr(o, 200) == doctest::Approx(1e-5));  // past --steps (a longer resumed run): the floor
  for (int64_t k = 11; k < 110; ++k) CHECK(diffusion_lr(o, k) < diffusion_lr(o, k - 1));
}

#include "train/vae_trainer.h"

namespace {
std::unique_ptr<LvdmVaeTrainer> make_vae_trainer(int64_t disc_start) {
  VaeTrainOptions o;
  o.lr = 1e-3;
  o.disc_start = disc_start;
  o.kl_weight = 1e-6;
  o.batch_size = 2;
  o.seed = 4;
  torch::manual_seed(21);
  LvdmAe3dConfig a;
  a.downsample = a.upsample = {2, 4, 4};  // two levels: a fast test
  LvdmAutoencoder3D ae(a);
  return std::make_unique<LvdmVaeTrainer>(ae, o, at::kCPU);
}
}  // namespace

TEST_CASE("train-vae resume equals uninterrupted and the file loads as an LVDM AE") {
  test::ScratchDir dir("vae-resume");
  at::Generator g = at::detail::createCPUGenerator(6);
  TensorClipSource data(at::rand({3, 3, 4, 32, 32}, g) * 2 - 1);
  auto a = make_vae_trainer(1);  // discriminator on from the second step: adaptive weight path runs
  VaeStepStats last;
  for (int i = 0; i < 2; ++i) last = a->step(data);
  CHECK(last.d_weight > 0);
  CHECK(std::isfinite(last.disc_loss));
  a->save(dir / "a.safetensors", dir / "a_state.safetensors");
  auto b = make_vae_trainer(1);
  b->step(data);
  b->save(dir / "b.safetensors", dir / "b_state.safetensors");
  b.reset();
  auto c = make_vae_trainer(1);
  c->resume(dir / "b.safetensors", dir / "b_state.safetensors");
  c->step(data);
  c->save(dir / "c.safetensors", dir / "c_state.safetensors");
  auto sa = load_checkpoint(dir / "a.safetensors"), sc = load_checkpoint(dir / "c.safetensors");
  REQUIRE(sa.keys() == sc.keys());
  for (const auto& k : sa.keys()) {
    INFO(k);
    CHECK(sa.get(k).equal(sc.get(k)));
  }
  CHECK(sa.contains("loss.discriminator.main.3.running_mean"));
  CHECK(sa.contains("loss.discriminator.main.11.weight"));
  CHECK(sa.contains("encoder.conv_first.conv.weight"));
  // Rebuilt from the metadata alone and loaded like an official ae_sky.ckpt (loss.* ignored).
  auto cfg = LvdmAe3dConfig::from_config(Config::parse_json(sa.metadata.at("longvid.config"), "a"));
  LvdmAutoencoder3D ae(cfg);
  load_lvdm_ae3d(*ae, sa);
  CHECK(ae->encoder->conv_first->conv->weight.equal(a->autoencoder()->encoder->conv_first->conv->weight));
  CHECK(detect_layout(sa).layout == "lvdm-ae3d");
}

TEST_CASE("train-vae refuses LPIPS with a clear message") {
  test::ScratchDir dir("vae-lpips");
  write_videos(dir / "data", 1);
  auto r = test::run_cli({"train-vae", "--data", (dir / "data").string(), "-o", (dir / "o").string(), "--lpips",
                          "vgg.pth", "--frames", "8", "--size", "32"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("LPIPS") != std::string::npos);
  CHECK(test::count_lines(r.err) <= 2);
  CHECK_FALSE(fs::exists(dir / "o"));
}

TEST_CASE("train-vae before disc_start leaves the discriminator untouched") {
  test::ScratchDir dir("vae-disc-off");
  at::Generator g = at::detail::createCPUGenerator(7);
  TensorClipSource data(at::rand({2, 3, 4, 32, 32}, g) * 2 - 1);
  auto fresh = make_vae_trainer(1000);
  fresh->save(dir / "f.safetensors", dir / "f_state.safetensors");
  auto a = make_vae_trainer(1000);
  VaeStepStats st;
  for (int i = 0; i < 2; ++i) st = a->step(data);
  CHECK(st.g_loss == 0.0);
  CHECK(st.disc_loss == 0.0);
  CHECK(std::isfinite(st.rec_loss));
  a->save(dir / "a.safetensors", dir / "a_state.safetensors");
  StateDict f = load_checkpoint(dir / "f.safetensors"), s = load_checkpoint(dir / "a.safetensors");
  int disc = 0, moved = 0;
  for (const auto& k : f.keys()) {
    if (k.rfind("loss.discriminator.", 0) == 0 && k.find("num_batches_tracked") == std::string::npos) {
      ++disc;
      CHECK(f.get(k).equal(s.get(k)));
    } else if (k.rfind("encoder.", 0) == 0 && !f.get(k).equal(s.get(k))) {
      ++moved;
    }
  }
  CHECK(disc > 0);
  CHECK(moved > 0);  // the autoencoder did train
}

TEST_CASE("train-vae records its clip length: the AE's default stream windows follow it") {
  test::ScratchDir dir("vae-window");
  VaeTrainOptions o;
  o.clip_frames = 4;  // 2 latent frames with a temporal factor of 2
  LvdmAe3dConfig a;
  a.downsample = a.upsample = {2, 4, 4};
  torch::manual_seed(3);
  LvdmAutoencoder3D ae(a);
  CHECK(ae->default_decode_window().window == 32);  // official AEs: 32:8 decode, 64:16 encode
  CHECK(ae->default_decode_window().overlap == 8);
  LvdmVaeTrainer t(ae, o, at::kCPU);
  t.save(dir / "m.safetensors", dir / "s.safetensors");
  auto sd = load_checkpoint(dir / "m.safetensors");
  auto cfg = LvdmAe3dConfig::from_config(Config::parse_json(sd.metadata.at("longvid.config"), "m"));
  CHECK(cfg.stream_window == 2);
  LvdmAutoencoder3D back(cfg);
  CHECK(back->default_decode_window().window == 2);
  CHECK(back->default_decode_window().overlap == 0);
  CHECK(back->default_encode_window().window == 2);
  CHECK(back->default_encode_window().overlap == 0);
  // A nonsense value is refused with the key named.
  auto j = nlohmann::json::parse(sd.metadata.at("longvid.config"));
  j["model"]["params"]["longvid_stream_window"] = -3;
  CHECK_THROWS_WITH_AS(LvdmAe3dConfig::from_config(Config::parse_json(j.dump(), "bad")),
                       doctest::Contains("longvid_stream_window -3"), Error);
}
