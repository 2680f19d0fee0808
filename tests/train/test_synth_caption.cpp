// Captions from the synthetic ground truth and the prompt-adherence score (train/synth_caption.h).
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "train/physics_score.h"
#include "train/synth_caption.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

TEST_CASE("synth caption: names each sprite's colour, shape and direction, and reads back") {
  test::ScratchDir dir("caption");
  auto r = test::run_cli({"-q", "synth", "-o", (dir / "v").string(), "--videos", "8", "--frames", "16", "--size", "64",
                          "--seed", "31337", "--format", "y4m"});
  REQUIRE(r.exit_code == 0);
  const auto ds = nlohmann::json::parse(std::ifstream(dir / "v" / "dataset.json"));
  double own = 0, other = 0;
  const auto& files = ds.at("files");
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string caption = files[i].at("caption");
    SynthTruth truth = load_synth_truth(dir / "v" / files[i].at("truth").get<std::string>());
    CHECK(synth_caption(truth, 0, kSynthCaptionFrames) == caption);
    // The caption reads back as the video's sprites, in order.
    PromptSpec p = parse_synth_prompt(caption);
    REQUIRE(p.sprites.size() == truth.sprites.size());
    for (size_t k = 0; k < p.sprites.size(); ++k) {
      CHECK(p.sprites[k].color == truth.sprites[k].palette_index);
      CHECK(p.sprites[k].shape == sprite_shape_name(truth.sprites[k].shape));
    }
    PhysicsScore s = score_video(dir / "v" / files[i].at("video").get<std::string>(), PhysicsScoreOptions{});
    own += prompt_adherence(s, p).score();
    other += prompt_adherence(s, parse_synth_prompt(files[(i + 1) % files.size()].at("caption"))).score();
  }
  own /= static_cast<double>(files.size());
  other /= static_cast<double>(files.size());
  MESSAGE("prompt adherence over 8 videos: own caption " << own << ", another video's " << other);
  // tools/bench/prompt_adherence_check.sh, 100 videos: 0.952 and 0.360.
  CHECK(own > 0.85);
  CHECK(other < 0.5);
}

TEST_CASE("synth caption: prompts in the caption's words, with counts") {
  PromptSpec p = parse_synth_prompt("Two red squares moving left");
  REQUIRE(p.sprites.size() == 2);
  CHECK(p.sprites[0].color == synth_color_from_name("red"));
  CHECK(p.sprites[1].shape == "square");
  CHECK(p.sprites[1].direction == "left");
  PromptSpec q = parse_synth_prompt("an azure disc moving right and up, and 2 sprites on a grey background");
  REQUIRE(q.sprites.size() == 3);
  CHECK(q.sprites[0].direction == "up and right");
  CHECK(q.sprites[1].color == -1);
  CHECK(q.sprites[2].shape.empty());
  CHECK_THROWS_WITH(parse_synth_prompt("two purple blobs"), doctest::Contains("cannot read 'purple'"));
  CHECK_THROWS_WITH(parse_synth_prompt("a red disc moving"), doctest::Contains("needs a direction"));
  CHECK_THROWS_WITH(parse_synth_prompt("on a grey background"), doctest::Contains("names no sprite"));
}

TEST_CASE("synth caption: synth score --prompt reports adherence, and a bad prompt is one line") {
  test::ScratchDir dir("captioncli");
  REQUIRE(test::run_cli({"-q", "synth", "-o", (dir / "v").string(), "--videos", "1", "--frames", "16", "--size", "64",
                         "--seed", "5", "--format", "y4m"})
              .exit_code == 0);
  const auto v = (dir / "v" / "video_00000.y4m").string();
  auto r = test::run_cli({"-q", "synth", "score", v, "--prompt", "three sprites", "--json", (dir / "s.json").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("prompt \"three sprites\": 3 sprites asked") != std::string::npos);
  const auto j = nlohmann::json::parse(std::ifstream(dir / "s.json"));
  CHECK(j.at("prompt").at("sprites") == 3);
  auto bad = test::run_cli({"-q", "synth", "score", v, "--prompt", "two purple blobs"});
  CHECK(bad.exit_code == 1);
  CHECK(test::count_lines(bad.err) == 1);
  CHECK(bad.err.find("cannot read 'purple'") != std::string::npos);
}
