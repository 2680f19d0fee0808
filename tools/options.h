// Command-line options shared by the commands that load a model and sample (generate, extend,
// fvd --model): declared once here, read into the library's request types (api/).
#pragma once
#include <cxxopts.hpp>

#include <string>

#include "api/generate.h"
#include "api/model.h"

namespace longvid::cli {

// --model (default: the bundled model; `default_model` false: no default, e.g. fvd's optional
// --model) --config --interp-model --interp-config --random-latent-size --weights --ema
void add_model_options(cxxopts::Options& o, const std::string& group, const std::string& model_help,
                       bool default_model = true);
// --model "default" means the bundled model too. device / dtype come from the caller's options.
ModelSpec read_model_options(const cxxopts::ParseResult& a);

// --steps --sampler --eta (LVDM's scripts: DDIM 50 steps, eta 1)
void add_sampler_options(cxxopts::Options& o, const std::string& group = "");
// LVDM's scripts: DDIM 50, eta 1 (the defaults before a model is loaded, and of `fvd --model`).
SamplerOptions lvdm_script_sampler();
// Checks the sampler options that do not depend on the model (before loading it).
SamplerOptions neutral_sampler();
// `base` with the options the user gave on top (after loading: the pipeline's default_sampler).
SamplerOptions read_sampler_options(const cxxopts::ParseResult& a, const SamplerOptions& base = lvdm_script_sampler());

// A whole number from the command line (`what`: the option's name), or one clear line.
int64_t parse_whole_number(const std::string& s, const char* what);

// --device --dtype
void add_device_options(cxxopts::Options& o, const std::string& group = "");

// The "long video" group: --mode --cond-noise-level --uncond-guidance --cond-frames --anchor
// --lvdm-pred-mask --resume --state --checkpoint-every --stats --stats-window --decode-overlap
// --stop-after; plus --decode-window (declared by each command, its help differs).
void add_long_video_options(cxxopts::Options& o);
// Reads the options above into `req` (frames, sampler and seed not included) and checks them.
void read_long_video_options(const cxxopts::ParseResult& a, GenerateRequest& req);

}  // namespace longvid::cli
