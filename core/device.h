// Device / dtype policy: parses the --device and --dtype options into c10 types, with clear
// one-line errors (unknown spelling, CUDA asked for in a CPU-only build, no CUDA device visible,
// device index out of range).
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <c10/core/TensorOptions.h>

#include <string>

namespace longvid {

// True when this binary is the CUDA variant (built with -DLONGVID_CUDA=ON).
bool built_with_cuda();
// Number of CUDA devices LibTorch sees (0 in a CPU-only build).
int visible_cuda_devices();

// Waits for the device's queued work (CUDA; a no-op on the CPU), for timing.
void synchronize(c10::Device device);
// CUDA: resets / reads the caching allocator's peak of allocated bytes on `device`; -1 elsewhere.
void reset_gpu_peak_memory(c10::Device device);
int64_t gpu_peak_memory_bytes(c10::Device device);
// CUDA: the device's name ("NVIDIA H200"); "" elsewhere.
std::string gpu_name(c10::Device device);

// "cpu" | "cuda" | "cuda:N" (case-insensitive, surrounding spaces ignored). Checks that the
// device exists in this build/machine. `option` names the option in error messages.
c10::Device parse_device(const std::string& spec, const std::string& option = "--device");
// Same, with the build/machine facts given explicitly (for tests).
c10::Device parse_device(const std::string& spec, bool with_cuda, int cuda_devices,
                         const std::string& option = "--device");

// "fp32" | "bf16" | "fp16" (also float32/float, bfloat16, float16/half).
c10::ScalarType parse_dtype(const std::string& spec, const std::string& option = "--dtype");
// The short name used on the command line: fp32 / bf16 / fp16 (other types: c10's name).
std::string dtype_option_name(c10::ScalarType t);

// What a run computes on: a device and a compute dtype.
struct DevicePolicy {
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;

  c10::TensorOptions options() const { return c10::TensorOptions().device(device).dtype(dtype); }
  std::string describe() const;  // e.g. "cuda:0 bf16"
};

// Parses both options; warns (log) about fp16 on CPU, which is slow and lacks some kernels.
DevicePolicy make_device_policy(const std::string& device, const std::string& dtype);

}  // namespace longvid
