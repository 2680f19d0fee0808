// longvid generate: a clip, or a video of any length (api/generate.h generate_video_file), from any
// model the registry loads; longer than one clip: the long-video hierarchy.
#include <cxxopts.hpp>

#include <optional>

#include "api/interpolate.h"
#include "api/prompt_schedule.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "tools/cli.h"
#include "tools/options.h"

namespace longvid {
namespace {

int run_generate(int argc, char** argv) {
  cxxopts::Options o("longvid generate", "Generate a video clip with a latent video diffusion model.");
  cli::add_model_options(o, "", "model checkpoint (LVDM .ckpt / safetensors with U-Net + first stage; for long videos the prediction model); default: the bundled default model (assets/default); 'random': a tiny random-weight model (tests)");
  o.add_options()
    ("frames", "number of frames", cxxopts::value<int64_t>()->default_value("16"))
    ("seed", "random seed (-1 = random, printed)", cxxopts::value<int64_t>()->default_value("-1"))
    ("o,output", "output video (.mp4 .webm .gif .y4m, or a PNG pattern/dir)", cxxopts::value<std::string>()->default_value("out.mp4"))
    ("fps", "frames per second of the output", cxxopts::value<std::string>()->default_value("8"))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("class", "class label of a class-conditional model (default: drawn from the seed, as Latte's sample.py)", cxxopts::value<int64_t>()->default_value("-1"))
    ("p,prompt", "text prompt of a text-conditioned model", cxxopts::value<std::string>())
    ("prompt-file", "prompts, one a line: a video for each (as sample_text2video.py's --prompt FILE.txt; outputs numbered out_000.mp4, ...); or a schedule for one long video, every line '<frame>: <prompt>' (0: a calm sea / 512: a storm at sea)", cxxopts::value<std::string>())
    ("n-samples", "videos per prompt (or of an unconditional model), seeds --seed, --seed + 1, ...; several are numbered out_000.mp4, ... with out.prompts.tsv", cxxopts::value<std::string>()->default_value("1"))
    ("n,negative-prompt", "negative prompt: the unconditional branch of classifier-free guidance (default \"\")", cxxopts::value<std::string>()->default_value(""))
    ("cfg-scale", "classifier-free guidance scale (default: the model's, Latte UCF-101 7; 1 = off)", cxxopts::value<double>()->default_value("-1"))
    ("decode-window", "latent frames per decode window (0 = all at once; -1 = the autoencoder's default: one clip at once, long videos 32 for LVDM's AEs, the training clip length for AEs trained on short clips)", cxxopts::value<int64_t>()->default_value("-1"))
    ("rife-multi", "raise the frame rate N times with RIFE as frames stream out (the output plays at --fps x N)", cxxopts::value<std::string>())
    ("rife-model", "the RIFE checkpoint for --rife-multi (Practical-RIFE flownet.pkl, IFNet 4.x; default: the bundled IFNet, trained on the default model's synthetic data)", cxxopts::value<std::string>())
    ("rife-scale", "RIFE flow scale (0.25 0.5 1 2 4)", cxxopts::value<double>()->default_value("1"))
    ("h,help", "show this help");
  cli::add_sampler_options(o);
  cli::add_device_options(o);
  cli::add_long_video_options(o);
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help({"", "long video"}).c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());

  // Every option is checked before the model is loaded.
  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  GenerateRequest req;
  cli::read_sampler_options(a, cli::neutral_sampler());  // the model's defaults apply after loading
  req.frames = a["frames"].as<int64_t>();
  req.class_label = a["class"].as<int64_t>();
  req.cfg_scale = a["cfg-scale"].as<double>();
  req.has_prompt = a.count("prompt") > 0;
  if (req.has_prompt) req.prompt = a["prompt"].as<std::string>();
  req.negative_prompt = a["negative-prompt"].as<std::string>();
  std::vector<std::string> prompts;
  if (a.count("prompt-file")) {
    if (req.has_prompt) fail("give -p/--prompt or --prompt-file, not both");
    const std::string pf = a["prompt-file"].as<std::string>();
    const std::string text = read_text_file(pf, "prompt file");
    if (is_prompt_schedule(text))
      req.prompt_schedule = parse_prompt_schedule(text, pf);
    else
      prompts = read_prompt_file(pf);
  }
  const int64_t n_samples = cli::parse_whole_number(a["n-samples"].as<std::string>(), "--n-samples");
  if (n_samples < 1) fail("--n-samples must be >= 1 (got {})", n_samples);
  const int64_t n_videos = std::max<int64_t>(1, static_cast<int64_t>(prompts.size())) * n_samples;
  if (a.count("negative-prompt") && !req.has_prompt && prompts.empty() && req.prompt_schedule.empty())
    fail("-n/--negative-prompt given without -p/--prompt");
  if (req.class_label < -1) fail("--class {}: must be >= 0", req.class_label);
  if (req.cfg_scale < 0 && a.count("cfg-scale")) fail("--cfg-scale {}: must be >= 0", req.cfg_scale);
  cli::read_long_video_options(a, req);
  if (n_videos > 1 && !req.state_dir.empty())
    fail("--state {}: several videos keep one state directory each, next to each file", req.state_dir.string());
  if (a.count("rife-multi")) {
    RifeOptions r;
    r.multi = cli::parse_whole_number(a["rife-multi"].as<std::string>(), "--rife-multi");
    if (r.multi < 2) fail("--rife-multi must be a whole number >= 2 (got {})", r.multi);
    r.scale = a["rife-scale"].as<double>();
    r.device = policy.device;
    check_rife_options(r);
    req.rife_model = a.count("rife-model") ? a["rife-model"].as<std::string>() : bundled_rife_model().string();
    require_readable_file(req.rife_model, "--rife-model");
    req.rife = r;
  } else if (a.count("rife-model")) {
    fail("--rife-model given without --rife-multi");
  }
  WriteOptions wopts;
  wopts.fps = Fps::parse(a["fps"].as<std::string>());
  wopts.crf = a["crf"].as<int>();
  std::filesystem::path out = a["output"].as<std::string>();
  // Opened before the model is built, so a bad output path fails fast; nothing is left behind.
  std::optional<VideoWriter> probe;
  probe.emplace(n_videos > 1 ? numbered_output(out, 0) : out, wopts);
  probe.reset();

  ModelSpec spec = cli::read_model_options(a);
  spec.text = req.has_prompt || !prompts.empty() || !req.prompt_schedule.empty();
  spec.load.device = policy.device;
  spec.load.dtype = policy.dtype;
  spec.load.autocast = a["autocast"].as<bool>();
  spec.load.vae_dtype = parse_dtype(a["vae-dtype"].as<std::string>(), "--vae-dtype");
  VideoPipeline pipe = load_model(spec);
  spdlog::info("{}", pipe.describe());
  req.sampler = cli::read_sampler_options(a, pipe.default_sampler);  // the model's defaults + what was given
  check_sampler_options(req.sampler, pipe.schedule->num_train_timesteps());
  spdlog::info("{}", policy.describe());
  req.seed = resolve_seed(a["seed"].as<int64_t>());
  if ((!prompts.empty() || !req.prompt_schedule.empty()) && pipe.main.caps.context_dim == 0)
    fail("--prompt-file: the model takes no text (it has no text encoder)");
  if (n_videos > 1 || !prompts.empty()) {
    auto files = generate_video_files(pipe, req, prompts, n_samples, out, wopts);
    spdlog::info("wrote {} videos ({} ... ), index {}", files.size(), files.empty() ? "" : files.front().string(),
                 prompts_index(out).string());
  } else {
    pipe.free_params_immediately = true;  // one video: a clip's decode reuses the denoiser's memory
    generate_video_file(pipe, req, out, wopts);
  }
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("generate", "generate a video of any length (default: the bundled model)",
                longvid::run_generate);
