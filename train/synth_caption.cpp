// Captions from the synthetic ground truth, prompts read back, prompt adherence (train/synth_caption.h).
#include "train/synth_caption.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "core/error.h"

namespace longvid {

namespace {

constexpr const char* kColorNames[kSynthPaletteSize] = {"red",  "orange", "yellow", "lime",    "green",   "jade",
                                                        "cyan", "azure",  "blue",   "violet",  "magenta", "pink"};
constexpr double kPi = 3.14159265358979323846;

// 8-way direction of a motion (x right, y down), "" when it is too small to name.
std::string direction_of(double vx, double vy) {
  if (std::hypot(vx, vy) < 1e-9) return "";
  const double a = std::atan2(-vy, vx) * 180.0 / kPi;  // 0 right, 90 up
  static const char* names[8] = {"right", "up and right", "up", "up and left",
                                 "left", "down and left", "down", "down and right"};
  int k = static_cast<int>(std::lround(a / 45.0));
  k = ((k % 8) + 8) % 8;
  return names[k];
}

// The unit vector of a direction name (x right, y down).
std::pair<double, double> direction_vector(const std::string& d) {
  double x = 0, y = 0;
  if (d.find("left") != std::string::npos) x = -1;
  if (d.find("right") != std::string::npos) x = 1;
  if (d.find("up") != std::string::npos) y = -1;
  if (d.find("down") != std::string::npos) y = 1;
  const double n = std::hypot(x, y);
  return {x / n, y / n};
}


}  // namespace

const char* synth_color_name(int i) {
  if (i < 0 || i >= kSynthPaletteSize) throw Error("synth colour index out of range: " + std::to_string(i));
  return kColorNames[i];
}

int synth_color_from_name(const std::string& word) {
  for (int i = 0; i < kSynthPaletteSize; ++i)
    if (word == kColorNames[i]) return i;
  return -1;
}

std::string synth_caption(const SynthTruth& truth, int64_t first, int64_t frames, CaptionStyle style) {
  const int64_t n_all = static_cast<int64_t>(truth.per_frame.size());
  if (first < 0 || first >= n_all) fail("caption: frame {} is outside the video's {} frames", first, n_all);
  if (frames == 0) fail("caption: a window of 0 frames");
  const int64_t last = frames < 0 ? n_all : std::min(n_all, first + frames);
  std::vector<std::string> parts;
  for (size_t i = 0; i < truth.sprites.size(); ++i) {
    // The mean velocity over the window; a sprite that bounces back and forth is "bouncing".
    double vx = 0, vy = 0, speed = 0;
    for (int64_t t = first; t < last; ++t) {
      const auto& s = truth.per_frame[size_t(t)].sprites.at(i);
      vx += s.vx, vy += s.vy, speed += std::hypot(s.vx, s.vy);
    }
    const double n = static_cast<double>(last - first);
    vx /= n, vy /= n, speed /= n;
    const auto& spec = truth.sprites[i];
    const std::string color = synth_color_name(spec.palette_index);
    std::string p = std::string(color[0] == 'a' || color[0] == 'o' ? "an " : "a ") + color + " " +
                    sprite_shape_name(spec.shape);
    if (style != CaptionStyle::NoMotion)
      p += std::hypot(vx, vy) >= 0.5 * speed && speed > 0.05 ? " moving " + direction_of(vx, vy) : " bouncing";
    parts.push_back(p);
  }
  std::string cap;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) cap += i + 1 == parts.size() ? " and " : ", ";
    cap += parts[i];
  }
  if (parts.empty()) cap = "no sprites";
  if (style == CaptionStyle::Count && !parts.empty()) {
    static const char* numbers[13] = {"no",    "one",   "two",   "three", "four",   "five",  "six",
                                      "seven", "eight", "nine",  "ten",   "eleven", "twelve"};
    const size_t n = parts.size();
    cap = std::string(n < 13 ? numbers[n] : "many") + (n == 1 ? " sprite" : " sprites");
  }
  double lum = 0;
  for (int64_t t = first; t < last; ++t) {
    const auto& b = truth.per_frame[size_t(t)].background;
    lum += 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2];
  }
  lum /= static_cast<double>(last - first);
  cap += std::string(", on a ") + (lum < 100 ? "dark grey" : lum > 170 ? "light grey" : "grey") + " background";
  return cap;
}

PromptSpec parse_synth_prompt(const std::string& text) {
  PromptSpec spec;
  spec.text = text;
  std::vector<std::string> words;
  std::string w;
  for (char ch : text + " ") {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || ch == '-') {
      w += static_cast<char>(std::tolower(c));
    } else if (!w.empty()) {
      words.push_back(w);
      w.clear();
    }
  }
  static const std::map<std::string, int> counts = {{"a", 1},     {"an", 1},   {"one", 1},   {"two", 2},
                                                    {"three", 3}, {"four", 4}, {"five", 5},  {"six", 6},
                                                    {"seven", 7}, {"eight", 8}, {"nine", 9}, {"ten", 10},
                                                    {"eleven", 11}, {"twelve", 12}};
  auto is_dir = [](const std::string& x) { return x == "left" || x == "right" || x == "up" || x == "down"; };
  size_t i = 0;
  bool empty_scene = false;  // "no sprites": the caption of an empty scene
  while (i < words.size()) {
    const std::string& x = words[i];
    if (x == "and" || x == "with") {
      ++i;
      continue;
    }
    if (x == "no" && i + 1 < words.size() && (words[i + 1] == "sprites" || words[i + 1] == "sprite")) {
      empty_scene = true;
      i += 2;
      continue;
    }
    if (x == "on" || x == "over" || x == "against") break;  // the background phrase ends the sprites
    int count = 1;
    if (auto it = counts.find(x); it != counts.end()) {
      count = it->second;
      ++i;
    } else if (std::all_of(x.begin(), x.end(), ::isdigit)) {
      count = x.size() <= 2 ? std::stoi(x) : 0;
      if (count < 1 || count > kSynthPaletteSize)
        fail("prompt \"{}\": '{}' sprites: a count must be 1 - {}", text, x, kSynthPaletteSize);
      ++i;
    }
    if (i >= words.size()) fail("prompt \"{}\": a count with nothing after it", text);
    int color = synth_color_from_name(words[i]);
    if (color >= 0) ++i;
    if (i >= words.size()) fail("prompt \"{}\": '{}' names no shape (disc, square or sprite)", text, words[i - 1]);
    std::string shape = words[i];
    if (!shape.empty() && shape.back() == 's') shape.pop_back();
    if (shape != "disc" && shape != "square" && shape != "sprite")
      fail("prompt \"{}\": cannot read '{}' (expected a colour — red orange yellow lime green jade cyan azure blue "
           "violet magenta pink — then disc, square or sprite)",
           text, words[i]);
    ++i;
    std::string dir;
    if (i < words.size() && (words[i] == "moving" || words[i] == "going" || words[i] == "heading")) {
      ++i;
      if (i >= words.size() || !is_dir(words[i]))
        fail("prompt \"{}\": 'moving' needs a direction (left, right, up, down)", text);
      std::string a = words[i++], b;
      if (i + 1 < words.size() && words[i] == "and" && is_dir(words[i + 1]) &&
          ((a == "up" || a == "down") != (words[i + 1] == "up" || words[i + 1] == "down"))) {
        b = words[i + 1];
        i += 2;
      }
      if (!b.empty() && (a == "left" || a == "right")) std::swap(a, b);  // "up and right"
      dir = b.empty() ? a : a + " and " + b;
    } else if (i < words.size() && words[i] == "bouncing") {
      ++i;
    }
    for (int k = 0; k < count; ++k) spec.sprites.push_back({color, shape == "sprite" ? "" : shape, dir});
  }
  if (spec.sprites.empty() && !empty_scene) fail("prompt \"{}\": names no sprite", text);
  if (empty_scene && !spec.sprites.empty()) fail("prompt \"{}\": 'no sprites' and sprites", text);
  return spec;
}

double PromptAdherence::score() const {
  return motion_ok < 0 ? (count_ok + colors_ok) / 2 : (count_ok + colors_ok + motion_ok) / 3;
}

PromptAdherence prompt_adherence(const PhysicsScore& scored, const PromptSpec& prompt) {
  if (scored.colors.size() != size_t(kSynthPaletteSize))
    fail("prompt adherence needs a video scored against the synth palette ({} colours, got {})", kSynthPaletteSize,
         scored.colors.size());
  const auto& F = scored.per_frame;
  if (F.empty()) fail("prompt adherence: the video has no scored frames");
  std::vector<bool> named(kSynthPaletteSize, false);
  bool all_named = true;
  for (const auto& s : prompt.sprites) {
    if (s.color >= 0) named[size_t(s.color)] = true;
    all_named = all_named && s.color >= 0;
  }
  PromptAdherence r;
  double count_ok = 0, colors_ok = 0;
  for (const auto& f : F) {
    count_ok += f.sprites.size() == prompt.sprites.size();
    std::vector<bool> found(kSynthPaletteSize, false);
    for (const auto& d : f.sprites) found[size_t(d.color)] = true;
    bool ok = true;
    for (int k = 0; k < kSynthPaletteSize; ++k) {
      if (named[size_t(k)] && !found[size_t(k)]) ok = false;
      if (all_named && found[size_t(k)] && !named[size_t(k)]) ok = false;
    }
    colors_ok += ok;
  }
  r.count_ok = count_ok / static_cast<double>(F.size());
  r.colors_ok = colors_ok / static_cast<double>(F.size());
  // Motion: frame steps of each named colour that has a direction.
  double steps = 0, good = 0;
  for (const auto& s : prompt.sprites) {
    if (s.color < 0 || s.direction.empty()) continue;
    const auto [ux, uy] = direction_vector(s.direction);
    auto find = [&](const FrameDetections& f) -> const SpriteDetection* {
      for (const auto& d : f.sprites)
        if (d.color == s.color) return &d;
      return nullptr;
    };
    for (size_t t = 1; t < F.size(); ++t) {
      const SpriteDetection *a = find(F[t - 1]), *b = find(F[t]);
      if (!a || !b) continue;
      const double dx = b->x - a->x, dy = b->y - a->y, m = std::hypot(dx, dy);
      if (m < 0.1) continue;
      steps += 1;
      good += (dx * ux + dy * uy) / m >= std::cos(kPi / 4) - 1e-12;
    }
  }
  if (steps > 0) r.motion_ok = good / steps;
  else {
    bool any_dir = false;
    for (const auto& s : prompt.sprites) any_dir = any_dir || (s.color >= 0 && !s.direction.empty());
    if (any_dir) r.motion_ok = 0;  // asked for motion, none seen
  }
  return r;
}

}  // namespace longvid
