// End-to-end: `longvid generate --model CKPT --config YAML` on a reduced random-weight LVDM model
// written by the test in the official key layout (model.diffusion_model.*, first_stage_model.*).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <fstream>

#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {

// The structure of configs/lvdm_short/sky.yaml with reduced sizes.
std::string tiny_lvdm_yaml(int model_channels) {
  return fmt::format(R"(model:
  target: lvdm.models.ddpm3d.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0155
    timesteps: 1000
    image_size: 8
    video_length: 4
    channels: 4
    scale_factor: 0.33422927
    shift_factor: 1.4606637
    cond_stage_config: __is_unconditional__
    encoder_type: 3d
    unet_config:
      target: lvdm.models.modules.openaimodel3d.UNetModel
      params:
        image_size: 8
        in_channels: 4
        out_channels: 4
        model_channels: {}
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
    first_stage_config:
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
                     model_channels);
}

void add_module(StateDict& sd, torch::nn::Module& m, const std::string& prefix) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters()) {
    auto v = p.value().detach().clone();
    if (v.abs().max().item<double>() == 0.0) v.normal_(0.0, 0.05);  // zero-init layers: make them count
    sd.set(prefix + p.key(), v);
  }
  for (auto& b : m.named_buffers()) sd.set(prefix + b.key(), b.value().detach().clone());
}

// Writes tiny.yaml + tiny.safetensors (official layout) into dir; returns their paths.
std::pair<std::string, std::string> write_tiny_model(const test::ScratchDir& dir, int model_channels = 32) {
  auto yaml = tiny_lvdm_yaml(model_channels);
  auto cfg_path = dir / "tiny.yaml";
  std::ofstream(cfg_path) << yaml;
  torch::manual_seed(3);
  LvdmUNet3D unet(LvdmUNetConfig::from_yaml_string(yaml));
  LvdmAutoencoder3D ae(LvdmAe3dConfig::from_config(Config::parse_yaml(yaml)));
  StateDict sd;
  add_module(sd, *unet, "model.diffusion_model.");
  add_module(sd, *ae, "first_stage_model.");
  sd.set("betas", torch::linspace(0.0015, 0.0155, 1000));  // schedule buffers exist in official checkpoints
  auto ckpt_path = dir / "tiny.safetensors";
  save_safetensors(ckpt_path, sd);
  return {ckpt_path.string(), cfg_path.string()};
}

}  // namespace

TEST_CASE("generate --model: reduced LVDM checkpoint in the official layout") {
  test::ScratchDir dir("genmodel");
  auto [ckpt, cfg] = write_tiny_model(dir);
  auto out = dir / "clip.y4m";
  auto r = test::run_cli({"generate", "--model", ckpt, "--config", cfg, "--frames", "7", "--steps", "4", "--seed", "5",
                          "-o", out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("generating 8 and keeping the first 7") != std::string::npos);
  auto v = read_video(out);
  CHECK(v.sizes() == at::IntArrayRef({7, 16, 16, 3}));  // image_size 8 x AE factor 2

  // No EMA weights in this checkpoint: --ema must say which keys are missing.
  auto e = test::run_cli({"generate", "--model", ckpt, "--config", cfg, "--ema", "-o", (dir / "ema.y4m").string()});
  CHECK(e.exit_code == 1);
  CHECK(e.err.find("model_ema") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "ema.y4m"));
}

TEST_CASE("generate --model: config/checkpoint mismatch names the keys and both shapes") {
  test::ScratchDir dir("genmismatch");
  auto [ckpt, cfg32] = write_tiny_model(dir, 32);
  auto cfg64 = dir / "wide.yaml";
  std::ofstream(cfg64) << tiny_lvdm_yaml(64);
  auto out = dir / "x.y4m";
  auto r = test::run_cli({"generate", "--model", ckpt, "--config", cfg64.string(), "-o", out.string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("mis-shaped") != std::string::npos);
  CHECK(r.err.find("input_blocks.0.0.weight") != std::string::npos);
  CHECK(r.err.find("[32, 4, 1, 3, 3]") != std::string::npos);
  CHECK(r.err.find("[64, 4, 1, 3, 3]") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
}
