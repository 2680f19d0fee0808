// Shared building blocks of the backbones (LVDM U-Net, Latte transformer, ...): layers written as
// plain torch::nn::Module subclasses whose parameters carry the official PyTorch names (`weight`,
// `bias`), so a parent that registers them under the official child names loads official state
// dicts one to one; forward passes are at:: functionals. Each block names the reference it reproduces.
//
// Parameters are created with nn::param_options() (float32 on the CPU unless a ParamOptionsScope
// says otherwise, e.g. at::kMeta to build a model's structure without memory) and initialised like
// PyTorch's defaults; loading a checkpoint replaces them.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conv.h"

namespace longvid::nn {

// ---- parameter creation ----------------------------------------------------------------------------

// The options new parameters are created with on this thread (dtype float32, device CPU by default).
at::TensorOptions& param_options();

// Sets param_options() to `dtype` (float32) on `device` for its lifetime (a model constructor holds
// one). init = false: the initialisers below leave the values unset (at::empty: no page is touched),
// for models whose weights are loaded right after, e.g. shared with a memory-mapped checkpoint
// (LoadIntoOptions::share_memory).
class ParamOptionsScope {
 public:
  explicit ParamOptionsScope(at::Device device, at::ScalarType dtype = at::kFloat, bool init = true);
  ~ParamOptionsScope();
  ParamOptionsScope(const ParamOptionsScope&) = delete;
  ParamOptionsScope& operator=(const ParamOptionsScope&) = delete;

 private:
  at::TensorOptions saved_;
  bool saved_init_;
};
bool param_init();  // false inside a ParamOptionsScope(..., init = false)

at::Tensor p_empty(at::IntArrayRef shape);
at::Tensor p_zeros(at::IntArrayRef shape);
at::Tensor p_ones(at::IntArrayRef shape);
// PyTorch's default init of Linear/Conv weights and biases: uniform ±1/sqrt(fan_in).
at::Tensor uniform_init(at::IntArrayRef shape, int64_t fan_in);
// N(mean, std²) (nn.Embedding's init: N(0, 1)).
at::Tensor normal_init(at::IntArrayRef shape, double mean = 0.0, double std = 1.0);

// A plain container module registered as `name` on `parent`, for nn.Sequential / nn.ModuleList parents
// whose children are not all parameterised (children then get the official indices "0", "2", ...).
std::shared_ptr<torch::nn::Module> container(torch::nn::Module& parent, const std::string& name);

// ---- layers ------------------------------------------------------------------------------------------

// nn.Conv1d / nn.Conv2d / nn.Conv3d (the kernel's rank picks which), with bias; `zero` = zero_module(...).
// 3D runs through longvid::conv3d (core/conv.h).
struct ConvImpl : torch::nn::Module {
  std::vector<int64_t> stride, padding;
  at::Tensor weight, bias;
  std::shared_ptr<PackedConvWeight> packed = std::make_shared<PackedConvWeight>();  // 3D, inference (core/conv.h)
  ConvImpl(int64_t cin, int64_t cout, std::vector<int64_t> kernel, std::vector<int64_t> stride,
           std::vector<int64_t> padding, bool zero = false);
  at::Tensor forward(const at::Tensor& x) const;
};

// Packs the weights of every 3D ConvImpl inside `module` for inference (core/conv.h prepack_conv3d);
// returns how many it packed.
int64_t prepack_convs(torch::nn::Module& module);

// A real reduced-precision model for inference: casts every floating parameter and buffer inside
// `module` to `dtype` (bf16 / fp16; float types: nothing happens) except those of GroupNorm and
// LayerNorm, which stay float32 and normalise in float32 whatever their input. The networks' forwards
// run in their weights' dtype and return float32, so samplers keep the schedule's arithmetic in
// float32. Returns how many parameter values were cast. (`--dtype bf16`: pipeline/model_registry.h.)
int64_t cast_for_inference(torch::nn::Module& module, at::ScalarType dtype);
bool is_reduced_float(at::ScalarType t);  // bf16 or fp16

// nn.Linear (`with_bias` false: no `bias` parameter).
struct LinearImpl : torch::nn::Module {
  at::Tensor weight, bias;
  LinearImpl(int64_t in, int64_t out, bool with_bias = true);
  at::Tensor forward(const at::Tensor& x) const;
};

// nn.GroupNorm(groups, channels, eps, affine=True). `fp32` = GroupNorm32 (LVDM/guided-diffusion
// util.py: normalises in float32 and casts back to the input dtype).
struct GroupNormImpl : torch::nn::Module {
  int64_t groups;
  double eps;
  bool fp32;
  at::Tensor weight, bias;
  GroupNormImpl(int64_t channels, double eps, bool fp32, int64_t groups = 32);
  at::Tensor forward(const at::Tensor& x) const;
};

// nn.LayerNorm(dim, eps, elementwise_affine) over the last dimension; without affine it has no
// parameters (DiT/Latte: LayerNorm(hidden, elementwise_affine=False, eps=1e-6)).
struct LayerNormImpl : torch::nn::Module {
  int64_t dim;
  double eps;
  at::Tensor weight, bias;  // undefined without affine
  explicit LayerNormImpl(int64_t dim, double eps = 1e-5, bool elementwise_affine = true);
  at::Tensor forward(const at::Tensor& x) const;
};

// timm.layers.Mlp as DiT/Latte build it: fc1 -> GELU(approximate="tanh") -> fc2 (dropout 0, no norm).
// Parameters fc1.weight, fc1.bias, fc2.weight, fc2.bias.
struct MlpImpl : torch::nn::Module {
  std::shared_ptr<LinearImpl> fc1, fc2;
  MlpImpl(int64_t in_features, int64_t hidden_features, int64_t out_features = -1);  // -1: in_features
  at::Tensor forward(const at::Tensor& x) const;
};

// ---- functions -------------------------------------------------------------------------------------

// Sinusoidal timestep embedding. timesteps [N] (any numeric dtype) -> [N, dim] float32; an odd dim gets
// a zero last column. freqs[i] = exp(-ln(max_period) * i / (half - downscale_freq_shift)), i < half = dim/2,
// computed in float32 on the CPU and moved to the timesteps' device (as LVDM and DiT do);
// args = scale * t * freqs.
// Defaults = lvdm/models/modules/util.py `timestep_embedding` = DiT models.py
// `TimestepEmbedder.timestep_embedding` (Latte's copy too): [cos, sin], max period 1e4, no shift.
// diffusers embeddings.py `get_timestep_embedding(flip_sin_to_cos, downscale_freq_shift, scale,
// max_period)` is cos_first = flip_sin_to_cos with the same shift/scale ([sin, cos] unless flipped).
struct TimestepEmbeddingOptions {
  bool cos_first = true;
  double max_period = 10000.0;
  double downscale_freq_shift = 0.0;  // diffusers' default is 1
  double scale = 1.0;
};
at::Tensor timestep_embedding(const at::Tensor& timesteps, int64_t dim, const TimestepEmbeddingOptions& opts = {});

// Multi-head attention core: softmax(q k^T * scale + mask) v per head, through
// at::scaled_dot_product_attention with unit-stride heads (so the fused CPU kernel runs: no Lq x Lk matrix,
// float accumulation). It matches the explicit bmm/softmax/bmm math of the references to fp32 rounding
// (~1e-6 relative on the U-Net parity fixtures of tests/backbones/test_lvdm_unet3d.cpp, bound 1e-5).
// q [B, Lq, heads*D], k and v [B, Lk, heads*D] -> [B, Lq, heads*D] ('b n (h d)' layout of
// attention_temporal.CrossAttention, DiT/timm Attention). `mask` (optional) broadcasts to
// [B, heads, Lq, Lk]: bool (true = attend) or an additive float bias. scale: default D^-1/2.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                     const at::Tensor& mask = {}, std::optional<double> scale = std::nullopt);
// The same on heads already split: q [B, H, Lq, D], k and v [B, H, Lk, D] -> [B, H, Lq, D].
at::Tensor attention_heads(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask = {},
                           std::optional<double> scale = std::nullopt);

// MAE util/pos_embed.py (copied by DiT models.py and Latte models/latte.py), in float64 as numpy computes it:
//  get_1d_sincos_pos_embed_from_grid(embed_dim, pos): pos [M] (any shape, flattened) -> [M, embed_dim] =
//    [sin(pos * omega), cos(pos * omega)], omega[i] = 1 / 10000^(i / (embed_dim/2)), i < embed_dim/2.
//  get_2d_sincos_pos_embed(embed_dim, grid_size): [grid_h*grid_w, embed_dim], token r*grid_w + c =
//    [1d(embed_dim/2, c), 1d(embed_dim/2, r)] (the reference's meshgrid puts the column first);
//    cls_token/extra_tokens: that many zero rows in front (DiT's `extra_tokens`).
//    (embed_dim a multiple of 4; grid_h != grid_w extends the reference's square grid the same way).
// Latte's get_1d_sincos_temp_embed(embed_dim, length) = sincos_pos_embed_1d(embed_dim, arange(length)).
// Callers cast to float32 (`torch.from_numpy(pos_embed).float()` in the references). embed_dim must be even.
at::Tensor sincos_pos_embed_1d(int64_t embed_dim, const at::Tensor& pos);
at::Tensor sincos_pos_embed_2d(int64_t embed_dim, int64_t grid_h, int64_t grid_w, int64_t extra_tokens = 0);
inline at::Tensor sincos_pos_embed_2d(int64_t embed_dim, int64_t grid_size) {
  return sincos_pos_embed_2d(embed_dim, grid_size, grid_size);
}

}  // namespace longvid::nn
