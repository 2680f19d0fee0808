// LVDM's FrozenCLIPEmbedder (lvdm/models/modules/condition_modules.py): the CLIP tokenizer
// (max_length 77, padded with <|endoftext|>, truncated) and the CLIP ViT-L/14 text tower, frozen,
// returning last_hidden_state [B, 77, 768] as the cross-attention context. `penultimate` gives the
// OpenCLIP-H style context (all but the last layer, then the final norm).
#pragma once
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backbones/clip_text.h"
#include "backbones/clip_tokenizer.h"
#include "pipeline/video_pipeline.h"

namespace longvid {

class StateDict;

class ClipTextEncoder : public TextEncoder {
 public:
  ClipTextEncoder(ClipTokenizer tokenizer, ClipTextModel model, bool penultimate = false, int64_t max_length = 77);
  std::string describe() const override;
  int64_t width() const override { return model_->config().hidden_size; }
  // prompts -> [B, max_length, D] float32 on the model's device (no gradients).
  at::Tensor encode(const std::vector<std::string>& prompts) override;
  const ClipTokenizer& tokenizer() const { return tokenizer_; }
  ClipTextModel& model() { return model_; }

 private:
  ClipTokenizer tokenizer_;
  ClipTextModel model_;
  bool penultimate_;
  int64_t max_length_;
};

// The text tower of a checkpoint (transformers `text_model.*`, LDM `cond_stage_model.transformer.
// text_model.*`) with a tokenizer folder (vocab.json + merges.txt) or openai's BPE merges file.
// The tokenizer must fit the tower's vocabulary (one error line otherwise).
// num_heads < 1: width / 64 (every OpenAI / OpenCLIP text tower has 64-wide heads).
std::shared_ptr<ClipTextEncoder> load_clip_text_encoder(const StateDict& sd, const std::filesystem::path& tokenizer,
                                                        c10::Device device, bool penultimate = false,
                                                        int64_t num_heads = -1);

}  // namespace longvid
