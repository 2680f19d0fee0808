// LongVideoPlan: which latent frames a long video is made of and which clip makes each one.
//
// Vocabulary (LVDM, He et al. 2022, Sec. 3.3):
//   latent frame j      decodes to video frames [j·f, (j+1)·f) (f = the autoencoder's temporal factor)
//   keyframe k          latent frame k·stride, made by the prediction model (autoregressively)
//   stride              interp_len − 1 in hierarchical mode (the interpolation model fills the
//                       interp_len − 2 latents between two keyframes), 1 in autoregressive mode
//   prediction clip p   pred_len latents; clip 0 is unconditional, clip p ≥ 1 is conditioned on the
//                       last cond_frames keyframes and adds pred_len − cond_frames new ones
//   infill job k        an interpolation clip with keyframes k and k+1 as its first and last latent
//
// The video is N frames: Z = ceil(N / f) latents, trimmed to N frames after decoding. Keyframes:
// K = ceil((Z − 1) / stride) + 1 (the official script's pred_length, generalised), so the last
// infill job may reach past Z; what lies past Z is generated but never decoded.
//
// The official LVDM script computes the same K, but its interpolate() runs i = 0, 1, …, n − 1
// consecutively with n = len(range(0, K − 3, 3)) ≈ (K − 3) / 3, taking base_samples[i:i+2]: it fills
// the first n pairs (a contiguous prefix, latents 0 … n·stride) and drops the rest of the keyframes
// (1,024 frames with the sky models: 85 of 257 latents, about 340 frames), and it fails
// (torch.cat of an empty list) when K ≤ 3. Here every consecutive pair gets its in-between latents.
// tests/hierarchy/test_official_interpolate.cpp computes the official loop's coverage on a plan.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longvid {

enum class LongVideoMode { Hierarchical, Autoregressive };
LongVideoMode parse_long_video_mode(const std::string& s);  // "hierarchical" | "autoregressive"
std::string to_string(LongVideoMode m);

struct LongVideoPlan {
  // Inputs.
  int64_t frames = 0;           // N, the requested video length
  int64_t temporal_factor = 1;  // f
  int64_t pred_len = 0;         // latent frames per prediction clip
  int64_t cond_frames = 1;      // latents a prediction clip is conditioned on (T_cond)
  int64_t interp_len = 0;       // latent frames per interpolation clip (hierarchical mode)
  LongVideoMode mode = LongVideoMode::Hierarchical;
  // Continuing a video (`longvid extend`): keyframe 0 (latent 0) and the cond_frames − 1
  // keyframes before it (indices ≤ 0, `stride` latents apart) are given, and prediction clip 0 is
  // conditioned on them; `frames` then counts from the given latent's first frame.
  bool continues = false;

  // Derived.
  int64_t latents = 0;    // Z
  int64_t stride = 1;     // keyframe spacing in latents
  int64_t keyframes = 0;  // K

  struct PredClip {
    int64_t first_new;  // index of the first new keyframe this clip makes (0 for clip 0)
    int64_t num_new;    // new keyframes kept (<= pred_len, or pred_len − cond_frames)
  };
  struct InfillJob {
    int64_t left;          // keyframe k (its latent is left · stride)
    int64_t first_latent;  // left · stride + 1
    int64_t count;         // in-between latents kept (stride − 1, fewer when the video ends)
  };
  std::vector<PredClip> pred_clips;
  std::vector<InfillJob> infill_jobs;

  // Throws longvid::Error naming the bad value (N < 1, clip lengths that cannot work, ...).
  static LongVideoPlan make(int64_t frames, int64_t temporal_factor, int64_t pred_len, int64_t cond_frames,
                            int64_t interp_len, LongVideoMode mode, bool continues = false);

  // Where latent j comes from: a keyframe (source == -1 - k) or infill job i (source == i).
  struct LatentSource {
    bool keyframe;
    int64_t index;     // keyframe k, or infill job i
    int64_t position;  // position inside that clip (keyframe: its prediction clip's slot; -1: given)
  };
  LatentSource source_of(int64_t latent) const;
  // The prediction clip that makes keyframe k.
  int64_t pred_clip_of(int64_t keyframe) const;

  // Units of work in the order they run: prediction clip p, then the infill jobs whose both
  // keyframes exist. round(p) lists the infill jobs run after prediction clip p.
  std::vector<int64_t> infill_jobs_after(int64_t pred_clip) const;
  int64_t clips_total() const { return static_cast<int64_t>(pred_clips.size() + infill_jobs.size()); }

  std::string describe() const;  // one line for the log
  std::string to_json() const;   // the inputs and derived numbers (state files, --stats)
};

}  // namespace longvid
