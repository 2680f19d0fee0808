// Text for training a text-conditioned model on `longvid synth` data: the captions of the training
// windows (from each video's ground truth) and the text encoder that is trained with the denoiser.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/lvdm_trainer.h"
#include "train/synth.h"

namespace longvid {

class LatentCache;

// The captions of a latent cache's videos, from the truth JSON `longvid synth` writes next to each
// video (video_NNNNN.json); a video without one is an error naming it.
class SynthCaptions {
 public:
  explicit SynthCaptions(const LatentCache& cache);
  // The caption of a window, its style chosen by u: Full below 0.6, NoMotion below 0.8, else Count
  // (train/synth_caption.h).
  std::string operator()(int64_t video, int64_t first_frame, int64_t frames, double u) const;
  // Every style of the caption of every `window`-frame window (step window / 2) of every video, and
  // the count words and plurals prompts use: the corpus the tokenizer is trained on.
  std::vector<std::string> corpus(int64_t window) const;
  int64_t num_videos() const { return static_cast<int64_t>(truths_.size()); }

 private:
  std::vector<SynthTruth> truths_;
};

// `longvid train --text-encoder PRESET`: "tiny" (width 128, 3 layers, 2 heads, MLP 512, 77
// positions, quick GELU: 0.7 M parameters with a 600-token vocabulary), "small" (width 256, 4
// layers, 4 heads, MLP 1024). The tokenizer is given (trained on the captions).
TrainableTextEncoder make_text_encoder(const std::string& preset, ClipTokenizer tokenizer);

}  // namespace longvid
