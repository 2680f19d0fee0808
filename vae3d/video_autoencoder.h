// VideoAutoencoder: the common interface of the video autoencoders (docs/DESIGN.md, vae3d/):
// LvdmAutoencoder3D (3D convolutions over [B, C, T, H, W]) and FrameAutoencoderKL (SD's 2D VAE
// applied frame by frame). Everything between modules uses the latent layout [B, C, t, h, w].
//
//   encode(video)  -> DiagonalGaussian over the raw latent (mode() = mean; sample(gen) draws from
//                     the caller's generator)
//   decode(z)      -> video, from a raw latent
//   encode_latent / decode_latent: the same with the diffusion model's latent normalisation
//   decode_stream  -> any number of latent frames in bounded memory (temporal windows), frames
//                     handed to a sink in order
//   encode_stream  -> any number of video frames from a source in bounded memory (overlapping
//                     temporal windows, blended), posterior frames handed to a sink in order
//   set_tiling()   -> spatial tiling with linear overlap blending for large frames (encode,
//                     decode and both streams), diffusers' tiled VAE scheme; off by default.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/device.h"

namespace longvid {

// The posterior of the encoder (LVDM lvdm/models/modules/distributions.py, diffusers
// DiagonalGaussianDistribution): moments split in two along channels; logvar clamped to [-30, 20].
struct DiagonalGaussian {
  torch::Tensor mean, logvar;
  static DiagonalGaussian from_moments(const torch::Tensor& moments);
  torch::Tensor std() const { return torch::exp(0.5 * logvar); }
  torch::Tensor var() const { return torch::exp(logvar); }
  torch::Tensor mode() const { return mean; }
  // mean + std * noise, noise ~ N(0, 1) drawn from `gen` (on the generator's device, then moved
  // to mean's device, so a CPU generator gives the same latent on every device).
  torch::Tensor sample(at::Generator gen) const;
};

// Spatial tiling, in video pixels. Tiles are tile x tile squares starting every tile - overlap
// pixels (the last row / column is moved back to end at the frame's edge); each tile is encoded
// (decoded) on its own and neighbouring results are blended linearly across their shared band,
// as diffusers' AutoencoderKL.tiled_encode / tiled_decode (blend_v / blend_h). tile and overlap
// must be multiples of the autoencoder's spatial factor. A frame no larger than one tile is
// processed whole: bit-identical to untiled.
struct SpatialTiling {
  int64_t tile = 0;     // 0 = off
  int64_t overlap = 0;  // pixels shared by neighbouring tiles
  bool enabled() const { return tile > 0; }
};

// Temporal windows, in latent frames (for a frame-wise AE, frames per batch; overlap unused).
struct TemporalWindow {
  int64_t window = 0;  // 0 = everything in one pass
  int64_t overlap = 0;
};

using VideoChunkSink = std::function<void(const torch::Tensor&)>;       // video [B, C, n, H, W]
using PosteriorChunkSink = std::function<void(const DiagonalGaussian&)>;  // raw latent [B, z, n, h, w]
// The next chunk of video [B, C, n, H, W] (n >= 1, any size per call) in [-1, 1], or an undefined
// tensor at the end. H and W must be multiples of the spatial factors (pad before).
using VideoChunkSource = std::function<torch::Tensor()>;

class VideoAutoencoder {
 public:
  virtual ~VideoAutoencoder() = default;

  virtual std::string kind() const = 0;                // "lvdm3d" | "frame2d"
  virtual std::array<int64_t, 3> factors() const = 0;  // (T, H, W): video size / latent size
  virtual int64_t latent_channels() const = 0;
  virtual int64_t video_channels() const = 0;
  virtual double scale_factor() const = 0;
  virtual double shift_factor() const = 0;
  virtual torch::Tensor normalize_latent(const torch::Tensor& z) const = 0;
  virtual torch::Tensor denormalize_latent(const torch::Tensor& z) const = 0;
  virtual std::string config_json() const = 0;
  virtual torch::nn::Module& module() = 0;
  // The CLI defaults, chosen from the measurements in docs/vae.md.
  virtual TemporalWindow default_decode_window() const = 0;
  virtual TemporalWindow default_encode_window() const = 0;
  // Latent frames of the clips the autoencoder was trained on when it records them (a 3D AE's
  // GroupNorm statistics span its training clip, so longer clips are best processed in windows of
  // this length); 0: not recorded.
  virtual int64_t trained_window() const { return 0; }

  // Whole clip; spatially tiled when tiling() is on.
  virtual DiagonalGaussian encode(const torch::Tensor& video);
  virtual torch::Tensor decode(const torch::Tensor& z);
  // encode + normalise: the posterior mode, or a sample from `gen` when given.
  torch::Tensor encode_latent(const torch::Tensor& video, std::optional<at::Generator> gen = std::nullopt);
  torch::Tensor decode_latent(const torch::Tensor& z) { return decode(denormalize_latent(z)); }

  // Bounded-memory decode of any number of latent frames (normalised first when `normalized`).
  virtual void decode_stream(const torch::Tensor& z, int64_t window, int64_t overlap, const VideoChunkSink& sink,
                             bool normalized = false) = 0;
  // Bounded-memory encode of a video arriving in chunks: see each implementation. Frames that do
  // not fill the last temporal factor are padded by repeating the last frame (the number of
  // padded frames is returned).
  virtual int64_t encode_stream(const VideoChunkSource& source, int64_t window, int64_t overlap,
                                const PosteriorChunkSink& sink) = 0;
  // encode_stream of an in-memory clip, collected (tests, benchmarks).
  DiagonalGaussian encode_windowed(const torch::Tensor& video, int64_t window, int64_t overlap,
                                   int64_t source_chunk = 7);

  // Precision of the passes (`--vae-dtype`): float32 (the default), or bf16 / fp16 with the whole
  // module cast; encode and decode then take and return float32 as before, casting at their entry.
  // bf16 decodes the sky AE 3.2x faster on a CPU with AMX (docs/performance.md, "Session 23").
  void set_compute_dtype(at::ScalarType dtype);
  at::ScalarType compute_dtype() const { return compute_dtype_; }

  void set_tiling(SpatialTiling t);
  const SpatialTiling& tiling() const { return tiling_; }

  // Layout of inference on the CPU (no grad): channels-last (NDHWC / NHWC) lets oneDNN run the
  // convolutions without their NCDHW reorders: 1.14x (decode) and 1.17x (encode) for LVDM's sky
  // AE (docs/performance.md). Values differ from the reference layout's by float rounding (the
  // parity tests hold at 1e-5 in both). On by default; LONGVID_AE_LAYOUT=ncdhw in the environment,
  // or set_channels_last(false), keeps the reference layout (and its exact ops). Inputs and
  // outputs stay contiguous NCDHW either way; passes with grad (training) always run the
  // reference layout.
  void set_channels_last(bool on) { channels_last_ = on; }
  bool channels_last() const { return channels_last_; }

 protected:
  // Whether a pass on `x` runs channels-last, with the module's convolution weights (`weight_dim`-D
  // parameters) switched to match: a conv runs channels-last only when its input AND its weight
  // are, and channels-last weights change an NCDHW conv's rounding, so the weights follow the
  // layout of the pass (converted when it changes: once for inference).
  bool use_channels_last(const torch::Tensor& x, int64_t weight_dim);
  // One forward pass, no tiling: video -> moments [B, 2 z, t, h, w] (after quant_conv), and raw
  // latent -> video.
  virtual torch::Tensor encode_moments_untiled(const torch::Tensor& video) = 0;
  virtual torch::Tensor decode_untiled(const torch::Tensor& z) = 0;
  // With tiling() applied.
  torch::Tensor encode_moments(const torch::Tensor& video);

 private:
  SpatialTiling tiling_;
  bool channels_last_ = default_channels_last();
  bool weights_channels_last_ = false;
  at::ScalarType compute_dtype_ = at::kFloat;
  static bool default_channels_last();  // LONGVID_AE_LAYOUT
};

// ---- tiling and blending helpers (exposed for tests and benchmarks) ----------------------------

// Tile starts along one axis of `size` cells: 0, stride, 2 stride, ... with the last moved back to
// size - tile; one tile [0] when size <= tile.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap);

// Runs `fn` on overlapping spatial tiles of `x` [..., H, W] and blends the results linearly
// across each shared band (weights (k + 0.5) / band and the complement, normalised by the weight
// sum where more than two tiles meet). The layout is in cells (latent pixels): `tile` and
// `overlap` cells; a cell is `in_per_cell` input pixels and `out_per_cell` output pixels (encoder:
// f and 1; decoder: 1 and f). One call of fn on all of x when x is no larger than one tile.
torch::Tensor tiled_apply(const torch::Tensor& x, int64_t tile, int64_t overlap, int64_t in_per_cell,
                          int64_t out_per_cell, const std::function<torch::Tensor(const torch::Tensor&)>& fn);

// ---- loading by content --------------------------------------------------------------------------

// "lvdm3d" (LVDM 3D AE: encoder.conv_first, 5-D convs), "frame2d" (SD/diffusers 2D AutoencoderKL,
// either layout, under "", "first_stage_model." or "vae."), or "" when neither.
std::string detect_autoencoder_kind(const StateDict& sd);

struct VideoAutoencoderLoadOptions {
  std::string kind = "auto";  // auto | lvdm3d | frame2d
  std::string config;         // YAML / JSON config path; empty = from the folder or the weights
  DevicePolicy policy;
};

// Loads `path`: a checkpoint file (safetensors / .ckpt / .pt, any layout above) or a diffusers
// folder (config.json + diffusion_pytorch_model.safetensors / .bin). One longvid::Error naming
// the file on anything wrong (mis-shaped keys with both shapes). The model is in eval mode.
std::shared_ptr<VideoAutoencoder> load_video_autoencoder(const std::filesystem::path& path,
                                                         const VideoAutoencoderLoadOptions& opts = {});

}  // namespace longvid
