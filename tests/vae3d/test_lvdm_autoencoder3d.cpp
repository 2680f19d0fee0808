#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/winograd.h"
#include "pipeline/model_registry.h"
#include "tests/helpers.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {
std::filesystem::path lvdm_config(const std::string& rel) { return test::data_dir() / "configs" / "lvdm" / rel; }

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a.to(torch::kDouble) - b.to(torch::kDouble)).norm() / b.to(torch::kDouble).norm()).item<double>();
}

struct Parity {
  double mean, logvar, logvar_unclamped, decoded;
};

// Loads `weights` into a model built from `cfg`, runs encode / decode on the fixture's input and
// returns the relative errors (Frobenius) against the official outputs.
Parity run_parity(const LvdmAe3dConfig& cfg, const StateDict& weights, const StateDict& io) {
  LvdmAutoencoder3D ae(cfg);
  ae->eval();
  load_lvdm_ae3d(*ae, weights);
  torch::NoGradGuard ng;
  auto post = ae->encode(io.get("input"));
  auto dec = ae->decode(io.get("mean"));
  const int64_t c = cfg.embed_dim;  // channels 0, 1 of logvar are pushed past the clamp by the fixture
  return {rel_err(post.mean, io.get("mean")), rel_err(post.logvar, io.get("logvar")),
          rel_err(post.logvar.slice(1, 2, c), io.get("logvar").slice(1, 2, c)), rel_err(dec, io.get("decoded"))};
}
}  // namespace

TEST_CASE("vae3d: the official sky config builds the official module tree") {
  auto cfg = LvdmAe3dConfig::from_config(Config::load(lvdm_config("videoae/sky.yaml")));
  CHECK(cfg.n_hiddens == 32);
  CHECK(cfg.downsample == std::array<int64_t, 3>{4, 8, 8});
  CHECK(cfg.factors() == std::array<int64_t, 3>{4, 8, 8});
  CHECK(cfg.scale_factor == 1.0);
  LvdmAutoencoder3D ae(cfg);

  std::ifstream f(test::data_dir() / "vae3d" / "lvdm_ae3d_sky_keys.json");
  auto official = nlohmann::json::parse(f);
  std::map<std::string, std::vector<int64_t>> want;
  for (auto& [k, shape] : official["state_dict"].items()) want[k] = shape.get<std::vector<int64_t>>();
  int64_t n = 0;
  std::map<std::string, std::vector<int64_t>> have;
  for (const auto& p : ae->named_parameters()) {
    have[p.key()] = p.value().sizes().vec();
    n += p.value().numel();
  }
  CHECK(n == official["parameters"].get<int64_t>());
  MESSAGE("LVDM sky 3D autoencoder: " << n << " parameters (official: " << official["parameters"] << ")");
  // Every registered name is an official key with the official shape; the official keys we do not
  // register are exactly the SamePadConv3d aliases `X.weight` of `X.conv.weight`.
  for (const auto& [k, shape] : have) {
    INFO(k);
    REQUIRE(want.count(k));
    CHECK(want[k] == shape);
  }
  int aliases = 0;
  for (const auto& [k, shape] : want) {
    if (have.count(k)) continue;
    INFO(k);
    REQUIRE(k.size() > 7);
    auto conv = k.substr(0, k.size() - 7) + ".conv.weight";
    CHECK(have.count(conv));
    ++aliases;
  }
  CHECK(have.size() + aliases == want.size());

  // The diffusion config carries the latent normalisation.
  auto sky = LvdmAe3dConfig::from_config(Config::load(lvdm_config("lvdm_short/sky.yaml")));
  CHECK(sky.scale_factor == 0.33422927);
  CHECK(sky.shift_factor == 1.4606637);
  CHECK(sky.to_json().find("\"downsample\":[4,8,8]") != std::string::npos);

  // 16 x 256^2 -> 4 x 32^2 (shape only here; small input).
  CHECK(ae->latent_shape({1, 3, 16, 256, 256}) == std::vector<int64_t>{1, 4, 4, 32, 32});
  torch::NoGradGuard ng;
  auto x = torch::rand({1, 3, 4, 16, 16}) * 2 - 1;
  auto post = ae->encode(x);
  CHECK(post.mean.sizes() == at::IntArrayRef{1, 4, 1, 2, 2});
  CHECK(ae->decode(post.mean).sizes() == x.sizes());
}

TEST_CASE("vae3d: config errors") {
  CHECK_THROWS_WITH_AS(LvdmAe3dConfig::from_config(Config::load(lvdm_config("lvdm_short/text2video.yaml"))),
                       doctest::Contains("first_stage_config.target is 'lvdm.models.autoencoder.AutoencoderKL', not "
                                         "LVDM's 3D autoencoder"),
                       Error);
  auto bad = Config::parse_yaml(
      "ddconfig: {double_z: true, z_channels: 4, encoder: {params: {n_hiddens: 8, downsample: [2, 2, 2], z_channels: "
      "4, double_z: true}}, decoder: {params: {n_hiddens: 32, upsample: [2, 2, 2], z_channels: 4, image_channel: 3}}}\n"
      "embed_dim: 4\n",
      "bad.yaml");
  CHECK_THROWS_WITH_AS(LvdmAe3dConfig::from_config(bad),
                       "bad.yaml: encoder n_hiddens 8: level 0 has 16 channels, not divisible by GroupNorm's 32 groups",
                       Error);
  auto bad2 = Config::parse_yaml(
      "ddconfig: {double_z: true, z_channels: 4, encoder: {params: {n_hiddens: 16, downsample: [3, 2, 2], z_channels: "
      "4, double_z: true}}, decoder: {params: {n_hiddens: 16, upsample: [2, 2], z_channels: 4, image_channel: 3}}}\n"
      "embed_dim: 4\n",
      "bad2.yaml");
  CHECK_THROWS_WITH_AS(LvdmAe3dConfig::from_config(bad2), doctest::Contains("upsample: expected 3 values"), Error);
}

TEST_CASE("vae3d: same padding and the SamePadConv3d alias keys") {
  using namespace lvdm_ae3d;
  // k4 s(1,2,2): T pad 3 -> front 2, back 1; H/W pad 2 -> 1, 1.
  using D3 = std::array<int64_t, 3>;
  SamePadConv3d c(2, 3, D3{4, 4, 4}, D3{1, 2, 2});
  CHECK(c->pad == std::vector<int64_t>{1, 1, 1, 1, 2, 1});
  torch::NoGradGuard ng;
  auto x = torch::randn({1, 2, 5, 8, 8});
  auto ref = torch::conv3d(torch::pad(x, {1, 1, 1, 1, 2, 1}, "replicate"), c->conv->weight, c->conv->bias,
                           {1, 2, 2});
  CHECK(torch::equal(c(x), ref));
  CHECK(c(x).sizes() == at::IntArrayRef{1, 3, 5, 4, 4});
  SamePadConvTranspose3d t(3, 2, D3{4, 4, 4}, D3{1, 2, 2});
  CHECK(t(c(x)).sizes() == x.sizes());

  LvdmAe3dConfig cfg;
  cfg.n_hiddens = cfg.decoder_n_hiddens = 16;
  cfg.downsample = cfg.upsample = {2, 2, 2};
  LvdmAutoencoder3D ae(cfg);
  auto w = ae->quant_conv->conv->weight.detach().clone();
  auto b = ae->quant_conv->conv->bias.detach().clone();
  // A lone alias is renamed; the norm weights (no conv child) are not touched.
  auto r = resolve_samepad_aliases(*ae, {{"quant_conv.weight", w}, {"quant_conv.conv.bias", b},
                                         {"encoder.final_block.0.weight", b}},
                                   "ck");
  REQUIRE(r.size() == 3);
  CHECK(r[0].first == "quant_conv.conv.weight");
  CHECK(r[2].first == "encoder.final_block.0.weight");
  // A duplicate pair (official checkpoints) collapses to the conv key.
  r = resolve_samepad_aliases(*ae, {{"quant_conv.weight", w}, {"quant_conv.conv.weight", w}}, "ck");
  REQUIRE(r.size() == 1);
  CHECK(r[0].first == "quant_conv.conv.weight");
  // A pair that differs is an error naming both keys.
  CHECK_THROWS_WITH_AS(
      resolve_samepad_aliases(*ae, {{"quant_conv.weight", w + 1}, {"quant_conv.conv.weight", w}}, "ck.ckpt"),
      "ck.ckpt: 'quant_conv.weight' and 'quant_conv.conv.weight' differ, but both name the same SamePadConv3d weight "
      "in the official model",
      Error);
}

TEST_CASE("vae3d: temporal tiling follows LVDM's overlapped_decode") {
  LvdmAe3dConfig cfg;
  cfg.n_hiddens = cfg.decoder_n_hiddens = 16;
  cfg.downsample = cfg.upsample = {2, 2, 2};  // temporal factor 2
  cfg.scale_factor = 0.5;
  cfg.shift_factor = 0.25;
  LvdmAutoencoder3D ae(cfg);
  torch::NoGradGuard ng;
  auto z = torch::randn({1, 4, 7, 4, 4});
  // Reference, written from ddpm3d.py overlapped_decode with max_z_t=4, overlap_t=2 (factor 2 here):
  // windows start at 0, 2, 4, 6 -> [0:4], [2:6], [4:7], [6:7]; drop_l = drop_r = 1 latent = 2 frames.
  auto d = [&](int64_t a, int64_t b) { return ae->decode(z.slice(2, a, b)); };
  auto ref = torch::cat({d(0, 4).slice(2, 0, 8 - 2), d(2, 6).slice(2, 2, 8 - 2), d(4, 7).slice(2, 2, 8 - 2),
                         d(6, 7).slice(2, 2)},
                        2);
  std::vector<int64_t> chunks;
  auto out = ae->decode_overlapped(z, 4, 2);
  ae->decode_stream(z, 4, 2, [&](const torch::Tensor& x) { chunks.push_back(x.size(2)); });
  CHECK(out.size(2) == 14);
  CHECK(chunks == std::vector<int64_t>{6, 4, 4});  // the last window [6:7] keeps nothing
  CHECK(torch::equal(out, ref));
  // No tiling: one decode.
  CHECK(torch::equal(ae->decode_overlapped(z, 0, 0), ae->decode(z)));
  // Normalised latents: decode((1/scale) z - shift).
  auto zn = ae->normalize_latent(z);
  CHECK(torch::allclose(ae->denormalize_latent(zn), z, 1e-6, 1e-6));
  CHECK(torch::allclose(ae->decode_overlapped(zn, 4, 2, /*normalized=*/true), out, 1e-5, 1e-5));
  CHECK_THROWS_WITH_AS(ae->decode_overlapped(z, 4, 4), doctest::Contains("overlap 4 must be >= 0 and smaller"), Error);
}

TEST_CASE("vae3d: channels-last inference equals the reference layout") {
  LvdmAe3dConfig cfg;
  cfg.n_hiddens = cfg.decoder_n_hiddens = 16;
  cfg.downsample = cfg.upsample = {2, 2, 2};
  LvdmAutoencoder3D ae(cfg);
  torch::manual_seed(3);
  auto z = torch::randn({1, 4, 3, 4, 4});
  auto video = torch::rand({1, 3, 6, 8, 8}) * 2 - 1;
  torch::Tensor ref_dec, ref_mean;
  {
    torch::NoGradGuard ng;
    ae->set_channels_last(false);
    ref_dec = ae->decode(z);
    ref_mean = ae->encode(video).mean;
    ae->set_channels_last(true);
    auto dec = ae->decode(z);
    auto mean = ae->encode(video).mean;
    CHECK(dec.is_contiguous());  // callers get NCDHW either way
    CHECK(mean.is_contiguous());
    const double ed = ((dec - ref_dec).norm() / ref_dec.norm()).item<double>();
    const double em = ((mean - ref_mean).norm() / ref_mean.norm()).item<double>();
    MESSAGE("channels-last vs NCDHW: relative error decoded " << ed << ", mean " << em);
    CHECK(ed <= 1e-5);
    CHECK(em <= 1e-5);
    // It is a different computation, not the same one twice.
    CHECK(ae->decoder->conv_out->conv->weight.is_contiguous(at::MemoryFormat::ChannelsLast3d));
  }
  // With grad (training), the reference layout and at::conv3d (core/conv.h keeps PyTorch's choice
  // there): the weights are NCDHW again, and the result is the same convolution as the inference
  // passes' (which take oneDNN: fp32 rounding apart).
  auto dec_grad = ae->decode(z);
  CHECK(dec_grad.requires_grad());
  CHECK(ae->decoder->conv_out->conv->weight.is_contiguous());
  CHECK(((dec_grad.detach() - ref_dec).norm() / ref_dec.norm()).item<double>() <= 1e-5);
  // The environment's default: a nonsense value is one clear error.
  test::ScopedEnv env("LONGVID_AE_LAYOUT", "nchw");
  CHECK_THROWS_WITH_AS(LvdmAutoencoder3D{cfg}, "LONGVID_AE_LAYOUT=nchw: expected channels-last (the default) or ncdhw",
                       Error);
  test::ScopedEnv env2("LONGVID_AE_LAYOUT", "ncdhw");
  CHECK_FALSE(LvdmAutoencoder3D{cfg}->channels_last());
}

TEST_CASE("vae3d: parity with the official LVDM 3D autoencoder (fp32, CPU)") {
  for (const char* name : {"lvdm_ae3d_tiny_t2", "lvdm_ae3d_tiny_s2"}) {
    auto dir = test::data_dir() / "vae3d";
    auto cfg = LvdmAe3dConfig::from_config(Config::load(dir / (std::string(name) + ".yaml")));
    auto weights = load_checkpoint(dir / (std::string(name) + ".weights.safetensors"));
    auto io = load_checkpoint(dir / (std::string(name) + ".io.safetensors"));
    CHECK(detect_layout(weights).layout == "lvdm-ae3d");
    auto p = run_parity(cfg, weights, io);
    MESSAGE(std::string(name) << ": relative error mean " << p.mean << ", logvar " << p.logvar << " (unclamped channels "
                 << p.logvar_unclamped << "), decoded " << p.decoded);
    CHECK(p.mean <= 1e-5);
    CHECK(p.logvar <= 1e-5);
    CHECK(p.logvar_unclamped <= 1e-5);
    CHECK(p.decoded <= 1e-5);
    {  // The comparison is not vacuous: default-initialised weights are far off.
      LvdmAutoencoder3D fresh(cfg);
      torch::NoGradGuard ng;
      CHECK(rel_err(fresh->decode(io.get("mean")), io.get("decoded")) > 0.1);
      CHECK(rel_err(fresh->encode(io.get("input")).mean, io.get("mean")) > 0.1);
    }
    // The clamp is exercised: the fixture drives two logvar channels past [-30, 20].
    CHECK(io.get("logvar").max().item<float>() == 20.0f);
    CHECK(io.get("logvar").min().item<float>() == -30.0f);

    // The same weights laid out as in an LVDM diffusion checkpoint: first_stage_model.* with both
    // alias keys of every SamePadConv3d weight, next to U-Net and loss entries.
    LvdmAutoencoder3D probe(cfg);
    StateDict full;
    full.set("model.diffusion_model.out.2.weight", torch::zeros({2}));
    std::set<std::string> params;
    for (const auto& q : probe->named_parameters()) params.insert(q.key());
    for (const auto& k : weights.keys()) {
      std::string conv = k, alias = k;
      const std::string cw = ".conv.weight";
      if (k.size() > cw.size() && k.compare(k.size() - cw.size(), cw.size(), cw) == 0)
        alias = k.substr(0, k.size() - cw.size()) + ".weight";
      else if (!params.count(k))
        conv = k.substr(0, k.size() - 7) + ".conv.weight";
      full.set("first_stage_model." + alias, weights.get(k));
      if (alias != conv) full.set("first_stage_model." + conv, weights.get(k).clone());
    }
    full.set("loss.logvar", torch::zeros({}));
    CHECK(lvdm_ae3d_prefix(full) == "first_stage_model.");
    auto q = run_parity(cfg, full, io);
    CHECK(q.decoded == p.decoded);
    CHECK(q.mean == p.mean);
  }
}

TEST_CASE("vae3d: parity with the official LVDM 3D autoencoder with two down/up levels (weights by recipe)") {
  // Made by: gen_lvdm_ae3d.py --config tests/data/vae3d/lvdm_ae3d_2level.yaml --shape 1,3,8,16,16
  //          --weights-recipe --seed 4321 --out tests/data/vae3d/lvdm_ae3d_2level
  // The 1.16M weights are not stored: the io file's metadata holds the recipe (gen_lvdm_ae3d.py
  // recipe_fill: sorted keys, one seeded generator, randn * scale + offset, fp16-rounded).
  auto dir = test::data_dir() / "vae3d";
  auto cfg = LvdmAe3dConfig::from_config(Config::load(dir / "lvdm_ae3d_2level.yaml"));
  auto io = load_checkpoint(dir / "lvdm_ae3d_2level.io.safetensors");
  auto recipe = nlohmann::json::parse(io.metadata.at("recipe"));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(std::stoll(io.metadata.at("seed")));
  StateDict weights;
  int64_t n = 0;
  for (const auto& item : recipe) {
    auto shape = item[3].get<std::vector<int64_t>>();
    at::Tensor r = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
    weights.set(item[0].get<std::string>(), (r * item[1].get<double>() + item[2].get<double>()).to(at::kHalf).to(at::kFloat));
    n += r.numel();
  }
  CHECK(n == std::stoll(io.metadata.at("parameters")));
  LvdmAutoencoder3D probe(cfg);
  int64_t model_params = 0;
  for (const auto& q : probe->parameters()) model_params += q.numel();
  CHECK(model_params == n);
  CHECK(io.get("mean").size(2) == io.get("input").size(2) / 4);  // two levels: factor 4
  CHECK(io.get("mean").size(3) == io.get("input").size(3) / 4);
  auto p = run_parity(cfg, weights, io);
  MESSAGE("lvdm_ae3d_2level: relative error mean " << p.mean << ", logvar " << p.logvar << ", decoded " << p.decoded);
  CHECK(p.mean <= 1e-5);
  CHECK(p.logvar <= 1e-5);
  CHECK(p.decoded <= 1e-5);
  LvdmAutoencoder3D fresh(cfg);  // not vacuous: default-initialised weights are far off
  torch::NoGradGuard ng;
  CHECK(rel_err(fresh->decode(io.get("mean")), io.get("decoded")) > 0.1);
}

TEST_CASE("vae3d: with Winograd F(2x2, 3x3) for every 3x3x3 convolution, the official fixtures still match") {
  // The large autoencoders take core/winograd.h's channels-last kernel for their convolutions of >= 128
  // channels; these small fixtures run it for all of them (WinogradEverywhere).
  if (!winograd_enabled()) {
    test::report_skipped("LONGVID_WINOGRAD=0: the Winograd path is off");
    return;
  }
  WinogradEverywhere everywhere;
  const int64_t before = winograd_conv3d_calls();
  for (const char* name : {"lvdm_ae3d_tiny_t2", "lvdm_ae3d_tiny_s2"}) {
    auto dir = test::data_dir() / "vae3d";
    auto cfg = LvdmAe3dConfig::from_config(Config::load(dir / (std::string(name) + ".yaml")));
    auto p = run_parity(cfg, load_checkpoint(dir / (std::string(name) + ".weights.safetensors")),
                        load_checkpoint(dir / (std::string(name) + ".io.safetensors")));
    MESSAGE(std::string(name) << " with Winograd: relative error mean " << p.mean << ", logvar " << p.logvar
                              << ", decoded " << p.decoded);
    CHECK(p.mean <= 1e-5);
    CHECK(p.logvar <= 1e-5);
    CHECK(p.decoded <= 1e-5);
  }
  const int64_t calls = winograd_conv3d_calls() - before;
  MESSAGE("Winograd convolutions: " << calls);
  const char* env = std::getenv("LONGVID_CONV");
  if (at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && !(env && std::string(env) == "aten"))
    CHECK(calls >= 10);
}

TEST_CASE("vae3d: loading reports every problem at once and the config is inferred from shapes") {
  auto dir = test::data_dir() / "vae3d";
  auto cfg = LvdmAe3dConfig::from_config(Config::load(dir / "lvdm_ae3d_tiny_t2.yaml"));
  auto weights = load_checkpoint(dir / "lvdm_ae3d_tiny_t2.weights.safetensors");
  // The s2 model has the same tensors (only strides differ): loading t2 weights works shape-wise,
  // but the sky model does not match.
  LvdmAutoencoder3D sky(LvdmAe3dConfig{});
  try {
    load_lvdm_ae3d(*sky, weights);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("lvdm_ae3d_tiny_t2.weights.safetensors: does not match the model") != std::string::npos);
    CHECK(m.find("missing") != std::string::npos);
    CHECK(m.find("mis-shaped") != std::string::npos);
    CHECK(test::count_lines(m) == 1);
  }
  // One level: strides cannot be inferred from shapes.
  CHECK_THROWS_WITH_AS(LvdmAe3dConfig::infer(weights), doctest::Contains("1 encoder / 1 decoder levels"), Error);
  // The official layout (shapes from the official sky state dict, no real data needed).
  std::ifstream f(dir / "lvdm_ae3d_sky_keys.json");
  auto official = nlohmann::json::parse(f);
  StateDict shapes;
  for (auto& [k, shape] : official["state_dict"].items())
    shapes.set("first_stage_model." + k, torch::zeros({1}).expand(shape.get<std::vector<int64_t>>()));
  auto inferred = LvdmAe3dConfig::infer(shapes, "first_stage_model.");
  auto yaml = LvdmAe3dConfig::from_config(Config::load(lvdm_config("videoae/sky.yaml")));
  CHECK(inferred.to_json() == yaml.to_json());
  (void)cfg;
}

TEST_CASE("vae3d: parity on the full official sky model (opt-in LONGVID_LVDM_AE_SKY_FIXTURE)") {
  // Made by: gen_lvdm_ae3d.py --config tests/data/configs/lvdm/videoae/sky.yaml --shape 1,3,8,64,64
  //          --alias both --fp32-weights --out /tmp/sky   (145 MB: not committed)
  const char* prefix = std::getenv("LONGVID_LVDM_AE_SKY_FIXTURE");
  if (!prefix) {
    test::report_skipped("opt-in test: its 145 MB fixture is not committed; make it with gen_lvdm_ae3d.py "
                         "(above) and set LONGVID_LVDM_AE_SKY_FIXTURE=<prefix of sky.weights/.io.safetensors>");
    return;
  }
  auto cfg = LvdmAe3dConfig::from_config(Config::load(lvdm_config("videoae/sky.yaml")));
  auto weights = load_checkpoint(std::string(prefix) + ".weights.safetensors");
  auto io = load_checkpoint(std::string(prefix) + ".io.safetensors");
  auto p = run_parity(cfg, weights, io);
  MESSAGE("sky (19.45M params): relative error mean " << p.mean << ", logvar " << p.logvar << " (unclamped "
                                                       << p.logvar_unclamped << "), decoded " << p.decoded);
  CHECK(p.mean <= 1e-5);
  CHECK(p.logvar <= 1e-5);
  CHECK(p.decoded <= 1e-5);
  // The same weights as a torch.save'd LVDM checkpoint (gen_lvdm_ae3d.py --ckpt <prefix>.ckpt):
  // state_dict with first_stage_model.*, each SamePadConv3d weight under two names sharing storage.
  auto ckpt = std::string(prefix) + ".ckpt";
  if (std::filesystem::exists(ckpt)) {
    auto sd = load_checkpoint(ckpt);
    CHECK(lvdm_ae3d_prefix(sd) == "first_stage_model.");
    auto q = run_parity(cfg, sd, io);
    MESSAGE("sky from " << sd.format << " checkpoint: relative error decoded " << q.decoded);
    CHECK(q.decoded == p.decoded);
    CHECK(q.mean == p.mean);
  }
}

TEST_CASE("vae3d: bf16 compute on CPU stays close to the fp32 reference") {
  auto dir = test::data_dir() / "vae3d";
  auto cfg = LvdmAe3dConfig::from_config(Config::load(dir / "lvdm_ae3d_tiny_t2.yaml"));
  auto weights = load_checkpoint(dir / "lvdm_ae3d_tiny_t2.weights.safetensors");
  auto io = load_checkpoint(dir / "lvdm_ae3d_tiny_t2.io.safetensors");
  LvdmAutoencoder3D ae(cfg);
  load_lvdm_ae3d(*ae, weights);
  ae->to(torch::kBFloat16);
  torch::NoGradGuard ng;
  auto post = ae->encode(io.get("input").to(torch::kBFloat16));
  auto dec = ae->decode(io.get("mean").to(torch::kBFloat16));
  CHECK((dec.scalar_type() == torch::kBFloat16));
  double em = rel_err(post.mean, io.get("mean")), ed = rel_err(dec, io.get("decoded"));
  MESSAGE("bf16 on CPU: relative error mean " << em << ", decoded " << ed);
  CHECK(em < 0.05);
  CHECK(ed < 0.05);

  // set_compute_dtype (--vae-dtype bf16): float32 in and out, bf16 inside, the same values as above.
  LvdmAutoencoder3D ae2(cfg);
  load_lvdm_ae3d(*ae2, weights);
  ae2->set_compute_dtype(torch::kBFloat16);
  CHECK((ae2->compute_dtype() == torch::kBFloat16));
  auto post2 = ae2->encode(io.get("input"));
  auto dec2 = ae2->decode(io.get("mean"));
  CHECK((dec2.scalar_type() == torch::kFloat));
  CHECK((post2.mean.scalar_type() == torch::kFloat));
  CHECK(torch::equal(dec2, dec.to(torch::kFloat)));
  CHECK(torch::equal(post2.mean, post.mean.to(torch::kFloat)));
  CHECK_THROWS_AS(ae2->set_compute_dtype(torch::kDouble), Error);
}

TEST_CASE("vae3d: the inference ResBlock (SiLU and residual in place) gives the official expression's values") {
  torch::manual_seed(4);
  lvdm_ae3d::ResBlock rb(32, 32);
  auto x = torch::randn({1, 32, 3, 5, 4});
  torch::NoGradGuard ng;
  for (bool cl : {false, true}) {
    INFO("channels-last " << cl);
    auto xl = cl ? x.contiguous(at::MemoryFormat::ChannelsLast3d) : x;
    // silu_ref: x * sigmoid(x) in the reference layout, at::silu in channels-last
    auto silu = [&](const torch::Tensor& a) { return cl ? at::silu(a) : a * torch::sigmoid(a); };
    auto ref = xl + rb->conv2(silu(rb->norm2(rb->conv1(silu(rb->norm1(xl))))));
    auto out = rb->forward(xl);
    CHECK(at::equal(out, ref));
    CHECK(at::equal(xl, cl ? x.contiguous(at::MemoryFormat::ChannelsLast3d) : x));  // the input is untouched
  }
}
