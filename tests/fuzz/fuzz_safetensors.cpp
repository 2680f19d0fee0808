// libFuzzer: the safetensors header parser must reject bad input with longvid::Error, never crash.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = longvid::safetensors::parse_header(data, size, "fuzz");
    // Every accepted tensor must lie inside the buffer.
    for (const auto& t : h.tensors)
      if (h.data_start + t.end > size || t.begin > t.end) __builtin_trap();
  } catch (const longvid::Error&) {
  }
  return 0;
}
