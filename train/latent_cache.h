// Latent cache for diffusion training: the frozen autoencoder's posterior (mean, std) over every
// training video, computed once with the bounded-memory encode_stream and saved as safetensors, so
// that `longvid train` samples latent clips instead of encoding pixel clips every step (on a CPU
// the 3D encoder costs far more than a small U-Net's step).
//
// Clip sampling mirrors FolderClipSource: sample k takes video perm_epoch(k / N)[k % N] and a
// latent start uniform over the valid starts, both from (seed, k); the posterior sample is drawn by
// the trainer from the same per-sample generator as for pixel clips.
//
// Differences from encoding each pixel clip (documented, deliberate): a clip's latents come from
// the encoding of the whole video (temporal context across the clip edges, as at generation time
// when long latent sequences are decoded), and clip starts are multiples of the temporal factor.
//
// File: tensors `mean.<i>`, `std.<i>` (float32 [z, t_i, h, w]) per video i; metadata
// `longvid.format` = "longvid.latent_cache/1", `longvid.latent_cache` = JSON {videos (paths),
// size, frame_stride, ae_config, ae_checksum, window, overlap}.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "train/clip_source.h"

namespace longvid {

class VideoAutoencoder;

// A cheap identity of the AE weights (count, sums of values and of squares over all parameters, in
// float64): a cache made with another AE is refused. The cache holds raw posteriors, so the
// latent scale / shift may differ.
std::string ae_checksum(VideoAutoencoder& ae);

class LatentCache {
 public:
  // Encodes every video found under o.root (FolderClipSource's rules: shorter side resized to
  // o.size, centre crop, every o.frame_stride-th frame) and writes `file` atomically.
  static void build(const FolderClipOptions& o, VideoAutoencoder& ae, const std::filesystem::path& file,
                    int64_t window = 64, int64_t overlap = 16);
  // Loads a cache; longvid::Error when the file is not one.
  explicit LatentCache(const std::filesystem::path& file);

  // Throws longvid::Error naming the mismatch when the cache was made with another AE or frame
  // size / stride.
  void check_matches(VideoAutoencoder& ae, int64_t size, int64_t frame_stride) const;

  // Posterior mean and std of samples k0 .. k0+n-1, each [n, z, latent_frames, h, w].
  std::pair<at::Tensor, at::Tensor> samples(int64_t k0, int64_t n, int64_t latent_frames, uint64_t seed) const;

  // The video and latent start that samples() takes for sample k.
  std::pair<int64_t, int64_t> sample_window(int64_t k, int64_t latent_frames, uint64_t seed) const;
  // The video file of entry i (as found when the cache was built).
  const std::string& video_path(int64_t i) const { return videos_.at(static_cast<size_t>(i)); }
  int64_t frame_stride() const { return frame_stride_; }

  int64_t num_videos() const { return static_cast<int64_t>(mean_.size()); }
  int64_t min_latent_frames() const;
  std::string describe() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<at::Tensor> mean_, std_;
  int64_t size_ = 0, frame_stride_ = 1;
  std::string ae_checksum_;
  std::vector<std::string> videos_;
};

}  // namespace longvid
