// The transform kernels of Winograd F(2x2, 3x3) (core/winograd.h): loops over a row of tiles (NCDHW)
// or over the channels of one tile (channels-last), vectorised by GCC for AVX-512 / AVX2 at run time.
// Internal to core/winograd.cpp.
#pragma once
#include <cstdint>

namespace longvid::winograd_detail {

// V = B^T d B and Y = A^T m A + bias, each over n tiles at once (see winograd_kernels.cpp): the
// channels of one tile (channels-last) or a row of tiles of one channel (NCDHW).
void input_tile(const float* const* d, float* const* v, int64_t n);
void output_tile(const float* const* m, const float* bias, float* const* y, int64_t n);
// U = G g G^T for one output channel's [Cin, 3, 3] weight (g: scratch of 9 * Cin floats).
void weight_row(const float* w, float* g, float* u, int64_t k_stride, int64_t Ci);

}  // namespace longvid::winograd_detail
