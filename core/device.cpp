#include "core/device.h"

#include <torch/cuda.h>
#ifdef LONGVID_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#include <ATen/Context.h>

#include <cctype>
#include <cstdlib>

#include "core/error.h"
#include "core/log.h"

namespace longvid {

namespace {
std::string normalise(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out = s.substr(b, e - b);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

bool built_with_cuda() {
#ifdef LONGVID_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void synchronize(c10::Device device) {
#ifdef LONGVID_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
#else
  (void)device;
#endif
}

void reset_gpu_peak_memory(c10::Device device) {
#ifdef LONGVID_WITH_CUDA
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : c10::cuda::current_device());
#else
  (void)device;
#endif
}

int64_t gpu_peak_memory_bytes(c10::Device device) {
#ifdef LONGVID_WITH_CUDA
  if (device.is_cuda()) {
    auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : c10::cuda::current_device());
    return stats.allocated_bytes[0].peak;  // StatType::AGGREGATE
  }
#else
  (void)device;
#endif
  return -1;
}

std::string gpu_name(c10::Device device) {
#ifdef LONGVID_WITH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device.has_index() ? device.index() : c10::cuda::current_device()) == cudaSuccess)
      return prop.name;
  }
#else
  (void)device;
#endif
  return "";
}

int visible_cuda_devices() {
  if (!built_with_cuda()) return 0;
  return static_cast<int>(torch::cuda::device_count());
}

c10::Device parse_device(const std::string& spec, const std::string& option) {
  return parse_device(spec, built_with_cuda(), visible_cuda_devices(), option);
}

c10::Device parse_device(const std::string& spec, bool with_cuda, int cuda_devices, const std::string& option) {
  const std::string s = normalise(spec);
  if (s == "cpu") return c10::Device(c10::kCPU);
  int index = -1;
  if (s == "cuda") {
    index = -1;
  } else if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() <= 8 &&
             s.find_first_not_of("0123456789", 5) == std::string::npos) {
    index = std::stoi(s.substr(5));
  } else {
    fail("{} '{}': expected cpu, cuda or cuda:N", option, spec);
  }
  if (!with_cuda)
    fail_hint("rebuild with scripts/build -DLONGVID_CUDA=ON (needs the CUDA LibTorch and nvcc), or use --device cpu",
              "{} {}: longvid was built without CUDA (this is the CPU-only variant)", option, s);
  if (cuda_devices <= 0)
    fail_hint("check nvidia-smi and CUDA_VISIBLE_DEVICES, or use --device cpu",
              "{} {}: no CUDA device visible (this is the CUDA variant, but the driver reports no device)", option,
              s);
  if (index >= cuda_devices)
    fail("{} {}: only {} CUDA device{} visible (cuda:0{})", option, s, cuda_devices, cuda_devices == 1 ? "" : "s",
         cuda_devices == 1 ? "" : fmt::format(" .. cuda:{}", cuda_devices - 1));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
}

c10::ScalarType parse_dtype(const std::string& spec, const std::string& option) {
  const std::string s = normalise(spec);
  if (s == "fp32" || s == "float32" || s == "float" || s == "f32") return c10::kFloat;
  if (s == "bf16" || s == "bfloat16") return c10::kBFloat16;
  if (s == "fp16" || s == "float16" || s == "half" || s == "f16") return c10::kHalf;
  fail("{} '{}': expected fp32, bf16 or fp16", option, spec);
}

std::string dtype_option_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return c10::toString(t);
  }
}

std::string DevicePolicy::describe() const { return device.str() + " " + dtype_option_name(dtype); }

DevicePolicy make_device_policy(const std::string& device, const std::string& dtype) {
  DevicePolicy p;
  p.device = parse_device(device);
  p.dtype = parse_dtype(dtype);
  if (p.device.is_cpu() && p.dtype == c10::kHalf)
    spdlog::warn("fp16 on cpu is slow and some operators lack fp16 CPU kernels; bf16 or fp32 is recommended");
  if (p.device.is_cuda()) {
    // cuDNN's benchmark mode (try every algorithm per convolution shape) is opt-in: on an H200 it made
    // the sky U-Net slower (20.4 against 18.9 ms a forward) and took 59 GB of workspace against 2.3 GB
    // for the heuristic (docs/performance.md, GPU). LONGVID_CUDNN_BENCHMARK=1 turns it on.
    const char* b = std::getenv("LONGVID_CUDNN_BENCHMARK");
    if (b && std::string(b) == "1") {
      at::globalContext().setBenchmarkCuDNN(true);
      spdlog::debug("cuDNN benchmark mode on (LONGVID_CUDNN_BENCHMARK=1)");
    }
  }
  return p;
}

}  // namespace longvid
