// Training a RIFE IFNet on videos (`longvid train-rife`), with Practical-RIFE 4.x's published objective
// (train_log/RIFE_HDv3.py Model.update): L1 between the interpolated frame and the true one, plus 0.1 x
// the Sobel smoothness of the last flow (model/loss.py SOBEL against a zero flow); AdamW with weight decay
// 1e-4 and RIFE's learning-rate schedule (linear warm-up, then cosine from lr to lr / 100, train.py).
//
// Samples: a clip of `max_interval` + 1 frames; its first frame and frame k (k drawn from 2 ..
// max_interval) are the inputs, frame j (1 .. k - 1) the target at t = j / k. Each sample is flipped
// left-right and reversed in time (frames swapped, t -> 1 - t) with probability 1/2, as RIFE's
// augmentation does. All draws are a pure function of (seed, step), so a resumed run continues
// bit for bit.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "backbones/ifnet.h"

namespace longvid {

struct RifeTrainOptions {
  std::vector<std::filesystem::path> data;  // folders of videos (longvid synth output, ...)
  std::filesystem::path output;             // the trained IFNet (safetensors)
  std::string preset = "tiny";              // tiny | small | 4.26 (a published size)
  int64_t size = 64;                        // frames are size x size
  int64_t steps = 2000, batch = 16;
  int64_t max_interval = 4;
  double flow_scale = 1.0;  // the --scale the network is trained (and meant to run) at: 2 halves every
                            // block's downsampling, for small frames where 1/16 leaves 4x4 pixels
  double lr = 3e-4, weight_decay = 1e-4;
  double smooth_weight = 0.1;  // the published weight of the flow-smoothness term
  int64_t warmup = 200;
  uint64_t seed = 0;
  int workers = 2;
  int64_t log_every = 100, save_every = 500;
  bool resume = false;  // continue from output's state file (<output>.train-state)
  int64_t stop_after = -1;  // testing: stop after this many steps as if killed (state saved)
};

// The IFNet layout of a preset: the 4.25/4.26 layout (5 blocks, Head encoder, feature hand-over) at the
// widths tiny {48, 32, 24, 16, 12} or small {96, 64, 48, 32, 16}, or any published version's.
IFNetConfig rife_train_preset(const std::string& preset);

struct RifeTrainResult {
  int64_t steps = 0;
  double last_loss = 0, first_loss = 0;  // mean of the first / last log window
};

RifeTrainResult train_rife(const RifeTrainOptions& o);

// The command line that makes these weights again (stored in the file as longvid.rife.recipe).
std::string rife_recipe(const RifeTrainOptions& o);

// Held-out quality: PSNR (dB) of the frames the model makes at t = j / k between real frames, against
// the real ones, beside repeating the nearer input and blending the two linearly.
struct RifeEvalResult {
  int64_t samples = 0;
  double psnr_model = 0, psnr_repeat = 0, psnr_blend = 0;
};
RifeEvalResult eval_rife(IFNet net, const std::vector<std::filesystem::path>& data, int64_t size, int64_t samples,
                         int64_t max_interval, uint64_t seed, double scale = 1.0);

}  // namespace longvid
