#include "train/text_data.h"

#include <filesystem>

#include "core/error.h"
#include "train/latent_cache.h"
#include "train/synth_caption.h"

namespace longvid {

SynthCaptions::SynthCaptions(const LatentCache& cache) {
  for (int64_t i = 0; i < cache.num_videos(); ++i) {
    const std::string& video = cache.video_path(i);
    if (video.empty()) fail("{}: the latent cache does not name its videos (rebuild it)", cache.path().string());
    std::filesystem::path truth = std::filesystem::path(video).replace_extension(".json");
    if (!std::filesystem::exists(truth))
      fail_hint("text models train on `longvid synth` data, whose truth JSON holds what the captions say",
                "{}: no caption truth {} next to it", video, truth.string());
    truths_.push_back(load_synth_truth(truth));
  }
}

std::string SynthCaptions::operator()(int64_t video, int64_t first_frame, int64_t frames, double u) const {
  const auto& t = truths_.at(static_cast<size_t>(video));
  const CaptionStyle style = u < 0.6 ? CaptionStyle::Full : u < 0.8 ? CaptionStyle::NoMotion : CaptionStyle::Count;
  return synth_caption(t, first_frame, frames, style);
}

std::vector<std::string> SynthCaptions::corpus(int64_t window) const {
  std::vector<std::string> out;
  const int64_t step = std::max<int64_t>(1, window / 2);
  for (const auto& t : truths_)
    for (int64_t f = 0; f + window <= static_cast<int64_t>(t.per_frame.size()); f += step)
      for (auto style : {CaptionStyle::Full, CaptionStyle::NoMotion, CaptionStyle::Count})
        out.push_back(synth_caption(t, f, window, style));
  // Words of prompts that captions of this data may not hold (counts above the data's, plurals).
  out.push_back("one two three four five six seven eight nine ten eleven twelve sprite sprites square squares "
                "disc discs");
  for (int i = 0; i < kSynthPaletteSize; ++i) out.push_back(std::string("two ") + synth_color_name(i) + " squares");
  return out;
}

TrainableTextEncoder make_text_encoder(const std::string& preset, ClipTokenizer tokenizer) {
  ClipTextConfig c;
  if (preset == "tiny") {
    c.hidden_size = 128;
    c.num_layers = 3;
    c.num_heads = 2;
    c.intermediate_size = 512;
  } else if (preset == "small") {
    c.hidden_size = 256;
    c.num_layers = 4;
    c.num_heads = 4;
    c.intermediate_size = 1024;
  } else {
    fail("--text-encoder {}: unknown preset (none, tiny, small)", preset);
  }
  c.vocab_size = tokenizer.vocab_size();
  c.max_positions = 77;
  c.eos_token_id = tokenizer.eos_id();
  c.validate();
  TrainableTextEncoder t;
  t.tokenizer = std::move(tokenizer);
  t.model = ClipTextModel(c);
  t.max_length = 77;
  return t;
}

}  // namespace longvid
