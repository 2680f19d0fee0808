#include "train/clip_source.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "train/dataset.h"

namespace longvid {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
// Uniform integer in [0, n) from a 64-bit hash (n small: the modulo bias is negligible).
int64_t below(uint64_t h, int64_t n) { return static_cast<int64_t>(h % static_cast<uint64_t>(n)); }
}  // namespace

uint64_t sample_seed(uint64_t seed, int64_t k, uint64_t stream) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(k)) ^ (stream * 0xD1B54A32D192ED03ULL)) &
         ((1ULL << 53) - 1);
}

TensorClipSource::TensorClipSource(at::Tensor clips) : clips_(std::move(clips)) {
  if (!clips_.defined() || clips_.dim() != 5 || clips_.size(1) != 3 || clips_.size(0) < 1 ||
      clips_.size(3) != clips_.size(4))
    fail("training clips must be a float tensor [N, 3, T, S, S], got {}",
         clips_.defined() ? fmt::format("[{}]", fmt::join(clips_.sizes(), ", ")) : std::string("nothing"));
  clips_ = clips_.to(at::kFloat).contiguous();
}

at::Tensor TensorClipSource::samples(int64_t k0, int64_t n) {
  std::vector<at::Tensor> out;
  for (int64_t k = k0; k < k0 + n; ++k) out.push_back(clips_[k % clips_.size(0)]);
  return at::stack(out).contiguous();
}

std::string TensorClipSource::describe() const {
  return fmt::format("{} in-memory clips of {} frames, {}x{}", clips_.size(0), clips_.size(2), clips_.size(3),
                     clips_.size(4));
}

FolderClipSource::FolderClipSource(const FolderClipOptions& o) : o_(o) {
  namespace fs = std::filesystem;
  if (o_.clip_frames < 1 || o_.frame_stride < 1 || o_.size < 1)
    fail("training data: clip frames ({}), frame stride ({}) and size ({}) must be positive", o_.clip_frames,
         o_.frame_stride, o_.size);
  std::error_code ec;
  if (o_.root.empty()) fail("--data: no training data folder given");
  if (!fs::exists(o_.root, ec)) fail("--data {}: no such file or directory", o_.root.string());
  static const std::vector<std::string> exts{".mp4", ".webm", ".y4m", ".gif", ".mkv", ".mov", ".avi"};
  auto is_video = [&](const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), ::tolower);
    return std::find(exts.begin(), exts.end(), e) != exts.end();
  };
  if (fs::is_regular_file(o_.root)) {
    paths_.push_back(o_.root);
  } else {
    for (auto it = fs::recursive_directory_iterator(o_.root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file() && is_video(it->path())) paths_.push_back(it->path());
  }
  std::sort(paths_.begin(), paths_.end());
  if (paths_.empty())
    fail("--data {}: no videos found (looked for .mp4 .webm .y4m .gif .mkv .mov .avi, recursively)",
         o_.root.string());
  const int64_t need = (o_.clip_frames - 1) * o_.frame_stride + 1;
  for (const auto& p : paths_) {
    at::Tensor v = read_video(p);  // uint8 [F, H, W, 3]
    if (v.size(0) < need)
      fail("{}: {} frames, but a clip of {} frames with stride {} needs {}", p.string(), v.size(0), o_.clip_frames,
           o_.frame_stride, need);
    // Shorter side -> size (bilinear, antialiased), centre crop.
    at::Tensor x = v.permute({0, 3, 1, 2}).to(at::kFloat);
    int64_t h = x.size(2), w = x.size(3);
    if (std::min(h, w) != o_.size) {
      double s = static_cast<double>(o_.size) / static_cast<double>(std::min(h, w));
      int64_t nh = std::max<int64_t>(o_.size, static_cast<int64_t>(std::lround(h * s)));
      int64_t nw = std::max<int64_t>(o_.size, static_cast<int64_t>(std::lround(w * s)));
      x = at::_upsample_bilinear2d_aa(x, {nh, nw}, false);
      h = nh;
      w = nw;
    }
    int64_t top = (h - o_.size) / 2, left = (w - o_.size) / 2;
    x = x.slice(2, top, top + o_.size).slice(3, left, left + o_.size);
    videos_.push_back(x.round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous());
  }
}

at::Tensor FolderClipSource::samples(int64_t k0, int64_t n) {
  const int64_t N = num_videos();
  const int64_t need = (o_.clip_frames - 1) * o_.frame_stride + 1;
  std::vector<at::Tensor> out;
  for (int64_t k = k0; k < k0 + n; ++k) {
    // Video: a per-epoch permutation (Fisher-Yates from the epoch's hash).
    const int64_t epoch = k / N;
    std::vector<int64_t> perm(N);
    std::iota(perm.begin(), perm.end(), 0);
    for (int64_t i = N - 1; i > 0; --i)
      std::swap(perm[i], perm[below(sample_seed(o_.seed, epoch, 100 + i), i + 1)]);
    const at::Tensor& v = videos_[perm[k % N]];
    int64_t start = below(sample_seed(o_.seed, k, 1), v.size(0) - need + 1);
    at::Tensor clip = v.slice(0, start, start + need, o_.frame_stride);  // [T, S, S, 3]
    out.push_back(clip.permute({3, 0, 1, 2}).to(at::kFloat) / 127.5 - 1.0);
  }
  return at::stack(out).contiguous();
}

std::string FolderClipSource::describe() const {
  return fmt::format("{} videos under {} (clips of {} frames, stride {}, {}x{})", videos_.size(), o_.root.string(),
                     o_.clip_frames, o_.frame_stride, o_.size, o_.size);
}

VideoDatasetClipSource::VideoDatasetClipSource(const VideoDatasetOptions& o)
    : ds_(std::make_unique<VideoDataset>(o)) {}
VideoDatasetClipSource::~VideoDatasetClipSource() = default;
at::Tensor VideoDatasetClipSource::samples(int64_t k0, int64_t n) { return ds_->samples(k0, n); }
int64_t VideoDatasetClipSource::clip_frames() const { return ds_->options().clip_frames; }
int64_t VideoDatasetClipSource::size() const { return ds_->options().size; }
int64_t VideoDatasetClipSource::num_videos() const { return ds_->num_videos(); }
std::string VideoDatasetClipSource::describe() const {
  const auto& o = ds_->options();
  return fmt::format("{} videos (clips of {} frames, stride {}, {}x{}; {} decoding threads)", ds_->num_videos(),
                     o.clip_frames, o.frame_stride, o.size, o.size, o.workers);
}

}  // namespace longvid
