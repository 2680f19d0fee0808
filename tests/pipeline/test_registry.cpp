// The model-family registry (pipeline/model_registry.h) and the family-neutral VideoPipeline.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <set>

#include "api/generate.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/video_io.h"
#include "hierarchy/long_video.h"
#include "pipeline/lvdm_family.h"
#include "pipeline/model_registry.h"
#include "tests/helpers.h"
#include "vae3d/video_autoencoder.h"

using namespace longvid;

TEST_CASE("registry: layout detection names the layout and its family") {
  auto make = [](std::vector<std::pair<std::string, std::vector<int64_t>>> ks) {
    StateDict sd;
    for (auto& [k, s] : ks) sd.set(k, torch::zeros(s));
    return sd;
  };
  CHECK(detect_layout(make({{"encoder.conv_first.weight", {1}}, {"decoder.conv_out.weight", {1}},
                            {"quant_conv.conv.weight", {8, 8, 1, 1, 1}}, {"post_quant_conv.conv.weight", {1}},
                            {"loss.logvar", {}}})).layout == "lvdm-ae3d");
  CHECK(detect_layout(make({{"model.diffusion_model.out.2.weight", {1}}, {"first_stage_model.encoder.x", {1}},
                            {"cond_stage_model.transformer.text_model.y", {1}}})).layout == "lvdm-t2v");
  CHECK(detect_layout(make({{"model.diffusion_model.out.2.weight", {1}}, {"first_stage_model.encoder.x", {1}}})).layout ==
        "lvdm-short");
  CHECK(detect_layout(make({{"x_embedder.proj.weight", {1}}, {"t_embedder.mlp.0.weight", {1}},
                            {"blocks.0.attn.qkv.weight", {1}}, {"temp_embed", {1, 16, 4}}})).layout == "latte");
  CHECK(detect_layout(make({{"transformer_blocks.0.attn1.to_q.weight", {1}},
                            {"temporal_transformer_blocks.0.attn1.to_q.weight", {1}},
                            {"adaln_single.linear.weight", {1}}})).layout == "diffusers-latte");
  CHECK(detect_layout(make({{"encoder.down_blocks.0.resnets.0.conv1.weight", {1}}, {"decoder.up_blocks.0.x", {1}},
                            {"quant_conv.weight", {8, 8, 1, 1}}, {"post_quant_conv.weight", {4, 4, 1, 1}}})).layout ==
        "diffusers-autoencoder-kl");
  CHECK(detect_layout(make({{"encoder.down.0.block.0.conv1.weight", {1}}, {"decoder.up.0.x", {1}},
                            {"quant_conv.weight", {8, 8, 1, 1}}, {"post_quant_conv.weight", {4, 4, 1, 1}}})).layout ==
        "sd-autoencoder-kl");
  CHECK(detect_layout(make({{"foo.weight", {1}}})).layout == "unknown");
  CHECK(detect_layout(make({{"foo.weight", {1}}})).family == nullptr);
  // An EMA-only LVDM checkpoint is an LVDM checkpoint too.
  auto ema_only = detect_layout(make({{"model_ema.diffusion_modelout2weight", {1}}, {"first_stage_model.encoder.x", {1}}}));
  REQUIRE(ema_only.family);
  CHECK(ema_only.family->id == "lvdm");
  CHECK(ema_only.description.find("EMA") != std::string::npos);
  CHECK(detect_layout(make({{"x_embedder.proj.weight", {1}}, {"t_embedder.mlp.0.weight", {1}},
                            {"blocks.0.attn.qkv.weight", {1}}, {"temp_embed", {1, 16, 4}}})).family->id == "latte");
}

TEST_CASE("registry: every family has an id, a description and a detector, ids are unique") {
  std::set<std::string> ids;
  for (const auto& f : model_families()) {
    CHECK(!f.id.empty());
    CHECK(!f.description.empty());
    CHECK(static_cast<bool>(f.detect));
    CHECK(static_cast<bool>(f.describe));
    CHECK(ids.insert(f.id).second);
  }
  CHECK(ids.count("lvdm") == 1);
}

TEST_CASE("registry: the official tiny LVDM checkpoint is detected as LVDM with EMA weights") {
  auto sd = load_checkpoint(test::data_dir() / "ckpt" / "lvdm_tiny.ckpt");
  auto d = detect_layout(sd);
  REQUIRE(d.family);
  CHECK(d.family->id == "lvdm");
  CHECK(d.layout == "lvdm-short");
  CHECK(d.description.find("model_ema") != std::string::npos);
}

TEST_CASE("registry: files no family can load are refused with one line naming the file") {
  test::ScratchDir dir("registry");
  auto write = [&](const std::string& name, std::vector<std::pair<std::string, at::Tensor>> ts) {
    StateDict sd;
    for (auto& [k, t] : ts) sd.set(k, t);
    auto p = dir.path() / name;
    save_safetensors(p, sd);
    return p;
  };
  ModelSource src;
  src.checkpoint = write("foo.safetensors", {{"foo.weight", torch::zeros({2})}});
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("foo.safetensors: no known model family in its 1 tensors"),
                       Error);
  src.checkpoint = write("ae.safetensors", {{"encoder.conv_first.weight", torch::zeros({1})},
                                            {"decoder.conv_out.weight", torch::zeros({1})},
                                            {"quant_conv.conv.weight", torch::zeros({8, 8, 1, 1, 1})},
                                            {"post_quant_conv.conv.weight", torch::zeros({1})}});
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("it is an autoencoder, use `longvid vae`"), Error);
  src.checkpoint = test::data_dir() / "ckpt" / "latte_tiny.pt";
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("latte_tiny.pt: Latte checkpoints hold no autoencoder"),
                       Error);
  src.checkpoint = dir.path() / "missing.safetensors";
  CHECK_THROWS_AS(load_pipeline(src), Error);
}

TEST_CASE("pipeline: a random LVDM pipeline states what it can do, and the long-video models follow it") {
  auto masked = lvdm_random_tiny_masked(1, 4);
  CHECK(masked.family == "lvdm");
  CHECK(masked.main.caps.masked);
  CHECK(masked.main.caps.can_predict());
  CHECK(masked.main.caps.can_interpolate());
  CHECK(masked.main.caps.clip_len == 4);
  CHECK(masked.main.caps.latent_height == 4);
  CHECK(masked.autoencoder->factors() == std::array<int64_t, 3>{4, 8, 8});
  auto m = long_video_models(masked, LongVideoMode::Hierarchical);
  CHECK(m.pred.denoiser == masked.main.net.get());
  CHECK(m.interp.denoiser == masked.main.net.get());
  CHECK(m.pred.max_noise_level == 250);
  CHECK(m.geometry.height == 4);
  auto plain = lvdm_random_tiny(1);
  CHECK_FALSE(plain.main.caps.masked);
  CHECK_THROWS_WITH_AS(long_video_models(plain, LongVideoMode::Autoregressive),
                       doctest::Contains("no frame-mask conditioning"), Error);
  CHECK(pick_mode(masked, "") == LongVideoMode::Hierarchical);
  CHECK(pick_mode(plain, "") == LongVideoMode::Autoregressive);
}

TEST_CASE("api: generate_video makes the frames asked for, a clip or a long video, into any sink") {
  auto pipe = lvdm_random_tiny_masked(2, 2);
  GenerateRequest req;
  req.sampler.method = "ddim";
  req.sampler.steps = 2;
  req.sampler.eta = 1.0;
  req.seed = 5;
  req.show_progress = false;
  for (int64_t frames : {9, 40}) {  // one clip (16 frames) / longer: keyframes + interpolation
    INFO("frames " << frames);
    req.frames = frames;
    MemorySink a, b;
    CHECK(generate_video(pipe, req, a) == frames);
    CHECK(a.closed());
    CHECK(a.size() == frames);
    CHECK(a.width() == 16);
    generate_video(pipe, req, b);
    CHECK(at::equal(a.tensor(), b.tensor()));  // same seed, same video
  }
  req.frames = 0;
  MemorySink c;
  CHECK_THROWS_WITH_AS(generate_video(pipe, req, c), doctest::Contains("--frames 0"), Error);
  req.frames = 40;
  req.resume = true;  // resume needs a state directory
  CHECK_THROWS_WITH_AS(generate_video(pipe, req, c), doctest::Contains("keeps no checkpoint"), Error);
}

TEST_CASE("api: free_params_immediately frees the denoiser before the decode, with the same frames") {
  GenerateRequest req;
  req.sampler.method = "ddim";
  req.sampler.steps = 2;
  req.seed = 3;
  req.show_progress = false;
  req.frames = 9;
  auto kept = lvdm_random_tiny(1);
  MemorySink a;
  generate_video(kept, req, a);
  auto freed = lvdm_random_tiny(1);
  freed.free_params_immediately = true;
  std::weak_ptr<Denoiser> net = freed.main.net;
  MemorySink b;
  CHECK(generate_video(freed, req, b) == 9);
  CHECK(at::equal(a.tensor(), b.tensor()));
  CHECK(net.expired());  // nothing else held the weights
  CHECK(freed.main.caps.clip_len == kept.main.caps.clip_len);  // what it was stays known
  MemorySink c;
  CHECK(freed.params_freed());
  CHECK_THROWS_WITH_AS(generate_video(freed, req, c), doctest::Contains("freed after the first clip"), Error);
  auto gen = make_generator(1);
  CHECK_THROWS_WITH_AS(freed.generate(9, req.sampler, gen, c), doctest::Contains("freed after the first clip"), Error);
}
