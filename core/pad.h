// Replicate ("edge") padding of a 5-D tensor [N, C, T, H, W] in F.pad's order (W left, W right, H
// top, H bottom, T front, T back), the same values as torch.nn.functional.pad(x, pad, "replicate").
//
// ATen's replication_pad3d CPU kernel took 1.6 s of the sky autoencoder's 11.9 s decode of 16 frames
// of 256² in float32 (channels-last activations, 2 threads, an Intel Xeon with AVX-512; session 23,
// `longvid bench --cases decode --profile`). This writes the interior with one copy into a tensor of
// the input's memory format and then the borders one dimension at a time (W, then H over the padded
// width, then T over the padded planes: each corner takes its nearest edge value, as replicate
// does). Only copies: the result equals ATen's bit for bit (tested, both layouts). The 3D autoencoder
// uses it for its replicate padding; LONGVID_AE_PAD=aten keeps ATen's kernel (A/B runs).
#pragma once
#include <ATen/ATen.h>

namespace longvid {

at::Tensor replicate_pad3d(const at::Tensor& x, at::IntArrayRef pad);

}  // namespace longvid
