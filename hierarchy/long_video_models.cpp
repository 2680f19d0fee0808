// long_video_models: the bridge from a VideoPipeline (any family) to the long-video planner.
#include "core/error.h"
#include "hierarchy/long_video.h"
#include "pipeline/video_pipeline.h"

namespace longvid {

LongVideoModels long_video_models(const VideoPipeline& pipe, LongVideoMode mode) {
  const auto& main = pipe.main;
  if (!main) fail("{} pipeline: no denoiser loaded", pipe.family);
  if (!main.caps.masked)
    fail_hint("use a long-video model (LVDM lvdm_long configs, or one trained with `longvid train`)",
              "this model has no frame-mask conditioning ({}), so it cannot continue a video; it makes single clips of "
              "{} latent frames",
              main.describe, main.caps.clip_len);
  if (!main.caps.can_predict())
    fail("the model given as the prediction model was trained for interpolation only (p_pred 0)");
  LongVideoModels m;
  m.geometry = {main.caps.latent_channels, main.caps.latent_height, main.caps.latent_width};
  auto clip_model = [&](const PipelineDenoiser& d, const char* name) {
    MaskedClipModel c;
    c.denoiser = d.net.get();
    c.schedule = pipe.schedule.get();
    c.clip_len = d.caps.clip_len;
    c.noisy_cond = d.caps.noisy_cond;
    c.max_noise_level = d.caps.max_noise_level;
    c.takes_text = d.caps.context_dim > 0;
    c.name = name;
    if (c.clip_len < 2) fail("the {} has no clip length (temporal_length) in its config", name);
    return c;
  };
  m.pred = clip_model(main, "the prediction model");
  if (mode == LongVideoMode::Hierarchical) {
    if (pipe.has_interpolation_model()) {
      m.interp = clip_model(pipe.interp, "the interpolation model");
    } else {
      if (!main.caps.can_interpolate())
        fail_hint("pass --interp-model/--interp-config, or --mode autoregressive",
                  "hierarchical mode needs an interpolation model; the prediction model was trained for prediction only "
                  "(p_interp 0)");
      m.interp = clip_model(main, "the model (used for interpolation too)");
    }
  }
  return m;
}

}  // namespace longvid
