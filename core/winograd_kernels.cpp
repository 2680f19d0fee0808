// Winograd F(2x2, 3x3) transform kernels — see winograd_kernels.h.
#include "core/winograd_kernels.h"

// The transforms are loops over the channels of a tile (channels-last) or over a row of tiles (NCDHW):
// GCC vectorizes them for AVX-512 and AVX2, picked at run time, and the file is built with -O3
// (CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LONGVID_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LONGVID_SIMD_CLONES
#endif

// Declares name0 .. name15 = src[0] .. src[15] as restrict pointers of type T* (the 16 rows of a tile).
#define LONGVID_UNPACK16(T, name, src)                                                                         \
  T *__restrict name##0 = src[0], *__restrict name##1 = src[1], *__restrict name##2 = src[2],                  \
    *__restrict name##3 = src[3], *__restrict name##4 = src[4], *__restrict name##5 = src[5],                  \
    *__restrict name##6 = src[6], *__restrict name##7 = src[7], *__restrict name##8 = src[8],                  \
    *__restrict name##9 = src[9], *__restrict name##10 = src[10], *__restrict name##11 = src[11],              \
    *__restrict name##12 = src[12], *__restrict name##13 = src[13], *__restrict name##14 = src[14],            \
    *__restrict name##15 = src[15]

namespace longvid::winograd_detail {

// U = G g G^T for one output channel: w is its [Cin, 3, 3] weight, g a scratch of 9 * Cin floats,
// u[k * k_stride + ci] receives element k for input channel ci.
// G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
LONGVID_SIMD_CLONES void weight_row(const float* w, float* g, float* u, int64_t k_stride, int64_t Ci) {
  for (int64_t ci = 0; ci < Ci; ++ci)
    for (int64_t r = 0; r < 9; ++r) g[r * Ci + ci] = w[ci * 9 + r];
  const float *__restrict g0 = g, *__restrict g1 = g + Ci, *__restrict g2 = g + 2 * Ci;
  const float *__restrict g3 = g + 3 * Ci, *__restrict g4 = g + 4 * Ci, *__restrict g5 = g + 5 * Ci;
  const float *__restrict g6 = g + 6 * Ci, *__restrict g7 = g + 7 * Ci, *__restrict g8 = g + 8 * Ci;
  float* __restrict U[16];
  for (int k = 0; k < 16; ++k) U[k] = u + k * k_stride;
  LONGVID_UNPACK16(float, u, U);
#pragma GCC ivdep
  for (int64_t c = 0; c < Ci; ++c) {
    // rows: s = G g (g's rows: g0..g2, g3..g5, g6..g8)
    const float s00 = g0[c], s01 = g1[c], s02 = g2[c];
    const float s10 = 0.5f * (g0[c] + g3[c] + g6[c]), s11 = 0.5f * (g1[c] + g4[c] + g7[c]),
                s12 = 0.5f * (g2[c] + g5[c] + g8[c]);
    const float s20 = 0.5f * (g0[c] - g3[c] + g6[c]), s21 = 0.5f * (g1[c] - g4[c] + g7[c]),
                s22 = 0.5f * (g2[c] - g5[c] + g8[c]);
    const float s30 = g6[c], s31 = g7[c], s32 = g8[c];
    // columns: U = s G^T
    u0[c] = s00, u1[c] = 0.5f * (s00 + s01 + s02), u2[c] = 0.5f * (s00 - s01 + s02), u3[c] = s02;
    u4[c] = s10, u5[c] = 0.5f * (s10 + s11 + s12), u6[c] = 0.5f * (s10 - s11 + s12), u7[c] = s12;
    u8[c] = s20, u9[c] = 0.5f * (s20 + s21 + s22), u10[c] = 0.5f * (s20 - s21 + s22), u11[c] = s22;
    u12[c] = s30, u13[c] = 0.5f * (s30 + s31 + s32), u14[c] = 0.5f * (s30 - s31 + s32), u15[c] = s32;
  }
}

// V = B^T d B over n independent tiles: element c of d[4i + j] is row i, column j of tile c, and
// element c of v[k] receives V's element k of tile c. Channels-last: one tile, its n = C channels
// (d[4i + j] points to pixel (i, j), a zero row outside the frame); NCDHW: a row of n tiles of one
// channel (d[4i + j] points into frame row i split into odd and even columns).
// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
LONGVID_SIMD_CLONES void input_tile(const float* const* d, float* const* v, int64_t n) {
  LONGVID_UNPACK16(const float, d, d);
  LONGVID_UNPACK16(float, v, v);
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) {
    const float t00 = d0[c] - d8[c], t01 = d1[c] - d9[c], t02 = d2[c] - d10[c], t03 = d3[c] - d11[c];
    const float t10 = d4[c] + d8[c], t11 = d5[c] + d9[c], t12 = d6[c] + d10[c], t13 = d7[c] + d11[c];
    const float t20 = d8[c] - d4[c], t21 = d9[c] - d5[c], t22 = d10[c] - d6[c], t23 = d11[c] - d7[c];
    const float t30 = d4[c] - d12[c], t31 = d5[c] - d13[c], t32 = d6[c] - d14[c], t33 = d7[c] - d15[c];
    v0[c] = t00 - t02, v1[c] = t01 + t02, v2[c] = t02 - t01, v3[c] = t01 - t03;
    v4[c] = t10 - t12, v5[c] = t11 + t12, v6[c] = t12 - t11, v7[c] = t11 - t13;
    v8[c] = t20 - t22, v9[c] = t21 + t22, v10[c] = t22 - t21, v11[c] = t21 - t23;
    v12[c] = t30 - t32, v13[c] = t31 + t32, v14[c] = t32 - t31, v15[c] = t31 - t33;
  }
}

// Y = A^T m A + bias over n independent tiles: element c of m[k] is the GEMM result k of tile c,
// element c of y[2i + j] receives output (i, j) of tile c, plus bias[c]. Channels-last: one tile, its
// n = C output channels; NCDHW: a row of n tiles of one output channel (bias: that channel's bias
// repeated). A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
LONGVID_SIMD_CLONES void output_tile(const float* const* m, const float* bias, float* const* y, int64_t n) {
  LONGVID_UNPACK16(const float, m, m);
  const float* __restrict b = bias;
  float *__restrict y0 = y[0], *__restrict y1 = y[1], *__restrict y2 = y[2], *__restrict y3 = y[3];
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) {
    const float r00 = m0[c] + m4[c] + m8[c], r01 = m1[c] + m5[c] + m9[c];
    const float r02 = m2[c] + m6[c] + m10[c], r03 = m3[c] + m7[c] + m11[c];
    const float r10 = m4[c] - m8[c] - m12[c], r11 = m5[c] - m9[c] - m13[c];
    const float r12 = m6[c] - m10[c] - m14[c], r13 = m7[c] - m11[c] - m15[c];
    y0[c] = r00 + r01 + r02 + b[c];
    y1[c] = r01 - r02 - r03 + b[c];
    y2[c] = r10 + r11 + r12 + b[c];
    y3[c] = r11 - r12 - r13 + b[c];
  }
}

}  // namespace longvid::winograd_detail
