// A module's parameters as a StateDict (detached copies), for tests that load one module's weights
// into another or detect a layout from them.
#pragma once
#include <torch/torch.h>

#include "core/checkpoint.h"

namespace longvid::test {

inline StateDict state_of(torch::nn::Module& m) {
  StateDict sd;
  for (const auto& p : m.named_parameters()) sd.set(p.key(), p.value().detach().clone());
  return sd;
}

}  // namespace longvid::test
