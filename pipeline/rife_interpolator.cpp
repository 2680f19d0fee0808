// RIFE frame-rate upsampling on streamed frames: Practical-RIFE@17d8c7a inference_video.py's main loop
// (duplicate frames, scene cuts, make_inference for 4.x) and model/pytorch_msssim ssim_matlab.
#include "pipeline/rife_interpolator.h"

#include "core/checkpoint.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace longvid {

void check_rife_options(const RifeOptions& o) {
  if (o.multi < 2) throw Error("--multi must be a whole number >= 2 (got " + std::to_string(o.multi) + ")");
  if (o.multi > 1024) throw Error("--multi " + std::to_string(o.multi) + ": at most 1024 frames per interval");
  bool ok = false;
  for (double s : {0.25, 0.5, 1.0, 2.0, 4.0}) ok = ok || o.scale == s;
  if (!ok) throw Error("--scale must be 0.25, 0.5, 1, 2 or 4 (got " + std::to_string(o.scale) + ")");
  if (o.pad < 0) throw Error("--pad must be >= 0 (0: the model's padding unit)");
  if (!(o.duplicate_ssim > o.scene_cut_ssim))
    throw Error("the duplicate-frame SSIM threshold must be above the scene-cut one");
}

void check_rife_options(const RifeOptions& o, const IFNetConfig& cfg) {
  check_rife_options(o);
  const int64_t unit = cfg.pad_multiple(o.scale);
  if (o.pad && o.pad % unit != 0)
    throw Error(fmt::format("--pad {}: must be a multiple of {} (IFNet {} at scale {})", o.pad, unit, cfg.version,
                            o.scale));
}

at::Tensor rife_thumbnail(const at::Tensor& img) {
  return at::upsample_bilinear2d(img.to(at::kFloat), std::vector<int64_t>{32, 32}, false);
}

double rife_ssim_matlab(const at::Tensor& a_in, const at::Tensor& b_in) {
  at::Tensor a = a_in.to(at::kFloat), b = b_in.to(at::kFloat);
  const int64_t h = a.size(2), w = a.size(3);
  // gaussian(window, 1.5): exp(-(x - ws // 2)^2 / (2 sigma^2)) normalised, built in float32 from Python
  // floats as torch.Tensor([...]) does; the 3-D window is (g g^T) (x) g.
  const int64_t ws = std::min<int64_t>({11, h, w});
  std::vector<float> g(static_cast<size_t>(ws));
  for (int64_t x = 0; x < ws; ++x) {
    const double d = static_cast<double>(x - ws / 2);
    g[static_cast<size_t>(x)] = static_cast<float>(std::exp(-d * d / (2.0 * 1.5 * 1.5)));
  }
  at::Tensor g1 = torch::tensor(g);
  g1 = (g1 / g1.sum()).unsqueeze(1);  // [ws, 1]
  at::Tensor g2 = g1.mm(g1.t());
  at::Tensor window = g2.unsqueeze(2).matmul(g1.t()).expand({1, 1, ws, ws, ws}).contiguous();
  // The value range: L = 1 for images in [0, 1] (255 if max > 128, 2 if min < -0.5).
  const double max_val = a.max().item<double>() > 128 ? 255 : 1;
  const double min_val = a.min().item<double>() < -0.5 ? -1 : 0;
  const double L = max_val - min_val;
  a = a.unsqueeze(1);
  b = b.unsqueeze(1);
  auto blur = [&](const at::Tensor& x) {
    return at::conv3d(at::pad(x, {5, 5, 5, 5, 5, 5}, "replicate"), window);
  };
  at::Tensor mu1 = blur(a), mu2 = blur(b);
  at::Tensor mu1_sq = mu1.pow(2), mu2_sq = mu2.pow(2), mu1_mu2 = mu1 * mu2;
  at::Tensor s1 = blur(a * a) - mu1_sq, s2 = blur(b * b) - mu2_sq, s12 = blur(a * b) - mu1_mu2;
  const double C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  at::Tensor v1 = 2.0 * s12 + C2, v2 = s1 + s2 + C2;
  at::Tensor map = ((2 * mu1_mu2 + C1) * v1) / ((mu1_sq + mu2_sq + C1) * v2);
  return map.mean().item<double>();
}

struct RifeInterpolatingSink::State {
  IFNet net;
  RifeOptions o;
  FrameSink& out;
  int h = 0, w = 0;
  int64_t pad = 0;
  bool started = false, closed = false, batch = true;
  std::vector<uint8_t> lastframe;  // the frame written next (a source frame or a replaced duplicate)
  at::Tensor I1, I1_small, f1;     // the newest frame, padded, float32 [1, 3, ph, pw]; its thumbnail, features
  // A duplicate waits for the frame after it.
  bool awaiting = false;
  at::Tensor I0_wait, I0_small_wait, f0_wait;

  State(IFNet n, const RifeOptions& opts, FrameSink& sink) : net(std::move(n)), o(opts), out(sink) {}

  at::Tensor to_tensor(const FrameView& f) const {
    // torch.from_numpy(frame.transpose(2, 0, 1)).unsqueeze(0).float() / 255., padded with zeros.
    at::Tensor t = at::empty({f.height, f.width, 3}, at::kByte);
    for (int y = 0; y < f.height; ++y)
      std::memcpy(t.data_ptr<uint8_t>() + int64_t{y} * f.width * 3, f.data + y * f.row_bytes(), size_t(f.width) * 3);
    t = t.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0;
    return rife_pad(t, pad);
  }
  std::vector<uint8_t> to_frame(const at::Tensor& img) const {
    // (img[0] * 255.).byte(), cropped: truncation, as inference_video.py writes its frames.
    at::Tensor u = (img.to(at::kCPU, at::kFloat)[0] * 255.0).to(at::kByte).slice(1, 0, h).slice(2, 0, w);
    u = u.permute({1, 2, 0}).contiguous();
    return std::vector<uint8_t>(u.data_ptr<uint8_t>(), u.data_ptr<uint8_t>() + u.numel());
  }
  void write(const std::vector<uint8_t>& f) { out.push(f.data(), w, h); }
  at::Tensor net_in(const at::Tensor& x) const { return x.to(o.device, o.dtype); }
  at::Tensor features(const at::Tensor& x) { return net->encode(net_in(x)); }

  // Frames at t = i / multi between I0 and I1.
  std::vector<at::Tensor> interpolate(const at::Tensor& I0, const at::Tensor& f0, const at::Tensor& I1,
                                      const at::Tensor& f1) {
    const int64_t n = o.multi - 1;
    std::vector<double> ts;
    for (int64_t i = 0; i < n; ++i) ts.push_back(static_cast<double>(i + 1) * 1.0 / static_cast<double>(n + 1));
    std::vector<at::Tensor> res;
    auto a = net_in(I0), b = net_in(I1);
    if (batch && n > 1) {
      auto ex = [&](const at::Tensor& x) { return x.defined() ? x.expand({n, -1, -1, -1}) : x; };
      at::Tensor y = net->forward(ex(a), ex(b), torch::tensor(ts, at::kDouble), o.scale, ex(f0), ex(f1));
      for (int64_t i = 0; i < n; ++i) res.push_back(y.slice(0, i, i + 1));
    } else {
      for (double t : ts) res.push_back(net->forward(a, b, torch::tensor({t}, at::kDouble), o.scale, f0, f1));
    }
    return res;
  }

  at::Tensor features_of_I1() {
    if (net->config().encoder == IFNetConfig::Encoder::None) return {};
    if (!f1.defined()) f1 = features(I1);
    return f1;
  }
  void set_I1(at::Tensor img) {
    I1 = std::move(img);
    I1_small = rife_thumbnail(I1);
    f1 = at::Tensor();
  }
  static std::vector<uint8_t> copy_frame(const FrameView& f) {
    std::vector<uint8_t> v(size_t(f.width) * f.height * 3);
    for (int y = 0; y < f.height; ++y)
      std::memcpy(v.data() + size_t(y) * f.width * 3, f.data + y * f.row_bytes(), size_t(f.width) * 3);
    return v;
  }

  // Finishes the pair (I0, I1): writes lastframe and the frames between them, then lastframe = next.
  void finish(const at::Tensor& I0, const at::Tensor& f0, double ssim, std::vector<uint8_t> next, RifeStats& st) {
    std::vector<std::vector<uint8_t>> mids;
    if (o.detect && ssim < o.scene_cut_ssim) {
      ++st.scene_cuts;
      auto rep = to_frame(I0);
      for (int64_t i = 0; i + 1 < o.multi; ++i) mids.push_back(rep);
    } else {
      for (const auto& m : interpolate(I0, f0, I1, features_of_I1())) mids.push_back(to_frame(m));
      st.interpolated += o.multi - 1;
    }
    write(lastframe);
    for (const auto& m : mids) write(m);
    st.frames_out += o.multi;
    lastframe = std::move(next);
  }
  // One new frame after I1 (inference_video.py's loop body up to the duplicate check).
  void step(const FrameView& f, RifeStats& st) {
    at::Tensor I0 = I1, I0_small = I1_small, f0 = features_of_I1();
    set_I1(to_tensor(f));
    const double ssim = rife_ssim_matlab(I0_small.slice(1, 0, 3), I1_small.slice(1, 0, 3));
    if (o.detect && ssim > o.duplicate_ssim) {
      ++st.duplicates;
      awaiting = true;  // this frame is dropped; the next one decides what replaces it
      I0_wait = I0;
      I0_small_wait = I0_small;
      f0_wait = f0;
      return;
    }
    finish(I0, f0, ssim, copy_frame(f), st);
  }
  // The dropped duplicate becomes the frame halfway between I0 and `f2` (the frame after it, or at the
  // end of the video the last written frame); SSIM is taken again against that frame.
  void resolve_duplicate(const FrameView& f2, RifeStats& st) {
    awaiting = false;
    at::Tensor F2 = to_tensor(f2);
    at::Tensor feat2 = net->config().encoder != IFNetConfig::Encoder::None ? features(F2) : at::Tensor();
    set_I1(net->forward(net_in(I0_wait), net_in(F2), torch::tensor({0.5}, at::kDouble), o.scale, f0_wait, feat2)
               .to(at::kCPU, at::kFloat));
    const double ssim = rife_ssim_matlab(I0_small_wait.slice(1, 0, 3), I1_small.slice(1, 0, 3));
    finish(I0_wait, f0_wait, ssim, to_frame(I1), st);
  }
};

RifeInterpolatingSink::RifeInterpolatingSink(IFNet net, const RifeOptions& opts, FrameSink& out)
    : s_(std::make_unique<State>(std::move(net), opts, out)) {
  check_rife_options(opts);
  s_->batch = opts.batch_timesteps && !s_->net->config().large_motion_restart;
  check_rife_options(opts, s_->net->config());
  s_->net->set_exact(opts.exact);
  s_->net->to(opts.device, opts.dtype);
  s_->net->eval();
}

RifeInterpolatingSink::~RifeInterpolatingSink() = default;

void RifeInterpolatingSink::push(const FrameView& frame) {
  State& s = *s_;
  if (s.closed) throw Error("RIFE: push after close");
  torch::NoGradGuard ng;
  if (!s.started) {
    s.h = frame.height;
    s.w = frame.width;
    s.pad = s.o.pad ? s.o.pad : s.net->config().pad_multiple(s.o.scale);
    s.lastframe = State::copy_frame(frame);
    s.set_I1(s.to_tensor(frame));
    s.started = true;
    ++stats_.frames_in;
    return;
  }
  if (frame.width != s.w || frame.height != s.h)
    throw Error("RIFE: frame " + std::to_string(stats_.frames_in) + " is " + std::to_string(frame.width) + "x" +
                std::to_string(frame.height) + ", the video " + std::to_string(s.w) + "x" + std::to_string(s.h));
  ++stats_.frames_in;
  if (s.awaiting) s.resolve_duplicate(frame, stats_);
  s.step(frame, stats_);
}

bool RifeInterpolatingSink::can_checkpoint() const { return s_->started && !s_->awaiting && !s_->closed; }

void RifeInterpolatingSink::save(const std::filesystem::path& file) const {
  const State& s = *s_;
  if (!can_checkpoint()) throw Error("RIFE: no checkpoint possible here (a duplicate frame waits for the next)");
  StateDict sd;
  sd.set("lastframe", at::from_blob(const_cast<uint8_t*>(s.lastframe.data()), {s.h, s.w, 3}, at::kByte).clone());
  sd.set("I1", s.I1.to(at::kCPU, at::kFloat).contiguous());
  // Its memory layout too: a source frame is a permuted HWC image (as inference_video.py makes it),
  // and the network's convolutions round differently on it than on a contiguous copy.
  sd.set("I1_strides", at::tensor(s.I1.strides().vec(), at::kLong));
  sd.set("stats", at::tensor({stats_.frames_in, stats_.frames_out, stats_.duplicates, stats_.scene_cuts,
                              stats_.interpolated},
                             at::kLong));
  save_safetensors(file, sd, {{"longvid.rife_carry", "1"}});
}

void RifeInterpolatingSink::restore(const std::filesystem::path& file) {
  State& s = *s_;
  if (s.started) throw Error("RIFE: restore() into a sink that has frames");
  StateDict sd = load_checkpoint(file);
  if (!sd.metadata.count("longvid.rife_carry")) throw Error(file.string() + ": not a RIFE checkpoint");
  const at::Tensor last = sd.get("lastframe"), I1 = sd.get("I1"), st = sd.get("stats").to(at::kLong);
  if (last.dim() != 3 || last.size(2) != 3 || last.scalar_type() != at::kByte || I1.dim() != 4 || st.numel() != 5)
    throw Error(file.string() + ": a RIFE checkpoint of unexpected shapes");
  s.h = static_cast<int>(last.size(0));
  s.w = static_cast<int>(last.size(1));
  s.pad = s.o.pad ? s.o.pad : s.net->config().pad_multiple(s.o.scale);
  if (I1.size(2) != (s.h + s.pad - 1) / s.pad * s.pad || I1.size(3) != (s.w + s.pad - 1) / s.pad * s.pad)
    throw Error(file.string() + ": made with another padding (other RIFE options or model)");
  const at::Tensor lc = last.contiguous();
  s.lastframe.assign(lc.data_ptr<uint8_t>(), lc.data_ptr<uint8_t>() + lc.numel());
  at::Tensor img = I1.to(at::kFloat);
  if (sd.contains("I1_strides")) {
    const at::Tensor str = sd.get("I1_strides").to(at::kLong).contiguous();
    std::vector<int64_t> strides(str.data_ptr<int64_t>(), str.data_ptr<int64_t>() + str.numel());
    // A dense layout in some dimension order (what to_tensor or the network makes), nothing else.
    bool dense = static_cast<int64_t>(strides.size()) == img.dim();
    if (dense) {
      std::vector<std::pair<int64_t, int64_t>> ss;
      for (int64_t d = 0; d < img.dim(); ++d) ss.push_back({strides[size_t(d)], img.size(d)});
      std::sort(ss.begin(), ss.end());
      int64_t run = 1;
      for (const auto& [st, sz] : ss) {
        if (sz == 1) continue;
        dense = dense && st == run;
        run *= sz;
      }
    }
    if (!dense) throw Error(file.string() + ": bad I1 strides");
    img = at::empty_strided(img.sizes(), strides, img.options()).copy_(img);
  } else {
    img = img.clone();
  }
  s.set_I1(img);
  const int64_t* v = st.data_ptr<int64_t>();
  stats_ = RifeStats{v[0], v[1], v[2], v[3], v[4]};
  s.started = true;
}

void RifeInterpolatingSink::close() {
  State& s = *s_;
  if (s.closed) return;
  torch::NoGradGuard ng;
  if (s.started) {
    if (s.awaiting) {
      const std::vector<uint8_t> last = s.lastframe;
      s.resolve_duplicate(FrameView{last.data(), s.w, s.h, 0}, stats_);
    }
    s.write(s.lastframe);
    ++stats_.frames_out;
  }
  s.closed = true;
  s.out.close();
}

}  // namespace longvid
