#include "hierarchy/text_guidance.h"

#include "core/error.h"

namespace longvid {

TextMaskGuidance::TextMaskGuidance(Denoiser& m, at::Tensor uncond_context, double g, double w)
    : m_(m), uctx_(std::move(uncond_context)), g_(g), w_(w) {}

at::Tensor TextMaskGuidance::forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) {
  if (!c.context.defined()) fail("text guidance: the clip has no text context");
  const int64_t B = x.size(0);
  at::Tensor e_c, e_tu;
  const bool batchable = uctx_.dim() == 3 && uctx_.size(0) == 1 && uctx_.size(1) == c.context.size(1);
  if (g_ != 1.0 && !batchable) {  // contexts of different lengths: two passes
    Conditioning tu = c;
    tu.context = uctx_.size(0) == B ? uctx_ : uctx_.expand({B, uctx_.size(1), uctx_.size(2)});
    e_c = m_.forward(x, t, c);
    e_tu = m_.forward(x, t, tu);
  } else if (g_ != 1.0) {
    Conditioning cc = c;
    auto twice = [](const at::Tensor& f) { return f.defined() ? at::cat({f, f}, 0) : f; };
    cc.mask = twice(c.mask);
    cc.cond_latent = twice(c.cond_latent);
    cc.cond_noise_level = twice(c.cond_noise_level);
    cc.context = at::cat({c.context, uctx_.expand({B, uctx_.size(1), uctx_.size(2)})}, 0);
    auto both = m_.forward(at::cat({x, x}, 0), at::cat({t, t}, 0), cc).chunk(2, 0);
    e_c = both[0];
    e_tu = both[1];
  } else {
    e_c = m_.forward(x, t, c);
  }
  // Learned-sigma outputs: the eps half is guided, the variance half is the conditional branch's.
  const int64_t C = m_.learned_sigma() ? e_c.size(1) / 2 : e_c.size(1);
  at::Tensor e = e_c.narrow(1, 0, C);
  if (g_ != 1.0) e = e + (g_ - 1.0) * (e - e_tu.narrow(1, 0, C));
  if (w_ != 0.0) {
    Conditioning u;
    u.mask = c.mask.defined() ? at::zeros_like(c.mask) : at::Tensor();
    u.context = c.context;
    e = e + w_ * (e_c.narrow(1, 0, C) - m_.forward(x, t, u).narrow(1, 0, C));
  }
  return C == e_c.size(1) ? e : at::cat({e, e_c.narrow(1, C, e_c.size(1) - C)}, 1);
}

}  // namespace longvid
