// The T5 text encoder of Latte-1 / PixArt (diffusers folders: text_encoder/ = transformers
// T5EncoderModel config.json + model.safetensors or sharded model.safetensors.index.json,
// tokenizer/ = spiece.model) as a TextEncoder: prompts -> last_hidden_state [B, max_length, d_model].
// The weights are memory-mapped and shared, not copied, when the requested dtype is the file's (the
// XXL encoder is 9.5 GB in bf16): only the pages a forward reads become resident, and the mapping is
// released with the encoder. Prompt embeddings can be cached on disk (PromptEmbeddingCache), keyed by
// (encoder weights id, max_length, prompt).
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backbones/t5_encoder.h"
#include "backbones/t5_tokenizer.h"
#include "pipeline/video_pipeline.h"

namespace longvid {

class StateDict;

// One safetensors file per (weights id, max_length, prompt) under `dir`; the key is checked on read
// (a hash collision is a miss, not a wrong embedding). Writes are atomic.
class PromptEmbeddingCache {
 public:
  explicit PromptEmbeddingCache(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::optional<at::Tensor> get(const std::string& weights_id, int64_t max_length, const std::string& prompt) const;
  void put(const std::string& weights_id, int64_t max_length, const std::string& prompt, const at::Tensor& emb) const;

 private:
  std::filesystem::path file_for(const std::string& key) const;
  std::filesystem::path dir_;
};

class T5TextEncoder : public TextEncoder {
 public:
  T5TextEncoder(T5Tokenizer tokenizer, T5Encoder model, std::string weights_id, int64_t max_length = 120);
  std::string describe() const override;
  int64_t width() const override;
  // prompts -> [B, max_length, d_model] float32 (computed in the model's dtype); padding positions
  // are masked in attention, as transformers does with the tokenizer's attention_mask.
  at::Tensor encode(const std::vector<std::string>& prompts) override;
  // The tokenizer's attention masks of the last encode() [B, max_length] (Latte-1's mask_feature).
  const at::Tensor& last_mask() const { return last_mask_; }
  // LattePipeline's mask_feature (its default): the prompt's embedding keeps its first
  // mask.sum() tokens (its words and </s>, not the padding), the negative prompt's the same count.
  void set_mask_feature(bool on) { mask_feature_ = on; }
  std::pair<at::Tensor, at::Tensor> encode_pair(const std::string& prompt, const std::string& negative) override;
  void set_cache(std::shared_ptr<PromptEmbeddingCache> cache) { cache_ = std::move(cache); }
  int64_t cache_hits() const { return hits_; }
  const std::string& weights_id() const { return weights_id_; }

 private:
  T5Tokenizer tokenizer_;
  T5Encoder model_;
  std::string weights_id_;
  int64_t max_length_;
  at::Tensor last_mask_;
  bool mask_feature_ = false;
  std::shared_ptr<PromptEmbeddingCache> cache_;
  int64_t hits_ = 0;
};

// text_encoder: a folder (config.json + model.safetensors | model.safetensors.index.json), or one
// safetensors file with the folder's config.json next to it (T5's head count and FFN kind are not in
// the shapes); tokenizer: spiece.model or its folder. dtype: the computation dtype (default: the
// weights' own).
std::shared_ptr<T5TextEncoder> load_t5_text_encoder(const std::filesystem::path& text_encoder,
                                                    const std::filesystem::path& tokenizer, c10::Device device,
                                                    std::optional<c10::ScalarType> dtype = std::nullopt,
                                                    int64_t max_length = 120);

}  // namespace longvid
