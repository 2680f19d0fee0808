#include "train/physics_score.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/video_io.h"

namespace longvid {

namespace {

double dist3(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m), v.end());
  double hi = v[m];
  if (v.size() % 2) return hi;
  const double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(m));
  return 0.5 * (lo + hi);
}

}  // namespace

double frame_texture(const uint8_t* rgb, int W, int H) {
  if (W < 3 || H < 3) return 0;
  auto g = [&](int64_t x, int64_t y) {
    const uint8_t* q = rgb + 3 * (y * W + x);
    return (double{q[0]} + q[1] + q[2]) / 3.0;
  };
  double acc = 0;
  for (int64_t y = 1; y + 1 < H; ++y)
    for (int64_t x = 1; x + 1 < W; ++x)
      acc += std::abs(4 * g(x, y) - g(x - 1, y) - g(x + 1, y) - g(x, y - 1) - g(x, y + 1));
  return acc / static_cast<double>((W - 2) * (H - 2));
}

FrameDetections detect_sprites(const uint8_t* rgb, int W, int H, const std::vector<std::array<double, 3>>& colors,
                               const PhysicsScoreOptions& o) {
  FrameDetections out;
  const int64_t n = int64_t{W} * H;
  // 1. Background: per-channel median (histogram).
  for (int c = 0; c < 3; ++c) {
    int64_t hist[256] = {0};
    for (int64_t p = 0; p < n; ++p) ++hist[rgb[3 * p + c]];
    int64_t acc = 0;
    int v = 0;
    for (; v < 256; ++v) {
      acc += hist[v];
      if (2 * acc >= n) break;
    }
    out.background[c] = v;
  }
  out.texture = frame_texture(rgb, W, H);
  const auto& bg = out.background;
  // 2. Per pixel: best reference colour by direction, coverage alpha along it.
  const int K = static_cast<int>(colors.size());
  std::vector<std::array<double, 3>> e(K);
  std::vector<double> e2(K);
  std::vector<bool> usable(K);
  for (int k = 0; k < K; ++k) {
    for (int c = 0; c < 3; ++c) e[k][c] = colors[k][c] - bg[c];
    e2[k] = e[k][0] * e[k][0] + e[k][1] * e[k][1] + e[k][2] * e[k][2];
    usable[k] = e2[k] >= o.min_diff * o.min_diff;
  }
  std::vector<int8_t> label(static_cast<size_t>(n), -1);
  std::vector<float> alpha(static_cast<size_t>(n), 0.0f);
  const double min_d2 = o.min_diff * o.min_diff;
  bool any = false;
  for (int64_t p = 0; p < n; ++p) {
    const double d0 = rgb[3 * p] - bg[0], d1 = rgb[3 * p + 1] - bg[1], d2 = rgb[3 * p + 2] - bg[2];
    const double dd = d0 * d0 + d1 * d1 + d2 * d2;
    if (dd < min_d2) continue;
    int best = -1;
    double best_cos = o.min_cosine, best_dot = 0;
    const double dn = std::sqrt(dd);
    for (int k = 0; k < K; ++k) {
      if (!usable[k]) continue;
      const double dot = d0 * e[k][0] + d1 * e[k][1] + d2 * e[k][2];
      const double cs = dot / (dn * std::sqrt(e2[k]));
      if (cs >= best_cos) best_cos = cs, best = k, best_dot = dot;
    }
    if (best < 0) continue;
    label[p] = static_cast<int8_t>(best);
    alpha[p] = static_cast<float>(best_dot / e2[best]);
    any = true;
  }
  if (!any) return out;
  // 3. Per colour: the largest 4-connected component of core pixels (alpha >= 0.5).
  const double min_area = o.min_area >= 0 ? o.min_area : std::max(9.0, 0.004 * static_cast<double>(n));
  std::vector<int32_t> comp(static_cast<size_t>(n), -1);
  std::vector<int64_t> stack;
  struct Comp {
    int k;
    int64_t count = 0;
    int x0, y0, x1, y1;
    double core_rgb[3] = {0, 0, 0};
    int64_t core_n = 0;
    double all_rgb[3] = {0, 0, 0};
  };
  std::vector<Comp> best(K, Comp{-1, 0, 0, 0, 0, 0});
  std::vector<int64_t> members;
  int32_t next_id = 0;
  for (int64_t s = 0; s < n; ++s) {
    if (label[s] < 0 || alpha[s] < 0.5f || comp[s] >= 0) continue;
    const int k = label[s];
    Comp c{k, 0, W, H, -1, -1};
    stack.assign(1, s);
    members.clear();
    comp[s] = next_id;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      const int x = static_cast<int>(p % W), y = static_cast<int>(p / W);
      ++c.count;
      c.x0 = std::min(c.x0, x), c.x1 = std::max(c.x1, x), c.y0 = std::min(c.y0, y), c.y1 = std::max(c.y1, y);
      for (int ch = 0; ch < 3; ++ch) c.all_rgb[ch] += rgb[3 * p + ch];
      if (alpha[p] >= 0.8f) {
        for (int ch = 0; ch < 3; ++ch) c.core_rgb[ch] += rgb[3 * p + ch];
        ++c.core_n;
      }
      const int64_t nb[4] = {x > 0 ? p - 1 : -1, x + 1 < W ? p + 1 : -1, y > 0 ? p - W : -1, y + 1 < H ? p + W : -1};
      for (int64_t q : nb)
        if (q >= 0 && comp[q] < 0 && label[q] == k && alpha[q] >= 0.5f) {
          comp[q] = next_id;
          stack.push_back(q);
        }
    }
    // A sprite has an interior: some pixel whose 3x3 neighbourhood lies in the component. Thin
    // strips (anti-aliased or chroma-subsampled borders where two sprites touch, whose blend can
    // look like a third palette colour) have none and are ignored.
    bool interior = false;
    for (int64_t p : members) {
      const int x = static_cast<int>(p % W), y = static_cast<int>(p / W);
      if (x == 0 || y == 0 || x + 1 == W || y + 1 == H) continue;
      bool all = true;
      for (int dy = -1; dy <= 1 && all; ++dy)
        for (int dx = -1; dx <= 1 && all; ++dx) all = comp[p + int64_t{dy} * W + dx] == next_id;
      if (all) {
        interior = true;
        break;
      }
    }
    ++next_id;
    if (interior && c.count > best[k].count) best[k] = c;
  }
  for (int k = 0; k < K; ++k) {
    const Comp& c = best[k];
    if (c.k < 0 || static_cast<double>(c.count) < min_area) continue;
    // Centroid: coverage-weighted, over the component's box grown by 2 px; pixels of this colour,
    // and faint pixels (under min_diff, unlabelled) by their projection on e_k.
    double sw = 0, sx = 0, sy = 0;
    const int x0 = std::max(0, c.x0 - 2), x1 = std::min(W - 1, c.x1 + 2);
    const int y0 = std::max(0, c.y0 - 2), y1 = std::min(H - 1, c.y1 + 2);
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const int64_t p = int64_t{y} * W + x;
        double a;
        if (label[p] == k) {
          a = alpha[p];
        } else if (label[p] < 0) {
          const double d0 = rgb[3 * p] - bg[0], d1 = rgb[3 * p + 1] - bg[1], d2 = rgb[3 * p + 2] - bg[2];
          if (d0 * d0 + d1 * d1 + d2 * d2 >= min_d2) continue;  // strong but another direction
          a = (d0 * e[k][0] + d1 * e[k][1] + d2 * e[k][2]) / e2[k];
        } else {
          continue;
        }
        a = std::clamp(a, 0.0, 1.0);
        sw += a;
        sx += a * (x + 0.5);
        sy += a * (y + 0.5);
      }
    if (sw <= 0) continue;
    SpriteDetection d;
    d.color = k;
    d.x = sx / sw;
    d.y = sy / sw;
    d.area = sw;
    for (int ch = 0; ch < 3; ++ch)
      d.rgb[ch] = c.core_n ? c.core_rgb[ch] / static_cast<double>(c.core_n) : c.all_rgb[ch] / static_cast<double>(c.count);
    out.sprites.push_back(d);
  }
  return out;
}

PhysicsScorer::PhysicsScorer(PhysicsScoreOptions o, const SynthTruth* truth) : o_(std::move(o)), truth_(truth) {
  if (o_.window < 2) fail("score: window must be >= 2 frames (got {})", o_.window);
  if (!o_.colors.empty()) {
    colors_ = o_.colors;
  } else if (truth_ && !truth_->sprites.empty()) {
    for (const auto& s : truth_->sprites) colors_.push_back({double(s.color[0]), double(s.color[1]), double(s.color[2])});
  } else {
    // The whole palette: also for an empty scene's truth, so that any sprite found counts against it.
    for (const auto& c : synth_palette()) colors_.push_back({double(c[0]), double(c[1]), double(c[2])});
  }
  if (colors_.empty()) fail("score: no reference colours");
  if (colors_.size() > 127) fail("score: at most 127 reference colours (got {})", colors_.size());
}

void PhysicsScorer::push(const uint8_t* rgb, int width, int height) {
  if (frames_.empty()) {
    width_ = width;
    height_ = height;
    if (truth_ && (truth_->size != width || truth_->size != height))
      fail("score: the video is {}x{} but the truth describes {}x{} frames", width, height, truth_->size, truth_->size);
  } else if (width != width_ || height != height_) {
    fail("score: frame {} is {}x{}, the first was {}x{}", frames_.size(), width, height, width_, height_);
  }
  if (truth_ && static_cast<int64_t>(frames_.size()) >= truth_->frames)
    fail("score: the video has more frames than the truth ({})", truth_->frames);
  const auto t0 = std::chrono::steady_clock::now();
  frames_.push_back(detect_sprites(rgb, width, height, colors_, o_));
  detect_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

PhysicsScore PhysicsScorer::finish() const {
  PhysicsScore s;
  s.width = width_;
  s.height = height_;
  s.frames = static_cast<int64_t>(frames_.size());
  s.colors = colors_;
  s.per_frame = frames_;
  s.detect_seconds = detect_seconds_;
  const int64_t F = s.frames;
  if (F == 0) fail("score: no frames");
  const int K = static_cast<int>(colors_.size());
  // Tracks by colour: present[k][t], position.
  std::vector<std::vector<const SpriteDetection*>> track(K, std::vector<const SpriteDetection*>(F, nullptr));
  std::vector<int> count(F, 0);
  for (int64_t t = 0; t < F; ++t) {
    for (const auto& d : frames_[t].sprites) track[d.color][t] = &d;
    count[t] = static_cast<int>(frames_[t].sprites.size());
  }
  // Expected count per frame.
  std::vector<int> expected(F, -1);
  if (truth_) {
    s.expected_from = "truth";
    s.expected_sprites = static_cast<int>(truth_->sprites.size());
    for (int64_t t = 0; t < F; ++t) {
      int c = 0;
      for (double v : truth_->per_frame[t].visible) c += v >= 0.5;
      expected[t] = c;
    }
  } else {
    int e = o_.expected_sprites;
    s.expected_from = "option";
    if (e < 0) {
      std::map<int, int64_t> hist;
      for (int64_t t = 0; t < std::min(F, o_.window); ++t) ++hist[count[t]];
      int64_t bestn = -1;
      for (auto [c, m] : hist)
        if (m > bestn) bestn = m, e = c;
      s.expected_from = "first window";
    }
    s.expected_sprites = e;
    std::fill(expected.begin(), expected.end(), e);
  }
  const double jump = o_.jump_px >= 0 ? o_.jump_px : std::max(width_, height_) / 8.0;

  auto score_range = [&](int64_t a, int64_t b) {
    WindowScore w;
    w.start = a;
    w.end = b;
    std::vector<double> counts, ok, cerr, accel, perr, bgerr, noise;
    int64_t steps = 0, breaks = 0, truth_vis = 0, truth_missing = 0;
    for (int64_t t = a; t < b; ++t) {
      counts.push_back(count[t]);
      noise.push_back(frames_[t].texture > o_.max_texture ? 1.0 : 0.0);
      ok.push_back(count[t] == expected[t] ? 1.0 : 0.0);
      for (const auto& d : frames_[t].sprites) cerr.push_back(dist3(d.rgb, colors_[d.color]));
      for (int k = 0; k < K; ++k) {
        const SpriteDetection* c = track[k][t];
        if (t > 0 && t + 1 < F && c && track[k][t - 1] && track[k][t + 1]) {
          const double ax = track[k][t + 1]->x - 2 * c->x + track[k][t - 1]->x;
          const double ay = track[k][t + 1]->y - 2 * c->y + track[k][t - 1]->y;
          accel.push_back(std::sqrt(ax * ax + ay * ay));
        }
        if (t > 0 && track[k][t - 1]) {
          ++steps;
          const SpriteDetection* p = track[k][t - 1];
          if (!c || std::hypot(c->x - p->x, c->y - p->y) > jump) ++breaks;
        }
      }
      if (truth_) {
        const auto& ft = truth_->per_frame[t];
        bgerr.push_back(dist3(frames_[t].background, ft.background));
        for (int k = 0; k < K && k < static_cast<int>(ft.sprites.size()); ++k) {
          if (ft.visible[k] < 0.99) continue;
          ++truth_vis;
          const SpriteDetection* c = track[k][t];
          if (!c) {
            ++truth_missing;
            continue;
          }
          perr.push_back(std::hypot(c->x - ft.sprites[k].x, c->y - ft.sprites[k].y));
        }
      }
    }
    w.sprites_mean = mean(counts);
    w.count_ok_frac = mean(ok);
    w.color_error = mean(cerr);
    w.accel_mean = mean(accel);
    w.accel_median = median(accel);
    w.break_frac = steps ? static_cast<double>(breaks) / static_cast<double>(steps) : 0.0;
    w.noise_frac = mean(noise);
    if (truth_) {
      w.pos_error_mean = mean(perr);
      w.missing_frac = truth_vis ? static_cast<double>(truth_missing) / static_cast<double>(truth_vis) : 0.0;
      w.background_error = mean(bgerr);
    }
    return w;
  };
  for (int64_t a = 0; a < F; a += o_.window) s.windows.push_back(score_range(a, std::min(F, a + o_.window)));
  s.overall = score_range(0, F);
  return s;
}

std::string PhysicsScore::to_json(bool with_frames) const {
  using nlohmann::json;
  auto r = [](double v) { return std::round(v * 1e6) / 1e6; };
  auto win = [&](const WindowScore& w) {
    json j = {{"start", w.start},
              {"end", w.end},
              {"sprites_mean", r(w.sprites_mean)},
              {"count_ok_frac", r(w.count_ok_frac)},
              {"color_error", r(w.color_error)},
              {"accel_mean", r(w.accel_mean)},
              {"accel_median", r(w.accel_median)},
              {"break_frac", r(w.break_frac)},
              {"noise_frac", r(w.noise_frac)}};
    if (w.pos_error_mean >= 0) {
      j["pos_error_mean"] = r(w.pos_error_mean);
      j["missing_frac"] = r(w.missing_frac);
      j["background_error"] = r(w.background_error);
    }
    return j;
  };
  json j = {{"format", "longvid-physics-score"},
            {"version", 1},
            {"width", width},
            {"height", height},
            {"frames", frames},
            {"expected_sprites", expected_sprites},
            {"expected_from", expected_from},
            {"overall", win(overall)}};
  json cols = json::array();
  for (const auto& c : colors) cols.push_back({c[0], c[1], c[2]});
  j["colors"] = cols;
  json ws = json::array();
  for (const auto& w : windows) ws.push_back(win(w));
  j["windows"] = ws;
  if (with_frames) {
    json fs = json::array();
    for (const auto& f : per_frame) {
      json sp = json::array();
      for (const auto& d : f.sprites)
        sp.push_back({{"color", d.color}, {"x", r(d.x)}, {"y", r(d.y)}, {"area", r(d.area)},
                      {"rgb", {r(d.rgb[0]), r(d.rgb[1]), r(d.rgb[2])}}});
      fs.push_back({{"background", {f.background[0], f.background[1], f.background[2]}},
                    {"texture", r(f.texture)},
                    {"sprites", sp}});
    }
    j["per_frame"] = fs;
  }
  return j.dump(2);
}

PhysicsScore score_video(const std::filesystem::path& video, const PhysicsScoreOptions& o, const SynthTruth* truth) {
  VideoReader r(video);
  PhysicsScorer sc(o, truth);
  std::vector<uint8_t> rgb;
  while (r.next(rgb)) sc.push(rgb.data(), r.width(), r.height());
  return sc.finish();
}

}  // namespace longvid
