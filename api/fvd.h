// The fake set of `longvid fvd --model`: videos generated in the run, streamed into the feature
// extractor (no temporary files), one seed per video so that seed ranges shard like clip ranges.
#pragma once
#include <filesystem>

#include "api/generate.h"
#include "eval/detector.h"
#include "eval/feature_stats.h"

namespace longvid {

struct FakeSetRequest {
  GenerateRequest generate;   // frames per video (>= the clip span), sampler, long-video options
  uint64_t seed0 = 0;         // video i (0-based within this shard) uses seed seed0 + i
  int64_t first = 0;          // global index of video 0 (file names with keep_dir)
  int64_t num = 0;            // videos
  int64_t clip_length = 16, clip_stride = 1;  // the clip read from frame 0 of each video
  bool keep_features = false;
  int64_t batch = 16;         // clips per detector call (and videos generated between calls)
  std::filesystem::path keep_dir;  // non-empty: also write each video there (y4m, lossless)
};

// Generates the videos, cuts each one's clip from frame 0 (StyleGAN-V reads generated videos from
// the start) as the frames stream out, and accumulates the detector's features. At most `batch`
// clips are held in memory; nothing is written unless keep_dir is set.
eval::FeatureStats generated_feature_stats(VideoPipeline& pipe, const FakeSetRequest& req,
                                           eval::VideoDetector& detector, const ProgressFn& progress = {});

}  // namespace longvid
