// longvid export RUN/model.safetensors -o MODEL.safetensors [--weights ema|raw] [--dtype fp16|bf16|fp32]
// A deployable model from a `longvid train` run: the chosen U-Net weights (EMA or raw) under
// model.diffusion_model.*, the frozen autoencoder under first_stage_model.* (no training-only
// tensors: optimizer, EMA bookkeeping, discriminator, logvar), cast to the chosen float type, the
// run's config metadata kept (so `generate --model MODEL.safetensors` needs no config). This is
// how assets/default/model.safetensors is made (assets/default/MODEL_CARD.md).
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "tools/cli.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {
namespace {

std::string without_dots(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '.'), s.end());
  return s;
}

// --vae: the model's first_stage_model.* replaced by FILE's autoencoder (train-vae layout, or another
// model's first_stage_model.*). The diffusion model was trained on its AE's latents, so the new one
// must have the same tensor names and shapes and the very same encoder and quant_conv (compared in
// the output dtype); only the decoder may differ.
void replace_autoencoder(StateDict& outsd, const std::string& file, at::ScalarType dt) {
  require_readable_file(file, "--vae autoencoder");
  StateDict vsd = load_checkpoint(file);
  const std::string vp = lvdm_ae3d_prefix(vsd);  // "first_stage_model." in a model file, "" in an AE file
  const std::string p = "first_stage_model.";
  int64_t replaced = 0;
  for (const auto& k : outsd.keys()) {
    if (k.rfind(p, 0) != 0) continue;
    const std::string name = k.substr(p.size());
    if (!vsd.contains(vp + name)) fail("--vae {}: no '{}' (not the same autoencoder architecture)", file, vp + name);
    at::Tensor t = vsd.get(vp + name).to(dt).contiguous();
    const at::Tensor& old = outsd.get(k);
    if (t.sizes() != old.sizes())
      fail("--vae {}: '{}' is {} where the model's is {} (not the same autoencoder architecture)", file, name,
           c10::str(t.sizes()), c10::str(old.sizes()));
    if ((name.rfind("encoder.", 0) == 0 || name.rfind("quant_conv.", 0) == 0) && !at::equal(t, old))
      fail("--vae {}: its encoder differs from the model's ('{}'): its latents are not the ones the model was "
           "trained on (fine-tune with `train-vae --init-from MODEL --train decoder`)", file, name);
    outsd.set(k, t);
    ++replaced;
  }
  spdlog::info("export: autoencoder decoder from {} ({} tensors)", file, replaced);
}

int run_export(int argc, char** argv) {
  cxxopts::Options o("longvid export", "Write a deployable model file from a `longvid train` run's model.safetensors.");
  o.add_options()
      ("input", "the run's model.safetensors (or the run folder)", cxxopts::value<std::string>())
      ("o,output", "output .safetensors", cxxopts::value<std::string>()->default_value(""))
      ("weights", "ema | raw", cxxopts::value<std::string>()->default_value("ema"))
      ("dtype", "fp16 | bf16 | fp32", cxxopts::value<std::string>()->default_value("fp16"))
      ("no-autoencoder", "leave the frozen autoencoder out (models trained on one AE share it: load with --vae)")
      ("vae", "take the autoencoder from this file instead (same encoder, so the same latents: e.g. `train-vae --init-from MODEL --train decoder`)", cxxopts::value<std::string>()->default_value(""))
      ("cfg-scale", "text models: the classifier-free guidance scale `generate` uses by default, stored in the config (model.params.unconditional_guidance_scale)", cxxopts::value<double>())
      ("h,help", "this help");
  o.parse_positional({"input"});
  o.positional_help("RUN/model.safetensors");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());
  if (!a.count("input")) fail("export: no input model given");
  std::filesystem::path in = a["input"].as<std::string>();
  if (std::filesystem::is_directory(in)) in /= "model.safetensors";
  std::filesystem::path out = a["output"].as<std::string>();
  if (out.empty()) fail("export: -o OUTPUT is required");
  if (std::filesystem::exists(out) && std::filesystem::equivalent(out, in))
    fail("-o {}: the output must not be the input", out.string());
  const std::string weights = a["weights"].as<std::string>(), dtype = a["dtype"].as<std::string>();
  if (weights != "ema" && weights != "raw") fail("--weights {}: must be ema or raw", weights);
  at::ScalarType dt = dtype == "fp16" ? at::kHalf : dtype == "bf16" ? at::kBFloat16 : dtype == "fp32" ? at::kFloat
                                                                                                     : at::kByte;
  if (dt == at::kByte) fail("--dtype {}: must be fp16, bf16 or fp32", dtype);

  require_readable_file(in, "model");
  StateDict sd = load_checkpoint(in);
  if (!sd.metadata.count(kConfigMetadataKey))
    fail("{}: no longvid.config metadata (not a `longvid train` model file)", in.string());
  const std::string raw_prefix = "model.diffusion_model.";
  std::map<std::string, std::string> ema_names;  // "diffusion_model" + name without dots -> key
  for (const auto& k : sd.keys())
    if (k.rfind("model_ema.", 0) == 0) ema_names[k.substr(10)] = k;
  StateDict outsd;
  int64_t unet_n = 0, ae_n = 0;
  for (const auto& k : sd.keys()) {
    if (k.rfind(raw_prefix, 0) != 0) continue;
    std::string src = k;
    if (weights == "ema") {
      auto it = ema_names.find("diffusion_model" + without_dots(k.substr(raw_prefix.size())));
      if (it == ema_names.end())
        fail("{}: --weights ema, but there is no EMA copy of '{}' (trained with --ema 0? use --weights raw)",
             in.string(), k);
      src = it->second;
    }
    outsd.set(k, sd.get(src).to(dt).contiguous());
    unet_n += sd.get(src).numel();
  }
  if (unet_n == 0) fail("{}: no model.diffusion_model.* tensors", in.string());
  // A text model's encoder (trained jointly: cond_stage_model.*), its EMA copy when --weights ema.
  int64_t text_n = 0;
  for (const auto& k : sd.keys()) {
    if (k.rfind("cond_stage_model.", 0) != 0) continue;
    std::string src = k;
    if (weights == "ema") {
      auto it = ema_names.find(without_dots(k));
      if (it == ema_names.end()) fail("{}: --weights ema, but there is no EMA copy of '{}'", in.string(), k);
      src = it->second;
    }
    outsd.set(k, sd.get(src).to(dt).contiguous());
    text_n += sd.get(src).numel();
  }
  for (const auto& k : sd.keys()) {
    if (k.rfind("first_stage_model.", 0) != 0 || k.rfind("first_stage_model.loss.", 0) == 0) continue;
    outsd.set(k, sd.get(k).to(dt).contiguous());
    ae_n += sd.get(k).numel();
  }
  if (ae_n == 0) fail("{}: no first_stage_model.* tensors", in.string());
  if (const std::string vae = a["vae"].as<std::string>(); !vae.empty()) {
    if (a.count("no-autoencoder")) fail("--vae and --no-autoencoder: choose one");
    replace_autoencoder(outsd, vae, dt);
  }
  if (a.count("no-autoencoder")) {
    StateDict kept;
    for (const auto& k : outsd.keys())
      if (k.rfind("first_stage_model.", 0) != 0) kept.set(k, outsd.get(k));
    outsd = std::move(kept);
    ae_n = 0;
  }
  auto meta = sd.metadata;
  if (a.count("cfg-scale")) {
    const double g = a["cfg-scale"].as<double>();
    if (!(g >= 0)) fail("--cfg-scale {}: must be >= 0", g);
    if (text_n == 0) fail("--cfg-scale: the model takes no text to guide");
    auto cfg = nlohmann::json::parse(meta.at(kConfigMetadataKey));
    cfg["model"]["params"]["unconditional_guidance_scale"] = g;
    meta[kConfigMetadataKey] = cfg.dump();
  }
  nlohmann::json ex{{"source", in.string()}, {"weights", weights}, {"dtype", dtype}};
  if (meta.count("longvid.step")) ex["step"] = meta["longvid.step"];
  if (const std::string vae = a["vae"].as<std::string>(); !vae.empty()) ex["vae"] = vae;  // the decoder's source
  meta["longvid.export"] = ex.dump();
  // The tokenizer files of a text model travel next to the model (RUN/tokenizer -> OUT_DIR/tokenizer).
  const auto tok_src = in.parent_path() / "tokenizer", tok_dst = out.parent_path() / "tokenizer";
  if (text_n > 0) {
    if (!std::filesystem::exists(tok_src / "vocab.json"))
      fail("{}: a text model, but its run has no tokenizer/ (vocab.json + merges.txt)", in.string());
    for (const char* f : {"vocab.json", "merges.txt"}) {
      const std::string text = read_text_file(tok_src / f, "tokenizer file");
      if (std::filesystem::exists(tok_dst / f) && read_text_file(tok_dst / f, "tokenizer file") != text)
        fail("{}: holds another tokenizer; export the text model into its own folder", tok_dst.string());
    }
  }
  save_safetensors(out, outsd, meta);
  if (text_n > 0) {
    std::filesystem::create_directories(tok_dst);
    for (const char* f : {"vocab.json", "merges.txt"})
      write_text_atomically(tok_dst / f, read_text_file(tok_src / f, "tokenizer file"));
    spdlog::info("export: text encoder {:.2f}M parameters; tokenizer -> {}", text_n / 1e6, tok_dst.string());
  }
  spdlog::info("export: U-Net {:.2f}M ({} weights) + autoencoder {:.2f}M parameters as {} -> {} ({:.1f} MB)",
               unet_n / 1e6, weights, ae_n / 1e6, dtype, out.string(),
               std::filesystem::file_size(out) / 1e6);
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("export", "a deployable (EMA, fp16) model file from a `longvid train` run", longvid::run_export);
