// Frame-rate upsampling of a video file with RIFE: the use-case behind `longvid interpolate` (and the
// RIFE stage `generate --rife-multi` puts in front of its output).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "core/video_io.h"
#include "pipeline/rife_interpolator.h"

namespace longvid {

struct InterpolateRequest {
  RifeOptions rife;
  std::optional<Fps> fps;  // output frame rate; default: the input's times multi
  bool show_progress = true;
};

struct InterpolateResult {
  RifeStats stats;
  VideoInfo input;
  Fps fps_out;
  double seconds = 0;  // reading, interpolating and writing (model loading not included)
};

// The IFNet of a RIFE checkpoint (flownet.pkl, a zip mirror, safetensors), with a one-line log of its
// detected version(s) and parameter count; with `check`, the options are checked against it first.
IFNet load_rife_model(const std::filesystem::path& path, const RifeOptions* check = nullptr);

// `input` streamed through RIFE into `output` (written atomically: nothing is left on failure, and an
// existing file is replaced only by a complete video). Memory does not grow with the video's length.
InterpolateResult interpolate_video_file(IFNet net, const std::filesystem::path& input,
                                         const std::filesystem::path& output, const InterpolateRequest& req,
                                         WriteOptions wopts = {});

// (frames - 1) * multi + 1: what a video of `frames` frames becomes.
int64_t rife_output_frames(int64_t frames, int64_t multi);

}  // namespace longvid
