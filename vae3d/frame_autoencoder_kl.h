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
#include "vae3d/video_autoencoder.h"

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

// The 2D VAE as a VideoAutoencoder (video_autoencoder.h): frames are independent, so every
// temporal window gives exactly the same result (streams are trivially bounded).
class FrameAutoencoderKLImpl : public torch::nn::Module, public VideoAutoencoder {
 public:
  explicit FrameAutoencoderKLImpl(FrameAutoencoderKLConfig cfg);

  // Images [N, C, H, W] in [-1, 1] -> posterior (diffusers AutoencoderKL.encode). Untiled.
  DiagonalGaussian encode_images(const torch::Tensor& images);
  // Raw latents [N, latent, h, w] -> images (post_quant_conv + decoder). Untiled.
  torch::Tensor decode_images(const torch::Tensor& z);

  // Video [B, C, T, H, W] -> posterior over [B, latent, T, h, w]; frames are processed in
  // batches of `frames_per_batch` (0 = all at once), each spatially tiled when tiling() is on.
  using VideoAutoencoder::decode;
  using VideoAutoencoder::encode;
  DiagonalGaussian encode(const torch::Tensor& video, int64_t frames_per_batch);
  torch::Tensor decode(const torch::Tensor& z, int64_t frames_per_batch);
  // Frame-wise decoding has no seams: hands [B, C, n, H, W] chunks of `frames_per_batch` frames.
  void decode_stream(const torch::Tensor& z, int64_t frames_per_batch, const VideoChunkSink& sink,
                     bool normalized = false);
  // The interface's form: `window` frames per batch, `overlap` unused (no seams to blend).
  void decode_stream(const torch::Tensor& z, int64_t window, int64_t overlap, const VideoChunkSink& sink,
                     bool normalized = false) override;
  // Frames from `source` encoded in batches of `window` frames (window <= 0: each source chunk as
  // it comes); `overlap` unused. Identical to encode() for any window. Returns 0 (no padding).
  int64_t encode_stream(const VideoChunkSource& source, int64_t window, int64_t overlap,
                        const PosteriorChunkSink& sink) override;

  torch::Tensor normalize_latent(const torch::Tensor& z) const override;    // (z - shift) * scale
  torch::Tensor denormalize_latent(const torch::Tensor& z) const override;  // z / scale + shift

  std::string kind() const override { return "frame2d"; }
  std::array<int64_t, 3> factors() const override { return {1, cfg_.factor(), cfg_.factor()}; }
  int64_t latent_channels() const override { return cfg_.latent_channels; }
  int64_t video_channels() const override { return cfg_.in_channels; }
  double scale_factor() const override { return cfg_.scaling_factor; }
  double shift_factor() const override { return cfg_.shift_factor; }
  std::string config_json() const override { return cfg_.to_json(); }
  torch::nn::Module& module() override { return *this; }
  TemporalWindow default_decode_window() const override { return {8, 0}; }
  TemporalWindow default_encode_window() const override { return {8, 0}; }

  const FrameAutoencoderKLConfig& config() const { return cfg_; }

  frame_ae_kl::Encoder encoder{nullptr};
  frame_ae_kl::Decoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 protected:
  torch::Tensor encode_moments_untiled(const torch::Tensor& video) override;  // [B, C, T, H, W]
  torch::Tensor decode_untiled(const torch::Tensor& z) override;

 private:
  torch::Tensor image_moments(const torch::Tensor& images);
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
