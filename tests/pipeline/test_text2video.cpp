// LVDM text-to-video through the registry: a checkpoint in the layout of configs/lvdm_short/
// text2video.yaml (cross-attention U-Net, per-frame LDM KL autoencoder, FrozenCLIPEmbedder weights
// under cond_stage_model.transformer.text_model.*) at a reduced size, loaded with a tokenizer folder;
// `generate -p` conditions on the engine's own tokenizer + encoder, with classifier-free guidance
// against the negative prompt.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "api/generate.h"
#include "backbones/clip_text.h"
#include "backbones/lvdm_unet3d.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "pipeline/clip_text_encoder.h"
#include "pipeline/model_registry.h"
#include "sampler/sampler.h"
#include "tests/helpers.h"
#include "tests/parity.h"
#include "vae3d/frame_autoencoder_kl.h"
#include "sampler/schedule.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

const fs::path kText = fs::path(LONGVID_TEST_DATA) / "text";

// text2video.yaml's structure at a reduced size: U-Net 32 channels, context 64 (the tiny CLIP of
// tests/data/text), a 2-level KL autoencoder (ch 32), 8x8 latents = 16x16 frames.
const char* kConfig = R"({"model": {"target": "lvdm.models.ddpm3d.LatentDiffusion", "params": {
  "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "image_size": [8, 8], "video_length": 4,
  "channels": 4, "conditioning_key": "crossattn", "scale_factor": 0.18215, "cond_stage_key": "caption",
  "unet_config": {"target": "lvdm.models.modules.openaimodel3d.UNetModel", "params": {
    "image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 32, "attention_resolutions": [2, 1],
    "num_res_blocks": 1, "channel_mult": [1, 2], "num_heads": 2, "transformer_depth": 1, "context_dim": 64,
    "legacy": false, "kernel_size_t": 1, "padding_t": 0, "use_temporal_transformer": true,
    "temporal_length": 4, "use_relative_position": true}},
  "first_stage_config": {"target": "lvdm.models.autoencoder.AutoencoderKL", "params": {"embed_dim": 4,
    "ddconfig": {"double_z": true, "z_channels": 4, "resolution": 16, "in_channels": 3, "out_ch": 3, "ch": 32,
                 "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}}},
  "cond_stage_config": {"target": "lvdm.models.modules.condition_modules.FrozenCLIPEmbedder",
                        "params": {"num_heads": 4}}}}})";

ClipTextConfig tiny_clip() {
  auto fx = load_checkpoint(kText / "clip_text_tiny.safetensors");
  return ClipTextConfig::from_json_text(fx.metadata.at("config"), "tiny clip");
}

fs::path write_t2v(const test::ScratchDir& dir) {
  torch::manual_seed(3);
  StateDict sd;
  auto ucfg = LvdmUNetConfig::from_yaml_string(kConfig, "t2v");
  LvdmUNet3D unet(ucfg);
  for (const auto& kv : unet->named_parameters())
    sd.set("model.diffusion_model." + kv.key(), kv.value().detach().normal_(0, 0.05).clone());
  FrameAutoencoderKL vae(FrameAutoencoderKLConfig::from_config(Config::parse_json(kConfig, "t2v")));
  // LDM names are what LVDM checkpoints hold; the loader converts either layout. Write diffusers
  // names under first_stage_model. (frame_ae_kl_state accepts both).
  for (const auto& kv : vae->named_parameters()) sd.set("first_stage_model." + kv.key(), kv.value().detach().clone());
  ClipTextModel clip(tiny_clip());
  for (const auto& kv : clip->named_parameters())
    sd.set("cond_stage_model.transformer.text_model." + kv.key(),
           test::det_param("text_model." + kv.key(), kv.value().sizes()));
  sd.set("cond_stage_model.transformer.text_model.embeddings.position_ids", at::arange(77, at::kLong).unsqueeze(0));
  fs::path f = dir / "t2v.safetensors";
  save_safetensors(f, sd, {{kConfigMetadataKey, kConfig}});
  return f;
}

}  // namespace

TEST_CASE("text2video loads with its tokenizer and generates from a prompt") {
  test::ScratchDir dir("t2v");
  ModelSource src;
  src.checkpoint = write_t2v(dir);
  CHECK(detect_layout(load_checkpoint(src.checkpoint)).layout == "lvdm-t2v");
  // Without the tokenizer: one line naming what to pass.
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("needs its tokenizer files"), Error);
  src.tokenizer = kText / "clip_small";
  VideoPipeline p = load_pipeline(src);
  REQUIRE(p.text_encoder != nullptr);
  CHECK(p.main.caps.context_dim == 64);
  CHECK(p.default_cfg_scale == 15.0);
  CHECK(p.default_sampler.method == "ddim");
  CHECK(p.autoencoder->latent_channels() == 4);

  // The context is the tiny CLIP's last_hidden_state of CLIPTokenizer's ids (the fixture's rows).
  auto fx = load_checkpoint(kText / "clip_text_tiny.safetensors");
  auto ps = nlohmann::json::parse(read_text_file(kText / "prompts.json", "prompts")).get<std::vector<std::string>>();
  test::check_parity("t2v context", p.text_encoder->encode({ps[0]}), fx.get("last_hidden_state").slice(0, 0, 1));

  // One DDIM step with guidance: the batched [uncond, cond] forward equals e_u + s (e_c - e_u).
  Conditioning c, u;
  c.context = p.text_encoder->encode({"a red square moving left"});
  u.context = p.text_encoder->encode({""});
  at::Tensor x = at::randn({1, 4, 4, 8, 8}, at::detail::createCPUGenerator(1));
  at::Tensor t = at::full({1}, 500, at::kLong);
  torch::NoGradGuard ng;
  GuidedDenoiser g(*p.main.net, u, 15.0, GuidanceMode::Cfg);
  at::Tensor guided = g.forward(x, t, c);
  CHECK(g.last_batched());
  at::Tensor e_c = p.main.net->forward(x, t, c), e_u = p.main.net->forward(x, t, u);
  // Batched and separate forwards differ by fp32 reduction order only (measured 4.8e-6 Frobenius,
  // 9.6e-6 max relative, amplified by the scale 15).
  test::check_parity("cfg", guided, e_u + 15.0 * (e_c - e_u), 5e-5);
  CHECK_FALSE(e_c.equal(e_u));  // the prompt reaches the U-Net

  GenerateRequest req;
  req.frames = 4;
  req.sampler = p.default_sampler;
  req.sampler.steps = 2;
  req.seed = 1;
  req.show_progress = false;
  req.has_prompt = true;
  req.prompt = "two red squares moving left";
  MemorySink a, b;
  CHECK(generate_video(p, req, a) == 4);
  req.prompt = "a blue circle";
  CHECK(generate_video(p, req, b) == 4);
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  CHECK(a.frame(0) != b.frame(0));
}

TEST_CASE("text2video bad input gives one line") {
  test::ScratchDir dir("t2v-bad");
  ModelSource src;
  src.checkpoint = write_t2v(dir);
  // A tokenizer whose vocabulary is not the encoder's.
  fs::create_directories(dir / "tok");
  {
    auto v = nlohmann::json::parse(read_text_file(kText / "clip_small" / "vocab.json", "v"));
    v["extra_token</w>"] = v.size();
    std::ofstream(dir / "tok" / "vocab.json") << v.dump();
  }
  fs::copy_file(kText / "clip_small" / "merges.txt", dir / "tok" / "merges.txt");
  src.tokenizer = dir / "tok";
  CHECK_THROWS_WITH_AS(load_pipeline(src), doctest::Contains("tokenizer files of another model"), Error);
  // A tokenizer for a checkpoint that takes no text (the bundled model): refused before loading.
  ModelSource plain;
  plain.checkpoint = fs::path(LONGVID_TEST_DATA).parent_path().parent_path() / "assets" / "default" / "model.safetensors";
  plain.tokenizer = kText / "clip_small";
  CHECK_THROWS_WITH_AS(load_pipeline(plain), doctest::Contains("takes no text"), Error);
  // A tokenizer for a model that takes no text; a prompt for it.
  auto r = test::run_cli({"generate", "--model", "random", "--tokenizer", (kText / "clip_small").string(), "-o",
                          (dir / "x.y4m").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--tokenizer given without --model") != std::string::npos);
  auto r2 = test::run_cli({"generate", "--model", "random", "-p", "a cat", "-o", (dir / "y.y4m").string(), "--frames", "8"});
  CHECK(r2.exit_code == 1);
  CHECK(r2.err.find("takes no text") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "y.y4m"));
}

TEST_CASE("text2video two DDIM steps with guidance equal LVDM's DDIMSampler") {
  // Fixture: tests/data/gen/gen_t2v_step.py ran the official DDIMSampler (50 steps, eta 1, scale 15,
  // uc = "") on the reduced text2video U-Net (det_fill weights) with the context of the tiny CLIP.
  // Here the context comes from the engine's own tokenizer + encoder.
  auto fx = load_checkpoint(kText / "t2v_ddim_step.safetensors");
  auto clip = load_checkpoint(kText / "clip_text_tiny.safetensors");
  ClipTextModel tower(ClipTextConfig::from_json_text(clip.metadata.at("config"), "tiny clip"));
  {
    torch::NoGradGuard ng;
    for (auto& p : tower->named_parameters(true))
      p.value().copy_(test::det_param("text_model." + p.key(), p.value().sizes()));
  }
  ClipTextEncoder enc(ClipTokenizer::from_dir(kText / "clip_small"), tower);
  torch::NoGradGuard ng;
  Conditioning c, u;
  c.context = enc.encode({fx.metadata.at("prompt")});
  u.context = enc.encode({""});
  test::check_parity("context", c.context, fx.get("context"));
  test::check_parity("uncond context", u.context, fx.get("uncond_context"));

  LvdmUNet3D unet(LvdmUNetConfig::from_yaml_string(kConfig, "t2v"));
  test::det_fill(*unet);
  LvdmUNetDenoiser den(unet);
  // The official sampler runs the two branches as two batch-1 forwards (not batched).
  GuidedDenoiser guided(den, u, 15.0, GuidanceMode::Cfg, /*allow_batching=*/false);
  auto sched = NoiseSchedule::lvdm(0.00085, 0.012, "linear", 1000);
  SamplerOptions so;
  so.method = "ddim";
  so.steps = 50;
  so.eta = 1.0;
  so.spacing = "lvdm";
  std::vector<at::Tensor> xs, x0s;
  std::vector<int64_t> ts;
  StepHooks hooks;
  hooks.after_step = [&](int i, int64_t t, at::Tensor& x, at::Tensor& x0) {
    if (i < 2) {
      xs.push_back(x.clone());
      x0s.push_back(x0.clone());
      ts.push_back(t);
    }
  };
  NoiseFn noise = [&](int i, const at::Tensor& like) {
    return i == 0 ? fx.get("noise_0") : (i == 1 ? fx.get("noise_1") : at::zeros_like(like));
  };
  at::Generator gen = at::detail::createCPUGenerator(0);
  sample(guided, sched, fx.get("x_T").clone(), c, so, gen, {}, hooks, noise);
  REQUIRE(xs.size() == 2);
  CHECK(ts[0] == 981);
  CHECK(ts[1] == 961);
  // |pred_x0| reaches 228 at t = 981 (a_t = 0.0058) and the guided eps is 15x the branch difference.
  test::check_parity("pred_x0 step 0", x0s[0], fx.get("pred_x0_0"));
  test::check_parity("x after step 0", xs[0], fx.get("x_1"));
  test::check_parity("pred_x0 step 1", x0s[1], fx.get("pred_x0_1"));
  test::check_parity("x after step 1", xs[1], fx.get("x_2"));
}

TEST_CASE("text2video a prompt file and n samples per prompt, as sample_text2video.py") {
  test::ScratchDir dir("t2v-many");
  const fs::path ckpt = write_t2v(dir);
  std::ofstream(dir / "prompts.txt") << "a red square moving left\n\n   two blue discs  \n";
  const auto out = dir / "v.y4m";
  auto base = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"generate", "--model", ckpt.string(), "--tokenizer", (kText / "clip_small").string(),
                                  "--frames", "4", "--steps", "2", "--seed", "10"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto r = test::run_cli(base({"--prompt-file", (dir / "prompts.txt").string(), "--n-samples", "2", "-o", out.string()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (int k = 0; k < 4; ++k) CHECK(fs::exists(dir / ("v_00" + std::to_string(k) + ".y4m")));
  CHECK(read_text_file(dir / "v.prompts.tsv", "index") ==
        "file\tseed\tprompt\nv_000.y4m\t10\ta red square moving left\nv_001.y4m\t11\ta red square moving left\n"
        "v_002.y4m\t12\ttwo blue discs\nv_003.y4m\t13\ttwo blue discs\n");
  // Video 2 is the second prompt at seed 12: the same as generating it alone.
  auto one = test::run_cli(
      base({"-p", "two blue discs", "-o", (dir / "one.y4m").string(), "--seed", "12"}));
  REQUIRE(one.exit_code == 0);
  CHECK(read_video(dir / "one.y4m").equal(read_video(dir / "v_002.y4m")));
  CHECK_FALSE(read_video(dir / "v_002.y4m").equal(read_video(dir / "v_003.y4m")));
  // Bad input: one line each, nothing written.
  std::ofstream(dir / "empty.txt") << "\n  \n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {base({"--prompt-file", (dir / "missing.txt").string(), "-o", (dir / "b.y4m").string()}), "no such prompt file"},
      {base({"--prompt-file", (dir / "empty.txt").string(), "-o", (dir / "b.y4m").string()}), "holds no prompt"},
      {base({"--prompt-file", (dir / "prompts.txt").string(), "-p", "x", "-o", (dir / "b.y4m").string()}), "not both"},
      {base({"--n-samples", "0", "-p", "x", "-o", (dir / "b.y4m").string()}), "--n-samples must be >= 1"},
      {base({"--n-samples", "2", "-p", "x", "--state", (dir / "st").string(), "-o", (dir / "b.y4m").string()}),
       "keep one state directory each"},
  };
  for (const auto& [args, want] : bad) {
    auto rb = test::run_cli(args);
    CHECK(rb.exit_code == 1);
    CHECK_MESSAGE(rb.err.find(want) != std::string::npos, rb.err);
    CHECK(test::count_lines(rb.err) == 1);
  }
  CHECK_FALSE(fs::exists(dir / "b.y4m"));
  CHECK_FALSE(fs::exists(dir / "b_000.y4m"));
}
