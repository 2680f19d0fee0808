// Latent cache (train/latent_cache.h), `longvid export`, and the default-model lookup of
// `generate` (core/assets.h).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include "backbones/lvdm_unet3d.h"
#include "core/assets.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "train/clip_source.h"
#include "train/latent_cache.h"
#include "train/lvdm_trainer.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

// y4m videos of a moving square over a coloured background.
void write_square_videos(const fs::path& dir, int n, int frames, int size = 32) {
  fs::create_directories(dir);
  for (int v = 0; v < n; ++v) {
    at::Tensor x = at::zeros({frames, size, size, 3}, at::kByte);
    x.select(3, v % 3).fill_(60 + 40 * v);
    for (int f = 0; f < frames; ++f) {
      int p = (f * 2 + v * 5) % (size - 8);
      x[f].slice(0, p, p + 8).slice(1, 4, 12).fill_(230);
    }
    write_video(dir / ("v" + std::to_string(v) + ".y4m"), x);
  }
}

LvdmAutoencoder3D random_ae(uint64_t seed) {
  torch::manual_seed(seed);
  LvdmAe3dConfig a;
  a.scale_factor = 0.5;
  a.shift_factor = 0.1;
  return LvdmAutoencoder3D(a);
}

std::unique_ptr<LvdmDiffusionTrainer> make_trainer(const DiffusionTrainOptions& o) {
  auto ae = random_ae(11);
  torch::manual_seed(o.seed);
  LvdmUNet3D unet(lvdm_unet_preset("tiny", 4, o.max_noise_level, 2));
  return std::make_unique<LvdmDiffusionTrainer>(unet, ae, o, at::kCPU);
}

}  // namespace

TEST_CASE("train latent cache: a step on cached latents equals a step that encodes the clip") {
  // When a clip is the whole video, the cached posterior (whole-video encode_stream, one window)
  // is the clip's posterior, and both paths draw the same video, noises, masks and timesteps.
  test::ScratchDir dir("latent-cache");
  write_square_videos(dir / "data", 3, 8);
  DiffusionTrainOptions o;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.seed = 4;
  FolderClipOptions fo;
  fo.root = dir / "data";
  fo.clip_frames = 8;
  fo.size = 32;
  fo.seed = o.seed;
  auto a = make_trainer(o), b = make_trainer(o);
  FolderClipSource pixels(fo);
  LatentCache::build(fo, *b->autoencoder(), dir / "cache.safetensors", /*window=*/0, 0);
  LatentCache cache(dir / "cache.safetensors");
  CHECK(cache.num_videos() == 3);
  CHECK(cache.min_latent_frames() == 2);
  {
    // Built from a relative --data path, the cache names its videos absolutely: a run from another
    // directory finds them (and the captions' truth next to them).
    struct Cwd {
      fs::path old = fs::current_path();
      ~Cwd() { fs::current_path(old); }
    } restore;
    fs::current_path(dir.path());
    FolderClipOptions rel = fo;
    rel.root = "data";
    LatentCache::build(rel, *b->autoencoder(), "rel.safetensors", 0, 0);
    fs::current_path(restore.old);
    LatentCache c2(dir / "rel.safetensors");
    REQUIRE(c2.num_videos() == 3);
    CHECK(fs::path(c2.video_path(0)).is_absolute());
    CHECK(fs::exists(c2.video_path(0)));
  }
  cache.check_matches(*b->autoencoder(), 32, 1);
  for (int s = 0; s < 3; ++s) {
    auto sa = a->step(pixels);
    auto sb = b->step(cache, 2);
    CHECK(sb.loss == doctest::Approx(sa.loss).epsilon(1e-6));
  }
  auto pa = a->network().named_parameters(), pb = b->network().named_parameters();
  double num = 0, den = 0;
  for (const auto& kv : pa) {
    num += (kv.value() - pb[kv.key()]).pow(2).sum().item<double>();
    den += kv.value().pow(2).sum().item<double>();
  }
  CHECK(std::sqrt(num / den) <= 1e-6);

  // Another autoencoder, frame size or stride: refused with the reason.
  auto other = random_ae(12);
  CHECK_THROWS_WITH_AS(cache.check_matches(*other, 32, 1), doctest::Contains("another autoencoder"), Error);
  CHECK_THROWS_WITH_AS(cache.check_matches(*b->autoencoder(), 64, 1), doctest::Contains("size 32"), Error);
  // Not a cache.
  {
    StateDict sd;
    sd.set("x", at::zeros({2}));
    save_safetensors(dir / "notcache.safetensors", sd);
  }
  CHECK_THROWS_WITH_AS(LatentCache(dir / "notcache.safetensors"), doctest::Contains("not a longvid latent cache"), Error);
}

TEST_CASE("train --latent-cache, export, and generate with the exported model as the default model") {
  test::ScratchDir dir("latent-cache-cli");
  write_square_videos(dir / "data", 3, 16);
  auto train = [&](const fs::path& out) {
    return test::run_cli({"train", "--data", (dir / "data").string(), "--ae", "random", "-o", out.string(), "--frames",
                          "8", "--size", "32", "--steps", "2", "--batch", "2", "--lr", "1e-3", "--seed", "1",
                          "--latent-cache", (dir / "cache.safetensors").string(), "--ema", "0.9"});
  };
  auto r1 = train(dir / "run");
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(fs::exists(dir / "cache.safetensors"));
  CHECK(r1.err.find("latent cache") != std::string::npos);
  // A second run reuses the cache (same AE: 'random' is seeded) and trains identically.
  auto r2 = train(dir / "run2");
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  auto m1 = load_checkpoint(dir / "run" / "model.safetensors"), m2 = load_checkpoint(dir / "run2" / "model.safetensors");
  for (const auto& k : m1.keys()) CHECK(m1.get(k).equal(m2.get(k)));

  // export: EMA U-Net + AE as fp16, config kept.
  auto e = test::run_cli({"export", (dir / "run").string(), "-o", (dir / "model.safetensors").string()});
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  auto ex = load_checkpoint(dir / "model.safetensors");
  CHECK(ex.metadata.count("longvid.config") == 1);
  CHECK(ex.metadata.count("longvid.export") == 1);
  int64_t unet_keys = 0;
  for (const auto& k : ex.keys()) {
    CHECK((ex.get(k).scalar_type() == at::kHalf));
    CHECK(k.rfind("model_ema.", 0) != 0);
    if (k.rfind("model.diffusion_model.", 0) == 0) {
      ++unet_keys;
      std::string nodots = k.substr(std::string("model.diffusion_model.").size());
      nodots.erase(std::remove(nodots.begin(), nodots.end(), '.'), nodots.end());
      CHECK(ex.get(k).equal(m1.get("model_ema.diffusion_model" + nodots).to(at::kHalf)));
    }
  }
  CHECK(unet_keys > 0);

  // generate with no --model finds it through LONGVID_ASSETS (default/model.safetensors).
  fs::create_directories(dir / "assets" / "default");
  fs::copy_file(dir / "model.safetensors", dir / "assets" / "default" / "model.safetensors");
  ::setenv("LONGVID_ASSETS", (dir / "assets").string().c_str(), 1);
  CHECK(find_asset(kDefaultModelAsset).string() == (dir / "assets" / "default" / "model.safetensors").string());
  auto g = test::run_cli({"generate", "--frames", "8", "--steps", "2", "--seed", "3", "-o", (dir / "g.y4m").string()});
  auto g2 = test::run_cli({"generate", "--model", (dir / "model.safetensors").string(), "--frames", "8", "--steps", "2",
                           "--seed", "3", "-o", (dir / "g2.y4m").string()});
  ::setenv("LONGVID_ASSETS", (dir / "nothing-here").string().c_str(), 1);
  INFO(g.err);
  REQUIRE(g.exit_code == 0);
  REQUIRE(g2.exit_code == 0);
  CHECK(g.err.find("default model") != std::string::npos);
  auto va = read_video(dir / "g.y4m"), vb = read_video(dir / "g2.y4m");
  CHECK(va.size(0) == 8);
  CHECK(va.equal(vb));
  ::unsetenv("LONGVID_ASSETS");
  // export refuses bad input with one line.
  auto bad = test::run_cli({"export", (dir / "missing").string(), "-o", (dir / "x.safetensors").string()});
  CHECK(bad.exit_code == 1);
  CHECK(!fs::exists(dir / "x.safetensors"));
}
