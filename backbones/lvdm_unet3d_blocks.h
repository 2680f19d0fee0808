// The LVDM-specific blocks of LvdmUNet3D (lvdm/models/modules/openaimodel3d.py and
// attention_temporal.py, YingqingHe/LVDM @d251dcc), internal to lvdm_unet3d.cpp: the U-Net builds its
// TimestepEmbedSequential children through the factories below. Generic layers are in nn_blocks.h.
// Parameters keep the official names (ResBlock: in_layers.0.weight, emb_layers.1.weight, ...).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace longvid::lvdm_detail {

// openaimodel3d nonlinearity: "silu" (default) or "leaky_relu" (slope 0.01).
at::Tensor nonlinearity(const at::Tensor& x, const std::string& type);

// Anything that can sit in a TimestepEmbedSequential.
struct LayerImpl : torch::nn::Module {
  virtual at::Tensor run(const at::Tensor& x, const at::Tensor& emb, const at::Tensor& context) = 0;
};

// openaimodel3d.TimestepEmbedSequential: children named "0", "1", ...
class TimestepSeqImpl : public torch::nn::Module {
 public:
  void add(std::shared_ptr<LayerImpl> layer);
  at::Tensor forward(at::Tensor x, const at::Tensor& emb, const at::Tensor& context);

 private:
  std::vector<std::shared_ptr<LayerImpl>> layers_;
};

// input_blocks.0.0: conv (kernel (kt,3,3), padding (pt,1,1)) with its tensors directly "weight"/"bias".
std::shared_ptr<LayerImpl> make_input_conv(int64_t cin, int64_t cout, int64_t kt, int64_t pt);
// openaimodel3d.ResBlock (use_checkpoint ignored, dropout ignored).
std::shared_ptr<LayerImpl> make_resblock(int64_t ch, int64_t emb_ch, int64_t out_ch, bool use_conv, bool scale_shift,
                                         bool up, bool down, int64_t kt, int64_t pt, const std::string& act);
// openaimodel3d.Downsample / Upsample (dims 3: H and W halved / doubled, T kept).
std::shared_ptr<LayerImpl> make_downsample(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt);
std::shared_ptr<LayerImpl> make_upsample(int64_t ch, bool use_conv, int64_t out_ch, int64_t kt, int64_t pt);
// attention_temporal.STAttentionBlock.
std::shared_ptr<LayerImpl> make_st_attention_block(int64_t channels, int64_t heads, int64_t head_channels,
                                                   int64_t temporal_length, bool use_relative_position);
// attention_temporal.SpatialTemporalTransformer (T2V).
std::shared_ptr<LayerImpl> make_spatial_temporal_transformer(int64_t in_channels, int64_t n_heads, int64_t d_head,
                                                             int64_t depth, int64_t context_dim,
                                                             int64_t temporal_length, bool use_relative_position);

}  // namespace longvid::lvdm_detail
