// Streaming feature statistics for FVD / KVD, in float64 as StyleGAN-V's FeatureStats keeps them:
// count, sum of features and sum of outer products x xᵀ. Memory is O(D²) whatever the number of
// clips. For KVD the features themselves are needed (the kernel MMD is not a function of moments):
// FeatureStats keeps ALL of them in float64 when asked (keep_features), N × D × 8 bytes (2048 × 400:
// 6.5 MB), so that KVD is computed on exactly the set the reference would use — no reservoir.
//
// Saved as `.stats` files: safetensors with tensors `count` (I64 [1]), `sum` (F64 [D]), `outer`
// (F64 [D, D]) and optionally `features` (F64 [N, D]); metadata `format` = "longvid-fvd-stats",
// `version`, `protocol`, `detector`, clip options, clip ranges (see the fvd CLI).
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace longvid::eval {

class FeatureStats {
 public:
  FeatureStats() = default;
  FeatureStats(int64_t dim, bool keep_features);

  // features: [N, dim], any floating dtype, any device; accumulated in float64 on the CPU.
  void add(const at::Tensor& features);
  // Exact merge of a shard: counts, sums and outer sums add, kept features are concatenated (this
  // shard's first). Throws longvid::Error on a different feature dimension or protocol, or when only
  // one side keeps features. `name`/`other_name` name the two sides in errors.
  void merge(const FeatureStats& other, const std::string& name = "stats",
             const std::string& other_name = "shard");

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  bool keeps_features() const { return keep_; }
  const at::Tensor& sum() const { return sum_; }      // float64 [D]
  const at::Tensor& outer() const { return outer_; }  // float64 [D, D]
  at::Tensor features() const;                        // float64 [count, D]; throws if not kept
  at::Tensor mean() const;                            // float64 [D]
  // (Σ x xᵀ − N μ μᵀ) / N (StyleGAN-V) or / (N − 1) (np.cov, TF-GAN) when `unbiased`.
  at::Tensor covariance(bool unbiased) const;

  // protocol, detector, clip options, clip ranges, source ... (free-form strings).
  std::map<std::string, std::string> metadata;

  void save(const std::filesystem::path& path) const;  // atomic
  static FeatureStats load(const std::filesystem::path& path);

 private:
  int64_t dim_ = 0, count_ = 0;
  bool keep_ = false;
  at::Tensor sum_, outer_;
  std::vector<at::Tensor> chunks_;  // kept features, float64 [n_i, D]
};

}  // namespace longvid::eval
