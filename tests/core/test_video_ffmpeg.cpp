// Video I/O through FFmpeg: mp4/webm/gif/PNG sequences, checked with the ffmpeg/ffprobe CLIs.
#include <doctest/doctest.h>

#include <fstream>

#include "core/error.h"
#include "core/video_io.h"
#include "tests/core/video_test_util.h"
#include "tests/helpers.h"

using namespace longvid;
using test::ffprobe;
using test::probe_field;
using test::quote;
namespace fs = std::filesystem;

namespace {

// Decodes `path` with the ffmpeg CLI to raw RGB24 (T, H, W, 3); exit code in *rc.
at::Tensor ffmpeg_decode(const fs::path& path, int w, int h, int* rc, const std::string& extra = "") {
  std::string raw = test::shell("ffmpeg -v error -i " + quote(path.string()) + " " + extra +
                                    " -f rawvideo -pix_fmt rgb24 - 2>/dev/null",
                                rc);
  const int64_t fb = int64_t{w} * h * 3;
  auto t = torch::empty({int64_t(raw.size()) / fb, h, w, 3}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), raw.data(), size_t(t.numel()));
  return t;
}

}  // namespace

TEST_CASE("mp4: 48 synthetic frames round trip with PSNR >= 35 dB and ffprobe agrees") {
  test::ScratchDir dir("mp4");
  auto clip = test::synthetic_clip(48, 96, 128);
  auto path = dir / "clip.mp4";
  write_video(path, clip);  // defaults: 24 fps, crf 18, medium
  CHECK(dir.entries() == std::vector<std::string>{"clip.mp4"});

  auto back = read_video(path);
  REQUIRE(back.sizes() == clip.sizes());
  const double p = test::psnr(back, clip);
  MESSAGE("mp4 crf 18 PSNR = " << p << " dB (" << fs::file_size(path) << " bytes)");
  CHECK(p >= 35.0);

  auto pr = ffprobe(path.string());
  CHECK(probe_field(pr, "codec_name") == "h264");
  CHECK(probe_field(pr, "pix_fmt") == "yuv420p");
  CHECK(probe_field(pr, "width") == "128");
  CHECK(probe_field(pr, "height") == "96");
  CHECK(probe_field(pr, "nb_frames") == "48");
  CHECK(probe_field(pr, "nb_read_packets") == "48");
  CHECK(probe_field(pr, "r_frame_rate") == "24/1");
  // +faststart: the moov atom comes before mdat.
  std::ifstream f(path, std::ios::binary);
  std::string head(4096, '\0');
  f.read(head.data(), std::streamsize(head.size()));
  auto moov = head.find("moov"), mdat = head.find("mdat");
  CHECK(moov != std::string::npos);
  CHECK((mdat == std::string::npos || moov < mdat));

  // ffmpeg decodes our file to (nearly) what we decode.
  int rc = -1;
  auto theirs = ffmpeg_decode(path, 128, 96, &rc, "-sws_flags bicubic+accurate_rnd+full_chroma_int+bitexact");
  CHECK(rc == 0);
  REQUIRE(theirs.size(0) == 48);
  const double agree = test::psnr(theirs, back);
  MESSAGE("our decode vs ffmpeg's: " << agree << " dB");
  CHECK(agree >= 40.0);

  VideoInfo info = probe_video(path);
  CHECK(info.frame_count == 48);
  CHECK(info.frame_count_exact);
  CHECK(info.codec == "h264");
  CHECK(info.fps.str() == "24");
}

TEST_CASE("mp4: options (fps, crf, preset) and odd sizes are padded by one pixel") {
  test::ScratchDir dir("mp4opt");
  auto clip = test::synthetic_clip(10, 33, 47);
  WriteOptions wo;
  wo.fps = Fps::from_double(29.97);
  wo.crf = 30;
  wo.preset = "ultrafast";
  write_video(dir / "odd.mp4", clip, wo);
  auto pr = ffprobe((dir / "odd.mp4").string());
  CHECK(probe_field(pr, "width") == "48");
  CHECK(probe_field(pr, "height") == "34");
  CHECK(probe_field(pr, "r_frame_rate") == "30000/1001");
  CHECK(probe_field(pr, "nb_read_packets") == "10");
  auto back = read_video(dir / "odd.mp4");
  REQUIRE(back.sizes() == at::IntArrayRef({10, 34, 48, 3}));
  const double p = test::psnr(back.slice(1, 0, 33).slice(2, 0, 47), clip);
  MESSAGE("odd 47x33 -> 48x34 mp4 crf 30 ultrafast PSNR = " << p << " dB");
  CHECK(p >= 28.0);
  // The padding repeats the last column / row.
  const double edge = test::psnr(back.select(2, 47), back.select(2, 46));
  CHECK(edge >= 30.0);
  // Lower crf = better quality.
  wo.crf = 10;
  write_video(dir / "hq.mp4", clip, wo);
  CHECK(test::psnr(read_video(dir / "hq.mp4").slice(1, 0, 33).slice(2, 0, 47), clip) > p);
  // Bad preset: the encoder refuses, clearly, and nothing is left behind.
  wo.preset = "warp-speed";
  CHECK_THROWS_WITH_AS(write_video(dir / "bad.mp4", clip, wo), doctest::Contains("bad.mp4: cannot open encoder libx264"),
                       Error);
  CHECK_FALSE(fs::exists(dir / "bad.mp4"));
  CHECK(dir.entries().size() == 2);
}

TEST_CASE("PNG sequences: lossless round trip, pattern and directory forms") {
  test::ScratchDir dir("png");
  auto clip = test::random_clip(7, 21, 30, 42);
  write_video(dir / "frames" / "%05d.png", clip);
  CHECK(fs::exists(dir / "frames" / "00001.png"));
  CHECK(fs::exists(dir / "frames" / "00007.png"));
  CHECK(dir.entries() == std::vector<std::string>{"frames"});
  CHECK(torch::equal(read_video(dir / "frames" / "%05d.png"), clip));
  CHECK(torch::equal(read_video(dir / "frames"), clip));
  CHECK(torch::equal(read_video((dir / "frames").string() + "/"), clip));
  VideoInfo info = probe_video(dir / "frames");
  CHECK(info.frame_count == 7);
  CHECK(info.frame_count_exact);
  CHECK(info.codec == "png");
  // Directory form; overwriting an existing PNG sequence replaces it.
  auto clip2 = test::random_clip(3, 21, 30, 43);
  write_video((dir / "frames").string() + "/", clip2);
  CHECK(torch::equal(read_video(dir / "frames"), clip2));
  // Ranges on a PNG sequence.
  ReadOptions ro;
  ro.start = 1, ro.count = 2, ro.stride = 1;
  CHECK(torch::equal(read_video(dir / "frames", ro), clip2.slice(0, 1, 3)));
  // ffmpeg reads them too.
  int rc = -1;
  auto theirs = ffmpeg_decode(dir / "frames" / "%05d.png", 30, 21, &rc);
  CHECK(rc == 0);
  CHECK(torch::equal(theirs, clip2));
  // Refuse to replace a directory that holds other things; refuse a pattern without a directory.
  fs::create_directories(dir / "mine");
  { std::ofstream(dir / "mine" / "notes.txt") << "precious"; }
  CHECK_THROWS_WITH_AS(write_video(dir / "mine" / "%03d.png", clip2),
                       doctest::Contains("holds other things than PNG frames"), Error);
  CHECK(fs::exists(dir / "mine" / "notes.txt"));
  CHECK_THROWS_WITH_AS(VideoWriter(dir / "frames" / "%05d_%d.png"), doctest::Contains("bad image sequence pattern"),
                       Error);
  // Without close(): no directory appears.
  {
    VideoWriter w(dir / "partial" / "%04d.png");
    push_frames(w, clip);
  }
  CHECK_FALSE(fs::exists(dir / "partial"));
  CHECK(dir.entries() == std::vector<std::string>{"frames", "mine"});
  CHECK_THROWS_WITH_AS(read_video(dir / "mine"), doctest::Contains("no .png files in the directory"), Error);
}

TEST_CASE("webm (VP9) and gif: ffprobe sees the right frame counts and they read back") {
  test::ScratchDir dir("webmgif");
  auto clip = test::synthetic_clip(30, 64, 80);
  write_video(dir / "c.webm", clip);
  auto pr = ffprobe((dir / "c.webm").string(), /*count_frames=*/true);
  CHECK(probe_field(pr, "codec_name") == "vp9");
  CHECK(probe_field(pr, "pix_fmt") == "yuv420p");
  CHECK(probe_field(pr, "nb_read_frames") == "30");
  auto webm = read_video(dir / "c.webm");
  REQUIRE(webm.sizes() == clip.sizes());
  const double pw = test::psnr(webm, clip);
  MESSAGE("webm VP9 crf 24 PSNR = " << pw << " dB");
  CHECK(pw >= 32.0);
  VideoInfo wi = probe_video(dir / "c.webm");
  CHECK(wi.frame_count == 30);
  CHECK(wi.frame_count_exact);  // counted by demuxing: webm has no frame count in its header

  WriteOptions wo;
  wo.fps = Fps{10, 1};
  write_video(dir / "c.gif", clip, wo);
  pr = ffprobe((dir / "c.gif").string(), /*count_frames=*/true);
  CHECK(probe_field(pr, "codec_name") == "gif");
  CHECK(probe_field(pr, "nb_read_frames") == "30");
  auto gif = read_video(dir / "c.gif");
  REQUIRE(gif.sizes() == clip.sizes());
  // A 252-colour palette with ordered dithering: the blur of the error is small.
  auto blur = [](const at::Tensor& t) {
    auto x = t.to(torch::kFloat32).permute({0, 3, 1, 2});
    return torch::avg_pool2d(x, 4, 4);
  };
  const double pg = test::psnr(blur(gif), blur(clip));
  MESSAGE("gif PSNR of 4x4 means = " << pg << " dB; raw PSNR = " << test::psnr(gif, clip) << " dB");
  CHECK(pg >= 30.0);
  CHECK(probe_video(dir / "c.gif").fps.str() == "10");

  // Odd sizes: VP9 keeps them.
  auto odd = test::synthetic_clip(4, 17, 23);
  write_video(dir / "odd.webm", odd);
  auto po = ffprobe((dir / "odd.webm").string());
  CHECK(probe_field(po, "width") == "23");
  CHECK(probe_field(po, "height") == "17");
  // ffmpeg decodes all of them.
  for (auto name : {"c.webm", "c.gif", "odd.webm"}) {
    int rc = -1;
    test::shell("ffmpeg -v error -i " + quote((dir / name).string()) + " -f null - 2>&1", &rc);
    CHECK_MESSAGE(rc == 0, name);
  }
}

TEST_CASE("frame ranges on mp4 match reading everything") {
  test::ScratchDir dir("range");
  auto clip = test::synthetic_clip(40, 32, 48);
  WriteOptions wo;
  wo.preset = "veryfast";
  write_video(dir / "r.mp4", clip, wo);
  auto all = read_video(dir / "r.mp4");
  REQUIRE(all.size(0) == 40);
  struct Case {
    int64_t start, count, stride;
  };
  for (Case c : {Case{0, 10, 1}, Case{5, 7, 3}, Case{39, 1, 1}, Case{2, -1, 5}, Case{0, -1, 40}}) {
    ReadOptions ro;
    ro.start = c.start, ro.count = c.count, ro.stride = c.stride;
    auto got = read_video(dir / "r.mp4", ro);
    int64_t end = c.count > 0 ? c.start + (c.count - 1) * c.stride + 1 : 40;
    auto want = all.slice(0, c.start, end, c.stride);
    CAPTURE(c.start);
    CAPTURE(c.stride);
    REQUIRE(got.sizes() == want.sizes());
    CHECK(torch::equal(got, want));
  }
  ReadOptions ro;
  ro.start = 38, ro.count = 3;
  CHECK_THROWS_WITH_AS(read_video(dir / "r.mp4", ro),
                       doctest::Contains("r.mp4: frame range past the end: frames 38..40 step 1 but the video has 40"),
                       Error);
}

TEST_CASE("y4m interop with ffmpeg: it decodes ours, we decode its variants") {
  test::ScratchDir dir("y4mff");
  // Ours -> ffmpeg (C444p16 at 16 bits: ffmpeg's own conversion lands within rounding).
  auto clip = test::synthetic_clip(6, 24, 40);
  write_video(dir / "ours.y4m", clip);
  int rc = -1;
  auto theirs = ffmpeg_decode(dir / "ours.y4m", 40, 24, &rc);
  CHECK(rc == 0);
  REQUIRE(theirs.sizes() == clip.sizes());
  auto diff = (theirs.to(torch::kInt32) - clip.to(torch::kInt32)).abs();
  MESSAGE("ffmpeg decoding our y4m: max |diff| = " << diff.max().item<int>());
  CHECK(diff.max().item<int>() <= 2);

  // ffmpeg's y4m -> ours, compared with ffmpeg's own RGB (nearest-neighbour chroma on its side too).
  for (std::string pf : {"yuv420p", "yuv422p", "yuv444p", "yuv411p", "gray", "yuv444p10", "yuv420p12",
                         "yuv444p16", "gray16", "yuva444p", "yuvj420p"}) {
    auto src = dir / ("t_" + pf + ".y4m");
    test::shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 3 -strict -1 -pix_fmt " + pf +
                    " " + quote(src.string()) + " 2>&1",
                &rc);
    REQUIRE_MESSAGE(rc == 0, pf);
    auto ours = read_video(src);
    REQUIRE(ours.sizes() == at::IntArrayRef({3, 48, 64, 3}));
    auto ref = ffmpeg_decode(src, 64, 48, &rc, "-sws_flags neighbor+accurate_rnd+full_chroma_int+bitexact");
    REQUIRE(ref.sizes() == ours.sizes());
    auto d = (ref.to(torch::kFloat32) - ours.to(torch::kFloat32)).abs();
    const double mean = d.mean().item<double>();
    const double p = test::psnr(ref, ours);
    MESSAGE(pf << ": mean |diff| vs ffmpeg = " << mean << ", PSNR " << p << " dB");
    CHECK_MESSAGE(mean < 1.5, pf);
    CHECK_MESSAGE(p > 30.0, pf);
  }
}

TEST_CASE("other containers, streaming reader positions, errors") {
  test::ScratchDir dir("ffmisc");
  auto clip = test::synthetic_clip(12, 32, 32);
  // mkv with an explicit encoder; avi via ffmpeg CLI; both readable.
  WriteOptions wo;
  wo.codec = "libx264";
  wo.preset = "ultrafast";
  write_video(dir / "a.mkv", clip, wo);
  CHECK(read_video(dir / "a.mkv").size(0) == 12);
  CHECK(probe_video(dir / "a.mkv").frame_count == 12);
  int rc = -1;
  test::shell("ffmpeg -v error -f lavfi -i testsrc=size=64x48:rate=10 -frames:v 9 -c:v mpeg4 " +
                  quote((dir / "b.avi").string()) + " 2>&1",
              &rc);
  REQUIRE(rc == 0);
  auto avi = read_video(dir / "b.avi");
  CHECK(avi.sizes() == at::IntArrayRef({9, 48, 64, 3}));
  CHECK(probe_video(dir / "b.avi").fps.str() == "10");

  // Errors: one line, the file named.
  CHECK_THROWS_WITH_AS(read_video(dir / "missing.mp4"), doctest::Contains("missing.mp4: no such file"), Error);
  { std::ofstream(dir / "junk.mp4") << std::string(5000, 'x'); }
  CHECK_THROWS_WITH_AS(read_video(dir / "junk.mp4"), doctest::Contains("junk.mp4: not a video FFmpeg can read: "),
                       Error);
  CHECK_THROWS_WITH_AS(VideoWriter(dir / "out.xyz"), doctest::Contains("out.xyz: unknown video format '.xyz'"), Error);
  wo = {};
  wo.codec = "no-such-encoder";
  CHECK_THROWS_WITH_AS(VideoWriter(dir / "out.mp4", wo),
                       doctest::Contains("out.mp4: encoder 'no-such-encoder' is not available in this FFmpeg build"),
                       Error);
  wo.codec = "aac";
  CHECK_THROWS_WITH_AS(VideoWriter(dir / "out.mp4", wo), doctest::Contains("'aac' is not a video encoder"), Error);
  test::shell("ffmpeg -v error -f lavfi -i sine=duration=0.2 " + quote((dir / "sound.wav").string()) + " 2>&1", &rc);
  CHECK_THROWS_WITH_AS(read_video(dir / "sound.wav"), doctest::Contains("sound.wav: has no video stream"), Error);
  // Atomicity for muxed formats: destroyed without close() -> nothing.
  for (auto name : {"p.mp4", "p.webm", "p.gif"}) {
    VideoWriter w(dir / name);
    push_frames(w, clip.slice(0, 0, 3));
  }
  auto entries = dir.entries();
  CHECK(entries == std::vector<std::string>{"a.mkv", "b.avi", "junk.mp4", "sound.wav"});
  // A truncated mp4: still a clear error (or fewer frames), never a crash.
  {
    auto bytes = std::filesystem::file_size(dir / "a.mkv");
    std::filesystem::copy_file(dir / "a.mkv", dir / "cut.mkv");
    std::filesystem::resize_file(dir / "cut.mkv", bytes / 2);
    try {
      auto t = read_video(dir / "cut.mkv");
      CHECK(t.size(0) < 12);
    } catch (const Error& e) {
      MESSAGE("truncated mkv: " << std::string(e.what()));
      CHECK(std::string(e.what()).find("cut.mkv: not a video FFmpeg can read") != std::string::npos);
    }
  }
}

TEST_CASE("cli: convert y4m -> mp4 with a range, info --json") {
  test::ScratchDir dir("ffcli");
  write_video(dir / "in.y4m", test::synthetic_clip(20, 32, 32));
  auto conv = test::run_cli({"video", "convert", (dir / "in.y4m").string(), (dir / "out.mp4").string(), "--start",
                             "2", "--count", "6", "--stride", "3", "--fps", "12", "--crf", "20"});
  CHECK(conv.exit_code == 0);
  auto pr = ffprobe((dir / "out.mp4").string());
  CHECK(probe_field(pr, "nb_frames") == "6");
  CHECK(probe_field(pr, "r_frame_rate") == "12/1");
  auto info = test::run_cli({"video", "info", "--json", (dir / "out.mp4").string()});
  CHECK(info.exit_code == 0);
  CHECK(info.out.find("\"frame_count\": 6") != std::string::npos);
  CHECK(info.out.find("\"codec\": \"h264\"") != std::string::npos);
  auto bad = test::run_cli({"video", "convert", (dir / "in.y4m").string(), (dir / "out.nope").string()});
  CHECK(bad.exit_code == 1);
  CHECK(test::count_lines(bad.err) == 1);
}

namespace {
long vm_rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
}  // namespace

TEST_CASE("mp4 writer streams: memory after 3000 small frames is about that after 300") {
  // Loose bound on purpose (allocator noise); tools/bench/video_rss.sh measures 10,000 frames of 256^2.
  test::ScratchDir dir("rss");
  auto frames = test::synthetic_clip(16, 64, 64);
  WriteOptions wo;
  wo.preset = "ultrafast";
  wo.threads = 1;
  VideoWriter w(dir / "long.mp4", wo);
  long rss300 = 0;
  for (int i = 0; i < 3000; ++i) {
    w.push(frames[i % 16].data_ptr<uint8_t>(), 64, 64);
    if (i + 1 == 300) rss300 = vm_rss_kib();
  }
  long rss3000 = vm_rss_kib();
  w.close();
  MESSAGE("VmRSS after 300 frames: " << rss300 << " KiB, after 3000: " << rss3000 << " KiB");
  CHECK(rss3000 - rss300 < 8 * 1024);  // 2700 raw frames alone would be 32 MiB
  auto pr = ffprobe((dir / "long.mp4").string());
  CHECK(probe_field(pr, "nb_frames") == "3000");
}
