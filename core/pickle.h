// A restricted unpickler (protocols 0-5) for torch checkpoints. It never executes anything: it
// builds plain values (dicts, lists, tuples, scalars), tensor and storage references (from
// torch._utils._rebuild_tensor_v2 & co. and persistent ids), and opaque stubs for harmless
// unknown objects (argparse.Namespace, omegaconf configs, Lightning attribute dicts ...).
// Globals that can execute code (os.system, builtins.eval, subprocess.*, ...) are refused, as
// is any REDUCE on a callable that is not on the allow list. Torch-free (fuzz target).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace longvid::pickle {

struct Object {
  enum class Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, List, Tuple, Dict, Set, Global, Stub, Storage, Tensor };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;        // Int; Storage / Tensor: index into Result::storages / tensors
  double f = 0;
  std::string s;        // Str, Bytes, Global ("module.name"), Stub (class name); Int: raw
                        // little-endian bytes of an integer wider than 64 bits (then i = 0)
  std::vector<Object*> items;                          // List, Tuple, Set; Stub: constructor args
  std::vector<std::pair<Object*, Object*>> dict_items;  // Dict (in insertion order, may repeat keys:
                                                        // the last one wins); Stub: set items / state
  Object* state = nullptr;                             // Stub: BUILD state
};

const char* kind_name(Object::Kind k);

struct StorageRef {
  std::string key;          // record name (zip: data/<key>) or legacy storage key
  std::string type;         // storage type global, e.g. "torch.FloatStorage"
  std::string location;     // "cpu", "cuda:0", ...
  int64_t numel = 0;        // elements (bytes for UntypedStorage)
  int64_t view_offset = 0;  // legacy storage views: offset in elements into the root storage
};

struct TensorRef {
  int64_t storage = -1;
  int64_t offset = 0;       // storage offset in elements
  std::vector<int64_t> size, stride;
  bool parameter = false;
};

struct Result {
  Object* root = nullptr;
  size_t end = 0;  // offset just past the STOP opcode
  std::vector<StorageRef> storages;
  std::vector<TensorRef> tensors;
  std::deque<Object> arena;  // owns every Object (flat: cycles and deep nesting are harmless)
};

// Unpickles data[0, size) up to the first STOP. `name` names the input in error messages
// (e.g. "model.ckpt: archive/data.pkl"). Throws longvid::Error.
Result unpickle(const uint8_t* data, size_t size, const std::string& name);

// Python-style short literal of a scalar object ("3", "0.5", "'abc'", "True", "None").
std::string repr(const Object* o, size_t max_len = 60);

}  // namespace longvid::pickle
