#include "api/fvd.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>
#include <optional>

#include "core/error.h"
#include "core/log.h"

namespace longvid {

namespace {
// Keeps frames 0, stride, ..., (length - 1) * stride as one uint8 clip [length, H, W, 3]; passes every
// frame on to an optional second sink.
class ClipSink : public FrameSink {
 public:
  ClipSink(int64_t length, int64_t stride, FrameSink* also) : length_(length), stride_(stride), also_(also) {}
  using FrameSink::push;
  void push(const FrameView& f) override {
    if (also_) also_->push(f);
    const int64_t i = seen_++;
    if (i % stride_ != 0 || i / stride_ >= length_) return;
    if (!clip_.defined()) clip_ = at::empty({length_, f.height, f.width, 3}, at::kByte);
    if (f.width != clip_.size(2) || f.height != clip_.size(1)) fail("generated frames changed size");
    auto* dst = clip_[i / stride_].data_ptr<uint8_t>();
    const int64_t row = int64_t{f.width} * 3, stride = f.row_bytes();
    for (int y = 0; y < f.height; ++y) std::memcpy(dst + y * row, f.data + y * stride, static_cast<size_t>(row));
    ++kept_;
  }
  void close() override {
    if (also_) also_->close();
  }
  at::Tensor clip() const {
    if (kept_ < length_) fail("a generated video has {} frames, fewer than the clip's {}", seen_, (length_ - 1) * stride_ + 1);
    return clip_;
  }

 private:
  int64_t length_, stride_;
  FrameSink* also_;
  at::Tensor clip_;
  int64_t seen_ = 0, kept_ = 0;
};

// Raises the log level to warnings for its lifetime (the per-video lines would drown the report).
struct WarningsOnly {
  spdlog::level::level_enum saved = spdlog::get_level();
  WarningsOnly() { spdlog::set_level(std::max(saved, spdlog::level::warn)); }
  ~WarningsOnly() { spdlog::set_level(saved); }
};
}  // namespace

eval::FeatureStats generated_feature_stats(VideoPipeline& pipe, const FakeSetRequest& r, eval::VideoDetector& det,
                                           const ProgressFn& progress) {
  if (r.num < 1) fail("--num {}: the number of videos to generate must be at least 1", r.num);
  if (r.batch < 1) fail("batch size must be >= 1, got {}", r.batch);
  const int64_t span = (r.clip_length - 1) * r.clip_stride + 1;
  if (r.generate.frames < span)
    fail("--gen-frames {}: shorter than a clip ({} frames with --clip-length {} --clip-stride {})", r.generate.frames,
         span, r.clip_length, r.clip_stride);
  if (!r.keep_dir.empty()) std::filesystem::create_directories(r.keep_dir);
  std::optional<eval::FeatureStats> acc;
  std::vector<at::Tensor> pending;
  auto flush = [&] {
    if (pending.empty()) return;
    at::Tensor f = det.features(at::stack(pending));
    if (f.dim() != 2 || f.size(0) != static_cast<int64_t>(pending.size()))
      fail("the detector returned features of shape {} for {} clips", c10::str(f.sizes()), pending.size());
    if (!acc) acc.emplace(f.size(1), r.keep_features);
    acc->add(f);
    pending.clear();
  };
  for (int64_t i = 0; i < r.num; ++i) {
    GenerateRequest g = r.generate;
    g.seed = r.seed0 + static_cast<uint64_t>(i);
    g.show_progress = false;
    g.state_dir.clear();  // no checkpoints: a video is short work
    g.resume = false;
    std::optional<VideoWriter> keep;
    if (!r.keep_dir.empty())
      keep.emplace(r.keep_dir / fmt::format("fake_{:06d}_seed{}.y4m", r.first + i, g.seed), WriteOptions{});
    ClipSink clip(r.clip_length, r.clip_stride, keep ? &*keep : nullptr);
    {
      WarningsOnly quiet;
      generate_video(pipe, g, clip);
    }
    pending.push_back(clip.clip());
    if (static_cast<int64_t>(pending.size()) >= r.batch) flush();
    if (progress) progress(i + 1, r.num);
  }
  flush();
  return std::move(*acc);
}

}  // namespace longvid
