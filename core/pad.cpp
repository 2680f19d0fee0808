#include "core/pad.h"

#include "core/error.h"

namespace longvid {

at::Tensor replicate_pad3d(const at::Tensor& x, at::IntArrayRef pad) {
  if (x.dim() != 5 || pad.size() != 6) fail("replicate_pad3d: a 5-D input and 6 pads, got {} dims and {} pads", x.dim(), pad.size());
  const int64_t T = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t wl = pad[0], wr = pad[1], hl = pad[2], hr = pad[3], tl = pad[4], tr = pad[5];
  for (int64_t p : pad)
    if (p < 0) fail("replicate_pad3d: negative pad {}", p);
  if (T == 0 || H == 0 || W == 0) fail("replicate_pad3d: an empty dimension cannot be replicated");
  const auto fmt = x.suggest_memory_format();
  at::Tensor out = at::empty({x.size(0), x.size(1), T + tl + tr, H + hl + hr, W + wl + wr}, x.options().memory_format(fmt));
  out.narrow(2, tl, T).narrow(3, hl, H).narrow(4, wl, W).copy_(x);
  // Borders, one dimension at a time: W inside the interior planes and rows, H across the padded
  // width, T across the padded planes.
  auto edges = [](at::Tensor v, int64_t dim, int64_t lo, int64_t n, int64_t hi) {
    if (lo > 0) v.narrow(dim, 0, lo).copy_(v.narrow(dim, lo, 1).expand_as(v.narrow(dim, 0, lo)));
    if (hi > 0) v.narrow(dim, lo + n, hi).copy_(v.narrow(dim, lo + n - 1, 1).expand_as(v.narrow(dim, lo + n, hi)));
  };
  edges(out.narrow(2, tl, T).narrow(3, hl, H), 4, wl, W, wr);
  edges(out.narrow(2, tl, T), 3, hl, H, hr);
  edges(out, 2, tl, T, tr);
  return out;
}

}  // namespace longvid
