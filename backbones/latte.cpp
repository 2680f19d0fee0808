// Latte (Vchitect/Latte @b27c24a models/latte.py) — see latte.h.
#include "backbones/latte.h"

#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <map>

#include "backbones/latte_blocks.h"
#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"

namespace longvid {

using at::Tensor;
using nn::LinearImpl;

// ================================================================================================
// Config
// ================================================================================================

namespace {

struct LatteSize {
  const char* name;
  int64_t depth, hidden, heads;
};
// models/latte.py Latte_XL_2 ... Latte_S_8.
constexpr LatteSize kSizes[] = {{"XL", 28, 1152, 16}, {"L", 24, 1024, 16}, {"B", 12, 768, 12}, {"S", 12, 384, 6}};

int64_t heads_for_width(int64_t hidden) {
  for (const auto& s : kSizes)
    if (s.hidden == hidden) return s.heads;
  return -1;
}

}  // namespace

std::string LatteConfig::preset_name() const {
  for (const auto& s : kSizes)
    if (s.depth == depth && s.hidden == hidden_size && s.heads == num_heads &&
        (patch_size == 2 || patch_size == 4 || patch_size == 8))
      return fmt::format("Latte-{}/{}", s.name, patch_size);
  return "";
}

void LatteConfig::validate() const {
  if (hidden_size < 2 || num_heads < 1 || hidden_size % num_heads != 0)
    fail("Latte: hidden_size {} is not divisible by num_heads {}", hidden_size, num_heads);
  if (hidden_size % 4 != 0) fail("Latte: hidden_size {} must be a multiple of 4 (2D sin-cos table)", hidden_size);
  if (variant < 1 || variant > 4)
    fail("Latte: variant {} (1 interleaved, 2 late fusion, 3 factorized attention, 4 factorized heads)", variant);
  if ((variant == 1 || variant == 2) && (depth < 2 || depth % 2 != 0))
    fail("Latte: depth {} must be even and >= 2 (variant {}: spatial and temporal blocks)", depth, variant);
  if (depth < 1) fail("Latte: depth {} must be >= 1", depth);
  if (variant == 4 && num_heads < 2) fail("Latte: variant 4 splits the heads in two: num_heads {} must be >= 2", num_heads);
  if (tube_frames < 1 || num_frames % tube_frames != 0)
    fail("Latte: num_frames {} is not a multiple of tube_frames {}", num_frames, tube_frames);
  if (patch_size < 1 || input_size < patch_size || input_size % patch_size != 0)
    fail("Latte: input_size {} is not a multiple of patch_size {}", input_size, patch_size);
  if (in_channels < 1 || num_frames < 1) fail("Latte: in_channels {} and num_frames {} must be >= 1", in_channels, num_frames);
  if (extras != 1 && extras != 2 && extras != 78) fail("Latte: extras {} (1 unconditional, 2 class labels, 78 text)", extras);
  if (extras == 2 && num_classes < 1) fail("Latte: extras 2 needs num_classes >= 1 (got {})", num_classes);
  if (mlp_ratio <= 0) fail("Latte: mlp_ratio {} must be positive", mlp_ratio);
  if (masked && extras != 2)
    fail("Latte: a masked model takes the condition noise level as its label (extras 2), got extras {}", extras);
}

LatteConfig LatteConfig::preset(const std::string& name) {
  for (const auto& s : kSizes)
    for (int64_t p : {2, 4, 8})
      if (name == fmt::format("Latte-{}/{}", s.name, p)) {
        LatteConfig c;
        c.depth = s.depth;
        c.hidden_size = s.hidden;
        c.num_heads = s.heads;
        c.patch_size = p;
        return c;
      }
  fail("unknown Latte model '{}' (Latte-S|B|L|XL/2|4|8)", name);
}

LatteConfig LatteConfig::from_yaml_file(const std::filesystem::path& path) {
  return from_yaml_string(read_text_file(path, "config"), path.string());
}

LatteConfig LatteConfig::from_yaml_string(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: YAML parse error: {}", origin, e.what());
  }
  if (!root.IsMap() || !((root["model"] && root["model"].IsScalar()) || root["hidden_size"]))
    fail("{}: not a Latte config (no top-level `model: Latte-XL/2`)", origin);
  try {
    LatteConfig c = root["model"] ? preset(root["model"].as<std::string>()) : LatteConfig{};
    // Explicit sizes (longvid-trained models of other widths) override the preset.
    if (root["depth"]) c.depth = root["depth"].as<int64_t>();
    if (root["hidden_size"]) c.hidden_size = root["hidden_size"].as<int64_t>();
    if (root["num_heads"]) c.num_heads = root["num_heads"].as<int64_t>();
    if (root["patch_size"]) c.patch_size = root["patch_size"].as<int64_t>();
    if (root["mlp_ratio"]) c.mlp_ratio = root["mlp_ratio"].as<double>();
    if (root["input_size"]) c.input_size = root["input_size"].as<int64_t>();
    if (root["variant"]) c.variant = root["variant"].as<int64_t>();
    if (root["tube_frames"]) c.tube_frames = root["tube_frames"].as<int64_t>();
    if (root["num_frames"]) c.num_frames = root["num_frames"].as<int64_t>();
    if (root["image_size"]) {
      int64_t image = root["image_size"].as<int64_t>();
      if (image % 8 != 0) fail("{}: image_size {} is not a multiple of 8 (the VAE's factor)", origin, image);
      c.input_size = image / 8;  // sample.py: latent_size = image_size // 8
    }
    if (root["learn_sigma"]) c.learn_sigma = root["learn_sigma"].as<bool>();
    if (root["extras"]) c.extras = root["extras"].as<int64_t>();
    if (root["num_classes"]) c.num_classes = root["num_classes"].as<int64_t>();
    if (root["in_channels"]) c.in_channels = root["in_channels"].as<int64_t>();
    if (root["masked"]) c.masked = root["masked"].as<bool>();
    if (root["class_dropout_prob"]) c.class_dropout_prob = root["class_dropout_prob"].as<double>();
    c.validate();
    return c;
  } catch (const YAML::Exception& e) {
    fail("{}: bad Latte config value: {}", origin, e.what());
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind(origin, 0) == 0) throw;
    fail("{}: {}", origin, what);
  }
}

LatteConfig LatteConfig::from_state_dict(const StateDict& sd, int64_t num_heads_hint) {
  auto need = [&](const std::string& k, int64_t ndim) -> const Tensor& {
    if (!sd.contains(k)) fail("not a Latte state dict: no '{}'", k);
    const Tensor& t = sd.get(k);
    if (t.dim() != ndim) fail("Latte: '{}' has shape {}, expected {} dimensions", k, fmt::join(t.sizes(), "x"), ndim);
    return t;
  };
  LatteConfig c;
  if (!sd.contains("x_embedder.proj.weight")) fail("not a Latte state dict: no 'x_embedder.proj.weight'");
  const Tensor& pw = sd.get("x_embedder.proj.weight");  // [D, C, p, p] or, tube embedding, [D, C, t, p, p]
  if (pw.dim() != 4 && pw.dim() != 5)
    fail("Latte: 'x_embedder.proj.weight' has shape {}, expected 4 or 5 dimensions", fmt::join(pw.sizes(), "x"));
  c.hidden_size = pw.size(0);
  c.in_channels = pw.size(1);
  c.tube_frames = pw.dim() == 5 ? pw.size(2) : 1;
  c.patch_size = pw.size(-1);
  if (pw.size(-2) != c.patch_size) fail("Latte: x_embedder.proj.weight {} is not a square patch", fmt::join(pw.sizes(), "x"));
  const Tensor& pos = need("pos_embed", 3);  // [1, P, D]
  const int64_t grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.size(1)))));
  if (grid * grid != pos.size(1) || pos.size(2) != c.hidden_size)
    fail("Latte: pos_embed {} does not fit a square grid of width {}", fmt::join(pos.sizes(), "x"), c.hidden_size);
  c.input_size = grid * c.patch_size;
  c.num_frames = need("temp_embed", 3).size(1) * c.tube_frames;
  if (sd.contains("blocks.0.attn_temp.qkv.weight")) c.variant = 3;  // 2 and 4 share the released keys: from a config
  int64_t depth = 0;
  while (sd.contains(fmt::format("blocks.{}.attn.qkv.weight", depth))) ++depth;
  c.depth = depth;
  const Tensor& fw = need("final_layer.linear.weight", 2);  // [p²·C_out, D]
  const int64_t out_c = fw.size(0) / (c.tube_frames * c.patch_size * c.patch_size);
  if (out_c == 2 * c.in_channels) {
    c.learn_sigma = true;
  } else if (out_c == c.in_channels) {
    c.learn_sigma = false;
  } else if (out_c == c.in_channels - 1 || out_c == 2 * (c.in_channels - 1)) {  // + the frame mask channel
    c.masked = true;
    c.in_channels -= 1;
    c.learn_sigma = out_c == 2 * c.in_channels;
  } else
    fail("Latte: final_layer.linear.weight {} gives {} output channels for {} input channels (expected {} or {})",
         fmt::join(fw.sizes(), "x"), out_c, c.in_channels, c.in_channels, 2 * c.in_channels);
  if (sd.contains("blocks.0.mlp.fc1.weight"))
    c.mlp_ratio = static_cast<double>(sd.get("blocks.0.mlp.fc1.weight").size(0)) / static_cast<double>(c.hidden_size);
  if (sd.contains("y_embedder.embedding_table.weight")) {
    c.extras = 2;
    // + the CFG null row; a masked model's table is the noise levels s, without one.
    c.num_classes = sd.get("y_embedder.embedding_table.weight").size(0) - (c.masked ? 0 : 1);
    if (c.masked) c.class_dropout_prob = 0;
  } else if (sd.contains("text_embedding_projection.1.weight")) {
    c.extras = 78;
  } else {
    c.extras = 1;
  }
  c.num_heads = heads_for_width(c.hidden_size);
  if (num_heads_hint > 0) c.num_heads = num_heads_hint;
  if (c.num_heads < 1)
    fail("Latte: hidden size {} is none of the published sizes (S 384, B 768, L 1024, XL 1152): the head count "
         "is not in the weights, give a config",
         c.hidden_size);
  c.validate();
  return c;
}

// ================================================================================================
// Blocks
// ================================================================================================



// ================================================================================================
// Latte
// ================================================================================================

using namespace latte_detail;

LatteImpl::LatteImpl(LatteConfig cfg, at::Device device) : cfg_(std::move(cfg)) {
  cfg_.validate();
  nn::ParamOptionsScope scope(device);
  const auto& c = cfg_;
  const int64_t D = c.hidden_size, p = c.patch_size;
  // timm PatchEmbed(input_size, p, C, D, bias=True): x_embedder.proj = Conv2d(C, D, p, stride p).
  x_embedder_ = nn::container(*this, "x_embedder");
  const int64_t tf = c.tube_frames;
  auto proj = x_embedder_->register_module(
      "proj", tf > 1 ? std::make_shared<nn::ConvImpl>(c.input_channels(), D, std::vector<int64_t>{tf, p, p},
                                                      std::vector<int64_t>{tf, p, p}, std::vector<int64_t>{0, 0, 0})
                     : std::make_shared<nn::ConvImpl>(c.input_channels(), D, std::vector<int64_t>{p, p},
                                                      std::vector<int64_t>{p, p}, std::vector<int64_t>{0, 0}));
  patch_w_ = proj->weight;
  patch_b_ = proj->bias;
  // TimestepEmbedder: mlp = Sequential(Linear(256, D), SiLU, Linear(D, D)).
  t_mlp_ = nn::container(*nn::container(*this, "t_embedder"), "mlp");
  t_mlp_->register_module("0", std::make_shared<LinearImpl>(256, D));
  t_mlp_->register_module("2", std::make_shared<LinearImpl>(D, D));
  if (c.extras == 2) {  // LabelEmbedder: Embedding(num_classes + (dropout > 0), D)
    y_table_ = nn::container(*nn::container(*this, "y_embedder"), "embedding_table");
    const int64_t rows = c.num_classes + (c.class_dropout_prob > 0 ? 1 : 0);
    label_table_ = y_table_->register_parameter("weight", nn::p_empty({rows, D}).normal_(0, 0.02), false);
  } else if (c.extras == 78) {  // text_embedding_projection = Sequential(SiLU, Linear(77·768, D))
    text_proj_ = nn::container(*this, "text_embedding_projection");
    text_proj_->register_module("1", std::make_shared<LinearImpl>(77 * 768, D));
  }
  const int64_t grid = c.input_size / p;
  pos_embed_ = register_parameter("pos_embed", nn::sincos_pos_embed_2d(D, grid).to(nn::param_options()).unsqueeze(0),
                                  false);
  auto frames = at::arange(c.num_frames / tf, at::TensorOptions().dtype(at::kDouble));
  temp_embed_ = register_parameter("temp_embed",
                                   nn::sincos_pos_embed_1d(D, frames).to(nn::param_options()).unsqueeze(0), false);
  auto list = nn::container(*this, "blocks");
  for (int64_t i = 0; i < c.depth; ++i) {
    if (c.variant == 3)
      fblocks_.push_back(
          list->register_module(std::to_string(i), std::make_shared<FactorizedBlockImpl>(D, c.num_heads, c.mlp_ratio)));
    else
      blocks_.push_back(list->register_module(std::to_string(i), std::make_shared<BlockImpl>(D, c.num_heads, c.mlp_ratio)));
  }
  final_ = register_module("final_layer", std::make_shared<FinalLayerImpl>(D, p, c.out_channels(), tf));
}

int64_t LatteImpl::num_trainable_parameters() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters())
    if (kv.key() != "pos_embed" && kv.key() != "temp_embed") n += kv.value().numel();
  return n;
}

Tensor LatteImpl::condition(const Tensor& t, const Tensor& y, const Tensor& text, int64_t batch) {
  // TimestepEmbedder: 256-dim [cos, sin] (float32) -> Linear -> SiLU -> Linear.
  auto tf = nn::timestep_embedding(t.reshape({-1}), 256).to(patch_w_.device(), patch_w_.scalar_type());
  auto mlp = t_mlp_->children();
  auto lin = [](const std::shared_ptr<torch::nn::Module>& m) { return std::static_pointer_cast<LinearImpl>(m); };
  Tensor c = lin(mlp[1])->forward(at::silu(lin(mlp[0])->forward(tf)));
  if (c.size(0) == 1 && batch > 1) c = c.expand({batch, c.size(1)});
  if (c.size(0) != batch) fail("Latte: {} timesteps for a batch of {}", c.size(0), batch);
  if (cfg_.extras == 2) {
    Tensor labels = y.defined() ? y.to(at::kLong).reshape({-1}).to(c.device())
                                : at::full({batch}, cfg_.num_classes, c.options().dtype(at::kLong));
    if (labels.size(0) != batch) fail("Latte: {} class labels for a batch of {}", labels.size(0), batch);
    const int64_t rows = label_table_.size(0);
    if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= rows))
      fail("Latte: class label out of range [0, {}) (null class {})", rows, cfg_.num_classes);
    c = c + at::embedding(label_table_, labels);
  } else if (cfg_.extras == 78) {
    if (!text.defined()) fail("Latte (extras 78): a text embedding [B, 77, 768] is required");
    if (text.numel() != batch * 77 * 768)
      fail("Latte (extras 78): text embedding of shape {} (expected [{}, 77, 768])", fmt::join(text.sizes(), "x"), batch);
    auto proj = std::static_pointer_cast<LinearImpl>(text_proj_->children()[0]);
    c = c + proj->forward(at::silu(text.reshape({batch, -1}).to(c.device(), c.scalar_type())));
  }
  return c;
}

Tensor LatteImpl::forward(const Tensor& x, const Tensor& t, const Tensor& y, const Tensor& text) {
  const auto& cf = cfg_;
  if (x.dim() != 5 || x.size(1) != cf.input_channels())
    fail("Latte: input of shape {}, expected [B, {}, T, H, W]", fmt::join(x.sizes(), "x"), cf.input_channels());
  const int64_t B = x.size(0), F = x.size(2), H = x.size(3), W = x.size(4), p = cf.patch_size, D = cf.hidden_size;
  const int64_t tf = cf.tube_frames;
  if (H % p != 0 || W % p != 0) fail("Latte: latent size {}x{} is not a multiple of the patch size {}", H, W, p);
  if (F % tf != 0) fail("Latte: {} latent frames are not a multiple of the tube length {}", F, tf);
  const int64_t gh = H / p, gw = W / p, P = gh * gw, Fp = F / tf;
  const TokenGrid g{B, Fp, P};
  Tensor h;
  const Tensor xw = x.to(patch_w_.scalar_type());  // the weights' dtype (bf16 / fp16 after cast_for_inference)
  if (tf == 1) {  // image-wise: (b c f h w) -> (b f) c h w; Conv2d patches
    auto xf = xw.permute({0, 2, 1, 3, 4}).reshape({B * F, cf.input_channels(), H, W});
    h = at::conv2d(xf, patch_w_, patch_b_, {p, p}).flatten(2).transpose(1, 2);  // [BF, P, D]
  } else {        // tube: Conv3d (tf, p, p) patches -> (b f') (h w) d
    h = at::conv3d(xw, patch_w_, patch_b_, {tf, p, p}).permute({0, 2, 3, 4, 1}).reshape({B * Fp, P, D});
  }
  Tensor pos = pos_embed_;
  if (pos.size(1) != P)  // beyond the release: the sin-cos table of this grid
    pos = nn::sincos_pos_embed_2d(D, gh, gw).to(h.options()).unsqueeze(0);
  h = h + pos;
  Tensor temp = temp_embed_;
  if (temp.size(1) != Fp)
    temp = nn::sincos_pos_embed_1d(D, at::arange(Fp, at::TensorOptions().dtype(at::kDouble))).to(h.options()).unsqueeze(0);
  const Tensor c = condition(t, y, text, B);
  switch (cf.variant) {
    case 1:  // the release: spatial and temporal blocks interleaved
      for (size_t i = 0; i + 1 < blocks_.size(); i += 2) {
        h = blocks_[i]->forward(h, c);      // spatial: (b f) t d
        h = to_temporal(h, g);              // -> (b t) f d
        if (i == 0) h = h + temp;
        h = blocks_[i + 1]->forward(h, c);  // temporal
        h = to_spatial(h, g);               // -> (b f) t d
      }
      break;
    case 2: {  // late fusion: the spatial half, then the temporal half
      const size_t half = blocks_.size() / 2;
      for (size_t i = 0; i < half; ++i) h = blocks_[i]->forward(h, c);
      h = to_temporal(h, g) + temp;
      for (size_t i = half; i < blocks_.size(); ++i) h = blocks_[i]->forward(h, c);
      h = to_spatial(h, g);
      break;
    }
    case 3:  // factorized self-attention in every block
      h = (h.reshape({B, Fp, P, D}) + temp.reshape({1, Fp, 1, D})).reshape({B * Fp, P, D});
      for (const auto& blk : fblocks_) h = blk->forward(h, c, g);
      break;
    default:  // 4: factorized multi-head attention (half the heads spatial, half temporal)
      h = (h.reshape({B, Fp, P, D}) + temp.reshape({1, Fp, 1, D})).reshape({B * Fp, P, D});
      for (const auto& blk : blocks_) h = blk->forward(h, c, &g);
      break;
  }
  h = final_->forward(h, c);  // [B·F', P, tf·p·p·C_out]
  // unpatchify: (n h w [t] p q c) -> (n c [t] h p w q); then (b f') c ... -> b c (f' t) h w.
  const int64_t oc = cf.out_channels();
  return h.reshape({B, Fp, gh, gw, tf, p, p, oc})
      .permute({0, 7, 1, 4, 2, 5, 3, 6})
      .reshape({B, oc, F, H, W})
      .to(x.scalar_type());
}

void load_latte(LatteImpl& model, const StateDict& sd) {
  LoadIntoOptions opts;
  opts.strict = true;
  load_into(model, sd, opts);
}

// ================================================================================================
// Denoiser
// ================================================================================================

LatteDenoiser::LatteDenoiser(Latte net) : net_(std::move(net)) { net_->eval(); }

Tensor LatteDenoiser::forward(const Tensor& x_t, const Tensor& t, const Conditioning& c) {
  if (!net_->config().masked) {
    if (c.mask.defined() && c.mask.numel() > 0 && c.mask.any().item<bool>())
      fail("Latte: this model has no frame-mask conditioning (it cannot predict or interpolate frames)");
    return net_->forward(x_t, t, c.class_label, c.context);
  }
  if (c.class_label.defined())
    fail("Latte: a masked model takes the noise level s as its label; class_label is not used");
  if (x_t.dim() != 5) fail("Latte denoiser: x_t must be [B, C, T, H, W], got {} dims", x_t.dim());
  const Conditioning cb = expand_to_batch(c, x_t.size(0));
  // No noise level given: s = 0 (clean conditions).
  Tensor s = cb.cond_noise_level.defined() ? cb.cond_noise_level
                                           : at::zeros({x_t.size(0)}, x_t.options().dtype(at::kLong));
  return net_->forward(concat_mask_input(x_t, cb, "Latte"), t, s, {});
}

}  // namespace longvid
