// The RIFE use-case (api/interpolate.h).
#include "api/interpolate.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/error.h"
#include "core/progress.h"

namespace longvid {

IFNet load_rife_model(const std::filesystem::path& path, const RifeOptions* check) {
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
}  // namespace

InterpolateResult interpolate_video_file(IFNet net, const std::filesystem::path& input,
                                         const std::filesystem::path& output, const InterpolateRequest& req,
                                         WriteOptions wopts) {
  check_rife_options(req.rife);
  require_readable_video(input);
  require_distinct_output(input, output);
  InterpolateResult res;
  VideoReader reader(input);
  res.input = reader.info();
  if (req.fps) {
    res.fps_out = *req.fps;
  } else {
    // The input's rate times multi, kept exact as a fraction (8 -> 24 for multi 3, 30000/1001 -> 60000/1001).
    res.fps_out = Fps{static_cast<int>(res.input.fps.num * req.rife.multi), res.input.fps.den};
  }
  wopts.fps = res.fps_out;
  VideoWriter writer(output, wopts);
  const int64_t expect = rife_output_frames(reader.selected_count(), req.rife.multi);
  Progress progress("rife", expect, req.show_progress);
  ProgressSink counted(writer, progress);
  RifeInterpolatingSink rife(std::move(net), req.rife, counted);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> frame;
  while (reader.next(frame)) rife.push(frame.data(), reader.width(), reader.height());
  if (rife.stats().frames_in == 0) fail("{}: no frames to interpolate", input.string());
  rife.close();
  progress.finish();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.stats = rife.stats();
  return res;
}

}  // namespace longvid
