// Generating and extending videos: the use-cases behind `longvid generate`, `longvid extend` and the
// fake set of `longvid fvd --model`, as library functions on a VideoPipeline of any family.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/video_io.h"
#include "hierarchy/long_video.h"
#include "pipeline/rife_interpolator.h"
#include "pipeline/video_pipeline.h"
#include "sampler/sampler.h"

namespace longvid {

struct GenerateRequest {
  int64_t frames = 16;     // frames to make (extend: frames to add)
  SamplerOptions sampler;  // method, steps, eta (LVDM's scripts: DDIM 50, eta 1)
  uint64_t seed = 0;
  // Class-conditional models: the class (-1: drawn from the seed, as sample.py draws one) and the
  // classifier-free guidance scale (< 0: the model's default, e.g. Latte UCF-101: 7; 1: off).
  int64_t class_label = -1;
  double cfg_scale = -1.0;
  // Text-conditioned models: the prompt and the negative prompt (the unconditional branch of
  // classifier-free guidance; "" as LVDM's sample_text2video.py).
  std::string prompt, negative_prompt;
  bool has_prompt = false;
  // Long videos of a text model: prompts over time (first frame, prompt), frame 0 first
  // (api/prompt_schedule.h); empty: `prompt` throughout.
  std::vector<std::pair<int64_t, std::string>> prompt_schedule;
  // Long videos (keyframes + interpolation): s, w, condition frames, anchor, ... (its mode, seed,
  // sampler and device are taken from the fields of this request).
  LongVideoOptions long_video;
  std::string mode;  // "" = from the models (hierarchical when they can interpolate) | hierarchical | autoregressive
  // Latent frames per decode window and their overlap; < 0: the autoencoder's defaults.
  int64_t decode_window = -1, decode_overlap = -1;
  // Checkpointing of a long run (the same request with resume = true continues a killed run to
  // the identical video): empty state_dir = no checkpoints.
  std::filesystem::path state_dir;
  bool resume = false;
  int64_t checkpoint_every = 1;    // prediction clips between checkpoints
  int64_t stop_after_rounds = -1;  // testing: stop after N prediction clips as if killed
  // Drift statistics per window of frames (JSON), written when the video is complete.
  std::filesystem::path stats_path;
  int64_t stats_window = 64;
  bool show_progress = true;  // a progress bar / lines on stderr
  // Frame-rate upsampling of the decoded frames as they stream into the output file (RIFE, multi
  // frames per interval; generate_video_file only). The output's frame rate is then the given one
  // times multi, so the duration is unchanged.
  std::optional<RifeOptions> rife;
  std::filesystem::path rife_model;
};

// Checks the request's own values (frames, windows, intervals, s) with one clear line each; the
// use-cases call it, callers may call it early (before loading a model).
void check_generate_request(const GenerateRequest& req);

// One video, as `longvid generate` makes it, into `sink` (closed at the end): one sampled clip, or
// the long-video hierarchy when the video is longer than a clip of a frame-mask model, the model
// makes sparse keyframes (--interp-consecutive), an interpolation model is attached, or the request
// asks for a mode / resume. Returns the frames written, or -1 when a long run stopped early
// (stop_after_rounds; the sink is then left unclosed, so a file sink discards its partial output).
int64_t generate_video(VideoPipeline& pipe, const GenerateRequest& req, FrameSink& sink);

// Where a run writing `output` keeps its state by default: <output>.longvid-run next to the output
// (for a PNG directory or pattern, next to that directory, never inside it).
std::filesystem::path default_state_dir(const std::filesystem::path& output);

// The same into a file, written atomically; state_dir defaults to default_state_dir(output), and
// temporary files a killed run of this output left are removed on resume.
int64_t generate_video_file(VideoPipeline& pipe, GenerateRequest req, const std::filesystem::path& output,
                            const WriteOptions& wopts);

// Several videos from one request, as LVDM's sample_text2video.py makes them (a prompt file, n samples
// per prompt): each of `prompts` (empty: the request's own prompt, or none) `n_samples` times, with
// seeds req.seed, req.seed + 1, ... in that order, each written atomically as numbered_output(output,
// k), and an index <stem>.prompts.tsv next to them (file, seed, prompt; rewritten after every video,
// so it always lists the complete ones). Returns the files written.
std::vector<std::filesystem::path> generate_video_files(VideoPipeline& pipe, const GenerateRequest& req,
                                                        const std::vector<std::string>& prompts, int64_t n_samples,
                                                        const std::filesystem::path& output,
                                                        const WriteOptions& wopts);
// out.mp4 -> out_000.mp4, out_001.mp4, ... (PNG patterns and directories cannot be numbered: Error).
std::filesystem::path numbered_output(const std::filesystem::path& output, int64_t k);
// out.mp4 -> out.prompts.tsv: the index generate_video_files writes.
std::filesystem::path prompts_index(const std::filesystem::path& output);
// The prompts of a prompt file: one a line, surrounding blanks trimmed, empty lines skipped (as
// sample_text2video.py reads them). One error line when it cannot be read or holds no prompt.
std::vector<std::string> read_prompt_file(const std::filesystem::path& path);

// Continues `input`: its frames, unchanged, followed by req.frames new ones, into `sink` (closed at
// the end). The input's last frames are encoded; its last latent (and, with cond_frames > 1,
// earlier ones a keyframe stride apart) condition the first prediction clip; the continuation is
// made like a long video and decoded with the input's last latents as decoding context.
// Returns the frames written (input + new), or -1 when stopped early.
int64_t extend_video(VideoPipeline& pipe, const std::filesystem::path& input, const GenerateRequest& req,
                     FrameSink& sink);
int64_t extend_video_file(VideoPipeline& pipe, const std::filesystem::path& input, GenerateRequest req,
                          const std::filesystem::path& output, const WriteOptions& wopts);

// The long-video mode the models can do (hierarchical when they can interpolate), or `mode_arg`.
LongVideoMode pick_mode(const VideoPipeline& pipe, const std::string& mode_arg);

}  // namespace longvid
