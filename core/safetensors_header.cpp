#include "core/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "core/error.h"

namespace longvid::safetensors {

using ojson = nlohmann::ordered_json;

size_t dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1},  {"U8", 1},  {"U16", 2}, {"U32", 4},  {"U64", 8}, {"BOOL", 1},
      {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

namespace {

// Guards against ambiguous JSON: a key appearing twice in the same object.
struct DuplicateCheck {
  std::vector<std::set<std::string>> seen;
  std::string duplicate;
  int duplicate_depth = -1;
};

std::string shorten(std::string s) {
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

}  // namespace

Header parse_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8) fail("{}: truncated safetensors file ({} bytes, the header length alone needs 8)", name, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8)
    fail("{}: safetensors header length {} runs past the end of the file ({} bytes)", name, n, size);
  constexpr uint64_t kMaxHeader = 100u << 20;
  if (n > kMaxHeader) fail("{}: safetensors header length {} is larger than the 100 MiB limit", name, n);
  if (n < 2 || data[8] != '{') fail("{}: safetensors header is not a JSON object", name);

  const char* text = reinterpret_cast<const char*>(data + 8);
  DuplicateCheck dup;
  auto cb = [&dup](int depth, ojson::parse_event_t ev, ojson& parsed) -> bool {
    if (ev == ojson::parse_event_t::object_start) {
      dup.seen.emplace_back();
    } else if (ev == ojson::parse_event_t::object_end) {
      if (!dup.seen.empty()) dup.seen.pop_back();
    } else if (ev == ojson::parse_event_t::key && !dup.seen.empty() && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!dup.seen.back().insert(k).second && dup.duplicate.empty()) {
        dup.duplicate = k;
        dup.duplicate_depth = depth;
      }
    }
    return true;
  };
  ojson j;
  try {
    j = ojson::parse(text, text + n, cb);
  } catch (const ojson::exception& e) {
    std::string msg = e.what();
    auto p = msg.find("] ");
    if (p != std::string::npos) msg = msg.substr(p + 2);
    fail("{}: safetensors header is not valid JSON: {}", name, shorten(msg));
  }
  if (!dup.duplicate.empty()) {
    if (dup.duplicate_depth <= 1)
      fail("{}: safetensors header names tensor '{}' twice", name, shorten(dup.duplicate));
    fail("{}: safetensors header repeats the field '{}' in an entry", name, shorten(dup.duplicate));
  }
  if (!j.is_object()) fail("{}: safetensors header is not a JSON object", name);

  Header h;
  h.data_start = 8 + n;
  const uint64_t data_size = size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const ojson& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) fail("{}: safetensors __metadata__ is not a JSON object", name);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail("{}: safetensors __metadata__ value of '{}' is not a string", name, shorten(m.key()));
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tn = shorten(key);
    if (!v.is_object()) fail("{}: tensor '{}': header entry is not a JSON object", name, tn);
    auto d = v.find("dtype");
    auto s = v.find("shape");
    auto o = v.find("data_offsets");
    if (d == v.end() || !d->is_string()) fail("{}: tensor '{}': missing or non-string 'dtype'", name, tn);
    if (s == v.end() || !s->is_array()) fail("{}: tensor '{}': missing or non-array 'shape'", name, tn);
    if (o == v.end() || !o->is_array() || o->size() != 2)
      fail("{}: tensor '{}': 'data_offsets' must be an array [begin, end]", name, tn);
    TensorEntry t;
    t.name = key;
    t.dtype = d->get<std::string>();
    size_t esize = dtype_size(t.dtype);
    if (esize == 0) fail("{}: tensor '{}': unsupported dtype '{}'", name, tn, shorten(t.dtype));
    uint64_t nbytes = esize;
    bool overflow = false;
    for (const auto& dim : *s) {
      if (!dim.is_number_unsigned() && !(dim.is_number_integer() && dim.get<int64_t>() >= 0))
        fail("{}: tensor '{}': shape {} has a dimension that is not a non-negative integer", name, tn,
             shorten(s->dump()));
      uint64_t x = dim.get<uint64_t>();
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      t.shape.push_back(static_cast<int64_t>(x));
      if (__builtin_mul_overflow(nbytes, x, &nbytes)) overflow = true;
    }
    if (overflow) fail("{}: tensor '{}': shape {} is too large", name, tn, shorten(s->dump()));
    for (const auto& off : *o)
      if (!off.is_number_unsigned() && !(off.is_number_integer() && off.get<int64_t>() >= 0))
        fail("{}: tensor '{}': data_offsets {} must be non-negative integers", name, tn, shorten(o->dump()));
    t.begin = (*o)[0].get<uint64_t>();
    t.end = (*o)[1].get<uint64_t>();
    if (t.begin > t.end)
      fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", name, tn, t.begin, t.end);
    if (t.end > data_size)
      fail("{}: tensor '{}': data_offsets [{}, {}] are out of range (the data section has {} bytes)", name, tn,
           t.begin, t.end, data_size);
    if (t.end - t.begin != nbytes)
      fail("{}: tensor '{}': {} {} needs {} bytes but data_offsets [{}, {}] hold {}", name, tn, t.dtype,
           shorten(s->dump()), nbytes, t.begin, t.end, t.end - t.begin);
    h.tensors.push_back(std::move(t));
  }
  std::stable_sort(h.tensors.begin(), h.tensors.end(),
                   [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin; });
  uint64_t pos = 0;
  const TensorEntry* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin < pos)
      fail("{}: tensor '{}': data_offsets [{}, {}] overlap those of '{}' [{}, {}]", name, shorten(t.name), t.begin,
           t.end, shorten(prev->name), prev->begin, prev->end);
    if (t.begin > pos)
      fail("{}: tensor '{}': data_offsets [{}, {}] leave a gap of {} bytes after {}", name, shorten(t.name),
           t.begin, t.end, t.begin - pos, prev ? "'" + shorten(prev->name) + "'" : std::string("the header"));
    pos = t.end;
    if (t.end > t.begin || !prev) prev = &t;
  }
  if (pos != data_size)
    fail("{}: safetensors data section has {} bytes but the tensors cover {} (truncated or trailing data)", name,
         data_size, pos);
  return h;
}

}  // namespace longvid::safetensors
