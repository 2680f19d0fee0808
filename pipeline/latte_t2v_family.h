// The Latte-1 family: diffusers' LattePipeline (pipelines/latte/pipeline_latte.py) loaded from a
// diffusers folder (model_index.json with transformer/, vae/, text_encoder/, tokenizer/, scheduler/;
// configs read as they are): the LatteTransformer3DModel (backbones/latte_t2v.h), the per-frame SD VAE,
// the T5 v1.1 encoder (120 tokens, mask_feature truncation), the scheduler config's noise schedule
// and sampler (DDIM 50, eta 0), classifier-free guidance 7.5 over all channels with the variance half
// dropped, latents decoded per frame at 1 / scaling_factor.
#pragma once
#include <filesystem>

#include "backbones/latte_t2v.h"
#include "pipeline/model_registry.h"

namespace longvid {

// The registry entry (pipeline/model_registry.cpp).
ModelFamily latte_t2v_family();

// The folder's pipeline from an explicit scheduler config (JSON text): DDIM / DDPM from diffusers'
// DDIMScheduler / DDPMScheduler configs (tests build pipelines from parts).
SamplerOptions diffusers_sampler_defaults(const std::string& scheduler_json, const std::string& origin,
                                          NoiseSchedule* schedule = nullptr);

// The Latte-1 network of a pipeline of this family; throws for others.
LatteT2V latte_t2v_net_of(const VideoPipeline& pipe);

}  // namespace longvid
