// LVDM 3D autoencoder training (YingqingHe/LVDM @d251dcc: lvdm/models/autoencoder3d.py AutoencoderKL
// training_step, lvdm/models/losses/contperceptual.py LPIPSWithDiscriminator, taming-transformers'
// NLayerDiscriminator / weights_init / hinge_d_loss / adopt_weight).
//
// Generator step (optimizer_idx 0), frames flattened to (b t) c h w:
//   rec  = |x - x_rec|                                  (+ perceptual_weight * LPIPS: not available)
//          (longvid: times 1 + fg_weight on foreground pixels when fg_weight > 0, see VaeTrainOptions)
//   nll  = rec / exp(logvar) + logvar ; nll_loss = sum(nll) / (b t)
//   kl   = sum(posterior.kl()) / b
//   g    = -mean(D(x_rec))
//   w_d  = clamp(|grad_L nll_loss| / (|grad_L g| + 1e-4), 0, 1e4) * disc_weight   (L = decoder.conv_out weight)
//   loss = nll_loss + kl_weight * kl + w_d * disc_factor(step) * g ;  disc_factor(step) = 0 before disc_start
// Discriminator step (optimizer_idx 1): disc_factor(step) * 0.5 (mean relu(1 - D(x)) + mean relu(1 + D(x_rec))).
// Both Adam(lr, betas (0.5, 0.9)). The discriminator runs (BatchNorm in train mode, so its running
// statistics move) from step 0 as in the official code; it only gets a non-zero loss from disc_start.
// Quirk reproduced: the official opt_ae holds encoder/decoder/quant convs only, so `loss.logvar` is
// never trained (stays at logvar_init); learn_logvar = true adds it to the AE optimizer.
#pragma once
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>

#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

class ClipSource;
class ProcessGroupHandle;

// taming.modules.discriminator.model.NLayerDiscriminator (BatchNorm, ndf 64): keys main.0 (conv,
// bias), main.2/5/8 (conv, no bias), main.3/6/9 (BatchNorm2d), main.11 (conv 1 channel, bias).
class NLayerDiscriminatorImpl : public torch::nn::Module {
 public:
  NLayerDiscriminatorImpl(int64_t input_nc = 3, int64_t ndf = 64, int64_t n_layers = 3);
  at::Tensor forward(const at::Tensor& x);  // [N, C, H, W] -> patch logits [N, 1, h, w]
  torch::nn::Sequential main;
};
TORCH_MODULE(NLayerDiscriminator);

struct VaeTrainOptions {
  double lr = 3.6e-5;          // configs/videoae/sky.yaml base_learning_rate
  double kl_weight = 0.0;      // sky.yaml
  double disc_weight = 0.5;    // sky.yaml
  double disc_factor = 1.0;
  int64_t disc_start = 50001;  // sky.yaml
  double logvar_init = 0.0;
  bool learn_logvar = false;   // official: false in effect (see above)
  double perceptual_weight = 0.0;  // LPIPS is not implemented: must stay 0
  int64_t disc_layers = 3;
  int64_t batch_size = 1;
  int64_t steps = 100;
  uint64_t seed = 0;
  int64_t clip_frames = 0;  // frames per training clip: saved as the AE's longvid_stream_window (latents)
  // longvid extensions (off by default, so the official objective is unchanged):
  // decoder_only: train decoder.* and post_quant_conv.* only; the encoder and quant_conv stay
  // frozen, so the latent space (and every diffusion model trained on it) stays valid, and the
  // latent statistics are kept (set_latent_stats) rather than measured again.
  bool decoder_only = false;
  // Foreground weighting: the L1 of a pixel that differs from its frame's background (the
  // per-channel median of the frame) by more than fg_threshold in some channel (on the [-1, 1]
  // scale) counts 1 + fg_weight times. Small sprites on a flat background are a few percent of the
  // pixels: without it their colours hardly move the loss.
  double fg_weight = 0.0;
  double fg_threshold = 0.1;
};

struct VaeStepStats {
  int64_t step = 0;
  double loss = 0, rec_loss = 0, kl_loss = 0, g_loss = 0, d_weight = 0, disc_loss = 0, logvar = 0;
  double seconds = 0;
};

class LvdmVaeTrainer {
 public:
  LvdmVaeTrainer(LvdmAutoencoder3D ae, VaeTrainOptions o, at::Device device, ProcessGroupHandle* pg = nullptr);
  ~LvdmVaeTrainer();
  VaeStepStats step(ClipSource& data);
  int64_t steps_done() const { return step_; }
  // Model file (official AE layout: encoder.*, decoder.*, quant_conv.conv.*, post_quant_conv.conv.*,
  // loss.logvar, loss.discriminator.*); metadata "longvid.config" = official videoae config as
  // JSON (model.params.ddconfig / lossconfig / embed_dim, plus the latent statistics
  // model.params.scale_factor = 1/std and shift_factor = -mean measured on `stats_batches`).
  // State file: both optimizers + step + data position.
  void save(const std::filesystem::path& model_file, const std::filesystem::path& state_file,
            const std::string& data_json = "{}");
  void resume(const std::filesystem::path& model_file, const std::filesystem::path& state_file);
  // Latent statistics (mean, std of the posterior mean) over samples [0, n) of `data`.
  void measure_latent_stats(ClipSource& data, int64_t n);
  // Latent statistics taken as given (z_model = scale * (z + shift)), e.g. those of the AE a
  // decoder-only run starts from.
  void set_latent_stats(double scale, double shift);
  LvdmAutoencoder3D& autoencoder() { return ae_; }
  NLayerDiscriminator& discriminator() { return disc_; }

 private:
  LvdmAutoencoder3D ae_;
  NLayerDiscriminator disc_{nullptr};
  VaeTrainOptions o_;
  at::Device device_;
  ProcessGroupHandle* pg_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t step_ = 0, next_sample_ = 0;
};

}  // namespace longvid
