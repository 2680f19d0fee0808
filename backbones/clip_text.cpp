#include "backbones/clip_text.h"

#include <fmt/format.h>

#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"

namespace longvid {

using at::Tensor;

void ClipTextConfig::validate() const {
  if (vocab_size < 1 || hidden_size < 1 || intermediate_size < 1 || num_layers < 1 || max_positions < 1)
    fail("CLIP text: sizes must be positive (vocab {}, width {}, mlp {}, layers {}, positions {})", vocab_size,
         hidden_size, intermediate_size, num_layers, max_positions);
  if (num_heads < 1 || hidden_size % num_heads != 0)
    fail("CLIP text: hidden_size {} is not divisible by num_attention_heads {}", hidden_size, num_heads);
  if (hidden_act != "quick_gelu" && hidden_act != "gelu")
    fail("CLIP text: hidden_act '{}' (quick_gelu or gelu)", hidden_act);
}

ClipTextConfig ClipTextConfig::from_json_text(const std::string& text, const std::string& origin) {
  Config root = Config::parse_json(text, origin);
  const Config j = root.has("text_config") && root.at("text_config").is_map() ? root.at("text_config") : root;
  ClipTextConfig c;
  c.vocab_size = j.get_or<int64_t>("vocab_size", c.vocab_size);
  c.hidden_size = j.get_or<int64_t>("hidden_size", c.hidden_size);
  c.intermediate_size = j.get_or<int64_t>("intermediate_size", c.intermediate_size);
  c.num_layers = j.get_or<int64_t>("num_hidden_layers", c.num_layers);
  c.num_heads = j.get_or<int64_t>("num_attention_heads", c.num_heads);
  c.max_positions = j.get_or<int64_t>("max_position_embeddings", c.max_positions);
  c.layer_norm_eps = j.get_or<double>("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = j.get_or<std::string>("hidden_act", c.hidden_act);
  c.eos_token_id = j.get_or<int64_t>("eos_token_id", c.eos_token_id);
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", origin, e.what());
  }
  return c;
}

std::string clip_text_prefix(const StateDict& sd) {
  static const std::string leaf = "embeddings.token_embedding.weight";
  for (const char* p : {"text_model.", "cond_stage_model.transformer.text_model.", "transformer.text_model.", ""})
    if (sd.contains(std::string(p) + leaf)) return p;
  fail("{}: no CLIP text tower (no '*{}', e.g. text_model.{} or cond_stage_model.transformer.text_model.{})",
       sd.path.string(), leaf, leaf, leaf);
}

ClipTextConfig ClipTextConfig::from_state_dict(const StateDict& sd, const std::string& prefix, int64_t num_heads) {
  auto need = [&](const std::string& k) -> const Tensor& {
    if (!sd.contains(prefix + k)) fail("{}: not a CLIP text tower: no '{}{}'", sd.path.string(), prefix, k);
    return sd.get(prefix + k);
  };
  ClipTextConfig c;
  const Tensor& tok = need("embeddings.token_embedding.weight");
  c.vocab_size = tok.size(0);
  c.hidden_size = tok.size(1);
  c.max_positions = need("embeddings.position_embedding.weight").size(0);
  c.intermediate_size = need("encoder.layers.0.mlp.fc1.weight").size(0);
  int64_t n = 0;
  while (sd.contains(fmt::format("{}encoder.layers.{}.self_attn.q_proj.weight", prefix, n))) ++n;
  c.num_layers = n;
  c.num_heads = num_heads > 0 ? num_heads : c.hidden_size / 64;
  c.validate();
  return c;
}

namespace clip_detail {

struct LayerImpl : torch::nn::Module {
  std::shared_ptr<nn::LinearImpl> q, k, v, o, fc1, fc2;
  std::shared_ptr<nn::LayerNormImpl> ln1, ln2;
  int64_t heads;
  bool quick;
  LayerImpl(const ClipTextConfig& c) : heads(c.num_heads), quick(c.hidden_act == "quick_gelu") {
    const int64_t D = c.hidden_size;
    auto attn = nn::container(*this, "self_attn");
    q = attn->register_module("q_proj", std::make_shared<nn::LinearImpl>(D, D));
    k = attn->register_module("k_proj", std::make_shared<nn::LinearImpl>(D, D));
    v = attn->register_module("v_proj", std::make_shared<nn::LinearImpl>(D, D));
    o = attn->register_module("out_proj", std::make_shared<nn::LinearImpl>(D, D));
    ln1 = register_module("layer_norm1", std::make_shared<nn::LayerNormImpl>(D, c.layer_norm_eps));
    auto mlp = nn::container(*this, "mlp");
    fc1 = mlp->register_module("fc1", std::make_shared<nn::LinearImpl>(D, c.intermediate_size));
    fc2 = mlp->register_module("fc2", std::make_shared<nn::LinearImpl>(c.intermediate_size, D));
    ln2 = register_module("layer_norm2", std::make_shared<nn::LayerNormImpl>(D, c.layer_norm_eps));
  }
  Tensor forward(const Tensor& h, const Tensor& causal) {
    Tensor x = ln1->forward(h);
    Tensor a = nn::attention(q->forward(x), k->forward(x), v->forward(x), heads, causal);
    Tensor r = h + o->forward(a);
    Tensor m = fc1->forward(ln2->forward(r));
    m = quick ? m * at::sigmoid(1.702 * m) : at::gelu(m);
    return r + fc2->forward(m);
  }
};

}  // namespace clip_detail

using clip_detail::LayerImpl;

ClipTextModelImpl::ClipTextModelImpl(ClipTextConfig cfg, at::Device device) : cfg_(std::move(cfg)) {
  cfg_.validate();
  nn::ParamOptionsScope scope(device);
  const int64_t D = cfg_.hidden_size;
  auto emb = nn::container(*this, "embeddings");
  // nn.Embedding: N(0, 1) (transformers re-initialises with std 0.02; load weights anyway).
  token_embedding_ = nn::container(*emb, "token_embedding")
                         ->register_parameter("weight", nn::p_empty({cfg_.vocab_size, D}).normal_(0, 0.02), false);
  position_embedding_ = nn::container(*emb, "position_embedding")
                            ->register_parameter("weight", nn::p_empty({cfg_.max_positions, D}).normal_(0, 0.01), false);
  auto layers = nn::container(*nn::container(*this, "encoder"), "layers");
  for (int64_t i = 0; i < cfg_.num_layers; ++i)
    layers_.push_back(layers->register_module(std::to_string(i), std::make_shared<LayerImpl>(cfg_)));
  final_norm_ = register_module("final_layer_norm", std::make_shared<nn::LayerNormImpl>(D, cfg_.layer_norm_eps));
}

int64_t ClipTextModelImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

ClipTextOutput ClipTextModelImpl::forward(const Tensor& ids_in, int64_t skip_last_layers) {
  if (ids_in.dim() != 2) fail("CLIP text: token ids must be [B, L], got {} dims", ids_in.dim());
  const int64_t B = ids_in.size(0), L = ids_in.size(1);
  if (L < 1 || L > cfg_.max_positions)
    fail("CLIP text: {} tokens per prompt; the model has {} positions", L, cfg_.max_positions);
  if (skip_last_layers < 0 || skip_last_layers >= cfg_.num_layers)
    fail("CLIP text: cannot skip {} of {} layers", skip_last_layers, cfg_.num_layers);
  Tensor ids = ids_in.to(token_embedding_.device(), at::kLong);
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg_.vocab_size))
    fail("CLIP text: token id out of range [0, {}) (a tokenizer of another vocabulary?)", cfg_.vocab_size);
  Tensor h = at::embedding(token_embedding_, ids) + position_embedding_.slice(0, 0, L).unsqueeze(0);
  const Tensor causal = at::ones({L, L}, h.options().dtype(at::kBool)).tril();
  const int64_t run = cfg_.num_layers - skip_last_layers;
  for (int64_t i = 0; i < run; ++i) h = layers_[static_cast<size_t>(i)]->forward(h, causal);
  ClipTextOutput out;
  out.last_hidden_state = std::static_pointer_cast<nn::LayerNormImpl>(final_norm_)->forward(h);
  Tensor pos = cfg_.eos_token_id == 2 ? ids.argmax(-1) : (ids == cfg_.eos_token_id).to(at::kInt).argmax(-1);
  out.pooled = out.last_hidden_state.index({at::arange(B, pos.options()), pos});
  return out;
}

void load_clip_text(ClipTextModelImpl& model, const StateDict& sd) {
  LoadIntoOptions o;
  o.strict = true;
  o.prefix = clip_text_prefix(sd);
  o.ignore = {"embeddings.position_ids"};
  if (o.prefix.empty()) o.ignore.push_back("logit_scale");
  load_into(model, sd, o);
}

}  // namespace longvid
