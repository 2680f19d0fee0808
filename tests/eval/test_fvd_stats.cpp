// FVD / KVD statistics and distances against scipy / sklearn / TF-GAN numerics
// (tests/data/gen/gen_fvd_reference.py), shard merging, .stats files, clip inputs, and the
// detector-free paths of `longvid fvd`.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/video_io.h"
#include "eval/clip_input.h"
#include "eval/distances.h"
#include "eval/feature_stats.h"
#include "eval/fvd_run.h"
#include "tests/helpers.h"

using namespace longvid;
using namespace longvid::eval;

namespace {

// The generator script's synthetic_features(): u_k = mix(seed + (k + 1) golden) >> 11 · 2^-53,
// x_ij = scale u_ij + 0.5 u_i,(j+1)%d + shift (j mod 7).
at::Tensor synthetic_features(uint64_t seed, int64_t n, int64_t d, double scale, double shift) {
  at::Tensor u = at::empty({n, d}, at::kDouble);
  double* p = u.data_ptr<double>();
  for (int64_t k = 0; k < n * d; ++k) {
    uint64_t s = seed + static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ULL;  // splitmix64 adds golden first
    p[k] = static_cast<double>(splitmix64(s) >> 11) * std::ldexp(1.0, -53);
  }
  at::Tensor x = at::empty({n, d}, at::kDouble);
  double* q = x.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      q[i * d + j] = scale * p[i * d + j] + 0.5 * p[i * d + (j + 1) % d] + shift * static_cast<double>(j % 7);
  return x;
}

struct Ref {
  StateDict sd = load_checkpoint(test::data_dir() / "eval" / "fvd_reference.safetensors");
  double v(const char* k) const { return sd.get(k).item<double>(); }
  at::Tensor real() const { return synthetic_features(1234, 2048, 400, 2.0, 0.0); }
  at::Tensor fake() const { return synthetic_features(5678, 2048, 400, 2.2, 0.1); }
};

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

FeatureStats streamed(const at::Tensor& x, int64_t chunk, bool keep) {
  FeatureStats s(x.size(1), keep);
  for (int64_t i = 0; i < x.size(0); i += chunk) s.add(x.slice(0, i, std::min(i + chunk, x.size(0))));
  return s;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("fvd frechet distance matches scipy sqrtm and tfgan svd") {
  Ref ref;
  at::Tensor real = ref.real(), fake = ref.fake();
  // The C++ feature generator is the Python one.
  CHECK(at::allclose(real.slice(0, 0, 2).slice(1, 0, 8), ref.sd.get("real_head"), 0, 0));
  CHECK(at::allclose(fake.slice(0, 0, 2).slice(1, 0, 8), ref.sd.get("fake_head"), 0, 0));
  FeatureStats r = streamed(real, 100, false), f = streamed(fake, 100, false);
  const double sg = eval::fvd(r, f, protocol_spec("stylegan-v"));  // /N, sqrtm
  const double tf = eval::fvd(r, f, protocol_spec("tf"));          // /(N-1), SVD
  const double vg = eval::fvd(r, f, protocol_spec("videogpt"));
  MESSAGE("stylegan-v " << sg << " vs scipy " << ref.v("fd_sqrtm_n") << "  rel " << rel(sg, ref.v("fd_sqrtm_n")));
  MESSAGE("tf " << tf << " vs tfgan-svd " << ref.v("fd_svd_n1") << "  rel " << rel(tf, ref.v("fd_svd_n1")));
  // float64 throughout: measured 4.9e-15 / 1.1e-14 (docs/STATUS.md); 1e-12 leaves room for other
  // BLAS / LAPACK builds, far below anything a wrong formula would give.
  constexpr double kTol = 1e-12;
  CHECK(rel(sg, ref.v("fd_sqrtm_n")) <= kTol);
  CHECK(rel(tf, ref.v("fd_svd_n1")) <= kTol);
  CHECK(vg == tf);
  // Each square root on the other covariance normalisation.
  ProtocolSpec p = protocol_spec("stylegan-v");
  p.sqrt = SqrtMethod::TfSvd;
  MESSAGE("stylegan-v with tf-svd: rel " << rel(eval::fvd(r, f, p), ref.v("fd_svd_n")));
  CHECK(rel(eval::fvd(r, f, p), ref.v("fd_svd_n")) <= kTol);
  p = protocol_spec("tf");
  p.sqrt = SqrtMethod::Sqrtm;
  MESSAGE("tf with sqrtm: rel " << rel(eval::fvd(r, f, p), ref.v("fd_sqrtm_n1")));
  CHECK(rel(eval::fvd(r, f, p), ref.v("fd_sqrtm_n1")) <= kTol);
  // A distance of a set to itself is ~0; swapping sides keeps the value.
  MESSAGE("fvd(r, r) = " << eval::fvd(r, r, protocol_spec("stylegan-v")));
  CHECK(std::fabs(eval::fvd(r, r, protocol_spec("stylegan-v"))) < 1e-9);  // measured -4.5e-13
  CHECK(rel(eval::fvd(f, r, protocol_spec("stylegan-v")), sg) <= 1e-9);
  CHECK_THROWS_WITH_AS(protocol_spec("fid"), doctest::Contains("unknown FVD protocol 'fid'"), Error);
}

TEST_CASE("fvd kvd matches sklearn polynomial kernel mmd") {
  Ref ref;
  at::Tensor real = ref.real(), fake = ref.fake();
  KernelOptions full;
  full.num_subsets = 1;
  full.max_subset_size = 2048;  // one subset = a permutation of the whole set: the full-set MMD²
  const double k_full = kernel_distance(real, fake, full);
  KernelOptions sub;
  sub.num_subsets = 4;
  sub.max_subset_size = 500;
  sub.seed = 99;
  const double k_sub = kernel_distance(real, fake, sub);
  MESSAGE("kvd full " << k_full << " rel " << rel(k_full, ref.v("kvd_full")) << "  subsets " << k_sub << " rel "
                      << rel(k_sub, ref.v("kvd_sub")));
  CHECK(rel(k_full, ref.v("kvd_full")) <= 1e-12);  // measured 0 and 7.0e-16 (float64)
  CHECK(rel(k_sub, ref.v("kvd_sub")) <= 1e-12);
  // Seeded: same seed same value, another seed another subset.
  CHECK(kernel_distance(real, fake, sub) == k_sub);
  sub.seed = 100;
  CHECK(kernel_distance(real, fake, sub) != k_sub);
  CHECK_THROWS_AS(kernel_distance(real, fake.slice(1, 0, 10), full), Error);
}

TEST_CASE("fvd merged shards equal the unsharded statistics") {
  Ref ref;
  at::Tensor real = ref.real(), fake = ref.fake();
  FeatureStats whole = streamed(fake, 64, true);
  FeatureStats a = streamed(fake.slice(0, 0, 700), 50, true);
  FeatureStats b = streamed(fake.slice(0, 700, 1700), 128, true);
  FeatureStats c = streamed(fake.slice(0, 1700), 16, true);
  for (auto* s : {&whole, &a, &b, &c}) s->metadata = {{"protocol", "stylegan-v"}, {"clip_length", "16"}};
  test::ScratchDir dir("fvdmerge");
  a.save(dir / "a.stats");
  b.save(dir / "b.stats");
  c.save(dir / "c.stats");
  // In process, through files.
  FeatureStats m = FeatureStats::load(dir / "a.stats");
  m.merge(FeatureStats::load(dir / "b.stats"));
  m.merge(FeatureStats::load(dir / "c.stats"));
  CHECK(m.count() == 2048);
  const double rs = ((m.sum() - whole.sum()).abs().max() / whole.sum().abs().max()).item<double>();
  const double ro = ((m.outer() - whole.outer()).abs().max() / whole.outer().abs().max()).item<double>();
  MESSAGE("merged vs unsharded: sum rel " << rs << ", outer rel " << ro);
  CHECK(rs <= 1e-12);  // measured 4.5e-16, 4.7e-15
  CHECK(ro <= 1e-12);
  CHECK(at::equal(m.features(), fake));
  FeatureStats r = streamed(real, 256, false);
  for (const char* p : {"stylegan-v", "tf"}) {
    const double fm = eval::fvd(r, m, protocol_spec(p)), fw = eval::fvd(r, whole, protocol_spec(p));
    MESSAGE(std::string(p) << ": merged " << fm << " unsharded " << fw << " rel " << rel(fm, fw));
    CHECK(rel(fm, fw) <= 1e-12);  // measured <= 4.2e-15
  }
  // Through the CLI.
  auto res = test::run_cli({"fvd", "merge", (dir / "a.stats").string(), (dir / "b.stats").string(),
                            (dir / "c.stats").string(), "-o", (dir / "all.stats").string()});
  INFO(res.err);
  REQUIRE(res.exit_code == 0);
  FeatureStats cli = FeatureStats::load(dir / "all.stats");
  CHECK(cli.count() == 2048);
  CHECK(at::equal(cli.outer(), m.outer()));
  CHECK(cli.metadata.at("protocol") == "stylegan-v");
  // FVD + KVD from .stats files (no detector needed), report and JSON.
  FeatureStats rk = streamed(real, 256, true);
  rk.metadata = {{"protocol", "stylegan-v"}, {"clip_length", "16"}};
  rk.save(dir / "real.stats");
  res = test::run_cli({"fvd", "--real", (dir / "real.stats").string(), "--fake", (dir / "all.stats").string(),
                       "--kvd", "--kvd-subsets", "4", "--kvd-subset-size", "500", "--seed", "99", "--json",
                       (dir / "r.json").string()});
  INFO(res.err);
  REQUIRE(res.exit_code == 0);
  CHECK(res.out.find("protocol: stylegan-v (covariance /N, sqrtm square root)") != std::string::npos);
  CHECK(res.out.find("clips: length 16") != std::string::npos);
  const std::string js = read_text(dir / "r.json");
  CHECK(js.find("\"fvd\": " + std::to_string(ref.v("fd_sqrtm_n")).substr(0, 7)) != std::string::npos);
  CHECK(js.find("\"kvd\": " + std::to_string(ref.v("kvd_sub")).substr(0, 6)) != std::string::npos);
}

TEST_CASE("fvd stats bad input") {
  test::ScratchDir dir("fvdbad");
  FeatureStats a(8, false), b(6, false), c(8, false);
  a.add(at::rand({5, 8}, at::kDouble));
  b.add(at::rand({5, 6}, at::kDouble));
  c.add(at::rand({5, 8}, at::kDouble));
  a.metadata = {{"protocol", "stylegan-v"}};
  b.metadata = {{"protocol", "stylegan-v"}};
  c.metadata = {{"protocol", "tf"}};
  a.save(dir / "a.stats");
  b.save(dir / "b.stats");
  c.save(dir / "c.stats");
  auto res = test::run_cli({"fvd", "merge", (dir / "a.stats").string(), (dir / "b.stats").string(), "-o",
                            (dir / "m.stats").string()});
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("feature dimension 8") != std::string::npos);
  CHECK(res.err.find("feature dimension 6") != std::string::npos);
  res = test::run_cli({"fvd", "merge", (dir / "a.stats").string(), (dir / "c.stats").string(), "-o",
                       (dir / "m.stats").string()});
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("protocol 'stylegan-v'") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "m.stats"));
  res = test::run_cli({"fvd", "--real", (dir / "a.stats").string(), "--fake", (dir / "b.stats").string()});
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("dimension 8, fake features 6") != std::string::npos);
  // KVD asked of stats without features.
  res = test::run_cli({"fvd", "--real", (dir / "a.stats").string(), "--fake", (dir / "a.stats").string(), "--kvd"});
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("--kvd needs features") != std::string::npos);
  // A truncated .stats file.
  {
    auto bytes = read_text(dir / "a.stats");
    std::ofstream f(dir / "t.stats", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 40));
  }
  CHECK_THROWS_AS(FeatureStats::load(dir / "t.stats"), Error);
  res = test::run_cli({"fvd", "merge", (dir / "a.stats").string(), (dir / "t.stats").string(), "-o",
                       (dir / "m.stats").string()});
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("t.stats") != std::string::npos);
  CHECK(test::count_lines(res.err) <= 2);
  // Some other safetensors file.
  StateDict sd;
  sd.set("w", at::zeros({2}));
  save_safetensors(dir / "w.stats", sd);
  CHECK_THROWS_WITH_AS(FeatureStats::load(dir / "w.stats"), doctest::Contains("not a longvid .stats file"), Error);
  // Wrong feature shape into stats.
  CHECK_THROWS_WITH_AS(a.add(at::zeros({2, 7}, at::kDouble)), doctest::Contains("expected [N, 8]"), Error);
}

TEST_CASE("fvd clip inputs from npy npz and videos") {
  auto dd = test::data_dir() / "eval";
  auto expect = [](int64_t i, int64_t t, int64_t h, int64_t w, int64_t c) {
    return static_cast<uint8_t>((7 * i + 13 * t + 3 * h + 5 * w + 11 * c) % 256);
  };
  for (auto name : {"clips.npy", "clips.npz"}) {
    auto in = open_clip_input(dd / name);
    REQUIRE(in->items() == 3);
    CHECK(in->frames(1) == 20);
    at::Tensor c = in->read(2, 3, 4, 2);  // frames 3, 5, 7, 9 of item 2
    REQUIRE(c.sizes() == at::IntArrayRef{4, 8, 6, 3});
    auto acc = c.accessor<uint8_t, 4>();
    bool ok = true;
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t h = 0; h < 8; ++h)
        for (int64_t w = 0; w < 6; ++w)
          for (int64_t ch = 0; ch < 3; ++ch) ok = ok && acc[t][h][w][ch] == expect(2, 3 + 2 * t, h, w, ch);
    CHECK(ok);
  }
  CHECK_THROWS_WITH_AS(open_clip_input(dd / "clips_deflate.npz"), doctest::Contains("deflate-compressed"), Error);
  CHECK_THROWS_WITH_AS(open_clip_input(dd / "clips.npz", "nope"), doctest::Contains("no array 'nope'"), Error);
  CHECK_THROWS_WITH_AS(open_clip_input(dd / "clips.npz", "other"), doctest::Contains("expected uint8"), Error);

  // Clip plans: deterministic in (seed, index), so shards read the clips of the whole run.
  auto in = open_clip_input(dd / "clips.npy");
  ClipOptions o;
  o.length = 16;
  o.num = 10;
  o.seed = 7;
  auto all = plan_clips(*in, o);
  o.num = 4;
  auto s1 = plan_clips(*in, o);
  o.first = 4;
  o.num = 6;
  auto s2 = plan_clips(*in, o);
  s1.insert(s1.end(), s2.begin(), s2.end());
  REQUIRE(s1.size() == all.size());
  bool same = true, varied = false;
  for (size_t i = 0; i < all.size(); ++i) {
    same = same && s1[i].item == all[i].item && s1[i].offset == all[i].offset;
    varied = varied || all[i].offset != all[0].offset;
    CHECK(all[i].offset + 16 <= 20);
  }
  CHECK(same);
  CHECK(varied);
  o = ClipOptions{};
  o.sampling = "start";
  o.num = -1;
  auto st = plan_clips(*in, o);
  CHECK(st.size() == 3);
  CHECK(st[2].offset == 0);
  o.length = 11;
  o.stride = 2;  // span 21 > 20 frames
  CHECK_THROWS_WITH_AS(plan_clips(*in, o), doctest::Contains("shorter than the clip length 11"), Error);

  // Videos: a short one in a folder, and a long one cut into windows.
  test::ScratchDir dir("fvdvid");
  std::filesystem::create_directories(dir / "set");
  at::Tensor frames = at::randint(0, 256, {24, 16, 16, 3}, at::kByte);
  write_video(dir / "set" / "a.y4m", frames);
  write_video(dir / "set" / "b.y4m", frames.slice(0, 0, 8));
  auto folder = open_clip_input(dir / "set");
  CHECK(folder->items() == 2);
  o = ClipOptions{};
  o.num = 4;
  CHECK_THROWS_WITH_AS(plan_clips(*folder, o), doctest::Contains("8 frames, shorter than the clip length 16"), Error);
  auto one = open_clip_input(dir / "set" / "a.y4m");
  o.sampling = "start";
  o.length = 8;
  o.num = -1;
  o.hop = 4;
  auto w = plan_clips(*one, o);
  REQUIRE(w.size() == 5);  // starts 0 4 8 12 16
  CHECK(w[4].offset == 16);
  at::Tensor clip = one->read(0, w[3].offset, 8, 1);
  CHECK(clip.sizes() == at::IntArrayRef{8, 16, 16, 3});
  CHECK(at::equal(clip, read_video(dir / "set" / "a.y4m").slice(0, 12, 20)));
  o.num = 6;
  CHECK_THROWS_WITH_AS(plan_clips(*one, o), doctest::Contains("hold 5 windows"), Error);
}

TEST_CASE("fvd curve positions for a set and for one long video") {
  auto set = open_clip_input(test::data_dir() / "eval" / "clips.npy");  // 3 videos of 20 frames
  ClipOptions o;
  o.length = 4;
  auto c = plan_curve(*set, o, 0, 0, 0);  // step = clip span 4: positions 0 4 8 12 16
  REQUIRE(c.size() == 5);
  CHECK(c[4].position == 16);
  REQUIRE(c[4].clips.size() == 3);
  CHECK(c[4].clips[2].item == 2);
  CHECK(c[4].clips[2].offset == 16);
  o.stride = 2;  // span 7: positions 0 5 10 (10 + 7 <= 20)
  c = plan_curve(*set, o, 5, 0, 0);
  REQUIRE(c.size() == 3);
  CHECK(c[2].position == 10);

  test::ScratchDir dir("fvdcurve");
  write_video(dir / "long.y4m", at::randint(0, 256, {40, 8, 8, 3}, at::kByte));
  auto one = open_clip_input(dir / "long.y4m");
  o = ClipOptions{};
  o.length = 4;
  c = plan_curve(*one, o, 0, 16, 2);  // segments of 16 at 0 16 (32 + 16 > 40); clips at p, p+2, ... p+12
  REQUIRE(c.size() == 2);
  CHECK(c[1].position == 16);
  REQUIRE(c[1].clips.size() == 7);
  CHECK(c[1].clips[6].offset == 28);
  CHECK_THROWS_WITH_AS(plan_curve(*one, o, 0, 64, 1), doctest::Contains("40 frames, shorter than one --segment"),
                       Error);
  CHECK_THROWS_WITH_AS(plan_curve(*one, o, 0, 2, 1), doctest::Contains("--segment (2) must be >= the clip span (4)"),
                       Error);
}

TEST_CASE("fvd statistics stream clips in bounded batches") {
  // A feature function that records batch sizes (the pipeline's contract: never more than `batch`
  // clips at once; features add up exactly as one big batch).
  auto in = open_clip_input(test::data_dir() / "eval" / "clips.npy");
  ClipOptions o;
  o.num = 9;
  o.seed = 3;
  auto refs = plan_clips(*in, o);
  std::vector<int64_t> sizes;
  auto feat = [&](const at::Tensor& c) {
    sizes.push_back(c.size(0));
    return c.to(at::kDouble).mean({1, 2, 3});  // [B, 3] per-channel means
  };
  FeatureStats s = accumulate_stats(*in, refs, 16, 1, feat, true, 4);
  CHECK(sizes == std::vector<int64_t>{4, 4, 1});
  CHECK(s.count() == 9);
  CHECK(s.dim() == 3);
  at::Tensor f = s.features();
  CHECK(at::allclose(s.sum(), f.sum(0), 1e-12, 0));
  CHECK(at::allclose(s.outer(), at::matmul(f.t(), f), 1e-12, 0));
}

TEST_CASE("fvd svg plot is well formed") {
  std::string svg = svg_line_plot({0, 16, 32}, {10.5, 20, 15}, "FVD <over> time", "frame", "FVD");
  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("FVD &lt;over&gt; time") != std::string::npos);
  CHECK(svg.find("<polyline") != std::string::npos);
  CHECK_THROWS_AS(svg_line_plot({0}, {}, "", "", ""), Error);
}
