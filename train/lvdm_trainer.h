// LVDM latent diffusion training (YingqingHe/LVDM @d251dcc, lvdm/models/ddpm3d.py
// FrameInterpPredLatentDiffusion): eps prediction on latents of a frozen 3D autoencoder, with the
// joint temporal masking of lvdm/models/modules/util.py random_temporal_masking, so one run trains a
// model that is used both for prediction (first n_prev latents given) and interpolation (first and
// last latents given).
//
// Per sample (randomness drawn from a generator seeded by (seed, global sample index k), so the
// result does not depend on how a batch is split over processes or on where a run was resumed):
//   z      = scale * (posterior.sample() + shift)               (get_first_stage_encoding)
//   z      = z[:, :, ::latent_frame_stride]                     (latent_frame_strde, official: ::4)
//            (interp_consecutive: an interpolation sample takes z[:, :, :n] instead, the n consecutive
//             latents a keyframe gap of the prediction stride holds; see DiffusionTrainOptions)
//   r ~ U[0,1):  r < p_interp: mask first and last latent;  r < p_interp + p_pred: mask the first
//            n ~ choice(n_prevs);  else no mask (unconditional)
//   t ~ U{0..timesteps-1},  s ~ U{0..max_noise_level-1}
//   x_t = q_sample(z, t, eps_t),  x_s = q_sample(z, s, eps_s)
//   x_noisy = x_t (1 - m) + x_s m,  target = eps_t (1 - m) + eps_s m     (p_losses, mergenoisy)
//   out = net(cat(x_noisy, m), t, y = s)                        (concat-adm-mask; s is fed for every
//                                                                sample, as uncondnoS = False)
//   loss = mean |out - target|  (l1) or mean (out - target)²  (l2), over all frames
//                                                               (mask_cond_loss = False)
// Deviation: the official apply_model raises NotImplementedError when p_pred and p_interp are both
// non-zero and a batch is fully conditional; its `is_uncond = (mask.all() == 0)` makes that path
// practically unreachable, so the official training input is exactly the merged x_noisy above,
// which is what is implemented (for any p_pred, p_interp).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backbones/clip_text.h"
#include "backbones/clip_tokenizer.h"
#include "backbones/lvdm_unet3d.h"
#include "train/trainable_denoiser.h"
#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

class ClipSource;
class LatentCache;
class ProcessGroupHandle;
class StateDict;

struct DiffusionTrainOptions {
  // model.params
  double linear_start = 0.0015, linear_end = 0.0155;
  int64_t timesteps = 1000;
  std::string loss_type = "l1";     // l1 | l2
  int64_t max_noise_level = 250;    // s ~ U{0 .. max_noise_level - 1}; label_emb has max_noise_level + 1 rows
  double p_pred = 0.5, p_interp = 0.3;
  std::vector<int64_t> n_prevs{1};
  int64_t latent_frame_stride = 1;  // 1: every latent frame (official: null); 4: z[:, :, ::4]
  // One run for both models of the hierarchy (longvid extension; off = the official training):
  // unconditional and prediction samples see latents `latent_frame_stride` apart (keyframes),
  // interpolation samples the first n consecutive latents of the clip (n = the strided length), so
  // the model infers the spacing from the mask: n keyframes with stride n - 1 are exactly the gaps
  // it learned to fill.
  bool interp_consecutive = false;
  bool sample_posterior = true;     // official: posterior.sample(); false: its mean
  // Text models: a sample's caption is replaced by "" with this probability (classifier-free
  // guidance's unconditional branch is learned from those samples; LDM/LVDM text models: 0.1).
  double p_uncond_text = 0.1;
  // optimisation
  double lr = 8e-5;                 // base_learning_rate of the official long-video configs
  double weight_decay = 0.01;       // torch.optim.AdamW default (the official uses defaults)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t warmup_steps = 0;         // linear warm-up: lr * min(1, (step + 1) / warmup)
  // After the warm-up: "constant" (the official configs), or "cosine" from lr down to lr_min at
  // `steps` (half a cosine period, as RIFE's train.py and most diffusion fine-tuning recipes).
  std::string lr_schedule = "constant";
  double lr_min = 0.0;
  double grad_clip = 1.0;           // max global grad norm; <= 0: off
  double ema_decay = 0.9999;        // LitEma (decay min(d, (1 + n) / (10 + n))); <= 0: no EMA
  int64_t batch_size = 2;           // global micro-batch (split over ranks)
  int64_t grad_accum = 1;           // micro-batches per optimizer step
  int64_t steps = 100;
  uint64_t seed = 0;
  bool bf16 = true;                 // autocast bf16 on CUDA (ignored on CPU: float32)
};

// The learning rate of optimizer step `step` (0-based) under o's warm-up and schedule.
double diffusion_lr(const DiffusionTrainOptions& o, int64_t step);

struct TrainStepStats {
  int64_t step = 0;                 // optimizer steps done after this one
  double loss = 0;                  // mean over the global batch of this step
  double grad_norm = 0;             // before clipping
  double lr = 0;
  double seconds = 0;
};

// A text encoder trained jointly with the denoiser (LDM's `cond_stage_trainable`): a CLIP text
// tower (backbones/clip_text.h) and its tokenizer; the context is its last_hidden_state over
// max_length tokens, as FrozenCLIPEmbedder's. Saved as cond_stage_model.transformer.text_model.*.
struct TrainableTextEncoder {
  ClipTokenizer tokenizer;
  ClipTextModel model{nullptr};
  int64_t max_length = 77;
};

// The caption of a training window: frames [first_frame, first_frame + frames) of video `video`
// (the latent cache's index); u ~ U[0, 1) drawn for the sample (e.g. to choose a caption style).
using CaptionFn = std::function<std::string(int64_t video, int64_t first_frame, int64_t frames, double u)>;

// The denoiser network is pluggable, as LDM's unet_config is (train/trainable_denoiser.h): LVDM's
// U-Net or a masked Latte; the objective, masks, schedule and file layout are LVDM's for both.
class LvdmDiffusionTrainer {
 public:
  // The network must take in_channels = ae z + 1 (latents + mask), give out_channels = z, and have
  // num_classes = max_noise_level + 1 labels (checked, longvid::Error). The AE is frozen (eval, no
  // gradients).
  LvdmDiffusionTrainer(TrainableDenoiser net, LvdmAutoencoder3D ae, DiffusionTrainOptions o, at::Device device,
                       ProcessGroupHandle* pg = nullptr, std::shared_ptr<TrainableTextEncoder> text = nullptr);
  LvdmDiffusionTrainer(LvdmUNet3D unet, LvdmAutoencoder3D ae, DiffusionTrainOptions o, at::Device device,
                       ProcessGroupHandle* pg = nullptr)
      : LvdmDiffusionTrainer(trainable_denoiser(std::move(unet)), std::move(ae), std::move(o), device, pg) {}
  ~LvdmDiffusionTrainer();

  // One optimizer step on samples [next_sample, next_sample + batch * accum) of `data` (this rank
  // takes its shard of each micro-batch).
  TrainStepStats step(ClipSource& data);
  // The same step on cached posteriors (train/latent_cache.h): clips of `latent_frames` latents
  // (before latent_frame_stride), the posterior sample drawn from the same per-sample generator.
  TrainStepStats step(const LatentCache& cache, int64_t latent_frames);

  // Text models: where each sample's caption comes from (needed before the first step; the
  // latent-cache path only).
  void set_captions(CaptionFn fn) { captions_ = std::move(fn); }
  const std::shared_ptr<TrainableTextEncoder>& text_encoder() const { return text_; }
  // One line naming the text encoder's shape ("" without one): recorded in the state, checked on resume.
  std::string text_encoder_id() const;
  // The prompt sample k trains on: "" with probability p_uncond_text, else the caption of its window.
  std::string sample_prompt(int64_t k, int64_t video, int64_t first_frame, int64_t frames) const;

  // Fine-tuning: copies every denoiser (and text encoder) tensor of `sd` (a train run's or an
  // exported model, EMA weights preferred) whose name and shape match into the network and its EMA;
  // returns how many tensors were taken (the rest keep their initialisation). Before the first step.
  int64_t init_from(const StateDict& sd);

  int64_t steps_done() const { return step_; }
  int64_t next_sample() const { return next_sample_; }

  // Model file: model.diffusion_model.*, model_ema.diffusion_model<name without dots> (+
  // model_ema.decay, model_ema.num_updates), first_stage_model.*; metadata "longvid.config" (official
  // config tree as JSON), "longvid.format" = "longvid.lvdm/1", "longvid.step".
  // State file: optimizer moments "optimizer.exp_avg.<param>", "optimizer.exp_avg_sq.<param>",
  // "optimizer.step"; metadata step / next_sample / seed / options (JSON).
  // Both written atomically; the state after the model.
  void save(const std::filesystem::path& model_file, const std::filesystem::path& state_file,
            const std::string& data_json = "{}") const;
  // Restores raw weights + EMA from the model file and the optimizer + position from the state
  // file (both must be of the same step; options that shape the run must match).
  void resume(const std::filesystem::path& model_file, const std::filesystem::path& state_file);

  // The official config tree (JSON) describing this model; `data_json` goes under "data.params".
  std::string config_json(const std::string& data_json = "{}") const;

  torch::nn::Module& network() { return *net_.module; }
  const TrainableDenoiser& denoiser() const { return net_; }
  LvdmAutoencoder3D& autoencoder() { return ae_; }
  const DiffusionTrainOptions& options() const { return o_; }
  // Per-sample loss ingredients for sample k (exposed for tests): mask [1,1,t,h,w] and s, t.
  struct SampleDraw {
    at::Tensor mask;
    int64_t t = 0, s = 0;
    int mode = 0;  // 0 uncond, 1 prediction, 2 interpolation
  };
  SampleDraw draw(int64_t k, int64_t latent_t, int64_t h, int64_t w) const;
  // The latents a sample of `mode` trains on, from its clip's latents z [1, C, L, h, w]:
  // z[:, :, ::latent_frame_stride], or z[:, :, :ceil(L / stride)] for interpolation samples with
  // interp_consecutive.
  at::Tensor select_latents(const at::Tensor& z, int mode) const;

 private:
  at::Tensor encode(const at::Tensor& video, int64_t k0);
  // z = normalize(mean + std * noise(seed, k)) (the latent frame stride is applied per sample in step_on).
  at::Tensor sample_latent(const at::Tensor& mean, const at::Tensor& std, int64_t k0);
  // prompt(k, mode): the prompt of sample k (text models only).
  TrainStepStats step_on(const std::function<at::Tensor(int64_t k0, int64_t n)>& latents,
                         const std::function<std::string(int64_t k, int mode)>& prompt = {});
  void ema_update();

  TrainableDenoiser net_;
  LvdmAutoencoder3D ae_;
  DiffusionTrainOptions o_;
  at::Device device_;
  ProcessGroupHandle* pg_;
  std::shared_ptr<TrainableTextEncoder> text_;
  CaptionFn captions_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t step_ = 0;
  int64_t next_sample_ = 0;
};

// The U-Net config used by `longvid train` presets: "tiny" (ch 32, mult [1,2], 1 res block, attn at
// 2) and "small" (ch 64, mult [1,2,4], 2 res blocks, attn [4, 2]); LVDM long-video shape otherwise
// (relative position, scale-shift norm, kernel_size_t 1, padding_t 0, concat-adm-mask, in z+1).
// context_dim > 0: a text model: the attention blocks become LVDM's spatial-temporal transformers
// (use_temporal_transformer, depth 1) with cross-attention to a context of that width.
LvdmUNetConfig lvdm_unet_preset(const std::string& name, int64_t z_channels, int64_t max_noise_level,
                                int64_t temporal_length, int64_t context_dim = 0);

}  // namespace longvid
