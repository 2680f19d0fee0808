#!/usr/bin/env python3
"""Reference values for the FVD / KVD parity tests (tests/eval/test_fvd_distances.cpp).

Features are not stored: both this script and the C++ test generate them from a seed with the
splitmix64 integer hash (synthetic_features below / in the test), d = 400, n = 2048. The expected
values are computed with the reference numerics:
  - Fréchet distance, StyleGAN-V style: float64 stats, covariance raw_cov / N - mu muᵀ,
    scipy.linalg.sqrtm(sigma_gen @ sigma_real), real part of the trace;
  - Fréchet distance, TF-GAN style: np.cov (N - 1), trace_sqrt_product with SVD square roots
    (where(s < eps, s, sqrt(s)), eps 1e-10), as tensorflow_gan's classifier_metrics;
  - KVD: unbiased MMD² with sklearn.metrics.pairwise.polynomial_kernel(degree=3, gamma=1/d,
    coef0=1), on the full sets and averaged over subsets drawn with the same splitmix64 partial
    Fisher–Yates shuffle as eval/distances.cpp (StyleGAN-V draws them with np.random.choice).
Also writes tiny uint8 [N, T, H, W, 3] arrays as .npy / .npz (stored) / .npz (deflate).

Usage: python gen_fvd_reference.py OUT_DIR   (tests/data/eval)
Needs numpy, scipy, scikit-learn, safetensors.
"""
import sys, os, json
import numpy as np
import scipy.linalg
from sklearn.metrics.pairwise import polynomial_kernel
from safetensors.numpy import save_file

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):  # splitmix64 finaliser on numpy uint64 (wrapping arithmetic)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(seed, count):
    # u_k = mix(seed + (k + 1) * GOLDEN) >> 11, times 2^-53, k = 0..count-1
    k = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = mix(np.uint64(seed) + k * np.uint64(GOLDEN))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def synthetic_features(seed, n, d, scale, shift):
    u = uniform(seed, n * d).reshape(n, d)
    j = np.arange(d)
    return scale * u + 0.5 * u[:, (j + 1) % d] + shift * (j % 7).astype(np.float64)


class SplitMix:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + GOLDEN) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def subset_indices(n, m, rng):
    p = list(range(n))
    for i in range(m):
        j = i + rng.next() % (n - i)
        p[i], p[j] = p[j], p[i]
    return p[:m]


def sym_sqrt_svd(mat, eps=1e-10):
    u, s, vh = np.linalg.svd(mat)  # tf.linalg.svd returns (s, u, v) with v = vhᵀ
    si = np.where(s < eps, s, np.sqrt(s))
    return u @ np.diag(si) @ vh


def trace_sqrt_product(sigma, sigma_v):
    a = sym_sqrt_svd(sigma)
    return np.trace(sym_sqrt_svd(a @ (sigma_v @ a)))


def mmd2(x, y):
    d = x.shape[1]
    m = x.shape[0]
    kxx = polynomial_kernel(x, x, degree=3, gamma=1.0 / d, coef0=1)
    kyy = polynomial_kernel(y, y, degree=3, gamma=1.0 / d, coef0=1)
    kxy = polynomial_kernel(x, y, degree=3, gamma=1.0 / d, coef0=1)
    return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.sum() / (m * m)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    n, d = 2048, 400
    seed_real, seed_fake = 1234, 5678
    real = synthetic_features(seed_real, n, d, 2.0, 0.0)
    fake = synthetic_features(seed_fake, n, d, 2.2, 0.1)

    def stylegan_stats(x):
        mu = x.sum(0) / len(x)
        return mu, x.T @ x / len(x) - np.outer(mu, mu)

    mg, sg = stylegan_stats(fake)
    mr, sr = stylegan_stats(real)
    s = scipy.linalg.sqrtm(sg @ sr)
    fd_sqrtm_n = float(np.real(np.square(mg - mr).sum() + np.trace(sg + sr - s * 2)))

    mg1, sg1 = fake.mean(0), np.cov(fake, rowvar=False)
    mr1, sr1 = real.mean(0), np.cov(real, rowvar=False)
    fd_svd_n1 = float(np.trace(sg1 + sr1) - 2 * trace_sqrt_product(sg1, sr1) + np.square(mg1 - mr1).sum())
    fd_sqrtm_n1 = float(np.real(np.square(mg1 - mr1).sum() + np.trace(sg1 + sr1 - 2 * scipy.linalg.sqrtm(sg1 @ sr1))))
    fd_svd_n = float(np.trace(sg + sr) - 2 * trace_sqrt_product(sg, sr) + np.square(mg - mr).sum())

    kvd_full = float(mmd2(fake, real))
    num_subsets, subset_size, kseed = 4, 500, 99
    rng = SplitMix(kseed)
    t = 0.0
    for _ in range(num_subsets):
        fi = subset_indices(n, subset_size, rng)  # generated subset first, as StyleGAN-V
        ri = subset_indices(n, subset_size, rng)
        t += mmd2(fake[fi], real[ri])
    kvd_sub = t / num_subsets

    vals = dict(fd_sqrtm_n=fd_sqrtm_n, fd_svd_n1=fd_svd_n1, fd_sqrtm_n1=fd_sqrtm_n1, fd_svd_n=fd_svd_n,
                kvd_full=kvd_full, kvd_sub=kvd_sub)
    tensors = {k: np.array([v], dtype=np.float64) for k, v in vals.items()}
    # A few feature values so the C++ generator can be checked directly.
    tensors["real_head"] = real[:2, :8].copy()
    tensors["fake_head"] = fake[:2, :8].copy()
    meta = dict(n=str(n), d=str(d), seed_real=str(seed_real), seed_fake=str(seed_fake),
                kvd_num_subsets=str(num_subsets), kvd_subset_size=str(subset_size), kvd_seed=str(kseed),
                scipy=scipy.__version__, numpy=np.__version__)
    save_file(tensors, os.path.join(out, "fvd_reference.safetensors"), metadata=meta)
    print(json.dumps(vals, indent=1))

    # uint8 clips: value = (7 i + 13 t + 3 h + 5 w + 11 c) mod 256, shape [3, 20, 8, 6, 3]
    i, tt, h, w, c = np.meshgrid(*[np.arange(s) for s in (3, 20, 8, 6, 3)], indexing="ij")
    arr = ((7 * i + 13 * tt + 3 * h + 5 * w + 11 * c) % 256).astype(np.uint8)
    np.save(os.path.join(out, "clips.npy"), arr)
    np.savez(os.path.join(out, "clips.npz"), clips=arr, other=np.zeros((2, 2), np.float32))
    np.savez_compressed(os.path.join(out, "clips_deflate.npz"), clips=arr)


if __name__ == "__main__":
    main()
