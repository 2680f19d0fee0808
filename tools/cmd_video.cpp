// longvid video: convert between video formats (with frame ranges) and print what a video holds.
//   longvid video info FILE [--json]
//   longvid video convert IN OUT [--start N] [--count N] [--stride N] [--fps R] [--crf N]
//                                [--preset P] [--codec NAME] [--rss-every N]
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/video_io.h"
#include "core/process_stats.h"
#include "tools/cli.h"

namespace longvid::cli {
namespace {

// VmRSS / VmHWM of this process in KiB (Linux), -1 if unknown.
std::pair<long, long> rss_kib() { return {static_cast<long>(longvid::rss_kib()), static_cast<long>(peak_rss_kib())}; }

int video_info(int argc, char** argv) {
  cxxopts::Options o("longvid video info", "Print a video's size, frame rate and frame count");
  o.add_options()("json", "print JSON", cxxopts::value<bool>()->default_value("false"))(
      "file", "video file, PNG pattern (dir/%05d.png) or directory", cxxopts::value<std::string>())(
      "h,help", "this help");
  o.parse_positional({"file"});
  o.positional_help("FILE");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("file")) {
    std::fprintf(stderr, "longvid video info: error: missing FILE (see --help)\n");
    return kExitUsage;
  }
  const std::string path = a["file"].as<std::string>();
  VideoInfo i = probe_video(path);
  if (a["json"].as<bool>()) {
    nlohmann::json j = {{"path", path},
                        {"width", i.width},
                        {"height", i.height},
                        {"fps", i.fps.str()},
                        {"fps_value", i.fps.value()},
                        {"frame_count", i.frame_count},
                        {"frame_count_exact", i.frame_count_exact},
                        {"container", i.container},
                        {"codec", i.codec},
                        {"pixel_format", i.pixel_format}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s: %dx%d, %s fps, %s%lld frames, %s %s (%s)\n", path.c_str(), i.width, i.height,
                i.fps.str().c_str(), i.frame_count_exact ? "" : "~", static_cast<long long>(i.frame_count),
                i.container.c_str(), i.codec.c_str(), i.pixel_format.c_str());
  }
  return kExitOk;
}

int video_convert(int argc, char** argv) {
  cxxopts::Options o("longvid video convert", "Convert a video (or a frame range of it) to another format");
  o.add_options()("start", "first frame (0-based)", cxxopts::value<int64_t>()->default_value("0"))(
      "count", "number of frames (-1: to the end)", cxxopts::value<int64_t>()->default_value("-1"))(
      "stride", "take every N-th frame", cxxopts::value<int64_t>()->default_value("1"))(
      "fps", "output frame rate (24, 12.5, 30000/1001); default: the input's",
      cxxopts::value<std::string>()->default_value(""))(
      "input-fps", "frame rate of PNG-sequence inputs", cxxopts::value<std::string>()->default_value("24"))(
      "crf", "quality (-1: codec default, x264 18, VP9 24)", cxxopts::value<int>()->default_value("-1"))(
      "preset", "x264 preset", cxxopts::value<std::string>()->default_value("medium"))(
      "codec", "encoder override (FFmpeg name)", cxxopts::value<std::string>()->default_value(""))(
      "threads", "encoder threads (0: FFmpeg's choice)", cxxopts::value<int>()->default_value("0"))(
      "rss-every", "print memory use (VmRSS/VmHWM) every N frames (0: never)",
      cxxopts::value<int64_t>()->default_value("0"))("in", "input", cxxopts::value<std::string>())(
      "out", "output (.mp4 .webm .gif .y4m .mkv, dir/%05d.png, dir/)", cxxopts::value<std::string>())(
      "h,help", "this help");
  o.parse_positional({"in", "out"});
  o.positional_help("IN OUT");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("in") || !a.count("out")) {
    std::fprintf(stderr, "longvid video convert: error: need IN and OUT (see --help)\n");
    return kExitUsage;
  }
  const std::string in = a["in"].as<std::string>(), out = a["out"].as<std::string>();
  ReadOptions ro;
  ro.start = a["start"].as<int64_t>();
  ro.count = a["count"].as<int64_t>();
  ro.stride = a["stride"].as<int64_t>();
  ro.image_sequence_fps = Fps::parse(a["input-fps"].as<std::string>());
  require_distinct_output(in, out);
  VideoReader r(in, ro);
  WriteOptions wo;
  wo.fps = a["fps"].as<std::string>().empty() ? r.info().fps : Fps::parse(a["fps"].as<std::string>());
  wo.crf = a["crf"].as<int>();
  wo.preset = a["preset"].as<std::string>();
  wo.codec = a["codec"].as<std::string>();
  wo.threads = a["threads"].as<int>();
  const int64_t rss_every = a["rss-every"].as<int64_t>();

  auto t0 = std::chrono::steady_clock::now();
  VideoWriter w(out, wo);
  std::vector<uint8_t> frame;
  while (r.next(frame)) {
    w.push(frame.data(), r.width(), r.height());
    if (rss_every > 0 && w.frames_written() % rss_every == 0) {
      auto [rss, hwm] = rss_kib();
      std::fprintf(stderr, "frames=%lld VmRSS=%ld KiB VmHWM=%ld KiB\n", static_cast<long long>(w.frames_written()),
                   rss, hwm);
    }
  }
  w.close();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("{}: {} frames {}x{} @ {} fps in {:.2f} s ({:.1f} frames/s)", out, w.frames_written(), r.width(),
               r.height(), wo.fps.str(), secs, secs > 0 ? w.frames_written() / secs : 0.0);
  if (rss_every > 0) {
    auto [rss, hwm] = rss_kib();
    std::fprintf(stderr, "done frames=%lld VmRSS=%ld KiB VmHWM=%ld KiB seconds=%.2f\n",
                 static_cast<long long>(w.frames_written()), rss, hwm, secs);
  }
  return kExitOk;
}

int video_main(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "-h" || sub == "--help" || sub.empty()) {
    std::printf(
        "usage: longvid video info FILE [--json]\n"
        "       longvid video convert IN OUT [--start N --count N --stride N --fps R --crf N ...]\n"
        "Formats: .mp4 (H.264) .webm (VP9) .gif .y4m (lossless) dir/%%05d.png dir/ (PNG frames), and for reading\n"
        "anything FFmpeg reads.%s\n",
        ffmpeg_available() ? "" : " (This build has no FFmpeg: only .y4m.)");
    return sub.empty() ? kExitUsage : kExitOk;
  }
  std::string prog = std::string(argv[0]) + " " + sub;
  std::vector<char*> args{prog.data()};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  const int n = static_cast<int>(args.size());
  if (sub == "info") return video_info(n, args.data());
  if (sub == "convert") return video_convert(n, args.data());
  std::fprintf(stderr, "longvid video: error: unknown subcommand '%s' (info, convert)\n", sub.c_str());
  return kExitUsage;
}

}  // namespace

LONGVID_COMMAND("video", "convert videos, read frame ranges, print video info", video_main);

}  // namespace longvid::cli
