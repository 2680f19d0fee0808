// Video I/O: frames in and out of files, one frame at a time.
//
//   VideoWriter w("out.mp4", opts);          // format from the extension (see VideoFormat)
//   for (...) w.push(rgb, width, height);    // RGB24, row-major, in display order
//   w.close();                               // output appears atomically (temp file + rename)
//
//   ReadOptions ro; ro.start = 10; ro.count = 20; ro.stride = 2;
//   VideoReader r("in.webm", ro);
//   std::vector<uint8_t> rgb;                // r.info(): size, fps, frame count
//   while (r.next(rgb)) { ... }
//
// Frames are 8-bit RGB24 (3 bytes per pixel, no row padding unless FrameView::stride says so).
// Writers stream: memory does not grow with the number of frames (the mp4 muxer keeps a small
// per-frame index, tens of bytes a frame). Formats:
//   .y4m        our own reader/writer (works without FFmpeg). We write C444p16 (YUV 4:4:4, 16 bit,
//               BT.601 limited range): RGB -> y4m -> RGB is bit-exact. We read every common y4m
//               (C420jpeg/C420paldv/C420mpeg2/C420/C411/C422/C444/C444alpha/mono, 8 bit and
//               C4xxp9..p16 / monoN high depth; BT.601, limited range unless XCOLORRANGE=FULL).
//   .mp4        H.264 (libx264), yuv420p, crf 18, preset medium, +faststart. Odd sizes are padded
//               to even by repeating the last row/column (H.264 4:2:0 needs even sizes).
//   .webm       VP9 (libvpx-vp9), yuv420p, constant quality (crf 24, b:v 0). Odd sizes kept.
//   .gif        FFmpeg's gif encoder; a fixed 6x7x6-level palette with 8x8 ordered dithering
//               (temporally stable, no libavfilter needed).
//   PNG frames  "dir/%05d.png" (any printf pattern) or "dir/" (written as dir/00001.png ...):
//               lossless; the directory is written as a temp directory and renamed at close.
//   other       reading: anything FFmpeg demuxes (mkv, avi, mov, ...); writing: .mkv/.mov/.avi with
//               the container's default encoder (or WriteOptions::codec).
// Without FFmpeg (LONGVID_FFMPEG=OFF) only .y4m works; other paths fail with a clear message.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace longvid {

// A frame rate as a rational number (24000/1001 for 23.976).
struct Fps {
  int num = 24;
  int den = 1;
  double value() const { return den ? static_cast<double>(num) / den : 0.0; }
  static Fps from_double(double fps);  // 23.976 -> 24000/1001, 29.97 -> 30000/1001, 12.5 -> 25/2
  static Fps parse(const std::string& s);  // "24", "12.5", "30000/1001"; throws longvid::Error
  std::string str() const;                 // "24" or "30000/1001"
};

// One RGB24 frame, not owned. `stride` is bytes per row (0 = width * 3).
struct FrameView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int64_t stride = 0;
  int64_t row_bytes() const { return stride ? stride : int64_t{width} * 3; }
};

// [B, 3, T, H, W] float in [-1, 1] -> uint8 [T, H, W, 3] (CPU) for batch item 0:
// ((x + 1) * 127.5).clamp(0, 255), then truncated (LVDM's sampling scripts, the default) or
// rounded to nearest (reconstruction, where it is the closer match to the input).
enum class Quantize { Truncate, Round };
at::Tensor video_to_uint8(const at::Tensor& x, Quantize q = Quantize::Truncate);

// Receives finished frames in order. Call close() once at the end: only then is the output
// complete. A sink destroyed without close() discards what it received (no half-written files).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void push(const FrameView& frame) = 0;
  void push(const uint8_t* rgb, int width, int height) { push(FrameView{rgb, width, height, 0}); }
  virtual void close() = 0;
};

// Keeps every frame in memory (tests, small clips).
class MemorySink : public FrameSink {
 public:
  void push(const FrameView& frame) override;
  void close() override { closed_ = true; }
  bool closed() const { return closed_; }
  int64_t size() const { return static_cast<int64_t>(frames_.size()); }
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t>& frame(int64_t i) const { return frames_.at(static_cast<size_t>(i)); }
  at::Tensor tensor() const;  // uint8 [T, H, W, 3]

 private:
  std::vector<std::vector<uint8_t>> frames_;
  int width_ = 0, height_ = 0;
  bool closed_ = false;
};

enum class VideoFormat { Y4M, MP4, WebM, GIF, PNGSequence, Other };

// What format a path means (by extension; a printf pattern or trailing '/' is a PNG sequence).
VideoFormat video_format_for(const std::filesystem::path& path);
const char* video_format_name(VideoFormat f);
// True if this build can write/read `path` (false for non-y4m paths without FFmpeg).
bool ffmpeg_available();

struct WriteOptions {
  Fps fps{24, 1};
  int crf = -1;                // -1: codec default (x264: 18, VP9: 24); ignored by gif/png/y4m
  std::string preset = "medium";  // x264 preset (ultrafast ... veryslow); VP9: ignored
  std::string codec;           // encoder override by FFmpeg name ("libx265", "libaom-av1", ...)
  int threads = 0;             // encoder threads, 0 = FFmpeg's choice
};

// Throws longvid::Error (one line) for options the output cannot take: a crf outside the range of
// the output's encoder (x264/x265 0-51, VP9/AV1 0-63; -1 = the codec default), a bad frame rate,
// negative threads. VideoWriter's constructor calls it.
void check_write_options(const std::filesystem::path& path, const WriteOptions& options);

// Throws longvid::Error (one line) unless `path` is a video VideoReader opens: a file, or a PNG
// sequence ("dir/", a directory, "dir/%05d.png"). Every command that reads a video checks its
// input with this (or opens it with VideoReader), so all accept the same inputs.
void require_readable_video(const std::filesystem::path& path);

// Throws longvid::Error (one line) when writing `output` would replace `input` (the same file, also
// through another spelling or a link).
void require_distinct_output(const std::filesystem::path& input, const std::filesystem::path& output);

class VideoWriter : public FrameSink {
 public:
  VideoWriter(const std::filesystem::path& path, const WriteOptions& options = {});
  ~VideoWriter() override;  // without close(): the partial output is removed
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // All frames must have the size of the first one. Throws longvid::Error on a bad frame.
  void push(const FrameView& frame) override;
  using FrameSink::push;
  // Flushes the encoder, finishes the file and moves it into place. Throws if no frame was pushed.
  void close() override;

  int64_t frames_written() const { return frames_; }
  const std::filesystem::path& path() const { return path_; }
  VideoFormat format() const { return format_; }

  class Backend;  // implementation detail (y4m, FFmpeg)

 private:
  std::filesystem::path path_;
  VideoFormat format_;
  WriteOptions opts_;
  std::unique_ptr<Backend> backend_;
  int64_t frames_ = 0;
  int width_ = 0, height_ = 0;
  bool closed_ = false;
};

struct VideoInfo {
  int width = 0;
  int height = 0;
  Fps fps{0, 1};
  int64_t frame_count = 0;        // total frames in the file
  bool frame_count_exact = false;  // false: estimated from duration * fps
  std::string container;          // "yuv4mpegpipe", "mov,mp4,m4a,3gp,3g2,mj2", "image2", ...
  std::string codec;              // "h264", "vp9", "gif", "png", "y4m:C444p16", ...
  std::string pixel_format;       // source pixel format ("yuv420p", "rgb24", ...)
  int audio_streams = 0;          // audio streams in the container (never decoded or copied)
  std::string audio_codec;        // the first one's codec ("aac", "opus", ...) or ""
};

// Which frames to read: start, start + stride, ... (count of them; -1 = up to the end).
struct ReadOptions {
  int64_t start = 0;
  int64_t count = -1;
  int64_t stride = 1;
  // PNG sequences carry no frame rate: this one is reported (and used for image2 timing).
  Fps image_sequence_fps{24, 1};
};

class VideoReader {
 public:
  explicit VideoReader(const std::filesystem::path& path, const ReadOptions& options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const { return info_; }
  int width() const { return info_.width; }
  int height() const { return info_.height; }
  int64_t frame_bytes() const { return int64_t{info_.width} * info_.height * 3; }
  // Number of frames this reader will yield given the range (exact if info().frame_count_exact,
  // else an estimate).
  int64_t selected_count() const;

  // The next selected frame as RGB24 (resized to width*height*3). False after the last one.
  // Throws longvid::Error if the range runs past the end of the video.
  bool next(std::vector<uint8_t>& rgb);
  bool next(uint8_t* rgb);  // into a caller buffer of frame_bytes()
  // Index (in the file) of the frame the last next() returned.
  int64_t position() const { return pos_ - 1; }

  class Source;  // implementation detail

 private:
  std::filesystem::path path_;
  ReadOptions opts_;
  VideoInfo info_;
  std::unique_ptr<Source> src_;
  int64_t pos_ = 0;       // index of the next frame the source would produce
  int64_t yielded_ = 0;   // selected frames returned so far
};

VideoInfo probe_video(const std::filesystem::path& path);

// Whole clips as tensors: uint8 [T, H, W, 3] (CPU, contiguous).
at::Tensor read_video(const std::filesystem::path& path, const ReadOptions& options = {});
void write_video(const std::filesystem::path& path, const at::Tensor& frames_uint8_thw3,
                 const WriteOptions& options = {});
// Pushes each frame of a [T, H, W, 3] uint8 tensor into a sink (does not close it).
void push_frames(FrameSink& sink, const at::Tensor& frames_uint8_thw3);

// ---- y4m colour conversion (exposed for tests) --------------------------------------------------
// RGB24 -> 16-bit Y, Cb, Cr planes (BT.601 limited range, rounded), n pixels.
void rgb_to_yuv444p16(const uint8_t* rgb, int64_t n, uint16_t* y, uint16_t* cb, uint16_t* cr);
// The inverse used by our y4m reader for C444p16 (round + clamp). Exact inverse of the above.
void yuv444p16_to_rgb(const uint16_t* y, const uint16_t* cb, const uint16_t* cr, int64_t n, uint8_t* rgb);

}  // namespace longvid
