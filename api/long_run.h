// Internal to api/: the long-video run shared by generate_video and extend_video.
#pragma once
#include <map>

#include "api/generate.h"

namespace longvid::detail {

// Counts the frames passed on to another sink.
class CountingSink : public FrameSink {
 public:
  explicit CountingSink(FrameSink& to) : to_(to) {}
  using FrameSink::push;
  void push(const FrameView& f) override {
    to_.push(f);
    ++n_;
  }
  void close() override { to_.close(); }
  int64_t frames() const { return n_; }

 private:
  FrameSink& to_;
  int64_t n_ = 0;
};

// What extend adds to a long run: keyframes given (indices <= 0), latents before latent 0 that are
// decoding context only.
struct LongRunInput {
  std::map<int64_t, at::Tensor> given;
  at::Tensor context;
};

// The request's long-video options completed from the request and the pipeline (mode, seed, sampler,
// device; decode windows resolved).
GenerateRequest resolve_long_request(VideoPipeline& pipe, GenerateRequest req);

// Runs `plan` into `sink` (not closed). Returns the latents' frames written, or -1 when stopped early.
int64_t run_long_video(VideoPipeline& pipe, const LongVideoPlan& plan, const GenerateRequest& req, FrameSink& sink,
                       const LongRunInput& in = {});

}  // namespace longvid::detail
