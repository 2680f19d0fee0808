// IFNet (RIFE 4.x), see ifnet.h. Reproduces HolyWu/vs-rife@2a7f2c8 vsrife/IFNet_HDv3_v4_*.py (ports of
// Practical-RIFE's train_log/IFNet_HDv3.py per version) and Practical-RIFE model/warplayer.py.
#include "backbones/ifnet.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {
namespace {

namespace nnf = torch::nn::functional;

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t stride, int64_t groups = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).groups(groups));
}
torch::nn::ConvTranspose2d deconv(int64_t in, int64_t out) {
  return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1));
}
at::Tensor leaky(const at::Tensor& x) { return at::leaky_relu(x, 0.2); }

// F.interpolate(x, scale_factor=s, mode="bilinear") (align_corners False, scale used as given). At
// s = 1 every output pixel takes weight 1 on its own input pixel and 0 on the next: the input itself.
at::Tensor resize(const at::Tensor& x, double s) {
  if (s == 1.0) return x;
  return at::upsample_bilinear2d(x, c10::nullopt, false, std::vector<double>{s, s});
}

struct Published {
  std::vector<std::string> names;
  IFNetConfig cfg;
};

IFNetConfig base4(std::vector<int64_t> c, int64_t enc) {
  IFNetConfig k;
  k.block_c = std::move(c);
  k.block_in = {7 + 2 * enc};
  for (size_t i = 1; i < k.block_c.size(); ++i) k.block_in.push_back(8 + 4 + 2 * enc);
  k.scale_base = {8, 4, 2, 1};
  k.modulo = 32;
  k.feat_channels = 0;
  k.last_channels = 6;
  k.encoder_out = enc;
  k.encoder = enc ? IFNetConfig::Encoder::Head : IFNetConfig::Encoder::None;
  return k;
}

const std::vector<Published>& published_table() {
  static const std::vector<Published> table = [] {
    using E = IFNetConfig::Encoder;
    std::vector<Published> t;
    // 4.0 - 4.6: no encoder; masks accumulate.
    IFNetConfig v40 = base4({192, 128, 96, 64}, 0);
    v40.prelu = v40.block_residual = v40.large_motion_restart = v40.additive_mask = true;
    v40.resconv = v40.pixel_shuffle = false;
    v40.last_channels = 5;
    // vs-rife pads 4.0/4.1 to 32, but the large-motion restart doubles every scale, and at 32 the
    // restarted block 0's flow then comes back larger than the frame (the reference fails there).
    v40.modulo = 64;
    t.push_back({{"4.0", "4.1"}, v40});
    IFNetConfig v42 = v40;
    v42.prelu = v42.block_residual = v42.large_motion_restart = false;
    v42.modulo = 32;
    t.push_back({{"4.2", "4.3", "4.4"}, v42});
    IFNetConfig v45 = v42;
    v45.resconv = v45.pixel_shuffle = true;
    t.push_back({{"4.5"}, v45});
    IFNetConfig v46 = v45;
    v46.last_channels = 6;
    t.push_back({{"4.6"}, v46});
    // 4.7+: a feature encoder, masks replaced per block.
    IFNetConfig v47 = base4({192, 128, 96, 64}, 4);
    v47.encoder = E::Conv2;
    v47.encoder_hidden = 16;
    t.push_back({{"4.7", "4.8", "4.9", "4.9.2"}, v47});
    IFNetConfig v410 = base4({192, 128, 96, 64}, 8);
    v410.encoder = E::Conv4;
    v410.encoder_hidden = 32;
    t.push_back({{"4.10", "4.11", "4.12"}, v410});
    IFNetConfig v412l = base4({128, 96, 64, 48}, 4);
    v412l.encoder = E::Conv4;
    v412l.encoder_hidden = 32;
    t.push_back({{"4.12.lite", "4.13.lite"}, v412l});
    IFNetConfig v413 = base4({192, 128, 96, 64}, 8);
    v413.encoder_hidden = 32;
    t.push_back({{"4.13", "4.14", "4.15", "4.17", "4.18", "4.19", "4.24"}, v413});
    IFNetConfig v414l = v413;
    v414l.resconv_groups = 2;
    t.push_back({{"4.14.lite"}, v414l});
    IFNetConfig v415l = base4({128, 96, 64, 48}, 4);
    t.push_back({{"4.15.lite", "4.16.lite", "4.17.lite"}, v415l});
    IFNetConfig v420 = base4({384, 192, 96, 48}, 8);
    v420.encoder_hidden = 32;
    t.push_back({{"4.20"}, v420});
    // 4.21+: blocks hand 8 feature channels on.
    auto with_feat = [](IFNetConfig k) {
      k.feat_channels = 8;
      k.last_channels = 13;
      for (size_t i = 1; i < k.block_in.size(); ++i) k.block_in[i] += 8;
      return k;
    };
    IFNetConfig v421 = with_feat(base4({256, 192, 96, 48}, 8));
    v421.encoder_hidden = 32;
    t.push_back({{"4.21", "4.22", "4.23"}, v421});
    t.push_back({{"4.22.lite"}, with_feat(base4({192, 128, 64, 32}, 4))});
    // 4.25+: five blocks.
    auto five = [&](std::vector<int64_t> c, int64_t enc) {
      IFNetConfig k = with_feat(base4(std::move(c), enc));
      k.scale_base = {16, 8, 4, 2, 1};
      k.modulo = 64;
      return k;
    };
    t.push_back({{"4.25", "4.26"}, five({192, 128, 96, 64, 32}, 4)});
    IFNetConfig v425l = five({192, 128, 96, 64, 24}, 4);
    v425l.scale_base = {32, 16, 8, 4, 1};
    v425l.modulo = 128;
    t.push_back({{"4.25.lite"}, v425l});
    t.push_back({{"4.25.heavy"}, five({384, 256, 192, 128, 64}, 4)});
    t.push_back({{"4.26.heavy"}, five({192, 128, 96, 64, 32}, 16)});
    for (auto& p : t) {
      std::string v;
      for (const auto& n : p.names) v += (v.empty() ? "" : ", ") + n;
      p.cfg.version = v;
    }
    return t;
  }();
  return table;
}

// Layouts equal in everything that shapes the computation (the version label aside).
bool same_layout(const IFNetConfig& a, const IFNetConfig& b) {
  return a.block_c == b.block_c && a.block_in == b.block_in && a.scale_base == b.scale_base && a.prelu == b.prelu &&
         a.block_residual == b.block_residual && a.resconv == b.resconv && a.resconv_groups == b.resconv_groups &&
         a.pixel_shuffle == b.pixel_shuffle && a.last_channels == b.last_channels &&
         a.feat_channels == b.feat_channels && a.encoder == b.encoder &&
         (a.encoder == IFNetConfig::Encoder::None ||
          (a.encoder_hidden == b.encoder_hidden && a.encoder_out == b.encoder_out)) &&
         a.additive_mask == b.additive_mask && a.large_motion_restart == b.large_motion_restart &&
         a.modulo == b.modulo;
}

}  // namespace

const std::vector<std::string>& IFNetConfig::published_versions() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& p : published_table())
      for (const auto& v : p.names) n.push_back(v);
    return n;
  }();
  return names;
}

IFNetConfig IFNetConfig::published(const std::string& version) {
  for (const auto& p : published_table())
    for (const auto& v : p.names)
      if (v == version) {
        IFNetConfig k = p.cfg;
        k.version = version;
        return k;
      }
  std::string all;
  for (const auto& v : published_versions()) all += (all.empty() ? "" : " ") + v;
  throw Error("unknown IFNet version '" + version + "' (known: " + all + ")");
}

int64_t IFNetConfig::pad_multiple(double scale) const {
  return std::max<int64_t>(modulo, static_cast<int64_t>(static_cast<double>(modulo) / scale));
}

IFNetConfig ifnet_config_from_state_dict(const StateDict& sd) {
  auto shape = [&](const std::string& k) -> std::vector<int64_t> {
    if (!sd.contains(k)) return {};
    auto s = sd.get(k).sizes();
    return {s.begin(), s.end()};
  };
  auto need = [&](const std::string& k, size_t dims) {
    auto s = shape(k);
    if (s.size() != dims)
      throw Error("not an IFNet checkpoint: " +
                  (s.empty() ? "no tensor '" + k + "'" : "'" + k + "' has " + std::to_string(s.size()) + " dims"));
    return s;
  };
  IFNetConfig k;
  k.block_c.clear();
  k.block_in.clear();
  for (int b = 0; sd.contains("block" + std::to_string(b) + ".conv0.0.0.weight"); ++b) {
    const std::string p = "block" + std::to_string(b) + ".";
    auto w0 = need(p + "conv0.0.0.weight", 4), w1 = need(p + "conv0.1.0.weight", 4);
    k.block_in.push_back(w0[1]);
    k.block_c.push_back(w1[0]);
  }
  if (k.block_c.size() < 2) {
    need("block0.conv0.0.0.weight", 4);
    need("block1.conv0.0.0.weight", 4);
  }
  const int64_t c0 = k.block_c[0];
  k.prelu = sd.contains("block0.conv0.0.1.weight");
  k.resconv = sd.contains("block0.convblock.0.beta");
  if (k.resconv) {
    auto w = need("block0.convblock.0.conv.weight", 4);
    k.resconv_groups = w[1] > 0 ? c0 / w[1] : 0;
  } else {
    need("block0.convblock.0.0.weight", 4);
  }
  k.pixel_shuffle = sd.contains("block0.lastconv.0.weight");
  if (k.pixel_shuffle) {
    auto w = need("block0.lastconv.0.weight", 4);
    if (w[1] % 4) throw Error("not an IFNet checkpoint: 'block0.lastconv.0.weight' has " + std::to_string(w[1]) +
                              " output channels, not a multiple of 4");
    k.last_channels = w[1] / 4;
  } else {
    k.last_channels = need("block0.lastconv.weight", 4)[1];
  }
  k.feat_channels = k.last_channels > 6 ? k.last_channels - 5 : 0;
  if (k.last_channels < 5)
    throw Error("not an IFNet checkpoint: lastconv gives " + std::to_string(k.last_channels) + " channels (< 5)");
  if (sd.contains("encode.cnn0.weight")) {
    k.encoder = IFNetConfig::Encoder::Head;
    k.encoder_hidden = need("encode.cnn0.weight", 4)[0];
    k.encoder_out = need("encode.cnn3.weight", 4)[1];
  } else if (sd.contains("encode.6.weight")) {
    k.encoder = IFNetConfig::Encoder::Conv4;
    k.encoder_hidden = need("encode.0.weight", 4)[0];
    k.encoder_out = need("encode.6.weight", 4)[1];
  } else if (sd.contains("encode.1.weight")) {
    k.encoder = IFNetConfig::Encoder::Conv2;
    k.encoder_hidden = need("encode.0.weight", 4)[0];
    k.encoder_out = need("encode.1.weight", 4)[1];
  } else {
    k.encoder = IFNetConfig::Encoder::None;
    k.encoder_out = 0;
  }
  const bool has_enc = k.encoder != IFNetConfig::Encoder::None;
  k.additive_mask = !has_enc;
  k.large_motion_restart = k.prelu;
  k.block_residual = k.prelu;
  const size_t n = k.block_c.size();
  if (n == 4) {
    k.scale_base = {8, 4, 2, 1};
    k.modulo = k.large_motion_restart ? 64 : 32;
  } else if (n == 5) {
    // 4.25.lite: a narrower last block at scale 1 after 4 (modulo 128); the others 16..1.
    const bool lite = k.block_c[4] * 8 == k.block_c[0];
    k.scale_base = lite ? std::vector<double>{32, 16, 8, 4, 1} : std::vector<double>{16, 8, 4, 2, 1};
    k.modulo = lite ? 128 : 64;
  } else {
    throw Error("not an IFNet checkpoint: " + std::to_string(n) + " flow blocks (published 4.x: 4 or 5)");
  }
  // The planes each block must take given the encoder and feature channels.
  const int64_t enc = 2 * k.encoder_out;
  for (size_t b = 0; b < n; ++b) {
    const int64_t want = b == 0 ? 7 + enc : 8 + 4 + enc + k.feat_channels;
    if (k.block_in[b] != want)
      throw Error("not an IFNet checkpoint: 'block" + std::to_string(b) + ".conv0.0.0.weight' takes " +
                  std::to_string(k.block_in[b]) + " planes, the layout implies " + std::to_string(want));
  }
  k.version = "unknown 4.x layout";
  for (const auto& p : published_table())
    if (same_layout(k, p.cfg)) k.version = p.cfg.version;
  // An IFNet longvid trained (train-rife) names its preset, e.g. "longvid-tiny (4.26 layout)".
  if (auto it = sd.metadata.find("longvid.rife"); it != sd.metadata.end() && k.version == "unknown 4.x layout")
    k.version = it->second;
  return k;
}

at::Tensor rife_warp(const at::Tensor& input, const at::Tensor& flow) {
  const auto dtype = input.scalar_type();
  at::Tensor x = input.to(at::kFloat), f = flow.to(at::kFloat);
  const int64_t n = f.size(0), h = f.size(2), w = f.size(3);
  const auto opt = f.options();
  at::Tensor hor = at::linspace(-1.0, 1.0, w, opt).view({1, 1, 1, w}).expand({n, -1, h, -1});
  at::Tensor ver = at::linspace(-1.0, 1.0, h, opt).view({1, 1, h, 1}).expand({n, -1, -1, w});
  at::Tensor grid = at::cat({hor, ver}, 1);
  // warplayer.py divides by the input's size ((W - 1) / 2, (H - 1) / 2), as Python floats.
  f = at::cat({f.slice(1, 0, 1) / ((static_cast<double>(x.size(3)) - 1.0) / 2.0),
               f.slice(1, 1, 2) / ((static_cast<double>(x.size(2)) - 1.0) / 2.0)},
              1);
  at::Tensor g = (grid + f).permute({0, 2, 3, 1});
  // grid_sampler: interpolation 0 = bilinear, padding 1 = border.
  return at::grid_sampler(x, g, 0, 1, true).to(dtype);
}

StateDict load_ifnet_state_dict(const std::filesystem::path& path) {
  LoadOptions lo;
  lo.select = "root";
  StateDict sd = load_checkpoint(path, lo);
  if (!sd.has_prefix("module.")) return sd;
  StateDict out = sd.select_prefix("module.");
  out.metadata = sd.metadata;
  out.format = sd.format;
  out.path = sd.path;
  out.source = "module.";
  return out;
}

IFNet load_ifnet(const StateDict& sd) {
  IFNet m(ifnet_config_from_state_dict(sd));
  LoadIntoOptions lo;
  load_into(*m, sd, lo);
  m->eval();
  return m;
}

IFNet load_ifnet(const std::filesystem::path& path) {
  try {
    return load_ifnet(load_ifnet_state_dict(path));
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(path.string()) != std::string::npos) throw;
    throw Error(path.string() + ": " + what);
  }
}

at::Tensor rife_pad(const at::Tensor& img, int64_t multiple) {
  const int64_t h = img.size(-2), w = img.size(-1);
  const int64_t ph = (h + multiple - 1) / multiple * multiple, pw = (w + multiple - 1) / multiple * multiple;
  if (ph == h && pw == w) return img;
  return at::constant_pad_nd(img, {0, pw - w, 0, ph - h}, 0.0);
}

IFNetBlockImpl::IFNetBlockImpl(const IFNetConfig& cfg, int64_t in_planes, int64_t c) : cfg_(cfg) {
  // Containers only name the parameters as the Python nn.Sequential / ResConv do; forward() walks
  // the layers itself. conv0 = Sequential(conv(in, c/2, 3, 2, 1), conv(c/2, c, 3, 2, 1)) with
  // conv() = Sequential(Conv2d, activation): conv0.0.0.weight, conv0.0.1.weight (PReLU), ...
  auto conv_unit = [&](torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out, int64_t stride) {
    auto unit = std::make_shared<torch::nn::Module>();
    convs_.push_back(unit->register_module("0", conv2d(in, out, stride)));
    if (cfg.prelu)
      prelus_.push_back(unit->register_module("1", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(out))));
    parent.register_module(name, unit);
  };
  auto conv0 = std::make_shared<torch::nn::Module>();
  conv_unit(*conv0, "0", in_planes, c / 2, 2);
  conv_unit(*conv0, "1", c / 2, c, 2);
  register_module("conv0", conv0);
  auto block = std::make_shared<torch::nn::Module>();
  for (int i = 0; i < 8; ++i) {
    if (cfg.resconv) {
      // ResConv: relu(conv(x) * beta + x); .conv.weight / .bias, .beta [1, c, 1, 1]
      auto rc = std::make_shared<torch::nn::Module>();
      convs_.push_back(rc->register_module("conv", conv2d(c, c, 1, cfg.resconv_groups)));
      betas_.push_back(rc->register_parameter("beta", torch::ones({1, c, 1, 1})));
      block->register_module(std::to_string(i), rc);
    } else {
      conv_unit(*block, std::to_string(i), c, c, 1);
    }
  }
  register_module("convblock", block);
  if (cfg.pixel_shuffle) {
    auto last = std::make_shared<torch::nn::Module>();  // Sequential(ConvTranspose2d, PixelShuffle(2))
    last_ = last->register_module("0", deconv(c, 4 * cfg.last_channels));
    register_module("lastconv", last);
  } else {
    last_ = register_module("lastconv", deconv(c, cfg.last_channels));
  }
}

at::Tensor IFNetBlockImpl::conv_act(size_t i, const at::Tensor& x) {
  at::Tensor y = convs_[i]->forward(x);
  return cfg_.prelu ? prelus_[i]->forward(y) : leaky(y);
}

IFNetBlockImpl::Out IFNetBlockImpl::forward(const std::vector<at::Tensor>& parts, const at::Tensor& flow_in,
                                             double scale) {
  // The reference concatenates at full resolution, then resizes. upsample_bilinear2d's CPU kernel
  // vectorises over groups of 8 channels, so resizing the parts one by one rounds some values 1 ulp
  // differently; the fast mode (exact_ false) does that and skips the full-resolution copy.
  std::vector<at::Tensor> groups;
  if (exact_ || parts.size() == 1)
    groups.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 1));
  else
    groups = parts;
  std::vector<at::Tensor> low;
  for (const auto& p : groups) low.push_back(resize(p, 1.0 / scale));
  if (flow_in.defined()) low.push_back(resize(flow_in, 1.0 / scale) / scale);
  at::Tensor x = at::cat(low, 1);
  at::Tensor feat = conv_act(1, conv_act(0, x));
  at::Tensor h = feat;
  for (size_t i = 0; i < 8; ++i) {
    if (cfg_.resconv)
      h = leaky(convs_[2 + i]->forward(h) * betas_[i] + h);
    else
      h = conv_act(2 + i, h);
  }
  if (cfg_.block_residual) h = h + feat;
  at::Tensor tmp = last_->forward(h);
  Out o;
  if (cfg_.pixel_shuffle) {
    tmp = at::pixel_shuffle(tmp, 2);
    tmp = resize(tmp, scale);
    o.flow = tmp.slice(1, 0, 4) * scale;
  } else {
    // 4.0 - 4.4: ConvTranspose to 5 channels at half resolution.
    tmp = resize(tmp, scale * 2);
    o.flow = tmp.slice(1, 0, 4) * scale * 2;
  }
  o.mask = tmp.slice(1, 4, 5);
  if (cfg_.feat_channels) o.feat = tmp.slice(1, 5, 5 + cfg_.feat_channels);
  return o;
}

IFNetImpl::IFNetImpl(const IFNetConfig& cfg) : cfg_(cfg) {
  if (cfg.block_c.size() != cfg.block_in.size() || cfg.block_c.size() != cfg.scale_base.size() || cfg.block_c.empty())
    throw Error("IFNet config: block_c, block_in and scale_base must be non-empty and of equal length");
  for (size_t b = 0; b < cfg.block_c.size(); ++b)
    blocks_.push_back(register_module("block" + std::to_string(b), IFNetBlock(cfg, cfg.block_in[b], cfg.block_c[b])));
  using E = IFNetConfig::Encoder;
  const int64_t hid = cfg.encoder_hidden, out = cfg.encoder_out;
  if (cfg.encoder == E::Head) {
    auto head = std::make_shared<torch::nn::Module>();
    enc_convs_ = {head->register_module("cnn0", conv2d(3, hid, 2)), head->register_module("cnn1", conv2d(hid, hid, 1)),
                  head->register_module("cnn2", conv2d(hid, hid, 1))};
    enc_last_ = head->register_module("cnn3", deconv(hid, out));
    register_module("encode", head);
  } else if (cfg.encoder == E::Conv2 || cfg.encoder == E::Conv4) {
    // nn.Sequential: Conv2d(3, hid, 3, 2, 1), [LeakyReLU, Conv2d(hid, hid), LeakyReLU, Conv2d, LeakyReLU,]
    // ConvTranspose2d(hid, out, 4, 2, 1): parameters at indices 0 (, 2, 4), 1 or 6.
    auto seq = std::make_shared<torch::nn::Module>();
    enc_convs_.push_back(seq->register_module("0", conv2d(3, hid, 2)));
    if (cfg.encoder == E::Conv4) {
      enc_convs_.push_back(seq->register_module("2", conv2d(hid, hid, 1)));
      enc_convs_.push_back(seq->register_module("4", conv2d(hid, hid, 1)));
      enc_last_ = seq->register_module("6", deconv(hid, out));
    } else {
      enc_last_ = seq->register_module("1", deconv(hid, out));
    }
    register_module("encode", seq);
  }
}

void IFNetImpl::set_exact(bool exact) {
  exact_ = exact || cfg_.large_motion_restart;
  for (auto& b : blocks_) b->set_exact(exact_);
}

at::Tensor IFNetImpl::encode(const at::Tensor& img) {
  using E = IFNetConfig::Encoder;
  if (cfg_.encoder == E::None) return {};
  at::Tensor x = cfg_.encoder == E::Head ? img.clamp(0.0, 1.0) : img;
  if (cfg_.encoder == E::Conv2) return enc_last_->forward(enc_convs_[0]->forward(x));
  for (auto& c : enc_convs_) x = leaky(c->forward(x));
  return enc_last_->forward(x);
}

at::Tensor IFNetImpl::forward(const at::Tensor& img0_in, const at::Tensor& img1_in, const at::Tensor& timestep,
                              double scale, at::Tensor f0, at::Tensor f1, at::Tensor* flow_out) {
  at::Tensor img0 = img0_in.clamp(0.0, 1.0), img1 = img1_in.clamp(0.0, 1.0);
  const int64_t n = img0.size(0), h = img0.size(2), w = img0.size(3);
  at::Tensor t = timestep.to(img0.device(), img0.scalar_type()).reshape({-1, 1, 1, 1});  // (a host tensor is fine)
  if (t.size(0) == 1 && n > 1) t = t.expand({n, 1, 1, 1});
  t = t.expand({n, 1, h, w}).contiguous();
  const bool enc = cfg_.encoder != IFNetConfig::Encoder::None;
  if (enc) {
    if (!f0.defined()) f0 = encode(img0);
    if (!f1.defined()) f1 = encode(img1);
  }
  std::vector<double> scales;
  for (double s : cfg_.scale_base) scales.push_back(s / scale);
  at::Tensor flow, mask, feat, warped0 = img0, warped1 = img1;
  auto first_block = [&](size_t i) {
    std::vector<at::Tensor> in = enc ? std::vector<at::Tensor>{img0, img1, f0, f1, t} : std::vector<at::Tensor>{img0, img1, t};
    auto o = blocks_[i]->forward(in, {}, scales[i]);
    flow = o.flow;
    mask = o.mask;
    feat = o.feat;
  };
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (!flow.defined()) {
      first_block(i);
    } else {
      std::vector<at::Tensor> parts = {warped0, warped1};
      if (enc) {
        parts.push_back(rife_warp(f0, flow.slice(1, 0, 2)));
        parts.push_back(rife_warp(f1, flow.slice(1, 2, 4)));
      }
      parts.push_back(t);
      parts.push_back(mask);
      if (cfg_.feat_channels) parts.push_back(feat);
      auto o = blocks_[i]->forward(parts, flow, scales[i]);
      if (cfg_.large_motion_restart && i == 1 && o.flow.slice(1, 0, 2).abs().max().item<double>() > 32 &&
          o.flow.slice(1, 2, 4).abs().max().item<double>() > 32) {
        // 4.0/4.1: large motion: every scale doubles and block 0 runs again.
        for (double& s : scales) s *= 2;
        first_block(0);
        warped0 = rife_warp(img0, flow.slice(1, 0, 2));
        warped1 = rife_warp(img1, flow.slice(1, 2, 4));
        o = blocks_[i]->forward({warped0, warped1, t, mask}, flow, scales[i]);
      }
      mask = cfg_.additive_mask ? mask + o.mask : o.mask;
      flow = flow + o.flow;
      feat = o.feat;
    }
    warped0 = rife_warp(img0, flow.slice(1, 0, 2));
    warped1 = rife_warp(img1, flow.slice(1, 2, 4));
  }
  if (flow_out) *flow_out = flow;
  at::Tensor m = at::sigmoid(mask);
  return warped0 * m + warped1 * (1 - m);
}

}  // namespace longvid
