// longvid extend: continue an existing video. The input's last frames are encoded; its last latent
// (and, with --cond-frames > 1, earlier ones a keyframe stride apart) condition the first
// prediction clip; the continuation is made like a long video (keyframes + infill, or
// autoregressive) and decoded with the input's last latents as decoding context. The output is the
// input's frames, unchanged, followed by --frames new ones.
#include <cxxopts.hpp>

#include <deque>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/lvdm_pipeline.h"
#include "tools/cli.h"
#include "tools/long_video_run.h"

namespace longvid {
namespace {

int run_extend(int argc, char** argv) {
  cxxopts::Options o("longvid extend", "Continue a video: INPUT's frames followed by --frames new ones.");
  o.add_options()
    ("input", "video to continue", cxxopts::value<std::string>())
    ("frames", "number of frames to add", cxxopts::value<int64_t>()->default_value("64"))
    ("model,pred-model", "prediction model checkpoint (LVDM long-video .ckpt / safetensors); default: the bundled default model; 'random': a tiny random-weight model (tests)", cxxopts::value<std::string>()->default_value(""))
    ("config,pred-config", "prediction model config (official LVDM YAML)", cxxopts::value<std::string>()->default_value(""))
    ("interp-model", "interpolation model checkpoint (hierarchical mode)", cxxopts::value<std::string>()->default_value(""))
    ("interp-config", "interpolation model config", cxxopts::value<std::string>()->default_value(""))
    ("random-latent-size", "with --model random: latent size of the random-weight model", cxxopts::value<int64_t>()->default_value("8"))
    ("steps", "sampling steps", cxxopts::value<int>()->default_value("50"))
    ("sampler", "ddim | ddpm | dpmpp-2m", cxxopts::value<std::string>()->default_value("ddim"))
    ("eta", "DDIM eta (LVDM scripts: 1.0)", cxxopts::value<double>()->default_value("1.0"))
    ("seed", "random seed (-1 = random, printed)", cxxopts::value<int64_t>()->default_value("-1"))
    ("o,output", "output video", cxxopts::value<std::string>()->default_value("extended.mp4"))
    ("fps", "output frame rate (default: the input's)", cxxopts::value<std::string>()->default_value(""))
    ("crf", "encoder quality for mp4/webm (-1 = codec default)", cxxopts::value<int>()->default_value("-1"))
    ("decode-window", "latent frames per decode window (-1: the autoencoder's default, 32 for LVDM's)", cxxopts::value<int64_t>()->default_value("-1"))
    ("device", "cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
    ("dtype", "fp32 | bf16 | fp16", cxxopts::value<std::string>()->default_value("fp32"))
    ("h,help", "show this help");
  cli::add_weights_options(o);
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
  const int64_t add = a["frames"].as<int64_t>();
  if (add < 1) fail("--frames {}: must be at least 1 (frames to add)", add);

  auto policy = make_device_policy(a["device"].as<std::string>(), a["dtype"].as<std::string>());
  cli::LongRun run;
  cli::read_long_video_options(a, run);
  std::string sampler = a["sampler"].as<std::string>();
  run.opts.sampler.method = sampler == "dpmpp-2m" ? "dpmpp_2m" : sampler;
  run.opts.sampler.steps = a["steps"].as<int>();
  run.opts.sampler.eta = a["eta"].as<double>();
  run.opts.sampler.spacing = "auto";
  check_sampler_options(run.opts.sampler, 1000);
  run.output = a["output"].as<std::string>();
  if (std::filesystem::absolute(run.output) == std::filesystem::absolute(input))
    fail("-o {}: the output must not be the input", run.output.string());
  run.decode_window = a["decode-window"].as<int64_t>();

  VideoInfo info = probe_video(input);
  run.wopts.fps = a["fps"].as<std::string>().empty() ? info.fps : Fps::parse(a["fps"].as<std::string>());
  run.wopts.crf = a["crf"].as<int>();
  check_write_options(run.output, run.wopts);  // before the model is loaded

  LvdmPipelineOptions popts;
  popts.device = policy.device;
  popts.dtype = policy.dtype;
  popts.weights = cli::read_weights_option(a);
  std::string model = a["model"].as<std::string>(), config = a["config"].as<std::string>();
  std::string imodel = a["interp-model"].as<std::string>(), iconfig = a["interp-config"].as<std::string>();
  std::optional<LvdmPipeline> pipe;
  pipe.emplace(cli::load_generation_model(model, config, imodel, iconfig, a["random-latent-size"].as<int64_t>(), popts));
  check_sampler_options(run.opts.sampler, pipe->schedule().num_train_timesteps());
  cli::resolve_decode_windows(*pipe, run);
  run.opts.mode = cli::pick_mode(*pipe, run.mode_arg);
  run.opts.device = policy.device;
  run.opts.seed = resolve_seed(a["seed"].as<int64_t>());
  auto models = pipe->long_video_models(run.opts.mode);
  const auto f = pipe->ae_config().factors();
  const int64_t H = models.geometry.height * f[1], W = models.geometry.width * f[2];
  if (info.width != W || info.height != H)
    fail_hint("resize it first, e.g. ffmpeg -i IN -vf scale=" + std::to_string(W) + ":" + std::to_string(H) + " OUT",
              "{} is {}x{}; the model makes {}x{} frames", input.string(), info.width, info.height, W, H);

  auto plan = LongVideoPlan::make(add + f[0], f[0], models.pred.clip_len, run.opts.cond_frames, models.interp.clip_len,
                                  run.opts.mode, /*continues=*/true);
  // Latents to encode from the end of the input: the conditions (a keyframe stride apart) and
  // some decoding context before the last one.
  const int64_t need = (run.opts.cond_frames - 1) * plan.stride + 1;
  const int64_t ctx_want = std::max<int64_t>(run.decode_overlap, 1);

  // Pass 1: count the frames and keep the last ones (bounded: (need + context) * f frames).
  std::deque<std::vector<uint8_t>> tail;
  int64_t n_in = 0;
  {
    VideoReader r(input);
    std::vector<uint8_t> fr;
    const size_t keep = static_cast<size_t>((need + ctx_want) * f[0]);
    while (r.next(fr)) {
      tail.push_back(fr);
      if (tail.size() > keep) tail.pop_front();
      ++n_in;
    }
  }
  if (n_in < 1) fail("{}: no frames", input.string());
  // Pad to whole latents by repeating the last frame (as `longvid vae encode`).
  int64_t pad = (f[0] - static_cast<int64_t>(tail.size()) % f[0]) % f[0];
  for (int64_t i = 0; i < pad; ++i) tail.push_back(tail.back());
  const int64_t m = static_cast<int64_t>(tail.size()) / f[0];
  if (m < need)
    fail("{}: {} frames are too short to condition on {} latent frames {} apart (needs {} frames)", input.string(), n_in,
         run.opts.cond_frames, plan.stride, need * f[0]);
  if (pad) spdlog::info("{} frames is not a multiple of {}: the last frame is repeated {} time(s) for encoding", n_in, f[0], pad);

  at::Tensor z;
  {
    torch::NoGradGuard ng;
    auto video = at::empty({static_cast<int64_t>(tail.size()), H, W, 3}, at::kByte);
    for (size_t i = 0; i < tail.size(); ++i) std::memcpy(video[static_cast<int64_t>(i)].data_ptr<uint8_t>(), tail[i].data(), tail[i].size());
    auto x = video.permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat).div(127.5).sub(1.0).to(policy.device);
    z = pipe->autoencoder()->encode_latent(x).to(at::kCPU, at::kFloat);  // posterior mean, normalised
  }
  for (int64_t i = 0; i < run.opts.cond_frames; ++i) {
    int64_t j = m - 1 - i * plan.stride;
    run.given[-i] = z.slice(2, j, j + 1).clone();
  }
  const int64_t ctx = std::min<int64_t>(ctx_want, m - 1);
  if (ctx > 0) run.context = z.slice(2, m - 1 - ctx, m - 1).clone();
  run.write_prefix = [&](FrameSink& sink) {
    VideoReader r(input);
    std::vector<uint8_t> fr;
    while (r.next(fr)) sink.push(fr.data(), r.width(), r.height());
  };
  spdlog::info("{}: {} frames {}x{}; adding {} frames, seed {}", input.string(), n_in, W, H, add, run.opts.seed);
  cli::run_long_video(*pipe, plan, run);
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("extend", "continue an existing video with a long-video model", longvid::run_extend);
