// InceptionI3d: the Inception-v1 I3D of piergiaj/pytorch-i3d (pytorch_i3d.py), in the variant that
// VideoGPT (videogpt/fvd/pytorch_i3d.py) and LVDM (scripts/fvd_utils/pytorch_i3d.py) use as their FVD
// detector with `i3d_pretrained_400.pt`.
//
// Module names equal that state dict's keys: Conv3d_1a_7x7.conv3d.weight, Conv3d_1a_7x7.bn.running_mean,
// Mixed_3b.b1b.conv3d.weight, ..., logits.conv3d.weight / .bias. Inference only (eval mode: BatchNorm
// uses running stats, dropout is identity).
//
// Reference quirks reproduced:
//  - Unit3D and MaxPool3dSamePadding pad dynamically, TF 'SAME' style: pad = max(k - s, 0) when the
//    size is divisible by the stride, else max(k - size % s, 0); front = pad / 2, back = the rest.
//    Max pooling pads with zeros (F.pad), not -inf.
//  - BatchNorm eps: VideoGPT/LVDM construct BatchNorm3d(eps=1e-5, momentum=0.001); the original
//    piergiaj file uses eps=0.001. i3d_pretrained_400.pt is evaluated with the VideoGPT/LVDM code,
//    so the default is 1e-5 (configurable).
//  - Logits: AvgPool3d([2, 7, 7], stride 1) on Mixed_5c, a 1x1x1 conv with bias, squeeze of H and W
//    (needs a 7x7 spatial map, i.e. inputs of 193..224 pixels), then mean over time -> [B, classes].
#pragma once
#include <torch/torch.h>

#include <array>
#include <map>
#include <string>

namespace longvid {

class StateDict;  // core/checkpoint.h

// TF-'SAME' padding amount for one dimension (pytorch_i3d.py compute_pad).
int64_t i3d_same_pad(int64_t size, int64_t kernel, int64_t stride);

class I3dUnit3DImpl : public torch::nn::Module {
 public:
  I3dUnit3DImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride = {1, 1, 1},
                bool relu = true, bool batch_norm = true, bool bias = false, double bn_eps = 1e-5);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv3d conv3d{nullptr};
  torch::nn::BatchNorm3d bn{nullptr};

 private:
  std::array<int64_t, 3> kernel_, stride_;
  bool relu_;
};
TORCH_MODULE(I3dUnit3D);

// MaxPool3dSamePadding (zero padding, then max pool).
at::Tensor i3d_max_pool_same(const at::Tensor& x, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride);

class I3dInceptionModuleImpl : public torch::nn::Module {
 public:
  I3dInceptionModuleImpl(int64_t in, std::array<int64_t, 6> out, double bn_eps);
  at::Tensor forward(const at::Tensor& x);
  I3dUnit3D b0{nullptr}, b1a{nullptr}, b1b{nullptr}, b2a{nullptr}, b2b{nullptr}, b3b{nullptr};
};
TORCH_MODULE(I3dInceptionModule);

struct InceptionI3dConfig {
  int64_t num_classes = 400;
  int64_t in_channels = 3;
  double bn_eps = 1e-5;  // VideoGPT / LVDM; piergiaj's original file: 0.001
};

class InceptionI3dImpl : public torch::nn::Module {
 public:
  explicit InceptionI3dImpl(const InceptionI3dConfig& cfg = {});
  // x: float [B, 3, T, H, W] in [-1, 1]. Returns the logits averaged over time, [B, num_classes]
  // (InceptionI3d.forward, which VideoGPT's and LVDM's get_logits call: `i3d(batch)`).
  at::Tensor forward(const at::Tensor& x);
  // Also records the end points named in `want` (e.g. "Mixed_5c", "Logits" = pre-mean logits
  // [B, classes, T']) into *out.
  at::Tensor forward_with(const at::Tensor& x, const std::vector<std::string>& want,
                          std::map<std::string, at::Tensor>* out);
  const InceptionI3dConfig& config() const { return cfg_; }

 private:
  InceptionI3dConfig cfg_;
  I3dUnit3D conv1a_{nullptr}, conv2b_{nullptr}, conv2c_{nullptr}, logits_{nullptr};
  std::vector<std::pair<std::string, I3dInceptionModule>> mixed_;
};
TORCH_MODULE(InceptionI3d);

// Loads an i3d_pretrained_400.pt-style state dict (strict: every key must match).
void load_inception_i3d(InceptionI3d& net, const StateDict& sd);

}  // namespace longvid
