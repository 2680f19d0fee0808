// Checkpoints: safetensors, torch.save zip archives (.ckpt/.pt since torch 1.6) and legacy torch.save
// pickles, detected by content. Tensors are zero-copy views on a memory mapping of the file.
//
// Pickled checkpoints are read by our own restricted unpickler (core/pickle.h): it builds only
// what a state dict needs and never executes anything; code-executing globals are refused.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace longvid {

// A top-level entry of a pickled checkpoint, for `longvid inspect` (e.g. epoch, global_step,
// state_dict, optimizer_states, hyper_parameters).
struct CheckpointEntry {
  std::string name;
  std::string type;     // "dict", "list", "tuple", "tensor", "int", "float", "bool", "str", "bytes",
                        // "none", "object" (an opaque stub), ...
  std::string value;    // scalars: Python-style literal; objects: class name; containers: empty
  int64_t entries = -1; // containers: number of items; else -1
  int64_t tensors = -1; // dicts: number of tensor values; else -1
};

// An insertion-ordered name -> tensor map.
class StateDict {
 public:
  void set(const std::string& name, at::Tensor t);  // replaces an existing entry in place
  bool contains(const std::string& name) const;
  const at::Tensor& get(const std::string& name) const;  // throws Error naming the missing key
  const std::vector<std::string>& keys() const { return keys_; }
  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  int64_t numel() const;  // total number of parameters
  // Entries whose name starts with `prefix` (with the prefix removed when `strip`).
  StateDict select_prefix(const std::string& prefix, bool strip = true) const;
  bool has_prefix(const std::string& prefix) const;  // some key starts with `prefix`

  std::map<std::string, std::string> metadata;  // safetensors __metadata__ (or empty)
  std::string format;                           // "safetensors" | "torch-zip" | "torch-legacy"
  std::string source;   // which sub-dict was chosen: "state_dict", "ema", "model", "root", ...
  std::filesystem::path path;               // the file it came from (empty if built in memory)
  std::vector<CheckpointEntry> structure;   // pickled checkpoints: the top-level entries
  std::vector<std::string> skipped;         // non-tensor entries of the chosen dict (names)

 private:
  std::vector<std::string> keys_;
  std::vector<at::Tensor> values_;
  std::unordered_map<std::string, size_t> index_;
};

struct LoadOptions {
  // "auto": the state dict inside a pickled checkpoint: `state_dict`, else `ema`, else `model`,
  // else the root. "root": the root dict. Any other name picks that top-level sub-dict; for
  // safetensors it picks the tensors under "<name>." (prefix removed).
  std::string select = "auto";
};

// Detects the format by content (never by extension) and loads. Throws longvid::Error with one
// line naming the file (and the tensor / record / global) when anything is wrong.
StateDict load_checkpoint(const std::filesystem::path& path, const LoadOptions& opts = {});
// A sharded safetensors checkpoint (transformers / diffusers `*.safetensors.index.json`: {"weight_map":
// {name: shard file}}): every shard memory-mapped, merged into one StateDict in the index's order.
// A missing shard or a tensor missing from its shard is one error naming both.
StateDict load_sharded_safetensors(const std::filesystem::path& index_json);

// "safetensors", "torch-zip", "torch-legacy", or "" when the bytes are none of these.
std::string detect_checkpoint_format(const uint8_t* data, size_t size);

// Parse-from-memory entry points (also used by the fuzz targets). `keepalive` owns `data`; the
// returned tensors keep it alive. `name` is used in error messages.
StateDict parse_safetensors(const uint8_t* data, size_t size, const std::string& name,
                            std::shared_ptr<const void> keepalive = nullptr);
StateDict parse_torch_zip(const uint8_t* data, size_t size, const std::string& name,
                          const LoadOptions& opts = {}, std::shared_ptr<const void> keepalive = nullptr);
StateDict parse_torch_legacy(const uint8_t* data, size_t size, const std::string& name,
                             const LoadOptions& opts = {}, std::shared_ptr<const void> keepalive = nullptr);

// Writes a safetensors file atomically (temp file + rename). Tensors are written contiguous, on
// the CPU, in `sd` order. The header's __metadata__ is sd.metadata overridden by `metadata`.
void save_safetensors(const std::filesystem::path& path, const StateDict& sd,
                      const std::map<std::string, std::string>& metadata = {});
// The same bytes in memory.
std::vector<uint8_t> safetensors_bytes(const StateDict& sd,
                                       const std::map<std::string, std::string>& metadata = {});

struct LoadIntoOptions {
  bool strict = true;  // missing or unexpected keys are an error (mis-shaped ones always are)
  // Only checkpoint keys starting with `prefix` are considered; the prefix is removed.
  std::string prefix;
  // Name map, applied after the prefix: the first rule whose `first` is a prefix of the name
  // replaces that prefix with `second` (e.g. {"model_ema.", "ema."}).
  std::vector<std::pair<std::string, std::string>> rename;
  // Custom map, applied after `rename`; std::nullopt drops the key.
  std::function<std::optional<std::string>(const std::string&)> map_name;
  // Glob patterns ('*' any run of characters, '?' one) on the mapped checkpoint names and on the
  // module's names: matching keys are neither loaded nor reported (e.g. "loss.*").
  std::vector<std::string> ignore;
  // Share the checkpoint's memory instead of copying where a tensor already has the module
  // tensor's dtype, device and shape (the parameter then views the file's memory mapping: a model
  // loads without a second copy, and only the pages it reads become resident).
  bool share_memory = false;
};

// Copies the checkpoint tensors into the module's parameters and buffers (NoGradGuard; dtype and
// device are converted to the module's). Problems are reported in ONE longvid::Error listing
// every missing, unexpected and mis-shaped key (with both shapes).
void load_into(torch::nn::Module& module, const StateDict& sd, const LoadIntoOptions& opts = {});

// EMA weights stored LitEma-style (LVDM, latent-diffusion): each trainable tensor `model_prefix`+N
// has an EMA copy under `ema_prefix` + N with the dots removed (`model.diffusion_model.input_blocks.0.0.weight`
// -> `model_ema.diffusion_modelinput_blocks00weight`). Returns a copy of `sd` in which those tensors
// are replaced by their EMA values (other entries unchanged; `replaced` gets the count if given).
StateDict with_dotless_ema(const StateDict& sd, const std::string& model_prefix = "model.",
                           const std::string& ema_prefix = "model_ema.", size_t* replaced = nullptr);

// Glob match used by LoadIntoOptions::ignore.
bool glob_match(const std::string& pattern, const std::string& name);

// Which weights of a checkpoint that holds both raw and EMA weights to use (--weights). Auto: the
// model family decides (what its own sampling scripts use).
enum class WeightsChoice { Auto, Raw, Ema };
WeightsChoice parse_weights_choice(const std::string& s);  // "auto" | "raw" | "ema"; else Error
const char* to_string(WeightsChoice w);                    // "auto" | "raw" | "EMA"

// Safetensors metadata key under which longvid stores the config of a model it saved (JSON, in the
// official structure of the model's family).
inline constexpr const char* kConfigMetadataKey = "longvid.config";

// "float32", "bfloat16", ... (PyTorch's names without "torch.").
std::string dtype_name(at::ScalarType t);

}  // namespace longvid
