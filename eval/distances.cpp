#include "eval/distances.h"

#include <Eigen/Dense>

#include <algorithm>
#include <complex>

#include "core/error.h"

namespace longvid::eval {

namespace {
using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMat to_eigen(const at::Tensor& t, const char* what) {
  if (t.dim() != 2 || t.size(0) != t.size(1)) fail("{} must be a square matrix, got {}", what, c10::str(t.sizes()));
  at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
  return Eigen::Map<const RowMat>(c.data_ptr<double>(), c.size(0), c.size(1));
}

// tfgan _symmetric_matrix_square_root: s, u, v = svd(mat); si = where(s < eps, s, sqrt(s));
// u diag(si) vᵀ.
Eigen::MatrixXd symmetric_sqrt_svd(const Eigen::MatrixXd& m, double eps) {
  Eigen::BDCSVD<Eigen::MatrixXd> svd(m, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::VectorXd s = svd.singularValues();
  for (Eigen::Index i = 0; i < s.size(); ++i) s[i] = s[i] < eps ? s[i] : std::sqrt(s[i]);
  return svd.matrixU() * s.asDiagonal() * svd.matrixV().transpose();
}
}  // namespace

const char* sqrt_method_name(SqrtMethod m) { return m == SqrtMethod::Sqrtm ? "sqrtm" : "svd"; }

SqrtMethod parse_sqrt_method(const std::string& s) {
  if (s == "sqrtm") return SqrtMethod::Sqrtm;
  if (s == "svd") return SqrtMethod::TfSvd;
  fail("unknown square-root method '{}' (known: sqrtm, svd)", s);
}

const std::vector<std::string>& protocol_names() {
  static const std::vector<std::string> n{"stylegan-v", "tf", "videogpt", "lvdm"};
  return n;
}

ProtocolSpec protocol_spec(const std::string& name) {
  ProtocolSpec p;
  p.name = name;
  if (name == "stylegan-v") {
    p.unbiased_cov = false;  // raw_cov / N − μ μᵀ
    p.sqrt = SqrtMethod::Sqrtm;
  } else if (name == "tf" || name == "videogpt" || name == "lvdm") {
    p.unbiased_cov = true;  // TF-GAN / np.cov: N − 1
    p.sqrt = SqrtMethod::TfSvd;
    p.svd_eps = 1e-10;
  } else {
    fail("unknown FVD protocol '{}' (known: stylegan-v, tf, videogpt, lvdm)", name);
  }
  return p;
}

double trace_sqrtm(const at::Tensor& a) {
  RowMat m = to_eigen(a, "sqrtm input");
  // scipy.linalg.sqrtm: Schur form T = Zᴴ A Z, then the upper (quasi-)triangular square root R of
  // T (Björck–Hammarling / Higham), sqrtm(A) = Z R Zᴴ. Only the trace is needed, and
  // tr(Z R Zᴴ) = tr(R) = Σ sqrt(λ_i), the principal square roots of T's eigenvalues (R's diagonal,
  // resp. its 2×2 blocks' eigenvalues). So we take the Schur form's eigenvalues (real Schur,
  // Hessenberg QR without Z: ~4× faster than a complex Schur at d = 400) and skip the off-diagonal
  // recurrence and the back-transformation. Complex pairs contribute conjugate roots; the real part
  // is kept as the reference keeps np.real(trace).
  Eigen::EigenSolver<Eigen::MatrixXd> es(Eigen::MatrixXd(m), /*computeEigenvectors=*/false);
  if (es.info() != Eigen::Success) fail("matrix square root: the Schur decomposition did not converge");
  std::complex<double> tr = 0;
  for (Eigen::Index i = 0; i < es.eigenvalues().size(); ++i) tr += std::sqrt(es.eigenvalues()[i]);
  return tr.real();
}

double trace_sqrt_product_svd(const at::Tensor& sigma1, const at::Tensor& sigma2, double eps) {
  Eigen::MatrixXd s1 = to_eigen(sigma1, "covariance"), s2 = to_eigen(sigma2, "covariance");
  if (s1.rows() != s2.rows()) fail("covariances of different sizes: {} vs {}", s1.rows(), s2.rows());
  Eigen::MatrixXd a = symmetric_sqrt_svd(s1, eps);
  Eigen::MatrixXd b = a * (s2 * a);
  return symmetric_sqrt_svd(b, eps).trace();
}

double frechet_distance(const at::Tensor& mu1, const at::Tensor& sigma1, const at::Tensor& mu2,
                        const at::Tensor& sigma2, SqrtMethod method, double svd_eps) {
  if (mu1.dim() != 1 || mu2.dim() != 1 || mu1.size(0) != mu2.size(0))
    fail("means of different dimensions: {} vs {}", c10::str(mu1.sizes()), c10::str(mu2.sizes()));
  const int64_t d = mu1.size(0);
  if (sigma1.sizes() != at::IntArrayRef{d, d} || sigma2.sizes() != at::IntArrayRef{d, d})
    fail("covariances must be [{}, {}]", d, d);
  at::Tensor m1 = mu1.to(at::kDouble), m2 = mu2.to(at::kDouble);
  at::Tensor s1 = sigma1.to(at::kDouble), s2 = sigma2.to(at::kDouble);
  const double mean_term = (m1 - m2).square().sum().item<double>();
  const double tr = (s1.trace() + s2.trace()).item<double>();
  double tr_sqrt;
  if (method == SqrtMethod::Sqrtm) {
    tr_sqrt = trace_sqrtm(at::matmul(s1, s2));  // scipy.linalg.sqrtm(sigma_gen @ sigma_real)
  } else {
    tr_sqrt = trace_sqrt_product_svd(s1, s2, svd_eps);
  }
  return mean_term + tr - 2.0 * tr_sqrt;
}

double fvd(const FeatureStats& real, const FeatureStats& fake, const ProtocolSpec& spec) {
  if (real.dim() != fake.dim())
    fail("real features have dimension {}, fake features {}: not from the same detector", real.dim(), fake.dim());
  if (real.count() < 2 || fake.count() < 2)
    fail("FVD needs at least 2 clips on each side (real {}, fake {})", real.count(), fake.count());
  return frechet_distance(fake.mean(), fake.covariance(spec.unbiased_cov), real.mean(),
                          real.covariance(spec.unbiased_cov), spec.sqrt, spec.svd_eps);
}

double mmd2_poly_unbiased(const at::Tensor& x_, const at::Tensor& y_) {
  if (x_.dim() != 2 || y_.dim() != 2 || x_.sizes() != y_.sizes())
    fail("KVD subsets must have the same shape [m, d], got {} and {}", c10::str(x_.sizes()), c10::str(y_.sizes()));
  const int64_t m = x_.size(0);
  const double n = static_cast<double>(x_.size(1));
  if (m < 2) fail("KVD needs at least 2 clips on each side, got {}", m);
  at::Tensor x = x_.to(at::kCPU, at::kDouble), y = y_.to(at::kCPU, at::kDouble);
  // StyleGAN-V compute_kid: a = (x xᵀ / n + 1)³ + (y yᵀ / n + 1)³, b = (x yᵀ / n + 1)³,
  // t = (Σa − Σdiag a) / (m − 1) − Σb · 2 / m, divided by m.
  at::Tensor a = (at::matmul(x, x.t()) / n + 1.0).pow(3) + (at::matmul(y, y.t()) / n + 1.0).pow(3);
  at::Tensor b = (at::matmul(x, y.t()) / n + 1.0).pow(3);
  const double md = static_cast<double>(m);
  const double t = (a.sum().item<double>() - a.diagonal().sum().item<double>()) / (md - 1.0) -
                   b.sum().item<double>() * 2.0 / md;
  return t / md;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<int64_t> subset_indices(int64_t n, int64_t m, uint64_t& state) {
  if (m > n || m < 0) fail("cannot draw {} of {} items without replacement", m, n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = i + static_cast<int64_t>(splitmix64(state) % static_cast<uint64_t>(n - i));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  p.resize(static_cast<size_t>(m));
  return p;
}

double kernel_distance(const at::Tensor& real, const at::Tensor& fake, const KernelOptions& opt) {
  if (real.dim() != 2 || fake.dim() != 2 || real.size(1) != fake.size(1))
    fail("KVD: real features {} and fake features {} differ in dimension", c10::str(real.sizes()),
         c10::str(fake.sizes()));
  if (opt.num_subsets < 1 || opt.max_subset_size < 2)
    fail("KVD needs num_subsets >= 1 and max_subset_size >= 2 (got {}, {})", opt.num_subsets, opt.max_subset_size);
  const int64_t m = std::min({real.size(0), fake.size(0), opt.max_subset_size});
  if (m < 2) fail("KVD needs at least 2 clips on each side (real {}, fake {})", real.size(0), fake.size(0));
  at::Tensor r = real.to(at::kCPU, at::kDouble), f = fake.to(at::kCPU, at::kDouble);
  uint64_t state = opt.seed;
  double total = 0.0;
  for (int64_t s = 0; s < opt.num_subsets; ++s) {
    // Order as the reference: the generated subset is drawn first, then the real one.
    auto fi = subset_indices(f.size(0), m, state);
    auto ri = subset_indices(r.size(0), m, state);
    at::Tensor x = f.index_select(0, at::tensor(fi, at::kLong));
    at::Tensor y = r.index_select(0, at::tensor(ri, at::kLong));
    total += mmd2_poly_unbiased(x, y);
  }
  return total / static_cast<double>(opt.num_subsets);
}

}  // namespace longvid::eval
