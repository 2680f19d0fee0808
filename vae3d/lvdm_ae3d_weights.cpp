// The LVDM 3D autoencoder's checkpoints: SamePadConv3d alias resolution, the AE's prefix inside
// diffusion checkpoints, strict loading, and the config inferred from the tensors' shapes
// (lvdm/models/autoencoder3d.py's state dict; declared in vae3d/lvdm_autoencoder3d.h).
#include <fmt/format.h>

#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

std::vector<std::pair<std::string, torch::Tensor>> resolve_samepad_aliases(
    const torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& entries,
    const std::string& source) {
  std::set<std::string> params;
  for (const auto& p : module.named_parameters(true)) params.insert(p.key());
  std::unordered_map<std::string, size_t> present;
  for (size_t i = 0; i < entries.size(); ++i) present.emplace(entries[i].first, i);

  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(entries.size());
  for (const auto& [name, t] : entries) {
    const std::string suffix = ".weight";
    bool is_alias = false;
    std::string target;
    if (!params.count(name) && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      target = name.substr(0, name.size() - suffix.size()) + ".conv.weight";
      is_alias = params.count(target) > 0;
    }
    if (!is_alias) {
      out.emplace_back(name, t);
      continue;
    }
    auto it = present.find(target);
    if (it == present.end()) {
      out.emplace_back(target, t);  // a lone alias: load it into the conv
      continue;
    }
    const auto& twin = entries[it->second].second;
    if (twin.sizes() != t.sizes() || !torch::equal(twin, t.to(twin.scalar_type())))
      fail("{}: '{}' and '{}' differ, but both name the same SamePadConv3d weight in the official model", source, name,
           target);
    // A duplicate of `target`: dropped.
  }
  return out;
}

StateDict resolve_samepad_aliases(const torch::nn::Module& module, const StateDict& sd, const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  for (const auto& k : sd.keys())
    if (k.compare(0, prefix.size(), prefix) == 0) entries.emplace_back(k.substr(prefix.size()), sd.get(k));
  std::string source = sd.path.empty() ? std::string("state dict") : sd.path.string();
  StateDict out;
  out.metadata = sd.metadata;
  out.format = sd.format;
  out.source = sd.source;
  out.path = sd.path;
  for (auto& [k, t] : resolve_samepad_aliases(module, entries, source)) out.set(k, t);
  return out;
}

std::string lvdm_ae3d_prefix(const StateDict& sd) {
  for (const auto& k : sd.keys())
    if (k.rfind("first_stage_model.", 0) == 0) return "first_stage_model.";
  return "";
}

void load_lvdm_ae3d(LvdmAutoencoder3DImpl& ae, const StateDict& sd) {
  auto resolved = resolve_samepad_aliases(ae, sd, lvdm_ae3d_prefix(sd));
  LoadIntoOptions opts;
  opts.strict = true;
  opts.ignore = {"loss.*"};  // LPIPS + discriminator of the AE's training loss
  load_into(ae, resolved, opts);
}

LvdmAutoencoder3D load_lvdm_ae3d_file(const std::string& path, const std::string& config_path) {
  require_readable_file(path, "autoencoder checkpoint");
  StateDict sd = load_checkpoint(path);
  LvdmAe3dConfig cfg;
  if (!config_path.empty())
    cfg = LvdmAe3dConfig::from_config(Config::load(config_path));
  else if (sd.metadata.count(kConfigMetadataKey))
    cfg = LvdmAe3dConfig::from_config(Config::parse_json(sd.metadata.at(kConfigMetadataKey), path));
  else
    cfg = LvdmAe3dConfig::infer(sd, lvdm_ae3d_prefix(sd));
  cfg.validate(path);
  LvdmAutoencoder3D ae(cfg);
  load_lvdm_ae3d(*ae, sd);
  return ae;
}

LvdmAe3dConfig LvdmAe3dConfig::infer(const StateDict& sd, const std::string& prefix) {
  std::string src = sd.path.empty() ? std::string("state dict") : sd.path.string();
  auto shape = [&](const std::string& name) -> std::vector<int64_t> {
    for (const auto& n : {prefix + name + ".conv.weight", prefix + name + ".weight"})
      if (sd.contains(n)) return sd.get(n).sizes().vec();
    fail("{}: no '{}{}.conv.weight': not an LVDM 3D autoencoder (prefix '{}')", src, prefix, name, prefix);
  };
  LvdmAe3dConfig c;
  auto first = shape("encoder.conv_first");
  c.n_hiddens = first[0];
  c.image_channel = first[1];
  auto quant = shape("quant_conv");
  c.embed_dim = quant[0] / 2;
  c.z_channels = quant[1] / 2;
  auto out = shape("decoder.conv_out");
  int enc_levels = 0, dec_levels = 0;
  while (sd.contains(fmt::format("{}encoder.conv_blocks.{}.down.conv.weight", prefix, enc_levels)) ||
         sd.contains(fmt::format("{}encoder.conv_blocks.{}.down.weight", prefix, enc_levels)))
    ++enc_levels;
  while (sd.contains(fmt::format("{}decoder.conv_blocks.{}.up.convt.weight", prefix, dec_levels))) ++dec_levels;
  if (enc_levels != 3 || dec_levels != 3)
    fail_hint("pass the model's YAML config (configs/videoae/*.yaml or the LVDM config)",
              "{}: the LVDM 3D autoencoder has {} encoder / {} decoder levels; the per-dim strides are not stored in "
              "the weights and only the official 3-level [4, 8, 8] layout is assumed",
              src, enc_levels, dec_levels);
  c.downsample = c.upsample = {4, 8, 8};
  c.decoder_n_hiddens = out[1] / 2;  // conv_out input = decoder_n_hiddens * 2
  c.validate(src);
  return c;
}

}  // namespace longvid
