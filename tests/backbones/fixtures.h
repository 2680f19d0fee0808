// Fixture paths and reduced configs shared by the backbones' CPU parity tests and their CUDA runs
// (tests/core/test_cuda_parity.cpp).
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "backbones/latte.h"
#include "tests/helpers.h"

namespace longvid::test {

// Official LVDM configs keep the official tree (lvdm_short/, lvdm_long/); the reduced test configs
// sit at the top.
inline std::filesystem::path lvdm_config(const std::string& name) {
  auto dir = data_dir() / "configs" / "lvdm";
  for (const char* sub : {"lvdm_short", "lvdm_long"})
    if (std::filesystem::exists(dir / sub / name)) return dir / sub / name;
  return dir / name;
}
inline std::filesystem::path lvdm_fixture(const std::string& name) { return data_dir() / "lvdm" / name; }

// Latte: official layout (N, F, C, H, W) <-> engine layout [B, C, T, H, W] (the same permutation both ways).
inline at::Tensor swap_fc(const at::Tensor& x) { return x.permute({0, 2, 1, 3, 4}).contiguous(); }

inline LatteConfig latte_tiny_cond_config() {  // gen_latte.py: the class-conditional tiny model
  LatteConfig c;
  c.input_size = 8;
  c.patch_size = 2;
  c.in_channels = 4;
  c.hidden_size = 64;
  c.depth = 4;
  c.num_heads = 4;
  c.num_frames = 4;
  c.extras = 2;
  c.num_classes = 5;
  c.learn_sigma = true;
  return c;
}

}  // namespace longvid::test
