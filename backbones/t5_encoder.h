// The T5 encoder (transformers models/t5/modeling_t5.py T5EncoderModel), as Latte-1 / PixArt use
// t5-v1_1-xxl: shared token embedding, `num_layers` blocks of [RMS norm -> self-attention without
// 1/sqrt(d) scaling + relative-position bias] and [RMS norm -> gated-GELU (v1.1) or ReLU FFN],
// final RMS norm. The bias table lives in block 0 and is shared by every layer (bidirectional
// buckets: 32, max distance 128). Module names equal the transformers keys (shared.weight,
// encoder.block.N.layer.0.SelfAttention.q.weight, ...relative_attention_bias.weight,
// encoder.block.N.layer.1.DenseReluDense.wi_0.weight, encoder.final_layer_norm.weight).
//
// Precision as transformers: the RMS norm accumulates in float32; `wo` may be kept in float32 while
// the rest runs in fp16 / bf16 (its `_keep_in_fp32_modules`; fp16 overflows there otherwise).
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace longvid {

class StateDict;

struct T5EncoderConfig {
  int64_t vocab_size = 32128;
  int64_t d_model = 4096;
  int64_t d_kv = 64;
  int64_t d_ff = 10240;
  int64_t num_layers = 24;
  int64_t num_heads = 64;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  double eps = 1e-6;
  std::string feed_forward_proj = "gated-gelu";  // gated-gelu (v1.1: gelu_new) | relu (original T5)
  bool gated() const { return feed_forward_proj.rfind("gated-", 0) == 0; }
  // google/t5-v1_1-xxl (Latte-1, PixArt): 4.76 B encoder parameters.
  static T5EncoderConfig v1_1_xxl() { return {}; }
  // A transformers config.json (T5Config).
  static T5EncoderConfig from_json_text(const std::string& text, const std::string& origin);
  void validate() const;
};

namespace t5_detail {
struct BlockImpl;
}

class T5EncoderImpl : public torch::nn::Module {
 public:
  // dtype: of every parameter (bf16 / fp16: the RMS norm still accumulates in float32); init = false:
  // values left unset, for weights loaded right after (load_t5_encoder with share_memory).
  explicit T5EncoderImpl(T5EncoderConfig cfg, at::Device device = at::kCPU, at::ScalarType dtype = at::kFloat,
                         bool init = true);
  // ids [B, L] int64; mask [B, L] (1 = token, 0 = padding; undefined = all tokens) -> last_hidden_state
  // [B, L, d_model] (after the final norm), in the dtype of the embedding.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask = {});
  const T5EncoderConfig& config() const { return cfg_; }
  int64_t num_parameters() const;  // the shared embedding counted once

 private:
  T5EncoderConfig cfg_;
  at::Tensor shared_, rel_bias_, final_norm_;
  std::vector<std::shared_ptr<t5_detail::BlockImpl>> blocks_;
};
TORCH_MODULE(T5Encoder);

// T5's bidirectional relative-position buckets (_relative_position_bucket), [Lq, Lk] int64.
at::Tensor t5_relative_position_buckets(int64_t q_len, int64_t k_len, int64_t num_buckets, int64_t max_distance);

// Loads transformers weights (strict; `encoder.embed_tokens.weight`, the tied copy of `shared.weight`,
// is accepted when equal to it, or alone).
// share_memory: parameters view the checkpoint's memory mapping where dtypes match (no copy).
void load_t5_encoder(T5EncoderImpl& model, const StateDict& sd, bool share_memory = false);

}  // namespace longvid
