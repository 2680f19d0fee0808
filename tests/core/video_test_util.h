// Helpers shared by the video tests: synthetic clips, PSNR, running ffprobe.
#pragma once
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include <torch/torch.h>

#include "core/rng.h"

namespace longvid::test {

// T frames of H x W: moving diagonal gradients, a bright square moving right, a dark disc moving
// down. Smooth enough for lossy codecs, different in every frame.
inline at::Tensor synthetic_clip(int64_t T, int64_t H, int64_t W) {
  auto t = torch::empty({T, H, W, 3}, torch::kUInt8);
  auto a = t.accessor<uint8_t, 4>();
  // Soft-edged shapes (about 2 px of anti-aliasing), like rendered or generated video.
  auto cover = [](double signed_dist) { return std::clamp(0.5 - signed_dist / 2.0, 0.0, 1.0); };
  for (int64_t f = 0; f < T; ++f)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double r = 128 + 100 * std::sin(0.05 * (x + 2 * f) + 0.03 * y);
        double g = 128 + 100 * std::cos(0.04 * (y - f) + 0.02 * x);
        double b = 40 + 180.0 * (x + y) / double(W + H);
        // a bright rectangle moving right
        double sx = double((f * 2) % W), sy = H / 4.0, rw = W / 6.0, rh = H / 5.0;
        double dx = std::max(sx - x, x - (sx + rw)), dy = std::max(sy - y, y - (sy + rh));
        double k = cover(std::max(dx, dy));
        r = r * (1 - k) + 250 * k, g = g * (1 - k) + 230 * k, b = b * (1 - k) + 60 * k;
        // a dark disc moving down
        double cx = W * 0.6, cy = double((f * 3) % H);
        k = cover(std::hypot(x - cx, y - cy) - H / 8.0);
        r = r * (1 - k) + 20 * k, g = g * (1 - k) + 30 * k, b = b * (1 - k) + 90 * k;
        a[f][y][x][0] = static_cast<uint8_t>(std::lround(std::clamp(r, 0.0, 255.0)));
        a[f][y][x][1] = static_cast<uint8_t>(std::lround(std::clamp(g, 0.0, 255.0)));
        a[f][y][x][2] = static_cast<uint8_t>(std::lround(std::clamp(b, 0.0, 255.0)));
      }
  return t;
}

inline at::Tensor random_clip(int64_t T, int64_t H, int64_t W, uint64_t seed) {
  return torch::randint(0, 256, {T, H, W, 3}, make_generator(seed), torch::kUInt8);
}

inline double psnr(const at::Tensor& a, const at::Tensor& b) {
  auto mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>();
  return mse == 0 ? 1e9 : 10 * std::log10(255.0 * 255.0 / mse);
}

// Runs a shell command, returns its stdout (stderr discarded unless redirected by the caller).
inline std::string shell(const std::string& cmd, int* exit_code = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (exit_code) *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// "key=value" from ffprobe's default=nw=1 output; "" if absent.
inline std::string probe_field(const std::string& out, const std::string& key) {
  size_t pos = 0;
  while ((pos = out.find(key + "=", pos)) != std::string::npos) {
    if (pos == 0 || out[pos - 1] == '\n') {
      size_t end = out.find('\n', pos);
      return out.substr(pos + key.size() + 1, end == std::string::npos ? std::string::npos : end - pos - key.size() - 1);
    }
    pos += key.size();
  }
  return "";
}

// ffprobe of the first video stream, counting packets (cheap) or decoded frames (exact).
inline std::string ffprobe(const std::string& path, bool count_frames = false) {
  return shell("ffprobe -v error -select_streams v:0 " +
               std::string(count_frames ? "-count_frames " : "-count_packets ") +
               "-show_entries stream=codec_name,pix_fmt,width,height,nb_frames,nb_read_packets,nb_read_frames,"
               "r_frame_rate -of default=nw=1 " + quote(path) + " 2>&1");
}

}  // namespace longvid::test
