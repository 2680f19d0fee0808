// LvdmPipeline: an LVDM model set (3D U-Net denoiser + 3D video autoencoder + noise schedule) and
// short-clip generation: noise -> sampler -> latent -> streamed decode -> frames into a FrameSink.
// The long-video planner (keyframes + infill) builds on the same pieces.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "backbones/lvdm_unet3d.h"
#include "core/progress.h"
#include "hierarchy/long_video.h"
#include "sampler/sampler.h"
#include "sampler/schedule.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

class FrameSink;

struct LvdmPipelineOptions {
  // --weights: Auto follows LVDM's scripts (choose_lvdm_weights: EMA for long-video models that
  // have EMA weights, raw for short-clip models).
  LvdmWeights weights = LvdmWeights::Auto;
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;
};

// What a model was trained for (FrameInterpPredLatentDiffusion params of the official config):
// frame-mask conditioning (conditioning_key concat-adm-mask), condition noise level s as label
// (noisy_cond, max_noise_level), and the probabilities of the prediction / interpolation masks.
struct LvdmMaskInfo {
  bool masked = false;
  bool noisy_cond = false;
  int64_t max_noise_level = 0;
  double p_pred = 0.0, p_interp = 0.0;  // both 0 and masked: unknown (treated as "both")
  // > 0: trained with `longvid train --interp-consecutive` (model.params.interp_consecutive_latents):
  // its unconditional and prediction clips are keyframes this many latents apart and its
  // interpolation clips consecutive latents, so every video (even one clip long) is made
  // hierarchically.
  int64_t keyframe_stride = 0;
  bool can_predict() const { return masked && (p_pred > 0 || p_interp == 0); }
  bool can_interpolate() const { return masked && (p_interp > 0 || p_pred == 0); }
};

// Safetensors metadata key of a longvid-saved model: the whole config as JSON in the official
// LVDM structure (model.params.unet_config.params, first_stage_config.params.ddconfig, ...).
inline constexpr const char* kConfigMetadataKey = "longvid.config";

class LvdmPipeline {
 public:
  // An official LVDM short/long checkpoint (U-Net + first stage in one file) and its YAML config;
  // config empty: the config stored in the checkpoint's metadata (kConfigMetadataKey).
  static LvdmPipeline load(const std::filesystem::path& checkpoint, const std::filesystem::path& config,
                           const LvdmPipelineOptions& opts = {});
  // A small LVDM-shaped model with seeded random weights (what `generate` uses while no trained
  // default model is bundled). 64x64 frames, 16-frame clips.
  static LvdmPipeline random_tiny(uint64_t weight_seed, const LvdmPipelineOptions& opts = {});
  // The same, trained-for-both shaped: frame-mask conditioning (concat-adm-mask) with the noise
  // level s as label (LVDM's FrameInterpPredUNet, max_noise_level 250), so it drives both the
  // prediction and the interpolation clips of a long video. latent_size: 8 = 64x64 frames.
  static LvdmPipeline random_tiny_masked(uint64_t weight_seed, int64_t latent_size = 8,
                                         const LvdmPipelineOptions& opts = {});

  // Adds a separate interpolation model (an official lvdm_long *_interp checkpoint + config);
  // its first stage is not loaded (the prediction model's autoencoder decodes). Checks that both
  // models share the latent geometry.
  void attach_interpolation(const std::filesystem::path& checkpoint, const std::filesystem::path& config);

  const LvdmMaskInfo& mask_info() const { return mask_; }
  bool has_interpolation_model() const { return !interp_unet_.is_empty(); }
  // The prediction model and the interpolation model (the attached one, else the prediction
  // model itself) as MaskedClipModels. Throws when the models cannot do `mode`.
  LongVideoModels long_video_models(LongVideoMode mode);
  // An identity of the loaded weights for resume checks (paths, sizes and a few checksums).
  std::string weights_id() const { return weights_id_; }

  const LvdmUNetConfig& unet_config() const { return unet_->config(); }
  const LvdmAe3dConfig& ae_config() const { return ae_->config(); }
  const NoiseSchedule& schedule() const { return *schedule_; }
  LvdmUNet3D& unet() { return unet_; }
  LvdmAutoencoder3D& autoencoder() { return ae_; }
  std::string describe() const;

  // Output geometry for a requested frame count: latent frames needed and the frames the
  // decoder will produce (>= frames; the caller trims). Throws longvid::Error for frames < 1.
  struct ClipShape {
    int64_t latent_t, latent_h, latent_w;
    int64_t frames_decoded, height, width;
  };
  ClipShape clip_shape(int64_t frames) const;

  // Samples one clip of `frames` frames and streams them (uint8 RGB, LVDM's truncating
  // ((x+1)*127.5).clamp(0,255) conversion) into `sink`. Returns the final latent.
  at::Tensor generate(int64_t frames, const SamplerOptions& sampler, at::Generator& gen, FrameSink& sink,
                      const ProgressFn& progress = {}, int64_t decode_window = 0);

  // Decodes a (normalised) latent [1, C, t, h, w] and streams the first `frames` frames.
  // decode_window: latent frames per window (overlap 2); 0: all at once; < 0: the autoencoder's
  // default windows (default_decode_window()).
  void decode_to_sink(const at::Tensor& z, int64_t frames, FrameSink& sink, int64_t decode_window = 0);

 private:
  LvdmPipeline(LvdmUNet3D unet, LvdmAutoencoder3D ae, NoiseSchedule schedule, int64_t latent_size,
               LvdmPipelineOptions opts);
  LvdmUNet3D unet_;
  LvdmUNet3D interp_unet_{nullptr};
  LvdmMaskInfo mask_, interp_mask_;
  std::unique_ptr<LvdmUNetDenoiser> pred_den_, interp_den_;
  std::string weights_id_;
  LvdmAutoencoder3D ae_;
  std::shared_ptr<NoiseSchedule> schedule_;
  int64_t latent_size_;  // the latent H = W the U-Net was trained at (LVDM's model.params.image_size)
  LvdmPipelineOptions opts_;
};

// [B, 3, T, H, W] float in [-1, 1] -> uint8 [T, H, W, 3] (CPU) for batch item 0:
// ((x + 1) * 127.5).clamp(0, 255), then truncated (LVDM's sampling scripts, the default) or
// rounded to nearest (reconstruction, where it is the closer match to the input).
enum class Quantize { Truncate, Round };
at::Tensor video_to_uint8(const at::Tensor& x, Quantize q = Quantize::Truncate);

}  // namespace longvid
