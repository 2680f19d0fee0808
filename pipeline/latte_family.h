// The Latte model family (Vchitect/Latte): the video transformer (backbones/latte.h) with the
// per-frame Stable Diffusion VAE (vae3d/frame_autoencoder_kl.h), sampled as sample/sample.py does:
// DDPM respaced to 250 steps with the learned-range variance (guided-diffusion linear betas,
// T = 1000), classifier-free guidance on the first C channels (UCF-101: scale 7, null class 101),
// latents decoded per frame at 1/0.18215.
//
// Checkpoints: the official torch pickles {"model", "ema"} (the EMA weights unless --weights raw,
// as utils.find_model), a bare state dict, or safetensors. Latte checkpoints hold no autoencoder:
// it comes from ModelSource::autoencoder (--vae: a diffusers folder, e.g. the Latte folder's vae/,
// or an SD VAE file). The config: an official sample YAML (--config configs/ucf101/ucf101_sample.yaml),
// else the shapes of the weights (published sizes; the head count of other widths needs a config).
#pragma once
#include "backbones/latte.h"
#include "pipeline/model_registry.h"

namespace longvid {

// The registry entry (pipeline/model_registry.cpp).
ModelFamily latte_family();

// The Latte network of a Latte pipeline's main denoiser; throws for other families.
Latte latte_net_of(const VideoPipeline& pipe);

}  // namespace longvid
