// load_detector: the StyleGAN-V TorchScript I3D, called as StyleGAN-V's metric code calls it.
// The native InceptionI3d (i3d_pretrained_400.pt, protocols videogpt / lvdm / tf) is not built yet:
// those protocols say so in one line.
#include "eval/detector.h"

#include <torch/script.h>

#include <fmt/format.h>

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

}  // namespace

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
  if (!sgv)
    fail("--protocol {}: the native InceptionI3d (i3d_pretrained_400.pt) is not built yet; use --protocol stylegan-v "
         "with i3d_torchscript.pt",
         protocol);
  return std::make_unique<TorchScriptDetector>(path, device);
}

}  // namespace longvid::eval
