// extend_video: continue an existing video (the use-case behind `longvid extend`).
#include <torch/torch.h>

#include <cstring>
#include <deque>

#include "api/generate.h"
#include "api/long_run.h"
#include "core/error.h"
#include "core/log.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

namespace fs = std::filesystem;

int64_t extend_video(VideoPipeline& pipe, const fs::path& input, const GenerateRequest& req_in, FrameSink& sink) {
  check_generate_request(req_in);
  check_sampler_options(req_in.sampler, pipe.schedule->num_train_timesteps());
  const int64_t add = req_in.frames;
  if (pipe.main.caps.context_dim > 0)
    fail("extend: text-conditioned models are not supported by extend yet (it takes no prompt); use generate "
         "with a prompt schedule");
  GenerateRequest req = detail::resolve_long_request(pipe, req_in);
  const auto& opts = req.long_video;
  auto models = long_video_models(pipe, opts.mode);
  const auto f = pipe.factors();
  const int64_t H = models.geometry.height * f[1], W = models.geometry.width * f[2];
  VideoInfo info = probe_video(input);
  if (info.width != W || info.height != H)
    fail_hint("resize it first, e.g. ffmpeg -i IN -vf scale=" + std::to_string(W) + ":" + std::to_string(H) + " OUT",
              "{} is {}x{}; the model makes {}x{} frames", input.string(), info.width, info.height, W, H);

  auto plan = LongVideoPlan::make(add + f[0], f[0], models.pred.clip_len, opts.cond_frames, models.interp.clip_len,
                                  opts.mode, /*continues=*/true);
  // Latents to encode from the end of the input: the conditions (a keyframe stride apart) and
  // some decoding context before the last one.
  const int64_t need = (opts.cond_frames - 1) * plan.stride + 1;
  const int64_t ctx_want = std::max<int64_t>(req.decode_overlap, 1);

  // Pass 1: count the frames and keep the last ones (bounded: (need + context) * f frames).
  std::deque<std::vector<uint8_t>> tail;
  int64_t n_in = 0;
  {
    VideoReader r(input);
    std::vector<uint8_t> fr;
    const size_t keep = static_cast<size_t>((need + ctx_want) * f[0]);
    while (r.next(fr)) {
      tail.push_back(fr);
      if (tail.size() > keep) tail.pop_front();
      ++n_in;
    }
  }
  if (n_in < 1) fail("{}: no frames", input.string());
  // Pad to whole latents by repeating the last frame (as `longvid vae encode`).
  int64_t pad = (f[0] - static_cast<int64_t>(tail.size()) % f[0]) % f[0];
  for (int64_t i = 0; i < pad; ++i) tail.push_back(tail.back());
  const int64_t m = static_cast<int64_t>(tail.size()) / f[0];
  if (m < need)
    fail("{}: {} frames are too short to condition on {} latent frames {} apart (needs {} frames)", input.string(), n_in,
         opts.cond_frames, plan.stride, need * f[0]);
  if (pad)
    spdlog::info("{} frames is not a multiple of {}: the last frame is repeated {} time(s) for encoding", n_in, f[0],
                 pad);

  at::Tensor z;
  {
    torch::NoGradGuard ng;
    auto video = at::empty({static_cast<int64_t>(tail.size()), H, W, 3}, at::kByte);
    for (size_t i = 0; i < tail.size(); ++i)
      std::memcpy(video[static_cast<int64_t>(i)].data_ptr<uint8_t>(), tail[i].data(), tail[i].size());
    auto x = video.permute({3, 0, 1, 2}).unsqueeze(0).to(at::kFloat).div(127.5).sub(1.0).to(pipe.device);
    z = pipe.autoencoder->encode_latent(x).to(at::kCPU, at::kFloat);  // posterior mean, normalised
  }
  detail::LongRunInput in;
  for (int64_t i = 0; i < opts.cond_frames; ++i) {
    int64_t j = m - 1 - i * plan.stride;
    in.given[-i] = z.slice(2, j, j + 1).clone();
  }
  const int64_t ctx = std::min<int64_t>(ctx_want, m - 1);
  if (ctx > 0) in.context = z.slice(2, m - 1 - ctx, m - 1).clone();
  spdlog::info("{}: {} frames {}x{}; adding {} frames, seed {}", input.string(), n_in, W, H, add, opts.seed);
  detail::CountingSink counted(sink);
  {
    VideoReader r(input);
    std::vector<uint8_t> fr;
    while (r.next(fr)) counted.push(fr.data(), r.width(), r.height());
  }
  int64_t n = detail::run_long_video(pipe, plan, req, counted, in);
  if (n < 0) return -1;
  sink.close();
  return counted.frames();
}

int64_t extend_video_file(VideoPipeline& pipe, const fs::path& input, GenerateRequest req, const fs::path& output,
                          const WriteOptions& wopts) {
  if (fs::absolute(output) == fs::absolute(input)) fail("-o {}: the output must not be the input", output.string());
  if (req.state_dir.empty()) req.state_dir = default_state_dir(output);
  VideoWriter writer(output, wopts);
  int64_t n = extend_video(pipe, input, req, writer);
  if (n >= 0) spdlog::info("wrote {} ({} frames, {} fps)", output.string(), writer.frames_written(), wopts.fps.str());
  return n;
}

}  // namespace longvid
