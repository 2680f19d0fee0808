// The blocks of the Latte transformer (backbones/latte.h): the released DiT adaLN-Zero block and
// final layer (Vchitect/Latte models/latte.py), and the blocks of the paper's variants 3 and 4
// (Latte, Ma et al. 2024, Sec. 3.2; no public code has them). Internal to backbones/latte.cpp and its tests.
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "backbones/nn_blocks.h"

namespace longvid::latte_detail {

// x * (1 + scale) + shift with per-sample modulation: x [B, N, D], shift/scale [B, D].
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale);
// LayerNorm(D, elementwise_affine=False, eps=1e-6).
at::Tensor layer_norm(const at::Tensor& x);

// The token grid of a batch: B samples, F temporal positions, P patches per frame. Tokens are
// held frame-major, [B·F, P, D] ("spatial layout").
struct TokenGrid {
  int64_t B, F, P;
};
// [B·F, P, D] <-> [B·P, F, D].
at::Tensor to_temporal(const at::Tensor& x, const TokenGrid& g);
at::Tensor to_spatial(const at::Tensor& x, const TokenGrid& g);

// models/latte.py Attention (timm's, qkv_bias=True; 'math' mode = SDPA to fp32 rounding).
struct AttentionImpl : torch::nn::Module {
  int64_t heads;
  std::shared_ptr<nn::LinearImpl> qkv, proj;
  AttentionImpl(int64_t dim, int64_t heads);
  // Self-attention within each row group: x [N, L, D].
  at::Tensor forward(const at::Tensor& x) const;
  // Variant 4 (factorized multi-head attention): x in spatial layout; the first heads/2 heads attend
  // over the patches of their frame, the others over the frames of their patch; the heads are
  // concatenated before `proj`.
  at::Tensor forward_split(const at::Tensor& x, const TokenGrid& g) const;
};

// models/latte.py TransformerBlock (DiT adaLN-Zero block), also the block of variants 2 and 4.
struct BlockImpl : torch::nn::Module {
  std::shared_ptr<AttentionImpl> attn;
  std::shared_ptr<nn::MlpImpl> mlp;
  std::shared_ptr<nn::LinearImpl> ada;
  BlockImpl(int64_t dim, int64_t heads, double mlp_ratio);
  // x [B·G, L, D] (G token groups per sample: the frames of a spatial block, the patches of a
  // temporal one); c [B, D]. The official code repeats c to B·G rows and runs the modulation on
  // each; rows are identical, so it runs once per sample and broadcasts over the groups.
  // `split` (variant 4): x in spatial layout, attention with forward_split over `g`.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& c, const TokenGrid* split = nullptr) const;
};

// Variant 3 (factorized self-attention): one block, spatial attention (`attn`), then temporal
// attention (`attn_temp`), then the MLP, each a residual branch with its own adaLN shift, scale and
// gate: adaLN_modulation Linear(D, 9D) = (shift, scale, gate) x (spatial, temporal, mlp).
struct FactorizedBlockImpl : torch::nn::Module {
  std::shared_ptr<AttentionImpl> attn, attn_temp;
  std::shared_ptr<nn::MlpImpl> mlp;
  std::shared_ptr<nn::LinearImpl> ada;
  FactorizedBlockImpl(int64_t dim, int64_t heads, double mlp_ratio);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& c, const TokenGrid& g) const;  // spatial layout
};

// models/latte.py FinalLayer; `tube_frames` > 1: each token predicts tube_frames·p²·C_out values.
struct FinalLayerImpl : torch::nn::Module {
  std::shared_ptr<nn::LinearImpl> linear, ada;
  FinalLayerImpl(int64_t dim, int64_t patch, int64_t out_channels, int64_t tube_frames = 1);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& c) const;  // x [B·G, L, D], c [B, D]
};

}  // namespace longvid::latte_detail
