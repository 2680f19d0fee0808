#include "hierarchy/long_video_plan.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace longvid {

LongVideoMode parse_long_video_mode(const std::string& s) {
  if (s == "hierarchical" || s == "hier") return LongVideoMode::Hierarchical;
  if (s == "autoregressive" || s == "ar") return LongVideoMode::Autoregressive;
  fail("--mode {}: unknown long-video mode (choose hierarchical or autoregressive)", s);
}

std::string to_string(LongVideoMode m) {
  return m == LongVideoMode::Hierarchical ? "hierarchical" : "autoregressive";
}

LongVideoPlan LongVideoPlan::make(int64_t frames, int64_t temporal_factor, int64_t pred_len, int64_t cond_frames,
                                  int64_t interp_len, LongVideoMode mode, bool continues) {
  if (frames < 1) fail("--frames {}: must be at least 1", frames);
  if (temporal_factor < 1) fail("long video: temporal factor {} must be at least 1", temporal_factor);
  if (pred_len < 2) fail("long video: the prediction model's clip length is {} latent frames; it must be at least 2", pred_len);
  if (cond_frames < 1 || cond_frames >= pred_len)
    fail("--cond-frames {}: must be between 1 and {} (the prediction clip is {} latent frames)", cond_frames,
         pred_len - 1, pred_len);
  if (mode == LongVideoMode::Hierarchical && interp_len < 3)
    fail("long video: the interpolation model's clip length is {} latent frames; it needs at least 3 "
         "(two keyframes and one frame between them)", interp_len);

  LongVideoPlan p;
  p.frames = frames;
  p.temporal_factor = temporal_factor;
  p.pred_len = pred_len;
  p.cond_frames = cond_frames;
  p.interp_len = mode == LongVideoMode::Hierarchical ? interp_len : 0;
  p.mode = mode;
  p.continues = continues;
  p.latents = (frames + temporal_factor - 1) / temporal_factor;
  p.stride = mode == LongVideoMode::Hierarchical ? interp_len - 1 : 1;
  p.keyframes = (p.latents - 1 + p.stride - 1) / p.stride + 1;

  if (continues && p.keyframes < 2)
    fail("extend: {} frames do not reach past the last latent frame of the input; ask for more", frames);
  int64_t made = continues ? 1 : std::min(pred_len, p.keyframes);
  if (!continues) p.pred_clips.push_back({0, made});
  while (made < p.keyframes) {
    int64_t n = std::min(pred_len - cond_frames, p.keyframes - made);
    p.pred_clips.push_back({made, n});
    made += n;
  }
  if (mode == LongVideoMode::Hierarchical) {
    for (int64_t k = 0; k + 1 < p.keyframes; ++k) {
      int64_t first = k * p.stride + 1;
      p.infill_jobs.push_back({k, first, std::min(p.stride - 1, p.latents - first)});
    }
  }
  return p;
}

LongVideoPlan::LatentSource LongVideoPlan::source_of(int64_t j) const {
  if (j < 0 || j >= latents) fail("long video plan: latent {} is outside [0, {})", j, latents);
  if (j % stride == 0) {
    int64_t k = j / stride;
    if (continues && k == 0) return {true, 0, -1};
    int64_t c = pred_clip_of(k);
    const auto& pc = pred_clips[static_cast<size_t>(c)];
    int64_t slot = (c == 0 && !continues) ? k : cond_frames + (k - pc.first_new);
    return {true, k, slot};
  }
  return {false, j / stride, j % stride};
}

int64_t LongVideoPlan::pred_clip_of(int64_t k) const {
  for (size_t c = 0; c < pred_clips.size(); ++c)
    if (k >= pred_clips[c].first_new && k < pred_clips[c].first_new + pred_clips[c].num_new)
      return static_cast<int64_t>(c);
  fail("long video plan: keyframe {} is outside [0, {})", k, keyframes);
}

std::vector<int64_t> LongVideoPlan::infill_jobs_after(int64_t c) const {
  std::vector<int64_t> jobs;
  if (mode != LongVideoMode::Hierarchical) return jobs;
  const auto& pc = pred_clips.at(static_cast<size_t>(c));
  // Job k needs keyframes k and k+1: it can run once keyframe k+1 exists.
  for (int64_t k = std::max<int64_t>(0, pc.first_new - 1); k + 1 < pc.first_new + pc.num_new; ++k) jobs.push_back(k);
  return jobs;
}

std::string LongVideoPlan::describe() const {
  if (mode == LongVideoMode::Autoregressive)
    return fmt::format("{} frames = {} latents, autoregressive: {} prediction clips of {} ({} conditioning)", frames,
                       latents, pred_clips.size(), pred_len, cond_frames);
  return fmt::format("{} frames = {} latents, hierarchical: {} keyframes every {} latents from {} prediction clips of {} "
                     "({} conditioning), {} interpolation clips of {}",
                     frames, latents, keyframes, stride, pred_clips.size(), pred_len, cond_frames, infill_jobs.size(),
                     interp_len);
}

std::string LongVideoPlan::to_json() const {
  nlohmann::json j;
  j["frames"] = frames;
  j["temporal_factor"] = temporal_factor;
  j["pred_len"] = pred_len;
  j["cond_frames"] = cond_frames;
  j["interp_len"] = interp_len;
  j["mode"] = to_string(mode);
  j["continues"] = continues;
  j["latents"] = latents;
  j["stride"] = stride;
  j["keyframes"] = keyframes;
  j["pred_clips"] = pred_clips.size();
  j["infill_jobs"] = infill_jobs.size();
  return j.dump();
}

}  // namespace longvid
