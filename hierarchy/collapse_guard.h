// Collapse guard (a longvid remedy; LVDM has none): a clip whose new latents lost most of the
// spatial structure of the latents they continue is sampled again with fresh noise, and the most
// structured attempt is kept.
//
// Why: a weak model's failures in a long video are *flat* latents. The bundled text model's
// keyframes sometimes come out with a per-channel spatial std of 0.06-0.09 where the keyframe they
// continue has 0.2-0.7; the sprites are gone and the autoencoder renders such latents as mottled
// texture. Once a flat keyframe is made, the clips conditioned on it tend to stay flat, so one bad
// draw spoils the rest of the video (docs/hierarchy.md, "The collapse guard").
//
// The measure is relative, so it needs no knowledge of the model's latent space: per latent frame,
// the mean over channels of std_hw(z) / std_hw(reference), the smallest over the clip's new frames.
// A new keyframe's reference is the keyframe it continues; an in-between latent's is the blend of
// its two keyframes' stds by position (as --anchor blends their means).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>

namespace longvid {

struct CollapseGuard {
  int64_t retries = 3;   // extra attempts for a collapsed clip; 0 = off (LVDM's sampling as released)
  double ratio = 0.4;    // a clip whose structure_ratio is below this has collapsed
  bool on() const { return retries > 0; }
};

// z [1, C, n, h, w], ref_std [1, C, n or 1, 1, 1]: the smallest over the n frames of the mean over
// channels of std_hw(z) / ref_std. 1 for latents as structured as their reference.
double structure_ratio(const at::Tensor& z, const at::Tensor& ref_std);

// The generator seed of attempt `attempt` (>= 1) of a clip whose first attempt used `clip_seed`.
uint64_t retry_seed(uint64_t clip_seed, int64_t attempt);

// What the guard did in a run.
struct CollapseCounts {
  int64_t checked = 0;    // clips measured
  int64_t resampled = 0;  // clips sampled again at least once
  int64_t attempts = 0;   // extra attempts in all
  int64_t kept_below = 0; // clips still below the ratio after every attempt (the best one was kept)
};

// The guard around one clip: `first` is attempt 0, `structure` its structure_ratio. While the best
// attempt so far is below guard.ratio, up to guard.retries more attempts come from
// resample(attempt) (attempt = 1, 2, ...); the most structured attempt is returned. `what` names
// the clip in the log.
at::Tensor guard_collapse(at::Tensor first, const std::function<double(const at::Tensor&)>& structure,
                          const std::function<at::Tensor(int64_t)>& resample, const CollapseGuard& guard,
                          CollapseCounts& counts, const std::string& what);

}  // namespace longvid
