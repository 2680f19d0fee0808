// `longvid fvd` end to end with a TorchScript detector of StyleGAN-V's call signature (a tiny
// random-weight network made by tests/data/gen/gen_fvd_e2e.py, not I3D), against the Python run of
// the same clips: features, FVD (stylegan-v numerics), KVD, shards, curve, bad input.
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/error.h"
#include "eval/detector.h"
#include "eval/feature_stats.h"
#include "tests/helpers.h"


using namespace longvid;

namespace {

std::string d(const char* name) { return (test::data_dir() / "eval" / name).string(); }

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("fvd cli with a torchscript detector matches the python run") {
  StateDict ref = load_checkpoint(d("fvd_e2e_reference.safetensors"));
  test::ScratchDir dir("fvdcli");
  const std::vector<std::string> common = {"--detector", d("tiny_detector_ts.pt"), "--protocol", "stylegan-v",
                                           "--sampling", "start", "--num", "-1", "--batch", "5"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  // Features through `fvd stats --kvd` equal the reference's.
  auto r = test::run_cli(with({"fvd", "stats", d("e2e_real.npy"), "-o", (dir / "real.stats").string(), "--kvd"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  eval::FeatureStats rs = eval::FeatureStats::load(dir / "real.stats");
  at::Tensor want = ref.get("real_features");
  CHECK(rs.count() == 24);
  const double ferr = ((rs.features() - want).abs().max() / want.abs().max()).item<double>();
  MESSAGE("features vs python: max rel " << ferr);
  CHECK(ferr <= 5e-6);  // measured 2.6e-7; fp32 CPU kernels vary by ~2e-6 between machines (STATUS)
  CHECK(rs.metadata.at("protocol") == "stylegan-v");

  // The report: FVD and KVD of the two sets.
  r = test::run_cli(with({"fvd", "--real", d("e2e_real.npy"), "--fake", d("e2e_fake.npy"), "--kvd", "--kvd-subsets",
                          "1", "--kvd-subset-size", "24", "--json", (dir / "r.json").string()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("protocol: stylegan-v") != std::string::npos);
  auto j = read_json(dir / "r.json");
  const double fvd = j["fvd"].get<double>(), kvd = j["kvd"].get<double>();
  MESSAGE("fvd " << fvd << " vs python " << ref.get("fvd").item<double>() << " (rel "
                 << rel(fvd, ref.get("fvd").item<double>()) << "), kvd " << kvd << " vs " << ref.get("kvd").item<double>()
                 << " (rel " << rel(kvd, ref.get("kvd").item<double>()) << ")");
  CHECK(rel(fvd, ref.get("fvd").item<double>()) <= 5e-6);  // measured 5.4e-8 (from the float32 features)
  CHECK(rel(kvd, ref.get("kvd").item<double>()) <= 5e-6);  // measured 6.1e-8
  CHECK(j["protocol"]["covariance"] == "n");
  CHECK(j["protocol"]["sqrt"] == "sqrtm");

  // Two shards merged give the unsharded FVD.
  auto shard = [&](const char* first, const char* num, const std::string& out) {
    auto a = with({"fvd", "stats", d("e2e_fake.npy"), "-o", out, "--first", first});
    a[a.size() - 3] = num;  // the value after --num
    return a;
  };
  r = test::run_cli(shard("0", "10", (dir / "f1.stats").string()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = test::run_cli(shard("10", "14", (dir / "f2.stats").string()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = test::run_cli({"fvd", "merge", (dir / "f1.stats").string(), (dir / "f2.stats").string(), "-o",
                     (dir / "fake.stats").string()});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("24 clips from 2 shards") != std::string::npos);
  r = test::run_cli({"fvd", "--real", (dir / "real.stats").string(), "--fake", (dir / "fake.stats").string(),
                     "--json", (dir / "m.json").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(rel(read_json(dir / "m.json")["fvd"].get<double>(), fvd) <= 1e-6);

  // FVD over time: 8-frame windows every 4 frames of the 16-frame fake clips: positions 0 4 8.
  r = test::run_cli(with({"fvd", "curve", "--real", (dir / "real.stats").string(), "--fake", d("e2e_fake.npy"),
                          "--clip-length", "8", "--json", (dir / "c.json").string(), "--svg",
                          (dir / "c.svg").string(), "--step", "4"}));
  INFO(r.err);
  // The real stats are of 16-frame clips: refused, naming the mismatch.
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("16-frame clips") != std::string::npos);
  r = test::run_cli(with({"fvd", "curve", "--real", d("e2e_real.npy"), "--fake", d("e2e_fake.npy"), "--clip-length",
                          "8", "--json", (dir / "c.json").string(), "--svg", (dir / "c.svg").string(), "--step",
                          "4"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto cj = read_json(dir / "c.json");
  REQUIRE(cj["points"].size() == 3);
  CHECK(cj["points"][2]["position"] == 8);
  CHECK(cj["points"][2]["clips"] == 24);
  CHECK(std::filesystem::file_size(dir / "c.svg") > 500);

  // Bad input: clips longer than the videos.
  r = test::run_cli(with({"fvd", "stats", d("e2e_real.npy"), "-o", (dir / "x.stats").string(), "--clip-length", "20"}));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("16 frames, shorter than the clip length 20") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "x.stats"));
}



TEST_CASE("fvd detector files: missing file names the download, unknown protocol, native I3D not built") {
  test::ScratchDir dir("fvddet");
  auto missing = dir / "i3d_torchscript.pt";
  CHECK_THROWS_WITH_AS(eval::load_detector(missing, "stylegan-v"),
                       doctest::Contains("dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt"), Error);
  CHECK_THROWS_WITH_AS(eval::load_detector(d("tiny_detector_ts.pt"), "fid"), doctest::Contains("unknown"), Error);
  // a TorchScript file for an I3D protocol: the checkpoint loader refuses it (no code execution)
  CHECK_THROWS_WITH_AS(eval::load_detector(d("tiny_detector_ts.pt"), "videogpt"),
                       doctest::Contains("needs the InceptionI3d state dict i3d_pretrained_400.pt"), Error);
  // a file that is not TorchScript
  CHECK_THROWS_WITH_AS(eval::load_detector(d("clips.npy"), "stylegan-v"), doctest::Contains("not a TorchScript"), Error);
  auto det = eval::load_detector(d("tiny_detector_ts.pt"), "stylegan-v");
  CHECK_THROWS_AS(det->features(at::zeros({2, 16, 12, 12, 3}, at::kFloat)), Error);  // not uint8
}

TEST_CASE("fvd stats --model generates the fake set in the run, one seed per video, shardable") {
  test::ScratchDir dir("fvdgen");
  const std::vector<std::string> common = {"--detector", d("tiny_detector_ts.pt"), "--protocol", "stylegan-v",
                                           "--model", "random", "--steps", "2", "--seed-start", "7",
                                           "--batch", "2"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  auto r = test::run_cli(with({"fvd", "stats", "-o", (dir / "gen.stats").string(), "--num", "3", "--kvd",
                               "--keep-videos", (dir / "videos").string()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  eval::FeatureStats g = eval::FeatureStats::load(dir / "gen.stats");
  CHECK(g.count() == 3);
  CHECK(g.metadata.at("source").find("seeds 7..9") != std::string::npos);
  for (const char* f : {"fake_000000_seed7.y4m", "fake_000001_seed8.y4m", "fake_000002_seed9.y4m"})
    CHECK(std::filesystem::exists(dir / "videos" / f));
  // The features of the generated set are those of the kept videos read back from frame 0.
  r = test::run_cli({"fvd", "stats", (dir / "videos").string(), "-o", (dir / "read.stats").string(), "--kvd",
                     "--detector", d("tiny_detector_ts.pt"), "--sampling", "start", "--num", "-1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  eval::FeatureStats rd = eval::FeatureStats::load(dir / "read.stats");
  REQUIRE(rd.count() == 3);
  // (float32 detector: batches of 2 here vs 16 there take other kernel paths, so within 1e-5 relative)
  const double scale = g.features().abs().max().item<double>();
  CHECK(((g.features() - rd.features()).abs().max()).item<double>() <= 1e-5 * scale);
  // Videos of different seeds differ.
  CHECK(((g.features()[0] - g.features()[1]).abs().max()).item<double>() > 0.0);
  // A shard (--first 1 --num 2) makes the videos of seeds 8 and 9: its features are rows 1..2.
  r = test::run_cli(with({"fvd", "stats", "-o", (dir / "shard.stats").string(), "--first", "1", "--num", "2",
                          "--kvd"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  eval::FeatureStats sh = eval::FeatureStats::load(dir / "shard.stats");
  REQUIRE(sh.count() == 2);
  CHECK(((sh.features() - g.features().slice(0, 1, 3)).abs().max()).item<double>() <= 1e-5 * scale);
  // Bad input: videos shorter than a clip; --fake and --model together.
  r = test::run_cli(with({"fvd", "stats", "-o", (dir / "x.stats").string(), "--num", "1", "--gen-frames", "8"}));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--gen-frames 8: shorter than a clip") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "x.stats"));
  r = test::run_cli(with({"fvd", "--real", (dir / "gen.stats").string(), "--fake", (dir / "gen.stats").string()}));
  CHECK(r.exit_code == 2);
  // The report with a generated fake set.
  r = test::run_cli(with({"fvd", "--real", (dir / "read.stats").string(), "--num", "3", "--json",
                          (dir / "r.json").string()}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("fake: model random (3 clips)") != std::string::npos);
  r = test::run_cli({"fvd", "--real", (dir / "read.stats").string(), "--fake", (dir / "read.stats").string(),
                     "--json", (dir / "r2.json").string()});
  REQUIRE(r.exit_code == 0);
  // the same three videos on both sides: FVD ~ 0, as for the read-back set against itself
  CHECK(std::fabs(read_json(dir / "r.json")["fvd"].get<double>()) < 1e-6 * scale * scale);
  CHECK(std::fabs(read_json(dir / "r2.json")["fvd"].get<double>()) < 1e-6 * scale * scale);
}
