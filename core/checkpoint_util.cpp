// load_into (state dict -> module) and checkpoint layout detection.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <map>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"

namespace longvid {

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative '*' / '?' matcher with backtracking to the last star.
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string summarise(const std::vector<std::string>& items, size_t limit = 20) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += fmt::format(", ... and {} more", items.size() - limit);
  return out;
}

}  // namespace

void load_into(torch::nn::Module& module, const StateDict& sd, const LoadIntoOptions& opts) {
  auto ignored = [&](const std::string& n) {
    for (const auto& g : opts.ignore)
      if (glob_match(g, n)) return true;
    return false;
  };
  // The module's entries (parameters, then buffers), by name.
  std::vector<std::string> model_names;
  std::unordered_map<std::string, at::Tensor> model;
  for (const auto& p : module.named_parameters(true)) {
    model_names.push_back(p.key());
    model[p.key()] = p.value();
  }
  for (const auto& b : module.named_buffers(true)) {
    if (model.count(b.key())) continue;
    model_names.push_back(b.key());
    model[b.key()] = b.value();
  }

  std::vector<std::string> unexpected, misshaped, missing;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (dst, src)
  std::unordered_map<std::string, std::string> loaded;    // model name -> checkpoint name
  for (const auto& key : sd.keys()) {
    if (key.compare(0, opts.prefix.size(), opts.prefix) != 0) continue;
    const std::string stripped = key.substr(opts.prefix.size());
    std::string name = stripped;
    for (const auto& [from, to] : opts.rename)
      if (name.compare(0, from.size(), from) == 0) {
        name = to + name.substr(from.size());
        break;
      }
    if (opts.map_name) {
      auto m = opts.map_name(name);
      if (!m) continue;
      name = *m;
    }
    if (ignored(name)) continue;
    auto it = model.find(name);
    const at::Tensor& src = sd.get(key);
    if (it == model.end()) {
      unexpected.push_back(name == stripped ? name : fmt::format("{} (from {})", name, stripped));
      continue;
    }
    auto prev = loaded.find(name);
    if (prev != loaded.end())
      fail("{}: '{}' and '{}' both map to the model's '{}'", sd.path.empty() ? "load_into" : sd.path.string(),
           prev->second, key, name);
    loaded[name] = key;
    if (!it->second.sizes().equals(src.sizes())) {
      misshaped.push_back(fmt::format("{} (checkpoint {} vs model {})", name, shape_str(src.sizes()),
                                      shape_str(it->second.sizes())));
      continue;
    }
    copies.emplace_back(it->second, src);
  }
  for (const auto& n : model_names)
    if (!loaded.count(n) && !ignored(n)) missing.push_back(n);

  bool problem = !misshaped.empty() || (opts.strict && (!missing.empty() || !unexpected.empty()));
  if (problem) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back(fmt::format("{} missing: {}", missing.size(), summarise(missing)));
    if (!unexpected.empty())
      parts.push_back(fmt::format("{} unexpected: {}", unexpected.size(), summarise(unexpected)));
    if (!misshaped.empty()) parts.push_back(fmt::format("{} mis-shaped: {}", misshaped.size(), summarise(misshaped)));
    std::string where = sd.path.empty() ? std::string("state dict") : sd.path.string();
    if (!opts.prefix.empty()) where += " (prefix '" + opts.prefix + "')";
    throw Error(fmt::format("{}: does not match the model: {}", where, fmt::join(parts, "; ")),
                "check the model configuration, or the prefix / name map used to load it");
  }
  if (!missing.empty()) spdlog::warn("load_into: {} model entries not in the checkpoint: {}", missing.size(), summarise(missing, 5));
  if (!unexpected.empty())
    spdlog::warn("load_into: {} checkpoint entries not used: {}", unexpected.size(), summarise(unexpected, 5));
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) {
    if (opts.share_memory && src.scalar_type() == dst.scalar_type() && src.device() == dst.device() &&
        src.sizes() == dst.sizes() && src.is_contiguous())
      dst.set_data(src);
    else
      dst.copy_(src);
  }
}

StateDict with_dotless_ema(const StateDict& sd, const std::string& model_prefix, const std::string& ema_prefix,
                           size_t* replaced) {
  StateDict out;
  out.metadata = sd.metadata;
  out.format = sd.format;
  out.path = sd.path;
  out.structure = sd.structure;
  out.skipped = sd.skipped;
  size_t n = 0;
  for (const auto& k : sd.keys()) {
    const at::Tensor* v = &sd.get(k);
    if (k.compare(0, model_prefix.size(), model_prefix) == 0) {
      std::string dotless = ema_prefix;
      for (char c : k.substr(model_prefix.size()))
        if (c != '.') dotless += c;
      if (sd.contains(dotless)) {
        const at::Tensor& e = sd.get(dotless);
        if (!e.sizes().equals(v->sizes()))
          fail("{}: EMA tensor '{}' has shape [{}] but '{}' has [{}]", sd.path.empty() ? "state dict" : sd.path.string(),
               dotless, fmt::join(e.sizes(), ", "), k, fmt::join(v->sizes(), ", "));
        v = &e;
        ++n;
      }
    }
    out.set(k, *v);
  }
  out.source = sd.source + (n ? "+" + ema_prefix.substr(0, ema_prefix.size() - (ema_prefix.empty() ? 0 : 1)) : "");
  if (replaced) *replaced = n;
  return out;
}

WeightsChoice parse_weights_choice(const std::string& s) {
  if (s == "raw") return WeightsChoice::Raw;
  if (s == "ema") return WeightsChoice::Ema;
  if (s == "auto") return WeightsChoice::Auto;
  fail("--weights {}: choose raw, ema or auto (auto: what the model's own sampling scripts use; LVDM: EMA for "
       "long-video models, raw for short clips)", s);
}

const char* to_string(WeightsChoice w) {
  switch (w) {
    case WeightsChoice::Raw: return "raw";
    case WeightsChoice::Ema: return "EMA";
    case WeightsChoice::Auto: return "auto";
  }
  return "?";
}

bool StateDict::has_prefix(const std::string& prefix) const {
  for (const auto& k : keys_)
    if (k.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

StateDict load_sharded_safetensors(const std::filesystem::path& index_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(index_json, "sharded checkpoint index"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a JSON index: {}", index_json.string(), e.what());
  }
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    fail("{}: not a sharded checkpoint index (no \"weight_map\" object)", index_json.string());
  const auto dir = index_json.parent_path();
  std::map<std::string, StateDict> shards;
  StateDict out;
  out.format = "safetensors";
  out.path = index_json;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail("{}: weight_map['{}'] is not a file name", index_json.string(), it.key());
    const std::string file = it.value().get<std::string>();
    auto s = shards.find(file);
    if (s == shards.end()) {
      const auto path = dir / file;
      if (!std::filesystem::exists(path))
        fail("{}: shard '{}' (holding '{}') is missing", index_json.string(), path.string(), it.key());
      s = shards.emplace(file, load_checkpoint(path)).first;
      for (const auto& [k, v] : s->second.metadata) out.metadata.emplace(k, v);
    }
    if (!s->second.contains(it.key()))
      fail("{}: '{}' is not in its shard {} (the index and the shards disagree)", index_json.string(), it.key(), file);
    out.set(it.key(), s->second.get(it.key()));
  }
  return out;
}

}  // namespace longvid
