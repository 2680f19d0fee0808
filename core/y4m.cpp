// YUV4MPEG2 (.y4m): our own writer (C444p16, bit-exact for RGB24) and a reader for the common
// variants. No FFmpeg needed. Format: a text header line "YUV4MPEG2 W.. H.. F.. I.. A.. C.. X..",
// then per frame a "FRAME[ params]\n" line and the planes (Y, Cb, Cr[, A]); samples of more than 8
// bits are 16-bit little endian.
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/video_backend.h"

namespace fs = std::filesystem;

namespace longvid {
namespace {

// BT.601 luma weights.
constexpr double kKr = 0.299, kKg = 0.587, kKb = 0.114;

// ---- RGB -> YUV 4:4:4 16 bit, limited range --------------------------------------------------
// Y = 4096 + 56064 * y, C = 32768 + 57344 * c (i.e. (16, 219, 128, 224) << 8), computed in 2^-24
// fixed point from per-channel tables, rounded to nearest.
struct RgbToYuv16 {
  static constexpr int kShift = 24;
  std::array<int64_t, 256> yr, yg, yb, ur, ug, ub, vr, vg, vb;
  RgbToYuv16() {
    const double s = double(int64_t{1} << kShift);
    for (int i = 0; i < 256; ++i) {
      double c = i / 255.0;
      // y = Kr r + Kg g + Kb b; cb = (b - y) / (2 (1 - Kb)); cr = (r - y) / (2 (1 - Kr))
      yr[i] = std::llround(56064.0 * kKr * c * s);
      yg[i] = std::llround(56064.0 * kKg * c * s);
      yb[i] = std::llround(56064.0 * kKb * c * s);
      const double cbk = 57344.0 / (2 * (1 - kKb)), crk = 57344.0 / (2 * (1 - kKr));
      ur[i] = std::llround(cbk * (-kKr) * c * s);
      ug[i] = std::llround(cbk * (-kKg) * c * s);
      ub[i] = std::llround(cbk * (1 - kKb) * c * s);
      vr[i] = std::llround(crk * (1 - kKr) * c * s);
      vg[i] = std::llround(crk * (-kKg) * c * s);
      vb[i] = std::llround(crk * (-kKb) * c * s);
    }
  }
  static uint16_t out(int64_t acc, int64_t offset) {
    int64_t v = (acc + (offset << kShift) + (int64_t{1} << (kShift - 1))) >> kShift;
    return static_cast<uint16_t>(std::clamp<int64_t>(v, 0, 65535));
  }
};

const RgbToYuv16& rgb_to_yuv16_tables() {
  static const RgbToYuv16 t;
  return t;
}

// ---- YUV -> RGB, any depth, limited or full range -------------------------------------------
// Per-sample tables in 2^-16 fixed point of 8-bit RGB units: R = Y + Cr_r, G = Y + Cb_g + Cr_g,
// B = Y + Cb_b, then round and clamp.
struct YuvToRgb {
  int depth = 8;
  bool full = false;
  std::vector<int32_t> y, cb_g, cb_b, cr_r, cr_g;
  YuvToRgb(int depth_, bool full_) : depth(depth_), full(full_) {
    const int n = 1 << depth;
    const double unit = double(1 << (depth - 8));
    const double yoff = full ? 0 : 16 * unit, yscale = full ? n - 1 : 219 * unit;
    const double coff = full ? n / 2 : 128 * unit, cscale = full ? n - 1 : 224 * unit;
    const double s = 255.0 * 65536.0;
    y.resize(n), cb_g.resize(n), cb_b.resize(n), cr_r.resize(n), cr_g.resize(n);
    for (int v = 0; v < n; ++v) {
      double yn = (v - yoff) / yscale, cn = (v - coff) / cscale;
      y[v] = static_cast<int32_t>(std::lround(yn * s));
      cb_b[v] = static_cast<int32_t>(std::lround(2 * (1 - kKb) * cn * s));
      cb_g[v] = static_cast<int32_t>(std::lround(-2 * kKb * (1 - kKb) / kKg * cn * s));
      cr_r[v] = static_cast<int32_t>(std::lround(2 * (1 - kKr) * cn * s));
      cr_g[v] = static_cast<int32_t>(std::lround(-2 * kKr * (1 - kKr) / kKg * cn * s));
    }
  }
  static uint8_t px(int32_t acc) {
    int32_t v = (acc + (1 << 15)) >> 16;
    return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  void convert(unsigned Y, unsigned U, unsigned V, uint8_t* rgb) const {
    int32_t yy = y[Y];
    rgb[0] = px(yy + cr_r[V]);
    rgb[1] = px(yy + cb_g[U] + cr_g[V]);
    rgb[2] = px(yy + cb_b[U]);
  }
};

const YuvToRgb& yuv16_limited_tables() {
  static const YuvToRgb t(16, false);
  return t;
}

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

uint16_t le16(uint16_t v) { return kLittleEndian ? v : static_cast<uint16_t>((v >> 8) | (v << 8)); }

}  // namespace

void rgb_to_yuv444p16(const uint8_t* rgb, int64_t n, uint16_t* y, uint16_t* cb, uint16_t* cr) {
  const auto& t = rgb_to_yuv16_tables();
  for (int64_t i = 0; i < n; ++i, rgb += 3) {
    const unsigned r = rgb[0], g = rgb[1], b = rgb[2];
    y[i] = RgbToYuv16::out(t.yr[r] + t.yg[g] + t.yb[b], 4096);
    cb[i] = RgbToYuv16::out(t.ur[r] + t.ug[g] + t.ub[b], 32768);
    cr[i] = RgbToYuv16::out(t.vr[r] + t.vg[g] + t.vb[b], 32768);
  }
}

void yuv444p16_to_rgb(const uint16_t* y, const uint16_t* cb, const uint16_t* cr, int64_t n, uint8_t* rgb) {
  const auto& t = yuv16_limited_tables();
  for (int64_t i = 0; i < n; ++i, rgb += 3) t.convert(y[i], cb[i], cr[i], rgb);
}

namespace {

// ---- writer ---------------------------------------------------------------------------------
class Y4mWriter : public VideoWriter::Backend {
 public:
  Y4mWriter(const fs::path& path, const WriteOptions& opts, int width, int height)
      : out_(path), path_(path), w_(width), h_(height) {
    f_ = std::fopen(out_.temp().c_str(), "wb");
    if (!f_) fail("{}: cannot create: {}", path.string(), std::strerror(errno));
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
    auto header = fmt::format("YUV4MPEG2 W{} H{} F{}:{} Ip A1:1 C444p16 XYSCSS=444P16 XCOLORRANGE=LIMITED\n",
                              width, height, opts.fps.num, opts.fps.den);
    write(header.data(), header.size());
    planes_.resize(size_t(3) * width * height);
  }
  ~Y4mWriter() override {
    if (f_) std::fclose(f_);
  }
  void push(const FrameView& fr) override {
    const int64_t n = int64_t{w_} * h_;
    uint16_t *y = planes_.data(), *u = y + n, *v = u + n;
    for (int row = 0; row < h_; ++row)
      rgb_to_yuv444p16(fr.data + row * fr.row_bytes(), w_, y + int64_t{row} * w_, u + int64_t{row} * w_,
                       v + int64_t{row} * w_);
    if (!kLittleEndian)
      for (auto& s : planes_) s = le16(s);
    write("FRAME\n", 6);
    write(planes_.data(), planes_.size() * 2);
  }
  void close() override {
    int rc = std::fflush(f_);
    rc |= std::ferror(f_);
    rc |= std::fclose(f_);
    f_ = nullptr;
    if (rc) fail("{}: write error: {}", path_.string(), std::strerror(errno));
    out_.commit();
  }

 private:
  void write(const void* p, size_t n) {
    if (std::fwrite(p, 1, n, f_) != n) fail("{}: write error: {}", path_.string(), std::strerror(errno));
  }
  AtomicOutput out_;
  fs::path path_;
  int w_, h_;
  FILE* f_ = nullptr;
  std::vector<uint16_t> planes_;
};

// ---- reader ---------------------------------------------------------------------------------
class Y4mSource : public VideoReader::Source {
 public:
  explicit Y4mSource(const fs::path& path) : path_(path) {
    const std::string p = path.string();
    if (p == "-") {
      f_ = stdin;
      owns_ = false;
    } else {
      std::error_code ec;
      auto st = fs::status(path, ec);
      if (ec || !fs::exists(st)) fail("{}: no such file", p);
      if (fs::is_directory(st)) fail("{}: is a directory, expected a video file", p);
      f_ = std::fopen(p.c_str(), "rb");
      if (!f_) fail("{}: cannot open: {}", p, std::strerror(errno));
      seekable_ = fs::is_regular_file(st);
    }
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
    parse_header();
  }
  ~Y4mSource() override {
    if (f_ && owns_) std::fclose(f_);
  }

  bool read(uint8_t* rgb) override {
    if (!frame_header()) return false;
    read_exact(raw_.data(), raw_.size());
    ++frame_index_;
    convert(rgb);
    return true;
  }
  bool skip() override {
    if (!frame_header()) return false;
    if (seekable_) {
      if (fseeko(f_, static_cast<off_t>(raw_.size()), SEEK_CUR) != 0)
        fail("{}: seek error: {}", path_.string(), std::strerror(errno));
      // A seek past the end succeeds; the next read reports the truncation.
    } else {
      read_exact(raw_.data(), raw_.size());
    }
    ++frame_index_;
    return true;
  }

 private:
  enum class Chroma { C420, C411, C422, C444, Mono };

  std::string line(size_t max_len, bool* eof_at_start) {
    std::string s;
    int c;
    while ((c = std::fgetc(f_)) != EOF && c != '\n') {
      s.push_back(static_cast<char>(c));
      if (s.size() > max_len) fail("{}: not a y4m file (header line too long)", path_.string());
    }
    if (c == EOF) {
      if (eof_at_start && s.empty()) {
        *eof_at_start = true;
        return s;
      }
      fail("{}: truncated y4m file (no end of line after '{}')", path_.string(), s.substr(0, 40));
    }
    return s;
  }

  void parse_header() {
    const std::string p = path_.string();
    bool eof = false;
    std::string h = line(8192, &eof);
    if (eof || h.rfind("YUV4MPEG2", 0) != 0) fail("{}: not a y4m file (no YUV4MPEG2 header)", p);
    header_bytes_ = static_cast<int64_t>(h.size()) + 1;
    std::string cs = "420jpeg";
    bool full = false;
    int w = -1, hh = -1;
    Fps fps{25, 1};
    size_t i = 9;
    while (i < h.size()) {
      while (i < h.size() && h[i] == ' ') ++i;
      size_t j = h.find(' ', i);
      if (j == std::string::npos) j = h.size();
      std::string tok = h.substr(i, j - i);
      i = j;
      if (tok.empty()) continue;
      const std::string val = tok.substr(1);
      try {
        switch (tok[0]) {
          case 'W': w = std::stoi(val); break;
          case 'H': hh = std::stoi(val); break;
          case 'F': {
            auto colon = val.find(':');
            if (colon == std::string::npos) throw std::invalid_argument("F");
            fps.num = std::stoi(val.substr(0, colon));
            fps.den = std::stoi(val.substr(colon + 1));
            break;
          }
          case 'C': cs = val; break;
          case 'X':
            if (val == "COLORRANGE=FULL") full = true;
            else if (val == "COLORRANGE=LIMITED") full = false;
            break;
          default: break;  // I (interlacing), A (aspect), unknown tags: ignored
        }
      } catch (const std::exception&) {
        fail("{}: malformed y4m header field '{}'", p, tok);
      }
    }
    if (w < 0 || hh < 0) fail("{}: malformed y4m header (no W or H)", p);
    if (w == 0 || hh == 0) fail("{}: zero-sized video ({}x{})", p, w, hh);
    if (w > 65536 || hh > 65536) fail("{}: implausible y4m frame size {}x{}", p, w, hh);
    if (fps.num <= 0 || fps.den <= 0) fps = Fps{25, 1};

    // Colour space: 420jpeg, 420paldv, 420mpeg2, 420, 411, 422, 444, 444alpha, mono, with optional
    // "pN" (or "monoN") for N-bit samples.
    depth_ = 8;
    std::string base = cs;
    auto all_digits = [](const std::string& s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (cs.rfind("mono", 0) == 0) {
      base = "mono";
      if (cs.size() > 4) depth_ = parse_depth(cs.substr(4), cs);
    } else if (cs.size() > 4 && cs[3] == 'p' && all_digits(cs.substr(4))) {  // 420p10, 444p16, ...
      base = cs.substr(0, 3);
      depth_ = parse_depth(cs.substr(4), cs);
    }
    alpha_ = false;
    if (base == "420jpeg" || base == "420paldv" || base == "420mpeg2" || base == "420") chroma_ = Chroma::C420;
    else if (base == "411") chroma_ = Chroma::C411;
    else if (base == "422") chroma_ = Chroma::C422;
    else if (base == "444") chroma_ = Chroma::C444;
    else if (base == "444alpha") chroma_ = Chroma::C444, alpha_ = true;
    else if (base == "mono") chroma_ = Chroma::Mono;
    else fail("{}: unsupported y4m colour space C{}", p, cs);

    w_ = w, h_ = hh;
    switch (chroma_) {
      case Chroma::C420: cw_ = (w + 1) / 2, ch_ = (hh + 1) / 2, sx_ = 1, sy_ = 1; break;
      case Chroma::C411: cw_ = (w + 3) / 4, ch_ = hh, sx_ = 2, sy_ = 0; break;
      case Chroma::C422: cw_ = (w + 1) / 2, ch_ = hh, sx_ = 1, sy_ = 0; break;
      case Chroma::C444: cw_ = w, ch_ = hh, sx_ = 0, sy_ = 0; break;
      case Chroma::Mono: cw_ = 0, ch_ = 0, sx_ = 0, sy_ = 0; break;
    }
    const int64_t bps = depth_ > 8 ? 2 : 1;
    const int64_t samples = int64_t{w} * hh * (alpha_ ? 2 : 1) + 2 * int64_t{cw_} * ch_;
    raw_.resize(static_cast<size_t>(samples * bps));
    conv_ = std::make_unique<YuvToRgb>(depth_, full);

    info_.width = w, info_.height = hh, info_.fps = fps;
    info_.container = "yuv4mpegpipe";
    info_.codec = "y4m:C" + cs;
    info_.pixel_format = "C" + cs + (full ? " full range" : " limited range");
    info_.frame_count = 0;
    info_.frame_count_exact = false;
    if (seekable_) {
      // Exact when every frame header is a bare "FRAME\n" (what every writer we know produces).
      std::error_code ec;
      auto size = static_cast<int64_t>(fs::file_size(path_, ec));
      const int64_t per = 6 + static_cast<int64_t>(raw_.size());
      if (!ec && size >= header_bytes_) {
        info_.frame_count = (size - header_bytes_) / per;
        info_.frame_count_exact = (size - header_bytes_) % per == 0;
      }
    }
    spdlog::debug("{}: y4m {}x{} C{} {}-bit {} range, {} fps, {} frames{}", p, w, hh, cs, depth_,
                  full ? "full" : "limited", fps.str(), info_.frame_count, info_.frame_count_exact ? "" : " (estimate)");
  }

  int parse_depth(const std::string& s, const std::string& cs) {
    int d = 0;
    try {
      d = std::stoi(s);
    } catch (const std::exception&) {
      fail("{}: unsupported y4m colour space C{}", path_.string(), cs);
    }
    if (d < 8 || d > 16) fail("{}: unsupported y4m bit depth {} (C{})", path_.string(), d, cs);
    return d;
  }

  // Reads "FRAME[ params]\n"; false at a clean end of file.
  bool frame_header() {
    bool eof = false;
    std::string s = line(4096, &eof);
    if (eof) return false;
    if (s.rfind("FRAME", 0) != 0)
      fail("{}: corrupt y4m file (frame {} does not start with FRAME)", path_.string(), frame_index_);
    return true;
  }

  void read_exact(uint8_t* dst, size_t n) {
    size_t got = std::fread(dst, 1, n, f_);
    if (got != n)
      fail("{}: truncated y4m file (frame {} has {} of {} bytes)", path_.string(), frame_index_, got, n);
  }

  template <typename T>
  void convert_t(uint8_t* rgb) const {
    const T* yp = reinterpret_cast<const T*>(raw_.data());
    const T* up = yp + int64_t{w_} * h_;
    const T* vp = up + int64_t{cw_} * ch_;
    const unsigned mid = 1u << (depth_ - 1), maxv = (1u << depth_) - 1;
    auto sample = [&](const T* p, int64_t i) -> unsigned {
      unsigned v = sizeof(T) == 2 ? le16(static_cast<uint16_t>(p[i])) : p[i];
      return v > maxv ? maxv : v;  // out-of-range samples from sloppy writers
    };
    for (int yy = 0; yy < h_; ++yy) {
      const int64_t crow = int64_t{yy >> sy_} * cw_;
      for (int xx = 0; xx < w_; ++xx, rgb += 3) {
        unsigned Y = sample(yp, int64_t{yy} * w_ + xx);
        unsigned U = mid, V = mid;
        if (chroma_ != Chroma::Mono) {
          U = sample(up, crow + (xx >> sx_));
          V = sample(vp, crow + (xx >> sx_));
        }
        conv_->convert(Y, U, V, rgb);
      }
    }
  }
  void convert(uint8_t* rgb) const {
    if (depth_ > 8) convert_t<uint16_t>(rgb);
    else convert_t<uint8_t>(rgb);
  }

  fs::path path_;
  FILE* f_ = nullptr;
  bool owns_ = true, seekable_ = false;
  int64_t header_bytes_ = 0, frame_index_ = 0;
  int w_ = 0, h_ = 0, cw_ = 0, ch_ = 0, sx_ = 0, sy_ = 0, depth_ = 8;
  bool alpha_ = false;
  Chroma chroma_ = Chroma::C420;
  std::vector<uint8_t> raw_;
  std::unique_ptr<YuvToRgb> conv_;
};

}  // namespace

namespace detail {

std::unique_ptr<VideoWriter::Backend> make_y4m_writer(const fs::path& path, const WriteOptions& opts, int width,
                                                      int height) {
  return std::make_unique<Y4mWriter>(path, opts, width, height);
}

std::unique_ptr<VideoReader::Source> open_y4m(const fs::path& path) { return std::make_unique<Y4mSource>(path); }

}  // namespace detail
}  // namespace longvid
