// The Latte family through the registry, the library API and the CLI: a tiny Latte (the parity
// fixture's weights) with a tiny per-frame SD VAE, sample.py's sampler defaults, class labels and
// classifier-free guidance, and the one-line refusals of bad input.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <fstream>

#include "api/generate.h"
#include "core/assets.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/video_io.h"
#include "pipeline/latte_family.h"
#include "pipeline/model_registry.h"
#include "tests/helpers.h"
#include "vae3d/frame_autoencoder_kl.h"

using namespace longvid;

namespace {

struct LatteFiles {
  std::filesystem::path model, vae, config, bad_config, lvdm;
};

// The class-conditional tiny model of tests/data/gen/gen_latte.py, a random 2-level SD VAE, and
// the config (a non-published width: the head count must come from it).
LatteFiles make_files(const test::ScratchDir& dir) {
  LatteFiles f;
  f.model = test::data_dir() / "latte" / "latte_tiny.safetensors";
  f.lvdm = test::data_dir() / "ckpt" / "lvdm_tiny.ckpt";
  FrameAutoencoderKLConfig c;
  c.block_out_channels = {32, 64};
  c.layers_per_block = 1;
  torch::manual_seed(3);
  FrameAutoencoderKL ae(c);
  StateDict sd;
  for (const auto& p : ae->named_parameters(true)) sd.set(p.key(), p.value().detach().clone());
  f.vae = dir / "vae.safetensors";
  save_safetensors(f.vae, sd);
  f.config = dir / "latte_tiny.yaml";
  std::ofstream(f.config) << "hidden_size: 64\ndepth: 4\nnum_heads: 4\npatch_size: 2\ninput_size: 8\n"
                             "num_frames: 4\nextras: 2\nnum_classes: 5\nlearn_sigma: True\n"
                             "sample_method: 'ddpm'\nnum_sampling_steps: 4\ncfg_scale: 7.0\n";
  f.bad_config = dir / "latte_deep.yaml";
  std::ofstream(f.bad_config) << "hidden_size: 64\ndepth: 6\nnum_heads: 4\npatch_size: 2\ninput_size: 8\n"
                                 "num_frames: 4\nextras: 2\nnum_classes: 5\n";
  return f;
}

}  // namespace

TEST_CASE("latte family: a tiny Latte with an SD VAE generates class-conditional clips with sample.py's defaults") {
  test::ScratchDir dir("latte-fam");
  auto f = make_files(dir);
  ModelSource src;
  src.checkpoint = f.model;
  src.config = f.config;
  src.autoencoder = f.vae;
  VideoPipeline pipe = load_pipeline(src);
  CHECK(pipe.family == "latte");
  CHECK(pipe.main.caps.learned_sigma);
  CHECK(pipe.main.caps.num_classes == 5);
  CHECK(pipe.main.caps.clip_len == 4);
  CHECK(pipe.default_sampler.method == "ddpm");
  CHECK(pipe.default_sampler.steps == 4);
  CHECK(pipe.default_sampler.spacing == "respaced");
  CHECK(pipe.default_cfg_scale == 7.0);
  CHECK(pipe.schedule->num_train_timesteps() == 1000);
  CHECK(latte_net_of(pipe)->config().num_heads == 4);

  GenerateRequest req;
  req.frames = 4;
  req.sampler = pipe.default_sampler;
  req.seed = 11;
  req.class_label = 2;
  req.show_progress = false;
  MemorySink a, b, c, d;
  CHECK(generate_video(pipe, req, a) == 4);
  CHECK(a.width() == 16);  // 8x8 latents, a 2-level VAE
  CHECK(generate_video(pipe, req, b) == 4);
  CHECK(at::equal(a.tensor(), b.tensor()));  // same seed, same video
  req.cfg_scale = 1.0;                       // guidance off: another video
  generate_video(pipe, req, c);
  CHECK_FALSE(at::equal(a.tensor(), c.tensor()));
  req.cfg_scale = -1.0;
  req.class_label = 4;  // another class: another video
  generate_video(pipe, req, d);
  CHECK_FALSE(at::equal(a.tensor(), d.tensor()));
  req.class_label = 5;  // the null class is not a class
  MemorySink e;
  CHECK_THROWS_WITH_AS(generate_video(pipe, req, e), doctest::Contains("--class 5: the model knows classes 0 to 4"),
                       Error);
}

TEST_CASE("latte family: bad input is refused with one line (no VAE, wrong config, other family's config, unknown width)") {
  test::ScratchDir dir("latte-bad");
  auto f = make_files(dir);
  ModelSource src;
  src.checkpoint = f.model;
  src.config = f.config;
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("Latte checkpoints hold no autoencoder"), Error);
  src.autoencoder = f.vae;
  src.config = f.bad_config;
  try {
    load_pipeline(src);
    FAIL("a depth-6 config took depth-4 weights");
  } catch (const Error& e) {
    std::string w = e.what();
    CHECK(w.find("the weights do not fit the Latte config (depth 6") != std::string::npos);
    CHECK(w.find("blocks.4.") != std::string::npos);
    CHECK(w.find('\n') == std::string::npos);
  }
  src.config.clear();  // no config: the shapes, but a width of no published size has no head count
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("head count"), Error);
  // An LVDM checkpoint with a Latte config (and the reverse) names both families.
  src.checkpoint = f.lvdm;
  src.config = f.config;
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("a latte config, but"), Error);
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("holds a lvdm checkpoint (e.g. '"), Error);
}

TEST_CASE("latte family: longvid generate with --vae, --class and --cfg-scale writes the clip") {
  test::ScratchDir dir("latte-cli");
  auto f = make_files(dir);
  auto out = dir / "latte.y4m";
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  auto r = test::run_cli({"generate", "--model", f.model.string(), "--config", f.config.string(), "--vae",
                          f.vae.string(), "--frames", "4", "--steps", "3", "--class", "1", "--cfg-scale", "4", "--seed",
                          "3", "-o", out.string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(out));
  CHECK(r.err.find("ddpm 3 steps") != std::string::npos);
  CHECK(r.err.find("class 1, guidance scale 4") != std::string::npos);
  auto bad = test::run_cli({"generate", "--model", f.model.string(), "--config", f.config.string(), "--frames", "4",
                            "-o", (dir / "x.y4m").string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("hold no autoencoder") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "x.y4m"));
  auto lvdm_class = test::run_cli({"generate", "--model", "random", "--frames", "4", "--steps", "2", "--class", "2",
                                   "-o", (dir / "y.y4m").string()});
  CHECK(lvdm_class.exit_code != 0);
  CHECK(lvdm_class.err.find("--class 2: the model is not class-conditional") != std::string::npos);
}

TEST_CASE("registry: --model random --config builds the config's family with random weights (benchmarks)") {
  test::ScratchDir dir("random-cfg");
  auto f = make_files(dir);
  auto latte = random_pipeline_from_config(f.config, 1);
  CHECK(latte.family == "latte");
  CHECK(latte_net_of(latte)->config().hidden_size == 64);
  CHECK(latte.autoencoder->factors() == std::array<int64_t, 3>{1, 8, 8});  // an SD-shaped VAE
  // The official-structure config the bundled default model carries (small: fast to build).
  auto def = load_checkpoint(find_asset(kDefaultModelAsset, ""));
  auto lvdm_cfg = dir / "default.yaml";
  std::ofstream(lvdm_cfg) << def.metadata.at(kConfigMetadataKey);
  auto lvdm = random_pipeline_from_config(lvdm_cfg, 1);
  CHECK(lvdm.family == "lvdm");
  CHECK(lvdm.main.caps.masked);
  auto bogus = dir / "bogus.yaml";
  std::ofstream(bogus) << "foo: 1\n";
  CHECK_THROWS_WITH_AS(random_pipeline_from_config(bogus, 1), doctest::Contains("not a config of a model family"), Error);
}
