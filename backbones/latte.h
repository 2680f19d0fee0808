// Latte: the latent video transformer of Vchitect/Latte (models/latte.py `Latte`, the released
// variant: interleaved spatial and temporal DiT blocks, S-AdaLN conditioning, image-wise patch
// embedding). Built on the shared blocks of backbones/nn_blocks.h.
//
// Module names equal the official state-dict keys (x_embedder.proj.weight, t_embedder.mlp.0.weight,
// y_embedder.embedding_table.weight, pos_embed, temp_embed, blocks.N.attn.qkv.weight,
// blocks.N.mlp.fc1.weight, blocks.N.adaLN_modulation.1.weight, final_layer.linear.weight, ...), so
// the `model` / `ema` dict of an official training checkpoint loads one to one.
//
// Official structure, checked in its code:
//  - even blocks[i] are spatial over (B·F, P, D), odd blocks temporal over (B·P, F, D); temp_embed
//    is added once, before the first temporal block;
//  - the condition c = t_emb (+ y_emb | + text projection) drives every block's adaLN-Zero
//    (LayerNorm without affine, eps 1e-6; SiLU -> Linear(D, 6D)); FinalLayer adaLN -> Linear(D, p²·C_out);
//  - extras 1: unconditional; 2: class labels (table num_classes + 1 rows, null id = num_classes);
//    78: a CLIP text embedding [B, 77, 768] through SiLU -> Linear(77·768, D);
//  - pos_embed (1, P, D) 2D sin-cos and temp_embed (1, F, D) 1D sin-cos are stored parameters.
// Beyond the release: frame counts and latent sizes other than the trained ones get sin-cos tables
// recomputed for the new grid (the official code asserts or crashes there).
//
// Engine layout [B, C, T, H, W] (the official input is (N, F, C, H, W); converted inside).
#pragma once
#include <torch/nn/module.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backbones/denoiser.h"

namespace longvid {

class StateDict;

// The model.params.unet_config target naming a (masked) Latte inside LVDM's latent-diffusion wrapper:
// how `longvid train --backbone latte` saves it and how pipeline/lvdm_family.cpp rebuilds it.
inline constexpr const char* kLatteTarget = "longvid.backbones.latte.Latte";

struct LatteConfig {
  int64_t input_size = 32;  // latent height = width the model was built for
  int64_t patch_size = 2;
  int64_t in_channels = 4;
  int64_t hidden_size = 1152;
  int64_t depth = 28;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  int64_t num_frames = 16;
  int64_t num_classes = 1000;  // extras 2
  double class_dropout_prob = 0.1;
  bool learn_sigma = true;
  int64_t extras = 1;  // 1 unconditional, 2 class-conditional, 78 CLIP text
  // The paper's four model variants (Sec. 3.2); only 1 is in the official code:
  //  1 interleaved spatial / temporal blocks; 2 late fusion (all spatial blocks, then all temporal);
  //  3 factorized self-attention (spatial then temporal attention inside each block: attn, attn_temp,
  //    adaLN 9D); 4 factorized multi-head attention (half the heads over space, half over time).
  // Variants 3 and 4 add temp_embed at the input; 1 and 2 before the first temporal block.
  int64_t variant = 1;
  // Tube embedding (the paper's "compression frame patch embedding"): Conv3d (t, p, p) patches of
  // `tube_frames` latent frames, and the final layer predicts t·p²·C_out per token; 1 = image-wise.
  int64_t tube_frames = 1;
  // LVDM's frame-mask conditioning (longvid extension, `longvid train --backbone latte`): the input
  // carries one more channel, the frame mask, beside the in_channels latent channels (given frames
  // hold their condition latents), and the class label is the condition noise level s (extras 2,
  // num_classes = max_noise_level + 1, class_dropout_prob 0: no null row).
  bool masked = false;

  int64_t out_channels() const { return learn_sigma ? in_channels * 2 : in_channels; }
  int64_t input_channels() const { return in_channels + (masked ? 1 : 0); }
  int64_t num_patches() const { return (input_size / patch_size) * (input_size / patch_size); }
  // The official preset name ("Latte-XL/2") when depth/width/heads/patch match one, else "".
  std::string preset_name() const;
  // Throws longvid::Error with one line when the values cannot make a model.
  void validate() const;

  // models/latte.py Latte_models: "Latte-XL/2", "Latte-L/4", "Latte-B/8", "Latte-S/2", ...
  // (sizes S, B, L, XL x patch 2, 4, 8); the other fields keep their values.
  static LatteConfig preset(const std::string& name);
  // An official sampling/training YAML (configs/ucf101/ucf101_sample.yaml, ...): model, num_frames,
  // image_size (latent = image_size / 8), learn_sigma, extras, num_classes; longvid's own keys:
  // variant, tube_frames, masked, class_dropout_prob, and explicit sizes (depth, hidden_size,
  // num_heads, patch_size, mlp_ratio, input_size) for widths of no preset.
  static LatteConfig from_yaml_file(const std::filesystem::path& path);
  static LatteConfig from_yaml_string(const std::string& text, const std::string& origin = "<string>");
  // The shapes of an official state dict: width, patch, channels, depth, frames, latent size,
  // learned sigma, class table / text projection. The head count is not in the shapes: the preset of
  // that width (S 6, B 12, L 16, XL 16), else `num_heads_hint`, else an error naming the missing value.
  static LatteConfig from_state_dict(const StateDict& sd, int64_t num_heads_hint = -1);
};

namespace latte_detail {
struct BlockImpl;
struct FactorizedBlockImpl;
struct FinalLayerImpl;
}  // namespace latte_detail

class LatteImpl : public torch::nn::Module {
 public:
  // `device`: where the parameters are created (at::kMeta: the structure only, e.g. to count).
  // Weights start as the official initialize_weights leaves them shaped (values are random; load a
  // checkpoint), pos_embed / temp_embed as the official sin-cos tables.
  explicit LatteImpl(LatteConfig cfg, at::Device device = at::kCPU);

  // x [B, C, T, H, W] (H, W multiples of patch_size); t [B] timesteps (any numeric dtype);
  // y [B] int64 class labels (extras 2; undefined = the null class num_classes); text [B, 77, 768]
  // (extras 78). Returns [B, out_channels, T, H, W].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& y = {},
                     const at::Tensor& text = {});

  const LatteConfig& config() const { return cfg_; }
  // Trainable parameters (everything but pos_embed / temp_embed, which the official code freezes).
  int64_t num_trainable_parameters() const;

 private:
  at::Tensor condition(const at::Tensor& t, const at::Tensor& y, const at::Tensor& text, int64_t batch);

  LatteConfig cfg_;
  std::shared_ptr<torch::nn::Module> x_embedder_, t_mlp_, y_table_, text_proj_;
  at::Tensor patch_w_, patch_b_, label_table_;
  at::Tensor pos_embed_, temp_embed_;
  std::vector<std::shared_ptr<latte_detail::BlockImpl>> blocks_;
  std::vector<std::shared_ptr<latte_detail::FactorizedBlockImpl>> fblocks_;
  std::shared_ptr<latte_detail::FinalLayerImpl> final_;
};
TORCH_MODULE(Latte);

// Loads an official Latte state dict (strict: one longvid::Error listing every missing, unexpected
// and mis-shaped key with both shapes).
void load_latte(LatteImpl& model, const StateDict& sd);

// Denoiser adapter: eps (+ learned-range variance channels when learn_sigma). Conditioning:
// class_label (extras 2; absent = the null class, the unconditional branch of CFG), context
// (extras 78). A frame mask is refused by the released Latte; a `masked` model takes it as LVDM's
// concat-adm-mask does (mask channel, condition latents, noise level s as its label).
class LatteDenoiser : public Denoiser {
 public:
  explicit LatteDenoiser(Latte net);
  at::Tensor forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c) override;
  Prediction prediction() const override { return Prediction::Eps; }
  bool learned_sigma() const override { return net_->config().learn_sigma; }
  Latte& net() { return net_; }

 private:
  Latte net_;
};

}  // namespace longvid
