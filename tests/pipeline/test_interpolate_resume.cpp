// `longvid interpolate` writes its output as checkpointed segments: stopped (--stop-after) or killed
// (kill -9), the same command with --resume writes the uninterrupted run's video; the segments are
// joined by copying packets, with the input's audio; the bundled IFNet is the default model.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/video_io.h"
#include "core/video_join.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {
std::string model() { return (test::data_dir() / "rife" / "ifnet_mini.pkl").string(); }
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}
// The fixture's 8 frames (two duplicates and a scene cut) `times` times over.
at::Tensor cut_video(int times) {
  const at::Tensor v = load_checkpoint(test::data_dir() / "rife" / "video_cut.safetensors").get("input");
  std::vector<at::Tensor> parts(size_t(times), v);
  return at::cat(parts, 0).contiguous();
}
std::vector<std::string> cmd(const fs::path& in, const fs::path& out, std::vector<std::string> extra) {
  std::vector<std::string> a = {"interpolate", in.string(), "-o", out.string(), "--model", model(), "--multi", "3",
                                "--no-progress"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
// Segments named by the committed state of a run directory (0 while there is none).
size_t committed_segments(const fs::path& state) {
  std::error_code ec;
  if (!fs::exists(state / "state.json", ec)) return 0;
  try {
    return nlohmann::json::parse(slurp(state / "state.json")).at("segments").size();
  } catch (...) {
    return 0;  // replaced while being read: poll again
  }
}
// A mono 16-bit PCM WAV of `seconds` (a 440 Hz tone at 8 kHz).
void write_wav(const fs::path& p, double seconds) {
  const int rate = 8000, n = static_cast<int>(seconds * rate);
  std::ofstream f(p, std::ios::binary);
  auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f.write("RIFF", 4);
  u32(36 + n * 2);
  f.write("WAVEfmt ", 8);
  u32(16), u16(1), u16(1), u32(rate), u32(rate * 2), u16(2), u16(16);
  f.write("data", 4);
  u32(n * 2);
  for (int i = 0; i < n; ++i) u16(static_cast<uint16_t>(static_cast<int16_t>(8000 * std::sin(i * 2 * M_PI * 440 / rate))));
}
}  // namespace

TEST_CASE("interpolate: --stop-after, then --resume, writes the uninterrupted video byte for byte") {
  test::ScratchDir dir("riferes");
  auto in = dir / "in.y4m", ref = dir / "ref.y4m", one = dir / "one.y4m", out = dir / "out.y4m";
  write_video(in, cut_video(2));  // 16 frames: 4 duplicates, 2 scene cuts
  auto r0 = test::run_cli(cmd(in, ref, {"--checkpoint-every", "2"}));
  INFO(r0.err);
  REQUIRE(r0.exit_code == 0);
  CHECK(r0.out.find("4 duplicates replaced, 2 scene cuts not morphed") != std::string::npos);
  // Segments do not change the frames: one segment gives the same bytes.
  REQUIRE(test::run_cli(cmd(in, one, {"--checkpoint-every", "1000"})).exit_code == 0);
  CHECK(slurp(one) == slurp(ref));
  fs::remove(one);

  const fs::path state = dir / "out.y4m.longvid-run";
  auto r1 = test::run_cli(cmd(in, out, {"--checkpoint-every", "2", "--stop-after", "3"}));
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(r1.out.find("stopped after 3 checkpoints") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
  REQUIRE(fs::exists(state / "state.json"));
  // Without --resume: refused, nothing lost.
  auto r2 = test::run_cli(cmd(in, out, {"--checkpoint-every", "2"}));
  CHECK(r2.exit_code == 1);
  CHECK(r2.err.find("add --resume") != std::string::npos);
  // Another command's run: refused.
  auto r3 = test::run_cli(cmd(in, out, {"--checkpoint-every", "2", "--resume", "--no-scene-detect"}));
  CHECK(r3.exit_code == 1);
  CHECK(r3.err.find("made by another command") != std::string::npos);
  // As if killed while writing a segment past the checkpoint and while writing the output.
  std::ofstream(state / "seg_00042.y4m") << "partial";
  std::ofstream(dir / ".out.y4m.tmp0badf00d.y4m") << "partial";
  auto r4 = test::run_cli(cmd(in, out, {"--checkpoint-every", "2", "--resume"}));
  INFO(r4.err);
  REQUIRE(r4.exit_code == 0);
  CHECK(r4.err.find("resuming from") != std::string::npos);
  CHECK(r4.out.find("4 duplicates replaced, 2 scene cuts not morphed") != std::string::npos);
  CHECK(slurp(out) == slurp(ref));
  auto names = dir.entries();
  CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>{"in.y4m", "ref.y4m", "out.y4m"});
  // A --state directory that would hold the output (it is cleared at the end): refused.
  fs::create_directory(dir / "runs");
  auto r5 = test::run_cli(cmd(in, dir / "runs" / "o.y4m", {"--state", (dir / "runs").string()}));
  CHECK(r5.exit_code == 1);
  CHECK(r5.err.find("must not hold the output") != std::string::npos);
  CHECK(fs::is_empty(dir / "runs"));
}

TEST_CASE("interpolate: kill -9 mid-run, then --resume, gives the uninterrupted video") {
  test::ScratchDir dir("rifekill");
  test::ScopedEnv one_thread("OMP_NUM_THREADS", "1");
  auto in = dir / "in.y4m", ref = dir / "ref.y4m", out = dir / "out.y4m";
  // 48 frames of 240x248: long enough to be killed after its first checkpoints.
  at::Tensor v = cut_video(6).permute({0, 3, 1, 2}).to(at::kFloat);
  v = at::upsample_bilinear2d(v, {240, 248}, false).round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1});
  write_video(in, v.contiguous());
  const std::vector<std::string> extra = {"--checkpoint-every", "4"};
  auto r0 = test::run_cli(cmd(in, ref, extra));
  INFO(r0.err);
  REQUIRE(r0.exit_code == 0);

  const fs::path state = dir / "out.y4m.longvid-run";
  int pid = test::spawn_cli(cmd(in, out, extra), dir / "log.txt");
  REQUIRE(pid > 0);
  int status = 0;
  bool ended = false;
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  while (committed_segments(state) < 2) {  // two checkpoints committed
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ended = true;
      break;
    }
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(120)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  INFO(slurp(dir / "log.txt"));
  REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "the run ended before the kill landed");
  fs::remove(dir / "log.txt");
  CHECK_FALSE(fs::exists(out));
  auto resume = cmd(in, out, extra);
  resume.push_back("--resume");
  auto r1 = test::run_cli(resume);
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  CHECK(r1.err.find("resuming from") != std::string::npos);
  CHECK(slurp(out) == slurp(ref));
  CHECK(probe_video(out).frame_count == (48 - 1) * 3 + 1);
  CHECK(dir.entries() == std::vector<std::string>{"in.y4m", "out.y4m", "ref.y4m"});
}

TEST_CASE("interpolate: an mp4 run stopped and resumed joins its segments into one video") {
  if (!ffmpeg_available()) {
    MESSAGE("LONGVID_SKIPPED: needs FFmpeg (this build has LONGVID_FFMPEG=OFF)");
    return;
  }
  test::ScratchDir dir("rifemp4");
  auto in = dir / "in.y4m", lossless = dir / "ref.y4m", whole = dir / "whole.mp4", out = dir / "out.mp4";
  write_video(in, cut_video(2));
  REQUIRE(test::run_cli(cmd(in, lossless, {"--checkpoint-every", "3"})).exit_code == 0);
  REQUIRE(test::run_cli(cmd(in, whole, {"--checkpoint-every", "3"})).exit_code == 0);
  auto r1 = test::run_cli(cmd(in, out, {"--checkpoint-every", "3", "--stop-after", "2"}));
  REQUIRE(r1.exit_code == 0);
  auto r2 = test::run_cli(cmd(in, out, {"--checkpoint-every", "3", "--resume"}));
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  // The frames RIFE made, through H.264 (crf 18). x264 need not give the uninterrupted run's bytes
  // (its encoders are not bit-reproducible from one to the next within a process), so the check is
  // the frame count and the quality against the lossless run, equal to the uninterrupted mp4's.
  const at::Tensor b = read_video(lossless).to(at::kFloat);
  auto psnr_of = [&](const fs::path& p) {
    const at::Tensor a = read_video(p).to(at::kFloat);
    REQUIRE(a.sizes() == b.sizes());
    const double mse = (a - b).pow(2).mean().item<double>();
    return 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-12));
  };
  const double pr = psnr_of(out), pw = psnr_of(whole);
  MESSAGE("vs the lossless run: resumed mp4 " << pr << " dB, uninterrupted mp4 " << pw << " dB");
  CHECK(std::abs(pr - pw) < 0.5);
  CHECK(probe_video(out).frame_count == 46);
}

TEST_CASE("interpolate: segments join by copying packets, and the input's audio is copied") {
  if (!ffmpeg_available()) {
    MESSAGE("LONGVID_SKIPPED: needs FFmpeg (this build has LONGVID_FFMPEG=OFF)");
    return;
  }
  test::ScratchDir dir("join");
  const at::Tensor v = cut_video(2);
  WriteOptions wo;
  wo.fps = Fps{8, 1};
  write_video(dir / "a.mp4", v.slice(0, 0, 5), wo);
  write_video(dir / "b.mp4", v.slice(0, 5, 12), wo);
  JoinOptions jo;
  jo.write = wo;
  JoinResult j = join_video_segments({dir / "a.mp4", dir / "b.mp4"}, dir / "ab.mp4", jo);
  CHECK(j.frames == 12);
  CHECK(at::equal(read_video(dir / "ab.mp4"), at::cat({read_video(dir / "a.mp4"), read_video(dir / "b.mp4")}, 0)));
  CHECK(probe_video(dir / "ab.mp4").fps.num == 8);
  // Segments written with other settings are refused, and nothing is written.
  write_video(dir / "c.mp4", v.slice(0, 0, 3).slice(1, 0, 64).contiguous(), wo);
  CHECK_THROWS_WITH(join_video_segments({dir / "a.mp4", dir / "c.mp4"}, dir / "ac.mp4", jo),
                    doctest::Contains("written with other settings"));
  CHECK_FALSE(fs::exists(dir / "ac.mp4"));

  // A 1-second video with a PCM soundtrack, raised to 24 fps: the audio comes along where it fits.
  write_wav(dir / "tone.wav", 1.0);
  write_video(dir / "v.mkv", v.slice(0, 8, 16), wo);
  jo.audio_from = dir / "tone.wav";
  JoinResult ja = join_video_segments({dir / "v.mkv"}, dir / "in.mkv", jo);
  REQUIRE(ja.audio_streams_copied == 1);
  VideoInfo in = probe_video(dir / "in.mkv");
  REQUIRE(in.audio_streams == 1);
  CHECK(in.audio_codec == "pcm_s16le");
  auto r = test::run_cli({"interpolate", (dir / "in.mkv").string(), "-o", (dir / "out.mkv").string(), "--model",
                          model(), "--multi", "3", "--no-progress"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("1 audio stream (pcm_s16le), copied") != std::string::npos);
  VideoInfo out = probe_video(dir / "out.mkv");
  CHECK(out.audio_streams == 1);
  CHECK(out.frame_count == 22);
  CHECK(out.fps.num == 24);
  auto rm = test::run_cli({"interpolate", (dir / "in.mkv").string(), "-o", (dir / "out.mp4").string(), "--model",
                           model(), "--no-progress"});
  REQUIRE(rm.exit_code == 0);
  CHECK(rm.out.find("not copied: mp4 cannot hold pcm_s16le audio") != std::string::npos);
  CHECK(probe_video(dir / "out.mp4").audio_streams == 0);
  auto rf = test::run_cli({"interpolate", (dir / "in.mkv").string(), "-o", (dir / "out2.mkv").string(), "--model",
                           model(), "--no-progress", "--fps", "30"});
  REQUIRE(rf.exit_code == 0);
  CHECK(rf.out.find("not copied: --fps changes the duration") != std::string::npos);
}

TEST_CASE("interpolate: without --model, the bundled IFNet") {
  test::ScratchDir dir("rifebundled");
  auto in = dir / "in.y4m", out = dir / "out.y4m";
  write_video(in, cut_video(1).slice(0, 0, 3).contiguous());
  auto r = test::run_cli({"interpolate", in.string(), "-o", out.string(), "--no-progress", "--no-scene-detect"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("the bundled IFNet") != std::string::npos);
  CHECK(r.err.find("longvid-tiny (4.26 layout)") != std::string::npos);
  CHECK(probe_video(out).frame_count == 5);
}
