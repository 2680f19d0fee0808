#include "train/lvdm_trainer.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "sampler/schedule.h"
#include "train/ae_config_json.h"
#include "train/clip_source.h"
#include "train/latent_cache.h"
#include "train/distributed.h"
#include "train/optim.h"

namespace longvid {

using json = nlohmann::ordered_json;

namespace {

// Streams of the per-sample generators (train/clip_source.h sample_seed).
constexpr uint64_t kStreamPosterior = 2, kStreamDiffusion = 3, kStreamText = 5;
// Text encoder parameters are named by their checkpoint key (LDM's cond_stage_model).
constexpr const char* kTextPrefix = "cond_stage_model.transformer.text_model.";
bool is_text_param(const std::string& name) { return name.rfind(kTextPrefix, 0) == 0; }
std::string raw_key(const std::string& name) { return is_text_param(name) ? name : "model.diffusion_model." + name; }

class Autocast {
 public:
  Autocast(c10::DeviceType type, bool on) : type_(type), on_(on) {
    if (!on_) return;
    prev_ = at::autocast::is_autocast_enabled(type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  }
  ~Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, prev_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
    at::autocast::clear_cache();
  }

 private:
  c10::DeviceType type_;
  bool on_, prev_ = false;
  c10::ScalarType prev_dtype_ = at::kFloat;
};

std::string dotless(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '.') out += c;
  return out;
}

// LitEma's names: the raw key without the "model." of model.diffusion_model (LDM's EMA of self.model)
// and without dots; the text encoder's the same way ("model_ema.cond_stage_modeltransformer...").
std::string ema_key(const std::string& name) {
  return is_text_param(name) ? "model_ema." + dotless(name) : "model_ema.diffusion_model" + dotless(name);
}

json ae_first_stage_json(const LvdmAe3dConfig& a) {
  json params = lvdm_ae3d_params_json(a);
  params["lossconfig"] = "__is_first_stage__";
  return json{{"target", "lvdm.models.autoencoder3d.AutoencoderKL"}, {"params", params}};
}

}  // namespace

struct LvdmDiffusionTrainer::Impl {
  std::unique_ptr<NoiseSchedule> schedule;
  std::unique_ptr<Adam> opt;
  std::vector<std::pair<std::string, at::Tensor>> params;
  std::vector<at::Tensor> ema;  // LitEma shadow (float32), same order as params
  int64_t ema_updates = 0;
  int64_t latent_t = 0, latent_hw = 0;
};

LvdmUNetConfig lvdm_unet_preset(const std::string& name, int64_t z_channels, int64_t max_noise_level,
                                int64_t temporal_length, int64_t context_dim) {
  LvdmUNetConfig u;
  u.in_channels = z_channels + 1;
  u.out_channels = z_channels;
  u.num_classes = max_noise_level + 1;
  u.conditioning_key = "concat-adm-mask";
  u.legacy = false;
  u.kernel_size_t = 1;
  u.padding_t = 0;
  u.temporal_length = temporal_length;
  u.use_relative_position = true;
  u.use_scale_shift_norm = true;
  u.num_heads = 4;
  if (name == "tiny") {
    u.model_channels = 32;
    u.channel_mult = {1, 2};
    u.num_res_blocks = 1;
    u.attention_resolutions = {2};
  } else if (name == "small") {
    u.model_channels = 64;
    u.channel_mult = {1, 2, 4};
    u.num_res_blocks = 2;
    u.attention_resolutions = {4, 2};
  } else if (name == "base") {
    u.model_channels = 128;
    u.channel_mult = {1, 2, 3, 4};
    u.num_res_blocks = 2;
    u.attention_resolutions = {8, 4, 2};
  } else {
    fail("--unet {}: unknown preset (tiny, small, base)", name);
  }
  if (context_dim > 0) {
    u.use_temporal_transformer = true;
    u.transformer_depth = 1;
    u.context_dim = context_dim;
  }
  return u;
}

double diffusion_lr(const DiffusionTrainOptions& o, int64_t step) {
  const int64_t w = std::max<int64_t>(o.warmup_steps, 0);
  if (step < w) return o.lr * static_cast<double>(step + 1) / static_cast<double>(w);
  if (o.lr_schedule != "cosine") return o.lr;
  const double p = std::min(1.0, static_cast<double>(step - w) / static_cast<double>(std::max<int64_t>(1, o.steps - w)));
  return o.lr_min + (o.lr - o.lr_min) * 0.5 * (1.0 + std::cos(p * 3.14159265358979323846));
}

LvdmDiffusionTrainer::LvdmDiffusionTrainer(TrainableDenoiser net, LvdmAutoencoder3D ae, DiffusionTrainOptions o,
                                           at::Device device, ProcessGroupHandle* pg,
                                           std::shared_ptr<TrainableTextEncoder> text)
    : net_(std::move(net)), ae_(std::move(ae)), o_(std::move(o)), device_(device), pg_(pg), text_(std::move(text)),
      impl_(std::make_unique<Impl>()) {
  const auto& u = net_;
  const auto& a = ae_->config();
  if (u.in_channels != a.embed_dim + 1 || u.out_channels != a.embed_dim)
    fail("train: {} in/out channels {}/{} do not fit the autoencoder's {} latent channels (need {}/{})", u.describe,
         u.in_channels, u.out_channels, a.embed_dim, a.embed_dim + 1, a.embed_dim);
  if (o_.max_noise_level < 1 || o_.max_noise_level > o_.timesteps)
    fail("--max-noise-level {}: must be in 1..{} (the diffusion timesteps)", o_.max_noise_level, o_.timesteps);
  if (u.context_dim > 0 && !text_)
    fail("train: {} attends to a text context but no text encoder is trained with it", u.describe);
  if (text_ && u.context_dim != text_->model->config().hidden_size)
    fail("train: the text encoder is {} wide, {} attends to a context of {}", text_->model->config().hidden_size,
         u.describe, u.context_dim);
  if (text_ && (o_.p_uncond_text < 0 || o_.p_uncond_text > 1))
    fail("--p-uncond-text {}: must be in [0, 1]", o_.p_uncond_text);
  if (u.num_classes != o_.max_noise_level + 1)
    fail("train: {} has {} labels; it must have max_noise_level + 1 = {}", u.describe, u.num_classes,
         o_.max_noise_level + 1);
  if (o_.loss_type != "l1" && o_.loss_type != "l2") fail("--loss {}: must be l1 or l2", o_.loss_type);
  if (o_.p_pred < 0 || o_.p_interp < 0 || o_.p_pred + o_.p_interp > 1.0 + 1e-12)
    fail("--p-pred {} / --p-interp {}: probabilities must be >= 0 and sum to at most 1", o_.p_pred, o_.p_interp);
  if (o_.p_pred > 0 && o_.n_prevs.empty()) fail("--n-prevs: needs at least one value when --p-pred > 0");
  for (auto n : o_.n_prevs)
    if (n < 1) fail("--n-prevs: values must be >= 1, got {}", n);
  if (o_.batch_size < 1 || o_.grad_accum < 1 || o_.steps < 0 || o_.latent_frame_stride < 1)
    fail("train: batch size ({}), gradient accumulation ({}), latent frame stride ({}) must be >= 1, steps ({}) >= 0",
         o_.batch_size, o_.grad_accum, o_.latent_frame_stride, o_.steps);
  if (o_.lr <= 0) fail("--lr {}: must be positive", o_.lr);
  if (o_.lr_schedule != "constant" && o_.lr_schedule != "cosine")
    fail("--lr-schedule {}: must be constant or cosine", o_.lr_schedule);
  if (o_.lr_min < 0 || o_.lr_min > o_.lr) fail("--lr-min {}: must be in 0..--lr ({})", o_.lr_min, o_.lr);
  const int world = pg_ ? pg_->world_size() : 1;
  if (o_.batch_size % world != 0)
    fail("--batch {}: the global batch must be divisible by WORLD_SIZE {}", o_.batch_size, world);

  impl_->schedule = std::make_unique<NoiseSchedule>(
      NoiseSchedule::lvdm(o_.linear_start, o_.linear_end, "linear", o_.timesteps));
  ae_->eval();
  ae_->to(device_);
  for (auto& p : ae_->parameters()) p.set_requires_grad(false);
  net_.module->train();
  net_.module->to(device_);
  std::vector<std::pair<std::string, at::Tensor>> trained;
  for (auto& kv : net_.module->named_parameters()) {
    const bool frozen = std::find(net_.frozen.begin(), net_.frozen.end(), kv.key()) != net_.frozen.end();
    kv.value().set_requires_grad(!frozen);
    impl_->params.emplace_back(kv.key(), kv.value());
    if (!frozen) trained.emplace_back(kv.key(), kv.value());
  }
  if (text_) {
    text_->model->train();
    text_->model->to(device_);
    for (auto& kv : text_->model->named_parameters()) {
      kv.value().set_requires_grad(true);
      impl_->params.emplace_back(kTextPrefix + kv.key(), kv.value());
      trained.emplace_back(kTextPrefix + kv.key(), kv.value());
    }
  }
  AdamOptions ao;
  ao.lr = o_.lr;
  ao.beta1 = o_.beta1;
  ao.beta2 = o_.beta2;
  ao.eps = o_.eps;
  ao.weight_decay = o_.weight_decay;
  ao.decoupled = true;
  impl_->opt = std::make_unique<Adam>(trained, ao);
  if (o_.ema_decay > 0) {
    at::NoGradGuard ng;
    for (auto& [n, p] : impl_->params) impl_->ema.push_back(p.detach().to(at::kFloat).clone());
  }
  // Ranks start from the same weights: rank 0's are broadcast (as an average of identical copies
  // would be, but cheap to check): here an average, which is exact for identical inputs.
  if (pg_ && pg_->world_size() > 1) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> ps;
    for (auto& [n, p] : impl_->params) ps.push_back(p.detach());
    pg_->average(ps);
  }
}

LvdmDiffusionTrainer::~LvdmDiffusionTrainer() = default;

LvdmDiffusionTrainer::SampleDraw LvdmDiffusionTrainer::draw(int64_t k, int64_t lt, int64_t h, int64_t w) const {
  // The order of draws is part of the format of a run (resume / data parallel reproduce it).
  at::Generator g = make_generator(sample_seed(o_.seed, k, kStreamDiffusion));
  SampleDraw d;
  double r = at::rand({1}, g, at::kDouble).item<double>();
  d.t = at::randint(0, o_.timesteps, {1}, g, at::kLong).item<int64_t>();
  d.s = at::randint(0, o_.max_noise_level, {1}, g, at::kLong).item<int64_t>();
  int64_t n_idx = o_.n_prevs.empty() ? 0 : at::randint(0, static_cast<int64_t>(o_.n_prevs.size()), {1}, g, at::kLong).item<int64_t>();
  at::Tensor m = at::zeros({lt}, at::kFloat);
  if (r < o_.p_interp) {  // make_interp_mask_with_bothsidescond(t, 1, 1)
    m[0] = 1;
    m[lt - 1] = 1;
    d.mode = 2;
  } else if (r < o_.p_interp + o_.p_pred) {
    int64_t n = std::min<int64_t>(o_.n_prevs[n_idx], lt);
    m.slice(0, 0, n).fill_(1);
    d.mode = 1;
  }
  d.mask = m.view({1, 1, lt, 1, 1}).expand({1, 1, lt, h, w}).contiguous();
  return d;
}

at::Tensor LvdmDiffusionTrainer::encode(const at::Tensor& video, int64_t k0) {
  at::NoGradGuard ng;
  auto post = ae_->encode(video.to(device_));
  return sample_latent(post.mean, post.std(), k0);
}

at::Tensor LvdmDiffusionTrainer::sample_latent(const at::Tensor& mean, const at::Tensor& std, int64_t k0) {
  at::NoGradGuard ng;
  at::Tensor z = mean;
  if (o_.sample_posterior) {
    std::vector<at::Tensor> noise;
    std::vector<int64_t> shape(mean.sizes().begin(), mean.sizes().end());
    shape[0] = 1;
    for (int64_t i = 0; i < mean.size(0); ++i) {
      at::Generator g = make_generator(sample_seed(o_.seed, k0 + i, kStreamPosterior));
      noise.push_back(at::randn(shape, g, at::kFloat));
    }
    z = mean + std * at::cat(noise).to(mean.device(), mean.scalar_type());
  }
  return ae_->normalize_latent(z).contiguous();  // strided per sample in step_on
}

at::Tensor LvdmDiffusionTrainer::select_latents(const at::Tensor& z, int mode) const {
  const int64_t stride = o_.latent_frame_stride, lt = (z.size(2) + stride - 1) / stride;
  if (mode == 2 && o_.interp_consecutive) return z.slice(2, 0, lt);
  return stride > 1 ? z.slice(2, 0, z.size(2), stride) : z;
}

TrainStepStats LvdmDiffusionTrainer::step(ClipSource& data) {
  return step_on([&](int64_t k0, int64_t n) { return encode(data.samples(k0, n), k0); });
}

TrainStepStats LvdmDiffusionTrainer::step(const LatentCache& cache, int64_t latent_frames) {
  std::function<std::string(int64_t, int)> prompt;
  if (text_) {
    if (!captions_) fail("train: a text model needs captions (train/lvdm_trainer.h set_captions)");
    const int64_t ft = ae_->config().factors()[0] * cache.frame_stride();
    prompt = [&, ft](int64_t k, int mode) {
      const auto [vi, start] = cache.sample_window(k, latent_frames, o_.seed);
      // The frames the sample's latents cover: the whole clip, or the consecutive latents an
      // interpolation sample takes (select_latents).
      const int64_t stride = o_.latent_frame_stride;
      const int64_t n = mode == 2 && o_.interp_consecutive ? (latent_frames + stride - 1) / stride : latent_frames;
      return sample_prompt(k, vi, start * ft, n * ft);
    };
  }
  return step_on(
      [&](int64_t k0, int64_t n) {
        auto [mean, std] = cache.samples(k0, n, latent_frames, o_.seed);
        return sample_latent(mean.to(device_), std.to(device_), k0);
      },
      prompt);
}

std::string LvdmDiffusionTrainer::text_encoder_id() const {
  if (!text_) return {};
  const auto& c = text_->model->config();
  return fmt::format("clip width {} layers {} heads {} vocab {} length {}", c.hidden_size, c.num_layers, c.num_heads,
                     c.vocab_size, text_->max_length);
}

std::string LvdmDiffusionTrainer::sample_prompt(int64_t k, int64_t video, int64_t first_frame, int64_t frames) const {
  if (!captions_) fail("train: a text model needs captions (train/lvdm_trainer.h set_captions)");
  at::Generator g = make_generator(sample_seed(o_.seed, k, kStreamText));
  at::Tensor r = at::rand({2}, g, at::kDouble);
  if (r[0].item<double>() < o_.p_uncond_text) return {};
  return captions_(video, first_frame, frames, r[1].item<double>());
}

TrainStepStats LvdmDiffusionTrainer::step_on(const std::function<at::Tensor(int64_t, int64_t)>& latents,
                                             const std::function<std::string(int64_t, int)>& prompt) {
  if (text_ && !prompt) fail("train: a text model trains from the latent cache (--latent-cache) with captions");
  auto t0 = std::chrono::steady_clock::now();
  const int world = pg_ ? pg_->world_size() : 1;
  const int rank = pg_ ? pg_->rank() : 0;
  const int64_t G = o_.batch_size, b = G / world;
  const bool autocast = device_.is_cuda() && o_.bf16;
  auto& I = *impl_;
  I.opt->zero_grad();
  double loss_sum = 0;  // this rank's sum of micro-batch means / accum
  for (int64_t m = 0; m < o_.grad_accum; ++m) {
    const int64_t k0 = next_sample_ + m * G + rank * b;
    auto tm0 = std::chrono::steady_clock::now();
    at::Tensor z_full = latents(k0, b);
    auto tm1 = std::chrono::steady_clock::now();
    const int64_t stride = o_.latent_frame_stride;
    const int64_t lt = (z_full.size(2) + stride - 1) / stride, h = z_full.size(3), w = z_full.size(4);
    I.latent_t = lt;
    I.latent_hw = h;
    std::vector<at::Tensor> masks, ts, ss, nts, nss, zs;
    std::vector<int64_t> shape{1, z_full.size(1), lt, h, w};
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < b; ++i) {
      auto d = draw(k0 + i, lt, h, w);
      if (text_) {
        auto tok = text_->tokenizer.encode(prompt(k0 + i, d.mode), text_->max_length);
        ids.insert(ids.end(), tok.ids.begin(), tok.ids.end());
      }
      zs.push_back(select_latents(z_full.slice(0, i, i + 1), d.mode));
      at::Generator g = make_generator(sample_seed(o_.seed, k0 + i, kStreamDiffusion + 100));
      masks.push_back(d.mask);
      ts.push_back(at::full({1}, d.t, at::kLong));
      ss.push_back(at::full({1}, d.s, at::kLong));
      nts.push_back(at::randn(shape, g, at::kFloat));
      nss.push_back(at::randn(shape, g, at::kFloat));
    }
    at::Tensor mask = at::cat(masks).to(device_), t = at::cat(ts).to(device_), s = at::cat(ss).to(device_);
    at::Tensor eps_t = at::cat(nts).to(device_), eps_s = at::cat(nss).to(device_);
    at::Tensor z = at::cat(zs).contiguous();
    at::Tensor x_t = I.schedule->q_sample(z, t, eps_t);
    at::Tensor x_s = I.schedule->q_sample(z, s, eps_s);
    at::Tensor x_noisy = x_t * (1 - mask) + x_s * mask;
    at::Tensor target = eps_t * (1 - mask) + eps_s * mask;
    at::Tensor out;
    {
      Autocast ac(device_.type(), autocast);
      at::Tensor context;
      if (text_)
        context = text_->model->forward(at::tensor(ids, at::kLong).view({b, text_->max_length}).to(device_))
                      .last_hidden_state;
      out = net_.forward(at::cat({x_noisy, mask}, 1), t, s, context);
    }
    out = out.to(at::kFloat);
    auto tm2 = std::chrono::steady_clock::now();
    at::Tensor loss = o_.loss_type == "l1" ? (out - target).abs().mean() : (out - target).pow(2).mean();
    (loss / static_cast<double>(o_.grad_accum)).backward();
    loss_sum += loss.item<double>() / static_cast<double>(o_.grad_accum);
    auto tm3 = std::chrono::steady_clock::now();
    spdlog::debug("train step {} micro {}: data+encode {:.3f} s, forward {:.3f} s, backward {:.3f} s", step_ + 1, m,
                  std::chrono::duration<double>(tm1 - tm0).count(), std::chrono::duration<double>(tm2 - tm1).count(),
                  std::chrono::duration<double>(tm3 - tm2).count());
  }
  std::vector<at::Tensor> grads;
  for (auto& [n, p] : I.params) {
    if (!p.requires_grad()) continue;  // frozen
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  double loss_mean = loss_sum;
  if (pg_ && world > 1) {
    pg_->average(grads);
    std::vector<at::Tensor> l{at::full({1}, loss_sum, at::kDouble)};
    pg_->average(l);
    loss_mean = l[0].item<double>();
  }
  std::vector<at::Tensor> ps;
  for (auto& [n, p] : I.params)
    if (p.requires_grad()) ps.push_back(p);
  TrainStepStats st;
  st.grad_norm = clip_grad_norm(ps, o_.grad_clip);
  const double lr = diffusion_lr(o_, step_);
  I.opt->set_lr(lr);
  I.opt->step();
  ema_update();
  ++step_;
  next_sample_ += G * o_.grad_accum;
  st.step = step_;
  st.loss = loss_mean;
  st.lr = lr;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

int64_t LvdmDiffusionTrainer::init_from(const StateDict& sd) {
  if (step_ != 0) fail("train: --init-from applies to a new run, not a resumed one");
  auto& I = *impl_;
  at::NoGradGuard ng;
  int64_t taken = 0;
  for (size_t i = 0; i < I.params.size(); ++i) {
    const auto& [name, p] = I.params[i];
    const std::string ek = ema_key(name), rk = raw_key(name);
    const std::string key = sd.contains(ek) ? ek : rk;
    if (!sd.contains(key) || !sd.get(key).sizes().equals(p.sizes())) continue;
    p.copy_(sd.get(key).to(p.scalar_type()));
    if (!I.ema.empty()) I.ema[i].copy_(sd.get(key).to(at::kFloat));
    ++taken;
  }
  return taken;
}

void LvdmDiffusionTrainer::ema_update() {
  auto& I = *impl_;
  if (I.ema.empty()) return;
  at::NoGradGuard ng;
  ++I.ema_updates;
  // LitEma: decay = min(decay, (1 + num_updates) / (10 + num_updates)), in float32 like its buffer.
  double n = static_cast<double>(I.ema_updates);
  double decay = std::min(static_cast<double>(static_cast<float>(o_.ema_decay)), (1.0 + n) / (10.0 + n));
  double one_minus = 1.0 - decay;
  for (size_t i = 0; i < I.params.size(); ++i)
    I.ema[i].sub_(one_minus * (I.ema[i] - I.params[i].second.detach().to(at::kFloat)));
}

std::string LvdmDiffusionTrainer::config_json(const std::string& data_json) const {
  const auto& a = ae_->config();
  auto f = a.factors();
  // image_size: the latent size the model was trained at (set after the first step; else from the
  // data's frame size when known through data_json).
  int64_t latent_hw = impl_->latent_hw;
  json data = json::parse(data_json.empty() ? "{}" : data_json);
  if (latent_hw == 0 && data.contains("resolution")) latent_hw = data["resolution"].get<int64_t>() / f[1];
  json p;
  p["linear_start"] = o_.linear_start;
  p["linear_end"] = o_.linear_end;
  p["log_every_t"] = 200;
  p["timesteps"] = o_.timesteps;
  p["beta_schedule"] = "linear";
  p["parameterization"] = "eps";
  p["loss_type"] = o_.loss_type;
  p["first_stage_key"] = "image";
  p["cond_stage_key"] = "image";
  p["image_size"] = latent_hw;
  p["channels"] = a.embed_dim;
  p["monitor"] = "val/loss_simple_ema";
  p["conditioning_key"] = "concat-adm-mask";
  p["cond_stage_config"] = nullptr;
  if (text_) {
    const auto& tc = text_->model->config();
    p["cond_stage_key"] = "caption";
    p["cond_stage_config"] = {{"target", "longvid.train.ClipTextEncoder"},
                              {"params",
                               {{"vocab_size", tc.vocab_size},
                                {"hidden_size", tc.hidden_size},
                                {"intermediate_size", tc.intermediate_size},
                                {"num_layers", tc.num_layers},
                                {"num_heads", tc.num_heads},
                                {"max_length", text_->max_length},
                                {"p_uncond", o_.p_uncond_text}}}};
  }
  p["noisy_cond"] = true;
  p["max_noise_level"] = o_.max_noise_level;
  p["cond_stage_trainable"] = static_cast<bool>(text_);
  p["concat_mode"] = false;
  p["scale_by_std"] = false;
  p["scale_factor"] = a.scale_factor;
  p["shift_factor"] = a.shift_factor;
  p["encoder_type"] = "3d";
  p["rand_temporal_mask"] = true;
  p["p_interp"] = o_.p_interp;
  p["p_pred"] = o_.p_pred;
  p["n_prevs"] = o_.n_prevs;
  p["split_clips"] = false;
  p["downfactor_t"] = nullptr;
  p["clip_length"] = nullptr;
  if (o_.latent_frame_stride > 1)
    p["latent_frame_strde"] = o_.latent_frame_stride;
  else
    p["latent_frame_strde"] = nullptr;
  if (o_.interp_consecutive) p["interp_consecutive_latents"] = true;  // longvid extension
  p["use_ema"] = o_.ema_decay > 0;
  p["unet_config"] = json::parse(net_.config_json(latent_hw));
  p["first_stage_config"] = ae_first_stage_json(a);
  json model{{"base_learning_rate", o_.lr},
             {"scale_lr", false},
             {"target", "lvdm.models.ddpm3d.FrameInterpPredLatentDiffusion"},
             {"params", p}};
  json training{{"steps", o_.steps},
                {"batch_size", o_.batch_size},
                {"grad_accum", o_.grad_accum},
                {"lr", o_.lr},
                {"warmup_steps", o_.warmup_steps},
                {"lr_schedule", o_.lr_schedule},
                {"lr_min", o_.lr_min},
                {"weight_decay", o_.weight_decay},
                {"betas", {o_.beta1, o_.beta2}},
                {"eps", o_.eps},
                {"grad_clip", o_.grad_clip},
                {"ema_decay", o_.ema_decay},
                {"seed", o_.seed},
                {"sample_posterior", o_.sample_posterior},
                {"world_size", pg_ ? pg_->world_size() : 1},
                {"steps_done", step_}};
  json root{{"model", model},
            {"data", {{"target", "longvid.train.clips"}, {"params", data}}},
            {"longvid", {{"format", "longvid.lvdm/1"}, {"training", training}}}};
  return root.dump();
}

void LvdmDiffusionTrainer::save(const std::filesystem::path& model_file, const std::filesystem::path& state_file,
                                const std::string& data_json) const {
  if (pg_ && pg_->rank() != 0) return;
  const auto& I = *impl_;
  StateDict sd;
  for (const auto& [n, p] : I.params) sd.set(raw_key(n), p.detach().to(at::kCPU).contiguous());
  if (!I.ema.empty()) {
    for (size_t i = 0; i < I.params.size(); ++i)
      sd.set(ema_key(I.params[i].first), I.ema[i].to(at::kCPU).contiguous());
    sd.set("model_ema.decay", at::full({}, static_cast<float>(o_.ema_decay), at::kFloat));
    sd.set("model_ema.num_updates", at::full({}, static_cast<int32_t>(I.ema_updates), at::kInt));
  }
  for (const auto& kv : ae_->named_parameters())
    sd.set("first_stage_model." + kv.key(), kv.value().detach().to(at::kCPU).contiguous());
  for (const auto& kv : ae_->named_buffers())
    sd.set("first_stage_model." + kv.key(), kv.value().detach().to(at::kCPU).contiguous());
  std::string step = std::to_string(step_);
  save_safetensors(model_file, sd,
                   {{kConfigMetadataKey, config_json(data_json)},
                    {"longvid.format", "longvid.lvdm/1"},
                    {"longvid.step", step}});
  StateDict st;
  I.opt->save(st, "optimizer.");
  json meta{{"step", step_},
            {"next_sample", next_sample_},
            {"seed", o_.seed},
            {"ema_updates", I.ema_updates},
            {"batch_size", o_.batch_size},
            {"grad_accum", o_.grad_accum},
            {"data", json::parse(data_json.empty() ? "{}" : data_json)},
            {"text_encoder", text_encoder_id()}};
  if (text_) meta["p_uncond_text"] = o_.p_uncond_text;
  save_safetensors(state_file, st,
                   {{"longvid.format", "longvid.lvdm.train_state/1"}, {"longvid.step", step},
                    {"longvid.train_state", meta.dump()}});
}

void LvdmDiffusionTrainer::resume(const std::filesystem::path& model_file, const std::filesystem::path& state_file) {
  StateDict sd = load_checkpoint(model_file);
  StateDict st = load_checkpoint(state_file);
  auto meta_of = [](const StateDict& s, const char* key) -> std::string {
    auto it = s.metadata.find(key);
    if (it == s.metadata.end()) fail("{}: no '{}' metadata (not written by longvid train)", s.path.string(), key);
    return it->second;
  };
  if (meta_of(sd, "longvid.step") != meta_of(st, "longvid.step"))
    fail("{} is of step {} but {} of step {} (a checkpoint write was interrupted?)", model_file.string(),
         meta_of(sd, "longvid.step"), state_file.string(), meta_of(st, "longvid.step"));
  json meta = json::parse(meta_of(st, "longvid.train_state"));
  if (meta["seed"].get<uint64_t>() != o_.seed || meta["batch_size"].get<int64_t>() != o_.batch_size ||
      meta["grad_accum"].get<int64_t>() != o_.grad_accum)
    fail("--resume: the run was started with seed {}, batch {}, accumulation {}; this one has {}, {}, {}",
         meta["seed"].get<uint64_t>(), meta["batch_size"].get<int64_t>(), meta["grad_accum"].get<int64_t>(), o_.seed,
         o_.batch_size, o_.grad_accum);
  const std::string saved_text = meta.value("text_encoder", std::string());
  if (saved_text != text_encoder_id())
    fail("--resume: the run was trained with text encoder '{}', this one has '{}' (pass the run's --text-encoder)",
         saved_text.empty() ? "none" : saved_text, text_encoder_id().empty() ? "none" : text_encoder_id());
  if (text_ && meta.contains("p_uncond_text") && meta["p_uncond_text"].get<double>() != o_.p_uncond_text)
    fail("--resume: the run was started with --p-uncond-text {}, this one has {}", meta["p_uncond_text"].get<double>(),
         o_.p_uncond_text);
  load_lvdm_unet(*net_.module, sd, LvdmWeights::Raw);
  if (text_) load_clip_text(*text_->model, sd);
  auto& I = *impl_;
  if (!I.ema.empty()) {
    at::NoGradGuard ng;
    for (size_t i = 0; i < I.params.size(); ++i) {
      std::string key = ema_key(I.params[i].first);
      if (!sd.contains(key)) fail("{}: no EMA weight '{}' (saved without EMA?)", model_file.string(), key);
      I.ema[i].copy_(sd.get(key));
    }
  }
  I.opt->load(st, "optimizer.");
  step_ = meta["step"].get<int64_t>();
  next_sample_ = meta["next_sample"].get<int64_t>();
  I.ema_updates = meta["ema_updates"].get<int64_t>();
}

}  // namespace longvid
