// Physical-consistency score of a video of the synthetic kind (train/synth.h): finds the sprites
// in each frame by colour segmentation, tracks them by colour, and reports per window of frames
// how many were found, how true their colours are, and how smoothly they move. Works on the
// rendered synthetic videos (ground truth scores ~perfect) and on generated ones.
//
// Per frame:
//  1. background = per-channel median of the frame (sprites cover well under half of it);
//  2. each pixel's difference d = pixel - background is compared with e_k = colour_k - background
//     for every reference colour k (the synth palette, or the truth's sprite colours; the palette for an
//     empty scene's truth): the pixel is
//     assigned to the k whose direction is closest (cosine >= min_cosine) and gets the coverage
//     alpha = d . e_k / |e_k|^2 (anti-aliased edges blend along e_k, so this recovers coverage);
//  3. per colour, the largest 4-connected component of pixels with alpha >= 0.5 that has an
//     interior (a pixel whose 3x3 neighbourhood is in it) is the sprite (ignored below min_area
//     pixels); its centroid is the alpha-weighted mean of the pixel centres
//     of that colour in the component's box grown by 2 px; its colour is the mean of its
//     pixels with alpha >= 0.8.
// Sprites are tracked by colour (the synth gives each sprite of a video its own colour).
//
// Per window (default 64 frames) and overall:
//   sprites_mean         mean number of sprites found per frame
//   count_ok_frac        fraction of frames where that number is the expected one (truth: the
//                        sprites at least half visible; else --sprites; else the first window's mode)
//   color_error          mean RGB distance (0..255) of found sprite colours to their reference colour
//   accel_mean/_median   |c(t+1) - 2 c(t) + c(t-1)| of each track's centroid, pixels (0 for constant
//                        velocity; a wall bounce gives 2|v| once)
//   break_frac           fraction of track steps t-1 -> t where the sprite vanished or jumped more
//                        than jump_px (default size / 8)
//   noise_frac           fraction of frames that are noise texture rather than a scene: the mean
//                        |4-neighbour Laplacian| of the grey level above max_texture (the synth draws
//                        flat backgrounds and smooth sprites: <= 1.7 rendered, mostly 1-4 and at
//                        most 6.2 generated through the default autoencoder (a faint grid); latents
//                        the autoencoder cannot render (flat, or an out-of-range tone), 6.5-16,
//                        mostly 8-12)
//   pos_error_mean       (with truth) mean centroid distance to the true position, over sprites
//                        fully visible (>= 0.99) in the frame; missing_frac: those not found
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "train/synth.h"

namespace longvid {

struct PhysicsScoreOptions {
  int64_t window = 64;
  // Reference colours (0..255). Empty: the synth palette (or the truth's colours when scoring
  // against a truth file).
  std::vector<std::array<double, 3>> colors;
  int expected_sprites = -1;  // -1: from the truth, else the first window's mode
  double min_diff = 24;       // |pixel - background| below this: background
  double min_cosine = 0.9;    // direction match to a reference colour
  double min_area = -1;       // pixels; -1: max(9, 0.004 * width * height) (the smallest synth sprite covers 0.011)
  double jump_px = -1;        // -1: max(width, height) / 8
  double max_texture = 6.5;   // grey levels: mean |Laplacian| above this is a noise frame
};

struct SpriteDetection {
  int color = -1;  // index into the reference colours
  double x = 0, y = 0;  // centroid, pixels (same coordinates as the synth truth)
  double area = 0;      // sum of coverage, pixels
  std::array<double, 3> rgb{};  // mean colour of the sprite's core
};

struct FrameDetections {
  std::array<double, 3> background{};
  double texture = 0;  // mean |4-neighbour Laplacian| of the grey level (mean of R, G, B), interior pixels
  std::vector<SpriteDetection> sprites;  // at most one per reference colour, by colour index
};

// Mean |4 g(x,y) - g(x-1,y) - g(x+1,y) - g(x,y-1) - g(x,y+1)| of the grey level g (mean of R, G, B)
// over the interior pixels of one RGB24 frame (0 for frames under 3x3): FrameDetections::texture.
double frame_texture(const uint8_t* rgb, int width, int height);

// Segments one RGB24 frame.
FrameDetections detect_sprites(const uint8_t* rgb, int width, int height,
                               const std::vector<std::array<double, 3>>& colors, const PhysicsScoreOptions& o);

struct WindowScore {
  int64_t start = 0, end = 0;  // frames [start, end)
  double sprites_mean = 0;
  double count_ok_frac = 0;
  double color_error = 0;
  double accel_mean = 0, accel_median = 0;
  double break_frac = 0;
  double noise_frac = 0;
  double pos_error_mean = -1;  // -1: no truth
  double missing_frac = -1;
  double background_error = -1;  // with truth: mean |estimated - true background| (0..255)
};

struct PhysicsScore {
  int width = 0, height = 0;
  int64_t frames = 0;
  int expected_sprites = -1;
  std::string expected_from;  // "truth", "option", "first window"
  std::vector<std::array<double, 3>> colors;
  std::vector<WindowScore> windows;
  WindowScore overall;
  std::vector<FrameDetections> per_frame;
  double detect_seconds = 0;  // time spent in detect_sprites (not decoding)
  std::string to_json(bool with_frames = false) const;
};

// Scores frames pushed one at a time (bounded memory apart from the small per-frame detections).
class PhysicsScorer {
 public:
  explicit PhysicsScorer(PhysicsScoreOptions o, const SynthTruth* truth = nullptr);
  void push(const uint8_t* rgb, int width, int height);
  PhysicsScore finish() const;

 private:
  PhysicsScoreOptions o_;
  const SynthTruth* truth_;
  std::vector<std::array<double, 3>> colors_;
  std::vector<FrameDetections> frames_;
  int width_ = 0, height_ = 0;
  double detect_seconds_ = 0;
};

// Reads a video (any format VideoReader reads) and scores it; `truth` optional.
PhysicsScore score_video(const std::filesystem::path& video, const PhysicsScoreOptions& o,
                         const SynthTruth* truth = nullptr);

}  // namespace longvid
