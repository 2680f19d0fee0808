// Matrix products through oneDNN — see linear.h.
#include "core/linear.h"

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/error.h"

namespace longvid {

namespace {

bool dispatch_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("LONGVID_LINEAR");
    if (!v || !*v || std::strcmp(v, "auto") == 0) return true;
    if (std::strcmp(v, "aten") == 0) return false;
    fail("LONGVID_LINEAR={}: expected auto (the default) or aten", v);
  }();
  return enabled;
}

// mkldnn::_linear_pointwise(Tensor X, Tensor W, Tensor? B, str attr, Scalar?[] scalars, str? algorithm)
const c10::OperatorHandle* linear_op() {
  static const c10::OperatorHandle* op = find_onednn_operator("mkldnn::_linear_pointwise");
  return op;
}

constexpr double kMinMacs = 4.0 * 1024 * 1024;

}  // namespace

const c10::OperatorHandle* find_onednn_operator(const char* name) {
  if (!at::hasMKLDNN()) return nullptr;
  auto h = c10::Dispatcher::singleton().findSchema({name, ""});
  return h ? new c10::OperatorHandle(*h) : nullptr;  // kept for the process (handles are cheap)
}

bool onednn_linear_available() { return linear_op() != nullptr; }

LinearPath linear_path(const at::Tensor& x, const at::Tensor& weight) {
  if (!dispatch_enabled() || !onednn_linear_available() || !at::globalContext().userEnabledMkldnn() ||
      !x.device().is_cpu() || !weight.device().is_cpu() || x.dim() < 2 || weight.dim() != 2 || x.numel() == 0 ||
      x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat || x.size(-1) != weight.size(1) ||
      at::autocast::is_autocast_enabled(at::kCPU) ||
      (at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad())))
    return LinearPath::aten;  // (and anything ATen must refuse: it reports the error)
  const double macs = static_cast<double>(x.numel()) * static_cast<double>(weight.size(0));
  return macs >= kMinMacs ? LinearPath::onednn : LinearPath::aten;
}

at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto* op = linear_op();
  if (!op) return at::linear(x, weight, bias);
  std::vector<c10::IValue> stack;
  stack.reserve(6);
  stack.emplace_back(x);
  stack.emplace_back(weight.is_contiguous() ? weight : weight.contiguous());
  stack.emplace_back(bias.defined() ? c10::IValue(bias.is_contiguous() ? bias : bias.contiguous()) : c10::IValue());
  stack.emplace_back(std::string("none"));
  stack.emplace_back(c10::List<std::optional<c10::Scalar>>());
  stack.emplace_back(std::string(""));
  op->callBoxed(&stack);
  return stack.at(0).toTensor();
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (linear_path(x, weight) == LinearPath::onednn &&
      (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == at::kFloat && bias.dim() == 1 &&
                           bias.size(0) == weight.size(0))))
    return onednn_linear(x, weight, bias);
  return at::linear(x, weight, bias);
}

}  // namespace longvid
