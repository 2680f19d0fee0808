// train-vae's longvid extensions: a decoder fine-tuned for an existing latent space (--init-from,
// --train decoder), the foreground-weighted L1 (--fg-weight), and `export --vae`, which puts such a
// decoder into a diffusion model file (the way the default model's decoder was re-trained to keep
// hue; assets/default/MODEL_CARD.md).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "tests/helpers.h"
#include "train/clip_source.h"
#include "train/vae_trainer.h"
#include "vae3d/lvdm_autoencoder3d.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

LvdmAutoencoder3D small_ae() {
  torch::manual_seed(21);
  LvdmAe3dConfig a;
  a.downsample = a.upsample = {2, 4, 4};  // two levels: a fast test
  a.scale_factor = 0.7;
  a.shift_factor = -0.2;
  return LvdmAutoencoder3D(a);
}

VaeTrainOptions opts(double fg_weight, bool decoder_only) {
  VaeTrainOptions o;
  o.lr = 1e-3;
  o.batch_size = 2;
  o.seed = 4;
  o.fg_weight = fg_weight;
  o.decoder_only = decoder_only;
  return o;
}

// Two clips: a flat background with one bright square (the foreground: 64 of 1,024 pixels).
at::Tensor square_clips() {
  at::Tensor x = at::full({2, 3, 4, 32, 32}, -0.4);
  x.select(1, 0).slice(2, 8, 16).slice(3, 8, 16).fill_(0.9);
  x.select(1, 2).slice(2, 20, 28).slice(3, 4, 12).fill_(0.8);
  return x;
}

bool same(const StateDict& a, const StateDict& b, const std::string& k) { return a.get(k).equal(b.get(k)); }

}  // namespace

TEST_CASE("train-vae decoder only: the encoder and latent statistics stay, the decoder learns") {
  test::ScratchDir dir("vae-decoder-only");
  TensorClipSource data(square_clips());
  auto src = small_ae();
  StateDict before;
  for (const auto& kv : src->named_parameters()) before.set(kv.key(), kv.value().detach().clone());
  LvdmVaeTrainer t(src, opts(0.0, true), at::kCPU);
  t.set_latent_stats(0.7, -0.2);
  for (int i = 0; i < 2; ++i) t.step(data);
  t.save(dir / "m.safetensors", dir / "s.safetensors");
  StateDict after = load_checkpoint(dir / "m.safetensors");
  int enc = 0, dec_moved = 0;
  for (const auto& k : before.keys()) {
    INFO(k);
    if (k.rfind("encoder.", 0) == 0 || k.rfind("quant_conv.", 0) == 0) {
      ++enc;
      CHECK(same(before, after, k));
    } else if (!same(before, after, k)) {
      ++dec_moved;
    }
  }
  CHECK(enc > 10);
  CHECK(dec_moved > 10);
  auto cfg = LvdmAe3dConfig::from_config(Config::parse_json(after.metadata.at("longvid.config"), "m"));
  CHECK(cfg.scale_factor == doctest::Approx(0.7).epsilon(1e-12));
  CHECK(cfg.shift_factor == doctest::Approx(-0.2).epsilon(1e-12));
  auto j = nlohmann::json::parse(after.metadata.at("longvid.config"));
  CHECK(j["longvid"]["training"]["train"] == "decoder");
}

TEST_CASE("train-vae fg-weight: 0 is the official loss, a weight counts only the foreground pixels more") {
  TensorClipSource data(square_clips());
  auto step_of = [&](double w) {
    LvdmVaeTrainer t(small_ae(), opts(w, false), at::kCPU);
    return t.step(data);
  };
  auto plain = step_of(0.0), weighted = step_of(4.0);
  CHECK(plain.rec_loss == weighted.rec_loss);  // reported L1 is unweighted, same start
  // loss = sum over pixels / frames; the extra term is 4 x the L1 of the 64 square pixels of each
  // of the 8 frames: more than nothing, less than 4 x the whole sum.
  CHECK(weighted.loss > plain.loss * 1.001);
  CHECK(weighted.loss < plain.loss * 5.0);
  VaeTrainOptions bad = opts(-1.0, false);
  CHECK_THROWS_WITH_AS(LvdmVaeTrainer(small_ae(), bad, at::kCPU), doctest::Contains("--fg-weight -1"), Error);
}

TEST_CASE("train-vae --init-from --train decoder and export --vae through the CLI") {
  test::ScratchDir dir("vae-export-decoder");
  auto s = test::run_cli({"synth", "-o", (dir / "data").string(), "--videos", "2", "--frames", "8", "--size", "32",
                          "--seed", "3", "--format", "y4m"});
  REQUIRE(s.exit_code == 0);
  // A tiny diffusion model on a random AE: its first_stage_model.* is the AE to keep.
  auto tr = test::run_cli({"train", "--data", (dir / "data").string(), "--ae", "random", "-o", (dir / "run").string(),
                           "--frames", "8", "--size", "32", "--steps", "1", "--batch", "2", "--seed", "1"});
  INFO(tr.err);
  REQUIRE(tr.exit_code == 0);
  const auto model = (dir / "run" / "model.safetensors").string();
  auto vae = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a{"train-vae", "--data", (dir / "data").string(), "-o", (dir / out).string(), "--frames",
                               "4", "--size", "32", "--steps", "2", "--lr", "1e-3", "--latent-stats", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_cli(a);
  };
  auto d = vae("dec", {"--init-from", model, "--train", "decoder", "--fg-weight", "5"});
  INFO(d.err);
  REQUIRE(d.exit_code == 0);
  StateDict m = load_checkpoint(model), ae = load_checkpoint(dir / "dec" / "model.safetensors");
  int enc = 0, dec_moved = 0;
  for (const auto& k : ae.keys()) {
    if (k.rfind("loss.", 0) == 0) continue;
    const at::Tensor& src = m.get("first_stage_model." + k);
    if (k.rfind("encoder.", 0) == 0 || k.rfind("quant_conv.", 0) == 0) {
      ++enc;
      CHECK(ae.get(k).equal(src));
    } else {
      dec_moved += !ae.get(k).equal(src);
    }
  }
  CHECK(enc > 10);
  CHECK(dec_moved > 10);
  auto c_src = LvdmAe3dConfig::from_config(Config::parse_json(m.metadata.at("longvid.config"), "m"));
  auto c_dec = LvdmAe3dConfig::from_config(Config::parse_json(ae.metadata.at("longvid.config"), "d"));
  CHECK(c_dec.scale_factor == c_src.scale_factor);  // the latent statistics are the model's
  CHECK(c_dec.shift_factor == c_src.shift_factor);
  CHECK(c_dec.stream_window == c_src.stream_window);

  // --resume with the other --train is refused (the frozen encoder would start moving); nothing changes.
  const auto dec_before = fs::last_write_time(dir / "dec" / "model.safetensors");
  auto rs = vae("dec", {"--init-from", model, "--train", "all", "--resume"});
  CHECK(rs.exit_code == 1);
  CHECK(rs.err.find("--train decoder") != std::string::npos);
  CHECK(test::count_lines(rs.err) <= 2);
  CHECK(fs::last_write_time(dir / "dec" / "model.safetensors") == dec_before);

  // export --vae: the model's decoder is replaced, its encoder and U-Net kept.
  auto e = test::run_cli({"export", model, "--weights", "raw", "--dtype", "fp32", "--vae",
                          (dir / "dec" / "model.safetensors").string(), "-o", (dir / "out.safetensors").string()});
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  StateDict out = load_checkpoint(dir / "out.safetensors");
  CHECK(out.get("first_stage_model.decoder.conv_out.conv.weight").equal(ae.get("decoder.conv_out.conv.weight")));
  CHECK(out.get("first_stage_model.encoder.conv_first.conv.weight").equal(m.get("first_stage_model.encoder.conv_first.conv.weight")));
  for (const auto& k : out.keys())
    if (k.rfind("model.diffusion_model.", 0) == 0) CHECK(out.get(k).equal(m.get(k)));
  // The export record names where the decoder came from.
  CHECK(out.metadata.at("longvid.export").find("dec/model.safetensors") != std::string::npos);

  // An AE with another encoder (another latent space) is refused with one line, nothing written.
  auto other = vae("other", {"--n-hiddens", "32", "--downsample", "4,8,8", "--seed", "9"});
  REQUIRE(other.exit_code == 0);
  auto bad = test::run_cli({"export", model, "--weights", "raw", "--vae", (dir / "other" / "model.safetensors").string(),
                            "-o", (dir / "bad.safetensors").string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("encoder differs") != std::string::npos);
  CHECK(test::count_lines(bad.err) <= 2);
  CHECK_FALSE(fs::exists(dir / "bad.safetensors"));

  // Bad options: one line each, no run folder.
  for (auto extra : std::vector<std::vector<std::string>>{{"--train", "decoder"},
                                                          {"--train", "encoder", "--init-from", model},
                                                          {"--init-from", model, "--n-hiddens", "64"},
                                                          {"--fg-weight", "-2"},
                                                          {"--init-from", (dir / "missing.safetensors").string()}}) {
    auto r = vae("refused", extra);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(test::count_lines(r.err) <= 2);
    CHECK_FALSE(fs::exists(dir / "refused" / "model.safetensors"));
  }
}
