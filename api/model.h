// Loading the model a use-case runs: the bundled default model, a tiny random-weight model (tests),
// or any checkpoint the model-family registry knows (pipeline/model_registry.h).
#pragma once
#include <cstdint>
#include <string>

#include "pipeline/model_registry.h"

namespace longvid {

struct ModelSpec {
  std::string model;  // "": the bundled default model (assets/default); "random": a tiny random-weight
                      // LVDM-shaped model (structured noise, for tests), or with `config` the model of that
                      // official config with random weights (benchmarks); else a checkpoint path
  std::string config;                      // its config (official YAML); empty: stored / inferred
  std::string interp_model, interp_config;  // a separate interpolation model (long videos)
  std::string vae;                         // the autoencoder, for checkpoints that hold none (Latte)
  std::string tokenizer;                   // the text encoder's tokenizer files (LVDM text2video)
  bool text = false;                       // a prompt was given: with model "", the bundled text model
  int64_t random_latent_size = 8;          // "random": latent size (frames are 8x larger)
  PipelineLoadOptions load;                // weights choice, device, dtype
};

// Option errors (a config without a model, ...) throw longvid::Error before anything is loaded.
VideoPipeline load_model(const ModelSpec& spec);

}  // namespace longvid
