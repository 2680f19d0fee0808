// Latte-1, the text-to-video Latte as diffusers ships it (maxin-cn/Latte-1): diffusers
// models/transformers/latte_transformer_3d.py `LatteTransformer3DModel`, PixArt-α blocks
// (models/attention.py BasicTransformerBlock with norm_type "ada_norm_single").
//
// Module names equal diffusers' state-dict keys (pos_embed.proj.weight,
// transformer_blocks.N.attn1.to_q.weight, .attn2.to_k.weight (cross, from cross_attention_dim),
// .ff.net.0.proj.weight, .ff.net.2.weight, .scale_shift_table, temporal_transformer_blocks.N.*,
// adaln_single.emb.timestep_embedder.linear_1.weight, adaln_single.linear.weight,
// caption_projection.linear_1.weight, scale_shift_table, proj_out.weight), so
// transformer/diffusion_pytorch_model.safetensors loads one to one.
//
// Structure (diffusers, checked in its code):
//  - input (B, C, F, H, W) -> per frame (B·F, C, H, W); PatchEmbed: Conv2d stride p, + a 2D sin-cos
//    table (PixArt: grid / (grid / base_size) / interpolation_scale, base_size = sample_size / p,
//    interpolation_scale = max(sample_size / 64, 1)), a non-persistent buffer (not in checkpoints);
//  - adaln_single: t -> 256-dim [cos, sin] embedding (flip_sin_to_cos, shift 0) -> linear_1 -> SiLU ->
//    linear_2 = embedded_timestep (D); SiLU -> linear (D -> 6D) = the blocks' modulation;
//  - caption_projection: Linear(caption_channels, D) -> GELU(tanh) -> Linear(D, D);
//  - block i: spatial block over (B·F, P, D) with cross-attention to the caption, then temporal
//    block over (B·P, F, D) without; the 1D sin-cos temp_pos_embed is added before temporal block 0
//    (when F > 1); per block: mod = scale_shift_table (6, D) + t6 -> shift/scale/gate msa, shift/
//    scale/gate mlp; x += gate_msa · attn1(LN(x)(1 + scale_msa) + shift_msa); x += attn2(x, caption)
//    (no norm before it: PixArt); x += gate_mlp · ff(LN2(x)(1 + scale_mlp) + shift_mlp); LayerNorms
//    without affine, eps norm_eps; ff: Linear(D, 4D) -> GELU(tanh) -> Linear(4D, D);
//  - out: shift, scale = scale_shift_table (2, D) + embedded_timestep; LN(x)(1 + scale) + shift ->
//    proj_out (D -> p²·out_channels) -> unpatchify ("nhwpqc -> nchpwq") -> (B, out, F, H, W).
// Beyond diffusers: temp_pos_embed is computed for the actual frame count (diffusers' table has
// video_length rows and fails for other counts; its first F rows are these), and the 2D table is
// recomputed for another latent size as PatchEmbed does.
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backbones/denoiser.h"

namespace longvid {

// diffusers transformer/config.json of LatteTransformer3DModel (defaults: Latte-1's).
struct LatteT2VConfig {
  int64_t num_attention_heads = 16;
  int64_t attention_head_dim = 72;
  int64_t in_channels = 4;
  int64_t out_channels = 8;
  int64_t num_layers = 28;
  int64_t cross_attention_dim = 1152;
  int64_t sample_size = 64;
  int64_t patch_size = 2;
  int64_t caption_channels = 4096;
  int64_t video_length = 16;
  bool attention_bias = true;
  double norm_eps = 1e-6;
  std::string activation_fn = "gelu-approximate";
  std::string norm_type = "ada_norm_single";
  bool norm_elementwise_affine = false;
  int64_t num_embeds_ada_norm = 1000;

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  bool learned_sigma() const { return out_channels == 2 * in_channels; }
  // A diffusers config.json; keys it does not set keep the constructor's defaults (as diffusers).
  static LatteT2VConfig from_json(const std::string& text, const std::string& origin);
  void validate() const;  // longvid::Error naming what is not supported
};

namespace latte_t2v_detail {
struct BlockImpl;
}

class LatteT2VImpl : public torch::nn::Module {
 public:
  explicit LatteT2VImpl(LatteT2VConfig cfg, at::Device device = at::kCPU);
  // x [B, in_channels, F, H, W], timestep [B] (any numeric dtype), caption [B, L, caption_channels]
  // -> [B, out_channels, F, H, W]. temporal = false skips the temporal blocks
  // (enable_temporal_attentions=False: image generation).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& timestep, const at::Tensor& caption,
                     bool temporal = true);
  const LatteT2VConfig& config() const { return cfg_; }
  int64_t num_parameters() const;

 private:
  LatteT2VConfig cfg_;
  std::vector<std::shared_ptr<latte_t2v_detail::BlockImpl>> spatial_, temporal_;
  struct Parts;
  std::shared_ptr<Parts> p_;
};
TORCH_MODULE(LatteT2V);

// Denoiser adapter: Conditioning.context is the (projected-before) T5 caption [B, L, 4096];
// output eps and, with learned sigma, the variance channels (2C).
class LatteT2VDenoiser : public Denoiser {
 public:
  explicit LatteT2VDenoiser(LatteT2V net) : net_(std::move(net)) {}
  at::Tensor forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c) override;
  bool learned_sigma() const override { return net_->config().learned_sigma(); }
  LatteT2V& net() { return net_; }

 private:
  LatteT2V net_;
};

}  // namespace longvid
