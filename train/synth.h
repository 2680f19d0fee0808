// Procedural long videos with ground-truth dynamics (the synthetic training / evaluation set).
//
// A video: `sprites` coloured shapes (discs or squares of distinct saturated palette colours) move
// with constant velocity and bounce elastically off the four walls (no sprite-sprite collisions;
// later sprites are drawn over earlier ones), over a low-saturation background whose colour drifts
// slowly and periodically (one sine per channel, shared period, own phases; mostly brightness).
//
// Coordinates are pixels, origin at the top-left corner of the frame, x to the right, y down;
// pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is (i + 0.5, j + 0.5). A sprite's position
// is its centre; its "radius" is the disc radius or half the square's side. Frame t shows the
// state p_t; then p_{t+1} = reflect(p_t + v_t), and a velocity component changes sign on the step
// that reflects it (v_t in the truth is the velocity used for that step). Sprites stay inside:
// r <= x <= size - r.
//
// Rendering is anti-aliased: a square covers each pixel by its exact box overlap, a disc by
// clamp(r + 0.5 - d, 0, 1) (d: distance of the pixel centre to the disc centre), so sub-pixel
// motion is visible and smooth. Compositing is front to back ("over"), in float, rounded once.
//
// Determinism: all randomness comes from our own integer generator (SplitMix64), not from
// std:: distributions (whose output differs across standard libraries). Video i of a set with
// seed K is a function of (K, i) only (not of the number of videos).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace longvid {

// SplitMix64 (Steele et al.): tiny, fast, well mixed; same output everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  uint64_t below(uint64_t n);  // [0, n), unbiased

 private:
  uint64_t s_;
};

// One 64-bit value from several (order matters): seeds for "video i of set K" and the like.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

// The palette: 12 saturated colours, hues 0, 30, ..., 330 degrees (HSV s = 0.85, v = 0.95).
constexpr int kSynthPaletteSize = 12;
const std::vector<std::array<uint8_t, 3>>& synth_palette();
double synth_palette_hue(int index);  // degrees

enum class SpriteShape { Disc, Square };
const char* sprite_shape_name(SpriteShape s);

struct SpriteSpec {
  SpriteShape shape = SpriteShape::Disc;
  double radius = 0;               // pixels
  int palette_index = 0;
  std::array<uint8_t, 3> color{};  // RGB
};

struct SpriteState {
  double x = 0, y = 0, vx = 0, vy = 0;
};

// Background: bg_c(t) = mean_c + amplitude_c * sin(2 pi t / period + phase_c), in 0..255 units.
struct SynthBackground {
  std::array<double, 3> mean{}, amplitude{}, phase{};
  double period = 0;  // frames
  std::array<double, 3> at(int64_t t) const;
};

struct SynthVideoParams {
  int size = 64;             // frames are size x size
  int64_t frames = 256;
  int sprites = 3;           // 0 (background only) .. kSynthPaletteSize
};

// The ground truth of one frame.
struct SynthFrameTruth {
  std::array<double, 3> background{};    // exact (before rounding to 8 bit)
  std::vector<SpriteState> sprites;      // state shown in this frame, and the velocity of the next step
  std::vector<double> visible;           // visible fraction of each sprite's covered area (occlusion)
};

// Streams the frames of one video.
class SynthVideo {
 public:
  SynthVideo(const SynthVideoParams& params, uint64_t seed);
  const SynthVideoParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }
  const std::vector<SpriteSpec>& sprites() const { return specs_; }
  const SynthBackground& background() const { return bg_; }
  int64_t frame_index() const { return t_; }  // index of the frame next() renders

  // Renders frame t into rgb (size*size*3 bytes) and fills its truth, then advances the state.
  // False (nothing rendered) after the last frame.
  bool next(uint8_t* rgb, SynthFrameTruth* truth = nullptr);

  // One physics step (reflection off the walls [r, size - r]); exposed for tests.
  static void step(SpriteState& s, double radius, double size);

 private:
  SynthVideoParams params_;
  uint64_t seed_;
  std::vector<SpriteSpec> specs_;
  std::vector<SpriteState> state_;
  SynthBackground bg_;
  int64_t t_ = 0;
  std::vector<float> acc_, trans_;  // compositing buffers
};

// The truth of a whole video as written to video_NNNNN.json (and read back for scoring).
struct SynthTruth {
  int size = 0;
  int64_t frames = 0;
  uint64_t seed = 0;
  std::vector<SpriteSpec> sprites;
  SynthBackground background;
  std::vector<SynthFrameTruth> per_frame;
};
// Reads a truth JSON; throws longvid::Error naming the file and the problem.
SynthTruth load_synth_truth(const std::filesystem::path& path);

struct SynthDatasetOptions {
  std::filesystem::path out;   // directory to create (must not exist, or be empty)
  int64_t videos = 1;
  int64_t frames = 256;
  int size = 64;
  int sprites = 3;
  int sprites_max = -1;        // >= 0: video i has sprites .. sprites_max (uniform, from (seed, i)); -1: `sprites`
  uint64_t seed = 0;
  std::string format = "mp4";  // mp4 | webm | png | y4m
  std::string fps = "24";
  int crf = -1;                // mp4/webm quality (-1: codec default)
  std::string preset = "medium";
};

struct SynthDatasetReport {
  int64_t videos = 0, frames = 0;
  double render_seconds = 0;   // time spent rendering (incl. truth), not encoding
  double total_seconds = 0;    // everything (rendering, encoding, JSON)
};

// Writes DIR/video_NNNNN.{mp4|webm|y4m} (or DIR/video_NNNNN/ PNG frames) + DIR/video_NNNNN.json
// for each video, and DIR/dataset.json describing the set. The directory appears only when
// complete (built as a temp directory, renamed at the end). `progress` is called after each video.
SynthDatasetReport write_synth_dataset(const SynthDatasetOptions& options,
                                       const std::function<void(int64_t done, int64_t total)>& progress = {});

// The sprite count of video i of a dataset (o.sprites, or drawn from o.sprites .. o.sprites_max).
int synth_video_sprites(const SynthDatasetOptions& o, int64_t index);

// The path of video i's media and truth inside a dataset directory.
std::string synth_video_name(int64_t index, const std::string& format);  // "video_00000.mp4"
std::string synth_truth_name(int64_t index);                             // "video_00000.json"

}  // namespace longvid
