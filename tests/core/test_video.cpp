// Video I/O that works without FFmpeg: y4m, colour conversion, sinks, frame ranges, errors.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>

#include "core/error.h"
#include "core/video_io.h"
#include "tests/core/video_test_util.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

TEST_CASE("y4m colour conversion: RGB -> YUV444p16 -> RGB is the identity on all 2^24 colours") {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t n = 1 << 16;  // one red value at a time: all (g, b)
  std::vector<uint8_t> rgb(size_t(3 * n)), back(size_t(3 * n));
  std::vector<uint16_t> y(static_cast<size_t>(n)), u(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  int64_t mismatches = 0;
  uint16_t ymin = 65535, ymax = 0, cmin = 65535, cmax = 0;
  for (int r = 0; r < 256; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      rgb[size_t(3 * i)] = uint8_t(r);
      rgb[size_t(3 * i + 1)] = uint8_t(i >> 8);
      rgb[size_t(3 * i + 2)] = uint8_t(i & 255);
    }
    rgb_to_yuv444p16(rgb.data(), n, y.data(), u.data(), v.data());
    yuv444p16_to_rgb(y.data(), u.data(), v.data(), n, back.data());
    if (std::memcmp(rgb.data(), back.data(), rgb.size()) != 0)
      for (size_t k = 0; k < rgb.size(); ++k) mismatches += rgb[k] != back[k];
    for (int64_t i = 0; i < n; ++i) {
      ymin = std::min(ymin, y[size_t(i)]), ymax = std::max(ymax, y[size_t(i)]);
      cmin = std::min({cmin, u[size_t(i)], v[size_t(i)]}), cmax = std::max({cmax, u[size_t(i)], v[size_t(i)]});
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("2^24 colours checked in " << secs << " s");
  CHECK(mismatches == 0);
  // BT.601 limited range at 16 bits: Y in [16, 235] << 8, Cb/Cr in [16, 240] << 8.
  CHECK(ymin == 16 * 256);
  CHECK(ymax == 235 * 256);
  CHECK(cmin == 16 * 256);
  CHECK(cmax == 240 * 256);
  // Grey stays neutral.
  uint8_t grey[3] = {77, 77, 77};
  uint16_t gy, gu, gv;
  rgb_to_yuv444p16(grey, 1, &gy, &gu, &gv);
  CHECK(gu == 32768);
  CHECK(gv == 32768);
}

TEST_CASE("y4m: our writer -> our reader is bit-exact, any size") {
  test::ScratchDir dir("y4m");
  for (auto [h, w] : {std::pair<int, int>{48, 64}, {31, 17}, {1, 1}}) {
    auto clip = test::random_clip(5, h, w, 1234 + h);
    auto path = dir / fmt::format("clip_{}x{}.y4m", w, h);
    WriteOptions wo;
    wo.fps = Fps{30000, 1001};
    write_video(path, clip, wo);
    auto back = read_video(path);
    REQUIRE(back.sizes() == clip.sizes());
    CHECK(torch::equal(back, clip));
    VideoInfo info = probe_video(path);
    CHECK(info.width == w);
    CHECK(info.height == h);
    CHECK(info.fps.num == 30000);
    CHECK(info.fps.den == 1001);
    CHECK(info.frame_count == 5);
    CHECK(info.frame_count_exact);
    CHECK(info.codec == "y4m:C444p16");
  }
  // The header is what the format says.
  std::ifstream f(dir / "clip_64x48.y4m", std::ios::binary);
  std::string header;
  std::getline(f, header);
  CHECK(header == "YUV4MPEG2 W64 H48 F30000:1001 Ip A1:1 C444p16 XYSCSS=444P16 XCOLORRANGE=LIMITED");
  CHECK(fs::file_size(dir / "clip_64x48.y4m") == header.size() + 1 + 5 * (6 + 64 * 48 * 6));
}

TEST_CASE("y4m: frame ranges and strides match reading everything") {
  test::ScratchDir dir("y4mrange");
  auto clip = test::random_clip(20, 8, 12, 7);
  auto path = dir / "r.y4m";
  write_video(path, clip);
  auto all = read_video(path);
  REQUIRE(torch::equal(all, clip));
  struct Case {
    int64_t start, count, stride;
  };
  for (Case c : {Case{0, -1, 1}, Case{3, 5, 2}, Case{19, 1, 1}, Case{1, -1, 3}, Case{0, 4, 6}, Case{5, -1, 100}}) {
    ReadOptions ro;
    ro.start = c.start, ro.count = c.count, ro.stride = c.stride;
    auto got = read_video(path, ro);
    int64_t end = c.count > 0 ? c.start + (c.count - 1) * c.stride + 1 : 20;
    auto want = all.slice(0, c.start, end, c.stride);
    CAPTURE(c.start);
    CAPTURE(c.count);
    CAPTURE(c.stride);
    REQUIRE(got.sizes() == want.sizes());
    CHECK(torch::equal(got, want));
  }
  // Positions reported by the streaming reader.
  ReadOptions ro;
  ro.start = 2, ro.stride = 5;
  VideoReader r(path, ro);
  CHECK(r.selected_count() == 4);
  std::vector<uint8_t> buf;
  std::vector<int64_t> pos;
  while (r.next(buf)) pos.push_back(r.position());
  CHECK(pos == std::vector<int64_t>{2, 7, 12, 17});
  // Past the end: one clear line naming the file.
  ro = {};
  ro.start = 20;
  CHECK_THROWS_WITH_AS(VideoReader(path, ro), doctest::Contains("r.y4m: frame range past the end"), Error);
  ro.start = 10, ro.count = 6, ro.stride = 2;
  CHECK_THROWS_WITH_AS(VideoReader(path, ro), doctest::Contains("frame range past the end"), Error);
  ro = {};
  ro.stride = 0;
  CHECK_THROWS_WITH_AS(VideoReader(path, ro), doctest::Contains("stride must be >= 1"), Error);
}

TEST_CASE("y4m reader: hand-made 8-bit 4:2:0, 4:2:2, mono, full range, 10-bit") {
  test::ScratchDir dir("y4mhand");
  auto write = [&](const std::string& name, const std::string& header, const std::vector<uint8_t>& frame, int n) {
    std::ofstream f(dir / name, std::ios::binary);
    f << header << "\n";
    for (int i = 0; i < n; ++i) {
      f << (i == 1 ? "FRAME Ixyz\n" : "FRAME\n");  // frame parameters are allowed and ignored
      f.write(reinterpret_cast<const char*>(frame.data()), std::streamsize(frame.size()));
    }
  };
  // 4x2 C420jpeg: Y = 16 (black) left half, 235 (white) right half; neutral chroma.
  write("a.y4m", "YUV4MPEG2 W4 H2 F25:1 Ip A0:0 C420jpeg XYSCSS=420JPEG",
        {16, 16, 235, 235, 16, 16, 235, 235, 128, 128, 128, 128}, 3);
  auto a = read_video(dir / "a.y4m");
  REQUIRE(a.sizes() == at::IntArrayRef({3, 2, 4, 3}));
  CHECK(a[2][1][0][0].item<int>() == 0);
  CHECK(a[2][1][3][2].item<int>() == 255);
  CHECK_FALSE(probe_video(dir / "a.y4m").frame_count_exact);  // "FRAME Ixyz" breaks the size rule
  // Pure red in limited range (Y=81, Cb=90, Cr=240) with 4:2:2, 2x1.
  write("red.y4m", "YUV4MPEG2 W2 H1 F24:1 C422", {81, 81, 90, 240}, 1);
  auto red = read_video(dir / "red.y4m");
  CHECK(red[0][0][0][0].item<int>() >= 254);
  CHECK(red[0][0][1][1].item<int>() <= 1);
  CHECK(red[0][0][1][2].item<int>() <= 1);
  // mono, full range: Y is the grey level.
  write("mono.y4m", "YUV4MPEG2 W3 H1 F24:1 Cmono XCOLORRANGE=FULL", {0, 100, 255}, 2);
  auto mono = read_video(dir / "mono.y4m");
  CHECK(mono[1][0][1][0].item<int>() == 100);
  CHECK(mono[1][0][1][2].item<int>() == 100);
  CHECK(mono[1][0][2][1].item<int>() == 255);
  // 10-bit 4:4:4, little endian: Y = 940 (white), chroma 512.
  write("w10.y4m", "YUV4MPEG2 W1 H1 F24:1 C444p10", {0xAC, 0x03, 0x00, 0x02, 0x00, 0x02}, 1);
  auto w10 = read_video(dir / "w10.y4m");
  CHECK(w10[0][0][0][0].item<int>() == 255);
  CHECK(w10[0][0][0][1].item<int>() == 255);

  // Broken files: one line each, naming the file.
  { std::ofstream(dir / "bad.y4m") << "RIFF nonsense\n"; }
  CHECK_THROWS_WITH_AS(read_video(dir / "bad.y4m"), doctest::Contains("bad.y4m: not a y4m file"), Error);
  { std::ofstream(dir / "zero.y4m") << "YUV4MPEG2 W0 H16 F25:1\n"; }
  CHECK_THROWS_WITH_AS(read_video(dir / "zero.y4m"), doctest::Contains("zero.y4m: zero-sized video"), Error);
  { std::ofstream(dir / "empty.y4m") << "YUV4MPEG2 W4 H2 F25:1\n"; }
  CHECK_THROWS_WITH_AS(read_video(dir / "empty.y4m"), doctest::Contains("empty.y4m: the video has no frames"),
                       Error);
  { std::ofstream(dir / "cs.y4m") << "YUV4MPEG2 W4 H2 F25:1 C420p99\n"; }
  CHECK_THROWS_WITH_AS(read_video(dir / "cs.y4m"), doctest::Contains("cs.y4m: unsupported y4m bit depth"), Error);
  {
    std::ofstream f(dir / "trunc.y4m", std::ios::binary);
    f << "YUV4MPEG2 W4 H2 F25:1 C444\nFRAME\n" << std::string(24, '\x80') << "FRAME\n" << std::string(5, '\x80');
  }
  CHECK_THROWS_WITH_AS(read_video(dir / "trunc.y4m"), doctest::Contains("trunc.y4m: truncated y4m file"), Error);
  CHECK_THROWS_WITH_AS(read_video(dir / "missing.y4m"), doctest::Contains("missing.y4m: no such file"), Error);
}

TEST_CASE("writers: atomic output, bad frames, clear errors") {
  test::ScratchDir dir("vatomic");
  auto clip = test::random_clip(3, 16, 16, 3);
  {
    VideoWriter w(dir / "never.y4m");
    push_frames(w, clip);
    // destroyed without close()
  }
  CHECK(dir.entries().empty());
  {
    VideoWriter w(dir / "none.y4m");
    CHECK_THROWS_WITH_AS(w.close(), doctest::Contains("none.y4m: no frames were written"), Error);
  }
  CHECK(dir.entries().empty());
  {
    VideoWriter w(dir / "sizes.y4m");
    push_frames(w, clip);
    auto other = test::random_clip(1, 8, 16, 4);
    CHECK_THROWS_WITH_AS(push_frames(w, other), doctest::Contains("sizes.y4m: frame 3 is 16x8 but the video is 16x16"),
                         Error);
    CHECK_THROWS_WITH_AS(w.push(clip.data_ptr<uint8_t>(), 0, 16), doctest::Contains("zero-sized frame"), Error);
  }
  CHECK(dir.entries().empty());
  CHECK_THROWS_WITH_AS(VideoWriter(dir / "nodir" / "x.y4m"), doctest::Contains("output directory does not exist"),
                       Error);
  CHECK_THROWS_WITH_AS(write_video(dir / "f.y4m", torch::zeros({2, 4, 4, 3}, torch::kFloat32)),
                       doctest::Contains("frames must be a uint8 tensor [T, H, W, 3]"), Error);
  CHECK_THROWS_WITH_AS(write_video(dir / "f.y4m", torch::zeros({0, 4, 4, 3}, torch::kUInt8)),
                       doctest::Contains("zero-sized video"), Error);
  CHECK(dir.entries().empty());
  // A strided view (FrameView::stride) writes the same as a packed frame.
  auto wide = test::random_clip(1, 10, 20, 5);
  {
    VideoWriter w(dir / "strided.y4m");
    w.push(FrameView{wide.data_ptr<uint8_t>(), 12, 10, 20 * 3});
    w.close();
  }
  CHECK(torch::equal(read_video(dir / "strided.y4m")[0], wide[0].slice(1, 0, 12)));
  if (!ffmpeg_available()) {
    CHECK_THROWS_WITH_AS(VideoWriter(dir / "x.mp4"),
                         doctest::Contains("x.mp4: longvid was built without FFmpeg: only .y4m is supported"), Error);
    CHECK_THROWS_WITH_AS(read_video(dir / "strided.mp4"), doctest::Contains("no such file"), Error);
  }
}

TEST_CASE("memory sink and fps helpers") {
  MemorySink sink;
  auto clip = test::random_clip(4, 6, 5, 9);
  push_frames(sink, clip);
  sink.close();
  CHECK(sink.closed());
  CHECK(sink.size() == 4);
  CHECK(torch::equal(sink.tensor(), clip));
  CHECK(Fps::from_double(23.976).num == 24000);
  CHECK(Fps::from_double(23.976).den == 1001);
  CHECK(Fps::from_double(12.5).str() == "25/2");
  CHECK(Fps::parse("30000/1001").str() == "30000/1001");
  CHECK(Fps::parse("8").str() == "8");
  CHECK_THROWS_WITH_AS(Fps::parse("fast"), doctest::Contains("invalid frame rate 'fast'"), Error);
  CHECK_THROWS_AS(Fps::parse("-3"), Error);
  CHECK(video_format_for("a/b/%05d.png") == VideoFormat::PNGSequence);
  CHECK(video_format_for("frames/") == VideoFormat::PNGSequence);
  CHECK(video_format_for("x.MP4") == VideoFormat::MP4);
  CHECK(video_format_for("x.webm") == VideoFormat::WebM);
  CHECK(video_format_for("x.y4m") == VideoFormat::Y4M);
}

TEST_CASE("cli: video info and convert (y4m)") {
  test::ScratchDir dir("vcli");
  auto clip = test::random_clip(10, 8, 8, 11);
  write_video(dir / "in.y4m", clip);
  auto info = test::run_cli({"video", "info", (dir / "in.y4m").string()});
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("8x8") != std::string::npos);
  CHECK(info.out.find("10 frames") != std::string::npos);
  auto conv = test::run_cli({"video", "convert", (dir / "in.y4m").string(), (dir / "out.y4m").string(), "--start",
                             "1", "--stride", "3"});
  CHECK(conv.exit_code == 0);
  CHECK(torch::equal(read_video(dir / "out.y4m"), clip.slice(0, 1, 10, 3)));
  auto bad = test::run_cli({"video", "info", (dir / "nope.y4m").string()});
  CHECK(bad.exit_code == 1);
  CHECK(test::count_lines(bad.err) == 1);
  CHECK(bad.err.find("nope.y4m: no such file") != std::string::npos);
  auto past = test::run_cli(
      {"video", "convert", (dir / "in.y4m").string(), (dir / "o2.y4m").string(), "--start", "3", "--count", "9"});
  CHECK(past.exit_code == 1);
  CHECK(past.err.find("frame range past the end") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "o2.y4m"));
}
