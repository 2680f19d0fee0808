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
  // Copy the input's audio streams (packets, no re-encoding) when the output keeps the input's
  // duration (no --fps) and its container can hold them; as inference_video.py's transferAudio.
  bool copy_audio = true;
  // Checkpoints: the output is written as segments in state_dir (empty: <output>.longvid-run),
  // a new one every checkpoint_every source frames, and joined at the end (core/video_join.h).
  // A killed run continues with resume = true and writes the video the uninterrupted run writes.
  std::filesystem::path state_dir;
  bool resume = false;
  int64_t checkpoint_every = 250;
  int64_t stop_after = -1;  // testing: stop after N checkpoints as if killed (the state stays)
};

struct InterpolateResult {
  RifeStats stats;
  VideoInfo input;
  Fps fps_out;
  double seconds = 0;  // reading, interpolating and writing (model loading not included)
  int64_t resumed_at = -1;  // the source frame a resumed run continued from (-1: not resumed)
  int64_t segments = 0;
  int audio_streams_copied = 0;
  std::string audio_note;  // why the input's audio was not copied ("" if it was, or it had none)
  bool stopped = false;    // stop_after was reached: the state waits for resume
};

// The bundled IFNet (assets/default/rife.safetensors, trained by `longvid train-rife` on the
// synthetic sprites the default model makes; see its model card).
std::filesystem::path bundled_rife_model();

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
