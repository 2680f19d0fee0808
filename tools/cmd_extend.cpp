// longvid extend: continue an existing video (api/generate.h extend_video_file): INPUT's frames,
// unchanged, followed by --frames new ones made like a long video.
#include <cxxopts.hpp>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "tools/cli.h"
#include "tools/options.h"

namespace longvid {
namespace {

int run_extend(int argc, char** argv) {
  cxxopts::Options o("longvid extend", "Continue a video: INPUT's frames followed by --frames new ones.");
  o.add_options()
    ("input", "video to continue", cxxopts::value<std::string>())
    ("frames", "number of frames to add", cxxopts::value<int64_t>()->default_value("64"));
  cli::add_model_options(o, "", "prediction model checkpoint (LVDM long-video .ckpt / safetensors); default: the bundled default model; 'random': a tiny random-weight model (tests)");
  o.add_options()
    ("seed", "random seed (-1 = random, printed)", cxxopts::value<int64_t>()->default_value("-1"))
    ("o,output", "output video", cxxopts::value<std::string>()->default_value("extended.mp4"))
    ("fps", "output frame rate (default: the input's)", cxxopts::value<std::string>()->default_value(""))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("decode-window", "latent frames per decode window (-1: the autoencoder's default, 32 for LVDM's)", cxxopts::value<int64_t>()->default_value("-1"))
    ("h,help", "show this help");
  cli::add_sampler_options(o);
  cli::add_device_options(o);
  cli::add_long_video_options(o);
  o.parse_positional({"input"});
  o.positional_help("INPUT");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help({"", "long video"}).c_str());
    return cli::kExitOk;
  }
  if (!a.count("input")) fail("no input video given (longvid extend INPUT --frames N -o OUTPUT)");
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());
  const std::filesystem::path input = a["input"].as<std::string>();
  GenerateRequest req;
  req.frames = a["frames"].as<int64_t>();
  if (req.frames < 1) fail("--frames {}: must be at least 1 (frames to add)", req.frames);
  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  cli::read_sampler_options(a, cli::neutral_sampler());  // the model's defaults apply after loading
  cli::read_long_video_options(a, req);
  const std::filesystem::path output = a["output"].as<std::string>();
  if (std::filesystem::absolute(output) == std::filesystem::absolute(input))
    fail("-o {}: the output must not be the input", output.string());
  VideoInfo info = probe_video(input);
  WriteOptions wopts;
  wopts.fps = a["fps"].as<std::string>().empty() ? info.fps : Fps::parse(a["fps"].as<std::string>());
  wopts.crf = a["crf"].as<int>();
  check_write_options(output, wopts);  // before the model is loaded

  ModelSpec spec = cli::read_model_options(a);
  spec.load.device = policy.device;
  spec.load.dtype = policy.dtype;
  spec.load.autocast = a["autocast"].as<bool>();
  spec.load.vae_dtype = parse_dtype(a["vae-dtype"].as<std::string>(), "--vae-dtype");
  VideoPipeline pipe = load_model(spec);
  req.sampler = cli::read_sampler_options(a, pipe.default_sampler);
  req.seed = resolve_seed(a["seed"].as<int64_t>());
  extend_video_file(pipe, input, req, output, wopts);
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("extend", "continue an existing video with a long-video model", longvid::run_extend);
