// Benchmarks of a VideoPipeline (the use-case behind `longvid bench`): time, throughput, FLOPs
// counted from the ops' shapes (core/flops.h), peak RSS per case and, on CUDA, peak GPU memory.
// Targets live here and in tools/bench/, never in timed unit tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/op_profile.h"
#include "pipeline/video_pipeline.h"

namespace longvid {

struct BenchRequest {
  // denoiser: one forward of the main denoiser on a clip (with the conditioning it takes);
  // step: one sampler step (the pipeline's sampler and guidance), averaged over `steps` steps;
  // clip: a whole clip (sampling with `steps` steps + decoding); decode / encode: the autoencoder
  // on `latent_frames` latent frames with its default windows (decode: streamed); long: a video of
  // `long_frames` frames (keyframes + interpolation when the model can); i3d: the FVD detector
  // (random-weight InceptionI3d) on `batch` clips of 16x224x224.
  std::vector<std::string> cases{"denoiser", "step", "clip", "decode", "encode"};
  int64_t iters = 3, warmup = 1;
  int64_t batch = 1;
  int64_t steps = 5;
  int64_t latent_frames = 16;
  int64_t long_frames = 256;
  uint64_t seed = 1;
  double peak_tflops = 0;  // the device's peak for MFU (0: not reported)
  // > 0: one more, untimed run per case under an OpProfile (core/op_profile.h); its `profile` ops with
  // the most self time go to BenchRow::ops.
  int64_t profile = 0;
};

struct BenchRow {
  std::string name, what;
  int64_t iters = 0;
  double mean_s = 0, min_s = 0;
  double flops = 0;          // per iteration
  double peak_rss_mib = -1;  // peak resident memory during the case (-1: unknown)
  double peak_gpu_mib = -1;  // CUDA: peak allocated (-1: not on CUDA)
  // --profile: the ops with the most self time in the profiled run, and that run's total self time of
  // all ops (the step case: per step, like its other figures)
  std::vector<OpTime> ops;
  double profiled_s = 0;
  double it_per_s() const { return min_s > 0 ? 1.0 / min_s : 0; }
  double gflops_per_s() const { return min_s > 0 ? flops / min_s / 1e9 : 0; }
};

// Every case name it knows, with one line each.
const std::vector<std::pair<std::string, std::string>>& bench_cases();

// Runs the cases in order; one longvid::Error for an unknown case or one the pipeline cannot run.
std::vector<BenchRow> run_benchmarks(VideoPipeline& pipe, const BenchRequest& req);

// JSON document: {"machine": {...}, "model": describe, "request": {...}, "rows": [...]}.
std::string bench_json(const VideoPipeline& pipe, const BenchRequest& req, const std::vector<BenchRow>& rows);

}  // namespace longvid
