#include "eval/feature_stats.h"

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid::eval {

namespace {
constexpr const char* kFormat = "longvid-fvd-stats";
constexpr const char* kVersion = "1";
}  // namespace

FeatureStats::FeatureStats(int64_t dim, bool keep_features) : dim_(dim), keep_(keep_features) {
  if (dim <= 0) fail("feature statistics need a positive feature dimension, got {}", dim);
  sum_ = at::zeros({dim}, at::kDouble);
  outer_ = at::zeros({dim, dim}, at::kDouble);
}

void FeatureStats::add(const at::Tensor& features) {
  if (dim_ <= 0) fail("feature statistics were not initialised with a dimension");
  if (features.dim() != 2 || features.size(1) != dim_)
    fail("features of shape {} do not fit statistics of dimension {} (expected [N, {}])",
         c10::str(features.sizes()), dim_, dim_);
  if (!features.is_floating_point()) fail("features must be floating point, got {}", features.dtype().name());
  at::Tensor x = features.to(at::kCPU, at::kDouble).contiguous();
  if (!at::isfinite(x).all().item<bool>()) fail("features contain NaN or infinity");
  sum_.add_(x.sum(0));
  outer_.addmm_(x.t(), x);  // Σ x xᵀ, as StyleGAN-V's raw_cov += x64.T @ x64
  count_ += x.size(0);
  if (keep_ && x.size(0) > 0) chunks_.push_back(x.clone());
}

void FeatureStats::merge(const FeatureStats& o, const std::string& name, const std::string& other_name) {
  if (o.dim_ != dim_)
    fail("cannot merge {} (feature dimension {}) with {} (feature dimension {})", name, dim_, other_name, o.dim_);
  auto key = [](const FeatureStats& s, const char* k) {
    auto it = s.metadata.find(k);
    return it == s.metadata.end() ? std::string() : it->second;
  };
  for (const char* k : {"protocol", "clip_length", "clip_stride"}) {
    if (key(*this, k) != key(o, k))
      fail("cannot merge {} ({} '{}') with {} ({} '{}'): shards must share protocol and clip options", name, k,
           key(*this, k), other_name, k, key(o, k));
  }
  if (keep_ != o.keep_)
    fail_hint("compute every shard with --kvd (or none)",
              "cannot merge {} ({} features for KVD) with {} ({} features)", name, keep_ ? "keeps" : "has no",
              other_name, o.keep_ ? "keeps" : "has no");
  sum_.add_(o.sum_);
  outer_.add_(o.outer_);
  count_ += o.count_;
  for (const auto& c : o.chunks_) chunks_.push_back(c);
}

at::Tensor FeatureStats::features() const {
  if (!keep_)
    fail_hint("compute the statistics with --kvd", "these statistics do not keep the features that KVD needs");
  if (chunks_.empty()) return at::zeros({0, dim_}, at::kDouble);
  return at::cat(chunks_, 0);
}

at::Tensor FeatureStats::mean() const {
  if (count_ < 1) fail("empty feature statistics (0 clips)");
  return sum_ / static_cast<double>(count_);
}

at::Tensor FeatureStats::covariance(bool unbiased) const {
  if (count_ < 2) fail("a covariance needs at least 2 clips, these statistics have {}", count_);
  at::Tensor mu = mean();
  const double n = static_cast<double>(count_);
  // StyleGAN-V: raw_cov / N − μ μᵀ. np.cov: Σ (x − μ)(x − μ)ᵀ / (N − 1) = (raw − N μ μᵀ) / (N − 1).
  at::Tensor c = outer_ / n - at::outer(mu, mu);
  if (unbiased) c = c * (n / (n - 1.0));
  return c;
}

void FeatureStats::save(const std::filesystem::path& path) const {
  if (dim_ <= 0) fail("{}: refusing to save uninitialised feature statistics", path.string());
  StateDict sd;
  sd.set("count", at::full({1}, count_, at::kLong));
  sd.set("sum", sum_);
  sd.set("outer", outer_);
  if (keep_) sd.set("features", features());
  std::map<std::string, std::string> md = metadata;
  md["format"] = kFormat;
  md["version"] = kVersion;
  md["feature_dim"] = std::to_string(dim_);
  md["count"] = std::to_string(count_);
  save_safetensors(path, sd, md);
}

FeatureStats FeatureStats::load(const std::filesystem::path& path) {
  StateDict sd = load_checkpoint(path);
  const std::string p = path.string();
  if (sd.format != "safetensors" || sd.metadata.count("format") == 0 || sd.metadata.at("format") != kFormat)
    fail_hint("make one with `longvid fvd stats INPUT -o X.stats`", "{}: not a longvid .stats file", p);
  for (const char* k : {"count", "sum", "outer"})
    if (!sd.contains(k)) fail("{}: damaged .stats file: no '{}' tensor", p, k);
  at::Tensor cnt = sd.get("count"), sum = sd.get("sum"), outer = sd.get("outer");
  if (cnt.numel() != 1 || cnt.scalar_type() != at::kLong) fail("{}: damaged .stats file: bad 'count'", p);
  if (sum.dim() != 1 || sum.scalar_type() != at::kDouble) fail("{}: damaged .stats file: 'sum' must be F64 [D]", p);
  const int64_t d = sum.size(0);
  if (outer.scalar_type() != at::kDouble || outer.sizes() != at::IntArrayRef{d, d})
    fail("{}: damaged .stats file: 'outer' must be F64 [{}, {}]", p, d, d);
  FeatureStats s(d, sd.contains("features"));
  s.count_ = cnt.item<int64_t>();
  if (s.count_ < 0) fail("{}: damaged .stats file: negative count", p);
  s.sum_.copy_(sum);
  s.outer_.copy_(outer);
  if (s.keep_) {
    at::Tensor f = sd.get("features");
    if (f.scalar_type() != at::kDouble || f.dim() != 2 || f.size(1) != d || f.size(0) != s.count_)
      fail("{}: damaged .stats file: 'features' must be F64 [{}, {}]", p, s.count_, d);
    if (s.count_ > 0) s.chunks_.push_back(f.clone());
  }
  s.metadata = sd.metadata;
  for (const char* k : {"format", "version", "feature_dim", "count"}) s.metadata.erase(k);
  return s;
}

}  // namespace longvid::eval
