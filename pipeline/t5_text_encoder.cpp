#include "pipeline/t5_text_encoder.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "pipeline/model_registry.h"

namespace longvid {

namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string cache_key(const std::string& weights_id, int64_t max_length, const std::string& prompt) {
  return weights_id + '\n' + std::to_string(max_length) + '\n' + prompt;
}

}  // namespace

std::filesystem::path PromptEmbeddingCache::file_for(const std::string& key) const {
  return dir_ / fmt::format("{:016x}.safetensors", fnv1a64(key));
}

std::optional<at::Tensor> PromptEmbeddingCache::get(const std::string& weights_id, int64_t max_length,
                                                    const std::string& prompt) const {
  const std::string key = cache_key(weights_id, max_length, prompt);
  const auto f = file_for(key);
  if (!std::filesystem::exists(f)) return std::nullopt;
  try {
    StateDict sd = load_checkpoint(f);
    auto it = sd.metadata.find("longvid.prompt_key");
    if (it == sd.metadata.end() || it->second != key || !sd.contains("embedding")) return std::nullopt;
    return sd.get("embedding").clone();
  } catch (const Error& e) {
    spdlog::warn("prompt cache: ignoring {}: {}", f.string(), e.what());
    return std::nullopt;
  }
}

void PromptEmbeddingCache::put(const std::string& weights_id, int64_t max_length, const std::string& prompt,
                               const at::Tensor& emb) const {
  std::filesystem::create_directories(dir_);
  const std::string key = cache_key(weights_id, max_length, prompt);
  StateDict sd;
  sd.set("embedding", emb.detach().to(at::kCPU).contiguous());
  save_safetensors(file_for(key), sd, {{"longvid.prompt_key", key}});
}

T5TextEncoder::T5TextEncoder(T5Tokenizer tokenizer, T5Encoder model, std::string weights_id, int64_t max_length)
    : tokenizer_(std::move(tokenizer)), model_(std::move(model)), weights_id_(std::move(weights_id)),
      max_length_(max_length) {
  if (tokenizer_.vocab_size() > model_->config().vocab_size)
    fail("the T5 tokenizer has {} pieces but the encoder's embedding only {} rows (tokenizer of another model?)",
         tokenizer_.vocab_size(), model_->config().vocab_size);
  if (max_length_ < 1) fail("T5: max_length {} must be >= 1", max_length_);
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
}

std::string T5TextEncoder::describe() const {
  const auto& c = model_->config();
  return fmt::format("T5 encoder ({} layers, d_model {}, {:.2f}B params, {}, {} tokens)", c.num_layers, c.d_model,
                     model_->num_parameters() / 1e9, c10::toString(model_->parameters()[0].scalar_type()),
                     max_length_);
}

int64_t T5TextEncoder::width() const { return model_->config().d_model; }

at::Tensor T5TextEncoder::encode(const std::vector<std::string>& prompts) {
  if (prompts.empty()) fail("T5: no prompts to encode");
  const int64_t B = static_cast<int64_t>(prompts.size());
  std::vector<at::Tensor> out(prompts.size());
  std::vector<int64_t> ids, mask;
  for (const auto& p : prompts) {
    auto t = tokenizer_.encode(p, max_length_);
    ids.insert(ids.end(), t.ids.begin(), t.ids.end());
    mask.insert(mask.end(), t.mask.begin(), t.mask.end());
  }
  last_mask_ = at::tensor(mask, at::kLong).view({B, max_length_});
  at::Tensor id_t = at::tensor(ids, at::kLong).view({B, max_length_});
  std::vector<int64_t> todo;
  for (int64_t i = 0; i < B; ++i) {
    if (cache_) {
      if (auto hit = cache_->get(weights_id_, max_length_, prompts[static_cast<size_t>(i)])) {
        out[static_cast<size_t>(i)] = *hit;
        ++hits_;
        continue;
      }
    }
    todo.push_back(i);
  }
  if (!todo.empty()) {
    at::Tensor sel = at::tensor(todo, at::kLong);
    torch::NoGradGuard ng;
    at::Tensor h = model_->forward(id_t.index_select(0, sel), last_mask_.index_select(0, sel)).to(at::kFloat).cpu();
    for (size_t k = 0; k < todo.size(); ++k) {
      out[static_cast<size_t>(todo[k])] = h[static_cast<int64_t>(k)];
      if (cache_) cache_->put(weights_id_, max_length_, prompts[static_cast<size_t>(todo[k])], h[static_cast<int64_t>(k)]);
    }
  }
  return at::stack(out);
}

std::shared_ptr<T5TextEncoder> load_t5_text_encoder(const std::filesystem::path& text_encoder,
                                                    const std::filesystem::path& tokenizer, c10::Device device,
                                                    std::optional<c10::ScalarType> dtype, int64_t max_length) {
  namespace fs = std::filesystem;
  fs::path dir = fs::is_directory(text_encoder) ? text_encoder : text_encoder.parent_path();
  fs::path config = dir / "config.json";
  if (!fs::exists(config))
    fail("{}: no config.json (a transformers T5EncoderModel folder, e.g. a diffusers model's text_encoder/)",
         dir.string());
  T5EncoderConfig cfg = T5EncoderConfig::from_json_text(read_text_file(config, "T5 config"), config.string());
  StateDict sd;
  fs::path weights;
  if (!fs::is_directory(text_encoder)) {
    weights = text_encoder;
    sd = load_checkpoint(weights);
  } else if (fs::exists(dir / "model.safetensors.index.json")) {
    weights = dir / "model.safetensors.index.json";
    sd = load_sharded_safetensors(weights);
  } else if (fs::exists(dir / "model.safetensors")) {
    weights = dir / "model.safetensors";
    sd = load_checkpoint(weights);
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
  }
  const at::ScalarType file_dtype = sd.contains("shared.weight") ? sd.get("shared.weight").scalar_type()
                                                                 : (sd.contains("encoder.embed_tokens.weight")
                                                                        ? sd.get("encoder.embed_tokens.weight").scalar_type()
                                                                        : at::kFloat);
  const at::ScalarType dt = dtype.value_or(file_dtype);
  const bool share = dt == file_dtype && device.is_cpu();
  T5Encoder model(cfg, device, dt, /*init=*/false);
  load_t5_encoder(*model, sd, share);
  spdlog::info("T5 encoder {} ({} layers, d_model {}, {}; weights {})", weights.string(), cfg.num_layers, cfg.d_model,
               c10::toString(dt), share ? "memory-mapped" : "copied");
  return std::make_shared<T5TextEncoder>(T5Tokenizer::from_file(tokenizer), std::move(model),
                                         checkpoint_file_id(weights) + ":" + c10::toString(dt), max_length);
}

std::pair<at::Tensor, at::Tensor> T5TextEncoder::encode_pair(const std::string& prompt, const std::string& negative) {
  at::Tensor p = encode({prompt});
  const int64_t keep = last_mask_.sum().item<int64_t>();
  at::Tensor n = encode({negative});
  if (!mask_feature_) return {p, n};
  // pipeline_latte.py mask_text_embeddings (batch 1): emb[:, :, :keep_index]; the negative prompt
  // is cut to the same keep_index.
  return {p.slice(1, 0, keep).contiguous(), n.slice(1, 0, keep).contiguous()};
}

}  // namespace longvid
