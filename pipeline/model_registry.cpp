#include "pipeline/model_registry.h"

#include "backbones/ifnet.h"
#include "backbones/nn_blocks.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "vae3d/video_autoencoder.h"
#include "pipeline/latte_family.h"
#include "pipeline/latte_t2v_family.h"
#include "pipeline/lvdm_family.h"

namespace longvid {

bool use_weight_arena(const PipelineLoadOptions& opts) { return opts.autocast || !nn::is_reduced_float(opts.dtype); }

int64_t apply_precision(torch::nn::Module& denoiser, const PipelineLoadOptions& opts) {
  if (opts.autocast) return 0;
  return nn::cast_for_inference(denoiser, opts.dtype);
}

void set_precision(VideoPipeline& p, const PipelineLoadOptions& opts) {
  p.dtype = opts.dtype;
  p.autocast = opts.autocast && nn::is_reduced_float(opts.dtype);
  if (p.autoencoder) p.autoencoder->set_compute_dtype(opts.vae_dtype);
}

namespace {

// Bare video autoencoders (vae3d/): `longvid vae` loads them; they make no pipeline on their own.
ModelFamily autoencoder_family() {
  ModelFamily f;
  f.id = "autoencoder";
  f.description = "video autoencoders: LVDM 3D AE, Stable Diffusion / diffusers AutoencoderKL (per frame)";
  f.detect = [](const StateDict& sd) -> std::string {
    if (!(sd.has_prefix("encoder.") && sd.has_prefix("decoder.") && sd.has_prefix("quant_conv.") &&
          sd.has_prefix("post_quant_conv.")))
      return "";
    if (sd.has_prefix("encoder.down_blocks.") || sd.has_prefix("decoder.up_blocks.")) return "diffusers-autoencoder-kl";
    auto ndim = [&](const std::string& k) { return sd.contains(k) ? sd.get(k).dim() : int64_t{-1}; };
    int64_t d = ndim("quant_conv.weight");
    if (d < 0) d = ndim("quant_conv.conv.weight");
    if (d == 5) return "lvdm-ae3d";
    if (d == 4) return "sd-autoencoder-kl";
    return "";
  };
  f.describe = [](const StateDict& sd, const std::string& layout) -> std::string {
    if (layout == "lvdm-ae3d")
      return std::string("LVDM 3D autoencoder (encoder.*, decoder.*, quant_conv, post_quant_conv") +
             (sd.has_prefix("loss.") ? ", loss.*)" : ")");
    if (layout == "sd-autoencoder-kl") return "Stable Diffusion AutoencoderKL, original LDM layout (2D, per frame)";
    return "diffusers AutoencoderKL (2D, per frame)";
  };
  return f;
}

// RIFE's IFNet (backbones/ifnet.h): `longvid interpolate` and `generate --rife-multi` load it; no pipeline.
ModelFamily rife_family() {
  ModelFamily f;
  f.id = "rife";
  f.description = "RIFE frame interpolation: IFNet 4.0 - 4.26 (Practical-RIFE flownet.pkl)";
  f.detect = [](const StateDict& sd) -> std::string {
    const bool plain = sd.contains("block0.conv0.0.0.weight"), ddp = sd.contains("module.block0.conv0.0.0.weight");
    return plain || ddp ? "rife-ifnet" : "";
  };
  f.describe = [](const StateDict& sd, const std::string&) -> std::string {
    const bool ddp = sd.has_prefix("module.");
    try {
      IFNetConfig c = ifnet_config_from_state_dict(ddp ? sd.select_prefix("module.") : sd);
      return "RIFE IFNet " + c.version + " (" + std::to_string(c.num_blocks()) + " flow blocks, pads to " +
             std::to_string(c.modulo) + (ddp ? "; DDP module. prefix)" : ")");
    } catch (const Error& e) {
      return std::string("RIFE IFNet-like tensors, but: ") + e.what();
    }
  };
  return f;
}

// A config of another family than the checkpoint's: one line naming both (and a tensor with its shape).
void check_config_family(const std::filesystem::path& config, const ModelFamily& family, const StateDict& sd,
                         const std::filesystem::path& checkpoint) {
  const std::string text = read_text_file(config, "config");
  if (!family.is_config || family.is_config(text)) return;
  for (const auto& other : model_families())
    if (&other != &family && other.is_config && other.is_config(text)) {
      const std::string key = sd.empty() ? std::string() : sd.keys().front();
      fail("{}: a {} config, but {} holds a {} checkpoint (e.g. '{}' {}): give the matching config", config.string(),
           other.id, checkpoint.string(), family.id, key,
           key.empty() ? std::string() : fmt::format("[{}]", fmt::join(sd.get(key).sizes(), ", ")));
    }
}

}  // namespace

std::string checkpoint_file_id(const std::filesystem::path& p) {
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  return fmt::format("{}:{}", std::filesystem::absolute(p).string(), ec ? 0 : size);
}

const std::vector<ModelFamily>& model_families() {
  // One line per family; detection tries them in this order.
  static const std::vector<ModelFamily> families = {
      lvdm_family(),
      latte_family(),
      latte_t2v_family(),
      autoencoder_family(),
      rife_family(),
  };
  return families;
}

DetectedLayout detect_layout(const StateDict& sd) {
  for (const auto& f : model_families()) {
    std::string layout = f.detect(sd);
    if (!layout.empty()) return {&f, layout, f.describe(sd, layout)};
  }
  return {};
}

VideoPipeline random_pipeline_from_config(const std::filesystem::path& config_path, uint64_t seed,
                                          const PipelineLoadOptions& opts) {
  const std::string text = read_text_file(config_path, "config");
  for (const auto& f : model_families())
    if (f.is_config && f.random && f.is_config(text)) return f.random(text, config_path.string(), seed, opts);
  fail("{}: not a config of a model family longvid can build (LVDM: model.params.unet_config; Latte: model: Latte-...)",
       config_path.string());
}

VideoPipeline load_pipeline(const ModelSource& src, const PipelineLoadOptions& opts) {
  if (src.checkpoint.empty()) fail("no model checkpoint given");
  if (src.interp_checkpoint.empty() && !src.interp_config.empty())
    fail("--interp-config given without --interp-model");
  if (std::filesystem::is_directory(src.checkpoint)) {
    for (const auto& f : model_families())
      if (f.detect_folder && f.detect_folder(src.checkpoint)) {
        if (!src.interp_checkpoint.empty()) fail("--interp-model: {} models take none", f.id);
        return f.load_folder(src, opts);
      }
  }
  StateDict sd = load_checkpoint(src.checkpoint);
  auto found = detect_layout(sd);
  if (!found.family)
    fail_hint("longvid knows LVDM and Latte checkpoints (`longvid inspect FILE` shows what a file holds)",
              "{}: no known model family in its {} tensors (e.g. '{}')", src.checkpoint.string(), sd.size(),
              sd.empty() ? std::string() : sd.keys().front());
  if (!found.family->load)
    fail("{}: a {} ({}) cannot generate on its own{}", src.checkpoint.string(), found.description,
         found.family->id,
         found.family->id == "autoencoder" ? ": it is an autoencoder, use `longvid vae`"
         : found.family->id == "rife"      ? ": it interpolates frames, use `longvid interpolate` or `generate --rife-multi`"
                                           : ": not supported yet");
  if (!src.config.empty()) check_config_family(src.config, *found.family, sd, src.checkpoint);
  VideoPipeline pipe = found.family->load(sd, src, opts);
  if (!src.interp_checkpoint.empty()) {
    StateDict isd = load_checkpoint(src.interp_checkpoint);
    auto ifound = detect_layout(isd);
    if (ifound.family != found.family)
      fail("{}: the interpolation model is a {}, the prediction model a {}: both must be of one family",
           src.interp_checkpoint.string(), ifound.family ? ifound.family->id : std::string("unknown checkpoint"),
           found.family->id);
    if (!found.family->attach_interpolation)
      fail("{}: {} models take no separate interpolation model", src.interp_checkpoint.string(), found.family->id);
    found.family->attach_interpolation(pipe, isd, src, opts);
  }
  return pipe;
}

}  // namespace longvid
