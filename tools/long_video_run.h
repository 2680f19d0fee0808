// The long-video part of `longvid generate` and `longvid extend`: options, state directory,
// streaming decode into the output file, drift statistics.
#pragma once
#include <cxxopts.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/video_io.h"
#include "hierarchy/long_video.h"
#include "hierarchy/lvdm_pipeline.h"

namespace longvid::cli {

// --mode --cond-noise-level --uncond-guidance --cond-frames --resume --state --checkpoint-every
// --stats --stats-window --decode-window --decode-overlap
void add_long_video_options(cxxopts::Options& o);

struct LongRun {
  LongVideoOptions opts;
  std::string mode_arg;  // "" = pick from the models
  std::filesystem::path output;
  WriteOptions wopts;
  int64_t decode_window = -1, decode_overlap = -1;  // < 0: the autoencoder's defaults (resolve_decode_windows)
  std::filesystem::path stats_path;
  int64_t stats_window = 64;
  bool resume = false;
  std::filesystem::path state_dir;  // empty: <output>.longvid-run
  int64_t checkpoint_every = 1;
  int64_t stop_after_rounds = -1;   // testing: stop as if killed
  // extend
  std::map<int64_t, at::Tensor> given;  // keyframes ≤ 0
  at::Tensor context;                   // latents before latent 0, decoding context only
  std::function<void(FrameSink&)> write_prefix;
  int64_t prefix_frames = 0;
};

// --weights raw|ema|auto and --ema (alias of --weights ema): which U-Net weights of an LVDM
// checkpoint to sample with (auto: choose_lvdm_weights, EMA for long-video models as LVDM's
// long-video script, raw for short-clip models).
void add_weights_options(cxxopts::Options& o, const std::string& group = "");
LvdmWeights read_weights_option(const cxxopts::ParseResult& a);

// Reads the options above from parsed arguments into `run` (frames and models not included).
void read_long_video_options(const cxxopts::ParseResult& a, LongRun& run);

// Replaces decode_window / decode_overlap < 0 by the autoencoder's stream defaults (LVDM's AEs:
// 32:8 latent frames; an AE trained on short clips: its training clip length).
void resolve_decode_windows(LvdmPipeline& pipe, LongRun& run);

// Mode the models can do (hierarchical when an interpolation model is available), or --mode.
LongVideoMode pick_mode(const LvdmPipeline& pipe, const std::string& mode_arg);

// Runs the plan into run.output (atomically). Returns the number of frames written.
int64_t run_long_video(LvdmPipeline& pipe, const LongVideoPlan& plan, LongRun& run);

// --sampler names: ddim | ddpm | dpmpp-2m (also dpmpp_2m, dpm++2m) -> SamplerOptions::method.
std::string sampler_method(const std::string& cli_name);

// One video of `frames` frames into `output` (atomically), as `longvid generate` makes it: one
// sampled clip, or the long-video hierarchy (run_long_video with `run`'s options) when the video is
// longer than a clip of a frame-mask model, the model makes sparse keyframes (--interp-consecutive),
// an interpolation model is attached, or `run` asks for a mode / resume. `decode_window` < 0: the
// autoencoder's default windows (resolve_decode_windows) for long videos; a clip is decoded at once
// unless the AE records a shorter training clip length. Returns the frames written, -1 when a long
// run stopped early (--stop-after).
int64_t generate_video(LvdmPipeline& pipe, int64_t frames, const SamplerOptions& sampler, uint64_t seed,
                       const std::filesystem::path& output, const WriteOptions& wopts, int64_t decode_window,
                       LongRun run);

// The model of generate / extend: `model` empty -> the bundled default model (assets/default,
// EMA weights); "random" -> a tiny random-weight masked model with latents of
// `random_latent_size` (tests); else the checkpoint (+ config), with the interpolation model
// attached when given. Option errors (config without model, ...) throw longvid::Error.
LvdmPipeline load_generation_model(const std::string& model, const std::string& config, const std::string& imodel,
                                   const std::string& iconfig, int64_t random_latent_size, LvdmPipelineOptions popts);

}  // namespace longvid::cli
