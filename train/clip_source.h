// Training clips addressed by a global sample index k = 0, 1, 2, ... . A sample is a pure function
// of (seed, k), so that
//   * resuming needs only the next sample index (the "data position"),
//   * data-parallel ranks can each read their shard of a global batch (samples k0 + r*b ...),
//     and the union over ranks is exactly the batch a single process would read.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace longvid {

class VideoDataset;
struct VideoDatasetOptions;

// splitmix64 mix of (seed, k, stream): the seed of the per-sample generator.
uint64_t sample_seed(uint64_t seed, int64_t k, uint64_t stream);

class ClipSource {
 public:
  virtual ~ClipSource() = default;
  // Samples k0 .. k0 + n - 1 as float32 [n, 3, T, S, S] in [-1, 1] (CPU, contiguous).
  virtual at::Tensor samples(int64_t k0, int64_t n) = 0;
  virtual int64_t clip_frames() const = 0;
  virtual int64_t size() const = 0;
  virtual std::string describe() const = 0;
};

// In-memory clips [N, 3, T, S, S] in [-1, 1]; sample k is clip k % N (tests, small runs).
class TensorClipSource : public ClipSource {
 public:
  explicit TensorClipSource(at::Tensor clips);
  at::Tensor samples(int64_t k0, int64_t n) override;
  int64_t clip_frames() const override { return clips_.size(2); }
  int64_t size() const override { return clips_.size(3); }
  std::string describe() const override;

 private:
  at::Tensor clips_;
};

// The video of sample k among n: a per-epoch permutation (Fisher-Yates from the epoch's hash) of
// 0..n-1, at position k % n (every video once per epoch).
int64_t sample_video_index(uint64_t seed, int64_t k, int64_t n);
// Uniform integer in [0, n) for sample k (stream 1: the clip start).
int64_t sample_clip_start(uint64_t seed, int64_t k, int64_t n);

// Shorter side -> `size` (bilinear, antialiased), centre crop: uint8 [F, H, W, 3] -> [F, size, size, 3].
at::Tensor resize_center_crop(const at::Tensor& video_u8, int64_t size);

// The training videos under `root` (a video file, or mp4 / webm / y4m / gif / mkv / mov / avi files
// found recursively), sorted by path; longvid::Error when there are none.
std::vector<std::filesystem::path> list_training_videos(const std::filesystem::path& root);

struct FolderClipOptions {
  std::filesystem::path root;
  int64_t clip_frames = 16;
  int64_t frame_stride = 1;
  int64_t size = 64;
  uint64_t seed = 0;
};

// Videos (mp4 / webm / y4m / gif files, recursively, sorted by path) under a folder, each read
// once into memory as uint8 at the training size (shorter side resized to `size`, centre crop).
// Sample k: video (permutation of epoch k / N, from the seed)[k % N], clip start uniform over the
// valid starts (from (seed, k)). Meant for the small synthetic sets; large sets need a streaming
// reader (train/dataset.h VideoDataset).
class FolderClipSource : public ClipSource {
 public:
  explicit FolderClipSource(const FolderClipOptions& o);
  at::Tensor samples(int64_t k0, int64_t n) override;
  int64_t clip_frames() const override { return o_.clip_frames; }
  int64_t size() const override { return o_.size; }
  std::string describe() const override;
  int64_t num_videos() const { return static_cast<int64_t>(videos_.size()); }

 private:
  FolderClipOptions o_;
  std::vector<std::filesystem::path> paths_;
  std::vector<at::Tensor> videos_;  // uint8 [F, S, S, 3]
};

// The streaming reader of train/dataset.h (background decoding threads) as a ClipSource. Set the
// options' shard_block / shard_period / shard_offset to this rank's pattern (trainer: b, G, r*b)
// so the workers prefetch exactly the samples the trainer asks for.
class VideoDatasetClipSource : public ClipSource {
 public:
  explicit VideoDatasetClipSource(const VideoDatasetOptions& o);
  ~VideoDatasetClipSource() override;
  at::Tensor samples(int64_t k0, int64_t n) override;
  int64_t clip_frames() const override;
  int64_t size() const override;
  std::string describe() const override;
  int64_t num_videos() const;

 private:
  std::unique_ptr<VideoDataset> ds_;
};

}  // namespace longvid
