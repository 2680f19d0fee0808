// VideoPipeline: what any model family gives the layers above it (hierarchy/, eval/, api/): the
// denoiser(s) with what each was trained for, the noise schedule, a VideoAutoencoder, an optional
// text encoder, and short-clip generation (noise -> sampler -> latent -> streamed decode -> frames
// into a FrameSink). Families build one through the registry (pipeline/model_registry.h); nothing
// above this layer knows which backbone or autoencoder it holds.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "backbones/denoiser.h"
#include "core/progress.h"
#include "sampler/sampler.h"
#include "sampler/schedule.h"

namespace longvid {

class FrameSink;
class VideoAutoencoder;

// A text encoder (CLIP, T5): prompts -> embeddings [B, L, D] for Conditioning::context.
class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  virtual std::string describe() const = 0;
  virtual int64_t width() const = 0;  // D
  virtual at::Tensor encode(const std::vector<std::string>& prompts) = 0;
  // The contexts of classifier-free guidance's two branches: the prompt's and the negative
  // prompt's, each [1, L, D]. Default: each encoded alone; Latte-1 truncates both to the prompt's
  // tokens (diffusers LattePipeline mask_feature).
  virtual std::pair<at::Tensor, at::Tensor> encode_pair(const std::string& prompt, const std::string& negative) {
    return {encode({prompt}), encode({negative})};
  }
};

// Autocast to bf16/fp16 while it lives (`--dtype bf16 --autocast`): weights stay float32 and the
// networks run under autocast, which picks the precision per op (convolutions and matmuls in the low
// dtype, norms and softmax in float32). fp32 / fp64: nothing changes. VideoPipeline::generate and the
// benchmarks open one with VideoPipeline::autocast_dtype().
class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool on_, prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::kFloat;
};

// What one denoiser was trained for and how it is called.
struct DenoiserCaps {
  // Latent geometry: channels, and the size the model was trained at (0 = any).
  int64_t latent_channels = 4, latent_height = 0, latent_width = 0;
  int64_t clip_len = 0;  // latent frames per clip (0 = any)
  Prediction prediction = Prediction::Eps;
  bool learned_sigma = false;
  int64_t num_classes = 0;  // class-conditional: size of the label table (0 = none)
  int64_t context_dim = 0;  // text-conditional: width of the context it attends to (0 = none)
  // Frame-mask conditioning (LVDM's concat-adm-mask: mask channel + condition latents), with the
  // condition noise level s as label (noisy_cond, s < max_noise_level) and the probabilities of the
  // prediction / interpolation masks it was trained with (both 0 and masked: unknown, "both").
  bool masked = false;
  bool noisy_cond = false;
  int64_t max_noise_level = 0;
  double p_pred = 0.0, p_interp = 0.0;
  // > 0: trained with `longvid train --interp-consecutive`: unconditional and prediction clips are
  // keyframes this many latents apart, interpolation clips consecutive latents; every video (even
  // one clip long) is then made hierarchically.
  int64_t keyframe_stride = 0;
  bool can_predict() const { return masked && (p_pred > 0 || p_interp == 0); }
  bool can_interpolate() const { return masked && (p_interp > 0 || p_pred == 0); }
};

// A denoiser with its capabilities.
struct PipelineDenoiser {
  std::shared_ptr<Denoiser> net;
  DenoiserCaps caps;
  std::string describe;  // one line for the log (family, size, conditioning)
  explicit operator bool() const { return static_cast<bool>(net); }
};

class VideoPipeline {
 public:
  std::string family;            // registry id ("lvdm", ...)
  PipelineDenoiser main;         // clips; for long videos the prediction model
  PipelineDenoiser interp;       // a separate interpolation model (empty: `main` interpolates if it can)
  std::shared_ptr<NoiseSchedule> schedule;
  std::shared_ptr<VideoAutoencoder> autoencoder;
  std::shared_ptr<TextEncoder> text_encoder;  // optional
  std::string weights_id;        // identity of the loaded weights, for resume checks
  c10::Device device = c10::Device(c10::kCPU);
  // The denoisers' precision (PipelineLoadOptions): float32, or bf16 / fp16 with weights cast at load
  // (nn::cast_for_inference; norms, softmax and the sampler in float32), or with `autocast` float32
  // weights under autocast. The text encoder runs in float32; the autoencoder in its own compute
  // dtype (VideoAutoencoder::set_compute_dtype, `--vae-dtype`).
  c10::ScalarType dtype = c10::kFloat;
  bool autocast = false;
  // The dtype for an AutocastScope around the denoisers' calls: `dtype` with autocast, else float32 (off).
  c10::ScalarType autocast_dtype() const { return autocast ? dtype : c10::kFloat; }
  // "" in float32; otherwise what the precision changes (a run's fingerprint takes it: a resumed run
  // never mixes precisions), e.g. "|dtype=bf16|vae=bf16" (core/device.h dtype_option_name).
  std::string precision_id() const;
  // What the family's own sampling script uses (LVDM: DDIM 50, eta 1; Latte: DDPM 250 respaced,
  // classifier-free guidance 7 for class-conditional models); callers start from these.
  SamplerOptions default_sampler;
  double default_cfg_scale = 1.0;
  // stable-diffusion.cpp's free_params_immediately: generate() frees the denoisers and the text
  // encoder once its clip is sampled, before decoding, so the decode reuses their memory (with the
  // weights in a few blocks, core/weight_arena.h; peak: the larger of the two phases, not their
  // sum). The pipeline then only decodes; another generate() or api generate_video() fails with one
  // line. For a caller that makes one video (`longvid generate` of one video sets it; long videos
  // do not go through generate() and keep their models).
  bool free_params_immediately = false;
  bool params_freed() const { return denoisers_freed_; }
  void check_params_not_freed() const;  // longvid::Error (one line) once they are

  bool has_interpolation_model() const { return static_cast<bool>(interp); }
  std::array<int64_t, 3> factors() const;  // the autoencoder's (T, H, W) factors
  std::string describe() const;

  // Output geometry for a requested frame count: latent frames needed and the frames the decoder
  // will produce (>= frames; the caller trims). Throws longvid::Error for frames < 1.
  struct ClipShape {
    int64_t latent_t, latent_h, latent_w;
    int64_t frames_decoded, height, width;
  };
  ClipShape clip_shape(int64_t frames) const;

  // Samples one unconditional clip of `frames` frames (class label / text context from `cond`
  // when the model takes them) and streams them (uint8 RGB, LVDM's truncating conversion) into
  // `sink` (not closed). cfg_scale != 1: classifier-free guidance against `uncond` (e.g. the null
  // class), both branches batched in one forward. Returns the final latent.
  at::Tensor generate(int64_t frames, const SamplerOptions& sampler, at::Generator& gen, FrameSink& sink,
                      const ProgressFn& progress = {}, int64_t decode_window = 0, const Conditioning& cond = {},
                      double cfg_scale = 1.0, const Conditioning& uncond = {});

  // Decodes a normalised latent [1, C, t, h, w] and streams the first `frames` frames.
  // decode_window: latent frames per window (overlap 2); 0: all at once; < 0: the autoencoder's
  // default windows.
  void decode_to_sink(const at::Tensor& z, int64_t frames, FrameSink& sink, int64_t decode_window = 0);

 private:
  bool denoisers_freed_ = false;
};

}  // namespace longvid
