// FlopCounter — see flops.h.
#include "core/flops.h"

#include <ATen/record_function.h>

#include <cstring>
#include <vector>

namespace longvid {

namespace {

thread_local double t_flops = 0;
thread_local int t_depth = 0;  // counted ops open on this thread
thread_local bool t_active = false;

enum class Kind { None, Conv, OneDnnConv, SlowConv3d, Mm, Bmm, Sdpa, OneDnnLinear, PackedConv };

Kind kind_of(const char* name) {
  if (std::strcmp(name, "aten::convolution") == 0) return Kind::Conv;
  // Called directly by longvid::conv3d (core/conv.h); inside aten::convolution they are nested, not
  // counted twice.
  if (std::strcmp(name, "aten::mkldnn_convolution") == 0) return Kind::OneDnnConv;
  if (std::strcmp(name, "aten::slow_conv3d") == 0) return Kind::SlowConv3d;
  // On a weight packed once (core/conv.h).
  if (std::strcmp(name, "mkldnn::_convolution_pointwise") == 0) return Kind::PackedConv;
  // Called directly by longvid::linear (core/linear.h).
  if (std::strcmp(name, "mkldnn::_linear_pointwise") == 0) return Kind::OneDnnLinear;
  if (std::strcmp(name, "aten::addmm") == 0 || std::strcmp(name, "aten::mm") == 0) return Kind::Mm;
  if (std::strcmp(name, "aten::bmm") == 0 || std::strcmp(name, "aten::baddbmm") == 0) return Kind::Bmm;
  if (std::strcmp(name, "aten::scaled_dot_product_attention") == 0) return Kind::Sdpa;
  return Kind::None;
}

const at::Tensor* tensor_arg(c10::ArrayRef<const c10::IValue> in, size_t i) {
  if (i >= in.size() || !in[i].isTensor()) return nullptr;
  return &in[i].toTensor();
}

double prod(at::IntArrayRef s, size_t from = 0) {
  double p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= static_cast<double>(s[i]);
  return p;
}

// 2 x multiply-adds of a convolution from its input and weight shapes. stride / padding / dilation are int
// lists (one entry = all dimensions; a None dilation = 1).
double conv_flops(const at::Tensor* x, const at::Tensor* w, const c10::IValue& stride_v, const c10::IValue& pad_v,
                  const c10::IValue& dil_v, bool transposed) {
  if (!x || !w || w->dim() < 3 || x->dim() != w->dim()) return 0;
  const double kernel = prod(w->sizes(), 2);
  if (transposed)  // weight [Cin, Cout/groups, k...]: every input element feeds Cout/groups·k outputs
    return 2.0 * static_cast<double>(x->numel()) * static_cast<double>(w->size(1)) * kernel;
  // weight [Cout, Cin/groups, k...]: every output element sums Cin/groups·k products
  auto ints = [](const c10::IValue& v) { return v.isIntList() ? v.toIntVector() : std::vector<int64_t>{1}; };
  const auto stride = ints(stride_v), pad = pad_v.isIntList() ? pad_v.toIntVector() : std::vector<int64_t>{0},
             dil = ints(dil_v);
  auto at_ = [](const std::vector<int64_t>& v, size_t i) { return v.size() == 1 ? v[0] : v.at(i); };
  const size_t nd = static_cast<size_t>(w->dim() - 2);
  double out = static_cast<double>(x->size(0)) * static_cast<double>(w->size(0));
  for (size_t i = 0; i < nd; ++i) {
    const int64_t n = x->size(static_cast<int64_t>(i) + 2), kk = w->size(static_cast<int64_t>(i) + 2);
    out *= static_cast<double>((n + 2 * at_(pad, i) - at_(dil, i) * (kk - 1) - 1) / at_(stride, i) + 1);
  }
  return 2.0 * out * static_cast<double>(w->size(1)) * kernel;
}

struct Counted : at::ObserverContext {
  Kind kind = Kind::None;
  double flops = 0;  // known at start (mm, sdpa) or at the end from the output (conv)
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  Kind k = kind_of(fn.name());
  if (k == Kind::None) return nullptr;
  auto ctx = std::make_unique<Counted>();
  ctx->kind = k;
  if (t_depth++ > 0) {  // inside another counted op
    ctx->kind = Kind::None;
    return ctx;
  }
  auto in = fn.inputs();
  if (k == Kind::Mm || k == Kind::Bmm) {
    const size_t a_i = (std::strcmp(fn.name(), "aten::addmm") == 0 || std::strcmp(fn.name(), "aten::baddbmm") == 0) ? 1 : 0;
    const at::Tensor* a = tensor_arg(in, a_i);
    const at::Tensor* b = tensor_arg(in, a_i + 1);
    if (a && b && a->dim() >= 2 && b->dim() >= 2)
      ctx->flops = 2.0 * prod(a->sizes()) * static_cast<double>(b->size(-1));  // (batch·)M·K · N
  } else if (k == Kind::OneDnnLinear) {
    // _linear_pointwise(X [..., K], W [N, K], B, ...)
    const at::Tensor* x = tensor_arg(in, 0);
    const at::Tensor* w = tensor_arg(in, 1);
    if (x && w && w->dim() == 2) ctx->flops = 2.0 * prod(x->sizes()) * static_cast<double>(w->size(0));
  } else if (k == Kind::Conv) {
    // convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    if (in.size() >= 9) {
      const bool transposed = in[6].isBool() && in[6].toBool();
      ctx->flops = conv_flops(tensor_arg(in, 0), tensor_arg(in, 1), in[3], in[4], in[5], transposed);
    }
  } else if (k == Kind::OneDnnConv) {
    // mkldnn_convolution(input, weight, bias, padding, stride, dilation, groups)
    if (in.size() >= 7) ctx->flops = conv_flops(tensor_arg(in, 0), tensor_arg(in, 1), in[4], in[3], in[5], false);
  } else if (k == Kind::PackedConv) {
    // _convolution_pointwise(X, W, B, padding, stride, dilation, groups, attr, scalars, algorithm)
    if (in.size() >= 7) ctx->flops = conv_flops(tensor_arg(in, 0), tensor_arg(in, 1), in[4], in[3], in[5], false);
  } else if (k == Kind::SlowConv3d) {
    // slow_conv3d(input, weight, kernel_size, bias, stride, padding); dilation 1
    if (in.size() >= 6)
      ctx->flops = conv_flops(tensor_arg(in, 0), tensor_arg(in, 1), in[4], in[5], c10::IValue(), false);
  } else if (k == Kind::Sdpa) {
    const at::Tensor* q = tensor_arg(in, 0);
    const at::Tensor* key = tensor_arg(in, 1);
    const at::Tensor* v = tensor_arg(in, 2);
    if (q && key && v && q->dim() >= 2) {
      const double lk = static_cast<double>(key->size(-2));
      ctx->flops = 2.0 * prod(q->sizes()) * lk + 2.0 * prod(q->sizes(), 0) / static_cast<double>(q->size(-1)) * lk *
                                                       static_cast<double>(v->size(-1));
    }
  }
  return ctx;
}

void on_end(const at::RecordFunction&, at::ObserverContext* c) {
  auto* ctx = static_cast<Counted*>(c);
  if (!ctx) return;
  --t_depth;
  t_flops += ctx->flops;
}

}  // namespace

FlopCounter::FlopCounter() {
  if (t_active) return;  // a counter already runs on this thread
  t_active = active_ = true;
  t_flops = 0;
  t_depth = 0;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_start, on_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
}

FlopCounter::~FlopCounter() {
  if (!active_) return;
  at::removeCallback(handle_);
  t_active = false;
}

double FlopCounter::flops() const { return active_ ? t_flops : 0.0; }

}  // namespace longvid
