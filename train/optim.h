// Adam / AdamW with state that serialises to named tensors, so a resumed run continues bit for bit.
// The update is torch.optim.AdamW's (and Adam's with weight_decay 0, decoupled = false), single
// tensor path:
//   decoupled: p *= 1 - lr*wd                      (AdamW)
//   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g²
//   p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace longvid {

class StateDict;

struct AdamOptions {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = true;  // true: AdamW (decoupled weight decay); false: Adam (L2 added to the gradient)
};

class Adam {
 public:
  // Named parameters (the names key the saved state).
  Adam(std::vector<std::pair<std::string, at::Tensor>> params, AdamOptions o);
  void set_lr(double lr) { o_.lr = lr; }
  double lr() const { return o_.lr; }
  const AdamOptions& options() const { return o_; }
  void zero_grad();
  void step();  // parameters without a gradient are skipped (as torch does)
  int64_t steps() const { return step_; }

  // exp_avg / exp_avg_sq under `prefix` + "exp_avg." + name etc., and the step count.
  void save(StateDict& sd, const std::string& prefix) const;
  void load(const StateDict& sd, const std::string& prefix);  // errors name the missing key

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> m_, v_;
  AdamOptions o_;
  int64_t step_ = 0;
};

// Total 2-norm of the gradients, and scaling so it is at most max_norm (torch clip_grad_norm_:
// coefficient max_norm / (norm + 1e-6), clamped to 1). Returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace longvid
