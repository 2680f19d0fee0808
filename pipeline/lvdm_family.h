// The LVDM model family (YingqingHe/LVDM): the factorized 3D U-Net (backbones/lvdm_unet3d.h) with
// the 3D video autoencoder (vae3d/lvdm_autoencoder3d.h), from official .ckpt files and their YAML
// configs, or from longvid-trained safetensors that carry their config (kConfigMetadataKey).
#pragma once
#include "backbones/lvdm_unet3d.h"
#include "pipeline/model_registry.h"

namespace longvid {

// The registry entry (pipeline/model_registry.cpp).
ModelFamily lvdm_family();

// Small LVDM-shaped models with seeded random weights (tests, `--model random`): 16-frame clips.
// random_tiny: unconditional, 64x64 frames. random_tiny_masked: trained-for-both shaped: frame-mask
// conditioning (concat-adm-mask) with the noise level s as label (LVDM's FrameInterpPredUNet,
// max_noise_level 250), so it drives both the prediction and the interpolation clips of a long
// video; latent_size 8 = 64x64 frames.
VideoPipeline lvdm_random_tiny(uint64_t weight_seed, const PipelineLoadOptions& opts = {});
VideoPipeline lvdm_random_tiny_masked(uint64_t weight_seed, int64_t latent_size = 8,
                                      const PipelineLoadOptions& opts = {});

// The U-Net of an LVDM pipeline's main (or interpolation) denoiser; throws for other families.
LvdmUNet3D lvdm_unet_of(const VideoPipeline& pipe, bool interpolation = false);

}  // namespace longvid
