// StreamingVideoDecoder: a LatentSink that decodes latent frames as they arrive with any
// VideoAutoencoder, in exactly the windows VideoAutoencoder::decode_stream uses for the whole sequence (so the frames are
// bit-identical to decoding the finished latent video in one call), converts them to uint8 RGB
// and writes the first `frames` of them to a FrameSink. It holds at most one window of latents.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "hierarchy/long_video.h"
#include <memory>

namespace longvid {

class FrameSink;
class VideoAutoencoder;

class StreamingVideoDecoder : public LatentSink {
 public:
  // total_latents: how many latents will be pushed; frames: how many decoded frames to keep
  // (<= total_latents * temporal factor) after the first skip_frames decoded frames, which are
  // dropped (latents pushed as decoding context only). window <= 0: one window (not bounded).
  StreamingVideoDecoder(std::shared_ptr<VideoAutoencoder> ae, int64_t total_latents, int64_t frames, int64_t window, int64_t overlap,
                        FrameSink& sink, c10::Device device = c10::Device(c10::kCPU), int64_t skip_frames = 0);
  void push(const at::Tensor& z) override;  // normalised latents [1, C, n, h, w]
  int64_t latents_received() const { return received_; }
  int64_t frames_written() const { return written_; }
  // Called with every batch of frames written (uint8 [n, H, W, 3]), e.g. for drift statistics.
  std::function<void(const at::Tensor&)> on_frames;

 private:
  void decode_ready();
  std::shared_ptr<VideoAutoencoder> ae_;
  int64_t total_, frames_, window_, overlap_;
  FrameSink& sink_;
  c10::Device device_;
  std::vector<std::pair<int64_t, int64_t>> spans_;
  size_t next_span_ = 0;
  at::Tensor buf_;         // latents [1, C, n, h, w] starting at buf_start_
  int64_t buf_start_ = 0;
  int64_t skip_ = 0, decoded_ = 0;
  int64_t received_ = 0, written_ = 0;
};

}  // namespace longvid
