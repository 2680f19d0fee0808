// longvid bench (api/bench.h): every case runs on a tiny random model and reports time, FLOPs and
// peak memory; bad cases are refused with one line and no JSON is left behind.
#include <doctest/doctest.h>

#include <ATen/Context.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/helpers.h"

using namespace longvid;

TEST_CASE("bench CLI: every case on a tiny random model, JSON with time, FLOPs, peak RSS and an op profile") {
  test::ScratchDir dir("bench");
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  auto json = dir / "bench.json";
  auto r = test::run_cli({"bench", "--model", "random", "--random-latent-size", "4", "--cases",
                          "denoiser,step,clip,decode,encode,long", "--iters", "1", "--steps", "2", "--latent-frames", "2",
                          "--long-frames", "24", "--json", json.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("GFLOP/s") != std::string::npos);
  std::ifstream f(json);
  auto j = nlohmann::json::parse(f);
  REQUIRE(j["rows"].size() == 6);
  for (const auto& row : j["rows"]) {
    INFO(row.dump());
    CHECK(row["min_s"].get<double>() > 0);
    CHECK(row["gflop"].get<double>() > 0);  // every case runs convolutions or matmuls
    if (!row["peak_rss_mib"].is_null()) CHECK(row["peak_rss_mib"].get<double>() > 10);
    CHECK(row["peak_gpu_mib"].is_null());
  }
  // One sampler step costs one denoiser forward (DDIM, no guidance): the counted FLOPs agree.
  const double fwd = j["rows"][0]["gflop"].get<double>(), step = j["rows"][1]["gflop"].get<double>();
  CHECK(step == doctest::Approx(fwd).epsilon(0.02));
  CHECK(j["machine"]["device"] == "cpu");

  // --profile N: one more run per case, its N ops with the most self time printed and in the JSON.
  auto pj = dir / "profile.json";
  auto p = test::run_cli({"bench", "--model", "random", "--random-latent-size", "4", "--cases", "denoiser", "--iters",
                          "1", "--profile", "3", "--json", pj.string()});
  INFO(p.err);
  REQUIRE(p.exit_code == 0);
  CHECK(p.out.find("denoiser: ops by self time") != std::string::npos);
  std::ifstream pf(pj);
  auto pjson = nlohmann::json::parse(pf);
  const auto& ops = pjson["rows"][0]["ops"];
  REQUIRE(ops.size() == 3);
  CHECK(ops[0]["self_s"].get<double>() >= ops[2]["self_s"].get<double>());
  CHECK(ops[0]["calls"].get<int64_t>() > 0);
  CHECK(pjson["rows"][0]["profiled_s"].get<double>() >= ops[0]["self_s"].get<double>());
  CHECK(j["rows"][0].find("ops") == j["rows"][0].end());  // not without --profile
  auto negative = test::run_cli({"bench", "--model", "random", "--profile", "-1"});
  CHECK(negative.exit_code != 0);
  CHECK(negative.err.find("--profile -1: must be >= 0") != std::string::npos);

  // LONGVID_CONV (core/conv.h): aten sends every 3D convolution through aten::convolution again (more
  // calls of it than the default, which calls the kernels directly); a nonsense value is one clear error.
  auto conv_calls = [&](const char* mode, const char* name = "aten::convolution") -> int64_t {
    test::ScopedEnv conv("LONGVID_CONV", mode);
    auto cj = dir / (std::string("conv_") + mode + ".json");
    auto r = test::run_cli({"bench", "--model", "random", "--random-latent-size", "4", "--cases", "denoiser",
                            "--iters", "1", "--warmup", "0", "--profile", "1000", "--json", cj.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::ifstream cf(cj);
    const auto doc = nlohmann::json::parse(cf);  // (a named document: a range-for over a temporary's member dangles)
    for (const auto& op : doc["rows"][0]["ops"])
      if (op["name"] == name) return op["calls"].get<int64_t>();
    return 0;
  };
  const int64_t aten_calls = conv_calls("aten"), auto_calls = conv_calls("auto");
  CHECK(aten_calls > auto_calls);
  // packed (opt-in) runs the U-Net's 3D convolutions on packed weights from its second forward on
  // (the timed run is the first forward, the profiled one the second); auto does not.
  if (at::hasMKLDNN()) {
    CHECK(conv_calls("packed", "mkldnn::_convolution_pointwise") > 0);
    CHECK(conv_calls("auto", "mkldnn::_convolution_pointwise") == 0);
    CHECK(conv_calls("auto", "aten::mkldnn_convolution") > 0);
  }
  {
    test::ScopedEnv conv("LONGVID_CONV", "fast");
    auto r = test::run_cli({"bench", "--model", "random", "--random-latent-size", "4", "--cases", "denoiser",
                            "--iters", "1"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("LONGVID_CONV=fast: expected auto (the default), packed or aten") != std::string::npos);
  }
  {
    test::ScopedEnv linear("LONGVID_LINEAR", "mkl");
    auto r = test::run_cli({"bench", "--model", "random", "--random-latent-size", "4", "--cases", "denoiser",
                            "--iters", "1"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("LONGVID_LINEAR=mkl: expected auto (the default) or aten") != std::string::npos);
  }

  auto bad = test::run_cli({"bench", "--model", "random", "--cases", "denoiser,nope", "--json", (dir / "x.json").string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("unknown case 'nope'") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "x.json"));
}
