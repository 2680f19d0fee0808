// decode_stream with the CLI defaults (window 32, overlap 8 latent frames): bounded chunks that
// do not grow with T, and agreement with one full decode away from the seams.
//
// Exact equality off the seams is impossible by design: the decoder's GroupNorm normalises over
// (C/G, T, H, W), so each window's statistics differ from the whole clip's and every frame moves a
// little (LVDM's overlapped_decode has the same property). What is checked: chunk sizes do not
// grow with T; with a single window the result is bit-identical; interior frames (the middle of
// each window's kept span) stay within a bound set from the measured error with margin (a
// regression guard: random weights amplify statistic differences far more than a trained AE).
#include <doctest/doctest.h>

#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {
constexpr int64_t kT = 80;
constexpr int64_t kWindow = 32, kOverlap = 8;  // = tools/cmd_vae.cpp defaults

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
  auto z = at::randn({1, 4, kT, 2, 2}, gen, at::TensorOptions().dtype(at::kFloat));
  const int64_t ft = 4;

  auto full = ae->decode(z);
  auto r = stream(ae, z, kWindow, kOverlap);
  REQUIRE(r.out.sizes() == full.sizes());
  // Chunk sizes: at most one window's frames, whatever T.
  int64_t max_chunk = *std::max_element(r.chunk_frames.begin(), r.chunk_frames.end());
  CHECK(max_chunk <= kWindow * ft);
  auto r_short = stream(ae, z.slice(2, 0, 56), kWindow, kOverlap);
  CHECK(*std::max_element(r_short.chunk_frames.begin(), r_short.chunk_frames.end()) == max_chunk);

  // Kept spans: windows start every 24 latents; each keeps [start + 4, start + 28) (first: from 0,
  // last: to the end). Interior = latents at least 2 from the kept span's ends.
  auto d = (r.out - full).abs().amax({0, 1, 3, 4});  // per output frame
  double scale = full.abs().max().item<double>();
  double interior = 0.0, all = d.max().item<double>();
  double interior_mean = 0.0;
  int64_t n_interior = 0;
  const int64_t stride = kWindow - kOverlap, drop = kOverlap / 2;
  for (int64_t s = 0; s + kWindow <= kT; s += stride) {
    int64_t lo = s == 0 ? 0 : s + drop, hi = s + kWindow - drop;
    for (int64_t l = lo + 2; l < hi - 2; ++l)
      for (int64_t f = l * ft; f < (l + 1) * ft; ++f) {
        interior = std::max(interior, d[f].item<double>());
        interior_mean += (r.out.select(2, f) - full.select(2, f)).abs().mean().item<double>();
        ++n_interior;
      }
  }
  interior_mean /= static_cast<double>(std::max<int64_t>(n_interior, 1));
  double full_std = full.std().item<double>();
  MESSAGE("decode_stream(32, 8) vs full decode, 80 latents 2x2: interior frames max abs err "
          << interior << ", mean abs err " << interior_mean << "; anywhere max " << all << "; output std " << full_std);
  REQUIRE(n_interior > 0);
  CHECK(interior_mean <= 0.15 * full_std);
  CHECK(all <= 2.0 * scale);

  // T <= window - overlap: one window (LVDM's loop adds a window at every multiple of the stride
  // below T), identical to the full decode.
  auto one = stream(ae, z.slice(2, 0, kWindow - kOverlap), kWindow, kOverlap);
  CHECK(one.chunk_frames.size() == 1);
  CHECK(torch::equal(one.out, ae->decode(z.slice(2, 0, kWindow - kOverlap))));
}
