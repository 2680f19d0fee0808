#include "train/vae_trainer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <optional>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/rng.h"
#include "train/ae_config_json.h"
#include "train/clip_source.h"
#include "train/distributed.h"
#include "train/optim.h"

namespace longvid {

using json = nlohmann::ordered_json;
namespace F = torch::nn::functional;

NLayerDiscriminatorImpl::NLayerDiscriminatorImpl(int64_t input_nc, int64_t ndf, int64_t n_layers) {
  using namespace torch::nn;
  const int64_t kw = 4, padw = 1;
  main = Sequential();
  main->push_back(Conv2d(Conv2dOptions(input_nc, ndf, kw).stride(2).padding(padw)));
  main->push_back(LeakyReLU(LeakyReLUOptions().negative_slope(0.2)));
  int64_t mult = 1, prev = 1;
  for (int64_t n = 1; n < n_layers; ++n) {
    prev = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    main->push_back(Conv2d(Conv2dOptions(ndf * prev, ndf * mult, kw).stride(2).padding(padw).bias(false)));
    main->push_back(BatchNorm2d(ndf * mult));
    main->push_back(LeakyReLU(LeakyReLUOptions().negative_slope(0.2)));
  }
  prev = mult;
  mult = std::min<int64_t>(int64_t{1} << n_layers, 8);
  main->push_back(Conv2d(Conv2dOptions(ndf * prev, ndf * mult, kw).stride(1).padding(padw).bias(false)));
  main->push_back(BatchNorm2d(ndf * mult));
  main->push_back(LeakyReLU(LeakyReLUOptions().negative_slope(0.2)));
  main->push_back(Conv2d(Conv2dOptions(ndf * mult, 1, kw).stride(1).padding(padw)));
  register_module("main", main);
  // taming weights_init: Conv weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias 0.
  torch::NoGradGuard ng;
  for (auto& m : main->children()) {
    if (auto* c = m->as<Conv2d>()) c->weight.normal_(0.0, 0.02);
    if (auto* b = m->as<BatchNorm2d>()) {
      b->weight.normal_(1.0, 0.02);
      b->bias.zero_();
    }
  }
}

at::Tensor NLayerDiscriminatorImpl::forward(const at::Tensor& x) { return main->forward(x); }

namespace {
at::Tensor frames(const at::Tensor& x) {  // b c t h w -> (b t) c h w
  return x.permute({0, 2, 1, 3, 4}).reshape({-1, x.size(1), x.size(3), x.size(4)});
}
// What `--train` trained: recorded in the model's config and the train state, checked on --resume.
const char* train_part(const VaeTrainOptions& o) { return o.decoder_only ? "decoder" : "all"; }
}  // namespace

struct LvdmVaeTrainer::Impl {
  std::unique_ptr<Adam> opt_ae, opt_disc;
  std::vector<std::pair<std::string, at::Tensor>> ae_params, disc_params;
  at::Tensor logvar;
  double latent_mean = 0, latent_std = 1;
  bool have_stats = false;
};

LvdmVaeTrainer::LvdmVaeTrainer(LvdmAutoencoder3D ae, VaeTrainOptions o, at::Device device, ProcessGroupHandle* pg)
    : ae_(std::move(ae)), o_(o), device_(device), pg_(pg), impl_(std::make_unique<Impl>()) {
  if (o_.perceptual_weight != 0.0)
    fail("train-vae: the LPIPS perceptual loss is not implemented in longvid yet; train with L1 only "
         "(perceptual weight 0)");
  if (o_.lr <= 0) fail("--lr {}: must be positive", o_.lr);
  if (o_.kl_weight < 0 || o_.disc_weight < 0 || o_.disc_factor < 0)
    fail("--kl-weight / --disc-weight / --disc-factor must be >= 0");
  if (o_.fg_weight < 0 || !(o_.fg_threshold > 0))
    fail("--fg-weight {} must be >= 0 and --fg-threshold {} > 0", o_.fg_weight, o_.fg_threshold);
  if (o_.batch_size < 1 || o_.steps < 0 || o_.disc_start < 0 || o_.disc_layers < 1)
    fail("train-vae: batch ({}) and discriminator layers ({}) must be >= 1, steps ({}) and --disc-start ({}) >= 0",
         o_.batch_size, o_.disc_layers, o_.steps, o_.disc_start);
  const int world = pg_ ? pg_->world_size() : 1;
  if (o_.batch_size % world != 0) fail("--batch {}: must be divisible by WORLD_SIZE {}", o_.batch_size, world);
  auto& I = *impl_;
  disc_ = NLayerDiscriminator(ae_->config().image_channel, 64, o_.disc_layers);
  ae_->train();
  ae_->to(device_);
  disc_->train();
  disc_->to(device_);
  for (auto& kv : ae_->named_parameters()) {
    const bool frozen = o_.decoder_only && (kv.key().rfind("encoder.", 0) == 0 || kv.key().rfind("quant_conv.", 0) == 0);
    kv.value().set_requires_grad(!frozen);
    if (!frozen) I.ae_params.emplace_back(kv.key(), kv.value());
  }
  I.logvar = at::full({}, o_.logvar_init, at::TensorOptions().dtype(at::kFloat).device(device_));
  I.logvar.set_requires_grad(o_.learn_logvar);
  if (o_.learn_logvar) I.ae_params.emplace_back("loss.logvar", I.logvar);
  for (auto& kv : disc_->named_parameters()) I.disc_params.emplace_back(kv.key(), kv.value());
  AdamOptions ao;
  ao.lr = o_.lr;
  ao.beta1 = 0.5;
  ao.beta2 = 0.9;
  ao.weight_decay = 0.0;
  ao.decoupled = false;
  I.opt_ae = std::make_unique<Adam>(I.ae_params, ao);
  I.opt_disc = std::make_unique<Adam>(I.disc_params, ao);
  if (pg_ && world > 1) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> ps;
    for (auto& [n, p] : I.ae_params) ps.push_back(p.detach());
    for (auto& [n, p] : I.disc_params) ps.push_back(p.detach());
    pg_->average(ps);
  }
}

LvdmVaeTrainer::~LvdmVaeTrainer() = default;

VaeStepStats LvdmVaeTrainer::step(ClipSource& data) {
  auto t0 = std::chrono::steady_clock::now();
  auto& I = *impl_;
  const int world = pg_ ? pg_->world_size() : 1, rank = pg_ ? pg_->rank() : 0;
  const int64_t b = o_.batch_size / world;
  const int64_t k0 = next_sample_ + rank * b;
  at::Tensor x = data.samples(k0, b).to(device_);
  const double disc_factor = step_ >= o_.disc_start ? o_.disc_factor : 0.0;  // adopt_weight

  // ---- generator (AE) update ----
  I.opt_ae->zero_grad();
  auto post = [&] {
    std::optional<at::NoGradGuard> frozen;
    if (o_.decoder_only) frozen.emplace();
    return ae_->encode(x);
  }();
  std::vector<at::Tensor> noise;
  std::vector<int64_t> shape(post.mean.sizes().begin(), post.mean.sizes().end());
  shape[0] = 1;
  for (int64_t i = 0; i < b; ++i) {
    at::Generator g = make_generator(sample_seed(o_.seed, k0 + i, 2));
    noise.push_back(at::randn(shape, g, at::kFloat));
  }
  at::Tensor z = post.mean + post.std() * at::cat(noise).to(device_);
  at::Tensor xrec = ae_->decode(z);
  at::Tensor xf = frames(x), rf = frames(xrec);
  at::Tensor l1 = (xf - rf).abs(), rec = l1;
  if (o_.fg_weight > 0) {
    at::Tensor fg;
    {
      at::NoGradGuard ng;
      at::Tensor background = std::get<0>(xf.flatten(2).median(2)).unsqueeze(-1).unsqueeze(-1);
      fg = std::get<0>((xf - background).abs().max(1, /*keepdim=*/true)).gt(o_.fg_threshold).to(l1.scalar_type());
    }
    rec = l1 * (1.0 + o_.fg_weight * fg);
  }
  at::Tensor nll = rec / at::exp(I.logvar) + I.logvar;
  at::Tensor nll_loss = nll.sum() / static_cast<double>(nll.size(0));
  at::Tensor kl = 0.5 * (post.mean.pow(2) + post.var() - 1.0 - post.logvar).sum() / static_cast<double>(b);
  // Before disc_start (disc_factor 0) the GAN terms are multiplied by 0: the official loop still
  // runs the discriminator (for logging); here it is skipped, which changes no weight (see below).
  const bool gan_on = disc_factor > 0;
  at::Tensor g_loss = at::zeros({}, x.options());
  if (gan_on) g_loss = -disc_->forward(rf).mean();
  at::Tensor d_weight = at::zeros({}, x.options());
  if (gan_on && o_.disc_factor > 0) {
    // calculate_adaptive_weight: last layer = decoder.conv_out weight
    at::Tensor last = ae_->decoder->conv_out->conv->weight;
    auto gn = torch::autograd::grad({nll_loss}, {last}, {}, /*retain_graph=*/true)[0];
    auto gg = torch::autograd::grad({g_loss}, {last}, {}, /*retain_graph=*/true)[0];
    d_weight = (gn.norm() / (gg.norm() + 1e-4)).clamp(0.0, 1e4).detach() * o_.disc_weight;
  }
  at::Tensor loss = nll_loss + o_.kl_weight * kl + d_weight * disc_factor * g_loss;
  // Only the AE's parameters step here; D's gradients from this pass are discarded (the official
  // Lightning loop zeroes them before the discriminator step).
  loss.backward();
  std::vector<at::Tensor> grads;
  if (pg_ && world > 1) {
    for (auto& [n, p] : I.ae_params) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    pg_->average(grads);
  }
  I.opt_ae->step();

  // ---- discriminator update ----
  I.opt_disc->zero_grad();
  at::Tensor d_loss = at::zeros({}, x.options());
  if (gan_on) {
    at::Tensor logits_real = disc_->forward(xf.detach());
    at::Tensor logits_fake2 = disc_->forward(rf.detach());
    d_loss = disc_factor * 0.5 * (at::relu(1.0 - logits_real).mean() + at::relu(1.0 + logits_fake2).mean());
    d_loss.backward();
  } else {
    // The official 0 * d_loss gives zero gradients: Adam still counts the step (bias correction
    // after disc_start) and moves nothing; BatchNorm running stats are not used in training mode.
    for (auto& [n, p] : I.disc_params) p.mutable_grad() = at::zeros_like(p);
  }
  if (pg_ && world > 1) {
    grads.clear();
    for (auto& [n, p] : I.disc_params) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    pg_->average(grads);
  }
  I.opt_disc->step();

  ++step_;
  next_sample_ += o_.batch_size;
  VaeStepStats st;
  st.step = step_;
  st.loss = loss.item<double>();
  st.rec_loss = l1.mean().item<double>();  // unweighted
  st.kl_loss = kl.item<double>();
  st.g_loss = g_loss.item<double>();
  st.d_weight = d_weight.item<double>();
  st.disc_loss = d_loss.item<double>();
  st.logvar = I.logvar.item<double>();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

void LvdmVaeTrainer::measure_latent_stats(ClipSource& data, int64_t n) {
  at::NoGradGuard ng;
  ae_->eval();
  double sum = 0, sq = 0, cnt = 0;
  for (int64_t k = 0; k < n; ++k) {
    at::Tensor m = ae_->encode(data.samples(k, 1).to(device_)).mean.to(at::kDouble);
    sum += m.sum().item<double>();
    sq += m.pow(2).sum().item<double>();
    cnt += static_cast<double>(m.numel());
  }
  ae_->train();
  auto& I = *impl_;
  I.latent_mean = sum / cnt;
  I.latent_std = std::sqrt(std::max(sq / cnt - I.latent_mean * I.latent_mean, 1e-12));
  I.have_stats = true;
}

void LvdmVaeTrainer::set_latent_stats(double scale, double shift) {
  if (!(scale > 0)) fail("latent scale {}: must be > 0", scale);
  impl_->latent_std = 1.0 / scale;
  impl_->latent_mean = -shift;
  impl_->have_stats = true;
}

void LvdmVaeTrainer::save(const std::filesystem::path& model_file, const std::filesystem::path& state_file,
                          const std::string& data_json) {
  if (pg_ && pg_->rank() != 0) return;
  auto& I = *impl_;
  const auto& a = ae_->config();
  StateDict sd;
  for (const auto& kv : ae_->named_parameters()) sd.set(kv.key(), kv.value().detach().to(at::kCPU).contiguous());
  sd.set("loss.logvar", I.logvar.detach().to(at::kCPU).contiguous());
  for (const auto& kv : disc_->named_parameters())
    sd.set("loss.discriminator." + kv.key(), kv.value().detach().to(at::kCPU).contiguous());
  for (const auto& kv : disc_->named_buffers())
    sd.set("loss.discriminator." + kv.key(), kv.value().detach().to(at::kCPU).contiguous());
  json params = lvdm_ae3d_params_json(a);
  params["lossconfig"] = {{"target", "lvdm.models.losses.LPIPSWithDiscriminator"},
                          {"params",
                           {{"disc_start", o_.disc_start},
                            {"kl_weight", o_.kl_weight},
                            {"disc_weight", o_.disc_weight},
                            {"disc_factor", o_.disc_factor},
                            {"disc_num_layers", o_.disc_layers},
                            {"logvar_init", o_.logvar_init},
                            {"perceptual_weight", o_.perceptual_weight}}}};
  // The AE saw clips of this many latent frames: GroupNorm statistics of longer windows differ.
  if (o_.clip_frames > 0)
    params["longvid_stream_window"] = std::max<int64_t>(1, o_.clip_frames / a.factors()[0]);
  if (I.have_stats) {
    // For the diffusion model: z_model = scale * (z + shift) has mean 0 and std 1 on this data.
    params["scale_factor"] = 1.0 / I.latent_std;
    params["shift_factor"] = -I.latent_mean;
  }
  json root{{"model", {{"base_learning_rate", o_.lr}, {"scale_lr", false},
                       {"target", "lvdm.models.autoencoder3d.AutoencoderKL"}, {"params", params}}},
            {"data", {{"target", "longvid.train.clips"}, {"params", json::parse(data_json.empty() ? "{}" : data_json)}}},
            {"longvid", {{"format", "longvid.lvdm_ae3d/1"},
                         {"training", {{"steps", o_.steps}, {"batch_size", o_.batch_size}, {"seed", o_.seed},
                                       {"learn_logvar", o_.learn_logvar}, {"steps_done", step_},
                                       {"train", train_part(o_)},
                                       {"fg_weight", o_.fg_weight}, {"fg_threshold", o_.fg_threshold}}}}}};
  std::string step = std::to_string(step_);
  save_safetensors(model_file, sd,
                   {{kConfigMetadataKey, root.dump()}, {"longvid.format", "longvid.lvdm_ae3d/1"}, {"longvid.step", step}});
  StateDict st;
  I.opt_ae->save(st, "opt_ae.");
  I.opt_disc->save(st, "opt_disc.");
  json meta{{"step", step_},
            {"next_sample", next_sample_},
            {"seed", o_.seed},
            {"batch_size", o_.batch_size},
            {"train", train_part(o_)}};
  save_safetensors(state_file, st,
                   {{"longvid.format", "longvid.lvdm_ae3d.train_state/1"}, {"longvid.step", step},
                    {"longvid.train_state", meta.dump()}});
}

void LvdmVaeTrainer::resume(const std::filesystem::path& model_file, const std::filesystem::path& state_file) {
  StateDict sd = load_checkpoint(model_file);
  StateDict st = load_checkpoint(state_file);
  auto meta_of = [](const StateDict& s, const char* key) -> std::string {
    auto it = s.metadata.find(key);
    if (it == s.metadata.end()) fail("{}: no '{}' metadata (not written by longvid train-vae)", s.path.string(), key);
    return it->second;
  };
  if (meta_of(sd, "longvid.step") != meta_of(st, "longvid.step"))
    fail("{} is of step {} but {} of step {} (a checkpoint write was interrupted?)", model_file.string(),
         meta_of(sd, "longvid.step"), state_file.string(), meta_of(st, "longvid.step"));
  json meta = json::parse(meta_of(st, "longvid.train_state"));
  if (meta["seed"].get<uint64_t>() != o_.seed || meta["batch_size"].get<int64_t>() != o_.batch_size)
    fail("--resume: the run was started with seed {} and batch {}; this one has {} and {}",
         meta["seed"].get<uint64_t>(), meta["batch_size"].get<int64_t>(), o_.seed, o_.batch_size);
  // A run that froze the encoder must not go on training it (and the other way round): the latent
  // space of every model trained on the first part would move. Older state files did not record it.
  const std::string now = train_part(o_);
  if (meta.contains("train") && meta["train"].get<std::string>() != now)
    fail("--resume: the run was started with --train {}; this one has --train {}", meta["train"].get<std::string>(),
         now);
  load_lvdm_ae3d(*ae_, sd);
  LoadIntoOptions lo;
  lo.prefix = "loss.discriminator.";
  load_into(*disc_, sd, lo);
  {
    at::NoGradGuard ng;
    impl_->logvar.copy_(sd.get("loss.logvar"));
  }
  impl_->opt_ae->load(st, "opt_ae.");
  impl_->opt_disc->load(st, "opt_disc.");
  step_ = meta["step"].get<int64_t>();
  next_sample_ = meta["next_sample"].get<int64_t>();
}

}  // namespace longvid
