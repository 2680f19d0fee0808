// The CLIP text transformer (transformers models/clip/modeling_clip.py CLIPTextModel, the text tower
// of openai/clip-vit-large-patch14 that LVDM's FrozenCLIPEmbedder runs: lvdm/models/modules/
// condition_modules.py). Module names equal the transformers state-dict keys under `text_model.`
// (embeddings.token_embedding.weight, encoder.layers.N.self_attn.q_proj.weight, mlp.fc1,
// layer_norm1/2, final_layer_norm, ...); LDM checkpoints hold them under
// `cond_stage_model.transformer.text_model.`.
//
//   h = token_embedding[ids] + position_embedding[0..L)
//   per layer: h += out_proj(attn(layer_norm1(h)), causal);  h += fc2(act(fc1(layer_norm2(h))))
//   last_hidden_state = final_layer_norm(h)          (FrozenCLIPEmbedder's output, [B, 77, 768])
//   pooled = last_hidden_state at the first EOS (eos_token_id; legacy configs with id 2: argmax(ids))
// Penultimate mode (OpenCLIP-H style, later video models): run all but the last layer, then the
// final norm.
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace longvid {

class StateDict;

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t max_positions = 77;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // quick_gelu (x * sigmoid(1.702 x)) | gelu
  int64_t eos_token_id = 49407;           // 2: the legacy rule, pooled at argmax(ids)
  // openai/clip-vit-large-patch14's text config (123.06 M parameters).
  static ClipTextConfig vit_l14() { return {}; }
  // A transformers config.json (CLIPTextConfig, or CLIPConfig's text_config).
  static ClipTextConfig from_json_text(const std::string& text, const std::string& origin);
  // The shapes of a state dict under `prefix`; the head count is not in them: `num_heads` (or, < 1,
  // hidden_size / 64, CLIP's head width).
  static ClipTextConfig from_state_dict(const StateDict& sd, const std::string& prefix, int64_t num_heads = -1);
  void validate() const;
};

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // [B, L, D] after final_layer_norm
  at::Tensor pooled;             // [B, D]
};

namespace clip_detail {
struct LayerImpl;
}

class ClipTextModelImpl : public torch::nn::Module {
 public:
  // `device`: where the parameters are created (at::kMeta: the structure only, e.g. to count).
  explicit ClipTextModelImpl(ClipTextConfig cfg, at::Device device = at::kCPU);
  // ids [B, L] int64, L <= max_positions. skip_last_layers = 1: the penultimate mode.
  ClipTextOutput forward(const at::Tensor& ids, int64_t skip_last_layers = 0);
  const ClipTextConfig& config() const { return cfg_; }
  int64_t num_parameters() const;

 private:
  ClipTextConfig cfg_;
  at::Tensor token_embedding_, position_embedding_;
  std::vector<std::shared_ptr<clip_detail::LayerImpl>> layers_;
  std::shared_ptr<torch::nn::Module> final_norm_;
};
TORCH_MODULE(ClipTextModel);

// The prefix of the text tower's keys in `sd`: "text_model." (transformers), "cond_stage_model.
// transformer.text_model." (LDM checkpoints), "" (a bare tower); throws when there is none.
std::string clip_text_prefix(const StateDict& sd);
// Loads the text tower (strict: one error listing missing / unexpected / mis-shaped keys; the
// position_ids buffer older checkpoints carry is ignored).
void load_clip_text(ClipTextModelImpl& model, const StateDict& sd);

}  // namespace longvid
