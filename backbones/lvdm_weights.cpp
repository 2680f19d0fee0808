// The raw/EMA U-Net weight choice of LVDM checkpoints (--weights): backbones/lvdm_unet3d.h.
#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

static bool has_key_prefix(const StateDict& sd, const std::string& p) {
  for (const auto& k : sd.keys())
    if (k.rfind(p, 0) == 0) return true;
  return false;
}

LvdmWeights choose_lvdm_weights(const StateDict& sd, LvdmWeights requested, bool long_video_model, std::string* why) {
  auto say = [&](const std::string& w) {
    if (why) *why = w;
  };
  if (requested != LvdmWeights::Auto) {
    say(requested == LvdmWeights::Ema ? "--weights ema" : "--weights raw");
    return requested;
  }
  const bool raw = has_key_prefix(sd, "model.diffusion_model."), ema = has_key_prefix(sd, "model_ema.diffusion_model");
  if (ema && long_video_model) {
    say("a long-video model: LVDM's long-video script samples with the EMA weights; --weights raw for the others");
    return LvdmWeights::Ema;
  }
  if (raw) {
    say(long_video_model ? "the checkpoint has no EMA weights"
                         : ema ? "a short-clip model: LVDM's short-clip scripts sample with the raw weights; "
                                 "--weights ema for the others"
                               : "the checkpoint has no EMA weights");
    return LvdmWeights::Raw;
  }
  if (ema) {
    say("the checkpoint has only EMA weights");
    return LvdmWeights::Ema;
  }
  say("a bare U-Net state dict");
  return LvdmWeights::Auto;
}

}  // namespace longvid
