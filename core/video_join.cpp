// Joining segments of one output video (core/video_join.h): the lossless path (y4m, PNG, GIF); codec
// containers go to the packet-copying join in core/video_join_ffmpeg.cpp.
#include "core/video_join.h"

#include "core/error.h"

namespace longvid {

namespace {
bool joined_by_packets(VideoFormat f) {
  return f == VideoFormat::MP4 || f == VideoFormat::WebM || f == VideoFormat::Other;
}
}  // namespace

std::string segment_extension(const std::filesystem::path& output) {
  const VideoFormat f = video_format_for(output);
  return joined_by_packets(f) ? output.extension().string() : std::string(".y4m");
}

JoinResult join_video_segments(const std::vector<std::filesystem::path>& segments,
                               const std::filesystem::path& output, const JoinOptions& options) {
  if (segments.empty()) fail("{}: no segments to join", output.string());
  const VideoFormat f = video_format_for(output);
  if (joined_by_packets(f)) {
#ifdef LONGVID_WITH_FFMPEG
    return detail::remux_join(segments, output, options);
#else
    fail("{}: writing {} needs FFmpeg (this build has LONGVID_FFMPEG=OFF); use .y4m", output.string(),
         video_format_name(f));
#endif
  }
  JoinResult res;
  VideoWriter w(output, options.write);
  std::vector<uint8_t> frame;
  for (const auto& s : segments) {
    VideoReader r(s);
    while (r.next(frame)) w.push(frame.data(), r.width(), r.height());
  }
  if (options.expect_frames >= 0 && w.frames_written() != options.expect_frames)
    fail("{}: the segments hold {} frames, {} expected; nothing written", output.string(), w.frames_written(),
         options.expect_frames);
  w.close();
  res.frames = w.frames_written();
  if (!options.audio_from.empty()) {
    const VideoInfo in = probe_video(options.audio_from);
    if (in.audio_streams > 0) res.audio_note = std::string(video_format_name(f)) + " holds no audio";
  }
  return res;
}

}  // namespace longvid
