// longvid synth: the procedural long-video dataset (train/synth.h) and its physical-consistency
// score (train/physics_score.h).
//   longvid synth -o DIR --videos N --frames F --size S --seed K [--sprites M] [--fps R]
//                 [--format mp4|webm|png|y4m] [--crf N] [--preset P]
//   longvid synth score VIDEO [--truth JSON] [--window 64] [--sprites N] [--json OUT] [--frames-json]
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "train/physics_score.h"
#include "train/synth_caption.h"
#include "train/synth.h"
#include "tools/cli.h"

namespace longvid::cli {
namespace {

int synth_generate(int argc, char** argv) {
  cxxopts::Options o("longvid synth",
                     "Write a procedural dataset of long videos with ground-truth dynamics: coloured sprites moving "
                     "at constant velocity with elastic wall bounces over a slowly drifting background.\n"
                     "Writes DIR/video_NNNNN.<fmt> + DIR/video_NNNNN.json (per-frame truth) and DIR/dataset.json.\n"
                     "Score a video with: longvid synth score VIDEO --truth DIR/video_NNNNN.json --json OUT");
  o.add_options()("o,output", "output directory (created; must not exist or be empty)", cxxopts::value<std::string>())(
      "videos", "number of videos", cxxopts::value<int64_t>()->default_value("1"))(
      "frames", "frames per video", cxxopts::value<int64_t>()->default_value("256"))(
      "size", "frame size (square, pixels)", cxxopts::value<int>()->default_value("64"))(
      "seed", "dataset seed (video i depends only on seed and i)", cxxopts::value<int64_t>()->default_value("0"))(
      "sprites", "sprites per video (0..12, distinct colours; 0: background only), or a range MIN-MAX (each video draws its count)",
      cxxopts::value<std::string>()->default_value("3"))(
      "fps", "frame rate written into the videos", cxxopts::value<std::string>()->default_value("24"))(
      "format", "mp4 | webm | png (a folder of frames per video) | y4m (lossless)",
      cxxopts::value<std::string>()->default_value("mp4"))(
      "crf", "mp4/webm quality (-1: codec default, x264 18)", cxxopts::value<int>()->default_value("-1"))(
      "preset", "x264 preset", cxxopts::value<std::string>()->default_value("medium"))("h,help", "this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("output")) {
    std::fprintf(stderr, "longvid synth: error: missing -o DIR (see --help)\n");
    return kExitUsage;
  }
  SynthDatasetOptions so;
  so.out = a["output"].as<std::string>();
  so.videos = a["videos"].as<int64_t>();
  so.frames = a["frames"].as<int64_t>();
  so.size = a["size"].as<int>();
  const int64_t seed = a["seed"].as<int64_t>();
  if (seed < 0) fail("synth: --seed must be >= 0 (got {})", seed);
  so.seed = static_cast<uint64_t>(seed);
  {
    const std::string sp = a["sprites"].as<std::string>();
    const auto dash = sp.find('-');
    auto num = [&](const std::string& t) {
      size_t used = 0;
      int v = 0;
      try {
        v = std::stoi(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (t.empty() || used != t.size()) fail("--sprites {}: expected a count (3) or a range (1-3)", sp);
      return v;
    };
    so.sprites = num(sp.substr(0, dash));
    if (dash != std::string::npos) {
      so.sprites_max = num(sp.substr(dash + 1));
      if (so.sprites_max < so.sprites) fail("--sprites {}: the maximum is below the minimum", sp);
    }
  }
  so.fps = a["fps"].as<std::string>();
  so.format = a["format"].as<std::string>();
  so.crf = a["crf"].as<int>();
  so.preset = a["preset"].as<std::string>();
  Progress bar("synth", so.videos, so.videos > 1);
  SynthDatasetReport rep = write_synth_dataset(so, [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();
  spdlog::info("{}: {} videos x {} frames of {}x{} in {:.2f} s; rendering {:.3f} s ({:.0f} frames/s), "
               "overall {:.1f} frames/s",
               so.out.string(), rep.videos, so.frames, so.size, so.size, rep.total_seconds, rep.render_seconds,
               rep.render_seconds > 0 ? rep.frames / rep.render_seconds : 0.0,
               rep.total_seconds > 0 ? rep.frames / rep.total_seconds : 0.0);
  return kExitOk;
}

void print_window(const WindowScore& w, bool truth) {
  std::printf("%6lld-%-6lld %7.2f %6.3f %7.2f %7.3f %7.3f %6.3f %6.3f", static_cast<long long>(w.start),
              static_cast<long long>(w.end), w.sprites_mean, w.count_ok_frac, w.color_error, w.accel_mean,
              w.accel_median, w.break_frac, w.noise_frac);
  if (truth) std::printf(" %7.3f %7.3f", w.pos_error_mean, w.missing_frac);
  std::printf("\n");
}

int synth_score(int argc, char** argv) {
  cxxopts::Options o("longvid synth score",
                     "Physical-consistency score of a video: sprites found by colour segmentation, colour "
                     "fidelity, motion smoothness and track breaks, per window of frames");
  o.add_options()("truth", "ground truth JSON of this video (from longvid synth)",
                  cxxopts::value<std::string>()->default_value(""))(
      "window", "frames per window", cxxopts::value<int64_t>()->default_value("64"))(
      "sprites", "expected sprite count (-1: from the truth, else the first window's mode)",
      cxxopts::value<int>()->default_value("-1"))(
      "json", "write the scores as JSON here", cxxopts::value<std::string>()->default_value(""))(
      "frames-json", "include per-frame detections in the JSON", cxxopts::value<bool>()->default_value("false"))(
      "prompt", "also score prompt adherence to this prompt (\"two red squares moving left\"; see docs/synth.md)",
      cxxopts::value<std::string>()->default_value(""))(
      "video", "video file", cxxopts::value<std::string>())("h,help", "this help");
  o.parse_positional({"video"});
  o.positional_help("VIDEO");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("video")) {
    std::fprintf(stderr, "longvid synth score: error: missing VIDEO (see --help)\n");
    return kExitUsage;
  }
  const std::string prompt_text = a["prompt"].as<std::string>();
  std::optional<PromptSpec> prompt;
  if (!prompt_text.empty()) {
    prompt = parse_synth_prompt(prompt_text);
    if (!a["truth"].as<std::string>().empty())
      fail("--prompt scores against the synth palette; give it without --truth");
  }
  PhysicsScoreOptions so;
  so.window = a["window"].as<int64_t>();
  so.expected_sprites = a["sprites"].as<int>();
  std::optional<SynthTruth> truth;
  if (!a["truth"].as<std::string>().empty()) truth = load_synth_truth(a["truth"].as<std::string>());
  const std::string json_out = a["json"].as<std::string>();
  if (!json_out.empty()) {
    // Fail before the work when the output cannot be written.
    const std::filesystem::path dir = std::filesystem::path(json_out).parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir)) fail("{}: output directory does not exist", dir.string());
  }
  auto t0 = std::chrono::steady_clock::now();
  PhysicsScore s = score_video(a["video"].as<std::string>(), so, truth ? &*truth : nullptr);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool t = truth.has_value();
  std::printf("%s: %lld frames %dx%d, expected sprites %d (%s)\n", a["video"].as<std::string>().c_str(),
              static_cast<long long>(s.frames), s.width, s.height, s.expected_sprites, s.expected_from.c_str());
  std::printf("%-13s %7s %6s %7s %7s %7s %6s %6s%s\n", "frames", "sprites", "cnt_ok", "col_err", "acc_mn", "acc_med",
              "breaks", "noise", t ? " pos_err missing" : "");
  for (const auto& w : s.windows) print_window(w, t);
  std::printf("overall:\n");
  print_window(s.overall, t);
  std::optional<PromptAdherence> adh;
  if (prompt) {
    adh = prompt_adherence(s, *prompt);
    std::printf("prompt \"%s\": %zu sprites asked; count right %.3f, colours right %.3f, motion right %s; score %.3f\n",
                prompt_text.c_str(), prompt->sprites.size(), adh->count_ok, adh->colors_ok,
                adh->motion_ok < 0 ? "n/a" : fmt::format("{:.3f}", adh->motion_ok).c_str(), adh->score());
  }
  if (!json_out.empty()) {
    std::string text = s.to_json(a["frames-json"].as<bool>());
    if (adh) {
      auto j = nlohmann::json::parse(text);
      j["prompt"] = {{"text", prompt_text},
                     {"sprites", prompt->sprites.size()},
                     {"count_ok", adh->count_ok},
                     {"colors_ok", adh->colors_ok},
                     {"motion_ok", adh->motion_ok},
                     {"score", adh->score()}};
      text = j.dump(1);
    }
    write_text_atomically(json_out, text + "\n");
  }
  spdlog::info("scored {} frames in {:.2f} s ({:.0f} frames/s with decoding; segmentation alone {:.0f} frames/s)",
               s.frames, secs, secs > 0 ? s.frames / secs : 0.0,
               s.detect_seconds > 0 ? s.frames / s.detect_seconds : 0.0);
  return kExitOk;
}

int synth_main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "score") {
    std::string prog = std::string(argv[0]) + " score";
    std::vector<char*> args{prog.data()};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    return synth_score(static_cast<int>(args.size()), args.data());
  }
  return synth_generate(argc, argv);
}

}  // namespace

LONGVID_COMMAND("synth", "write a synthetic long-video dataset with ground truth; score videos against it",
                synth_main);

}  // namespace longvid::cli
