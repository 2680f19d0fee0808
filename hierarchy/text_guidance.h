// Text guidance composed with LVDM's unconditional guidance inside a masked clip (long videos of a
// text-conditioned frame-mask model, hierarchy/long_video.h LongVideoText):
//   e = e_c + (g − 1)(e_c − e_text_u) + w (e_c − e_mask_u)
// e_c = e(m, T) (the clip's frame mask and s, its text), e_text_u = e(m, ∅) (the same with the
// negative prompt's context), e_mask_u = e(0, T) (no frame condition, no s, the text). e_c and
// e_text_u share their fields and run as one batch; e_mask_u runs alone, and only when w != 0.
#pragma once
#include <ATen/ATen.h>

#include "backbones/denoiser.h"

namespace longvid {

class TextMaskGuidance : public Denoiser {
 public:
  // uncond_context [1, L, D] (expanded to the batch); g: text guidance scale (1: off); w: LVDM's
  // unconditional guidance (0: off).
  TextMaskGuidance(Denoiser& m, at::Tensor uncond_context, double g, double w);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override;
  Prediction prediction() const override { return m_.prediction(); }
  bool learned_sigma() const override { return m_.learned_sigma(); }

 private:
  Denoiser& m_;
  at::Tensor uctx_;
  double g_, w_;
};

}  // namespace longvid
