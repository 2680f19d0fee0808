// The model-family registry: one entry per family of checkpoints the engine knows. Each entry
// detects its layouts from a checkpoint's tensor names (and stored config), describes them, and,
// for denoiser families, loads a VideoPipeline. `generate`, `extend`, `fvd --model`, `inspect` and
// `vae` go through here; nothing above this layer names a family.
//
// Adding a family: its own files (backbones/<family>*, pipeline/<family>_family.cpp with a
// `ModelFamily <family>_family()` function) plus one line in model_families()
// (pipeline/model_registry.cpp).
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/video_pipeline.h"

namespace torch::nn {
class Module;
}

namespace longvid {

class StateDict;
enum class WeightsChoice;  // core/checkpoint.h

struct PipelineLoadOptions {
  // Raw or EMA weights; Auto: what the family's own sampling scripts use.
  WeightsChoice weights{};
  c10::Device device = c10::Device(c10::kCPU);
  // bf16 / fp16: the denoisers' weights are cast at load (apply_precision); with `autocast` they stay
  // float32 and run under autocast instead (VideoPipeline::autocast_dtype).
  c10::ScalarType dtype = c10::kFloat;
  bool autocast = false;
  // The autoencoder's precision (VideoAutoencoder::set_compute_dtype): float32 unless asked.
  c10::ScalarType vae_dtype = c10::kFloat;
};

// Whether a family builds its denoisers in a WeightArenaScope (core/weight_arena.h): not when their
// weights are cast to bf16 / fp16 right after the load (apply_precision), since the float32 blocks
// would then stay until the last tensor in each was cast (peak: float32 + bf16 copies, not one).
bool use_weight_arena(const PipelineLoadOptions& opts);

// What a family calls on each denoiser network it builds, after moving it to the device: casts it to
// opts.dtype for inference (nn::cast_for_inference) unless opts.autocast; returns the values cast.
int64_t apply_precision(torch::nn::Module& denoiser, const PipelineLoadOptions& opts);
// ... and on the pipeline it returns (also sets its autoencoder's compute dtype).
void set_precision(VideoPipeline& p, const PipelineLoadOptions& opts);

// Where a model comes from: a checkpoint and, optionally, its config (official YAML; empty: the
// config stored in the checkpoint, or inferred), and an optional separate interpolation model.
struct ModelSource {
  std::filesystem::path checkpoint, config;
  std::filesystem::path interp_checkpoint, interp_config;
  // The autoencoder, for families whose checkpoints hold none (Latte: the SD VAE, --vae).
  std::filesystem::path autoencoder;
  // The text encoder's tokenizer, for text-conditioned models whose checkpoints hold the encoder
  // weights but not its vocabulary (LVDM text2video: a folder with CLIP's vocab.json + merges.txt,
  // or openai's bpe_simple_vocab_16e6.txt).
  std::filesystem::path tokenizer;
};

struct ModelFamily {
  std::string id;           // "lvdm", "latte", "autoencoder"
  std::string description;  // one line
  // The layout id of `sd` if it is one of this family's ("lvdm-short", ...), else "".
  std::function<std::string(const StateDict& sd)> detect;
  // One line describing a detected layout (and what was seen, e.g. EMA weights).
  std::function<std::string(const StateDict& sd, const std::string& layout)> describe;
  // True when a config file's text is one of this family's official configs (so a config of one
  // family with a checkpoint of another is refused with one line before anything is built).
  std::function<bool(const std::string& config_text)> is_config;
  // Builds the pipeline (empty for families that hold no denoiser, e.g. bare autoencoders).
  std::function<VideoPipeline(const StateDict& sd, const ModelSource& src, const PipelineLoadOptions& opts)> load;
  // A model of this family built from one of its configs with seeded random weights (benchmarks at
  // the official sizes without checkpoints: `longvid bench --model random --config sky.yaml`).
  std::function<VideoPipeline(const std::string& config_text, const std::string& origin, uint64_t seed,
                              const PipelineLoadOptions& opts)>
      random;
  // Families loaded from a folder (diffusers pipelines): whether a directory is one of theirs, and its
  // pipeline (empty: the family loads files only).
  std::function<bool(const std::filesystem::path& dir)> detect_folder;
  std::function<VideoPipeline(const ModelSource& src, const PipelineLoadOptions& opts)> load_folder;
  // Attaches a separate interpolation model to a pipeline of this family (empty: not supported).
  std::function<void(VideoPipeline& pipe, const StateDict& sd, const ModelSource& src,
                     const PipelineLoadOptions& opts)>
      attach_interpolation;
};

// Identity of a checkpoint file for resume checks: its absolute path and size.
std::string checkpoint_file_id(const std::filesystem::path& p);

// Every registered family, in detection order.
const std::vector<ModelFamily>& model_families();

struct DetectedLayout {
  const ModelFamily* family = nullptr;  // null: unknown
  std::string layout = "unknown";       // "lvdm-short", "latte", "lvdm-ae3d", ... or "unknown"
  std::string description;              // one line
};
DetectedLayout detect_layout(const StateDict& sd);

// A random-weight pipeline of the family whose config `config_path` is (one line when none is).
VideoPipeline random_pipeline_from_config(const std::filesystem::path& config_path, uint64_t seed,
                                          const PipelineLoadOptions& opts = {});

// Loads a model through its family: the checkpoint is read once (by content), its family detected
// from the tensor names, the pipeline built, and the interpolation model attached when given.
// One longvid::Error naming the file and what was found when no family can load it.
VideoPipeline load_pipeline(const ModelSource& src, const PipelineLoadOptions& opts = {});

}  // namespace longvid
