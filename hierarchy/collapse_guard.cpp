#include "hierarchy/collapse_guard.h"

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace longvid {

double structure_ratio(const at::Tensor& z, const at::Tensor& ref_std) {
  if (z.dim() != 5 || ref_std.dim() != 5 || z.size(2) == 0)
    fail("structure_ratio: expected latents [1, C, n, h, w] and stds [1, C, n, 1, 1], got {} and {}",
         c10::str(z.sizes()), c10::str(ref_std.sizes()));
  auto sd = z.to(at::kFloat).std({3, 4}, /*unbiased=*/false, true);                     // [1, C, n, 1, 1]
  auto per_frame = (sd / ref_std.to(z.device(), at::kFloat).clamp_min(1e-6)).mean(1);  // [1, n, 1, 1]
  return per_frame.min().item<double>();
}

uint64_t retry_seed(uint64_t clip_seed, int64_t attempt) {
  // splitmix64 of (clip seed, attempt): attempt 0 is the clip's own seed.
  if (attempt <= 0) return clip_seed;
  uint64_t z = clip_seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(attempt));
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The collapse guard around one clip: `first` is attempt 0; while the best attempt's structure is
// below the ratio, up to `retries` more attempts from `resample(attempt)`; the most structured wins.
at::Tensor guard_collapse(at::Tensor first, const std::function<double(const at::Tensor&)>& structure,
                          const std::function<at::Tensor(int64_t)>& resample, const CollapseGuard& guard,
                          CollapseCounts& counts, const std::string& what) {
  ++counts.checked;
  at::Tensor best = std::move(first);
  double q = structure(best);
  if (q >= guard.ratio) return best;
  ++counts.resampled;
  spdlog::info("{}: structure {:.2f} of their conditions' (below {}): sampled again", what, q, guard.ratio);
  for (int64_t attempt = 1; attempt <= guard.retries && q < guard.ratio; ++attempt) {
    ++counts.attempts;
    at::Tensor again = resample(attempt);
    const double q2 = structure(again);
    spdlog::info("{}: attempt {} of {}: structure {:.2f}", what, attempt, guard.retries, q2);
    if (q2 > q) {
      best = std::move(again);
      q = q2;
    }
  }
  if (q < guard.ratio) {
    ++counts.kept_below;
    spdlog::warn("{}: still collapsed after {} more attempts (structure {:.2f}); kept the best", what, guard.retries, q);
  }
  return best;
}

}  // namespace longvid
