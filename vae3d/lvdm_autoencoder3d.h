// LVDM's 3D video autoencoder (YingqingHe/LVDM @ d251dcc: lvdm/models/autoencoder3d.py
// `AutoencoderKL`, lvdm/models/modules/aemodules3d.py, from TATS): a KL autoencoder over
// [B, C, T, H, W] video built from Conv3d layers with replicate ("repeat") padding.
//
// Module names equal the official state-dict keys (an AE checkpoint's keys, or an LVDM
// checkpoint's `first_stage_model.*` keys with that prefix removed):
//   encoder.conv_first.conv.{weight,bias}
//   encoder.conv_blocks.N.down.conv.*, encoder.conv_blocks.N.res.{norm1,conv1.conv,norm2,conv2.conv}.*
//   encoder.final_block.0.* (GroupNorm), encoder.final_block.2.conv.* (conv)
//   decoder.conv_blocks.N.up.convt.*, decoder.conv_blocks.N.res{1,2}.*, decoder.conv_out.conv.*
//   quant_conv.conv.*, post_quant_conv.conv.*
// Quirk (SamePadConv3d alias): the official SamePadConv3d sets `self.weight = self.conv.weight`,
// so official checkpoints hold every such weight twice, as `X.weight` and `X.conv.weight`.
// Only `X.conv.weight` is registered here; resolve_samepad_aliases() maps a lone `X.weight` onto
// it and checks that a duplicate pair holds the same values.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

// Everything that shapes the model, as in the official config (`model.params` of
// configs/videoae/*.yaml, or `first_stage_config.params` of configs/lvdm_*/*.yaml), plus the
// latent normalisation of the diffusion model that uses it.
struct LvdmAe3dConfig {
  int64_t n_hiddens = 32;          // encoder
  int64_t decoder_n_hiddens = 32;  // decoder
  std::array<int64_t, 3> downsample{4, 8, 8};  // encoder, (T, H, W); powers of two
  std::array<int64_t, 3> upsample{4, 8, 8};    // decoder
  int64_t z_channels = 4;
  int64_t embed_dim = 4;
  int64_t image_channel = 3;
  std::string padding_type = "replicate";  // encoder's conv_first, down and final convs only (sic)
  // Latent normalisation (LatentDiffusion): z_model = scale_factor * (z + shift_factor);
  // decoding uses z = (1 / scale_factor) * z_model - shift_factor.
  double scale_factor = 1.0;
  double shift_factor = 0.0;
  // longvid extension (params.longvid_stream_window): latent frames of the clips this AE was trained
  // on (train-vae --frames / 4). GroupNorm statistics span the whole clip, so an AE trained on short
  // clips encodes/decodes best in windows of that length: the default stream windows become
  // {stream_window, stream_window / 4}. 0 (official AEs): the defaults 64:16 (encode), 32:8 (decode).
  int64_t stream_window = 0;

  // Reads an official config: a videoae config (model.target = ...autoencoder3d.AutoencoderKL),
  // an LVDM diffusion config (model.params.first_stage_config; scale/shift from model.params),
  // or an AutoencoderKL `params` mapping (with ddconfig). Errors name the file and key.
  static LvdmAe3dConfig from_config(const Config& cfg);
  // Checks the values (GroupNorm(32) divisibility, powers of two, ...); throws longvid::Error.
  void validate(const std::string& source = "config") const;
  std::string to_json() const;
  // Infers the shape-carrying values from a state dict holding the AE under `prefix` (n_hiddens,
  // z_channels, embed_dim, image_channel, number of levels). The per-dim strides are not stored
  // in the weights: 3 levels are taken as the official [4, 8, 8] (every released LVDM AE);
  // anything else needs a config (longvid::Error says so).
  static LvdmAe3dConfig infer(const StateDict& sd, const std::string& prefix = "");
  // Overall (T, H, W) factor between video and latent: 2^(number of halvings) per dim.
  std::array<int64_t, 3> factors() const;
};

namespace lvdm_ae3d {

// Conv3d after a "same" padding of p = k - s per dim (front p/2 + p%2, back p/2) with
// F.pad(mode=padding_type); the conv itself has no padding. Registered child: "conv".
class SamePadConv3dImpl : public torch::nn::Module {
 public:
  SamePadConv3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride = {1, 1, 1},
                    bool bias = true, std::string padding_type = "replicate");
  // x by value: the padded copy is made, then x released (when the caller gave it up, as a
  // temporary or moved) before the convolution allocates its output.
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv3d conv{nullptr};
  std::vector<int64_t> pad;  // F.pad order: (W front, W back, H front, H back, T front, T back)
  std::string padding_type;
};
TORCH_MODULE(SamePadConv3d);

// The same padding (always replicate), then ConvTranspose3d(stride s, padding k - 1).
// Registered child: "convt".
class SamePadConvTranspose3dImpl : public torch::nn::Module {
 public:
  SamePadConvTranspose3dImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel,
                             std::array<int64_t, 3> stride = {1, 1, 1}, bool bias = true,
                             std::string padding_type = "replicate");
  torch::Tensor forward(torch::Tensor x);  // x released once padded, as SamePadConv3d
  torch::nn::ConvTranspose3d convt{nullptr};
  std::vector<int64_t> pad;
  std::string padding_type;
};
TORCH_MODULE(SamePadConvTranspose3d);

// GroupNorm(32, C, eps 1e-6) -> x*sigmoid(x) -> conv1 (k3) -> norm2 -> x*sigmoid(x) -> conv2, plus
// the input (through conv_shortcut, a k3 SamePadConv3d, when the widths differ). norm2 has
// in_channels groups as in the official code. Dropout (p = 0, no weights) is omitted.
// Without gradients the forward runs SiLU and the residual add in place and releases each
// intermediate as soon as it is used (the same values bit for bit): next to the input, about one
// padded activation and one conv output are alive at a time, where the official expression holds
// five. The autoencoder's peak memory at 256^2 is set here.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t in_channels, out_channels;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  SamePadConv3d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
};
TORCH_MODULE(ResBlock);

// One encoder level: children "down" (k4 stride-2-where-needed conv) and "res".
class EncoderBlockImpl : public torch::nn::Module {
 public:
  EncoderBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> stride, const std::string& padding_type);
  torch::Tensor forward(torch::Tensor x);  // x released after "down" (when moved in)
  SamePadConv3d down{nullptr};
  ResBlock res{nullptr};
};
TORCH_MODULE(EncoderBlock);

// The official nn.Sequential(GroupNorm, SiLU, SamePadConv3d): children "0" and "2".
class EncoderFinalBlockImpl : public torch::nn::Module {
 public:
  EncoderFinalBlockImpl(int64_t in, int64_t out, const std::string& padding_type);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm norm{nullptr};
  SamePadConv3d conv{nullptr};
};
TORCH_MODULE(EncoderFinalBlock);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const LvdmAe3dConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, image_channel, T, H, W] -> [B, 2z, t, h, w]
  SamePadConv3d conv_first{nullptr};
  torch::nn::ModuleList conv_blocks;
  EncoderFinalBlock final_block{nullptr};
};
TORCH_MODULE(Encoder);

// One decoder level: "up" (transposed conv), "res1", "res2".
class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(int64_t in, int64_t out, std::array<int64_t, 3> stride);
  torch::Tensor forward(torch::Tensor x);  // x released after "up" (when moved in)
  SamePadConvTranspose3d up{nullptr};
  ResBlock res1{nullptr}, res2{nullptr};
};
TORCH_MODULE(DecoderBlock);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const LvdmAe3dConfig& c);
  torch::Tensor forward(const torch::Tensor& z);  // [B, z, t, h, w] -> [B, image_channel, T, H, W]
  torch::nn::ModuleList conv_blocks;
  SamePadConv3d conv_out{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace lvdm_ae3d

// The LVDM 3D autoencoder as a VideoAutoencoder (video_autoencoder.h): encode() / decode() are
// the official forward passes (spatially tiled when set_tiling() is on; off by default).
class LvdmAutoencoder3DImpl : public torch::nn::Module, public VideoAutoencoder {
 public:
  explicit LvdmAutoencoder3DImpl(LvdmAe3dConfig cfg);

  // (inherited) encode(video [B, image_channel, T, H, W] in [-1, 1]) -> posterior over the raw
  // latent; decode(raw latent [B, embed_dim, t, h, w]) -> video (post_quant_conv + decoder; no
  // final activation); encode_latent / decode_latent with the normalisation below.

  // Latent normalisation of the diffusion model: scale * (z + shift), and its inverse
  // (1 / scale) * z - shift (the reference's exact operation order).
  torch::Tensor normalize_latent(const torch::Tensor& z) const override;
  torch::Tensor denormalize_latent(const torch::Tensor& z) const override;

  std::string kind() const override { return "lvdm3d"; }
  std::array<int64_t, 3> factors() const override { return cfg_.factors(); }
  int64_t latent_channels() const override { return cfg_.embed_dim; }
  int64_t video_channels() const override { return cfg_.image_channel; }
  double scale_factor() const override { return cfg_.scale_factor; }
  double shift_factor() const override { return cfg_.shift_factor; }
  std::string config_json() const override { return cfg_.to_json(); }
  torch::nn::Module& module() override { return *this; }
  TemporalWindow default_decode_window() const override;
  TemporalWindow default_encode_window() const override;
  int64_t trained_window() const override { return cfg_.stream_window; }

  // Temporal tiling (bounded memory): decodes `z` (normalised with denormalize_latent() first
  // when `normalized`) in windows of `window` latent frames that overlap by `overlap` frames and
  // hands the kept frames to `sink` in order, as [B, C, n, H, W] chunks; only one window is
  // decoded at a time. Windows and the frames kept follow LVDM's overlapped_decode
  // (ddpm3d.py): windows start every window - overlap latents; from each window the first
  // ceil(overlap/2) latents' frames are dropped (except for the first window) and the last
  // floor(overlap/2) latents' frames (except for the last window). Difference: the official loop
  // can end on an empty window (when (T - window) is a multiple of window - overlap), which it
  // then tries to decode; here it is skipped. window <= 0 means all of z in one window.
  void decode_stream(const torch::Tensor& z, int64_t window, int64_t overlap, const VideoChunkSink& sink,
                     bool normalized = false) override;
  // decode_stream collected into one tensor (LVDM's overlapped_decode, on raw latents).
  torch::Tensor decode_overlapped(const torch::Tensor& z, int64_t window, int64_t overlap, bool normalized = false);

  // Bounded-memory encode (LVDM has no windowed encoder; this is ours): video frames are pulled
  // from `source` and encoded in windows of `window` latent frames (window * factor_t video
  // frames) starting every window - overlap latents. The first `overlap` latents of a window
  // are blended with the last `overlap` of the previous one, moments (mean and unclamped logvar,
  // as diffusers' tiled_encode blends) weighted linearly: new (k + 0.5) / overlap, old the
  // complement. The last window is moved back to end at the video's end (a full window whenever
  // the video has one), blended over the still pending latents only. Finished latent frames go to
  // `sink` in order. At most window + (window - overlap) latents' frames (plus one source chunk) are held. A video of at
  // most one window (or window <= 0) is encoded in one pass: identical to encode(). A frame
  // count that is not a multiple of factor_t is padded by repeating the last frame (returned:
  // frames added).
  int64_t encode_stream(const VideoChunkSource& source, int64_t window, int64_t overlap,
                        const PosteriorChunkSink& sink) override;

  // Latent shape for a video shape [B, C, T, H, W] (T, H, W must be divisible by the factors).
  std::vector<int64_t> latent_shape(at::IntArrayRef video_shape) const;

  const LvdmAe3dConfig& config() const { return cfg_; }

  lvdm_ae3d::Encoder encoder{nullptr};
  lvdm_ae3d::Decoder decoder{nullptr};
  lvdm_ae3d::SamePadConv3d quant_conv{nullptr}, post_quant_conv{nullptr};

 protected:
  torch::Tensor encode_moments_untiled(const torch::Tensor& video) override;
  torch::Tensor decode_untiled(const torch::Tensor& z) override;

 private:
  LvdmAe3dConfig cfg_;
};
TORCH_MODULE(LvdmAutoencoder3D);

// Where the AE sits in a checkpoint: "first_stage_model." in LVDM diffusion checkpoints, ""
// in AE checkpoints (ae/ae_sky.ckpt, which also hold the training loss as loss.*).
std::string lvdm_ae3d_prefix(const StateDict& sd);

// Loads the AE weights of an official checkpoint (either layout above; loss.* ignored) into `ae`:
// SamePadConv3d aliases resolved (see below), dtype/device converted, strict: ONE longvid::Error
// lists every missing / unexpected / mis-shaped key.
void load_lvdm_ae3d(LvdmAutoencoder3DImpl& ae, const StateDict& sd);

// An LVDM 3D autoencoder from a file: an AE checkpoint (`longvid train-vae`, ae_*.ckpt) or a
// diffusion model holding one (first_stage_model.*). Its config: `config_path` (a YAML/JSON file)
// when given, else the file's longvid.config metadata, else inferred from the shapes.
LvdmAutoencoder3D load_lvdm_ae3d_file(const std::string& path, const std::string& config_path = "");

// Quirk (SamePadConv3d alias): rewrites `names` -> tensors so that each official `X.weight`
// alias of a SamePadConv3d becomes `X.conv.weight` for the modules in `module`: a lone alias is
// renamed; an alias next to `X.conv.weight` is dropped after checking that both hold the same
// values (longvid::Error naming `source` and both keys if not). Other entries pass unchanged, in
// order.
std::vector<std::pair<std::string, torch::Tensor>> resolve_samepad_aliases(
    const torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& entries,
    const std::string& source);
// The same on a StateDict: entries under `prefix` (prefix removed), aliases resolved; keeps the
// file path for messages.
StateDict resolve_samepad_aliases(const torch::nn::Module& module, const StateDict& sd, const std::string& prefix = "");

}  // namespace longvid
