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

int64_t sample_video_index(uint64_t seed, int64_t k, int64_t n) {
  const int64_t epoch = k / n;
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[below(sample_seed(seed, epoch, 100 + i), i + 1)]);
  return perm[k % n];
}

int64_t sample_clip_start(uint64_t seed, int64_t k, int64_t n) { return below(sample_seed(seed, k, 1), n); }

at::Tensor resize_center_crop(const at::Tensor& video_u8, int64_t size) {
  at::Tensor x = video_u8.permute({0, 3, 1, 2}).to(at::kFloat);
  int64_t h = x.size(2), w = x.size(3);
  if (h == size && w == size) return video_u8.contiguous();
  if (std::min(h, w) != size) {
    double s = static_cast<double>(size) / static_cast<double>(std::min(h, w));
    int64_t nh = std::max<int64_t>(size, static_cast<int64_t>(std::lround(h * s)));
    int64_t nw = std::max<int64_t>(size, static_cast<int64_t>(std::lround(w * s)));
    x = at::_upsample_bilinear2d_aa(x, {nh, nw}, false);
    h = nh;
    w = nw;
  }
  int64_t top = (h - size) / 2, left = (w - size) / 2;
  x = x.slice(2, top, top + size).slice(3, left, left + size);
  return x.round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

std::vector<std::filesystem::path> list_training_videos(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (root.empty()) fail("--data: no training data folder given");
  if (!fs::exists(root, ec)) fail("--data {}: no such file or directory", root.string());
  static const std::vector<std::string> exts{".mp4", ".webm", ".y4m", ".gif", ".mkv", ".mov", ".avi"};
  auto is_video = [&](const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), ::tolower);
    return std::find(exts.begin(), exts.end(), e) != exts.end();
  };
  std::vector<fs::path> paths;
  if (fs::is_regular_file(root)) {
    paths.push_back(root);
  } else {
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file() && is_video(it->path())) paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty())
    fail("--data {}: no videos found (looked for .mp4 .webm .y4m .gif .mkv .mov .avi, recursively)", root.string());
  return paths;
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
  paths_ = list_training_videos(o_.root);
  const int64_t need = (o_.clip_frames - 1) * o_.frame_stride + 1;
  for (const auto& p : paths_) {
    at::Tensor v = read_video(p);  // uint8 [F, H, W, 3]
    if (v.size(0) < need)
      fail("{}: {} frames, but a clip of {} frames with stride {} needs {}", p.string(), v.size(0), o_.clip_frames,
           o_.frame_stride, need);
    videos_.push_back(resize_center_crop(v, o_.size));
  }
}

at::Tensor FolderClipSource::samples(int64_t k0, int64_t n) {
  const int64_t N = num_videos();
  const int64_t need = (o_.clip_frames - 1) * o_.frame_stride + 1;
  std::vector<at::Tensor> out;
  for (int64_t k = k0; k < k0 + n; ++k) {
    const at::Tensor& v = videos_[sample_video_index(o_.seed, k, N)];
    int64_t start = sample_clip_start(o_.seed, k, v.size(0) - need + 1);
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
