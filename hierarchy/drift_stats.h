// Drift statistics of a long video, per window of frames, so that degradation over time can be
// plotted (`longvid generate --stats stats.json`):
//   latent_mean, latent_std   over the latent frames whose frames start in the window
//   frame_mean, frame_std     of the decoded RGB values (0..1)
//   hf_energy                 mean squared 4-neighbour Laplacian of the luma (0..1), per pixel:
//                             falls when frames blur, rises with noise and artefacts
//   temporal_diff             mean |frame_t − frame_{t−1}| (0..1): motion / flicker
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <vector>

namespace longvid {

class DriftStats {
 public:
  DriftStats(int64_t window_frames, int64_t temporal_factor);
  void on_latents(const at::Tensor& z);  // [1, C, n, h, w], in order
  void on_frames(const at::Tensor& u8);  // [n, H, W, 3] uint8, in order
  // JSON: {"window_frames", "plan": <extra>, "windows": [{start, end, latent_mean, ...}, ...]}
  std::string to_json(const std::string& extra_json = "null") const;
  void write(const std::filesystem::path& path, const std::string& extra_json = "null") const;  // atomic

 private:
  struct Acc {
    double lat_n = 0, lat_sum = 0, lat_sq = 0;
    double px_n = 0, px_sum = 0, px_sq = 0;
    double hf_sum = 0, frames = 0;
    double td_sum = 0, td_n = 0;
  };
  Acc& at(int64_t frame);
  int64_t window_, factor_;
  int64_t latents_seen_ = 0, frames_seen_ = 0;
  at::Tensor prev_;  // last frame (float luma-free RGB), for temporal_diff
  std::vector<Acc> acc_;
};

}  // namespace longvid
