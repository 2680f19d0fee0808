// Stable Diffusion's 2D KL autoencoder applied frame by frame to video (used by Latte and
// LVDM-T2V): diffusers `AutoencoderKL` (diffusers/models/autoencoders/autoencoder_kl.py with
// vae.py Encoder/Decoder, unet_2d_blocks DownEncoderBlock2D / UpDecoderBlock2D /
// UNetMidBlock2D, resnet.ResnetBlock2D, attention_processor.Attention).
//
// Module names equal the diffusers state-dict keys:
//   encoder.conv_in, encoder.down_blocks.N.resnets.M.{norm1,conv1,norm2,conv2,conv_shortcut},
//   encoder.down_blocks.N.downsamplers.0.conv, encoder.mid_block.{resnets.0,attentions.0,resnets.1},
//   attention: group_norm, to_q, to_k, to_v, to_out.0 (Linear), encoder.conv_norm_out, encoder.conv_out,
//   decoder.conv_in, decoder.mid_block.*, decoder.up_blocks.N.resnets.M.*, decoder.up_blocks.N.upsamplers.0.conv,
//   decoder.conv_norm_out, decoder.conv_out, quant_conv, post_quant_conv.
// The original LDM / SD layout (`first_stage_model.encoder.down.0.block.0...`, `mid.attn_1.q`
// as 1x1 convs, `nin_shortcut`, decoder `up.N` in reverse order) is mapped by
// ldm_to_diffusers_vae_name(); load_frame_autoencoder_kl() detects which one a file holds.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "vae3d/lvdm_autoencoder3d.h"  // DiagonalGaussian

namespace longvid {

struct FrameAutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};  // SD 1.x / 2.x
  int64_t layers_per_block = 2;
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  double scaling_factor = 0.18215;
  double shift_factor = 0.0;  // z_model = (z - shift) * scale (diffusers' convention; SD 1.x: 0)

  // A diffusers config.json (`AutoencoderKL` keys above), or an LDM `first_stage_config.params`
  // style mapping (ddconfig: ch, ch_mult, num_res_blocks, z_channels, in_channels, out_ch).
  static FrameAutoencoderKLConfig from_config(const Config& cfg);
  // From a state dict in diffusers layout (after any name map): channels, levels, layers.
  static FrameAutoencoderKLConfig infer(const StateDict& sd, const std::string& prefix = "");
  void validate(const std::string& source = "config") const;
  std::string to_json() const;
  int64_t factor() const { return int64_t{1} << (block_out_channels.size() - 1); }
};

namespace frame_ae_kl {

// ResnetBlock2D (temb none, eps 1e-6, output_scale_factor 1): norm1 -> SiLU -> conv1 -> norm2 ->
// SiLU -> conv2, plus the input (through a 1x1 conv_shortcut when the widths differ).
class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t in, int64_t out, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
};
TORCH_MODULE(ResnetBlock);

// Attention over the H*W positions (one head of width C, as the VAE's mid block), with
// group_norm first and a residual; softmax in float32.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out;  // "0": Linear ("1" is a parameterless Dropout in diffusers)
};
TORCH_MODULE(Attention);

class MidBlockImpl : public torch::nn::Module {
 public:
  MidBlockImpl(int64_t channels, int64_t groups, bool attention);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList resnets, attentions;
};
TORCH_MODULE(MidBlock);

// DownEncoderBlock2D / UpDecoderBlock2D: resnets, then an optional resampler ("downsamplers.0.conv":
// pad (0,1,0,1) with zeros + 3x3 stride-2 conv; "upsamplers.0.conv": nearest 2x + 3x3 conv).
class ResampleBlockImpl : public torch::nn::Module {
 public:
  ResampleBlockImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, int resample);  // -1 down, +1 up, 0 none
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList resnets, samplers;
  torch::nn::Conv2d sampler_conv{nullptr};  // samplers[0].conv
  int resample;
};
TORCH_MODULE(ResampleBlock);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const FrameAutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [N, in, H, W] -> [N, 2 latent, h, w]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks;
  MidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const FrameAutoencoderKLConfig& c);
  torch::Tensor forward(const torch::Tensor& z);  // [N, latent, h, w] -> [N, out, H, W]
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList up_blocks;
  MidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace frame_ae_kl

class FrameAutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit FrameAutoencoderKLImpl(FrameAutoencoderKLConfig cfg);

  // Images [N, C, H, W] in [-1, 1] -> posterior (diffusers AutoencoderKL.encode).
  DiagonalGaussian encode_images(const torch::Tensor& images);
  // Raw latents [N, latent, h, w] -> images (post_quant_conv + decoder).
  torch::Tensor decode_images(const torch::Tensor& z);

  // Video [B, C, T, H, W] -> posterior over [B, latent, T, h, w]; frames are processed in
  // batches of `frames_per_batch` (0 = all at once).
  DiagonalGaussian encode(const torch::Tensor& video, int64_t frames_per_batch = 0);
  torch::Tensor decode(const torch::Tensor& z, int64_t frames_per_batch = 0);
  // Frame-wise decoding has no seams: hands [B, C, n, H, W] chunks of `frames_per_batch` frames.
  void decode_stream(const torch::Tensor& z, int64_t frames_per_batch,
                     const std::function<void(const torch::Tensor&)>& sink, bool normalized = false);

  torch::Tensor normalize_latent(const torch::Tensor& z) const;    // (z - shift) * scale
  torch::Tensor denormalize_latent(const torch::Tensor& z) const;  // z / scale + shift

  const FrameAutoencoderKLConfig& config() const { return cfg_; }

  frame_ae_kl::Encoder encoder{nullptr};
  frame_ae_kl::Decoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  FrameAutoencoderKLConfig cfg_;
};
TORCH_MODULE(FrameAutoencoderKL);

// Original LDM / SD VAE name (prefix removed) -> diffusers name; std::nullopt for names that
// are not part of the VAE (loss.*). Names already in diffusers layout pass unchanged.
// `num_levels` (len(ch_mult)) is needed because LDM numbers the decoder's levels bottom-up.
std::optional<std::string> ldm_to_diffusers_vae_name(const std::string& name, int64_t num_levels);

// Where the VAE sits: "first_stage_model." (LDM / LVDM-T2V checkpoints), "vae." or "".
std::string frame_ae_kl_prefix(const StateDict& sd);
// The VAE of `sd` (either layout, under the prefix above) converted to diffusers names and
// shapes (LDM's 1x1-conv attention weights reshaped to Linear).
StateDict frame_ae_kl_state(const StateDict& sd);
// Strict load (one error listing every missing / unexpected / mis-shaped key).
void load_frame_autoencoder_kl(FrameAutoencoderKLImpl& ae, const StateDict& sd);

}  // namespace longvid
