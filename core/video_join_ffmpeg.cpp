// The packet-copying join of core/video_join.h (mp4, webm, mkv, ...): segments' video packets laid end
// to end, the source's audio packets interleaved by time; nothing is decoded or re-encoded.
#include <cstring>

#include "core/error.h"
#include "core/ffmpeg_util.h"
#include "core/fs.h"
#include "core/video_join.h"

namespace fs = std::filesystem;

namespace longvid::detail {
namespace {

using namespace ffmpeg;

InputPtr open_input(const fs::path& path) {
  AVFormatContext* ic = nullptr;
  int r = avformat_open_input(&ic, path.c_str(), nullptr, nullptr);
  if (r < 0) fail("{}: cannot open: {}", path.string(), av_error(r));
  InputPtr p(ic);
  r = avformat_find_stream_info(ic, nullptr);
  if (r < 0) fail("{}: cannot read the stream info: {}", path.string(), av_error(r));
  return p;
}

int video_stream_of(AVFormatContext* ic, const fs::path& path) {
  const int s = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (s < 0) fail("{}: no video stream", path.string());
  return s;
}

bool same_stream_settings(const AVCodecParameters* a, const AVCodecParameters* b) {
  if (a->codec_id != b->codec_id || a->width != b->width || a->height != b->height || a->format != b->format)
    return false;
  if (a->extradata_size != b->extradata_size) return false;
  return a->extradata_size == 0 || std::memcmp(a->extradata, b->extradata, size_t(a->extradata_size)) == 0;
}

}  // namespace

JoinResult remux_join(const std::vector<fs::path>& segments, const fs::path& output, const JoinOptions& options) {
  init_ffmpeg_logging();
  const std::string p = output.string();
  const VideoFormat fmt = video_format_for(output);
  const char* muxer = fmt == VideoFormat::MP4 ? "mp4" : fmt == VideoFormat::WebM ? "webm" : nullptr;
  const AVOutputFormat* of =
      muxer ? av_guess_format(muxer, nullptr, nullptr) : av_guess_format(nullptr, output.filename().c_str(), nullptr);
  if (!of) fail("{}: unknown video format '{}'", p, output.extension().string());
  const Fps fps = options.write.fps;
  JoinResult res;

  AtomicOutput out(output);
  AVFormatContext* ocraw = nullptr;
  int r = avformat_alloc_output_context2(&ocraw, of, nullptr, out.temp().c_str());
  if (r < 0 || !ocraw) fail("{}: cannot create the {} muxer: {}", p, of->name, av_error(r));
  OutputPtr oc(ocraw);

  size_t seg_i = 0;
  InputPtr seg = open_input(segments[0]);
  int vs = video_stream_of(seg.get(), segments[0]);
  AVCodecParameters* first_par = avcodec_parameters_alloc();
  std::unique_ptr<AVCodecParameters, void (*)(AVCodecParameters*)> first(
      first_par, [](AVCodecParameters* q) { avcodec_parameters_free(&q); });
  if (!first || avcodec_parameters_copy(first.get(), seg->streams[vs]->codecpar) < 0) fail("{}: out of memory", p);
  AVStream* vout = avformat_new_stream(oc.get(), nullptr);
  if (!vout) fail("{}: out of memory", p);
  if (avcodec_parameters_copy(vout->codecpar, first.get()) < 0) fail("{}: out of memory", p);
  vout->codecpar->codec_tag = 0;
  vout->time_base = seg->streams[vs]->time_base;
  vout->avg_frame_rate = AVRational{fps.num, fps.den};

  // The source's audio streams the container can hold.
  InputPtr ain;
  std::vector<int> amap;
  if (!options.audio_from.empty()) {
    ain = open_input(options.audio_from);
    amap.assign(ain->nb_streams, -1);
    for (unsigned i = 0; i < ain->nb_streams; ++i) {
      const AVCodecParameters* par = ain->streams[i]->codecpar;
      if (par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
      if (avformat_query_codec(of, par->codec_id, FF_COMPLIANCE_NORMAL) != 1) {
        if (res.audio_note.empty())
          res.audio_note = fmt::format("{} cannot hold {} audio", of->name, avcodec_get_name(par->codec_id));
        continue;
      }
      AVStream* as = avformat_new_stream(oc.get(), nullptr);
      if (!as) fail("{}: out of memory", p);
      if (avcodec_parameters_copy(as->codecpar, par) < 0) fail("{}: out of memory", p);
      as->codecpar->codec_tag = 0;
      as->time_base = ain->streams[i]->time_base;
      as->disposition = ain->streams[i]->disposition;
      amap[i] = as->index;
      ++res.audio_streams_copied;
    }
    if (res.audio_streams_copied == 0) ain.reset();
  }
  // The output's video starts at 0 where the source's first video frame was: shift the audio alike
  // (as ffmpeg does without -copyts), dropping what played before it.
  int64_t video_start = 0;
  AVRational video_start_tb{1, AV_TIME_BASE};
  if (ain) {
    const int sv = av_find_best_stream(ain.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (sv >= 0 && ain->streams[sv]->start_time != AV_NOPTS_VALUE) {
      video_start = ain->streams[sv]->start_time;
      video_start_tb = ain->streams[sv]->time_base;
    }
  }

  if (!(of->flags & AVFMT_NOFILE)) {
    r = avio_open(&oc->pb, out.temp().c_str(), AVIO_FLAG_WRITE);
    if (r < 0) fail("{}: cannot create: {}", p, av_error(r));
  }
  DictGuard mux_opts;
  if (fmt == VideoFormat::MP4) mux_opts.set("movflags", "+faststart");
  r = avformat_write_header(oc.get(), &mux_opts.d);
  if (r < 0) fail("{}: cannot write the {} header: {}", p, of->name, av_error(r));

  PacketPtr vp(av_packet_alloc()), ap(av_packet_alloc());
  int64_t frames_before = 0, frames_in_seg = 0;
  // The next video packet, its timestamps moved past the segments before it, in the output's time base.
  auto next_video = [&]() -> bool {
    while (true) {
      r = av_read_frame(seg.get(), vp.get());
      if (r == AVERROR_EOF) {
        frames_before += frames_in_seg;
        frames_in_seg = 0;
        if (++seg_i == segments.size()) return false;
        seg = open_input(segments[seg_i]);
        vs = video_stream_of(seg.get(), segments[seg_i]);
        if (!same_stream_settings(first.get(), seg->streams[vs]->codecpar))
          fail("{}: written with other settings than {} (codec, size or headers differ); cannot join them",
               segments[seg_i].string(), segments[0].string());
        continue;
      }
      if (r < 0) fail("{}: read error: {}", segments[seg_i].string(), av_error(r));
      if (vp->stream_index != vs) {
        av_packet_unref(vp.get());
        continue;
      }
      const AVRational tb = seg->streams[vs]->time_base;
      const int64_t off = av_rescale_q(frames_before, AVRational{fps.den, fps.num}, tb);
      if (vp->pts != AV_NOPTS_VALUE) vp->pts += off;
      if (vp->dts != AV_NOPTS_VALUE) vp->dts += off;
      av_packet_rescale_ts(vp.get(), tb, vout->time_base);
      vp->stream_index = vout->index;
      vp->pos = -1;
      ++frames_in_seg;
      return true;
    }
  };
  auto next_audio = [&]() -> bool {
    while (true) {
      r = av_read_frame(ain.get(), ap.get());
      if (r == AVERROR_EOF) return false;
      if (r < 0) fail("{}: read error: {}", options.audio_from.string(), av_error(r));
      const int to = amap[size_t(ap->stream_index)];
      if (to < 0) {
        av_packet_unref(ap.get());
        continue;
      }
      const AVRational tb = ain->streams[ap->stream_index]->time_base;
      const int64_t shift = av_rescale_q(video_start, video_start_tb, tb);
      if (ap->pts != AV_NOPTS_VALUE) ap->pts -= shift;
      if (ap->dts != AV_NOPTS_VALUE) ap->dts -= shift;
      if (ap->pts != AV_NOPTS_VALUE && ap->pts < 0) {
        av_packet_unref(ap.get());
        continue;
      }
      av_packet_rescale_ts(ap.get(), tb, oc->streams[to]->time_base);
      ap->stream_index = to;
      ap->pos = -1;
      return true;
    }
  };
  auto when = [](const AVPacket* k) { return k->dts != AV_NOPTS_VALUE ? k->dts : k->pts; };
  bool vhave = next_video(), ahave = ain && next_audio();
  while (vhave || ahave) {
    bool video = vhave;
    if (vhave && ahave) {
      const int64_t tv = when(vp.get()), ta = when(ap.get());
      video = tv == AV_NOPTS_VALUE || ta == AV_NOPTS_VALUE ||
              av_compare_ts(tv, vout->time_base, ta, oc->streams[ap->stream_index]->time_base) <= 0;
    }
    r = av_interleaved_write_frame(oc.get(), video ? vp.get() : ap.get());  // takes the packet's reference
    if (r >= 0 && oc->pb && oc->pb->error < 0) r = oc->pb->error;
    if (r < 0) fail("{}: write error: {}", p, av_error(r));
    if (video) {
      ++res.frames;
      vhave = next_video();
    } else {
      ahave = next_audio();
    }
  }
  if (options.expect_frames >= 0 && res.frames != options.expect_frames)
    fail("{}: the segments hold {} frames, {} expected; nothing written", p, res.frames, options.expect_frames);
  r = av_write_trailer(oc.get());
  if (r < 0) fail("{}: cannot finish the file: {}", p, av_error(r));
  if (!(of->flags & AVFMT_NOFILE)) {
    r = avio_closep(&oc->pb);
    if (r < 0) fail("{}: write error: {}", p, av_error(r));
  }
  out.commit();
  return res;
}

}  // namespace longvid::detail
