// decode_stream with the CLI defaults (window 16, overlap 8 latent frames): bounded chunks that
// do not grow with T, and agreement with one full decode away from the seams.
//
// Exact equality is impossible by design: the decoder's GroupNorm normalises over (C/G, T, H, W),
// so each window's statistics differ from the whole clip's. What is checked: interior frames
// (the middle of each window's kept span) are close to the full decode and every frame is within a
// bound; the single-window case is bit-identical.
#include <doctest/doctest.h>

#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {
constexpr int64_t kWindow = 16, kOverlap = 8;  // = tools/cmd_vae.cpp defaults

LvdmAutoencoder3D small_ae() {
  LvdmAe3dConfig c;
  c.n_hiddens = 16;
  c.decoder_n_hiddens = 16;
  torch::manual_seed(5);
  LvdmAutoencoder3D ae(c);
  ae->eval();
  return ae;
}

struct Run {
  at::Tensor out;
  std::vector<int64_t> chunk_frames;
};

Run stream(LvdmAutoencoder3D& ae, const at::Tensor& z, int64_t window, int64_t overlap) {
  Run r;
  std::vector<at::Tensor> parts;
  ae->decode_stream(z, window, overlap, [&](const at::Tensor& x) {
    r.chunk_frames.push_back(x.size(2));
    parts.push_back(x);
  });
  r.out = torch::cat(parts, 2);
  return r;
}
}  // namespace

TEST_CASE("decode_stream defaults: chunk size independent of T, close to the full decode off the seams") {
  auto ae = small_ae();
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  auto z = at::randn({1, 4, 40, 1, 1}, gen, at::TensorOptions().dtype(at::kFloat));
  const int64_t ft = 4;

  auto full = ae->decode(z);
  auto r = stream(ae, z, kWindow, kOverlap);
  REQUIRE(r.out.sizes() == full.sizes());
  // Chunk sizes: at most one window's frames, whatever T.
  int64_t max_chunk = *std::max_element(r.chunk_frames.begin(), r.chunk_frames.end());
  CHECK(max_chunk <= kWindow * ft);
  auto r_short = stream(ae, z.slice(2, 0, 24), kWindow, kOverlap);
  CHECK(*std::max_element(r_short.chunk_frames.begin(), r_short.chunk_frames.end()) == max_chunk);

  // Kept spans: windows start every 8 latents; each keeps [start + 4, start + 12) (first: from 0,
  // last: to the end). Interior = latents at least 2 from the kept span's ends.
  auto d = (r.out - full).abs().amax({0, 1, 3, 4});  // per output frame
  double scale = full.abs().max().item<double>();
  double interior = 0.0, all = d.max().item<double>();
  const int64_t stride = kWindow - kOverlap, drop = kOverlap / 2;
  for (int64_t s = 0; s + kWindow <= 40; s += stride) {
    int64_t lo = s == 0 ? 0 : s + drop, hi = s + kWindow - drop;
    for (int64_t l = lo + 2; l < hi - 2; ++l)
      interior = std::max(interior, d.slice(0, l * ft, (l + 1) * ft).max().item<double>());
  }
  MESSAGE("decode_stream(16, 8) vs full decode, 40 latents: max abs err interior " << interior << ", anywhere " << all
                                                                                  << ", output max |x| " << scale);
  CHECK(interior <= 0.05 * scale);
  CHECK(all <= 0.25 * scale);

  // One window covering everything: identical to the full decode.
  auto one = stream(ae, z.slice(2, 0, 16), kWindow, kOverlap);
  CHECK(torch::equal(one.out, ae->decode(z.slice(2, 0, 16))));
}
