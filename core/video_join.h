// Joining the segments of one output video, and copying a source's audio into it.
//
// A long job that checkpoints its output (`longvid interpolate`, resumable) writes it as segments,
// each a complete file written by VideoWriter with the same options; at the end they are joined:
//   - containers with a codec (mp4, webm, mkv, mov, ...): the packets are copied, timestamps laid
//     end to end (no re-encoding: the decoded frames are the segments' frames, in order);
//   - y4m, PNG sequences and GIF: the segments are y4m (lossless) and the frames are written once
//     more into the output's format.
// The audio streams of `audio_from` are copied (packets, no re-encoding) into containers that can
// hold their codec, interleaved with the video; otherwise JoinResult::audio_note says why not.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/video_io.h"

namespace longvid {

// The extension segments of `output` are written with: the output's own for codec containers,
// ".y4m" for y4m, PNG sequences and GIF.
std::string segment_extension(const std::filesystem::path& output);

struct JoinOptions {
  WriteOptions write;                   // the output's options (its frame rate, encoder settings)
  std::filesystem::path audio_from;     // copy this file's audio streams (empty: none)
  int64_t expect_frames = -1;           // >= 0: fail (nothing written) unless the join has this many frames
};

struct JoinResult {
  int64_t frames = 0;
  int audio_streams_copied = 0;
  std::string audio_note;  // why audio_from's audio was not copied ("" when it was, or there was none)
};

// `segments` (in order) into `output`, written atomically: an existing `output` is replaced only by a
// complete video, and nothing is left on failure. Throws longvid::Error (one line).
JoinResult join_video_segments(const std::vector<std::filesystem::path>& segments,
                               const std::filesystem::path& output, const JoinOptions& options);

namespace detail {
#ifdef LONGVID_WITH_FFMPEG
JoinResult remux_join(const std::vector<std::filesystem::path>& segments, const std::filesystem::path& output,
                      const JoinOptions& options);
#endif
}  // namespace detail

}  // namespace longvid
