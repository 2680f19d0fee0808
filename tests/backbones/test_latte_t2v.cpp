// Latte-1 as diffusers ships it: LatteTransformer3DModel and one LattePipeline denoising step against
// diffusers (fixtures: tests/data/gen/gen_latte1.py, diffusers 58eb52c), the full config's size, and a
// LattePipeline folder (transformer, VAE, T5, tokenizer, scheduler) loaded and sampled end to end.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

#include "backbones/latte_t2v.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/video_io.h"
#include "pipeline/latte_t2v_family.h"
#include "pipeline/t5_text_encoder.h"
#include "sampler/sampler.h"
#include "tests/helpers.h"
#include "tests/parity.h"
#include "tests/pipeline/t5_folder.h"
#include "vae3d/frame_autoencoder_kl.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(LONGVID_TEST_DATA) / "latte1";

LatteT2V tiny_transformer() {
  auto cfg = LatteT2VConfig::from_json(read_text_file(kDir / "tiny_transformer_config.json"), "tiny config");
  LatteT2V net(cfg);
  load_into(*net, load_checkpoint(kDir / "tiny_transformer.safetensors"));
  net->eval();
  return net;
}

}  // namespace

TEST_CASE("latte-1 transformer equals diffusers LatteTransformer3DModel (tiny config)") {
  torch::NoGradGuard ng;
  auto net = tiny_transformer();
  auto io = load_checkpoint(kDir / "tiny_transformer_io.safetensors");
  const auto& x = io.get("hidden_states");
  const auto& t = io.get("timestep");
  const auto& cap = io.get("encoder_hidden_states");
  // The reference's own fp32 vs fp64 gap is ~2e-6 relative (gen_latte1.py).
  test::check_parity("sample", net->forward(x, t, cap), io.get("sample"));
  test::check_parity("sample vs f64", net->forward(x, t, cap), io.get("sample_f64"));
  // Against diffusers' fp32 outputs made on an AMD EPYC (AVX2; bit-identical there): on an Intel Xeon
  // with AVX-512 (session 21) rel_fro 9.0e-6 / 8.0e-6 and max 1.4e-5 / 1.5e-5 of max|ref| from the
  // summation order alone (the f64 check above stays within 1e-5), hence 2e-5.
  test::check_parity("no temporal attention", net->forward(x, t, cap, false), io.get("sample_notemp"), 2e-5);
  // One frame: the temporal blocks run, the temporal table is not added.
  test::check_parity("one frame", net->forward(io.get("hidden_states_f1"), t, cap), io.get("sample_f1"), 2e-5);
}

TEST_CASE("latte-1 transformer: full config size, bad input") {
  LatteT2VConfig c;  // Latte-1's transformer/config.json
  LatteT2V full(c, at::kMeta);
  CHECK(full->num_parameters() == 1057246880);  // diffusers, on the meta device
  CHECK(full->named_parameters().size() == 967);
  auto net = tiny_transformer();
  CHECK_THROWS_WITH_AS(net->forward(at::zeros({1, 3, 2, 8, 8}), at::zeros({1}), at::zeros({1, 6, 24})),
                       doctest::Contains("[B, 4, F, H, W]"), Error);
  CHECK_THROWS_WITH_AS(net->forward(at::zeros({1, 4, 2, 8, 8}), at::zeros({1}), at::zeros({1, 6, 23})),
                       doctest::Contains("caption embedding must be"), Error);
  CHECK_THROWS_WITH_AS(LatteT2VConfig::from_json(R"({"norm_type": "ada_norm_zero"})", "cfg"),
                       doctest::Contains("norm_type"), Error);
  // Weights of another size are refused naming the key and both shapes.
  auto cfg = net->config();
  cfg.num_attention_heads = 4;
  cfg.cross_attention_dim = 64;
  LatteT2V other(cfg);
  CHECK_THROWS_WITH_AS(load_into(*other, load_checkpoint(kDir / "tiny_transformer.safetensors")),
                       doctest::Contains("pos_embed.proj.weight"), Error);
}

TEST_CASE("latte-1 one pipeline step (guidance 7.5, DDIM 50 leading, variance half dropped) equals diffusers") {
  torch::NoGradGuard ng;
  auto net = tiny_transformer();
  auto st = load_checkpoint(kDir / "tiny_pipeline_step.safetensors");
  NoiseSchedule sched = NoiseSchedule::diffusers("linear");
  SamplerOptions so = diffusers_sampler_defaults(read_text_file(kDir / "scheduler_config.json"), "scheduler", &sched);
  CHECK(so.method == "ddim");
  CHECK(so.eta == 0.0);
  CHECK(so.spacing == "leading");
  auto ts = sampling_timesteps(so, sched.num_train_timesteps());
  auto want_ts = st.get("timesteps");
  REQUIRE(static_cast<int64_t>(ts.size()) == want_ts.numel());
  for (size_t i = 0; i < ts.size(); ++i) CHECK(ts[i] == want_ts[static_cast<int64_t>(i)].item<int64_t>());
  for (const char* path : {"direct", "t5path"}) {
    INFO(path);
    const std::string p = path;
    // The batched forward of the two branches, [negative; prompt].
    auto enc = st.get(p + ".encoder_hidden_states");
    auto out = net->forward(st.get(p + ".model_input"), st.get(p + ".timestep"), enc);
    // Bit-identical on the AMD EPYC that made the fixture; on an Intel Xeon with AVX-512 (session 21)
    // max 1.5e-5 of max|ref| (rel_fro 7.9e-6), hence 2e-5.
    test::check_parity("noise_pred", out, st.get(p + ".noise_pred"), 2e-5);
    // The engine's sampler: guidance over the eps half, one DDIM step.
    LatteT2VDenoiser den(net);
    Conditioning c, u;
    const int64_t L = enc.size(1);
    u.context = enc.slice(0, 0, 1);
    c.context = enc.slice(0, 1, 2);
    CHECK(L == (p == "direct" ? 6 : 4));  // mask_feature truncates the T5 path to the prompt's tokens
    GuidedDenoiser guided(den, u, 7.5, GuidanceMode::Cfg);
    at::Tensor got_x, got_x0;
    StepHooks hooks;
    hooks.after_step = [&](int step, int64_t, at::Tensor& x, at::Tensor& x0) {
      if (step == 0) {
        got_x = x.clone();
        got_x0 = x0.clone();
      }
    };
    at::Generator gen = at::detail::createCPUGenerator(0);
    SamplerOptions one = so;
    sample(guided, sched, st.get("latents_in"), c, one, gen, {}, hooks);
    // x0 = (x - sqrt(1 - a) eps) / sqrt(a) multiplies eps's rounding by sqrt((1 - a) / a) at the first
    // (noisiest) step: on the Intel Xeon, rel_fro 2.2e-5 / 1.6e-5, max 4.6e-5 / 3.4e-5 (7.4e-5 with
    // ATen pinned to AVX2), hence 1e-4.
    test::check_parity("pred_original_sample", got_x0, st.get(p + ".pred_original_sample"), 1e-4);
    test::check_parity("latents after step 1", got_x, st.get(p + ".latents_out"), 1e-4);
  }
}

TEST_CASE("latte-1 pipeline folder loads and generates, T5 embeddings cut to the prompt (mask_feature)") {
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  test::ScratchDir d("latte1-folder");
  const fs::path dir = d / "Latte-1-tiny";
  // transformer/: the tiny config with a caption width of the tiny T5 (32).
  LatteT2VConfig tc = LatteT2VConfig::from_json(read_text_file(kDir / "tiny_transformer_config.json"), "tiny");
  tc.caption_channels = 32;
  LatteT2V net(tc);
  test::det_fill(*net);
  fs::create_directories(dir / "transformer");
  auto jc = nlohmann::json::parse(read_text_file(kDir / "tiny_transformer_config.json"));
  jc["caption_channels"] = 32;
  write_text_atomically(dir / "transformer" / "config.json", jc.dump(2));
  StateDict sd;
  for (const auto& kv : net->named_parameters()) sd.set(kv.key(), kv.value().detach().clone());
  save_safetensors(dir / "transformer" / "diffusion_pytorch_model.safetensors", sd, {{"format", "pt"}});
  // vae/: gen_latte1.py's tiny AutoencoderKL config, deterministic weights.
  fs::create_directories(dir / "vae");
  write_text_atomically(dir / "vae" / "config.json", read_text_file(kDir / "tiny_vae_config.json"));
  {
    auto vcfg = FrameAutoencoderKLConfig::from_config(
        Config::parse_json(read_text_file(kDir / "tiny_vae_config.json"), "tiny vae"));
    FrameAutoencoderKL vae(vcfg);
    test::det_fill(*vae);
    StateDict vs;
    for (const auto& kv : vae->named_parameters()) vs.set(kv.key(), kv.value().detach().clone());
    save_safetensors(dir / "vae" / "diffusion_pytorch_model.safetensors", vs, {{"format", "pt"}});
  }
  test::write_t5_folder(dir / "text_encoder");
  fs::create_directories(dir / "tokenizer");
  for (const auto& e : fs::directory_iterator(fs::path(LONGVID_TEST_DATA) / "text" / "t5_small"))
    fs::copy_file(e.path(), dir / "tokenizer" / e.path().filename());
  fs::create_directories(dir / "scheduler");
  write_text_atomically(dir / "scheduler" / "scheduler_config.json", read_text_file(kDir / "scheduler_config.json"));
  write_text_atomically(dir / "model_index.json", R"({"_class_name": "LattePipeline", "_diffusers_version": "0.30.0"})");

  ModelSource src;
  src.checkpoint = dir;
  VideoPipeline pipe = load_pipeline(src, {});
  CHECK(pipe.family == "latte-t2v");
  CHECK(pipe.default_cfg_scale == 7.5);
  CHECK(pipe.main.caps.learned_sigma);
  CHECK(pipe.default_sampler.method == "ddim");
  auto* t5 = dynamic_cast<T5TextEncoder*>(pipe.text_encoder.get());
  REQUIRE(t5);
  auto [pc, nc] = t5->encode_pair("a red square", "");
  auto full = t5->encode({"a red square"});
  const int64_t keep = t5->last_mask().sum().item<int64_t>();
  CHECK(keep < 10);
  CHECK(pc.size(1) == keep);
  CHECK(nc.size(1) == keep);
  CHECK(pc.equal(full.slice(1, 0, keep)));

  auto a = test::run_cli({"generate", "--model", dir.string(), "-p", "a red square", "--frames", "3", "--steps", "2",
                          "--seed", "1", "-o", (d / "a.y4m").string()});
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  CHECK(a.err.find("guidance scale 7.5") != std::string::npos);
  auto frames = read_video(d / "a.y4m");
  CHECK(frames.size(0) == 3);
  CHECK(frames.size(1) == 16);
  auto b = test::run_cli({"generate", "--model", dir.string(), "-p", "a blue disc", "--frames", "3", "--steps", "2",
                          "--seed", "1", "-o", (d / "b.y4m").string()});
  REQUIRE(b.exit_code == 0);
  CHECK_FALSE(read_video(d / "b.y4m").equal(frames));
  // The transformer file alone names what to pass.
  auto alone = test::run_cli({"generate", "--model", (dir / "transformer" / "diffusion_pytorch_model.safetensors").string(),
                              "-p", "x", "--frames", "3", "--steps", "2", "-o", (d / "c.y4m").string()});
  CHECK(alone.exit_code == 0);  // inside the folder: the folder is loaded
  fs::copy_file(dir / "transformer" / "diffusion_pytorch_model.safetensors", d / "t.safetensors");
  auto lone = test::run_cli({"generate", "--model", (d / "t.safetensors").string(), "-p", "x", "-o",
                             (d / "e.y4m").string()});
  CHECK(lone.exit_code == 1);
  CHECK(lone.err.find("LattePipeline folder") != std::string::npos);
}
