// FFmpeg (libavformat/libavcodec/libswscale) writers and readers. Built only with
// LONGVID_FFMPEG=ON; see core/video_io.h for the formats and their settings.
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/ffmpeg_util.h"
#include "core/video_backend.h"

namespace fs = std::filesystem;

namespace longvid {
namespace {

using namespace ffmpeg;  // core/ffmpeg_util.h


const char* default_encoder(VideoFormat f) {
  switch (f) {
    case VideoFormat::MP4: return "libx264";
    case VideoFormat::WebM: return "libvpx-vp9";
    case VideoFormat::GIF: return "gif";
    case VideoFormat::PNGSequence: return "png";
    default: return nullptr;
  }
}

const char* muxer_name(VideoFormat f) {
  switch (f) {
    case VideoFormat::MP4: return "mp4";
    case VideoFormat::WebM: return "webm";
    case VideoFormat::GIF: return "gif";
    default: return nullptr;  // guessed from the file name
  }
}

const AVOutputFormat* guess_muxer(const fs::path& path, VideoFormat format) {
  if (const char* m = muxer_name(format)) return av_guess_format(m, nullptr, nullptr);
  return av_guess_format(nullptr, path.filename().c_str(), nullptr);
}

const AVCodec* find_encoder(const fs::path& path, VideoFormat format, const WriteOptions& opts,
                            const AVOutputFormat* muxer) {
  std::string name = opts.codec.empty() ? std::string(default_encoder(format) ? default_encoder(format) : "")
                                        : opts.codec;
  const AVCodec* c = nullptr;
  if (!name.empty()) {
    c = avcodec_find_encoder_by_name(name.c_str());
    if (!c) fail("{}: encoder '{}' is not available in this FFmpeg build (see ffmpeg -encoders)", path.string(), name);
  } else {
    if (!muxer || muxer->video_codec == AV_CODEC_ID_NONE)
      fail("{}: the {} container has no default video encoder; give one with the codec option", path.string(),
           muxer ? muxer->name : "?");
    c = avcodec_find_encoder(muxer->video_codec);
    if (!c)
      fail("{}: encoder for {} is not available in this FFmpeg build", path.string(),
           avcodec_get_name(muxer->video_codec));
  }
  if (c->type != AVMEDIA_TYPE_VIDEO) fail("{}: '{}' is not a video encoder", path.string(), c->name);
  return c;
}

// ---- GIF: fixed 6x7x6 palette (252 colours), 8x8 ordered dithering ---------------------------
struct GifQuantizer {
  static constexpr int kLevels[3] = {6, 7, 6};
  std::array<std::array<uint8_t, 256>, 64> lut[3];  // [channel][threshold][value] -> level
  std::array<uint32_t, 256> palette{};
  std::array<uint8_t, 64> bayer{};
  GifQuantizer() {
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        int v = 0;
        for (int bit = 0; bit < 3; ++bit) v = (v << 2) | ((((x ^ y) >> bit) & 1) << 1) | ((y >> bit) & 1);
        bayer[size_t(y * 8 + x)] = static_cast<uint8_t>(v);
      }
    for (int c = 0; c < 3; ++c) {
      const int L = kLevels[c];
      for (int t = 0; t < 64; ++t)
        for (int v = 0; v < 256; ++v) {
          // level = floor(v (L-1) / 255 + (t + 0.5) / 64)
          int lv = (v * (L - 1) * 128 + (2 * t + 1) * 255) / (255 * 128);
          lut[c][size_t(t)][size_t(v)] = static_cast<uint8_t>(std::min(lv, L - 1));
        }
    }
    for (int r = 0; r < 6; ++r)
      for (int g = 0; g < 7; ++g)
        for (int b = 0; b < 6; ++b) {
          uint32_t R = uint32_t(std::lround(r * 255.0 / 5)), G = uint32_t(std::lround(g * 255.0 / 6)),
                   B = uint32_t(std::lround(b * 255.0 / 5));
          palette[size_t(r * 42 + g * 6 + b)] = 0xFF000000u | (R << 16) | (G << 8) | B;
        }
  }
  void quantize(const uint8_t* rgb, int64_t rgb_stride, int w, int h, uint8_t* dst, int dst_stride) const {
    for (int y = 0; y < h; ++y) {
      const uint8_t* s = rgb + y * rgb_stride;
      uint8_t* d = dst + int64_t{y} * dst_stride;
      const uint8_t* brow = &bayer[size_t((y & 7) * 8)];
      for (int x = 0; x < w; ++x, s += 3) {
        const size_t t = brow[x & 7];
        d[x] = static_cast<uint8_t>(lut[0][t][s[0]] * 42 + lut[1][t][s[1]] * 6 + lut[2][t][s[2]]);
      }
    }
  }
};

const GifQuantizer& gif_quantizer() {
  static const GifQuantizer q;
  return q;
}

bool is_subsampled_yuv(AVPixelFormat f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(f);
  return d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && !(d->flags & AV_PIX_FMT_FLAG_PAL) && d->nb_components >= 3 &&
         (d->log2_chroma_w || d->log2_chroma_h);
}
bool is_yuv(AVPixelFormat f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(f);
  return d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && !(d->flags & AV_PIX_FMT_FLAG_PAL) && d->nb_components >= 3;
}

constexpr int kSwsQuality = SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP | SWS_BITEXACT;

// ---- writer: one encoder, one muxer (mp4/webm/gif/mkv/...), or one PNG file per frame ----------
class FfmpegWriter : public VideoWriter::Backend {
 public:
  FfmpegWriter(const fs::path& path, VideoFormat format, const WriteOptions& opts, int width, int height)
      : path_(path), format_(format), w_(width), h_(height) {
    init_ffmpeg_logging();
    const std::string p = path.string();
    const AVOutputFormat* muxer = nullptr;
    if (format == VideoFormat::PNGSequence) {
      seq_ = detail::split_image_sequence(path);
      prepare_sequence_dir();
    } else {
      muxer = guess_muxer(path, format);
      if (!muxer) fail("{}: unknown video format", p);
    }
    const AVCodec* codec = find_encoder(path, format, opts, muxer);

    // Pixel format.
    AVPixelFormat pix = AV_PIX_FMT_YUV420P;
    if (codec->id == AV_CODEC_ID_GIF) pix = AV_PIX_FMT_PAL8;
    else if (codec->id == AV_CODEC_ID_PNG) pix = AV_PIX_FMT_RGB24;
    else if (codec->pix_fmts) {
      bool has420 = false, hasrgb = false;
      for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
        has420 |= *f == AV_PIX_FMT_YUV420P;
        hasrgb |= *f == AV_PIX_FMT_RGB24;
      }
      pix = has420 ? AV_PIX_FMT_YUV420P
                   : hasrgb ? AV_PIX_FMT_RGB24
                            : avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_RGB24, 0, nullptr);
    }
    // Even sizes for 4:2:0/4:2:2 H.264 & co (VP9 and AV1 code odd sizes fine).
    ew_ = w_, eh_ = h_;
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(pix);
    if (is_subsampled_yuv(pix) && codec->id != AV_CODEC_ID_VP9 && codec->id != AV_CODEC_ID_AV1) {
      ew_ = (w_ + (1 << desc->log2_chroma_w) - 1) & ~((1 << desc->log2_chroma_w) - 1);
      eh_ = (h_ + (1 << desc->log2_chroma_h) - 1) & ~((1 << desc->log2_chroma_h) - 1);
      if (ew_ != w_ || eh_ != h_) {
        spdlog::warn("{}: {}x{} cannot be coded by {} {}; padded to {}x{} by repeating the last column/row", p, w_,
                     h_, codec->name, av_get_pix_fmt_name(pix), ew_, eh_);
        pad_.resize(size_t(3) * ew_ * eh_);
      }
    }

    enc_.reset(avcodec_alloc_context3(codec));
    if (!enc_) fail("{}: out of memory", p);
    enc_->width = ew_;
    enc_->height = eh_;
    enc_->pix_fmt = pix;
    enc_->time_base = AVRational{opts.fps.den, opts.fps.num};
    enc_->framerate = AVRational{opts.fps.num, opts.fps.den};
    enc_->sample_aspect_ratio = AVRational{1, 1};
    // One PNG per push: frame threading would only delay the packets.
    enc_->thread_count = codec->id == AV_CODEC_ID_PNG ? 1 : opts.threads;
    if (is_yuv(pix)) {
      // swscale converts with BT.601 coefficients to limited range: say so in the stream.
      enc_->color_range = AVCOL_RANGE_MPEG;
      enc_->colorspace = AVCOL_SPC_SMPTE170M;
    }
    if (muxer && (muxer->flags & AVFMT_GLOBALHEADER)) enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    DictGuard enc_opts;
    const bool has_crf = av_opt_find(enc_->priv_data ? enc_.get()->priv_data : nullptr, "crf", nullptr, 0, 0);
    int crf = opts.crf;
    if (codec->id == AV_CODEC_ID_H264 && crf < 0) crf = 18;
    if (codec->id == AV_CODEC_ID_VP9 && crf < 0) crf = 24;
    if (crf >= 0 && has_crf) enc_opts.set("crf", std::to_string(crf));
    if (codec->id == AV_CODEC_ID_VP9 && std::string(codec->name) == "libvpx-vp9") {
      enc_opts.set("b", "0");  // constant quality
      enc_opts.set("row-mt", "1");
      enc_opts.set("deadline", "good");
      enc_opts.set("cpu-used", "4");
    }
    if (!opts.preset.empty() && enc_->priv_data && av_opt_find(enc_->priv_data, "preset", nullptr, 0, 0))
      enc_opts.set("preset", opts.preset);
    int r = avcodec_open2(enc_.get(), codec, &enc_opts.d);
    if (r < 0) fail("{}: cannot open encoder {}: {}", p, codec->name, av_error(r));
    crf_ = crf;

    frame_.reset(av_frame_alloc());
    pkt_.reset(av_packet_alloc());
    if (!frame_ || !pkt_) fail("{}: out of memory", p);
    frame_->format = pix;
    frame_->width = ew_;
    frame_->height = eh_;
    r = av_frame_get_buffer(frame_.get(), 0);
    if (r < 0) fail("{}: cannot allocate a frame: {}", p, av_error(r));
    if (pix != AV_PIX_FMT_PAL8 && pix != AV_PIX_FMT_RGB24) {
      sws_.reset(sws_getContext(ew_, eh_, AV_PIX_FMT_RGB24, ew_, eh_, pix, SWS_BICUBIC | kSwsQuality, nullptr,
                                nullptr, nullptr));
      if (!sws_) fail("{}: cannot convert RGB to {}", p, av_get_pix_fmt_name(pix));
      const int* coef = sws_getCoefficients(SWS_CS_ITU601);
      sws_setColorspaceDetails(sws_.get(), coef, 1, coef, is_yuv(pix) ? 0 : 1, 0, 1 << 16, 1 << 16);
    }

    if (format == VideoFormat::PNGSequence) return;  // files are written per frame

    out_ = std::make_unique<AtomicOutput>(path);
    AVFormatContext* oc = nullptr;
    r = avformat_alloc_output_context2(&oc, muxer, nullptr, out_->temp().c_str());
    if (r < 0 || !oc) fail("{}: cannot create the {} muxer: {}", p, muxer->name, av_error(r));
    oc_.reset(oc);
    st_ = avformat_new_stream(oc, nullptr);
    if (!st_) fail("{}: out of memory", p);
    r = avcodec_parameters_from_context(st_->codecpar, enc_.get());
    if (r < 0) fail("{}: {}", p, av_error(r));
    st_->time_base = enc_->time_base;
    st_->avg_frame_rate = enc_->framerate;
    if (!(oc_->oformat->flags & AVFMT_NOFILE)) {
      r = avio_open(&oc_->pb, out_->temp().c_str(), AVIO_FLAG_WRITE);
      if (r < 0) fail("{}: cannot create: {}", p, av_error(r));
    }
    DictGuard mux_opts;
    if (format == VideoFormat::MP4) mux_opts.set("movflags", "+faststart");
    r = avformat_write_header(oc, &mux_opts.d);
    if (r < 0) fail("{}: cannot write the {} header: {}", p, oc_->oformat->name, av_error(r));
    header_written_ = true;
    spdlog::debug("{}: {} {} {}x{} @ {} fps{}", p, oc_->oformat->name, codec->name, ew_, eh_, opts.fps.str(),
                  crf >= 0 && has_crf ? fmt::format(" crf {}", crf) : "");
  }

  // Without close(): oc_ closes the temp file, then out_ (AtomicOutput) removes it.
  ~FfmpegWriter() override = default;

  void push(const FrameView& f) override {
    int r = av_frame_make_writable(frame_.get());
    if (r < 0) fail("{}: {}", path_.string(), av_error(r));
    const uint8_t* src = f.data;
    int64_t stride = f.row_bytes();
    if (!pad_.empty()) {  // copy, repeating the last column and row
      const int64_t prow = int64_t{ew_} * 3;
      for (int y = 0; y < eh_; ++y) {
        const uint8_t* s = f.data + std::min(y, h_ - 1) * stride;
        uint8_t* d = pad_.data() + y * prow;
        std::memcpy(d, s, size_t(3) * w_);
        for (int x = w_; x < ew_; ++x) std::memcpy(d + 3 * x, s + 3 * (w_ - 1), 3);
      }
      src = pad_.data();
      stride = prow;
    }
    if (enc_->pix_fmt == AV_PIX_FMT_PAL8) {
      const auto& q = gif_quantizer();
      q.quantize(src, stride, ew_, eh_, frame_->data[0], frame_->linesize[0]);
      std::memcpy(frame_->data[1], q.palette.data(), 1024);
    } else if (enc_->pix_fmt == AV_PIX_FMT_RGB24) {
      for (int y = 0; y < eh_; ++y)
        std::memcpy(frame_->data[0] + int64_t{y} * frame_->linesize[0], src + y * stride, size_t(3) * ew_);
    } else {
      const uint8_t* planes[1] = {src};
      const int strides[1] = {static_cast<int>(stride)};
      sws_scale(sws_.get(), planes, strides, 0, eh_, frame_->data, frame_->linesize);
    }
    frame_->pts = next_pts_++;
    if (format_ == VideoFormat::PNGSequence) encode_png();
    else encode(frame_.get());
  }

  void close() override {
    if (format_ == VideoFormat::PNGSequence) {
      out_->commit();
      return;
    }
    encode(nullptr);
    int r = av_write_trailer(oc_.get());
    if (r < 0) fail("{}: cannot finish the file: {}", path_.string(), av_error(r));
    if (!(oc_->oformat->flags & AVFMT_NOFILE)) {
      r = avio_closep(&oc_->pb);
      if (r < 0) fail("{}: write error: {}", path_.string(), av_error(r));
    }
    out_->commit();
  }

 private:
  void encode(AVFrame* f) {
    int r = avcodec_send_frame(enc_.get(), f);
    if (r < 0) fail("{}: encoding failed: {}", path_.string(), av_error(r));
    while (true) {
      r = avcodec_receive_packet(enc_.get(), pkt_.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
      if (r < 0) fail("{}: encoding failed: {}", path_.string(), av_error(r));
      av_packet_rescale_ts(pkt_.get(), enc_->time_base, st_->time_base);
      pkt_->stream_index = st_->index;
      r = av_interleaved_write_frame(oc_.get(), pkt_.get());  // takes the packet's reference
      // A failed write (disk full) is sticky in the I/O context: stop at the first one.
      if (r >= 0 && oc_->pb && oc_->pb->error < 0) r = oc_->pb->error;
      if (r < 0) fail("{}: write error: {}", path_.string(), av_error(r));
    }
  }

  // PNG sequences: the target directory is built as a temp directory, renamed at close().
  void prepare_sequence_dir() {
    const std::string p = path_.string();
    if (seq_.dir.empty())
      fail("{}: an image sequence needs its own directory, e.g. frames/%05d.png", p);
    std::error_code ec;
    if (fs::exists(seq_.dir, ec)) {
      if (!fs::is_directory(seq_.dir, ec)) fail("{}: exists and is not a directory", seq_.dir.string());
      for (const auto& e : fs::directory_iterator(seq_.dir, ec)) {
        std::string ext = e.path().extension().string();
        if (!e.is_regular_file() || (ext != ".png" && ext != ".PNG"))
          fail("{}: the directory exists and holds other things than PNG frames ({}); not replacing it",
               seq_.dir.string(), e.path().filename().string());
      }
    }
    out_ = std::make_unique<AtomicOutput>(seq_.dir);
    if (!fs::create_directory(out_->temp(), ec) || ec)
      fail("{}: cannot create a directory: {}", out_->temp().string(), ec.message());
  }

  void encode_png() {
    int r = avcodec_send_frame(enc_.get(), frame_.get());
    if (r < 0) fail("{}: PNG encoding failed: {}", path_.string(), av_error(r));
    r = avcodec_receive_packet(enc_.get(), pkt_.get());
    if (r < 0) fail("{}: PNG encoding failed: {}", path_.string(), av_error(r));
    char name[4096];
    std::snprintf(name, sizeof name, seq_.pattern.c_str(), static_cast<int>(next_pts_));  // 1-based
    fs::path file = out_->temp() / name;
    {
      std::ofstream os(file, std::ios::binary);
      os.write(reinterpret_cast<const char*>(pkt_->data), pkt_->size);
      os.close();  // a full disk shows at the flush: check after it, not only after write()
      if (!os) fail("{}: write error: {}", file.string(), std::strerror(errno));
    }
    av_packet_unref(pkt_.get());
  }

  fs::path path_;
  VideoFormat format_;
  int w_, h_, ew_ = 0, eh_ = 0, crf_ = -1;
  detail::ImageSequence seq_;
  std::unique_ptr<AtomicOutput> out_;
  CodecPtr enc_;
  FramePtr frame_;
  PacketPtr pkt_;
  SwsPtr sws_;
  OutputPtr oc_;  // after out_: destroyed (file closed) before the temp file is removed
  AVStream* st_ = nullptr;
  bool header_written_ = false;
  int64_t next_pts_ = 0;
  std::vector<uint8_t> pad_;
};

// ---- reader ------------------------------------------------------------------------------------
std::string escape_glob(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '%') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class FfmpegSource : public VideoReader::Source {
 public:
  FfmpegSource(const fs::path& path, const ReadOptions& opts) : path_(path) {
    init_ffmpeg_logging();
    const std::string p = path.string();
    const VideoFormat format = video_format_for(path);
    std::string url = p;
    const AVInputFormat* ifmt = nullptr;
    DictGuard in_opts;
    bool image_seq = false;
    std::error_code ec;
    if (format == VideoFormat::PNGSequence || (format == VideoFormat::Other && detail::has_printf_pattern(p))) {
      image_seq = true;
      ifmt = av_find_input_format("image2");
      in_opts.set("framerate", opts.image_sequence_fps.str());
      if (format == VideoFormat::PNGSequence && (p.back() == '/' || fs::is_directory(path, ec))) {
        auto seq = detail::split_image_sequence(path);
        if (!fs::is_directory(seq.dir, ec)) fail("{}: no such directory", seq.dir.string());
        bool any = false;
        for (const auto& e : fs::directory_iterator(seq.dir, ec)) any |= e.path().extension() == ".png";
        if (!any) fail("{}: no .png files in the directory", seq.dir.string());
        url = escape_glob(seq.dir.string()) + "/*.png";
        in_opts.set("pattern_type", "glob");
      } else {
        fs::path dir = path.parent_path();
        if (!dir.empty() && !fs::is_directory(dir, ec)) fail("{}: no such directory", dir.string());
      }
    } else {
      require_readable_file(path, "file");
    }
    AVFormatContext* ic = nullptr;
    int r = avformat_open_input(&ic, url.c_str(), ifmt, &in_opts.d);
    ic_.reset(r < 0 ? nullptr : ic);
    if (r < 0) {
      if (image_seq && r == AVERROR(ENOENT)) fail("{}: no image files match the pattern", p);
      fail("{}: not a video FFmpeg can read: {}", p, av_error(r));
    }
    r = avformat_find_stream_info(ic, nullptr);
    if (r < 0) fail("{}: not a video FFmpeg can read: {}", p, av_error(r));
    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ == AVERROR_STREAM_NOT_FOUND) fail("{}: has no video stream", p);
    if (stream_ < 0 || !codec) fail("{}: no decoder for its video stream: {}", p, av_error(stream_));
    AVStream* st = ic_->streams[stream_];
    if (st->codecpar->format == AV_PIX_FMT_NONE)
      fail("{}: not a video FFmpeg can read: no decodable {} frame found (truncated or corrupt file?)", p,
           avcodec_get_name(st->codecpar->codec_id));
    dec_.reset(avcodec_alloc_context3(codec));
    if (!dec_) fail("{}: out of memory", p);
    r = avcodec_parameters_to_context(dec_.get(), st->codecpar);
    if (r < 0) fail("{}: {}", p, av_error(r));
    dec_->thread_count = 0;
    r = avcodec_open2(dec_.get(), codec, nullptr);
    if (r < 0) fail("{}: cannot open the {} decoder: {}", p, codec->name, av_error(r));
    frame_.reset(av_frame_alloc());
    pkt_.reset(av_packet_alloc());
    if (!frame_ || !pkt_) fail("{}: out of memory", p);

    info_.width = st->codecpar->width;
    info_.height = st->codecpar->height;
    if (info_.width <= 0 || info_.height <= 0) fail("{}: zero-sized video ({}x{})", p, info_.width, info_.height);
    AVRational fr = st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = st->r_frame_rate;
    if (fr.num <= 0 || fr.den <= 0) fr = AVRational{opts.image_sequence_fps.num, opts.image_sequence_fps.den};
    av_reduce(&fr.num, &fr.den, fr.num, fr.den, 1 << 30);
    info_.fps = Fps{fr.num, fr.den};
    info_.container = ic_->iformat->name;
    info_.codec = avcodec_get_name(st->codecpar->codec_id);
    const char* pf = av_get_pix_fmt_name(static_cast<AVPixelFormat>(st->codecpar->format));
    info_.pixel_format = pf ? pf : "?";
    for (unsigned i = 0; i < ic_->nb_streams; ++i)
      if (ic_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
        if (!info_.audio_streams++) info_.audio_codec = avcodec_get_name(ic_->streams[i]->codecpar->codec_id);
      }
    count_frames(url, ifmt, opts);
    spdlog::debug("{}: {} {} {}x{} {} @ {} fps, {} frames{}", p, info_.container, info_.codec, info_.width,
                  info_.height, info_.pixel_format, info_.fps.str(), info_.frame_count,
                  info_.frame_count_exact ? "" : " (estimate)");
  }


  bool read(uint8_t* rgb) override {
    if (!decode_next()) return false;
    convert(rgb);
    av_frame_unref(frame_.get());
    return true;
  }
  bool skip() override {
    if (!decode_next()) return false;
    av_frame_unref(frame_.get());
    return true;
  }

 private:
  // Exact from the container index when there is one (mp4); else by demuxing (no decoding) when the
  // file is not huge; else duration * fps, marked as an estimate.
  void count_frames(const std::string& url, const AVInputFormat* ifmt, const ReadOptions& opts) {
    AVStream* st = ic_->streams[stream_];
    if (st->nb_frames > 0) {
      info_.frame_count = st->nb_frames;
      info_.frame_count_exact = true;
      return;
    }
    std::error_code ec;
    auto size = fs::file_size(path_, ec);
    const bool cheap = ec ? true : size <= (uint64_t{2} << 30);
    if (cheap) {
      AVFormatContext* ic = nullptr;
      DictGuard o;
      if (ifmt && std::string(ifmt->name) == "image2") {
        o.set("framerate", opts.image_sequence_fps.str());
        if (url.size() > 6 && url.compare(url.size() - 6, 6, "/*.png") == 0) o.set("pattern_type", "glob");
      }
      if (avformat_open_input(&ic, url.c_str(), ifmt, &o.d) >= 0) {
        PacketPtr pkt(av_packet_alloc());
        int64_t n = 0;
        int r;
        while ((r = av_read_frame(ic, pkt.get())) >= 0) {
          n += pkt->stream_index == stream_;
          av_packet_unref(pkt.get());
        }
        avformat_close_input(&ic);
        if (r == AVERROR_EOF) {
          info_.frame_count = n;
          info_.frame_count_exact = true;
          return;
        }
      }
    }
    double dur = -1;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) dur = st->duration * av_q2d(st->time_base);
    else if (ic_->duration != AV_NOPTS_VALUE && ic_->duration > 0) dur = ic_->duration / double(AV_TIME_BASE);
    info_.frame_count = dur > 0 ? static_cast<int64_t>(std::llround(dur * info_.fps.value())) : 0;
    info_.frame_count_exact = false;
  }

  bool decode_next() {
    while (true) {
      int r = avcodec_receive_frame(dec_.get(), frame_.get());
      if (r == 0) return true;
      if (r == AVERROR_EOF) return false;
      if (r != AVERROR(EAGAIN)) fail("{}: corrupt video data (frame {}): {}", path_.string(), decoded_, av_error(r));
      if (flushed_) return false;
      while (true) {  // feed one packet of our stream (or the end-of-stream flush)
        r = av_read_frame(ic_.get(), pkt_.get());
        if (r == AVERROR_EOF) {
          avcodec_send_packet(dec_.get(), nullptr);
          flushed_ = true;
          break;
        }
        if (r < 0) fail("{}: read error: {}", path_.string(), av_error(r));
        if (pkt_->stream_index != stream_) {
          av_packet_unref(pkt_.get());
          continue;
        }
        r = avcodec_send_packet(dec_.get(), pkt_.get());
        av_packet_unref(pkt_.get());
        if (r < 0 && r != AVERROR(EAGAIN))
          fail("{}: corrupt video data (frame {}): {}", path_.string(), decoded_, av_error(r));
        break;
      }
    }
  }

  void convert(uint8_t* rgb) {
    ++decoded_;
    const AVFrame* f = frame_.get();
    const auto fmt = static_cast<AVPixelFormat>(f->format);
    const bool full = f->color_range == AVCOL_RANGE_JPEG;
    if (!sws_ || f->width != sw_ || f->height != sh_ || fmt != sfmt_ || f->colorspace != scs_ || full != sfull_) {
      sw_ = f->width, sh_ = f->height, sfmt_ = fmt, scs_ = f->colorspace, sfull_ = full;
      // Point sampling when nothing is interpolated (RGB, palette, gray, 4:4:4); bicubic for
      // chroma upsampling (and for frames whose size changed mid-stream).
      const bool same = sw_ == info_.width && sh_ == info_.height;
      const int interp = same && !is_subsampled_yuv(fmt) ? SWS_POINT : SWS_BICUBIC;
      sws_.reset(sws_getContext(sw_, sh_, fmt, info_.width, info_.height, AV_PIX_FMT_RGB24, interp | kSwsQuality,
                                nullptr, nullptr, nullptr));
      if (!sws_) fail("{}: cannot convert {} to RGB", path_.string(), av_get_pix_fmt_name(fmt));
      if (is_yuv(fmt)) {
        int cs = SWS_CS_ITU601;
        switch (f->colorspace) {
          case AVCOL_SPC_BT709: cs = SWS_CS_ITU709; break;
          case AVCOL_SPC_FCC: cs = SWS_CS_FCC; break;
          case AVCOL_SPC_SMPTE240M: cs = SWS_CS_SMPTE240M; break;
          case AVCOL_SPC_BT2020_NCL:
          case AVCOL_SPC_BT2020_CL: cs = SWS_CS_BT2020; break;
          default: break;
        }
        int *inv, *tab, src_range, dst_range, bri, con, sat;
        sws_getColorspaceDetails(sws_.get(), &inv, &src_range, &tab, &dst_range, &bri, &con, &sat);
        // yuvj* formats are full range already (src_range = 1 from swscale); else the frame says.
        sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(cs), src_range || full, tab, 1, bri, con, sat);
      }
    }
    uint8_t* dst[1] = {rgb};
    int dst_stride[1] = {info_.width * 3};
    sws_scale(sws_.get(), f->data, f->linesize, 0, sh_, dst, dst_stride);
  }

  fs::path path_;
  InputPtr ic_;
  int stream_ = -1;
  CodecPtr dec_;
  FramePtr frame_;
  PacketPtr pkt_;
  SwsPtr sws_;
  int sw_ = 0, sh_ = 0;
  AVPixelFormat sfmt_ = AV_PIX_FMT_NONE;
  AVColorSpace scs_ = AVCOL_SPC_UNSPECIFIED;
  bool sfull_ = false, flushed_ = false;
  int64_t decoded_ = 0;
};

}  // namespace

namespace detail {

void check_ffmpeg_writer(const fs::path& path, VideoFormat format, const WriteOptions& opts) {
  init_ffmpeg_logging();
  const AVOutputFormat* muxer = nullptr;
  if (format == VideoFormat::PNGSequence) {
    split_image_sequence(path);  // validates the pattern
  } else {
    muxer = guess_muxer(path, format);
    if (!muxer)
      fail("{}: unknown video format '{}': use .mp4, .webm, .gif, .y4m, .mkv, .mov or a PNG pattern like "
           "frames/%05d.png",
           path.string(), path.extension().string());
    if (muxer->flags & AVFMT_NOFILE)
      fail("{}: '{}' is not a video file format longvid can write", path.string(), muxer->name);
  }
  find_encoder(path, format, opts, muxer);
}

std::unique_ptr<VideoWriter::Backend> make_ffmpeg_writer(const fs::path& path, VideoFormat format,
                                                         const WriteOptions& opts, int width, int height) {
  return std::make_unique<FfmpegWriter>(path, format, opts, width, height);
}

std::unique_ptr<VideoReader::Source> open_ffmpeg(const fs::path& path, const ReadOptions& opts) {
  return std::make_unique<FfmpegSource>(path, opts);
}

}  // namespace detail
}  // namespace longvid
