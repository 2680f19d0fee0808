// Captions of the synthetic videos (train/synth.h), written from their ground truth, and the prompt
// adherence of a video: does it show the sprites a prompt asks for?
//
// A caption names each sprite's colour, shape and direction over a window of frames, and the
// background's tone, e.g.
//   "a red square moving left, a cyan disc moving up and right and a blue disc moving down, on a
//    grey background"
// Prompts are read in the same words, with counts: "two red squares moving left", "a blue disc",
// "three sprites". Colours are the palette's 12 hues: red orange yellow lime green jade cyan azure
// blue violet magenta pink; shapes: disc(s), square(s), sprite(s) (any shape); directions: left,
// right, up, down and the diagonals ("up and left", "down and right").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/physics_score.h"
#include "train/synth.h"

namespace longvid {

// `longvid synth` captions each video's first clip: this many frames (16, the models' clip length).
inline constexpr int64_t kSynthCaptionFrames = 16;

const char* synth_color_name(int palette_index);  // "red" .. "pink"
// -1 for a word that is no palette colour.
int synth_color_from_name(const std::string& word);

// How much a caption says: every sprite's colour, shape and motion (Full, what `longvid synth`
// writes), colours and shapes only (NoMotion: "a red square and a blue disc, on a grey background"),
// or the count only (Count: "three sprites, on a grey background"). Text models train on all three,
// so that a short prompt is as familiar as a full one.
enum class CaptionStyle { Full, NoMotion, Count };

// The caption of frames [first, first + frames) of a video (frames < 0: to the end).
std::string synth_caption(const SynthTruth& truth, int64_t first = 0, int64_t frames = -1,
                          CaptionStyle style = CaptionStyle::Full);

// What a prompt asks for: sprites, each with a colour (-1: any), a shape ("" any, "disc", "square")
// and a direction ("" any, "left", "up and right", ...).
struct PromptSprite {
  int color = -1;
  std::string shape, direction;
};
struct PromptSpec {
  std::vector<PromptSprite> sprites;
  std::string text;
};
// Throws longvid::Error naming the word it cannot read.
// "no sprites, on a grey background" (an empty scene's caption) parses to no sprites.
PromptSpec parse_synth_prompt(const std::string& text);

// How far a scored video shows what the prompt asks (per frame, then averaged):
//   count_ok   frames where the number of sprites found equals the prompt's
//   colors_ok  frames where every colour the prompt names is found (and no other when the prompt
//              names all its sprites' colours)
//   motion_ok  for each named colour with a direction, the fraction of frame steps its track moves
//              within 45 degrees of that direction (sprites found in both frames, moved >= 0.1 px)
struct PromptAdherence {
  double count_ok = 0, colors_ok = 0, motion_ok = -1;  // motion_ok -1: the prompt names no direction
  double score() const;  // the mean of the defined ones
};
PromptAdherence prompt_adherence(const PhysicsScore& scored, const PromptSpec& prompt);

}  // namespace longvid
