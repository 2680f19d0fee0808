// Latte-1 (diffusers LatteTransformer3DModel); see backbones/latte_t2v.h.
#include "backbones/latte_t2v.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "backbones/nn_blocks.h"
#include "core/error.h"

namespace longvid {

using at::Tensor;

LatteT2VConfig LatteT2VConfig::from_json(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail("{}: not a JSON config ({})", origin, e.what());
  }
  if (!j.is_object()) fail("{}: not a JSON config object", origin);
  LatteT2VConfig c;
  auto get = [&](const char* k, auto& v) {
    if (!j.contains(k) || j[k].is_null()) return;
    try {
      v = j[k].get<std::decay_t<decltype(v)>>();
    } catch (const std::exception&) {
      fail("{}: '{}' has the wrong type", origin, k);
    }
  };
  get("num_attention_heads", c.num_attention_heads);
  get("attention_head_dim", c.attention_head_dim);
  get("in_channels", c.in_channels);
  c.out_channels = c.in_channels;  // diffusers: out_channels None -> in_channels
  get("out_channels", c.out_channels);
  get("num_layers", c.num_layers);
  get("cross_attention_dim", c.cross_attention_dim);
  get("sample_size", c.sample_size);
  get("patch_size", c.patch_size);
  get("caption_channels", c.caption_channels);
  get("video_length", c.video_length);
  get("attention_bias", c.attention_bias);
  get("norm_eps", c.norm_eps);
  get("activation_fn", c.activation_fn);
  get("norm_type", c.norm_type);
  get("norm_elementwise_affine", c.norm_elementwise_affine);
  get("num_embeds_ada_norm", c.num_embeds_ada_norm);
  c.validate();
  return c;
}

void LatteT2VConfig::validate() const {
  if (norm_type != "ada_norm_single")
    fail("Latte-1: norm_type '{}' is not supported (the released model uses ada_norm_single)", norm_type);
  if (activation_fn != "gelu-approximate")
    fail("Latte-1: activation_fn '{}' is not supported (gelu-approximate)", activation_fn);
  if (norm_elementwise_affine) fail("Latte-1: norm_elementwise_affine true is not supported");
  if (num_attention_heads < 1 || attention_head_dim < 1 || num_layers < 1 || patch_size < 1 || in_channels < 1 ||
      out_channels < 1 || caption_channels < 1 || cross_attention_dim < 1 || sample_size < patch_size ||
      video_length < 1)
    fail("Latte-1: invalid config (heads {}, head dim {}, layers {}, patch {}, channels {}/{}, caption {})",
         num_attention_heads, attention_head_dim, num_layers, patch_size, in_channels, out_channels,
         caption_channels);
  if (inner_dim() % 4 != 0) fail("Latte-1: the width {} must be a multiple of 4 (2D sin-cos table)", inner_dim());
  if (cross_attention_dim != inner_dim())
    fail("Latte-1: cross_attention_dim {} must equal the width {} (the caption is projected to it)",
         cross_attention_dim, inner_dim());
}

namespace latte_t2v_detail {

// diffusers Attention (AttnProcessor2_0): to_q / to_k / to_v (+bias), softmax(q k^T / sqrt(d)) v, to_out.0.
struct AttnImpl : torch::nn::Module {
  std::shared_ptr<nn::LinearImpl> to_q, to_k, to_v, out;
  int64_t heads;
  AttnImpl(int64_t dim, int64_t kv_dim, int64_t heads_, int64_t head_dim, bool bias) : heads(heads_) {
    const int64_t inner = heads_ * head_dim;
    to_q = register_module("to_q", std::make_shared<nn::LinearImpl>(dim, inner, bias));
    to_k = register_module("to_k", std::make_shared<nn::LinearImpl>(kv_dim, inner, bias));
    to_v = register_module("to_v", std::make_shared<nn::LinearImpl>(kv_dim, inner, bias));
    out = nn::container(*this, "to_out")->register_module("0", std::make_shared<nn::LinearImpl>(inner, dim, true));
  }
  Tensor forward(const Tensor& x, const Tensor& ctx) const {
    const Tensor& kv = ctx.defined() ? ctx : x;
    return out->forward(nn::attention(to_q->forward(x), to_k->forward(kv), to_v->forward(kv), heads));
  }
};

// BasicTransformerBlock, norm_type "ada_norm_single" (PixArt-α / Latte).
struct BlockImpl : torch::nn::Module {
  std::shared_ptr<AttnImpl> attn1, attn2;
  std::shared_ptr<nn::LinearImpl> ff_in, ff_out;
  std::shared_ptr<nn::LayerNormImpl> norm;  // norm1 = norm2: LayerNorm without affine (no parameters)
  Tensor scale_shift_table;                 // (6, D)
  BlockImpl(const LatteT2VConfig& c, bool cross) {
    const int64_t D = c.inner_dim();
    attn1 = register_module("attn1", std::make_shared<AttnImpl>(D, D, c.num_attention_heads, c.attention_head_dim,
                                                                c.attention_bias));
    if (cross)
      attn2 = register_module("attn2", std::make_shared<AttnImpl>(D, c.cross_attention_dim, c.num_attention_heads,
                                                                  c.attention_head_dim, c.attention_bias));
    auto net = nn::container(*nn::container(*this, "ff"), "net");
    ff_in = nn::container(*net, "0")->register_module("proj", std::make_shared<nn::LinearImpl>(D, 4 * D, true));
    ff_out = net->register_module("2", std::make_shared<nn::LinearImpl>(4 * D, D, true));
    norm = std::make_shared<nn::LayerNormImpl>(D, c.norm_eps, false);
    scale_shift_table = register_parameter("scale_shift_table", nn::normal_init({6, D}, 0.0, 1.0 / std::sqrt(double(D))));
  }
  // x [N, L, D]; t6 [N, 6D]; ctx [N, Lc, D] or undefined.
  Tensor forward(Tensor x, const Tensor& t6, const Tensor& ctx) const {
    const int64_t N = x.size(0), D = x.size(2);
    auto mod = (scale_shift_table.unsqueeze(0) + t6.reshape({N, 6, D})).chunk(6, 1);  // each [N, 1, D]
    const Tensor &shift_msa = mod[0], &scale_msa = mod[1], &gate_msa = mod[2], &shift_mlp = mod[3],
                 &scale_mlp = mod[4], &gate_mlp = mod[5];
    Tensor h = norm->forward(x) * (1 + scale_msa) + shift_msa;
    x = x + gate_msa * attn1->forward(h, {});
    if (attn2) x = x + attn2->forward(x, ctx);  // PixArt: no norm before the cross-attention
    h = norm->forward(x) * (1 + scale_mlp) + shift_mlp;
    return x + gate_mlp * ff_out->forward(at::gelu(ff_in->forward(h), "tanh"));
  }
};

}  // namespace latte_t2v_detail

using latte_t2v_detail::BlockImpl;

struct LatteT2VImpl::Parts {
  std::shared_ptr<nn::ConvImpl> patch;
  Tensor pos_embed;  // [1, P, D] (a non-persistent buffer in diffusers: not in checkpoints)
  std::shared_ptr<nn::LinearImpl> t_lin1, t_lin2, t_mod, cap1, cap2, proj_out;
  Tensor scale_shift_table;  // (2, D)
  std::shared_ptr<nn::LayerNormImpl> norm_out;
};

namespace {
// PatchEmbed's table: diffusers embeddings.get_2d_sincos_pos_embed(D, grid, base_size, interpolation_scale):
// coordinates arange(grid) / (grid / base_size) / interpolation_scale in float32, the sin-cos in
// float64, then float32.
Tensor pixart_pos_embed(int64_t D, int64_t gh, int64_t gw, int64_t base_size, double interpolation_scale) {
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  Tensor rows = (at::arange(gh, f32) / (float(gh) / float(base_size)) / float(interpolation_scale)).to(at::kDouble);
  Tensor cols = (at::arange(gw, f32) / (float(gw) / float(base_size)) / float(interpolation_scale)).to(at::kDouble);
  // token r·gw + c = [1d(D/2, col c), 1d(D/2, row r)] (meshgrid(grid_w, grid_h) puts the column first)
  Tensor c_grid = cols.repeat({gh}), r_grid = rows.repeat_interleave(gw);
  return at::cat({nn::sincos_pos_embed_1d(D / 2, c_grid), nn::sincos_pos_embed_1d(D / 2, r_grid)}, 1)
      .to(at::kFloat);
}
}  // namespace

LatteT2VImpl::LatteT2VImpl(LatteT2VConfig cfg, at::Device device) : cfg_(std::move(cfg)), p_(std::make_shared<Parts>()) {
  cfg_.validate();
  nn::ParamOptionsScope scope(device);
  const auto& c = cfg_;
  const int64_t D = c.inner_dim(), p = c.patch_size;
  auto pe = nn::container(*this, "pos_embed");
  p_->patch = pe->register_module("proj", std::make_shared<nn::ConvImpl>(c.in_channels, D, std::vector<int64_t>{p, p},
                                                                         std::vector<int64_t>{p, p},
                                                                         std::vector<int64_t>{0, 0}));
  const int64_t grid = c.sample_size / p;
  const double interp = std::max<int64_t>(c.sample_size / 64, 1);
  p_->pos_embed = pixart_pos_embed(D, grid, grid, grid, interp).to(nn::param_options().device()).unsqueeze(0);
  auto blocks = nn::container(*this, "transformer_blocks");
  auto tblocks = nn::container(*this, "temporal_transformer_blocks");
  for (int64_t i = 0; i < c.num_layers; ++i) {
    spatial_.push_back(blocks->register_module(std::to_string(i), std::make_shared<BlockImpl>(c, true)));
    temporal_.push_back(tblocks->register_module(std::to_string(i), std::make_shared<BlockImpl>(c, false)));
  }
  p_->norm_out = std::make_shared<nn::LayerNormImpl>(D, 1e-6, false);
  p_->scale_shift_table =
      register_parameter("scale_shift_table", nn::normal_init({2, D}, 0.0, 1.0 / std::sqrt(double(D))));
  p_->proj_out = register_module("proj_out", std::make_shared<nn::LinearImpl>(D, p * p * c.out_channels, true));
  auto ada = nn::container(*this, "adaln_single");
  auto temb = nn::container(*nn::container(*ada, "emb"), "timestep_embedder");
  p_->t_lin1 = temb->register_module("linear_1", std::make_shared<nn::LinearImpl>(256, D, true));
  p_->t_lin2 = temb->register_module("linear_2", std::make_shared<nn::LinearImpl>(D, D, true));
  p_->t_mod = ada->register_module("linear", std::make_shared<nn::LinearImpl>(D, 6 * D, true));
  auto cap = nn::container(*this, "caption_projection");
  p_->cap1 = cap->register_module("linear_1", std::make_shared<nn::LinearImpl>(c.caption_channels, D, true));
  p_->cap2 = cap->register_module("linear_2", std::make_shared<nn::LinearImpl>(D, D, true));
}

int64_t LatteT2VImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& t : parameters()) n += t.numel();
  return n;
}

Tensor LatteT2VImpl::forward(const Tensor& x, const Tensor& timestep, const Tensor& caption, bool temporal) {
  const auto& c = cfg_;
  if (x.dim() != 5 || x.size(1) != c.in_channels)
    fail("Latte-1: input must be [B, {}, F, H, W], got {}", c.in_channels, c10::str(x.sizes()));
  const int64_t B = x.size(0), F = x.size(2), H = x.size(3), W = x.size(4), p = c.patch_size, D = c.inner_dim();
  if (H % p != 0 || W % p != 0) fail("Latte-1: latent {}x{} is not divisible by the patch size {}", H, W, p);
  if (!caption.defined() || caption.dim() != 3 || caption.size(0) != B || caption.size(2) != c.caption_channels)
    fail("Latte-1: the caption embedding must be [B={}, L, {}], got {}", B, c.caption_channels,
         caption.defined() ? c10::str(caption.sizes()) : std::string("none"));
  const int64_t gh = H / p, gw = W / p, P = gh * gw;
  // (B, C, F, H, W) -> (B·F, C, H, W) -> patches (B·F, P, D) + the 2D table.
  // In the weights' dtype (bf16 / fp16 after nn::cast_for_inference); the output is the input's dtype.
  const Tensor xw = x.to(p_->patch->weight.scalar_type());
  Tensor h = p_->patch->forward(xw.permute({0, 2, 1, 3, 4}).reshape({B * F, c.in_channels, H, W}));
  h = h.flatten(2).transpose(1, 2);
  Tensor pos = p_->pos_embed;
  if (gh != c.sample_size / p || gw != c.sample_size / p) {  // PatchEmbed.forward: another latent size
    const double interp = std::max<int64_t>(c.sample_size / 64, 1);
    pos = pixart_pos_embed(D, gh, gw, c.sample_size / p, interp).unsqueeze(0);
  }
  h = h + pos.to(h.options());
  // adaln_single: embedded timestep (D) and the 6D modulation.
  Tensor t_freq = nn::timestep_embedding(timestep.reshape({-1}).expand({B}), 256).to(h.scalar_type());
  Tensor emb_t = p_->t_lin2->forward(at::silu(p_->t_lin1->forward(t_freq)));
  Tensor t6 = p_->t_mod->forward(at::silu(emb_t));
  Tensor cap = p_->cap2->forward(at::gelu(p_->cap1->forward(caption.to(h.scalar_type())), "tanh"));
  Tensor cap_spatial = cap.repeat_interleave(F, 0);
  Tensor t6_spatial = t6.repeat_interleave(F, 0), t6_temp = t6.repeat_interleave(P, 0);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    h = spatial_[size_t(i)]->forward(h, t6_spatial, cap_spatial);
    if (!temporal) continue;
    h = h.reshape({B, F, P, D}).permute({0, 2, 1, 3}).reshape({B * P, F, D});
    if (i == 0 && F > 1)
      h = h + nn::sincos_pos_embed_1d(D, at::arange(F, at::TensorOptions().dtype(at::kLong)))
                  .to(h.options())
                  .unsqueeze(0);
    h = temporal_[size_t(i)]->forward(h, t6_temp, {});
    h = h.reshape({B, P, F, D}).permute({0, 2, 1, 3}).reshape({B * F, P, D});
  }
  auto ss = (p_->scale_shift_table.unsqueeze(0) + emb_t.repeat_interleave(F, 0).unsqueeze(1)).chunk(2, 1);
  h = p_->norm_out->forward(h) * (1 + ss[1]) + ss[0];
  h = p_->proj_out->forward(h);  // (B·F, P, p·p·C)
  const int64_t Co = c.out_channels;
  h = h.reshape({B * F, gh, gw, p, p, Co}).permute({0, 5, 1, 3, 2, 4}).reshape({B, F, Co, H, W});
  return h.permute({0, 2, 1, 3, 4}).contiguous().to(x.scalar_type());
}

Tensor LatteT2VDenoiser::forward(const Tensor& x_t, const Tensor& t, const Conditioning& c) {
  if (c.mask.defined() && c.mask.ne(0).any().item<bool>())
    fail("Latte-1 denoiser: the model takes no frame-mask conditioning");
  if (!c.context.defined()) fail("Latte-1 denoiser: needs the prompt's T5 embedding (Conditioning.context)");
  const int64_t B = x_t.size(0);
  Tensor ctx = c.context.size(0) == B ? c.context : c.context.expand({B, c.context.size(1), c.context.size(2)});
  return net_->forward(x_t, t.dim() == 0 ? t.expand({B}) : t, ctx);
}

}  // namespace longvid
