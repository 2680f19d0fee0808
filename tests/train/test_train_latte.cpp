// longvid train --backbone latte: a masked Latte (LVDM's frame-mask conditioning) trained by the
// same latent-diffusion trainer as the U-Net, saved in LVDM's layout with its unet_config target,
// loaded back through the registry as a pipeline that can predict and interpolate.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "backbones/latte.h"
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

DiffusionTrainOptions latte_opts() {
  DiffusionTrainOptions o;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.ema_decay = 0.999;
  o.seed = 4;
  o.p_pred = 0.4;
  o.p_interp = 0.4;
  return o;
}

// A random AE ([4, 8, 8]) and a small masked Latte for 8-frame 32x32 clips (latent 2x4x4).
std::unique_ptr<LvdmDiffusionTrainer> make_latte_trainer(const DiffusionTrainOptions& o, int64_t variant) {
  torch::manual_seed(11);
  LvdmAe3dConfig a;
  a.scale_factor = 0.5;
  LvdmAutoencoder3D ae(a);
  torch::manual_seed(o.seed);
  LatteConfig c = latte_train_preset("tiny", 4, o.max_noise_level, 2, 4);
  c.hidden_size = 32;
  c.depth = 2;
  c.num_heads = 2;
  c.variant = variant;
  return std::make_unique<LvdmDiffusionTrainer>(trainable_denoiser(Latte(c)), ae, o, at::kCPU);
}

at::Tensor random_clips(int64_t n) {
  at::Generator g = at::detail::createCPUGenerator(5);
  return at::rand({n, 3, 8, 32, 32}, g) * 2 - 1;
}

}  // namespace

TEST_CASE("latte masked denoiser takes the condition latents, the mask channel and s as LVDM does") {
  torch::manual_seed(1);
  LatteConfig c = latte_train_preset("tiny", 4, 250, 4, 8);
  c.hidden_size = 32;
  c.depth = 2;
  c.num_heads = 2;
  Latte net(c);
  net->eval();
  CHECK(c.input_channels() == 5);
  CHECK(c.out_channels() == 4);
  LatteDenoiser den(net);
  at::Generator g = at::detail::createCPUGenerator(2);
  at::Tensor x = at::randn({2, 4, 4, 8, 8}, g), cond = at::randn({2, 4, 4, 8, 8}, g);
  at::Tensor mask = at::zeros({2, 1, 4, 8, 8});
  mask.slice(2, 0, 1).fill_(1);  // prediction: the first latent given
  at::Tensor t = at::tensor({500, 20}, at::kLong), s = at::tensor({100, 0}, at::kLong);
  torch::NoGradGuard ng;
  Conditioning cc;
  cc.mask = mask;
  cc.cond_latent = cond;
  cc.cond_noise_level = s;
  at::Tensor out = den.forward(x, t, cc);
  at::Tensor manual = net->forward(at::cat({at::where(mask > 0.5, cond, x), mask}, 1), t, s);
  CHECK(out.sizes() == x.sizes());
  CHECK(out.equal(manual));
  // The condition latents matter where the mask is set, and only there.
  Conditioning other = cc;
  other.cond_latent = cond + 1;
  CHECK_FALSE(den.forward(x, t, other).equal(out));
  other.cond_latent = at::where(mask > 0.5, cond, cond + 1);
  CHECK(den.forward(x, t, other).equal(out));
  // s is the label; absent: s = 0.
  Conditioning s0 = cc;
  s0.cond_noise_level = at::zeros({2}, at::kLong);
  Conditioning none = cc;
  none.cond_noise_level = at::Tensor();
  CHECK(den.forward(x, t, none).equal(den.forward(x, t, s0)));
  CHECK_FALSE(den.forward(x, t, s0).equal(out));
  // A class label is not this model's label.
  Conditioning bad = cc;
  bad.class_label = at::zeros({2}, at::kLong);
  CHECK_THROWS_WITH_AS(den.forward(x, t, bad), doctest::Contains("noise level s as its label"), Error);
  // The released (unmasked) Latte still refuses a mask.
  LatteConfig plain = c;
  plain.masked = false;
  plain.num_classes = 10;
  LatteDenoiser released{Latte(plain)};
  CHECK_THROWS_WITH_AS(released.forward(x, t, cc), doctest::Contains("no frame-mask conditioning"), Error);
  // A masked model needs the label to be s.
  LatteConfig wrong = c;
  wrong.extras = 1;
  CHECK_THROWS_WITH_AS(wrong.validate(), doctest::Contains("extras 2"), Error);
}

TEST_CASE("latte masked shapes are recognised from a state dict") {
  LatteConfig c = latte_train_preset("tiny", 4, 250, 4, 8);
  c.hidden_size = 32;
  c.depth = 2;
  c.num_heads = 2;
  Latte net(c);
  StateDict sd;
  for (const auto& kv : net->named_parameters()) sd.set(kv.key(), kv.value().detach());
  auto back = LatteConfig::from_state_dict(sd, 2);
  CHECK(back.masked);
  CHECK(back.in_channels == 4);
  CHECK_FALSE(back.learn_sigma);
  CHECK(back.num_classes == 251);  // the s table has no null row
  CHECK(back.class_dropout_prob == 0);
}

TEST_CASE("train latte resume equals uninterrupted and keeps the sin-cos tables frozen") {
  test::ScratchDir dir("train-latte-resume");
  auto o = latte_opts();
  TensorClipSource data(random_clips(6));
  auto a = make_latte_trainer(o, 1);
  const at::Tensor pos0 = a->network().named_parameters()["pos_embed"].clone();
  const at::Tensor fc0 = a->network().named_parameters()["blocks.0.mlp.fc1.weight"].clone();
  for (int i = 0; i < 3; ++i) a->step(data);
  a->save(dir / "a.safetensors", dir / "a_state.safetensors");
  CHECK(a->network().named_parameters()["pos_embed"].equal(pos0));
  CHECK_FALSE(a->network().named_parameters()["blocks.0.mlp.fc1.weight"].equal(fc0));

  auto b = make_latte_trainer(o, 1);
  b->step(data);
  b->save(dir / "b.safetensors", dir / "b_state.safetensors");
  b.reset();
  auto c = make_latte_trainer(o, 1);
  c->resume(dir / "b.safetensors", dir / "b_state.safetensors");
  for (int i = 0; i < 2; ++i) c->step(data);
  c->save(dir / "c.safetensors", dir / "c_state.safetensors");
  auto sa = load_checkpoint(dir / "a.safetensors"), sc = load_checkpoint(dir / "c.safetensors");
  REQUIRE(sa.keys() == sc.keys());
  for (const auto& k : sa.keys()) {
    INFO(k);
    CHECK(sa.get(k).equal(sc.get(k)));
  }
}

TEST_CASE("train latte model file loads through the registry as a masked LVDM-wrapped Latte") {
  test::ScratchDir dir("train-latte-load");
  for (int64_t variant : {1, 3}) {
    CAPTURE(variant);
    auto o = latte_opts();
    o.latent_frame_stride = 1;
    TensorClipSource data(random_clips(2));
    auto tr = make_latte_trainer(o, variant);
    tr->step(data);
    const fs::path m = dir / ("m" + std::to_string(variant) + ".safetensors");
    tr->save(m, dir / "s.safetensors", R"({"resolution": 32, "video_length": 8})");
    auto sd = load_checkpoint(m);
    Config cfg = Config::parse_json(sd.metadata.at("longvid.config"), "m");
    CHECK(cfg.get<std::string>("model.params.unet_config.target") == kLatteTarget);
    CHECK(cfg.get<int64_t>("model.params.unet_config.params.variant") == variant);
    CHECK(detect_layout(sd).family->id == "lvdm");

    ModelSource src;
    src.checkpoint = m;
    PipelineLoadOptions lo;
    lo.weights = WeightsChoice::Raw;
    VideoPipeline p = load_pipeline(src, lo);
    auto* den = dynamic_cast<LatteDenoiser*>(p.main.net.get());
    REQUIRE(den != nullptr);
    CHECK(den->net()->config().variant == variant);
    CHECK(p.main.caps.masked);
    CHECK(p.main.caps.noisy_cond);
    CHECK(p.main.caps.max_noise_level == 250);
    CHECK(p.main.caps.can_predict());
    CHECK(p.main.caps.can_interpolate());
    CHECK(p.main.caps.clip_len == 2);
    CHECK(p.main.caps.latent_height == 4);
    CHECK(p.main.describe.find("Latte variant") != std::string::npos);
    // The loaded raw weights are the trainer's; the EMA set differs after one step.
    auto mine = tr->network().named_parameters();
    for (const auto& kv : den->net()->named_parameters()) {
      INFO(kv.key());
      CHECK(kv.value().equal(mine[kv.key()]));
    }
    lo.weights = WeightsChoice::Ema;
    VideoPipeline pe = load_pipeline(src, lo);
    auto* de = dynamic_cast<LatteDenoiser*>(pe.main.net.get());
    REQUIRE(de != nullptr);
    CHECK_FALSE(de->net()->named_parameters()["final_layer.linear.weight"].equal(mine["final_layer.linear.weight"]));
  }
}

TEST_CASE("train latte CLI runs and refuses options of the other backbone") {
  test::ScratchDir dir("train-latte-cli");
  fs::create_directories(dir / "data");
  for (int v = 0; v < 2; ++v) {
    at::Tensor x = at::full({8, 32, 32, 3}, 40 + 80 * v, at::kByte);
    for (int f = 0; f < 8; ++f) x[f].slice(0, 2 * f, 2 * f + 8).slice(1, 4, 12).fill_(230);
    write_video(dir / "data" / ("v" + std::to_string(v) + ".y4m"), x);
  }
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"train", "--data", (dir / "data").string(), "--ae", "random", "-o",
                                    (dir / out).string(), "--frames", "8", "--size", "32", "--steps", "2",
                                    "--batch", "2", "--backbone", "latte", "--variant", "2"};
  };
  auto ok = test::run_cli(args("ok"));
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.err.find("Latte variant 2") != std::string::npos);
  CHECK(fs::exists(dir / "ok" / "model.safetensors"));

  auto a = args("bad1");
  a.insert(a.end(), {"--unet", "small"});
  auto r1 = test::run_cli(a);
  CHECK(r1.exit_code == 1);
  CHECK(r1.err.find("--unet: a U-Net option") != std::string::npos);
  auto b = args("bad2");
  b.insert(b.end(), {"--variant", "5"});
  auto r2 = test::run_cli(b);
  CHECK(r2.exit_code == 1);
  CHECK(r2.err.find("variant 5") != std::string::npos);
  auto c = args("bad3");
  c.insert(c.end(), {"--patch", "3"});
  auto r3 = test::run_cli(c);
  CHECK(r3.exit_code == 1);
  CHECK(r3.err.find("patch_size 3") != std::string::npos);
  auto d = std::vector<std::string>{"train", "--data", (dir / "data").string(), "--ae", "random", "-o",
                                    (dir / "bad4").string(), "--frames", "8", "--size", "32", "--variant", "3"};
  auto r4 = test::run_cli(d);
  CHECK(r4.exit_code == 1);
  CHECK(r4.err.find("--backbone latte") != std::string::npos);
  for (auto o : {"bad1", "bad2", "bad3", "bad4"}) CHECK_FALSE(fs::exists(dir / o / "model.safetensors"));
}
