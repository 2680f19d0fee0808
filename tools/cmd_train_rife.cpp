// longvid train-rife: train a RIFE IFNet on folders of videos with Practical-RIFE 4.x's objective
// (train/rife_trainer.h), then optionally score it on held-out videos.
//
//   longvid train-rife --data DIR -o rife.safetensors [--preset tiny|small|4.26] [--steps N] [--batch B]
//                      [--size S] [--max-interval K] [--lr LR] [--seed S] [--resume] [--eval-data DIR]
//   longvid train-rife --eval-only MODEL --eval-data DIR
#include <cxxopts.hpp>

#include <cstdio>

#include "api/interpolate.h"
#include "core/error.h"
#include "tools/cli.h"
#include "train/rife_trainer.h"

namespace longvid {
namespace {

void print_eval(const RifeEvalResult& e) {
  std::printf("held-out: %lld samples, PSNR model %.2f dB, repeat nearer frame %.2f dB, linear blend %.2f dB\n",
              static_cast<long long>(e.samples), e.psnr_model, e.psnr_repeat, e.psnr_blend);
}

int run_train_rife(int argc, char** argv) {
  cxxopts::Options o("longvid train-rife",
                     "train a RIFE IFNet frame interpolator on videos (Practical-RIFE 4.x objective: L1 + 0.1 Sobel "
                     "flow smoothness, AdamW, warm-up + cosine)");
  o.add_options()
    ("data", "folder(s) of training videos (repeat the option for more)", cxxopts::value<std::vector<std::string>>())
    ("o,output", "the trained IFNet (safetensors); its training state sits next to it until it finishes", cxxopts::value<std::string>()->default_value(""))
    ("preset", "tiny | small (the 4.26 layout, narrow) | a published version (4.26, 4.18, ...)", cxxopts::value<std::string>()->default_value("tiny"))
    ("size", "frame size (multiple of the layout's padding unit, 64 for the 4.26 layout)", cxxopts::value<int64_t>()->default_value("64"))
    ("steps", "optimizer steps", cxxopts::value<int64_t>()->default_value("2000"))
    ("batch", "samples per step", cxxopts::value<int64_t>()->default_value("16"))
    ("max-interval", "inputs up to K frames apart, the target between them (t = j / k)", cxxopts::value<int64_t>()->default_value("4"))
    ("flow-scale", "the flow scale to train (and run: interpolate --scale) at; 2 suits small frames", cxxopts::value<double>()->default_value("1"))
    ("smooth-weight", "weight of the flow-smoothness term (published: 0.1)", cxxopts::value<double>()->default_value("0.1"))
    ("lr", "peak learning rate", cxxopts::value<double>()->default_value("3e-4"))
    ("warmup", "warm-up steps", cxxopts::value<int64_t>()->default_value("200"))
    ("seed", "seed (weights, data order, augmentation)", cxxopts::value<uint64_t>()->default_value("0"))
    ("workers", "video decoding threads", cxxopts::value<int>()->default_value("2"))
    ("log-every", "steps between log lines", cxxopts::value<int64_t>()->default_value("100"))
    ("save-every", "steps between training-state checkpoints", cxxopts::value<int64_t>()->default_value("500"))
    ("resume", "continue from the training state next to the output")
    ("stop-after", "stop after N steps as if killed (testing --resume)", cxxopts::value<int64_t>()->default_value("-1"))
    ("eval-data", "held-out videos: PSNR of the interpolated frames against the true ones", cxxopts::value<std::string>()->default_value(""))
    ("eval-samples", "held-out samples", cxxopts::value<int64_t>()->default_value("64"))
    ("eval-only", "score this IFNet checkpoint on --eval-data, no training", cxxopts::value<std::string>()->default_value(""))
    ("h,help", "this help");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return cli::kExitOk;
  }
  if (!a.unmatched().empty()) fail("unexpected argument '{}'", a.unmatched().front());
  const std::string eval_data = a["eval-data"].as<std::string>();
  const int64_t eval_samples = a["eval-samples"].as<int64_t>();
  if (eval_samples < 1) fail("--eval-samples must be >= 1");
  if (!a["eval-only"].as<std::string>().empty()) {
    if (eval_data.empty()) fail("--eval-only needs --eval-data");
    IFNet net = load_rife_model(a["eval-only"].as<std::string>());
    print_eval(eval_rife(net, {eval_data}, a["size"].as<int64_t>(), eval_samples, a["max-interval"].as<int64_t>(), 12345,
                         a["flow-scale"].as<double>()));
    return cli::kExitOk;
  }
  RifeTrainOptions t;
  if (a.count("data"))
    for (const auto& d : a["data"].as<std::vector<std::string>>()) t.data.emplace_back(d);
  t.output = a["output"].as<std::string>();
  t.preset = a["preset"].as<std::string>();
  t.size = a["size"].as<int64_t>();
  t.steps = a["steps"].as<int64_t>();
  t.batch = a["batch"].as<int64_t>();
  t.max_interval = a["max-interval"].as<int64_t>();
  t.lr = a["lr"].as<double>();
  t.flow_scale = a["flow-scale"].as<double>();
  t.smooth_weight = a["smooth-weight"].as<double>();
  t.warmup = a["warmup"].as<int64_t>();
  t.seed = a["seed"].as<uint64_t>();
  t.workers = a["workers"].as<int>();
  t.log_every = std::max<int64_t>(1, a["log-every"].as<int64_t>());
  t.save_every = a["save-every"].as<int64_t>();
  t.resume = a.count("resume") > 0;
  t.stop_after = a["stop-after"].as<int64_t>();
  if (!(t.lr > 0)) fail("--lr must be > 0");
  if (t.warmup < 1) fail("--warmup must be >= 1");
  RifeTrainResult r = train_rife(t);
  if (t.stop_after >= 0 && r.steps < t.steps) {
    std::printf("stopped after %lld steps; continue with --resume\n", static_cast<long long>(r.steps));
    return cli::kExitOk;
  }
  std::printf("wrote %s: %lld steps, L1 %.4f -> %.4f\n", t.output.string().c_str(), static_cast<long long>(r.steps),
              r.first_loss, r.last_loss);
  if (!eval_data.empty())
    print_eval(eval_rife(load_rife_model(t.output), {eval_data}, t.size, eval_samples, t.max_interval, 12345,
                         t.flow_scale));
  return cli::kExitOk;
}

}  // namespace
}  // namespace longvid

LONGVID_COMMAND("train-rife", "train a RIFE frame interpolator (IFNet) on videos", longvid::run_train_rife);
