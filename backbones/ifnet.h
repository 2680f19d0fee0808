// IFNet: RIFE's intermediate-flow network, every published 4.x version (Practical-RIFE's per-version
// `train_log/IFNet_HDv3.py`, 4.0 - 4.26 with the .lite and .heavy variants). Those files ship inside
// the model archives, not in the repository; the layouts here follow HolyWu/vs-rife@2a7f2c8
// (vsrife/IFNet_HDv3_v4_*.py), a faithful port of each that only moves the feature encoder out of
// forward() and passes the warp grid in, and Practical-RIFE@17d8c7a model/warplayer.py.
//
// One parametric module covers them all; the version is detected from the checkpoint's keys and
// shapes (ifnet_config_from_state_dict). Module names equal the checkpoint's keys after the DDP
// `module.` prefix is removed: block0.conv0.0.0.weight, block0.convblock.3.conv.weight / .beta,
// block0.lastconv.0.weight, encode.cnn0.weight (4.13+) or encode.0.weight (4.7 - 4.12), ...
//
// What changes between versions (each a field of IFNetConfig):
//   4.0/4.1   PReLU activations, conv blocks with a residual, lastconv without PixelShuffle (the flow
//             upsampled by 2*scale), masks added across blocks, and the "large motion" restart: when
//             block 1's flow update exceeds 32 px in both directions, every scale doubles and block 0
//             runs again.
//   4.2-4.4   LeakyReLU(0.2), plain conv blocks.          4.5/4.6  ResConv blocks + PixelShuffle(2).
//   4.7-4.9   a 2-conv feature encoder (4 channels per frame), warped with the flow; the mask is
//             replaced per block from here on.             4.10-4.12  a 4-conv encoder (8 channels).
//   4.13+     the `Head` encoder (cnn0..cnn3).              4.14.lite  grouped ResConv (groups 2).
//   4.21+     each block also passes 8 feature channels to the next.
//   4.25/4.26 five blocks, scales 16..1 (4.25.lite: 32, 16, 8, 4, 1), padding to 64 (.lite: 128).
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace longvid {

class StateDict;  // core/checkpoint.h

struct IFNetConfig {
  enum class Encoder { None, Conv2, Conv4, Head };
  std::string version = "4.26";     // the published version(s) this layout is ("4.13-4.19, 4.24", ...)
  std::vector<int64_t> block_c;     // width of each IFBlock
  std::vector<int64_t> block_in;    // its input planes before the 4 flow channels are appended
  std::vector<double> scale_base;   // flow scales at --scale 1 ({8,4,2,1}, {16,8,4,2,1}, ...)
  bool prelu = false;               // 4.0/4.1: PReLU, else LeakyReLU(0.2)
  bool block_residual = false;      // 4.0/4.1: feat = convblock(feat) + feat
  bool resconv = true;              // ResConv (conv * beta + x) blocks, else conv + activation
  int64_t resconv_groups = 1;       // 4.14.lite: 2
  bool pixel_shuffle = true;        // lastconv = ConvTranspose + PixelShuffle(2); else ConvTranspose to 5
  int64_t last_channels = 52;       // channels out of lastconv after the shuffle (5, 6 or 13)
  int64_t feat_channels = 8;        // 4.21+: feature channels a block hands to the next
  Encoder encoder = Encoder::Head;
  int64_t encoder_hidden = 16, encoder_out = 4;
  bool additive_mask = false;       // <= 4.6
  bool large_motion_restart = false;  // 4.0/4.1
  int64_t modulo = 64;              // padding unit at --scale 1 (pad to max(modulo, modulo / scale))

  // The published layout of `version` ("4.0" ... "4.26", "4.25.lite", "4.26.heavy"; also "4.9.2").
  // Throws longvid::Error naming the known versions for anything else.
  static IFNetConfig published(const std::string& version);
  // All published version names, oldest first.
  static const std::vector<std::string>& published_versions();
  int64_t num_blocks() const { return static_cast<int64_t>(block_c.size()); }
  // The multiple both frame sides are padded to at `scale` (vs-rife / the rule).
  int64_t pad_multiple(double scale) const;
};

// The layout of an IFNet checkpoint (keys already without `module.`), read from its keys and shapes,
// with the matching published version(s) in `version` ("unknown 4.x layout" when the shapes are
// consistent but match none). Throws longvid::Error (one line naming the key and shape) when the
// tensors are not an IFNet.
IFNetConfig ifnet_config_from_state_dict(const StateDict& sd);

// Practical-RIFE model/warplayer.py warp: backward warping of `input` [N, C, H, W] by `flow`
// [N, 2, H, W] (pixels): grid = linspace(-1, 1) base + flow / ((W - 1) / 2, (H - 1) / 2),
// grid_sample(bilinear, padding border, align_corners True). Always computed in float32; the result
// has the input's dtype.
at::Tensor rife_warp(const at::Tensor& input, const at::Tensor& flow);

class IFNetBlockImpl : public torch::nn::Module {
 public:
  IFNetBlockImpl(const IFNetConfig& cfg, int64_t in_planes, int64_t c);
  struct Out {
    at::Tensor flow, mask, feat;  // feat undefined unless cfg.feat_channels
  };
  // `parts`: the full-resolution inputs the reference concatenates before resizing by 1 / scale.
  Out forward(const std::vector<at::Tensor>& parts, const at::Tensor& flow, double scale);
  void set_exact(bool exact) { exact_ = exact; }

 private:
  at::Tensor conv_act(size_t i, const at::Tensor& x);
  IFNetConfig cfg_;
  std::vector<torch::nn::Conv2d> convs_;    // conv0.0.0, conv0.1.0, then convblock.*
  std::vector<torch::nn::PReLU> prelus_;    // 4.0/4.1
  std::vector<at::Tensor> betas_;           // ResConv
  torch::nn::ConvTranspose2d last_{nullptr};
  bool exact_ = true;
};
TORCH_MODULE(IFNetBlock);

class IFNetImpl : public torch::nn::Module {
 public:
  explicit IFNetImpl(const IFNetConfig& cfg);
  // The feature encoder of one frame [N, 3, H, W] in [0, 1] (undefined tensor for versions without
  // one). Frames appear in two pairs each, so callers may compute this once per frame.
  at::Tensor encode(const at::Tensor& img);
  // The frame at time t between img0 (t = 0) and img1 (t = 1): [N, 3, H, W] in [0, 1], H and W
  // multiples of pad_multiple(scale) (pad first: rife_pad). `timestep`: [N] or a scalar tensor,
  // one t per batch item. f0 / f1: encode(img0 / img1), or undefined to compute them here.
  // flow_out: the last block's flow [N, 4, H, W] (training: RIFE's smoothness loss).
  at::Tensor forward(const at::Tensor& img0, const at::Tensor& img1, const at::Tensor& timestep, double scale = 1.0,
                     at::Tensor f0 = {}, at::Tensor f1 = {}, at::Tensor* flow_out = nullptr);
  const IFNetConfig& config() const { return cfg_; }
  // Exact (default): the reference's operations in its order, equal to it bit for bit on the CPU.
  // Fast: the blocks' inputs resized part by part instead of concatenated at full resolution first
  // (about 1e-7 relative from the reference; 4.0/4.1 always stay exact: their large-motion restart is
  // a threshold that a 1-ulp difference can cross).
  void set_exact(bool exact);
  bool exact() const { return exact_; }

 private:
  IFNetConfig cfg_;
  bool exact_ = true;
  std::vector<IFNetBlock> blocks_;
  std::vector<torch::nn::Conv2d> enc_convs_;
  torch::nn::ConvTranspose2d enc_last_{nullptr};
};
TORCH_MODULE(IFNet);

// An IFNet checkpoint's tensors: Practical-RIFE's `flownet.pkl` (torch.save of the DDP state dict, zip or
// legacy format, read without running pickle code), a zip mirror, or safetensors. As RIFE_HDv3's
// load_model does, when any key starts with `module.` only those keys are kept, without the prefix.
StateDict load_ifnet_state_dict(const std::filesystem::path& path);
// The network of that checkpoint, its layout detected (ifnet_config_from_state_dict), weights loaded
// strictly (one line naming every missing / unexpected / mis-shaped key), in eval mode.
IFNet load_ifnet(const std::filesystem::path& path);
IFNet load_ifnet(const StateDict& sd);

// Zero padding right and bottom up to multiples of `multiple` (inference_video.py pad_image).
at::Tensor rife_pad(const at::Tensor& img, int64_t multiple);

}  // namespace longvid
