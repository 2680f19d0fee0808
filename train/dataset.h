// VideoDataset: random clips from folders of videos, decoded on background threads, as float
// batches [B, 3, T, S, S] in [-1, 1] (LVDM convention: x / 127.5 - 1).
//
//   VideoDatasetOptions o; o.roots = {"data/synth"}; o.clip_frames = 16; o.size = 64; o.seed = 1;
//   VideoDataset ds(o);
//   at::Tensor x = ds.next_batch(4);          // float32 [4, 3, 16, 64, 64], CPU, contiguous
//   std::string s = ds.state();               // small JSON; VideoDataset(o).restore(s) continues
//                                             // with exactly the batches that would have followed
//
// What counts as a video under a root: files ending in .mp4 .webm .mkv .mov .avi .gif .y4m, and
// directories that hold .png files (a PNG sequence, frames in name order). A root may itself be
// a video file or a PNG-sequence directory. Roots are searched recursively; the list is sorted by
// path, so it does not depend on directory order.
//
// Sampling: the dataset is an endless stream of samples numbered k = 0, 1, 2, ...; sample k
// belongs to epoch e = k / N (N = number of videos) and is video perm_e[k % N], where perm_e is a
// permutation drawn from (seed, e) (shuffle = false: the sorted order). Its clip start frame
// (uniform over the valid starts) and crop offset (random_crop) are drawn from (seed, k). All
// randomness is a pure function of (seed, k) through our own integer hash, so the batches do not
// depend on thread timing, on the number of workers, or on the C++ library.
//
// Clip k: frames start, start + stride, ..., start + (T - 1) * stride; each frame is resized so
// that its shorter side is `size` (bilinear with antialias; skipped when it already is), then
// cropped to size x size (centre, or a random offset shared by all frames of the clip).
//
// Threads: `workers` threads decode samples ahead of the consumer, at most `queue` samples ahead;
// next_batch() returns samples in order k, k+1, ... . workers = 0 decodes on the caller's thread.
// One consumer thread: next_batch / samples / restore are not meant to be called concurrently.
//
// Errors (longvid::Error, one line): no root / a root that does not exist, no videos found, a video
// shorter than (T - 1) * stride + 1 frames (named, with its length), an undecodable file (named).
// Videos are probed (size, frame count) when the dataset is built, so these fail early.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace longvid {

struct VideoDatasetOptions {
  std::vector<std::filesystem::path> roots;
  int64_t clip_frames = 16;   // T
  int64_t frame_stride = 1;   // take every stride-th frame
  int64_t size = 64;          // S: output frames are S x S
  bool random_crop = false;   // false: centre crop
  bool shuffle = true;        // false: videos in sorted order every epoch
  uint64_t seed = 0;
  int workers = 2;            // decoding threads (0: decode on the caller's thread)
  int64_t queue = 8;          // how many samples the workers may run ahead
  // Data-parallel sharding of the sample stream: with shard_block = b > 0, the i-th sample this
  // dataset yields is global sample k = (i / b) * shard_period + shard_offset + i % b. A rank r of
  // W reading a global batch G = W * b sets b, shard_period = G, shard_offset = r * b; the union
  // over ranks of each step's samples is then the single-process batch. 0: no sharding (k = i).
  int64_t shard_block = 0;
  int64_t shard_period = 0;
  int64_t shard_offset = 0;
};

// One video the dataset found.
struct VideoEntry {
  std::filesystem::path path;
  int width = 0, height = 0;
  int64_t frames = 0;
};

// Lists the videos under `roots` (see above), sorted by path. Does not open them.
std::vector<std::filesystem::path> find_videos(const std::vector<std::filesystem::path>& roots);

class VideoDataset {
 public:
  explicit VideoDataset(VideoDatasetOptions options);
  ~VideoDataset();  // stops and joins the workers
  VideoDataset(const VideoDataset&) = delete;
  VideoDataset& operator=(const VideoDataset&) = delete;

  int64_t num_videos() const;
  const std::vector<VideoEntry>& videos() const;
  const VideoDatasetOptions& options() const;

  // The next `batch` samples as float32 [B, 3, T, S, S] in [-1, 1]. A worker's decoding error is
  // rethrown here (as the longvid::Error it was).
  at::Tensor next_batch(int64_t batch);

  // Where the stream stands: {"seed":..,"next_sample":i,"epoch":e,"index":j,"num_videos":N}
  // (i: stream position; epoch/index of its global sample k, k / N and k % N, for humans). restore() continues from there; it fails when
  // the JSON is malformed or its seed / num_videos differ from this dataset's.
  std::string state() const;
  void restore(const std::string& state_json);

  // Global samples k0 .. k0 + n - 1 as float32 [n, 3, T, S, S] (random access, for trainers that
  // address samples by index, e.g. a ClipSource). Samples the prefetcher predicted (the stream's
  // next ones, sharding included) come from the workers; any other k moves the stream there
  // (if k is on this shard's pattern) or is decoded on the caller's thread.
  at::Tensor samples(int64_t k0, int64_t n);
  // Global sample index of the i-th sample of this dataset's stream, and the inverse (-1 when k is
  // not on this shard's pattern).
  int64_t global_index(int64_t i) const;
  int64_t stream_index(int64_t k) const;

  int64_t next_sample() const;  // stream position i of the next sample next_batch() returns
  int64_t epoch() const;        // next_sample() / num_videos()

  // One sample as uint8 [T, S, S, 3] (what the workers produce), decoded on the caller's thread;
  // for tests and tools. Does not move the stream.
  at::Tensor sample_uint8(int64_t k) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace longvid
