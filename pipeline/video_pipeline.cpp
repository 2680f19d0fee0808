#include "pipeline/video_pipeline.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include "core/device.h"
#include "core/error.h"
#include "core/video_io.h"
#include "vae3d/video_autoencoder.h"

namespace longvid {

AutocastScope::AutocastScope(c10::Device device, c10::ScalarType dtype)
    : type_(device.type()), on_(dtype != c10::kFloat && dtype != c10::kDouble) {
  if (!on_) return;
  prev_enabled_ = at::autocast::is_autocast_enabled(type_);
  prev_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, dtype);
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  at::autocast::set_autocast_enabled(type_, prev_enabled_);
  at::autocast::set_autocast_dtype(type_, prev_dtype_);
  at::autocast::clear_cache();
}

std::string VideoPipeline::precision_id() const {
  std::string id;
  if (dtype != c10::kFloat) id += fmt::format("|dtype={}{}", dtype_option_name(dtype), autocast ? ",autocast" : "");
  if (autoencoder && autoencoder->compute_dtype() != c10::kFloat)
    id += fmt::format("|vae={}", dtype_option_name(autoencoder->compute_dtype()));
  return id;
}

std::array<int64_t, 3> VideoPipeline::factors() const {
  if (!autoencoder) fail("{} pipeline: no autoencoder loaded", family);
  return autoencoder->factors();
}

std::string VideoPipeline::describe() const {
  std::string s = main.describe;
  if (interp) s += "; interpolation: " + interp.describe;
  if (autoencoder) {
    auto f = autoencoder->factors();
    s += fmt::format("; {} autoencoder {}x{}x{} (T,H,W) z={}", autoencoder->kind(), f[0], f[1], f[2],
                     autoencoder->latent_channels());
  }
  if (schedule) s += fmt::format("; schedule {} {}", to_string(schedule->config().kind), schedule->num_train_timesteps());
  if (text_encoder) s += "; text: " + text_encoder->describe();
  if (dtype != c10::kFloat)
    s += fmt::format("; denoiser in {}{}", c10::toString(dtype), autocast ? " (autocast)" : " (weights cast, norms fp32)");
  if (autoencoder && autoencoder->compute_dtype() != c10::kFloat)
    s += fmt::format("; autoencoder in {}", c10::toString(autoencoder->compute_dtype()));
  return s;
}

VideoPipeline::ClipShape VideoPipeline::clip_shape(int64_t frames) const {
  if (frames < 1) fail("--frames {}: must be at least 1", frames);
  auto f = factors();
  ClipShape s{};
  s.latent_t = (frames + f[0] - 1) / f[0];
  s.latent_h = main.caps.latent_height;
  s.latent_w = main.caps.latent_width;
  if (s.latent_h < 1 || s.latent_w < 1) fail("{} pipeline: the model's latent size is unknown", family);
  s.frames_decoded = s.latent_t * f[0];
  s.height = s.latent_h * f[1];
  s.width = s.latent_w * f[2];
  return s;
}

void VideoPipeline::decode_to_sink(const at::Tensor& z, int64_t frames, FrameSink& sink, int64_t decode_window) {
  torch::NoGradGuard ng;
  // The decoder runs in its own compute dtype (float32 unless --vae-dtype), whatever --dtype says:
  // low-precision 3D (transposed) convolutions are very slow on CPUs without bf16 units.
  int64_t emitted = 0;
  int64_t window = decode_window, overlap = decode_window > 1 ? std::min<int64_t>(2, decode_window - 1) : 0;
  if (decode_window < 0) {  // the autoencoder's default windows
    const auto d = autoencoder->default_decode_window();
    window = d.window;
    overlap = d.overlap;
  }
  autoencoder->decode_stream(
      z.to(device, at::kFloat), window, overlap,
      [&](const torch::Tensor& chunk) {
        auto u8 = video_to_uint8(chunk);
        for (int64_t i = 0; i < u8.size(0) && emitted < frames; ++i, ++emitted) {
          auto fr = u8[i];
          sink.push(fr.data_ptr<uint8_t>(), static_cast<int>(fr.size(1)), static_cast<int>(fr.size(0)));
        }
      },
      /*normalized=*/true);
}

void VideoPipeline::check_params_not_freed() const {
  if (denoisers_freed_)
    fail("{} pipeline: its denoiser was freed after the first clip (free_params_immediately)", family);
}

at::Tensor VideoPipeline::generate(int64_t frames, const SamplerOptions& sampler, at::Generator& gen, FrameSink& sink,
                                   const ProgressFn& progress, int64_t decode_window, const Conditioning& cond,
                                   double cfg_scale, const Conditioning& uncond) {
  torch::NoGradGuard ng;
  check_params_not_freed();
  if (!main) fail("{} pipeline: no denoiser loaded", family);
  auto s = clip_shape(frames);
  auto opts = at::TensorOptions().dtype(at::kFloat);
  // Noise is drawn on the CPU generator and moved, so a seed gives the same video on every device.
  auto x_T = at::randn({1, main.caps.latent_channels, s.latent_t, s.latent_h, s.latent_w}, gen, opts).to(device);
  at::Tensor z;
  {
    AutocastScope autocast(device, autocast_dtype());
    if (cfg_scale != 1.0) {
      GuidedDenoiser guided(*main.net, uncond, cfg_scale, GuidanceMode::Cfg);
      z = longvid::sample(guided, *schedule, x_T, cond, sampler, gen, progress);
    } else {
      z = longvid::sample(*main.net, *schedule, x_T, cond, sampler, gen, progress);
    }
  }
  if (free_params_immediately) {
    main.net.reset();
    interp.net.reset();
    text_encoder.reset();
    denoisers_freed_ = true;
  }
  decode_to_sink(z, frames, sink, decode_window);
  return z;
}

}  // namespace longvid
