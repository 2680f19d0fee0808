#include "train/latent_cache.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/video_io.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace {
constexpr const char* kFormat = "longvid.latent_cache/1";
}

std::string ae_checksum(VideoAutoencoder& ae) {
  torch::NoGradGuard ng;
  double s1 = 0, s2 = 0;
  int64_t n = 0;
  for (const auto& kv : ae.module().named_parameters()) {
    at::Tensor p = kv.value().detach().to(at::kDouble);
    s1 += p.sum().item<double>();
    s2 += p.pow(2).sum().item<double>();
    n += p.numel();
  }
  return fmt::format("{}:{:.17g}:{:.17g}", n, s1, s2);
}

void LatentCache::build(const FolderClipOptions& o, VideoAutoencoder& ae, const std::filesystem::path& file,
                        int64_t window, int64_t overlap) {
  if (o.size < 1 || o.frame_stride < 1)
    fail("latent cache: frame size ({}) and stride ({}) must be positive", o.size, o.frame_stride);
  auto f = ae.factors();
  if (o.size % f[1] != 0)
    fail("latent cache: frame size {} is not a multiple of the autoencoder's spatial factor {}", o.size, f[1]);
  auto paths = list_training_videos(o.root);
  torch::NoGradGuard ng;
  ae.module().eval();
  StateDict sd;
  nlohmann::json names = nlohmann::json::array();
  Progress prog("latent cache", static_cast<int64_t>(paths.size()));
  int64_t frames_total = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    at::Tensor v = read_video(paths[i]);
    v = v.slice(0, 0, v.size(0), o.frame_stride);
    if (v.size(0) < f[0])
      fail("{}: {} frames (after stride {}), fewer than one latent frame ({} frames)", paths[i].string(), v.size(0),
           o.frame_stride, f[0]);
    v = resize_center_crop(v, o.size);  // uint8 [F, S, S, 3]
    frames_total += v.size(0);
    // Whole multiples of the temporal factor only: a padded last latent would hold repeated frames.
    const int64_t F = v.size(0) / f[0] * f[0];
    int64_t pos = 0;
    const int64_t chunk = 32;
    std::vector<at::Tensor> means, logvars;
    ae.encode_stream(
        [&]() -> torch::Tensor {
          if (pos >= F) return {};
          int64_t e = std::min(F, pos + chunk);
          at::Tensor c = v.slice(0, pos, e).permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat) / 127.5 - 1.0;
          pos = e;
          return c.contiguous();
        },
        window, overlap,
        [&](const DiagonalGaussian& g) {
          means.push_back(g.mean.to(at::kFloat).cpu());
          logvars.push_back(g.logvar.to(at::kFloat).cpu());
        });
    at::Tensor mean = at::cat(means, 2)[0].contiguous();
    at::Tensor std = at::exp(0.5 * at::cat(logvars, 2)[0]).contiguous();
    sd.set(fmt::format("mean.{}", i), mean);
    sd.set(fmt::format("std.{}", i), std);
    // Absolute, so that a text run started from another directory still finds the captions' truth
    // next to each video (train/text_data.cpp).
    names.push_back(std::filesystem::absolute(paths[i]).lexically_normal().string());
    prog.update(static_cast<int64_t>(i + 1));
  }
  prog.finish();
  nlohmann::json meta{{"videos", names},
                      {"size", o.size},
                      {"frame_stride", o.frame_stride},
                      {"frames", frames_total},
                      {"ae_config", nlohmann::json::parse(ae.config_json())},
                      {"ae_checksum", ae_checksum(ae)},
                      {"window", window},
                      {"overlap", overlap}};
  save_safetensors(file, sd, {{"longvid.format", kFormat}, {"longvid.latent_cache", meta.dump()}});
  spdlog::info("latent cache: {} videos, {} frames encoded -> {}", paths.size(), frames_total, file.string());
}

LatentCache::LatentCache(const std::filesystem::path& file) : path_(file) {
  StateDict sd = load_checkpoint(file);
  auto it = sd.metadata.find("longvid.format");
  if (it == sd.metadata.end() || it->second != kFormat)
    fail("{}: not a longvid latent cache (metadata longvid.format is not {})", file.string(), kFormat);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(sd.metadata.at("longvid.latent_cache"));
    size_ = meta.at("size").get<int64_t>();
    frame_stride_ = meta.at("frame_stride").get<int64_t>();
    ae_checksum_ = meta.at("ae_checksum").get<std::string>();
    if (meta.contains("videos")) videos_ = meta.at("videos").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    fail("{}: latent cache metadata is unreadable ({})", file.string(), e.what());
  }
  for (size_t i = 0;; ++i) {
    std::string m = fmt::format("mean.{}", i), s = fmt::format("std.{}", i);
    if (!sd.contains(m)) break;
    const at::Tensor& mt = sd.get(m);
    const at::Tensor& st = sd.get(s);
    if (mt.dim() != 4 || !mt.sizes().equals(st.sizes()) ||
        (!mean_.empty() && (mt.size(0) != mean_[0].size(0) || mt.size(2) != mean_[0].size(2) ||
                            mt.size(3) != mean_[0].size(3))))
      fail("{}: {} / {} have inconsistent shapes", file.string(), m, s);
    mean_.push_back(mt.to(at::kFloat).contiguous());
    std_.push_back(st.to(at::kFloat).contiguous());
  }
  if (mean_.empty()) fail("{}: the latent cache holds no videos", file.string());
  if (videos_.size() != mean_.size()) videos_.assign(mean_.size(), std::string());
}

std::pair<int64_t, int64_t> LatentCache::sample_window(int64_t k, int64_t latent_frames, uint64_t seed) const {
  const int64_t vi = sample_video_index(seed, k, num_videos());
  const int64_t n = mean_[static_cast<size_t>(vi)].size(1);
  if (n < latent_frames)
    fail("{}: video {} has {} latent frames, a training clip needs {}", path_.string(), vi, n, latent_frames);
  return {vi, sample_clip_start(seed, k, n - latent_frames + 1)};
}

void LatentCache::check_matches(VideoAutoencoder& ae, int64_t size, int64_t frame_stride) const {
  if (size != size_ || frame_stride != frame_stride_)
    fail("{}: latent cache made at size {} / frame stride {}, but training asks for {} / {} (delete it to rebuild)",
         path_.string(), size_, frame_stride_, size, frame_stride);
  if (ae_checksum(ae) != ae_checksum_)
    fail("{}: latent cache made with another autoencoder (its weights differ; delete the cache to rebuild it)",
         path_.string());
  if (mean_[0].size(0) != ae.latent_channels())
    fail("{}: latent cache has {} channels, the autoencoder {}", path_.string(), mean_[0].size(0), ae.latent_channels());
}

int64_t LatentCache::min_latent_frames() const {
  int64_t m = std::numeric_limits<int64_t>::max();
  for (const auto& t : mean_) m = std::min(m, t.size(1));
  return m;
}

std::pair<at::Tensor, at::Tensor> LatentCache::samples(int64_t k0, int64_t n, int64_t latent_frames,
                                                       uint64_t seed) const {
  const int64_t N = num_videos();
  std::vector<at::Tensor> ms, ss;
  for (int64_t k = k0; k < k0 + n; ++k) {
    (void)N;
    const auto [vi, start] = sample_window(k, latent_frames, seed);
    const at::Tensor& m = mean_[vi];
    ms.push_back(m.slice(1, start, start + latent_frames));
    ss.push_back(std_[vi].slice(1, start, start + latent_frames));
  }
  return {at::stack(ms).contiguous(), at::stack(ss).contiguous()};
}

std::string LatentCache::describe() const {
  return fmt::format("latent cache {} ({} videos, {} latent channels, {}x{}, >= {} latent frames each)",
                     path_.string(), num_videos(), mean_[0].size(0), mean_[0].size(2), mean_[0].size(3),
                     min_latent_frames());
}

}  // namespace longvid
