// Shared conditioning helpers of the Denoiser contract (backbones/denoiser.h).
#include "backbones/denoiser.h"

#include <vector>

#include "core/error.h"

namespace longvid {

namespace {
std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
}  // namespace

Conditioning expand_to_batch(const Conditioning& c, int64_t B) {
  auto batch = [B](const at::Tensor& f) {
    if (!f.defined() || f.dim() == 0 || f.size(0) != 1 || B == 1) return f;
    std::vector<int64_t> sz(f.sizes().begin(), f.sizes().end());
    sz[0] = B;
    return f.expand(sz);
  };
  return Conditioning{batch(c.mask), batch(c.cond_latent), batch(c.cond_noise_level), batch(c.class_label),
                      batch(c.context)};
}

at::Tensor concat_mask_input(const at::Tensor& x_t, const Conditioning& c, const char* who) {
  const auto& s = x_t.sizes();
  at::Tensor mask;
  if (c.mask.defined()) {
    const auto& m = c.mask;
    if (m.dim() != 5 || m.size(0) != s[0] || m.size(1) != 1 || m.size(2) != s[2] || m.size(3) != s[3] ||
        m.size(4) != s[4])
      fail("{} denoiser: Conditioning.mask must be [B, 1, T, H, W] = [{}, 1, {}, {}, {}], got {}", who, s[0], s[2],
           s[3], s[4], shape_str(m.sizes()));
    mask = m.to(x_t.scalar_type());
  } else {
    mask = at::zeros({s[0], 1, s[2], s[3], s[4]}, x_t.options());
  }
  at::Tensor x = x_t;
  if (c.cond_latent.defined()) {
    if (c.cond_latent.sizes() != x_t.sizes())
      fail("{} denoiser: Conditioning.cond_latent must have the shape of x_t {}, got {}", who, shape_str(x_t.sizes()),
           shape_str(c.cond_latent.sizes()));
    x = at::where(mask > 0.5, c.cond_latent.to(x_t.scalar_type()), x_t);
  }
  return at::cat({x, mask}, 1);
}

}  // namespace longvid
