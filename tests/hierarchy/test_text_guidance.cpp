// Text guidance inside the hierarchy's masked clips (hierarchy/text_guidance.h): the composed
// formula, term by term, on a denoiser whose output depends on every conditioning field.
#include <doctest/doctest.h>

#include "hierarchy/text_guidance.h"

using namespace longvid;

namespace {
// out = x * (1 + mean(mask)) + mean(context) + 0.01 * s (per sample); counts calls.
class Probe : public Denoiser {
 public:
  int calls = 0;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const Conditioning& c) override {
    ++calls;
    const int64_t B = x.size(0);
    at::Tensor m = c.mask.defined() ? c.mask.reshape({B, -1}).mean(1) : at::zeros({B});
    at::Tensor ctx = c.context.reshape({B, -1}).mean(1);
    at::Tensor s = c.cond_noise_level.defined() ? c.cond_noise_level.to(at::kFloat) * 0.01 : at::zeros({B});
    auto v = [](const at::Tensor& a) { return a.view({-1, 1, 1, 1, 1}); };
    return x * (1 + v(m)) + v(ctx) + v(s) + 0 * t.view({-1, 1, 1, 1, 1});
  }
};
}  // namespace

TEST_CASE("text guidance in masked clips: e_c + (g - 1)(e_c - e(m, null)) + w (e_c - e(0, T))") {
  Probe probe;
  const int64_t B = 2;
  at::Tensor x = at::randn({B, 4, 3, 2, 2});
  at::Tensor t = at::full({B}, 500, at::kLong);
  Conditioning c;
  c.mask = at::zeros({B, 1, 3, 2, 2});
  c.mask.select(2, 0).fill_(1);
  c.cond_noise_level = at::full({B}, 100, at::kLong);
  c.context = at::randn({B, 5, 8});
  at::Tensor null_ctx = at::randn({1, 5, 8});
  const double g = 5.0, w = 0.1;
  TextMaskGuidance guided(probe, null_ctx, g, w);
  at::Tensor got = guided.forward(x, t, c);
  CHECK(probe.calls == 2);  // [cond; text-uncond] batched, then the mask-uncond branch

  Probe ref;
  at::Tensor e_c = ref.forward(x, t, c);
  Conditioning tu = c;
  tu.context = null_ctx.expand({B, 5, 8});
  at::Tensor e_tu = ref.forward(x, t, tu);
  Conditioning mu;
  mu.mask = at::zeros_like(c.mask);
  mu.context = c.context;
  at::Tensor e_mu = ref.forward(x, t, mu);
  at::Tensor want = e_c + (g - 1) * (e_c - e_tu) + w * (e_c - e_mu);
  CHECK(at::allclose(got, want, 1e-6, 1e-6));

  // g = 1, w = 0: the conditional branch alone, one call.
  Probe one;
  TextMaskGuidance plain(one, null_ctx, 1.0, 0.0);
  CHECK(plain.forward(x, t, c).equal(e_c));
  CHECK(one.calls == 1);
  // w only (an unconditional first clip has w = 0; g = 1 here): two calls, no text branch.
  Probe wo;
  TextMaskGuidance wonly(wo, null_ctx, 1.0, w);
  CHECK(at::allclose(wonly.forward(x, t, c), e_c + w * (e_c - e_mu), 1e-6, 1e-6));
  CHECK(wo.calls == 2);
}
