// longvid generate: a short clip from an LVDM model (U-Net + 3D autoencoder in one checkpoint).
#include <cxxopts.hpp>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/lvdm_pipeline.h"
#include "tools/cli.h"

namespace longvid {
namespace {

std::string sampler_method(const std::string& cli_name) {
  if (cli_name == "ddim" || cli_name == "ddpm") return cli_name;
  if (cli_name == "dpmpp-2m" || cli_name == "dpmpp_2m" || cli_name == "dpm++2m") return "dpmpp_2m";
  fail("--sampler {}: unknown sampler (choose ddim, ddpm or dpmpp-2m)", cli_name);
}

int run_generate(int argc, char** argv) {
  cxxopts::Options o("longvid generate", "Generate a video clip with a latent video diffusion model.");
  o.add_options()
    ("model", "model checkpoint (LVDM .ckpt / safetensors with U-Net + first stage); default: the bundled default model", cxxopts::value<std::string>()->default_value(""))
    ("config", "model config (official LVDM YAML)", cxxopts::value<std::string>()->default_value(""))
    ("frames", "number of frames", cxxopts::value<int64_t>()->default_value("16"))
    ("steps", "sampling steps", cxxopts::value<int>()->default_value("50"))
    ("sampler", "ddim | ddpm | dpmpp-2m", cxxopts::value<std::string>()->default_value("ddim"))
    ("eta", "DDIM eta (LVDM scripts: 1.0)", cxxopts::value<double>()->default_value("1.0"))
    ("seed", "random seed (-1 = random, printed)", cxxopts::value<int64_t>()->default_value("-1"))
    ("ema", "use the EMA weights of the checkpoint", cxxopts::value<bool>()->default_value("false"))
    ("o,output", "output video (.mp4 .webm .gif .y4m, or a PNG pattern/dir)", cxxopts::value<std::string>()->default_value("out.mp4"))
    ("fps", "frames per second of the output", cxxopts::value<std::string>()->default_value("8"))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("decode-window", "latent frames per decode window (0 = all at once)", cxxopts::value<int64_t>()->default_value("0"))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16", cxxopts::value<std::string>()->default_value("fp32"))
    ("h,help", "show this help");
  o.positional_help("");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());

  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  SamplerOptions sopts;
  sopts.method = sampler_method(a["sampler"].as<std::string>());
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
  VideoWriter writer(out, wopts);

  LvdmPipelineOptions popts;
  popts.device = policy.device;
  popts.dtype = policy.dtype;
  if (a["ema"].as<bool>()) popts.weights = LvdmWeights::Ema;
  std::string model = a["model"].as<std::string>(), config = a["config"].as<std::string>();
  std::optional<LvdmPipeline> pipe;
  if (model.empty()) {
    if (!config.empty()) fail("--config given without --model");
    spdlog::warn("no trained default model is bundled yet: using a tiny LVDM-shaped model with random weights "
                 "(the video shows what such a model makes: structured noise, not content)");
    pipe.emplace(LvdmPipeline::random_tiny(/*weight_seed=*/0, popts));
  } else {
    if (config.empty()) fail_hint("pass the official YAML, e.g. configs/lvdm_short/sky.yaml", "--model given without --config");
    pipe.emplace(LvdmPipeline::load(model, config, popts));
  }
  spdlog::info("{}", pipe->describe());
  check_sampler_options(sopts, pipe->schedule().num_train_timesteps());  // throws on bad options

  auto shape = pipe->clip_shape(frames);
  if (shape.frames_decoded != frames)
    spdlog::info("--frames {}: the autoencoder makes frames in groups of {}; generating {} and keeping the first {}",
                 frames, pipe->ae_config().factors()[0], shape.frames_decoded, frames);
  uint64_t seed = resolve_seed(a["seed"].as<int64_t>());
  spdlog::info("seed {}  |  {} frames {}x{}  |  {} {} steps  |  {}", seed, frames, shape.width, shape.height,
               sopts.method, sopts.steps, policy.describe());
  auto gen = make_generator(seed);
  Progress progress("sampling", sopts.steps);
  pipe->generate(frames, sopts, gen, writer, progress.fn(), a["decode-window"].as<int64_t>());
  progress.finish();
  writer.close();
  spdlog::info("wrote {} ({} frames, {} fps)", out.string(), writer.frames_written(), wopts.fps.str());
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("generate", "generate a video clip (random-weight tiny model until a default model is bundled)",
                longvid::run_generate);
