// The denoiser network as the latent-diffusion trainer (train/lvdm_trainer.h) sees it: the module
// whose parameters are trained, its forward on LVDM's concat-adm-mask input, and the config node
// (`model.params.unet_config`, as in LDM: a target class and its params) that lets the LVDM family
// (pipeline/lvdm_family.cpp) rebuild it. One adapter per backbone; the trainer knows none of them.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backbones/latte.h"
#include "backbones/lvdm_unet3d.h"

namespace torch::nn {
class Module;
}

namespace longvid {

struct TrainableDenoiser {
  std::shared_ptr<torch::nn::Module> module;
  // x [B, C + 1, T, h, w] (noisy latents with the given frames replaced, + the mask channel),
  // t [B] diffusion timesteps, s [B] condition noise levels (the label), context [B, L, D] (text
  // models, else undefined) -> eps [B, C, T, h, w].
  std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t, const at::Tensor& s, const at::Tensor& context)>
      forward;
  int64_t in_channels = 0, out_channels = 0, num_classes = 0;
  int64_t context_dim = 0;  // > 0: the network attends to a text context of this width
  // Parameters saved but not trained (Latte's sin-cos pos_embed / temp_embed, frozen as in the
  // official train.py).
  std::vector<std::string> frozen;
  std::string describe;  // one line: backbone, size, parameters
  // The unet_config node as JSON ({"target": ..., "params": {...}}) for latents of size latent_hw.
  std::function<std::string(int64_t latent_hw)> config_json;
  int64_t num_parameters() const;
};

// LVDM's FrameInterpPredUNet (lvdm/models/modules/openaimodel3d.py); target
// "lvdm.models.modules.openaimodel3d.FrameInterpPredUNet".
TrainableDenoiser trainable_denoiser(LvdmUNet3D unet);
// A masked Latte (backbones/latte.h, `masked`); target kLatteTarget, params = the LatteConfig fields.
TrainableDenoiser trainable_denoiser(Latte latte);

// Latte sizes for `longvid train --backbone latte`: "tiny" (width 128, depth 8, 4 heads), "small"
// (width 256, depth 12, 8 heads), patch 2, or any official preset name ("Latte-S/2", ...); masked,
// label = s (num_classes max_noise_level + 1, no null row), eps only (no learned sigma), built for
// `latent_t` latent frames of latent_hw².
LatteConfig latte_train_preset(const std::string& name, int64_t z_channels, int64_t max_noise_level, int64_t latent_t,
                               int64_t latent_hw);

}  // namespace longvid
