// Internal to core/*_ffmpeg.cpp: FFmpeg error text, logging, and owning pointers for its objects.
#pragma once
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "core/log.h"

namespace longvid::ffmpeg {

inline std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

// Route FFmpeg's own log through spdlog at debug level (its warnings are rarely actionable for
// users, and our errors already say what went wrong).
inline void init_ffmpeg_logging() {
  static const bool once = [] {
    av_log_set_callback([](void* avcl, int level, const char* fmt, va_list vl) {
      if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
      char line[1024];
      int print_prefix = 1;
      av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
      std::string s(line);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (!s.empty()) spdlog::debug("ffmpeg: {}", s);
    });
    return true;
  }();
  (void)once;
}

struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
// Muxer context: closes its file (if it opened one) and frees itself.
struct OutputDeleter {
  void operator()(AVFormatContext* oc) const {
    if (oc->pb && !(oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&oc->pb);
    avformat_free_context(oc);
  }
};
struct InputDeleter {
  void operator()(AVFormatContext* ic) const { avformat_close_input(&ic); }
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;
using InputPtr = std::unique_ptr<AVFormatContext, InputDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

struct DictGuard {
  AVDictionary* d = nullptr;
  ~DictGuard() { av_dict_free(&d); }
  void set(const char* k, const std::string& v) { av_dict_set(&d, k, v.c_str(), 0); }
};

}  // namespace longvid::ffmpeg
