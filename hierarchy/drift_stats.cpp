#include "hierarchy/drift_stats.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"

namespace longvid {

DriftStats::DriftStats(int64_t window_frames, int64_t temporal_factor)
    : window_(window_frames), factor_(temporal_factor) {
  if (window_ < 1) fail("--stats-window {}: must be at least 1 frame", window_);
}

DriftStats::Acc& DriftStats::at(int64_t frame) {
  size_t w = static_cast<size_t>(frame / window_);
  if (acc_.size() <= w) acc_.resize(w + 1);
  return acc_[w];
}

void DriftStats::on_latents(const at::Tensor& z) {
  auto zd = z.to(at::kCPU, at::kDouble);
  for (int64_t i = 0; i < zd.size(2); ++i, ++latents_seen_) {
    auto f = zd.select(2, i);
    auto& a = at(latents_seen_ * factor_);
    a.lat_n += static_cast<double>(f.numel());
    a.lat_sum += f.sum().item<double>();
    a.lat_sq += f.square().sum().item<double>();
  }
}

void DriftStats::on_frames(const at::Tensor& u8) {
  auto x = u8.to(at::kFloat).div(255.0);  // [n, H, W, 3]
  for (int64_t i = 0; i < x.size(0); ++i, ++frames_seen_) {
    auto f = x[i];
    auto& a = at(frames_seen_);
    a.px_n += static_cast<double>(f.numel());
    a.px_sum += f.sum().item<double>();
    a.px_sq += f.square().sum().item<double>();
    auto y = f.select(2, 0) * 0.299 + f.select(2, 1) * 0.587 + f.select(2, 2) * 0.114;  // [H, W]
    if (y.size(0) >= 3 && y.size(1) >= 3) {
      auto c = y.slice(0, 1, -1).slice(1, 1, -1);
      auto lap = c * 4 - y.slice(0, 0, -2).slice(1, 1, -1) - y.slice(0, 2).slice(1, 1, -1) -
                 y.slice(0, 1, -1).slice(1, 0, -2) - y.slice(0, 1, -1).slice(1, 2);
      a.hf_sum += lap.square().mean().item<double>();
    }
    a.frames += 1;
    if (prev_.defined()) {
      a.td_sum += (f - prev_).abs().mean().item<double>();
      a.td_n += 1;
    }
    prev_ = f.clone();
  }
}

std::string DriftStats::to_json(const std::string& extra_json) const {
  nlohmann::json j;
  j["window_frames"] = window_;
  j["plan"] = nlohmann::json::parse(extra_json);
  j["frames"] = frames_seen_;
  j["latents"] = latents_seen_;
  auto windows = nlohmann::json::array();
  auto stat = [](double n, double s, double q, bool want_std) -> nlohmann::json {
    if (n <= 0) return nullptr;
    double m = s / n;
    return want_std ? std::sqrt(std::max(0.0, q / n - m * m)) : m;
  };
  for (size_t w = 0; w < acc_.size(); ++w) {
    const auto& a = acc_[w];
    nlohmann::json e;
    e["start"] = static_cast<int64_t>(w) * window_;
    e["end"] = std::min<int64_t>((static_cast<int64_t>(w) + 1) * window_, std::max(frames_seen_, latents_seen_ * factor_));
    e["latent_mean"] = stat(a.lat_n, a.lat_sum, a.lat_sq, false);
    e["latent_std"] = stat(a.lat_n, a.lat_sum, a.lat_sq, true);
    e["frame_mean"] = stat(a.px_n, a.px_sum, a.px_sq, false);
    e["frame_std"] = stat(a.px_n, a.px_sum, a.px_sq, true);
    e["hf_energy"] = a.frames > 0 ? nlohmann::json(a.hf_sum / a.frames) : nlohmann::json(nullptr);
    e["temporal_diff"] = a.td_n > 0 ? nlohmann::json(a.td_sum / a.td_n) : nlohmann::json(nullptr);
    windows.push_back(e);
  }
  j["windows"] = windows;
  return j.dump(1);
}

void DriftStats::write(const std::filesystem::path& path, const std::string& extra_json) const {
  write_text_atomically(path, to_json(extra_json) + "\n");
}

}  // namespace longvid
