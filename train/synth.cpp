#include "train/synth.h"

#include "train/synth_caption.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/video_io.h"

namespace fs = std::filesystem;

namespace longvid {

uint64_t SplitMix64::below(uint64_t n) {
  if (n <= 1) return 0;
  // Lemire's multiply-shift with rejection: unbiased, no division in the common case.
  for (;;) {
    const uint64_t x = next();
    const unsigned __int128 m = static_cast<unsigned __int128>(x) * n;
    const uint64_t lo = static_cast<uint64_t>(m);
    if (lo >= n || lo >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
  }
}

uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  SplitMix64 r(a ^ 0x6a09e667f3bcc909ULL);
  uint64_t h = r.next();
  SplitMix64 r2(h ^ (b * 0x9e3779b97f4a7c15ULL) ^ 0xbb67ae8584caa73bULL);
  h = r2.next();
  SplitMix64 r3(h ^ (c * 0xc2b2ae3d27d4eb4fULL) ^ 0x3c6ef372fe94f82bULL);
  return r3.next();
}

namespace {

std::array<uint8_t, 3> hsv_to_rgb8(double h_deg, double s, double v) {
  const double c = v * s;
  const double hp = std::fmod(h_deg, 360.0) / 60.0;
  const double x = c * (1 - std::fabs(std::fmod(hp, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) r = c, g = x;
  else if (hp < 2) r = x, g = c;
  else if (hp < 3) g = c, b = x;
  else if (hp < 4) g = x, b = c;
  else if (hp < 5) r = x, b = c;
  else r = c, b = x;
  const double m = v - c;
  auto q = [](double u) { return static_cast<uint8_t>(std::lround(std::clamp(u, 0.0, 1.0) * 255.0)); };
  return {q(r + m), q(g + m), q(b + m)};
}

constexpr double kTwoPi = 6.283185307179586476925286766559;

// Fraction of [p, p + 1) covered by [lo, hi].
inline float overlap1(double p, double lo, double hi) {
  const double a = std::max(p, lo), b = std::min(p + 1.0, hi);
  return b > a ? static_cast<float>(b - a) : 0.0f;
}

// v rounded to a multiple of q = 10^-d, as the double nearest that decimal (so JSON stays short).
double round_to(double v, double q) {
  const double inv = std::round(1.0 / q);
  return std::round(v * inv) / inv;
}

}  // namespace

const std::vector<std::array<uint8_t, 3>>& synth_palette() {
  static const std::vector<std::array<uint8_t, 3>> p = [] {
    std::vector<std::array<uint8_t, 3>> v;
    for (int i = 0; i < kSynthPaletteSize; ++i) v.push_back(hsv_to_rgb8(synth_palette_hue(i), 0.85, 0.95));
    return v;
  }();
  return p;
}

double synth_palette_hue(int index) { return 360.0 * index / kSynthPaletteSize; }

const char* sprite_shape_name(SpriteShape s) { return s == SpriteShape::Disc ? "disc" : "square"; }

std::array<double, 3> SynthBackground::at(int64_t t) const {
  std::array<double, 3> c{};
  for (int k = 0; k < 3; ++k)
    c[k] = mean[k] + amplitude[k] * std::sin(kTwoPi * static_cast<double>(t) / period + phase[k]);
  return c;
}

SynthVideo::SynthVideo(const SynthVideoParams& params, uint64_t seed) : params_(params), seed_(seed) {
  if (params.size < 8 || params.size > 4096) fail("synth: frame size must be 8..4096 (got {})", params.size);
  if (params.frames < 1) fail("synth: need at least one frame (got {})", params.frames);
  // 0 is an empty scene (background only): what an autoencoder must also render flat.
  if (params.sprites < 0 || params.sprites > kSynthPaletteSize)
    fail("synth: sprites must be 0..{} (distinct palette colours), got {}", kSynthPaletteSize, params.sprites);
  SplitMix64 rng(seed);
  const double S = params.size;
  // Background: a slightly tinted grey whose brightness drifts on a slow sine (amplitude 10..25)
  // and whose tint drifts on the same period with a small per-channel part (amplitude <= 8), so
  // it stays far less saturated than the sprites. Stored as one sine per channel.
  const double grey = rng.uniform(70, 150);
  bg_.period = rng.uniform(192, 768);
  const double lum_amp = rng.uniform(10, 25), lum_phase = rng.uniform(0, kTwoPi);
  for (int k = 0; k < 3; ++k) {
    bg_.mean[k] = grey + rng.uniform(-8, 8);
    const double c_amp = rng.uniform(0, 8), c_phase = rng.uniform(0, kTwoPi);
    // L sin(th + a) + C sin(th + b) = A sin(th + p)
    const double ca = lum_amp * std::cos(lum_phase) + c_amp * std::cos(c_phase);
    const double sa = lum_amp * std::sin(lum_phase) + c_amp * std::sin(c_phase);
    bg_.amplitude[k] = std::sqrt(ca * ca + sa * sa);
    bg_.phase[k] = std::atan2(sa, ca);
  }
  // Distinct palette colours: a partial Fisher-Yates shuffle of the palette indices.
  std::vector<int> idx(kSynthPaletteSize);
  for (int i = 0; i < kSynthPaletteSize; ++i) idx[i] = i;
  for (int i = 0; i < params.sprites; ++i) {
    const int j = i + static_cast<int>(rng.below(static_cast<uint64_t>(kSynthPaletteSize - i)));
    std::swap(idx[i], idx[j]);
  }
  for (int i = 0; i < params.sprites; ++i) {
    SpriteSpec sp;
    sp.shape = rng.below(2) ? SpriteShape::Square : SpriteShape::Disc;
    sp.radius = rng.uniform(0.06, 0.10) * S;
    sp.palette_index = idx[i];
    sp.color = synth_palette()[idx[i]];
    SpriteState st;
    st.x = rng.uniform(sp.radius, S - sp.radius);
    st.y = rng.uniform(sp.radius, S - sp.radius);
    st.vx = rng.uniform(0.004, 0.02) * S * (rng.below(2) ? 1 : -1);
    st.vy = rng.uniform(0.004, 0.02) * S * (rng.below(2) ? 1 : -1);
    specs_.push_back(sp);
    state_.push_back(st);
  }
  acc_.assign(static_cast<size_t>(params.size) * params.size * 3, 0.0f);
  trans_.assign(static_cast<size_t>(params.size) * params.size, 1.0f);
}

void SynthVideo::step(SpriteState& s, double r, double size) {
  auto axis = [&](double& p, double& v) {
    p += v;
    const double lo = r, hi = size - r;
    // Mirror at the walls until inside (more than one reflection only for speeds > hi - lo).
    for (int guard = 0; guard < 64 && (p < lo || p > hi); ++guard) {
      if (p < lo) p = 2 * lo - p;
      else p = 2 * hi - p;
      v = -v;
    }
    p = std::clamp(p, lo, hi);
  };
  axis(s.x, s.vx);
  axis(s.y, s.vy);
}

bool SynthVideo::next(uint8_t* rgb, SynthFrameTruth* truth) {
  if (t_ >= params_.frames) return false;
  const int S = params_.size;
  const size_t n = static_cast<size_t>(S) * S;
  std::fill(acc_.begin(), acc_.end(), 0.0f);
  std::fill(trans_.begin(), trans_.end(), 1.0f);
  const int m = static_cast<int>(specs_.size());
  std::vector<double> vis(m, 0.0), tot(m, 0.0);
  // Front to back: the last sprite is on top.
  for (int i = m - 1; i >= 0; --i) {
    const SpriteSpec& sp = specs_[i];
    const SpriteState& st = state_[i];
    const double r = sp.radius;
    const int x0 = std::max(0, static_cast<int>(std::floor(st.x - r - 1)));
    const int x1 = std::min(S - 1, static_cast<int>(std::ceil(st.x + r + 1)));
    const int y0 = std::max(0, static_cast<int>(std::floor(st.y - r - 1)));
    const int y1 = std::min(S - 1, static_cast<int>(std::ceil(st.y + r + 1)));
    const float cr = sp.color[0], cg = sp.color[1], cb = sp.color[2];
    for (int y = y0; y <= y1; ++y) {
      const float oy = sp.shape == SpriteShape::Square ? overlap1(y, st.y - r, st.y + r) : 0.0f;
      const double dy = y + 0.5 - st.y;
      for (int x = x0; x <= x1; ++x) {
        float a;
        if (sp.shape == SpriteShape::Square) {
          a = oy * overlap1(x, st.x - r, st.x + r);
        } else {
          const double dx = x + 0.5 - st.x;
          a = static_cast<float>(std::clamp(r + 0.5 - std::sqrt(dx * dx + dy * dy), 0.0, 1.0));
        }
        if (a <= 0.0f) continue;
        const size_t p = static_cast<size_t>(y) * S + x;
        const float w = a * trans_[p];
        acc_[3 * p] += w * cr;
        acc_[3 * p + 1] += w * cg;
        acc_[3 * p + 2] += w * cb;
        trans_[p] *= 1.0f - a;
        vis[i] += w;
        tot[i] += a;
      }
    }
  }
  const std::array<double, 3> bgd = bg_.at(t_);
  const float bg[3] = {static_cast<float>(bgd[0]), static_cast<float>(bgd[1]), static_cast<float>(bgd[2])};
  for (size_t p = 0; p < n; ++p) {
    const float tr = trans_[p];
    for (int k = 0; k < 3; ++k) {
      const float v = acc_[3 * p + k] + tr * bg[k];
      rgb[3 * p + k] = static_cast<uint8_t>(std::clamp(static_cast<int>(v + 0.5f), 0, 255));
    }
  }
  if (truth) {
    truth->background = bgd;
    truth->sprites = state_;
    truth->visible.resize(m);
    for (int i = 0; i < m; ++i) truth->visible[i] = tot[i] > 0 ? vis[i] / tot[i] : 0.0;
  }
  for (int i = 0; i < m; ++i) step(state_[i], specs_[i].radius, S);
  ++t_;
  return true;
}

// ---- truth JSON -------------------------------------------------------------------------------
namespace {

nlohmann::json truth_header(const SynthVideo& v, const std::string& fps) {
  using nlohmann::json;
  json sprites = json::array();
  for (size_t i = 0; i < v.sprites().size(); ++i) {
    const SpriteSpec& s = v.sprites()[i];
    sprites.push_back({{"id", i},
                       {"shape", sprite_shape_name(s.shape)},
                       {"radius", round_to(s.radius, 1e-6)},
                       {"color", {s.color[0], s.color[1], s.color[2]}},
                       {"palette_index", s.palette_index},
                       {"hue", synth_palette_hue(s.palette_index)}});
  }
  const SynthBackground& b = v.background();
  auto arr = [](const std::array<double, 3>& a, double q) {
    return json::array({round_to(a[0], q), round_to(a[1], q), round_to(a[2], q)});
  };
  return {{"format", "longvid-synth-truth"},
          {"version", 1},
          {"seed", v.seed()},
          {"size", v.params().size},
          {"frames", v.params().frames},
          {"fps", fps},
          {"coordinates",
           "pixels; origin at the frame's top-left corner, x right, y down; pixel (i,j) covers [i,i+1)x[j,j+1); "
           "pos = sprite centre shown in the frame; vel = step to the next frame (p' = reflect(p + v)); visible = "
           "unoccluded fraction of the sprite's coverage; colours 0..255"},
          {"background",
           {{"formula", "mean + amplitude * sin(2 pi t / period + phase)"},
            {"mean", arr(b.mean, 1e-6)},
            {"amplitude", arr(b.amplitude, 1e-6)},
            {"phase", arr(b.phase, 1e-9)},
            {"period", round_to(b.period, 1e-6)}}},
          {"sprites", sprites}};
}

nlohmann::json frame_json(int64_t t, const SynthFrameTruth& f) {
  using nlohmann::json;
  json pos = json::array(), vel = json::array(), vis = json::array();
  for (size_t i = 0; i < f.sprites.size(); ++i) {
    const SpriteState& s = f.sprites[i];
    pos.push_back({round_to(s.x, 1e-4), round_to(s.y, 1e-4)});
    vel.push_back({round_to(s.vx, 1e-6), round_to(s.vy, 1e-6)});
    vis.push_back(round_to(f.visible[i], 1e-4));
  }
  return {{"t", t},
          {"background", {round_to(f.background[0], 1e-3), round_to(f.background[1], 1e-3),
                          round_to(f.background[2], 1e-3)}},
          {"pos", pos},
          {"vel", vel},
          {"visible", vis}};
}

}  // namespace

SynthTruth load_synth_truth(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", path.string(), e.what());
  }
  if (!j.is_object() || j.value("format", "") != "longvid-synth-truth")
    fail("{}: not a longvid synth truth file (no \"format\": \"longvid-synth-truth\")", path.string());
  SynthTruth t;
  try {
    t.size = j.at("size").get<int>();
    t.frames = j.at("frames").get<int64_t>();
    t.seed = j.at("seed").get<uint64_t>();
    const auto& b = j.at("background");
    for (int k = 0; k < 3; ++k) {
      t.background.mean[k] = b.at("mean").at(k).get<double>();
      t.background.amplitude[k] = b.at("amplitude").at(k).get<double>();
      t.background.phase[k] = b.at("phase").at(k).get<double>();
    }
    t.background.period = b.at("period").get<double>();
    for (const auto& s : j.at("sprites")) {
      SpriteSpec sp;
      sp.shape = s.at("shape").get<std::string>() == "square" ? SpriteShape::Square : SpriteShape::Disc;
      sp.radius = s.at("radius").get<double>();
      sp.palette_index = s.value("palette_index", -1);
      for (int k = 0; k < 3; ++k) sp.color[k] = s.at("color").at(k).get<uint8_t>();
      t.sprites.push_back(sp);
    }
    const size_t m = t.sprites.size();
    for (const auto& f : j.at("per_frame")) {
      SynthFrameTruth ft;
      for (int k = 0; k < 3; ++k) ft.background[k] = f.at("background").at(k).get<double>();
      const auto& pos = f.at("pos");
      const auto& vel = f.at("vel");
      if (pos.size() != m || vel.size() != m)
        fail("{}: frame {} lists {} positions / {} velocities for {} sprites", path.string(), t.per_frame.size(),
             pos.size(), vel.size(), m);
      for (size_t i = 0; i < m; ++i) {
        SpriteState s;
        s.x = pos.at(i).at(0).get<double>();
        s.y = pos.at(i).at(1).get<double>();
        s.vx = vel.at(i).at(0).get<double>();
        s.vy = vel.at(i).at(1).get<double>();
        ft.sprites.push_back(s);
      }
      if (f.contains("visible"))
        for (const auto& v : f.at("visible")) ft.visible.push_back(v.get<double>());
      else
        ft.visible.assign(m, 1.0);
      if (ft.visible.size() != m) fail("{}: frame {}: visible has the wrong length", path.string(), t.per_frame.size());
      t.per_frame.push_back(std::move(ft));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed synth truth: {}", path.string(), e.what());
  }
  if (static_cast<int64_t>(t.per_frame.size()) != t.frames)
    fail("{}: says {} frames but lists {}", path.string(), t.frames, t.per_frame.size());
  return t;
}

// ---- dataset ------------------------------------------------------------------------------------
std::string synth_video_name(int64_t index, const std::string& format) {
  const std::string stem = fmt::format("video_{:05d}", index);
  if (format == "png") return stem;
  return stem + "." + format;
}

std::string synth_truth_name(int64_t index) { return fmt::format("video_{:05d}.json", index); }

int synth_video_sprites(const SynthDatasetOptions& o, int64_t index) {
  if (o.sprites_max < 0 || o.sprites_max <= o.sprites) return o.sprites;
  const uint64_t r = mix_seed(o.seed, static_cast<uint64_t>(index), 0x5158);
  return o.sprites + static_cast<int>(r % static_cast<uint64_t>(o.sprites_max - o.sprites + 1));
}

SynthDatasetReport write_synth_dataset(const SynthDatasetOptions& o,
                                       const std::function<void(int64_t, int64_t)>& progress) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  if (o.out.empty()) fail("synth: no output directory given");
  if (o.videos < 1) fail("synth: --videos must be >= 1 (got {})", o.videos);
  if (o.format != "mp4" && o.format != "webm" && o.format != "png" && o.format != "y4m")
    fail("synth: unknown --format '{}' (mp4, webm, png, y4m)", o.format);
  if (o.format != "y4m" && !ffmpeg_available())
    fail_hint("use --format y4m", "synth: this build has no FFmpeg, cannot write {}", o.format);
  std::error_code ec;
  if (fs::exists(o.out, ec)) {
    if (!fs::is_directory(o.out, ec)) fail("{}: exists and is not a directory", o.out.string());
    if (!fs::is_empty(o.out, ec))
      fail_hint("choose a new directory (it is created) or empty this one", "{}: directory is not empty",
                o.out.string());
  }
  SynthVideoParams vp;
  vp.size = o.size;
  vp.frames = o.frames;
  vp.sprites = o.sprites;
  (void)SynthVideo(vp, 0);  // validates the parameters before anything is written
  if (o.sprites_max >= 0 && o.sprites_max < o.sprites)  // (-1: no range; 0 is a count like any other)
    fail("synth: sprite range {}-{}: the maximum is below the minimum", o.sprites, o.sprites_max);
  if (o.sprites_max > o.sprites) {
    vp.sprites = o.sprites_max;
    (void)SynthVideo(vp, 0);
  }
  const Fps fps = Fps::parse(o.fps);

  fs::path target = o.out;
  if (target.filename().empty()) target = target.parent_path();  // "dir/" -> "dir"
  AtomicOutput out(target);
  fs::create_directory(out.temp(), ec);
  if (ec) fail("{}: cannot create directory: {}", out.temp().string(), ec.message());

  WriteOptions wo;
  wo.fps = fps;
  wo.crf = o.crf;
  wo.preset = o.preset;
  SynthDatasetReport rep;
  double render_s = 0;
  nlohmann::json files = nlohmann::json::array();
  std::vector<uint8_t> rgb(static_cast<size_t>(o.size) * o.size * 3);
  for (int64_t i = 0; i < o.videos; ++i) {
    vp.sprites = synth_video_sprites(o, i);
    SynthVideo v(vp, mix_seed(o.seed, static_cast<uint64_t>(i), 0x5157));
    const std::string vname = synth_video_name(i, o.format);
    fs::path vpath = out.temp() / vname;
    VideoWriter w(o.format == "png" ? fs::path(vpath.string() + "/") : vpath, wo);
    nlohmann::json jt = truth_header(v, fps.str());
    jt["index"] = i;
    jt["dataset_seed"] = o.seed;
    jt["video"] = vname;
    nlohmann::json frames = nlohmann::json::array();
    SynthFrameTruth ft;
    SynthTruth truth;  // for the caption
    truth.sprites = v.sprites();
    truth.background = v.background();
    for (;;) {
      const auto r0 = clock::now();
      const bool more = v.next(rgb.data(), &ft);
      render_s += std::chrono::duration<double>(clock::now() - r0).count();
      if (!more) break;
      frames.push_back(frame_json(v.frame_index() - 1, ft));
      if (truth.per_frame.size() < size_t(kSynthCaptionFrames)) truth.per_frame.push_back(ft);
      w.push(rgb.data(), o.size, o.size);
    }
    w.close();
    const std::string caption = synth_caption(truth);
    jt["caption"] = caption;
    jt["caption_frames"] = static_cast<int64_t>(truth.per_frame.size());
    jt["per_frame"] = std::move(frames);
    {
      std::ofstream f(out.temp() / synth_truth_name(i), std::ios::binary);
      f << jt.dump() << "\n";
      if (!f) fail("{}: write error", (out.temp() / synth_truth_name(i)).string());
    }
    files.push_back({{"video", vname}, {"truth", synth_truth_name(i)}, {"seed", v.seed()}, {"caption", caption}});
    rep.videos = i + 1;
    rep.frames += o.frames;
    if (progress) progress(i + 1, o.videos);
  }
  nlohmann::json palette = nlohmann::json::array(), hues = nlohmann::json::array();
  for (int k = 0; k < kSynthPaletteSize; ++k) {
    const auto& c = synth_palette()[k];
    palette.push_back({c[0], c[1], c[2]});
    hues.push_back(synth_palette_hue(k));
  }
  nlohmann::json ds = {{"format", "longvid-synth-dataset"},
                       {"version", 1},
                       {"seed", o.seed},
                       {"videos", o.videos},
                       {"frames", o.frames},
                       {"size", o.size},
                       {"sprites", o.sprites},
                       {"sprites_max", std::max(o.sprites, o.sprites_max)},
                       {"fps", fps.str()},
                       {"media_format", o.format},
                       {"palette", palette},
                       {"palette_hues", hues},
                       {"description",
                        "sprites (discs/squares, distinct palette colours) moving at constant velocity with elastic "
                        "wall bounces over a slowly, periodically drifting background; per-video truth in the "
                        "listed JSON files"},
                       {"files", files}};
  {
    std::ofstream f(out.temp() / "dataset.json", std::ios::binary);
    f << ds.dump(2) << "\n";
    if (!f) fail("{}: write error", (out.temp() / "dataset.json").string());
  }
  out.commit();
  rep.render_seconds = render_s;
  rep.total_seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  return rep;
}

}  // namespace longvid
