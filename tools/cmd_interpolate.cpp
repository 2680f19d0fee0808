// longvid interpolate: raise a video's frame rate with RIFE (Practical-RIFE's inference_video.py).
//   longvid interpolate IN -o OUT [--model flownet.pkl] [--multi N | --exp K] [--fps R] [--scale S]
//                      [--pad N] [--no-scene-detect] [--device D] [--dtype T] [--crf N] [--no-audio]
//                      [--resume] [--state DIR] [--checkpoint-every N]
#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "api/interpolate.h"
#include "core/device.h"
#include "core/error.h"
#include "tools/cli.h"
#include "tools/options.h"

namespace longvid::cli {
namespace {

int run_interpolate(int argc, char** argv) {
  cxxopts::Options o("longvid interpolate",
                     "Raise a video's frame rate with RIFE (any published IFNet 4.x checkpoint), as Practical-RIFE's "
                     "inference_video.py does: duplicate frames replaced, no morphing across scene cuts");
  o.add_options()("o,output", "output video (.mp4 .webm .y4m .gif, dir/)", cxxopts::value<std::string>())(
      "model",
      "RIFE checkpoint: Practical-RIFE's flownet.pkl (4.0 - 4.26, .lite, .heavy), a zip mirror or safetensors "
      "(default: the bundled IFNet, trained on longvid's synthetic sprites; for camera footage use flownet.pkl)",
      cxxopts::value<std::string>())("multi", "frames per source interval (2: double the rate)",
                                     cxxopts::value<std::string>()->default_value("2"))(
      "exp", "multi = 2^exp (inference_video.py --exp)", cxxopts::value<std::string>())(
      "fps", "output frame rate (default: the input's times multi)", cxxopts::value<std::string>())(
      "scale", "flow scale: 0.25 0.5 1 2 4 (0.5 for 4K)", cxxopts::value<double>()->default_value("1"))(
      "pad", "pad frames to multiples of N (0: the model's unit, 32/64/128; inference_video.py: 128)",
      cxxopts::value<int64_t>()->default_value("0"))(
      "no-scene-detect", "interpolate every pair (no duplicate-frame / scene-cut handling)")(
      "fast", "resize the flow blocks' inputs part by part (~1e-7 relative from the reference, faster)")(
      "device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))(
      "dtype", "fp32 | fp16 | bf16 (the network; warps stay fp32)", cxxopts::value<std::string>()->default_value("fp32"))(
      "crf", "output quality (-1: codec default)", cxxopts::value<int>()->default_value("-1"))(
      "no-audio", "do not copy the input's audio streams")(
      "resume", "continue an interrupted run of the same command (see --state)")(
      "state", "directory of the run's segments and checkpoint (default: <output>.longvid-run; removed at the end)",
      cxxopts::value<std::string>()->default_value(""))(
      "checkpoint-every", "source frames between checkpoints", cxxopts::value<std::string>()->default_value("250"))(
      "stop-after", "testing: stop after N checkpoints as if killed", cxxopts::value<int64_t>()->default_value("-1"))(
      "no-progress", "no progress bar")("input", "input video", cxxopts::value<std::string>())("h,help", "this help");
  o.parse_positional({"input"});
  o.positional_help("IN");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("input") || !a.count("output")) {
    std::fprintf(stderr, "longvid interpolate: error: need IN and -o OUT (see --help)\n");
    return kExitUsage;
  }
  InterpolateRequest req;
  if (a.count("exp")) {
    const int64_t e = parse_whole_number(a["exp"].as<std::string>(), "--exp");
    if (e < 1 || e > 10) fail("--exp must be 1 - 10 (multi = 2^exp; got {})", e);
    req.rife.multi = int64_t{1} << e;
  } else {
    req.rife.multi = parse_whole_number(a["multi"].as<std::string>(), "--multi");
  }
  req.rife.scale = a["scale"].as<double>();
  req.rife.pad = a["pad"].as<int64_t>();
  req.rife.detect = !a.count("no-scene-detect");
  req.rife.exact = !a.count("fast");
  req.rife.device = parse_device(a["device"].as<std::string>());
  req.rife.dtype = parse_dtype(a["dtype"].as<std::string>());
  req.show_progress = !a.count("no-progress");
  if (a.count("fps")) req.fps = Fps::parse(a["fps"].as<std::string>());
  req.copy_audio = !a.count("no-audio");
  req.resume = a.count("resume") > 0;
  req.state_dir = a["state"].as<std::string>();
  req.checkpoint_every = parse_whole_number(a["checkpoint-every"].as<std::string>(), "--checkpoint-every");
  if (req.checkpoint_every < 1) fail("--checkpoint-every must be >= 1 (got {})", req.checkpoint_every);
  req.stop_after = a["stop-after"].as<int64_t>();
  check_rife_options(req.rife);  // before loading anything
  const std::string in = a["input"].as<std::string>(), out = a["output"].as<std::string>();
  require_readable_video(in);
  require_distinct_output(in, out);
  WriteOptions wo;
  wo.crf = a["crf"].as<int>();
  check_write_options(out, wo);
  std::string model = a.count("model") ? a["model"].as<std::string>() : std::string();
  if (model.empty()) {
    model = bundled_rife_model().string();
    spdlog::info("no --model: the bundled IFNet (trained on longvid's synthetic sprites, for the default model's "
                 "videos; for camera footage give Practical-RIFE's flownet.pkl)");
  }
  IFNet net = load_rife_model(model, &req.rife);
  InterpolateResult r = interpolate_video_file(std::move(net), in, out, req, wo);
  if (r.stopped) {
    std::printf("stopped after %lld checkpoints (--stop-after); continue with --resume\n",
                static_cast<long long>(req.stop_after));
    return kExitOk;
  }
  std::string audio = "no audio";
  if (r.input.audio_streams) {
    audio = std::to_string(r.input.audio_streams) + " audio stream" + (r.input.audio_streams > 1 ? "s" : "") + " (" +
            r.input.audio_codec + ")";
    audio += r.audio_streams_copied ? ", copied" : ", not copied: " + r.audio_note;
  }
  std::printf("%s: %lld frames at %s fps, %s -> %s: %lld frames at %s fps (%lld duplicate%s replaced, %lld scene cut%s "
              "not morphed) in %.2f s (%.2f frames/s)\n",
              in.c_str(), static_cast<long long>(r.stats.frames_in), r.input.fps.str().c_str(), audio.c_str(),
              out.c_str(), static_cast<long long>(r.stats.frames_out), r.fps_out.str().c_str(),
              static_cast<long long>(r.stats.duplicates), r.stats.duplicates == 1 ? "" : "s",
              static_cast<long long>(r.stats.scene_cuts), r.stats.scene_cuts == 1 ? "" : "s", r.seconds,
              static_cast<double>(r.stats.frames_out) / std::max(r.seconds, 1e-9));
  return kExitOk;
}

}  // namespace

LONGVID_COMMAND("interpolate", "raise a video's frame rate with RIFE (IFNet 4.0 - 4.26)", run_interpolate);

}  // namespace longvid::cli
