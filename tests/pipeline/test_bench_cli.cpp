// longvid bench (api/bench.h): every case runs on a tiny random model and reports time, FLOPs and
// peak memory; bad cases are refused with one line and no JSON is left behind.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/helpers.h"

using namespace longvid;

TEST_CASE("bench CLI: every case on a tiny random model, JSON with time, FLOPs and peak RSS") {
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

  auto bad = test::run_cli({"bench", "--model", "random", "--cases", "denoiser,nope", "--json", (dir / "x.json").string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("unknown case 'nope'") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "x.json"));
}
