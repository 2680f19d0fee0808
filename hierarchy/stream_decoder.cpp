#include "hierarchy/stream_decoder.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "core/video_io.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

StreamingVideoDecoder::StreamingVideoDecoder(std::shared_ptr<VideoAutoencoder> ae, int64_t total_latents, int64_t frames,
                                             int64_t window, int64_t overlap, FrameSink& sink, c10::Device device,
                                             int64_t skip_frames)
    : ae_(std::move(ae)), total_(total_latents), frames_(frames), window_(window), overlap_(overlap), sink_(sink),
      device_(device), skip_(skip_frames) {
  if (!ae_) fail("decode: no autoencoder");
  if (total_ < 1) fail("decode: nothing to decode ({} latent frames)", total_);
  if (window_ <= 0) {
    spans_.emplace_back(0, total_);
    return;
  }
  if (overlap_ < 0 || overlap_ >= window_)
    fail("decode: temporal overlap {} must be >= 0 and smaller than the window ({} latent frames)", overlap_, window_);
  // The windows of decode_stream (and LVDM's overlapped_decode) for a sequence of total_ latents.
  for (int64_t start = 0; start <= total_; start += window_ - overlap_) {
    int64_t end = std::min(start + window_, total_);
    if (end > start) spans_.emplace_back(start, end);
  }
}

void StreamingVideoDecoder::push(const at::Tensor& z) {
  if (z.dim() != 5 || z.size(0) != 1) fail("decode: expected latents [1, C, n, h, w]");
  if (received_ + z.size(2) > total_)
    fail("decode: {} latent frames pushed, more than the {} announced", received_ + z.size(2), total_);
  auto zc = z.to(at::kCPU, at::kFloat);
  buf_ = buf_.defined() ? at::cat({buf_, zc}, 2) : zc.clone();
  received_ += z.size(2);
  decode_ready();
}

void StreamingVideoDecoder::decode_ready() {
  torch::NoGradGuard ng;
  const int64_t ft = ae_->factors()[0];
  const int64_t drop_r = overlap_ / 2, drop_l = overlap_ - drop_r;
  while (next_span_ < spans_.size() && spans_[next_span_].second <= received_) {
    const auto [start, end] = spans_[next_span_];
    const bool first = next_span_ == 0, last = next_span_ + 1 == spans_.size();
    auto zi = buf_.slice(2, start - buf_start_, end - buf_start_).to(device_);
    auto x = ae_->decode(ae_->denormalize_latent(zi));
    const int64_t n = x.size(2);
    int64_t lo = first ? 0 : std::min(drop_l * ft, n);
    int64_t hi = (last || window_ <= 0) ? n : std::min(window_ * ft - drop_r * ft, n);
    // Frames [decoded_, decoded_ + hi - lo) of the video; the first skip_ are context only.
    int64_t skip_here = std::clamp<int64_t>(skip_ - decoded_, 0, std::max<int64_t>(hi - lo, 0));
    decoded_ += std::max<int64_t>(hi - lo, 0);
    lo += skip_here;
    if (hi > lo && written_ < frames_) {
      auto u8 = video_to_uint8(x.slice(2, lo, hi));  // [m, H, W, 3]
      int64_t m = std::min<int64_t>(u8.size(0), frames_ - written_);
      u8 = u8.slice(0, 0, m);
      for (int64_t i = 0; i < m; ++i) {
        auto fr = u8[i];
        sink_.push(fr.data_ptr<uint8_t>(), static_cast<int>(fr.size(1)), static_cast<int>(fr.size(0)));
      }
      written_ += m;
      if (on_frames) on_frames(u8);
    }
    ++next_span_;
    // Latents before the next window's start are no longer needed.
    int64_t keep = next_span_ < spans_.size() ? spans_[next_span_].first : received_;
    if (keep > buf_start_) {
      buf_ = buf_.slice(2, keep - buf_start_).clone();
      buf_start_ = keep;
    }
  }
}

}  // namespace longvid
