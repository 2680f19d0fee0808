// The contract between samplers (sampler/) and networks (backbones/): a Denoiser maps a noisy
// latent x_t at integer timesteps t, plus optional conditioning, to the network's raw output
// (eps, v or x0; with learned sigma, 2C channels of which samplers use the first C).
// Latent layout is [B, C, T, H, W] (DESIGN.md).
#pragma once
#include <ATen/ATen.h>

namespace longvid {

// What the network predicts (diffusers: prediction_type epsilon | v_prediction | sample).
enum class Prediction { Eps, V, Sample };

// Everything a denoiser may be conditioned on; every field is optional (undefined tensor = absent).
struct Conditioning {
  at::Tensor mask;              // [B,1,T,H,W] frame mask (1 = given frame), LVDM concat-adm-mask
  at::Tensor cond_latent;       // [B,C,T,H,W] clean/perturbed condition latents
  at::Tensor cond_noise_level;  // [B] int64 noise level s (LVDM: fed as class label)
  at::Tensor class_label;       // [B] int64
  at::Tensor context;           // [B,L,D] text embeddings
};

// A field given for batch 1 serves any batch B (as in sampler/ GuidedDenoiser): every defined field
// with a leading dimension of 1 is expanded to B.
Conditioning expand_to_batch(const Conditioning& c, int64_t batch);

// LVDM's concat-adm-mask input (lvdm/models/ddpm3d.py apply_model): given frames take their
// condition latents, then the mask is concatenated as one more channel: [B, C + 1, T, H, W].
// No mask: all zeros (an unconditional clip). `who` names the model in the one-line errors.
at::Tensor concat_mask_input(const at::Tensor& x_t, const Conditioning& c, const char* who);

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  // x_t: [B,C,T,H,W]; t: [B] int64 timesteps in the training range [0, num_train_timesteps).
  virtual at::Tensor forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c) = 0;
  virtual Prediction prediction() const { return Prediction::Eps; }
  virtual bool learned_sigma() const { return false; }  // output has 2C channels; samplers use the first C
};

}  // namespace longvid
