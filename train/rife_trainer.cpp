// Training a RIFE IFNet (train/rife_trainer.h). The objective follows Practical-RIFE 4.x's
// train_log/RIFE_HDv3.py Model.update and model/loss.py SOBEL; the schedule ECCV2022-RIFE train.py.
#include "train/rife_trainer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cmath>


#include "core/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/dataset.h"
#include "train/optim.h"

namespace longvid {

IFNetConfig rife_train_preset(const std::string& preset) {
  IFNetConfig k = IFNetConfig::published("4.26");
  if (preset == "tiny") {
    k.block_c = {48, 32, 24, 16, 12};
  } else if (preset == "small") {
    k.block_c = {96, 64, 48, 32, 16};
  } else {
    try {
      return IFNetConfig::published(preset);
    } catch (const Error&) {
      fail("--preset '{}': tiny, small, or a published IFNet version (4.0 ... 4.26, 4.25.lite, ...)", preset);
    }
  }
  k.version = "longvid-" + preset + " (4.26 layout)";
  return k;
}

namespace {

// model/loss.py SOBEL(pred, 0): |Sobel_x(pred)| + |Sobel_y(pred)| per channel (the zero target's
// gradients are zero).
at::Tensor sobel_abs(const at::Tensor& pred) {
  const int64_t n = pred.size(0), c = pred.size(1), h = pred.size(2), w = pred.size(3);
  at::Tensor kx = torch::tensor({1.f, 0.f, -1.f, 2.f, 0.f, -2.f, 1.f, 0.f, -1.f}, pred.options()).view({1, 1, 3, 3});
  at::Tensor ky = kx.transpose(2, 3).contiguous();
  at::Tensor x = pred.reshape({n * c, 1, h, w});
  return at::conv2d(x, kx, {}, 1, 1).abs() + at::conv2d(x, ky, {}, 1, 1).abs();
}

// RIFE train.py get_learning_rate: linear warm-up, then cosine from lr to lr / 100.
double rife_lr(const RifeTrainOptions& o, int64_t step) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  const double p = static_cast<double>(step - o.warmup) / static_cast<double>(std::max<int64_t>(1, o.steps - o.warmup));
  const double mul = std::cos(p * 3.14159265358979323846) * 0.5 + 0.5;
  return (o.lr - o.lr / 100) * mul + o.lr / 100;
}

struct Triplet {
  at::Tensor img0, img1, gt, t;  // [B, 3, S, S] in [0, 1]; t [B]
};

// Inputs / target / t from clips [B, 3, T, S, S] in [-1, 1], the draws from `gen`.
Triplet make_triplets(const at::Tensor& clips, int64_t max_interval, at::Generator& gen, bool augment) {
  const int64_t b = clips.size(0);
  at::Tensor x = (clips + 1) / 2;
  std::vector<at::Tensor> i0, i1, g;
  std::vector<double> ts;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = 2 + at::randint(max_interval - 1, {1}, gen).item<int64_t>();
    const int64_t j = 1 + at::randint(k - 1, {1}, gen).item<int64_t>();
    at::Tensor a = x[i].select(1, 0), c = x[i].select(1, k), m = x[i].select(1, j);
    double t = static_cast<double>(j) / static_cast<double>(k);
    const bool flip = at::randint(2, {1}, gen).item<int64_t>() == 1;
    const bool reverse = at::randint(2, {1}, gen).item<int64_t>() == 1;
    if (augment && flip) {
      a = a.flip(2);
      c = c.flip(2);
      m = m.flip(2);
    }
    if (augment && reverse) {
      std::swap(a, c);
      t = 1 - t;
    }
    i0.push_back(a);
    i1.push_back(c);
    g.push_back(m);
    ts.push_back(t);
  }
  return {at::stack(i0), at::stack(i1), at::stack(g), torch::tensor(ts, at::kFloat)};
}

std::filesystem::path state_path(const std::filesystem::path& out) { return out.string() + ".train-state"; }

StateDict weights_of(IFNet& net, const std::string& prefix = "") {
  StateDict sd;
  for (const auto& p : net->named_parameters()) sd.set(prefix + p.key(), p.value().detach().clone());
  return sd;
}

}  // namespace

std::string rife_recipe(const RifeTrainOptions& o) {
  // Every option that shapes the weights (the data folders aside), so the file says how to make it again.
  return fmt::format(
      "train-rife --preset {} --steps {} --batch {} --size {} --seed {} --max-interval {} --flow-scale {} --lr {} "
      "--smooth-weight {} --warmup {}",
      o.preset, o.steps, o.batch, o.size, o.seed, o.max_interval, o.flow_scale, o.lr, o.smooth_weight,
      o.warmup);
}

RifeTrainResult train_rife(const RifeTrainOptions& o) {
  if (o.data.empty()) fail("train-rife needs --data (folders of videos, e.g. `longvid synth` output)");
  if (o.output.empty()) fail("train-rife needs -o OUTPUT");
  if (o.steps < 1 || o.batch < 1) fail("--steps and --batch must be >= 1");
  if (o.max_interval < 2) fail("--max-interval must be >= 2 (the target lies between the two inputs)");
  if (!(o.smooth_weight >= 0)) fail("--smooth-weight must be >= 0");
  if (!(o.flow_scale == 0.5 || o.flow_scale == 1.0 || o.flow_scale == 2.0 || o.flow_scale == 4.0))
    fail("--flow-scale must be 0.5, 1, 2 or 4");
  const IFNetConfig cfg = rife_train_preset(o.preset);
  if (o.size % cfg.pad_multiple(o.flow_scale) != 0)
    fail("--size {}: must be a multiple of {} (the {} layout's padding unit)", o.size, cfg.pad_multiple(o.flow_scale),
         cfg.version);
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  IFNet net(cfg);
  net->train();
  VideoDatasetOptions dso;
  dso.roots = o.data;
  dso.clip_frames = o.max_interval + 1;
  dso.size = o.size;
  dso.seed = o.seed;
  dso.workers = o.workers;
  dso.random_crop = true;
  VideoDataset ds(dso);
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (const auto& p : net->named_parameters()) params.emplace_back(p.key(), p.value());
  AdamOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  Adam opt(params, ao);
  int64_t step = 0;
  if (o.resume && std::filesystem::exists(state_path(o.output))) {
    StateDict st = load_checkpoint(state_path(o.output));
    LoadIntoOptions lo;
    lo.prefix = "model.";
    load_into(*net, st, lo);
    opt.load(st, "optim.");
    step = std::stoll(st.metadata.at("step"));
    ds.restore(st.metadata.at("dataset"));
    spdlog::info("train-rife: resumed at step {}", step);
  }
  auto save_state = [&] {
    StateDict st = weights_of(net, "model.");
    opt.save(st, "optim.");
    save_safetensors(state_path(o.output), st, {{"step", std::to_string(step)}, {"dataset", ds.state()}});
  };
  RifeTrainResult res;
  double window = 0;
  int64_t in_window = 0;
  while (step < o.steps) {
    if (o.stop_after >= 0 && step >= o.stop_after) {
      save_state();
      res.steps = step;
      return res;
    }
    at::Generator gen = make_generator(o.seed * 1000003ULL + static_cast<uint64_t>(step) + 1);
    Triplet tr = make_triplets(ds.next_batch(o.batch), o.max_interval, gen, true);
    opt.set_lr(rife_lr(o, step));
    opt.zero_grad();
    at::Tensor flow;
    at::Tensor merged = net->forward(tr.img0, tr.img1, tr.t, o.flow_scale, {}, {}, &flow);
    at::Tensor loss_l1 = (merged - tr.gt).abs().mean();
    at::Tensor loss_smooth = sobel_abs(flow).mean();
    at::Tensor loss = loss_l1 + loss_smooth * o.smooth_weight;
    loss.backward();
    opt.step();
    ++step;
    window += loss_l1.item<double>();
    ++in_window;
    if (step % o.log_every == 0 || step == o.steps) {
      const double mean = window / static_cast<double>(in_window);
      if (res.first_loss == 0) res.first_loss = mean;
      res.last_loss = mean;
      spdlog::info("train-rife step {}/{}: L1 {:.4f}, smooth {:.4f}, lr {:.2e}", step, o.steps, mean,
                   loss_smooth.item<double>(), opt.lr());
      window = 0;
      in_window = 0;
    }
    if (o.save_every > 0 && step % o.save_every == 0 && step < o.steps) save_state();
  }
  StateDict sd = weights_of(net);
  save_safetensors(o.output, sd,
                   {{"longvid.rife", cfg.version},
                    {"longvid.rife.scale", fmt::format("{}", o.flow_scale)},
                    {"longvid.rife.recipe", rife_recipe(o)}});
  std::error_code ec;
  std::filesystem::remove(state_path(o.output), ec);
  res.steps = step;
  return res;
}

RifeEvalResult eval_rife(IFNet net, const std::vector<std::filesystem::path>& data, int64_t size, int64_t samples,
                         int64_t max_interval, uint64_t seed, double scale) {
  torch::NoGradGuard ng;
  net->eval();
  VideoDatasetOptions dso;
  dso.roots = data;
  dso.clip_frames = max_interval + 1;
  dso.size = size;
  dso.seed = seed;
  dso.workers = 1;
  VideoDataset ds(dso);
  at::Generator gen = make_generator(seed + 17);
  Triplet tr = make_triplets(ds.next_batch(samples), max_interval, gen, false);
  const int64_t mult = net->config().pad_multiple(scale);
  at::Tensor out = net->forward(rife_pad(tr.img0, mult), rife_pad(tr.img1, mult), tr.t, scale)
                       .slice(2, 0, size)
                       .slice(3, 0, size);
  auto psnr = [&](const at::Tensor& x) {
    at::Tensor q = (x.clamp(0, 1) * 255).round() / 255;  // as written to a video
    at::Tensor mse = (q - tr.gt).pow(2).mean({1, 2, 3});
    return (-10 * at::log10(mse.clamp_min(1e-10))).mean().item<double>();
  };
  at::Tensor tt = tr.t.view({-1, 1, 1, 1});
  at::Tensor repeat = at::where(tt <= 0.5, tr.img0, tr.img1);
  RifeEvalResult r;
  r.samples = samples;
  r.psnr_model = psnr(out);
  r.psnr_repeat = psnr(repeat);
  r.psnr_blend = psnr(tr.img0 * (1 - tt) + tr.img1 * tt);
  return r;
}

}  // namespace longvid
