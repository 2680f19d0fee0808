// The safetensors header parser, torch-free so that the fuzz target can build it alone.
// Format: u64 little-endian header length N, N bytes of JSON, then the tensor data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace longvid::safetensors {

struct TensorEntry {
  std::string name;
  std::string dtype;            // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range relative to the start of the data section
};

struct Header {
  std::vector<TensorEntry> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;           // 8 + N
};

// Bytes per element of a safetensors dtype, 0 if unknown.
size_t dtype_size(const std::string& dtype);

// Parses and validates the header against the buffer size: header length past the end, bad JSON,
// duplicate names, unknown dtypes, bad shapes, offsets out of range, overlapping or non-contiguous
// coverage, shape x dtype size != byte length. Throws longvid::Error naming `name` and the tensor.
Header parse_header(const uint8_t* data, size_t size, const std::string& name);

}  // namespace longvid::safetensors
