#include <doctest/doctest.h>

#include "core/device.h"
#include "core/error.h"

using namespace longvid;

TEST_CASE("device: parsing --device") {
  CHECK(parse_device("cpu") == c10::Device(c10::kCPU));
  CHECK(parse_device(" CPU ") == c10::Device(c10::kCPU));
  // With CUDA (facts given explicitly, so this runs on any machine).
  CHECK(parse_device("cuda", true, 2) == c10::Device(c10::kCUDA, 0));
  CHECK(parse_device("cuda:1", true, 2) == c10::Device(c10::kCUDA, 1));
  CHECK_THROWS_WITH_AS(parse_device("cuda:2", true, 2), "--device cuda:2: only 2 CUDA devices visible (cuda:0 .. cuda:1)",
                       Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda:1", true, 1), "--device cuda:1: only 1 CUDA device visible (cuda:0)", Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda", false, 0),
                       "--device cuda: longvid was built without CUDA (this is the CPU-only variant)", Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda:0", true, 0),
                       doctest::Contains("--device cuda:0: no CUDA device visible"), Error);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "mps", ""})
    CHECK_THROWS_WITH_AS(parse_device(bad, true, 1), doctest::Contains("expected cpu, cuda or cuda:N"), Error);
  CHECK_THROWS_WITH_AS(parse_device("tpu", true, 1, "--vae-device"),
                       "--vae-device 'tpu': expected cpu, cuda or cuda:N", Error);
  // The real build: cuda either works or says which of the two reasons applies.
  if (!built_with_cuda()) {
    CHECK(visible_cuda_devices() == 0);
    CHECK_THROWS_WITH_AS(parse_device("cuda"), doctest::Contains("built without CUDA"), Error);
  } else if (visible_cuda_devices() == 0) {
    CHECK_THROWS_WITH_AS(parse_device("cuda"), doctest::Contains("no CUDA device visible"), Error);
  } else {
    CHECK(parse_device("cuda").is_cuda());
  }
}

TEST_CASE("device: parsing --dtype and the policy") {
  CHECK((parse_dtype("fp32") == c10::kFloat));
  CHECK((parse_dtype("float32") == c10::kFloat));
  CHECK((parse_dtype("BF16") == c10::kBFloat16));
  CHECK((parse_dtype("bfloat16") == c10::kBFloat16));
  CHECK((parse_dtype("fp16") == c10::kHalf));
  CHECK((parse_dtype("half") == c10::kHalf));
  CHECK_THROWS_WITH_AS(parse_dtype("fp64"), "--dtype 'fp64': expected fp32, bf16 or fp16", Error);
  CHECK(dtype_option_name(c10::kFloat) == "fp32");
  CHECK(dtype_option_name(c10::kBFloat16) == "bf16");
  CHECK(dtype_option_name(c10::kHalf) == "fp16");
  auto p = make_device_policy("cpu", "bf16");
  CHECK(p.device.is_cpu());
  CHECK((p.dtype == c10::kBFloat16));
  CHECK(p.describe() == "cpu bf16");
  auto t = torch::zeros({2}, p.options());
  CHECK((t.scalar_type() == c10::kBFloat16));
  CHECK(t.device().is_cpu());
}
