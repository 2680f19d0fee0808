// LvdmUNet3D — see lvdm_unet3d.h. Every block below names the official class it reproduces.
#include "backbones/lvdm_unet3d.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

namespace {
std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
}  // namespace

// ================================================================================================
// Config
// ================================================================================================
namespace {

// Small YAML reader; to be switched to core/config.h once it lands.
template <typename T>
T yaml_get(const YAML::Node& n, const std::string& key, const T& fallback, const std::string& where) {
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return fallback;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    fail("{}: model.params.unet_config.params.{}: unexpected value '{}'", where, key, YAML::Dump(v));
  }
}

std::vector<int64_t> yaml_ints(const YAML::Node& n, const std::string& key, const std::vector<int64_t>& fallback,
                               const std::string& where) {
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return fallback;
  if (!v.IsSequence()) fail("{}: model.params.unet_config.params.{}: expected a list", where, key);
  std::vector<int64_t> out;
  for (const auto& e : v) {
    try {
      out.push_back(e.as<int64_t>());
    } catch (const YAML::Exception&) {
      fail("{}: model.params.unet_config.params.{}: expected integers", where, key);
    }
  }
  return out;
}

LvdmUNetConfig config_from_node(const YAML::Node& root, const std::string& where) {
  const YAML::Node model = root["model"];
  const YAML::Node params = model ? model["params"] : YAML::Node();
  const YAML::Node unet = params ? params["unet_config"] : YAML::Node();
  const YAML::Node p = unet ? unet["params"] : YAML::Node();
  if (!p || !p.IsMap()) fail("{}: no model.params.unet_config.params (not an LVDM diffusion config?)", where);
  const std::string target = unet["target"] ? unet["target"].as<std::string>() : std::string();
  if (!target.empty() && target.find("openaimodel3d.") == std::string::npos)
    fail("{}: model.params.unet_config.target '{}' is not an LVDM openaimodel3d U-Net", where, target);

  LvdmUNetConfig c;
  c.in_channels = yaml_get<int64_t>(p, "in_channels", c.in_channels, where);
  c.model_channels = yaml_get<int64_t>(p, "model_channels", c.model_channels, where);
  c.out_channels = yaml_get<int64_t>(p, "out_channels", c.out_channels, where);
  c.num_res_blocks = yaml_get<int64_t>(p, "num_res_blocks", c.num_res_blocks, where);
  c.attention_resolutions = yaml_ints(p, "attention_resolutions", c.attention_resolutions, where);
  c.channel_mult = yaml_ints(p, "channel_mult", c.channel_mult, where);
  c.conv_resample = yaml_get<bool>(p, "conv_resample", c.conv_resample, where);
  c.dims = yaml_get<int64_t>(p, "dims", c.dims, where);
  c.num_classes = yaml_get<int64_t>(p, "num_classes", c.num_classes, where);
  c.num_heads = yaml_get<int64_t>(p, "num_heads", c.num_heads, where);
  c.num_head_channels = yaml_get<int64_t>(p, "num_head_channels", c.num_head_channels, where);
  c.use_scale_shift_norm = yaml_get<bool>(p, "use_scale_shift_norm", c.use_scale_shift_norm, where);
  c.resblock_updown = yaml_get<bool>(p, "resblock_updown", c.resblock_updown, where);
  c.transformer_depth = yaml_get<int64_t>(p, "transformer_depth", c.transformer_depth, where);
  c.context_dim = yaml_get<int64_t>(p, "context_dim", c.context_dim, where);
  c.legacy = yaml_get<bool>(p, "legacy", c.legacy, where);
  c.kernel_size_t = yaml_get<int64_t>(p, "kernel_size_t", c.kernel_size_t, where);
  c.padding_t = yaml_get<int64_t>(p, "padding_t", c.padding_t, where);
  c.use_temporal_transformer = yaml_get<bool>(p, "use_temporal_transformer", c.use_temporal_transformer, where);
  c.temporal_length = yaml_get<int64_t>(p, "temporal_length", c.temporal_length, where);
  c.use_relative_position = yaml_get<bool>(p, "use_relative_position", c.use_relative_position, where);
  c.nonlinearity_type = yaml_get<std::string>(p, "nonlinearity_type", c.nonlinearity_type, where);
  if (p["cond_aug_mode"] && !p["cond_aug_mode"].IsNull())
    fail("{}: model.params.unet_config.params.cond_aug_mode is not supported (only the default None)", where);
  if (p["ST_transformer_class"] && p["ST_transformer_class"].as<std::string>() != "SpatialTemporalTransformer")
    fail("{}: model.params.unet_config.params.ST_transformer_class '{}' is not supported", where,
         p["ST_transformer_class"].as<std::string>());
  if (params["conditioning_key"] && !params["conditioning_key"].IsNull())
    c.conditioning_key = params["conditioning_key"].as<std::string>();
  return c;
}

}  // namespace

LvdmUNetConfig LvdmUNetConfig::from_yaml_file(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot open config", path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return from_yaml_string(ss.str(), path.string());
}

LvdmUNetConfig LvdmUNetConfig::from_yaml_string(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: YAML parse error: {}", origin, e.what());
  }
  return config_from_node(root, origin);
}

// ================================================================================================
// Building blocks (parameters registered with the official names; forward with at:: functionals)
// ================================================================================================
namespace lvdm_detail {

using at::Tensor;
using torch::nn::Module;

// A plain container module, for nn.Sequential parents whose children are not all parameterised.
std::shared_ptr<Module> container(Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<Module>());
}

// Where parameters are created while a LvdmUNet3DImpl is being constructed (CPU, or meta to count).
thread_local at::TensorOptions t_opts = at::TensorOptions().dtype(at::kFloat);
Tensor p_empty(at::IntArrayRef shape) { return torch::empty(shape, t_opts); }
Tensor p_zeros(at::IntArrayRef shape) { return torch::zeros(shape, t_opts); }
Tensor p_ones(at::IntArrayRef shape) { return torch::ones(shape, t_opts); }

// Parameters are initialised like PyTorch's defaults (uniform ±1/sqrt(fan_in)); loading replaces them.
Tensor uniform_init(std::vector<int64_t> shape, int64_t fan_in) {
  const double b = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  return p_empty(shape).uniform_(-b, b);
}

// nn.Conv1d / nn.Conv3d (with bias).
struct ConvImpl : Module {
  std::vector<int64_t> stride, padding;
  Tensor weight, bias;
  ConvImpl(int64_t cin, int64_t cout, std::vector<int64_t> kernel, std::vector<int64_t> stride_,
           std::vector<int64_t> padding_, bool zero = false)
      : stride(std::move(stride_)), padding(std::move(padding_)) {
    int64_t fan_in = cin;
    std::vector<int64_t> shape{cout, cin};
    for (auto k : kernel) {
      shape.push_back(k);
      fan_in *= k;
    }
    weight = register_parameter("weight", zero ? p_zeros(shape) : uniform_init(shape, fan_in), false);
    bias = register_parameter("bias", zero ? p_zeros({cout}) : uniform_init({cout}, fan_in), false);
  }
  Tensor forward(const Tensor& x) const {
    if (stride.size() == 1) return at::conv1d(x, weight, bias, stride, padding);
    return at::conv3d(x, weight, bias, stride, padding);
  }
};

// nn.Linear.
struct LinearImpl : Module {
  Tensor weight, bias;
  LinearImpl(int64_t in, int64_t out, bool with_bias = true) {
    weight = register_parameter("weight", uniform_init({out, in}, in), false);
    if (with_bias) bias = register_parameter("bias", uniform_init({out}, in), false);
  }
  Tensor forward(const Tensor& x) const { return at::linear(x, weight, bias); }
};

// nn.GroupNorm(32, C); `fp32` = GroupNorm32 (util.py: computes in float32, casts back).
struct GroupNormImpl : Module {
  int64_t groups;
  double eps;
  bool fp32;
  Tensor weight, bias;
  GroupNormImpl(int64_t channels, double eps_, bool fp32_, int64_t groups_ = 32)
      : groups(groups_), eps(eps_), fp32(fp32_) {
    if (channels % groups != 0)
      fail("LVDM U-Net: GroupNorm({}, {}): channels not divisible by groups (model_channels must be a multiple of 32)",
           groups, channels);
    weight = register_parameter("weight", p_ones({channels}), false);
    bias = register_parameter("bias", p_zeros({channels}), false);
  }
  Tensor forward(const Tensor& x) const {
    if (!fp32) return at::group_norm(x, groups, weight, bias, eps);
    return at::group_norm(x.to(at::kFloat), groups, weight.to(at::kFloat), bias.to(at::kFloat), eps)
        .to(x.scalar_type());
  }
};

// nn.LayerNorm(dim) (eps 1e-5, affine).
struct LayerNormImpl : Module {
  Tensor weight, bias;
  explicit LayerNormImpl(int64_t dim) {
    weight = register_parameter("weight", p_ones({dim}), false);
    bias = register_parameter("bias", p_zeros({dim}), false);
  }
  Tensor forward(const Tensor& x) const { return at::layer_norm(x, {weight.size(0)}, weight, bias, 1e-5); }
};

Tensor nonlinearity(const Tensor& x, const std::string& type) {
  if (type == "leaky_relu") return at::leaky_relu(x, 0.01);
  return at::silu(x);
}

// Anything that can sit in a TimestepEmbedSequential.
struct LayerImpl : Module {
  virtual Tensor run(const Tensor& x, const Tensor& emb, const Tensor& context) = 0;
};

// A bare conv in a TimestepEmbedSequential (input_blocks.0.0): parameters directly "weight"/"bias".
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
    Tensor q = split(to_q->forward(x)), k = split(to_k->forward(ctx)), v = split(to_v->forward(ctx));
    Tensor sim = at::bmm(q, k.transpose(1, 2)) * scale;
    Tensor attn = at::softmax(sim, -1);
    return to_out->forward(merge(at::bmm(attn, v), x.size(0)));
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
      rel_k = register_module("relative_position_k", std::make_shared<RelativePositionImpl>(dim_head_, temporal_length));
      rel_v = register_module("relative_position_v", std::make_shared<RelativePositionImpl>(dim_head_, temporal_length));
    }
  }
  Tensor forward(const Tensor& x) const {
    Tensor q = split(to_q->forward(x)), k = split(to_k->forward(x)), v = split(to_v->forward(x));
    Tensor sim = at::bmm(q, k.transpose(1, 2)) * scale;
    const int64_t n = q.size(1);
    if (rel_k) {
      Tensor k2 = rel_k->forward(n, n);                                       // [t, s, d]
      Tensor sim2 = at::bmm(q.transpose(0, 1), k2.transpose(1, 2)) * scale;  // [t, b, s]
      sim = sim + sim2.transpose(0, 1);
    }
    Tensor attn = at::softmax(sim, -1);
    Tensor out = at::bmm(attn, v);
    if (rel_v) {
      Tensor v2 = rel_v->forward(n, n);                              // [t, s, d]
      out = out + at::bmm(attn.transpose(0, 1), v2).transpose(0, 1);  // 'b t s, t s d -> b t d'
    }
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
class TimestepSeqImpl : public Module {
 public:
  void add(std::shared_ptr<LayerImpl> layer) {
    layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
  }
  Tensor forward(Tensor x, const Tensor& emb, const Tensor& context) {
    for (auto& l : layers_) x = l->run(x, emb, context);
    return x;
  }

 private:
  std::vector<std::shared_ptr<LayerImpl>> layers_;
};

}  // namespace lvdm_detail

// ================================================================================================
// UNetModel
// ================================================================================================
using namespace lvdm_detail;

at::Tensor lvdm_timestep_embedding(const at::Tensor& timesteps, int64_t dim, double max_period) {
  const int64_t half = dim / 2;
  // Same op order as util.timestep_embedding, all in float32.
  at::Tensor freqs = at::exp(-std::log(max_period) * at::arange(0, half, at::TensorOptions().dtype(at::kFloat)) /
                             half)
                         .to(timesteps.device());
  at::Tensor args = timesteps.unsqueeze(1).to(at::kFloat) * freqs.unsqueeze(0);
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

LvdmUNet3DImpl::LvdmUNet3DImpl(LvdmUNetConfig cfg, at::Device device) : cfg_(std::move(cfg)) {
  struct OptsScope {
    at::TensorOptions saved = t_opts;
    explicit OptsScope(at::Device d) { t_opts = at::TensorOptions().dtype(at::kFloat).device(d); }
    ~OptsScope() { t_opts = saved; }
  } opts_scope(device);
  const auto& c = cfg_;
  if (c.dims != 3) fail("LVDM U-Net: dims {} is not supported (only 3)", c.dims);
  if (c.use_temporal_transformer && c.context_dim <= 0)
    fail("LVDM U-Net: use_temporal_transformer needs context_dim");
  if (c.context_dim > 0 && !c.use_temporal_transformer)
    fail("LVDM U-Net: context_dim is set but use_temporal_transformer is false");
  if (c.num_heads == -1 && c.num_head_channels == -1)
    fail("LVDM U-Net: either num_heads or num_head_channels has to be set");
  if (c.channel_mult.empty()) fail("LVDM U-Net: channel_mult is empty");
  if (c.nonlinearity_type != "silu" && c.nonlinearity_type != "leaky_relu")
    fail("LVDM U-Net: nonlinearity_type '{}' is not supported", c.nonlinearity_type);

  const int64_t mc = c.model_channels, ted = c.time_embed_dim(), kt = c.kernel_size_t, pt = c.padding_t;
  auto te = container(*this, "time_embed");  // [Linear, act, Linear]
  te->register_module("0", std::make_shared<LinearImpl>(mc, ted));
  te->register_module("2", std::make_shared<LinearImpl>(ted, ted));
  time_embed_ = te;
  if (c.num_classes > 0) {
    auto le = container(*this, "label_emb");  // nn.Embedding: N(0,1) init
    label_emb_ = le->register_parameter("weight", p_empty({c.num_classes, ted}).normal_(), false);
  }

  auto input_list = register_module("input_blocks", torch::nn::ModuleList());
  auto output_list = register_module("output_blocks", torch::nn::ModuleList());
  auto new_seq = [&](torch::nn::ModuleListImpl& list, std::vector<std::shared_ptr<TimestepSeqImpl>>& v) {
    auto s = std::make_shared<TimestepSeqImpl>();
    list.push_back(s);
    v.push_back(s);
    return s;
  };
  auto resblock = [&](int64_t ch, int64_t out_ch, bool up, bool down) {
    return std::make_shared<ResBlockImpl>(ch, ted, out_ch, false, c.use_scale_shift_norm, up, down, kt, pt,
                                          c.nonlinearity_type);
  };
  // The official head-count bookkeeping, including its mutation of num_heads when num_head_channels is set.
  int64_t num_heads = c.num_heads;
  auto attention = [&](int64_t ch) -> std::shared_ptr<LayerImpl> {
    int64_t dim_head;
    if (c.num_head_channels == -1) {
      dim_head = ch / num_heads;
    } else {
      num_heads = ch / c.num_head_channels;
      dim_head = c.num_head_channels;
    }
    if (c.legacy) dim_head = c.use_temporal_transformer ? ch / num_heads : c.num_head_channels;
    if (!c.use_temporal_transformer)
      return std::make_shared<STAttentionBlockImpl>(ch, num_heads, dim_head, c.temporal_length,
                                                    c.use_relative_position);
    return std::make_shared<SpatialTemporalTransformerImpl>(ch, num_heads, dim_head, c.transformer_depth,
                                                            c.context_dim, c.temporal_length,
                                                            c.use_relative_position);
  };
  auto has_attn = [&](int64_t ds) {
    return std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), ds) !=
           c.attention_resolutions.end();
  };

  new_seq(*input_list, input_blocks_)->add(std::make_shared<ConvLayerImpl>(c.in_channels, mc, kt, pt));
  std::vector<int64_t> input_block_chans{mc};
  int64_t ch = mc, ds = 1;
  const int64_t levels = static_cast<int64_t>(c.channel_mult.size());
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t mult = c.channel_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      auto seq = new_seq(*input_list, input_blocks_);
      seq->add(resblock(ch, mult * mc, false, false));
      ch = mult * mc;
      if (has_attn(ds)) seq->add(attention(ch));
      input_block_chans.push_back(ch);
    }
    if (level != levels - 1) {
      auto seq = new_seq(*input_list, input_blocks_);
      if (c.resblock_updown)
        seq->add(resblock(ch, ch, false, true));
      else
        seq->add(std::make_shared<DownsampleImpl>(ch, c.conv_resample, ch, kt, pt));
      input_block_chans.push_back(ch);
      ds *= 2;
    }
  }

  middle_block_ = register_module("middle_block", std::make_shared<TimestepSeqImpl>());
  middle_block_->add(resblock(ch, ch, false, false));
  middle_block_->add(attention(ch));
  middle_block_->add(resblock(ch, ch, false, false));

  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t mult = c.channel_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks + 1; ++i) {
      const int64_t ich = input_block_chans.back();
      input_block_chans.pop_back();
      auto seq = new_seq(*output_list, output_blocks_);
      seq->add(resblock(ch + ich, mc * mult, false, false));
      ch = mc * mult;
      if (has_attn(ds)) seq->add(attention(ch));
      if (level && i == c.num_res_blocks) {
        if (c.resblock_updown)
          seq->add(resblock(ch, ch, true, false));
        else
          seq->add(std::make_shared<UpsampleImpl>(ch, c.conv_resample, ch, kt, pt));
        ds /= 2;
      }
    }
  }

  auto out = container(*this, "out");  // [GroupNorm32(ch), act, zero conv(model_channels -> out)]
  out->register_module("0", std::make_shared<GroupNormImpl>(ch, 1e-5, true));
  out->register_module("2", std::make_shared<ConvImpl>(mc, c.out_channels, std::vector<int64_t>{kt, 3, 3},
                                                       std::vector<int64_t>{1, 1, 1},
                                                       std::vector<int64_t>{pt, 1, 1}, true));
  out_ = out;
}

int64_t LvdmUNet3DImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

at::Tensor LvdmUNet3DImpl::forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                                   const at::Tensor& y) {
  const auto& c = cfg_;
  if (x.dim() != 5) fail("LVDM U-Net: input must be [B, C, T, H, W], got {} dims", x.dim());
  if (x.size(1) != c.in_channels)
    fail("LVDM U-Net: input has {} channels, config in_channels is {}", x.size(1), c.in_channels);
  const int64_t f = int64_t{1} << (c.channel_mult.size() - 1);
  if (x.size(3) % f != 0 || x.size(4) % f != 0)
    fail("LVDM U-Net: input H×W {}×{} must be divisible by {} (2^(len(channel_mult)-1))", x.size(3), x.size(4), f);
  if (!timesteps.defined() || timesteps.dim() != 1 || timesteps.size(0) != x.size(0))
    fail("LVDM U-Net: timesteps must be [B] with B = {}", x.size(0));
  if (c.use_temporal_transformer) {
    if (context.defined() && (context.dim() != 3 || context.size(0) != x.size(0) || context.size(2) != c.context_dim))
      fail("LVDM U-Net: context must be [B={}, L, context_dim={}]", x.size(0), c.context_dim);
  }

  auto* te = time_embed_.get();
  auto lin0 = std::dynamic_pointer_cast<LinearImpl>(te->named_children()["0"]);
  auto lin2 = std::dynamic_pointer_cast<LinearImpl>(te->named_children()["2"]);
  // Compute dtype = the weights' dtype: float32 as in LVDM, or bf16/fp16 when the model was cast
  // (--dtype); the sinusoid is always made in float32 and then cast, as the official code does.
  const auto wdt = lin0->weight.scalar_type();
  at::Tensor emb = lin2->forward(
      nonlinearity(lin0->forward(lvdm_timestep_embedding(timesteps, c.model_channels).to(wdt)), c.nonlinearity_type));
  if (y.defined()) {
    if (c.num_classes <= 0) fail("LVDM U-Net: a class label was given but the config has no num_classes");
    if (y.dim() != 1 || y.size(0) != x.size(0)) fail("LVDM U-Net: class labels must be [B] with B = {}", x.size(0));
    emb = emb + at::embedding(label_emb_, y.to(at::kLong));
  }

  std::vector<at::Tensor> hs;
  at::Tensor h = x.to(wdt);  // self.dtype: float32 in LVDM (its use_fp16 is a no-op)
  for (auto& m : input_blocks_) {
    h = m->forward(h, emb, context);
    hs.push_back(h);
  }
  h = middle_block_->forward(h, emb, context);
  for (auto& m : output_blocks_) {
    h = at::cat({h, hs.back()}, 1);
    hs.pop_back();
    h = m->forward(h, emb, context);
  }
  h = h.to(x.scalar_type());
  auto norm = std::dynamic_pointer_cast<GroupNormImpl>(out_->named_children()["0"]);
  auto conv = std::dynamic_pointer_cast<ConvImpl>(out_->named_children()["2"]);
  return conv->forward(nonlinearity(norm->forward(h), c.nonlinearity_type));
}

// ================================================================================================
// Checkpoint names
// ================================================================================================
std::map<std::string, std::string> lvdm_unet_name_map(const torch::nn::Module& module, LvdmWeights which,
                                                      const std::string& raw_prefix) {
  std::map<std::string, std::string> m;
  for (const auto& item : module.named_parameters(true)) {
    const std::string& name = item.key();
    if (which == LvdmWeights::Ema) {
      // LitEma registers buffers named like the parameters with the dots removed.
      std::string flat;
      for (char ch : name)
        if (ch != '.') flat.push_back(ch);
      m["model_ema.diffusion_model" + flat] = name;
    } else {
      m[raw_prefix + name] = name;
    }
  }
  return m;
}

// ================================================================================================
// Denoiser adapter
// ================================================================================================
LvdmUNetDenoiser::LvdmUNetDenoiser(LvdmUNet3D net) : net_(std::move(net)) {
  const auto& c = net_->config();
  const std::string& key = c.conditioning_key;
  if (key.empty()) {
    if (c.in_channels != c.out_channels)
      fail("LVDM U-Net: unconditional model with in_channels {} != out_channels {} (conditioning_key missing?)",
           c.in_channels, c.out_channels);
  } else if (key == "concat-adm-mask") {
    if (c.in_channels != c.out_channels + 1)
      fail("LVDM U-Net: conditioning_key concat-adm-mask needs in_channels = out_channels + 1 (mask), got {} and {}",
           c.in_channels, c.out_channels);
  } else if (key == "crossattn") {
    if (!c.use_temporal_transformer)
      fail("LVDM U-Net: conditioning_key crossattn needs use_temporal_transformer and context_dim");
  } else {
    fail("LVDM U-Net: conditioning_key '{}' is not supported (\"\", concat-adm-mask, crossattn)", key);
  }
}

at::Tensor LvdmUNetDenoiser::forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c_in) {
  const auto& cfg = net_->config();
  const std::string& key = cfg.conditioning_key;
  if (x_t.dim() != 5) fail("LVDM denoiser: x_t must be [B, C, T, H, W], got {} dims", x_t.dim());
  const int64_t B = x_t.size(0);
  at::Tensor tt = t.dim() == 0 ? t.expand({B}) : t;
  // A field given for batch 1 serves any batch (as in sampler/ GuidedDenoiser).
  auto batch = [B](const at::Tensor& f) {
    if (!f.defined() || f.dim() == 0 || f.size(0) != 1 || B == 1) return f;
    std::vector<int64_t> sz(f.sizes().begin(), f.sizes().end());
    sz[0] = B;
    return f.expand(sz);
  };
  Conditioning c{batch(c_in.mask), batch(c_in.cond_latent), batch(c_in.cond_noise_level), batch(c_in.class_label),
                 batch(c_in.context)};
  auto check_mask = [&](const at::Tensor& m) {
    const auto& s = x_t.sizes();
    if (m.dim() != 5 || m.size(0) != s[0] || m.size(1) != 1 || m.size(2) != s[2] || m.size(3) != s[3] ||
        m.size(4) != s[4])
      fail("LVDM denoiser: Conditioning.mask must be [B, 1, T, H, W] = [{}, 1, {}, {}, {}], got {}", s[0], s[2],
           s[3], s[4], shape_str(m.sizes()));
  };
  if (key.empty()) {
    if (c.mask.defined() && c.mask.ne(0).any().item<bool>())
      fail("LVDM denoiser: a condition mask was given but the model is unconditional (no conditioning_key)");
    return net_->forward(x_t, tt, {}, c.class_label);
  }
  if (key == "concat-adm-mask") {
    if (c.class_label.defined())
      fail("LVDM denoiser: concat-adm-mask models take the noise level s as their label; class_label is not used");
    at::Tensor mask;
    if (c.mask.defined()) {
      check_mask(c.mask);
      mask = c.mask.to(x_t.scalar_type());
    } else {
      mask = at::zeros({x_t.size(0), 1, x_t.size(2), x_t.size(3), x_t.size(4)}, x_t.options());
    }
    at::Tensor x = x_t;
    if (c.cond_latent.defined()) {
      if (c.cond_latent.sizes() != x_t.sizes())
        fail("LVDM denoiser: Conditioning.cond_latent must have the shape of x_t {}, got {}", shape_str(x_t.sizes()),
           shape_str(c.cond_latent.sizes()));
      x = at::where(mask > 0.5, c.cond_latent.to(x_t.scalar_type()), x_t);
    }
    return net_->forward(at::cat({x, mask}, 1), tt, {}, c.cond_noise_level);
  }
  // crossattn
  if (!c.context.defined()) fail("LVDM denoiser: the text-to-video model needs Conditioning.context [B, L, {}]",
                                 cfg.context_dim);
  return net_->forward(x_t, tt, c.context, c.class_label);
}

LvdmWeights load_lvdm_unet(LvdmUNet3DImpl& model, const StateDict& sd, LvdmWeights which) {
  static const std::string raw_prefix = "model.diffusion_model.", ema_prefix = "model_ema.diffusion_model";
  auto has_prefix = [&](const std::string& p) {
    for (const auto& k : sd.keys())
      if (k.rfind(p, 0) == 0) return true;
    return false;
  };
  LoadIntoOptions opts;
  opts.strict = true;
  if (which == LvdmWeights::Auto) {
    if (has_prefix(raw_prefix))
      which = LvdmWeights::Raw;
    else if (has_prefix(ema_prefix))
      which = LvdmWeights::Ema;
    else {  // a bare U-Net state dict
      load_into(model, sd, opts);
      return LvdmWeights::Raw;
    }
  }
  if (which == LvdmWeights::Raw) {
    if (!has_prefix(raw_prefix))
      fail("{}: no '{}*' tensors (not an LVDM diffusion checkpoint?)", sd.path.string(), raw_prefix);
    opts.prefix = raw_prefix;
  } else if (which == LvdmWeights::Ema) {
    if (!has_prefix(ema_prefix))
      fail("{}: no EMA weights ('{}*'); the checkpoint was saved without use_ema", sd.path.string(), ema_prefix);
    // LitEma stores each parameter under its name with the dots removed; map back through our names.
    auto names = std::make_shared<std::map<std::string, std::string>>();
    for (const auto& kv : lvdm_unet_name_map(model, LvdmWeights::Ema))
      (*names)[kv.first.substr(ema_prefix.size())] = kv.second;
    opts.prefix = ema_prefix;
    opts.map_name = [names](const std::string& k) -> std::optional<std::string> {
      auto it = names->find(k);
      return it == names->end() ? k : it->second;
    };
  }
  load_into(model, sd, opts);
  return which;
}

}  // namespace longvid
