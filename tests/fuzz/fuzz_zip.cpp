// libFuzzer: the zip central-directory reader must reject bad input with longvid::Error, never
// crash, and every entry it returns must lie inside the buffer.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& e : longvid::zip::read_directory(data, size, "fuzz"))
      if (e.data_offset > size || e.size > size - e.data_offset) __builtin_trap();
  } catch (const longvid::Error&) {
  }
  return 0;
}
