// longvid synth: determinism, bounce physics, truth vs rendered frames (through the scorer), CLI.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "train/physics_score.h"
#include "train/synth.h"
#include "train/synth_caption.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

std::vector<std::vector<uint8_t>> render_all(const SynthVideoParams& p, uint64_t seed,
                                             std::vector<SynthFrameTruth>* truth = nullptr) {
  SynthVideo v(p, seed);
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint8_t> rgb(static_cast<size_t>(p.size) * p.size * 3);
  SynthFrameTruth t;
  while (v.next(rgb.data(), &t)) {
    frames.push_back(rgb);
    if (truth) truth->push_back(t);
  }
  return frames;
}

// A video's truth without its frames (per_frame is filled while rendering).
SynthTruth truth_header(const SynthVideo& v, const SynthVideoParams& p) {
  SynthTruth t;
  t.size = p.size;
  t.frames = p.frames;
  t.sprites = v.sprites();
  return t;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("synth SplitMix64 known values and unbiased below") {
  // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
  SplitMix64 r(0);
  CHECK(r.next() == 0xe220a8397b1dcdafULL);
  CHECK(r.next() == 0x6e789e6aa1b965f4ULL);
  CHECK(r.next() == 0x06c45d188009454fULL);
  SplitMix64 q(7);
  std::vector<int> hist(3, 0);
  for (int i = 0; i < 3000; ++i) ++hist[q.below(3)];
  for (int h : hist) CHECK(h > 900);
  CHECK(mix_seed(1, 2) != mix_seed(2, 1));
  CHECK(mix_seed(1, 2, 3) == mix_seed(1, 2, 3));
}

TEST_CASE("synth same seed gives identical frames and truth, another seed differs") {
  SynthVideoParams p;
  p.size = 32;
  p.frames = 20;
  p.sprites = 4;
  std::vector<SynthFrameTruth> ta, tb, tc;
  auto a = render_all(p, 11, &ta);
  auto b = render_all(p, 11, &tb);
  auto c = render_all(p, 12, &tc);
  REQUIRE(a.size() == 20);
  CHECK(a == b);
  CHECK(a != c);
  for (size_t t = 0; t < ta.size(); ++t)
    for (size_t i = 0; i < ta[t].sprites.size(); ++i) {
      CHECK(ta[t].sprites[i].x == tb[t].sprites[i].x);
      CHECK(ta[t].sprites[i].vy == tb[t].sprites[i].vy);
    }
  // Colours are distinct palette entries.
  SynthVideo v(p, 11);
  std::set<int> idx;
  for (const auto& s : v.sprites()) {
    idx.insert(s.palette_index);
    CHECK(s.color == synth_palette()[s.palette_index]);
  }
  CHECK(idx.size() == 4);
  // Frames change smoothly but do change (motion + drift).
  CHECK(a[0] != a[1]);
}

TEST_CASE("synth bounce physics stays inside the walls and flips the velocity") {
  SynthVideoParams p;
  p.size = 48;
  p.frames = 600;
  p.sprites = 5;
  std::vector<SynthFrameTruth> tr;
  SynthVideo v(p, 3);
  const auto specs = v.sprites();
  render_all(p, 3, &tr);
  int flips = 0;
  for (size_t t = 0; t + 1 < tr.size(); ++t)
    for (size_t i = 0; i < specs.size(); ++i) {
      const double r = specs[i].radius;
      const SpriteState& s = tr[t].sprites[i];
      const SpriteState& n = tr[t + 1].sprites[i];
      CHECK(s.x >= r);
      CHECK(s.x <= p.size - r);
      CHECK(s.y >= r);
      CHECK(s.y <= p.size - r);
      CHECK(std::fabs(std::fabs(n.vx) - std::fabs(s.vx)) < 1e-12);  // elastic: speed kept
      CHECK(std::fabs(std::fabs(n.vy) - std::fabs(s.vy)) < 1e-12);
      const double free_x = s.x + s.vx;
      if (free_x < r || free_x > p.size - r) {
        // The step crossed a wall: the component flips and the position is mirrored.
        CHECK(n.vx == doctest::Approx(-s.vx));
        const double wall = free_x < r ? r : p.size - r;
        CHECK(n.x == doctest::Approx(2 * wall - free_x));
        ++flips;
      } else {
        CHECK(n.vx == s.vx);
        CHECK(n.x == doctest::Approx(free_x));
      }
    }
  CHECK(flips > 5);
  // step() directly: a sprite moving into the left wall.
  SpriteState s{2.5, 10, -1.0, 0.0};
  SynthVideo::step(s, 2.0, 20.0);
  CHECK(s.x == doctest::Approx(2.5));
  CHECK(s.vx == 1.0);
}

TEST_CASE("synth background drifts slowly and periodically") {
  SynthVideoParams p;
  p.size = 16;
  p.frames = 2;
  SynthVideo v(p, 5);
  const SynthBackground& b = v.background();
  CHECK(b.period >= 192);
  for (int k = 0; k < 3; ++k) {
    CHECK(b.at(0)[k] == doctest::Approx(b.at(static_cast<int64_t>(0))[k]));
    CHECK(std::fabs(b.at(1)[k] - b.at(0)[k]) < 1.0);  // slow
  }
  // Periodic: same value one period later (period is not an integer, compare the formula).
  const double P = b.period;
  for (int k = 0; k < 3; ++k)
    CHECK(b.mean[k] + b.amplitude[k] * std::sin(6.283185307179586 * (10 + P) / P + b.phase[k]) ==
          doctest::Approx(b.at(10)[k]).epsilon(1e-9));
}

TEST_CASE("synth truth matches the rendered frames (scorer finds sprites, colours, centroids)") {
  SynthVideoParams p;
  p.size = 64;
  p.frames = 200;
  p.sprites = 3;
  SynthVideo v(p, 21);
  SynthTruth truth = truth_header(v, p);
  PhysicsScoreOptions o;
  std::vector<uint8_t> rgb(64 * 64 * 3);
  SynthFrameTruth ft;
  std::vector<std::vector<uint8_t>> frames;
  while (v.next(rgb.data(), &ft)) {
    truth.per_frame.push_back(ft);
    frames.push_back(rgb);
  }
  // Against the truth colours.
  PhysicsScorer sc(o, &truth);
  for (const auto& f : frames) sc.push(f.data(), 64, 64);
  PhysicsScore s = sc.finish();
  MESSAGE("truth-scored: pos_err " << s.overall.pos_error_mean << " missing " << s.overall.missing_frac
                                   << " count_ok " << s.overall.count_ok_frac << " col " << s.overall.color_error
                                   << " accel " << s.overall.accel_mean << " breaks " << s.overall.break_frac);
  CHECK(s.overall.pos_error_mean < 0.25);
  CHECK(s.overall.missing_frac == 0.0);
  CHECK(s.overall.count_ok_frac > 0.95);
  CHECK(s.overall.color_error < 3.0);
  CHECK(s.overall.background_error < 1.0);
  CHECK(s.windows.size() == 4);  // 64 + 64 + 64 + 8
  // Every fully visible sprite within 1 px, frame by frame.
  for (int64_t t = 0; t < p.frames; ++t)
    for (const auto& d : s.per_frame[t].sprites)
      if (truth.per_frame[t].visible[d.color] >= 0.99) {
        CHECK(std::fabs(d.x - truth.per_frame[t].sprites[d.color].x) < 1.0);
        CHECK(std::fabs(d.y - truth.per_frame[t].sprites[d.color].y) < 1.0);
      }
  // Against the whole palette (what a generated video is scored with): same sprites found.
  PhysicsScorer sp(PhysicsScoreOptions{}, nullptr);
  for (const auto& f : frames) sp.push(f.data(), 64, 64);
  PhysicsScore s2 = sp.finish();
  CHECK(s2.expected_sprites == 3);
  CHECK(s2.overall.sprites_mean > 2.8);
  CHECK(s2.overall.color_error < 3.0);
  for (const auto& d : s2.per_frame[0].sprites) {
    bool known = false;
    for (const auto& sprite : truth.sprites) known |= sprite.palette_index == d.color;
    CHECK(known);
  }
}

namespace {
// The palette-only score of 64x64 RGB frames.
PhysicsScore score(const std::vector<std::vector<uint8_t>>& frames) {
  PhysicsScorer sc(PhysicsScoreOptions{}, nullptr);
  for (const auto& f : frames) sc.push(f.data(), 64, 64);
  return sc.finish();
}
}  // namespace

TEST_CASE("synth scorer sees broken motion and wrong colours") {
  SynthVideoParams p;
  p.size = 64;
  p.frames = 128;
  p.sprites = 3;
  auto frames = render_all(p, 4);
  PhysicsScore good = score(frames);
  // Shuffle frames in time: motion is no longer smooth.
  auto shuffled = frames;
  SplitMix64 r(1);
  for (size_t i = shuffled.size() - 1; i > 0; --i) std::swap(shuffled[i], shuffled[r.below(i + 1)]);
  PhysicsScore bad = score(shuffled);
  MESSAGE("accel good " << good.overall.accel_mean << " shuffled " << bad.overall.accel_mean);
  CHECK(bad.overall.accel_mean > 5 * good.overall.accel_mean);
  CHECK(bad.overall.break_frac > good.overall.break_frac);
  // Tint every frame: colours drift away from the palette.
  auto tinted = frames;
  for (auto& f : tinted)
    for (size_t i = 0; i < f.size(); i += 3) f[i] = static_cast<uint8_t>(f[i] * 0.8);
  PhysicsScore tint = score(tinted);
  CHECK(tint.overall.color_error > good.overall.color_error + 10);
}

TEST_CASE("synth CLI writes the dataset, truth and dataset.json, deterministic") {
  test::ScratchDir dir("synth");
  auto run = [&](const std::string& out, const std::string& seed) {
    return test::run_cli({"synth", "-o", (dir / out).string(), "--videos", "2", "--frames", "12", "--size", "32",
                          "--seed", seed, "--format", "y4m"});
  };
  auto r = run("a", "5");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(run("b", "5").exit_code == 0);
  REQUIRE(run("c", "6").exit_code == 0);
  for (const char* f : {"video_00000.y4m", "video_00000.json", "video_00001.y4m", "video_00001.json", "dataset.json"})
    CHECK(fs::exists(dir / "a" / f));
  CHECK(slurp(dir / "a/video_00001.y4m") == slurp(dir / "b/video_00001.y4m"));
  CHECK(slurp(dir / "a/video_00001.json") == slurp(dir / "b/video_00001.json"));
  CHECK(slurp(dir / "a/video_00001.y4m") != slurp(dir / "c/video_00001.y4m"));
  const auto ds = nlohmann::json::parse(slurp(dir / "a/dataset.json"));
  CHECK(ds["videos"] == 2);
  CHECK(ds["files"].size() == 2);
  CHECK(ds["palette"].size() == kSynthPaletteSize);
  // The truth reads back and matches the video's frames (first frame, first sprite's colour at its centre).
  SynthTruth t = load_synth_truth(dir / "a/video_00000.json");
  CHECK(t.frames == 12);
  CHECK(t.per_frame.size() == 12);
  CHECK(t.sprites.size() == 3);
  at::Tensor v = read_video(dir / "a/video_00000.y4m");
  REQUIRE(v.size(0) == 12);
  for (size_t i = 0; i < t.sprites.size(); ++i) {
    if (t.per_frame[0].visible[i] < 0.99) continue;
    const int x = static_cast<int>(t.per_frame[0].sprites[i].x), y = static_cast<int>(t.per_frame[0].sprites[i].y);
    for (int c = 0; c < 3; ++c) CHECK(v[0][y][x][c].item<int>() == t.sprites[i].color[c]);
  }
  // Video i depends on (seed, i) only.
  REQUIRE(test::run_cli({"synth", "-o", (dir / "d").string(), "--videos", "1", "--frames", "12", "--size", "32",
                         "--seed", "5", "--format", "y4m"})
              .exit_code == 0);
  CHECK(slurp(dir / "a/video_00000.y4m") == slurp(dir / "d/video_00000.y4m"));
}

TEST_CASE("synth CLI bad input fails cleanly and leaves nothing behind") {
  test::ScratchDir dir("synthbad");
  auto r = test::run_cli({"synth", "-o", (dir / "x").string(), "--sprites", "13", "--format", "y4m"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("sprites") != std::string::npos);
  CHECK(test::count_lines(r.err) <= 2);
  r = test::run_cli({"synth", "-o", (dir / "x").string(), "--format", "avi"});
  CHECK(r.exit_code == 1);
  CHECK(dir.entries().empty());
  // A non-empty output directory is not overwritten.
  fs::create_directories(dir / "full");
  std::ofstream(dir / "full/keep.txt") << "x";
  r = test::run_cli({"synth", "-o", (dir / "full").string(), "--frames", "4", "--size", "16", "--format", "y4m"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not empty") != std::string::npos);
  CHECK(fs::exists(dir / "full/keep.txt"));
  // score: a truth of another size, a missing video.
  for (int size : {16, 24}) {  // in process: the CLI path is covered above
    SynthDatasetOptions so;
    so.out = dir / (size == 16 ? "s" : "t");
    so.frames = 8;
    so.size = size;
    so.format = "y4m";
    write_synth_dataset(so);
  }
  r = test::run_cli({"synth", "score", (dir / "s/video_00000.y4m").string(), "--truth",
                     (dir / "t/video_00000.json").string(), "--json", (dir / "o.json").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("16x16") != std::string::npos);
  CHECK(!fs::exists(dir / "o.json"));
  r = test::run_cli({"synth", "score", (dir / "nope.mp4").string()});
  CHECK(r.exit_code == 1);
  r = test::run_cli({"synth", "score", (dir / "s/video_00000.y4m").string(), "--truth",
                     (dir / "s/dataset.json").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not a longvid synth truth") != std::string::npos);
}

TEST_CASE("synth scorer counts noise-texture frames (a failed denoise) and no rendered frame") {
  SynthVideoParams p;
  p.size = 64;
  p.frames = 64;
  p.sprites = 3;
  auto frames = render_all(p, 5);
  // Every 4th frame replaced by what a latent left half-denoised decodes to: per-pixel noise of
  // amplitude +-12 grey levels around the frame (mean |Laplacian| of the grey level about 14, above 6.5).
  auto noisy = frames;
  SplitMix64 r(3);
  for (size_t t = 0; t < noisy.size(); t += 4)
    for (auto& v : noisy[t]) v = static_cast<uint8_t>(std::clamp<int>(v + static_cast<int>(r.below(25)) - 12, 0, 255));
  PhysicsScore good = score(frames), bad = score(noisy);
  CHECK(good.overall.noise_frac == 0.0);
  CHECK(bad.overall.noise_frac == doctest::Approx(0.25));
  double max_texture = 0;
  for (const auto& f : good.per_frame) max_texture = std::max(max_texture, f.texture);
  MESSAGE("rendered frames: texture at most " << max_texture);
  CHECK(max_texture < 2.0);
  CHECK(nlohmann::json::parse(bad.to_json()).at("overall").at("noise_frac").get<double>() == 0.25);
}

TEST_CASE("synth empty scene (0 sprites): flat frames, scored and captioned as no sprites") {
  // Autoencoder training data needs frames without sprites: a decoder that never saw one renders
  // a flat latent as texture (docs/train.md, session 22).
  SynthVideoParams p;
  p.size = 32;
  p.frames = 24;
  p.sprites = 0;
  SynthVideo v(p, 3);
  CHECK(v.sprites().empty());
  SynthTruth truth = truth_header(v, p);
  std::vector<uint8_t> rgb(32 * 32 * 3);
  SynthFrameTruth ft;
  PhysicsScorer sc(PhysicsScoreOptions{}, &truth), pal(PhysicsScoreOptions{}, nullptr);  // truth / palette
  while (v.next(rgb.data(), &ft)) {
    truth.per_frame.push_back(ft);
    sc.push(rgb.data(), 32, 32);
    pal.push(rgb.data(), 32, 32);
    for (int c = 0; c < 3; ++c) {  // one colour per frame: the background only
      uint8_t lo = 255, hi = 0;
      for (size_t i = static_cast<size_t>(c); i < rgb.size(); i += 3) lo = std::min(lo, rgb[i]), hi = std::max(hi, rgb[i]);
      CHECK(hi - lo <= 1);
    }
  }
  REQUIRE(truth.per_frame.size() == 24);
  const PhysicsScore s = sc.finish();
  CHECK(s.expected_sprites == 0);
  CHECK(s.overall.sprites_mean == 0.0);
  CHECK(s.overall.count_ok_frac == 1.0);
  CHECK(s.overall.noise_frac == 0.0);
  const std::string cap = synth_caption(truth);
  CHECK(cap.rfind("no sprites, on a ", 0) == 0);
  // The caption reads back as a prompt with no sprites: any sprite found counts against it.
  const PromptSpec spec = parse_synth_prompt(cap);
  CHECK(spec.sprites.empty());
  const PromptAdherence ad = prompt_adherence(pal.finish(), spec);
  CHECK(ad.count_ok == 1.0);
  CHECK(ad.colors_ok == 1.0);
  CHECK_THROWS_WITH_AS(parse_synth_prompt("no sprites and a red disc"), doctest::Contains("'no sprites' and sprites"),
                       Error);
  p.sprites = -1;
  CHECK_THROWS_WITH_AS(SynthVideo(p, 3), doctest::Contains("sprites must be 0.."), Error);
  // The CLI takes a range from 0; below 0 is refused in one line.
  test::ScratchDir dir("synth0");
  auto r = test::run_cli({"synth", "-o", (dir / "a").string(), "--videos", "3", "--frames", "4", "--size", "16",
                          "--sprites", "0-1", "--format", "y4m"});
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(dir / "a/video_00002.y4m"));
  for (const char* bad : {"-1", "3-0"}) {  // 3-0: a maximum of 0 must not read as "no range"
    r = test::run_cli({"synth", "-o", (dir / "b").string(), "--sprites", bad, "--format", "y4m"});
    CHECK(r.exit_code == 1);
    CHECK(test::count_lines(r.err) <= 2);
    CHECK_FALSE(fs::exists(dir / "b"));
  }
  // The library too: a maximum of 0 is a range ending at 0, not "no range" (-1 is).
  SynthDatasetOptions so;
  so.out = dir / "c";
  so.videos = 2;
  so.frames = 4;
  so.size = 16;
  so.format = "y4m";
  so.sprites = 3;
  so.sprites_max = 0;
  CHECK_THROWS_WITH_AS(write_synth_dataset(so), doctest::Contains("the maximum is below the minimum"), Error);
  CHECK_FALSE(fs::exists(dir / "c"));
  so.sprites = 0;  // 0-0: empty scenes
  CHECK(synth_video_sprites(so, 1) == 0);
  so.sprites = 2;
  so.sprites_max = -1;
  CHECK(synth_video_sprites(so, 1) == 2);
}
