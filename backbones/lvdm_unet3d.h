// LvdmUNet3D: the 3D U-Net of LVDM (YingqingHe/LVDM @d251dcc, lvdm/models/modules/openaimodel3d.py
// `UNetModel` / `FrameInterpPredUNet`, attention from lvdm/models/modules/attention_temporal.py).
//
// Module names equal the official state-dict keys below `model.diffusion_model.` (input_blocks.0.0.weight,
// middle_block.1.qkv_s.weight, output_blocks.11.2.conv.weight, out.2.weight, time_embed.0.weight,
// label_emb.weight, ...), so an official checkpoint loads one to one after stripping that prefix; the EMA
// copy (`model_ema.diffusion_modelinput_blocks00weight`: dots removed) loads through a name map built
// from this module's own parameter names (lvdm_unet_name_map).
//
// Layout [B, C, T, H, W]. Inference only (dropout is ignored; no gradient checkpointing).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backbones/denoiser.h"
#include "core/checkpoint.h"

namespace longvid {



// The parameters of `model.params.unet_config.params` (defaults are UNetModel.__init__'s defaults),
// plus the model-level `conditioning_key` (model.params.conditioning_key; "" = unconditional).
struct LvdmUNetConfig {
  int64_t in_channels = 4;
  int64_t model_channels = 256;
  int64_t out_channels = 4;
  int64_t num_res_blocks = 3;
  std::vector<int64_t> attention_resolutions{8, 4, 2};
  std::vector<int64_t> channel_mult{1, 2, 4, 8};
  bool conv_resample = true;
  int64_t dims = 3;                 // only 3 is supported
  int64_t num_classes = -1;         // -1: no label_emb
  int64_t num_heads = -1;
  int64_t num_head_channels = -1;
  bool use_scale_shift_norm = false;
  bool resblock_updown = false;
  int64_t transformer_depth = 1;    // T2V (use_temporal_transformer)
  int64_t context_dim = -1;         // T2V cross-attention width; -1: none
  bool legacy = true;
  int64_t kernel_size_t = 1;
  int64_t padding_t = 1;            // the official default, even with kernel_size_t 1 (configs set 0)
  bool use_temporal_transformer = false;
  int64_t temporal_length = -1;     // -1: None
  bool use_relative_position = false;
  std::string nonlinearity_type = "silu";  // "silu" | "leaky_relu"
  std::string conditioning_key;     // "", "concat-adm-mask", "crossattn", ...

  int64_t time_embed_dim() const { return model_channels * 4; }

  // Reads an official LVDM YAML (configs/lvdm_short/*.yaml, configs/lvdm_long/*.yaml):
  // `model.params.unet_config.params` and `model.params.conditioning_key`.
  static LvdmUNetConfig from_yaml_file(const std::filesystem::path& path);
  static LvdmUNetConfig from_yaml_string(const std::string& text, const std::string& origin = "<string>");
};

namespace lvdm_detail {
class TimestepSeqImpl;
}

class LvdmUNet3DImpl : public torch::nn::Module {
 public:
  // `device`: where the parameters are created (at::kMeta builds the structure without memory, e.g. to
  // count parameters). Parameters start with PyTorch-like random init (zero-init layers zero).
  explicit LvdmUNet3DImpl(LvdmUNetConfig cfg, at::Device device = at::kCPU);

  // x: [B, in_channels, T, H, W] (H, W divisible by 2^(levels-1)); timesteps: [B] (any numeric dtype);
  // context: [B, L, context_dim] (T2V only, else undefined); y: [B] int64 class labels (only with
  // num_classes; undefined = no label embedding, as the official `y=None`). Returns [B, out_channels, T', H, W]
  // (T' = T unless padding_t makes the convolutions grow T, exactly as the official code would).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context = {},
                     const at::Tensor& y = {});

  const LvdmUNetConfig& config() const { return cfg_; }
  int64_t num_parameters() const;

 private:
  LvdmUNetConfig cfg_;
  std::shared_ptr<torch::nn::Module> time_embed_;
  torch::Tensor label_emb_;  // "label_emb.weight" (registered on a child module)
  std::vector<std::shared_ptr<lvdm_detail::TimestepSeqImpl>> input_blocks_, output_blocks_;
  std::shared_ptr<lvdm_detail::TimestepSeqImpl> middle_block_;
  std::shared_ptr<torch::nn::Module> out_;
  std::shared_ptr<std::atomic<bool>> prepacked_ = std::make_shared<std::atomic<bool>>(false);  // nn::prepack_convs
};
TORCH_MODULE(LvdmUNet3D);

// Sinusoidal timestep embedding exactly as lvdm/models/modules/util.py `timestep_embedding`
// ([cos, sin], max period 1e4, frequencies in float32). timesteps [N] -> [N, dim] float32.
at::Tensor lvdm_timestep_embedding(const at::Tensor& timesteps, int64_t dim, double max_period = 10000.0);

// Which weights of an official LVDM checkpoint to take (core/checkpoint.h).
using LvdmWeights = WeightsChoice;

// Checkpoint name -> module parameter name for the official layouts:
//   Raw: "model.diffusion_model." + name          (prefix may be given other than the default)
//   Ema: "model_ema.diffusion_model" + name without dots
// built from `module`'s own parameter names.
std::map<std::string, std::string> lvdm_unet_name_map(const torch::nn::Module& module, LvdmWeights which,
                                                      const std::string& raw_prefix = "model.diffusion_model.");

// "raw" | "ema" | "auto" (the --weights option); throws longvid::Error naming the choices.
inline LvdmWeights parse_lvdm_weights(const std::string& s) { return parse_weights_choice(s); }

// The weights to sample with, following LVDM's own scripts: the long-video script
// (scripts/sample_long_videos_utils.py: sample_clip runs inside model.ema_scope) samples its
// prediction and interpolation models with the EMA weights; the short-clip scripts
// (sample_uncond.py, sample_text2video.py) with the raw weights. `requested` Raw/Ema is returned
// as is; Auto gives Ema for a long-video model (`long_video_model`: frame-mask conditioning) whose
// checkpoint has EMA weights (model_ema.diffusion_model*), else Raw when it has
// model.diffusion_model.*, else Ema when it has only EMA weights, else Auto (a bare U-Net state
// dict). `why` (optional) gets the reason, for the log.
LvdmWeights choose_lvdm_weights(const StateDict& sd, LvdmWeights requested, bool long_video_model,
                                std::string* why = nullptr);

// Loads the U-Net of an official LVDM checkpoint (strict: every missing, unexpected or mis-shaped key
// is reported in one longvid::Error). Auto: the raw weights `model.diffusion_model.*` if present, else
// the EMA weights `model_ema.diffusion_model*`, else a bare U-Net state dict (no prefix).
// Returns which weights were loaded (Raw also for a bare state dict). `model` may be any denoiser
// network held by LVDM's latent-diffusion wrapper (the U-Net, or a masked Latte trained by longvid).
LvdmWeights load_lvdm_unet(torch::nn::Module& model, const StateDict& sd, LvdmWeights which = LvdmWeights::Auto);

// Denoiser adapter: builds the network input the way LVDM's apply_model / DiffusionWrapper do for the
// model's conditioning_key (config().conditioning_key):
//   ""                 plain unconditional (lvdm_short): net(x_t, t); a non-zero mask is an error.
//   "concat-adm-mask"  (lvdm_long): frames with mask 1 are replaced by c.cond_latent (the official
//                      `x_noisy[:, :, cond_idx] = noisy_cond`, on a copy: the caller keeps x_t), then
//                      net(x ‖ mask, t, y = c.cond_noise_level). Missing mask = zeros, missing s = no
//                      label embedding (the unconditional branch of LVDM's guidance).
//   "crossattn"        (T2V): net(x_t, t, context = c.context); context is required.
// Output: eps, C = out_channels.
class LvdmUNetDenoiser : public Denoiser {
 public:
  explicit LvdmUNetDenoiser(LvdmUNet3D net);
  at::Tensor forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c) override;
  Prediction prediction() const override { return Prediction::Eps; }
  LvdmUNet3D& net() { return net_; }

 private:
  LvdmUNet3D net_;
};

}  // namespace longvid
