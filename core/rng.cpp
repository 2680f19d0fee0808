#include "core/rng.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <random>

namespace longvid {

uint64_t resolve_seed(int64_t seed) {
  if (seed >= 0) return static_cast<uint64_t>(seed);
  std::random_device rd;
  // 53 bits keep the seed exactly representable wherever it gets printed or stored as a double.
  return ((static_cast<uint64_t>(rd()) << 32) | rd()) & ((1ULL << 53) - 1);
}

at::Generator make_generator(uint64_t seed, c10::Device device) {
  at::Generator gen;
  if (device.is_cpu()) {
    gen = at::detail::createCPUGenerator(seed);
  } else {
    gen = at::globalContext().defaultGenerator(device).clone();
    gen.set_current_seed(seed);
  }
  return gen;
}

}  // namespace longvid
