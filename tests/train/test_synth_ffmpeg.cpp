// longvid synth score on an mp4 (needs FFmpeg: left out of LONGVID_FFMPEG=OFF builds).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST_CASE("synth score CLI on a synthetic mp4 writes per-window JSON") {
  test::ScratchDir dir("synthscore");
  auto r = test::run_cli({"synth", "-o", (dir / "d").string(), "--frames", "96", "--size", "64", "--seed", "2"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = test::run_cli({"synth", "score", (dir / "d/video_00000.mp4").string(), "--truth",
                     (dir / "d/video_00000.json").string(), "--window", "32", "--json", (dir / "s.json").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto j = nlohmann::json::parse(slurp(dir / "s.json"));
  CHECK(j["frames"] == 96);
  CHECK(j["windows"].size() == 3);
  MESSAGE("mp4 vs truth: " << j["overall"].dump());
  CHECK(j["overall"]["pos_error_mean"].get<double>() < 0.5);
  CHECK(j["overall"]["missing_frac"].get<double>() < 0.02);
  CHECK(j["overall"]["color_error"].get<double>() < 12.0);
}
