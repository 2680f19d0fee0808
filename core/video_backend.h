// Internal to core/video_*.cpp: the pieces behind VideoWriter / VideoReader.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/video_io.h"

namespace longvid {

class VideoWriter::Backend {
 public:
  virtual ~Backend() = default;
  // Frames have the size given at creation (VideoWriter checks).
  virtual void push(const FrameView& frame) = 0;
  // Finish the file and move it into place.
  virtual void close() = 0;
};

class VideoReader::Source {
 public:
  virtual ~Source() = default;
  const VideoInfo& info() const { return info_; }
  // Decode the next frame into `rgb` (info().width * height * 3 bytes). False at the end.
  virtual bool read(uint8_t* rgb) = 0;
  // Step over the next frame (cheaper than read when the format allows). False at the end.
  virtual bool skip() = 0;

 protected:
  VideoInfo info_;
};

namespace detail {

std::unique_ptr<VideoWriter::Backend> make_y4m_writer(const std::filesystem::path& path,
                                                      const WriteOptions& opts, int width, int height);
std::unique_ptr<VideoReader::Source> open_y4m(const std::filesystem::path& path);

#ifdef LONGVID_WITH_FFMPEG
// Throws if the format/encoder cannot be written by this FFmpeg build (called before any frame).
void check_ffmpeg_writer(const std::filesystem::path& path, VideoFormat format, const WriteOptions& opts);
std::unique_ptr<VideoWriter::Backend> make_ffmpeg_writer(const std::filesystem::path& path, VideoFormat format,
                                                         const WriteOptions& opts, int width, int height);
std::unique_ptr<VideoReader::Source> open_ffmpeg(const std::filesystem::path& path, const ReadOptions& opts);
#endif

// For PNG sequences: the directory that holds the frames and the printf pattern of a file name.
struct ImageSequence {
  std::filesystem::path dir;
  std::string pattern;  // e.g. "%05d.png"
  bool is_directory_path = false;  // given as "dir/" (or an existing directory)
};
ImageSequence split_image_sequence(const std::filesystem::path& path);
// True if `s` contains a printf integer conversion (%d, %05d, ...).
bool has_printf_pattern(const std::string& s);

}  // namespace detail
}  // namespace longvid
