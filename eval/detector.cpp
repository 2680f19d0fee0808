// load_detector: the StyleGAN-V TorchScript I3D, called as StyleGAN-V's metric code calls it.
// Protocols videogpt / lvdm / tf: the native InceptionI3d (backbones/inception_i3d.h) with
// i3d_pretrained_400.pt, after the protocol's preprocessing (i3d_preprocess).
#include "eval/detector.h"

#include <torch/script.h>

#include <cmath>

#include <fmt/format.h>

#include "backbones/inception_i3d.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid::eval {

namespace {

constexpr const char* kStyleganVUrl = "https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1";
constexpr const char* kI3d400Url =
    "https://onedrive.live.com/download?cid=78EEF3EB6AE7DBCB&resid=78EEF3EB6AE7DBCB%21199&authkey=AApKdFHPXzWLNyI "
    "(VideoGPT's i3d_pretrained_400.pt, also used by LVDM)";

// StyleGAN-V (src/metrics/frechet_video_distance.py): uint8 clips [B, T, H, W, C] are permuted to
// [B, C, T, H, W] and passed as detector(videos, rescale=True, resize=True, return_features=True);
// the TorchScript module rescales [0, 255] to [-1, 1] and resizes to 224² itself and returns the
// 400-d logits-layer features.
class TorchScriptDetector : public VideoDetector {
 public:
  TorchScriptDetector(const std::filesystem::path& path, c10::Device device) : path_(path), device_(device) {
    try {
      module_ = torch::jit::load(path.string(), device);
    } catch (const c10::Error& e) {
      fail("{}: not a TorchScript detector ({})", path.string(), std::string(e.what_without_backtrace()).substr(0, 160));
    }
    module_.eval();
  }
  std::string describe() const override { return fmt::format("stylegan-v TorchScript I3D ({})", path_.string()); }
  int64_t feature_dim() const override { return dim_; }
  at::Tensor features(const at::Tensor& clips) override {
    if (clips.dim() != 5 || clips.size(4) != 3 || clips.scalar_type() != at::kByte)
      fail("detector: clips must be uint8 [N, T, H, W, 3], got {} {}", c10::toString(clips.scalar_type()),
           c10::str(clips.sizes()));
    torch::NoGradGuard ng;
    auto x = clips.permute({0, 4, 1, 2, 3}).contiguous().to(device_);
    c10::IValue out;
    try {
      std::vector<c10::IValue> args{x};
      std::unordered_map<std::string, c10::IValue> kwargs{
          {"rescale", true}, {"resize", true}, {"return_features", true}};
      out = module_.get_method("forward")(args, kwargs);
    } catch (const c10::Error& e) {
      std::string msg = e.what_without_backtrace();
      fail("{}: the detector does not accept StyleGAN-V's call detector(videos [B,3,T,H,W] uint8, rescale=True, "
           "resize=True, return_features=True): {}",
           path_.string(), msg.substr(0, msg.find('\n')));
    }
    if (!out.isTensor()) fail("{}: the detector returned no tensor", path_.string());
    auto f = out.toTensor();
    if (f.dim() != 2 || f.size(0) != clips.size(0))
      fail("{}: the detector returned {} for {} clips; expected [N, D] features", path_.string(), c10::str(f.sizes()),
           clips.size(0));
    if (dim_ < 0) dim_ = f.size(1);
    if (f.size(1) != dim_) fail("{}: feature dimension changed from {} to {}", path_.string(), dim_, f.size(1));
    return f.to(at::kCPU, at::kDouble);
  }

 private:
  std::filesystem::path path_;
  c10::Device device_;
  torch::jit::Module module_;
  int64_t dim_ = -1;
};

void check_clips(const at::Tensor& clips) {
  if (clips.dim() != 5 || clips.size(4) != 3 || clips.scalar_type() != at::kByte)
    fail("detector: clips must be uint8 [N, T, H, W, 3], got {} {}", c10::toString(clips.scalar_type()),
         c10::str(clips.sizes()));
}

class NativeI3dDetector : public VideoDetector {
 public:
  NativeI3dDetector(const std::filesystem::path& path, const std::string& protocol, c10::Device device)
      : path_(path), protocol_(protocol), device_(device) {
    StateDict sd;
    try {
      sd = load_checkpoint(path);
    } catch (const Error& e) {
      fail("{} (the {} protocol needs the InceptionI3d state dict i3d_pretrained_400.pt)", e.what(), protocol);
    }
    if (!sd.contains("Mixed_5c.b0.conv3d.weight") || !sd.contains("logits.conv3d.weight"))
      fail("{}: not an InceptionI3d state dict (no Mixed_5c.b0.conv3d.weight / logits.conv3d.weight); the {} "
           "protocol needs i3d_pretrained_400.pt",
           path.string(), protocol);
    InceptionI3dConfig cfg;
    cfg.num_classes = sd.get("logits.conv3d.weight").size(0);
    net_ = InceptionI3d(cfg);
    load_inception_i3d(net_, sd);
    net_->to(device);
    net_->eval();
  }
  std::string describe() const override {
    return fmt::format("{} native InceptionI3d ({})", protocol_, path_.string());
  }
  int64_t feature_dim() const override { return net_->config().num_classes; }
  at::Tensor features(const at::Tensor& clips) override {
    check_clips(clips);
    torch::NoGradGuard ng;
    auto x = i3d_preprocess(clips, protocol_).to(device_);
    return net_->forward(x).to(at::kCPU, at::kDouble);
  }

 private:
  std::filesystem::path path_;
  std::string protocol_;
  c10::Device device_;
  InceptionI3d net_{nullptr};
};

}  // namespace

at::Tensor i3d_preprocess(const at::Tensor& clips, const std::string& protocol, int64_t resolution) {
  check_clips(clips);
  const int64_t b = clips.size(0), t = clips.size(1), h = clips.size(2), w = clips.size(3);
  namespace F = torch::nn::functional;
  // [B*T, C, H, W] float frames.
  auto frames = clips.flatten(0, 1).permute({0, 3, 1, 2}).to(at::kFloat).contiguous();
  if (protocol == "videogpt") {
    // videogpt/data.py preprocess: /255, shorter side to `resolution` (longer side ceil(w * scale)),
    // bilinear align_corners=False, centre crop ((w - r) // 2), - 0.5; fvd.py then * 2.
    frames = frames / 255.;
    const double scale = double(resolution) / double(std::min(h, w));
    std::vector<int64_t> size = h < w ? std::vector<int64_t>{resolution, int64_t(std::ceil(w * scale))}
                                      : std::vector<int64_t>{int64_t(std::ceil(h * scale)), resolution};
    frames = F::interpolate(frames, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false));
    const int64_t h0 = (frames.size(2) - resolution) / 2, w0 = (frames.size(3) - resolution) / 2;
    frames = frames.slice(2, h0, h0 + resolution).slice(3, w0, w0 + resolution);
    frames = (frames - 0.5) * 2;
  } else if (protocol == "lvdm" || protocol == "tf") {
    // LVDM scripts/fvd_utils/fvd_utils.py preprocess: stretch to resolution² (bilinear,
    // align_corners=False) on [0, 255] floats, then 2x/255 - 1. The TF-GAN original stretches to
    // 224² bilinear and maps to [-1, 1] as well (tf.image.resize, half-pixel centres).
    frames = F::interpolate(
        frames, F::InterpolateFuncOptions().size(std::vector<int64_t>{resolution, resolution}).mode(torch::kBilinear).align_corners(false));
    frames = 2. * frames / 255. - 1;
  } else {
    fail("i3d_preprocess: unknown protocol {} (videogpt, lvdm or tf)", protocol);
  }
  return frames.reshape({b, t, 3, resolution, resolution}).transpose(1, 2).contiguous();
}

std::unique_ptr<VideoDetector> load_detector(const std::filesystem::path& path, const std::string& protocol,
                                             c10::Device device) {
  const bool sgv = protocol == "stylegan-v";
  if (!sgv && protocol != "tf" && protocol != "videogpt" && protocol != "lvdm")
    fail("--protocol {}: unknown (choose stylegan-v, tf, videogpt or lvdm)", protocol);
  if (!std::filesystem::exists(path)) {
    if (sgv)
      fail("{}: detector file not found; the stylegan-v protocol uses StyleGAN-V's i3d_torchscript.pt, from {}",
           path.string(), kStyleganVUrl);
    fail("{}: detector file not found; the {} protocol uses i3d_pretrained_400.pt, from {}", path.string(), protocol,
         kI3d400Url);
  }
  if (!sgv) return std::make_unique<NativeI3dDetector>(path, protocol, device);
  return std::make_unique<TorchScriptDetector>(path, device);
}

}  // namespace longvid::eval
