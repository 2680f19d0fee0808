#include "train/trainable_denoiser.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "core/error.h"

namespace longvid {

using json = nlohmann::ordered_json;

int64_t TrainableDenoiser::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : module->parameters()) n += p.numel();
  return n;
}

namespace {

json unet_params_json(const LvdmUNetConfig& u, int64_t image_size) {
  json p;
  p["num_classes"] = u.num_classes;
  p["image_size"] = image_size;
  p["in_channels"] = u.in_channels;
  p["out_channels"] = u.out_channels;
  p["model_channels"] = u.model_channels;
  p["attention_resolutions"] = u.attention_resolutions;
  p["num_res_blocks"] = u.num_res_blocks;
  p["channel_mult"] = u.channel_mult;
  p["num_heads"] = u.num_heads;
  if (u.num_head_channels != -1) p["num_head_channels"] = u.num_head_channels;
  p["use_temporal_transformer"] = u.use_temporal_transformer;
  if (u.use_temporal_transformer) {
    p["transformer_depth"] = u.transformer_depth;
    p["context_dim"] = u.context_dim;
  }
  p["use_checkpoint"] = false;
  p["legacy"] = u.legacy;
  p["kernel_size_t"] = u.kernel_size_t;
  p["padding_t"] = u.padding_t;
  p["temporal_length"] = u.temporal_length;
  p["use_relative_position"] = u.use_relative_position;
  p["use_scale_shift_norm"] = u.use_scale_shift_norm;
  p["resblock_updown"] = u.resblock_updown;
  p["conv_resample"] = u.conv_resample;
  p["dims"] = u.dims;
  if (u.nonlinearity_type != "silu") p["nonlinearity_type"] = u.nonlinearity_type;
  return p;
}

json latte_params_json(const LatteConfig& c) {
  json p;
  p["input_size"] = c.input_size;
  p["patch_size"] = c.patch_size;
  p["in_channels"] = c.in_channels;
  p["hidden_size"] = c.hidden_size;
  p["depth"] = c.depth;
  p["num_heads"] = c.num_heads;
  p["mlp_ratio"] = c.mlp_ratio;
  p["num_frames"] = c.num_frames;
  p["num_classes"] = c.num_classes;
  p["class_dropout_prob"] = c.class_dropout_prob;
  p["learn_sigma"] = c.learn_sigma;
  p["extras"] = c.extras;
  p["variant"] = c.variant;
  p["tube_frames"] = c.tube_frames;
  p["masked"] = c.masked;
  return p;
}

}  // namespace

TrainableDenoiser trainable_denoiser(LvdmUNet3D unet) {
  const auto& u = unet->config();
  if (u.conditioning_key != "concat-adm-mask")
    fail("train: the U-Net must use conditioning_key concat-adm-mask (mask channel + noise-level label), got '{}'",
         u.conditioning_key);
  TrainableDenoiser d;
  d.in_channels = u.in_channels;
  d.out_channels = u.out_channels;
  d.num_classes = u.num_classes;
  d.describe = fmt::format("LVDM 3D U-Net (ch {}, mult [{}])", u.model_channels, fmt::join(u.channel_mult, ", "));
  d.context_dim = u.use_temporal_transformer && u.context_dim > 0 ? u.context_dim : 0;
  d.forward = [unet](const at::Tensor& x, const at::Tensor& t, const at::Tensor& s, const at::Tensor& ctx) mutable {
    return unet->forward(x, t, ctx, s);
  };
  d.config_json = [u](int64_t latent_hw) {
    return json{{"target", "lvdm.models.modules.openaimodel3d.FrameInterpPredUNet"},
                {"params", unet_params_json(u, latent_hw)}}
        .dump();
  };
  d.module = unet.ptr();
  return d;
}

TrainableDenoiser trainable_denoiser(Latte latte) {
  const LatteConfig c = latte->config();
  if (!c.masked || c.extras != 2)
    fail("train: the Latte model must be masked (frame mask channel) with the noise level as label (extras 2)");
  if (c.learn_sigma) fail("train: the Latte model must predict eps only (learn_sigma false): the loss is on eps");
  TrainableDenoiser d;
  d.in_channels = c.input_channels();
  d.out_channels = c.out_channels();
  d.num_classes = c.num_classes;
  d.describe = fmt::format("Latte variant {} (width {}, depth {}, {} heads, patch {}{})", c.variant, c.hidden_size,
                           c.depth, c.num_heads, c.patch_size,
                           c.tube_frames > 1 ? fmt::format(", tube {}", c.tube_frames) : std::string());
  d.frozen = {"pos_embed", "temp_embed"};
  d.forward = [latte](const at::Tensor& x, const at::Tensor& t, const at::Tensor& s, const at::Tensor&) mutable {
    return latte->forward(x, t, s, {});
  };
  d.config_json = [c](int64_t latent_hw) {
    LatteConfig cc = c;
    if (latent_hw > 0) cc.input_size = latent_hw;
    return json{{"target", kLatteTarget}, {"params", latte_params_json(cc)}}.dump();
  };
  d.module = latte.ptr();
  return d;
}

LatteConfig latte_train_preset(const std::string& name, int64_t z_channels, int64_t max_noise_level, int64_t latent_t,
                               int64_t latent_hw) {
  LatteConfig c;
  if (name == "tiny") {
    c.hidden_size = 128;
    c.depth = 8;
    c.num_heads = 4;
    c.patch_size = 2;
  } else if (name == "small") {
    c.hidden_size = 256;
    c.depth = 12;
    c.num_heads = 8;
    c.patch_size = 2;
  } else if (name.rfind("Latte-", 0) == 0) {
    c = LatteConfig::preset(name);
  } else {
    fail("--latte {}: unknown size (tiny, small, or an official preset such as Latte-S/2)", name);
  }
  c.in_channels = z_channels;
  c.masked = true;
  c.extras = 2;
  c.num_classes = max_noise_level + 1;
  c.class_dropout_prob = 0;
  c.learn_sigma = false;
  c.num_frames = latent_t;
  c.input_size = latent_hw;
  return c;
}

}  // namespace longvid
