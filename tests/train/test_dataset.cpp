// VideoDataset: shapes and range, determinism with background workers, resume, resize/crop, errors.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "core/error.h"
#include "core/video_io.h"
#include "tests/helpers.h"
#include "train/dataset.h"
#include "train/synth.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

// A tiny synthetic data folder: `n` y4m videos of `frames` frames (lossless, no FFmpeg needed).
void make_videos(const fs::path& dir, int n, int64_t frames, int size, uint64_t seed = 1) {
  SynthDatasetOptions o;
  o.out = dir;
  o.videos = n;
  o.frames = frames;
  o.size = size;
  o.seed = seed;
  o.format = "y4m";
  write_synth_dataset(o);
}

VideoDatasetOptions opts(const fs::path& root, int workers, uint64_t seed = 9) {
  VideoDatasetOptions o;
  o.roots = {root};
  o.clip_frames = 4;
  o.frame_stride = 2;
  o.size = 16;
  o.seed = seed;
  o.workers = workers;
  o.queue = 3;
  return o;
}

void make(const VideoDatasetOptions& o) { VideoDataset d(o); }

}  // namespace

TEST_CASE("dataset yields [B,3,T,S,S] in [-1,1] matching the decoded frames") {
  test::ScratchDir dir("ds");
  make_videos(dir / "d", 3, 20, 16);
  VideoDataset ds(opts(dir / "d", 2));
  CHECK(ds.num_videos() == 3);
  at::Tensor x = ds.next_batch(2);
  CHECK(x.sizes() == at::IntArrayRef({2, 3, 4, 16, 16}));
  CHECK((x.scalar_type() == torch::kFloat32));
  CHECK(x.min().item<float>() >= -1.0f);
  CHECK(x.max().item<float>() <= 1.0f);
  // Sample 0 is a clip of one of the videos at stride 2: equal to reading it directly.
  at::Tensor u = ds.sample_uint8(0);  // [T, S, S, 3]
  CHECK(torch::equal(x[0], u.permute({3, 0, 1, 2}).to(torch::kFloat32) / 127.5 - 1));
  bool found = false;
  for (const auto& v : ds.videos()) {
    at::Tensor all = read_video(v.path);
    for (int64_t s = 0; s + 6 < all.size(0) && !found; ++s)
      found = torch::equal(all.slice(0, s, s + 7, 2), u);
  }
  CHECK(found);
}

TEST_CASE("dataset order is deterministic, independent of workers, and resumes exactly") {
  test::ScratchDir dir("ds2");
  make_videos(dir / "d", 5, 16, 16);
  std::vector<at::Tensor> ref;
  {
    VideoDataset d0(opts(dir / "d", 0));
    for (int i = 0; i < 6; ++i) ref.push_back(d0.next_batch(2));  // 12 samples > 2 epochs
  }
  for (int workers : {1, 2}) {
    VideoDataset d(opts(dir / "d", workers));
    for (int i = 0; i < 6; ++i) CHECK(torch::equal(d.next_batch(2), ref[i]));
  }
  // Another seed gives another stream.
  {
    VideoDataset d(opts(dir / "d", 2, 10));
    CHECK(!torch::equal(d.next_batch(2), ref[0]));
  }
  // Each epoch visits every video once.
  {
    VideoDataset d(opts(dir / "d", 2));
    std::set<std::string> seen;
    CHECK(d.epoch() == 0);
    d.next_batch(5);
    CHECK(d.epoch() == 1);
  }
  // Resume: state after 3 batches, a new dataset restored from it continues identically.
  std::string st;
  {
    VideoDataset d(opts(dir / "d", 2));
    for (int i = 0; i < 3; ++i) d.next_batch(2);
    st = d.state();
    CHECK(st.find("\"next_sample\":6") != std::string::npos);
    CHECK(torch::equal(d.next_batch(2), ref[3]));
  }
  {
    VideoDataset d(opts(dir / "d", 2));
    d.next_batch(2);  // prefetching in flight; restore() drops it
    d.restore(st);
    for (int i = 3; i < 6; ++i) CHECK(torch::equal(d.next_batch(2), ref[i]));
  }
  {
    VideoDataset d(opts(dir / "d", 2, 10));
    CHECK_THROWS_WITH_AS(d.restore(st), doctest::Contains("seed"), Error);
    CHECK_THROWS_WITH_AS(d.restore("{nope"), doctest::Contains("malformed"), Error);
  }
}

TEST_CASE("dataset sharded ranks together read the single-process batches, samples() is random access") {
  test::ScratchDir dir("ds7");
  make_videos(dir / "d", 5, 16, 16);
  VideoDataset one(opts(dir / "d", 2));
  std::vector<at::Tensor> full;
  for (int s = 0; s < 4; ++s) full.push_back(one.next_batch(4));  // global batch 4
  for (int r = 0; r < 2; ++r) {
    VideoDatasetOptions o = opts(dir / "d", 2);
    o.shard_block = 2;
    o.shard_period = 4;
    o.shard_offset = 2 * r;
    VideoDataset rank(o);
    for (int s = 0; s < 4; ++s) CHECK(torch::equal(rank.next_batch(2), full[s].slice(0, 2 * r, 2 * r + 2)));
    CHECK(rank.global_index(5) == 4 * 2 + 2 * r + 1);
    CHECK(rank.stream_index(4 * 2 + 2 * r + 1) == 5);
    CHECK(rank.stream_index(2 * (1 - r)) == -1);
    // Random access, on and off the pattern.
    CHECK(torch::equal(rank.samples(4 + 2 * r, 2), full[1].slice(0, 2 * r, 2 * r + 2)));
    CHECK(torch::equal(rank.samples(0, 4), full[0]));
  }
  CHECK(torch::equal(one.samples(6, 3), torch::cat({full[1].slice(0, 2, 4), full[2].slice(0, 0, 1)})));
  VideoDatasetOptions bad = opts(dir / "d", 1);
  bad.shard_block = 2;
  bad.shard_period = 3;
  bad.shard_offset = 2;
  CHECK_THROWS_WITH_AS(make(bad), doctest::Contains("sharding"), Error);
}

TEST_CASE("dataset resizes the shorter side and crops") {
  test::ScratchDir dir("ds3");
  // A 24x12 (W x H) video whose columns encode x: resize to shorter side 6 -> 12x6, crop 6x6.
  const int W = 24, H = 12;
  at::Tensor v = torch::zeros({10, H, W, 3}, torch::kUInt8);
  for (int x = 0; x < W; ++x) v.select(2, x).fill_(x * 10);
  fs::create_directories(dir / "d");
  write_video(dir / "d/a.y4m", v);
  VideoDatasetOptions o = opts(dir / "d", 0);
  o.size = 6;
  o.clip_frames = 2;
  o.frame_stride = 1;
  VideoDataset centre(o);
  at::Tensor c = centre.sample_uint8(0);
  CHECK(c.sizes() == at::IntArrayRef({2, 6, 6, 3}));
  // Centre crop of a 12-wide ramp from 0..230: columns 3..8 of 12, values around the middle.
  const int mid = c[0][3][2][0].item<int>();
  CHECK(mid > 90);
  CHECK(mid < 140);
  o.random_crop = true;
  VideoDataset rnd(o);
  std::set<int> firsts;
  for (int k = 0; k < 20; ++k) firsts.insert(rnd.sample_uint8(k)[0][0][0][0].item<int>());
  CHECK(firsts.size() > 2);  // the crop offset varies with k
  CHECK(torch::equal(rnd.sample_uint8(7), rnd.sample_uint8(7)));
}

TEST_CASE("dataset bad input gives clear errors") {
  test::ScratchDir dir("ds4");
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH_AS(make(opts(dir / "empty", 1)), doctest::Contains("no videos found"), Error);
  CHECK_THROWS_WITH_AS(make(opts(dir / "missing", 1)), doctest::Contains("no such file"), Error);
  make_videos(dir / "short", 1, 6, 16);  // needs (4 - 1) * 2 + 1 = 7 frames
  CHECK_THROWS_WITH_AS(VideoDataset(opts(dir / "short", 1)),
                       doctest::Contains("6 frames, too short for a clip of 4 frames at stride 2 (needs 7)"), Error);
  std::ofstream(dir / "junk.mp4") << "not a video";
  CHECK_THROWS_WITH_AS(make(opts(dir / "junk.mp4", 1)), doctest::Contains("junk.mp4"), Error);
  VideoDatasetOptions o = opts(dir / "short", 1);
  o.clip_frames = 0;
  CHECK_THROWS_AS(make(o), Error);
}

TEST_CASE("dataset rethrows a worker's decoding error and goes on") {
  test::ScratchDir dir("ds6");
  make_videos(dir / "d", 2, 12, 16);
  VideoDatasetOptions o = opts(dir / "d", 2);
  o.shuffle = false;  // sample 0 is video_00000, sample 1 video_00001
  o.queue = 1;
  VideoDataset ds(o);
  fs::remove(dir / "d/video_00001.y4m");  // only the first sample may already be decoded
  std::string err;
  try {
    ds.next_batch(2);
  } catch (const Error& e) {
    err = e.what();
  }
  CHECK(err.find("video_00001.y4m") != std::string::npos);
  CHECK(ds.next_sample() == 2);
  CHECK(ds.next_batch(1).size(0) == 1);  // sample 2 is video_00000 again: no hang
}

TEST_CASE("dataset reads PNG sequence folders") {
  test::ScratchDir dir("ds5");
  if (!ffmpeg_available()) {
    test::report_skipped("built without FFmpeg (LONGVID_FFMPEG=OFF): PNG sequences need it");
    return;
  }
  at::Tensor v = torch::randint(0, 255, {8, 16, 16, 3}, torch::kUInt8);
  fs::create_directories(dir / "d");
  write_video((dir / "d/seq/").string(), v);
  VideoDatasetOptions o = opts(dir / "d", 1);
  VideoDataset ds(o);
  REQUIRE(ds.num_videos() == 1);
  at::Tensor u = ds.sample_uint8(0);
  bool found = false;
  for (int64_t s = 0; s + 6 < 8; ++s) found |= torch::equal(v.slice(0, s, s + 7, 2), u);
  CHECK(found);
}
