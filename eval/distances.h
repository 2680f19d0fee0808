// FVD and KVD on feature statistics, reproducing the reference implementations' numerics.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "eval/feature_stats.h"

namespace longvid::eval {

enum class SqrtMethod {
  // trace of scipy.linalg.sqrtm(Σ1 Σ2) (Schur method; see trace_sqrtm), real part, no eps
  // (StyleGAN-V's frechet distance).
  Sqrtm,
  // TF-GAN trace_sqrt_product: A = sqrt(Σ1) by SVD, trace(sqrt(A Σ2 A)) by SVD; singular values
  // below eps are kept as they are instead of square-rooted (tfgan's _symmetric_matrix_square_root
  // quirk: `where(s < eps, s, sqrt(s))`).
  TfSvd,
};

const char* sqrt_method_name(SqrtMethod m);
SqrtMethod parse_sqrt_method(const std::string& s);  // "sqrtm" | "svd"

// What a named protocol fixes at the statistics level (its preprocessing and detector are in
// eval/detector.h).
struct ProtocolSpec {
  std::string name;
  bool unbiased_cov = false;  // covariance / (N − 1) instead of / N
  SqrtMethod sqrt = SqrtMethod::Sqrtm;
  double svd_eps = 1e-10;     // TfSvd only
};
// "stylegan-v": /N, sqrtm. "tf": /(N−1), SVD (eps 1e-10). "videogpt", "lvdm": np.cov /(N−1), SVD
// (eps 1e-10). Throws longvid::Error naming the known protocols otherwise.
ProtocolSpec protocol_spec(const std::string& name);
const std::vector<std::string>& protocol_names();

// ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 sqrt(Σ1 Σ2)); float64 inputs [D], [D, D].
double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2, SqrtMethod method, double svd_eps = 1e-10);
// Real part of trace(sqrtm(A)) for a general real square matrix: Σ sqrt(λ_i) over the eigenvalues of
// A's Schur form (principal branch), which is the trace of scipy's Schur-method sqrtm.
double trace_sqrtm(const at::Tensor& a);
// tfgan trace_sqrt_product(Σ1, Σ2).
double trace_sqrt_product_svd(const at::Tensor& sigma1, const at::Tensor& sigma2, double eps = 1e-10);

// FVD of `fake` against `real` under `spec` (fake first as StyleGAN-V calls it; the value is
// symmetric up to rounding). Throws on different dimensions or fewer than 2 clips.
double fvd(const FeatureStats& real, const FeatureStats& fake, const ProtocolSpec& spec);

// Unbiased MMD² with the polynomial kernel k(a, b) = (a·b / d + 1)³ over two equally sized sets
// x, y [m, d] (float64).
double mmd2_poly_unbiased(const at::Tensor& x, const at::Tensor& y);

struct KernelOptions {
  int64_t num_subsets = 100;       // StyleGAN-V kernel_distance defaults
  int64_t max_subset_size = 1000;
  uint64_t seed = 0;
};
// StyleGAN-V's compute_kid: m = min(n_fake, n_real, max_subset_size); average over num_subsets of
// the unbiased MMD² between m fake and m real features drawn without replacement. The reference
// draws with np.random.choice; we draw with subset_indices() below (a documented, seeded
// splitmix64 partial Fisher–Yates shuffle that tests/data/gen reproduces in Python). Computed in
// float64; StyleGAN-V keeps captured features as float32 and its matmuls run in float32, so its
// values can differ in the 6th–7th digit. Returned unscaled (StyleGAN-V reports ×1000).
double kernel_distance(const at::Tensor& real, const at::Tensor& fake, const KernelOptions& opt);

// splitmix64, the integer hash every seeded choice in eval/ uses.
uint64_t splitmix64(uint64_t& state);
// First m entries of a partial Fisher–Yates shuffle of 0..n-1 driven by splitmix64(state):
// for i < m: j = i + next() % (n − i); swap(p[i], p[j]).
std::vector<int64_t> subset_indices(int64_t n, int64_t m, uint64_t& state);

}  // namespace longvid::eval
