#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "tests/helpers.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;

namespace {
std::filesystem::path lvdm_config(const std::string& rel) { return test::data_dir() / "configs" / "lvdm" / rel; }
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
