#include "backbones/t5_encoder.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"

namespace longvid {

using at::Tensor;

void T5EncoderConfig::validate() const {
  if (vocab_size < 1 || d_model < 1 || d_kv < 1 || d_ff < 1 || num_layers < 1 || num_heads < 1)
    fail("T5: sizes must be positive (vocab {}, d_model {}, d_kv {}, d_ff {}, layers {}, heads {})", vocab_size,
         d_model, d_kv, d_ff, num_layers, num_heads);
  if (num_buckets < 2 || max_distance < 2) fail("T5: relative attention buckets {} / max distance {}", num_buckets, max_distance);
  if (feed_forward_proj != "gated-gelu" && feed_forward_proj != "relu")
    fail("T5: feed_forward_proj '{}' (gated-gelu or relu)", feed_forward_proj);
}

T5EncoderConfig T5EncoderConfig::from_json_text(const std::string& text, const std::string& origin) {
  const Config j = Config::parse_json(text, origin);
  T5EncoderConfig c;
  c.vocab_size = j.get_or<int64_t>("vocab_size", c.vocab_size);
  c.d_model = j.get_or<int64_t>("d_model", c.d_model);
  c.d_kv = j.get_or<int64_t>("d_kv", c.d_kv);
  c.d_ff = j.get_or<int64_t>("d_ff", c.d_ff);
  c.num_layers = j.get_or<int64_t>("num_layers", c.num_layers);
  c.num_heads = j.get_or<int64_t>("num_heads", c.num_heads);
  c.num_buckets = j.get_or<int64_t>("relative_attention_num_buckets", c.num_buckets);
  c.max_distance = j.get_or<int64_t>("relative_attention_max_distance", c.max_distance);
  c.eps = j.get_or<double>("layer_norm_epsilon", c.eps);
  c.feed_forward_proj = j.get_or<std::string>("feed_forward_proj", c.feed_forward_proj);
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", origin, e.what());
  }
  return c;
}

Tensor t5_relative_position_buckets(int64_t q_len, int64_t k_len, int64_t num_buckets, int64_t max_distance) {
  Tensor ctx = at::arange(q_len, at::kLong).unsqueeze(1), mem = at::arange(k_len, at::kLong).unsqueeze(0);
  Tensor rel = mem - ctx;
  const int64_t nb = num_buckets / 2;  // bidirectional
  Tensor buckets = (rel > 0).to(at::kLong) * nb;
  Tensor n = rel.abs();
  const int64_t max_exact = nb / 2;
  Tensor is_small = n < max_exact;
  // In float32, as the reference: log(n / max_exact) / log(max_distance / max_exact) * (nb - max_exact).
  Tensor large = max_exact + (at::log(n.to(at::kFloat) / static_cast<float>(max_exact)) /
                              static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact)) *
                              static_cast<float>(nb - max_exact))
                                 .to(at::kLong);
  large = at::minimum(large, at::full_like(large, nb - 1));
  return buckets + at::where(is_small, n, large);
}

namespace {

// T5LayerNorm: x * rsqrt(mean(x²) + eps) with the variance in float32, cast to the weight's dtype
// when that is half precision, then scaled.
Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  Tensor var = x.to(at::kFloat).pow(2).mean(-1, true);
  Tensor h = x * at::rsqrt(var + eps);
  if (w.scalar_type() == at::kHalf || w.scalar_type() == at::kBFloat16) h = h.to(w.scalar_type());
  return w * h;
}

}  // namespace

namespace t5_detail {

struct BlockImpl : torch::nn::Module {
  std::shared_ptr<nn::LinearImpl> q, k, v, o, wi_0, wi_1, wo;
  Tensor ln0, ln1;
  int64_t heads, d_kv;
  bool gated;
  double eps;
  BlockImpl(const T5EncoderConfig& c, int64_t index, Tensor* rel_bias)
      : heads(c.num_heads), d_kv(c.d_kv), gated(c.gated()), eps(c.eps) {
    auto layer = nn::container(*this, "layer");
    auto l0 = nn::container(*layer, "0"), l1 = nn::container(*layer, "1");
    auto att = nn::container(*l0, "SelfAttention");
    const int64_t inner = c.num_heads * c.d_kv;
    q = att->register_module("q", std::make_shared<nn::LinearImpl>(c.d_model, inner, false));
    k = att->register_module("k", std::make_shared<nn::LinearImpl>(c.d_model, inner, false));
    v = att->register_module("v", std::make_shared<nn::LinearImpl>(c.d_model, inner, false));
    o = att->register_module("o", std::make_shared<nn::LinearImpl>(inner, c.d_model, false));
    if (index == 0)
      *rel_bias = nn::container(*att, "relative_attention_bias")
                      ->register_parameter("weight", nn::normal_init({c.num_buckets, c.num_heads}), false);
    ln0 = nn::container(*l0, "layer_norm")->register_parameter("weight", nn::p_ones({c.d_model}), false);
    auto ff = nn::container(*l1, "DenseReluDense");
    if (gated) {
      wi_0 = ff->register_module("wi_0", std::make_shared<nn::LinearImpl>(c.d_model, c.d_ff, false));
      wi_1 = ff->register_module("wi_1", std::make_shared<nn::LinearImpl>(c.d_model, c.d_ff, false));
    } else {
      wi_0 = ff->register_module("wi", std::make_shared<nn::LinearImpl>(c.d_model, c.d_ff, false));
    }
    wo = ff->register_module("wo", std::make_shared<nn::LinearImpl>(c.d_ff, c.d_model, false));
    ln1 = nn::container(*l1, "layer_norm")->register_parameter("weight", nn::p_ones({c.d_model}), false);
  }
  Tensor forward(const Tensor& h, const Tensor& bias) {
    const int64_t B = h.size(0), L = h.size(1);
    Tensor x = rms_norm(h, ln0, eps);
    auto split = [&](const Tensor& t) { return t.view({B, L, heads, d_kv}).transpose(1, 2); };
    Tensor a = nn::attention_heads(split(q->forward(x)), split(k->forward(x)), split(v->forward(x)), bias, 1.0);
    Tensor r = h + o->forward(a.transpose(1, 2).reshape({B, L, heads * d_kv}));
    Tensor y = rms_norm(r, ln1, eps);
    Tensor f = gated ? at::gelu(wi_0->forward(y), "tanh") * wi_1->forward(y) : at::relu(wi_0->forward(y));
    if (f.scalar_type() != wo->weight.scalar_type()) f = f.to(wo->weight.scalar_type());  // wo kept in fp32
    return r + wo->forward(f).to(r.scalar_type());
  }
};

}  // namespace t5_detail

using t5_detail::BlockImpl;

T5EncoderImpl::T5EncoderImpl(T5EncoderConfig cfg, at::Device device, at::ScalarType dtype, bool init)
    : cfg_(std::move(cfg)) {
  cfg_.validate();
  nn::ParamOptionsScope scope(device, dtype, init);
  shared_ = nn::container(*this, "shared")
                ->register_parameter("weight", nn::normal_init({cfg_.vocab_size, cfg_.d_model}), false);
  auto enc = nn::container(*this, "encoder");
  auto list = nn::container(*enc, "block");
  for (int64_t i = 0; i < cfg_.num_layers; ++i)
    blocks_.push_back(list->register_module(std::to_string(i), std::make_shared<BlockImpl>(cfg_, i, &rel_bias_)));
  final_norm_ = nn::container(*enc, "final_layer_norm")->register_parameter("weight", nn::p_ones({cfg_.d_model}), false);
}

int64_t T5EncoderImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

Tensor T5EncoderImpl::forward(const Tensor& ids_in, const Tensor& mask) {
  if (ids_in.dim() != 2) fail("T5: token ids must be [B, L], got {} dims", ids_in.dim());
  const int64_t L = ids_in.size(1);
  Tensor ids = ids_in.to(shared_.device(), at::kLong);
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg_.vocab_size))
    fail("T5: token id out of range [0, {}) (a tokenizer of another vocabulary?)", cfg_.vocab_size);
  Tensor h = at::embedding(shared_, ids);
  // Position bias [1, heads, L, L] from block 0's table, + the padding mask (finfo.min on padded keys).
  Tensor buckets = t5_relative_position_buckets(L, L, cfg_.num_buckets, cfg_.max_distance).to(ids.device());
  Tensor bias = at::embedding(rel_bias_, buckets).permute({2, 0, 1}).unsqueeze(0);
  if (mask.defined()) {
    if (mask.sizes() != ids.sizes()) fail("T5: attention mask of shape [{}] for ids [{}]", fmt::join(mask.sizes(), ", "),
                                          fmt::join(ids.sizes(), ", "));
    Tensor m = mask.to(ids.device()).to(bias.scalar_type()).view({ids.size(0), 1, 1, L});
    bias = bias + (1.0 - m) * std::numeric_limits<float>::lowest();
  }
  bias = bias.to(h.scalar_type());  // once, not per block
  for (auto& b : blocks_) h = b->forward(h, bias);
  return rms_norm(h, final_norm_, cfg_.eps);
}

void load_t5_encoder(T5EncoderImpl& model, const StateDict& sd_in, bool share_memory) {
  StateDict sd = sd_in;
  static const std::string tied = "encoder.embed_tokens.weight";
  if (sd.contains(tied)) {
    if (!sd.contains("shared.weight"))
      sd.set("shared.weight", sd.get(tied));
    else if (!sd.get(tied).equal(sd.get("shared.weight")))
      fail("{}: encoder.embed_tokens.weight differs from shared.weight (not a tied T5 encoder)", sd.path.string());
  }
  LoadIntoOptions o;
  o.strict = true;
  o.ignore = {tied};
  o.share_memory = share_memory;
  load_into(model, sd, o);
}

}  // namespace longvid
