// Shared building blocks — see nn_blocks.h. Every block names the reference it reproduces.
#include "backbones/nn_blocks.h"

#include <algorithm>
#include <cmath>

#include "core/conv.h"
#include "core/linear.h"
#include "core/error.h"

namespace longvid::nn {

using at::Tensor;

// ---- parameter creation ----------------------------------------------------------------------------

at::TensorOptions& param_options() {
  thread_local at::TensorOptions opts = at::TensorOptions().dtype(at::kFloat);
  return opts;
}

namespace {
bool& init_flag() {
  thread_local bool init = true;
  return init;
}
}  // namespace

bool param_init() { return init_flag(); }

ParamOptionsScope::ParamOptionsScope(at::Device device, at::ScalarType dtype, bool init)
    : saved_(param_options()), saved_init_(init_flag()) {
  param_options() = at::TensorOptions().dtype(dtype).device(device);
  init_flag() = init;
}
ParamOptionsScope::~ParamOptionsScope() {
  param_options() = saved_;
  init_flag() = saved_init_;
}

Tensor p_empty(at::IntArrayRef shape) { return at::empty(shape, param_options()); }
Tensor p_zeros(at::IntArrayRef shape) { return at::zeros(shape, param_options()); }
Tensor p_ones(at::IntArrayRef shape) { return at::ones(shape, param_options()); }

Tensor uniform_init(at::IntArrayRef shape, int64_t fan_in) {
  const double b = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  Tensor t = p_empty(shape);
  return param_init() ? t.uniform_(-b, b) : t;
}

Tensor normal_init(at::IntArrayRef shape, double mean, double std) {
  Tensor t = p_empty(shape);
  return param_init() ? t.normal_(mean, std) : t;
}

std::shared_ptr<torch::nn::Module> container(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

// ---- layers ------------------------------------------------------------------------------------------

// torch.nn.Conv1d/2d/3d (padding_mode "zeros", dilation 1, groups 1).
ConvImpl::ConvImpl(int64_t cin, int64_t cout, std::vector<int64_t> kernel, std::vector<int64_t> stride_,
                   std::vector<int64_t> padding_, bool zero)
    : stride(std::move(stride_)), padding(std::move(padding_)) {
  if (kernel.empty() || kernel.size() > 3 || stride.size() != kernel.size() || padding.size() != kernel.size())
    fail("Conv: kernel, stride and padding must all have 1, 2 or 3 entries (got {}, {}, {})", kernel.size(),
         stride.size(), padding.size());
  int64_t fan_in = cin;
  std::vector<int64_t> shape{cout, cin};
  for (auto k : kernel) {
    shape.push_back(k);
    fan_in *= k;
  }
  weight = register_parameter("weight", zero ? p_zeros(shape) : uniform_init(shape, fan_in), false);
  bias = register_parameter("bias", zero ? p_zeros({cout}) : uniform_init({cout}, fan_in), false);
}

Tensor ConvImpl::forward(const Tensor& x) const {
  switch (stride.size()) {
    case 1: return at::conv1d(x, weight, bias, stride, padding);
    case 2: return at::conv2d(x, weight, bias, stride, padding);
    default: return longvid::conv3d(x, weight, bias, stride, padding, packed.get());
  }
}

int64_t prepack_convs(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& m : module.modules(/*include_self=*/true))
    if (auto* c = dynamic_cast<ConvImpl*>(m.get()); c && c->stride.size() == 3)
      n += prepack_conv3d(*c->packed, c->weight, c->stride, c->padding) ? 1 : 0;
  return n;
}

// torch.nn.Linear.
LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", uniform_init({out, in}, in), false);
  if (with_bias) bias = register_parameter("bias", uniform_init({out}, in), false);
}

Tensor LinearImpl::forward(const Tensor& x) const { return longvid::linear(x, weight, bias); }

// torch.nn.GroupNorm; GroupNorm32 of lvdm/models/modules/util.py (guided-diffusion nn.py):
// `super().forward(x.float()).type(x.dtype)`.
GroupNormImpl::GroupNormImpl(int64_t channels, double eps_, bool fp32_, int64_t groups_)
    : groups(groups_), eps(eps_), fp32(fp32_) {
  if (groups <= 0 || channels % groups != 0)
    fail("GroupNorm({}, {}): the channels are not divisible by the groups", groups, channels);
  weight = register_parameter("weight", p_ones({channels}), false);
  bias = register_parameter("bias", p_zeros({channels}), false);
}

Tensor GroupNormImpl::forward(const Tensor& x) const {
  // A reduced-precision input (a model cast by cast_for_inference, whose norm weights stay float32)
  // is normalised in float32 too, as GroupNorm32 does.
  if (!fp32 && x.scalar_type() == weight.scalar_type()) return at::group_norm(x, groups, weight, bias, eps);
  // On the CPU, ATen's kernel takes a bf16 / fp16 input with float32 weights and computes the
  // statistics and the affine in float32 itself (mixed type): the same math without the two casts.
  if (x.device().is_cpu() && is_reduced_float(x.scalar_type()) && weight.scalar_type() == at::kFloat)
    return at::group_norm(x, groups, weight, bias, eps);
  return at::group_norm(x.to(at::kFloat), groups, weight.to(at::kFloat), bias.to(at::kFloat), eps)
      .to(x.scalar_type());
}

// torch.nn.LayerNorm(dim, eps, elementwise_affine).
LayerNormImpl::LayerNormImpl(int64_t dim_, double eps_, bool elementwise_affine) : dim(dim_), eps(eps_) {
  if (elementwise_affine) {
    weight = register_parameter("weight", p_ones({dim}), false);
    bias = register_parameter("bias", p_zeros({dim}), false);
  }
}

Tensor LayerNormImpl::forward(const Tensor& x) const {
  if (!is_reduced_float(x.scalar_type())) return at::layer_norm(x, {dim}, weight, bias, eps);
  // bf16 / fp16 activations (cast_for_inference): normalised in float32, then cast back.
  return at::layer_norm(x.to(at::kFloat), {dim}, weight.defined() ? weight.to(at::kFloat) : weight,
                        bias.defined() ? bias.to(at::kFloat) : bias, eps)
      .to(x.scalar_type());
}

bool is_reduced_float(at::ScalarType t) { return t == at::kBFloat16 || t == at::kHalf; }

int64_t cast_for_inference(torch::nn::Module& module, at::ScalarType dtype) {
  if (!is_reduced_float(dtype)) return 0;
  int64_t n = 0;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    // Norms keep float32 weights (and normalise in float32): the layers the reference keeps in
    // float32 (guided-diffusion's convert_module_to_f16 converts convolutions only; GroupNorm32).
    if (dynamic_cast<GroupNormImpl*>(m.get()) || dynamic_cast<LayerNormImpl*>(m.get())) continue;
    for (auto& p : m->named_parameters(/*recurse=*/false)) {
      at::Tensor t = p.value();
      if (!t.is_floating_point() || t.scalar_type() == dtype) continue;
      t.set_data(t.to(dtype));
      n += t.numel();
    }
    for (auto& b : m->named_buffers(/*recurse=*/false)) {
      at::Tensor t = b.value();
      if (t.is_floating_point() && t.scalar_type() != dtype) t.set_data(t.to(dtype));
    }
  }
  return n;
}

// timm/layers/mlp.py `Mlp` with act_layer = lambda: nn.GELU(approximate="tanh") (DiT models.py, Latte
// models/latte.py TransformerBlock.mlp); drop and norm are identities.
MlpImpl::MlpImpl(int64_t in_features, int64_t hidden_features, int64_t out_features) {
  if (out_features <= 0) out_features = in_features;
  fc1 = register_module("fc1", std::make_shared<LinearImpl>(in_features, hidden_features));
  fc2 = register_module("fc2", std::make_shared<LinearImpl>(hidden_features, out_features));
}

Tensor MlpImpl::forward(const Tensor& x) const { return fc2->forward(at::gelu(fc1->forward(x), "tanh")); }

// ---- functions -------------------------------------------------------------------------------------

// lvdm/models/modules/util.py `timestep_embedding` (= DiT models.py TimestepEmbedder.timestep_embedding):
//   freqs = exp(-log(max_period) * arange(half, float32) / half); args = t[:, None].float() * freqs[None]
//   cat([cos(args), sin(args)]) (+ a zero column for odd dim)
// diffusers embeddings.py get_timestep_embedding: the divisor is half - downscale_freq_shift, args are
// multiplied by `scale`, the halves are [sin, cos] unless flip_sin_to_cos.
Tensor timestep_embedding(const Tensor& timesteps, int64_t dim, const TimestepEmbeddingOptions& o) {
  if (!timesteps.defined() || timesteps.dim() != 1) fail("timestep_embedding: timesteps must be [N]");
  const int64_t half = dim / 2;
  // Same op order as the references, all in float32 (an integer divisor as in LVDM/DiT).
  Tensor exponent = -std::log(o.max_period) * at::arange(0, half, at::TensorOptions().dtype(at::kFloat));
  Tensor freqs = o.downscale_freq_shift == 0.0 ? exponent / half
                                               : exponent / (static_cast<double>(half) - o.downscale_freq_shift);
  freqs = at::exp(freqs).to(timesteps.device());
  Tensor args = timesteps.unsqueeze(1).to(at::kFloat) * freqs.unsqueeze(0);
  if (o.scale != 1.0) args = args * o.scale;
  Tensor emb = o.cos_first ? at::cat({at::cos(args), at::sin(args)}, -1) : at::cat({at::sin(args), at::cos(args)}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

Tensor attention_heads(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       std::optional<double> scale) {
  std::optional<Tensor> m;
  if (mask.defined())  // an additive mask in the compute dtype (SDPA's requirement; bf16 after cast_for_inference)
    m = mask.is_floating_point() && mask.scalar_type() != q.scalar_type() ? mask.to(q.scalar_type()) : mask;
  // The fused CPU kernel (flash attention: blockwise, float accumulation, no Lq x Lk matrix) needs a unit
  // stride in the last dimension; otherwise SDPA falls back to its math path, which is 1.5-4x slower than the
  // fused kernel at L >= 256 and slower than plain bmm/softmax/bmm too (measured on the U-Net's layouts).
  auto unit = [](const Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); };
  return at::scaled_dot_product_attention(unit(q), unit(k), unit(v), m, /*dropout_p=*/0.0, /*is_causal=*/false,
                                          scale);
}

// attention_temporal.CrossAttention / DiT-timm Attention core: 'b n (h d) -> b h n d', softmax(q k^T * scale) v,
// 'b h n d -> b n (h d)'.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& mask,
                 std::optional<double> scale) {
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    fail("attention: q, k, v must be [B, L, heads*D] (got {}, {}, {} dims)", q.dim(), k.dim(), v.dim());
  const int64_t b = q.size(0), lq = q.size(1), lk = k.size(1);
  if (heads <= 0 || q.size(2) % heads != 0 || k.size(2) != q.size(2) || v.size(2) % heads != 0)
    fail("attention: widths q {}, k {}, v {} do not split into {} heads", q.size(2), k.size(2), v.size(2), heads);
  const int64_t d = q.size(2) / heads, dv = v.size(2) / heads;
  Tensor out = attention_heads(q.view({b, lq, heads, d}).transpose(1, 2), k.view({b, lk, heads, d}).transpose(1, 2),
                               v.view({b, lk, heads, dv}).transpose(1, 2), mask, scale);
  return out.transpose(1, 2).reshape({b, lq, heads * dv});
}

// MAE util/pos_embed.py get_1d_sincos_pos_embed_from_grid (float64, as numpy):
//   omega = arange(D/2) / (D/2.); omega = 1 / 10000**omega; out = outer(pos, omega); [sin(out), cos(out)]
Tensor sincos_pos_embed_1d(int64_t embed_dim, const Tensor& pos) {
  if (embed_dim <= 0 || embed_dim % 2 != 0) fail("sin-cos position table: embed_dim {} must be even", embed_dim);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Tensor omega = at::arange(embed_dim / 2, f64) / (static_cast<double>(embed_dim) / 2.0);
  omega = 1.0 / at::pow(10000.0, omega);
  Tensor out = at::outer(pos.reshape(-1).to(at::kDouble).cpu(), omega);
  return at::cat({at::sin(out), at::cos(out)}, 1);
}

// MAE util/pos_embed.py get_2d_sincos_pos_embed (DiT's copy adds extra_tokens): grid = meshgrid(grid_w, grid_h)
// (column first); emb = [1d(D/2, grid[0] = column), 1d(D/2, grid[1] = row)]; zero rows for cls/extra tokens.
Tensor sincos_pos_embed_2d(int64_t embed_dim, int64_t grid_h, int64_t grid_w, int64_t extra_tokens) {
  if (embed_dim <= 0 || embed_dim % 4 != 0)
    fail("2d sin-cos position table: embed_dim {} must be a multiple of 4", embed_dim);
  if (grid_h <= 0 || grid_w <= 0 || extra_tokens < 0)
    fail("2d sin-cos position table: bad grid {}x{} (extra tokens {})", grid_h, grid_w, extra_tokens);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  Tensor col = at::arange(grid_w, f64).view({1, grid_w}).expand({grid_h, grid_w});
  Tensor row = at::arange(grid_h, f64).view({grid_h, 1}).expand({grid_h, grid_w});
  Tensor emb = at::cat({sincos_pos_embed_1d(embed_dim / 2, col), sincos_pos_embed_1d(embed_dim / 2, row)}, 1);
  if (extra_tokens > 0) emb = at::cat({at::zeros({extra_tokens, embed_dim}, f64), emb}, 0);
  return emb;
}

}  // namespace longvid::nn
