// Winograd F(2x2, 3x3) convolution — see winograd.h.
#include "core/winograd.h"

#include <ATen/Parallel.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/winograd_kernels.h"

namespace longvid {

namespace {

// winograd_conv3d_wins (measured, docs/performance.md "Session 25"): the U-Nets' NCDHW convolutions
// from 256 channels, the autoencoders' channels-last ones from 128; both from 1024 output positions
// and frames of 8x8.
constexpr int64_t kMinChannelsNcdhw = 256;
constexpr int64_t kMinChannelsCl = 128;
constexpr int64_t kMinPositions = 1024;
constexpr int64_t kMinSide = 8;
// Both kernels' working set (input transforms and GEMM results) per chunk of frames / band of tile rows.
constexpr int64_t kChunkBytes = int64_t{96} << 20;
std::atomic<int64_t> g_chunk_bytes{kChunkBytes};

std::atomic<bool> g_everywhere{false};
std::atomic<int64_t> g_calls{0};

bool channels_last(const at::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast3d);
}

// Whether the NCDHW kernel takes it: (1, 3, 3) with padding 1 on an input that is not channels-last.
bool takes_ncdhw_kernel(const at::Tensor& x, const at::Tensor& weight, int64_t pad) {
  return !channels_last(x) && weight.size(2) == 1 && pad == 1;
}

}  // namespace

bool winograd_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("LONGVID_WINOGRAD");
    if (!v || !*v || std::strcmp(v, "1") == 0) return true;
    if (std::strcmp(v, "0") == 0) return false;
    fail("LONGVID_WINOGRAD={}: expected 1 (the default) or 0", v);
  }();
  return on;
}

bool winograd_conv3d_supported(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef stride,
                               at::IntArrayRef padding) {
  return x.device().is_cpu() && weight.device().is_cpu() && x.scalar_type() == at::kFloat &&
         weight.scalar_type() == at::kFloat && x.dim() == 5 && weight.dim() == 5 && x.size(1) == weight.size(1) &&
         (weight.size(2) == 1 || weight.size(2) == 3) && weight.size(3) == 3 && weight.size(4) == 3 &&
         stride.size() == 3 && padding.size() == 3 && stride[0] == 1 && stride[1] == 1 && stride[2] == 1 &&
         padding[0] == 0 && (padding[1] == 0 || padding[1] == 1) && padding[2] == padding[1] && x.numel() > 0 &&
         x.size(2) >= weight.size(2) && x.size(3) + 2 * padding[1] >= 3 && x.size(4) + 2 * padding[2] >= 3;
}

bool winograd_conv3d_wins(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding) {
  if (!winograd_enabled()) return false;
  if (g_everywhere.load()) return true;
  const bool cl = channels_last(x);
  if (!cl && !takes_ncdhw_kernel(x, weight, padding[1])) return false;  // (NCDHW in, channels-last kernel: not measured)
  const int64_t min_channels = cl ? kMinChannelsCl : kMinChannelsNcdhw;
  const int64_t to = x.size(2) - weight.size(2) + 1, ho = x.size(3) + 2 * padding[1] - 2,
                wo = x.size(4) + 2 * padding[2] - 2;  // the output's frames and sides
  return weight.size(0) >= min_channels && weight.size(1) >= min_channels && ho >= kMinSide && wo >= kMinSide &&
         x.size(0) * to * ho * wo >= kMinPositions;
}

at::Tensor winograd_weight(const at::Tensor& weight) {
  const int64_t Co = weight.size(0), Ci = weight.size(1);
  const at::Tensor w = weight.contiguous();  // [Co, Ci, 1, 3, 3] or [Co, Ci, 3, 3]
  at::Tensor U = at::empty({16, Co, Ci}, w.options());
  float* up = U.data_ptr<float>();
  const float* wp = w.const_data_ptr<float>();
  at::parallel_for(0, Co, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> g(static_cast<size_t>(9 * Ci));
    for (int64_t co = begin; co < end; ++co)
      winograd_detail::weight_row(wp + co * Ci * 9, g.data(), up + co * Ci, Co * Ci, Ci);
  });
  return U;
}

namespace {

// The U-Nets' kernel: (1, 3, 3), padding 1, NCDHW. Tiles are numbered (n * th + ty) * tw + tx over the
// frames n = (b, t) of a chunk; the tile at (ty, tx) reads input rows 2ty - 1 .. 2ty + 2 and columns
// 2tx - 1 .. 2tx + 2 and writes the 2x2 outputs at (2ty, 2tx). Both transforms work on NCDHW rows (a
// frame row split into its odd and even columns makes a row of tiles unit-stride loads), so the
// activations need no layout change, and the GEMMs are [Cout, Cin] x [Cin, tiles]. Frames go in
// chunks whose transforms and GEMM results fit set_winograd_chunk_bytes.
at::Tensor conv_ncdhw(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& transformed) {
  using namespace winograd_detail;
  const int64_t B = x.size(0), Ci = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t Co = weight.size(0);
  const int64_t N = B * T, th = (H + 1) / 2, tw = (W + 1) / 2, tf = th * tw;
  const at::Tensor xc = x.contiguous();
  const float* xp = xc.const_data_ptr<float>();
  const at::Tensor U = transformed.defined() ? transformed : winograd_weight(weight);
  at::Tensor y = at::empty({B, Co, T, H, W}, x.options());
  float* yp = y.data_ptr<float>();
  const at::Tensor bc = bias.defined() ? bias.contiguous() : at::Tensor();
  const float* bp = bc.defined() ? bc.const_data_ptr<float>() : nullptr;
  const int64_t frame_bytes = 16 * tf * (Ci + Co) * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>(g_chunk_bytes.load() / frame_bytes, 1, N);
  at::Tensor Vbuf = at::empty({16 * Ci * chunk * tf}, x.options());
  at::Tensor Mbuf = at::empty({16 * Co * chunk * tf}, x.options());
  const int64_t plane = H * W, e_len = tw + 1;
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nf = std::min(chunk, N - n0), tiles = nf * tf;
    at::Tensor V = Vbuf.narrow(0, 0, 16 * Ci * tiles).view({16, Ci, tiles});
    float* vp = V.data_ptr<float>();
    at::parallel_for(0, Ci * nf * th, 32, [&](int64_t begin, int64_t end) {
      std::vector<float> buf(static_cast<size_t>(8 * e_len));
      const float* d[16];  // tile (row i, column j) of the tiles tx = 0 .. tw - 1: columns 2tx - 1 + j
      float* v[16];
      for (int64_t i = 0; i < 4; ++i) {
        const float* odd = buf.data() + 2 * i * e_len;  // x = 2m - 1
        const float* even = odd + e_len;                // x = 2m
        d[4 * i] = odd, d[4 * i + 1] = even, d[4 * i + 2] = odd + 1, d[4 * i + 3] = even + 1;
      }
      for (int64_t r = begin; r < end; ++r) {
        const int64_t ty = r % th, nl = (r / th) % nf, ci = r / (th * nf);
        const int64_t n = n0 + nl, b = n / T, t = n % T;
        const float* frame = xp + ((b * Ci + ci) * T + t) * plane;
        for (int64_t i = 0; i < 4; ++i) {
          float* odd = buf.data() + 2 * i * e_len;
          float* even = odd + e_len;
          const int64_t yy = 2 * ty - 1 + i;
          if (yy < 0 || yy >= H) {
            std::fill(odd, odd + 2 * e_len, 0.0f);
            continue;
          }
          const float* row = frame + yy * W;
          odd[0] = 0.0f;
          for (int64_t m = 1; m < e_len; ++m) odd[m] = 2 * m - 1 < W ? row[2 * m - 1] : 0.0f;
          for (int64_t m = 0; m < e_len; ++m) even[m] = 2 * m < W ? row[2 * m] : 0.0f;
        }
        const int64_t tile0 = (nl * th + ty) * tw;
        for (int64_t k = 0; k < 16; ++k) v[k] = vp + (k * Ci + ci) * tiles + tile0;
        input_tile(d, v, tw);
      }
    });
    at::Tensor M = Mbuf.narrow(0, 0, 16 * Co * tiles).view({16, Co, tiles});
    at::bmm_out(M, U, V);  // M[k] = U[k] V[k]: [Cout, Cin] x [Cin, tiles]
    const float* mp = M.const_data_ptr<float>();
    at::parallel_for(0, Co * nf * th, 16, [&](int64_t begin, int64_t end) {
      std::vector<float> buf(static_cast<size_t>(5 * tw));
      const float* m[16];
      float* out[4];  // row 0 even / odd columns, row 1 even / odd
      for (int64_t i = 0; i < 4; ++i) out[i] = buf.data() + i * tw;
      float* bias_row = buf.data() + 4 * tw;
      int64_t bias_of = -1;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t ty = r % th, nl = (r / th) % nf, co = r / (th * nf);
        const int64_t n = n0 + nl, b = n / T, t = n % T;
        const int64_t tile0 = (nl * th + ty) * tw;
        for (int64_t k = 0; k < 16; ++k) m[k] = mp + (k * Co + co) * tiles + tile0;
        if (co != bias_of) {
          std::fill(bias_row, bias_row + tw, bp ? bp[co] : 0.0f);
          bias_of = co;
        }
        output_tile(m, bias_row, out, tw);
        float* frame = yp + ((b * Co + co) * T + t) * plane;
        for (int64_t i = 0; i < 2 && 2 * ty + i < H; ++i) {
          float* row = frame + (2 * ty + i) * W;
          const float* even = out[2 * i];
          const float* odd = out[2 * i + 1];
          for (int64_t xx = 0; xx + 1 < W; xx += 2) {
            row[xx] = even[xx / 2];
            row[xx + 1] = odd[xx / 2];
          }
          if (W % 2) row[W - 1] = even[W / 2];
        }
      }
    });
  }
  return y;
}

// The autoencoders' kernel: channels-last, any temporal kernel kt and spatial padding 0 or 1 (their
// convolutions run on an input padded beforehand). The tiles of each frame are transformed once, and
// output frame t sums the GEMMs of input frames t .. t + kt - 1 with the transforms of the kernel's
// kt temporal taps: V[k] is [frames x tiles, Cin] and M[k] = sum_j V[k](from frame j) U_j[k]^T
// [frames x tiles, Cout], so a tap is a row offset into V. They are made for a band of tile rows of a
// chunk of frames at a time (all frames when one tile row of them fits set_winograd_chunk_bytes,
// otherwise chunks of output frames with their kt - 1 frames of halo).
at::Tensor conv_channels_last(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t pad) {
  using namespace winograd_detail;
  const int64_t B = x.size(0), Ci = x.size(1), Ti = x.size(2), Hi = x.size(3), Wi = x.size(4);
  const int64_t Co = weight.size(0), kt = weight.size(2);
  const int64_t To = Ti - kt + 1, Ho = Hi + 2 * pad - 2, Wo = Wi + 2 * pad - 2;
  const int64_t th = (Ho + 1) / 2, tw = (Wo + 1) / 2;
  const at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast3d);
  const float* xp = xc.const_data_ptr<float>();  // [B, Ti, Hi, Wi, Ci]
  std::vector<at::Tensor> U;                     // per temporal tap: [16, Cin, Cout]
  for (int64_t j = 0; j < kt; ++j) U.push_back(winograd_weight(weight.narrow(2, j, 1)).transpose(1, 2).contiguous());
  at::Tensor y = at::empty({B, Co, To, Ho, Wo}, x.options().memory_format(at::MemoryFormat::ChannelsLast3d));
  float* yp = y.data_ptr<float>();  // [B, To, Ho, Wo, Co]
  const at::Tensor zeros = at::zeros({std::max(Ci, Co)}, x.options());
  const at::Tensor bc = bias.defined() ? bias.contiguous() : zeros.narrow(0, 0, Co);
  const float* zp = zeros.const_data_ptr<float>();
  const float* bp = bc.const_data_ptr<float>();
  const int64_t budget = g_chunk_bytes.load(), unit = 16 * tw * static_cast<int64_t>(sizeof(float));
  int64_t frames = To;  // output frames per chunk
  if (unit * (Ti * Ci + To * Co) > budget)
    frames = std::clamp<int64_t>((budget / unit - (kt - 1) * Ci) / (Ci + Co), 1, To);
  const int64_t band = std::clamp<int64_t>(budget / (unit * ((frames + kt - 1) * Ci + frames * Co)), 1, th);
  at::Tensor Vbuf = at::empty({16 * (frames + kt - 1) * band * tw * Ci}, x.options());
  at::Tensor Mbuf = at::empty({16 * frames * band * tw * Co}, x.options());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t0 = 0; t0 < To; t0 += frames) {
      const int64_t no = std::min(frames, To - t0), ni = no + kt - 1;  // output, input frames
      for (int64_t ty0 = 0; ty0 < th; ty0 += band) {
        const int64_t nb = std::min(band, th - ty0), ft = nb * tw;  // tiles of one frame in this band
        const at::Tensor V = Vbuf.narrow(0, 0, 16 * ni * ft * Ci).view({16, ni * ft, Ci});
        float* vp = V.data_ptr<float>();
        at::parallel_for(0, ni * nb, 1, [&](int64_t begin, int64_t end) {
          const float* d[16];
          float* v[16];
          for (int64_t r = begin; r < end; ++r) {
            const int64_t f = r / nb, ty = ty0 + r % nb;
            const float* frame = xp + (b * Ti + t0 + f) * Hi * Wi * Ci;
            for (int64_t tx = 0; tx < tw; ++tx) {
              for (int64_t i = 0; i < 4; ++i) {
                const int64_t yy = 2 * ty - pad + i;
                for (int64_t j = 0; j < 4; ++j) {
                  const int64_t xx = 2 * tx - pad + j;
                  d[4 * i + j] = (yy >= 0 && yy < Hi && xx >= 0 && xx < Wi) ? frame + (yy * Wi + xx) * Ci : zp;
                }
              }
              const int64_t row = r * tw + tx;  // (f, ty - ty0, tx)
              for (int64_t k = 0; k < 16; ++k) v[k] = vp + (k * ni * ft + row) * Ci;
              input_tile(d, v, Ci);
            }
          }
        });
        at::Tensor M = Mbuf.narrow(0, 0, 16 * no * ft * Co).view({16, no * ft, Co});
        at::bmm_out(M, V.narrow(1, 0, no * ft), U[0]);
        for (int64_t j = 1; j < kt; ++j) M.baddbmm_(V.narrow(1, j * ft, no * ft), U[j]);
        const float* mp = M.const_data_ptr<float>();
        at::parallel_for(0, no * nb, 1, [&](int64_t begin, int64_t end) {
          std::vector<float> sink(static_cast<size_t>(4 * Co));  // one row per output outside the frame
          const float* m[16];
          float* out[4];
          for (int64_t r = begin; r < end; ++r) {
            const int64_t f = r / nb, ty = ty0 + r % nb;
            float* frame = yp + (b * To + t0 + f) * Ho * Wo * Co;
            for (int64_t tx = 0; tx < tw; ++tx) {
              const int64_t row = r * tw + tx;
              for (int64_t k = 0; k < 16; ++k) m[k] = mp + (k * no * ft + row) * Co;
              for (int64_t i = 0; i < 2; ++i)
                for (int64_t j = 0; j < 2; ++j) {
                  const int64_t yy = 2 * ty + i, xx = 2 * tx + j;
                  out[2 * i + j] =
                      (yy < Ho && xx < Wo) ? frame + (yy * Wo + xx) * Co : sink.data() + (2 * i + j) * Co;
                }
              output_tile(m, bp, out, Co);
            }
          }
        });
      }
    }
  return y;
}

}  // namespace

WinogradEverywhere::WinogradEverywhere() : previous_(g_everywhere.exchange(true)) {}
WinogradEverywhere::~WinogradEverywhere() { g_everywhere.store(previous_); }

int64_t winograd_conv3d_calls() { return g_calls.load(); }

int64_t set_winograd_chunk_bytes(int64_t bytes) { return g_chunk_bytes.exchange(bytes > 0 ? bytes : kChunkBytes); }

bool winograd_bias_ok(const at::Tensor& bias, const at::Tensor& weight) {
  return !bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == at::kFloat && bias.dim() == 1 &&
                             bias.size(0) == weight.size(0));
}

bool winograd_takes_transform(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding) {
  return takes_ncdhw_kernel(x, weight, padding[1]);
}

at::Tensor winograd_conv3d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           at::IntArrayRef padding, const at::Tensor& transformed) {
  if (!winograd_conv3d_supported(x, weight, {1, 1, 1}, padding))
    fail("winograd_conv3d: not a supported convolution (input {}, weight {}, padding {})", fmt::join(x.sizes(), "x"),
         fmt::join(weight.sizes(), "x"), fmt::join(padding, ", "));
  if (!winograd_bias_ok(bias, weight))
    fail("winograd_conv3d: the bias must be a CPU float32 vector of {} values", weight.size(0));
  g_calls.fetch_add(1);
  const int64_t pad = padding[1];
  const bool cl_out = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast3d;
  if (takes_ncdhw_kernel(x, weight, pad)) {
    at::Tensor y = conv_ncdhw(x, weight, bias, transformed);
    return cl_out ? y.contiguous(at::MemoryFormat::ChannelsLast3d) : y;
  }
  at::Tensor y = conv_channels_last(x, weight, bias, pad);
  return cl_out ? y : y.contiguous();
}

}  // namespace longvid
