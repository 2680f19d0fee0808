// LvdmUNet3D — see lvdm_unet3d.h. The LVDM blocks are in lvdm_unet3d_blocks.cpp, generic layers in
// nn_blocks.cpp; each names the official class it reproduces.
#include "backbones/lvdm_unet3d.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "backbones/lvdm_unet3d_blocks.h"
#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

// ================================================================================================
// Config
// ================================================================================================
namespace {

// Small YAML reader; to be switched to core/config.h once it lands.
template <typename T>
T yaml_get(const YAML::Node& n, const std::string& key, const T& fallback, const std::string& where) {
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return fallback;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    fail("{}: model.params.unet_config.params.{}: unexpected value '{}'", where, key, YAML::Dump(v));
  }
}

std::vector<int64_t> yaml_ints(const YAML::Node& n, const std::string& key, const std::vector<int64_t>& fallback,
                               const std::string& where) {
  const YAML::Node v = n[key];
  if (!v || v.IsNull()) return fallback;
  if (!v.IsSequence()) fail("{}: model.params.unet_config.params.{}: expected a list", where, key);
  std::vector<int64_t> out;
  for (const auto& e : v) {
    try {
      out.push_back(e.as<int64_t>());
    } catch (const YAML::Exception&) {
      fail("{}: model.params.unet_config.params.{}: expected integers", where, key);
    }
  }
  return out;
}

LvdmUNetConfig config_from_node(const YAML::Node& root, const std::string& where) {
  const YAML::Node model = root["model"];
  const YAML::Node params = model ? model["params"] : YAML::Node();
  const YAML::Node unet = params ? params["unet_config"] : YAML::Node();
  const YAML::Node p = unet ? unet["params"] : YAML::Node();
  if (!p || !p.IsMap()) fail("{}: no model.params.unet_config.params (not an LVDM diffusion config?)", where);
  const std::string target = unet["target"] ? unet["target"].as<std::string>() : std::string();
  if (!target.empty() && target.find("openaimodel3d.") == std::string::npos)
    fail("{}: model.params.unet_config.target '{}' is not an LVDM openaimodel3d U-Net", where, target);

  LvdmUNetConfig c;
  c.in_channels = yaml_get<int64_t>(p, "in_channels", c.in_channels, where);
  c.model_channels = yaml_get<int64_t>(p, "model_channels", c.model_channels, where);
  c.out_channels = yaml_get<int64_t>(p, "out_channels", c.out_channels, where);
  c.num_res_blocks = yaml_get<int64_t>(p, "num_res_blocks", c.num_res_blocks, where);
  c.attention_resolutions = yaml_ints(p, "attention_resolutions", c.attention_resolutions, where);
  c.channel_mult = yaml_ints(p, "channel_mult", c.channel_mult, where);
  c.conv_resample = yaml_get<bool>(p, "conv_resample", c.conv_resample, where);
  c.dims = yaml_get<int64_t>(p, "dims", c.dims, where);
  c.num_classes = yaml_get<int64_t>(p, "num_classes", c.num_classes, where);
  c.num_heads = yaml_get<int64_t>(p, "num_heads", c.num_heads, where);
  c.num_head_channels = yaml_get<int64_t>(p, "num_head_channels", c.num_head_channels, where);
  c.use_scale_shift_norm = yaml_get<bool>(p, "use_scale_shift_norm", c.use_scale_shift_norm, where);
  c.resblock_updown = yaml_get<bool>(p, "resblock_updown", c.resblock_updown, where);
  c.transformer_depth = yaml_get<int64_t>(p, "transformer_depth", c.transformer_depth, where);
  c.context_dim = yaml_get<int64_t>(p, "context_dim", c.context_dim, where);
  c.legacy = yaml_get<bool>(p, "legacy", c.legacy, where);
  c.kernel_size_t = yaml_get<int64_t>(p, "kernel_size_t", c.kernel_size_t, where);
  c.padding_t = yaml_get<int64_t>(p, "padding_t", c.padding_t, where);
  c.use_temporal_transformer = yaml_get<bool>(p, "use_temporal_transformer", c.use_temporal_transformer, where);
  c.temporal_length = yaml_get<int64_t>(p, "temporal_length", c.temporal_length, where);
  c.use_relative_position = yaml_get<bool>(p, "use_relative_position", c.use_relative_position, where);
  c.nonlinearity_type = yaml_get<std::string>(p, "nonlinearity_type", c.nonlinearity_type, where);
  if (p["cond_aug_mode"] && !p["cond_aug_mode"].IsNull())
    fail("{}: model.params.unet_config.params.cond_aug_mode is not supported (only the default None)", where);
  if (p["ST_transformer_class"] && p["ST_transformer_class"].as<std::string>() != "SpatialTemporalTransformer")
    fail("{}: model.params.unet_config.params.ST_transformer_class '{}' is not supported", where,
         p["ST_transformer_class"].as<std::string>());
  if (params["conditioning_key"] && !params["conditioning_key"].IsNull())
    c.conditioning_key = params["conditioning_key"].as<std::string>();
  return c;
}

}  // namespace

LvdmUNetConfig LvdmUNetConfig::from_yaml_file(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) fail("{}: cannot open config", path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return from_yaml_string(ss.str(), path.string());
}

LvdmUNetConfig LvdmUNetConfig::from_yaml_string(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: YAML parse error: {}", origin, e.what());
  }
  return config_from_node(root, origin);
}
// ================================================================================================
// UNetModel
// ================================================================================================
using namespace lvdm_detail;
using nn::ConvImpl;
using nn::GroupNormImpl;
using nn::LinearImpl;

at::Tensor lvdm_timestep_embedding(const at::Tensor& timesteps, int64_t dim, double max_period) {
  nn::TimestepEmbeddingOptions o;  // util.timestep_embedding: [cos, sin], float32
  o.max_period = max_period;
  return nn::timestep_embedding(timesteps, dim, o);
}

LvdmUNet3DImpl::LvdmUNet3DImpl(LvdmUNetConfig cfg, at::Device device) : cfg_(std::move(cfg)) {
  nn::ParamOptionsScope opts_scope(device);
  const auto& c = cfg_;
  if (c.dims != 3) fail("LVDM U-Net: dims {} is not supported (only 3)", c.dims);
  if (c.use_temporal_transformer && c.context_dim <= 0)
    fail("LVDM U-Net: use_temporal_transformer needs context_dim");
  if (c.context_dim > 0 && !c.use_temporal_transformer)
    fail("LVDM U-Net: context_dim is set but use_temporal_transformer is false");
  if (c.num_heads == -1 && c.num_head_channels == -1)
    fail("LVDM U-Net: either num_heads or num_head_channels has to be set");
  if (c.channel_mult.empty()) fail("LVDM U-Net: channel_mult is empty");
  if (c.model_channels <= 0 || c.model_channels % 32 != 0)
    fail("LVDM U-Net: model_channels {} must be a positive multiple of 32 (GroupNorm(32) of every width)",
         c.model_channels);
  if (c.nonlinearity_type != "silu" && c.nonlinearity_type != "leaky_relu")
    fail("LVDM U-Net: nonlinearity_type '{}' is not supported", c.nonlinearity_type);

  const int64_t mc = c.model_channels, ted = c.time_embed_dim(), kt = c.kernel_size_t, pt = c.padding_t;
  auto te = nn::container(*this, "time_embed");  // [Linear, act, Linear]
  te->register_module("0", std::make_shared<LinearImpl>(mc, ted));
  te->register_module("2", std::make_shared<LinearImpl>(ted, ted));
  time_embed_ = te;
  if (c.num_classes > 0) {
    auto le = nn::container(*this, "label_emb");  // nn.Embedding: N(0,1) init
    label_emb_ = le->register_parameter("weight", nn::p_empty({c.num_classes, ted}).normal_(), false);
  }

  auto input_list = register_module("input_blocks", torch::nn::ModuleList());
  auto output_list = register_module("output_blocks", torch::nn::ModuleList());
  auto new_seq = [&](torch::nn::ModuleListImpl& list, std::vector<std::shared_ptr<TimestepSeqImpl>>& v) {
    auto s = std::make_shared<TimestepSeqImpl>();
    list.push_back(s);
    v.push_back(s);
    return s;
  };
  auto resblock = [&](int64_t ch, int64_t out_ch, bool up, bool down) {
    return make_resblock(ch, ted, out_ch, false, c.use_scale_shift_norm, up, down, kt, pt, c.nonlinearity_type);
  };
  // The official head-count bookkeeping, including its mutation of num_heads when num_head_channels is set.
  int64_t num_heads = c.num_heads;
  auto attention = [&](int64_t ch) -> std::shared_ptr<LayerImpl> {
    int64_t dim_head;
    if (c.num_head_channels == -1) {
      dim_head = ch / num_heads;
    } else {
      num_heads = ch / c.num_head_channels;
      dim_head = c.num_head_channels;
    }
    if (c.legacy) dim_head = c.use_temporal_transformer ? ch / num_heads : c.num_head_channels;
    if (!c.use_temporal_transformer)
      return make_st_attention_block(ch, num_heads, dim_head, c.temporal_length, c.use_relative_position);
    return make_spatial_temporal_transformer(ch, num_heads, dim_head, c.transformer_depth, c.context_dim,
                                             c.temporal_length, c.use_relative_position);
  };
  auto has_attn = [&](int64_t ds) {
    return std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), ds) !=
           c.attention_resolutions.end();
  };

  new_seq(*input_list, input_blocks_)->add(make_input_conv(c.in_channels, mc, kt, pt));
  std::vector<int64_t> input_block_chans{mc};
  int64_t ch = mc, ds = 1;
  const int64_t levels = static_cast<int64_t>(c.channel_mult.size());
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t mult = c.channel_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      auto seq = new_seq(*input_list, input_blocks_);
      seq->add(resblock(ch, mult * mc, false, false));
      ch = mult * mc;
      if (has_attn(ds)) seq->add(attention(ch));
      input_block_chans.push_back(ch);
    }
    if (level != levels - 1) {
      auto seq = new_seq(*input_list, input_blocks_);
      if (c.resblock_updown)
        seq->add(resblock(ch, ch, false, true));
      else
        seq->add(make_downsample(ch, c.conv_resample, ch, kt, pt));
      input_block_chans.push_back(ch);
      ds *= 2;
    }
  }

  middle_block_ = register_module("middle_block", std::make_shared<TimestepSeqImpl>());
  middle_block_->add(resblock(ch, ch, false, false));
  middle_block_->add(attention(ch));
  middle_block_->add(resblock(ch, ch, false, false));

  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t mult = c.channel_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks + 1; ++i) {
      const int64_t ich = input_block_chans.back();
      input_block_chans.pop_back();
      auto seq = new_seq(*output_list, output_blocks_);
      seq->add(resblock(ch + ich, mc * mult, false, false));
      ch = mc * mult;
      if (has_attn(ds)) seq->add(attention(ch));
      if (level && i == c.num_res_blocks) {
        if (c.resblock_updown)
          seq->add(resblock(ch, ch, true, false));
        else
          seq->add(make_upsample(ch, c.conv_resample, ch, kt, pt));
        ds /= 2;
      }
    }
  }

  auto out = nn::container(*this, "out");  // [GroupNorm32(ch), act, zero conv(model_channels -> out)]
  out->register_module("0", std::make_shared<GroupNormImpl>(ch, 1e-5, true));
  out->register_module("2", std::make_shared<ConvImpl>(mc, c.out_channels, std::vector<int64_t>{kt, 3, 3},
                                                       std::vector<int64_t>{1, 1, 1},
                                                       std::vector<int64_t>{pt, 1, 1}, true));
  out_ = out;
}

int64_t LvdmUNet3DImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

at::Tensor LvdmUNet3DImpl::forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                                   const at::Tensor& y) {
  const auto& c = cfg_;
  if (x.dim() != 5) fail("LVDM U-Net: input must be [B, C, T, H, W], got {} dims", x.dim());
  if (x.size(1) != c.in_channels)
    fail("LVDM U-Net: input has {} channels, config in_channels is {}", x.size(1), c.in_channels);
  const int64_t f = int64_t{1} << (c.channel_mult.size() - 1);
  if (x.size(3) % f != 0 || x.size(4) % f != 0)
    fail("LVDM U-Net: input H×W {}×{} must be divisible by {} (2^(len(channel_mult)-1))", x.size(3), x.size(4), f);
  if (!timesteps.defined() || timesteps.dim() != 1 || timesteps.size(0) != x.size(0))
    fail("LVDM U-Net: timesteps must be [B] with B = {}", x.size(0));
  if (c.use_temporal_transformer) {
    if (context.defined() && (context.dim() != 3 || context.size(0) != x.size(0) || context.size(2) != c.context_dim))
      fail("LVDM U-Net: context must be [B={}, L, context_dim={}]", x.size(0), c.context_dim);
  }

  auto* te = time_embed_.get();
  auto lin0 = std::dynamic_pointer_cast<LinearImpl>(te->named_children()["0"]);
  auto lin2 = std::dynamic_pointer_cast<LinearImpl>(te->named_children()["2"]);
  // Compute dtype = the weights' dtype: float32 as in LVDM, or bf16/fp16 when the model was cast
  // (--dtype); the sinusoid is always made in float32 and then cast, as the official code does.
  const auto wdt = lin0->weight.scalar_type();
  at::Tensor emb = lin2->forward(
      nonlinearity(lin0->forward(lvdm_timestep_embedding(timesteps, c.model_channels).to(wdt)), c.nonlinearity_type));
  if (y.defined()) {
    if (c.num_classes <= 0) fail("LVDM U-Net: a class label was given but the config has no num_classes");
    if (y.dim() != 1 || y.size(0) != x.size(0)) fail("LVDM U-Net: class labels must be [B] with B = {}", x.size(0));
    emb = emb + at::embedding(label_emb_, y.to(at::kLong));
  }

  // Inference on the CPU: the 3D convolutions' weights packed for oneDNN, all at once at the start of
  // the second forward (core/conv.h prepack_conv3d).
  if (conv3d_packing() && !at::GradMode::is_enabled() && prepacked_->load() == false) {
    if (nn::prepack_convs(*this) > 0) prepacked_->store(true);
  }
  std::vector<at::Tensor> hs;
  const at::Tensor ctx = context.defined() ? context.to(wdt) : context;  // text embeddings in the compute dtype
  at::Tensor h = x.to(wdt);  // self.dtype: float32 in LVDM (its use_fp16 is a no-op)
  for (auto& m : input_blocks_) {
    h = m->forward(h, emb, ctx);
    hs.push_back(h);
  }
  h = middle_block_->forward(h, emb, ctx);
  for (auto& m : output_blocks_) {
    h = at::cat({h, hs.back()}, 1);
    hs.pop_back();
    h = m->forward(h, emb, ctx);
  }
  auto norm = std::dynamic_pointer_cast<GroupNormImpl>(out_->named_children()["0"]);
  auto conv = std::dynamic_pointer_cast<ConvImpl>(out_->named_children()["2"]);
  // The output in the input's dtype (float32): the sampler's arithmetic stays in float32.
  return conv->forward(nonlinearity(norm->forward(h), c.nonlinearity_type)).to(x.scalar_type());
}

// ================================================================================================
// Checkpoint names
// ================================================================================================
std::map<std::string, std::string> lvdm_unet_name_map(const torch::nn::Module& module, LvdmWeights which,
                                                      const std::string& raw_prefix) {
  std::map<std::string, std::string> m;
  for (const auto& item : module.named_parameters(true)) {
    const std::string& name = item.key();
    if (which == LvdmWeights::Ema) {
      // LitEma registers buffers named like the parameters with the dots removed.
      std::string flat;
      for (char ch : name)
        if (ch != '.') flat.push_back(ch);
      m["model_ema.diffusion_model" + flat] = name;
    } else {
      m[raw_prefix + name] = name;
    }
  }
  return m;
}

// ================================================================================================
// Denoiser adapter
// ================================================================================================
LvdmUNetDenoiser::LvdmUNetDenoiser(LvdmUNet3D net) : net_(std::move(net)) {
  const auto& c = net_->config();
  const std::string& key = c.conditioning_key;
  if (key.empty()) {
    if (c.in_channels != c.out_channels)
      fail("LVDM U-Net: unconditional model with in_channels {} != out_channels {} (conditioning_key missing?)",
           c.in_channels, c.out_channels);
  } else if (key == "concat-adm-mask") {
    if (c.in_channels != c.out_channels + 1)
      fail("LVDM U-Net: conditioning_key concat-adm-mask needs in_channels = out_channels + 1 (mask), got {} and {}",
           c.in_channels, c.out_channels);
  } else if (key == "crossattn") {
    if (!c.use_temporal_transformer)
      fail("LVDM U-Net: conditioning_key crossattn needs use_temporal_transformer and context_dim");
  } else {
    fail("LVDM U-Net: conditioning_key '{}' is not supported (\"\", concat-adm-mask, crossattn)", key);
  }
}

at::Tensor LvdmUNetDenoiser::forward(const at::Tensor& x_t, const at::Tensor& t, const Conditioning& c_in) {
  const auto& cfg = net_->config();
  const std::string& key = cfg.conditioning_key;
  if (x_t.dim() != 5) fail("LVDM denoiser: x_t must be [B, C, T, H, W], got {} dims", x_t.dim());
  const int64_t B = x_t.size(0);
  at::Tensor tt = t.dim() == 0 ? t.expand({B}) : t;
  const Conditioning c = expand_to_batch(c_in, B);
  if (key.empty()) {
    if (c.mask.defined() && c.mask.ne(0).any().item<bool>())
      fail("LVDM denoiser: a condition mask was given but the model is unconditional (no conditioning_key)");
    return net_->forward(x_t, tt, {}, c.class_label);
  }
  if (key == "concat-adm-mask") {
    if (c.class_label.defined())
      fail("LVDM denoiser: concat-adm-mask models take the noise level s as their label; class_label is not used");
    // A text-conditioned frame-mask model (longvid: `longvid train --text-encoder`) also attends to
    // the prompt's context; the official long-video models have no context_dim.
    if (cfg.context_dim > 0 && !c.context.defined())
      fail("LVDM denoiser: this frame-mask model is text-conditioned and needs Conditioning.context [B, L, {}]",
           cfg.context_dim);
    return net_->forward(concat_mask_input(x_t, c, "LVDM"), tt, cfg.context_dim > 0 ? c.context : at::Tensor(),
                         c.cond_noise_level);
  }
  // crossattn
  if (!c.context.defined()) fail("LVDM denoiser: the text-to-video model needs Conditioning.context [B, L, {}]",
                                 cfg.context_dim);
  return net_->forward(x_t, tt, c.context, c.class_label);
}

LvdmWeights load_lvdm_unet(torch::nn::Module& model, const StateDict& sd, LvdmWeights which) {
  static const std::string raw_prefix = "model.diffusion_model.", ema_prefix = "model_ema.diffusion_model";
  auto has_prefix = [&](const std::string& p) {
    for (const auto& k : sd.keys())
      if (k.rfind(p, 0) == 0) return true;
    return false;
  };
  LoadIntoOptions opts;
  opts.strict = true;
  if (which == LvdmWeights::Auto) {
    if (has_prefix(raw_prefix))
      which = LvdmWeights::Raw;
    else if (has_prefix(ema_prefix))
      which = LvdmWeights::Ema;
    else {  // a bare U-Net state dict
      load_into(model, sd, opts);
      return LvdmWeights::Raw;
    }
  }
  if (which == LvdmWeights::Raw) {
    if (!has_prefix(raw_prefix))
      fail("{}: no '{}*' tensors (not an LVDM diffusion checkpoint?)", sd.path.string(), raw_prefix);
    opts.prefix = raw_prefix;
  } else if (which == LvdmWeights::Ema) {
    if (!has_prefix(ema_prefix))
      fail("{}: no EMA weights ('{}*'); the checkpoint was saved without use_ema", sd.path.string(), ema_prefix);
    // LitEma stores each parameter under its name with the dots removed; map back through our names.
    auto names = std::make_shared<std::map<std::string, std::string>>();
    for (const auto& kv : lvdm_unet_name_map(model, LvdmWeights::Ema))
      (*names)[kv.first.substr(ema_prefix.size())] = kv.second;
    opts.prefix = ema_prefix;
    opts.map_name = [names](const std::string& k) -> std::optional<std::string> {
      auto it = names->find(k);
      return it == names->end() ? k : it->second;
    };
  }
  load_into(model, sd, opts);
  return which;
}

}  // namespace longvid
