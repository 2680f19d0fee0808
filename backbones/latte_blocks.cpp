// Latte blocks — see latte_blocks.h.
#include "backbones/latte_blocks.h"

#include "core/error.h"

namespace longvid::latte_detail {

using at::Tensor;
using nn::LinearImpl;

Tensor modulate(const Tensor& x, const Tensor& shift, const Tensor& scale) {
  return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

Tensor layer_norm(const Tensor& x) {
  if (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, 1e-6).to(x.scalar_type());  // cast_for_inference
}

Tensor to_temporal(const Tensor& x, const TokenGrid& g) {
  return x.reshape({g.B, g.F, g.P, x.size(-1)}).transpose(1, 2).reshape({g.B * g.P, g.F, x.size(-1)});
}
Tensor to_spatial(const Tensor& x, const TokenGrid& g) {
  return x.reshape({g.B, g.P, g.F, x.size(-1)}).transpose(1, 2).reshape({g.B * g.F, g.P, x.size(-1)});
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads_) : heads(heads_) {
  qkv = register_module("qkv", std::make_shared<LinearImpl>(dim, 3 * dim));
  proj = register_module("proj", std::make_shared<LinearImpl>(dim, dim));
}

Tensor AttentionImpl::forward(const Tensor& x) const {
  const int64_t N = x.size(0), L = x.size(1), C = x.size(2);
  auto q = qkv->forward(x).reshape({N, L, 3, heads, C / heads}).permute({2, 0, 3, 1, 4});
  auto o = nn::attention_heads(q[0], q[1], q[2]);  // [N, h, L, d]
  return proj->forward(o.transpose(1, 2).reshape({N, L, C}));
}

Tensor AttentionImpl::forward_split(const Tensor& x, const TokenGrid& g) const {
  const int64_t C = x.size(2), d = C / heads, hs = heads / 2, ht = heads - hs;
  // [B·F, P, 3, h, d] -> the spatial heads over P, the temporal heads over F.
  auto q = qkv->forward(x).reshape({g.B * g.F, g.P, 3, heads, d});
  auto qs = q.narrow(3, 0, hs).permute({2, 0, 3, 1, 4});                         // [3, B·F, hs, P, d]
  auto os = nn::attention_heads(qs[0], qs[1], qs[2]).transpose(1, 2);             // [B·F, P, hs, d]
  auto qt = q.narrow(3, hs, ht).reshape({g.B, g.F, g.P, 3, ht, d}).permute({3, 0, 2, 4, 1, 5})
                .reshape({3, g.B * g.P, ht, g.F, d});                             // [3, B·P, ht, F, d]
  auto ot = nn::attention_heads(qt[0], qt[1], qt[2])                              // [B·P, ht, F, d]
                .reshape({g.B, g.P, ht, g.F, d}).permute({0, 3, 1, 2, 4}).reshape({g.B * g.F, g.P, ht, d});
  return proj->forward(at::cat({os, ot}, 2).reshape({g.B * g.F, g.P, C}));
}

BlockImpl::BlockImpl(int64_t dim, int64_t heads, double mlp_ratio) {
  attn = register_module("attn", std::make_shared<AttentionImpl>(dim, heads));
  mlp = register_module("mlp", std::make_shared<nn::MlpImpl>(dim, static_cast<int64_t>(dim * mlp_ratio)));
  ada = nn::container(*this, "adaLN_modulation")->register_module("1", std::make_shared<LinearImpl>(dim, 6 * dim));
}

Tensor BlockImpl::forward(const Tensor& x, const Tensor& c, const TokenGrid* split) const {
  const int64_t B = c.size(0), BG = x.size(0), L = x.size(1), D = x.size(2);
  auto mod = ada->forward(at::silu(c)).chunk(6, 1);
  auto grouped = [&](const Tensor& v) { return v.reshape({B, BG / B * L, D}); };
  auto h = modulate(grouped(layer_norm(x)), mod[0], mod[1]).reshape({BG, L, D});
  auto a = split ? attn->forward_split(h, *split) : attn->forward(h);
  auto y = grouped(x) + mod[2].unsqueeze(1) * grouped(a);
  h = modulate(layer_norm(y), mod[3], mod[4]);
  y = y + mod[5].unsqueeze(1) * mlp->forward(h);
  return y.reshape({BG, L, D});
}

FactorizedBlockImpl::FactorizedBlockImpl(int64_t dim, int64_t heads, double mlp_ratio) {
  attn = register_module("attn", std::make_shared<AttentionImpl>(dim, heads));
  attn_temp = register_module("attn_temp", std::make_shared<AttentionImpl>(dim, heads));
  mlp = register_module("mlp", std::make_shared<nn::MlpImpl>(dim, static_cast<int64_t>(dim * mlp_ratio)));
  ada = nn::container(*this, "adaLN_modulation")->register_module("1", std::make_shared<LinearImpl>(dim, 9 * dim));
}

Tensor FactorizedBlockImpl::forward(const Tensor& x, const Tensor& c, const TokenGrid& g) const {
  const int64_t B = c.size(0), D = x.size(2);
  auto mod = ada->forward(at::silu(c)).chunk(9, 1);
  auto flat = [&](const Tensor& v) { return v.reshape({B, -1, D}); };  // per-sample rows, any layout
  // spatial attention over the patches of each frame
  auto h = modulate(flat(layer_norm(x)), mod[0], mod[1]).reshape(x.sizes());
  auto y = flat(x) + mod[2].unsqueeze(1) * flat(attn->forward(h));
  // temporal attention over the frames of each patch
  auto yt = to_temporal(y.reshape(x.sizes()), g);
  h = modulate(flat(layer_norm(yt)), mod[3], mod[4]).reshape(yt.sizes());
  yt = flat(yt) + mod[5].unsqueeze(1) * flat(attn_temp->forward(h));
  y = flat(to_spatial(yt.reshape({g.B * g.P, g.F, D}), g));
  // MLP
  h = modulate(layer_norm(y), mod[6], mod[7]);
  y = y + mod[8].unsqueeze(1) * mlp->forward(h);
  return y.reshape(x.sizes());
}

FinalLayerImpl::FinalLayerImpl(int64_t dim, int64_t patch, int64_t out_channels, int64_t tube_frames) {
  linear = register_module("linear", std::make_shared<LinearImpl>(dim, tube_frames * patch * patch * out_channels));
  ada = nn::container(*this, "adaLN_modulation")->register_module("1", std::make_shared<LinearImpl>(dim, 2 * dim));
}

Tensor FinalLayerImpl::forward(const Tensor& x, const Tensor& c) const {
  const int64_t B = c.size(0), BG = x.size(0), L = x.size(1), D = x.size(2);
  auto mod = ada->forward(at::silu(c)).chunk(2, 1);
  auto h = modulate(layer_norm(x).reshape({B, BG / B * L, D}), mod[0], mod[1]).reshape({BG, L, D});
  return linear->forward(h);
}

}  // namespace longvid::latte_detail
