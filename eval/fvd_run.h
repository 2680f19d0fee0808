// Running a detector over clips into FeatureStats, and the SVG line plot of `longvid fvd curve`.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/progress.h"
#include "eval/clip_input.h"
#include "eval/detector.h"
#include "eval/feature_stats.h"

namespace longvid::eval {

// Reads the clips of `refs` from `input` in batches of `batch` (a batch is cut early when the frame
// size changes), runs the detector and accumulates. Only one batch of clips is in memory.
FeatureStats accumulate_stats(ClipInput& input, const std::vector<ClipRef>& refs, int64_t length, int64_t stride,
                              VideoDetector& detector, bool keep_features, int64_t batch,
                              const ProgressFn& progress = {});

// Same, with a feature function instead of a VideoDetector (uint8 [B, T, H, W, 3] -> [B, D]).
using FeatureFn = std::function<at::Tensor(const at::Tensor& clips_uint8)>;
FeatureStats accumulate_stats(ClipInput& input, const std::vector<ClipRef>& refs, int64_t length, int64_t stride,
                              const FeatureFn& features, bool keep_features, int64_t batch,
                              const ProgressFn& progress = {});

// A self-contained SVG line plot (axes, ticks, labels, one polyline with markers).
std::string svg_line_plot(const std::vector<double>& x, const std::vector<double>& y, const std::string& title,
                          const std::string& x_label, const std::string& y_label);

}  // namespace longvid::eval
