// LVDM-specific blocks of LvdmUNet3D — see lvdm_unet3d_blocks.h. Every block names the official class
// it reproduces (lvdm/models/modules/openaimodel3d.py, lvdm/models/modules/attention_temporal.py).
#include "backbones/lvdm_unet3d_blocks.h"

#include <cmath>

#include "backbones/nn_blocks.h"
#include "core/error.h"

namespace longvid::lvdm_detail {

using at::Tensor;
using nn::container;
using nn::ConvImpl;
using nn::GroupNormImpl;
using nn::LayerNormImpl;
using nn::LinearImpl;
using nn::p_empty;
using torch::nn::Module;

Tensor nonlinearity(const Tensor& x, const std::string& type) {
  if (type == "leaky_relu") return at::leaky_relu(x, 0.01);
  return at::silu(x);
}

namespace {

struct ConvLayerImpl : LayerImpl {
  std::shared_ptr<ConvImpl> conv;
  ConvLayerImpl(int64_t cin, int64_t cout, int64_t kt, int64_t pt) {
    // Register the conv's tensors on this module itself so the names stay "<i>.0.weight".
    conv = std::make_shared<ConvImpl>(cin, cout, std::vector<int64_t>{kt, 3, 3}, std::vector<int64_t>{1, 1, 1},
                                      std::vector<int64_t>{pt, 1, 1});
    conv->weight = register_parameter("weight", conv->weight, false);
    conv->bias = register_parameter("bias", conv->bias, false);
  }
  Tensor run(const Tensor& x, const Tensor&, const Tensor&) override { return conv->forward(x); }
};

// openaimodel3d.Upsample: nearest ×2 in H, W (T kept), optional conv (kernel (kt,3,3), padding (pt,1,1)).
struct UpsampleImpl : LayerImpl {
  std::shared_ptr<ConvImpl> conv;
  int64_t channels;
  UpsampleImpl(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt) : channels(ch) {
    if (use_conv)
      conv = register_module("conv", std::make_shared<ConvImpl>(ch, out_ch, std::vector<int64_t>{kt, 3, 3},
                                                                std::vector<int64_t>{1, 1, 1},
                                                                std::vector<int64_t>{pt, 1, 1}));
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = at::upsample_nearest3d(x, {x.size(2), x.size(3) * 2, x.size(4) * 2}, std::nullopt, std::nullopt,
                                      std::nullopt);
    return conv ? conv->forward(h) : h;
  }
  Tensor run(const Tensor& x, const Tensor&, const Tensor&) override { return forward(x); }
};

// openaimodel3d.Downsample: conv stride (1,2,2) ("op"), or avg pool (1,2,2) without conv.
struct DownsampleImpl : LayerImpl {
  std::shared_ptr<ConvImpl> op;
  DownsampleImpl(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt) {
    if (use_conv)
      op = register_module("op", std::make_shared<ConvImpl>(ch, out_ch, std::vector<int64_t>{kt, 3, 3},
                                                            std::vector<int64_t>{1, 2, 2},
                                                            std::vector<int64_t>{pt, 1, 1}));
  }
  Tensor forward(const Tensor& x) const {
    if (op) return op->forward(x);
    // ATen has no bf16 avg_pool3d on the CPU: a cast model (nn::cast_for_inference) pools in float32.
    if (nn::is_reduced_float(x.scalar_type()) && x.device().is_cpu())
      return at::avg_pool3d(x.to(at::kFloat), {1, 2, 2}, {1, 2, 2}).to(x.scalar_type());
    return at::avg_pool3d(x, {1, 2, 2}, {1, 2, 2});
  }
  Tensor run(const Tensor& x, const Tensor&, const Tensor&) override { return forward(x); }
};

// openaimodel3d.ResBlock.
struct ResBlockImpl : LayerImpl {
  std::shared_ptr<GroupNormImpl> in_norm, out_norm;
  std::shared_ptr<ConvImpl> in_conv, out_conv, skip;
  std::shared_ptr<LinearImpl> emb_lin;
  std::shared_ptr<UpsampleImpl> h_up, x_up;
  std::shared_ptr<DownsampleImpl> h_down, x_down;
  bool scale_shift;
  std::string act;

  ResBlockImpl(int64_t ch, int64_t emb_ch, int64_t out_ch, bool use_conv, bool scale_shift_, bool up, bool down,
               int64_t kt, int64_t pt, std::string act_)
      : scale_shift(scale_shift_), act(std::move(act_)) {
    out_ch = out_ch > 0 ? out_ch : ch;
    const std::vector<int64_t> k{kt, 3, 3}, s{1, 1, 1}, p{pt, 1, 1};
    auto in_layers = container(*this, "in_layers");  // [GroupNorm32, act, conv]
    in_norm = in_layers->register_module("0", std::make_shared<GroupNormImpl>(ch, 1e-5, true));
    in_conv = in_layers->register_module("2", std::make_shared<ConvImpl>(ch, out_ch, k, s, p));
    // h_upd / x_upd have no parameters.
    if (up) {
      h_up = std::make_shared<UpsampleImpl>(ch, false, ch, kt, pt);
      x_up = std::make_shared<UpsampleImpl>(ch, false, ch, kt, pt);
    } else if (down) {
      h_down = std::make_shared<DownsampleImpl>(ch, false, ch, kt, pt);
      x_down = std::make_shared<DownsampleImpl>(ch, false, ch, kt, pt);
    }
    auto emb_layers = container(*this, "emb_layers");  // [act, linear]
    emb_lin = emb_layers->register_module("1",
                                          std::make_shared<LinearImpl>(emb_ch, scale_shift ? 2 * out_ch : out_ch));
    auto out_layers = container(*this, "out_layers");  // [GroupNorm32, act, Dropout, zero conv]
    out_norm = out_layers->register_module("0", std::make_shared<GroupNormImpl>(out_ch, 1e-5, true));
    out_conv = out_layers->register_module("3", std::make_shared<ConvImpl>(out_ch, out_ch, k, s, p, true));
    if (out_ch != ch) {
      if (use_conv)
        skip = register_module("skip_connection", std::make_shared<ConvImpl>(ch, out_ch, k, s, p));
      else
        skip = register_module("skip_connection",
                               std::make_shared<ConvImpl>(ch, out_ch, std::vector<int64_t>{1, 1, 1},
                                                          std::vector<int64_t>{1, 1, 1},
                                                          std::vector<int64_t>{0, 0, 0}));
    }
  }

  Tensor run(const Tensor& x_in, const Tensor& emb, const Tensor&) override {
    Tensor x = x_in, h;
    if (h_up || h_down) {
      h = nonlinearity(in_norm->forward(x), act);
      h = h_up ? h_up->forward(h) : h_down->forward(h);
      x = x_up ? x_up->forward(x) : x_down->forward(x);
      h = in_conv->forward(h);
    } else {
      h = in_conv->forward(nonlinearity(in_norm->forward(x), act));
    }
    Tensor emb_out = emb_lin->forward(nonlinearity(emb, act)).to(h.scalar_type());
    if (emb_out.dim() == 3) emb_out = emb_out.permute({0, 2, 1});  // b t c -> b c t
    while (emb_out.dim() < h.dim()) emb_out = emb_out.unsqueeze(-1);
    if (scale_shift) {
      auto ss = emb_out.chunk(2, 1);
      h = out_norm->forward(h) * (1 + ss[0]) + ss[1];
      h = out_conv->forward(nonlinearity(h, act));
    } else {
      h = h + emb_out;
      h = out_conv->forward(nonlinearity(out_norm->forward(h), act));
    }
    return (skip ? skip->forward(x) : x) + h;
  }
};

// attention_temporal.RelativePosition: table (2L+1, num_units); forward(lq, lk)[q, k] = table[clamp(k-q)+L].
struct RelativePositionImpl : Module {
  int64_t max_rel;
  Tensor embeddings_table;
  RelativePositionImpl(int64_t num_units, int64_t max_relative_position) : max_rel(max_relative_position) {
    const double b = std::sqrt(6.0 / static_cast<double>(2 * max_rel + 1 + num_units));  // xavier_uniform_
    embeddings_table =
        register_parameter("embeddings_table", p_empty({2 * max_rel + 1, num_units}).uniform_(-b, b), false);
  }
  Tensor forward(int64_t lq, int64_t lk) const {
    auto dev = embeddings_table.device();
    Tensor rq = at::arange(lq, at::TensorOptions().dtype(at::kLong).device(dev));
    Tensor rk = at::arange(lk, at::TensorOptions().dtype(at::kLong).device(dev));
    Tensor d = at::clamp(rk.unsqueeze(0) - rq.unsqueeze(1), -max_rel, max_rel) + max_rel;
    return embeddings_table.index({d});  // [lq, lk, units]
  }
};

// attention_temporal.QKVAttention ("new order": qkv split before heads), with q and k each scaled by
// ch^-1/4. qkv [bs, 3*H*ch, L] -> [bs, H*ch, L]. rp = (k_rp, v_rp), each [L, L, ch].
Tensor qkv_attention(const Tensor& qkv, int64_t n_heads, const Tensor& k_rp, const Tensor& v_rp) {
  const int64_t bs = qkv.size(0), width = qkv.size(1), length = qkv.size(2);
  if (width % (3 * n_heads) != 0) fail("LVDM U-Net: attention width {} not divisible by 3*{} heads", width, n_heads);
  const int64_t ch = width / (3 * n_heads);
  auto parts = qkv.chunk(3, 1);
  if (!k_rp.defined() && !v_rp.defined()) {
    // No relative positions: (q ch^-1/4) · (k ch^-1/4) = q · k ch^-1/2, SDPA's default scale.
    // [bs, H*ch, L] -> [bs, H, L, ch] (copied to unit stride by attention_heads: the fused kernel) and back.
    auto heads = [&](const Tensor& t) { return t.view({bs, n_heads, ch, length}).transpose(2, 3); };
    Tensor a = nn::attention_heads(heads(parts[0]), heads(parts[1]), heads(parts[2]));
    return a.transpose(2, 3).reshape({bs, -1, length});
  }
  // Relative positions: the explicit math of the reference (the value term needs the attention weights).
  const double scale = 1.0 / std::sqrt(std::sqrt(static_cast<double>(ch)));
  Tensor q = (parts[0] * scale).view({bs * n_heads, ch, length});
  Tensor k = (parts[1] * scale).view({bs * n_heads, ch, length});
  Tensor weight = at::bmm(q.transpose(1, 2), k);  // "bct,bcs->bts"
  if (k_rp.defined()) {
    // QUIRK (LVDM relative-position key term, reproduced on purpose): the official einsum
    // 'bct,tsc->bst' adds q_t · table[s-t+L] at logit[s, t], i.e. TRANSPOSED:
    //   logit[i, j] += q_j · table[i-j+L] · ch^-1/4        (only q carries the ch^-1/4 scale)
    Tensor w2 = at::bmm(q.permute({2, 0, 1}), k_rp.transpose(1, 2));  // [t, b, s] = q_t · k_rp[t, s]
    weight = weight + w2.permute({1, 2, 0});                          // -> [b, s, t]
  }
  weight = at::softmax(weight.to(at::kFloat), -1).to(weight.scalar_type());
  Tensor v = parts[2].reshape({bs * n_heads, ch, length});
  Tensor a = at::bmm(v, weight.transpose(1, 2));  // "bts,bcs->bct"
  if (v_rp.defined()) {
    // Value term in the normal orientation: a[b, c, t] += sum_s w[b, t, s] v_rp[t, s, c].
    Tensor a2 = at::bmm(weight.permute({1, 0, 2}), v_rp);  // [t, b, c]
    a = a + a2.permute({1, 2, 0});
  }
  return a.reshape({bs, -1, length});
}

// attention_temporal.STAttentionBlock: spatial attention over (b t) c (h w), then temporal over (b h w) c t.
struct STAttentionBlockImpl : LayerImpl {
  int64_t num_heads;
  std::shared_ptr<GroupNormImpl> norm_s, norm_t;
  std::shared_ptr<ConvImpl> qkv_s, qkv_t, proj_out_s, proj_out_t;
  std::shared_ptr<RelativePositionImpl> rel_k, rel_v;

  STAttentionBlockImpl(int64_t channels, int64_t heads, int64_t head_channels, int64_t temporal_length,
                       bool use_relative_position) {
    if (head_channels == -1) {
      num_heads = heads;
    } else {
      if (channels % head_channels != 0)
        fail("LVDM U-Net: attention channels {} not divisible by num_head_channels {}", channels, head_channels);
      num_heads = channels / head_channels;
    }
    if (num_heads <= 0) fail("LVDM U-Net: num_heads must be set (got {})", num_heads);
    const std::vector<int64_t> k1{1}, s1{1}, p0{0};
    norm_s = register_module("norm_s", std::make_shared<GroupNormImpl>(channels, 1e-5, true));
    norm_t = register_module("norm_t", std::make_shared<GroupNormImpl>(channels, 1e-5, true));
    qkv_s = register_module("qkv_s", std::make_shared<ConvImpl>(channels, channels * 3, k1, s1, p0));
    qkv_t = register_module("qkv_t", std::make_shared<ConvImpl>(channels, channels * 3, k1, s1, p0));
    if (use_relative_position) {
      if (temporal_length < 0) fail("LVDM U-Net: use_relative_position needs temporal_length");
      rel_k = register_module("relative_position_k",
                              std::make_shared<RelativePositionImpl>(channels / num_heads, temporal_length));
      rel_v = register_module("relative_position_v",
                              std::make_shared<RelativePositionImpl>(channels / num_heads, temporal_length));
    }
    proj_out_s = register_module("proj_out_s", std::make_shared<ConvImpl>(channels, channels, k1, s1, p0, true));
    proj_out_t = register_module("proj_out_t", std::make_shared<ConvImpl>(channels, channels, k1, s1, p0, true));
  }

  Tensor run(const Tensor& x_in, const Tensor&, const Tensor&) override {
    const int64_t b = x_in.size(0), c = x_in.size(1), t = x_in.size(2), h = x_in.size(3), w = x_in.size(4);
    // spatial: b c t h w -> (b t) c (h w)
    Tensor out = x_in.permute({0, 2, 1, 3, 4}).reshape({b * t, c, h * w});
    out = proj_out_s->forward(qkv_attention(qkv_s->forward(norm_s->forward(out)), num_heads, {}, {}));
    Tensor x = x_in + out.view({b, t, c, h, w}).permute({0, 2, 1, 3, 4});
    // temporal: b c t h w -> (b h w) c t
    out = x.permute({0, 3, 4, 1, 2}).reshape({b * h * w, c, t});
    Tensor qkv = qkv_t->forward(norm_t->forward(out));
    Tensor k_rp, v_rp;
    if (rel_k) {
      k_rp = rel_k->forward(t, t);
      v_rp = rel_v->forward(t, t);
    }
    out = proj_out_t->forward(qkv_attention(qkv, num_heads, k_rp, v_rp));
    return x + out.view({b, h, w, c, t}).permute({0, 3, 4, 1, 2});
  }
};

// ---- T2V: attention_temporal.SpatialTemporalTransformer / BasicTransformerBlockST ------------------

// attention_temporal.CrossAttention (also MemoryEfficientCrossAttention: same parameters, same math).
struct CrossAttentionImpl : Module {
  int64_t heads, dim_head;
  double scale;
  std::shared_ptr<LinearImpl> to_q, to_k, to_v, to_out;
  CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads_, int64_t dim_head_)
      : heads(heads_), dim_head(dim_head_), scale(std::pow(static_cast<double>(dim_head_), -0.5)) {
    const int64_t inner = heads * dim_head;
    if (context_dim <= 0) context_dim = query_dim;
    to_q = register_module("to_q", std::make_shared<LinearImpl>(query_dim, inner, false));
    to_k = register_module("to_k", std::make_shared<LinearImpl>(context_dim, inner, false));
    to_v = register_module("to_v", std::make_shared<LinearImpl>(context_dim, inner, false));
    auto out = container(*this, "to_out");  // [Linear, Dropout]
    to_out = out->register_module("0", std::make_shared<LinearImpl>(inner, query_dim));
  }
  // 'b n (h d) -> (b h) n d'
  Tensor split(const Tensor& t) const {
    return t.view({t.size(0), t.size(1), heads, dim_head}).permute({0, 2, 1, 3}).reshape(
        {t.size(0) * heads, t.size(1), dim_head});
  }
  Tensor merge(const Tensor& t, int64_t b) const {
    return t.view({b, heads, t.size(1), dim_head}).permute({0, 2, 1, 3}).reshape({b, t.size(1), heads * dim_head});
  }
  Tensor forward(const Tensor& x, const Tensor& context) const {
    const Tensor& ctx = context.defined() ? context : x;
    // softmax(q k^T * dim_head^-1/2) v per head, through SDPA.
    return to_out->forward(nn::attention(to_q->forward(x), to_k->forward(ctx), to_v->forward(ctx), heads));
  }
};

// attention_temporal.TemporalCrossAttention (self-attention over t, relative positions in the normal
// orientation here: sim[i, j] += q_i · table[j-i+L] · d^-1/2).
struct TemporalCrossAttentionImpl : CrossAttentionImpl {
  std::shared_ptr<RelativePositionImpl> rel_k, rel_v;
  TemporalCrossAttentionImpl(int64_t query_dim, int64_t heads_, int64_t dim_head_, int64_t temporal_length,
                             bool use_relative_position)
      : CrossAttentionImpl(query_dim, -1, heads_, dim_head_) {
    if (use_relative_position) {
      if (temporal_length < 0) fail("LVDM U-Net: use_relative_position needs temporal_length");
      rel_k = register_module("relative_position_k",
                              std::make_shared<RelativePositionImpl>(dim_head_, temporal_length));
      rel_v = register_module("relative_position_v",
                              std::make_shared<RelativePositionImpl>(dim_head_, temporal_length));
    }
  }
  Tensor forward(const Tensor& x) const {
    if (!rel_k) return CrossAttentionImpl::forward(x, {});  // plain self-attention over t
    // Relative positions: the explicit math of the reference (the value term needs the attention weights).
    Tensor q = split(to_q->forward(x)), k = split(to_k->forward(x)), v = split(to_v->forward(x));
    Tensor sim = at::bmm(q, k.transpose(1, 2)) * scale;
    const int64_t n = q.size(1);
    Tensor k2 = rel_k->forward(n, n);                                       // [t, s, d]
    Tensor sim2 = at::bmm(q.transpose(0, 1), k2.transpose(1, 2)) * scale;  // [t, b, s]
    sim = sim + sim2.transpose(0, 1);
    Tensor attn = at::softmax(sim, -1, at::kFloat).to(sim.scalar_type());  // float32 softmax, as SDPA's
    Tensor out = at::bmm(attn, v);
    Tensor v2 = rel_v->forward(n, n);                              // [t, s, d]
    out = out + at::bmm(attn.transpose(0, 1), v2).transpose(0, 1);  // 'b t s, t s d -> b t d'
    return to_out->forward(merge(out, x.size(0)));
  }
};

// attention_temporal.BasicTransformerBlockST.
struct BasicTransformerBlockSTImpl : Module {
  std::shared_ptr<CrossAttentionImpl> attn1, attn2;
  std::shared_ptr<TemporalCrossAttentionImpl> attn1_tmp, attn2_tmp;
  std::shared_ptr<LinearImpl> ff_in, ff_out;
  std::shared_ptr<LayerNormImpl> norm1, norm2, norm3, norm4, norm5;
  BasicTransformerBlockSTImpl(int64_t dim, int64_t n_heads, int64_t d_head, int64_t context_dim,
                              int64_t temporal_length, bool use_relative_position) {
    attn1 = register_module("attn1", std::make_shared<CrossAttentionImpl>(dim, -1, n_heads, d_head));
    attn2 = register_module("attn2", std::make_shared<CrossAttentionImpl>(dim, context_dim, n_heads, d_head));
    // FeedForward(dim, glu=True): net = [GEGLU(proj: dim -> 2*4dim), Dropout, Linear(4dim -> dim)]
    auto ff = container(*this, "ff");
    auto net = container(*ff, "net");
    auto geglu = container(*net, "0");
    ff_in = geglu->register_module("proj", std::make_shared<LinearImpl>(dim, dim * 4 * 2));
    ff_out = net->register_module("2", std::make_shared<LinearImpl>(dim * 4, dim));
    norm1 = register_module("norm1", std::make_shared<LayerNormImpl>(dim));
    norm2 = register_module("norm2", std::make_shared<LayerNormImpl>(dim));
    norm3 = register_module("norm3", std::make_shared<LayerNormImpl>(dim));
    attn1_tmp = register_module("attn1_tmp", std::make_shared<TemporalCrossAttentionImpl>(
                                                 dim, n_heads, d_head, temporal_length, use_relative_position));
    attn2_tmp = register_module("attn2_tmp", std::make_shared<TemporalCrossAttentionImpl>(
                                                 dim, n_heads, d_head, temporal_length, use_relative_position));
    norm4 = register_module("norm4", std::make_shared<LayerNormImpl>(dim));
    norm5 = register_module("norm5", std::make_shared<LayerNormImpl>(dim));
  }
  Tensor forward(const Tensor& x_in, const Tensor& context) const {
    const int64_t b = x_in.size(0), c = x_in.size(1), t = x_in.size(2), h = x_in.size(3), w = x_in.size(4);
    // spatial self attention: b c t h w -> (b t) (h w) c
    Tensor x = x_in.permute({0, 2, 3, 4, 1}).reshape({b * t, h * w, c});
    x = attn1->forward(norm1->forward(x), {}) + x;
    // temporal self attention: (b t) (h w) c -> (b h w) t c
    x = x.view({b, t, h * w, c}).permute({0, 2, 1, 3}).reshape({b * h * w, t, c});
    x = attn1_tmp->forward(norm4->forward(x)) + x;
    // spatial cross attention; context repeated per frame: [b, L, D] -> [(b t), L, D]
    x = x.view({b, h * w, t, c}).permute({0, 2, 1, 3}).reshape({b * t, h * w, c});
    Tensor ctx;
    if (context.defined()) ctx = context.repeat_interleave(t, 0);
    x = attn2->forward(norm2->forward(x), ctx) + x;
    // temporal self attention (the official "temporal cross attention" with context=None)
    x = x.view({b, t, h * w, c}).permute({0, 2, 1, 3}).reshape({b * h * w, t, c});
    x = attn2_tmp->forward(norm5->forward(x)) + x;
    // GEGLU feed-forward
    auto xg = ff_in->forward(norm3->forward(x)).chunk(2, -1);
    x = ff_out->forward(xg[0] * at::gelu(xg[1])) + x;
    return x.view({b, h, w, t, c}).permute({0, 4, 3, 1, 2});  // (b h w) t c -> b c t h w
  }
};

// attention_temporal.SpatialTemporalTransformer.
struct SpatialTemporalTransformerImpl : LayerImpl {
  std::shared_ptr<GroupNormImpl> norm;
  std::shared_ptr<ConvImpl> proj_in, proj_out;
  std::vector<std::shared_ptr<BasicTransformerBlockSTImpl>> blocks;
  SpatialTemporalTransformerImpl(int64_t in_channels, int64_t n_heads, int64_t d_head, int64_t depth,
                                 int64_t context_dim, int64_t temporal_length, bool use_relative_position) {
    const int64_t inner = n_heads * d_head;
    const std::vector<int64_t> k{1, 1, 1}, s{1, 1, 1}, p{0, 0, 0};
    norm = register_module("norm", std::make_shared<GroupNormImpl>(in_channels, 1e-6, false));  // Normalize()
    proj_in = register_module("proj_in", std::make_shared<ConvImpl>(in_channels, inner, k, s, p));
    auto list = container(*this, "transformer_blocks");
    for (int64_t d = 0; d < depth; ++d)
      blocks.push_back(list->register_module(
          std::to_string(d), std::make_shared<BasicTransformerBlockSTImpl>(inner, n_heads, d_head, context_dim,
                                                                           temporal_length, use_relative_position)));
    proj_out = register_module("proj_out", std::make_shared<ConvImpl>(inner, in_channels, k, s, p, true));
  }
  Tensor run(const Tensor& x_in, const Tensor&, const Tensor& context) override {
    Tensor x = proj_in->forward(norm->forward(x_in));
    for (auto& blk : blocks) x = blk->forward(x, context);
    return proj_out->forward(x) + x_in;
  }
};

// openaimodel3d.TimestepEmbedSequential: children named "0", "1", ...

}  // namespace

void TimestepSeqImpl::add(std::shared_ptr<LayerImpl> layer) {
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
}

Tensor TimestepSeqImpl::forward(Tensor x, const Tensor& emb, const Tensor& context) {
  for (auto& l : layers_) x = l->run(x, emb, context);
  return x;
}

std::shared_ptr<LayerImpl> make_input_conv(int64_t cin, int64_t cout, int64_t kt, int64_t pt) {
  return std::make_shared<ConvLayerImpl>(cin, cout, kt, pt);
}
std::shared_ptr<LayerImpl> make_resblock(int64_t ch, int64_t emb_ch, int64_t out_ch, bool use_conv, bool scale_shift,
                                         bool up, bool down, int64_t kt, int64_t pt, const std::string& act) {
  return std::make_shared<ResBlockImpl>(ch, emb_ch, out_ch, use_conv, scale_shift, up, down, kt, pt, act);
}
std::shared_ptr<LayerImpl> make_downsample(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt) {
  return std::make_shared<DownsampleImpl>(ch, use_conv, out_ch, kt, pt);
}
std::shared_ptr<LayerImpl> make_upsample(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt) {
  return std::make_shared<UpsampleImpl>(ch, use_conv, out_ch, kt, pt);
}
std::shared_ptr<LayerImpl> make_st_attention_block(int64_t channels, int64_t heads, int64_t head_channels,
                                                   int64_t temporal_length, bool use_relative_position) {
  return std::make_shared<STAttentionBlockImpl>(channels, heads, head_channels, temporal_length,
                                                use_relative_position);
}
std::shared_ptr<LayerImpl> make_spatial_temporal_transformer(int64_t in_channels, int64_t n_heads, int64_t d_head,
                                                             int64_t depth, int64_t context_dim,
                                                             int64_t temporal_length, bool use_relative_position) {
  return std::make_shared<SpatialTemporalTransformerImpl>(in_channels, n_heads, d_head, depth, context_dim,
                                                          temporal_length, use_relative_position);
}

}  // namespace longvid::lvdm_detail
