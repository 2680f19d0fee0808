#include "pipeline/clip_text_encoder.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

ClipTextEncoder::ClipTextEncoder(ClipTokenizer tokenizer, ClipTextModel model, bool penultimate, int64_t max_length)
    : tokenizer_(std::move(tokenizer)), model_(std::move(model)), penultimate_(penultimate), max_length_(max_length) {
  const auto& c = model_->config();
  if (tokenizer_.vocab_size() != c.vocab_size)
    fail("the CLIP tokenizer has {} tokens but the text encoder's embedding has {} rows (tokenizer files of another "
         "model?)",
         tokenizer_.vocab_size(), c.vocab_size);
  if (max_length_ > c.max_positions)
    fail("CLIP text: max_length {} exceeds the encoder's {} positions", max_length_, c.max_positions);
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
}

std::string ClipTextEncoder::describe() const {
  const auto& c = model_->config();
  return fmt::format("CLIP text encoder ({} layers, width {}, {:.2f}M params{}, {} tokens)", c.num_layers,
                     c.hidden_size, model_->num_parameters() / 1e6, penultimate_ ? ", penultimate layer" : "",
                     max_length_);
}

at::Tensor ClipTextEncoder::encode(const std::vector<std::string>& prompts) {
  if (prompts.empty()) fail("CLIP text: no prompts to encode");
  std::vector<int64_t> ids;
  for (const auto& p : prompts) {
    auto t = tokenizer_.encode(p, max_length_);
    ids.insert(ids.end(), t.ids.begin(), t.ids.end());
  }
  at::Tensor x = at::tensor(ids, at::kLong).view({static_cast<int64_t>(prompts.size()), max_length_});
  torch::NoGradGuard ng;
  return model_->forward(x, penultimate_ ? 1 : 0).last_hidden_state;
}

std::shared_ptr<ClipTextEncoder> load_clip_text_encoder(const StateDict& sd, const std::filesystem::path& tokenizer,
                                                        c10::Device device, bool penultimate, int64_t num_heads) {
  const std::string prefix = clip_text_prefix(sd);
  ClipTextModel model(ClipTextConfig::from_state_dict(sd, prefix, num_heads));
  load_clip_text(*model, sd);
  model->to(device);
  ClipTokenizer tok = std::filesystem::is_directory(tokenizer) ? ClipTokenizer::from_dir(tokenizer)
                                                               : ClipTokenizer::from_openai_merges(tokenizer);
  return std::make_shared<ClipTextEncoder>(std::move(tok), std::move(model), penultimate);
}

}  // namespace longvid
