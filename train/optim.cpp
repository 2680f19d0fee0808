#include "train/optim.h"

#include <fmt/ranges.h>

#include <cmath>

#include "core/checkpoint.h"
#include "core/error.h"

namespace longvid {

Adam::Adam(std::vector<std::pair<std::string, at::Tensor>> params, AdamOptions o) : params_(std::move(params)), o_(o) {
  for (auto& [n, p] : params_) {
    m_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    v_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
  }
}

void Adam::zero_grad() {
  for (auto& [n, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

void Adam::step() {
  at::NoGradGuard ng;
  ++step_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(step_));
  const double step_size = o_.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad();
    if (o_.weight_decay != 0.0) {
      if (o_.decoupled)
        p.mul_(1.0 - o_.lr * o_.weight_decay);
      else
        g = g.add(p, o_.weight_decay);
    }
    m_[i].lerp_(g, 1.0 - o_.beta1);  // torch: exp_avg.lerp_(grad, 1 - beta1)
    v_[i].mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    at::Tensor denom = (v_[i].sqrt() / bc2_sqrt).add_(o_.eps);
    p.addcdiv_(m_[i], denom, -step_size);
  }
}

void Adam::save(StateDict& sd, const std::string& prefix) const {
  for (size_t i = 0; i < params_.size(); ++i) {
    sd.set(prefix + "exp_avg." + params_[i].first, m_[i].detach().cpu().clone());
    sd.set(prefix + "exp_avg_sq." + params_[i].first, v_[i].detach().cpu().clone());
  }
  sd.set(prefix + "step", at::full({1}, step_, at::kLong));
}

void Adam::load(const StateDict& sd, const std::string& prefix) {
  at::NoGradGuard ng;
  auto get = [&](const std::string& key, const at::Tensor& like) {
    if (!sd.contains(key)) fail("{}: optimizer state has no '{}' (saved for another model?)", sd.path.string(), key);
    const at::Tensor& t = sd.get(key);
    if (t.sizes() != like.sizes())
      fail("{}: optimizer state '{}' has shape {}, the parameter has {}", sd.path.string(), key,
           fmt::format("[{}]", fmt::join(t.sizes(), ", ")), fmt::format("[{}]", fmt::join(like.sizes(), ", ")));
    return t;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(get(prefix + "exp_avg." + params_[i].first, m_[i]));
    v_[i].copy_(get(prefix + "exp_avg_sq." + params_[i].first, v_[i]));
  }
  step_ = get(prefix + "step", at::empty({1})).item<int64_t>();
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2).to(at::kFloat));
  if (norms.empty()) return 0.0;
  double total = at::stack(norms).norm(2).item<double>();
  if (max_norm > 0) {
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0)
      for (const auto& p : params)
        if (p.grad().defined()) p.grad().mul_(coef);
  }
  return total;
}

}  // namespace longvid
