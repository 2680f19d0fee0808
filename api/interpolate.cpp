// The RIFE use-case (api/interpolate.h): streamed, checkpointed as segments, joined with the audio.
#include "api/interpolate.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/generate.h"  // default_state_dir
#include "core/assets.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/video_join.h"

namespace fs = std::filesystem;

namespace longvid {

fs::path bundled_rife_model() {
  return find_asset(kDefaultRifeAsset, "pass --model (a RIFE checkpoint), or set LONGVID_ASSETS");
}

IFNet load_rife_model(const fs::path& path, const RifeOptions* check) {
  IFNet net = load_ifnet(path);
  if (check) check_rife_options(*check, net->config());
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  spdlog::info("RIFE model {}: IFNet {} ({} flow blocks, {:.2f} M parameters)", path.string(), net->config().version,
               net->config().num_blocks(), static_cast<double>(n) / 1e6);
  return net;
}

int64_t rife_output_frames(int64_t frames, int64_t multi) { return frames <= 0 ? 0 : (frames - 1) * multi + 1; }

namespace {

// Counts frames into the writer for the progress bar.
class ProgressSink : public FrameSink {
 public:
  ProgressSink(FrameSink& to, Progress& p) : to_(to), p_(p) {}
  void set_count(int64_t n) { n_ = n; }
  using FrameSink::push;
  void push(const FrameView& f) override {
    to_.push(f);
    p_.update(++n_);
  }
  void close() override { to_.close(); }

 private:
  FrameSink& to_;
  Progress& p_;
  int64_t n_ = 0;
};

// Frames into numbered segment files of the run's directory; cut() completes the current one.
class SegmentSink : public FrameSink {
 public:
  SegmentSink(fs::path dir, std::string ext, WriteOptions w, int64_t next_index)
      : dir_(std::move(dir)), ext_(std::move(ext)), w_(std::move(w)), next_(next_index) {}
  using FrameSink::push;
  void push(const FrameView& f) override {
    if (!cur_) cur_.emplace(dir_ / fmt::format("seg_{:05d}{}", next_++, ext_), w_);
    cur_->push(f);
  }
  // The finished segment's file name and frames ({"", 0} when none was being written).
  std::pair<std::string, int64_t> cut() {
    if (!cur_) return {"", 0};
    cur_->close();
    std::pair<std::string, int64_t> r{cur_->path().filename().string(), cur_->frames_written()};
    cur_.reset();
    return r;
  }
  void close() override { last_ = cut(); }
  const std::pair<std::string, int64_t>& last() const { return last_; }

 private:
  fs::path dir_;
  std::string ext_;
  WriteOptions w_;
  int64_t next_;
  std::optional<VideoWriter> cur_;
  std::pair<std::string, int64_t> last_;
};

// FNV-1a over the network's parameters and buffers: which weights made the segments.
std::string weights_hash(IFNet& net) {
  uint64_t h = 1469598103934665603ull;
  auto feed = [&](const at::Tensor& t) {
    at::Tensor c = t.to(at::kCPU).contiguous();
    const auto* b = static_cast<const uint8_t*>(c.data_ptr());
    for (int64_t i = 0, n = c.nbytes(); i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  for (const auto& p : net->named_parameters()) feed(p.value());
  for (const auto& p : net->named_buffers()) feed(p.value());
  return fmt::format("{:016x}", h);
}

std::string fingerprint(const fs::path& input, const fs::path& output, IFNet& net, const RifeOptions& o,
                        const Fps& fps, const WriteOptions& w, bool audio) {
  std::error_code ec;
  const auto size = fs::file_size(input, ec);
  const bool size_ok = !ec;
  const auto mtime = fs::last_write_time(input, ec).time_since_epoch().count();
  nlohmann::json j = {{"input", fs::absolute(input).lexically_normal().string()},
                      {"input_size", size_ok ? size : 0},
                      {"input_mtime", mtime},
                      {"weights", weights_hash(net)},
                      {"multi", o.multi},
                      {"scale", o.scale},
                      {"pad", o.pad},
                      {"detect", o.detect},
                      {"ssim", {o.duplicate_ssim, o.scene_cut_ssim}},
                      {"batch", o.batch_timesteps},
                      {"exact", o.exact},
                      {"device", o.device.str()},
                      {"dtype", std::string(c10::toString(o.dtype))},
                      {"fps", fps.str()},
                      {"crf", w.crf},
                      {"preset", w.preset},
                      {"codec", w.codec},
                      {"segment", segment_extension(output)},
                      {"audio", audio}};
  return j.dump();
}

// The files a run writes in its directory (and their temp files); nothing else there is touched.
bool is_run_file(const std::string& n) {
  for (const char* p : {"seg_", ".seg_", "carry_", ".carry_", "state.json", ".state.json"})
    if (n.rfind(p, 0) == 0) return true;
  return false;
}

// A plain file name written by this code (a state file names nothing else).
bool plain_name(const std::string& n) {
  return !n.empty() && n.find('/') == std::string::npos && n != "." && n != ".." && is_run_file(n);
}

struct RunState {
  std::vector<std::pair<std::string, int64_t>> segments;
  int64_t frames_in = 0;
  std::string carry;
};

void write_state(const fs::path& dir, const std::string& fp, const RunState& st) {
  nlohmann::json segs = nlohmann::json::array();
  for (const auto& s : st.segments) segs.push_back({{"file", s.first}, {"frames", s.second}});
  const std::string text =
      nlohmann::json{{"fingerprint", fp}, {"frames_in", st.frames_in}, {"carry", st.carry}, {"segments", segs}}.dump(1);
  write_text_atomically(dir / "state.json", text);
}

RunState read_state(const fs::path& dir, const std::string& fp) {
  const fs::path file = dir / "state.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(file, "run state"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: a damaged run state ({}); delete {} to start again", file.string(), e.what(), dir.string());
  }
  if (!j.is_object() || j.value("fingerprint", std::string()) != fp)
    fail_hint("run the same command (input, model, options, output format) with --resume, or delete that directory",
              "{}: the interrupted run there was made by another command", dir.string());
  RunState st;
  try {
    st.frames_in = j.at("frames_in").get<int64_t>();
    st.carry = j.at("carry").get<std::string>();
    for (const auto& s : j.at("segments"))
      st.segments.emplace_back(s.at("file").get<std::string>(), s.at("frames").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: a damaged run state ({}); delete {} to start again", file.string(), e.what(), dir.string());
  }
  if (!plain_name(st.carry) || st.frames_in < 1)
    fail("{}: a damaged run state; delete {} to start again", file.string(), dir.string());
  for (const auto& s : st.segments)
    if (!plain_name(s.first) || s.second < 1 || !fs::exists(dir / s.first))
      fail("{}: segment '{}' of the interrupted run is missing or damaged; delete {} to start again", file.string(),
           s.first, dir.string());
  return st;
}

// Files of the run's directory that the committed state does not name (written after the last
// checkpoint by the killed run): removed before continuing.
void remove_uncommitted(const fs::path& dir, const RunState& st) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    bool keep = n == "state.json" || n == st.carry || !is_run_file(n);
    for (const auto& s : st.segments) keep = keep || n == s.first;
    if (!keep) fs::remove_all(e.path(), ec);
  }
}

// The run's files, the state first (a kill part way leaves no state naming missing segments), then
// the directory if nothing else is in it.
void clear_run_dir(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / "state.json", ec);
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_run_file(e.path().filename().string())) fs::remove_all(e.path(), ec);
  fs::remove(dir, ec);  // only if empty
}


}  // namespace

InterpolateResult interpolate_video_file(IFNet net, const fs::path& input, const fs::path& output,
                                         const InterpolateRequest& req, WriteOptions wopts) {
  check_rife_options(req.rife);
  require_readable_video(input);
  require_distinct_output(input, output);
  if (req.checkpoint_every < 1) fail("--checkpoint-every must be >= 1 (got {})", req.checkpoint_every);
  InterpolateResult res;
  res.input = probe_video(input);
  // The input's rate times multi, kept exact as a fraction (8 -> 24 for multi 3, 30000/1001 -> 60000/1001).
  res.fps_out = req.fps ? *req.fps : Fps{static_cast<int>(res.input.fps.num * req.rife.multi), res.input.fps.den};
  wopts.fps = res.fps_out;
  check_write_options(output, wopts);
  const bool audio = req.copy_audio && res.input.audio_streams > 0 && !req.fps;
  if (res.input.audio_streams > 0 && !audio)
    res.audio_note = req.fps ? "--fps changes the duration" : "not asked for";

  const fs::path dir = req.state_dir.empty() ? default_state_dir(output) : req.state_dir;
  {
    // The run's directory is cleared at the end: it must not hold the output or the input.
    auto inside = [](const fs::path& p, const fs::path& d) {
      std::error_code e;
      const std::string a = fs::weakly_canonical(fs::absolute(p), e).string();
      std::string b = fs::weakly_canonical(fs::absolute(d), e).string();
      if (!b.empty() && b.back() != '/') b += '/';
      return a.rfind(b, 0) == 0;
    };
    if (inside(output, dir) || inside(input, dir))
      fail("--state {}: the run's directory must not hold the {}", dir.string(), inside(output, dir) ? "output" : "input");
  }
  const std::string fp = fingerprint(input, output, net, req.rife, res.fps_out, wopts, audio);
  std::error_code ec;
  RunState st;
  if (req.resume) remove_stale_temps(output);
  if (fs::exists(dir / "state.json", ec)) {
    if (!req.resume)
      fail_hint("add --resume to continue it, or delete that directory to start again",
                "{}: an interrupted run of this output is there", dir.string());
    st = read_state(dir, fp);
    remove_uncommitted(dir, st);
    res.resumed_at = st.frames_in;
    spdlog::info("resuming from {}: {} source frames done in {} segments", dir.string(), st.frames_in,
                 st.segments.size());
  } else {
    if (fs::exists(dir, ec)) {
      // A run killed before its first checkpoint leaves only its own files: start afresh.
      bool ours = fs::is_directory(dir, ec), any = false;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        ours = ours && is_run_file(e.path().filename().string());
        any = true;
      }
      if (!ours) fail_hint("delete it, or give another output", "{}: exists and is not a run of longvid", dir.string());
      if (any)
        spdlog::info("{} holds no checkpoint yet (the run stopped before its first one): starting afresh",
                     dir.string());
      clear_run_dir(dir);
    } else if (req.resume) {
      spdlog::info("--resume: nothing to resume at {}: starting the run", dir.string());
    }
    fs::create_directories(dir, ec);
    if (ec) fail("{}: cannot create the run's directory: {}", dir.string(), ec.message());
  }

  // A run that fails before its first checkpoint leaves nothing behind; after one, the state stays
  // for --resume (a full disk, a killed process), as generate's does.
  struct DropUncheckpointed {
    const fs::path& dir;
    bool done = false;
    ~DropUncheckpointed() {
      std::error_code e;
      if (!done && !fs::exists(dir / "state.json", e)) clear_run_dir(dir);
    }
  } drop{dir};
  Progress progress("rife", rife_output_frames(res.input.frame_count, req.rife.multi), req.show_progress);
  SegmentSink segs(dir, segment_extension(output), wopts, static_cast<int64_t>(st.segments.size()));
  ProgressSink counted(segs, progress);
  RifeInterpolatingSink rife(std::move(net), req.rife, counted);
  if (res.resumed_at >= 0) {
    rife.restore(dir / st.carry);
    int64_t seg_frames = 0;
    for (const auto& sg : st.segments) seg_frames += sg.second;
    if (rife.stats().frames_in != st.frames_in || rife.stats().frames_out != seg_frames)
      fail("{}: the checkpoint and the segments disagree ({} / {} source frames, {} / {} frames written); delete {} "
           "to start again",
           (dir / "state.json").string(), rife.stats().frames_in, st.frames_in, rife.stats().frames_out, seg_frames,
           dir.string());
    counted.set_count(rife.stats().frames_out);
  }

  const auto t0 = std::chrono::steady_clock::now();
  // A checkpoint is taken when the next source frame has been read (so a resumed run always has
  // one to start at): the segment so far is completed, then what the RIFE sink holds, then the state.
  int64_t since = 0, checkpoints = 0;
  auto checkpoint = [&] {
    auto seg = segs.cut();
    if (seg.second > 0) st.segments.push_back(seg);
    const std::string old = st.carry;
    st.carry = fmt::format("carry_{:09d}.safetensors", rife.stats().frames_in);  // new name every checkpoint
    rife.save(dir / st.carry);
    st.frames_in = rife.stats().frames_in;
    write_state(dir, fp, st);  // the commit point
    if (!old.empty() && old != st.carry) fs::remove(dir / old, ec);
  };
  {
    ReadOptions ro;
    ro.start = std::max<int64_t>(0, st.frames_in);
    VideoReader reader(input, ro);
    std::vector<uint8_t> frame;
    while (reader.next(frame)) {
      if (since >= req.checkpoint_every && rife.can_checkpoint()) {
        checkpoint();
        since = 0;
        if (req.stop_after >= 0 && ++checkpoints >= req.stop_after) {
          res.stopped = true;
          res.stats = rife.stats();
          drop.done = true;
          return res;  // as if killed here: the state stays for --resume
        }
      }
      rife.push(frame.data(), reader.width(), reader.height());
      ++since;
    }
  }
  if (rife.stats().frames_in == 0) fail("{}: no frames to interpolate", input.string());
  rife.close();  // the last frame, and the last segment completed
  if (segs.last().second > 0) st.segments.push_back(segs.last());
  progress.finish();
  res.stats = rife.stats();

  std::vector<fs::path> files;
  for (const auto& s : st.segments) files.push_back(dir / s.first);
  JoinOptions jo;
  jo.write = wopts;
  if (audio) jo.audio_from = input;
  jo.expect_frames = res.stats.frames_out;  // checked before the output is put in place
  JoinResult j = join_video_segments(files, output, jo);
  res.segments = static_cast<int64_t>(files.size());
  res.audio_streams_copied = j.audio_streams_copied;
  if (audio && j.audio_streams_copied == 0) res.audio_note = j.audio_note;
  clear_run_dir(dir);
  drop.done = true;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace longvid
