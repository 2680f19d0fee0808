#include "api/model.h"

#include "core/assets.h"
#include "core/error.h"
#include "core/log.h"
#include "pipeline/lvdm_family.h"

namespace longvid {

VideoPipeline load_model(const ModelSpec& s) {
  if (s.interp_model.empty() && !s.interp_config.empty()) fail("--interp-config given without --interp-model");
  if (s.model.empty() || s.model == "random") {
    if (!s.config.empty() && s.model.empty()) fail("--config given without --model");
    if (!s.vae.empty()) fail("--vae given without --model (the default model carries its autoencoder)");
    if (!s.tokenizer.empty()) fail("--tokenizer given without --model (the default models carry their own)");
    if (!s.interp_model.empty()) fail("--interp-model given without --model (the prediction model)");
  }
  if (s.model == "random" && !s.config.empty()) return random_pipeline_from_config(s.config, /*seed=*/0, s.load);
  if (s.model == "random") {
    spdlog::warn("--model random: a tiny LVDM-shaped model with random weights (structured noise, not content)");
    return lvdm_random_tiny_masked(/*weight_seed=*/0, s.random_latent_size, s.load);
  }
  ModelSource src;
  if (s.model.empty()) {
    src.checkpoint = find_asset(s.text ? kDefaultTextModelAsset : kDefaultModelAsset,
                                "pass --model, or set LONGVID_ASSETS to the folder holding default/");
    spdlog::info("default {}model: {}", s.text ? "text " : "", src.checkpoint.string());
    // The text model shares the default model's autoencoder (it was trained on its latents).
    if (s.text) src.autoencoder = find_asset(kDefaultModelAsset);
  } else {
    src.checkpoint = s.model;
    src.config = s.config;
    src.interp_checkpoint = s.interp_model;
    src.interp_config = s.interp_config;
    src.autoencoder = s.vae;
    src.tokenizer = s.tokenizer;
  }
  return load_pipeline(src, s.load);
}

}  // namespace longvid
