// Checkpoint loading (format detection, safetensors, torch zip / legacy) and safetensors writing.
#include "core/checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/pickle.h"
#include "core/safetensors_header.h"
#include "core/zip_reader.h"

namespace fs = std::filesystem;

namespace longvid {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoint I/O assumes a little-endian host");

// ---- StateDict -----------------------------------------------------------------------------------

void StateDict::set(const std::string& name, at::Tensor t) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    values_[it->second] = std::move(t);
    return;
  }
  index_.emplace(name, keys_.size());
  keys_.push_back(name);
  values_.push_back(std::move(t));
}

bool StateDict::contains(const std::string& name) const { return index_.count(name) != 0; }

const at::Tensor& StateDict::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    std::string where = path.empty() ? std::string("state dict") : path.string();
    fail("{}: no tensor named '{}' ({} tensors{})", where, name, keys_.size(),
         source.empty() || source == "root" ? "" : ", in '" + source + "'");
  }
  return values_[it->second];
}

int64_t StateDict::numel() const {
  int64_t n = 0;
  for (const auto& t : values_) n += t.numel();
  return n;
}

StateDict StateDict::select_prefix(const std::string& prefix, bool strip) const {
  StateDict out;
  out.metadata = metadata;
  out.format = format;
  out.source = source.empty() ? prefix : source + ":" + prefix;
  out.path = path;
  for (size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i].compare(0, prefix.size(), prefix) == 0)
      out.set(strip ? keys_[i].substr(prefix.size()) : keys_[i], values_[i]);
  return out;
}

// ---- dtypes ----------------------------------------------------------------------------------------

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return "float64";
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kUInt16: return "uint16";
    case at::kUInt32: return "uint32";
    case at::kUInt64: return "uint64";
    case at::kBool: return "bool";
    case at::kFloat8_e4m3fn: return "float8_e4m3fn";
    case at::kFloat8_e5m2: return "float8_e5m2";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

namespace {

std::optional<at::ScalarType> st_dtype(const std::string& d) {
  static const std::map<std::string, at::ScalarType> m = {
      {"F64", at::kDouble},   {"F32", at::kFloat},   {"F16", at::kHalf},     {"BF16", at::kBFloat16},
      {"I64", at::kLong},     {"I32", at::kInt},     {"I16", at::kShort},    {"I8", at::kChar},
      {"U8", at::kByte},      {"U16", at::kUInt16},  {"U32", at::kUInt32},   {"U64", at::kUInt64},
      {"BOOL", at::kBool},    {"F8_E4M3", at::kFloat8_e4m3fn}, {"F8_E5M2", at::kFloat8_e5m2}};
  auto it = m.find(d);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> st_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return "F64";
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kUInt16: return "U16";
    case at::kUInt32: return "U32";
    case at::kUInt64: return "U64";
    case at::kBool: return "BOOL";
    case at::kFloat8_e4m3fn: return "F8_E4M3";
    case at::kFloat8_e5m2: return "F8_E5M2";
    default: return std::nullopt;
  }
}

std::optional<at::ScalarType> storage_dtype(const std::string& type) {
  static const std::map<std::string, at::ScalarType> m = {
      {"torch.DoubleStorage", at::kDouble},      {"torch.FloatStorage", at::kFloat},
      {"torch.HalfStorage", at::kHalf},          {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},          {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},        {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},          {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat}, {"torch.ComplexDoubleStorage", at::kComplexDouble},
      {"torch.Float8_e4m3fnStorage", at::kFloat8_e4m3fn}, {"torch.Float8_e5m2Storage", at::kFloat8_e5m2},
      {"torch.UInt16Storage", at::kUInt16},      {"torch.UInt32Storage", at::kUInt32},
      {"torch.UInt64Storage", at::kUInt64},      {"torch.UntypedStorage", at::kByte},
      {"torch.storage.UntypedStorage", at::kByte}};
  auto it = m.find(type);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

// ---- memory mapping -----------------------------------------------------------------------------

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const fs::path& path) {
    require_readable_file(path, "checkpoint file");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      fail("{}: cannot stat: {}", path.string(), std::strerror(errno));
    }
    auto m = std::shared_ptr<MappedFile>(new MappedFile());
    m->size_ = static_cast<size_t>(st.st_size);
    if (m->size_ > 0) {
      // Private, writable copy-on-write pages: tensors may be modified in place without touching
      // the file (and without a SIGSEGV).
      void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        fail("{}: cannot map the file: {}", path.string(), std::strerror(e));
      }
      m->data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
    return m;
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A tensor viewing [ptr, ptr + numel * elsize) that keeps `keepalive` alive. Unaligned data (and
// data without an owner) is copied.
at::Tensor view_bytes(const uint8_t* ptr, at::IntArrayRef shape, at::ScalarType dtype,
                      const std::shared_ptr<const void>& keepalive) {
  auto opts = at::TensorOptions().dtype(dtype).device(at::kCPU);
  size_t align = c10::elementSize(dtype);
  void* p = const_cast<uint8_t*>(ptr);
  if (keepalive && reinterpret_cast<uintptr_t>(ptr) % align == 0) {
    auto holder = keepalive;
    return torch::from_blob(p, shape, [holder](void*) mutable { holder.reset(); }, opts);
  }
  auto t = torch::empty(shape, opts);
  if (t.nbytes() > 0) std::memcpy(t.data_ptr(), ptr, t.nbytes());
  return t;
}

void check_bools(const uint8_t* p, size_t n, const std::string& file, const std::string& tensor) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] > 1) fail("{}: tensor '{}': bool data holds the byte {} (not 0 or 1)", file, tensor, p[i]);
}

std::string printable(const std::string& s) {
  std::string r = s.size() > 120 ? s.substr(0, 117) + "..." : s;
  for (auto& c : r)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return r;
}

}  // namespace

// ---- format detection -----------------------------------------------------------------------------

std::string detect_checkpoint_format(const uint8_t* d, size_t n) {
  if (n >= 4 && d[0] == 'P' && d[1] == 'K' && ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6))) return "torch-zip";
  static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  if (n >= sizeof(legacy) && std::memcmp(d, legacy, sizeof(legacy)) == 0) return "torch-legacy";
  if (n >= 10 && d[8] == '{') return "safetensors";
  return "";
}

// ---- safetensors ------------------------------------------------------------------------------------

StateDict parse_safetensors(const uint8_t* data, size_t size, const std::string& name,
                            std::shared_ptr<const void> keepalive) {
  auto h = safetensors::parse_header(data, size, name);
  StateDict sd;
  sd.format = "safetensors";
  sd.source = "root";
  sd.metadata = h.metadata;
  for (const auto& t : h.tensors) {
    auto dt = st_dtype(t.dtype);
    if (!dt) fail("{}: tensor '{}': unsupported dtype '{}'", name, printable(t.name), t.dtype);
    const uint8_t* p = data + h.data_start + t.begin;
    if (*dt == at::kBool) check_bools(p, t.end - t.begin, name, printable(t.name));
    sd.set(t.name, view_bytes(p, t.shape, *dt, keepalive));
  }
  return sd;
}

// ---- pickled checkpoints ----------------------------------------------------------------------------

namespace {

using pickle::Object;
using PK = Object::Kind;

// Where the bytes of each storage live.
struct StorageBytes {
  const uint8_t* ptr = nullptr;
  uint64_t nbytes = 0;
  bool present = false;
  std::string record;  // for messages
};

struct TensorBuilder {
  const std::string& file;
  const pickle::Result& pk;
  std::vector<StorageBytes> bytes;  // per storage
  std::shared_ptr<const void> keepalive;
  std::vector<at::Tensor> base;     // per storage, built on first use (shared by all views)

  at::Tensor build(int64_t index, const std::string& tensor_name) {
    const auto& t = pk.tensors.at(static_cast<size_t>(index));
    const auto& s = pk.storages.at(static_cast<size_t>(t.storage));
    auto& b = bytes.at(static_cast<size_t>(t.storage));
    std::string tn = printable(tensor_name);
    auto dt = storage_dtype(s.type);
    if (!dt) fail("{}: tensor '{}': unsupported storage type {}", file, tn, s.type);
    if (!b.present) fail("{}: tensor '{}': storage record '{}' is missing", file, tn, b.record);
    size_t es = c10::elementSize(*dt);
    uint64_t need = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(s.numel), es, &need) || b.nbytes < need)
      fail("{}: tensor '{}': storage record '{}' has {} bytes but the storage needs {} ({} x {})", file, tn, b.record,
           b.nbytes, s.numel, es, dtype_name(*dt));
    auto& base_t = base.at(static_cast<size_t>(t.storage));
    if (!base_t.defined()) {
      if (*dt == at::kBool) check_bools(b.ptr, static_cast<size_t>(s.numel), file, tn);
      base_t = view_bytes(b.ptr, {s.numel}, *dt, keepalive);
    }
    // The view must stay inside the storage.
    int64_t offset = t.offset + s.view_offset, extent = 0;
    bool empty = false, overflow = t.offset < 0;
    for (size_t d = 0; d < t.size.size(); ++d) {
      if (t.size[d] < 0 || t.stride[d] < 0) overflow = true;
      if (t.size[d] == 0) empty = true;
      int64_t span = 0;
      if (t.size[d] > 0 && (__builtin_mul_overflow(t.size[d] - 1, t.stride[d], &span) ||
                            __builtin_add_overflow(extent, span, &extent)))
        overflow = true;
    }
    int64_t last = 0;
    if (__builtin_add_overflow(offset, extent, &last)) overflow = true;
    if (overflow || (!empty && (last >= s.numel || last < 0)))
      fail("{}: tensor '{}': view (offset {}, size {}, stride {}) lies outside its storage of {} elements", file, tn,
           t.offset, fmt::join(t.size, "x"), fmt::join(t.stride, ","), s.numel);
    return base_t.as_strided(t.size, t.stride, offset);
  }
};

const Object* dict_get(const Object* d, const std::string& key) {
  const Object* found = nullptr;
  for (const auto& kv : d->dict_items)
    if (kv.first->kind == PK::Str && kv.first->s == key) found = kv.second;
  return found;
}

// Unique string keys of a dict (last value wins, first position kept), like Python.
std::vector<std::pair<std::string, const Object*>> dict_entries(const Object* d) {
  std::vector<std::pair<std::string, const Object*>> out;
  std::unordered_map<std::string, size_t> pos;
  for (const auto& kv : d->dict_items) {
    std::string k;
    if (kv.first->kind == PK::Str) k = kv.first->s;
    else k = pickle::repr(kv.first, 200);
    auto it = pos.find(k);
    if (it != pos.end()) out[it->second].second = kv.second;
    else {
      pos[k] = out.size();
      out.emplace_back(k, kv.second);
    }
  }
  return out;
}

bool is_mapping(const Object* o) { return o->kind == PK::Dict || (o->kind == PK::Stub && !o->dict_items.empty()); }

int64_t count_tensors(const Object* d) {
  int64_t n = 0;
  for (const auto& kv : d->dict_items) n += kv.second->kind == PK::Tensor;
  return n;
}

CheckpointEntry describe_entry(const std::string& name, const Object* o) {
  CheckpointEntry e;
  e.name = name;
  switch (o->kind) {
    case PK::Dict:
      e.type = "dict";
      e.entries = static_cast<int64_t>(dict_entries(o).size());
      e.tensors = count_tensors(o);
      break;
    case PK::List:
    case PK::Tuple:
    case PK::Set:
      e.type = pickle::kind_name(o->kind);
      e.entries = static_cast<int64_t>(o->items.size());
      break;
    case PK::Stub:
      e.type = "object";
      e.value = o->s;
      if (!o->dict_items.empty()) {
        e.entries = static_cast<int64_t>(o->dict_items.size());
        e.tensors = count_tensors(o);
      }
      break;
    case PK::Str:
      e.type = "str";
      e.value = pickle::repr(o, 200);
      break;
    default:
      e.type = pickle::kind_name(o->kind);
      e.value = pickle::repr(o, 200);
  }
  return e;
}

StateDict from_pickle(const pickle::Result& pk, TensorBuilder& tb, const std::string& file, const LoadOptions& opts,
                      const std::string& format) {
  StateDict sd;
  sd.format = format;
  const Object* root = pk.root;
  if (root->kind == PK::Tensor) fail("{}: the checkpoint is a single tensor, not a state dict", file);
  if (!is_mapping(root))
    fail("{}: the checkpoint holds a {} ({}), not a dict of tensors", file, pickle::kind_name(root->kind),
         pickle::repr(root));
  auto top = dict_entries(root);
  for (const auto& [k, v] : top) sd.structure.push_back(describe_entry(k, v));

  const Object* chosen = nullptr;
  std::string source;
  auto pick = [&](const std::string& key) -> bool {
    const Object* v = dict_get(root, key);
    if (v && is_mapping(v)) {
      chosen = v;
      source = key;
      return true;
    }
    return false;
  };
  if (opts.select == "auto" || opts.select.empty()) {
    if (!pick("state_dict") && !pick("ema") && !pick("model")) {
      chosen = root;
      source = "root";
    }
  } else if (opts.select == "root") {
    chosen = root;
    source = "root";
  } else if (!pick(opts.select)) {
    std::vector<std::string> dicts;
    for (const auto& [k, v] : top)
      if (is_mapping(v)) dicts.push_back(k);
    fail("{}: no sub-dict '{}' to select (dicts at the top level: {})", file, opts.select,
         dicts.empty() ? std::string("none") : fmt::format("{}", fmt::join(dicts, ", ")));
  }
  sd.source = source;
  for (const auto& [k, v] : dict_entries(chosen)) {
    if (v->kind == PK::Tensor) sd.set(k, tb.build(v->i, k));
    else sd.skipped.push_back(k);
  }
  if (sd.empty() && !chosen->dict_items.empty() && source == "root" && (opts.select == "auto" || opts.select.empty()))
    spdlog::debug("{}: no tensors at the top level", file);
  return sd;
}

}  // namespace

StateDict parse_torch_zip(const uint8_t* data, size_t size, const std::string& name, const LoadOptions& opts,
                          std::shared_ptr<const void> keepalive) {
  auto entries = zip::read_directory(data, size, name);
  const zip::Entry* pkl = nullptr;
  for (const auto& e : entries) {
    const std::string suffix = "data.pkl";
    if (e.name.size() >= suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string prefix = e.name.substr(0, e.name.size() - suffix.size());
      if (prefix.empty() || (prefix.back() == '/' && prefix.find('/') == prefix.size() - 1)) {
        if (!pkl || e.name.size() < pkl->name.size()) pkl = &e;
      }
    }
  }
  if (!pkl) fail("{}: zip archive without a data.pkl record (not a torch.save checkpoint)", name);
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
  std::unordered_map<std::string, const zip::Entry*> by_name;
  for (const auto& e : entries) by_name[e.name] = &e;
  auto record_bytes = [&](const zip::Entry& e) {
    if (e.method != 0)
      fail("{}: record '{}' is compressed (zip method {}); torch checkpoints store records uncompressed (re-save it "
           "with torch.save)",
           name, printable(e.name), e.method);
    return data + e.data_offset;
  };
  auto bo = by_name.find(prefix + "byteorder");
  if (bo != by_name.end()) {
    const uint8_t* p = record_bytes(*bo->second);
    std::string order(reinterpret_cast<const char*>(p), bo->second->size);
    if (order != "little") fail("{}: the checkpoint was written on a '{}'-endian machine (not supported)", name, printable(order));
  }
  const uint8_t* pdata = record_bytes(*pkl);
  auto pk = pickle::unpickle(pdata, pkl->size, name + ": " + printable(pkl->name));
  TensorBuilder tb{name, pk, {}, keepalive, {}};
  tb.bytes.resize(pk.storages.size());
  tb.base.resize(pk.storages.size());
  for (size_t i = 0; i < pk.storages.size(); ++i) {
    auto& b = tb.bytes[i];
    b.record = prefix + "data/" + pk.storages[i].key;
    auto it = by_name.find(b.record);
    if (it != by_name.end()) {
      b.ptr = record_bytes(*it->second);
      b.nbytes = it->second->size;
      b.present = true;
    }
    b.record = printable(b.record);
  }
  return from_pickle(pk, tb, name, opts, "torch-zip");
}

StateDict parse_torch_legacy(const uint8_t* data, size_t size, const std::string& name, const LoadOptions& opts,
                             std::shared_ptr<const void> keepalive) {
  // Legacy torch.save: pickles of the magic number, the protocol version, sys_info, the object
  // (with storage persistent ids), the list of storage keys; then each storage as an int64
  // element count followed by its raw bytes.
  size_t pos = 0;
  auto next = [&](const char* what) {
    if (pos >= size) fail("{}: truncated legacy torch checkpoint (no {})", name, what);
    auto r = pickle::unpickle(data + pos, size - pos, name + ": " + what);
    pos += r.end;
    return r;
  };
  auto magic = next("magic number");
  auto proto = next("protocol version");
  if (proto.root->kind != PK::Int || proto.root->i != 1001)
    fail("{}: unsupported legacy torch protocol version {}", name, pickle::repr(proto.root));
  auto sys_info = next("system info");
  if (sys_info.root->kind == PK::Dict) {
    const Object* le = dict_get(sys_info.root, "little_endian");
    if (le && le->kind == PK::Bool && !le->b) fail("{}: the checkpoint was written on a big-endian machine (not supported)", name);
  }
  auto pk = next("data pickle");
  auto keys = next("storage key list");
  if (keys.root->kind != PK::List) fail("{}: legacy checkpoint: storage key list is a {}", name, pickle::kind_name(keys.root->kind));
  // Storage data, in the order of the key list.
  std::unordered_map<std::string, StorageBytes> raw;
  for (const Object* k : keys.root->items) {
    std::string key = k->kind == PK::Str ? k->s : pickle::repr(k);
    if (size - pos < 8) fail("{}: truncated legacy checkpoint: storage '{}' is missing", name, printable(key));
    int64_t numel = 0;
    std::memcpy(&numel, data + pos, 8);
    pos += 8;
    // The element size comes from the storage type of the first reference to this key.
    size_t es = 0;
    for (const auto& s : pk.storages)
      if (s.key == key) {
        auto dt = storage_dtype(s.type);
        if (dt) es = c10::elementSize(*dt);
        break;
      }
    if (es == 0) es = 1;
    uint64_t nb = 0;
    if (numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), es, &nb) || nb > size - pos)
      fail("{}: truncated legacy checkpoint: storage '{}' needs {} elements of {} bytes, only {} bytes left", name,
           printable(key), numel, es, size - pos);
    raw[key] = StorageBytes{data + pos, nb, true, "storage " + printable(key)};
    pos += nb;
  }
  TensorBuilder tb{name, pk, {}, keepalive, {}};
  tb.bytes.resize(pk.storages.size());
  tb.base.resize(pk.storages.size());
  for (size_t i = 0; i < pk.storages.size(); ++i) {
    auto it = raw.find(pk.storages[i].key);
    if (it != raw.end()) tb.bytes[i] = it->second;
    else tb.bytes[i].record = "storage " + printable(pk.storages[i].key);
  }
  (void)magic;
  return from_pickle(pk, tb, name, opts, "torch-legacy");
}

// ---- load_checkpoint ---------------------------------------------------------------------------------

StateDict load_checkpoint(const fs::path& path, const LoadOptions& opts) {
  auto map = MappedFile::open(path);
  const std::string name = path.string();
  if (map->size() == 0) fail("{}: empty file (not a checkpoint)", name);
  std::string format = detect_checkpoint_format(map->data(), map->size());
  std::shared_ptr<const void> keep = map;
  StateDict sd;
  if (format == "safetensors") {
    sd = parse_safetensors(map->data(), map->size(), name, keep);
    if (opts.select != "auto" && opts.select != "root" && !opts.select.empty()) {
      auto sub = sd.select_prefix(opts.select + ".");
      if (sub.empty()) fail("{}: no tensors under '{}.' to select", name, opts.select);
      sub.source = opts.select;
      sd = std::move(sub);
    }
  } else if (format == "torch-zip") {
    sd = parse_torch_zip(map->data(), map->size(), name, opts, keep);
  } else if (format == "torch-legacy") {
    sd = parse_torch_legacy(map->data(), map->size(), name, opts, keep);
  } else {
    if (map->size() >= 2 && map->data()[0] == 0x80)
      fail("{}: a plain pickle, not a torch.save checkpoint (no torch magic number)", name);
    if (map->size() < 10) fail("{}: not a checkpoint ({} bytes: too short for safetensors or torch)", name, map->size());
    fail("{}: not a checkpoint (neither safetensors, a torch zip archive nor a legacy torch file)", name);
  }
  sd.path = path;
  spdlog::debug("{}: {} tensors ({} parameters) from {} '{}'", name, sd.size(), sd.numel(), sd.format, sd.source);
  return sd;
}

// ---- writing safetensors ------------------------------------------------------------------------------

std::vector<uint8_t> safetensors_bytes(const StateDict& sd, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  std::map<std::string, std::string> meta = sd.metadata;
  for (const auto& [k, v] : metadata) meta[k] = v;
  if (!meta.empty()) h["__metadata__"] = meta;
  std::vector<at::Tensor> data;
  uint64_t off = 0;
  for (const auto& k : sd.keys()) {
    if (k == "__metadata__") fail("save_safetensors: a tensor cannot be named '__metadata__'");
    at::Tensor t = sd.get(k);
    auto dn = st_dtype_name(t.scalar_type());
    if (!dn) fail("save_safetensors: tensor '{}': dtype {} cannot be stored in safetensors", k, dtype_name(t.scalar_type()));
    t = t.detach().to(at::kCPU).contiguous();
    uint64_t nb = t.nbytes();
    h[k] = {{"dtype", *dn}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + nb}}};
    off += nb;
    data.push_back(t);
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';
  std::vector<uint8_t> out(8 + header.size() + off);
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  uint8_t* p = out.data() + 8 + header.size();
  for (const auto& t : data) {
    if (t.nbytes()) std::memcpy(p, t.data_ptr(), t.nbytes());
    p += t.nbytes();
  }
  return out;
}

void save_safetensors(const fs::path& path, const StateDict& sd, const std::map<std::string, std::string>& metadata) {
  // Build the header first (cheap) and stream the tensors, so that large models are not copied
  // into one buffer.
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  std::map<std::string, std::string> meta = sd.metadata;
  for (const auto& [k, v] : metadata) meta[k] = v;
  if (!meta.empty()) h["__metadata__"] = meta;
  uint64_t off = 0;
  for (const auto& k : sd.keys()) {
    if (k == "__metadata__") fail("{}: a tensor cannot be named '__metadata__'", path.string());
    const at::Tensor& t = sd.get(k);
    auto dn = st_dtype_name(t.scalar_type());
    if (!dn) fail("{}: tensor '{}': dtype {} cannot be stored in safetensors", path.string(), k, dtype_name(t.scalar_type()));
    uint64_t nb = static_cast<uint64_t>(t.numel()) * t.element_size();
    h[k] = {{"dtype", *dn}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + nb}}};
    off += nb;
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';
  write_atomically(path, [&](const fs::path& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("{}: cannot create the file", path.string());
    uint64_t n = header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& k : sd.keys()) {
      at::Tensor t = sd.get(k).detach().to(at::kCPU).contiguous();
      if (t.nbytes()) f.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
    }
    f.flush();
    if (!f) fail("{}: write error (disk full?)", path.string());
  });
}

}  // namespace longvid
