// longvid inspect FILE [--json] [--select NAME] [--sums]: what a checkpoint holds.
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "pipeline/model_registry.h"
#include "tools/cli.h"

namespace longvid {
namespace {

std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

nlohmann::ordered_json entry_json(const CheckpointEntry& e) {
  nlohmann::ordered_json j;
  j["name"] = e.name;
  j["type"] = e.type;
  if (e.type == "int") j["value"] = std::stoll(e.value);
  else if (e.type == "float") j["value"] = std::stod(e.value);
  else if (e.type == "bool") j["value"] = e.value == "True";
  else if (e.type == "str" && e.value.size() >= 2) j["value"] = e.value.substr(1, e.value.size() - 2);
  else if (!e.value.empty()) j["value"] = e.value;
  if (e.entries >= 0) j["entries"] = e.entries;
  if (e.tensors >= 0) j["tensors"] = e.tensors;
  return j;
}

double weighted_sum(const at::Tensor& t) {
  auto d = t.detach().to(at::kDouble).flatten();
  return (d * torch::arange(d.numel(), d.options())).sum().item<double>();
}

int run_inspect(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Lists the tensors of a checkpoint (safetensors, torch .ckpt/.pt) and its layout.");
  o.add_options()
      ("file", "checkpoint file", cxxopts::value<std::string>())
      ("json", "machine-readable JSON on stdout", cxxopts::value<bool>()->default_value("false"))
      ("select", "sub-dict of a pickled checkpoint: auto (state_dict, ema, model, root), root, or a name",
       cxxopts::value<std::string>()->default_value("auto"))
      ("sums", "also print each tensor's float64 sum and index-weighted sum", cxxopts::value<bool>()->default_value("false"))
      ("h,help", "this help");
  o.parse_positional({"file"});
  o.positional_help("FILE");
  auto args = o.parse(argc, argv);
  if (args.count("help")) {
    std::cout << o.help() << "\n";
    return cli::kExitOk;
  }
  if (!args.count("file")) throw cxxopts::exceptions::invalid_option_format("missing FILE");
  if (const std::filesystem::path dir = args["file"].as<std::string>(); std::filesystem::is_directory(dir)) {
    // A pipeline folder (diffusers): which family loads it, and where its weights are.
    for (const auto& f : model_families())
      if (f.detect_folder && f.detect_folder(dir)) {
        std::cout << dir.string() << ": a model folder of family " << f.id << " (" << f.description
                  << "); inspect its files, e.g. " << (dir / "transformer").string() << "/\n";
        return cli::kExitOk;
      }
    fail("{}: a directory, not a checkpoint file (and no model folder longvid knows)", dir.string());
  }
  LoadOptions lo;
  lo.select = args["select"].as<std::string>();
  StateDict sd = load_checkpoint(args["file"].as<std::string>(), lo);
  const auto found = detect_layout(sd);
  const std::string& layout = found.layout;
  const std::string description = found.family ? found.description : "unknown layout";
  const std::string family = found.family ? found.family->id : "unknown";
  bool sums = args["sums"].as<bool>();

  if (args["json"].as<bool>()) {
    nlohmann::ordered_json j;
    j["file"] = args["file"].as<std::string>();
    j["format"] = sd.format;
    j["source"] = sd.source;
    j["layout"] = layout;
    j["layout_description"] = description;
    j["family"] = family;
    j["num_tensors"] = sd.size();
    j["num_parameters"] = sd.numel();
    if (!sd.metadata.empty()) j["metadata"] = sd.metadata;
    if (sd.format != "safetensors") {
      j["structure"] = nlohmann::ordered_json::array();
      for (const auto& e : sd.structure) j["structure"].push_back(entry_json(e));
      j["skipped"] = sd.skipped;
    }
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& k : sd.keys()) {
      const auto& t = sd.get(k);
      nlohmann::ordered_json tj;
      tj["name"] = k;
      tj["dtype"] = dtype_name(t.scalar_type());
      tj["shape"] = t.sizes().vec();
      if (sums) {
        tj["sum"] = t.detach().to(at::kDouble).sum().item<double>();
        tj["wsum"] = weighted_sum(t);
      }
      j["tensors"].push_back(tj);
    }
    std::cout << j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    return cli::kExitOk;
  }

  std::printf("file:       %s\n", args["file"].as<std::string>().c_str());
  std::printf("format:     %s\n", sd.format.c_str());
  if (sd.format != "safetensors") std::printf("selected:   %s\n", sd.source.c_str());
  std::printf("layout:     %s (%s)\n", layout.c_str(), description.c_str());
  std::printf("family:     %s\n", family.c_str());
  std::printf("tensors:    %zu\n", sd.size());
  std::printf("parameters: %lld (%.2fM)\n", static_cast<long long>(sd.numel()), sd.numel() / 1e6);
  if (!sd.metadata.empty()) {
    std::printf("metadata:\n");
    for (const auto& [k, v] : sd.metadata) std::printf("  %s: %s\n", k.c_str(), v.c_str());
  }
  if (!sd.structure.empty()) {
    std::printf("top level:\n");
    for (const auto& e : sd.structure) {
      std::string d = e.type;
      if (!e.value.empty()) d += " " + e.value;
      if (e.entries >= 0) d += fmt::format(" ({} entries{})", e.entries, e.tensors > 0 ? fmt::format(", {} tensors", e.tensors) : "");
      std::printf("  %-28s %s%s\n", e.name.c_str(), d.c_str(), e.name == sd.source ? "   <- selected" : "");
    }
  }
  if (!sd.skipped.empty())
    std::printf("skipped non-tensor entries: %s\n", fmt::format("{}", fmt::join(sd.skipped, ", ")).c_str());
  std::printf("\n");
  for (const auto& k : sd.keys()) {
    const auto& t = sd.get(k);
    std::string line = fmt::format("{:<60} {:<9} {}", k, dtype_name(t.scalar_type()), shape_str(t.sizes()));
    if (sums) line += fmt::format("  sum={:.9g} wsum={:.9g}", t.detach().to(at::kDouble).sum().item<double>(), weighted_sum(t));
    std::printf("%s\n", line.c_str());
  }
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("inspect", "list a checkpoint's tensors, structure and layout", longvid::run_inspect);
