// VideoWriter / VideoReader front ends: format dispatch, argument checks, frame ranges, tensors.
// The codecs live in core/y4m.cpp (always) and core/video_ffmpeg.cpp (LONGVID_WITH_FFMPEG).
#include <cctype>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "core/video_backend.h"

namespace fs = std::filesystem;

namespace longvid {

// ---- Fps ----------------------------------------------------------------------------------------
Fps Fps::from_double(double fps) {
  if (!std::isfinite(fps) || fps <= 0 || fps > 10000) fail("invalid frame rate {} (must be > 0)", fps);
  for (int k : {24, 30, 48, 60, 120, 240}) {  // NTSC rates: 23.976 -> 24000/1001
    double ntsc = k * 1000.0 / 1001.0;
    if (std::fabs(fps - ntsc) < 0.0015 && std::fabs(fps - k) > 0.0015) return Fps{k * 1000, 1001};
  }
  for (int den : {1, 2, 3, 4, 5, 8, 10, 100, 1000}) {
    double num = fps * den;
    if (std::fabs(num - std::round(num)) < 1e-6 * den) return Fps{static_cast<int>(std::lround(num)), den};
  }
  return Fps{static_cast<int>(std::lround(fps * 1000000)), 1000000};
}

Fps Fps::parse(const std::string& s) {
  auto slash = s.find('/');
  try {
    size_t used = 0;
    if (slash != std::string::npos) {
      int num = std::stoi(s.substr(0, slash), &used);
      if (used != slash) throw std::invalid_argument(s);
      std::string d = s.substr(slash + 1);
      int den = std::stoi(d, &used);
      if (used != d.size()) throw std::invalid_argument(s);
      if (num <= 0 || den <= 0) throw std::invalid_argument(s);
      return Fps{num, den};
    }
    double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return from_double(v);
  } catch (const Error&) {
    throw;
  } catch (const std::exception&) {
    fail("invalid frame rate '{}' (expected e.g. 24, 12.5 or 30000/1001)", s);
  }
}

std::string Fps::str() const { return den == 1 ? std::to_string(num) : fmt::format("{}/{}", num, den); }

// ---- MemorySink ---------------------------------------------------------------------------------
void MemorySink::push(const FrameView& f) {
  if (closed_) fail("memory sink: push after close");
  if (!f.data || f.width <= 0 || f.height <= 0) fail("memory sink: empty frame ({}x{})", f.width, f.height);
  if (frames_.empty()) width_ = f.width, height_ = f.height;
  else if (f.width != width_ || f.height != height_)
    fail("memory sink: frame {} is {}x{}, earlier frames are {}x{}", frames_.size(), f.width, f.height, width_, height_);
  std::vector<uint8_t> buf(size_t(3) * f.width * f.height);
  for (int y = 0; y < f.height; ++y)
    std::memcpy(buf.data() + size_t(3) * f.width * y, f.data + f.row_bytes() * y, size_t(3) * f.width);
  frames_.push_back(std::move(buf));
}

at::Tensor MemorySink::tensor() const {
  auto t = torch::empty({size(), height_, width_, 3}, torch::kUInt8);
  for (int64_t i = 0; i < size(); ++i)
    std::memcpy(t[i].data_ptr<uint8_t>(), frames_[size_t(i)].data(), frames_[size_t(i)].size());
  return t;
}

// ---- formats ------------------------------------------------------------------------------------
bool ffmpeg_available() {
#ifdef LONGVID_WITH_FFMPEG
  return true;
#else
  return false;
#endif
}

namespace detail {

bool has_printf_pattern(const std::string& s) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (s[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j < s.size() && s[j] == 'd') return true;
  }
  return false;
}

ImageSequence split_image_sequence(const fs::path& path) {
  ImageSequence seq;
  std::string s = path.string();
  std::error_code ec;
  if (!s.empty() && s.back() == '/') {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    seq.dir = s;
    seq.pattern = "%05d.png";
    seq.is_directory_path = true;
  } else if (fs::is_directory(path, ec)) {
    seq.dir = path;
    seq.pattern = "%05d.png";
    seq.is_directory_path = true;
  } else {
    seq.dir = path.parent_path();
    seq.pattern = path.filename().string();
    // Exactly one integer conversion, no other '%' use (besides "%%").
    int conversions = 0;
    for (size_t i = 0; i < seq.pattern.size(); ++i) {
      if (seq.pattern[i] != '%') continue;
      if (i + 1 < seq.pattern.size() && seq.pattern[i + 1] == '%') {
        ++i;
        continue;
      }
      size_t j = i + 1;
      while (j < seq.pattern.size() && std::isdigit(static_cast<unsigned char>(seq.pattern[j]))) ++j;
      if (j >= seq.pattern.size() || seq.pattern[j] != 'd')
        fail("{}: bad image sequence pattern (use one %d or %05d in the file name)", s);
      ++conversions;
      i = j;
    }
    if (conversions != 1) fail("{}: bad image sequence pattern (use one %d or %05d in the file name)", s);
    if (has_printf_pattern(seq.dir.string()))
      fail("{}: the %d pattern must be in the file name, not the directory", s);
  }
  return seq;
}

}  // namespace detail

static std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

VideoFormat video_format_for(const fs::path& path) {
  const std::string s = path.string();
  if (s == "-") return VideoFormat::Y4M;  // stdin/stdout stream
  if (!s.empty() && s.back() == '/') return VideoFormat::PNGSequence;
  const std::string ext = lower_ext(path);
  if (detail::has_printf_pattern(path.filename().string()))
    return ext == ".png" ? VideoFormat::PNGSequence : VideoFormat::Other;
  if (ext == ".y4m") return VideoFormat::Y4M;
  if (ext == ".mp4" || ext == ".m4v") return VideoFormat::MP4;
  if (ext == ".webm") return VideoFormat::WebM;
  if (ext == ".gif") return VideoFormat::GIF;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return VideoFormat::PNGSequence;
  return VideoFormat::Other;
}

const char* video_format_name(VideoFormat f) {
  switch (f) {
    case VideoFormat::Y4M: return "y4m";
    case VideoFormat::MP4: return "mp4";
    case VideoFormat::WebM: return "webm";
    case VideoFormat::GIF: return "gif";
    case VideoFormat::PNGSequence: return "png sequence";
    case VideoFormat::Other: return "other";
  }
  return "?";
}

[[noreturn, maybe_unused]] static void fail_no_ffmpeg(const fs::path& path) {
  fail("{}: longvid was built without FFmpeg: only .y4m is supported", path.string());
}

// ---- VideoWriter --------------------------------------------------------------------------------
void check_write_options(const fs::path& path, const WriteOptions& o) {
  const std::string p = path.string();
  if (o.fps.num <= 0 || o.fps.den <= 0) fail("{}: invalid frame rate {}/{}", p, o.fps.num, o.fps.den);
  if (o.threads < 0) fail("{}: encoder threads must be >= 0 (0 = FFmpeg's choice), got {}", p, o.threads);
  if (o.crf == -1) return;
  // The encoder that codes this output and its crf range (the FFmpeg wrappers clamp silently).
  const VideoFormat f = video_format_for(path);
  std::string codec = o.codec;
  if (codec.empty()) codec = f == VideoFormat::MP4 ? "libx264" : f == VideoFormat::WebM ? "libvpx-vp9" : "";
  int max = -1;
  if (codec == "libx264" || codec == "libx264rgb" || codec == "libx265" || codec == "h264" || codec == "hevc") max = 51;
  else if (codec == "libvpx-vp9" || codec == "libvpx" || codec == "libaom-av1" || codec == "libsvtav1" ||
           codec == "vp9" || codec == "av1")
    max = 63;
  const char* ranges = "H.264/H.265 (mp4): 0-51, VP9/AV1 (webm): 0-63, -1 = the codec default (18 / 24)";
  if (o.crf < 0 || o.crf > (max < 0 ? 63 : max))
    fail("--crf {}: out of range for {} ({}{}; {})", o.crf, p, codec.empty() ? video_format_name(f) : codec,
         max < 0 ? " has no crf" : max == 51 ? " takes 0-51" : " takes 0-63", ranges);
  if (max < 0 && o.codec.empty())
    spdlog::warn("--crf {}: ignored for {} output ({} has no quality setting)", o.crf, p, video_format_name(f));
}

VideoWriter::VideoWriter(const fs::path& path, const WriteOptions& options)
    : path_(path), format_(video_format_for(path)) {
  if (path.empty()) fail("empty output path");
  if (path.string() == "-") fail("-: writing to stdout is not supported; give a file name");
  check_write_options(path, options);
  if (format_ != VideoFormat::Y4M) {
#ifdef LONGVID_WITH_FFMPEG
    detail::check_ffmpeg_writer(path, format_, options);
#else
    fail_no_ffmpeg(path);
#endif
  }
  // Fail now, not at the first frame, when the output directory is missing.
  fs::path dir = format_ == VideoFormat::PNGSequence ? detail::split_image_sequence(path).dir.parent_path()
                                                      : path.parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec)) fail("{}: output directory does not exist", dir.string());
  opts_ = options;
}

VideoWriter::~VideoWriter() = default;  // backend_ without close(): its AtomicOutput removes the temp

void VideoWriter::push(const FrameView& f) {
  if (closed_) fail("{}: push after close", path_.string());
  if (!f.data) fail("{}: null frame", path_.string());
  if (f.width <= 0 || f.height <= 0) fail("{}: zero-sized frame ({}x{})", path_.string(), f.width, f.height);
  if (f.row_bytes() < int64_t{f.width} * 3)
    fail("{}: frame stride {} is less than 3 * width {}", path_.string(), f.row_bytes(), f.width);
  if (!backend_) {
    width_ = f.width, height_ = f.height;
    if (format_ == VideoFormat::Y4M) {
      backend_ = detail::make_y4m_writer(path_, opts_, width_, height_);
    } else {
#ifdef LONGVID_WITH_FFMPEG
      backend_ = detail::make_ffmpeg_writer(path_, format_, opts_, width_, height_);
#else
      fail_no_ffmpeg(path_);
#endif
    }
  } else if (f.width != width_ || f.height != height_) {
    fail("{}: frame {} is {}x{} but the video is {}x{}", path_.string(), frames_, f.width, f.height, width_,
         height_);
  }
  backend_->push(f);
  ++frames_;
}

void VideoWriter::close() {
  if (closed_) return;
  if (!backend_) fail("{}: no frames were written; not creating an empty video", path_.string());
  closed_ = true;
  backend_->close();
  spdlog::debug("{}: wrote {} frames {}x{}", path_.string(), frames_, width_, height_);
  backend_.reset();
}

// ---- VideoReader --------------------------------------------------------------------------------
VideoReader::VideoReader(const fs::path& path, const ReadOptions& options) : path_(path), opts_(options) {
  const std::string p = path.string();
  if (p.empty()) fail("empty input path");
  if (opts_.start < 0) fail("{}: frame range start must be >= 0 (got {})", p, opts_.start);
  if (opts_.stride < 1) fail("{}: frame stride must be >= 1 (got {})", p, opts_.stride);
  if (opts_.count == 0 || opts_.count < -1)
    fail("{}: frame count must be positive, or -1 for all (got {})", p, opts_.count);
  const VideoFormat format = video_format_for(path);
  if (format == VideoFormat::Y4M) {
    src_ = detail::open_y4m(path);
  } else {
#ifdef LONGVID_WITH_FFMPEG
    src_ = detail::open_ffmpeg(path, opts_);
#else
    std::error_code ec;
    if (format != VideoFormat::PNGSequence && !fs::exists(path, ec)) fail("{}: no such file", p);
    fail_no_ffmpeg(path);
#endif
  }
  info_ = src_->info();
  if (info_.width <= 0 || info_.height <= 0) fail("{}: zero-sized video ({}x{})", p, info_.width, info_.height);
  if (info_.frame_count_exact) {
    const int64_t n = info_.frame_count;
    if (n == 0) fail("{}: the video has no frames", p);
    if (opts_.start >= n)
      fail("{}: frame range past the end: start {} but the video has {} frames", p, opts_.start, n);
    if (opts_.count > 0) {
      const int64_t last = opts_.start + (opts_.count - 1) * opts_.stride;
      if (last >= n)
        fail("{}: frame range past the end: frames {}..{} step {} but the video has {} frames", p, opts_.start,
             last, opts_.stride, n);
    }
  }
}

VideoReader::~VideoReader() = default;

int64_t VideoReader::selected_count() const {
  const int64_t n = info_.frame_count;
  const int64_t avail = n > opts_.start ? (n - opts_.start + opts_.stride - 1) / opts_.stride : 0;
  if (opts_.count < 0) return avail;
  return info_.frame_count_exact ? std::min(opts_.count, avail) : opts_.count;
}

bool VideoReader::next(std::vector<uint8_t>& rgb) {
  rgb.resize(static_cast<size_t>(frame_bytes()));
  return next(rgb.data());
}

bool VideoReader::next(uint8_t* rgb) {
  if (opts_.count > 0 && yielded_ >= opts_.count) return false;
  const int64_t target = opts_.start + yielded_ * opts_.stride;
  auto at_end = [&]() -> bool {
    if (pos_ == 0 && yielded_ == 0) fail("{}: the video has no frames", path_.string());
    if (yielded_ == 0)
      fail("{}: frame range past the end: start {} but the video has {} frames", path_.string(), opts_.start, pos_);
    if (opts_.count > 0)
      fail("{}: frame range past the end: frame {} requested (start {}, count {}, stride {}) but the video has {} "
           "frames",
           path_.string(), target, opts_.start, opts_.count, opts_.stride, pos_);
    return false;
  };
  while (pos_ < target) {
    if (!src_->skip()) return at_end();
    ++pos_;
  }
  if (!src_->read(rgb)) return at_end();
  ++pos_;
  ++yielded_;
  return true;
}

void require_distinct_output(const std::filesystem::path& input, const std::filesystem::path& output) {
  std::error_code ec;
  if (std::filesystem::equivalent(input, output, ec) ||
      std::filesystem::absolute(input).lexically_normal() == std::filesystem::absolute(output).lexically_normal())
    fail("{}: the output would replace the input; write to another file", output.string());
}

VideoInfo probe_video(const fs::path& path) { return VideoReader(path).info(); }

void require_readable_video(const fs::path& path) { VideoReader probe(path); }

// ---- tensors ------------------------------------------------------------------------------------
static void check_frames_tensor(const at::Tensor& t, const fs::path& path) {
  if (!t.defined()) fail("{}: undefined frames tensor", path.string());
  if (t.scalar_type() != torch::kUInt8 || t.dim() != 4 || t.size(3) != 3)
    fail("{}: frames must be a uint8 tensor [T, H, W, 3], got {} {}", path.string(), toString(t.scalar_type()),
         fmt::format("{}", fmt::join(t.sizes().vec(), "x")));
  if (t.size(0) == 0 || t.size(1) == 0 || t.size(2) == 0)
    fail("{}: zero-sized video ({} frames of {}x{})", path.string(), t.size(0), t.size(2), t.size(1));
}

void push_frames(FrameSink& sink, const at::Tensor& frames) {
  check_frames_tensor(frames, "frames");
  auto t = frames.to(torch::kCPU).contiguous();
  const int h = static_cast<int>(t.size(1)), w = static_cast<int>(t.size(2));
  const uint8_t* base = t.data_ptr<uint8_t>();
  for (int64_t i = 0; i < t.size(0); ++i) sink.push(FrameView{base + i * int64_t{h} * w * 3, w, h, 0});
}

void write_video(const fs::path& path, const at::Tensor& frames, const WriteOptions& options) {
  check_frames_tensor(frames, path);
  VideoWriter w(path, options);
  push_frames(w, frames);
  w.close();
}

at::Tensor read_video(const fs::path& path, const ReadOptions& options) {
  VideoReader r(path, options);
  const int64_t fb = r.frame_bytes();
  if (r.info().frame_count_exact) {
    const int64_t n = r.selected_count();
    auto t = torch::empty({n, r.height(), r.width(), 3}, torch::kUInt8);
    uint8_t* p = t.data_ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i)
      if (!r.next(p + i * fb)) fail("{}: video ended after {} of {} frames", path.string(), i, n);
    return t;
  }
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint8_t> buf;
  while (r.next(buf)) frames.push_back(buf);
  auto t = torch::empty({static_cast<int64_t>(frames.size()), r.height(), r.width(), 3}, torch::kUInt8);
  for (size_t i = 0; i < frames.size(); ++i)
    std::memcpy(t.data_ptr<uint8_t>() + int64_t(i) * fb, frames[i].data(), static_cast<size_t>(fb));
  return t;
}

at::Tensor video_to_uint8(const at::Tensor& x, Quantize q) {
  auto v = x[0].to(at::kFloat).add(1.0).mul(127.5).clamp(0, 255);  // [3, T, H, W]
  if (q == Quantize::Round) v = v.round();
  return v.to(at::kByte).permute({1, 2, 3, 0}).contiguous().cpu();
}

}  // namespace longvid
