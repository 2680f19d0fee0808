// longvid generate: a clip, or a video of any length, from an LVDM model (U-Net + 3D autoencoder in
// one checkpoint). Longer than one clip: the long-video hierarchy (hierarchy/long_video.h) with the
// prediction model and, if given, a separate interpolation model.
#include <cxxopts.hpp>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/lvdm_pipeline.h"
#include "tools/cli.h"
#include "tools/long_video_run.h"

namespace longvid {
namespace {

int run_generate(int argc, char** argv) {
  cxxopts::Options o("longvid generate", "Generate a video clip with a latent video diffusion model.");
  o.add_options()
    ("model,pred-model", "model checkpoint (LVDM .ckpt / safetensors with U-Net + first stage; for long videos the prediction model); default: the bundled default model (assets/default); 'random': a tiny random-weight model (tests)", cxxopts::value<std::string>()->default_value(""))
    ("config,pred-config", "model config (official LVDM YAML)", cxxopts::value<std::string>()->default_value(""))
    ("interp-model", "interpolation model checkpoint (long videos, hierarchical mode)", cxxopts::value<std::string>()->default_value(""))
    ("interp-config", "interpolation model config (official LVDM YAML)", cxxopts::value<std::string>()->default_value(""))
    ("random-latent-size", "with --model random: latent size of the random-weight model (frames are 8x larger)", cxxopts::value<int64_t>()->default_value("8"))
    ("frames", "number of frames", cxxopts::value<int64_t>()->default_value("16"))
    ("steps", "sampling steps", cxxopts::value<int>()->default_value("50"))
    ("sampler", "ddim | ddpm | dpmpp-2m", cxxopts::value<std::string>()->default_value("ddim"))
    ("eta", "DDIM eta (LVDM scripts: 1.0)", cxxopts::value<double>()->default_value("1.0"))
    ("seed", "random seed (-1 = random, printed)", cxxopts::value<int64_t>()->default_value("-1"))
    ("o,output", "output video (.mp4 .webm .gif .y4m, or a PNG pattern/dir)", cxxopts::value<std::string>()->default_value("out.mp4"))
    ("fps", "frames per second of the output", cxxopts::value<std::string>()->default_value("8"))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("decode-window", "latent frames per decode window (0 = all at once; -1 = the autoencoder's default: one clip at once, long videos 32 for LVDM's AEs, the training clip length for AEs trained on short clips)", cxxopts::value<int64_t>()->default_value("-1"))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16", cxxopts::value<std::string>()->default_value("fp32"))
    ("h,help", "show this help");
  cli::add_weights_options(o);
  cli::add_long_video_options(o);
  o.positional_help("");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help({"", "long video"}).c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());

  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  SamplerOptions sopts;
  sopts.method = cli::sampler_method(a["sampler"].as<std::string>());
  sopts.steps = a["steps"].as<int>();
  sopts.eta = a["eta"].as<double>();
  sopts.spacing = "auto";
  int64_t frames = a["frames"].as<int64_t>();
  if (frames < 1) fail("--frames {}: must be at least 1", frames);
  WriteOptions wopts;
  wopts.fps = Fps::parse(a["fps"].as<std::string>());
  wopts.crf = a["crf"].as<int>();
  std::filesystem::path out = a["output"].as<std::string>();
  check_sampler_options(sopts, 1000);  // bad options fail before any work (re-checked for the model below)
  // Opened before the model is built, so a bad output path fails fast; nothing is left behind on error.
  std::optional<VideoWriter> writer_opt;
  writer_opt.emplace(out, wopts);

  LvdmPipelineOptions popts;
  popts.device = policy.device;
  popts.dtype = policy.dtype;
  popts.weights = cli::read_weights_option(a);
  std::string model = a["model"].as<std::string>(), config = a["config"].as<std::string>();
  std::string imodel = a["interp-model"].as<std::string>(), iconfig = a["interp-config"].as<std::string>();
  cli::LongRun run;
  cli::read_long_video_options(a, run);  // option errors before the model is loaded
  std::optional<LvdmPipeline> pipe;
  pipe.emplace(cli::load_generation_model(model, config, imodel, iconfig, a["random-latent-size"].as<int64_t>(), popts));
  spdlog::info("{}", pipe->describe());
  check_sampler_options(sopts, pipe->schedule().num_train_timesteps());  // throws on bad options

  spdlog::info("{}", policy.describe());
  uint64_t seed = resolve_seed(a["seed"].as<int64_t>());
  run.opts.device = policy.device;
  writer_opt.reset();  // (it only checked the path) generate_video writes atomically
  cli::generate_video(*pipe, frames, sopts, seed, out, wopts, run.decode_window, run);
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("generate", "generate a video of any length (default: the bundled model)",
                longvid::run_generate);
