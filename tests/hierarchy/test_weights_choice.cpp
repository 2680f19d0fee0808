// Which U-Net weights of an official-layout LVDM checkpoint are sampled with (--weights raw|ema|auto):
// LVDM's long-video script samples inside model.ema_scope (EMA weights), its short-clip scripts
// with the raw weights. The checkpoints here hold raw and EMA weights that differ on purpose.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fstream>

#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "pipeline/lvdm_family.h"
#include "tests/helpers.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {

// configs/lvdm_long/sky_pred.yaml (long: FrameInterpPredLatentDiffusion, concat-adm-mask) or
// configs/lvdm_short/sky.yaml (short) in structure, with reduced sizes.
std::string tiny_yaml(bool long_video) {
  return fmt::format(R"(model:
  target: lvdm.models.ddpm3d.{}
  params:
    linear_start: 0.0015
    linear_end: 0.0155
    timesteps: 1000
    image_size: 8
    channels: 4
    scale_factor: 0.33422927
    shift_factor: 1.4606637
    encoder_type: 3d
{}    unet_config:
      params:
        image_size: 8
        in_channels: {}
        out_channels: 4
        model_channels: 32
        attention_resolutions: [2]
        num_res_blocks: 1
        channel_mult: [1, 2]
        num_heads: 4
        use_temporal_transformer: False
        legacy: False
        kernel_size_t: 1
        padding_t: 0
        temporal_length: 4
        use_relative_position: True
        use_scale_shift_norm: True
{}    first_stage_config:
      target: lvdm.models.autoencoder3d.AutoencoderKL
      params:
        embed_dim: 4
        lossconfig: __is_first_stage__
        ddconfig:
          double_z: True
          z_channels: 4
          encoder:
            target: lvdm.models.modules.aemodules3d.Encoder
            params: {{n_hiddens: 16, downsample: [2, 2, 2], image_channel: 3, norm_type: group, padding_type: replicate, double_z: True, z_channels: 4}}
          decoder:
            target: lvdm.models.modules.aemodules3d.Decoder
            params: {{n_hiddens: 16, upsample: [2, 2, 2], z_channels: 4, image_channel: 3, norm_type: group}}
)",
                     long_video ? "FrameInterpPredLatentDiffusion" : "LatentDiffusion",
                     long_video ? "    conditioning_key: concat-adm-mask\n    noisy_cond: True\n    max_noise_level: 250\n"
                                  "    p_interp: 0.4\n    p_pred: 0.5\n"
                                : "",
                     long_video ? 5 : 4,
                     long_video ? "        num_classes: 251\n        conditioning_key: concat-adm-mask\n" : "");
}

struct Files {
  std::string yaml, both, ema_only, raw_only;
};

// both: model.diffusion_model.* (raw) + model_ema.diffusion_model<name without dots> (EMA, other
// values) + first_stage_model.*, as an LVDM checkpoint saved with use_ema; ema_only / raw_only:
// one of the two sets under the raw names (what sampling with that set must equal).
Files write_checkpoints(const test::ScratchDir& dir, bool long_video) {
  Files f;
  const std::string yaml = tiny_yaml(long_video);
  f.yaml = (dir / "tiny.yaml").string();
  std::ofstream(f.yaml) << yaml;
  torch::manual_seed(11);
  LvdmUNet3D unet(LvdmUNetConfig::from_yaml_string(yaml));
  LvdmAutoencoder3D ae(LvdmAe3dConfig::from_config(Config::parse_yaml(yaml)));
  StateDict both, ema_only, raw_only;
  torch::NoGradGuard ng;
  for (auto& p : unet->named_parameters()) {
    auto raw = p.value().detach().clone().normal_(0.0, 0.05);
    auto ema = raw + torch::randn_like(raw) * 0.05;  // deliberately different
    std::string dotless = p.key();
    dotless.erase(std::remove(dotless.begin(), dotless.end(), '.'), dotless.end());
    both.set("model.diffusion_model." + p.key(), raw);
    both.set("model_ema.diffusion_model" + dotless, ema);
    raw_only.set("model.diffusion_model." + p.key(), raw);
    ema_only.set("model.diffusion_model." + p.key(), ema);
  }
  for (auto& p : ae->named_parameters())
    for (StateDict* sd : {&both, &ema_only, &raw_only}) sd->set("first_stage_model." + p.key(), p.value().detach().clone());
  both.set("model_ema.num_updates", torch::tensor(int64_t{100}));
  f.both = (dir / "both.safetensors").string();
  f.ema_only = (dir / "ema_only.safetensors").string();
  f.raw_only = (dir / "raw_only.safetensors").string();
  save_safetensors(f.both, both);
  save_safetensors(f.ema_only, ema_only);
  save_safetensors(f.raw_only, raw_only);
  return f;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

at::Tensor first_weight(const VideoPipeline& p) {
  return lvdm_unet_of(p)->named_parameters()["input_blocks.0.0.weight"].clone();
}

VideoPipeline load(const std::string& ckpt, const std::string& yaml, WeightsChoice w = WeightsChoice::Auto) {
  ModelSource src;
  src.checkpoint = ckpt;
  src.config = yaml;
  PipelineLoadOptions o;
  o.weights = w;
  return load_pipeline(src, o);
}

}  // namespace

TEST_CASE("weights: auto takes EMA for long-video models and raw for short-clip models") {
  for (bool long_video : {true, false}) {
    INFO((long_video ? "long-video model" : "short-clip model"));
    test::ScratchDir d2(long_video ? "wl" : "ws");
    auto f = write_checkpoints(d2, long_video);
    auto pe = load(f.ema_only, f.yaml), pr = load(f.raw_only, f.yaml);
    auto ema = first_weight(pe), raw = first_weight(pr);
    REQUIRE_FALSE(at::equal(ema, raw));
    auto pick = [&](LvdmWeights w) {
      return first_weight(load(f.both, f.yaml, w));
    };
    CHECK(at::equal(pick(LvdmWeights::Auto), long_video ? ema : raw));
    CHECK(at::equal(pick(LvdmWeights::Ema), ema));
    CHECK(at::equal(pick(LvdmWeights::Raw), raw));
    auto sd = load_checkpoint(f.both);
    std::string why;
    CHECK(choose_lvdm_weights(sd, LvdmWeights::Auto, long_video, &why) == (long_video ? LvdmWeights::Ema : LvdmWeights::Raw));
    CHECK(!why.empty());
    // A checkpoint without EMA weights: raw, whatever the model.
    CHECK(choose_lvdm_weights(load_checkpoint(f.raw_only), LvdmWeights::Auto, long_video) == LvdmWeights::Raw);
  }
  CHECK(parse_lvdm_weights("ema") == LvdmWeights::Ema);
  CHECK_THROWS_WITH_AS(parse_lvdm_weights("best"), doctest::Contains("raw, ema or auto"), Error);
}

TEST_CASE("weights: generate samples a long-video checkpoint with its EMA weights unless --weights raw") {
  test::ScratchDir dir("wgen");
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");  // fast on a loaded machine; every run alike
  auto f = write_checkpoints(dir, /*long_video=*/true);
  auto gen = [&](const std::string& ckpt, std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> a = {"generate", "--model", ckpt, "--config", f.yaml, "--frames", "16", "--steps", "1",
                                  "--seed", "4", "--mode", "autoregressive", "-o", (dir / name).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = test::run_cli(a);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::make_pair(slurp((dir / name).string()), r.err);
  };
  auto [ema_ref, e0] = gen(f.ema_only, {}, "ema_ref.y4m");
  auto [raw_ref, e1] = gen(f.raw_only, {}, "raw_ref.y4m");
  REQUIRE(ema_ref != raw_ref);
  auto [dflt, log] = gen(f.both, {}, "auto.y4m");
  CHECK(dflt == ema_ref);
  CHECK(log.find("EMA U-Net weights: a long-video model") != std::string::npos);
  auto [raw, log_raw] = gen(f.both, {"--weights", "raw"}, "raw.y4m");
  CHECK(raw == raw_ref);
  CHECK(log_raw.find("raw U-Net weights: --weights raw") != std::string::npos);
  CHECK(gen(f.both, {"--ema"}, "ema.y4m").first == ema_ref);
  CHECK(gen(f.both, {"--weights", "ema"}, "ema2.y4m").first == ema_ref);
  auto bad = test::run_cli({"generate", "--model", f.both, "--config", f.yaml, "--weights", "best", "-o",
                            (dir / "bad.y4m").string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("--weights best: choose raw, ema or auto") != std::string::npos);
  CHECK(test::count_lines(bad.err) == 1);
  auto clash = test::run_cli({"generate", "--model", f.both, "--config", f.yaml, "--weights", "raw", "--ema", "-o",
                              (dir / "bad.y4m").string()});
  CHECK(clash.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.y4m"));
}

TEST_CASE("weights: a short-clip checkpoint is sampled with its raw weights unless --weights ema") {
  test::ScratchDir dir("wshort");
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");
  auto f = write_checkpoints(dir, /*long_video=*/false);
  auto gen = [&](const std::string& ckpt, std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> a = {"generate", "--model", ckpt, "--config", f.yaml, "--frames", "8", "--steps", "1",
                                  "--seed", "4", "-o", (dir / name).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = test::run_cli(a);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::make_pair(slurp((dir / name).string()), r.err);
  };
  auto ema_ref = gen(f.ema_only, {}, "ema_ref.y4m").first;
  auto raw_ref = gen(f.raw_only, {}, "raw_ref.y4m").first;
  REQUIRE(ema_ref != raw_ref);
  auto [dflt, log] = gen(f.both, {}, "auto.y4m");
  CHECK(dflt == raw_ref);
  CHECK(log.find("raw U-Net weights: a short-clip model") != std::string::npos);
  CHECK(gen(f.both, {"--weights", "ema"}, "ema.y4m").first == ema_ref);
}
