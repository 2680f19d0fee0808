// FVD/KVD feature detectors: a video network mapping uint8 clips to one feature vector per clip,
// preceded by the named protocol's preprocessing (resize / crop / rescale exactly as the reference
// implementation does). Implementations: the StyleGAN-V TorchScript I3D (torch::jit) and the
// native InceptionI3d (piergiaj layout, backbones/inception_i3d.h).
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>

namespace longvid::eval {

class VideoDetector {
 public:
  virtual ~VideoDetector() = default;
  // Human-readable description for reports ("stylegan-v TorchScript I3D (path)", ...).
  virtual std::string describe() const = 0;
  virtual int64_t feature_dim() const = 0;
  // clips: uint8 [N, T, H, W, 3] on the CPU (RGB). Returns float64 [N, feature_dim] on the CPU.
  // Applies the protocol's preprocessing first. Throws longvid::Error on bad shapes.
  virtual at::Tensor features(const at::Tensor& clips_uint8) = 0;
};

// The preprocessing of the I3D protocols: uint8 [N, T, H, W, 3] -> float [N, 3, T, r, r] in [-1, 1].
// "videogpt": shorter side to r (bilinear) + centre crop; "lvdm" and "tf": stretch to r² (bilinear).
at::Tensor i3d_preprocess(const at::Tensor& clips_uint8, const std::string& protocol, int64_t resolution = 224);

// Protocol names: "stylegan-v", "tf", "videogpt", "lvdm". Throws longvid::Error for an unknown name
// or a detector file that does not fit the protocol; a missing file gives a message naming the
// file and where the reference projects obtain it.
std::unique_ptr<VideoDetector> load_detector(const std::filesystem::path& path, const std::string& protocol,
                                             c10::Device device = c10::Device(c10::kCPU));

}  // namespace longvid::eval
