// The bundled default model (assets/default/model.safetensors, see its MODEL_CARD.md): it is found
// without any model argument, holds what the card says (an LVDM 3D autoencoder + a joint
// prediction/interpolation U-Net, fp16, within the 20 MB budget), and `generate` makes a clip and a
// hierarchical long video from it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/assets.h"
#include "core/checkpoint.h"
#include "core/video_io.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

TEST_CASE("default model is bundled and generates a clip and a long video") {
  ::unsetenv("LONGVID_ASSETS");
  fs::path model = find_asset(kDefaultModelAsset);
  REQUIRE(fs::exists(model));
  CHECK(fs::file_size(model) <= 20u * 1000 * 1000);
  StateDict sd = load_checkpoint(model);
  int64_t unet = 0, ae = 0;
  for (const auto& k : sd.keys()) {
    CHECK((sd.get(k).scalar_type() == at::kHalf));
    if (k.rfind("model.diffusion_model.", 0) == 0) ++unet;
    if (k.rfind("first_stage_model.", 0) == 0) ++ae;
  }
  CHECK(unet > 0);
  CHECK(ae > 0);
  CHECK(sd.contains("model.diffusion_model.label_emb.weight"));  // condition noise level s (joint masks)
  CHECK(sd.metadata.count("longvid.config") == 1);

  fs::path dir = fs::temp_directory_path() / ("longvid_default_model_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto g = test::run_cli({"generate", "--steps", "4", "--seed", "5", "-o", (dir / "clip.y4m").string()});
  INFO(g.err);
  REQUIRE(g.exit_code == 0);
  CHECK(g.err.find("default model") != std::string::npos);
  CHECK(g.err.find("hierarchical") != std::string::npos);  // keyframes 3 latents apart, then the gap
  at::Tensor v = read_video(dir / "clip.y4m");  // [T, H, W, 3] uint8
  CHECK(v.size(0) == 16);
  CHECK(v.size(1) == 64);
  CHECK(v.size(2) == 64);
  CHECK(v.to(at::kFloat).std().item<double>() > 1.0);  // not a constant image

  // Longer than one clip: keyframes + interpolation with the same model.
  auto l = test::run_cli({"generate", "--frames", "100", "--steps", "2", "--seed", "5", "-o", (dir / "long.y4m").string()});
  INFO(l.err);
  REQUIRE(l.exit_code == 0);
  CHECK(l.err.find("hierarchical") != std::string::npos);
  CHECK(read_video(dir / "long.y4m").size(0) == 100);
  fs::remove_all(dir);
}

TEST_CASE("default text model is bundled: generate -p works out of the box") {
  ::unsetenv("LONGVID_ASSETS");
  fs::path model = find_asset(kDefaultTextModelAsset);
  REQUIRE(fs::exists(model));
  REQUIRE(fs::exists(model.parent_path() / "tokenizer" / "vocab.json"));
  StateDict sd = load_checkpoint(model);
  CHECK_FALSE(sd.has_prefix("first_stage_model."));  // shares the default model's autoencoder
  CHECK(sd.has_prefix("cond_stage_model.transformer.text_model."));
  CHECK(fs::file_size(model) <= 12u * 1000 * 1000);
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  test::ScratchDir dir("default-text");
  auto a = test::run_cli({"generate", "-p", "two red squares moving left", "--steps", "4", "--seed", "2", "-o",
                          (dir / "a.y4m").string()});
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  CHECK(a.err.find("default text model") != std::string::npos);
  CHECK(read_video(dir / "a.y4m").size(0) == 16);
  auto b = test::run_cli({"generate", "-p", "a blue disc moving up", "--steps", "4", "--seed", "2", "-o",
                          (dir / "b.y4m").string()});
  REQUIRE(b.exit_code == 0);
  CHECK_FALSE(read_video(dir / "a.y4m").equal(read_video(dir / "b.y4m")));
  // Without a prompt the unconditional default model runs; a text option on it is one line.
  auto c = test::run_cli({"generate", "--cfg-scale", "3", "--steps", "2", "-o", (dir / "c.y4m").string()});
  CHECK(c.exit_code == 1);
  CHECK(c.err.find("takes no class or text") != std::string::npos);
}
