// libFuzzer: the restricted unpickler must reject bad input with longvid::Error, never crash,
// and every tensor it accepts must reference a storage it created.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto r = longvid::pickle::unpickle(data, size, "fuzz");
    if (!r.root || r.end > size) __builtin_trap();
    for (const auto& t : r.tensors)
      if (t.storage < 0 || static_cast<size_t>(t.storage) >= r.storages.size() || t.size.size() != t.stride.size())
        __builtin_trap();
    (void)longvid::pickle::repr(r.root);
  } catch (const longvid::Error&) {
  }
  return 0;
}
