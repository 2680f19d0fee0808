// Frame-rate upsampling with RIFE, as Practical-RIFE's inference_video.py (hzwer/Practical-RIFE@17d8c7a)
// does it, on frames as they stream: a FrameSink that receives the source frames and pushes
// (N - 1) * multi + 1 frames into the next sink, holding two frames at a time (memory does not grow
// with the video's length).
//
// For each pair (I0, I1) of consecutive frames, on 32x32 bilinear thumbnails of the padded frames:
//   - SSIM (ssim_matlab: an 11^3 Gaussian window, sigma 1.5, over (RGB, H, W), replicate padding)
//     above 0.996: I1 duplicates I0; it is dropped and replaced by the frame halfway between I0 and
//     the frame after it (which then follows as usual);
//   - SSIM below 0.2 (computed again after a duplicate): a scene cut; I0 is repeated multi - 1 times
//     instead of morphing across the cut;
//   - otherwise multi - 1 frames at t = i / multi (Practical-RIFE 4.x: one inference per t; here the
//     t of a pair run as one batch, and each frame's encoder features are computed once).
// Frames leave as inference_video.py writes them: source frames unchanged, new ones (x * 255)
// truncated to uint8, cropped from the padded size.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>

#include "backbones/ifnet.h"
#include "core/video_io.h"

namespace longvid {

struct RifeOptions {
  int64_t multi = 2;           // output frames per source interval (>= 2); inference_video.py --multi
  double scale = 1.0;          // flow scale: 0.25, 0.5, 1, 2 or 4 (try 0.5 for 4K)
  int64_t pad = 0;             // padding unit; 0: max(mod, mod / scale) with the version's mod (32 /
                               // 64 / 128, as vs-rife); inference_video.py pads to max(128, 128 / scale)
  bool detect = true;          // duplicate-frame and scene-cut handling (inference_video.py: always)
  double duplicate_ssim = 0.996, scene_cut_ssim = 0.2;
  bool batch_timesteps = true;  // the multi - 1 timesteps of a pair in one forward (equal up to float
                                // rounding; off: one forward each, as the reference)
  bool exact = true;            // the reference's operations bit for bit; false: IFNetImpl::set_exact(false)
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;  // the network's dtype; warps are always float32
};

// One line (longvid::Error) for a value RIFE cannot take: multi < 2, a scale outside the set, ...
void check_rife_options(const RifeOptions& o);
// ... and for this network: a --pad that is not a multiple of its padding unit at the scale.
void check_rife_options(const RifeOptions& o, const IFNetConfig& cfg);

// Practical-RIFE model/pytorch_msssim ssim_matlab of two [1, 3, h, w] images in [0, 1] (L = 1).
double rife_ssim_matlab(const at::Tensor& a, const at::Tensor& b);
// inference_video.py's thumbnail: F.interpolate(img, (32, 32), bilinear, align_corners False).
at::Tensor rife_thumbnail(const at::Tensor& img);

struct RifeStats {
  int64_t frames_in = 0, frames_out = 0;
  int64_t duplicates = 0, scene_cuts = 0, interpolated = 0;  // pairs; frames made by the network
};

class RifeInterpolatingSink : public FrameSink {
 public:
  // `net` must outlive the sink. Frames pushed into this sink come out, interpolated, into `out`;
  // close() flushes the last frame and closes `out`.
  RifeInterpolatingSink(IFNet net, const RifeOptions& opts, FrameSink& out);
  ~RifeInterpolatingSink() override;
  using FrameSink::push;
  void push(const FrameView& frame) override;
  void close() override;
  const RifeStats& stats() const { return stats_; }

  // Checkpoints (interpolate --resume). Between two pushes, unless a duplicate frame waits for the
  // frame after it (can_checkpoint() false), all the sink holds is the frame it writes next and the
  // newest frame as the network sees it (a source frame, or a replaced duplicate's float image).
  // save() stores them and the counts in a safetensors file; restore() loads one into a new sink
  // (same network and options) before the next source frame is pushed, and the frames that then come
  // out are the ones the uninterrupted sink would have written.
  bool can_checkpoint() const;
  void save(const std::filesystem::path& file) const;
  void restore(const std::filesystem::path& file);

 private:
  struct State;
  std::unique_ptr<State> s_;
  RifeStats stats_;
};

}  // namespace longvid
