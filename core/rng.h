// Seeds and random generators. All randomness in longvid flows through an explicit
// at::Generator made here, so a run is reproducible from its seed (and resumable from a saved
// generator state).
#pragma once
#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace longvid {

// -1 means "pick one": returns a fresh random seed (the caller prints it); otherwise the seed.
uint64_t resolve_seed(int64_t seed);

// A generator for `device` seeded with `seed` (CPU generator for CPU, CUDA generator for CUDA).
at::Generator make_generator(uint64_t seed, c10::Device device = c10::Device(c10::kCPU));

}  // namespace longvid
