#include "backbones/inception_i3d.h"

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

namespace F = torch::nn::functional;

int64_t i3d_same_pad(int64_t size, int64_t kernel, int64_t stride) {
  if (size % stride == 0) return std::max<int64_t>(kernel - stride, 0);
  return std::max<int64_t>(kernel - size % stride, 0);
}

namespace {

// F.pad(x, (w_f, w_b, h_f, h_b, t_f, t_b)) with the 'SAME' amounts.
at::Tensor pad_same(const at::Tensor& x, const std::array<int64_t, 3>& k, const std::array<int64_t, 3>& s) {
  std::vector<int64_t> pad(6);
  for (int d = 0; d < 3; ++d) {
    const int64_t p = i3d_same_pad(x.size(2 + d), k[d], s[d]);
    const int64_t f = p / 2;
    pad[4 - 2 * d] = f;
    pad[5 - 2 * d] = p - f;
  }
  bool any = false;
  for (auto p : pad) any = any || p != 0;
  return any ? at::constant_pad_nd(x, pad, 0.0) : x;
}

// Brace-initialised arrays do not pass through TORCH_MODULE's forwarding constructor.
I3dUnit3D mk(int64_t in, int64_t out, std::array<int64_t, 3> k, std::array<int64_t, 3> s, bool relu, bool bn,
             bool bias, double eps) {
  return I3dUnit3D(std::make_shared<I3dUnit3DImpl>(in, out, k, s, relu, bn, bias, eps));
}

}  // namespace

at::Tensor i3d_max_pool_same(const at::Tensor& x, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride) {
  return at::max_pool3d(pad_same(x, kernel, stride), {kernel[0], kernel[1], kernel[2]},
                        {stride[0], stride[1], stride[2]});
}

I3dUnit3DImpl::I3dUnit3DImpl(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride,
                             bool relu, bool batch_norm, bool bias, double bn_eps)
    : kernel_(kernel), stride_(stride), relu_(relu) {
  conv3d = register_module(
      "conv3d", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, {kernel[0], kernel[1], kernel[2]})
                                      .stride({stride[0], stride[1], stride[2]})
                                      .padding(0)
                                      .bias(bias)));
  if (batch_norm)
    bn = register_module("bn", torch::nn::BatchNorm3d(torch::nn::BatchNorm3dOptions(out).eps(bn_eps).momentum(0.001)));
}

at::Tensor I3dUnit3DImpl::forward(const at::Tensor& x) {
  auto h = conv3d->forward(pad_same(x, kernel_, stride_));
  if (bn) h = bn->forward(h);
  if (relu_) h = at::relu(h);
  return h;
}

I3dInceptionModuleImpl::I3dInceptionModuleImpl(int64_t in, std::array<int64_t, 6> o, double eps) {
  b0 = register_module("b0", mk(in, o[0], {1, 1, 1}, {1, 1, 1}, true, true, false, eps));
  b1a = register_module("b1a", mk(in, o[1], {1, 1, 1}, {1, 1, 1}, true, true, false, eps));
  b1b = register_module("b1b", mk(o[1], o[2], {3, 3, 3}, {1, 1, 1}, true, true, false, eps));
  b2a = register_module("b2a", mk(in, o[3], {1, 1, 1}, {1, 1, 1}, true, true, false, eps));
  b2b = register_module("b2b", mk(o[3], o[4], {3, 3, 3}, {1, 1, 1}, true, true, false, eps));
  // b3a is MaxPool3dSamePadding([3,3,3], stride 1): no parameters.
  b3b = register_module("b3b", mk(in, o[5], {1, 1, 1}, {1, 1, 1}, true, true, false, eps));
}

at::Tensor I3dInceptionModuleImpl::forward(const at::Tensor& x) {
  auto y0 = b0->forward(x);
  auto y1 = b1b->forward(b1a->forward(x));
  auto y2 = b2b->forward(b2a->forward(x));
  auto y3 = b3b->forward(i3d_max_pool_same(x, {3, 3, 3}, {1, 1, 1}));
  return at::cat({y0, y1, y2, y3}, 1);
}

InceptionI3dImpl::InceptionI3dImpl(const InceptionI3dConfig& cfg) : cfg_(cfg) {
  const double e = cfg.bn_eps;
  // Registration order follows the reference's end_points order (state-dict order).
  conv1a_ = register_module("Conv3d_1a_7x7",
                            mk(cfg.in_channels, 64, {7, 7, 7}, {2, 2, 2}, true, true, false, e));
  conv2b_ = register_module("Conv3d_2b_1x1", mk(64, 64, {1, 1, 1}, {1, 1, 1}, true, true, false, e));
  conv2c_ = register_module("Conv3d_2c_3x3", mk(64, 192, {3, 3, 3}, {1, 1, 1}, true, true, false, e));
  const std::vector<std::tuple<std::string, int64_t, std::array<int64_t, 6>>> mixed = {
      {"Mixed_3b", 192, {64, 96, 128, 16, 32, 32}},
      {"Mixed_3c", 256, {128, 128, 192, 32, 96, 64}},
      {"Mixed_4b", 128 + 192 + 96 + 64, {192, 96, 208, 16, 48, 64}},
      {"Mixed_4c", 192 + 208 + 48 + 64, {160, 112, 224, 24, 64, 64}},
      {"Mixed_4d", 160 + 224 + 64 + 64, {128, 128, 256, 24, 64, 64}},
      {"Mixed_4e", 128 + 256 + 64 + 64, {112, 144, 288, 32, 64, 64}},
      {"Mixed_4f", 112 + 288 + 64 + 64, {256, 160, 320, 32, 128, 128}},
      {"Mixed_5b", 256 + 320 + 128 + 128, {256, 160, 320, 32, 128, 128}},
      {"Mixed_5c", 256 + 320 + 128 + 128, {384, 192, 384, 48, 128, 128}},
  };
  for (const auto& [name, in, out] : mixed)
    mixed_.emplace_back(name, register_module(name, I3dInceptionModule(in, out, e)));
  logits_ = register_module("logits", mk(384 + 384 + 128 + 128, cfg.num_classes, {1, 1, 1}, {1, 1, 1},
                                                /*relu=*/false, /*batch_norm=*/false, /*bias=*/true, e));
  eval();
}

at::Tensor InceptionI3dImpl::forward(const at::Tensor& x) { return forward_with(x, {}, nullptr); }

at::Tensor InceptionI3dImpl::forward_with(const at::Tensor& x, const std::vector<std::string>& want,
                                          std::map<std::string, at::Tensor>* out) {
  if (x.dim() != 5 || x.size(1) != cfg_.in_channels)
    fail("InceptionI3d: input must be [B, {}, T, H, W], got {}", cfg_.in_channels, c10::str(x.sizes()));
  auto keep = [&](const char* name, const at::Tensor& t) {
    if (out && std::find(want.begin(), want.end(), name) != want.end()) (*out)[name] = t;
  };
  auto h = conv1a_->forward(x);
  keep("Conv3d_1a_7x7", h);
  h = i3d_max_pool_same(h, {1, 3, 3}, {1, 2, 2});
  keep("MaxPool3d_2a_3x3", h);
  h = conv2b_->forward(h);
  keep("Conv3d_2b_1x1", h);
  h = conv2c_->forward(h);
  keep("Conv3d_2c_3x3", h);
  h = i3d_max_pool_same(h, {1, 3, 3}, {1, 2, 2});
  keep("MaxPool3d_3a_3x3", h);
  for (auto& [name, m] : mixed_) {
    h = m->forward(h);
    keep(name.c_str(), h);
    if (name == "Mixed_3c") {
      h = i3d_max_pool_same(h, {3, 3, 3}, {2, 2, 2});
      keep("MaxPool3d_4a_3x3", h);
    } else if (name == "Mixed_4f") {
      h = i3d_max_pool_same(h, {2, 2, 2}, {2, 2, 2});
      keep("MaxPool3d_5a_2x2", h);
    }
  }
  if (h.size(2) < 2 || h.size(3) != 7 || h.size(4) != 7)
    fail("InceptionI3d: Mixed_5c map is {} (T', H', W'); the reference's AvgPool3d([2, 7, 7]) and squeeze need "
         "T' >= 2 and a 7x7 map (inputs of >= 9 frames and 193..224 pixels, 224 as the FVD protocols use)",
         c10::str(h.sizes().slice(2)));
  h = at::avg_pool3d(h, {2, 7, 7}, {1, 1, 1});
  h = logits_->forward(h);  // dropout: identity in eval mode
  h = h.squeeze(3).squeeze(3);
  keep("Logits", h);
  return h.mean(2);
}

void load_inception_i3d(InceptionI3d& net, const StateDict& sd) { load_into(*net, sd); }

}  // namespace longvid
